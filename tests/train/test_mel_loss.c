/* codec/train/mel_loss.c: the gradient against central finite differences of the
 * loss itself, value and gradient against PyTorch/torchaudio autograd
 * (tests/ref/make_mel_fixture.py writes data/mel_loss.safetensors), the
 * n_fft = 512 mel spectrogram through a loss against silence, accumulation
 * and weighting of dy, and a timing for a 24000-sample crop.
 * Usage: test-mel-loss TRAIN_DATA_DIR [CODEC_DATA_DIR] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mel_loss.h"
#include "sonotok/error.h"
#include "tensors.h"
#include "test_util.h"

static const float *fx(const sono_tensors *f, const char *name, size_t numel) {
    const sono_tensor *t = sn_tensors_find(f, name);
    CHECK_MSG(t && (size_t)t->numel == numel, "fixture tensor %s (%zu floats)", name, numel);
    return t && (size_t)t->numel == numel ? t->data : NULL;
}

/* A test signal: a few sines and noise; the reconstruction adds noise. */
static void make_pair(float *x, float *y, int n) {
    for (int i = 0; i < n; i++) {
        x[i] = 0.3f * sinf(0.05f * i) + 0.2f * sinf(0.71f * i + 1.0f) + tu_uniform(-0.1f, 0.1f);
        y[i] = 0.8f * x[i] + tu_uniform(-0.05f, 0.05f);
    }
}

/* n_mels 40, or 0: bands per scale (5, 10, 20, 40, 80 here) */
static void test_fd(int n_mels) {
    const int n = 2048, sr = 16000;
    int err = 0;
    mel_loss *m = sn_mel_loss_new(sr, n, 5, 9, n_mels, &err);
    CHECK(m && !err);
    if (!m) return;
    CHECK(sn_mel_loss_n_scales(m) == 5);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *dy = calloc(n, sizeof *dy);
    float *scratch = malloc(sn_mel_loss_scratch_floats(m) * sizeof *scratch);
    make_pair(x, y, n);
    double L = sn_mel_loss_compute(m, x, y, 1.0f, dy, scratch);
    double L2 = sn_mel_loss_compute(m, x, y, 1.0f, NULL, scratch);
    CHECK(L == L2 && L > 0);
    /* The loss has kinks (|.|, clamp) and a large curvature where a mel value is
     * small (the 1/M of the log term); the difference error shrinks linearly
     * with the step (5x smaller at 1e-4 than at 1e-3), the float loss limits
     * how small it can go. */
    const int n_fd = 48;
    double md = 0, mg = 0, sum_d = 0, sum_g = 0;
    int worst_i = -1;
    for (int t = 0; t < n_fd; t++) {
        int i = t < 8 ? (t < 4 ? t : n - 1 - (t - 4)) : (int)(tu_rand() % (uint64_t)n); /* edges: reflect padding */
        float y0 = y[i];
        y[i] = y0 + 1e-4f;
        float hp = y[i] - y0;
        double lp = sn_mel_loss_compute(m, x, y, 1.0f, NULL, scratch);
        y[i] = y0 - 1e-4f;
        float hm = y0 - y[i];
        double lm = sn_mel_loss_compute(m, x, y, 1.0f, NULL, scratch);
        y[i] = y0;
        double g = (lp - lm) / ((double)hp + hm);
        double d = fabs(g - dy[i]);
        if (d > md) { md = d; worst_i = i; }
        mg = fmax(mg, fabs(g));
        sum_d += d;
        sum_g += fabs(g);
    }
    double ne = md / mg;
    printf("finite differences (n %d, scales 2^5..2^9, %s, step 1e-4, %d samples): L %.6f\n", n,
           n_mels ? "40 mels" : "n_fft * 5 / 32 mels per scale", n_fd, L);
    printf("  max abs %.3g (sample %d), normalised %.3g, mean abs / mean |g| %.3g\n", md, worst_i, ne,
           sum_d / sum_g);
    CHECK_MSG(ne <= 2e-2 && sum_d / sum_g <= 5e-3, "finite differences: normalised %.3g, mean %.3g", ne,
              sum_d / sum_g);
    /* directional derivative along a random v: kinks average out over bins */
    float *v = malloc(n * sizeof *v), *yv = malloc(n * sizeof *yv);
    tu_fill(v, (size_t)n, -1, 1);
    double gv = 0;
    for (int i = 0; i < n; i++) gv += (double)dy[i] * v[i];
    double rels[2];
    for (int k = 0; k < 2; k++) {
        double h = k ? 1e-4 : 1e-3, lpm[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            for (int i = 0; i < n; i++) yv[i] = (float)(y[i] + (sgn ? -h : h) * v[i]);
            lpm[sgn] = sn_mel_loss_compute(m, x, yv, 1.0f, NULL, scratch);
        }
        double fd = (lpm[0] - lpm[1]) / (2 * h), rel = fabs(fd - gv) / fabs(gv);
        printf("  directional, step %g: fd %.7g  <dy,v> %.7g  rel %.3g\n", h, fd, gv, rel);
        rels[k] = rel;
    }
    /* the difference converges to <dy, v>: at least 4x closer for a 10x smaller step */
    CHECK_MSG(rels[1] <= 5e-3 && rels[1] * 4 <= rels[0], "directional derivative: rel %.3g, %.3g", rels[0], rels[1]);
    free(v); free(yv);
    /* identical signals: zero loss, zero gradient */
    float *dz = calloc(n, sizeof *dz);
    double L0 = sn_mel_loss_compute(m, y, y, 1.0f, dz, scratch);
    int zero = 1;
    for (int i = 0; i < n; i++) zero &= dz[i] == 0.0f;
    CHECK(L0 == 0 && zero);
    /* dy accumulates weight * dL/dy */
    for (int i = 0; i < n; i++) dz[i] = 1.0f;
    sn_mel_loss_compute(m, x, y, 0.5f, dz, scratch);
    double mdw = 0;
    for (int i = 0; i < n; i++) mdw = fmax(mdw, fabs((dz[i] - 1.0) - 0.5 * dy[i]));
    CHECK_MSG(mdw <= 1e-6, "weighted accumulation off by %.3g", mdw);
    free(dz);
    free(x); free(y); free(dy); free(scratch);
    sn_mel_loss_free(m);
}

static void test_fixture(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/mel_loss.safetensors", dir);
    sono_tensors *f = NULL;
    int rc = sn_safetensors_load(path, &f);
    CHECK_MSG(!rc, "%s: %s", path, sono_strerror(rc));
    if (rc) return;
    const float *cfg = fx(f, "config", 5);
    if (!cfg) { sn_tensors_free(f); return; }
    const int sr = (int)cfg[0], n = (int)cfg[1], lo = (int)cfg[2], hi = (int)cfg[3], n_mels = (int)cfg[4];
    const float *x = fx(f, "x", 2 * (size_t)n), *y = fx(f, "y", 2 * (size_t)n);
    const float *loss = fx(f, "loss", 2), *grad = fx(f, "grad", 2 * (size_t)n);
    const float *loss_s = fx(f, "loss_scaled", 2), *grad_s = fx(f, "grad_scaled", 2 * (size_t)n);
    const sono_tensor *mt = sn_tensors_find(f, "mel_x_512");
    int err = 0;
    mel_loss *m = NULL;
    float *scratch = NULL, *dy = calloc((size_t)n, sizeof *dy);
    /* pass 0: n_mels bands at every scale; pass 1: bands per scale (n_mels = 0) */
    for (int pass = 0; pass < 2; pass++) {
    sn_mel_loss_free(m);
    free(scratch);
    m = sn_mel_loss_new(sr, n, lo, hi, pass ? 0 : n_mels, &err);
    CHECK(m != NULL);
    if (pass) { loss = loss_s; grad = grad_s; }
    if (!x || !y || !loss || !grad || !m || !dy) { sn_mel_loss_free(m); free(dy); sn_tensors_free(f); return; }
    printf("vs PyTorch/torchaudio autograd (float64; rate %d, n %d, scales 2^%d..2^%d, %d mels%s):\n", sr, n, lo, hi,
           pass ? 0 : n_mels, pass ? ": n_fft * 5 / 32 per scale" : "");
    scratch = malloc(sn_mel_loss_scratch_floats(m) * sizeof *scratch);
    for (int p = 0; p < 2; p++) {
        memset(dy, 0, (size_t)n * sizeof *dy);
        double L = sn_mel_loss_compute(m, x + (size_t)p * n, y + (size_t)p * n, 1.0f, dy, scratch);
        double rel = fabs(L - loss[p]) / fabs(loss[p]);
        printf("  pair %d: loss C %.9g  ref %.9g  rel %.3g\n", p, L, loss[p], rel);
        CHECK_MSG(rel <= 1e-5, "pair %d: loss %.9g vs %.9g", p, L, loss[p]);
        char what[64];
        snprintf(what, sizeof what, "pair %d: dL/dy", p);
        double md = tu_maxdiff(dy, grad + (size_t)p * n, (size_t)n, what), mg = 0;
        for (int i = 0; i < n; i++) mg = fmax(mg, fabs(grad[(size_t)p * n + i]));
        CHECK_MSG(md <= 1e-3 * mg, "pair %d: gradient max abs %.3g, normalised %.3g", p, md, md / mg);
    }
    }
    sn_mel_loss_free(m);
    /* The n_fft = 512 mel spectrogram of x, seen through the loss against
     * silence: L = mean(M) + mean(ln max(M, 1e-5) - ln 1e-5). */
    m = sn_mel_loss_new(sr, n, 9, 9, n_mels, &err);
    if (m && mt && mt->ndim == 3 && mt->shape[0] == 2 && mt->shape[1] == n_mels) {
        size_t nm = (size_t)mt->shape[1] * mt->shape[2];
        float *zero = calloc((size_t)n, sizeof *zero), *s2 = malloc(sn_mel_loss_scratch_floats(m) * sizeof *s2);
        for (int p = 0; p < 2; p++) {
            const float *M = mt->data + p * nm;
            double want = 0;
            for (size_t i = 0; i < nm; i++)
                want += M[i] + (log(fmax(M[i], 1e-5)) - log(1e-5));
            want /= (double)nm;
            double L = sn_mel_loss_compute(m, x + (size_t)p * n, zero, 1.0f, NULL, s2);
            double rel = fabs(L - want) / want;
            printf("  pair %d: n_fft 512 mel of x vs silence: C %.9g  from ref mel %.9g  rel %.3g\n", p, L, want, rel);
            CHECK_MSG(rel <= 1e-5, "mel_x_512 pair %d: %.9g vs %.9g", p, L, want);
        }
        free(zero); free(s2);
    } else {
        CHECK_MSG(0, "mel_x_512 missing or misshapen");
    }
    sn_mel_loss_free(m);
    free(scratch); free(dy);
    sn_tensors_free(f);
}

static void test_errors(void) {
    int err = 0;
    CHECK(sn_mel_loss_new(24000, 16, 5, 11, 64, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_mel_loss_new(0, 4800, 5, 11, 64, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_mel_loss_new(24000, 4800, 6, 5, 64, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_mel_loss_new(24000, 4800, 5, 11, -1, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_mel_loss_new(24000, 4800, 5, 11, 1025, &err) == NULL && err == SONO_E_ARG);
    sn_mel_loss_free(NULL);
    mel_loss *m = sn_mel_loss_new(24000, 1000, 5, 11, 64, &err);
    CHECK(m && sn_mel_loss_n_scales(m) == 5); /* 32..512 fit into 1000 samples */
    sn_mel_loss_free(m);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static void timing(void) {
    const int n = 24000;
    int err;
    mel_loss *m = sn_mel_loss_new(24000, n, 5, 11, 64, &err);
    if (!m) { CHECK(0); return; }
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *dy = calloc(n, sizeof *dy);
    float *scratch = malloc(sn_mel_loss_scratch_floats(m) * sizeof *scratch);
    make_pair(x, y, n);
    sn_mel_loss_compute(m, x, y, 1.0f, dy, scratch);
    /* best of reps: the machine may be shared */
    const int reps = 15;
    double best_l = 1e30, best_g = 1e30, sum_g = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms();
        sn_mel_loss_compute(m, x, y, 1.0f, NULL, scratch);
        double t1 = now_ms();
        sn_mel_loss_compute(m, x, y, 1.0f, dy, scratch);
        double t2 = now_ms();
        best_l = fmin(best_l, t1 - t0);
        best_g = fmin(best_g, t2 - t1);
        sum_g += t2 - t1;
    }
    printf("timing (n 24000, scales 2^5..2^11, 64 mels, 1 thread, scratch %zu floats), best of %d: loss %.2f ms, "
           "loss + gradient %.2f ms per call (mean %.2f)\n", sn_mel_loss_scratch_floats(m), reps, best_l, best_g,
           sum_g / reps);
    free(x); free(y); free(dy); free(scratch);
    sn_mel_loss_free(m);
}

int main(int argc, char **argv) {
    tu_seed(0x3e1ull);
    test_errors();
    test_fd(40);
    test_fd(0);
    if (argc > 1) test_fixture(argv[1]);
    else CHECK_MSG(0, "usage: test-mel-loss TRAIN_DATA_DIR");
    timing();
    return tu_finish("test_mel_loss");
}
