/* Metrics tests: STOI against pystoi's values on committed fixtures
 * (tests/ref/make_metric_fixtures.py), SI-SNR and mel distance on known
 * cases, the resampler's basic properties.
 *
 *   test-metrics DATA_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonotok/cpu.h"
#include "sonotok/error.h"
#include "sonotok/metrics.h"
#include "test_util.h"

#define STOI_TOL 1e-3

/* The bytes of DIR/NAME.EXT; *n_bytes set. NULL if missing or unreadable. */
static unsigned char *read_fixture(const char *dir, const char *name, const char *ext, long *n_bytes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = bytes > 0 ? malloc((size_t)bytes) : NULL;
    if (b && fread(b, 1, (size_t)bytes, f) != (size_t)bytes) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n_bytes = bytes;
    return b;
}

/* Mono samples of DIR/NAME.s16 (int16 / 32768) or else DIR/NAME.f32
 * (float32), both little-endian. */
static float *load_any(const char *dir, const char *name, int64_t *n) {
    long bytes = 0;
    int f32 = 0;
    unsigned char *b = read_fixture(dir, name, "s16", &bytes);
    if (!b && (b = read_fixture(dir, name, "f32", &bytes)) != NULL) f32 = 1;
    if (!b) return NULL;
    *n = bytes / (f32 ? 4 : 2);
    float *x = malloc((size_t)*n * sizeof *x);
    for (int64_t i = 0; x && i < *n; i++) {
        if (f32) {
            uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
                         (uint32_t)b[4 * i + 3] << 24;
            memcpy(&x[i], &u, sizeof u);
        } else {
            x[i] = (float)(int16_t)(b[2 * i] | (b[2 * i + 1] << 8)) / 32768.0f;
        }
    }
    free(b);
    return x;
}

static int stream_score(int rate, const float *ref, int64_t n_ref, const float *est, int64_t n, int max_chunk,
                        sono_metrics_scores *sc, int *rounds);

/* The lines "REF EST RATE N VALUE" of a reference-values file, each with
 * its pair of signals loaded. */
typedef struct {
    FILE *f;
    char ref[64], est[64];
    int rate;
    int64_t n;
    double want;
    float *x, *y;
} fixture_lines;

static int fixture_open(fixture_lines *it, const char *dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    memset(it, 0, sizeof *it);
    it->f = fopen(path, "r");
    CHECK_MSG(it->f != NULL, "cannot open %s", path);
    return it->f != NULL;
}

/* The next pair: 1 with x, y, n set (freed by the next call), 0 at the end. */
static int fixture_next(fixture_lines *it, const char *dir) {
    char line[512];
    free(it->x), free(it->y);
    it->x = it->y = NULL;
    while (fgets(line, sizeof line, it->f)) {
        long long n;
        if (line[0] == '#' || sscanf(line, "%63s %63s %d %lld %lf", it->ref, it->est, &it->rate, &n, &it->want) != 5)
            continue;
        int64_t nr = 0, ne = 0;
        it->x = load_any(dir, it->ref, &nr), it->y = load_any(dir, it->est, &ne);
        it->n = n;
        CHECK_MSG(it->x && it->y && nr == n && ne == n, "fixture %s/%s", it->ref, it->est);
        if (it->x && it->y && nr == n && ne == n) return 1;
        free(it->x), free(it->y);
        it->x = it->y = NULL;
    }
    fclose(it->f);
    return 0;
}

#define MEL_TOL 1e-6

/* Mel distance against the numpy reference (mel_ref.txt), one-shot and
 * streamed; and what the 80 dB floor is for: the full-level clip "afs" plus
 * white noise at -90 dBFS scores under 0.03 and at -80 dBFS under 0.1, both
 * near 0 next to a real degradation, a 4 kHz low-pass, which must stay
 * above 0.5 (the reference formula gives 0.011, 0.054 and 0.897; without
 * the floor the noise scored 0.29 and 0.37, and the default codec at 6 kbps
 * scores about 0.5 on speech). */
static void test_mel_reference(const char *dir) {
    fixture_lines it;
    if (!fixture_open(&it, dir, "mel_ref.txt")) return;
    double max_diff = 0, n90 = NAN, n80 = NAN, lp = NAN;
    int cases = 0;
    while (fixture_next(&it, dir)) {
        double got = -9;
        sono_metrics_scores sc = {0};
        int rounds = 0;
        int rc = sono_metrics_mel_distance(it.x, it.y, it.n, it.rate, &got);
        int src = stream_score(it.rate, it.x, it.n, it.y, it.n, 5000, &sc, &rounds);
        double d = fabs(got - it.want);
        printf("  mel %-6s vs %-8s %5d Hz: ours %.8f  numpy %.8f  diff %.2e\n", it.ref, it.est, it.rate, got,
               it.want, d);
        CHECK_MSG(rc == 0 && d <= MEL_TOL, "%s vs %s: rc %d, %.8f vs %.8f", it.ref, it.est, rc, got, it.want);
        CHECK_MSG(src == 0 && sc.mel == got, "%s vs %s streamed: rc %d, %.17g vs %.17g", it.ref, it.est, src, sc.mel,
                  got);
        if (d > max_diff) max_diff = d;
        if (!strcmp(it.ref, "afs") && !strcmp(it.est, "afs_n90")) n90 = got;
        if (!strcmp(it.ref, "afs") && !strcmp(it.est, "afs_n80")) n80 = got;
        if (!strcmp(it.ref, "afs") && !strcmp(it.est, "afs_lp4k")) lp = got;
        cases++;
    }
    CHECK(cases >= 10);
    CHECK_MSG(n90 < 0.03, "noise at -90 dBFS scores %.4f, want < 0.03", n90);
    CHECK_MSG(n80 < 0.1, "noise at -80 dBFS scores %.4f, want < 0.1", n80);
    CHECK_MSG(lp > 0.5, "4 kHz low-pass scores %.4f, want > 0.5", lp);
    printf("  mel vs numpy: %d cases, max abs diff %.3g (tolerance %g); noise -90/-80 dBFS %.4f/%.4f, "
           "low-pass %.4f\n", cases, max_diff, MEL_TOL, n90, n80, lp);
}

static void test_stoi_reference(const char *dir) {
    fixture_lines it;
    if (!fixture_open(&it, dir, "stoi_ref.txt")) return;
    double max_diff = 0;
    int cases = 0;
    while (fixture_next(&it, dir)) {
        double got = -9;
        int rc = sono_metrics_stoi(it.x, it.y, it.n, it.rate, &got);
        double d = fabs(got - it.want);
        printf("  stoi %-6s vs %-7s %5d Hz: ours %.6f  pystoi %.6f  diff %.2e\n", it.ref, it.est, it.rate, got,
               it.want, d);
        CHECK_MSG(rc == 0 && d <= STOI_TOL, "%s vs %s: rc %d, %.6f vs %.6f", it.ref, it.est, rc, got, it.want);
        if (d > max_diff) max_diff = d;
        cases++;
    }
    CHECK(cases >= 5);
    printf("  STOI vs pystoi: %d cases, max abs diff %.3g (tolerance %g)\n", cases, max_diff, STOI_TOL);
}

static void test_stoi_undefined(void) {
    enum { N = 16000 };
    float *z = calloc(N, sizeof *z), *y = malloc(N * sizeof *y);
    tu_fill(y, N, -0.1f, 0.1f);
    double s = 42;
    CHECK(sono_metrics_stoi(z, y, N, 16000, &s) == SONO_E_EMPTY); /* silent reference */
    CHECK(s == 42);
    CHECK(sono_metrics_stoi(y, y, 3000, 16000, &s) == SONO_E_EMPTY); /* < 30 frames */
    CHECK(sono_metrics_stoi(y, y, 1, 16000, &s) == SONO_E_EMPTY);
    CHECK(sono_metrics_stoi(y, y, N, 0, &s) == SONO_E_ARG);
    free(z), free(y);
}

static double rms(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s / n);
}

static void test_si_snr(void) {
    enum { N = 24000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *nz = malloc(N * sizeof *nz);
    for (int i = 0; i < N; i++) x[i] = (float)(0.3 * sin(0.031 * i) + 0.2 * sin(0.0071 * i * (1 + i * 1e-5)));
    tu_fill(nz, N, -1, 1);
    /* zero-mean the noise and make it orthogonal to x, so the SNR is exact */
    double mn = 0, mx = 0;
    for (int i = 0; i < N; i++) mn += nz[i], mx += x[i];
    mn /= N, mx /= N;
    double xn = 0, xx = 0;
    for (int i = 0; i < N; i++) {
        nz[i] -= (float)mn;
        xn += (x[i] - mx) * nz[i];
        xx += (x[i] - mx) * (x[i] - mx);
    }
    for (int i = 0; i < N; i++) nz[i] -= (float)(xn / xx * (x[i] - mx));

    double s = sono_metrics_si_snr(x, x, N);
    printf("  si-snr identical %.2f dB\n", s);
    CHECK(s >= 100);
    for (int i = 0; i < N; i++) y[i] = -0.25f * x[i] + 0.1f; /* scale and offset: no change */
    double s2 = sono_metrics_si_snr(x, y, N);
    CHECK_MSG(s2 >= 80, "scaled copy %.2f dB", s2);
    double max_err = 0;
    for (double snr = -10; snr <= 30; snr += 10) {
        /* noise scaled to snr dB below the zero-mean signal */
        double g = sqrt(xx / N) / rms(nz, N) / pow(10, snr / 20);
        for (int i = 0; i < N; i++) y[i] = 0.7f * x[i] + 0.7f * (float)g * nz[i];
        double got = sono_metrics_si_snr(x, y, N);
        printf("  si-snr added noise at %5.1f dB -> %.4f dB\n", snr, got);
        CHECK_MSG(fabs(got - snr) < 0.1, "want %.1f got %.4f", snr, got);
        if (fabs(got - snr) > max_err) max_err = fabs(got - snr);
    }
    float z[8] = {0};
    CHECK(isnan(sono_metrics_si_snr(z, x, 8)));
    CHECK(sono_metrics_si_snr(x, z, 8) == -120.0);
    free(x), free(y), free(nz);
}

static void test_mel(void) {
    enum { N = 20000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *nz = malloc(N * sizeof *nz);
    for (int i = 0; i < N; i++) x[i] = (float)(0.3 * sin(0.05 * i) + 0.1 * sin(0.3 * i + 0.001 * i * i / N));
    tu_fill(nz, N, -1, 1);
    double d = -1;
    CHECK(sono_metrics_mel_distance(x, x, N, 16000, &d) == 0 && d == 0);
    double prev = 0;
    int monotone = 1;
    for (int k = 1; k <= 5; k++) {
        double level = 0.001 * pow(4, k);
        for (int i = 0; i < N; i++) y[i] = x[i] + (float)level * nz[i];
        CHECK(sono_metrics_mel_distance(x, y, N, 16000, &d) == 0);
        printf("  mel distance, noise %.4f: %.4f\n", level, d);
        if (!(d > prev)) monotone = 0;
        prev = d;
    }
    CHECK(monotone);
    /* shorter than the largest frame: still defined */
    CHECK(sono_metrics_mel_distance(x, y, 300, 16000, &d) == 0 && d > 0);
    CHECK(sono_metrics_mel_distance(x, y, 0, 16000, &d) == SONO_E_ARG);
    free(x), free(y), free(nz);
}

static void test_resample(void) {
    /* a 440 Hz tone keeps its level through 48k -> 10k -> 44.1k */
    enum { N = 48000 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = (float)(0.5 * sin(2 * 3.141592653589793 * 440 * i / 48000.0));
    int64_t n10 = sono_metrics_resample_len(N, 48000, 10000);
    CHECK(n10 == 10000);
    float *y = malloc((size_t)n10 * sizeof *y);
    CHECK(sono_metrics_resample(x, N, 48000, 10000, y) == 0);
    double err = 0;
    for (int64_t i = 1000; i < n10 - 1000; i++)
        err = fmax(err, fabs(y[i] - 0.5 * sin(2 * 3.141592653589793 * 440 * (double)i / 10000.0)));
    printf("  resample 48k->10k tone max error %.3g\n", err);
    CHECK(err < 2e-3);
    CHECK(sono_metrics_resample_len(7, 16000, 10000) == 5);
    free(x), free(y);
}

/* Power spectrogram: a full-scale sine on bin 8 peaks at (n_fft/4)^2 in
 * frames inside the signal, the two neighbouring bins hold a quarter of that
 * (the Hann window's main lobe), a frame wholly outside the signal is zero;
 * against a direct DFT of one edge frame (to float precision: the spectra
 * come from the library's float FFT); bad arguments refused. */
static void test_spectrogram(void) {
    const int N = 64, hop = 16, nb = N / 2 + 1;
    const int64_t n = 640;
    float *x = malloc(sizeof(float) * (size_t)n);
    double *p = malloc(sizeof(double) * 50 * nb);
    for (int64_t i = 0; i < n; i++) x[i] = (float)sin(2 * M_PI * 8 * (double)i / N);
    CHECK(sono_metrics_power_spectrogram(x, n, N, hop, 0, 50, p) == 0);
    double peak = (double)N * N / 16.0;
    const double *mid = p + 20 * nb;
    CHECK_MSG(fabs(mid[8] - peak) <= 1e-6 * peak, "peak %.9g, want %.9g", mid[8], peak);
    CHECK(fabs(mid[7] - peak / 4) <= 1e-6 * peak && fabs(mid[9] - peak / 4) <= 1e-6 * peak);
    CHECK(mid[0] <= 1e-9 * peak && mid[20] <= 1e-9 * peak);
    const double *out = p + 49 * nb; /* centred on 784: its window starts at 752 > n */
    int zero = 1;
    for (int k = 0; k < nb; k++) zero &= out[k] == 0.0;
    CHECK(zero);
    /* frame 1 (centred on 16: samples -16..47, the first 16 zeros) by a direct DFT */
    double md = 0;
    for (int k = 0; k < nb; k++) {
        double re = 0, im = 0;
        for (int j = 0; j < N; j++) {
            int64_t t = 16 - N / 2 + j;
            double v = t >= 0 && t < n ? (0.5 - 0.5 * cos(2 * M_PI * j / N)) * x[t] : 0.0;
            re += v * cos(2 * M_PI * k * j / N);
            im -= v * sin(2 * M_PI * k * j / N);
        }
        md = fmax(md, fabs(p[1 * nb + k] - (re * re + im * im)));
    }
    CHECK_MSG(md <= 1e-6 * peak, "frame 1 vs direct DFT: %.3g", md);
    /* frame0 offsets the frames */
    double *q = malloc(sizeof(double) * nb);
    CHECK(sono_metrics_power_spectrogram(x, n, N, hop, 20, 1, q) == 0 && !memcmp(q, mid, sizeof(double) * nb));
    CHECK(sono_metrics_power_spectrogram(x, n, 48, hop, 0, 1, q) == SONO_E_ARG);
    CHECK(sono_metrics_power_spectrogram(x, n, N, 0, 0, 1, q) == SONO_E_ARG);
    CHECK(sono_metrics_power_spectrogram(NULL, n, N, hop, 0, 1, q) == SONO_E_ARG);
    CHECK(sono_metrics_power_spectrogram(x, n, N, hop, -1, 1, q) == SONO_E_ARG);
    printf("power spectrogram: sine peak %.6g (want %.6g), frame 1 vs direct DFT %.3g\n", mid[8], peak, md);
    free(x); free(p); free(q);
}

/* ---- streaming ---- */

/* Push n samples in chunks of random size (1 .. max_chunk). */
static int push_ref_chunks(sono_metrics_stream *s, const float *ref, int64_t n, int max_chunk) {
    for (int64_t i = 0; i < n;) {
        int64_t k = 1 + (int64_t)(tu_rand() % (uint64_t)max_chunk);
        if (k > n - i) k = n - i;
        if (sono_metrics_stream_push_ref(s, ref + i, k)) return -1;
        i += k;
    }
    return 0;
}

static int push_chunks(sono_metrics_stream *s, const float *ref, const float *est, int64_t n, int max_chunk) {
    for (int64_t i = 0; i < n;) {
        int64_t k = 1 + (int64_t)(tu_rand() % (uint64_t)max_chunk);
        if (k > n - i) k = n - i;
        if (sono_metrics_stream_push(s, ref + i, est + i, k)) return -1;
        i += k;
    }
    return 0;
}

/* Score ref[0..n_ref) (pass 1) against est over n samples (pass 2, repeated
 * while finish asks); *rounds counts the pass-2 runs. */
static int stream_score(int rate, const float *ref, int64_t n_ref, const float *est, int64_t n, int max_chunk,
                        sono_metrics_scores *sc, int *rounds) {
    int err = 0, rc;
    sono_metrics_stream *s = sono_metrics_stream_new(rate, &err);
    if (!s) return err;
    *rounds = 0;
    if (n_ref > 0 && push_ref_chunks(s, ref, n_ref, max_chunk)) return -100;
    do {
        if (push_chunks(s, ref, est, n, max_chunk)) return -100;
        ++*rounds;
    } while ((rc = sono_metrics_stream_finish(s, sc)) == 1 && *rounds < 5);
    sono_metrics_stream_free(s);
    return rc;
}

/* One pair: the stream, in random chunks, against the one-shot functions:
 * STOI and mel distance bit for bit, SI-SNR to 1e-6 dB (running sums round
 * differently from the one-shot's sums of mean-removed samples; both lose
 * digits as the noise gets small next to the signal: 1e-9 dB at 33 dB). */
static double stream_vs_oneshot(const char *what, int rate, const float *ref, int64_t n_ref, const float *est,
                                int64_t n, int max_chunk, int want_rounds) {
    sono_metrics_scores sc;
    int rounds = 0;
    int rc = stream_score(rate, ref, n_ref, est, n, max_chunk, &sc, &rounds);
    double mel = NAN, stoi = NAN;
    double snr = sono_metrics_si_snr(ref, est, n);
    CHECK(sono_metrics_mel_distance(ref, est, n, rate, &mel) == 0);
    if (sono_metrics_stoi(ref, est, n, rate, &stoi) != 0) stoi = NAN;
    double d_snr = isnan(snr) && isnan(sc.si_snr) ? 0 : fabs(snr - sc.si_snr);
    int same_stoi = (isnan(stoi) && isnan(sc.stoi)) || stoi == sc.stoi;
    CHECK_MSG(rc == 0 && sc.n_samples == n, "%s: stream rc %d, %lld samples", what, rc, (long long)sc.n_samples);
    CHECK_MSG(rounds == want_rounds, "%s: %d runs of pass 2, want %d", what, rounds, want_rounds);
    CHECK_MSG(sc.mel == mel, "%s: mel %.17g streamed, %.17g one-shot", what, sc.mel, mel);
    CHECK_MSG(same_stoi, "%s: stoi %.17g streamed, %.17g one-shot", what, sc.stoi, stoi);
    CHECK_MSG(d_snr <= 1e-6, "%s: si-snr %.17g streamed, %.17g one-shot", what, sc.si_snr, snr);
    return d_snr;
}

static void test_stream(const char *dir) {
    static const char *const pairs[][2] = {{"a", "a"}, {"a", "a_n5"}, {"a", "a_lp"}, {"b", "b_n0"}, {"c22", "c22_n0"}};
    double worst = 0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int64_t nr = 0, ne = 0;
        float *x = load_any(dir, pairs[i][0], &nr), *y = load_any(dir, pairs[i][1], &ne);
        CHECK(x && y && nr == ne);
        if (x && y && nr == ne) {
            int rate = pairs[i][0][0] == 'c' ? 22050 : 16000;
            char what[64];
            for (int max_chunk = 1; max_chunk <= 100000; max_chunk *= 31) {
                snprintf(what, sizeof what, "%s/%s chunks <= %d", pairs[i][0], pairs[i][1], max_chunk);
                worst = fmax(worst, stream_vs_oneshot(what, rate, x, nr, y, nr, max_chunk, 1));
            }
            /* without pass 1: pass 2 runs twice */
            snprintf(what, sizeof what, "%s/%s no pass 1", pairs[i][0], pairs[i][1]);
            worst = fmax(worst, stream_vs_oneshot(what, rate, x, 0, y, nr, 5000, 2));
            /* a short pair: under one frame of the largest STFT, STOI undefined */
            snprintf(what, sizeof what, "%s/%s 1500 samples", pairs[i][0], pairs[i][1]);
            worst = fmax(worst, stream_vs_oneshot(what, rate, x, 1500, y, 1500, 700, 1));
        }
        free(x), free(y);
    }
    /* The estimate ends early and the reference's loudest part is in the
     * rest: pass 1 measured other levels, finish asks for a second run of
     * pass 2, and that one is exact. With the loud part inside the common
     * length, one run is enough. */
    enum { N = 48000, CUT = 36000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *nz = malloc(N * sizeof *nz);
    tu_fill(nz, N, -1, 1);
    for (int i = 0; i < N; i++) {
        double env = i > 40000 && i < 43000 ? 1.0 : 0.1 + 0.05 * sin(0.0007 * i);
        x[i] = (float)(env * (0.5 * sin(0.07 * i) + 0.3 * sin(0.21 * i + 0.00001 * i * (double)i / 100)));
        y[i] = x[i] + 0.02f * nz[i];
    }
    worst = fmax(worst, stream_vs_oneshot("loudest part past the estimate's end", 16000, x, N, y, CUT, 3000, 2));
    worst = fmax(worst, stream_vs_oneshot("loudest part within the common length", 16000, x, N, y, 44000, 3000, 1));
    /* Only STOI's level differs: the reference is an exactly periodic tone
     * (all whole frames of it have the same mel values), 36 dB quieter after
     * 18000 samples (within STOI's 40 dB, so kept), silent from 40000, and
     * after a gap longer than any frame it takes a DC offset: frames 5 dB
     * louder for STOI than the tone (enough to drop the quiet part, wrongly,
     * if that level were used), yet smaller mel values (DC barely reaches
     * the first band). The estimate ends at 36000: a second run is needed. */
    for (int i = 0; i < N; i++) {
        double dc = i < 42048 ? 0.0 : i < 44048 ? 0.13 * (i - 42048) / 2000.0 : 0.13;
        double a = i < 18000 ? 0.1 : i < 40000 ? 0.1 * pow(10, -36 / 20.0) : 0.0;
        x[i] = (float)(a * sin(2 * 3.141592653589793 * (i % 16) / 16.0) + dc);
        y[i] = x[i] + 0.002f * nz[i];
    }
    worst = fmax(worst, stream_vs_oneshot("a DC offset past the estimate's end", 16000, x, N, y, CUT, 3000, 2));
    /* two estimates of one reference through one stream */
    int err = 0, rounds = 0;
    sono_metrics_stream *s = sono_metrics_stream_new(16000, &err);
    sono_metrics_scores a, b;
    CHECK(s && push_ref_chunks(s, x, N, 4000) == 0);
    CHECK(push_chunks(s, x, y, N, 4000) == 0 && sono_metrics_stream_finish(s, &a) == 0);
    CHECK(push_chunks(s, x, x, N, 4000) == 0 && sono_metrics_stream_finish(s, &b) == 0);
    CHECK(a.mel > 0 && b.mel == 0 && b.si_snr == 120.0 && b.stoi > 0.9999);
    CHECK(sono_metrics_stream_push_ref(s, x, 10) == SONO_E_ARG); /* pass 1 is over */
    CHECK(sono_metrics_stream_finish(s, &a) == SONO_E_ARG);        /* nothing pushed */
    sono_metrics_stream_free(s);
    CHECK(sono_metrics_stream_new(0, &err) == NULL && err == SONO_E_ARG);
    sono_metrics_stream_free(NULL);
    (void)rounds;
    printf("  stream vs one-shot: STOI and mel identical, SI-SNR within %.3g dB\n", worst);
    free(x), free(y), free(nz);
}

/* The streaming resampler, in random blocks, equals the one-shot one. */
static void test_resampler_stream(void) {
    static const int rates[][2] = {{16000, 10000}, {22050, 10000}, {44100, 10000}, {48000, 24000},
                                   {24000, 16000}, {8000, 10000}, {16000, 16000}, {44100, 48000}};
    enum { N = 30011 };
    float *x = malloc(N * sizeof *x);
    tu_fill(x, N, -1, 1);
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        int in = rates[r][0], outr = rates[r][1];
        int64_t n_out = sono_metrics_resample_len(N, in, outr);
        float *want = malloc((size_t)n_out * sizeof *want), *got = malloc((size_t)(n_out + 8) * sizeof *got);
        CHECK(sono_metrics_resample(x, N, in, outr, want) == 0);
        int err = 0;
        sono_metrics_resampler *rs = sono_metrics_resampler_new(in, outr, &err);
        CHECK(rs != NULL);
        int64_t w = 0, bound_ok = 1;
        float *tmp = malloc((size_t)sono_metrics_resampler_max_out(rs, 9000) * sizeof *tmp);
        for (int64_t i = 0; i < N && rs;) {
            int64_t k = 1 + (int64_t)(tu_rand() % 9000);
            if (k > N - i) k = N - i;
            int64_t m = sono_metrics_resampler_push(rs, x + i, k, tmp);
            bound_ok &= m >= 0 && m <= sono_metrics_resampler_max_out(rs, k) && w + m <= n_out;
            if (m > 0 && w + m <= n_out) memcpy(got + w, tmp, (size_t)m * sizeof *tmp);
            if (m > 0) w += m;
            i += k;
        }
        int64_t m = rs ? sono_metrics_resampler_finish(rs, tmp) : -1;
        bound_ok &= m >= 0 && m <= sono_metrics_resampler_max_out(rs, 0) && w + m <= n_out;
        if (m > 0 && w + m <= n_out) memcpy(got + w, tmp, (size_t)m * sizeof *tmp);
        if (m > 0) w += m;
        CHECK_MSG(bound_ok && w == n_out, "%d -> %d Hz: %lld samples, want %lld", in, outr, (long long)w,
                  (long long)n_out);
        CHECK_MSG(w == n_out && !memcmp(got, want, (size_t)n_out * sizeof *got), "%d -> %d Hz differs", in, outr);
        CHECK(sono_metrics_resampler_push(rs, x, 10, tmp) == SONO_E_ARG); /* after finish */
        sono_metrics_resampler_free(rs);
        free(want), free(got), free(tmp);
    }
    sono_metrics_resampler_free(NULL);
    free(x);
}

/* The spectra come from the FFT's AVX-512 butterflies where the CPU has them
 * (common/fft.c): the scores and the spectrogram must be those of the plain
 * C butterflies, bit for bit, so a score does not depend on the machine. */
static void test_cpu_levels(const char *dir) {
    int64_t n = 0, ne = 0;
    float *x = load_any(dir, "a", &n), *y = load_any(dir, "a_n5", &ne);
    CHECK(x && y && n == ne && n >= 4096);
    if (!x || !y || n != ne || n < 4096 || sono_set_cpu_level(SONO_CPU_AVX512) < SONO_CPU_AVX512) {
        printf("  scores at every CPU level: %s\n", x && y ? "no AVX-512, skipped" : "no fixture");
        free(x), free(y);
        return;
    }
    enum { NFFT = 1024, HOP = 256, FRAMES = 16, NB = NFFT / 2 + 1 };
    sono_metrics_scores sc[2] = {{0}};
    double mel[2] = {0}, stoi[2] = {0}, *pw[2] = {0};
    for (int v = 0; v < 2; v++) {
        int rounds;
        sono_set_cpu_level(v ? SONO_CPU_PLAIN : SONO_CPU_AVX512);
        CHECK(stream_score(16000, x, n, y, n, 4096, &sc[v], &rounds) == 0);
        CHECK(sono_metrics_mel_distance(x, y, n, 16000, &mel[v]) == 0);
        CHECK(sono_metrics_stoi(x, y, n, 16000, &stoi[v]) == 0);
        pw[v] = malloc(sizeof(double) * FRAMES * NB);
        CHECK(pw[v] && sono_metrics_power_spectrogram(x, n, NFFT, HOP, 0, FRAMES, pw[v]) == 0);
    }
    sono_set_cpu_level(SONO_CPU_AVX512);
    int same = sc[0].mel == sc[1].mel && sc[0].stoi == sc[1].stoi && mel[0] == mel[1] && stoi[0] == stoi[1] &&
               pw[0] && pw[1] && !memcmp(pw[0], pw[1], sizeof(double) * FRAMES * NB);
    CHECK_MSG(same, "AVX-512 vs plain: mel %.17g / %.17g, stoi %.17g / %.17g", mel[0], mel[1], stoi[0], stoi[1]);
    printf("  scores at every CPU level: AVX-512 and plain %s\n", same ? "bit-identical" : "DIFFER");
    free(pw[0]), free(pw[1]), free(x), free(y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-metrics DATA_DIR\n");
        return 1;
    }
    tu_seed(20111);
    test_stoi_reference(argv[1]);
    test_stoi_undefined();
    test_si_snr();
    test_mel();
    test_resample();
    test_spectrogram();
    test_stream(argv[1]);
    test_mel_reference(argv[1]);
    test_resampler_stream();
    test_cpu_levels(argv[1]);
    return tu_finish("test-metrics");
}
