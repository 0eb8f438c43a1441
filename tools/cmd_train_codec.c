/* sonotok train-codec: train a SEANet/RVQ codec from scratch on a corpus
 * manifest (tools/build-corpus.sh writes one), or resume a run. A run lives
 * in one folder: checkpoint.safetensors (everything needed to resume bit for
 * bit), train.csv (a row per log line), eval.csv (held-out metrics), and the
 * exported model on request. Stops cleanly on SIGINT/SIGTERM (checkpoint
 * first). Uses the public, less stable training API (sonotok/train.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "train_cli.h"
#include "train_loop.h"

enum {
    OPT_MANIFEST = CLI_OPT_LONG, OPT_CACHE, OPT_HELDOUT, OPT_CONFIG, OPT_BATCH, OPT_CROP, OPT_LR,
    OPT_SEED, OPT_EVAL_CLIPS, OPT_ADV_START, OPT_MEL_BANDS,
    OPT_NO_DROPOUT, OPT_F32, OPT_RATE, OPT_CHANNELS, OPT_FILTERS, OPT_RATIOS, OPT_LSTM,
    OPT_DIMENSION, OPT_NQ, OPT_CBSIZE, OPT_BANDWIDTHS, OPT_CAUSAL, OPT_MIX, OPT_WARMUP, OPT_WEIGHTS, OPT_EVAL_ONLY, OPT_CLIP,
    OPT_BW_MIX, OPT_DISC_FILTERS, OPT_DISC_RESET, OPT_MPD_FILTERS, OPT_DECODER, OPT_FREEZE, OPT_SPEC_LOSS,
    OPT_SPEC_FFT, OPT_SPEC_TOP,
};

static const cli_opt train_opts[] = {
    CLI_COMMON_OPTS,
    {'o', "out", "DIR", "run folder: checkpoint, CSV logs (created; resumed if it holds a checkpoint)"},
    {OPT_MANIFEST, "manifest", "FILE", "training clips (JSON lines: path, category, ...)"},
    {OPT_CACHE, "cache", "FILE", "16-bit PCM cache of the decoded corpus (built if missing)"},
    {OPT_HELDOUT, "heldout", "FILE", "held-out manifest for --eval-every"},
    {OPT_CONFIG, "config", "FILE", "codec config (JSON, the native model's config form)"},
    {OPT_RATE, "rate", "HZ", "sample rate (24000)"},
    {OPT_CHANNELS, "channels", "N", "audio channels (1)"},
    {OPT_FILTERS, "filters", "N", "SEANet base width (16)"},
    {OPT_RATIOS, "ratios", "LIST", "decoder strides, e.g. 8,5,4,2 (hop = product)"},
    {OPT_LSTM, "lstm", "N", "LSTM layers, 0 for none (0)"},
    {OPT_DIMENSION, "dimension", "N", "latent dimension (128)"},
    {OPT_NQ, "codebooks", "N", "codebooks (8)"},
    {OPT_CBSIZE, "codebook-size", "N", "codes per codebook (1024)"},
    {OPT_BANDWIDTHS, "bandwidths", "LIST", "kbps, e.g. 1.5,3,6"},
    {OPT_CAUSAL, "causal", NULL, "causal convolutions (default: non-causal)"},
    {OPT_DECODER, "decoder", "seanet|vocos", "decoder: SEANet, or a Vocos head (vocos_* sizes from --config or defaults)"},
    CLI_TRAIN_STEPS_OPTS("total steps of the schedule (100000)"),
    {OPT_BATCH, "batch", "N", "crops per step (8)"},
    {OPT_CROP, "crop", "SECONDS", "crop length (1.0)"},
    {OPT_LR, "lr", "LR", "peak learning rate (3e-4)"},
    {OPT_WARMUP, "warmup", "N", "warmup steps (500)"},
    {OPT_CLIP, "clip", "NORM", "clip the global gradient norm (0: no clipping, the default)"},
    {OPT_WEIGHTS, "loss-weights", "L1,MEL,COMMIT,ADV,FEAT", "loss weights (0.1,1,0.25,1,2; also on resume)"},
    {OPT_SPEC_LOSS, "spec-loss", "W", "weight of a log-spectrum loss at n_fft 2048 up to 4 kHz: speech harmonics "
     "(0: off, the default; also on resume)"},
    {OPT_SPEC_FFT, "spec-fft", "N[,N2]", "with --spec-loss: its STFT sizes, N..N2 in powers of two (2048)"},
    {OPT_SPEC_TOP, "spec-top", "HZ", "with --spec-loss: its highest frequency (4000)"},
    {OPT_MEL_BANDS, "mel-bands", "N", "mel loss bands per STFT size (64; 0: n_fft*5/32 per size; also on resume)"},
    {OPT_MIX, "mix", "S,M,E", "sampling weights of speech, music, effects (0.5,0.35,0.15; also on resume)"},
    {OPT_ADV_START, "adv-start", "STEP", "start the discriminator at this step (-1: never; default 20000)"},
    {OPT_DISC_FILTERS, "disc-filters", "N", "discriminator width (8; on resume, another width starts a new discriminator)"},
    {OPT_DISC_RESET, "disc-reset", NULL, "on resume: start new discriminators of the same widths"},
    {OPT_MPD_FILTERS, "mpd-filters", "N", "add HiFi-GAN's multi-period discriminator of this width (0: none, the "
     "default; on resume, another width starts a new one, 0 drops it)"},
    {OPT_BW_MIX, "bandwidth-mix", "LIST", "quantizer dropout: sampling weight per bandwidth, e.g. 0.2,0.2,0.6 (equal; also on resume)"},
    {OPT_NO_DROPOUT, "no-dropout", NULL, "always use every codebook (no quantizer dropout)"},
    {OPT_FREEZE, "freeze-encoder", NULL, "on resume: freeze the encoder and codebooks from here on (the codes stay "
     "fixed, the decoder trains; kept by later resumes)"},
    {OPT_SEED, "seed", "N", "random seed (1)"},
    CLI_TRAIN_CHECKPOINT_OPTS("held-out metrics every N steps (0: never)"),
    {OPT_EVAL_CLIPS, "eval-clips", "N", "held-out clips per evaluation (24)"},
    {OPT_EVAL_ONLY, "eval-only", NULL, "evaluate the run's checkpoint on --heldout and exit"},
    CLI_TRAIN_EXPORT_OPT("write the model here at the end (native safetensors)"),
    {OPT_F32, "f32", NULL, "export float32 weights (default float16)"},
    {0, NULL, NULL, NULL},
};

static int run_train(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_train_codec = {
    .name = "train-codec",
    .summary = "Train a SEANet/RVQ codec from scratch on a corpus, or resume a run.",
    .usage = "-o RUN_DIR --manifest TRAIN.jsonl [--cache FILE] [--heldout FILE] [options]",
    .details =
        "Each step takes --batch random crops (gain -10..+4 dB), picks per thread a random\n"
        "bandwidth (quantizer dropout), and minimises 0.1 L1 + multi-scale mel (STFT\n"
        "32..2048, --mel-bands) + 0.25 commitment, plus from --adv-start an MS-STFT\n"
        "discriminator's hinge and feature-matching losses (--disc-filters 8), and with\n"
        "--mpd-filters N HiFi-GAN's multi-period discriminator's as well. --spec-loss W\n"
        "adds W x the mean L1 between ln max(|STFT|, 1e-4) of the crop and of its\n"
        "reconstruction (n_fft 2048, hop 512, bins up to 4 kHz), which sees the speech\n"
        "harmonics' peaks and valleys that the mel bands smooth away (--spec-fft 2048,4096\n"
        "adds n_fft 4096, --spec-top another top frequency). --loss-weights,\n"
        "--spec-loss, --mel-bands, --mix, --bandwidth-mix and --disc-filters also apply when resuming\n"
        "(a new phase of a run; the start line shows the settings in force); --disc-reset\n"
        "replaces a trained discriminator with a new one. Codebooks start from k-means++\n"
        "and follow EMAs with dead-code restarts. AdamW (betas 0.5, 0.9), no grad clip,\n"
        "warmup then cosine decay. The batch is split over the threads; a run is\n"
        "bit-identical for the same seed and thread count, also across resumes.\n"
        "\n"
        "--freeze-encoder (on resume) starts the last phase: from the checkpoint's step\n"
        "the encoder's weights and the codebooks never change (no gradient, no AdamW\n"
        "update, their moments kept; no EMA, no dead-code restarts), so every clip's\n"
        "codes stay those of an export at that step, and LMs can train on them while the\n"
        "decoder and the discriminators go on training (quantizer dropout as set). The\n"
        "encoder runs forward only; the commitment loss reaches nothing that trains and\n"
        "is left out of the loss (the log line says so). The checkpoint records the\n"
        "freeze: later resumes stay frozen, with or without the flag. A new run refuses it.\n"
        "\n"
        "RUN_DIR gets checkpoint.safetensors (every --checkpoint-every steps or minutes,\n"
        "and on SIGINT/SIGTERM), train.csv and eval.csv. If RUN_DIR already holds a\n"
        "checkpoint the run resumes from it (model options are then taken from it).\n"
        "Exit status: 0 done or stopped by a signal, 1 usage, 2 bad data, 3 I/O.\n",
    .opts = train_opts,
    .run = run_train,
};


static int parse_list(const char *s, double *v, int max, int *n) {
    *n = 0;
    while (*s) {
        char *end;
        if (*n == max) return -1;
        v[*n] = strtod(s, &end);
        if (end == s) return -1;
        (*n)++;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return *n ? 0 : -1;
}

/* The config with "decoder" set, through its JSON (the numeric setter
 * takes no strings): the key appended last wins, the Vocos sizes keep the
 * config's values or their defaults (n_fft 4 x hop). Replaces *cfgp. */
static int set_decoder(sono_codec_config **cfgp, const char *decoder) {
    char *js = sono_codec_config_to_json(*cfgp);
    char *end = js ? strrchr(js, '}') : NULL;
    if (!end) { free(js); return SONO_E_NOMEM; }
    size_t n = (size_t)(end - js) + 64;
    char *patched = malloc(n);
    if (!patched) { free(js); return SONO_E_NOMEM; }
    snprintf(patched, n, "%.*s, \"decoder\": \"%s\"}", (int)(end - js), js, decoder);
    free(js);
    int rc = 0;
    sono_codec_config *c = sono_codec_config_from_json(patched, &rc);
    free(patched);
    if (!c) return rc;
    sono_codec_config_free(*cfgp);
    *cfgp = c;
    return 0;
}

/* *cfgp: train-codec's default model, changed by the model options (and
 * replaced by --config, then --decoder); the caller frees it. */
/* The trainer behind the shared loop (train_loop.h), with the window of
 * step statistics each log line averages. */
typedef struct {
    sono_codec_trainer *t;
    const sono_codec_train_params *P;
    const cli_common *com;
    FILE *csv, *ecsv;
    int n_q, eval_clips, f16;
    long log_every;
    double acc[11], win_s;
    int64_t win_n;
} codec_loop;

static int64_t codec_steps_done(void *ctx) { return sono_codec_trainer_steps_done(((codec_loop *)ctx)->t); }
static int codec_save(void *ctx, const char *path) {
    return sono_codec_trainer_save_checkpoint(((codec_loop *)ctx)->t, path);
}
static int codec_export(void *ctx, const char *path) {
    codec_loop *x = ctx;
    return sono_codec_trainer_export(x->t, path, x->f16);
}
static int codec_eval(void *ctx) {
    codec_loop *x = ctx;
    return sono_codec_trainer_eval(x->t, x->eval_clips, 10.0, x->com->verbosity > 0 ? stderr : NULL, x->ecsv);
}

static int codec_step(void *ctx, int64_t *step) {
    codec_loop *x = ctx;
    const sono_codec_train_params *P = x->P;
    int e = sono_codec_trainer_step(x->t);
    if (e) return e;
    const sono_codec_train_stats *s = sono_codec_trainer_last_stats(x->t);
    *step = s->step;
    double v[11] = {s->l1, s->mel, s->commit, s->adv, s->feat, s->disc, s->grad_norm, s->mpd_adv, s->mpd_feat,
                    s->mpd_disc, s->spec};
    double *acc = x->acc;
    for (int i = 0; i < 11; i++) acc[i] += v[i];
    x->win_s += s->seconds;
    x->win_n++;
    if (s->step % x->log_every) return 0;
    for (int i = 0; i < 11; i++) acc[i] /= (double)x->win_n;
    double sps = x->win_n / x->win_s, xrt = sps * sono_codec_trainer_audio_per_step(x->t);
    if (x->com->verbosity > 0) {
        fprintf(stderr, "step %lld  l1 %.4f  mel %.4f  commit %.4f%s", (long long)s->step, acc[0], acc[1], acc[2],
                P->freeze_encoder ? " (frozen: not in the loss)" : "");
        if (P->w_spec > 0) fprintf(stderr, "  spec %.4f", acc[10]);
        if (P->adv_start >= 0 && s->step > P->adv_start)
            fprintf(stderr, "  adv %.3f  feat %.3f  disc %.3f", acc[3], acc[4], acc[5]);
        if (P->mpd_filters > 0 && P->adv_start >= 0 && s->step > P->adv_start)
            fprintf(stderr, "  mpd %.3f/%.3f/%.3f", acc[7], acc[8], acc[9]);
        fprintf(stderr, "  |g| %.3f  lr %.2e  q %d-%d  ppl", acc[6], s->lr, s->n_active_min, s->n_active_max);
        for (int q = 0; q < SONO_TRAIN_MAX_Q_LOG && q < x->n_q; q++) fprintf(stderr, " %.0f", s->ppl[q]);
        fprintf(stderr, "  repl %d  %.2f steps/s  %.1fx rt  %.2f cpu-h\n", s->replaced, sps, xrt, s->cpu_hours_total);
    }
    fprintf(x->csv, "%lld,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.5f,%.4e,%d,%d", (long long)s->step, acc[0], acc[1], acc[2],
            acc[3], acc[4], acc[5], acc[6], s->lr, s->n_active_min, s->n_active_max);
    for (int q = 0; q < SONO_TRAIN_MAX_Q_LOG; q++) fprintf(x->csv, ",%.2f", q < x->n_q ? s->ppl[q] : 0.0);
    fprintf(x->csv, ",%d,%.4f,%.3f,%.4f,%.6f,%.6f,%.6f,%.6f\n", s->replaced, sps, xrt, s->cpu_hours_total, acc[7],
            acc[8], acc[9], acc[10]);
    fflush(x->csv);
    memset(x->acc, 0, sizeof x->acc);
    x->win_s = 0;
    x->win_n = 0;
    return 0;
}

/* What train-codec's own options set (filled by codec_opt). */
typedef struct {
    sono_codec_config *cfg;
    sono_codec_train_params tp;
    const char *config_file, *decoder;
    long eval_clips;
    int f16, model_flags, adv_given, eval_only, weights_given, mels_given, mix_given, bw_mix_given, dfilt_given,
        mpd_given, freeze, spec_given, spec_set_given;
} codec_args;

/* One of train-codec's own options (cli_train_parse's callback): -1 to go
 * on, or the exit code. */
static int codec_opt(void *ctx, const cli_cmd *cmd, int key, const char *arg) {
    codec_args *a = ctx;
    int rc = -1, nl;
    long lv;
    double dv, list[SONO_CODEC_MAX_BW];
#define INT_OPT(lo, hi) if ((rc = cli_train_int(cmd, arg, lo, hi, &lv)) >= 0) break;
#define DBL_OPT(lo, hi) if ((rc = cli_train_double(cmd, arg, lo, hi, &dv)) >= 0) break;
#define SET_CFG(key, v) do { double x_ = (double)(v); sono_codec_config_set(a->cfg, key, &x_, 1); a->model_flags = 1; } while (0)
    switch (key) {
    case OPT_MANIFEST: a->tp.manifest = arg; break;
    case OPT_CACHE: a->tp.cache = arg; break;
    case OPT_HELDOUT: a->tp.heldout = arg; break;
    case OPT_CONFIG: a->config_file = arg; break;
    case OPT_RATE: INT_OPT(8000, 192000) SET_CFG("sample_rate", lv); break;
    case OPT_CHANNELS: INT_OPT(1, 8) SET_CFG("channels", lv); break;
    case OPT_FILTERS: INT_OPT(2, 512) SET_CFG("n_filters", lv); break;
    case OPT_LSTM: INT_OPT(0, 4) SET_CFG("lstm", lv); break;
    case OPT_DIMENSION: INT_OPT(1, 4096) SET_CFG("dimension", lv); break;
    case OPT_NQ: INT_OPT(1, 64) SET_CFG("n_q", lv); break;
    case OPT_CBSIZE: INT_OPT(2, 65536) SET_CFG("codebook_size", lv); break;
    case OPT_CAUSAL: SET_CFG("causal", 1); break;
    case OPT_DECODER:
        if (strcmp(arg, "seanet") && strcmp(arg, "vocos")) {
            rc = cli_usage_error(cmd, "--decoder is seanet or vocos, not '%s'", arg);
            break;
        }
        a->decoder = arg;
        break;
    case OPT_RATIOS:
        if (parse_list(arg, list, SONO_CODEC_MAX_RATIOS, &nl) || sono_codec_config_set(a->cfg, "ratios", list, nl)) {
            rc = cli_usage_error(cmd, "bad --ratios '%s'", arg);
            break;
        }
        a->model_flags = 1;
        break;
    case OPT_BANDWIDTHS:
        if (parse_list(arg, list, SONO_CODEC_MAX_BW, &nl) || sono_codec_config_set(a->cfg, "bandwidths", list, nl)) {
            rc = cli_usage_error(cmd, "bad --bandwidths '%s'", arg);
            break;
        }
        a->model_flags = 1;
        break;
    case OPT_BATCH: INT_OPT(1, 4096) a->tp.batch = (int)lv; break;
    case OPT_CROP: DBL_OPT(0.01, 60) a->tp.crop_seconds = dv; break;
    case OPT_LR: DBL_OPT(0, 1) a->tp.lr = (float)dv; a->tp.lr_min = (float)dv / 10; break;
    case OPT_WARMUP: INT_OPT(0, 1000000000L) a->tp.warmup = lv; break;
    case OPT_CLIP: DBL_OPT(0, 1e9) a->tp.clip = (float)dv; break;
    case OPT_WEIGHTS:
        if (parse_list(arg, list, 5, &nl) || nl != 5) { rc = cli_usage_error(cmd, "--loss-weights needs 5 numbers"); break; }
        a->tp.w_l1 = (float)list[0]; a->tp.w_mel = (float)list[1]; a->tp.w_commit = (float)list[2];
        if (list[0] < 0 || list[1] < 0 || list[2] < 0 || list[3] < 0 || list[4] < 0) {
            rc = cli_usage_error(cmd, "--loss-weights must not be negative");
            break;
        }
        a->tp.w_adv = (float)list[3]; a->tp.w_feat = (float)list[4];
        a->weights_given = 1;
        break;
    case OPT_SPEC_LOSS: DBL_OPT(0, 1e6) a->tp.w_spec = (float)dv; a->spec_given = 1; break;
    case OPT_SPEC_FFT: {
        int lg[2] = {0, 0};
        int bad = parse_list(arg, list, 2, &nl) != 0;
        for (int i = 0; !bad && i < nl; i++) {
            while (lg[i] < 17 && (double)(1 << lg[i]) < list[i]) lg[i]++;
            bad = lg[i] < 6 || lg[i] > 16 || (double)(1 << lg[i]) != list[i];
        }
        if (bad || (nl == 2 && lg[1] < lg[0])) {
            rc = cli_usage_error(cmd, "--spec-fft wants one or two powers of two from 64 to 65536, the smaller first");
            break;
        }
        a->tp.spec_log2_min = lg[0];
        a->tp.spec_log2_max = nl == 2 ? lg[1] : lg[0];
        a->spec_set_given = 1;
        break;
    }
    case OPT_SPEC_TOP: DBL_OPT(1, 1e6) a->tp.spec_top_hz = (float)dv; a->spec_set_given = 1; break;
    case OPT_MEL_BANDS: INT_OPT(0, 1024) a->tp.n_mels = (int)lv; a->mels_given = 1; break;
    case OPT_MIX:
        if (parse_list(arg, list, 3, &nl) || nl != 3 || list[0] < 0 || list[1] < 0 || list[2] < 0 ||
            list[0] + list[1] + list[2] <= 0) { rc = cli_usage_error(cmd, "--mix needs 3 weights"); break; }
        for (int i = 0; i < 3; i++) a->tp.mix[i] = list[i];
        a->mix_given = 1;
        break;
    case OPT_ADV_START: INT_OPT(-1, 1000000000L) a->tp.adv_start = lv; a->adv_given = 1; break;
    case OPT_BW_MIX: {
        double sum = 0;
        int bad = parse_list(arg, list, SONO_CODEC_MAX_BW, &nl) || nl < 1;
        for (int i = 0; !bad && i < nl; i++) bad = !(list[i] >= 0), sum += list[i];
        if (bad || !(sum > 0)) {
            rc = cli_usage_error(cmd, "--bandwidth-mix needs one weight per bandwidth, none negative, not all 0");
            break;
        }
        for (int i = 0; i < nl; i++) a->tp.bw_mix[i] = list[i];
        a->tp.n_bw_mix = nl;
        a->bw_mix_given = 1;
        break;
    }
    case OPT_DISC_FILTERS: INT_OPT(1, 256) a->tp.disc_filters = (int)lv; a->dfilt_given = 1; break;
    case OPT_DISC_RESET: a->tp.disc_reset = 1; break;
    case OPT_MPD_FILTERS: INT_OPT(0, 256) a->tp.mpd_filters = (int)lv; a->mpd_given = 1; break;
    case OPT_NO_DROPOUT: a->tp.quantizer_dropout = 0; break;
    case OPT_FREEZE: a->freeze = 1; break;
    case OPT_SEED: INT_OPT(0, 0x7fffffffL) a->tp.seed = (uint64_t)lv; break;
    case OPT_EVAL_CLIPS: INT_OPT(1, 100000) a->eval_clips = lv; break;
    case OPT_EVAL_ONLY: a->eval_only = 1; break;
    case OPT_F32: a->f16 = 0; break;
    default: rc = CLI_EXIT_USAGE; break;
    }
#undef INT_OPT
#undef DBL_OPT
#undef SET_CFG
    return rc;
}

static int train_with(const cli_cmd *cmd, int argc, char **argv, sono_codec_config **cfgp) {
    sono_codec_config *cfg = *cfgp;
    cli_train_opts o;
    cli_train_opts_init(&o);
    const cli_common *com = &o.com;
    codec_args a = {.cfg = cfg, .tp = sono_codec_train_default_params(), .eval_clips = 24, .f16 = 1};
    int err = 0, rc = cli_train_parse(&o, cmd, argc, argv, codec_opt, &a, &a.tp.manifest);
    if (rc >= 0) return rc;
    const char *out_dir = o.out_dir, *ckpt = o.ckpt;
    const int resume = o.resume;
    if (o.steps) a.tp.steps = o.steps;
    if (com->n_threads > 0) a.tp.n_threads = com->n_threads;
    if (a.tp.batch % (a.tp.batch < a.tp.n_threads ? a.tp.batch : a.tp.n_threads))
        return cli_usage_error(cmd, "--batch %d must be a multiple of the thread count %d", a.tp.batch, a.tp.n_threads);
    cli_install_log(com);
    if (a.config_file) {
        sono_codec_config *loaded = sono_codec_config_load(a.config_file, &rc);
        if (!loaded) return cli_fail_sono(a.config_file, rc);
        sono_codec_config_free(*cfgp);
        *cfgp = cfg = loaded;
    } else if (a.model_flags && (rc = sono_codec_config_check(cfg))) {
        return cli_fail_sono("model options", rc);
    }
    if (a.decoder && (rc = set_decoder(cfgp, a.decoder))) return cli_fail_sono("--decoder", rc);
    cfg = *cfgp;
    if (a.eval_only && !a.tp.heldout) return cli_usage_error(cmd, "--eval-only needs --heldout");
    if (a.eval_only && !resume) return cli_usage_error(cmd, "--eval-only needs a checkpoint in %s", out_dir);
    if (a.tp.disc_reset && !resume) return cli_usage_error(cmd, "--disc-reset needs a checkpoint in %s", out_dir);
    if (a.spec_set_given && !(a.spec_given && a.tp.w_spec > 0))
        return cli_usage_error(cmd, "--spec-fft and --spec-top go with --spec-loss W (W > 0)");
    if (a.freeze && !resume)
        return cli_usage_error(cmd, "--freeze-encoder needs a checkpoint in %s (a new run has no trained encoder to freeze)",
                               out_dir);
    if (mkdir(out_dir, 0777) && errno != EEXIST) return cli_fail_errno(out_dir, errno);
    sono_codec_trainer *t;
    if (resume) {
        a.tp.steps = o.steps;
        if (!a.adv_given) a.tp.adv_start = -2;
        if (!a.weights_given) a.tp.w_l1 = -1;
        if (!a.mels_given) a.tp.n_mels = -1;
        if (!a.spec_given) a.tp.w_spec = -1;
        if (!a.mix_given) a.tp.mix[0] = -1;
        if (!a.bw_mix_given) a.tp.n_bw_mix = -1;
        if (!a.dfilt_given) a.tp.disc_filters = 0;
        a.tp.mpd_filters = !a.mpd_given ? 0 : a.tp.mpd_filters ? a.tp.mpd_filters : -1;
        a.tp.freeze_encoder = a.freeze;
        cli_note(com, 1, "resuming from %s", ckpt);
        t = sono_codec_trainer_resume(ckpt, &a.tp, &err);
    } else {
        cli_note(com, 1, "new run in %s (%s)", out_dir, a.tp.cache ? "PCM cache" : "decoding the corpus");
        t = sono_codec_trainer_new(cfg, &a.tp, &err);
    }
    if (!t) return cli_fail_sono(resume ? ckpt : "train-codec", err);
    const sono_codec_train_params *P = sono_codec_trainer_params(t);
    const sono_codec_config *C = sono_codec_trainer_config(t);
    double rate, ch, filt, lstm, nq, cbs, hop;
    sono_codec_config_get(C, "sample_rate", &rate, 1);
    sono_codec_config_get(C, "channels", &ch, 1);
    sono_codec_config_get(C, "n_filters", &filt, 1);
    sono_codec_config_get(C, "lstm", &lstm, 1);
    sono_codec_config_get(C, "n_q", &nq, 1);
    sono_codec_config_get(C, "codebook_size", &cbs, 1);
    sono_codec_config_get(C, "hop", &hop, 1);
    const int n_q = (int)nq;
    double vs[4] = {0};
    char dec[96] = "";
    if (sono_codec_config_get(C, "vocos_dim", &vs[0], 1) == 1) {
        sono_codec_config_get(C, "vocos_intermediate", &vs[1], 1);
        sono_codec_config_get(C, "vocos_layers", &vs[2], 1);
        sono_codec_config_get(C, "vocos_n_fft", &vs[3], 1);
        snprintf(dec, sizeof dec, ", vocos decoder %.0f/%.0f x %.0f, n_fft %.0f", vs[0], vs[1], vs[2], vs[3]);
    }
    cli_note(com, 1, "model: %.0f Hz, %.0f ch, filters %.0f, lstm %.0f, %d x %.0f codes, hop %.0f%s; batch %d x %.2f s, "
             "%d threads, steps %lld (at %lld)", rate, ch, filt, lstm, n_q, cbs, hop, dec, P->batch,
             sono_codec_trainer_audio_per_step(t) / P->batch, P->n_threads, (long long)P->steps,
             (long long)sono_codec_trainer_steps_done(t));
    char bands[48];
    if (P->n_mels) snprintf(bands, sizeof bands, "%d bands", P->n_mels);
    else snprintf(bands, sizeof bands, "n_fft*5/32 bands");
    char adv[96] = "off";
    if (P->adv_start >= 0)
        snprintf(adv, sizeof adv, "from step %lld, %d filters%s%s", (long long)P->adv_start, P->disc_filters,
                 P->mpd_filters > 0 ? " + multi-period" : "", a.tp.disc_reset ? ", new" : "");
    char bw[16 * SONO_CODEC_MAX_BW + 16] = "equal";
    if (!P->quantizer_dropout) snprintf(bw, sizeof bw, "off");
    else
        for (int i = 0, n = 0; i < P->n_bw_mix && n < (int)sizeof bw - 16; i++)
            n += snprintf(bw + n, sizeof bw - n, "%s%g", i ? "," : "", P->bw_mix[i]);
    char commit[96];
    if (P->freeze_encoder) snprintf(commit, sizeof commit, "(no commitment: frozen)");
    else snprintf(commit, sizeof commit, "+ %g commitment", (double)P->w_commit);
    char spec[96] = "";
    if (P->w_spec > 0)
        snprintf(spec, sizeof spec, " + %g log-spectrum (STFT %d..%d, up to %g Hz)", (double)P->w_spec,
                 1 << P->spec_log2_min, 1 << P->spec_log2_max, (double)P->spec_top_hz);
    cli_note(com, 1, "losses: %g L1 + %g mel (STFT %d..%d, %s)%s %s; discriminator %s (%g adv + %g feat); "
             "mix %g,%g,%g; bandwidth mix %s", (double)P->w_l1, (double)P->w_mel, 1 << P->mel_log2_min,
             1 << P->mel_log2_max, bands, spec, commit, adv, (double)P->w_adv, (double)P->w_feat, P->mix[0],
             P->mix[1], P->mix[2], bw);
    if (P->freeze_encoder)
        cli_note(com, 1, "encoder and codebooks frozen since step %lld%s: the codes are fixed, the decoder and the "
                 "discriminators train", (long long)P->frozen_at,
                 P->frozen_at < sono_codec_trainer_steps_done(t) ? " (the checkpoint's)" : "");
    FILE *csv = cli_open_csv(out_dir, "train.csv",
                             "step,l1,mel,commit,adv,feat,disc,grad_norm,lr,nq_min,nq_max,ppl0,ppl1,ppl2,ppl3,ppl4,ppl5,"
                             "ppl6,ppl7,replaced,steps_per_s,x_realtime,cpu_hours,mpd_adv,mpd_feat,mpd_disc,spec");
    FILE *ecsv = P->heldout ? cli_open_csv(out_dir, "eval.csv", "step,kbps,category,n,mel,stoi,si_snr") : NULL;
    if (!csv || (P->heldout && !ecsv)) { sono_codec_trainer_free(t); return cli_fail_errno(out_dir, errno); }
    if (a.eval_only) {
        int e = sono_codec_trainer_eval(t, (int)a.eval_clips, 10.0, stderr, ecsv);
        rc = e ? cli_fail_sono("held-out evaluation", e) : 0;
        fclose(csv);
        if (ecsv) fclose(ecsv);
        sono_codec_trainer_free(t);
        return rc;
    }
    codec_loop x = {.t = t, .P = P, .com = com, .csv = csv, .ecsv = ecsv, .n_q = n_q, .log_every = o.log_every,
                    .eval_clips = (int)a.eval_clips, .f16 = a.f16};
    cli_train_loop L = {.what = "train-codec", .opts = &o, .total_steps = P->steps, .ctx = &x,
                        .steps_done = codec_steps_done, .step = codec_step, .save = codec_save,
                        .eval = ecsv ? codec_eval : NULL, .export_model = codec_export};
    rc = cli_train_loop_run(&L);
    fclose(csv);
    if (ecsv) fclose(ecsv);
    sono_codec_trainer_free(t);
    return rc;
}

static int run_train(const cli_cmd *cmd, int argc, char **argv) {
    int err = 0;
    sono_codec_config *cfg = sono_codec_config_default(&err);
    if (!cfg) return cli_fail_sono("train-codec", err);
    int rc = train_with(cmd, argc, argv, &cfg);
    sono_codec_config_free(cfg);
    return rc;
}
