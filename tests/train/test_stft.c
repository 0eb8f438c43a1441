/* common/stft.c: the forward against a plain O(n^2) DFT in double, the
 * backward against central finite differences of a scalar loss and through
 * the adjoint identity <stft(x), y> = <x, sn_stft_backward(y)>, reflect padding
 * and its backward against hand-written cases. Prints a small timing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stft.h"
#include "test_util.h"

#define PI 3.14159265358979323846

/* X[f][k] from the header's definition, in double. */
static void dft_ref(double *re, double *im, const float *x, int n, int n_fft, int hop, int normalized) {
    int F = n < n_fft ? 0 : (n - n_fft) / hop + 1, nb = n_fft / 2 + 1;
    double ss = 0;
    for (int j = 0; j < n_fft; j++) {
        double w = 0.5 - 0.5 * cos(2 * PI * j / n_fft);
        ss += w * w;
    }
    double s = normalized ? 1 / sqrt(ss) : 1;
    for (int f = 0; f < F; f++)
        for (int k = 0; k < nb; k++) {
            double ar = 0, ai = 0;
            for (int j = 0; j < n_fft; j++) {
                double w = 0.5 - 0.5 * cos(2 * PI * j / n_fft);
                double a = 2 * PI * (double)((long long)j * k % n_fft) / n_fft;
                double v = s * w * x[f * hop + j];
                ar += v * cos(a);
                ai -= v * sin(a);
            }
            re[f * nb + k] = ar;
            im[f * nb + k] = ai;
        }
}

static void test_forward(int n_fft, int hop, int n, int normalized) {
    int err = 0;
    stft_plan *p = sn_stft_plan_new(n_fft, hop, normalized, &err);
    CHECK(p && !err);
    if (!p) return;
    int F = sn_stft_n_frames(p, n), nb = sn_stft_n_bins(p);
    CHECK(nb == n_fft / 2 + 1);
    CHECK(F == (n < n_fft ? 0 : (n - n_fft) / hop + 1));
    size_t sz = (size_t)F * nb;
    float *x = malloc((size_t)n * sizeof *x), *re = malloc((sz + 1) * sizeof *re), *im = malloc((sz + 1) * sizeof *im);
    double *rr = malloc((sz + 1) * sizeof *rr), *ri = malloc((sz + 1) * sizeof *ri);
    tu_fill(x, (size_t)n, -1, 1);
    sn_stft_forward(p, re, im, x, n);
    dft_ref(rr, ri, x, n, n_fft, hop, normalized);
    double md = 0, mr = 0;
    for (size_t i = 0; i < sz; i++) {
        md = fmax(md, fmax(fabs(re[i] - rr[i]), fabs(im[i] - ri[i])));
        mr = fmax(mr, fmax(fabs(rr[i]), fabs(ri[i])));
    }
    double ne = mr > 0 ? md / mr : md;
    printf("  forward n_fft %5d hop %4d n %5d norm %d: %3d frames, max abs %.3g, normalised %.3g\n",
           n_fft, hop, n, normalized, F, md, ne);
    /* float FFT: error grows like log2(n_fft) * eps relative to the largest bin */
    CHECK_MSG(ne <= 2e-6 * (1 + log2(n_fft)), "normalised error %.3g", ne);
    free(x); free(re); free(im); free(rr); free(ri);
    sn_stft_plan_free(p);
}

/* Adjoint identity in double, and finite differences of L = sum(a*re + b*im). */
static void test_backward(int n_fft, int hop, int n, int normalized, int n_fd) {
    int err = 0;
    stft_plan *p = sn_stft_plan_new(n_fft, hop, normalized, &err);
    CHECK(p != NULL);
    if (!p) return;
    int F = sn_stft_n_frames(p, n), nb = sn_stft_n_bins(p);
    size_t sz = (size_t)F * nb;
    float *x = malloc((size_t)n * sizeof *x), *dx = calloc((size_t)n, sizeof *dx);
    float *a = malloc(sz * sizeof *a), *b = malloc(sz * sizeof *b);
    float *re = malloc(sz * sizeof *re), *im = malloc(sz * sizeof *im);
    tu_fill(x, (size_t)n, -1, 1);
    tu_fill(a, sz, -1, 1);
    tu_fill(b, sz, -1, 1);
    /* accumulation: start dx from a known value and subtract it after */
    for (int i = 0; i < n; i++) dx[i] = 0.25f;
    sn_stft_backward(p, dx, a, b, n);
    for (int i = 0; i < n; i++) dx[i] -= 0.25f;
    sn_stft_forward(p, re, im, x, n);
    double lhs = 0, rhs = 0, scale = 0;
    for (size_t i = 0; i < sz; i++) {
        lhs += (double)re[i] * a[i] + (double)im[i] * b[i];
        scale += fabs((double)re[i] * a[i]) + fabs((double)im[i] * b[i]);
    }
    for (int i = 0; i < n; i++) rhs += (double)x[i] * dx[i];
    double rel = fabs(lhs - rhs) / scale;
    printf("  adjoint  n_fft %5d hop %4d n %5d norm %d: <Sx,y> %.9g <x,S'y> %.9g, diff / sum|terms| %.3g\n",
           n_fft, hop, n, normalized, lhs, rhs, rel);
    CHECK_MSG(rel <= 1e-6, "adjoint mismatch %.3g", rel);
    /* samples past the last frame get nothing */
    int last = (F - 1) * hop + n_fft;
    int tail_ok = 1;
    for (int i = last; i < n; i++) tail_ok &= dx[i] == 0.0f;
    CHECK(tail_ok);
    /* central differences in double on the exact (double) DFT: L is linear, so
     * any step works; this checks the backward against the definition itself */
    double md = 0, mg = 0, mdc = 0;
    double *rr = malloc(sz * sizeof *rr), *ri = malloc(sz * sizeof *ri);
    float *xp = malloc((size_t)n * sizeof *xp);
    for (int t = 0; t < n_fd; t++) {
        int i = (int)(tu_rand() % (uint64_t)n);
        double h = 0.5, lp = 0, lm = 0;
        memcpy(xp, x, (size_t)n * sizeof *xp);
        xp[i] = (float)(x[i] + h);
        dft_ref(rr, ri, xp, n, n_fft, hop, normalized);
        for (size_t q = 0; q < sz; q++) lp += rr[q] * a[q] + ri[q] * b[q];
        xp[i] = (float)(x[i] - h);
        dft_ref(rr, ri, xp, n, n_fft, hop, normalized);
        for (size_t q = 0; q < sz; q++) lm += rr[q] * a[q] + ri[q] * b[q];
        double g = (lp - lm) / (2 * h);
        md = fmax(md, fabs(g - dx[i]));
        mg = fmax(mg, fabs(g));
        /* the same through the float forward under test (backward = gradient of the forward) */
        double lpc = 0, lmc = 0;
        xp[i] = (float)(x[i] + h);
        sn_stft_forward(p, re, im, xp, n);
        for (size_t q = 0; q < sz; q++) lpc += (double)re[q] * a[q] + (double)im[q] * b[q];
        xp[i] = (float)(x[i] - h);
        sn_stft_forward(p, re, im, xp, n);
        for (size_t q = 0; q < sz; q++) lmc += (double)re[q] * a[q] + (double)im[q] * b[q];
        mdc = fmax(mdc, fabs((lpc - lmc) / (2 * h) - dx[i]));
    }
    if (n_fd) {
        printf("  fd       n_fft %5d hop %4d n %5d norm %d: %d samples, max abs %.3g, normalised %.3g\n",
               n_fft, hop, n, normalized, n_fd, md, mg > 0 ? md / mg : md);
        CHECK_MSG(md <= 1e-5 * fmax(mg, 1e-3), "finite differences: max abs %.3g (max |g| %.3g)", md, mg);
        printf("  fd (C forward, float) %31s max abs %.3g, normalised %.3g\n", "", mdc, mg > 0 ? mdc / mg : mdc);
        CHECK_MSG(mdc <= 1e-4 * fmax(mg, 1e-3), "finite differences of the C forward: max abs %.3g", mdc);
    }
    free(rr); free(ri); free(xp);
    free(x); free(dx); free(a); free(b); free(re); free(im);
    sn_stft_plan_free(p);
}

static void test_pad(void) {
    const float x[5] = {1, 2, 3, 4, 5};
    float out[10];
    sn_stft_reflect_pad(out, x, 5, 3, 2);
    /* torch.nn.functional.pad([1,2,3,4,5], (3, 2), mode='reflect') */
    const float want[10] = {4, 3, 2, 1, 2, 3, 4, 5, 4, 3};
    int ok = 1;
    for (int i = 0; i < 10; i++) ok &= out[i] == want[i];
    CHECK_MSG(ok, "reflect pad (3, 2) of 1..5");
    sn_stft_reflect_pad(out, x, 5, 0, 0);
    CHECK(!memcmp(out, x, sizeof x));
    sn_stft_reflect_pad(out, x, 5, 4, 0);
    const float want2[9] = {5, 4, 3, 2, 1, 2, 3, 4, 5};
    ok = 1;
    for (int i = 0; i < 9; i++) ok &= out[i] == want2[i];
    CHECK_MSG(ok, "reflect pad (4, 0)");
    /* backward: dout = 1, 10, 100, ... folds onto the mirrored samples */
    float dout[10], dx[5] = {1, 1, 1, 1, 1};
    for (int i = 0; i < 10; i++) dout[i] = (float)(i + 1);
    sn_stft_reflect_pad_backward(dx, dout, 5, 3, 2);
    /* out = x3 x2 x1 x0 x1 x2 x3 x4 x3 x2 (0-based), dout = 1..10 */
    const float wantd[5] = {1 + 4, 1 + 3 + 5, 1 + 2 + 6 + 10, 1 + 1 + 7 + 9, 1 + 8};
    ok = 1;
    for (int i = 0; i < 5; i++) ok &= dx[i] == wantd[i];
    CHECK_MSG(ok, "reflect pad backward: %g %g %g %g %g", dx[0], dx[1], dx[2], dx[3], dx[4]);
}

static void test_errors(void) {
    int err = 0;
    CHECK(sn_stft_plan_new(1000, 10, 1, &err) == NULL && err < 0);
    CHECK(sn_stft_plan_new(1, 1, 1, &err) == NULL && err < 0);
    CHECK(sn_stft_plan_new(1 << 17, 1, 1, &err) == NULL && err < 0);
    CHECK(sn_stft_plan_new(64, 0, 1, &err) == NULL && err < 0);
    sn_stft_plan_free(NULL);
    stft_plan *p = sn_stft_plan_new(64, 16, 0, &err);
    CHECK(p && err == 0);
    CHECK(sn_stft_n_frames(p, 63) == 0 && sn_stft_n_frames(p, 64) == 1 && sn_stft_n_frames(p, 79) == 1 &&
          sn_stft_n_frames(p, 80) == 2);
    sn_stft_plan_free(p);
}

int sn_stft_test_set_simd(int on); /* common/stft.c test hook */

/* The AVX-512 butterflies against the plain C ones: the same operations in the
 * same order per value, so forward and backward must agree bit for bit. */
static void test_simd_plain(int n_fft, int hop, int n) {
    int err;
    if (!sn_stft_test_set_simd(1)) {
        printf("  simd vs plain n_fft %d: no AVX-512, skipped\n", n_fft);
        return;
    }
    stft_plan *ps = sn_stft_plan_new(n_fft, hop, 1, &err);
    sn_stft_test_set_simd(0);
    stft_plan *pp = sn_stft_plan_new(n_fft, hop, 1, &err);
    sn_stft_test_set_simd(1);
    const int F = sn_stft_n_frames(ps, n), nb = sn_stft_n_bins(ps);
    const size_t sz = (size_t)F * nb;
    float *x = malloc((size_t)n * sizeof *x), *re[2], *im[2], *dx[2];
    tu_fill(x, (size_t)n, -1, 1);
    for (int v = 0; v < 2; v++) {
        re[v] = malloc(sz * sizeof(float));
        im[v] = malloc(sz * sizeof(float));
        dx[v] = calloc((size_t)n, sizeof(float));
        sn_stft_forward(v ? pp : ps, re[v], im[v], x, n);
    }
    int same = !memcmp(re[0], re[1], sz * sizeof(float)) && !memcmp(im[0], im[1], sz * sizeof(float));
    for (int v = 0; v < 2; v++) sn_stft_backward(v ? pp : ps, dx[v], re[0], im[0], n);
    same = same && !memcmp(dx[0], dx[1], (size_t)n * sizeof(float));
    CHECK_MSG(same, "simd vs plain n_fft %d: forward or backward differs", n_fft);
    printf("  simd vs plain n_fft %d: %s\n", n_fft, same ? "bit-identical" : "DIFFER");
    for (int v = 0; v < 2; v++) { free(re[v]); free(im[v]); free(dx[v]); }
    free(x);
    sn_stft_plan_free(ps);
    sn_stft_plan_free(pp);
}

static void timing(void) {
    const int n = 24000 + 2048;
    float *x = malloc((size_t)n * sizeof *x), *dx = calloc((size_t)n, sizeof *dx);
    tu_fill(x, (size_t)n, -1, 1);
    int err;
    stft_plan *p = sn_stft_plan_new(2048, 512, 1, &err);
    size_t sz = (size_t)sn_stft_n_frames(p, n) * sn_stft_n_bins(p);
    float *re = malloc(sz * sizeof *re), *im = malloc(sz * sizeof *im);
    struct timespec t0, t1, t2;
    double fw = 1e30, bw = 1e30; /* best of reps: the machine may be shared */
    for (int r = 0; r < 30; r++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        sn_stft_forward(p, re, im, x, n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        sn_stft_backward(p, dx, re, im, n);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        fw = fmin(fw, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6);
        bw = fmin(bw, (t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) * 1e-6);
    }
    printf("  timing n_fft 2048 hop 512, %d samples (%d frames): forward %.3f ms, backward %.3f ms\n", n,
           sn_stft_n_frames(p, n), fw, bw);
    free(x); free(dx); free(re); free(im);
    sn_stft_plan_free(p);
}

int main(void) {
    tu_seed(0x5f7f7ull);
    printf("forward vs O(n^2) DFT (double):\n");
    test_forward(2, 1, 7, 0);
    test_forward(4, 1, 9, 1);
    test_forward(8, 3, 30, 0);
    test_forward(16, 4, 64, 1);
    test_forward(32, 8, 200, 1);
    test_forward(64, 16, 400, 0);
    test_forward(256, 64, 1000, 1);
    test_forward(2048, 512, 4096, 1);
    test_forward(64, 16, 63, 1); /* no frames */
    printf("backward:\n");
    test_backward(2, 1, 9, 0, 9);
    test_backward(4, 3, 13, 1, 13);
    test_backward(8, 2, 40, 1, 40);
    test_backward(16, 5, 70, 0, 30);
    test_backward(64, 16, 333, 1, 30);
    test_backward(512, 128, 2000, 1, 6);
    test_backward(16384, 4096, 20000, 1, 0); /* heap scratch path */
    printf("reflect pad:\n");
    test_pad();
    test_errors();
    printf("AVX-512 vs plain butterflies:\n");
    for (int nf = 64; nf <= 8192; nf *= 2) test_simd_plain(nf, nf / 4, 3 * nf + 5);
    timing();
    return tu_finish("test_stft");
}
