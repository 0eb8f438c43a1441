/* The options and the training loop of the train-* commands (train_loop.h). */
#include "train_loop.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>

void cli_train_opts_init(cli_train_opts *o) {
    memset(o, 0, sizeof *o);
    cli_common_init(&o->com);
    o->run_steps = -1;
    o->run_seconds = -1;
    o->log_every = 50;
    o->ckpt_every = 1000;
    o->ckpt_minutes = 10;
}

int cli_train_int(const cli_cmd *cmd, const char *arg, long lo, long hi, long *v) {
    return cli_parse_int(arg, lo, hi, v) ? cli_usage_error(cmd, "bad value '%s'", arg) : -1;
}

int cli_train_double(const cli_cmd *cmd, const char *arg, double lo, double hi, double *v) {
    return cli_parse_double(arg, lo, hi, v) ? cli_usage_error(cmd, "bad value '%s'", arg) : -1;
}

/* One shared option: 1 when key is one (*exit_code: -1 to go on, or the
 * exit code), 0 when it is the command's. */
static int train_opt(cli_train_opts *o, const cli_cmd *cmd, int key, const char *arg, int *exit_code) {
    if (cli_common_opt(&o->com, cmd, key, arg, exit_code)) return 1;
    long lv = 0;
    double dv = 0;
    int rc = -1;
    switch (key) {
    case 'o': o->out_dir = arg; break;
    case CLI_TRAIN_OPT_EXPORT: o->export_path = arg; break;
    case CLI_TRAIN_OPT_STEPS: rc = cli_train_int(cmd, arg, 1, 1000000000L, &lv); o->steps = lv; break;
    case CLI_TRAIN_OPT_RUN_STEPS: rc = cli_train_int(cmd, arg, 0, 1000000000L, &lv); o->run_steps = lv; break;
    case CLI_TRAIN_OPT_RUN_SECONDS: rc = cli_train_double(cmd, arg, 0, 1e9, &dv); o->run_seconds = dv; break;
    case CLI_TRAIN_OPT_LOG_EVERY: rc = cli_train_int(cmd, arg, 1, 1000000000L, &lv); o->log_every = lv; break;
    case CLI_TRAIN_OPT_CKPT_EVERY: rc = cli_train_int(cmd, arg, 1, 1000000000L, &lv); o->ckpt_every = lv; break;
    case CLI_TRAIN_OPT_CKPT_MINUTES: rc = cli_train_double(cmd, arg, 0.01, 1e6, &dv); o->ckpt_minutes = dv; break;
    case CLI_TRAIN_OPT_EVAL_EVERY: rc = cli_train_int(cmd, arg, 0, 1000000000L, &lv); o->eval_every = lv; break;
    default: return 0;
    }
    *exit_code = rc;
    return 1;
}

int cli_train_parse(cli_train_opts *o, const cli_cmd *cmd, int argc, char **argv, cli_train_own_opt own, void *ctx,
                    const char *const *manifest) {
    cli_parser ps;
    if (cli_parse_init(&ps, cmd, argc, argv)) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int c, rc = -1;
    const char *arg;
    while (rc < 0 && (c = cli_parse_next(&ps, &arg)) != -1)
        if (!train_opt(o, cmd, c, arg, &rc)) rc = own(ctx, cmd, c, arg);
    int first = cli_parse_operands(&ps);
    cli_parse_free(&ps);
    if (rc >= 0) return rc;
    if (first < argc) return cli_usage_error(cmd, "unexpected operand '%s'", argv[first]);
    if (!o->out_dir) return cli_usage_error(cmd, "missing -o RUN_DIR");
    if (!*manifest) return cli_usage_error(cmd, "missing --manifest");
    snprintf(o->ckpt, sizeof o->ckpt, "%s/checkpoint.safetensors", o->out_dir);
    struct stat st;
    o->resume = stat(o->ckpt, &st) == 0;
    return -1;
}

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

int cli_train_loop_run(const cli_train_loop *L) {
    const cli_train_opts *o = L->opts;
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
    while (!g_stop && L->steps_done(L->ctx) < L->total_steps && (o->run_steps < 0 || done_here < o->run_steps) &&
           (o->run_seconds < 0 || cli_now() - t_start < o->run_seconds)) {
        int64_t step = 0;
        int e = L->step(L->ctx, &step);
        if (e) { rc = cli_fail_sono(L->what, e); break; }
        done_here++;
        if (step % o->ckpt_every == 0 || cli_now() - t_ckpt > o->ckpt_minutes * 60) {
            if ((e = L->save(L->ctx, o->ckpt))) { rc = cli_fail_sono(o->ckpt, e); break; }
            t_ckpt = cli_now();
        }
        if (o->eval_every > 0 && L->eval && step % o->eval_every == 0 && (e = L->eval(L->ctx))) {
            rc = cli_fail_sono("held-out evaluation", e);
            break;
        }
    }
    if (!rc) {
        int e = L->save(L->ctx, o->ckpt);
        if (e) rc = cli_fail_sono(o->ckpt, e);
    }
    if (!rc && o->export_path) {
        int e = L->export_model(L->ctx, o->export_path);
        if (e) rc = cli_fail_sono(o->export_path, e);
    }
    if (!rc && o->com.verbosity > 0)
        fprintf(stderr, "sonotok: %s at step %lld (%lld steps this run, %.0f s); checkpoint %s\n",
                g_stop ? "stopped" : "done", (long long)L->steps_done(L->ctx), (long long)done_here,
                cli_now() - t_start, o->ckpt);
    return rc;
}
