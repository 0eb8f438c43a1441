/* sonotok train-coder: train the coder model of a codec (token-file coder
 * 3) on a corpus's codes, or resume a run. A run lives in one folder:
 * train.shard and heldout.shard (the manifests' audio as codec tokens,
 * built once; the same files train-lm makes), checkpoint.safetensors,
 * train.csv and eval.csv (held-out bits per code of the float model and of
 * the integer one), and the exported .coder file on request. Uses the
 * public, less stable training API (sonotok/train.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "train_cli.h"
#include "train_loop.h"

enum {
    OPT_MANIFEST = CLI_OPT_LONG, OPT_HELDOUT, OPT_SHARDS, OPT_CODEC, OPT_LAGS, OPT_EMB, OPT_HIDDEN, OPT_HIDDEN2,
    OPT_BATCH, OPT_LR, OPT_WARMUP, OPT_CLIP, OPT_SEED, OPT_EVAL_FRAMES,
};

static const cli_opt coder_opts[] = {
    CLI_COMMON_OPTS,
    {'o', "out", "DIR", "run folder: shards, checkpoint, CSV logs (created; resumed if it holds a checkpoint)"},
    {OPT_MANIFEST, "manifest", "FILE", "training clips (JSON lines: path, category)"},
    {OPT_HELDOUT, "heldout", "FILE", "held-out clips for --eval-every"},
    {OPT_SHARDS, "shards", "FILE", "token shard file of --manifest (default RUN_DIR/train.shard)"},
    {OPT_CODEC, "codec", "MODEL", "the codec whose codes to model (default: the shipped default codec)"},
    {OPT_LAGS, "lags", "N", "past frames the model sees (4)"},
    {OPT_EMB, "emb", "N", "embedding width, a multiple of 16 (32)"},
    {OPT_HIDDEN, "hidden", "N", "first hidden layer, shared by the codebooks (256)"},
    {OPT_HIDDEN2, "hidden2", "N", "second hidden layer, per codebook (128)"},
    CLI_TRAIN_STEPS_OPTS("total steps of the schedule (20000)"),
    {OPT_BATCH, "batch", "N", "frames per step (256)"},
    {OPT_LR, "lr", "LR", "peak learning rate (2e-3; final LR a twentieth)"},
    {OPT_WARMUP, "warmup", "N", "warmup steps (300)"},
    {OPT_CLIP, "clip", "NORM", "clip the global gradient norm (1.0; 0: no clipping)"},
    {OPT_SEED, "seed", "N", "random seed (1)"},
    CLI_TRAIN_CHECKPOINT_OPTS("held-out bits per code every N steps (0: never)"),
    {OPT_EVAL_FRAMES, "eval-frames", "N", "held-out frames per evaluation (30000)"},
    CLI_TRAIN_EXPORT_OPT("write the coder model (.coder) here at the end"),
    {0, NULL, NULL, NULL},
};

static int run_train_coder(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_train_coder = {
    .name = "train-coder",
    .summary = "Train a codec's coder model (the learned context model of token-file coder 3).",
    .usage = "-o RUN_DIR --manifest TRAIN.jsonl [--heldout FILE] [--codec MODEL] [--export NAME.coder] [options]",
    .details =
        "The manifests' audio is tokenized once with --codec at all its codebooks into\n"
        "RUN_DIR/train.shard and heldout.shard (train-lm's shard files: a run folder of\n"
        "either can share them), reused while the manifest and codec stay the same. The\n"
        "model predicts each code from the --lags frames before it in its own and the\n"
        "coarser codebooks and from the coarser codebooks of its frame; it trains in\n"
        "float (AdamW, warmup then cosine) and exports in integers, so that every machine\n"
        "computes the same probabilities. A run is bit-identical for the same seed on any\n"
        "thread count, also across resumes.\n"
        "\n"
        "RUN_DIR gets checkpoint.safetensors (every --checkpoint-every steps or minutes,\n"
        "and on SIGINT/SIGTERM), train.csv (bits per code per codebook, CPU hours) and\n"
        "eval.csv (held-out bits per code: 'float' of the float model, 'int' of the\n"
        "integer model the export writes, which is what a token file costs). Ship the\n"
        "export beside its codec as NAME.coder (models/ or a SONOTOK_MODEL_PATH folder):\n"
        "tokenize then finds it by the codec's name.\n"
        "Exit status: 0 done or stopped by a signal, 1 usage, 2 bad data, 3 I/O, 4 model.\n",
    .opts = coder_opts,
    .run = run_train_coder,
};

typedef struct {
    sono_coder_trainer *t;
    const cli_common *com;
    FILE *csv, *ecsv;
    int K;
    long log_every;
    double acc, acc_g, acc_cb[SONO_CODER_TRAIN_MAX_K], win_s;
    int64_t win_n;
} coder_loop;

static int64_t cl_steps_done(void *ctx) { return sono_coder_trainer_steps_done(((coder_loop *)ctx)->t); }
static int cl_save(void *ctx, const char *path) { return sono_coder_trainer_save_checkpoint(((coder_loop *)ctx)->t, path); }
static int cl_export(void *ctx, const char *path) { return sono_coder_trainer_export(((coder_loop *)ctx)->t, path); }

static int cl_eval(void *ctx) {
    coder_loop *x = ctx;
    const int64_t step = sono_coder_trainer_steps_done(x->t);
    for (int quant = 0; quant <= 1; quant++) {
        sono_coder_eval ev;
        int e = sono_coder_trainer_eval(x->t, quant, &ev);
        if (e) return e;
        if (x->com->verbosity > 0)
            fprintf(stderr, "step %lld  held-out %s %.4f bits/code (speech %.3f, music %.3f, effects %.3f)\n",
                    (long long)step, quant ? "int  " : "float", ev.bits, ev.bits_cat[0], ev.bits_cat[1], ev.bits_cat[2]);
        fprintf(x->ecsv, "%lld,%s,%.5f", (long long)step, quant ? "int" : "float", ev.bits);
        for (int k = 0; k < x->K; k++) fprintf(x->ecsv, ",%.5f", ev.bits_cb[k]);
        for (int c = 0; c < 4; c++) fprintf(x->ecsv, ",%.5f", ev.bits_cat[c]);
        fprintf(x->ecsv, ",%lld\n", (long long)ev.n_codes);
    }
    fflush(x->ecsv);
    return 0;
}

static int cl_step(void *ctx, int64_t *step) {
    coder_loop *x = ctx;
    int e = sono_coder_trainer_step(x->t);
    if (e) return e;
    const sono_coder_train_stats *s = sono_coder_trainer_last_stats(x->t);
    *step = s->step;
    x->acc += s->bits;
    x->acc_g += s->grad_norm;
    for (int k = 0; k < x->K; k++) x->acc_cb[k] += s->bits_cb[k];
    x->win_s += s->seconds;
    x->win_n++;
    if (s->step % x->log_every) return 0;
    double n = (double)x->win_n;
    double fps = n * sono_coder_trainer_params(x->t)->batch / x->win_s;
    if (x->com->verbosity > 0) {
        fprintf(stderr, "step %lld  %.4f bits/code, per codebook", (long long)s->step, x->acc / n);
        for (int k = 0; k < x->K; k++) fprintf(stderr, " %.3f", x->acc_cb[k] / n);
        fprintf(stderr, "  |g| %.3f  lr %.2e  %.0f frames/s  %.3f cpu-h\n", x->acc_g / n, (double)s->lr, fps,
                s->cpu_hours_total);
    }
    fprintf(x->csv, "%lld,%.5f", (long long)s->step, x->acc / n);
    for (int k = 0; k < x->K; k++) fprintf(x->csv, ",%.5f", x->acc_cb[k] / n);
    fprintf(x->csv, ",%.5f,%.4e,%.1f,%.5f\n", x->acc_g / n, (double)s->lr, fps, s->cpu_hours_total);
    fflush(x->csv);
    x->acc = x->acc_g = x->win_s = 0;
    memset(x->acc_cb, 0, sizeof x->acc_cb);
    x->win_n = 0;
    return 0;
}

/* "step,bits,bits_cb0,...,bits_cb{K-1}" with head and tail around it. */
static FILE *open_coder_csv(const char *dir, const char *name, const char *head, const char *tail, int K) {
    char header[256 + 16 * SONO_CODER_TRAIN_MAX_K];
    int o = snprintf(header, sizeof header, "%s,bits", head);
    for (int k = 0; k < K; k++) o += snprintf(header + o, sizeof header - (size_t)o, ",bits_cb%d", k);
    snprintf(header + o, sizeof header - (size_t)o, "%s", tail);
    return cli_open_csv(dir, name, header);
}

/* What train-coder's own options set (filled by coder_opt). */
typedef struct {
    sono_coder_train_params tp;
    const char *codec_arg, *manifest, *heldout, *shards_arg;
} coder_args;

/* One of train-coder's own options (cli_train_parse's callback): -1 to go on, or
 * the exit code. */
static int coder_opt(void *ctx, const cli_cmd *cmd, int key, const char *arg) {
    coder_args *a = ctx;
    int rc = -1;
    long lv;
    double dv;
#define INT_OPT(lo, hi) if ((rc = cli_train_int(cmd, arg, lo, hi, &lv)) >= 0) break;
#define DBL_OPT(lo, hi) if ((rc = cli_train_double(cmd, arg, lo, hi, &dv)) >= 0) break;
    switch (key) {
    case OPT_MANIFEST: a->manifest = arg; break;
    case OPT_HELDOUT: a->heldout = arg; break;
    case OPT_SHARDS: a->shards_arg = arg; break;
    case OPT_CODEC: a->codec_arg = arg; break;
    case OPT_LAGS: INT_OPT(1, 16) a->tp.lags = (int)lv; break;
    case OPT_EMB: INT_OPT(16, 1024) a->tp.emb_dim = (int)lv; break;
    case OPT_HIDDEN: INT_OPT(16, 1024) a->tp.hidden = (int)lv; break;
    case OPT_HIDDEN2: INT_OPT(16, 1024) a->tp.hidden2 = (int)lv; break;
    case OPT_BATCH: INT_OPT(1, 65536) a->tp.batch = (int)lv; break;
    case OPT_LR: DBL_OPT(0, 1) a->tp.lr = (float)dv; a->tp.lr_min = (float)dv / 20; break;
    case OPT_WARMUP: INT_OPT(0, 1000000000L) a->tp.warmup = lv; break;
    case OPT_CLIP: DBL_OPT(0, 1e9) a->tp.clip = (float)dv; break;
    case OPT_SEED: INT_OPT(0, 0x7fffffffL) a->tp.seed = (uint64_t)lv; break;
    case OPT_EVAL_FRAMES: INT_OPT(1, 100000000L) a->tp.eval_frames = (int)lv; break;
    default: rc = CLI_EXIT_USAGE; break;
    }
#undef INT_OPT
#undef DBL_OPT
    return rc;
}

static int run_train_coder(const cli_cmd *cmd, int argc, char **argv) {
    cli_train_opts o;
    cli_train_opts_init(&o);
    const cli_common *com = &o.com;
    coder_args a = {.tp = sono_coder_train_default_params(), .codec_arg = "default"};
    int rc = cli_train_parse(&o, cmd, argc, argv, coder_opt, &a, &a.manifest);
    if (rc >= 0) return rc;
    const char *out_dir = o.out_dir, *export_path = o.export_path, *ckpt = o.ckpt;
    if (o.steps) a.tp.steps = o.steps;
    if (a.tp.emb_dim % 16 || a.tp.hidden % 16 || a.tp.hidden2 % 16)
        return cli_usage_error(cmd, "--emb, --hidden and --hidden2 must be multiples of 16");
    if (com->n_threads > 0) a.tp.n_threads = com->n_threads;
    cli_install_log(com);
    const char *inputs[2] = {a.manifest, a.heldout};
    if ((rc = cli_protect_inputs(inputs, a.heldout ? 2 : 1))) return rc;
    if (export_path && (rc = cli_check_output(export_path))) return rc;
    if (mkdir(out_dir, 0777) && errno != EEXIST) return cli_fail_errno(out_dir, errno);
    char shards[4200], hshards[4200];
    snprintf(shards, sizeof shards, "%s/train.shard", out_dir);
    snprintf(hshards, sizeof hshards, "%s/heldout.shard", out_dir);

    int exit_code = 0;
    sono_codec *codec = cli_load_codec(com, a.codec_arg, &exit_code);
    if (!codec) return exit_code;
    int err = 0, built = 0;
    const char *train_shards = a.shards_arg ? a.shards_arg : shards;
    sono_token_shards *sh = sono_token_shards_open(train_shards, a.manifest, codec, 0, &built, &err);
    sono_token_shards *hsh = NULL;
    if (sh) cli_note(com, 1, "%s %s", built ? "tokenized the manifest into" : "codes from", train_shards);
    if (sh && a.heldout && (hsh = sono_token_shards_open(hshards, a.heldout, codec, 0, &built, &err)))
        cli_note(com, 1, "%s %s", built ? "tokenized the held-out manifest into" : "held-out codes from", hshards);
    a.tp.codec_name = sono_codec_name(codec);
    sono_codec_codes_hash(codec, a.tp.codec_hash);
    sono_codec_hash(codec, a.tp.codec_full_hash);
    if (!sh || (a.heldout && !hsh)) {
        rc = cli_fail_sono(sh ? a.heldout : a.manifest, err);
        goto done;
    }
    sono_code_set train_set, held_set;
    sono_token_shards_code_set(sh, &train_set);
    if (hsh) sono_token_shards_code_set(hsh, &held_set);
    const int resume = o.resume;
    sono_coder_trainer *t;
    if (resume) {
        a.tp.steps = o.steps;
        t = sono_coder_trainer_resume(ckpt, &a.tp, &train_set, hsh ? &held_set : NULL, &err);
        if (t) cli_note(com, 1, "resuming from %s", ckpt);
    } else {
        t = sono_coder_trainer_new(&a.tp, &train_set, hsh ? &held_set : NULL, &err);
        if (t) cli_note(com, 1, "new run in %s", out_dir);
    }
    if (!t) {
        rc = cli_fail_sono(resume ? ckpt : "train-coder", err);
        goto done;
    }
    const sono_coder_train_params *P = sono_coder_trainer_params(t);
    const int K = train_set.n_codebooks;
    cli_note(com, 1, "model for %s: %d codebooks of %d, %d past frames, embeddings %d, hidden %d and %d, %.2f M "
             "parameters; batch %d frames, %d threads, lr %g, steps %lld (at %lld)",
             P->codec_name, K, train_set.codebook_size, P->lags, P->emb_dim, P->hidden, P->hidden2,
             (double)sono_coder_trainer_n_params(t) / 1e6, P->batch, P->n_threads, (double)P->lr, (long long)P->steps,
             (long long)sono_coder_trainer_steps_done(t));
    FILE *csv = open_coder_csv(out_dir, "train.csv", "step", ",grad_norm,lr,frames_per_s,cpu_hours", K);
    FILE *ecsv = hsh ? open_coder_csv(out_dir, "eval.csv", "step,model", ",speech,music,effects,other,codes", K) : NULL;
    if (!csv || (hsh && !ecsv)) {
        rc = cli_fail_errno(out_dir, errno);
    } else {
        coder_loop x = {.t = t, .com = com, .csv = csv, .ecsv = ecsv, .K = K, .log_every = o.log_every};
        cli_train_loop L = {.what = "train-coder", .opts = &o, .total_steps = P->steps, .ctx = &x,
                            .steps_done = cl_steps_done, .step = cl_step, .save = cl_save,
                            .eval = ecsv ? cl_eval : NULL, .export_model = cl_export};
        rc = cli_train_loop_run(&L);
    }
    if (csv) fclose(csv);
    if (ecsv) fclose(ecsv);
    sono_coder_trainer_free(t);
done:
    sono_token_shards_close(hsh);
    sono_token_shards_close(sh);
    sono_codec_free(codec);
    return rc;
}
