/* conv2d (common/conv2d.c) checks shared by the discriminator tests
 * (test_disc.c, test_mpd.c): for each shape, at every kernel level this CPU
 * has (the direct AVX-512 kernels, then the per-row conv1d paths of kernels.c
 * at its AVX2 and plain levels), the fast forward and backward (din, dw, db)
 * against the plain reference (normalised error max|fast - ref| / max|ref|
 * <= CONV_CHECK_TOL), accumulation (a second backward doubles the
 * gradients), backward_fresh against a zeroed backward (bit for bit), and
 * finite differences of sum(R * conv(..)) for both implementations
 * (|an - fd| <= CONV_CHECK_RTOL |fd| + CONV_CHECK_ATOL). Include after
 * test_util.h. */
#ifndef SONO_CONV2D_CHECK_H
#define SONO_CONV2D_CHECK_H

#include "conv2d.h"
#include "sonotok/cpu.h"

#define CONV_CHECK_TOL 1e-5
#define CONV_CHECK_RTOL 1e-3
#define CONV_CHECK_ATOL 1e-3

typedef void (*conv_fwd_fn)(float *, const float *, const float *, const float *, const conv2d_shape *,
                            float *);
typedef void (*conv_bwd_fn)(float *, float *, float *, const float *, const float *, const float *,
                            const conv2d_shape *, float *);

static inline double conv_dot(conv_fwd_fn f, const float *in, const float *w, const float *b, const float *R,
                       const conv2d_shape *s, float *out, float *scratch, size_t n_out) {
    f(out, in, w, b, s, scratch);
    double acc = 0;
    for (size_t k = 0; k < n_out; k++) acc += (double)out[k] * R[k];
    return acc;
}

static inline void test_conv2d_shape(const conv2d_shape *s) {
    const int Ho = conv2d_out_len(s->H, s->kh, s->sh, s->dh, s->ph);
    const int Wo = conv2d_out_len(s->W, s->kw, s->sw, s->dw, s->pw);
    const size_t n_in = (size_t)s->C_in * s->H * s->W, n_w = (size_t)s->C_out * s->C_in * s->kh * s->kw;
    const size_t n_out = (size_t)s->C_out * Ho * Wo;
    float *in = malloc(n_in * sizeof(float)), *w = malloc(n_w * sizeof(float)), *b = malloc(s->C_out * sizeof(float));
    float *o1 = malloc(n_out * sizeof(float)), *o2 = malloc(n_out * sizeof(float)), *R = malloc(n_out * sizeof(float));
    float *di1 = calloc(n_in, sizeof(float)), *di2 = calloc(n_in, sizeof(float));
    float *dw1 = calloc(n_w, sizeof(float)), *dw2 = calloc(n_w, sizeof(float));
    float *db1 = calloc(s->C_out, sizeof(float)), *db2 = calloc(s->C_out, sizeof(float));
    size_t sf = sn_conv2d_scratch_floats(s);
    float *scr = malloc((sf ? sf : 1) * sizeof(float));
    tu_fill(in, n_in, -1, 1);
    tu_fill(w, n_w, -0.5f, 0.5f);
    tu_fill(b, s->C_out, -0.5f, 0.5f);
    tu_fill(R, n_out, -1, 1);
    char what[160];
    snprintf(what, sizeof what, "conv2d %dx%dx%d->%d k%dx%d s%d,%d d%d,%d p%d,%d", s->C_in, s->H, s->W, s->C_out,
             s->kh, s->kw, s->sh, s->sw, s->dh, s->dw, s->ph, s->pw);
    printf("%s -> %dx%d\n", what, Ho, Wo);
    sn_conv2d_forward(o1, in, w, b, s, scr);
    sn_conv2d_forward_ref(o2, in, w, b, s, NULL);
    double ref_max = 0;
    for (size_t k = 0; k < n_out; k++) ref_max = fmax(ref_max, fabs(o2[k]));
    CHECK_MSG(tu_maxdiff(o1, o2, n_out, "forward fast vs ref") <= CONV_CHECK_TOL * ref_max, "%s", what);
    sn_conv2d_backward(di1, dw1, db1, R, in, w, s, scr);
    sn_conv2d_backward_ref(di2, dw2, db2, R, in, w, s, NULL);
    double m;
    m = 0;
    for (size_t k = 0; k < n_in; k++) m = fmax(m, fabs(di2[k]));
    CHECK_MSG(tu_maxdiff(di1, di2, n_in, "din fast vs ref") <= CONV_CHECK_TOL * m, "%s", what);
    m = 0;
    for (size_t k = 0; k < n_w; k++) m = fmax(m, fabs(dw2[k]));
    CHECK_MSG(tu_maxdiff(dw1, dw2, n_w, "dw fast vs ref") <= CONV_CHECK_TOL * m, "%s", what);
    m = 0;
    for (int k = 0; k < s->C_out; k++) m = fmax(m, fabs(db2[k]));
    CHECK_MSG(tu_maxdiff(db1, db2, s->C_out, "db fast vs ref") <= CONV_CHECK_TOL * m, "%s", what);
    /* accumulation: a second fast backward doubles every gradient */
    sn_conv2d_backward(di1, dw1, db1, R, in, w, s, scr);
    int dbl = 1;
    for (size_t k = 0; k < n_in; k++) dbl &= fabs(di1[k] - 2.0 * di2[k]) <= 1e-4 * (1 + fabs(di2[k]));
    for (size_t k = 0; k < n_w; k++) dbl &= fabs(dw1[k] - 2.0 * dw2[k]) <= 1e-4 * (1 + fabs(dw2[k]));
    CHECK_MSG(dbl, "%s: backward does not accumulate", what);
    /* the fresh variant writes din: what a zeroed din accumulates, bit for bit */
    memset(di2, 0, n_in * sizeof(float));
    sn_conv2d_backward(di2, NULL, NULL, R, in, w, s, scr);
    tu_fill(di1, n_in, -9, 9);
    sn_conv2d_backward_fresh(di1, NULL, NULL, R, in, w, s, scr);
    CHECK_MSG(!memcmp(di1, di2, n_in * sizeof(float)), "%s: backward_fresh differs from a zeroed backward", what);

    /* finite differences of sum(R * conv(in, w, b)) (linear in each: exact up to rounding) */
    const float h = 0.25f;   /* the sum is linear in each input: a long step only beats rounding */
    int bad = 0;
    for (int impl = 0; impl < 2; impl++) {
        conv_fwd_fn f = impl ? sn_conv2d_forward : sn_conv2d_forward_ref;
        conv_bwd_fn g = impl ? sn_conv2d_backward : sn_conv2d_backward_ref;
        memset(di1, 0, n_in * sizeof(float));
        memset(dw1, 0, n_w * sizeof(float));
        memset(db1, 0, s->C_out * sizeof(float));
        g(di1, dw1, db1, R, in, w, s, scr);
        for (int t = 0; t < 12; t++) {
            int which = t % 3;
            float *arr = which == 0 ? in : which == 1 ? w : b;
            const float *an = which == 0 ? di1 : which == 1 ? dw1 : db1;
            size_t n = which == 0 ? n_in : which == 1 ? n_w : (size_t)s->C_out;
            size_t k = (size_t)(tu_rand() % n);
            float keep = arr[k];
            arr[k] = keep + h;
            double lp = conv_dot(f, in, w, b, R, s, o1, scr, n_out);
            arr[k] = keep - h;
            double lm = conv_dot(f, in, w, b, R, s, o1, scr, n_out);
            arr[k] = keep;
            double fd = (lp - lm) / (2.0 * h);
            if (!(fabs(an[k] - fd) <= CONV_CHECK_RTOL * fabs(fd) + CONV_CHECK_ATOL)) {
                bad++;
                fprintf(stderr, "  %s %s d%s[%zu]: analytic %.6g fd %.6g\n", what, impl ? "fast" : "ref",
                        which == 0 ? "in" : which == 1 ? "w" : "b", k, an[k], fd);
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %d finite-difference mismatches", what, bad);
    free(in); free(w); free(b); free(o1); free(o2); free(R);
    free(di1); free(di2); free(dw1); free(dw2); free(db1); free(db2); free(scr);
}

static inline void conv2d_check_shapes(const conv2d_shape *shapes, size_t n) {
    int done[SONO_CPU_AVX512 + 1] = {0};
    for (int level = SONO_CPU_AVX512; level >= SONO_CPU_PLAIN; level--) {
        int got = sono_set_cpu_level(level);
        if (done[got]) continue;
        done[got] = 1;
        printf("conv2d at kernel level %s\n", sono_cpu_level_name(got));
        for (size_t i = 0; i < n; i++) test_conv2d_shape(&shapes[i]);
    }
    sono_set_cpu_level(SONO_CPU_AVX512);
}

#endif
