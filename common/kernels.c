/* Fast float32 kernels (see kernels.h for the contract; kernels_ref.c has the
 * plain twins the tests compare against).
 *
 * Two back ends, picked at run time per call:
 *  - a SIMD "direct" engine (AVX-512, or AVX2+FMA) of our own, used on x86
 *    CPUs that have it. Every conv, the transposed conv's GEMM and the LSTM's
 *    input projection are one pattern:
 *        out[co][t] = bias[co] + sum_ci sum_kk w[co*w_co + ci*w_ci + woff[kk]]
 *                                         * x[ci*x_ci + xoff[kk] + t]
 *    computed in register tiles of 8 (AVX-512) or 4 (AVX2) output rows by
 *    48 / 24 time steps, reading the input rows in place (shifted views), so
 *    stride-1 convs need no im2col at all and strided ones only a polyphase
 *    copy of their input (in[ci][j*s + p] -> x[ci][p][j]), which turns them
 *    into stride-1 convs over s times more rows.
 *  - OpenBLAS (im2col + sgemm, sgemv) everywhere else.
 * Why not OpenBLAS everywhere: the conv shapes are poor GEMMs (M = 16..64 rows
 * at T = 24000) and im2col multiplies the memory traffic by K/stride; on the
 * development machine (whose CPU OpenBLAS 0.3.21 does not recognise, so it
 * runs its generic SSE3 kernels at ~29 GFLOP/s a core) the engine runs the
 * EnCodec convs at 70-135 GFLOP/s on one core, 7-10x im2col + sgemm.
 * `sn_kern_test_set_isa()` (below, not in the header) lets the tests force each
 * back end so all of them are checked on one machine.
 *
 * Threads: our loops use OpenMP with num_threads(n_threads); OpenBLAS's own
 * pool is sized with sn_kern_set_threads(). Neither reads the environment. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <cblas.h>
#include <omp.h>

#define SONO_KERNELS_IMPL
#undef SONO_REF_KERNELS /* keep the fast names here even in -Dref_kernels builds */
#include "kernels.h"
#include "sono_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define KERN_X86 1
#else
#define KERN_X86 0
#endif

/* OpenBLAS extensions (declared by its cblas.h, repeated for other cblas.h files). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

int sn_kern_set_threads(int n_threads) {
    int prev = openblas_get_num_threads();
    openblas_set_num_threads(n_threads < 1 ? 1 : n_threads);
    return prev;
}

/* ---------------------------------------------------------------------------
 * Back-end choice */

enum { ISA_BLAS = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

static int g_isa_cap = ISA_AVX512; /* lowered by sn_kern_test_set_isa() only */

static int kern_isa(void) {
#if KERN_X86 /* libgcc fills the CPU feature bits in a constructor */
    int isa = ISA_BLAS;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) isa = ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = ISA_AVX2;
    return isa < g_isa_cap ? isa : g_isa_cap;
#else
    return ISA_BLAS;
#endif
}

/* Test hook, not part of the contract: cap the back end (0 = OpenBLAS and
 * plain C, 1 = AVX2, 2 = AVX-512) and return the level now in effect (which is
 * lower when the CPU lacks it). Call it only while no kernel is running. */
int sn_kern_test_set_isa(int level);
int sn_kern_test_set_isa(int level) {
    g_isa_cap = level < 0 ? 0 : level;
    return kern_isa();
}

static inline int clamp_threads(int n) { return n < 1 ? 1 : n; }

/* Time chunk for the copies that go through scratch (im2col, polyphase, the
 * transposed conv's columns, the LSTM projection): keeps scratch independent of
 * the caller's T and the copy inside the caches. */
#define KERN_TCHUNK 1024
#define KERN_LSTM_TCHUNK 256
/* taps kept in on-stack offset tables; longer kernels take the im2col route */
#define KERN_MAX_TAPS 64

/* ---------------------------------------------------------------------------
 * The direct engine: job description and tiling */

typedef struct {
    const float *x;      /* input rows: x[ci*x_ci + xoff[kk] + t] */
    size_t x_ci;
    const int *xoff;     /* [n_k] */
    const float *w;      /* weights: w[co*w_co + ci*w_ci + woff[kk]] */
    size_t w_co, w_ci;
    const int *woff;     /* [n_k] */
    int n_ci, n_k;       /* reduction: n_ci rows times n_k taps */
    const float *bias;   /* [n_co] or NULL */
    float *out;          /* out[co*o_co + t], t < n_t */
    size_t o_co;
    int n_co, n_t;
    int prefetch_w;      /* software-prefetch the broadcast rows (strided reductions) */
} eng_job;

/* tile shape per ISA: rows x (vectors of VL floats) */
#define E512_CO 8
#define E512_TV 3
#define E256_CO 4
#define E256_TV 3

static inline int eng_tile_co(int isa) { return isa == ISA_AVX512 ? E512_CO : E256_CO; }
static inline int eng_tile_t(int isa) { return isa == ISA_AVX512 ? 16 * E512_TV : 8 * E256_TV; }

#if KERN_X86
#define TGT512 __attribute__((target("avx512f,avx512dq,fma")))
#define TGT256 __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline))

/* ---- AVX-512 ---- */

/* One tile: rows co0..co0+NCO-1, times t0..t0+16*NTV-1; with TAIL the last
 * vector is masked by m (loads and stores, so nothing past the end is touched). */
INL TGT512 void mk512(const eng_job *j, int co0, int t0, int ci0, int ci1, int accum,
                      const int NCO, const int NTV, const int TAIL, __mmask16 m) {
    __m512 acc[E512_CO][E512_TV];
    for (int a = 0; a < NCO; a++) {
        const float *o = j->out + (size_t)(co0 + a) * j->o_co + t0;
        __m512 bv = _mm512_set1_ps(j->bias ? j->bias[co0 + a] : 0.0f);
        for (int v = 0; v < NTV; v++)
            acc[a][v] = !accum ? bv : (TAIL && v == NTV - 1) ? _mm512_maskz_loadu_ps(m, o + 16 * v)
                                                             : _mm512_loadu_ps(o + 16 * v);
    }
    const float *wb = j->w + (size_t)co0 * j->w_co;
    const size_t w_co = j->w_co;
    for (int ci = ci0; ci < ci1; ci++) {
        const float *xr = j->x + ci * j->x_ci + t0;
        const float *wr = wb + ci * j->w_ci;
        /* the transposed conv broadcasts from rows far apart (w_ci = T_in):
         * fetch a few reduction steps ahead, which the hardware does not */
        if (j->prefetch_w) _mm_prefetch((const char *)(wr + 8 * j->w_ci), _MM_HINT_T0);
        for (int kk = 0; kk < j->n_k; kk++) {
            const float *xp = xr + j->xoff[kk];
            const float *wp = wr + j->woff[kk];
            __m512 xv[E512_TV];
            for (int v = 0; v < NTV; v++)
                xv[v] = (TAIL && v == NTV - 1) ? _mm512_maskz_loadu_ps(m, xp + 16 * v)
                                               : _mm512_loadu_ps(xp + 16 * v);
            for (int a = 0; a < NCO; a++) {
                __m512 wv = _mm512_set1_ps(wp[a * w_co]);
                for (int v = 0; v < NTV; v++) acc[a][v] = _mm512_fmadd_ps(wv, xv[v], acc[a][v]);
            }
        }
    }
    for (int a = 0; a < NCO; a++) {
        float *o = j->out + (size_t)(co0 + a) * j->o_co + t0;
        for (int v = 0; v < NTV; v++) {
            if (TAIL && v == NTV - 1) _mm512_mask_storeu_ps(o + 16 * v, m, acc[a][v]);
            else _mm512_storeu_ps(o + 16 * v, acc[a][v]);
        }
    }
}

static TGT512 void eng_tile512(const eng_job *j, int cb, int tb, int ci0, int ci1, int accum) {
    int co0 = cb * E512_CO, t0 = tb * 16 * E512_TV;
    int nco = SONO_MIN(E512_CO, j->n_co - co0), nt = SONO_MIN(16 * E512_TV, j->n_t - t0);
    if (nt == 16 * E512_TV) {
        switch (nco) {
#define F(c) case c: mk512(j, co0, t0, ci0, ci1, accum, c, E512_TV, 0, 0xffff); break;
        F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8)
#undef F
        default: break;
        }
        return;
    }
    int ntv = (nt + 15) / 16;
    __mmask16 m = (__mmask16)((1u << (nt - (ntv - 1) * 16)) - 1u);
    if (nt % 16 == 0) m = 0xffff;
    switch (nco * 4 + ntv) {
#define F(c, v) case c * 4 + v: mk512(j, co0, t0, ci0, ci1, accum, c, v, 1, m); break;
    F(1, 1) F(2, 1) F(3, 1) F(4, 1) F(5, 1) F(6, 1) F(7, 1) F(8, 1)
    F(1, 2) F(2, 2) F(3, 2) F(4, 2) F(5, 2) F(6, 2) F(7, 2) F(8, 2)
    F(1, 3) F(2, 3) F(3, 3) F(4, 3) F(5, 3) F(6, 3) F(7, 3) F(8, 3)
#undef F
    default: break;
    }
}

/* expm1 on 16 lanes, ~1 ulp: x = n ln2 + r, |r| <= ln2/2, expm1(r) by its
 * Taylor series to r^8, then expm1(x) = 2^n expm1(r) + (2^n - 1), which keeps
 * full relative accuracy near 0 (n = 0) and saturates to -1 / large values. */
INL TGT512 __m512 expm1_512(__m512 x, __m512 *scale) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 40320);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 5040));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    __m512 e = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r);          /* expm1(r) */
    __m512 s = _mm512_scalef_ps(_mm512_set1_ps(1.0f), n);           /* 2^n */
    *scale = s;
    return _mm512_fmadd_ps(s, e, _mm512_sub_ps(s, _mm512_set1_ps(1.0f)));
}
INL TGT512 __m512 sigmoid512(__m512 x) {
    __m512 s, e = expm1_512(_mm512_sub_ps(_mm512_setzero_ps(), x), &s); /* exp(-x) - 1 */
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(e, _mm512_set1_ps(2.0f)));
}
INL TGT512 __m512 tanh512(__m512 x) { /* expm1(2x) / (expm1(2x) + 2) */
    __m512 s, e = expm1_512(_mm512_add_ps(x, x), &s);
    return _mm512_div_ps(e, _mm512_add_ps(e, _mm512_set1_ps(2.0f)));
}

INL TGT512 __m512 elu1_512(__m512 x, __m512 al) {
    __m512 s, zero = _mm512_setzero_ps();
    __m512 e = _mm512_mul_ps(al, expm1_512(_mm512_min_ps(x, zero), &s));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), e, x);
}
static TGT512 void elu512(float *out, const float *in, size_t n, float alpha) {
    __m512 al = _mm512_set1_ps(alpha);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) { /* two independent chains per iteration */
        __m512 a = elu1_512(_mm512_loadu_ps(in + i), al);
        __m512 b = elu1_512(_mm512_loadu_ps(in + i + 16), al);
        _mm512_storeu_ps(out + i, a);
        _mm512_storeu_ps(out + i + 16, b);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(out + i, m, elu1_512(_mm512_maskz_loadu_ps(m, in + i), al));
    }
}

/* LSTM gates for 16 units (or fewer, masked): z [4][16] pre-activations in
 * gate order i, f, g, o; updates c[0..n), writes the new h to hn[0..n). */
static TGT512 void lstm_gates512(float *hn, float *c, const float *z, int n) {
    __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
    __m512 ig = sigmoid512(_mm512_loadu_ps(z));
    __m512 fg = sigmoid512(_mm512_loadu_ps(z + 16));
    __m512 gg = tanh512(_mm512_loadu_ps(z + 32));
    __m512 og = sigmoid512(_mm512_loadu_ps(z + 48));
    __m512 cv = _mm512_maskz_loadu_ps(m, c);
    cv = _mm512_fmadd_ps(fg, cv, _mm512_mul_ps(ig, gg));
    _mm512_mask_storeu_ps(c, m, cv);
    _mm512_mask_storeu_ps(hn, m, _mm512_mul_ps(og, tanh512(cv)));
}

/* r[i] = sum of the 16 lanes of a[i], i < 16: a transposing add tree (45
 * shuffles/adds instead of 16 separate horizontal sums). */
INL TGT512 __m512 hsum16x16_512(const __m512 a[16]) {
    __m512 x[8], y[4];
    for (int j = 0; j < 8; j++) /* per 128-bit lane: a0+a2, b0+b2, a1+a3, b1+b3 */
        x[j] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * j], a[2 * j + 1]),
                             _mm512_unpackhi_ps(a[2 * j], a[2 * j + 1]));
    for (int j = 0; j < 4; j++) /* per 128-bit lane: the lane sums of a[4j .. 4j+3] */
        y[j] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * j], x[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(x[2 * j], x[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(y[2], y[3], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(y[2], y[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* z[q*16 + u] = dot(w_hh row (q*H + u0 + u), h) for gates q < 4 and units
 * u < n <= 16 (lanes u >= n are garbage: rows clamp to the last valid one).
 * 16 rows at a time: 16 independent accumulators, one load of h per 16 FMAs.
 * Instantiated with H = 512 (EnCodec) as a constant, where the row offsets
 * become immediates instead of 16 spilled registers. */
INL TGT512 void lstm_matvec512_body(float *z, const float *w_hh, const float *h, const int H,
                                    int u0, int n) {
    int hv = H / 16;
    __mmask16 mt = (__mmask16)((1u << (H % 16)) - 1u);
    for (int q = 0; q < 4; q++) {
        const float *r0 = w_hh + ((size_t)q * H + u0) * H;
        __m512 acc[16];
        for (int u = 0; u < 16; u++) acc[u] = _mm512_setzero_ps();
        if (n == 16) {
            for (int k = 0; k < hv; k++) {
                __m512 hk = _mm512_loadu_ps(h + 16 * k);
                for (int u = 0; u < 16; u++)
                    acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + (size_t)u * H + 16 * k), hk, acc[u]);
            }
        } else {
            for (int u = 0; u < n; u++)
                for (int k = 0; k < hv; k++)
                    acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + (size_t)u * H + 16 * k),
                                             _mm512_loadu_ps(h + 16 * k), acc[u]);
        }
        if (H % 16) {
            __m512 hk = _mm512_maskz_loadu_ps(mt, h + 16 * hv);
            for (int u = 0; u < n; u++)
                acc[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mt, r0 + (size_t)u * H + 16 * hv), hk, acc[u]);
        }
        _mm512_storeu_ps(z + 16 * q, hsum16x16_512(acc));
    }
}
static TGT512 void lstm_matvec512(float *z, const float *w_hh, const float *h, int H, int u0, int n) {
    if (H == 512) lstm_matvec512_body(z, w_hh, h, 512, u0, n);
    else lstm_matvec512_body(z, w_hh, h, H, u0, n);
}

/* ---- AVX2 + FMA: the same code on 8 lanes, 4x3 tiles (16 ymm registers) ---- */

INL TGT256 __m256i mask256(int n) { /* first n of 8 lanes */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INL TGT256 void mk256(const eng_job *j, int co0, int t0, int ci0, int ci1, int accum,
                      const int NCO, const int NTV, const int TAIL, __m256i m) {
    __m256 acc[E256_CO][E256_TV];
    for (int a = 0; a < NCO; a++) {
        const float *o = j->out + (size_t)(co0 + a) * j->o_co + t0;
        __m256 bv = _mm256_set1_ps(j->bias ? j->bias[co0 + a] : 0.0f);
        for (int v = 0; v < NTV; v++)
            acc[a][v] = !accum ? bv : (TAIL && v == NTV - 1) ? _mm256_maskload_ps(o + 8 * v, m)
                                                             : _mm256_loadu_ps(o + 8 * v);
    }
    const float *wb = j->w + (size_t)co0 * j->w_co;
    const size_t w_co = j->w_co;
    for (int ci = ci0; ci < ci1; ci++) {
        const float *xr = j->x + ci * j->x_ci + t0;
        const float *wr = wb + ci * j->w_ci;
        if (j->prefetch_w) _mm_prefetch((const char *)(wr + 8 * j->w_ci), _MM_HINT_T0);
        for (int kk = 0; kk < j->n_k; kk++) {
            const float *xp = xr + j->xoff[kk];
            const float *wp = wr + j->woff[kk];
            __m256 xv[E256_TV];
            for (int v = 0; v < NTV; v++)
                xv[v] = (TAIL && v == NTV - 1) ? _mm256_maskload_ps(xp + 8 * v, m)
                                               : _mm256_loadu_ps(xp + 8 * v);
            for (int a = 0; a < NCO; a++) {
                __m256 wv = _mm256_broadcast_ss(wp + a * w_co);
                for (int v = 0; v < NTV; v++) acc[a][v] = _mm256_fmadd_ps(wv, xv[v], acc[a][v]);
            }
        }
    }
    for (int a = 0; a < NCO; a++) {
        float *o = j->out + (size_t)(co0 + a) * j->o_co + t0;
        for (int v = 0; v < NTV; v++) {
            if (TAIL && v == NTV - 1) _mm256_maskstore_ps(o + 8 * v, m, acc[a][v]);
            else _mm256_storeu_ps(o + 8 * v, acc[a][v]);
        }
    }
}

static TGT256 void eng_tile256(const eng_job *j, int cb, int tb, int ci0, int ci1, int accum) {
    int co0 = cb * E256_CO, t0 = tb * 8 * E256_TV;
    int nco = SONO_MIN(E256_CO, j->n_co - co0), nt = SONO_MIN(8 * E256_TV, j->n_t - t0);
    __m256i full = _mm256_set1_epi32(-1);
    if (nt == 8 * E256_TV) {
        switch (nco) {
#define F(c) case c: mk256(j, co0, t0, ci0, ci1, accum, c, E256_TV, 0, full); break;
        F(1) F(2) F(3) F(4)
#undef F
        default: break;
        }
        return;
    }
    int ntv = (nt + 7) / 8;
    __m256i m = mask256(nt - (ntv - 1) * 8);
    switch (nco * 4 + ntv) {
#define F(c, v) case c * 4 + v: mk256(j, co0, t0, ci0, ci1, accum, c, v, 1, m); break;
    F(1, 1) F(2, 1) F(3, 1) F(4, 1)
    F(1, 2) F(2, 2) F(3, 2) F(4, 2)
    F(1, 3) F(2, 3) F(3, 3) F(4, 3)
#undef F
    default: break;
    }
}

INL TGT256 __m256 expm1_256(__m256 x) { /* as expm1_512, 2^n built in the exponent bits */
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 40320);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 5040));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    __m256 e = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r);
    __m256i ni = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(ni, 23));
    return _mm256_fmadd_ps(s, e, _mm256_sub_ps(s, _mm256_set1_ps(1.0f)));
}
INL TGT256 __m256 sigmoid256(__m256 x) {
    __m256 e = expm1_256(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(e, _mm256_set1_ps(2.0f)));
}
INL TGT256 __m256 tanh256(__m256 x) {
    __m256 e = expm1_256(_mm256_add_ps(x, x));
    return _mm256_div_ps(e, _mm256_add_ps(e, _mm256_set1_ps(2.0f)));
}

static TGT256 void elu256(float *out, const float *in, size_t n, float alpha) {
    __m256 al = _mm256_set1_ps(alpha), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(in + i);
        __m256 e = _mm256_mul_ps(al, expm1_256(_mm256_min_ps(x, zero)));
        _mm256_storeu_ps(out + i, _mm256_blendv_ps(e, x, _mm256_cmp_ps(x, zero, _CMP_GT_OQ)));
    }
    if (i < n) { /* the same vector arithmetic for the tail: results never depend on position */
        __m256i m = mask256((int)(n - i));
        __m256 x = _mm256_maskload_ps(in + i, m);
        __m256 e = _mm256_mul_ps(al, expm1_256(_mm256_min_ps(x, zero)));
        _mm256_maskstore_ps(out + i, m, _mm256_blendv_ps(e, x, _mm256_cmp_ps(x, zero, _CMP_GT_OQ)));
    }
}

static TGT256 void lstm_gates256(float *hn, float *c, const float *z, int n) {
    for (int u0 = 0; u0 < n; u0 += 8) {
        __m256i m = mask256(n - u0);
        __m256 ig = sigmoid256(_mm256_loadu_ps(z + u0));
        __m256 fg = sigmoid256(_mm256_loadu_ps(z + 16 + u0));
        __m256 gg = tanh256(_mm256_loadu_ps(z + 32 + u0));
        __m256 og = sigmoid256(_mm256_loadu_ps(z + 48 + u0));
        __m256 cv = _mm256_maskload_ps(c + u0, m);
        cv = _mm256_fmadd_ps(fg, cv, _mm256_mul_ps(ig, gg));
        _mm256_maskstore_ps(c + u0, m, cv);
        _mm256_maskstore_ps(hn + u0, m, _mm256_mul_ps(og, tanh256(cv)));
    }
}

INL TGT256 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static TGT256 void lstm_matvec256(float *z, const float *w_hh, const float *h, int H, int u0, int n) {
    int hv = H / 8;
    __m256i mt = mask256(H % 8);
    for (int u = 0; u < n; u++) {
        const float *r0 = w_hh + (size_t)(u0 + u) * H, *r1 = r0 + (size_t)H * H;
        const float *r2 = r1 + (size_t)H * H, *r3 = r2 + (size_t)H * H;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < hv; k++) {
            __m256 x0 = _mm256_loadu_ps(h + 8 * k);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + 8 * k), x0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + 8 * k), x0, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + 8 * k), x0, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + 8 * k), x0, a3);
        }
        if (H % 8) {
            __m256 x0 = _mm256_maskload_ps(h + 8 * hv, mt);
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(r0 + 8 * hv, mt), x0, a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(r1 + 8 * hv, mt), x0, a1);
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(r2 + 8 * hv, mt), x0, a2);
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(r3 + 8 * hv, mt), x0, a3);
        }
        z[u] = hsum256(a0);
        z[16 + u] = hsum256(a1);
        z[32 + u] = hsum256(a2);
        z[48 + u] = hsum256(a3);
    }
}
#endif /* KERN_X86 */

/* Run a job's tiles with a work-shared loop: call inside a parallel region (or
 * outside one, where it runs on the calling thread). A work item is one time
 * block for a group of row blocks; inside it the reduction is cut into slices
 * whose input columns fit in L1, and each slice is swept over the group's row
 * blocks (partial sums go through out), GEMM-style blocking. */
static void eng_for(const eng_job *j, int isa) {
#if KERN_X86
    int tco = eng_tile_co(isa), tt = eng_tile_t(isa);
    int ncb = (j->n_co + tco - 1) / tco, ntb = (j->n_t + tt - 1) / tt;
    /* reduction slice: about 128 input rows of one tile width (~24 KiB) */
    int ci_blk = SONO_MAX(1, 128 / SONO_MAX(1, j->n_k));
    /* row blocks per item: up to 8 (input reuse), fewer when that would leave
     * under 8 items to share between threads */
    int grp = SONO_MIN(8, ncb);
    while (grp > 1 && (long)ntb * ((ncb + grp - 1) / grp) < 8) grp /= 2;
    int ngr = (ncb + grp - 1) / grp;
    long n_items = (long)ngr * ntb;
    /* dynamic, in runs of consecutive items: when another process takes a
     * core from one of our threads, the others pick up its share instead of
     * waiting for it at the barrier */
    long run = SONO_MAX(1L, n_items / (8L * omp_get_num_threads()));
#pragma omp for schedule(dynamic, run)
    for (long i = 0; i < n_items; i++) {
        /* few time blocks (T ~ 75): consecutive items share a row group, so
         * its weights are reused from cache; else they share a time block */
        int tb = ntb <= 4 ? (int)(i % ntb) : (int)(i / ngr);
        int g = ntb <= 4 ? (int)(i / ntb) : (int)(i % ngr);
        int cb0 = g * grp, cb1 = SONO_MIN(ncb, cb0 + grp);
        for (int ci0 = 0; ci0 < j->n_ci || ci0 == 0; ci0 += ci_blk) {
            int ci1 = SONO_MIN(j->n_ci, ci0 + ci_blk);
            for (int cb = cb0; cb < cb1; cb++) {
                if (isa == ISA_AVX512) eng_tile512(j, cb, tb, ci0, ci1, ci0 > 0);
                else eng_tile256(j, cb, tb, ci0, ci1, ci0 > 0);
            }
            if (ci1 >= j->n_ci) break;
        }
    }
#else
    (void)j; (void)isa;
#endif
}

/* Threads worth using for `flops` of work (tiny jobs run on the caller). */
static inline int threads_for(double flops, int n_threads) {
    return flops < 2e5 ? 1 : clamp_threads(n_threads);
}

/* ---------------------------------------------------------------------------
 * conv1d */

size_t sn_conv1d_scratch_floats(int C_in, int K, int T_out) {
    /* im2col (or the smaller polyphase copy) of one time chunk; stride-1 calls
     * on the SIMD engine need none, but the stride is not known here */
    if (C_in <= 0 || K <= 0 || T_out <= 0) return 0;
    return (size_t)C_in * K * SONO_MIN(T_out, KERN_TCHUNK);
}

/* col [C_in*K][tc] = in[ci][(t0 + j)*stride + k*dil] for j < tc */
static void im2col_for(float *col, const float *in, int C_in, int T_in, int K, int stride, int dil,
                       int t0, int tc) {
#pragma omp for schedule(static)
    for (int r = 0; r < C_in * K; r++) {
        int ci = r / K, k = r % K;
        const float *x = in + (size_t)ci * T_in + (size_t)t0 * stride + (size_t)k * dil;
        float *c = col + (size_t)r * tc;
        if (stride == 1) memcpy(c, x, (size_t)tc * sizeof *c);
        else for (int j = 0; j < tc; j++) c[j] = x[(size_t)j * stride];
    }
}

static void conv1d_blas(float *out, const float *in, const float *w, const float *b,
                        int C_in, int C_out, int T_in, int K, int stride, int dil,
                        float *scratch, int nt) {
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    for (int co = 0; co < C_out; co++) {
        float bv = b ? b[co] : 0.0f;
        float *o = out + (size_t)co * T_out;
        for (int t = 0; t < T_out; t++) o[t] = bv;
    }
    if (C_in <= 0) return;
    if (K == 1 && stride == 1) { /* out += w [C_out][C_in] x in [C_in][T] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C_out, T_out, C_in,
                    1.0f, w, C_in, in, T_in, 1.0f, out, T_out);
        return;
    }
    for (int t0 = 0; t0 < T_out; t0 += KERN_TCHUNK) {
        int tc = SONO_MIN(KERN_TCHUNK, T_out - t0);
#pragma omp parallel num_threads(nt)
        im2col_for(scratch, in, C_in, T_in, K, stride, dil, t0, tc);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C_out, tc, C_in * K,
                    1.0f, w, C_in * K, scratch, tc, 1.0f, out + t0, T_out);
    }
}

void sn_conv1d_forward(float *out, const float *in, const float *w, const float *b,
                    int C_in, int C_out, int T_in, int K, int stride, int dil,
                    float *scratch, int n_threads) {
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    if (T_out <= 0 || C_out <= 0) return;
    int isa = kern_isa();
    int nt = threads_for(2.0 * C_out * C_in * K * T_out, n_threads);
    if (isa == ISA_BLAS || C_in <= 0) {
        conv1d_blas(out, in, w, b, C_in, C_out, T_in, K, stride, dil, scratch, nt);
        return;
    }
    int xoff[KERN_MAX_TAPS], woff[KERN_MAX_TAPS];
    eng_job j = { .w = w, .bias = b, .out = out, .o_co = (size_t)T_out, .n_co = C_out,
                  .xoff = xoff, .woff = woff };
    if (stride == 1 && K <= KERN_MAX_TAPS) { /* shifted views of the input itself */
        for (int k = 0; k < K; k++) { xoff[k] = k * dil; woff[k] = k; }
        j.x = in; j.x_ci = (size_t)T_in; j.w_co = (size_t)C_in * K; j.w_ci = (size_t)K;
        j.n_ci = C_in; j.n_k = K; j.n_t = T_out;
#pragma omp parallel num_threads(nt)
        eng_for(&j, isa);
        return;
    }
    /* polyphase copy when it fits (in about half the room im2col needs, so
     * its time chunks are longer: fewer barriers), else im2col */
    size_t cap = sn_conv1d_scratch_floats(C_in, K, T_out);
    int reach_p = (K - 1) * dil / stride;
    long tc_poly = (long)(cap / ((size_t)C_in * stride)) - reach_p;
    int poly = K <= KERN_MAX_TAPS && tc_poly >= SONO_MIN(T_out, 48);
    int chunk = poly ? (int)SONO_MIN((long)T_out, tc_poly) : SONO_MIN(T_out, KERN_TCHUNK);
#pragma omp parallel num_threads(nt)
    {
        int pxoff[KERN_MAX_TAPS], pwoff[KERN_MAX_TAPS]; /* per thread: no shared writes */
        eng_job pj = j;
        pj.xoff = pxoff; pj.woff = pwoff;
        for (int t0 = 0; t0 < T_out; t0 += chunk) {
            int tc = SONO_MIN(chunk, T_out - t0);
            /* polyphase rows: x[ci][p][jj] = in[ci][(t0 + jj)*stride + p], jj < Lp,
             * so tap k reads row p = (k*dil) % stride at offset (k*dil) / stride */
            int Lp = tc + reach_p;
            pj.out = out + t0; pj.n_t = tc;
            if (poly) {
#pragma omp for schedule(static)
                for (int r = 0; r < C_in * stride; r++) {
                    int ci = r / stride, p = r % stride;
                    const float *x = in + (size_t)ci * T_in;
                    float *d = scratch + (size_t)r * Lp;
                    /* jj < n_ok read inside the input, the rest is never used: zero it */
                    long first = (long)t0 * stride + p;
                    int n_ok = first >= T_in ? 0 : (int)SONO_MIN((long)Lp, (T_in - 1 - first) / stride + 1);
                    const float *xs = x + first;
                    if (stride == 2) for (int jj = 0; jj < n_ok; jj++) d[jj] = xs[2 * jj];
                    else for (int jj = 0; jj < n_ok; jj++) d[jj] = xs[(size_t)jj * stride];
                    for (int jj = n_ok; jj < Lp; jj++) d[jj] = 0.0f;
                }
                for (int k = 0; k < K; k++) {
                    pxoff[k] = ((k * dil) % stride) * Lp + (k * dil) / stride;
                    pwoff[k] = k;
                }
                pj.x = scratch; pj.x_ci = (size_t)stride * Lp;
                pj.w_co = (size_t)C_in * K; pj.w_ci = (size_t)K; pj.n_ci = C_in; pj.n_k = K;
            } else { /* im2col, then the engine as a 1x1 conv over C_in*K rows */
                im2col_for(scratch, in, C_in, T_in, K, stride, dil, t0, tc);
                pxoff[0] = 0; pwoff[0] = 0;
                pj.x = scratch; pj.x_ci = (size_t)tc;
                pj.w_co = (size_t)C_in * K; pj.w_ci = 1; pj.n_ci = C_in * K; pj.n_k = 1;
            }
            eng_for(&pj, isa); /* its implicit barrier also guards the next chunk's copy */
        }
    }
}

/* ---------------------------------------------------------------------------
 * Transposed conv1d: per time chunk, one GEMM
 *     colT [tc][C_out*K] = in[:, chunk]^T x w [C_in][C_out*K]
 * (w is used as stored: its rows are contiguous, so the engine vectorises over
 * C_out*K and broadcasts the input; the other orientation walks w down its
 * columns, 4-16 KiB apart, and thrashes the caches), then overlap-add
 *     out[co][(t0 + t)*stride + k] += colT[t][co*K + k]
 * parallel over output channels, K contiguous floats at a time. */

size_t sn_convtr1d_scratch_floats(int C_out, int K, int T_in) {
    if (C_out <= 0 || K <= 0 || T_in <= 0) return 0;
    return (size_t)C_out * K * SONO_MIN(T_in, KERN_TCHUNK);
}

static void col2im_for(float *out, const float *colT, int C_out, int K, int stride,
                       size_t T_out, int t0, int tc) {
    size_t R = (size_t)C_out * K;
    /* each thread owns a range of output rows and walks colT row by row, so
     * colT is read in order and the writes are a few sequential streams */
    int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    int co0 = (int)((long)C_out * tid / nth), co1 = (int)((long)C_out * (tid + 1) / nth);
    for (int t = 0; t < tc; t++) {
        const float *ct = colT + (size_t)t * R;
        float *ot = out + (size_t)(t0 + t) * stride;
        for (int co = co0; co < co1; co++) {
            float *o = ot + (size_t)co * T_out;
            const float *c = ct + (size_t)co * K;
            for (int k = 0; k < K; k++) o[k] += c[k];
        }
    }
#pragma omp barrier
}

/* out[co][(t0 + j)*stride + k] += col[co*K + k][j], j < tc: the other
 * orientation's overlap-add, parallel over output rows */
static void col2im_rows_for(float *out, const float *col, int C_out, int K, int stride,
                            size_t T_out, int t0, int tc) {
#pragma omp for schedule(static)
    for (int co = 0; co < C_out; co++) {
        float *o = out + (size_t)co * T_out + (size_t)t0 * stride;
        for (int k = 0; k < K; k++) {
            const float *c = col + ((size_t)co * K + k) * tc;
            float *ok = o + k;
            if (stride == 1) for (int j = 0; j < tc; j++) ok[j] += c[j];
            else for (int j = 0; j < tc; j++) ok[(size_t)j * stride] += c[j];
        }
    }
}

void sn_convtr1d_forward(float *out, const float *in, const float *w, const float *b,
                      int C_in, int C_out, int T_in, int K, int stride,
                      float *scratch, int n_threads) {
    if (T_in <= 0 || C_out <= 0 || K <= 0) return;
    size_t T_out = (size_t)(T_in - 1) * stride + K;
    int R = C_out * K;
    int isa = kern_isa();
    int nt = threads_for(2.0 * R * C_in * T_in, n_threads);
    if (isa == ISA_BLAS || C_in <= 0) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int co = 0; co < C_out; co++) {
            float bv = b ? b[co] : 0.0f;
            float *o = out + (size_t)co * T_out;
            for (size_t t = 0; t < T_out; t++) o[t] = bv;
        }
        for (int t0 = 0; t0 < T_in && C_in > 0; t0 += KERN_TCHUNK) {
            int tc = SONO_MIN(KERN_TCHUNK, T_in - t0);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, tc, R, C_in,
                        1.0f, in + t0, T_in, w, R, 0.0f, scratch, R);
#pragma omp parallel num_threads(nt)
            col2im_for(out, scratch, C_out, K, stride, T_out, t0, tc);
        }
        return;
    }
    /* long inputs with few columns: vectorise over time (col [R][tc]); else
     * over the C_out*K columns (colT [tc][R]) */
    int time_major = R <= 512 && T_in >= 1024;
    int zero = 0;
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
        for (int co = 0; co < C_out; co++) {
            float bv = b ? b[co] : 0.0f;
            float *o = out + (size_t)co * T_out;
            for (size_t t = 0; t < T_out; t++) o[t] = bv;
        }
        for (int t0 = 0; t0 < T_in; t0 += KERN_TCHUNK) {
            int tc = SONO_MIN(KERN_TCHUNK, T_in - t0);
            if (time_major) {
                eng_job j = { .x = in + t0, .x_ci = (size_t)T_in, .xoff = &zero,
                              .w = w, .w_co = 1, .w_ci = (size_t)R, .woff = &zero,
                              .n_ci = C_in, .n_k = 1, .bias = NULL,
                              .out = scratch, .o_co = (size_t)tc, .n_co = R, .n_t = tc };
                eng_for(&j, isa);
                col2im_rows_for(out, scratch, C_out, K, stride, T_out, t0, tc);
            } else {
                /* engine rows = time steps (broadcast from in), columns = C_out*K */
                eng_job j = { .x = w, .x_ci = (size_t)R, .xoff = &zero,
                              .w = in + t0, .w_co = 1, .w_ci = (size_t)T_in, .woff = &zero,
                              .n_ci = C_in, .n_k = 1, .bias = NULL,
                              .out = scratch, .o_co = (size_t)R, .n_co = tc, .n_t = R, .prefetch_w = 1 };
                eng_for(&j, isa);
                col2im_for(out, scratch, C_out, K, stride, T_out, t0, tc);
            }
        }
    }
}

/* ---------------------------------------------------------------------------
 * LSTM: per chunk of steps, P [4H][tc] = W_ih x in[:, chunk] + b_ih + b_hh in
 * one GEMM, then the recurrence. With threads, each owns a fixed slice of the
 * hidden units (all four gate rows of them), so its slice of W_hh stays in its
 * own cache across steps; one barrier per step publishes the new h.
 * scratch: P [4H][tc], bias sum [4H], then h double buffer [2][H] (engine) or
 * z [4H] (BLAS). */

size_t sn_lstm_scratch_floats(int C, int H, int T) {
    (void)C;
    if (H <= 0 || T <= 0) return 0;
    return (size_t)4 * H * SONO_MIN(T, KERN_LSTM_TCHUNK) + (size_t)8 * H;
}

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

void sn_lstm_forward(float *out, const float *in, const float *w_ih, const float *w_hh,
                  const float *b_ih, const float *b_hh, float *h, float *c,
                  int C, int H, int T, float *scratch, int n_threads) {
    if (H <= 0 || T <= 0) return;
    int isa = kern_isa();
    int G = 4 * H;
    int tcap = SONO_MIN(T, KERN_LSTM_TCHUNK);
    float *P = scratch;
    float *bsum = P + (size_t)G * tcap;
    float *aux = bsum + G;
    const float *bias = NULL;
    if (b_ih || b_hh) {
        for (int r = 0; r < G; r++) bsum[r] = (b_ih ? b_ih[r] : 0.0f) + (b_hh ? b_hh[r] : 0.0f);
        bias = bsum;
    }
    int nt = clamp_threads(n_threads);
    if ((double)G * H < 65536.0) nt = 1; /* tiny layers: barriers would dominate */

    if (isa == ISA_BLAS) {
        float *z = aux;
        for (int t0 = 0; t0 < T; t0 += tcap) {
            int tc = SONO_MIN(tcap, T - t0);
            for (int r = 0; r < G; r++)
                for (int t = 0; t < tc; t++) P[(size_t)r * tc + t] = bias ? bias[r] : 0.0f;
            if (C > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, G, tc, C,
                            1.0f, w_ih, C, in + t0, T, 1.0f, P, tc);
            for (int t = 0; t < tc; t++) {
                for (int r = 0; r < G; r++) z[r] = P[(size_t)r * tc + t];
                cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, w_hh, H, h, 1, 1.0f, z, 1);
                for (int u = 0; u < H; u++) {
                    float ig = sigmoidf_(z[u]), fg = sigmoidf_(z[H + u]);
                    float gg = tanhf(z[2 * H + u]), og = sigmoidf_(z[3 * H + u]);
                    c[u] = fg * c[u] + ig * gg;
                    h[u] = og * tanhf(c[u]);
                    out[(size_t)u * T + t0 + t] = h[u];
                }
            }
        }
        return;
    }

#if KERN_X86
    float *hb = aux; /* [2][H]: step t reads hb[t & 1], writes hb[(t + 1) & 1] */
    memcpy(hb, h, (size_t)H * sizeof *hb);
    int zero = 0;
    int n_groups = (H + 15) / 16;
    if (nt > n_groups) nt = n_groups;
    for (int t0 = 0; t0 < T; t0 += tcap) {
        int tc = SONO_MIN(tcap, T - t0);
        eng_job j = { .x = in + t0, .x_ci = (size_t)T, .xoff = &zero,
                      .w = w_ih, .w_co = (size_t)C, .w_ci = 1, .woff = &zero,
                      .n_ci = C, .n_k = 1, .bias = bias,
                      .out = P, .o_co = (size_t)tc, .n_co = G, .n_t = tc };
#pragma omp parallel num_threads(nt)
        {
            if (C > 0) {
                eng_for(&j, isa); /* ends with a barrier */
            } else {
#pragma omp for schedule(static)
                for (int r = 0; r < G; r++)
                    for (int t = 0; t < tc; t++) P[(size_t)r * tc + t] = bias ? bias[r] : 0.0f;
            }
            int tid = omp_get_thread_num(), nth = omp_get_num_threads();
            int g0 = n_groups * tid / nth, g1 = n_groups * (tid + 1) / nth;
            float z[64];
            for (int t = 0; t < tc; t++) {
                int step = t0 + t;
                const float *hp = hb + (size_t)(step & 1) * H;
                float *hn = hb + (size_t)((step + 1) & 1) * H;
                for (int gi = g0; gi < g1; gi++) {
                    /* W_hh (4 MiB at H = 512) outgrows L2; sweeping it in
                     * alternate directions makes the rows used last in one
                     * step the first ones of the next, still cached */
                    int g = (step & 1) ? g0 + g1 - 1 - gi : gi;
                    int u0 = 16 * g, n = SONO_MIN(16, H - u0);
                    if (isa == ISA_AVX512) lstm_matvec512(z, w_hh, hp, H, u0, n);
                    else lstm_matvec256(z, w_hh, hp, H, u0, n);
                    for (int q = 0; q < 4; q++)
                        for (int u = 0; u < n; u++) z[16 * q + u] += P[((size_t)q * H + u0 + u) * tc + t];
                    for (int q = 0; q < 4; q++)
                        for (int u = n; u < 16; u++) z[16 * q + u] = 0.0f;
                    if (isa == ISA_AVX512) lstm_gates512(hn + u0, c + u0, z, n);
                    else lstm_gates256(hn + u0, c + u0, z, n);
                    for (int u = 0; u < n; u++) out[(size_t)(u0 + u) * T + step] = hn[u0 + u];
                }
#pragma omp barrier
            }
        }
    }
    memcpy(h, hb + (size_t)(T & 1) * H, (size_t)H * sizeof *h);
#endif
}

/* ---------------------------------------------------------------------------
 * Elementwise and normalisation */

void sn_elu_forward(float *out, const float *in, size_t n, float alpha, int n_threads) {
    int isa = kern_isa();
    int nt = n < ((size_t)1 << 15) ? 1 : clamp_threads(n_threads);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        /* contiguous slices on 64-float boundaries */
        size_t blocks = (n + 63) / 64;
        size_t i0 = SONO_MIN(n, blocks * tid / nth * 64), i1 = SONO_MIN(n, blocks * (tid + 1) / nth * 64);
#if KERN_X86
        if (isa == ISA_AVX512) elu512(out + i0, in + i0, i1 - i0, alpha);
        else if (isa == ISA_AVX2) elu256(out + i0, in + i0, i1 - i0, alpha);
        else
#endif
        for (size_t i = i0; i < i1; i++) out[i] = in[i] > 0.0f ? in[i] : alpha * expm1f(in[i]);
    }
    (void)isa;
}

/* sum of x[0..n) in double, four chains so the adds overlap */
static double sum_d(const float *x, int n, double shift, int sq) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    if (sq) {
        for (; i + 4 <= n; i += 4) {
            double d0 = x[i] - shift, d1 = x[i + 1] - shift, d2 = x[i + 2] - shift, d3 = x[i + 3] - shift;
            a0 += d0 * d0; a1 += d1 * d1; a2 += d2 * d2; a3 += d3 * d3;
        }
        for (; i < n; i++) { double d = x[i] - shift; a0 += d * d; }
    } else {
        for (; i + 4 <= n; i += 4) { a0 += x[i]; a1 += x[i + 1]; a2 += x[i + 2]; a3 += x[i + 3]; }
        for (; i < n; i++) a0 += x[i];
    }
    return (a0 + a1) + (a2 + a3);
}

void sn_groupnorm1_forward(float *out, const float *in, const float *gamma, const float *beta,
                        int C, int T, float eps, int n_threads) {
    size_t n = (size_t)C * T;
    if (n == 0) return;
    int nt = n < ((size_t)1 << 15) ? 1 : clamp_threads(n_threads);
    /* partial sums over a fixed split of the channels, added in order: the
     * result does not depend on the thread count */
    enum { NB = 64 };
    double part[NB];
    int nb = SONO_MIN(NB, C);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < nb; i++) {
        double acc = 0.0;
        for (int ch = (int)((long)C * i / nb); ch < (int)((long)C * (i + 1) / nb); ch++)
            acc += sum_d(in + (size_t)ch * T, T, 0.0, 0);
        part[i] = acc;
    }
    double s = 0.0;
    for (int i = 0; i < nb; i++) s += part[i];
    double mean = s / (double)n;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < nb; i++) {
        double acc = 0.0;
        for (int ch = (int)((long)C * i / nb); ch < (int)((long)C * (i + 1) / nb); ch++)
            acc += sum_d(in + (size_t)ch * T, T, mean, 1);
        part[i] = acc;
    }
    double v = 0.0;
    for (int i = 0; i < nb; i++) v += part[i];
    double rstd = 1.0 / sqrt(v / (double)n + (double)eps);
    float mf = (float)mean;
    double mres = mean - (double)mf; /* (x - mean) = (x - mf) - mres, keeps large means exact */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int ch = 0; ch < C; ch++) {
        double g = gamma ? gamma[ch] : 1.0;
        float a = (float)(rstd * g);
        float sh = (float)((beta ? beta[ch] : 0.0) - mres * rstd * g);
        const float *x = in + (size_t)ch * T;
        float *o = out + (size_t)ch * T;
        for (int t = 0; t < T; t++) o[t] = (x[t] - mf) * a + sh;
    }
}

/* Linear: OpenBLAS (both operands have the reduction axis contiguous, which is
 * not the engine's layout; the codec does not use it). */
void sn_linear_forward(float *out, const float *in, const float *w, const float *b,
                    int N, int IC, int OC, int n_threads) {
    (void)n_threads;
    if (N <= 0 || OC <= 0) return;
    for (int i = 0; i < N; i++)
        for (int o = 0; o < OC; o++) out[(size_t)i * OC + o] = b ? b[o] : 0.0f;
    if (IC <= 0) return;
    if (N == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, OC, IC, 1.0f, w, IC, in, 1, 1.0f, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC,
                    1.0f, in, IC, w, IC, 1.0f, out, OC);
}
