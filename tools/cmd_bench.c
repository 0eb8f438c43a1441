/* sonotok bench: how fast does this machine tokenize and detokenize?
 * Times model loading, streaming encode and decode of a deterministic test
 * signal (tones, chirps, noise), and a plain OpenBLAS sgemm as a yardstick
 * for what the machine can do; reports x realtime, GFLOP/s and peak memory.
 *
 * FLOP counts come from the library (sono_codec_macs_per_second: every
 * convolution, transposed convolution, LSTM and the RVQ search, counted from
 * the architecture; 1 MAC = 2 FLOP). For EnCodec 24 kHz that is about 1.49e9
 * MAC per second of audio per direction. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "train_cli.h"

enum { OPT_JSON = CLI_OPT_LONG, OPT_TRAIN, OPT_STEPS, OPT_CONFIG, OPT_TOKENIZER, OPT_TEXT, OPT_GENERATE, OPT_LM_CONFIG,
       OPT_CODEC, OPT_F16, OPT_CODER, OPT_CODER_MODEL, OPT_TOKENS, OPT_FREEZE, OPT_SPEC_LOSS };

static const cli_opt bench_opts[] = {
    CLI_COMMON_OPTS,
    {'m', "model", "MODEL", "codec model: path or name (default: \"default\")"},
    {'s', "seconds", "SECONDS", "length of the test signal (default: 10)"},
    {'b', "bandwidth", "KBPS", "bandwidth (default: 6 if offered, else the lowest)"},
    {OPT_JSON, "json", NULL, "print the results as one JSON object on stdout"},
    {OPT_TRAIN, "train", NULL, "time codec training steps instead (train-codec's default model)"},
    {OPT_STEPS, "steps", "N", "with --train: timed steps (default 20, after 2 untimed)"},
    {OPT_CONFIG, "config", "FILE", "with --train: the codec config to train (JSON, as train-codec --config)"},
    {OPT_FREEZE, "freeze-encoder", NULL, "with --train: time the steps of train-codec --freeze-encoder (decoder only)"},
    {OPT_SPEC_LOSS, "spec-loss", "W", "with --train: with train-codec --spec-loss W (the log-spectrum loss)"},
    {OPT_TOKENIZER, "tokenizer", "FILE", "time a text tokenizer's encode and decode instead (MB/s)"},
    {OPT_TEXT, "text", "FILE", "with --tokenizer: the text (default: 16 MB of made-up captions)"},
    {OPT_GENERATE, "generate", NULL, "time LM generation instead: -m names the LM, or --lm-config a random one"},
    {OPT_LM_CONFIG, "lm-config", "WxL[xH[xT]]", "with --generate: a random LM of width W, L layers, H heads, context T"},
    {OPT_CODEC, "codec", "MODEL", "with --generate: the codec (default: the LM's; \"default\" for --lm-config)"},
    {OPT_F16, "f16", NULL, "with --generate: the LM's weights as float16 (generate --f16)"},
    {OPT_CODER, "coder", NULL, "time the token-file coders instead, the model coder first (codes/s, kbps)"},
    {OPT_CODER_MODEL, "coder-model", "FILE", "with --coder: this .coder (default: the codec's own, by name)"},
    {OPT_TOKENS, "tokens", "FILE", "with --coder: the codes of this token file (default: -s of the test signal)"},
    {0, NULL, NULL, NULL},
};

static int run_bench(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_bench = {
    .name = "bench",
    .summary = "Measure tokenize/detokenize speed, GFLOP/s and memory on this machine.",
    .usage = "[options]",
    .details =
        "Encodes and decodes a deterministic test signal (a mix of tones, chirps and\n"
        "noise) in one-second blocks, as tokenize and detokenize do, and times a\n"
        "512x512x4096 OpenBLAS sgemm on the same threads as a reference point.\n"
        "GFLOP/s for the codec counts every layer's multiply-adds (2 FLOP each;\n"
        "about 1.49e9 per second of audio per direction for EnCodec 24 kHz).\n"
        "\n"
        "--train: times train-codec's steps on its default model (24 kHz mono, 16\n"
        "filters, no LSTM, 8 x 1024 codes, all used: no quantizer dropout, no\n"
        "discriminator), batch 8 x 1 s crops of 60 s of the test signal, on --threads\n"
        "threads; the same work tests/ref/train_step_ref.py times for PyTorch.\n"
        "--config FILE trains that codec config instead of the default model;\n"
        "--freeze-encoder times frozen steps (a checkpoint after the untimed steps,\n"
        "resumed as train-codec --freeze-encoder resumes it); --spec-loss W adds\n"
        "train-codec's log-spectrum loss.\n"
        "\n"
        "--tokenizer FILE: encodes a text (--text FILE, else 16 MB of made-up\n"
        "captions) with that BPE tokenizer on one thread, best of 3, and decodes it;\n"
        "reports MB/s of text each way and bytes per token.\n"
        "\n"
        "--generate: times the token LM writing -s SECONDS of audio (no end token)\n"
        "frame by frame on --threads threads, twice: without classifier-free\n"
        "guidance (continue: one sequence per step) and with it (tta: the caption's\n"
        "and the unconditioned sequence in one batched step); each frame goes to a\n"
        "live codec decoder as generate does. Reports the LM's frames/s alone (the\n"
        "decoder's time taken out) and x realtime with the decoding. -m LM is an LM\n"
        "file; --lm-config 512x8 makes a random LM instead (width 512, 8 layers,\n"
        "heads width/64, context 1024 unless given: 512x8x8x1024) for the codec's\n"
        "codebooks at -b (6 kbps: 8 for the default codec). tests/ref/lm_speed.py\n"
        "times the same model in PyTorch. The report names the kernel level of the\n"
        "steps' matmuls (SONOTOK_CPU=plain: OpenBLAS sgemv per row) and the weights'\n"
        "precision (--f16: float16 copies, as generate --f16).\n"
        "\n"
        "--coder: codes the tokens of -s SECONDS of the test signal (or of --tokens\n"
        "FILE) with each token-file coder, the model coder on --threads threads with\n"
        "the codec's coder model (or --coder-model FILE), best of 3, and decodes them;\n"
        "reports codes/s and x realtime each way (wall clock, and per CPU second of all\n"
        "threads: the figure to trust on a busy machine), and bits per code and kbps\n"
        "for each coder. The model coder's decoding is sequential: one thread whatever -t.\n",
    .opts = bench_opts,
    .run = run_bench,
};

/* Deterministic test signal: planar, n samples per channel. Two steady tones,
 * a repeating log chirp, amplitude-modulated noise; channels differ a little. */
static void make_signal(float *x, int64_t n, int ch, int rate) {
    uint64_t s = 0x2545F4914F6CDD1Dull;
    const double two_pi = 6.283185307179586;
    for (int c = 0; c < ch; c++) {
        double phase = 0;
        for (int64_t i = 0; i < n; i++) {
            double t = (double)i / rate;
            double tc = fmod(t, 2.0); /* chirp 100 Hz -> 8 kHz every 2 s */
            double f = 100.0 * pow(80.0, tc / 2.0);
            if (f > 0.45 * rate) f = 0.45 * rate;
            phase += two_pi * f / rate;
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            double noise = ((double)((s * 2685821657736338717ull) >> 11) / 9007199254740992.0) * 2 - 1;
            double env = 0.5 + 0.5 * sin(two_pi * 0.5 * t + c);
            double v = 0.20 * sin(two_pi * (220.0 + 3 * c) * t) + 0.12 * sin(two_pi * 661.0 * t)
                     + 0.18 * sin(phase) + 0.05 * env * noise;
            x[(size_t)c * (size_t)n + (size_t)i] = (float)v;
        }
    }
}

/* Best of a few sgemm runs: C[512 x 4096] = A[512 x 512] * B[512 x 4096]. */
static double sgemm_gflops(int n_threads) {
    const int M = 512, K = 512, N = 4096;
    float *a = malloc((size_t)M * K * sizeof *a), *b = malloc((size_t)K * N * sizeof *b),
          *c = malloc((size_t)M * N * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return -1;
    }
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    openblas_set_num_threads(n_threads);
    double best = 1e30, t_all = cli_now();
    for (int rep = 0; rep < 50; rep++) {
        double t0 = cli_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        double dt = cli_now() - t0;
        if (rep > 0 && dt < best) best = dt; /* rep 0 warms up */
        if (rep >= 3 && cli_now() - t_all > 0.5) break;
    }
    free(a), free(b), free(c);
    return 2.0 * M * K * (double)N / best / 1e9;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* s as the inside of a JSON string (model names are plain, but be safe). */
static void json_escape(char *out, size_t n, const char *s) {
    size_t k = 0;
    for (; *s && k + 7 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[k++] = '\\';
            out[k++] = (char)ch;
        } else if (ch < 0x20) {
            k += (size_t)snprintf(out + k, n - k, "\\u%04x", ch);
        } else {
            out[k++] = (char)ch;
        }
    }
    out[k] = 0;
}

static void fmt_gflops(char *out, size_t n, double flop, double secs) {
    if (flop > 0 && secs > 0) snprintf(out, n, "%.2f", flop / secs / 1e9);
    else snprintf(out, n, "%s", "n/a");
}

/* --train: steps of the training loop on the default architecture. The
 * test signal goes to a WAV in a temporary folder with a one-line manifest. */
static int bench_train(const cli_common *c, long steps, int json, const char *config_file, int freeze, double w_spec) {
    char dir[] = "/tmp/sonotok-bench-train-XXXXXX", wav[64], man[64], ckpt[64];
    if (!mkdtemp(dir)) return cli_fail_errno("/tmp", errno);
    snprintf(wav, sizeof wav, "%s/signal.wav", dir);
    snprintf(man, sizeof man, "%s/train.jsonl", dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    int rc = 0, err = 0;
    sono_codec_config *cfg = config_file ? sono_codec_config_load(config_file, &err) : sono_codec_config_default(&err);
    if (!cfg) {
        rmdir(dir);
        return cli_fail_sono(config_file ? config_file : "bench --train", err);
    }
    double arch[4], vocos_dim = 0;
    int vocos = sono_codec_config_get(cfg, "vocos_dim", &vocos_dim, 1) == 1;
    sono_codec_config_get(cfg, "sample_rate", &arch[0], 1);
    sono_codec_config_get(cfg, "n_filters", &arch[1], 1);
    sono_codec_config_get(cfg, "n_q", &arch[2], 1);
    sono_codec_config_get(cfg, "codebook_size", &arch[3], 1);
    const int rate = (int)arch[0];
    const int64_t n = 60 * (int64_t)rate;
    float *x = malloc((size_t)n * sizeof *x);
    sono_audio_writer *w = x ? sono_audio_create(wav, "wav", rate, rate, 1, &err) : NULL;
    if (!x) rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    else if (!w) rc = cli_fail_sono(wav, err);
    else {
        make_signal(x, n, 1, rate);
        err = sono_audio_write(w, x, n);
        int e2 = sono_audio_writer_close(w);
        if (err || e2) rc = cli_fail_sono(wav, err ? err : e2);
    }
    free(x);
    FILE *f = rc ? NULL : fopen(man, "w");
    if (!rc && (!f || fprintf(f, "{\"path\":\"signal.wav\",\"category\":\"speech\",\"duration\":60}\n") < 0 || fclose(f)))
        rc = cli_fail_errno(man, errno);
    sono_codec_trainer *t = NULL;
    if (!rc) {
        sono_codec_train_params tp = sono_codec_train_default_params();
        tp.manifest = man;
        tp.n_threads = c->n_threads;
        tp.quantizer_dropout = 0;
        tp.adv_start = -1;
        tp.w_spec = (float)w_spec;
        if (tp.n_threads > tp.batch) tp.n_threads = tp.batch;
        if (tp.batch % tp.n_threads) { /* the batch is split evenly: the largest thread count that divides it */
            int nt = tp.n_threads;
            while (tp.batch % nt) nt--;
            cli_note(c, 0, "bench --train: batch %d does not split into %d threads; timing %d", tp.batch,
                     tp.n_threads, nt);
            tp.n_threads = nt;
        }
        if (!(t = sono_codec_trainer_new(cfg, &tp, &err))) rc = cli_fail_sono("bench --train", err);
    }
    double secs = 0;
    for (long i = 0; !rc && i < steps + 2; i++) {
        if ((err = sono_codec_trainer_step(t))) rc = cli_fail_sono("bench --train", err);
        else if (i >= 2) secs += sono_codec_trainer_last_stats(t)->seconds;
        if (!rc && freeze && i == 1) { /* the untimed steps done: resume them frozen */
            sono_codec_train_params tp = *sono_codec_trainer_params(t);
            tp.freeze_encoder = 1;
            tp.steps = 0;   /* the checkpoint's settings hold (-1 / 0: sono_codec_trainer_resume keeps them) */
            tp.adv_start = -2;
            tp.w_l1 = -1;
            tp.n_mels = -1;
            tp.mix[0] = -1;
            tp.n_bw_mix = -1;
            tp.disc_filters = 0;
            tp.mpd_filters = 0;
            if ((err = sono_codec_trainer_save_checkpoint(t, ckpt))) rc = cli_fail_sono(ckpt, err);
            sono_codec_trainer_free(t);
            t = rc ? NULL : sono_codec_trainer_resume(ckpt, &tp, &err);
            if (!rc && !t) rc = cli_fail_sono(ckpt, err);
            remove(ckpt);
        }
    }
    if (!rc) {
        double audio = sono_codec_trainer_audio_per_step(t) * (double)steps;
        const sono_codec_train_params *P = sono_codec_trainer_params(t);
        if (json)
            printf("{\"mode\": \"train\", \"threads\": %d, \"batch\": %d, \"crop_s\": %.3f, \"steps\": %ld, "
                   "\"ms_per_step\": %.1f, \"audio_s_per_s\": %.3f, \"peak_rss_mib\": %.1f%s, \"spec_loss\": %g}\n",
                   P->n_threads, P->batch, sono_codec_trainer_audio_per_step(t) / P->batch, steps,
                   1000 * secs / (double)steps,
                   audio / secs, peak_rss_mib(), freeze ? ", \"encoder_frozen\": true" : "", (double)P->w_spec);
        else
            printf("train       %.0f Hz, %.0f filters, %s%.0f x %.0f codes%s%s; batch %d x %.2f s, %d threads: "
                   "%.1f ms/step, %.2f audio s/s (%ld steps), peak RSS %.1f MiB\n", arch[0], arch[1],
                   vocos ? "vocos decoder, " : "", arch[2], arch[3], freeze ? ", encoder frozen" : "",
                   P->w_spec > 0 ? ", log-spectrum loss" : "", P->batch,
                   sono_codec_trainer_audio_per_step(t) / P->batch, P->n_threads,
                   1000 * secs / (double)steps, audio / secs, steps, peak_rss_mib());
        if (fflush(stdout) != 0) rc = cli_fail_errno("<stdout>", errno);
    }
    sono_codec_trainer_free(t);
    sono_codec_config_free(cfg);
    remove(wav);
    remove(man);
    rmdir(dir);
    return rc;
}

/* Made-up captions: words from a short list, skewed to its front, with
 * spaces, some punctuation and digits; deterministic. */
static size_t make_captions(uint8_t *out, size_t n) {
    static const char *const w[] = {
        "the", "a", "of", "and", "with", "sound", "dog", "barking", "in", "distance", "man", "speaking",
        "woman", "music", "piano", "playing", "slowly", "rain", "falling", "on", "roof", "car", "engine",
        "starting", "birds", "singing", "morning", "crowd", "cheering", "loudly", "door", "slams", "water",
        "running", "wind", "blowing", "through", "trees", "bell", "ringing", "guitar", "strumming", "drums",
        "electronic", "beat", "footsteps", "gravel", "thunder", "rumbling", "children", "laughing", "caf\xc3\xa9",
    };
    const size_t n_w = sizeof w / sizeof *w;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    size_t k = 0;
    while (k + 32 < n) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        uint64_t r = s * 2685821657736338717ull;
        size_t a = (size_t)(r % n_w), b = (size_t)((r >> 20) % n_w);
        const char *word = w[a < b ? a : b];
        size_t len = strlen(word);
        memcpy(out + k, word, len);
        k += len;
        switch ((r >> 40) % 24) {
        case 0: out[k++] = ','; out[k++] = ' '; break;
        case 1: out[k++] = '.'; out[k++] = '\n'; break;
        case 2: k += (size_t)snprintf((char *)out + k, 16, " %u ", (unsigned)((r >> 48) % 2000)); break;
        default: out[k++] = ' '; break;
        }
    }
    return k;
}

/* --tokenizer: encode and decode speed of a BPE tokenizer, one thread. */
static int bench_tokenizer(const char *tok_path, const char *text_path, int json) {
    int err = 0, rc = 0;
    sono_tokenizer *tok = sono_tokenizer_load(tok_path, &err);
    if (!tok) {
        cli_fail_sono(tok_path, err);
        return err == SONO_E_NOMEM || err == SONO_E_IO ? CLI_EXIT_IO : CLI_EXIT_MODEL;
    }
    uint8_t *text = NULL, *back = NULL;
    size_t n = 16u << 20;
    int32_t *ids = NULL;
    if (text_path) {
        if ((rc = cli_read_file(text_path, &text, &n)) != 0) goto done;
    } else if ((text = malloc(n))) {
        n = make_captions(text, n);
    }
    ids = malloc((n + 1) * sizeof *ids);
    back = malloc(n + 1);
    if (!text || !ids || !back) {
        rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        goto done;
    }
    if (n == 0) {
        rc = cli_fail(CLI_EXIT_DATA, text_path, "no text to encode");
        goto done;
    }
    double t_enc = 1e30, t_dec = 1e30;
    int64_t n_ids = 0, n_back = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cli_now();
        n_ids = sono_tokenizer_encode(tok, text, n, ids, (int64_t)n);
        double t1 = cli_now();
        n_back = sono_tokenizer_decode(tok, ids, n_ids, 0, back, n);
        double t2 = cli_now();
        if (t1 - t0 < t_enc) t_enc = t1 - t0;
        if (t2 - t1 < t_dec) t_dec = t2 - t1;
    }
    if (n_ids < 0 || n_back != (int64_t)n || memcmp(back, text, n)) {
        rc = cli_fail(CLI_EXIT_DATA, tok_path, "decode(encode(text)) is not the text");
        goto done;
    }
    if (json)
        printf("{\"mode\": \"tokenizer\", \"vocab\": %d, \"text_bytes\": %zu, \"tokens\": %lld, "
               "\"bytes_per_token\": %.3f, \"encode_mb_per_s\": %.2f, \"decode_mb_per_s\": %.2f}\n",
               (int)sono_tokenizer_n_vocab(tok), n, (long long)n_ids, (double)n / (double)n_ids, (double)n / t_enc / 1e6,
               (double)n / t_dec / 1e6);
    else
        printf("tokenizer   %d ids, %s: %.2f MB -> %lld tokens (%.2f bytes/token); encode %.1f MB/s, decode %.1f MB/s "
               "(1 thread, best of 3)\n",
               (int)sono_tokenizer_n_vocab(tok), text_path ? text_path : "made-up captions", (double)n / 1e6,
               (long long)n_ids, (double)n / (double)n_ids, (double)n / t_enc / 1e6, (double)n / t_dec / 1e6);
    if (fflush(stdout) != 0) rc = cli_fail_errno("<stdout>", errno);
done:
    free(text);
    free(ids);
    free(back);
    sono_tokenizer_free(tok);
    return rc;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best of 3 of encoding tokens with p and decoding them back (checked):
 * wall seconds [0] and CPU seconds of all threads [1] each way. */
static int time_coder(const sono_tokens *t, const sono_tokens_encode_params *p, double t_enc[2], double t_dec[2],
                      size_t *n_bytes) {
    t_enc[0] = t_enc[1] = t_dec[0] = t_dec[1] = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        uint8_t *buf = NULL;
        size_t n = 0;
        sono_tokens *back = NULL;
        double t0 = cli_now(), c0 = cpu_now();
        int rc = sono_tokens_encode_ex(t, p, &buf, &n);
        double t1 = cli_now(), c1 = cpu_now();
        if (!rc) rc = sono_tokens_decode_ex(buf, n, p->model, &back);
        double t2 = cli_now(), c2 = cpu_now();
        free(buf);
        if (!rc && memcmp(back->codes, t->codes, sizeof(int32_t) * (size_t)t->n_q * (size_t)t->n_frames))
            rc = SONO_E_FORMAT;
        sono_tokens_free(back);
        if (rc) return rc;
        t_enc[0] = fmin(t_enc[0], t1 - t0), t_enc[1] = fmin(t_enc[1], c1 - c0);
        t_dec[0] = fmin(t_dec[0], t2 - t1), t_dec[1] = fmin(t_dec[1], c2 - c1);
        *n_bytes = n;
    }
    return 0;
}

/* --coder: speed and size of the token-file coders on tokens t. */
static int bench_coders(const cli_common *c, const sono_tokens *t, const char *coder_file, int json) {
    int err = 0, rc = 0;
    sono_coder *m = coder_file ? sono_coder_load(coder_file, &err) : sono_coder_for_codec(t->model_name, &err);
    if (!m) {
        cli_fail_detail(coder_file ? coder_file : t->model_name, err, sono_last_error());
        return err == SONO_E_NOMEM || err == SONO_E_IO ? CLI_EXIT_IO : CLI_EXIT_MODEL;
    }
    double seconds = (double)t->n_samples / t->sample_rate, codes = (double)t->n_q * (double)t->n_frames;
    static const char *const names[] = {"packed", "zstd", "range", "model"};
    if (!json)
        printf("coders      %s: %lld frames x %d codebooks (%.1f s), model coder on %d thread%s\n", t->model_name,
               (long long)t->n_frames, t->n_q, seconds, c->n_threads, c->n_threads == 1 ? "" : "s");
    else
        printf("{\"mode\": \"coder\", \"seconds\": %.3f, \"codebooks\": %d, \"threads\": %d, \"coders\": {", seconds,
               t->n_q, c->n_threads);
    for (int k = 3; k >= 0; k--) {
        sono_tokens_encode_params p = sono_tokens_encode_default_params();
        p.coder = k;
        p.model = m;
        p.n_threads = c->n_threads;
        double te[2], td[2];
        size_t n = 0;
        if ((rc = time_coder(t, &p, te, td, &n))) {
            rc = cli_fail_sono(names[k], rc);
            break;
        }
        double bits = 8.0 * (double)n / codes;
        if (json)
            printf("%s\"%s\": {\"bytes\": %zu, \"bits_per_code\": %.4f, \"kbps\": %.3f, \"encode_codes_per_s\": %.0f, "
                   "\"decode_codes_per_s\": %.0f, \"encode_x_realtime\": %.1f, \"decode_x_realtime\": %.1f, "
                   "\"encode_cpu_s\": %.4f, \"decode_cpu_s\": %.4f}",
                   k == 3 ? "" : ", ", names[k], n, bits, 8.0 * (double)n / seconds / 1000, codes / te[0],
                   codes / td[0], seconds / te[0], seconds / td[0], te[1], td[1]);
        else
            printf("  %-7s %9zu bytes, %.3f bits/code, %.3f kbps; encode %.0f codes/s (%.0fx realtime, %.0fx per CPU "
                   "second), decode %.0f codes/s (%.0fx, %.0fx per CPU second)\n",
                   names[k], n, bits, 8.0 * (double)n / seconds / 1000, codes / te[0], seconds / te[0],
                   seconds / te[1], codes / td[0], seconds / td[0], seconds / td[1]);
    }
    if (json && !rc) printf("}}\n");
    sono_coder_free(m);
    if (!rc && fflush(stdout) != 0) rc = cli_fail_errno("<stdout>", errno);
    return rc;
}

/* --generate: each frame goes to a live codec decoder; the time spent
 * there is counted apart, so the LM's own rate comes out too. */
typedef struct {
    sono_codec_stream *dec;
    float *buf;
    int64_t block;
    double t_dec;
} bench_gen_ctx;

static int bench_drain(bench_gen_ctx *x) {
    int64_t n;
    while ((n = sono_codec_decoder_pull(x->dec, x->buf, x->block)) > 0) {}
    return (int)n;
}

static int bench_gen_frame(void *user, int output, int64_t frame, const int32_t *codes) {
    (void)output, (void)frame;
    bench_gen_ctx *x = user;
    if (!x->dec) return 0;
    double t0 = cli_now();
    int rc = sono_codec_decoder_push(x->dec, codes, 1, 1);
    if (!rc) rc = bench_drain(x);
    x->t_dec += cli_now() - t0;
    return rc;
}

/* "WxL[xH[xT]]" -> width, layers, heads (default width / 64), context (1024). */
static int parse_lm_config(const char *s, int v[4]) {
    int n = 0;
    v[2] = 0;
    v[3] = 1024;
    for (const char *p = s; n < 4;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > (1 << 16)) return -1;
        v[n++] = (int)x;
        if (!*end) break;
        if (*end != 'x' || n == 4) return -1;
        p = end + 1;
    }
    if (n < 2) return -1;
    if (!v[2]) v[2] = v[0] >= 128 ? v[0] / 64 : 1;
    return 0;
}

static int bench_generate(const cli_common *c, const char *lm_arg, const char *codec_arg, const char *lm_config,
                          double kbps_opt, double seconds, int f16, int json) {
    int rc = 0, err = 0, v[4];
    sono_lm *lm = NULL;
    sono_codec *codec = NULL;
    char path[4200];
    if (lm_config) {
        if (parse_lm_config(lm_config, v))
            return cli_fail(CLI_EXIT_USAGE, NULL, "--lm-config wants WIDTHxLAYERS[xHEADS[xCONTEXT]], e.g. 512x8, not '%s'",
                            lm_config);
        if (!(codec = cli_load_codec(c, codec_arg ? codec_arg : "default", &rc))) return rc;
        double kbps = 0;
        int K = cli_pick_n_q(codec, kbps_opt, &kbps, &rc);
        sono_clear_error();
        if (K > 0 && !(lm = sono_lm_random(codec, K, v[0], v[1], v[2], v[3], 1, &err))) rc = cli_fail_sono("--lm-config", err);
    } else if ((lm = cli_load_lm(lm_arg, path, sizeof path, &rc))) {
        if ((codec = cli_load_codec(c, codec_arg ? codec_arg : sono_lm_codec_name(lm), &rc)))
            rc = cli_check_lm_codec(lm, path, codec);
    }
    if (!lm || !codec || rc) {
        sono_lm_free(lm);
        sono_codec_free(codec);
        return rc ? rc : CLI_EXIT_MODEL;
    }
    const double fr = sono_codec_frame_rate(codec);
    const int rate = sono_codec_sample_rate(codec);
    bench_gen_ctx x = {.block = rate, .buf = malloc(sizeof(float) * (size_t)rate * (size_t)sono_codec_channels(codec))};
    sono_lm_generate_params g = sono_lm_generate_default_params();
    g.n_threads = c->n_threads;
    g.half_weights = f16;
    /* the steps' matmul: our kernel at this level, OpenBLAS sgemv per row at plain */
    const char *kern = sono_cpu_level() > SONO_CPU_PLAIN ? sono_cpu_level_name(sono_cpu_level()) : "sgemv";
    double fps[2] = {0}, xrt[2] = {0}, secs[2] = {0};
    int64_t frames[2] = {0};
    const char *caption = "a dog barks in the rain";
    for (int cfg = 0; cfg < 2 && !rc; cfg++) {
        g.task = cfg ? SONO_LM_TASK_TTA : SONO_LM_TASK_CONTINUE;
        g.text = cfg ? caption : NULL;
        g.max_frames = g.min_frames = 0;
        int64_t room = sono_lm_generate_max_frames(lm, &g);
        if (room < 0) {
            rc = cli_fail_sono("bench --generate", (int)room);
            break;
        }
        int64_t want = llround(seconds * fr);
        g.max_frames = g.min_frames = want < 1 ? 1 : want > room ? room : want;
        if (g.max_frames < want)
            cli_note(c, 1, "bench --generate: the LM's context holds %lld frames (%.2f s)%s", (long long)room,
                     (double)room / fr, cfg ? " after the caption" : "");
        x.t_dec = 0;
        sono_clear_error();
        x.dec = sono_codec_decoder_live(codec, sono_lm_n_codebooks(lm), &err);
        if (!x.dec && err != SONO_E_UNSUPPORTED) {
            rc = cli_fail_sono("live decoder", err);
            break;
        }
        int64_t n_frames = 0;
        double t0 = cli_now();
        sono_clear_error();
        err = sono_lm_generate(lm, &g, bench_gen_frame, &x, NULL, &n_frames);
        if (!err && x.dec) {
            double t1 = cli_now();
            err = sono_codec_decoder_end(x.dec);
            if (!err) err = bench_drain(&x);
            x.t_dec += cli_now() - t1;
        }
        secs[cfg] = cli_now() - t0;
        sono_codec_stream_free(x.dec);
        if (err) {
            rc = cli_fail_sono("bench --generate", err);
            break;
        }
        frames[cfg] = n_frames;
        fps[cfg] = (double)n_frames / (secs[cfg] - x.t_dec);
        xrt[cfg] = x.dec ? (double)n_frames / fr / secs[cfg] : 0;
    }
    if (!rc) {
        double gemm = sgemm_gflops(c->n_threads), rss = peak_rss_mib();
        double mparams = (double)sono_lm_n_params(lm) / 1e6;
        if (json) {
            char name[256];
            json_escape(name, sizeof name, sono_lm_name(lm));
            printf("{\"mode\": \"generate\", \"lm\": \"%s\", \"random\": %s, \"params_m\": %.3f, \"width\": %d, "
                   "\"layers\": %d, \"heads\": %d, \"context\": %d, \"codebooks\": %d, \"codebook_size\": %d, "
                   "\"frame_rate\": %.3f, \"threads\": %d, \"frames\": %lld, \"lm_frames_per_s\": %.2f, "
                   "\"lm_frames_per_s_cfg\": %.2f, \"x_realtime_with_codec\": %.3f, \"x_realtime_with_codec_cfg\": %.3f, "
                   "\"sgemm_gflops\": %.2f, \"peak_rss_mib\": %.1f, \"kernel\": \"%s\", \"weights\": \"%s\"}\n",
                   name, lm_config ? "true" : "false", mparams, sono_lm_width(lm), sono_lm_n_layers(lm),
                   sono_lm_n_heads(lm), sono_lm_context(lm), sono_lm_n_codebooks(lm), sono_lm_codebook_size(lm), fr,
                   c->n_threads, (long long)frames[0], fps[0], fps[1], xrt[0], xrt[1], gemm, rss, kern,
                   f16 ? "float16" : "float32");
        } else {
            printf("lm          %s%s: %.2f M parameters (%.1f MB float32), width %d, %d layers, %d heads, context %d, "
                   "%d codebooks of %d; %d thread%s\n",
                   sono_lm_name(lm), lm_config ? " (random weights)" : "", mparams, mparams * 4, sono_lm_width(lm),
                   sono_lm_n_layers(lm), sono_lm_n_heads(lm), sono_lm_context(lm), sono_lm_n_codebooks(lm),
                   sono_lm_codebook_size(lm), c->n_threads, c->n_threads == 1 ? "" : "s");
            printf("steps       matmuls %s, weights %s\n", kern, f16 ? "float16" : "float32");
            printf("codec       %s, %.2f frames/s%s\n", sono_codec_name(codec), fr,
                   x.buf && xrt[0] > 0 ? "" : " (no live decoder: LM only)");
            for (int cfg = 0; cfg < 2; cfg++)
                printf("generate    %-16s %lld frames in %.2f s: LM %.1f frames/s (%.2fx realtime); with decoding %.2fx realtime\n",
                       cfg ? "CFG (batch 2):" : "no CFG (batch 1):", (long long)frames[cfg], secs[cfg], fps[cfg],
                       fps[cfg] / fr, xrt[cfg]);
            printf("sgemm       512x512x4096: %.2f GFLOP/s\n", gemm);
            printf("peak RSS    %.1f MiB\n", rss);
        }
        if (fflush(stdout) != 0) rc = cli_fail_errno("<stdout>", errno);
    }
    free(x.buf);
    sono_lm_free(lm);
    sono_codec_free(codec);
    return rc;
}

static int run_bench(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *model = "default";
    double seconds = 10, kbps_opt = 0;
    int json = 0, train = 0, gen = 0, f16 = 0, coder = 0, freeze = 0;
    double w_spec = 0;
    long steps = 20;
    const char *config_file = NULL, *tok_file = NULL, *text_file = NULL, *lm_config = NULL, *codec_arg = NULL;
    const char *coder_file = NULL, *tokens_file = NULL;
    int model_given = 0;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': model = arg, model_given = 1; break;
        case 's':
            if (cli_parse_double(arg, 0.1, 36000, &seconds))
                rc = cli_usage_error(cmd, "--seconds wants a number from 0.1 to 36000, not '%s'", arg);
            break;
        case 'b':
            if (cli_parse_double(arg, 0.01, 10000, &kbps_opt))
                rc = cli_usage_error(cmd, "--bandwidth wants a positive number of kbps, not '%s'", arg);
            break;
        case OPT_JSON: json = 1; break;
        case OPT_TRAIN: train = 1; break;
        case OPT_FREEZE: freeze = 1; break;
        case OPT_SPEC_LOSS:
            if (cli_parse_double(arg, 0, 1e6, &w_spec))
                rc = cli_usage_error(cmd, "--spec-loss wants a weight >= 0, not '%s'", arg);
            break;
        case OPT_CONFIG: config_file = arg; break;
        case OPT_TOKENIZER: tok_file = arg; break;
        case OPT_TEXT: text_file = arg; break;
        case OPT_GENERATE: gen = 1; break;
        case OPT_LM_CONFIG: lm_config = arg; break;
        case OPT_CODEC: codec_arg = arg; break;
        case OPT_F16: f16 = 1; break;
        case OPT_CODER: coder = 1; break;
        case OPT_CODER_MODEL: coder_file = arg; break;
        case OPT_TOKENS: tokens_file = arg; break;
        case OPT_STEPS:
            if (cli_parse_int(arg, 1, 100000, &steps)) rc = cli_usage_error(cmd, "--steps wants 1 to 100000, not '%s'", arg);
            break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (first < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[first]);
    if ((config_file || freeze || w_spec > 0) && !train)
        return cli_usage_error(cmd, "--config, --freeze-encoder and --spec-loss go with --train");
    if (text_file && !tok_file) return cli_usage_error(cmd, "--text goes with --tokenizer");
    if (tok_file && train) return cli_usage_error(cmd, "--tokenizer and --train are two benchmarks: one at a time");
    if (gen && (train || tok_file)) return cli_usage_error(cmd, "--generate is a benchmark of its own: one at a time");
    if ((lm_config || codec_arg || f16) && !gen) return cli_usage_error(cmd, "--lm-config, --codec and --f16 go with --generate");
    if (gen && !lm_config == !model_given) return cli_usage_error(cmd, "--generate times -m LM or a random --lm-config: one of them");
    if ((coder_file || tokens_file) && !coder) return cli_usage_error(cmd, "--coder-model and --tokens go with --coder");
    if (coder && (gen || train || tok_file)) return cli_usage_error(cmd, "--coder is a benchmark of its own: one at a time");
    cli_install_log(&c);
    if (coder && tokens_file) {
        sono_tokens *tk = NULL;
        sono_clear_error();
        int e = sono_tokens_load(tokens_file, &tk);
        if (e < 0) return cli_fail_sono(tokens_file, e);
        rc = bench_coders(&c, tk, coder_file, json);
        sono_tokens_free(tk);
        return rc;
    }
    if (gen) return bench_generate(&c, model, codec_arg, lm_config, kbps_opt, seconds, f16, json);
    if (tok_file) return bench_tokenizer(tok_file, text_file, json);
    if (train) return bench_train(&c, steps, json, config_file, freeze, w_spec);

    /* the sgemm yardstick runs last: OpenBLAS's worker threads keep spinning
     * for a while after a call and would steal the codec's second core */
    double gemm = 0;
    double t0 = cli_now();
    sono_codec *codec = cli_load_codec(&c, model, &rc);
    double t_load = cli_now() - t0;
    if (!codec) return rc;
    double kbps = 0;
    int n_q = cli_pick_n_q(codec, kbps_opt, &kbps, &rc);
    if (n_q < 0) {
        sono_codec_free(codec);
        return rc;
    }
    int rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec);
    int64_t n = (int64_t)llround(seconds * rate);
    float *x = malloc((size_t)n * (size_t)ch * sizeof *x);
    float *blk = malloc((size_t)rate * (size_t)ch * sizeof *blk);
    sono_tokens *t = NULL;
    sono_codec_stream *s = NULL;
    int err = 0;
    double t_enc = 0, t_dec = 0;
    if (!x || !blk) {
        rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory for %.1f s of audio", seconds);
        goto done;
    }
    make_signal(x, n, ch, rate);

    /* Encode in one-second blocks, as tokenize does. */
    t0 = cli_now();
    s = sono_codec_encoder_stream(codec, n_q, &err);
    if (!s) {
        rc = cli_fail_sono(model, err ? err : SONO_E_ARG);
        goto done;
    }
    for (int64_t off = 0; off < n; off += rate) {
        int64_t len = n - off < rate ? n - off : rate;
        for (int k = 0; k < ch; k++)
            memcpy(blk + (size_t)k * (size_t)len, x + (size_t)k * (size_t)n + (size_t)off, (size_t)len * sizeof *x);
        int prc = sono_codec_encoder_push(s, blk, len);
        if (prc < 0) {
            rc = cli_fail_sono("encode", prc);
            goto done;
        }
    }
    int frc = sono_codec_encoder_finish(s, &t);
    sono_codec_stream_free(s);
    s = NULL;
    if (frc < 0) {
        rc = cli_fail_sono("encode", frc);
        goto done;
    }
    t_enc = cli_now() - t0;
    if (coder) {
        rc = bench_coders(&c, t, coder_file, json);
        goto done;
    }

    /* Decode in one-second blocks, as detokenize does. */
    t0 = cli_now();
    s = sono_codec_decoder_stream(codec, t, &err);
    if (!s) {
        rc = cli_fail_sono("decode", err ? err : SONO_E_ARG);
        goto done;
    }
    int64_t got = 0, m;
    while ((m = sono_codec_decoder_pull(s, blk, rate)) > 0) got += m;
    if (m < 0) {
        rc = cli_fail_sono("decode", (int)m);
        goto done;
    }
    t_dec = cli_now() - t0;
    gemm = sgemm_gflops(c.n_threads);

    double f_enc = 2.0 * sono_codec_macs_per_second(codec, 0, t->n_q) * seconds;
    double f_dec = 2.0 * sono_codec_macs_per_second(codec, 1, t->n_q) * seconds;
    char g_enc[32], g_dec[32];
    fmt_gflops(g_enc, sizeof g_enc, f_enc, t_enc);
    fmt_gflops(g_dec, sizeof g_dec, f_dec, t_dec);
    double tokens = (double)t->n_q * (double)t->n_frames;
    double rss = peak_rss_mib();
    if (json) {
        char name[4 * SONO_MODEL_NAME_MAX + 8];
        json_escape(name, sizeof name, sono_codec_name(codec));
        printf("{\"model\": \"%s\", \"sample_rate\": %d, \"channels\": %d, \"threads\": %d, "
               "\"seconds\": %.3f, \"kbps\": %g, \"codebooks\": %d, \"load_s\": %.4f, "
               "\"encode_s\": %.4f, \"decode_s\": %.4f, \"encode_x_realtime\": %.3f, "
               "\"decode_x_realtime\": %.3f, \"encode_x_realtime_with_load\": %.3f, "
               "\"decode_x_realtime_with_load\": %.3f, \"encode_tokens_per_s\": %.1f, "
               "\"encode_gflops\": %s, \"decode_gflops\": %s, \"sgemm_gflops\": %.2f, "
               "\"peak_rss_mib\": %.1f}\n",
               name, rate, ch, c.n_threads, seconds, kbps, n_q, t_load, t_enc, t_dec,
               seconds / t_enc, seconds / t_dec, seconds / (t_load + t_enc), seconds / (t_load + t_dec),
               tokens / t_enc, g_enc, g_dec, gemm, rss);
    } else {
        printf("model       %s (%d Hz, %d ch), %g kbps = %d codebooks, %d thread%s\n", sono_codec_name(codec),
               rate, ch, kbps, n_q, c.n_threads, c.n_threads == 1 ? "" : "s");
        printf("load        %.3f s\n", t_load);
        printf("tokenize    %.3f s for %.1f s audio: %.1fx realtime (%.1fx with load), %.0f tokens/s, %s GFLOP/s\n",
               t_enc, seconds, seconds / t_enc, seconds / (t_load + t_enc), tokens / t_enc, g_enc);
        printf("detokenize  %.3f s: %.1fx realtime (%.1fx with load), %s GFLOP/s\n", t_dec, seconds / t_dec,
               seconds / (t_load + t_dec), g_dec);
        printf("sgemm       512x512x4096: %.2f GFLOP/s\n", gemm);
        printf("peak RSS    %.1f MiB\n", rss);
    }
    if (fflush(stdout) != 0) rc = cli_fail_errno("<stdout>", errno);
    else rc = 0;
    if (got != t->n_samples && c.verbosity >= 2)
        cli_note(&c, 2, "decoded %lld samples, tokens say %lld", (long long)got, (long long)t->n_samples);
done:
    sono_codec_stream_free(s);
    sono_tokens_free(t);
    free(x);
    free(blk);
    sono_codec_free(codec);
    return rc;
}
