/* sonotok generate: new audio from the token LM, continuing an audio prompt,
 * following a caption, or speaking a text (tts). The LM writes codec codes frame by frame
 * (sono_lm_generate); each finished frame goes straight into a live codec
 * decoder and its audio into the output file, so a long generation writes
 * as it goes. The LM file names its codec: that codec is loaded unless
 * --codec names it otherwise, and another codec is refused. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* The shipped default LM's name (looked up like -m), once models/ has one. */
static const char *const default_lm = NULL;

#define MAX_SECONDS 600.0 /* -d cap; the model's context is the real limit */

enum {
    OPT_CODEC = CLI_OPT_LONG, OPT_TASK, OPT_PROMPT, OPT_TEMPERATURE, OPT_TOP_K, OPT_TOP_P, OPT_CFG, OPT_SEED,
    OPT_MIN_SECONDS, OPT_F16, OPT_VOICE, OPT_LANG,
};

static const cli_opt generate_opts[] = {
    CLI_COMMON_OPTS,
    {'m', "model", "LM", "LM file: path or name (default: the shipped default LM)"},
    {OPT_CODEC, "codec", "MODEL", "codec that renders the codes (default: the one the LM names)"},
    {OPT_TASK, "task", "TASK", "continue (an audio prompt), tta (text to audio: TEXT is the caption) or tts (TEXT is spoken)"},
    {OPT_VOICE, "voice", "NAME", "tts: one of the LM's voices (default: its first)"},
    {OPT_LANG, "lang", "L", "tts: the text's language, one of the LM's (default en)"},
    {OPT_PROMPT, "prompt", "AUDIO", "audio to continue (continue), or the start of the audio (tta)"},
    {'d', "duration", "SECONDS", "most seconds of new audio per output (default: what the context holds)"},
    {OPT_MIN_SECONDS, "min-duration", "SECONDS", "no end before this many seconds (default 0)"},
    {OPT_TEMPERATURE, "temperature", "T", "sampling temperature, 0 for greedy (default 1)"},
    {OPT_TOP_K, "top-k", "K", "sample among the K most likely codes, 0 for all (default 250)"},
    {OPT_TOP_P, "top-p", "P", "then among the smallest set with probability P, 1 for off (default 1)"},
    {OPT_CFG, "cfg", "C", "classifier-free guidance scale for tta (default 3; 1: the caption alone)"},
    {OPT_SEED, "seed", "S", "random seed (default 1)"},
    {OPT_F16, "f16", NULL, "read the LM's weights as float16: faster, slightly different audio"},
    {'n', "outputs", "N", "candidates generated together, 1 to 8 (default 1): OUT-0.wav, OUT-1.wav, ..."},
    {'f', "format", "FMT", "output format: wav, flac, ogg or opus (default: from OUT's extension)"},
    {'o', "output", "OUT", "audio file, or - for stdout (WAV)"},
    {0, NULL, NULL, NULL},
};

static int run_generate(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_generate = {
    .name = "generate",
    .summary = "Generate audio with the token LM: continue a prompt, or from a caption.",
    .usage = "[-m LM] [--codec MODEL] --task continue|tta|tts [--prompt AUDIO] [-d SECONDS]\n"
             "       [--voice NAME] [--lang L] [--temperature T] [--top-k K] [--top-p P] [--cfg C] [--seed S]\n"
             "       [-n N] [\"TEXT\"] -o OUT",
    .details =
        "continue: the LM continues --prompt AUDIO (read and resampled as tokenize\n"
        "does, its whole frames used); without a prompt it starts from nothing.\n"
        "tta: TEXT is the caption, with classifier-free guidance (--cfg); a --prompt\n"
        "is taken as the start of the audio. OUT holds the new audio only: the\n"
        "prompt's frames go through the decoder first, so OUT starts where the\n"
        "prompt ends.\n"
        "tts: TEXT is spoken (an LM trained with phonemes, doc/tts-layout.md) in\n"
        "--voice (unknown: exit 2 lists the LM's voices) and --lang: cut into\n"
        "sentences, each phonemized by espeak-ng and generated in turn into one\n"
        "continuous output; the length comes from the phonemes (caps: 40 frames a\n"
        "phoneme, 120 a pause, 20 a phoneme on average), so no -d, --min-duration,\n"
        "--prompt or --cfg. Empty text, text with nothing to pronounce, text over\n"
        "16 KiB or a sentence too long for the LM's context: one line, exit 2; an LM\n"
        "without phonemes: exit 4.\n"
        "\n"
        "An output ends when the LM writes its end token (not before --min-duration)\n"
        "or at -d SECONDS (at most 600; the LM's context is the real limit: prompt,\n"
        "caption and new frames must fit it, else exit 2 says how much does). The\n"
        "LM names the codec it was trained for; --codec must be that codec (exit 4).\n"
        "Same seed, same audio, on any thread count; -n N writes N candidates\n"
        "OUT-0.ext .. OUT-(N-1).ext, the first equal to what -n 1 writes.\n"
        "\n"
        "Audio is written as it is generated, under a temporary name beside OUT,\n"
        "renamed at the end (removed on error or interruption); a link is written\n"
        "through, a device, a FIFO or - (stdout, -n 1 only) directly; an OUT that is\n"
        "an input is refused (exit 2). At the end a line gives frames/s and x\n"
        "realtime (not with -q); a progress line shows on a terminal.\n"
        "Greedy or low-temperature sampling can loop (the same frames again).\n"
        "--f16 rounds the LM's weight matrices to float16 for the steps: about half\n"
        "the memory traffic, so faster on a large LM; the audio differs from the\n"
        "float32 run's (lm/README.md has the measurements), still the same on any\n"
        "thread count.\n",
    .opts = generate_opts,
    .run = run_generate,
};

typedef struct {
    cli_common common;
    const char *lm, *codec, *prompt, *format, *output, *text;
    int task;          /* -1: not given */
    int cfg_given;
    double seconds, min_seconds;
    sono_lm_generate_params g;
} gen_opts;

/* One output: its file and, for a codec with a live decoder, its stream. */
typedef struct {
    char path[4200];
    sono_audio_writer *w;
    sono_codec_stream *dec;
    int64_t skip;      /* samples still to drop: the prompt's */
} gen_file;

typedef struct {
    const gen_opts *o;
    gen_file *files;
    int n, channels, rate, K;
    float *buf;        /* [channels][rate] */
    int64_t frames, max_frames;
    cli_progress prog;
    double t0;
} gen_ctx;

/* Pull what decoder i has ready and write it (dropping the prompt's
 * samples first). 0 or a negative error. */
static int drain(gen_ctx *x, int i) {
    gen_file *f = &x->files[i];
    for (;;) {
        int64_t n = sono_codec_decoder_pull(f->dec, x->buf, x->rate);
        if (n <= 0) return (int)n;
        int64_t drop = n < f->skip ? n : f->skip, keep = n - drop;
        f->skip -= drop;
        if (keep > 0) {
            if (drop > 0)
                for (int c = 0; c < x->channels; c++)
                    memmove(x->buf + (size_t)c * keep, x->buf + (size_t)c * n + drop, sizeof(float) * (size_t)keep);
            int rc = sono_audio_write(f->w, x->buf, keep);
            if (rc) return rc;
        }
    }
}

static int on_frame(void *user, int output, int64_t frame, const int32_t *codes) {
    gen_ctx *x = user;
    x->frames++;
    if (x->files[output].dec) {
        int rc = sono_codec_decoder_push(x->files[output].dec, codes, 1, 1);
        if (!rc) rc = drain(x, output);
        if (rc) return rc;
    }
    if (x->prog.enabled && output == 0) {
        char extra[96];
        double el = cli_now() - x->t0;
        snprintf(extra, sizeof extra, "%lld frames, %.1f frames/s", (long long)(frame + 1),
                 el > 0 ? (double)x->frames / el : 0.0);
        cli_progress_update(&x->prog, (double)(frame + 1) / (double)x->max_frames, extra);
    }
    return 0;
}

/* OUT for output i of n: OUT itself for one, else "-i" before the extension. */
static void output_name(char *out, size_t size, const char *path, int i, int n) {
    if (n == 1) {
        snprintf(out, size, "%s", path);
        return;
    }
    const char *ext = cli_path_ext(path);
    int stem = (int)strlen(path) - (*ext ? (int)strlen(ext) + 1 : 0);
    snprintf(out, size, "%.*s-%d%s%s", stem, path, i, *ext ? "." : "", ext);
}

/* The LM file for -m, or the shipped default. */
static sono_lm *load_lm(const gen_opts *o, char *path, size_t size, int *exit_code) {
    const char *name = o->lm ? o->lm : default_lm;
    if (!name) {
        *exit_code = cli_fail(CLI_EXIT_MODEL, NULL, "no default LM installed; give one with -m LM");
        return NULL;
    }
    return cli_load_lm(name, path, size, exit_code);
}

/* The prompt's codes [K][*n_frames]: whole frames of the audio, encoded
 * with the LM's K codebooks. 0 or an exit code (printed). */
static int read_prompt(const gen_opts *o, const sono_codec *codec, const sono_lm *lm, int32_t **codes,
                       int64_t *n_frames) {
    int rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec), hop = sono_codec_hop(codec), err = 0;
    int K = sono_lm_n_codebooks(lm);
    sono_clear_error();
    sono_audio_reader *r = sono_audio_open(o->prompt, rate, ch, &err);
    if (!r) return cli_fail_sono(o->prompt, err);
    int64_t len = sono_audio_length(r);
    if (len > (int64_t)hop * sono_lm_context(lm)) {
        sono_audio_close(r);
        return cli_fail(CLI_EXIT_DATA, o->prompt, "a prompt of %.1f s passes the LM's context (%d frames, %.2f s)",
                        (double)len / rate, sono_lm_context(lm), (double)sono_lm_context(lm) * hop / rate);
    }
    float *pcm = NULL;
    int64_t n = 0;
    sono_clear_error();
    err = sono_audio_read_all(r, &pcm, &n);
    sono_audio_close(r);
    if (err) return cli_fail_sono(o->prompt, err);
    int64_t F = n / hop;
    if (F < 1) {
        free(pcm);
        return cli_fail(CLI_EXIT_DATA, o->prompt, "%lld samples: shorter than one codec frame (%d samples)",
                        (long long)n, hop);
    }
    sono_tokens *t = NULL;
    sono_clear_error();
    err = sono_codec_encode(codec, pcm, F * hop, K, &t);
    free(pcm);
    if (err) return cli_fail_sono(o->prompt, err);
    if (F > t->n_frames) F = t->n_frames;
    *codes = malloc(sizeof(int32_t) * (size_t)K * (size_t)F);
    if (!*codes) {
        sono_tokens_free(t);
        return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    }
    for (int k = 0; k < K; k++) memcpy(*codes + (size_t)k * F, t->codes + (size_t)k * t->n_frames, sizeof(int32_t) * (size_t)F);
    *n_frames = F;
    sono_tokens_free(t);
    return 0;
}

static int generate(const gen_opts *o) {
    const cli_common *c = &o->common;
    char lm_path[4200], codec_path[4200];
    int rc = 0, err = 0;
    sono_lm *lm = load_lm(o, lm_path, sizeof lm_path, &rc);
    if (!lm) return rc;
    const char *codec_name = o->codec ? o->codec : sono_lm_codec_name(lm);
    sono_codec *codec = NULL;
    int32_t *prompt = NULL, *codes = NULL;
    int64_t n_frames[SONO_LM_MAX_OUTPUTS] = {0};
    gen_ctx x;
    memset(&x, 0, sizeof x);
    sono_clear_error();
    if (sono_codec_resolve(codec_name, codec_path, sizeof codec_path) == 0) {
        if ((rc = cli_protect_inputs((const char *const[]){codec_path}, 1))) goto out;
    } else if (!o->codec) { /* (a --codec that is not there: cli_load_codec says so) */
        rc = cli_fail(CLI_EXIT_MODEL, lm_path, "made for codec \"%s\", which is not installed: give it with --codec MODEL",
                      codec_name);
        goto out;
    }
    if (!(codec = cli_load_codec(c, codec_name, &rc)) || (rc = cli_check_lm_codec(lm, lm_path, codec))) goto out;
    sono_lm_generate_params g = o->g;
    g.task = o->task;
    g.text = o->text;
    g.n_threads = c->n_threads;
    double fr = sono_codec_frame_rate(codec);
    if (o->prompt && (rc = read_prompt(o, codec, lm, &prompt, &g.n_prompt_frames))) goto out;
    g.prompt = prompt;
    if (o->seconds > 0) g.max_frames = llround(o->seconds * fr) > 1 ? llround(o->seconds * fr) : 1;
    g.min_frames = llround(o->min_seconds * fr);
    sono_clear_error();
    int64_t F = sono_lm_generate_max_frames(lm, &g);
    if (F == SONO_E_LIMIT && g.max_frames > 0) { /* say it in seconds */
        sono_lm_generate_params all = g;
        all.max_frames = all.min_frames = 0;
        int64_t room = sono_lm_generate_max_frames(lm, &all);
        if (room > 0) {
            rc = cli_fail(CLI_EXIT_DATA, NULL, "-d %g s passes the LM's context: it holds %.3f s of new audio here",
                          o->seconds, (double)room / fr);
            goto out;
        }
    }
    if (F < 0) {
        rc = cli_fail_sono("generate", (int)F);
        if (F == SONO_E_UNSUPPORTED) rc = CLI_EXIT_MODEL; /* an LM without phonemes */
        goto out;
    }
    if (g.min_frames > F) g.min_frames = F;
    x.o = o;
    x.n = g.n_outputs;
    x.K = sono_lm_n_codebooks(lm);
    x.rate = sono_codec_sample_rate(codec);
    x.channels = sono_codec_channels(codec);
    x.max_frames = F;
    x.files = calloc((size_t)x.n, sizeof *x.files);
    x.buf = malloc(sizeof(float) * (size_t)x.rate * (size_t)x.channels);
    codes = malloc(sizeof(int32_t) * (size_t)x.n * (size_t)x.K * (size_t)F);
    if (!x.files || !x.buf || !codes) {
        rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        goto out;
    }
    const char *fmt = cli_audio_format(o->format, o->output);
    for (int i = 0; i < x.n && !rc; i++) {
        gen_file *f = &x.files[i];
        output_name(f->path, sizeof f->path, o->output, i, x.n);
        sono_clear_error();
        if (!(f->w = sono_audio_create(f->path, fmt, x.rate, x.rate, x.channels, &err))) {
            rc = cli_fail_sono(f->path, err ? err : SONO_E_IO);
            break;
        }
        if (!(f->dec = sono_codec_decoder_live(codec, x.K, &err)) && err != SONO_E_UNSUPPORTED) {
            rc = cli_fail_sono(codec_name, err);
            break;
        }
        /* the prompt warms the decoder up; its audio is not written */
        f->skip = g.n_prompt_frames * sono_codec_hop(codec);
        if (f->dec && g.n_prompt_frames && (err = sono_codec_decoder_push(f->dec, prompt, g.n_prompt_frames, g.n_prompt_frames)))
            rc = cli_fail_sono(o->prompt, err);
    }
    if (rc) goto out;
    cli_note(c, 2, "LM %s: %d layers, width %d, context %d, %d codebooks; codec %s; up to %lld frames (%.2f s) per output",
             sono_lm_name(lm), sono_lm_n_layers(lm), sono_lm_width(lm), sono_lm_context(lm), x.K,
             sono_codec_name(codec), (long long)F, (double)F / fr);
    cli_progress_init(&x.prog, c, "generate");
    x.t0 = cli_now();
    sono_clear_error();
    err = sono_lm_generate(lm, &g, on_frame, &x, codes, n_frames);
    double secs = cli_now() - x.t0;
    cli_progress_clear(&x.prog);
    if (err) {
        rc = cli_fail_sono("generate", err);
        goto out;
    }
    for (int i = 0; i < x.n && !rc; i++) {
        gen_file *f = &x.files[i];
        sono_clear_error();
        if (f->dec) err = sono_codec_decoder_end(f->dec);
        /* a codec without a live decoder: the codes decoded now */
        if (!err) err = f->dec ? drain(&x, i)
                               : cli_render_codes(codec, codes + (size_t)i * x.K * F, x.K, F, n_frames[i], f->w, x.buf, x.rate);
        if (err) {
            rc = cli_fail_sono(f->path, err);
            break;
        }
        if (n_frames[i] == 0) cli_note(c, 1, "%s: the LM ended at once (no audio)", f->path);
        err = sono_audio_writer_close(f->w);
        f->w = NULL;
        if (err) rc = cli_fail_sono(f->path, err);
    }
    if (!rc && c->verbosity >= 1) {
        int64_t total = 0;
        for (int i = 0; i < x.n; i++) total += n_frames[i];
        double audio = (double)total / fr;
        fprintf(stderr, "sonotok: %d output%s, %lld frames, %.2f s audio in %.2f s: %.1f frames/s, %.2fx realtime\n",
                x.n, x.n == 1 ? "" : "s", (long long)total, audio, secs, secs > 0 ? (double)total / secs : 0.0,
                secs > 0 ? audio / secs : 0.0);
    }
out:
    for (int i = 0; x.files && i < x.n; i++) {
        sono_audio_writer_abort(x.files[i].w);
        sono_codec_stream_free(x.files[i].dec);
    }
    free(x.files);
    free(x.buf);
    free(codes);
    free(prompt);
    sono_codec_free(codec);
    sono_lm_free(lm);
    return rc;
}

static int run_generate(const cli_cmd *cmd, int argc, char **argv) {
    gen_opts o;
    memset(&o, 0, sizeof o);
    cli_common_init(&o.common);
    o.task = -1;
    o.g = sono_lm_generate_default_params();
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    long v = 0;
    double d = 0;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&o.common, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': o.lm = arg; break;
        case OPT_CODEC: o.codec = arg; break;
        case OPT_TASK:
            if (!strcmp(arg, "continue")) o.task = SONO_LM_TASK_CONTINUE;
            else if (!strcmp(arg, "tta")) o.task = SONO_LM_TASK_TTA;
            else if (!strcmp(arg, "tts")) o.task = SONO_LM_TASK_TTS;
            else rc = cli_usage_error(cmd, "--task is continue, tta or tts, not '%s'", arg);
            break;
        case OPT_VOICE: o.g.voice = arg; break;
        case OPT_LANG: o.g.lang = arg; break;
        case OPT_PROMPT: o.prompt = arg; break;
        case 'd':
        case OPT_MIN_SECONDS:
            if (cli_parse_double(arg, key == 'd' ? 1e-3 : 0, MAX_SECONDS, &d) || !isfinite(d))
                rc = cli_usage_error(cmd, "--%s wants seconds from %s to %g, not '%s'",
                                     key == 'd' ? "duration" : "min-duration", key == 'd' ? "0.001" : "0", MAX_SECONDS, arg);
            if (key == 'd') o.seconds = d;
            else o.min_seconds = d;
            break;
        case OPT_TEMPERATURE:
            if (cli_parse_double(arg, 0, 100, &d) || !isfinite(d))
                rc = cli_usage_error(cmd, "--temperature wants 0 (greedy) to 100, not '%s'", arg);
            o.g.temperature = (float)d;
            break;
        case OPT_TOP_K:
            if (cli_parse_int(arg, 0, 1 << 20, &v)) rc = cli_usage_error(cmd, "--top-k wants 0 (all) or more, not '%s'", arg);
            o.g.top_k = (int)v;
            break;
        case OPT_TOP_P:
            if (cli_parse_double(arg, 1e-6, 1, &d) || !isfinite(d))
                rc = cli_usage_error(cmd, "--top-p wants a probability above 0, at most 1, not '%s'", arg);
            o.g.top_p = (float)d;
            break;
        case OPT_CFG:
            if (cli_parse_double(arg, 0, 100, &d) || !isfinite(d))
                rc = cli_usage_error(cmd, "--cfg wants a scale from 0 to 100, not '%s'", arg);
            o.g.cfg = (float)d;
            o.cfg_given = 1;
            break;
        case OPT_SEED:
            if (cli_parse_int(arg, 0, 0x7fffffffL, &v)) rc = cli_usage_error(cmd, "--seed wants 0 to 2147483647, not '%s'", arg);
            o.g.seed = (uint64_t)v;
            break;
        case 'n':
            if (cli_parse_int(arg, 1, SONO_LM_MAX_OUTPUTS, &v))
                rc = cli_usage_error(cmd, "-n wants 1 to %d outputs, not '%s'", SONO_LM_MAX_OUTPUTS, arg);
            o.g.n_outputs = (int)v;
            break;
        case OPT_F16: o.g.half_weights = 1; break;
        case 'f': o.format = arg; break;
        case 'o': o.output = arg; break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (argc - first > 1) return cli_usage_error(cmd, "one TEXT only (quote it: \"a dog barks\")");
    o.text = argc - first == 1 ? argv[first] : NULL;
    if (o.task < 0) return cli_usage_error(cmd, "no --task given (continue, tta or tts)");
    if (o.task == SONO_LM_TASK_TTS && !o.text) return cli_usage_error(cmd, "--task tts needs the text to speak: \"TEXT\"");
    if (o.task == SONO_LM_TASK_TTS && (o.prompt || o.seconds > 0 || o.min_seconds > 0 || o.cfg_given))
        return cli_usage_error(cmd, "--task tts takes no --prompt, -d, --min-duration or --cfg (its length comes from the phonemes)");
    if (o.task != SONO_LM_TASK_TTS && (o.g.voice || o.g.lang)) return cli_usage_error(cmd, "--voice and --lang are for --task tts");
    if (o.task == SONO_LM_TASK_TTA && (!o.text || !*o.text)) return cli_usage_error(cmd, "--task tta needs a caption: \"TEXT\"");
    if (o.task == SONO_LM_TASK_CONTINUE && o.text)
        return cli_usage_error(cmd, "--task continue takes no TEXT (tta takes a caption, and a --prompt too)");
    if (!o.output) return cli_usage_error(cmd, "no OUT given (-o)");
    if (o.min_seconds > 0 && o.seconds > 0 && o.min_seconds > o.seconds)
        return cli_usage_error(cmd, "--min-duration %g is longer than -d %g", o.min_seconds, o.seconds);
    if (o.g.n_outputs > 1 && !strcmp(o.output, "-")) return cli_usage_error(cmd, "-n %d writes files: OUT cannot be -", o.g.n_outputs);
    if (o.format && !sono_audio_can_write(o.format))
        return cli_usage_error(cmd, "cannot write format '%s' (use wav, flac, ogg or opus)", o.format);
    if (!cli_audio_format(o.format, o.output))
        return cli_usage_error(cmd, "cannot write '%s': use .wav, .flac, .ogg, .opus or --format", o.output);
    cli_install_log(&o.common);
    if (o.prompt && (rc = cli_protect_inputs(&o.prompt, 1))) return rc;
    for (int i = 0; i < o.g.n_outputs; i++) {
        char name[4200];
        output_name(name, sizeof name, o.output, i, o.g.n_outputs);
        if ((rc = cli_check_output(name))) return rc;
    }
    return generate(&o);
}
