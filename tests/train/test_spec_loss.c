/* codec/train/spec_loss.c: value and gradient against PyTorch autograd
 * (tests/ref/make_spec_fixture.py writes data/spec_loss.safetensors), the
 * gradient against central differences of the loss itself (per sample and
 * along a random direction), zero for equal signals, weighting and
 * accumulation of dy, the bins in the loss, bad arguments.
 * Usage: test-spec-loss TRAIN_DATA_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonotok/error.h"
#include "spec_loss.h"
#include "tensors.h"
#include "test_util.h"

/* A voiced-like reference (harmonics of 120 Hz, noise) and a reconstruction
 * with other harmonic amplitudes and more noise. */
static void make_pair(float *x, float *y, int n, int sr) {
    for (int i = 0; i < n; i++) {
        double ph = 2 * M_PI * 120.0 * i / sr;
        float a = 0, b = 0;
        for (int h = 1; h <= 30; h++) {
            a += (float)(0.2 / h * sin(h * ph + 0.3 * h));
            b += (float)(0.15 / h * sin(h * ph * 1.003 + 0.5 * h));
        }
        x[i] = a + tu_uniform(-0.01f, 0.01f);
        y[i] = b + tu_uniform(-0.03f, 0.03f);
    }
}

static double loss_at(const spec_loss *s, const float *x, float *y, int i, float h, float *scratch, float *step) {
    float y0 = y[i];
    y[i] = y0 + h;
    *step = y[i] - y0;
    double L = sn_spec_loss_compute(s, x, y, 1.0f, NULL, scratch);
    y[i] = y0;
    return L;
}

static void test_fd(void) {
    const int n = 4096, sr = 16000;
    int err = 0;
    spec_loss *s = sn_spec_loss_new(sr, n, 9, 11, 3000.0f, &err);
    CHECK(s && !err);
    if (!s) return;
    CHECK(sn_spec_loss_n_scales(s) == 3);
    /* K = floor(3000 n_fft / 16000): 96, 192, 384 at 512, 1024, 2048 */
    CHECK(sn_spec_loss_n_bins(s, 0) == 97 && sn_spec_loss_n_bins(s, 2) == 385 && sn_spec_loss_n_bins(s, 3) == 0);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *dy = calloc(n, sizeof *dy);
    float *v = malloc(n * sizeof *v), *yv = malloc(n * sizeof *yv);
    float *scratch = malloc(sn_spec_loss_scratch_floats(s) * sizeof *scratch);
    make_pair(x, y, n, sr);
    double L = sn_spec_loss_compute(s, x, y, 1.0f, dy, scratch);
    CHECK(L > 0 && L == sn_spec_loss_compute(s, x, y, 1.0f, NULL, scratch));
    /* per sample, edges included (reflect padding): the loss has kinks and the
     * 1/|Y| curvature, so the tolerance is on the normalised error */
    double md = 0, mg = 0;
    for (int t = 0; t < 32; t++) {
        int i = t < 8 ? (t < 4 ? t : n - 1 - (t - 4)) : (int)(tu_rand() % (uint64_t)n);
        float hp, hm;
        double lp = loss_at(s, x, y, i, 1e-4f, scratch, &hp), lm = loss_at(s, x, y, i, -1e-4f, scratch, &hm);
        double g = (lp - lm) / ((double)hp - hm);
        md = fmax(md, fabs(g - dy[i]));
        mg = fmax(mg, fabs(g));
    }
    printf("finite differences (n %d, 2^9..2^11, top 3 kHz, 32 samples, step 1e-4): L %.6f, max abs %.3g, "
           "normalised %.3g\n", n, L, md, md / mg);
    CHECK_MSG(md <= 2e-2 * mg, "finite differences: normalised %.3g", md / mg);
    /* along a random direction the kinks average out, but the 1/|Y|^2 curvature of bins with a small |Y|
     * is large: the difference converges to <dy, dv> slowly (compared with the float steps actually taken) */
    tu_fill(v, (size_t)n, -1, 1);
    double rel[3];
    for (int k = 0; k < 3; k++) {
        double h = k == 0 ? 1e-4 : k == 1 ? 1e-5 : 1e-6, l2[2], gv = 0;
        for (int sg = 0; sg < 2; sg++) {
            for (int i = 0; i < n; i++) yv[i] = (float)(y[i] + (sg ? -h : h) * v[i]);
            l2[sg] = sn_spec_loss_compute(s, x, yv, 1.0f, NULL, scratch);
            for (int i = 0; i < n; i++) gv += (sg ? -1.0 : 1.0) * (double)dy[i] * ((double)yv[i] - y[i]);
        }
        rel[k] = fabs((l2[0] - l2[1]) - gv) / fabs(gv);
        printf("  directional, step %g: difference %.7g  <dy, dv> %.7g  rel %.3g\n", h, l2[0] - l2[1], gv, rel[k]);
    }
    CHECK_MSG(rel[2] <= 1e-2 && rel[2] < rel[1] && rel[1] < rel[0], "directional derivative: rel %.3g, %.3g, %.3g",
              rel[0], rel[1], rel[2]);
    /* equal signals: zero loss, zero gradient */
    float *dz = calloc(n, sizeof *dz);
    int zero = sn_spec_loss_compute(s, y, y, 1.0f, dz, scratch) == 0;
    for (int i = 0; i < n; i++) zero &= dz[i] == 0.0f;
    CHECK_MSG(zero, "equal signals: loss or gradient not 0");
    /* dy accumulates weight * dL/dy */
    for (int i = 0; i < n; i++) dz[i] = 1.0f;
    sn_spec_loss_compute(s, x, y, 0.25f, dz, scratch);
    double mw = 0;
    for (int i = 0; i < n; i++) mw = fmax(mw, fabs((dz[i] - 1.0) - 0.25 * dy[i]));
    CHECK_MSG(mw <= 1e-6, "weighted accumulation off by %.3g", mw);
    free(dz); free(x); free(y); free(dy); free(v); free(yv); free(scratch);
    sn_spec_loss_free(s);
}

static void test_fixture(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/spec_loss.safetensors", dir);
    sono_tensors *f = NULL;
    int rc = sn_safetensors_load(path, &f);
    CHECK_MSG(!rc, "%s: %s", path, sono_strerror(rc));
    if (rc) return;
    const sono_tensor *cfg = sn_tensors_find(f, "config");
    CHECK_MSG(cfg && cfg->numel == 7, "fixture: config");
    if (!cfg || cfg->numel != 7) { sn_tensors_free(f); return; }
    const int sr = (int)cfg->data[0], n = (int)cfg->data[1];
    const int lo[2] = {(int)cfg->data[2], (int)cfg->data[5]}, hi[2] = {(int)cfg->data[3], (int)cfg->data[5]};
    const float top[2] = {cfg->data[4], cfg->data[6]};
    const sono_tensor *x = sn_tensors_find(f, "x"), *y = sn_tensors_find(f, "y");
    float *dy = calloc((size_t)n, sizeof *dy);
    for (int set = 0; set < 2; set++) {
        const sono_tensor *loss = sn_tensors_find(f, set ? "loss_b" : "loss_a");
        const sono_tensor *grad = sn_tensors_find(f, set ? "grad_b" : "grad_a");
        int ok = x && y && loss && grad && x->numel == 2 * n && y->numel == 2 * n && loss->numel == 2 &&
                 grad->numel == 2 * n;
        CHECK_MSG(ok, "fixture tensors of setting %c", 'a' + set);
        int err = 0;
        spec_loss *s = ok ? sn_spec_loss_new(sr, n, lo[set], hi[set], top[set], &err) : NULL;
        CHECK(!ok || s);
        if (!s) continue;
        float *scratch = malloc(sn_spec_loss_scratch_floats(s) * sizeof *scratch);
        printf("vs PyTorch autograd (float64; rate %d, n %d, scales 2^%d..2^%d, top %g Hz):\n", sr, n, lo[set],
               hi[set], (double)top[set]);
        for (int p = 0; p < 2; p++) {
            memset(dy, 0, (size_t)n * sizeof *dy);
            double L = sn_spec_loss_compute(s, x->data + (size_t)p * n, y->data + (size_t)p * n, 1.0f, dy, scratch);
            double rel = fabs(L - loss->data[p]) / loss->data[p];
            printf("  pair %d: loss C %.9g  ref %.9g  rel %.3g\n", p, L, loss->data[p], rel);
            CHECK_MSG(rel <= 1e-5, "setting %c pair %d: loss %.9g vs %.9g", 'a' + set, p, L, loss->data[p]);
            char what[64];
            snprintf(what, sizeof what, "setting %c pair %d: dL/dy", 'a' + set, p);
            const float *g = grad->data + (size_t)p * n;
            double md = tu_maxdiff(dy, g, (size_t)n, what), mg = 0;
            for (int i = 0; i < n; i++) mg = fmax(mg, fabs(g[i]));
            CHECK_MSG(md <= 1e-3 * mg, "setting %c pair %d: gradient normalised error %.3g", 'a' + set, p, md / mg);
        }
        free(scratch);
        sn_spec_loss_free(s);
    }
    free(dy);
    sn_tensors_free(f);
}

static void test_errors(void) {
    int err = 0;
    CHECK(sn_spec_loss_new(24000, 1000, 11, 11, 4000, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_spec_loss_new(0, 24000, 11, 11, 4000, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_spec_loss_new(24000, 24000, 12, 11, 4000, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_spec_loss_new(24000, 24000, 11, 17, 4000, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_spec_loss_new(24000, 24000, 11, 11, 0, &err) == NULL && err == SONO_E_ARG);
    CHECK(sn_spec_loss_new(24000, 24000, 11, 11, NAN, &err) == NULL && err == SONO_E_ARG);
    sn_spec_loss_free(NULL);
    spec_loss *s = sn_spec_loss_new(24000, 3000, 11, 12, 4000, &err);
    CHECK(s && sn_spec_loss_n_scales(s) == 1 && sn_spec_loss_n_bins(s, 0) == 342); /* 4096 > 3000 samples */
    sn_spec_loss_free(s);
    s = sn_spec_loss_new(24000, 24000, 11, 11, 1e9f, &err);
    CHECK(s && sn_spec_loss_n_bins(s, 0) == 1025); /* a top above sr/2: every bin */
    sn_spec_loss_free(s);
}

int main(int argc, char **argv) {
    tu_seed(0x5bec1ull);
    test_errors();
    test_fd();
    if (argc > 1) test_fixture(argv[1]);
    else CHECK_MSG(0, "usage: test-spec-loss TRAIN_DATA_DIR");
    return tu_finish("test_spec_loss");
}
