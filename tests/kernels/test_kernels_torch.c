/* Reference and fast kernels (every back end, 1 and 2 threads) against PyTorch
 * outputs stored in kernel_fixture.bin (make_kernel_fixture.py: conv1d,
 * conv_transpose1d, LSTM, ELU, GroupNorm(1, C), linear).
 *     test_kernels_torch path/to/kernel_fixture.bin
 * Tolerance: normalised error (max abs diff / max |torch|) <= KC_TOL. */
#include <stdint.h>
#include "kernel_check.h"

typedef struct {
    char name[64];
    int ndim;
    int dims[4];
    size_t n;
    const float *data;
} fx_rec;

static fx_rec g_rec[512];
static int g_nrec;
static unsigned char *g_blob;

static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Load and index the fixture; returns 0 on success. Float data are little
 * endian, as on every machine this builds for; checked below. */
static int fx_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return -1; }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    g_blob = malloc(sz > 0 ? (size_t)sz : 1);
    if (!g_blob || fread(g_blob, 1, (size_t)sz, f) != (size_t)sz) { fclose(f); return -1; }
    fclose(f);
    const uint32_t one = 1;
    if (*(const unsigned char *)&one != 1) { fprintf(stderr, "big-endian host\n"); return -1; }
    if (sz < 12 || memcmp(g_blob, "SKFX0001", 8)) { fprintf(stderr, "%s: bad magic\n", path); return -1; }
    uint32_t count = rd_u32(g_blob + 8);
    size_t off = 12;
    for (uint32_t r = 0; r < count; r++) {
        if (g_nrec == (int)(sizeof g_rec / sizeof g_rec[0])) return -1;
        fx_rec *e = &g_rec[g_nrec++];
        if (off + 4 > (size_t)sz) return -1;
        uint32_t nl = rd_u32(g_blob + off); off += 4;
        if (nl >= sizeof e->name || off + nl + 4 > (size_t)sz) return -1;
        memcpy(e->name, g_blob + off, nl); e->name[nl] = 0; off += nl;
        e->ndim = (int)rd_u32(g_blob + off); off += 4;
        if (e->ndim > 4 || off + 4 * (size_t)e->ndim > (size_t)sz) return -1;
        e->n = 1;
        for (int d = 0; d < e->ndim; d++) { e->dims[d] = (int)rd_u32(g_blob + off); off += 4; e->n *= (size_t)e->dims[d]; }
        if (off + 4 * e->n > (size_t)sz) return -1;
        if (off % 4) { /* keep floats aligned: copy out */
            float *cp = malloc(4 * e->n + 4);
            memcpy(cp, g_blob + off, 4 * e->n);
            e->data = cp;
        } else e->data = (const float *)(g_blob + off);
        off += 4 * e->n;
    }
    return off == (size_t)sz ? 0 : -1;
}

static const fx_rec *fx_get(const char *name) {
    for (int i = 0; i < g_nrec; i++)
        if (!strcmp(g_rec[i].name, name)) return &g_rec[i];
    return NULL;
}
static const float *fx(const char *prefix, const char *field, size_t want_n) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", prefix, field);
    const fx_rec *r = fx_get(key);
    if (!r) return NULL;
    CHECK_MSG(want_n == 0 || r->n == want_n, "%s: %zu values, expected %zu", key, r->n, want_n);
    return r->n == want_n || want_n == 0 ? r->data : NULL;
}

static char g_what[160];

/* fast: 0 = reference, 1 = fast kernels */
static void run_conv(int fast, int nt, const char *tag) {
    for (int i = 0;; i++) {
        char p[32];
        snprintf(p, sizeof p, "conv%d", i);
        const float *pa = fx(p, "params", 6);
        if (!pa) break;
        int ci = (int)pa[0], co = (int)pa[1], T = (int)pa[2], K = (int)pa[3], s = (int)pa[4], d = (int)pa[5];
        int To = conv1d_out_len(T, K, s, d);
        const float *x = fx(p, "x", (size_t)ci * T), *w = fx(p, "w", (size_t)co * ci * K);
        const float *b = fx(p, "b", co), *y = fx(p, "y", (size_t)co * To);
        CHECK(x && w && y);
        if (!x || !w || !y) continue;
        size_t ns = sn_conv1d_scratch_floats(ci, K, To);
        float *out = kc_alloc((size_t)co * To), *sc = kc_alloc(ns);
        (fast ? sn_conv1d_forward : sn_conv1d_forward_ref)(out, x, w, b, ci, co, T, K, s, d, sc, nt);
        snprintf(g_what, sizeof g_what, "%s: %s %dx%d T %d K %d s %d d %d", tag, p, ci, co, T, K, s, d);
        kc_compare(g_what, out, y, (size_t)co * To, KC_TOL);
        CHECK(kc_guard_ok(out, (size_t)co * To) && kc_guard_ok(sc, ns));
        free(out); free(sc);
    }
}

static void run_convtr(int fast, int nt, const char *tag) {
    for (int i = 0;; i++) {
        char p[32];
        snprintf(p, sizeof p, "convtr%d", i);
        const float *pa = fx(p, "params", 5);
        if (!pa) break;
        int ci = (int)pa[0], co = (int)pa[1], T = (int)pa[2], K = (int)pa[3], s = (int)pa[4];
        size_t To = (size_t)(T - 1) * s + K;
        const float *x = fx(p, "x", (size_t)ci * T), *w = fx(p, "w", (size_t)ci * co * K);
        const float *b = fx(p, "b", co), *y = fx(p, "y", (size_t)co * To);
        CHECK(x && w && b && y);
        if (!x || !w || !b || !y) continue;
        size_t ns = sn_convtr1d_scratch_floats(co, K, T);
        float *out = kc_alloc((size_t)co * To), *sc = kc_alloc(ns);
        (fast ? sn_convtr1d_forward : sn_convtr1d_forward_ref)(out, x, w, b, ci, co, T, K, s, sc, nt);
        snprintf(g_what, sizeof g_what, "%s: %s %dx%d T %d K %d s %d", tag, p, ci, co, T, K, s);
        kc_compare(g_what, out, y, (size_t)co * To, KC_TOL);
        CHECK(kc_guard_ok(out, (size_t)co * To) && kc_guard_ok(sc, ns));
        free(out); free(sc);
    }
}

static void run_lstm(int fast, int nt, const char *tag) {
    for (int i = 0;; i++) {
        char p[32];
        snprintf(p, sizeof p, "lstm%d", i);
        const float *pa = fx(p, "params", 3);
        if (!pa) break;
        int C = (int)pa[0], H = (int)pa[1], T = (int)pa[2];
        size_t G = 4 * (size_t)H;
        const float *x = fx(p, "x", (size_t)C * T), *wi = fx(p, "w_ih", G * C), *wh = fx(p, "w_hh", G * H);
        const float *bi = fx(p, "b_ih", G), *bh = fx(p, "b_hh", G), *h0 = fx(p, "h0", H), *c0 = fx(p, "c0", H);
        const float *y = fx(p, "y", (size_t)H * T), *hT = fx(p, "hT", H), *cT = fx(p, "cT", H);
        CHECK(x && wi && wh && bi && bh && h0 && c0 && y && hT && cT);
        if (!(x && wi && wh && bi && bh && h0 && c0 && y && hT && cT)) continue;
        size_t ns = sn_lstm_scratch_floats(C, H, T);
        float *out = kc_alloc((size_t)H * T), *sc = kc_alloc(ns), *h = kc_alloc(H), *c = kc_alloc(H);
        memcpy(h, h0, H * sizeof *h); memcpy(c, c0, H * sizeof *c);
        (fast ? sn_lstm_forward : sn_lstm_forward_ref)(out, x, wi, wh, bi, bh, h, c, C, H, T, sc, nt);
        snprintf(g_what, sizeof g_what, "%s: %s C %d H %d T %d", tag, p, C, H, T);
        kc_compare(g_what, out, y, (size_t)H * T, KC_TOL);
        kc_compare_floor("    final h", h, hT, H, 1.0, KC_TOL);
        kc_compare_floor("    final c", c, cT, H, 1.0, KC_TOL);
        CHECK(kc_guard_ok(out, (size_t)H * T) && kc_guard_ok(sc, ns));
        free(out); free(sc); free(h); free(c);
    }
}

static void run_pointwise(int fast, int nt, const char *tag) {
    for (int i = 0;; i++) {
        char p[32];
        snprintf(p, sizeof p, "elu%d", i);
        const float *pa = fx(p, "params", 2);
        if (!pa) break;
        size_t n = (size_t)pa[0];
        const float *x = fx(p, "x", n), *y = fx(p, "y", n);
        CHECK(x && y);
        if (!x || !y) continue;
        float *out = kc_alloc(n);
        (fast ? sn_elu_forward : sn_elu_forward_ref)(out, x, n, pa[1], nt);
        snprintf(g_what, sizeof g_what, "%s: %s n %zu alpha %g", tag, p, n, pa[1]);
        kc_compare(g_what, out, y, n, KC_TOL);
        free(out);
    }
    for (int i = 0;; i++) {
        char p[32];
        snprintf(p, sizeof p, "gn%d", i);
        const float *pa = fx(p, "params", 3);
        if (!pa) break;
        int C = (int)pa[0], T = (int)pa[1];
        size_t n = (size_t)C * T;
        const float *x = fx(p, "x", n), *g = fx(p, "gamma", C), *b = fx(p, "beta", C), *y = fx(p, "y", n);
        CHECK(x && g && b && y);
        if (!x || !g || !b || !y) continue;
        float *out = kc_alloc(n);
        (fast ? sn_groupnorm1_forward : sn_groupnorm1_forward_ref)(out, x, g, b, C, T, pa[2], nt);
        snprintf(g_what, sizeof g_what, "%s: %s C %d T %d eps %g", tag, p, C, T, pa[2]);
        kc_compare(g_what, out, y, n, KC_TOL);
        free(out);
    }
    const float *pa = fx("lin0", "params", 3);
    CHECK(pa != NULL);
    if (pa) {
        int N = (int)pa[0], IC = (int)pa[1], OC = (int)pa[2];
        const float *x = fx("lin0", "x", (size_t)N * IC), *w = fx("lin0", "w", (size_t)OC * IC);
        const float *b = fx("lin0", "b", OC), *y = fx("lin0", "y", (size_t)N * OC);
        CHECK(x && w && b && y);
        if (x && w && b && y) {
            float out[64];
            (fast ? sn_linear_forward : sn_linear_forward_ref)(out, x, w, b, N, IC, OC, nt);
            snprintf(g_what, sizeof g_what, "%s: lin0 N %d IC %d OC %d", tag, N, IC, OC);
            kc_compare(g_what, out, y, (size_t)N * OC, KC_TOL);
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_kernels_torch kernel_fixture.bin\n");
        return 1;
    }
    if (fx_load(argv[1])) {
        fprintf(stderr, "%s: unreadable or malformed fixture\n", argv[1]);
        return 1;
    }
    printf("%s: %d records\n", argv[1], g_nrec);
    CHECK(fx_get("conv0.params") && fx_get("convtr0.params") && fx_get("lstm0.params"));
    static const char *names[] = {"fast OpenBLAS/plain", "fast AVX2", "fast AVX-512"};
    int done[3] = {0, 0, 0};
    run_conv(0, 1, "ref"); run_convtr(0, 1, "ref"); run_lstm(0, 1, "ref"); run_pointwise(0, 1, "ref");
    for (int level = 2; level >= 0; level--) {
        int got = sn_kern_test_set_isa(level);
        if (done[got]) continue;
        done[got] = 1;
        for (int nt = 1; nt <= 2; nt++) {
            char tag[64];
            snprintf(tag, sizeof tag, "%s nt %d", names[got], nt);
            sn_kern_set_threads(nt);
            run_conv(1, nt, tag); run_convtr(1, nt, tag); run_lstm(1, nt, tag); run_pointwise(1, nt, tag);
        }
    }
    sn_kern_test_set_isa(2);
    return tu_finish("test_kernels_torch");
}
