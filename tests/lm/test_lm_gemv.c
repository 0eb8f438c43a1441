/* Tests of the generation step's matmul (lm/lm_gemv.c) and the float16
 * weights it reads.
 *
 *   test-lm-gemv kernel   every level (AVX-512, AVX2, plain) and the plain
 *                         twin give the same bits, float32 and float16
 *                         weights, with and without accumulation, on odd
 *                         shapes; row m of an M-row call is the bits of
 *                         the row alone, for every M <= 16; 1, 2 and 3
 *                         threads the same bits; within float rounding of
 *                         a sum in double; sn_lm_gemm sends few rows to it
 *   test-lm-gemv f16      float16 conversion: every half widens as F16C
 *                         does and back to itself; rounding (ties, the
 *                         subnormal range, overflow, NaN) equals F16C's
 *   test-lm-gemv step     a KV-cached step with float16 weights: rows of a
 *                         batch each get the bits of the row alone, 1 and 2
 *                         threads the same bits, logits within the rounding of the weights of the
 *                         float32 step (printed: max |difference|) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lm_cache.h"
#include "lm_gemv.h"
#include "lm_layers.h"
#include "lm_model.h"
#include "sono_internal.h"
#include "sonotok/cpu.h"
#include "test_util.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, sizeof(float) * n) == 0; }

/* One call at a level (PLAIN: the plain twin), float32 or float16 weights. */
static void gemv_at(int level, int half, float *y, const float *x, const float *w, const uint16_t *wh, int M, int N,
                    int K, int acc, int nt) {
    if (level < 0) {
        if (half) sn_lm_gemv_f16_ref(y, N, x, K, wh, K, M, N, K, acc, nt);
        else sn_lm_gemv_ref(y, N, x, K, w, K, M, N, K, acc, nt);
        return;
    }
    sono_set_cpu_level(level);
    if (half) sn_lm_gemv_f16(y, N, x, K, wh, K, M, N, K, acc, nt);
    else sn_lm_gemv(y, N, x, K, w, K, M, N, K, acc, nt);
    sono_set_cpu_level(SONO_CPU_AVX512);
}

static void test_kernel(void) {
    static const int Ns[] = {1, 3, 5, 64, 67, 130}, Ks[] = {1, 7, 16, 17, 33, 100, 256};
    const int top = sono_set_cpu_level(SONO_CPU_AVX512), top16 = sn_lm_gemv_f16_level();
    printf("cpu level %s, float16 level %s\n", sono_cpu_level_name(top), sono_cpu_level_name(top16));
    const size_t cap = 2 * 16 * 130;
    float *x = malloc(sizeof(float) * 16 * 256), *w = malloc(sizeof(float) * 130 * 256);
    uint16_t *wh = malloc(sizeof(uint16_t) * 130 * 256);
    float *ref = malloc(sizeof(float) * cap), *got = malloc(sizeof(float) * cap), *one = malloc(sizeof(float) * 130);
    int bad_level = 0, bad_rows = 0, bad_threads = 0, bad_double = 0, n_cases = 0;
    for (int half = 0; half < 2; half++)
        for (size_t in = 0; in < sizeof Ns / sizeof *Ns; in++)
            for (size_t ik = 0; ik < sizeof Ks / sizeof *Ks; ik++) {
                int N = Ns[in], K = Ks[ik], M = 16;
                tu_fill(x, (size_t)M * K, -1, 1);
                tu_fill(w, (size_t)N * K, -1, 1);
                if (half) { /* the weights the float16 call sees, exactly */
                    sn_lm_f16_from_f32(wh, w, (size_t)N * K);
                    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = sn_lm_f16_to_f32(wh[i]);
                }
                for (int acc = 0; acc < 2; acc++) {
                    n_cases++;
                    tu_fill(ref, (size_t)M * N, -1, 1);
                    memcpy(got, ref, sizeof(float) * (size_t)M * N);
                    float *y0 = malloc(sizeof(float) * (size_t)M * N);
                    memcpy(y0, ref, sizeof(float) * (size_t)M * N);
                    gemv_at(-1, half, ref, x, w, wh, M, N, K, acc, 1);
                    /* against a sum in double: float rounding of K terms in 16 lanes */
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++) {
                            double s = 0, a = 0;
                            for (int k = 0; k < K; k++) {
                                s += (double)x[m * K + k] * w[n * K + k];
                                a += fabs((double)x[m * K + k] * w[n * K + k]);
                            }
                            if (acc) s += y0[m * N + n], a += fabs(y0[m * N + n]);
                            if (!(fabs(ref[m * N + n] - s) <= (K / 16.0 + 6) * 6e-8 * a + 1e-30)) bad_double++;
                        }
                    for (int level = SONO_CPU_PLAIN; level <= (half ? top16 : top); level++) {
                        memcpy(got, y0, sizeof(float) * (size_t)M * N);
                        gemv_at(level, half, got, x, w, wh, M, N, K, acc, 1);
                        if (!same_bits(got, ref, (size_t)M * N) && bad_level++ < 3)
                            printf("  differs: level %d half %d N %d K %d acc %d\n", level, half, N, K, acc);
                        for (int nt = 2; nt <= 3; nt++) { /* (these shapes are below the parallel split: see below) */
                            memcpy(got + (size_t)M * N, y0, sizeof(float) * (size_t)M * N);
                            gemv_at(level, half, got + (size_t)M * N, x, w, wh, M, N, K, acc, nt);
                            bad_threads += !same_bits(got, got + (size_t)M * N, (size_t)M * N);
                        }
                    }
                    /* each row of every M <= 16 at the top level is the row alone */
                    for (int Mi = 1; Mi <= M; Mi++) {
                        memcpy(got, y0, sizeof(float) * (size_t)Mi * N);
                        gemv_at(half ? top16 : top, half, got, x, w, wh, Mi, N, K, acc, 2);
                        for (int m = 0; m < Mi; m++) {
                            memcpy(one, y0 + (size_t)m * N, sizeof(float) * (size_t)N);
                            gemv_at(half ? top16 : top, half, one, x + (size_t)m * K, w, wh, 1, N, K, acc, 1);
                            if (!same_bits(one, got + (size_t)m * N, (size_t)N)) bad_rows++;
                        }
                    }
                    free(y0);
                }
            }
    printf("%d cases: %d level mismatches, %d thread mismatches, %d row-vs-batch mismatches, %d outside the "
           "double sum's bound\n", n_cases, bad_level, bad_threads, bad_rows, bad_double);
    CHECK(bad_level == 0);
    CHECK(bad_threads == 0);
    CHECK(bad_rows == 0);
    CHECK(bad_double == 0);

    /* a shape large enough for the parallel split (M N K >= 4e6) */
    {
        int M = 5, N = 3001, K = 512;
        float *bx = malloc(sizeof(float) * M * K), *bw = malloc(sizeof(float) * (size_t)N * K);
        float *y1 = malloc(sizeof(float) * M * N), *y2 = malloc(sizeof(float) * M * N), *yr = malloc(sizeof(float) * M * N);
        tu_fill(bx, (size_t)M * K, -1, 1);
        tu_fill(bw, (size_t)N * K, -1, 1);
        sn_lm_gemv(y1, N, bx, K, bw, K, M, N, K, 0, 1);
        sn_lm_gemv(y2, N, bx, K, bw, K, M, N, K, 0, 2);
        sn_lm_gemv_ref(yr, N, bx, K, bw, K, M, N, K, 0, 1);
        CHECK_MSG(same_bits(y1, y2, (size_t)M * N), "1 and 2 threads differ on %d x %d", N, K);
        CHECK_MSG(same_bits(y1, yr, (size_t)M * N), "fast and plain twin differ on %d x %d", N, K);
        /* sn_lm_gemm routes a few rows against a [N][K] weight to the kernel */
        if (top > SONO_CPU_PLAIN) {
            int prev = sn_kern_set_threads(1);
            sn_lm_gemm(0, 1, M, N, K, bx, K, bw, K, 0.0f, y2, N, 2);
            sn_kern_set_threads(prev);
            CHECK_MSG(same_bits(y1, y2, (size_t)M * N), "sn_lm_gemm does not use the kernel for %d rows", M);
        }
        free(bx), free(bw), free(y1), free(y2), free(yr);
    }
    free(x), free(w), free(wh), free(ref), free(got), free(one);
}

/* ---- float16 conversion ---- */

#if HAVE_X86
static __attribute__((target("f16c"))) float hw_widen(uint16_t h) { return _cvtsh_ss(h); }
static __attribute__((target("f16c"))) uint16_t hw_round(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#endif

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_f16(void) {
    int bad_widen = 0, bad_back = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sn_lm_f16_to_f32((uint16_t)h);
        int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (!nan && sn_lm_f32_to_f16(f) != h) bad_back++;
#if HAVE_X86
        float g = hw_widen((uint16_t)h);
        if (memcmp(&f, &g, 4) && !(nan && isnan(g))) bad_widen++;
#endif
        if (nan && !isnan(f)) bad_widen++;
    }
    printf("65536 halves: %d widen differently from F16C, %d do not round back to themselves\n", bad_widen, bad_back);
    CHECK(bad_widen == 0);
    CHECK(bad_back == 0);
    /* fixed points of the rounding */
    CHECK(sn_lm_f32_to_f16(1.0f) == 0x3c00);
    CHECK(sn_lm_f32_to_f16(-2.0f) == 0xc000);
    CHECK(sn_lm_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(sn_lm_f32_to_f16(65519.99f) == 0x7bff);
    CHECK(sn_lm_f32_to_f16(65520.0f) == 0x7c00);         /* overflow: infinity */
    CHECK(sn_lm_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);  /* a tie, to even */
    CHECK(sn_lm_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);
    CHECK(sn_lm_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02); /* a tie, to even (up) */
    CHECK(sn_lm_f32_to_f16(0x1p-24f) == 0x0001);         /* the smallest subnormal */
    CHECK(sn_lm_f32_to_f16(0x1p-25f) == 0x0000);         /* a tie, to even (zero) */
    CHECK(sn_lm_f32_to_f16(0x1.8p-25f) == 0x0001);
    CHECK(sn_lm_f32_to_f16(-0.0f) == 0x8000);
    CHECK(isnan(sn_lm_f16_to_f32(sn_lm_f32_to_f16(NAN))));
#if HAVE_X86
    /* random floats of every magnitude near float16's range, ties and edges */
    int bad = 0, n = 0;
    for (int i = 0; i < 400000; i++, n++) {
        uint32_t u = (uint32_t)tu_rand();
        if (i % 4 == 0) u = (u & 0x80000000u) | (0x33000000u + (u & 0x0fffffffu) % 0x14800000u); /* 2^-25 .. 2^16 */
        if (i % 4 == 1) u = (u & 0xffffe000u) | 0x1000u;                                         /* ties */
        float f = bits_f(u);
        uint16_t a = sn_lm_f32_to_f16(f), b = hw_round(f);
        if (a != b && !(isnan(f) && (a & 0x7c00) == 0x7c00 && (b & 0x7c00) == 0x7c00 && (a & 0x3ff) && (b & 0x3ff)))
            bad++;
    }
    printf("%d random floats: %d round differently from F16C\n", n, bad);
    CHECK(bad == 0);
    /* the bulk converter (F16C where there is one) equals the plain one */
    float v[1003];
    uint16_t h1[1003];
    tu_fill(v, 1003, -70000, 70000);
    for (int i = 0; i < 1003; i += 7) v[i] *= 1e-6f;
    sn_lm_f16_from_f32(h1, v, 1003);
    int bulk = 0;
    for (int i = 0; i < 1003; i++) bulk += h1[i] != sn_lm_f32_to_f16(v[i]);
    CHECK_MSG(bulk == 0, "%d of 1003 bulk conversions differ", bulk);
#endif
}

/* ---- a step with float16 weights ---- */

static void test_step(void) {
    sn_lm_config c = sn_lm_config_default();
    c.V_text = 11;
    c.K = 3;
    c.codebook_size = 61;
    c.C = 72; /* rows of 72 and 288: a tail of 8 past the 16-lane blocks; 216 and 189 weight rows */
    c.n_layer = 2;
    c.n_head = 4;
    c.T_max = 32;
    sn_lm *m = NULL;
    CHECK(sn_lm_new(&c, &m) == 0);
    if (!m) return;
    sn_lm_init_params(m, 5);
    enum { B = 5, P = 6 };
    const int K = c.K, Va = sn_lm_v_audio(&c);
    sn_lm_half *h = NULL;
    CHECK(sn_lm_half_new(m, 2, &h) == 0);
    int32_t text[B * P], audio[B * P * 3];
    for (int i = 0; i < B * P; i++) {
        text[i] = i % P < 2 ? (int32_t)(tu_rand() % 11) : -1;
        for (int k = 0; k < K; k++) audio[i * K + k] = (int32_t)(tu_rand() % (uint64_t)Va);
    }
    float *lg[3], *lone = malloc(sizeof(float) * K * Va);
    for (int i = 0; i < 3; i++) lg[i] = malloc(sizeof(float) * B * K * Va);
    /* prefill in float32 (chunk 1: B rows a pass, as for one sequence), then
     * 3 steps: float16 with 1 and 2 threads, float32 */
    double maxd = 0, maxl = 0;
    for (int v = 0; v < 3; v++) {
        sn_lm_cache *kv = NULL;
        CHECK(sn_lm_cache_new(m, B, c.T_max, 1, &kv) == 0);
        CHECK(sn_lm_step(m, kv, text, audio, P, lg[v], 2) == 0);
        kv->half = v < 2 ? h : NULL;
        for (int s = 0; s < 3; s++) {
            int32_t t1[B], a1[B * 3];
            for (int b = 0; b < B; b++) {
                t1[b] = -1;
                for (int k = 0; k < K; k++) a1[b * K + k] = (b * 7 + s * 3 + k) % Va;
            }
            CHECK(sn_lm_step(m, kv, t1, a1, 1, lg[v], v == 1 ? 2 : 1) == 0);
        }
        sn_lm_cache_free(kv);
    }
    CHECK_MSG(same_bits(lg[0], lg[1], (size_t)B * K * Va), "float16 step: 1 and 2 threads differ");
    for (size_t i = 0; i < (size_t)B * K * Va; i++) {
        maxd = fmax(maxd, fabs((double)lg[0][i] - lg[2][i]));
        maxl = fmax(maxl, fabs((double)lg[2][i]));
    }
    printf("float16 vs float32 step logits: max |difference| %.3g (max |logit| %.3g)\n", maxd, maxl);
    CHECK(maxd > 0);               /* the float16 copies are really used */
    CHECK(maxd < 2e-3 * maxl + 1e-4);
    /* sequence 3 alone (B = 1) through the same steps has the bits of row 3 */
    {
        sn_lm_cache *kv = NULL;
        CHECK(sn_lm_cache_new(m, 1, c.T_max, 1, &kv) == 0);
        CHECK(sn_lm_step(m, kv, text + 3 * P, audio + 3 * P * K, P, lone, 2) == 0);
        kv->half = h;
        for (int s = 0; s < 3; s++) {
            int32_t t1 = -1, a1[3];
            for (int k = 0; k < K; k++) a1[k] = (3 * 7 + s * 3 + k) % Va;
            CHECK(sn_lm_step(m, kv, &t1, a1, 1, lone, 2) == 0);
        }
        sn_lm_cache_free(kv);
        CHECK_MSG(same_bits(lone, lg[0] + (size_t)3 * K * Va, (size_t)K * Va), "a row of the batch is not the row alone");
    }
    for (int i = 0; i < 3; i++) free(lg[i]);
    free(lone);
    sn_lm_half_free(h);
    sn_lm_free(m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-lm-gemv kernel|f16|step\n");
        return 2;
    }
    tu_seed(20251);
    const char *w = argv[1];
    if (!strcmp(w, "kernel")) test_kernel();
    else if (!strcmp(w, "f16")) test_f16();
    else if (!strcmp(w, "step")) test_step();
    else {
        fprintf(stderr, "unknown test %s\n", w);
        return 2;
    }
    return tu_finish(w);
}
