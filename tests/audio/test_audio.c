/* Tests for audio file I/O (common/audio_io.c): round trips through every
 * format we write, resampling accuracy (frequency, amplitude, stop-band
 * attenuation, exact output lengths), chunked versus one-shot reads, channel
 * mapping, other input formats (AIFF, CAF, W64, MP3), error codes, and
 * separate readers on separate threads. All audio is made at run time in a
 * temporary folder that is removed at the end. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sonotok/audio.h"
#include "test_util.h"

#define PI 3.14159265358979323846
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static char tmpdir[512];

static const char *tmp_path(const char *name) {
    static char buf[4][768];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void rm_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') unlink(tmp_path(e->d_name));
    closedir(d);
    rmdir(tmpdir);
}

/* Write interleaved frames with libsndfile directly (independent of the
 * writer under test). Returns 0 on success. */
static int sf_write_file(const char *path, int format, int rate, int ch, const float *inter, int64_t n) {
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = ch;
    info.format = format;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) return -1;
    sf_count_t put = n ? sf_writef_float(sf, inter, n) : 0;
    sf_close(sf);
    return put == n ? 0 : -1;
}

/* Frame count of a file as libsndfile reports it. */
static int64_t sf_file_frames(const char *path, int *rate) {
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) return -1;
    sf_close(sf);
    if (rate) *rate = info.samplerate;
    return info.frames;
}

/* Read a whole file through the API under test; NULL on failure. */
static float *read_file(const char *path, int rate, int ch, int64_t *n, int *err) {
    int e;
    float *out = NULL;
    *n = 0;
    sono_audio_reader *r = sono_audio_open(path, rate, ch, &e);
    if (r) {
        e = sono_audio_read_all(r, &out, n);
        sono_audio_close(r);
    }
    if (err) *err = e;
    if (e) fprintf(stderr, "  read %s: %s\n", path, sono_last_error());
    return out;
}

static float *sine(int64_t n, int rate, double hz, double amp, double phase) {
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * PI * hz * (double)i / rate + phase));
    return x;
}

/* Amplitude of the component at hz over x[from, to) (least squares with sin
 * and cos, accurate when the span holds many periods). */
static double tone_amp(const float *x, int64_t from, int64_t to, int rate, double hz) {
    double s = 0, c = 0;
    for (int64_t i = from; i < to; i++) {
        s += x[i] * sin(2 * PI * hz * (double)i / rate);
        c += x[i] * cos(2 * PI * hz * (double)i / rate);
    }
    return 2 * sqrt(s * s + c * c) / (double)(to - from);
}

static double rms(const float *x, int64_t from, int64_t to) {
    double s = 0;
    for (int64_t i = from; i < to; i++) s += (double)x[i] * x[i];
    return sqrt(s / (double)(to - from));
}

/* Frequency from interpolated upward zero crossings over x[from, to). */
static double zc_freq(const float *x, int64_t from, int64_t to, int rate) {
    double first = -1, last = -1;
    int64_t count = 0;
    for (int64_t i = from + 1; i < to; i++)
        if (x[i - 1] < 0 && x[i] >= 0) {
            double t = (double)(i - 1) + x[i - 1] / (x[i - 1] - x[i]);
            if (first < 0) first = t;
            last = t;
            count++;
        }
    return count > 1 ? (double)(count - 1) * rate / (last - first) : 0;
}

static double correlation(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

static int64_t expect_len(int64_t n, int a, int b) { return (2 * n * b + a) / (2 * (int64_t)a); }

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_pcm(void) {
    const char *exts[] = {"wav", "flac", "WAV"};
    for (int e = 0; e < 3; e++)
        for (int ch = 1; ch <= 2; ch++) {
            const int64_t n = 12345;
            const int rate = 24000;
            float *x = malloc((size_t)(n * ch) * sizeof(float));
            for (int64_t i = 0; i < n * ch; i++)
                x[i] = 0.6f * (float)sin(0.01 * (double)i) + tu_uniform(-0.3f, 0.3f);
            x[10] = 1.5f; /* clipped on write */
            x[11] = -3.0f;
            char name[64];
            snprintf(name, sizeof name, "rt_%d.%s", ch, exts[e]);
            int err;
            sono_audio_writer *w = sono_audio_create(tmp_path(name), NULL, rate, rate, ch, &err);
            CHECK_MSG(w, "%s: %s", name, sono_last_error());
            if (!w) { free(x); continue; }
            /* in two pieces, each planar with its own stride */
            float *piece = malloc((size_t)(n * ch) * sizeof(float));
            for (int c = 0; c < ch; c++) memcpy(piece + c * 100, x + c * n, 100 * sizeof(float));
            CHECK(sono_audio_write(w, piece, 100) == 0);
            for (int c = 0; c < ch; c++) memcpy(piece + c * (n - 100), x + c * n + 100, (size_t)(n - 100) * sizeof(float));
            CHECK(sono_audio_write(w, piece, n - 100) == 0);
            free(piece);
            CHECK(sono_audio_writer_close(w) == 0);

            int64_t m;
            float *y = read_file(tmp_path(name), 0, 0, &m, NULL);
            CHECK_MSG(m == n, "%s: %lld samples back, wrote %lld", name, (long long)m, (long long)n);
            if (y && m == n) {
                x[10] = 1.0f;
                x[11] = -1.0f;
                snprintf(name, sizeof name, "round trip .%s, %d ch", exts[e], ch);
                double md = tu_maxdiff(y, x, (size_t)(n * ch), name);
                CHECK_MSG(md <= 1.5 / 32768, "%s: max diff %g", name, md);
            }
            free(x);
            free(y);
        }
}

/* Lossy formats: length exact, waveform close to the input. */
static void test_roundtrip_lossy(void) {
    /* rate: the samples'; file_rate: the file's (resampled on write) */
    static const struct { const char *ext; int rate, file_rate, ch; } cases[] = {
        {"ogg", 24000, 24000, 1}, {"ogg", 44100, 44100, 2}, {"opus", 48000, 48000, 1},
        {"opus", 24000, 24000, 2}, {"opus", 16000, 16000, 1}, {"opus", 44100, 48000, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int rate = cases[k].rate, ch = cases[k].ch;
        const int64_t n = rate + 777; /* a second and a bit */
        float *x = malloc((size_t)(n * ch) * sizeof(float));
        for (int c = 0; c < ch; c++) {
            float *s = sine(n, rate, 440.0 * (c + 1), 0.5, 0.3);
            memcpy(x + c * n, s, (size_t)n * sizeof(float));
            free(s);
        }
        char name[64];
        snprintf(name, sizeof name, "lossy_%zu.%s", k, cases[k].ext);
        int err;
        sono_audio_writer *w = sono_audio_create(tmp_path(name), NULL, rate, cases[k].file_rate, ch, &err);
        CHECK_MSG(w, "%s: %s", name, sono_last_error());
        if (!w) { free(x); continue; }
        CHECK(sono_audio_write(w, x, n) == 0);
        CHECK(sono_audio_writer_close(w) == 0);
        int file_rate = 0;
        CHECK(sf_file_frames(tmp_path(name), &file_rate) == expect_len(n, rate, cases[k].file_rate));
        CHECK(file_rate == cases[k].file_rate);
        int64_t m;
        float *y = read_file(tmp_path(name), rate, 0, &m, NULL); /* and back to the samples' rate */
        CHECK_MSG(m == n, "%s: %lld samples back, wrote %lld", name, (long long)m, (long long)n);
        if (y && m > 0) {
            int64_t nn = MIN(m, n);
            for (int c = 0; c < ch; c++) {
                double r = correlation(y + c * m, x + c * n, nn);
                printf("  %-40s ch %d correlation %.5f, %lld/%lld samples\n", name, c, r, (long long)m, (long long)n);
                CHECK_MSG(r > 0.98, "%s ch %d: correlation %.4f", name, c, r);
            }
        }
        free(x);
        free(y);
    }
}

/* ---- resampling -------------------------------------------------------- */

/* A 1 kHz sine through 44100 -> 24000, both in the reader and the writer:
 * frequency and amplitude kept. */
static void test_resample_sine(void) {
    const int64_t n = 2 * 44100;
    float *x = sine(n, 44100, 1000.0, 0.5, 0.0);
    CHECK(sf_write_file(tmp_path("sine1k.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 44100, 1, x, n) == 0);
    int64_t m;
    float *y = read_file(tmp_path("sine1k.wav"), 24000, 1, &m, NULL);
    CHECK(m == expect_len(n, 44100, 24000));
    if (y) {
        double f = zc_freq(y, 2400, m - 2400, 24000);
        double a = tone_amp(y, 2400, m - 2400, 24000, 1000.0);
        printf("  reader 44100->24000: 1 kHz sine at %.4f Hz, amplitude %.6f (in 0.5, %+.4f dB)\n", f, a,
               20 * log10(a / 0.5));
        CHECK_MSG(fabs(f - 1000.0) < 0.01, "frequency %.5f", f);
        CHECK_MSG(fabs(20 * log10(a / 0.5)) < 0.01, "amplitude %.6f", a);
    }
    free(y);

    int err;
    sono_audio_writer *w = sono_audio_create(tmp_path("sine1k_w.wav"), NULL, 44100, 24000, 1, &err);
    CHECK_MSG(w, "%s", sono_last_error());
    if (w) {
        CHECK(sono_audio_write(w, x, n) == 0);
        CHECK(sono_audio_writer_close(w) == 0);
        int rate = 0;
        CHECK(sf_file_frames(tmp_path("sine1k_w.wav"), &rate) == expect_len(n, 44100, 24000));
        CHECK(rate == 24000);
        y = read_file(tmp_path("sine1k_w.wav"), 0, 0, &m, NULL);
        if (y) {
            double f = zc_freq(y, 2400, m - 2400, 24000);
            double a = tone_amp(y, 2400, m - 2400, 24000, 1000.0);
            printf("  writer 44100->24000: 1 kHz sine at %.4f Hz, amplitude %.6f (%+.4f dB)\n", f, a, 20 * log10(a / 0.5));
            CHECK_MSG(fabs(f - 1000.0) < 0.01, "frequency %.5f", f);
            CHECK_MSG(fabs(20 * log10(a / 0.5)) < 0.01, "amplitude %.6f", a);
        }
        free(y);
    }
    free(x);
}

/* Band limiting at 48000 -> 24000: tones above the new Nyquist (12 kHz) are
 * removed, tones well inside the pass band kept. */
static void test_resample_band(void) {
    /* stop: 1 must be removed, 0 must pass, 2 transition band (only shown) */
    static const struct { double hz; int stop; } tones[] = {
        {15000, 1}, {12500, 1}, {13000, 1}, {20000, 1}, {10000, 0}, {5000, 0},
        {11000, 0}, {11500, 2}, {11800, 2}, {12000, 2},
    };
    const int64_t n = 48000;
    for (size_t k = 0; k < sizeof tones / sizeof tones[0]; k++) {
        float *x = sine(n, 48000, tones[k].hz, 0.5, 0.1);
        CHECK(sf_write_file(tmp_path("band.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, x, n) == 0);
        free(x);
        int64_t m;
        float *y = read_file(tmp_path("band.wav"), 24000, 1, &m, NULL);
        if (!y) { CHECK(0); continue; }
        double db = 20 * log10(rms(y, 1200, m - 1200) / (0.5 / sqrt(2.0)) + 1e-30);
        printf("  48000->24000: %5.0f Hz tone at %+8.2f dB\n", tones[k].hz, db);
        if (tones[k].stop == 1) CHECK_MSG(db < -100, "%.0f Hz: only %.2f dB down", tones[k].hz, db);
        else if (tones[k].stop == 0) CHECK_MSG(fabs(db) < 0.01, "%.0f Hz: %.4f dB in the pass band", tones[k].hz, db);
        free(y);
    }
}

/* Output length is round(n * out / in), halves up, for reader and writer,
 * and sono_audio_length predicts it. */
static void test_exact_lengths(void) {
    static const int pairs[][2] = {
        {44100, 24000}, {48000, 24000}, {22050, 24000}, {8000, 24000}, {24000, 16000},
        {11025, 48000}, {96000, 24000}, {16000, 44100}, {24000, 24000}, {7, 24000},
    };
    static const int64_t lens[] = {1, 2, 3, 7, 99, 1001, 4095, 4097, 44101, 100003};
    int bad = 0, total = 0;
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            const int a = pairs[p][0], b = pairs[p][1];
            const int64_t n = lens[l], want = expect_len(n, a, b);
            if (want > 4000000) continue; /* 7 Hz -> 24 kHz grows 3400-fold */
            float *x = sine(n, a, a / 7.0, 0.5, 0.5);
            for (int64_t i = 0; i < n; i++) x[i] += 0.25f; /* no trailing zeros by chance */
            CHECK(sf_write_file(tmp_path("len.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, a, 1, x, n) == 0);
            int err;
            sono_audio_reader *r = sono_audio_open(tmp_path("len.wav"), b, 1, &err);
            CHECK_MSG(r, "%s", sono_last_error());
            if (!r) { free(x); continue; }
            CHECK(sono_audio_length(r) == want);
            float buf[1000];
            int64_t got = 0, k;
            float last = 0;
            while ((k = sono_audio_read(r, buf, 1000)) > 0) { got += k; last = buf[k - 1]; }
            CHECK(k == 0);
            sono_audio_close(r);
            total++;
            if (got != want) {
                bad++;
                fprintf(stderr, "FAIL reader %d->%d n=%lld: %lld samples, want %lld\n", a, b, (long long)n,
                        (long long)got, (long long)want);
            }
            /* The tail is signal, not padding (the input sits around +0.25). */
            if (want > 20 && b <= 3 * a) CHECK_MSG(last != 0.0f, "%d->%d n=%lld: last sample zero", a, b, (long long)n);

            sono_audio_writer *w = sono_audio_create(tmp_path("len_w.wav"), NULL, a, b, 1, &err);
            CHECK_MSG(w, "%s", sono_last_error());
            if (w) {
                /* uneven pieces */
                for (int64_t i = 0; i < n;) {
                    int64_t piece = 1 + (int64_t)(tu_rand() % 5000);
                    piece = MIN(n - i, piece);
                    int rc = sono_audio_write(w, x + i, piece);
                    CHECK_MSG(rc == 0, "%s", sono_last_error());
                    i += piece;
                }
                CHECK(sono_audio_writer_close(w) == 0);
                int64_t fw = sf_file_frames(tmp_path("len_w.wav"), NULL);
                total++;
                if (fw != want) {
                    bad++;
                    fprintf(stderr, "FAIL writer %d->%d n=%lld: %lld frames, want %lld\n", a, b, (long long)n,
                            (long long)fw, (long long)want);
                }
            }
            free(x);
        }
    printf("  exact lengths: %d of %d reader/writer cases right\n", total - bad, total);
    CHECK(bad == 0);
}

/* Reading in blocks of any size gives exactly what read_all gives. */
static void test_chunked(void) {
    static const struct { int file_rate, file_ch, rate, ch; } cases[] = {
        {24000, 2, 0, 0}, {44100, 2, 24000, 1}, {22050, 1, 24000, 2}, {48000, 3, 16000, 2},
    };
    static const int64_t blocks[] = {1, 3, 160, 4095, 4096, 4097, 10007, 200000};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int fc = cases[c].file_ch;
        const int64_t n = 30011;
        float *x = malloc((size_t)(n * fc) * sizeof(float));
        tu_fill(x, (size_t)(n * fc), -0.9f, 0.9f);
        CHECK(sf_write_file(tmp_path("chunk.flac"), SF_FORMAT_FLAC | SF_FORMAT_PCM_24, cases[c].file_rate, fc, x, n) == 0);
        free(x);
        int64_t m;
        float *all = read_file(tmp_path("chunk.flac"), cases[c].rate, cases[c].ch, &m, NULL);
        if (!all) { CHECK(0); continue; }
        const int ch = cases[c].ch ? cases[c].ch : fc;
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            int err;
            sono_audio_reader *r = sono_audio_open(tmp_path("chunk.flac"), cases[c].rate, cases[c].ch, &err);
            if (!r) { CHECK(0); continue; }
            const int64_t bs = blocks[b];
            float *buf = malloc((size_t)(bs * ch) * sizeof(float));
            int64_t got = 0, k;
            int same = 1;
            while ((k = sono_audio_read(r, buf, bs)) > 0) {
                CHECK(k == bs || got + k == m); /* full blocks until the end */
                for (int cc = 0; cc < ch && same; cc++)
                    if (got + k > m || memcmp(buf + cc * k, all + cc * m + got, (size_t)k * sizeof(float))) same = 0;
                got += k;
            }
            CHECK(k == 0);
            CHECK(sono_audio_read(r, buf, bs) == 0); /* stays at the end */
            CHECK_MSG(same && got == m, "case %zu block %lld: %s, %lld of %lld samples", c, (long long)bs,
                      same ? "same" : "different", (long long)got, (long long)m);
            free(buf);
            sono_audio_close(r);
        }
        free(all);
    }
}

/* ---- channels and formats ---------------------------------------------- */

static void test_channels(void) {
    const int64_t n = 5000;
    float *l = sine(n, 24000, 300, 0.7, 0), *rr = sine(n, 24000, 1700, 0.4, 1), *t = sine(n, 24000, 50, 0.2, 2);
    float *x = malloc((size_t)(n * 3) * sizeof(float));
    for (int64_t i = 0; i < n; i++) { x[3 * i] = l[i]; x[3 * i + 1] = rr[i]; x[3 * i + 2] = t[i]; }
    CHECK(sf_write_file(tmp_path("ch3.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 24000, 3, x, n) == 0);
    for (int64_t i = 0; i < n; i++) { x[2 * i] = l[i]; x[2 * i + 1] = rr[i]; }
    CHECK(sf_write_file(tmp_path("ch2.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 24000, 2, x, n) == 0);
    CHECK(sf_write_file(tmp_path("ch1.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 24000, 1, l, n) == 0);

    int64_t m;
    float *y = read_file(tmp_path("ch2.wav"), 0, 1, &m, NULL);
    if (y && m == n) {
        int ok = 1;
        for (int64_t i = 0; i < n; i++) ok &= y[i] == (l[i] + rr[i]) / 2;
        CHECK_MSG(ok, "stereo -> mono is not the average");
    } else CHECK(0);
    free(y);
    y = read_file(tmp_path("ch3.wav"), 0, 1, &m, NULL);
    if (y && m == n) {
        double md = 0;
        for (int64_t i = 0; i < n; i++) md = fmax(md, fabs(y[i] - (l[i] + rr[i] + t[i]) / 3.0));
        CHECK_MSG(md < 1e-7, "3 -> 1 channels: max diff %g from the average", md);
    } else CHECK(0);
    free(y);
    y = read_file(tmp_path("ch1.wav"), 0, 2, &m, NULL);
    if (y && m == n) CHECK(!memcmp(y, l, (size_t)n * 4) && !memcmp(y + n, l, (size_t)n * 4));
    else CHECK(0);
    free(y);
    y = read_file(tmp_path("ch3.wav"), 0, 2, &m, NULL);
    if (y && m == n) CHECK(!memcmp(y, l, (size_t)n * 4) && !memcmp(y + n, rr, (size_t)n * 4));
    else CHECK(0);
    free(y);
    y = read_file(tmp_path("ch2.wav"), 0, 3, &m, NULL);
    if (y && m == n)
        CHECK(!memcmp(y, l, (size_t)n * 4) && !memcmp(y + n, rr, (size_t)n * 4) && !memcmp(y + 2 * n, rr, (size_t)n * 4));
    else CHECK(0);
    free(y);

    /* accessors */
    int err;
    sono_audio_reader *r = sono_audio_open(tmp_path("ch3.wav"), 16000, 1, &err);
    CHECK(r && sono_audio_rate(r) == 16000 && sono_audio_channels(r) == 1 && sono_audio_file_rate(r) == 24000 &&
          sono_audio_file_channels(r) == 3 && sono_audio_length(r) == expect_len(n, 24000, 16000));
    sono_audio_close(r);
    r = sono_audio_open(tmp_path("ch3.wav"), 0, 0, &err);
    CHECK(r && sono_audio_rate(r) == 24000 && sono_audio_channels(r) == 3 && sono_audio_length(r) == n);
    sono_audio_close(r);
    free(l); free(rr); free(t); free(x);
}

/* Float files pass through bit for bit, values beyond [-1, 1] included; the
 * memory reader matches the file reader. */
static void test_passthrough(void) {
    const int64_t n = 9999;
    float *x = malloc((size_t)n * sizeof(float));
    tu_fill(x, (size_t)n, -2.0f, 2.0f);
    CHECK(sf_write_file(tmp_path("f32.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 32000, 1, x, n) == 0);
    int64_t m;
    float *y = read_file(tmp_path("f32.wav"), 32000, 1, &m, NULL);
    CHECK(y && m == n && !memcmp(x, y, (size_t)n * sizeof(float)));
    free(y);

    FILE *f = fopen(tmp_path("f32.wav"), "rb");
    unsigned char *bytes = malloc(1 << 20);
    size_t nb = f ? fread(bytes, 1, 1 << 20, f) : 0;
    if (f) fclose(f);
    int err;
    sono_audio_reader *r = sono_audio_open_mem(bytes, (int64_t)nb, 0, 0, &err);
    CHECK_MSG(r, "%s", sono_last_error());
    if (r) {
        CHECK(sono_audio_read_all(r, &y, &m) == 0);
        CHECK(m == n && !memcmp(x, y, (size_t)n * sizeof(float)));
        free(y);
        sono_audio_close(r);
    }
    /* resampled from memory too */
    r = sono_audio_open_mem(bytes, (int64_t)nb, 24000, 2, &err);
    CHECK(r && sono_audio_read_all(r, &y, &m) == 0 && m == expect_len(n, 32000, 24000));
    if (r) free(y);
    sono_audio_close(r);
    free(bytes);
    free(x);
}

/* Other inputs libsndfile reads: 24-bit AIFF, CAF, W64, 8-bit WAV, and MP3. */
static void test_other_formats(void) {
    static const struct { const char *name; int format; double tol; } fmts[] = {
        {"a24.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 1e-6},
        {"c16.caf", SF_FORMAT_CAF | SF_FORMAT_PCM_16, 1.5 / 32768},
        {"w.w64", SF_FORMAT_W64 | SF_FORMAT_DOUBLE, 1e-7},
        {"u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 1.5 / 128},
        {"s.au", SF_FORMAT_AU | SF_FORMAT_ULAW, 0.05},
    };
    const int64_t n = 4321;
    float *x = sine(n, 16000, 440, 0.8, 0.2);
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        CHECK(sf_write_file(tmp_path(fmts[k].name), fmts[k].format, 16000, 1, x, n) == 0);
        int64_t m;
        float *y = read_file(tmp_path(fmts[k].name), 0, 0, &m, NULL);
        CHECK_MSG(y && m == n, "%s: %lld samples", fmts[k].name, (long long)m);
        if (y && m == n) {
            double md = tu_maxdiff(y, x, (size_t)n, fmts[k].name);
            CHECK_MSG(md <= fmts[k].tol, "%s: max diff %g", fmts[k].name, md);
        }
        free(y);
    }
    free(x);

    /* MP3: libsndfile 1.2 writes it with LAME and reads it with mpg123. */
    const int64_t nm = 44100;
    x = sine(nm, 44100, 440, 0.5, 0.0);
    if (sf_write_file(tmp_path("s.mp3"), SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, 1, x, nm) != 0) {
        printf("  MP3: this libsndfile cannot write MP3, reading not tested\n");
        free(x);
        return;
    }
    int64_t m;
    float *y = read_file(tmp_path("s.mp3"), 24000, 1, &m, NULL);
    CHECK_MSG(y, "MP3 not readable");
    if (y) {
        /* Whether the decoder trims the encoder's delay shows in where the
         * sound starts (the sine rises from 0 at sample 0). */
        int64_t onset = 0;
        while (onset < m && fabs(y[onset]) < 0.05) onset++;
        int64_t mid0 = m / 4, mid1 = 3 * m / 4;
        double a = tone_amp(y, mid0, mid1, 24000, 440.0);
        double purity = a / (sqrt(2.0) * rms(y, mid0, mid1));
        printf("  MP3 44100 Hz -> 24000 Hz: %lld samples (source %lld), onset at %lld, 440 Hz amplitude %.4f "
               "(in 0.5), purity %.5f\n", (long long)m, (long long)expect_len(nm, 44100, 24000), (long long)onset, a,
               purity);
        CHECK_MSG(llabs(m - expect_len(nm, 44100, 24000)) < 2000, "MP3 length %lld", (long long)m);
        CHECK_MSG(purity > 0.99 && fabs(a - 0.5) < 0.02, "MP3 sine: amplitude %.4f purity %.4f", a, purity);
    }
    free(y);
    free(x);
}

/* ---- errors ------------------------------------------------------------ */

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(data, 1, n, f); fclose(f); }
}

static void expect_open_fail(const char *path, int want, const char *what) {
    int err = 0;
    sono_audio_reader *r = sono_audio_open(path, 24000, 1, &err);
    CHECK_MSG(!r && err == want, "%s: got %d (%s), want %s", what, err, sono_last_error(), sono_strerror(want));
    CHECK_MSG(strstr(sono_last_error(), strrchr(path, '/') ? strrchr(path, '/') + 1 : path),
              "%s: detail does not name the file: %s", what, sono_last_error());
    printf("  %-28s -> %s\n", what, sono_last_error());
    sono_audio_close(r);
}

static void test_errors(void) {
    expect_open_fail(tmp_path("missing.wav"), SONO_E_NOT_FOUND, "missing file");
    expect_open_fail(tmp_path("nodir/x.wav"), SONO_E_NOT_FOUND, "missing folder");
    const char *text = "hello, this is not audio at all\nline two\n";
    write_bytes(tmp_path("x.txt"), text, strlen(text));
    expect_open_fail(tmp_path("x.txt"), SONO_E_FORMAT, "text file");
    write_bytes(tmp_path("text.wav"), text, strlen(text));
    expect_open_fail(tmp_path("text.wav"), SONO_E_FORMAT, "text named .wav");
    write_bytes(tmp_path("empty_bytes.wav"), "", 0);
    expect_open_fail(tmp_path("empty_bytes.wav"), SONO_E_EMPTY, "0-byte file");
    CHECK(sf_write_file(tmp_path("zero.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24000, 1, NULL, 0) == 0);
    expect_open_fail(tmp_path("zero.wav"), SONO_E_EMPTY, "0-frame WAV");
    CHECK(sf_write_file(tmp_path("zero.ogg"), SF_FORMAT_OGG | SF_FORMAT_VORBIS, 24000, 1, NULL, 0) == 0);
    expect_open_fail(tmp_path("zero.ogg"), SONO_E_EMPTY, "0-frame Ogg Vorbis");
    /* libsndfile writes nothing at all for a FLAC without frames */
    CHECK(sf_write_file(tmp_path("zero.flac"), SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 24000, 1, NULL, 0) == 0);
    expect_open_fail(tmp_path("zero.flac"), SONO_E_EMPTY, "0-frame FLAC (0 bytes)");

    /* truncated header: the first 20 bytes of a good WAV */
    float one[100] = {0};
    CHECK(sf_write_file(tmp_path("good.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24000, 1, one, 100) == 0);
    unsigned char head[64];
    FILE *f = fopen(tmp_path("good.wav"), "rb");
    size_t nh = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    CHECK(nh == 64);
    write_bytes(tmp_path("trunc.wav"), head, 20);
    expect_open_fail(tmp_path("trunc.wav"), SONO_E_FORMAT, "truncated WAV header");
    /* absurd header: 100 channels, 1 MHz */
    unsigned char hdr[44];
    memcpy(hdr, head, 44);
    hdr[22] = 100;
    hdr[23] = 0;
    write_bytes(tmp_path("ch100.wav"), hdr, 44);
    int err;
    sono_audio_reader *r = sono_audio_open(tmp_path("ch100.wav"), 0, 0, &err);
    CHECK_MSG(!r && (err == SONO_E_LIMIT || err == SONO_E_FORMAT), "100 channels: %d %s", err, sono_last_error());
    printf("  %-28s -> %s\n", "100-channel WAV", sono_last_error());
    sono_audio_close(r);

    CHECK(sono_audio_open(tmp_path("."), 0, 0, &err) == NULL && err == SONO_E_IO);
    CHECK(sono_audio_open(NULL, 0, 0, &err) == NULL && err == SONO_E_ARG);
    CHECK(sono_audio_open(tmp_path("good.wav"), -1, 0, &err) == NULL && err == SONO_E_ARG);
    CHECK(sono_audio_open(tmp_path("good.wav"), 0, 65, &err) == NULL && err == SONO_E_ARG);
    CHECK(sono_audio_open(tmp_path("good.wav"), 800000, 0, &err) == NULL && err == SONO_E_ARG);

    /* memory reader on garbage, on nothing, and on a cut-off good file */
    unsigned char junk[3000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)tu_rand();
    r = sono_audio_open_mem(junk, sizeof junk, 24000, 1, &err);
    CHECK_MSG(!r && err == SONO_E_FORMAT, "garbage: %d %s", err, sono_last_error());
    printf("  %-28s -> %s\n", "garbage in memory", sono_last_error());
    sono_audio_close(r);
    CHECK(sono_audio_open_mem(junk, 0, 24000, 1, &err) == NULL && err == SONO_E_EMPTY);
    CHECK(sono_audio_open_mem(NULL, 10, 24000, 1, &err) == NULL && err == SONO_E_ARG);
    CHECK(sono_audio_open_mem(head, 30, 24000, 1, &err) == NULL && err == SONO_E_FORMAT);

    /* A FLAC cut off part way: the frames before the cut come out, then the
     * decoder's complaint as SONO_E_FORMAT, and read_all fails the same way. */
    {
        const int64_t n = 3 * 16000;
        float *x = sine(n, 16000, 300, 0.5, 0);
        CHECK(sf_write_file(tmp_path("cut.flac"), SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, x, n) == 0);
        free(x);
        f = fopen(tmp_path("cut.flac"), "rb");
        unsigned char *bytes = malloc(1 << 20);
        size_t nb = f ? fread(bytes, 1, 1 << 20, f) : 0;
        if (f) fclose(f);
        write_bytes(tmp_path("cut2.flac"), bytes, nb * 6 / 10);
        free(bytes);
        for (int rs = 0; rs <= 24000; rs += 24000) {
            r = sono_audio_open(tmp_path("cut2.flac"), rs, 1, &err);
            CHECK_MSG(r, "%s", sono_last_error());
            float buf[1000];
            int64_t got = 0, k = 0;
            while (r && (k = sono_audio_read(r, buf, 1000)) > 0) got += k;
            CHECK_MSG(r && k == SONO_E_FORMAT && got > n / 4, "cut FLAC: %lld samples then %lld", (long long)got,
                      (long long)k);
            CHECK(r && sono_audio_read(r, buf, 1000) == SONO_E_FORMAT); /* sticky */
            printf("  %-28s -> %lld samples, then %s\n", rs ? "FLAC cut at 60%, resampled" : "FLAC cut at 60%",
                   (long long)got, sono_last_error());
            sono_audio_close(r);
        }
        float *y = NULL;
        int64_t m = 0;
        r = sono_audio_open(tmp_path("cut2.flac"), 0, 0, &err);
        CHECK(r && sono_audio_read_all(r, &y, &m) == SONO_E_FORMAT && !y && m == 0);
        sono_audio_close(r);
    }

    /* NULL-safety and bad reads */
    sono_audio_close(NULL);
    CHECK(sono_audio_writer_close(NULL) == 0);
    CHECK(sono_audio_read(NULL, one, 10) == SONO_E_ARG);
    CHECK(sono_audio_length(NULL) == -1);
    r = sono_audio_open(tmp_path("good.wav"), 0, 0, &err);
    CHECK(r && sono_audio_read(r, NULL, 10) == SONO_E_ARG && sono_audio_read(r, one, -1) == SONO_E_ARG);
    CHECK(r && sono_audio_read(r, one, 0) == 0);
    sono_audio_close(r);

    /* writer */
    sono_audio_writer *w = sono_audio_create(tmp_path("x.xyz"), NULL, 24000, 24000, 1, &err);
    CHECK_MSG(!w && err == SONO_E_ARG && strstr(sono_last_error(), "cannot write .xyz: use wav, flac, ogg or opus"),
              "%s", sono_last_error());
    printf("  %-28s -> %s\n", "writer .xyz", sono_last_error());
    w = sono_audio_create(tmp_path("noext"), NULL, 24000, 24000, 1, &err);
    CHECK(!w && err == SONO_E_ARG);
    w = sono_audio_create(tmp_path("x.opus"), NULL, 24000, 44100, 1, &err);
    CHECK_MSG(!w && err == SONO_E_ARG && strstr(sono_last_error(), "44100"), "%s", sono_last_error());
    printf("  %-28s -> %s\n", "writer opus at 44100", sono_last_error());
    w = sono_audio_create(tmp_path("x.flac"), NULL, 24000, 24000, 12, &err);
    CHECK(!w && err == SONO_E_ARG);
    printf("  %-28s -> %s\n", "writer 12-channel flac", sono_last_error());
    CHECK(!sono_audio_create(tmp_path("x.wav"), NULL, 0, 24000, 1, &err) && err == SONO_E_ARG);
    CHECK(!sono_audio_create(tmp_path("x.wav"), NULL, 24000, 24000, 0, &err) && err == SONO_E_ARG);
    CHECK(!sono_audio_create(tmp_path("nodir/x.wav"), NULL, 24000, 24000, 1, &err) && err == SONO_E_IO);
    w = sono_audio_create(tmp_path("upper.OGG"), NULL, 24000, 24000, 1, &err);
    CHECK_MSG(w != NULL, "%s", sono_last_error());
    CHECK(sono_audio_writer_close(w) == 0);
    /* format_ext overrides the path */
    w = sono_audio_create(tmp_path("forced.bin"), ".FLAC", 24000, 24000, 1, &err);
    CHECK(w && sono_audio_write(w, one, 100) == 0 && sono_audio_writer_close(w) == 0);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(tmp_path("forced.bin"), SFM_READ, &info);
    CHECK(sf && (info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC);
    if (sf) sf_close(sf);
    CHECK(sono_audio_can_write("wav") && sono_audio_can_write(".Opus") && sono_audio_can_write("FLAC") &&
          sono_audio_can_write("ogg") && !sono_audio_can_write("mp3") && !sono_audio_can_write(NULL) &&
          !sono_audio_can_write("") && !sono_audio_can_write("wavx"));
}

/* ---- threads ----------------------------------------------------------- */

typedef struct { const char *path; float *out; int64_t n; int rc; } job;

static void *thread_read(void *p) {
    job *j = p;
    float *y = read_file(j->path, 24000, 1, &j->n, &j->rc);
    j->out = y;
    return NULL;
}

static void test_threads(void) {
    const int64_t n = 3 * 44100;
    float *x = malloc((size_t)(2 * n) * sizeof(float));
    tu_fill(x, (size_t)(2 * n), -0.5f, 0.5f);
    CHECK(sf_write_file(tmp_path("thr.flac"), SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, x, n) == 0);
    free(x);
    int64_t m;
    float *ref = read_file(tmp_path("thr.flac"), 24000, 1, &m, NULL);
    enum { NT = 4 };
    pthread_t t[NT];
    job jobs[NT];
    for (int i = 0; i < NT; i++) {
        jobs[i] = (job){tmp_path("thr.flac"), NULL, 0, -1};
        pthread_create(&t[i], NULL, thread_read, &jobs[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        CHECK(jobs[i].rc == 0 && jobs[i].n == m && ref && !memcmp(jobs[i].out, ref, (size_t)m * sizeof(float)));
        free(jobs[i].out);
    }
    free(ref);
}

int main(void) {
    tu_seed(20240611);
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sono-audio-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_roundtrip_pcm();
    test_roundtrip_lossy();
    test_resample_sine();
    test_resample_band();
    test_exact_lengths();
    test_chunked();
    test_channels();
    test_passthrough();
    test_other_formats();
    test_errors();
    test_threads();
    rm_tmpdir();
    return tu_finish("test_audio");
}
