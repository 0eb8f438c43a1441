/* sonotok train-lm: train the token LM on a corpus manifest, or resume a
 * run. A run lives in one folder: train.shard (the manifest's audio as
 * codec tokens, built once), heldout.shard, checkpoint.safetensors
 * (everything needed to resume bit for bit), train.csv and eval.csv, and
 * the exported LM file on request. Stops cleanly on SIGINT/SIGTERM
 * (checkpoint first). Uses the public, less stable training API
 * (sonotok/train.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "train_cli.h"
#include "train_loop.h"

enum {
    OPT_MANIFEST = CLI_OPT_LONG, OPT_HELDOUT, OPT_SHARDS, OPT_CODEC, OPT_BANDWIDTH, OPT_CODEBOOKS, OPT_TOKENIZER,
    OPT_VOCAB, OPT_BATCH, OPT_LR, OPT_WARMUP, OPT_CLIP, OPT_SEED, OPT_EVAL_SEQ, OPT_LAYERS, OPT_WIDTH,
    OPT_HEADS, OPT_CONTEXT, OPT_LEARNED_POS, OPT_TASKS, OPT_CFG_DROPOUT, OPT_MAX_TEXT, OPT_SAMPLES, OPT_SAMPLE_SECONDS,
};

static const cli_opt lm_opts[] = {
    CLI_COMMON_OPTS,
    {'o', "out", "DIR", "run folder: shards, checkpoint, CSV logs (created; resumed if it holds a checkpoint)"},
    {OPT_MANIFEST, "manifest", "FILE", "training clips (JSON lines: path, category, duration, text/caption)"},
    {OPT_HELDOUT, "heldout", "FILE", "held-out manifest for --eval-every"},
    {OPT_SHARDS, "shards", "FILE", "token shard file of --manifest (default RUN_DIR/train.shard)"},
    {OPT_CODEC, "codec", "MODEL", "codec that tokenizes the audio (default: the shipped default codec)"},
    {OPT_BANDWIDTH, "bandwidth", "KBPS", "use the codec's codebooks for this bandwidth"},
    {OPT_CODEBOOKS, "codebooks", "K", "codebooks per frame (default: all of the codec's)"},
    {OPT_TOKENIZER, "tokenizer", "FILE", "text tokenizer (default: learned from the manifest's texts)"},
    {OPT_VOCAB, "vocab", "N", "ids of a learned tokenizer (1024)"},
    {OPT_LAYERS, "layers", "N", "transformer layers (4)"},
    {OPT_WIDTH, "width", "N", "residual width (256)"},
    {OPT_HEADS, "heads", "N", "attention heads (4)"},
    {OPT_CONTEXT, "context", "N", "context in positions (512)"},
    {OPT_LEARNED_POS, "learned-pos", NULL, "learned positions (default: rotary)"},
    {OPT_TASKS, "tasks", "LIST", "task weights, e.g. continue=1,tta=1,tts=1 (the default)"},
    {OPT_CFG_DROPOUT, "cfg-dropout", "P", "rate at which a tta caption becomes <uncond> (0.15)"},
    {OPT_MAX_TEXT, "max-text", "N", "text ids kept per caption (64)"},
    CLI_TRAIN_STEPS_OPTS("total steps of the schedule (20000)"),
    {OPT_BATCH, "batch", "N", "sequences per step (8)"},
    {OPT_LR, "lr", "LR", "peak learning rate (1e-3; final LR a tenth)"},
    {OPT_WARMUP, "warmup", "N", "warmup steps (200)"},
    {OPT_CLIP, "clip", "NORM", "clip the global gradient norm (1.0; 0: no clipping)"},
    {OPT_SEED, "seed", "N", "random seed (1)"},
    CLI_TRAIN_CHECKPOINT_OPTS("held-out loss every N steps (0: never)"),
    {OPT_EVAL_SEQ, "eval-sequences", "N", "held-out sequences per evaluation (64)"},
    {OPT_SAMPLES, "samples", "N", "generated samples per task at each evaluation (2; 0: none)"},
    {OPT_SAMPLE_SECONDS, "sample-seconds", "S", "their length: prompt and continuation, or tta audio (3)"},
    CLI_TRAIN_EXPORT_OPT("write the LM file here at the end"),
    {0, NULL, NULL, NULL},
};

static int run_train_lm(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_train_lm = {
    .name = "train-lm",
    .summary = "Train the token LM on a corpus's codec tokens and texts, or resume a run.",
    .usage = "-o RUN_DIR --manifest TRAIN.jsonl [--heldout FILE] [--codec MODEL] [options]",
    .details =
        "The manifest's audio is tokenized once with --codec (K codebooks: --codebooks or\n"
        "--bandwidth) into RUN_DIR/train.shard, reused while the manifest and codec stay\n"
        "the same. Each step builds --batch sequences [task] [text] [<sep>] [audio frames,\n"
        "delay pattern]: task continue (a random crop of any clip) and tta (a clip with a\n"
        "caption, from its start; the caption becomes <uncond> at --cfg-dropout) and tts\n"
        "(a manifest line with phonemes: \"tokens\", \"start_frame\", \"end_frame\", \"voice\",\n"
        "\"lang\", as tools/corpus/tts_corpus.py writes; the LM then reads phonemes and the\n"
        "records' languages and voices, doc/tts-layout.md), mixed by --tasks; AdamW (0.9, 0.95, weight decay 0.1), gradient clipping, warmup then\n"
        "cosine. A run is bit-identical for the same seed on any thread count, also\n"
        "across resumes.\n"
        "\n"
        "RUN_DIR gets checkpoint.safetensors (every --checkpoint-every steps or minutes,\n"
        "and on SIGINT/SIGTERM), train.csv (loss per codebook, tokens/s, CPU hours) and\n"
        "eval.csv (held-out loss). If RUN_DIR holds a checkpoint the run resumes from it\n"
        "(model, tokenizer and schedule from the checkpoint; the codec must be its own).\n"
        "\n"
        "Each evaluation also writes generated samples, rendered with the run's codec,\n"
        "to RUN_DIR/samples/: step-N-continue-I.wav, the first --sample-seconds of\n"
        "held-out clip I (at most half the context) followed by the model's continuation\n"
        "of --sample-seconds, and, when the run trains tta and held-out clips have\n"
        "captions, step-N-tta-I.wav, --sample-seconds for the caption of the I-th of\n"
        "them (CFG 3), for I < --samples; lengths as the context allows, never cut\n"
        "short by the end token. Seed 1, temperature 1, top-k 250: the same files for\n"
        "the same weights, and the run stays the same bits with or without them.\n"
        "samples/index.tsv lists step, file, task, prompt clip and caption.\n"
        "Exit status: 0 done or stopped by a signal, 1 usage, 2 bad data, 3 I/O, 4 model.\n",
    .opts = lm_opts,
    .run = run_train_lm,
};


/* "step,loss,loss_cb0,...,loss_cb{K-1}" followed by tail. */
static FILE *open_lm_csv(const char *dir, const char *name, const char *tail, int K) {
    char header[64 + 16 * SONO_LM_MAX_K];
    int o = snprintf(header, sizeof header, "step,loss");
    for (int k = 0; k < K; k++) o += snprintf(header + o, sizeof header - o, ",loss_cb%d", k);
    snprintf(header + o, sizeof header - o, "%s", tail);
    return cli_open_csv(dir, name, header);
}

/* The trainer behind the shared loop (train_loop.h), with the window of
 * step statistics each log line averages. */
typedef struct {
    sono_lm_trainer *t;
    const cli_common *com;
    FILE *csv, *ecsv;
    int K;
    long log_every, eval_seq, n_samples;
    double sample_seconds;
    const char *dir;
    double acc, acc_g, acc_cb[SONO_LM_MAX_K], win_s;
    int64_t win_n, win_pos, win_tgt;
} lm_loop;

static int64_t lm_steps_done(void *ctx) { return sono_lm_trainer_steps_done(((lm_loop *)ctx)->t); }
static int lm_save(void *ctx, const char *path) { return sono_lm_trainer_save_checkpoint(((lm_loop *)ctx)->t, path); }
static int lm_export(void *ctx, const char *path) { return sono_lm_trainer_export(((lm_loop *)ctx)->t, path); }

/* ---- samples at evaluation ---- */

static int lm_sample_write(lm_loop *x, sono_lm_generate_params *g, const char *task, int i, const char *clip,
                           int64_t step) {
    const sono_lm *lm = sono_lm_trainer_lm(x->t);
    const sono_codec *codec = sono_lm_trainer_codec(x->t);
    const int K = x->K, rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec);
    g->max_frames = g->min_frames = 0;
    int64_t room = sono_lm_generate_max_frames(lm, g), want = llround(x->sample_seconds * sono_codec_frame_rate(codec));
    if (room < 0) return (int)room;
    g->max_frames = g->min_frames = want < 1 ? 1 : want < room ? want : room; /* a fixed length: no end token */
    const int64_t Fp = g->n_prompt_frames, F = g->max_frames, S = Fp + F;
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)K * (size_t)S), *gen = malloc(sizeof(int32_t) * (size_t)K * (size_t)F);
    float *buf = malloc(sizeof(float) * (size_t)rate * (size_t)ch);
    int64_t n_new = 0;
    int rc = codes && gen && buf ? 0 : SONO_E_NOMEM;
    if (!rc) rc = sono_lm_generate(lm, g, NULL, NULL, gen, &n_new);
    sono_audio_writer *w = NULL;
    char path[4300];
    snprintf(path, sizeof path, "%s/samples/step-%lld-%s-%d.wav", x->dir, (long long)step, task, i);
    if (!rc) { /* the prompt's frames, then the new ones */
        for (int k = 0; k < K; k++) {
            if (Fp) memcpy(codes + (size_t)k * S, g->prompt + (size_t)k * Fp, sizeof(int32_t) * (size_t)Fp);
            memcpy(codes + (size_t)k * S + Fp, gen + (size_t)k * F, sizeof(int32_t) * (size_t)n_new);
        }
        w = sono_audio_create(path, "wav", rate, rate, ch, &rc);
        if (w) rc = cli_render_codes(codec, codes, K, S, Fp + n_new, w, buf, rate);
        if (w && !rc) rc = sono_audio_writer_close(w);
        else sono_audio_writer_abort(w);
    }
    if (!rc) {
        char idx[4300];
        snprintf(idx, sizeof idx, "%s/samples/index.tsv", x->dir);
        FILE *f = fopen(idx, "a");
        if (f) {
            fprintf(f, "%lld\tstep-%lld-%s-%d.wav\t%s\t%s\t", (long long)step, (long long)step, task, i, task,
                    clip ? clip : "");
            for (const char *c = g->text ? g->text : ""; *c; c++) fputc(*c == '\t' || *c == '\n' || *c == '\r' ? ' ' : *c, f);
            fputc('\n', f);
            if (fclose(f)) rc = SONO_E_IO;
        } else {
            rc = SONO_E_IO;
        }
    }
    free(codes);
    free(gen);
    free(buf);
    return rc;
}

/* Generate one sample (g: task, caption or prompt set) of up to `seconds`
 * new audio and write the prompt's frames then the new ones to
 * RUN_DIR/samples/step-N-TASK-I.wav, listed in index.tsv. 0, or a
 * negative error (said on stderr). */
static int lm_sample_one(lm_loop *x, sono_lm_generate_params *g, const char *task, int i, const char *clip,
                         int64_t step) {
    sono_clear_error();
    int rc = lm_sample_write(x, g, task, i, clip, step);
    if (rc) cli_fail_sono("train-lm: sample", rc);
    return rc;
}

/* The samples of one evaluation: --samples held-out prompts continued and,
 * when the run trains tta, as many held-out captions. A failure is a line
 * on stderr, not the end of the run. */
static void lm_samples(lm_loop *x, int64_t step) {
    const sono_lm_train_params *P = sono_lm_trainer_params(x->t);
    const sono_lm *lm = sono_lm_trainer_lm(x->t);
    const double fr = sono_codec_frame_rate(sono_lm_trainer_codec(x->t));
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/samples", x->dir);
    if (mkdir(dir, 0777) && errno != EEXIST) {
        cli_fail_errno(dir, errno);
        return;
    }
    int64_t max_prompt = llround(x->sample_seconds * fr);
    if (max_prompt > sono_lm_context(lm) / 2) max_prompt = sono_lm_context(lm) / 2;
    if (max_prompt < 1) max_prompt = 1;
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)x->K * (size_t)max_prompt);
    if (!prompt) return;
    int n_cont = 0, n_tta = 0;
    const char *path, *caption;
    sono_lm_generate_params base = sono_lm_generate_default_params();
    base.n_threads = P->n_threads;
    for (int i = 0; sono_lm_trainer_heldout_clip(x->t, i, NULL, 0, NULL, &path, &caption) == 0; i++) {
        if (n_cont < x->n_samples) {
            sono_lm_generate_params g = base;
            sono_lm_trainer_heldout_clip(x->t, i, prompt, max_prompt, &g.n_prompt_frames, NULL, NULL);
            g.prompt = prompt;
            lm_sample_one(x, &g, "continue", n_cont++, path, step);
        }
        if (caption && P->w_tta > 0 && n_tta < x->n_samples) {
            sono_lm_generate_params g = base;
            g.task = SONO_LM_TASK_TTA;
            g.text = caption;
            lm_sample_one(x, &g, "tta", n_tta++, path, step);
        }
        if (n_cont >= x->n_samples && (n_tta >= x->n_samples || P->w_tta <= 0)) break;
    }
    free(prompt);
    cli_note(x->com, 1, "step %lld: %d continuation%s and %d tta sample%s in %s", (long long)step, n_cont,
             n_cont == 1 ? "" : "s", n_tta, n_tta == 1 ? "" : "s", dir);
}

static int lm_eval(void *ctx) {
    lm_loop *x = ctx;
    double l, lcb[SONO_LM_MAX_K];
    int e = sono_lm_trainer_eval(x->t, (int)x->eval_seq, &l, lcb);
    if (e) return e;
    const int64_t step = sono_lm_trainer_steps_done(x->t);
    if (x->com->verbosity > 0) fprintf(stderr, "step %lld  held-out loss %.4f\n", (long long)step, l);
    fprintf(x->ecsv, "%lld,%.6f", (long long)step, l);
    for (int k = 0; k < x->K; k++) fprintf(x->ecsv, ",%.6f", lcb[k]);
    fprintf(x->ecsv, "\n");
    fflush(x->ecsv);
    if (x->n_samples > 0) lm_samples(x, step);
    return 0;
}

static int lm_step(void *ctx, int64_t *step) {
    lm_loop *x = ctx;
    const int K = x->K;
    int e = sono_lm_trainer_step(x->t);
    if (e) return e;
    const sono_lm_train_stats *s = sono_lm_trainer_last_stats(x->t);
    *step = s->step;
    x->acc += s->loss;
    x->acc_g += s->grad_norm;
    for (int k = 0; k < K; k++) x->acc_cb[k] += s->loss_cb[k];
    x->win_s += s->seconds;
    x->win_pos += s->n_positions;
    x->win_tgt += s->n_targets;
    x->win_n++;
    if (s->step % x->log_every) return 0;
    double n = (double)x->win_n, tps = (double)x->win_pos / x->win_s;
    if (x->com->verbosity > 0) {
        fprintf(stderr, "step %lld  loss %.4f  per codebook", (long long)s->step, x->acc / n);
        for (int k = 0; k < K; k++) fprintf(stderr, " %.3f", x->acc_cb[k] / n);
        fprintf(stderr, "  |g| %.3f  lr %.2e  %.0f tokens/s  %.3f cpu-h\n", x->acc_g / n, (double)s->lr, tps,
                s->cpu_hours_total);
    }
    fprintf(x->csv, "%lld,%.6f", (long long)s->step, x->acc / n);
    for (int k = 0; k < K; k++) fprintf(x->csv, ",%.6f", x->acc_cb[k] / n);
    fprintf(x->csv, ",%.5f,%.4e,%.1f,%.1f,%.5f\n", x->acc_g / n, (double)s->lr, tps, (double)x->win_tgt / x->win_s,
            s->cpu_hours_total);
    fflush(x->csv);
    x->acc = x->acc_g = x->win_s = 0;
    memset(x->acc_cb, 0, sizeof x->acc_cb);
    x->win_n = x->win_pos = x->win_tgt = 0;
    return 0;
}

/* "continue=W,tta=W,tts=W" (any may be left out: weight 0). */
static int parse_tasks(const char *s, double *w_continue, double *w_tta, double *w_tts) {
    *w_continue = 0;
    *w_tta = 0;
    *w_tts = 0;
    while (*s) {
        const char *eq = strchr(s, '=');
        if (!eq) return -1;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || !(v >= 0) || (*end && *end != ',')) return -1;
        if (eq - s == 8 && !strncmp(s, "continue", 8)) *w_continue = v;
        else if (eq - s == 3 && !strncmp(s, "tta", 3)) *w_tta = v;
        else if (eq - s == 3 && !strncmp(s, "tts", 3)) *w_tts = v;
        else return -1;
        s = *end ? end + 1 : end;
    }
    return *w_continue + *w_tta + *w_tts > 0 ? 0 : -1;
}

/* What train-lm's own options set (filled by lm_opt). */
typedef struct {
    sono_lm_train_params tp;
    const char *codec_arg;
    long eval_seq, n_samples;
    double sample_seconds;
} lm_args;

/* One of train-lm's own options (cli_train_parse's callback): -1 to go on, or
 * the exit code. */
static int lm_opt(void *ctx, const cli_cmd *cmd, int key, const char *arg) {
    lm_args *a = ctx;
    int rc = -1;
    long lv;
    double dv;
#define INT_OPT(lo, hi) if ((rc = cli_train_int(cmd, arg, lo, hi, &lv)) >= 0) break;
#define DBL_OPT(lo, hi) if ((rc = cli_train_double(cmd, arg, lo, hi, &dv)) >= 0) break;
    switch (key) {
    case OPT_MANIFEST: a->tp.manifest = arg; break;
    case OPT_HELDOUT: a->tp.heldout = arg; break;
    case OPT_SHARDS: a->tp.shards = arg; break;
    case OPT_CODEC: a->codec_arg = arg; break;
    case OPT_BANDWIDTH: DBL_OPT(0.01, 1e4) a->tp.bandwidth = dv; break;
    case OPT_CODEBOOKS: INT_OPT(1, SONO_LM_MAX_K) a->tp.n_codebooks = (int)lv; break;
    case OPT_TOKENIZER: a->tp.tokenizer = arg; break;
    case OPT_VOCAB: INT_OPT(264, 1 << 20) a->tp.tokenizer_vocab = (int)lv; break;
    case OPT_LAYERS: INT_OPT(1, 256) a->tp.n_layer = (int)lv; break;
    case OPT_WIDTH: INT_OPT(2, 16384) a->tp.width = (int)lv; break;
    case OPT_HEADS: INT_OPT(1, 256) a->tp.n_head = (int)lv; break;
    case OPT_CONTEXT: INT_OPT(8, 1 << 20) a->tp.context = (int)lv; break;
    case OPT_LEARNED_POS: a->tp.learned_pos = 1; break;
    case OPT_TASKS:
        if (parse_tasks(arg, &a->tp.w_continue, &a->tp.w_tta, &a->tp.w_tts))
            rc = cli_usage_error(cmd, "--tasks needs continue=W,tta=W,tts=W (weights >= 0, not all 0), not '%s'", arg);
        break;
    case OPT_CFG_DROPOUT: DBL_OPT(0, 1) a->tp.cfg_dropout = (float)dv; break;
    case OPT_MAX_TEXT: INT_OPT(1, 1 << 20) a->tp.max_text = (int)lv; break;
    case OPT_BATCH: INT_OPT(1, 4096) a->tp.batch = (int)lv; break;
    case OPT_LR: DBL_OPT(0, 1) a->tp.lr = (float)dv; a->tp.lr_min = (float)dv / 10; break;
    case OPT_WARMUP: INT_OPT(0, 1000000000L) a->tp.warmup = lv; break;
    case OPT_CLIP: DBL_OPT(0, 1e9) a->tp.clip = (float)dv; break;
    case OPT_SEED: INT_OPT(0, 0x7fffffffL) a->tp.seed = (uint64_t)lv; break;
    case OPT_EVAL_SEQ: INT_OPT(1, 1000000) a->eval_seq = lv; break;
    case OPT_SAMPLES: INT_OPT(0, 100) a->n_samples = lv; break;
    case OPT_SAMPLE_SECONDS: DBL_OPT(0.001, 600) a->sample_seconds = dv; break;
    default: rc = CLI_EXIT_USAGE; break;
    }
#undef INT_OPT
#undef DBL_OPT
    return rc;
}

static int run_train_lm(const cli_cmd *cmd, int argc, char **argv) {
    cli_train_opts o;
    cli_train_opts_init(&o);
    const cli_common *com = &o.com;
    lm_args a = {.tp = sono_lm_train_default_params(), .eval_seq = 64, .n_samples = 2, .sample_seconds = 3};
    int rc = cli_train_parse(&o, cmd, argc, argv, lm_opt, &a, &a.tp.manifest);
    if (rc >= 0) return rc;
    const char *out_dir = o.out_dir, *export_path = o.export_path, *ckpt = o.ckpt;
    if (o.steps) a.tp.steps = o.steps;
    if (a.tp.bandwidth > 0 && a.tp.n_codebooks > 0) return cli_usage_error(cmd, "give --bandwidth or --codebooks, not both");
    if (com->n_threads > 0) a.tp.n_threads = com->n_threads;
    cli_install_log(com);
    const char *inputs[3] = {a.tp.manifest};
    int n_in = 1;
    if (a.tp.heldout) inputs[n_in++] = a.tp.heldout;
    if (a.tp.tokenizer) inputs[n_in++] = a.tp.tokenizer;
    if ((rc = cli_protect_inputs(inputs, n_in))) return rc;
    if (mkdir(out_dir, 0777) && errno != EEXIST) return cli_fail_errno(out_dir, errno);
    char shards[4200], hshards[4200];
    snprintf(shards, sizeof shards, "%s/train.shard", out_dir);
    snprintf(hshards, sizeof hshards, "%s/heldout.shard", out_dir);
    if (!a.tp.shards) a.tp.shards = shards;
    a.tp.heldout_shards = hshards;
    char resolved[4200];
    if (a.codec_arg && sono_codec_resolve(a.codec_arg, resolved, sizeof resolved))
        return cli_fail(CLI_EXIT_MODEL, "--codec", "%s", sono_last_error());
    const char *model_in[1] = {resolved};
    if (a.codec_arg && (rc = cli_protect_inputs(model_in, 1))) return rc;
    if (export_path && (rc = cli_check_output(export_path))) return rc;
    const int resume = o.resume;
    int err = 0;
    sono_lm_trainer *t;
    if (resume) {
        a.tp.steps = o.steps;
        a.tp.codec = a.codec_arg;
        t = sono_lm_trainer_resume(ckpt, &a.tp, &err);
        if (t) cli_note(com, 1, "resuming from %s", ckpt);
    } else {
        if (a.codec_arg) a.tp.codec = a.codec_arg;
        t = sono_lm_trainer_new(&a.tp, &err);
        if (t) cli_note(com, 1, "new run in %s", out_dir);
    }
    if (!t) return cli_fail_sono(resume ? ckpt : "train-lm", err);
    const sono_lm_train_params *P = sono_lm_trainer_params(t);
    const int K = sono_lm_trainer_n_codebooks(t);
    cli_note(com, 1, "model: %d layers, width %d, %d heads, context %d, %s positions, %d codebooks, %.2f M parameters; "
             "batch %d, %d threads, tasks continue=%g tta=%g tts=%g, cfg dropout %g, lr %g, steps %lld (at %lld)",
             P->n_layer, P->width, P->n_head, P->context, P->learned_pos ? "learned" : "rotary", K,
             (double)sono_lm_trainer_n_params(t) / 1e6, P->batch, P->n_threads, P->w_continue, P->w_tta, P->w_tts,
             (double)P->cfg_dropout, (double)P->lr, (long long)P->steps, (long long)sono_lm_trainer_steps_done(t));
    FILE *csv = open_lm_csv(out_dir, "train.csv", ",grad_norm,lr,tokens_per_s,targets_per_s,cpu_hours", K);
    FILE *ecsv = P->heldout ? open_lm_csv(out_dir, "eval.csv", "", K) : NULL;
    if (!csv || (P->heldout && !ecsv)) {
        if (csv) fclose(csv);
        sono_lm_trainer_free(t);
        return cli_fail_errno(out_dir, errno);
    }
    lm_loop x = {.t = t, .com = com, .csv = csv, .ecsv = ecsv, .K = K, .log_every = o.log_every, .eval_seq = a.eval_seq,
                 .n_samples = a.n_samples, .sample_seconds = a.sample_seconds, .dir = out_dir};
    cli_train_loop L = {.what = "train-lm", .opts = &o, .total_steps = P->steps, .ctx = &x,
                        .steps_done = lm_steps_done, .step = lm_step, .save = lm_save,
                        .eval = ecsv ? lm_eval : NULL, .export_model = lm_export};
    rc = cli_train_loop_run(&L);
    fclose(csv);
    if (ecsv) fclose(ecsv);
    sono_lm_trainer_free(t);
    return rc;
}
