/* sonotok eval: how close is decoded audio to the original? Scores pairs of
 * files (or folders of pairs), or runs the codec (-m) and/or Opus
 * (--baseline opus) on reference files in memory, and prints a table of
 * SI-SNR, multi-scale mel distance, STOI and effective bitrate per file and
 * the mean per category.
 *
 * Metrics come from the public sonotok/metrics.h. They are computed on mono
 * mixes at the reference's own rate; estimates at another rate are
 * resampled to it. */
#include <errno.h>
#include <math.h>
#include <opus/opus.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
        "silent reference); mel: mean L1 of log(mel + 1e-5) over STFT sizes 512/1024/2048 (hop size/4, Hann, 64 HTK\n"
        "bands up to rate/2; lower is better); STOI (Taal et al. 2011, at 10 kHz; \"n/a\"\n"
        "for a silent reference or under about 0.4 s of non-silent audio). kbps: token\n"
        "file size for the codec, raw Opus packet bytes (no Ogg container) for Opus,\n"
        "\"-\" for given files. Opus runs at 48 kHz (20 ms frames, VBR, its lookahead\n"
        "removed) on up to 2 channels; its output is resampled back to the reference rate.\n"
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

/* ---- audio helpers ---- */

/* Read path as mono (channels 1) or the file's channels (0) at rate (0: the
 * file's). Prints the error and returns its exit code on failure. */
static int read_audio(const char *path, int rate, int channels, float **pcm, int64_t *n,
                      int *out_rate, int *file_rate, int *out_channels, int *file_channels) {
    int err = 0;
    sono_audio_reader *r = sono_audio_open(path, rate, channels, &err);
    if (!r) return cli_fail_sono(path, err ? err : SONO_E_IO);
    if (out_rate) *out_rate = sono_audio_rate(r);
    if (file_rate) *file_rate = sono_audio_file_rate(r);
    if (out_channels) *out_channels = sono_audio_channels(r);
    if (file_channels) *file_channels = sono_audio_file_channels(r);
    int rc = sono_audio_read_all(r, pcm, n);
    sono_audio_close(r);
    if (rc < 0) return cli_fail_sono(path, rc);
    /* no --plot image may land on a file we scored */
    return cli_protect_inputs(&path, 1);
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

/* x (n samples at from) to a new buffer at rate to; *n updated. */
static float *resample_to(float *x, int64_t *n, int from, int to) {
    if (from == to) return x;
    int64_t m = sono_metrics_resample_len(*n, from, to);
    float *y = malloc((size_t)(m > 0 ? m : 1) * sizeof *y);
    if (y && sono_metrics_resample(x, *n, from, to, y) != 0) {
        free(y);
        y = NULL;
    }
    free(x);
    *n = m;
    return y;
}

/* ---- systems under test ---- */

enum { SYS_FILES, SYS_CODEC, SYS_OPUS, SYS_COUNT };
static const char *const sys_names[SYS_COUNT] = {"file", "codec", "opus"};

typedef struct {
    int sys;
    double si_snr, mel, stoi, kbps; /* NaN: n/a */
    size_t item;
} eval_row;

/* Codec round trip: returns 0 with *est (mono, at *est_rate) and *bytes. */
static int run_codec(const sono_codec *codec, int n_q, const char *path, float **est, int64_t *n_est,
                     int *est_rate, uint64_t *bytes) {
    int rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec);
    float *pcm = NULL, *out = NULL;
    int64_t n = 0, n_out = 0;
    int rc = read_audio(path, rate, ch, &pcm, &n, NULL, NULL, NULL, NULL);
    if (rc) return rc;
    sono_tokens *t = NULL;
    uint8_t *buf = NULL;
    size_t n_bytes = 0;
    int src = sono_codec_encode(codec, pcm, n, n_q, &t);
    if (src >= 0) src = sono_tokens_encode(t, &buf, &n_bytes);
    if (src >= 0) src = sono_codec_decode(codec, t, &out, &n_out);
    free(pcm);
    free(buf);
    sono_tokens_free(t);
    if (src < 0) {
        free(out);
        return cli_fail_sono(path, src);
    }
    mix_to_mono(out, n_out, ch);
    *est = out;
    *n_est = n_out;
    *est_rate = rate;
    *bytes = n_bytes;
    return 0;
}

enum { OPUS_RATE = 48000, OPUS_FRAME = 960, OPUS_MAX_PACKET = 4000 };

/* Opus round trip at kbps on up to 2 channels: *est mono at 48 kHz. */
static int run_opus(double kbps, const char *path, float **est, int64_t *n_est, uint64_t *bytes) {
    float *pcm = NULL;
    int64_t n = 0;
    int ch = 0;
    int rc = read_audio(path, OPUS_RATE, 0, &pcm, &n, NULL, NULL, &ch, NULL);
    if (rc) return rc;
    if (ch > 2) { /* keep two channels: reread as stereo (the reader's mapping) */
        free(pcm);
        if ((rc = read_audio(path, OPUS_RATE, 2, &pcm, &n, NULL, NULL, &ch, NULL))) return rc;
    }
    int oerr = 0, la = 0;
    OpusEncoder *enc = opus_encoder_create(OPUS_RATE, ch, OPUS_APPLICATION_AUDIO, &oerr);
    OpusDecoder *dec = oerr == OPUS_OK ? opus_decoder_create(OPUS_RATE, ch, &oerr) : NULL;
    float *in = malloc((size_t)OPUS_FRAME * (size_t)ch * sizeof *in);
    float *dout = malloc((size_t)OPUS_FRAME * (size_t)ch * sizeof *dout);
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y);
    unsigned char pkt[OPUS_MAX_PACKET];
    uint64_t total = 0;
    if (!enc || !dec || !in || !dout || !y) {
        rc = cli_fail(CLI_EXIT_IO, path, "opus: %s", oerr != OPUS_OK ? opus_strerror(oerr) : "out of memory");
        goto done;
    }
    if (opus_encoder_ctl(enc, OPUS_SET_BITRATE((opus_int32)lround(kbps * 1000))) != OPUS_OK ||
        opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&la)) != OPUS_OK) {
        rc = cli_fail(CLI_EXIT_USAGE, path, "opus cannot run at %g kbps", kbps);
        goto done;
    }
    /* The decoder's output lags the input by the encoder's lookahead: feed
     * la extra zeros and drop the first la decoded samples. */
    int64_t n_in = n + la, got = 0;
    for (int64_t off = 0; off < n_in; off += OPUS_FRAME) {
        for (int i = 0; i < OPUS_FRAME; i++)
            for (int c = 0; c < ch; c++) {
                int64_t k = off + i;
                in[i * ch + c] = k < n ? pcm[(size_t)c * (size_t)n + (size_t)k] : 0.0f;
            }
        opus_int32 len = opus_encode_float(enc, in, OPUS_FRAME, pkt, OPUS_MAX_PACKET);
        if (len < 0) {
            rc = cli_fail(CLI_EXIT_DATA, path, "opus encode: %s", opus_strerror(len));
            goto done;
        }
        total += (uint64_t)len;
        int m = opus_decode_float(dec, pkt, len, dout, OPUS_FRAME, 0);
        if (m < 0) {
            rc = cli_fail(CLI_EXIT_DATA, path, "opus decode: %s", opus_strerror(m));
            goto done;
        }
        for (int i = 0; i < m; i++, got++) {
            int64_t k = got - la;
            if (k < 0 || k >= n) continue;
            double s = 0;
            for (int c = 0; c < ch; c++) s += dout[i * ch + c];
            y[k] = (float)(s / ch);
        }
    }
    *est = y;
    y = NULL;
    *n_est = n;
    *bytes = total;
done:
    opus_encoder_destroy(enc);
    opus_decoder_destroy(dec);
    free(in), free(dout), free(y), free(pcm);
    return rc;
}

/* Lengths may differ by codec padding or resampling; beyond both of these the
 * estimate is refused rather than scored on a prefix. */
#define MAX_LEN_DIFF_S 0.25
#define MAX_LEN_DIFF_FRAC 0.10

/* Score est against ref (both mono at ref_rate) over their common length *n
 * (set). */
static int score(const cli_common *c, const char *label, const float *ref, int64_t n_ref, int ref_rate,
                 const float *est, int64_t n_est, int64_t *n_common, eval_row *row) {
    int64_t n = n_ref < n_est ? n_ref : n_est;
    *n_common = n;
    row->si_snr = row->mel = row->stoi = NAN;
    int64_t diff = n_ref > n_est ? n_ref - n_est : n_est - n_ref, longer = n + diff;
    if ((double)diff > MAX_LEN_DIFF_S * ref_rate && (double)diff > MAX_LEN_DIFF_FRAC * (double)longer)
        return cli_fail(CLI_EXIT_DATA, label,
                        "lengths differ too much to compare (%.3f s vs %.3f s): not a decode of this reference?",
                        (double)n_ref / ref_rate, (double)n_est / ref_rate);
    if (n_ref != n_est)
        cli_note(c, 1, "%s: lengths differ (%lld vs %lld samples at %d Hz); trimmed to the shorter", label,
                 (long long)n_ref, (long long)n_est, ref_rate);
    if (n < 1) return cli_fail(CLI_EXIT_DATA, label, "no samples to compare");
    row->si_snr = sono_metrics_si_snr(ref, est, n);
    double v;
    int rc = sono_metrics_mel_distance(ref, est, n, ref_rate, &v);
    if (rc == 0) row->mel = v;
    rc = sono_metrics_stoi(ref, est, n, ref_rate, &v);
    if (rc == 0) row->stoi = v;
    else if (rc == SONO_E_EMPTY)
        cli_note(c, 2, "%s: STOI undefined (silent reference or too little non-silent audio)", label);
    return rc == SONO_E_NOMEM ? cli_fail(CLI_EXIT_IO, label, "out of memory") : 0;
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

/* dB spectrogram of x [n] pooled to out [PLOT_ROWS][cols] (row 0 lowest).
 * Frames are computed in blocks of at least PLOT_BLOCK (one FFT plan per
 * block, not per column: short files have one frame per column). */
enum { PLOT_BLOCK = 256 };
static int plot_spectrogram(const float *x, int64_t n, int cols, float *out) {
    const int nb = PLOT_NFFT / 2 + 1;
    const int64_t n_frames = n / PLOT_HOP + 1;
    int64_t most = 0; /* frames in the widest column */
    for (int c = 0; c < cols; c++) {
        int64_t f0 = (int64_t)c * n_frames / cols, f1 = (int64_t)(c + 1) * n_frames / cols;
        if (f1 - f0 > most) most = f1 - f0;
    }
    const int64_t block = most > PLOT_BLOCK ? most : PLOT_BLOCK;
    double *pw = malloc(sizeof(double) * (size_t)block * nb), *pow_col = malloc(sizeof(double) * PLOT_ROWS);
    if (!pw || !pow_col) {
        free(pw), free(pow_col);
        return -1;
    }
    int64_t b0 = 0, bn = 0; /* pw holds frames b0 .. b0 + bn - 1 */
    for (int c = 0; c < cols; c++) {
        int64_t f0 = (int64_t)c * n_frames / cols, f1 = (int64_t)(c + 1) * n_frames / cols;
        if (f1 <= f0) f1 = f0 + 1;
        if (f0 < b0 || f1 > b0 + bn) { /* columns move forward: the next block starts at f0 */
            b0 = f0;
            bn = n_frames - f0 < block ? n_frames - f0 : block;
            if (sono_metrics_power_spectrogram(x, n, PLOT_NFFT, PLOT_HOP, b0, bn, pw)) {
                free(pw), free(pow_col);
                return -1;
            }
        }
        for (int r = 0; r < PLOT_ROWS; r++) pow_col[r] = 0;
        for (int64_t f = f0; f < f1; f++)
            for (int b = 0; b < PLOT_NFFT / 2; b++)
                pow_col[b * PLOT_ROWS / (PLOT_NFFT / 2)] += pw[(f - b0) * nb + b];
        /* dB relative to a full-scale sine (|X| = N/4 with this window) */
        const double full = (double)PLOT_NFFT * PLOT_NFFT / 16.0;
        for (int r = 0; r < PLOT_ROWS; r++)
            out[(size_t)r * (size_t)cols + (size_t)c] =
                (float)(10.0 * log10(pow_col[r] / (double)(f1 - f0) / full + 1e-20));
    }
    free(pw);
    free(pow_col);
    return 0;
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

/* Write the image of ref vs est (both mono, n samples) to path. 0 or an exit code (printed). */
static int plot_write(const char *path, const float *ref, const float *est, int64_t n) {
    int64_t n_frames = n / PLOT_HOP + 1;
    int cols = n_frames > PLOT_MAX_COLS ? PLOT_MAX_COLS : n_frames < PLOT_MIN_COLS ? PLOT_MIN_COLS : (int)n_frames;
    const int h = 3 * PLOT_ROWS + 2 * PLOT_SEP;
    size_t cells = (size_t)PLOT_ROWS * (size_t)cols;
    float *db = malloc(2 * cells * sizeof *db);
    uint8_t *rgb = malloc((size_t)h * (size_t)cols * 3);
    int rc = 0;
    if (!db || !rgb || plot_spectrogram(ref, n, cols, db) || plot_spectrogram(est, n, cols, db + cells)) {
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
    free(db);
    free(rgb);
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
    for (size_t i = 0; i < list.n; i++) {
        const eval_item *it = &list.v[i];
        cli_progress_update(&prog, (double)i / (double)list.n, it->label);
        float *ref = NULL;
        int64_t n_ref = 0;
        int ref_rate = 0, ref_ch = 0;
        int frc = read_audio(it->ref, 0, 1, &ref, &n_ref, &ref_rate, NULL, NULL, &ref_ch);
        if (frc) {
            cli_progress_clear(&prog);
            if (!worst) worst = frc;
            continue;
        }
        double secs = (double)n_ref / ref_rate;
        st.files++;
        st.audio_seconds += secs;
        for (int sys = 0; sys < SYS_COUNT; sys++) {
            if ((sys == SYS_FILES) != !systems || (sys == SYS_CODEC && !codec) || (sys == SYS_OPUS && !opus))
                continue;
            float *est = NULL;
            int64_t n_est = 0;
            int est_rate = 0, file_rate = 0;
            uint64_t bytes = 0;
            eval_row row = {.sys = sys, .item = i, .kbps = NAN};
            if (sys == SYS_FILES) {
                int est_ch = 0;
                frc = read_audio(it->est, ref_rate, 1, &est, &n_est, &est_rate, &file_rate, NULL, &est_ch);
                if (!frc && file_rate != ref_rate)
                    cli_note(&c, 1, "%s: estimate at %d Hz resampled to the reference's %d Hz", it->label,
                             file_rate, ref_rate);
                if (!frc && est_ch != ref_ch)
                    cli_note(&c, 1, "%s: %d channel%s vs %d in the reference; both mixed to mono", it->label,
                             est_ch, est_ch == 1 ? "" : "s", ref_ch);
            } else if (sys == SYS_CODEC) {
                frc = run_codec(codec, n_q, it->ref, &est, &n_est, &est_rate, &bytes);
            } else {
                frc = run_opus(kbps_opt, it->ref, &est, &n_est, &bytes);
                est_rate = OPUS_RATE;
            }
            if (!frc && est_rate != ref_rate && !(est = resample_to(est, &n_est, est_rate, ref_rate)))
                frc = cli_fail(CLI_EXIT_IO, it->label, "out of memory");
            int64_t n_common = 0;
            if (!frc) {
                if (sys != SYS_FILES && secs > 0) row.kbps = (double)bytes * 8.0 / secs / 1000.0;
                if (sys == SYS_CODEC) st.token_bytes += bytes;
                frc = score(&c, it->label, ref, n_ref, ref_rate, est, n_est, &n_common, &row);
            }
            if (!frc && plot_dir) {
                char path[8192];
                int prc;
                if (plot_path(path, sizeof path, plot_dir, it->label, sys_names[sys]) != 0) {
                    prc = cli_fail(CLI_EXIT_IO, it->label, "--plot: path too long");
                } else {
                    prc = plot_write(path, ref, est, n_common);
                    if (!prc) n_plots++;
                }
                if (prc && !worst) worst = prc;
            }
            free(est);
            if (frc) {
                cli_progress_clear(&prog);
                if (!worst) worst = frc;
                continue;
            }
            rows[n_rows++] = row;
        }
        free(ref);
    }
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
