/* What the train-* commands (train-codec, train-lm, train-coder) share:
 * the options of the loop and their parsing, and the loop itself: steps
 * until the schedule ends, --run-steps or --run-seconds is reached, or
 * SIGINT/SIGTERM asks it to stop; a checkpoint every --checkpoint-every
 * steps and at least every --checkpoint-minutes; held-out evaluation every
 * --eval-every steps; a last checkpoint, the export on request, and the
 * closing line. The trainer behind it is reached through callbacks, each
 * returning 0 or a sonotok error code.
 *
 *   static const cli_opt opts[] = {CLI_COMMON_OPTS, {'o', "out", "DIR", "run folder"},
 *       CLI_TRAIN_STEPS_OPTS("total steps (1000)"), ..., CLI_TRAIN_CHECKPOINT_OPTS("held-out loss every N steps"),
 *       CLI_TRAIN_EXPORT_OPT("write the model here at the end"), {0}};
 *   static int my_opt(void *ctx, const cli_cmd *cmd, int key, const char *arg) {   // the command's own options
 *       my_args *a = ctx; long lv; int rc = -1;
 *       switch (key) { case OPT_BATCH: rc = cli_train_int(cmd, arg, 1, 4096, &lv); a->tp.batch = (int)lv; break; ...
 *                      default: rc = CLI_EXIT_USAGE; }
 *       return rc;
 *   }
 *   cli_train_opts o; cli_train_opts_init(&o);
 *   int rc = cli_train_parse(&o, cmd, argc, argv, my_opt, &a, &a.tp.manifest);
 *   if (rc >= 0) return rc;
 *   ... o.out_dir, o.ckpt, o.resume, o.steps ...
 *   cli_train_loop L = {.what = "train-x", .opts = &o, .total_steps = ..., .ctx = ..., callbacks};
 *   rc = cli_train_loop_run(&L);
 */
#ifndef SONOTOK_TRAIN_LOOP_H
#define SONOTOK_TRAIN_LOOP_H
#include <stdint.h>
#include <stdio.h>

#include "cli_util.h"

/* Keys of the shared options, above those of any command's own (which
 * count up from CLI_OPT_LONG). */
enum {
    CLI_TRAIN_OPT_STEPS = CLI_OPT_LONG + 0x100, CLI_TRAIN_OPT_RUN_STEPS, CLI_TRAIN_OPT_RUN_SECONDS,
    CLI_TRAIN_OPT_LOG_EVERY, CLI_TRAIN_OPT_CKPT_EVERY, CLI_TRAIN_OPT_CKPT_MINUTES, CLI_TRAIN_OPT_EVAL_EVERY,
    CLI_TRAIN_OPT_EXPORT,
};

/* --steps (its help names the command's default), --run-steps, --run-seconds */
#define CLI_TRAIN_STEPS_OPTS(steps_help) \
    {CLI_TRAIN_OPT_STEPS, "steps", "N", steps_help}, \
    {CLI_TRAIN_OPT_RUN_STEPS, "run-steps", "N", "stop after N steps in this invocation"}, \
    {CLI_TRAIN_OPT_RUN_SECONDS, "run-seconds", "S", "stop after S seconds in this invocation"}
/* --log-every, --checkpoint-every, --checkpoint-minutes, --eval-every (its
 * help says what is evaluated) */
#define CLI_TRAIN_CHECKPOINT_OPTS(eval_help) \
    {CLI_TRAIN_OPT_LOG_EVERY, "log-every", "N", "log line every N steps (50)"}, \
    {CLI_TRAIN_OPT_CKPT_EVERY, "checkpoint-every", "N", "checkpoint every N steps (1000)"}, \
    {CLI_TRAIN_OPT_CKPT_MINUTES, "checkpoint-minutes", "M", "and at least every M minutes (10)"}, \
    {CLI_TRAIN_OPT_EVAL_EVERY, "eval-every", "N", eval_help}
#define CLI_TRAIN_EXPORT_OPT(export_help) {CLI_TRAIN_OPT_EXPORT, "export", "FILE", export_help}

/* The shared options' values (and CLI_COMMON_OPTS', and -o's). */
typedef struct {
    cli_common com;
    const char *out_dir;       /* -o RUN_DIR */
    const char *export_path;   /* --export, or NULL */
    int64_t steps;             /* --steps; 0 when not given */
    int64_t run_steps;         /* < 0: no limit */
    double run_seconds;        /* < 0: no limit */
    int64_t log_every, ckpt_every, eval_every; /* eval_every 0: never */
    double ckpt_minutes;
    char ckpt[4200];           /* RUN_DIR/checkpoint.safetensors (set by cli_train_parse) */
    int resume;                /* 1 when that checkpoint exists (set by cli_train_parse) */
} cli_train_opts;

void cli_train_opts_init(cli_train_opts *o);
/* A command's own option: -1 to go on, or the exit code to return (a
 * usage error, printed; CLI_EXIT_USAGE for a key it does not know). */
typedef int (*cli_train_own_opt)(void *ctx, const cli_cmd *cmd, int key, const char *arg);
/* Parse argv: the shared options (CLI_COMMON_OPTS, -o and the
 * CLI_TRAIN_OPT_ keys) into o, every other through own(ctx, ...); then no
 * operands, -o given and a manifest given (*manifest, read after the
 * options, so own may set it); sets o->ckpt and o->resume. -1 to go on, or
 * the exit code to return (help printed, or a usage error). */
int cli_train_parse(cli_train_opts *o, const cli_cmd *cmd, int argc, char **argv, cli_train_own_opt own, void *ctx,
                    const char *const *manifest);
/* An option's value as a number in [lo, hi] into *v: -1, or a usage
 * error's exit code ("bad value"). */
int cli_train_int(const cli_cmd *cmd, const char *arg, long lo, long hi, long *v);
int cli_train_double(const cli_cmd *cmd, const char *arg, double lo, double hi, double *v);

typedef struct {
    const char *what;          /* the command, in messages: "train-codec" */
    const cli_train_opts *opts; /* checkpoint path, limits, checkpoint and evaluation intervals, export */
    int64_t total_steps;       /* the schedule's length */
    void *ctx;
    int64_t (*steps_done)(void *ctx);
    /* one step, its statistics and (when the step is a logging one) its log
     * line; *step gets the step's number */
    int (*step)(void *ctx, int64_t *step);
    int (*save)(void *ctx, const char *path);
    int (*eval)(void *ctx);    /* NULL: no evaluation (no held-out data) */
    int (*export_model)(void *ctx, const char *path);
} cli_train_loop;

/* Run the loop; 0, or the exit code of the failure (printed). */
int cli_train_loop_run(const cli_train_loop *L);

/* Open RUN_DIR/name for appending; a new or empty file gets the header line
 * first. NULL with errno set. */
FILE *cli_open_csv(const char *dir, const char *name, const char *header);

#endif
