/* sonotok eval: how close is decoded audio to the original? Scores pairs of
 * files (or folders of pairs), or runs the codec (-m) and/or Opus
 * (--baseline opus) on reference files in memory, and prints a table of
 * SI-SNR, multi-scale mel distance, STOI and effective bitrate per file and
 * the mean per category.
 *
 * Metrics come from the public sonotok/metrics.h, streamed
 * (sono_metrics_stream): files are read in blocks and the codec and Opus
 * run in blocks, so memory does not grow with the files' length. They are
 * computed on mono mixes at the reference's own rate; estimates at another
 * rate are resampled to it. */
#include <errno.h>
#include <math.h>
#include <opus/opus.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sonotok/metrics.h"
#include "commands.h"

enum { OPT_BASELINE = CLI_OPT_LONG, OPT_CATEGORY, OPT_PLOT };

static const cli_opt eval_opts[] = {
    CLI_COMMON_OPTS,
    {'m', "model", "MODEL", "run this codec on each REF (tokenize + detokenize in memory)"},
    {'b', "bandwidth", "KBPS", "codec bandwidth (default: 6 if offered, else the lowest); "
                               "Opus bitrate (needed with --baseline)"},
    {OPT_BASELINE, "baseline", "opus", "also encode+decode each REF with libopus at -b kbps"},
    {OPT_CATEGORY, "category", "NAME", "category for every file (default: first folder under a "
                                       "folder operand, else \"-\")"},
    {OPT_PLOT, "plot", "DIR", "also write a spectrogram PNG per file and system into DIR (created)"},
    {0, NULL, NULL, NULL},
};

static int run_eval(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_eval = {
    .name = "eval",
    .summary = "Score decoded audio against the original: SI-SNR, mel distance, STOI, kbps.",
    .usage = "[options] REF EST | REF_DIR EST_DIR | -m MODEL [-b KBPS] [--baseline opus] REF...",
    .details =
        "REF EST: score one estimate. REF_DIR EST_DIR: score EST_DIR/P against REF_DIR/P\n"
        "for every audio file P under REF_DIR. With -m and/or --baseline opus, each REF\n"
        "(a file, or a folder walked for audio files) is encoded and decoded in memory\n"
        "and the result scored; with both, the table compares the two.\n"
        "\n"
        "Both signals are mixed to mono (other channel counts noted on stderr); an\n"
        "estimate at another rate is resampled to the reference's; if the lengths\n"
        "differ both are trimmed to the shorter (noted on stderr), but a pair whose\n"
        "lengths differ by more than 0.25 s and 10% of the longer is refused as not\n"
        "comparable. A file that is missing, empty or not audio is reported and\n"
        "skipped. Metrics: SI-SNR in dB (zero-mean, clamped to +-120; \"n/a\" for a\n"
        "silent reference); mel: mean L1 distance of log mel magnitudes over STFT\n"
        "sizes 512/1024/2048 (hop size/4, Hann, 64 HTK bands up to rate/2; lower is\n"
        "better), each mel value of both signals floored 80 dB below the reference's\n"
        "largest (as librosa's top_db = 80), so that differences far below the clip's\n"
        "level, which no one hears, do not count; STOI (Taal et al. 2011, at 10 kHz;\n"
        "\"n/a\" for a silent reference or under about 0.4 s of non-silent audio). kbps: token\n"
        "file size for the codec, raw Opus packet bytes (no Ogg container) for Opus,\n"
        "\"-\" for given files. Opus runs at 48 kHz (20 ms frames, VBR, its lookahead\n"
        "removed) on up to 2 channels; its output is resampled back to the reference rate.\n"
        "Files are read in blocks (the reference twice: once to find its loudest\n"
        "frame, which the STOI and mel floors depend on), so memory does not grow\n"
        "with their length (--plot reads them once more); one that is not a regular\n"
        "file (a pipe) is read into memory first.\n"
        "\n"
        "--plot DIR: for every row, DIR/<file>.<system>.png (the file's label with\n"
        "characters other than letters, digits, '.', '-', '_' made '_'): log-power\n"
        "spectrograms (1024-point Hann STFT, hop 256, at the reference's rate) of the\n"
        "original (top), the decoded audio (middle), both on one 80 dB magma scale,\n"
        "and their difference in dB (bottom; +-20 dB, red where the decoded audio is\n"
        "louder, blue where quieter). Time runs left to right (at most 2000 columns:\n"
        "longer files are pooled), frequency bottom to top up to rate/2.\n"
        "\n"
        "Output: one row per file and system, then the mean per category and system\n"
        "(n/a values left out of the mean). Exit status 2 if any file was missing,\n"
        "unreadable or not comparable (the others are still scored), 3 if an image\n"
        "cannot be written, 4 if the model cannot be loaded.\n",
    .opts = eval_opts,
    .run = run_eval,
};

/* ---- the list of files to score ---- */

typedef struct {
    char *ref;       /* reference path */
    char *est;       /* estimate path (pair modes), or NULL */
    char *label;     /* shown in the table */
    char *category;
} eval_item;

typedef struct {
    eval_item *v;
    size_t n, cap;
} eval_list;

static int list_add(eval_list *l, const char *ref, const char *est, const char *label, const char *category) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        eval_item *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    eval_item *it = &l->v[l->n];
    it->ref = strdup(ref);
    it->est = est ? strdup(est) : NULL;
    it->label = strdup(label);
    it->category = strdup(category);
    if (!it->ref || (est && !it->est) || !it->label || !it->category) {
        free(it->ref), free(it->est), free(it->label), free(it->category);
        return -1;
    }
    l->n++;
    return 0;
}

static void list_free(eval_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].ref), free(l->v[i].est), free(l->v[i].label), free(l->v[i].category);
    free(l->v);
}

static int is_audio_name(const char *name) {
    static const char *const exts[] = {"wav", "flac", "ogg", "opus", "mp3", "aiff", "aif", "au", "oga"};
    const char *e = cli_path_ext(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(e, exts[i])) return 1;
    return 0;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Add the audio files of the folder root (walked by cli_walk_tree, dot
 * files skipped): ref = root/rel, est = est_root/rel when est_root is given.
 * The category is the first component of rel ("-" at the top), unless
 * forced. Returns 0, or an exit code (printed). */
typedef struct {
    eval_list *l;
    const char *est_root, *forced_cat;
} eval_walk;

static int walk_file(const char *rel, const char *path, const struct stat *st, void *user) {
    const eval_walk *e = user;
    (void)st;
    if (!is_audio_name(rel)) return 0;
    char est[8192], cat[4096];
    if (e->est_root) snprintf(est, sizeof est, "%s/%s", e->est_root, rel);
    const char *slash = strchr(rel, '/');
    if (e->forced_cat) snprintf(cat, sizeof cat, "%s", e->forced_cat);
    else if (slash) snprintf(cat, sizeof cat, "%.*s", (int)(slash - rel), rel);
    else snprintf(cat, sizeof cat, "-");
    if (list_add(e->l, path, e->est_root ? est : NULL, e->est_root ? rel : path, cat))
        return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    return 0;
}

static int walk(const cli_common *c, eval_list *l, const char *root, const char *est_root, const char *forced_cat) {
    eval_walk e = {l, est_root, forced_cat};
    return cli_walk_tree(c, root, 1, walk_file, &e);
}

/* ---- audio sources ----
 *
 * Every signal is read in blocks of EVAL_BLOCK samples, never whole: the
 * reference is read once for the metrics' first pass and once per system
 * for the second (see sono_metrics_stream), the estimate once per system,
 * both once more for --plot.
 * A file that is not a regular file (a pipe) cannot be read twice: it is
 * copied once to an unlinked temporary file (cli_spool) and decoded from there. */

enum { EVAL_BLOCK = 16384 };

static int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

typedef struct {
    const char *path;
    char spool[32]; /* a file that is not a regular file (a pipe): its copy, /dev/fd/N (cli_spool), else "" */
    int spool_fd;
    int loaded;
} eval_file;

static void file_free(eval_file *f) {
    if (f->spool[0]) close(f->spool_fd);
}

/* Open path converted to rate (0: the file's) and channels (0: the file's).
 * Prints the error and returns NULL with *rc set on failure. */
static sono_audio_reader *file_open(eval_file *f, int rate, int channels, int *rc) {
    if (!f->loaded) {
        struct stat st;
        f->loaded = 1;
        const int found = stat(f->path, &st) == 0;
        if (found && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            if ((*rc = cli_spool(f->path, f->spool, sizeof f->spool, &f->spool_fd)) != 0) return NULL;
            if (f->spool_fd < 0) f->spool[0] = 0;
        }
        /* no --plot image may land on a file we score: registered once, at the first open */
        if (found && S_ISREG(st.st_mode) && (*rc = cli_protect_inputs(&f->path, 1)) != 0) return NULL;
    }
    int err = 0;
    sono_clear_error();
    sono_audio_reader *r = sono_audio_open(f->spool[0] ? f->spool : f->path, rate, channels, &err);
    if (!r) *rc = cli_fail_sono(f->path, err ? err : SONO_E_IO);
    return r;
}

/* Read up to max samples per channel (planar). A reader that ends before its
 * first sample is an error, as sono_audio_read_all has it. Returns the count,
 * 0 at the end, or an exit code (printed) as a negative number. */
static int64_t file_read(const eval_file *f, sono_audio_reader *r, float *out, int64_t max, int64_t so_far) {
    int64_t n = sono_audio_read(r, out, max);
    if (n < 0) return -cli_fail_sono(f->path, (int)n);
    if (n == 0 && so_far == 0) return -cli_fail(CLI_EXIT_DATA, f->path, "no audio samples");
    return n;
}

/* ---- systems under test ---- */

enum { SYS_FILES, SYS_CODEC, SYS_OPUS, SYS_COUNT };
static const char *const sys_names[SYS_COUNT] = {"file", "codec", "opus"};

typedef struct {
    int sys;
    double si_snr, mel, stoi, kbps; /* NaN: n/a */
    size_t item;
} eval_row;

enum { OPUS_RATE = 48000, OPUS_FRAME = 960, OPUS_MAX_PACKET = 4000 };

/* The estimate, produced in blocks: mono at the reference's rate. One per
 * row; est_start begins (or begins again) at the first sample. */
typedef struct {
    int sys;
    int rate, ref_rate;          /* rate of the system's output; the reference's */
    eval_file file;              /* SYS_FILES: the estimate; SYS_CODEC, SYS_OPUS: the reference */
    sono_audio_reader *r;
    /* SYS_CODEC */
    const sono_codec *codec;
    sono_tokens *tokens;
    sono_codec_stream *dec;
    /* SYS_OPUS */
    double kbps;
    OpusEncoder *oenc;
    OpusDecoder *odec;
    int la;                      /* the encoder's lookahead: decoded samples to drop */
    int64_t n_read, n_in, got;   /* samples read; of them fed with the padding; decoded */
    int ended;                   /* the reader is done */
    /* all */
    int ch;                      /* channels of the system's output */
    uint64_t bytes;              /* token file size, or Opus packet bytes */
    sono_metrics_resampler *rs;  /* to ref_rate, or NULL */
    float *pcm;                  /* [ch][EVAL_BLOCK] one block from the system */
    float *mono;                 /* [EVAL_BLOCK] */
    float *q;                    /* resampled samples waiting, [q_pos, q_len) */
    int64_t q_pos, q_len, q_cap;
    int64_t n_raw;               /* samples from the system so far */
    int done;
} est_src;

static void est_stop(est_src *e) {
    sono_audio_close(e->r);
    sono_codec_stream_free(e->dec);
    opus_encoder_destroy(e->oenc);
    opus_decoder_destroy(e->odec);
    sono_metrics_resampler_free(e->rs);
    e->r = NULL, e->dec = NULL, e->oenc = NULL, e->odec = NULL, e->rs = NULL;
}

static void est_free(est_src *e) {
    est_stop(e);
    sono_tokens_free(e->tokens);
    file_free(&e->file);
    free(e->pcm), free(e->mono), free(e->q);
}

/* Codec: encode the reference once (blocks through the encoder stream);
 * est_start then decodes the tokens. 0 or an exit code (printed). */
static int codec_encode(est_src *e, int n_q) {
    int rc = 0, err = 0;
    sono_audio_reader *r = file_open(&e->file, e->rate, e->ch, &rc);
    if (!r) return rc;
    sono_codec_stream *s = sono_codec_encoder_stream(e->codec, n_q, &err);
    int64_t n, total = 0;
    int src = s ? 0 : err ? err : SONO_E_NOMEM;
    while (!src && (n = file_read(&e->file, r, e->pcm, EVAL_BLOCK, total)) > 0) {
        src = sono_codec_encoder_push(s, e->pcm, n);
        total += n;
    }
    sono_audio_close(r);
    if (!src && n < 0) rc = (int)-n;
    if (!src && !rc) src = sono_codec_encoder_finish(s, &e->tokens);
    sono_codec_stream_free(s);
    uint8_t *buf = NULL;
    size_t n_bytes = 0;
    if (src >= 0 && !rc) src = sono_tokens_encode(e->tokens, &buf, &n_bytes);
    free(buf);
    e->bytes = n_bytes;
    if (src < 0) rc = cli_fail_sono(e->file.path, src);
    return rc;
}

/* Set up e for system sys: the estimate file (SYS_FILES, checked and noted
 * once here), or the reference run through the codec or Opus. 0 or an exit
 * code (printed). */
static int est_init(est_src *e, const cli_common *c, int sys, const eval_item *it, int ref_rate, int ref_ch,
                    const sono_codec *codec, int n_q, double kbps) {
    memset(e, 0, sizeof *e);
    e->sys = sys, e->ref_rate = ref_rate, e->codec = codec, e->kbps = kbps;
    e->file.path = sys == SYS_FILES ? it->est : it->ref;
    e->ch = sys == SYS_CODEC ? sono_codec_channels(codec) : sys == SYS_OPUS ? 2 : 1;
    e->rate = sys == SYS_CODEC ? sono_codec_sample_rate(codec) : sys == SYS_OPUS ? OPUS_RATE : ref_rate;
    e->pcm = malloc((size_t)EVAL_BLOCK * (size_t)e->ch * sizeof *e->pcm);
    e->mono = malloc((size_t)EVAL_BLOCK * sizeof *e->mono);
    e->q = malloc((size_t)EVAL_BLOCK * sizeof *e->q);
    e->q_cap = EVAL_BLOCK;
    if (!e->pcm || !e->mono || !e->q) return cli_fail(CLI_EXIT_IO, it->label, "out of memory");
    int rc = 0;
    if (sys == SYS_FILES) {
        sono_audio_reader *r = file_open(&e->file, ref_rate, 1, &rc);
        if (!r) return rc;
        int file_rate = sono_audio_file_rate(r), est_ch = sono_audio_file_channels(r);
        sono_audio_close(r);
        if (file_rate != ref_rate)
            cli_note(c, 1, "%s: estimate at %d Hz resampled to the reference's %d Hz", it->label, file_rate, ref_rate);
        if (est_ch != ref_ch)
            cli_note(c, 1, "%s: %d channel%s vs %d in the reference; both mixed to mono", it->label, est_ch,
                     est_ch == 1 ? "" : "s", ref_ch);
    } else if (sys == SYS_CODEC) {
        rc = codec_encode(e, n_q);
    }
    return rc;
}

/* Begin the estimate at its first sample. 0 or an exit code (printed). */
static int est_start(est_src *e, const char *label) {
    est_stop(e);
    e->q_pos = e->q_len = e->n_raw = 0, e->done = 0;
    int rc = 0, err = 0;
    if (e->sys == SYS_FILES) {
        if (!(e->r = file_open(&e->file, e->ref_rate, 1, &rc))) return rc;
    } else if (e->sys == SYS_CODEC) {
        if (!(e->dec = sono_codec_decoder_stream(e->codec, e->tokens, &err)))
            return cli_fail_sono(label, err ? err : SONO_E_NOMEM);
    } else {
        if (!(e->r = file_open(&e->file, OPUS_RATE, 0, &rc))) return rc;
        if (sono_audio_channels(e->r) > 2) { /* keep two channels: reopen as stereo (the reader's mapping) */
            sono_audio_close(e->r);
            if (!(e->r = file_open(&e->file, OPUS_RATE, 2, &rc))) return rc;
        }
        e->ch = sono_audio_channels(e->r);
        int oerr = 0;
        e->oenc = opus_encoder_create(OPUS_RATE, e->ch, OPUS_APPLICATION_AUDIO, &oerr);
        e->odec = oerr == OPUS_OK ? opus_decoder_create(OPUS_RATE, e->ch, &oerr) : NULL;
        if (!e->oenc || !e->odec)
            return cli_fail(CLI_EXIT_IO, e->file.path, "opus: %s", oerr != OPUS_OK ? opus_strerror(oerr) : "out of memory");
        if (opus_encoder_ctl(e->oenc, OPUS_SET_BITRATE((opus_int32)lround(e->kbps * 1000))) != OPUS_OK ||
            opus_encoder_ctl(e->oenc, OPUS_GET_LOOKAHEAD(&e->la)) != OPUS_OK)
            return cli_fail(CLI_EXIT_USAGE, e->file.path, "opus cannot run at %g kbps", e->kbps);
        e->n_read = e->n_in = e->got = 0, e->ended = 0, e->bytes = 0;
    }
    if (e->rate != e->ref_rate) {
        if (!(e->rs = sono_metrics_resampler_new(e->rate, e->ref_rate, &err)))
            return cli_fail(CLI_EXIT_IO, label, "out of memory");
        int64_t cap = sono_metrics_resampler_max_out(e->rs, EVAL_BLOCK);
        if (cap > e->q_cap) {
            free(e->q);
            if (!(e->q = malloc((size_t)cap * sizeof *e->q))) return cli_fail(CLI_EXIT_IO, label, "out of memory");
            e->q_cap = cap;
        }
    }
    return 0;
}

/* Planar [ch][n] to mono in place (the first n floats). */
static void mix_to_mono(float *x, int64_t n, int ch) {
    if (ch <= 1) return;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < ch; c++) s += x[(size_t)c * (size_t)n + (size_t)i];
        x[i] = (float)(s / ch);
    }
}

/* One Opus frame (OPUS_FRAME samples of input, zeros past the end, until
 * the encoder's lookahead is flushed) into e->mono: the decoded samples that
 * belong to the signal. Returns their count (0 at the end) or -exit code. */
static int64_t opus_step(est_src *e) {
    const int ch = e->ch;
    if (e->ended && e->n_in >= e->n_read + e->la) return 0;
    int64_t k = 0;
    if (!e->ended) {
        k = file_read(&e->file, e->r, e->mono, OPUS_FRAME, e->n_read);
        if (k < 0) return k;
        e->ended = k < OPUS_FRAME;
        e->n_read += k;
    }
    float in[OPUS_FRAME * 2], dout[OPUS_FRAME * 2];
    for (int i = 0; i < OPUS_FRAME; i++)
        for (int c = 0; c < ch; c++) in[i * ch + c] = i < k ? e->mono[(size_t)c * (size_t)k + (size_t)i] : 0.0f;
    e->n_in += OPUS_FRAME;
    unsigned char pkt[OPUS_MAX_PACKET];
    opus_int32 len = opus_encode_float(e->oenc, in, OPUS_FRAME, pkt, OPUS_MAX_PACKET);
    if (len < 0) return -cli_fail(CLI_EXIT_DATA, e->file.path, "opus encode: %s", opus_strerror(len));
    e->bytes += (uint64_t)len;
    int m = opus_decode_float(e->odec, pkt, len, dout, OPUS_FRAME, 0);
    if (m < 0) return -cli_fail(CLI_EXIT_DATA, e->file.path, "opus decode: %s", opus_strerror(m));
    int64_t w = 0;
    for (int i = 0; i < m; i++, e->got++) {
        int64_t at = e->got - e->la; /* the output lags the input by the lookahead */
        if (at < 0 || (e->ended && at >= e->n_read)) continue;
        double s = 0;
        for (int c = 0; c < ch; c++) s += dout[i * ch + c];
        e->mono[w++] = (float)(s / ch);
    }
    return w;
}

/* Next block of the system's output, mono at its own rate, into e->mono.
 * Returns the count, 0 at the end, or -exit code (printed). */
static int64_t est_raw(est_src *e, const char *label) {
    if (e->sys == SYS_FILES) return file_read(&e->file, e->r, e->mono, EVAL_BLOCK, e->n_raw);
    if (e->sys == SYS_CODEC) {
        int64_t n = sono_codec_decoder_pull(e->dec, e->pcm, EVAL_BLOCK);
        if (n < 0) return -cli_fail_sono(label, (int)n);
        mix_to_mono(e->pcm, n, e->ch);
        memcpy(e->mono, e->pcm, (size_t)n * sizeof *e->mono);
        return n;
    }
    for (;;) { /* Opus: frames until some output (the first frames give none) */
        int64_t n = opus_step(e);
        if (n != 0 || (e->ended && e->n_in >= e->n_read + e->la)) return n;
    }
}

/* Up to max samples of the estimate (mono at the reference's rate) into
 * out. Returns the count (max unless at the end), 0 at the end, or -exit
 * code (printed). */
static int64_t est_read(est_src *e, float *out, int64_t max, const char *label) {
    int64_t w = 0;
    while (w < max) {
        if (e->q_pos < e->q_len) {
            int64_t k = min_i64(e->q_len - e->q_pos, max - w);
            memcpy(out + w, e->q + e->q_pos, (size_t)k * sizeof *out);
            e->q_pos += k, w += k;
            continue;
        }
        if (e->done) break;
        int64_t n = est_raw(e, label);
        if (n < 0) return n;
        e->n_raw += n;
        e->q_pos = 0;
        if (e->rs) {
            e->q_len = n > 0 ? sono_metrics_resampler_push(e->rs, e->mono, n, e->q) : sono_metrics_resampler_finish(e->rs, e->q);
            if (e->q_len < 0) return -cli_fail(CLI_EXIT_IO, label, "out of memory");
        } else {
            memcpy(e->q, e->mono, (size_t)n * sizeof *e->q);
            e->q_len = n;
        }
        if (n == 0) e->done = 1;
    }
    return w;
}

/* Lengths may differ by codec padding or resampling; beyond both of these the
 * estimate is refused rather than scored on a prefix. */
#define MAX_LEN_DIFF_S 0.25
#define MAX_LEN_DIFF_FRAC 0.10

/* Progress of one file: the share of its passes done. */
typedef struct {
    cli_progress *prog;
    const char *label;
    double item, n_items;   /* this file's index, the count */
    int64_t unit;           /* samples of one pass (the reference's length; <= 0: unknown) */
    int64_t done;           /* samples of all passes so far */
    int n_passes;           /* passes expected for this file */
    int rate;
} eval_progress;

static void progress_add(eval_progress *p, int64_t n, const char *what) {
    p->done += n;
    if (!p->prog->enabled) return;
    double f = p->unit > 0 ? (double)p->done / ((double)p->unit * p->n_passes) : 0;
    if (f > 1) f = 1;
    char extra[256];
    snprintf(extra, sizeof extra, "%s %s %.0f s", p->label, what, p->unit > 0 ? (double)p->unit / p->rate : 0.0);
    cli_progress_update(p->prog, (p->item + f) / p->n_items, extra);
}

/* Pass 1: the reference alone. Sets *n_ref. 0 or an exit code (printed). */
static int ref_pass(eval_file *ref, sono_metrics_stream *s, float *buf, int64_t *n_ref, eval_progress *pg) {
    int rc = 0;
    sono_audio_reader *r = file_open(ref, 0, 1, &rc);
    if (!r) return rc;
    int64_t n, total = 0;
    while ((n = file_read(ref, r, buf, EVAL_BLOCK, total)) > 0) {
        if (sono_metrics_stream_push_ref(s, buf, n)) {
            n = -cli_fail(CLI_EXIT_IO, ref->path, "out of memory");
            break;
        }
        total += n;
        progress_add(pg, n, "reference");
    }
    sono_audio_close(r);
    *n_ref = total;
    return n < 0 ? (int)-n : 0;
}

/* Pass 2: the reference and the estimate in step over their common length,
 * each read to its end for the lengths. 0 or an exit code (printed). */
static int pair_pass(eval_file *ref, est_src *e, sono_metrics_stream *s, float *rb, float *eb, int64_t *n_ref,
                     int64_t *n_est, eval_progress *pg, const char *label) {
    int rc = 0;
    sono_audio_reader *r = file_open(ref, 0, 1, &rc);
    if (!r) return rc;
    if ((rc = est_start(e, label)) != 0) {
        sono_audio_close(r);
        return rc;
    }
    int64_t nr = 0, ne = 0, a = 1, b = 1;
    while (a > 0 || b > 0) {
        a = a > 0 ? file_read(ref, r, rb, EVAL_BLOCK, nr) : 0;
        if (a < 0) break;
        /* as many estimate samples as the reference gave (a block when it has ended) */
        int64_t want = a > 0 ? a : EVAL_BLOCK, got = 0;
        while (b > 0 && got < want) {
            b = est_read(e, eb + got, want - got, label);
            if (b > 0) got += b;
        }
        if (b < 0) break;
        int64_t both = min_i64(a, got), common = min_i64(nr, ne);
        /* push only the part of this block within both signals */
        if (nr == common && ne == common && both > 0 && sono_metrics_stream_push(s, rb, eb, both)) {
            b = -cli_fail(CLI_EXIT_IO, label, "out of memory");
            break;
        }
        nr += a, ne += got;
        progress_add(pg, max_i64(a, got), sys_names[e->sys]);
    }
    sono_audio_close(r);
    est_stop(e);
    *n_ref = nr, *n_est = ne;
    return a < 0 ? (int)-a : b < 0 ? (int)-b : 0;
}

/* Score system e against the reference: pass 2 (again when the metrics ask),
 * the length check, the scores into row. *n_common set. 0 or an exit code. */
static int score(const cli_common *c, const eval_item *it, eval_file *ref, int ref_rate, est_src *e,
                 sono_metrics_stream *s, float *rb, float *eb, eval_progress *pg, int64_t *n_common, eval_row *row) {
    const char *label = it->label;
    row->si_snr = row->mel = row->stoi = NAN;
    sono_metrics_scores sc;
    int64_t n_ref = 0, n_est = 0;
    int rc, runs = 0;
    for (;;) {
        if ((rc = pair_pass(ref, e, s, rb, eb, &n_ref, &n_est, pg, label)) != 0) return rc;
        int64_t n = min_i64(n_ref, n_est), diff = n_ref > n_est ? n_ref - n_est : n_est - n_ref;
        *n_common = n;
        if (runs++ == 0) {
            if ((double)diff > MAX_LEN_DIFF_S * ref_rate && (double)diff > MAX_LEN_DIFF_FRAC * (double)(n + diff))
                return cli_fail(CLI_EXIT_DATA, label,
                                "lengths differ too much to compare (%.3f s vs %.3f s): not a decode of this reference?",
                                (double)n_ref / ref_rate, (double)n_est / ref_rate);
            if (n_ref != n_est)
                cli_note(c, 1, "%s: lengths differ (%lld vs %lld samples at %d Hz); trimmed to the shorter", label,
                         (long long)n_ref, (long long)n_est, ref_rate);
            if (n < 1) return cli_fail(CLI_EXIT_DATA, label, "no samples to compare");
        }
        rc = sono_metrics_stream_finish(s, &sc);
        if (rc != 1) break;
        pg->n_passes++; /* the estimate ended early: once more with the levels of the common part */
    }
    if (rc < 0) return cli_fail(CLI_EXIT_IO, label, "out of memory");
    row->si_snr = sc.si_snr, row->mel = sc.mel, row->stoi = sc.stoi;
    if (isnan(sc.stoi)) cli_note(c, 2, "%s: STOI undefined (silent reference or too little non-silent audio)", label);
    return 0;
}

/* ---- spectrogram images (--plot) ---- */

/* One PNG per scored file and system: three panels stacked top to bottom,
 * original | decoded | difference, separated by white lines. Panels are log
 * power STFTs (Hann, PLOT_NFFT, PLOT_HOP, frames centred on t = f * hop with
 * zeros outside the signal), time on x, frequency on y (0 Hz at the bottom,
 * PLOT_NFFT / 2 bins pooled in pairs into PLOT_ROWS rows, so the top row ends
 * at rate/2). The two spectrograms share a colour scale: the loudest cell of
 * either (but at least PLOT_TOP_MIN_DB re a full-scale sine, so silence is
 * dark) at the top of magma, PLOT_RANGE_DB below it at the bottom. The third
 * panel is decoded minus original in dB (each floored at the bottom of the
 * scale first, so silence on both sides reads 0), +-PLOT_DIFF_DB on a
 * blue-white-red scale: red where the decoded audio has more energy. Long
 * files are pooled to PLOT_MAX_COLS columns (mean power of the frames in a
 * column), short ones stretched to PLOT_MIN_COLS. */
enum {
    PLOT_NFFT = 1024,
    PLOT_HOP = 256,
    PLOT_ROWS = 256,
    PLOT_MAX_COLS = 2000,
    PLOT_MIN_COLS = 200,
    PLOT_SEP = 3,
    PLOT_RANGE_DB = 80,
    PLOT_DIFF_DB = 20,
    PLOT_TOP_MIN_DB = -100, /* the top of the scale is at least this (dB re a full-scale sine) */
};

/* Columns of one signal's dB spectrogram, out [PLOT_ROWS][cols] (row 0
 * lowest), built as the samples arrive: frames are computed PLOT_BATCH at a
 * time (one FFT plan per batch) from a window of the samples they cover,
 * and each column is the mean power of its frames. */
enum { PLOT_BATCH = 64, PLOT_SPAN = (PLOT_BATCH - 1) * PLOT_HOP + PLOT_NFFT };

typedef struct {
    int64_t n, n_frames;     /* samples; frames, centred on f * PLOT_HOP */
    int cols, c;             /* columns; the one being filled */
    float *out;
    float *buf;              /* samples [start, start + len), room for PLOT_SPAN + EVAL_BLOCK */
    int64_t start, len, f;   /* f: the next frame */
    float *span;             /* [PLOT_SPAN] the samples of one batch, zeros outside the signal */
    double *pw;              /* [PLOT_BATCH][PLOT_NFFT / 2 + 1] */
    double col[PLOT_ROWS];
} plot_cols;

static int plot_cols_init(plot_cols *p, int64_t n, int cols, float *out) {
    memset(p, 0, sizeof *p);
    p->n = n, p->n_frames = n / PLOT_HOP + 1, p->cols = cols, p->out = out;
    p->buf = malloc((PLOT_SPAN + EVAL_BLOCK) * sizeof *p->buf);
    p->span = malloc(PLOT_SPAN * sizeof *p->span);
    p->pw = malloc(sizeof(double) * PLOT_BATCH * (PLOT_NFFT / 2 + 1));
    return p->buf && p->span && p->pw ? 0 : -1;
}

static void plot_cols_free(plot_cols *p) { free(p->buf), free(p->span), free(p->pw); }

/* Column range [f0, f1) of frames; a short file's columns repeat frames. */
static void plot_col_frames(const plot_cols *p, int c, int64_t *f0, int64_t *f1) {
    *f0 = (int64_t)c * p->n_frames / p->cols, *f1 = (int64_t)(c + 1) * p->n_frames / p->cols;
    if (*f1 <= *f0) *f1 = *f0 + 1;
}

/* Frame f's power: add it to the columns it belongs to, close those it ends. */
static void plot_frame(plot_cols *p, int64_t f, const double *pw) {
    const double full = (double)PLOT_NFFT * PLOT_NFFT / 16.0; /* dB re a full-scale sine (|X| = N/4) */
    for (int64_t f0, f1; p->c < p->cols; p->c++) {
        plot_col_frames(p, p->c, &f0, &f1);
        if (f < f0) return;
        if (f == f0)
            for (int r = 0; r < PLOT_ROWS; r++) p->col[r] = 0;
        for (int b = 0; b < PLOT_NFFT / 2; b++) p->col[b * PLOT_ROWS / (PLOT_NFFT / 2)] += pw[b];
        if (f < f1 - 1) return;
        for (int r = 0; r < PLOT_ROWS; r++)
            p->out[(size_t)r * (size_t)p->cols + (size_t)p->c] =
                (float)(10.0 * log10(p->col[r] / (double)(f1 - f0) / full + 1e-20));
    }
}

/* Take k samples (the signal's next, within its n); compute every batch of
 * frames they complete (all remaining ones once the signal is in). 0 or -1. */
static int plot_cols_push(plot_cols *p, const float *x, int64_t k) {
    if (p->len + k > PLOT_SPAN + EVAL_BLOCK) { /* keep from the next frame's first sample */
        int64_t drop = p->f * PLOT_HOP - PLOT_NFFT / 2 - p->start;
        if (drop > p->len) drop = p->len;
        if (drop > 0) {
            memmove(p->buf, p->buf + drop, (size_t)(p->len - drop) * sizeof *p->buf);
            p->start += drop, p->len -= drop;
        }
    }
    memcpy(p->buf + p->len, x, (size_t)k * sizeof *x);
    p->len += k;
    const int64_t have = p->start + p->len;
    for (;;) {
        int64_t nf = p->n_frames - p->f;
        if (nf > PLOT_BATCH) nf = PLOT_BATCH;
        /* the batch's last window ends at (f + nf - 1) * hop + nfft / 2, or the signal does */
        while (nf > 0 && have < p->n && (p->f + nf - 1) * PLOT_HOP + PLOT_NFFT / 2 > have) nf--;
        if (nf < 1) return 0;
        const int64_t s0 = p->f * PLOT_HOP - PLOT_NFFT / 2;
        for (int64_t j = 0; j < PLOT_SPAN; j++) {
            int64_t t = s0 + j;
            p->span[j] = t >= 0 && t < p->n && t < have ? p->buf[t - p->start] : 0.0f;
        }
        /* frames centred on (2 + i) * hop of the span: i * hop - nfft / 2 + nfft / 2 = s0 + i * hop */
        if (sono_metrics_power_spectrogram(p->span, PLOT_SPAN, PLOT_NFFT, PLOT_HOP, PLOT_NFFT / 2 / PLOT_HOP, nf, p->pw))
            return -1;
        for (int64_t i = 0; i < nf; i++) plot_frame(p, p->f + i, p->pw + i * (PLOT_NFFT / 2 + 1));
        p->f += nf;
    }
}

/* Piecewise-linear colour maps: t in [0, 1] -> RGB. */
static void plot_colour(const uint8_t (*stops)[3], int n_stops, double t, uint8_t *rgb) {
    if (!(t > 0)) t = 0; /* NaN too */
    if (t > 1) t = 1;
    double pos = t * (n_stops - 1);
    int i = (int)pos;
    if (i >= n_stops - 1) i = n_stops - 2;
    double u = pos - i;
    for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)lround(stops[i][k] + u * (stops[i + 1][k] - stops[i][k]));
}

static const uint8_t magma[9][3] = {{0, 0, 4},       {28, 16, 68},    {79, 18, 123},
                                    {129, 37, 129},  {181, 54, 122},  {229, 80, 100},
                                    {251, 135, 97},  {254, 194, 135}, {252, 253, 191}};
static const uint8_t diverging[3][3] = {{59, 76, 192}, {245, 245, 245}, {180, 4, 38}};

static int png_write_rgb(FILE *f, const uint8_t *rgb, int w, int h) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, rgb + (size_t)y * (size_t)w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* DIR/<label with every byte outside [A-Za-z0-9._-] made '_', no leading dot>.<system>.png */
static int plot_path(char *out, size_t size, const char *dir, const char *label, const char *sys) {
    size_t len = strlen(dir);
    int w = snprintf(out, size, "%s%s", dir, len && dir[len - 1] == '/' ? "" : "/");
    if (w < 0 || (size_t)w >= size) return -1;
    size_t o = (size_t)w;
    for (const char *p = label; *p && o + 1 < size; p++) {
        unsigned char ch = (unsigned char)*p;
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                   ch == '_' || (ch == '.' && o > (size_t)w);
        out[o++] = keep ? (char)ch : '_';
    }
    out[o] = 0;
    w = snprintf(out + o, size - o, ".%s.png", sys);
    return w < 0 || (size_t)w >= size - o ? -1 : 0;
}

/* Columns of an image of n samples. */
static int plot_n_cols(int64_t n) {
    int64_t n_frames = n / PLOT_HOP + 1;
    return n_frames > PLOT_MAX_COLS ? PLOT_MAX_COLS : n_frames < PLOT_MIN_COLS ? PLOT_MIN_COLS : (int)n_frames;
}

/* Write the image from the dB spectrograms db [2][PLOT_ROWS][cols] of the
 * reference and the estimate to path. 0 or an exit code (printed). */
static int plot_write(const char *path, const float *db, int cols) {
    const int h = 3 * PLOT_ROWS + 2 * PLOT_SEP;
    size_t cells = (size_t)PLOT_ROWS * (size_t)cols;
    uint8_t *rgb = malloc((size_t)h * (size_t)cols * 3);
    int rc = 0;
    if (!rgb) {
        rc = cli_fail(CLI_EXIT_IO, path, "out of memory");
        goto done;
    }
    float top = PLOT_TOP_MIN_DB; /* so that silence stays dark */
    for (size_t i = 0; i < 2 * cells; i++)
        if (db[i] > top) top = db[i];
    const double lo = top - PLOT_RANGE_DB;
    memset(rgb, 255, (size_t)h * (size_t)cols * 3); /* the separators */
    for (int panel = 0; panel < 3; panel++)
        for (int r = 0; r < PLOT_ROWS; r++) {
            int y = panel * (PLOT_ROWS + PLOT_SEP) + PLOT_ROWS - 1 - r;
            uint8_t *px = rgb + (size_t)y * (size_t)cols * 3;
            for (int c = 0; c < cols; c++, px += 3) {
                size_t i = (size_t)r * (size_t)cols + (size_t)c;
                double a = db[i] > lo ? db[i] : lo, b = db[cells + i] > lo ? db[cells + i] : lo;
                if (panel < 2) plot_colour(magma, 9, ((panel ? b : a) - lo) / PLOT_RANGE_DB, px);
                else plot_colour(diverging, 3, 0.5 + 0.5 * (b - a) / PLOT_DIFF_DB, px);
            }
        }
    int err = 0;
    sono_clear_error();
    sono_output *out = sono_output_open(path, 0, &err);
    FILE *f = out ? sono_output_stream(out) : NULL;
    if (!out) {
        rc = cli_fail_sono(path, err);
    } else if (!f || png_write_rgb(f, rgb, cols, h) != 0) {
        rc = cli_fail(CLI_EXIT_IO, path, "cannot write the image");
        sono_output_abort(out);
    } else if ((err = sono_output_commit(out)) != 0) {
        rc = cli_fail_sono(path, err);
    }
done:
    free(rgb);
    return rc;
}

/* --plot: one more pass over the first n samples of the reference and the
 * estimate, into their spectrogram columns db [2][PLOT_ROWS][cols]. 0 or an
 * exit code (printed). */
static int plot_pass(eval_file *ref, est_src *e, int64_t n, float *rb, float *eb, float *db, int cols,
                     eval_progress *pg, const char *label) {
    plot_cols pr = {0}, pe = {0};
    int rc = 0;
    if (plot_cols_init(&pr, n, cols, db) || plot_cols_init(&pe, n, cols, db + (size_t)PLOT_ROWS * (size_t)cols)) {
        rc = cli_fail(CLI_EXIT_IO, label, "out of memory");
        goto done;
    }
    sono_audio_reader *r = file_open(ref, 0, 1, &rc);
    if (!r) goto done;
    if ((rc = est_start(e, label)) == 0) {
        for (int64_t at = 0, k; at < n && !rc; at += k) {
            int64_t want = min_i64(EVAL_BLOCK, n - at), a = file_read(ref, r, rb, want, at);
            k = a == want ? est_read(e, eb, want, label) : a;
            if (k < 0) rc = (int)-k;
            else if (a != want || k != want) rc = cli_fail(CLI_EXIT_DATA, label, "changed while being read");
            else if (plot_cols_push(&pr, rb, k) || plot_cols_push(&pe, eb, k)) rc = cli_fail(CLI_EXIT_IO, label, "out of memory");
            if (!rc) progress_add(pg, k, "image");
        }
    }
    sono_audio_close(r);
    est_stop(e);
done:
    plot_cols_free(&pr), plot_cols_free(&pe);
    return rc;
}

/* ---- table ---- */

static void fmt_val(char *out, size_t n, double v, const char *fmt) {
    if (isnan(v)) snprintf(out, n, "n/a");
    else snprintf(out, n, fmt, v);
}

static void print_row(int w_cat, int w_file, const char *cat, const char *file, const char *sys, double snr,
                      double mel, double stoi, double kbps) {
    char a[32], b[32], s[32], k[32];
    fmt_val(a, sizeof a, snr, "%.2f");
    fmt_val(b, sizeof b, mel, "%.3f");
    fmt_val(s, sizeof s, stoi, "%.4f");
    fmt_val(k, sizeof k, kbps, "%.2f");
    printf("%-*s  %-*s  %-6s  %9s  %8s  %7s  %8s\n", w_cat, cat, w_file, file, sys, a, b, s, k);
}

static void print_table(const eval_list *l, const eval_row *rows, size_t n_rows) {
    int w_cat = 8, w_file = 4;
    for (size_t i = 0; i < l->n; i++) {
        int a = (int)strlen(l->v[i].category), b = (int)strlen(l->v[i].label);
        if (a > w_cat) w_cat = a;
        if (b > w_file) w_file = b;
    }
    if (w_file < 12) w_file = 12;
    printf("%-*s  %-*s  %-6s  %9s  %8s  %7s  %8s\n", w_cat, "category", w_file, "file", "system", "si_snr_dB",
           "mel_dist", "stoi", "kbps");
    for (size_t r = 0; r < n_rows; r++) {
        const eval_item *it = &l->v[rows[r].item];
        print_row(w_cat, w_file, it->category, it->label, sys_names[rows[r].sys], rows[r].si_snr, rows[r].mel,
                  rows[r].stoi, rows[r].kbps);
    }
    /* means per category (in order of first appearance) and system */
    for (size_t r = 0; r < n_rows; r++) {
        const char *cat = l->v[rows[r].item].category;
        int seen = 0;
        for (size_t q = 0; q < r && !seen; q++)
            seen = rows[q].sys == rows[r].sys && !strcmp(l->v[rows[q].item].category, cat);
        if (seen) continue;
        double sum[4] = {0}, cnt[4] = {0};
        int files = 0;
        for (size_t q = r; q < n_rows; q++) {
            if (rows[q].sys != rows[r].sys || strcmp(l->v[rows[q].item].category, cat)) continue;
            const double v[4] = {rows[q].si_snr, rows[q].mel, rows[q].stoi, rows[q].kbps};
            for (int k = 0; k < 4; k++)
                if (!isnan(v[k])) sum[k] += v[k], cnt[k]++;
            files++;
        }
        char label[64];
        snprintf(label, sizeof label, "mean of %d", files);
        double m[4];
        for (int k = 0; k < 4; k++) m[k] = cnt[k] > 0 ? sum[k] / cnt[k] : NAN;
        print_row(w_cat, w_file, cat, label, sys_names[rows[r].sys], m[0], m[1], m[2], m[3]);
    }
}

/* ---- the command ---- */

static int run_eval(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *model = NULL, *category = NULL, *plot_dir = NULL;
    double kbps_opt = 0;
    int opus = 0, have_b = 0;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': model = arg; break;
        case 'b':
            if (cli_parse_double(arg, 0.01, 10000, &kbps_opt))
                rc = cli_usage_error(cmd, "--bandwidth wants a positive number of kbps, not '%s'", arg);
            have_b = 1;
            break;
        case OPT_BASELINE:
            if (strcmp(arg, "opus") != 0) rc = cli_usage_error(cmd, "--baseline knows only 'opus', not '%s'", arg);
            opus = 1;
            break;
        case OPT_CATEGORY: category = arg; break;
        case OPT_PLOT: plot_dir = arg; break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    int n_ops = argc - first;
    int systems = model || opus;
    if (opus && !have_b) return cli_usage_error(cmd, "--baseline opus needs a bitrate: -b KBPS");
    if (opus && (kbps_opt < 0.5 || kbps_opt > 512))
        return cli_usage_error(cmd, "Opus runs from 0.5 to 512 kbps, not %g", kbps_opt);
    if (!systems && have_b) return cli_usage_error(cmd, "-b needs -m MODEL or --baseline opus");
    if (systems && n_ops < 1) return cli_usage_error(cmd, "no reference files given");
    if (!systems && n_ops != 2) return cli_usage_error(cmd, "give REF EST (two files or two folders), or -m MODEL REF...");
    cli_install_log(&c);
    if (plot_dir) {
        char probe[4096];
        int e = snprintf(probe, sizeof probe, "%s/x", plot_dir) >= (int)sizeof probe ? ENAMETOOLONG
                                                                                       : cli_mkdir_parents(probe);
        if (e) return cli_fail_errno(plot_dir, e);
    }

    eval_list list = {0};
    eval_row *rows = NULL;
    size_t n_rows = 0;
    sono_codec *codec = NULL;
    int n_q = 0, worst = 0, n_plots = 0;
    if (!systems) {
        const char *ref = argv[first], *est = argv[first + 1];
        int dr = is_dir(ref), de = is_dir(est);
        if (dr != de) {
            rc = cli_usage_error(cmd, "REF and EST must both be files or both be folders");
            goto done;
        }
        if (dr) rc = walk(&c, &list, ref, est, category);
        else rc = list_add(&list, ref, est, ref, category ? category : "-") ? cli_fail(CLI_EXIT_IO, NULL, "out of memory") : 0;
        if (rc) goto done;
        if (list.n == 0) {
            rc = cli_fail(CLI_EXIT_DATA, ref, "no audio files found");
            goto done;
        }
    } else {
        for (int i = first; i < argc; i++) {
            if (is_dir(argv[i])) rc = walk(&c, &list, argv[i], NULL, category);
            else rc = list_add(&list, argv[i], NULL, argv[i], category ? category : "-") ? cli_fail(CLI_EXIT_IO, NULL, "out of memory") : 0;
            if (rc) goto done;
        }
        if (model) {
            codec = cli_load_codec(&c, model, &rc);
            if (!codec) goto done;
            double chosen = 0;
            n_q = cli_pick_n_q(codec, have_b ? kbps_opt : 0, &chosen, &rc);
            if (n_q < 0) goto done;
            cli_note(&c, 2, "codec %s at %g kbps (%d codebooks)", sono_codec_name(codec), chosen, n_q);
        }
    }
    rows = calloc(list.n * 2 + 1, sizeof *rows);
    if (!rows) {
        rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        goto done;
    }

    cli_progress prog;
    cli_progress_init(&prog, &c, "eval");
    cli_stats st;
    cli_stats_init(&st);
    float *rb = malloc(EVAL_BLOCK * sizeof *rb), *eb = malloc(EVAL_BLOCK * sizeof *eb);
    if (!rb || !eb) {
        free(rb), free(eb);
        rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        goto done;
    }
    const int n_sys = systems ? !!codec + opus : 1;
    for (size_t i = 0; i < list.n; i++) {
        const eval_item *it = &list.v[i];
        cli_progress_update(&prog, (double)i / (double)list.n, it->label);
        eval_file ref = {.path = it->ref};
        int frc = 0;
        sono_audio_reader *r = file_open(&ref, 0, 1, &frc);
        if (!r) {
            cli_progress_clear(&prog);
            if (!worst) worst = frc;
            file_free(&ref);
            continue;
        }
        const int ref_rate = sono_audio_rate(r), ref_ch = sono_audio_file_channels(r);
        eval_progress pg = {&prog, it->label, (double)i, (double)list.n, sono_audio_length(r), 0,
                            1 + n_sys * (plot_dir ? 2 : 1), ref_rate};
        sono_audio_close(r);
        sono_metrics_stream *ms = NULL; /* after pass 1 over the reference */
        int64_t n_ref = -1;
        int ref_bad = 0;
        for (int sys = 0; sys < SYS_COUNT; sys++) {
            if ((sys == SYS_FILES) != !systems || (sys == SYS_CODEC && !codec) || (sys == SYS_OPUS && !opus))
                continue;
            eval_row row = {.sys = sys, .item = i, .kbps = NAN};
            est_src e;
            frc = est_init(&e, &c, sys, it, ref_rate, ref_ch, codec, n_q, kbps_opt);
            if (!frc && !ms) {
                int err = 0;
                if (!(ms = sono_metrics_stream_new(ref_rate, &err))) {
                    frc = cli_fail(CLI_EXIT_IO, it->label, "out of memory");
                } else if ((frc = ref_pass(&ref, ms, rb, &n_ref, &pg)) != 0) {
                    ref_bad = 1;
                    est_free(&e);
                    cli_progress_clear(&prog);
                    if (!worst) worst = frc;
                    break; /* the reference itself is bad: no row for any system */
                }
                pg.unit = n_ref;
            }
            int64_t n_common = 0;
            if (!frc) {
                frc = score(&c, it, &ref, ref_rate, &e, ms, rb, eb, &pg, &n_common, &row);
                if (frc) { /* a pass 2 left unfinished: the next system starts from pass 1 */
                    sono_metrics_stream_free(ms);
                    ms = NULL;
                }
            }
            if (!frc && sys != SYS_FILES && n_ref > 0) {
                row.kbps = (double)e.bytes * 8.0 / ((double)n_ref / ref_rate) / 1000.0;
                if (sys == SYS_CODEC) st.token_bytes += e.bytes;
            }
            if (!frc && plot_dir) {
                char path[8192];
                int cols = plot_n_cols(n_common);
                float *db = malloc(sizeof(float) * 2 * PLOT_ROWS * (size_t)cols);
                int prc = plot_path(path, sizeof path, plot_dir, it->label, sys_names[sys]) != 0
                              ? cli_fail(CLI_EXIT_IO, it->label, "--plot: path too long")
                          : !db ? cli_fail(CLI_EXIT_IO, it->label, "out of memory")
                                : plot_pass(&ref, &e, n_common, rb, eb, db, cols, &pg, it->label);
                if (!prc) prc = plot_write(path, db, cols);
                if (!prc) n_plots++;
                if (prc && !worst) worst = prc;
                free(db);
            }
            est_free(&e);
            if (frc) {
                cli_progress_clear(&prog);
                if (!worst) worst = frc;
                continue;
            }
            rows[n_rows++] = row;
        }
        if (!ref_bad) {
            st.files++;
            st.audio_seconds += (double)(n_ref >= 0 ? n_ref : max_i64(pg.unit, 0)) / ref_rate;
        }
        sono_metrics_stream_free(ms);
        file_free(&ref);
    }
    free(rb), free(eb);
    cli_progress_clear(&prog);
    print_table(&list, rows, n_rows);
    if (fflush(stdout) != 0) {
        rc = cli_fail_errno("<stdout>", errno);
        goto done;
    }
    if (c.verbosity >= 1) {
        char images[64] = "";
        if (plot_dir) snprintf(images, sizeof images, ", %d image%s", n_plots, n_plots == 1 ? "" : "s");
        fprintf(stderr, "sonotok: eval: %lld file%s, %.1f s of audio, %zu row%s%s in %.1f s%s\n", (long long)st.files,
                st.files == 1 ? "" : "s", st.audio_seconds, n_rows, n_rows == 1 ? "" : "s", images,
                cli_now() - st.t_start, worst ? " (some files failed)" : "");
    }
    rc = worst;
done:
    sono_codec_free(codec);
    free(rows);
    list_free(&list);
    return rc;
}
