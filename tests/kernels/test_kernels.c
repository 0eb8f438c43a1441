/* Fast kernels against their plain references, on every back end this CPU
 * has (OpenBLAS, AVX2, AVX-512), with 1 and 2 threads, over edge shapes
 * (K=1, C_in=1, C_out=1, T barely covering the kernel, T_out=1, strides,
 * dilations 1-3, odd sizes, time chunk boundaries) and random ones.
 * Fails when the normalised error max|fast - ref| / max|ref| exceeds KC_TOL,
 * when a kernel writes past its output or scratch (sized exactly by the
 * *_scratch_floats() functions), or when the SIMD back ends give different
 * bits with 1 and 2 threads. Seed: SONO_TEST_SEED. */
#include "kernel_check.h"

static char g_name[256];

static void check_conv1d(int C_in, int C_out, int T_in, int K, int stride, int dil, int bias, int nt) {
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    if (T_out <= 0) return;
    size_t n_in = (size_t)C_in * T_in, n_w = (size_t)C_out * C_in * K, n_out = (size_t)C_out * T_out;
    size_t n_s = sn_conv1d_scratch_floats(C_in, K, T_out);
    float *x = kc_alloc(n_in), *w = kc_alloc(n_w), *b = kc_alloc(C_out);
    float *y = kc_alloc(n_out), *yr = kc_alloc(n_out), *s = kc_alloc(n_s);
    tu_fill(x, n_in, -1, 1); tu_fill(w, n_w, -0.5f, 0.5f); tu_fill(b, C_out, -1, 1);
    sn_conv1d_forward_ref(yr, x, w, bias ? b : NULL, C_in, C_out, T_in, K, stride, dil, NULL, 1);
    sn_conv1d_forward(y, x, w, bias ? b : NULL, C_in, C_out, T_in, K, stride, dil, s, nt);
    snprintf(g_name, sizeof g_name, "conv1d %dx%d T_in %d K %d s %d d %d%s nt %d",
             C_in, C_out, T_in, K, stride, dil, bias ? " b" : "", nt);
    kc_compare(g_name, y, yr, n_out, KC_TOL);
    CHECK_MSG(kc_guard_ok(y, n_out) && kc_guard_ok(s, n_s), "%s: wrote past the end", g_name);
    free(x); free(w); free(b); free(y); free(yr); free(s);
}

static void check_convtr1d(int C_in, int C_out, int T_in, int K, int stride, int bias, int nt) {
    size_t T_out = (size_t)(T_in - 1) * stride + K;
    size_t n_in = (size_t)C_in * T_in, n_w = (size_t)C_in * C_out * K, n_out = (size_t)C_out * T_out;
    size_t n_s = sn_convtr1d_scratch_floats(C_out, K, T_in);
    float *x = kc_alloc(n_in), *w = kc_alloc(n_w), *b = kc_alloc(C_out);
    float *y = kc_alloc(n_out), *yr = kc_alloc(n_out), *s = kc_alloc(n_s);
    tu_fill(x, n_in, -1, 1); tu_fill(w, n_w, -0.5f, 0.5f); tu_fill(b, C_out, -1, 1);
    sn_convtr1d_forward_ref(yr, x, w, bias ? b : NULL, C_in, C_out, T_in, K, stride, NULL, 1);
    sn_convtr1d_forward(y, x, w, bias ? b : NULL, C_in, C_out, T_in, K, stride, s, nt);
    snprintf(g_name, sizeof g_name, "convtr1d %dx%d T_in %d K %d s %d%s nt %d",
             C_in, C_out, T_in, K, stride, bias ? " b" : "", nt);
    kc_compare(g_name, y, yr, n_out, KC_TOL);
    CHECK_MSG(kc_guard_ok(y, n_out) && kc_guard_ok(s, n_s), "%s: wrote past the end", g_name);
    free(x); free(w); free(b); free(y); free(yr); free(s);
}

static void check_lstm(int C, int H, int T, int bias, int nt) {
    size_t G = 4 * (size_t)H;
    size_t n_s = sn_lstm_scratch_floats(C, H, T);
    float *x = kc_alloc((size_t)C * T), *wi = kc_alloc(G * C), *wh = kc_alloc(G * H);
    float *bi = kc_alloc(G), *bh = kc_alloc(G), *s = kc_alloc(n_s);
    float *h = kc_alloc(H), *c = kc_alloc(H), *hr = kc_alloc(H), *cr = kc_alloc(H);
    float *y = kc_alloc((size_t)H * T), *yr = kc_alloc((size_t)H * T);
    float sc = 1.0f / sqrtf((float)H); /* PyTorch's init range */
    tu_fill(x, (size_t)C * T, -1, 1); tu_fill(wi, G * C, -sc, sc); tu_fill(wh, G * H, -sc, sc);
    tu_fill(bi, G, -sc, sc); tu_fill(bh, G, -sc, sc);
    tu_fill(h, H, -0.5f, 0.5f); tu_fill(c, H, -1, 1);
    memcpy(hr, h, H * sizeof *h); memcpy(cr, c, H * sizeof *c);
    sn_lstm_forward_ref(yr, x, wi, wh, bias ? bi : NULL, bias ? bh : NULL, hr, cr, C, H, T, NULL, 1);
    sn_lstm_forward(y, x, wi, wh, bias ? bi : NULL, bias ? bh : NULL, h, c, C, H, T, s, nt);
    snprintf(g_name, sizeof g_name, "lstm C %d H %d T %d%s nt %d", C, H, T, bias ? " b" : "", nt);
    kc_compare(g_name, y, yr, (size_t)H * T, KC_TOL);
    /* a lone state value can be near 0 after cancellation in f*c + i*g: judge
     * the states on the scale of h's range (1) rather than their own */
    kc_compare_floor("  final h", h, hr, H, 1.0, KC_TOL);
    kc_compare_floor("  final c", c, cr, H, 1.0, KC_TOL);
    CHECK_MSG(kc_guard_ok(y, (size_t)H * T) && kc_guard_ok(s, n_s) && kc_guard_ok(h, H) && kc_guard_ok(c, H),
              "%s: wrote past the end", g_name);
    free(x); free(wi); free(wh); free(bi); free(bh); free(s);
    free(h); free(c); free(hr); free(cr); free(y); free(yr);
}

static void check_elu(size_t n, float alpha, float range, int inplace, int nt) {
    float *x = kc_alloc(n), *y = kc_alloc(n), *yr = kc_alloc(n);
    tu_fill(x, n, -range, range);
    if (n > 4) { x[0] = 0.0f; x[1] = -0.0f; x[2] = -1e-30f; x[3] = -100.0f; }
    sn_elu_forward_ref(yr, x, n, alpha, 1);
    if (inplace) { memcpy(y, x, n * sizeof *x); sn_elu_forward(y, y, n, alpha, nt); }
    else sn_elu_forward(y, x, n, alpha, nt);
    snprintf(g_name, sizeof g_name, "elu n %zu alpha %g range %g%s nt %d", n, alpha, range,
             inplace ? " in place" : "", nt);
    kc_compare(g_name, y, yr, n, KC_TOL);
    /* elementwise: also relative per element, so tiny outputs near 0 are checked */
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)y[i] - yr[i]), m = fabs((double)yr[i]);
        double r = m > 1e-30 ? d / m : d;
        if (!(r <= worst)) worst = r;
    }
    CHECK_MSG(worst <= 1e-5, "%s: worst elementwise relative error %.3g", g_name, worst);
    CHECK_MSG(kc_guard_ok(y, n), "%s: wrote past the end", g_name);
    free(x); free(y); free(yr);
}

static void check_groupnorm(int C, int T, float offset, int affine, int inplace, int nt) {
    size_t n = (size_t)C * T;
    float *x = kc_alloc(n), *y = kc_alloc(n), *yr = kc_alloc(n), *g = kc_alloc(C), *b = kc_alloc(C);
    tu_fill(x, n, offset - 1, offset + 1); tu_fill(g, C, 0.5f, 1.5f); tu_fill(b, C, -1, 1);
    sn_groupnorm1_forward_ref(yr, x, affine ? g : NULL, affine ? b : NULL, C, T, 1e-5f, 1);
    if (inplace) { memcpy(y, x, n * sizeof *x); sn_groupnorm1_forward(y, y, affine ? g : NULL, affine ? b : NULL, C, T, 1e-5f, nt); }
    else sn_groupnorm1_forward(y, x, affine ? g : NULL, affine ? b : NULL, C, T, 1e-5f, nt);
    snprintf(g_name, sizeof g_name, "groupnorm1 C %d T %d offset %g%s%s nt %d", C, T, offset,
             affine ? " affine" : "", inplace ? " in place" : "", nt);
    kc_compare(g_name, y, yr, n, KC_TOL);
    CHECK_MSG(kc_guard_ok(y, n), "%s: wrote past the end", g_name);
    free(x); free(y); free(yr); free(g); free(b);
}

static void check_linear(int N, int IC, int OC, int bias, int nt) {
    float *x = kc_alloc((size_t)N * IC), *w = kc_alloc((size_t)OC * IC), *b = kc_alloc(OC);
    float *y = kc_alloc((size_t)N * OC), *yr = kc_alloc((size_t)N * OC);
    tu_fill(x, (size_t)N * IC, -1, 1); tu_fill(w, (size_t)OC * IC, -0.5f, 0.5f); tu_fill(b, OC, -1, 1);
    sn_linear_forward_ref(yr, x, w, bias ? b : NULL, N, IC, OC, 1);
    sn_linear_forward(y, x, w, bias ? b : NULL, N, IC, OC, nt);
    snprintf(g_name, sizeof g_name, "linear N %d IC %d OC %d%s nt %d", N, IC, OC, bias ? " b" : "", nt);
    kc_compare(g_name, y, yr, (size_t)N * OC, KC_TOL);
    CHECK_MSG(kc_guard_ok(y, (size_t)N * OC), "%s: wrote past the end", g_name);
    free(x); free(w); free(b); free(y); free(yr);
}

/* Same inputs, 1 and 2 threads: the engine back ends must give identical
 * bits (the codec promises decode is deterministic across thread counts). */
static void check_thread_determinism(void) {
    enum { N_MAX = 1 << 21 };
    float *x = kc_alloc(N_MAX), *w = kc_alloc(N_MAX), *b = kc_alloc(4096), *s = kc_alloc(N_MAX);
    float *y1 = kc_alloc(N_MAX), *y2 = kc_alloc(N_MAX), *h = kc_alloc(512), *c = kc_alloc(512);
    tu_fill(x, N_MAX, -1, 1); tu_fill(w, N_MAX, -0.05f, 0.05f); tu_fill(b, 4096, -1, 1);
    static const int conv[][5] = { /* C_in, C_out, T_out, K, stride */
        {32, 16, 3000, 3, 1}, {32, 64, 1500, 4, 2}, {128, 256, 75, 10, 5}, {256, 128, 75, 7, 1},
    };
    for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) {
        const int *q = conv[i];
        int T_in = (q[2] - 1) * q[4] + q[3];
        size_t n = (size_t)q[1] * q[2];
        sn_conv1d_forward(y1, x, w, b, q[0], q[1], T_in, q[3], q[4], 1, s, 1);
        sn_conv1d_forward(y2, x, w, b, q[0], q[1], T_in, q[3], q[4], 1, s, 2);
        CHECK_MSG(!memcmp(y1, y2, n * sizeof *y1), "conv1d %dx%d K %d s %d: 1 and 2 threads differ",
                  q[0], q[1], q[3], q[4]);
    }
    static const int tr[][5] = { /* C_in, C_out, T_in, K, stride */
        {64, 32, 1500, 4, 2}, {512, 256, 20, 16, 8},
    };
    for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++) {
        const int *q = tr[i];
        size_t n = (size_t)q[1] * ((size_t)(q[2] - 1) * q[4] + q[3]);
        sn_convtr1d_forward(y1, x, w, b, q[0], q[1], q[2], q[3], q[4], s, 1);
        sn_convtr1d_forward(y2, x, w, b, q[0], q[1], q[2], q[3], q[4], s, 2);
        CHECK_MSG(!memcmp(y1, y2, n * sizeof *y1), "convtr1d %dx%d K %d s %d: 1 and 2 threads differ",
                  q[0], q[1], q[3], q[4]);
    }
    for (int nt = 1; nt <= 2; nt++) { /* H = 512 as in EnCodec, a few steps */
        memset(h, 0, 512 * sizeof *h); memset(c, 0, 512 * sizeof *c);
        sn_lstm_forward(nt == 1 ? y1 : y2, x, w, w + 4 * 512 * 64, b, b, h, c, 64, 512, 6, s, nt);
    }
    CHECK_MSG(!memcmp(y1, y2, 512 * 6 * sizeof *y1), "lstm H 512: 1 and 2 threads differ");
    sn_elu_forward(y1, x, N_MAX, 1.0f, 1);
    sn_elu_forward(y2, x, N_MAX, 1.0f, 2);
    CHECK_MSG(!memcmp(y1, y2, (size_t)N_MAX * sizeof *y1), "elu: 1 and 2 threads differ");
    sn_groupnorm1_forward(y1, x, b, b + 1000, 100, 3000, 1e-5f, 1);
    sn_groupnorm1_forward(y2, x, b, b + 1000, 100, 3000, 1e-5f, 2);
    CHECK_MSG(!memcmp(y1, y2, 100 * 3000 * sizeof *y1), "groupnorm1: 1 and 2 threads differ");
    printf("  1 and 2 threads give identical bits: checked\n");
    free(x); free(w); free(b); free(s); free(y1); free(y2); free(h); free(c);
}

static int rnd(int lo, int hi) { return lo + (int)(tu_rand() % (uint64_t)(hi - lo + 1)); }

static void run_all(int nt) {
    /* conv1d edge shapes: C_in, C_out, T_in, K, stride, dil */
    static const int conv_cases[][6] = {
        {1, 32, 40, 7, 1, 1},      /* first layer shape: C_in = 1 */
        {32, 1, 50, 7, 1, 1},      /* last layer shape: C_out = 1 */
        {16, 32, 37, 1, 1, 1},     /* 1x1 */
        {7, 9, 30, 1, 2, 1},       /* 1x1 strided */
        {5, 3, 7, 7, 1, 1},        /* T_in == K: T_out = 1 */
        {5, 3, 13, 7, 1, 2},       /* T_in == dilated extent: T_out = 1 */
        {6, 10, 19, 3, 1, 3},      /* dilation 3 */
        {9, 17, 101, 3, 1, 2},     /* dilation 2, odd sizes */
        {8, 16, 34, 4, 2, 1},      /* 32->64 k4 s2 in miniature */
        {8, 16, 71, 8, 4, 1},      /* k8 s4 */
        {12, 24, 109, 10, 5, 1},   /* k10 s5 */
        {16, 32, 135, 16, 8, 1},   /* k16 s8 */
        {3, 5, 16, 16, 8, 1},      /* k16 s8, T_out = 1 */
        {4, 6, 40, 3, 2, 3},       /* stride and dilation */
        {3, 4, 50, 2, 5, 1},       /* stride > K */
        {2, 3, 80, 70, 1, 1},      /* more taps than the engine's table */
        {3, 19, 2100, 3, 1, 1},    /* long T: several tiles, odd rows */
        {4, 9, 2 * 1030 + 2, 4, 2, 1}, /* strided across a time chunk boundary */
        {33, 12, 48 + 2, 3, 1, 1}, /* exactly one full tile */
        {40, 64, 75 + 6, 7, 1, 1}, /* LSTM-rate shape */
    };
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        const int *c = conv_cases[i];
        check_conv1d(c[0], c[1], c[2], c[3], c[4], c[5], (int)(i & 1) == 0, nt);
    }
    for (int r = 0; r < 12; r++) {
        int K = rnd(1, 9), s = rnd(1, 4), d = rnd(1, 3);
        int eff = (K - 1) * d + 1;
        check_conv1d(rnd(1, 20), rnd(1, 20), eff + rnd(0, 120), K, s, d, r & 1, nt);
    }
    /* convtr1d: C_in, C_out, T_in, K, stride */
    static const int tr_cases[][5] = {
        {16, 8, 9, 16, 8}, {12, 6, 13, 10, 5}, {8, 4, 21, 8, 4}, {6, 3, 50, 4, 2},
        {1, 5, 11, 3, 1}, {5, 1, 11, 4, 2}, {3, 4, 1, 5, 3}, {4, 3, 7, 2, 3},
        {7, 5, 1100, 4, 2}, {9, 7, 33, 1, 1}, {3, 2, 5, 7, 1},
    };
    for (size_t i = 0; i < sizeof tr_cases / sizeof tr_cases[0]; i++) {
        const int *c = tr_cases[i];
        check_convtr1d(c[0], c[1], c[2], c[3], c[4], (int)(i & 1) == 0, nt);
    }
    for (int r = 0; r < 8; r++)
        check_convtr1d(rnd(1, 16), rnd(1, 16), rnd(1, 60), rnd(1, 12), rnd(1, 6), r & 1, nt);
    /* lstm: C, H, T */
    check_lstm(5, 7, 6, 1, nt);
    check_lstm(1, 1, 3, 0, nt);
    check_lstm(8, 16, 1, 1, nt);
    check_lstm(24, 33, 9, 0, nt);
    check_lstm(32, 130, 5, 1, nt);     /* several unit groups, odd tail, threads */
    check_lstm(3, 20, 260, 1, nt);     /* across the step chunk boundary */
    check_lstm(0, 5, 4, 1, nt);        /* no input channels */
    /* elu */
    check_elu(1, 1.0f, 3, 0, nt);
    check_elu(17, 1.0f, 3, 0, nt);
    check_elu(1000, 0.5f, 20, 1, nt);
    check_elu(100003, 1.0f, 5, 0, nt);
    check_elu(70001, 1.0f, 0.01f, 1, nt);
    /* groupnorm: C, T, offset */
    check_groupnorm(1, 1, 0, 1, 0, nt);
    check_groupnorm(3, 17, 0, 0, 0, nt);
    check_groupnorm(8, 33, 100.0f, 1, 1, nt);
    check_groupnorm(64, 601, 3.0f, 1, 0, nt);
    /* linear: N, IC, OC */
    check_linear(1, 17, 9, 1, nt);
    check_linear(7, 33, 12, 0, nt);
    check_linear(16, 64, 48, 1, nt);
}

int main(void) {
    tu_seed(20261126);
    int done[3] = {0, 0, 0};
    for (int level = 2; level >= 0; level--) {
        int got = sn_kern_test_set_isa(level);
        if (done[got]) continue;
        done[got] = 1;
        static const char *names[] = {"OpenBLAS/plain", "AVX2", "AVX-512"};
        for (int nt = 1; nt <= 2; nt++) {
            printf("back end %s, %d thread%s\n", names[got], nt, nt > 1 ? "s" : "");
            sn_kern_set_threads(nt);
            run_all(nt);
        }
        if (got > 0) check_thread_determinism();
    }
    sn_kern_test_set_isa(2);
    return tu_finish("test_kernels");
}
