/* The training loop of train-codec and train-lm (train_loop.h). */
#include "train_loop.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

FILE *cli_open_csv(const char *dir, const char *name, const char *header) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    int fresh = stat(path, &st) != 0 || st.st_size == 0;
    FILE *f = fopen(path, "a");
    if (f && fresh) fprintf(f, "%s\n", header);
    return f;
}

int cli_train_loop_run(const cli_train_loop *L, const cli_common *com) {
    /* SIGINT/SIGTERM stop the loop after the step under way: the checkpoint
     * below is then written, and the command exits 0 */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double t_start = cli_now(), t_ckpt = t_start;
    int64_t done_here = 0;
    int rc = 0;
    while (!g_stop && L->steps_done(L->ctx) < L->total_steps && (L->run_steps < 0 || done_here < L->run_steps) &&
           (L->run_seconds < 0 || cli_now() - t_start < L->run_seconds)) {
        int64_t step = 0;
        int e = L->step(L->ctx, &step);
        if (e) { rc = cli_fail_sono(L->what, e); break; }
        done_here++;
        if (step % L->ckpt_every == 0 || cli_now() - t_ckpt > L->ckpt_minutes * 60) {
            if ((e = L->save(L->ctx, L->ckpt))) { rc = cli_fail_sono(L->ckpt, e); break; }
            t_ckpt = cli_now();
        }
        if (L->eval_every > 0 && L->eval && step % L->eval_every == 0 && (e = L->eval(L->ctx))) {
            rc = cli_fail_sono("held-out evaluation", e);
            break;
        }
    }
    if (!rc) {
        int e = L->save(L->ctx, L->ckpt);
        if (e) rc = cli_fail_sono(L->ckpt, e);
    }
    if (!rc && L->export_path) {
        int e = L->export_model(L->ctx, L->export_path);
        if (e) rc = cli_fail_sono(L->export_path, e);
    }
    if (!rc && com->verbosity > 0)
        fprintf(stderr, "sonotok: %s at step %lld (%lld steps this run, %.0f s); checkpoint %s\n",
                g_stop ? "stopped" : "done", (long long)L->steps_done(L->ctx), (long long)done_here,
                cli_now() - t_start, L->ckpt);
    return rc;
}
