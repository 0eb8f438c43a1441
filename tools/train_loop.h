/* The loop train-codec and train-lm share: steps until the schedule ends,
 * --run-steps or --run-seconds is reached, or SIGINT/SIGTERM asks it to
 * stop; a checkpoint every ckpt_every steps and at least every
 * ckpt_minutes; held-out evaluation every eval_every steps; a last
 * checkpoint, the export on request, and the closing line. The trainer
 * behind it is reached through callbacks, each returning 0 or a sonotok
 * error code. */
#ifndef SONOTOK_TRAIN_LOOP_H
#define SONOTOK_TRAIN_LOOP_H
#include <stdint.h>
#include <stdio.h>

#include "cli_util.h"

typedef struct {
    const char *what;          /* the command, in messages: "train-codec" */
    const char *ckpt;          /* checkpoint path */
    const char *export_path;   /* or NULL */
    int64_t total_steps;       /* the schedule's length */
    int64_t run_steps;         /* < 0: no limit */
    double run_seconds;        /* < 0: no limit */
    int64_t ckpt_every;
    double ckpt_minutes;
    int64_t eval_every;        /* 0: never (eval may then be NULL) */
    void *ctx;
    int64_t (*steps_done)(void *ctx);
    /* one step, its statistics and (when the step is a logging one) its log
     * line; *step gets the step's number */
    int (*step)(void *ctx, int64_t *step);
    int (*save)(void *ctx, const char *path);
    int (*eval)(void *ctx);
    int (*export_model)(void *ctx, const char *path);
} cli_train_loop;

/* Run the loop; 0, or the exit code of the failure (printed). */
int cli_train_loop_run(const cli_train_loop *L, const cli_common *com);

/* Open RUN_DIR/name for appending; a new or empty file gets the header line
 * first. NULL with errno set. */
FILE *cli_open_csv(const char *dir, const char *name, const char *header);

#endif
