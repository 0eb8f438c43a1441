/* The generation step's matmul (lm_gemv.h): a few activation rows against
 * a weight matrix [N][K], each weight read once for all rows. Register
 * tiles of weight rows x activation rows, 16 lanes of partial sums per
 * (row, weight row), then the fixed reduction lm_gemv.h states. Three
 * variants with the same bits: AVX-512 (one vector of 16 lanes), AVX2 + FMA
 * (two vectors of 8) and plain C (fmaf on 16 scalars, the reference twin);
 * the level comes from the one CPU dispatch point, sono_cpu_level()
 * (common/cpu.c), as for the codec's kernels (common/kernels.c).
 *
 * Why not OpenBLAS: sgemv reads the weights once per row, so a batch of M
 * rows reads them M times (from cache when the rows pass over one block,
 * lm_layers.c's former path), and its sums depend on its own kernel; here
 * M rows cost one pass over the weights, and float16 weights halve it. */
#include <math.h>
#include <string.h>
#include <omp.h>

#include "lm_gemv.h"
#include "sono_internal.h"
#include "sonotok/cpu.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define GV_X86 1
#else
#define GV_X86 0
#endif

/* Weight rows per unit of work: threads take contiguous runs of blocks. */
#define GV_BLOCK 64
/* Below this many multiply-adds per call a parallel region costs more than
 * a second thread saves (sn_lm_gemm's threshold; on a busy machine a
 * region waits for a thread that is not running, so fewer is better). */
#define GV_PAR_WORK 4e6
/* The first pass over a tile's weight rows prefetches the rows this far
 * ahead, at the same columns: without it, float16 rows (1 KB at C 512)
 * are too short for the hardware's stream prefetch and a step reads them
 * at ~60% of float32's bytes/s (bench-lm gemv). */
#define GV_PF_ROWS 16

typedef struct {
    float *y;
    const float *x;
    const void *w;   /* float [N][ldw] or uint16_t [N][ldw] (half) */
    int ldy, ldx, ldw;
    int M, N, K, acc, half;
} gv_job;

/* ---- float16 ---- */

uint16_t sn_lm_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN stays NaN (quiet) */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                          /* >= 65520: infinity */
    if (a < 0x38800000u) /* below 2^-14: a subnormal (or 0), units of 2^-24, exact scaling then nearest even */
        return (uint16_t)(sign | (uint16_t)nearbyintf(fabsf(f) * 0x1p24f));
    uint32_t r = a - 0x38000000u; /* rebias the exponent (127 - 15) */
    r += 0xfffu + ((r >> 13) & 1u); /* round the 13 dropped bits to nearest even */
    return (uint16_t)(sign | (r >> 13));
}

float sn_lm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, mant = h & 0x3ffu, u;
    if (e == 0) {
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    u = e == 31 ? sign | 0x7f800000u | mant << 13 : sign | (e + 112) << 23 | mant << 13;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#if GV_X86
/* F16C's conversion, the same rounding (tested): the first n - n % 8. */
static __attribute__((target("avx,f16c"))) size_t f16_from_f32_f16c(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    return i;
}
#endif

void sn_lm_f16_from_f32(uint16_t *dst, const float *src, size_t n) {
    size_t i = 0;
#if GV_X86
    if (sn_lm_gemv_f16_level() > SONO_CPU_PLAIN) i = f16_from_f32_f16c(dst, src, n);
#endif
    for (; i < n; i++) dst[i] = sn_lm_f32_to_f16(src[i]);
}

/* ---- the plain twin: the order of lm_gemv.h, one scalar per lane ---- */

static float ref_dot(const float *x, const float *wf, const uint16_t *wh, int K) {
    float p[16] = {0};
    int Kp = (K + 15) / 16 * 16;
    for (int k = 0; k < Kp; k++) {
        float a = 0, b = 0;
        if (k < K) {
            a = x[k];
            b = wh ? sn_lm_f16_to_f32(wh[k]) : wf[k];
        }
        p[k % 16] = fmaf(a, b, p[k % 16]);
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) p[j] = p[j] + p[j + w];
    return p[0];
}

static void ref_rows(const gv_job *j, int n0, int n1) {
    for (int m = 0; m < j->M; m++)
        for (int n = n0; n < n1; n++) {
            const float *x = j->x + (size_t)m * j->ldx;
            float s = j->half ? ref_dot(x, NULL, (const uint16_t *)j->w + (size_t)n * j->ldw, j->K)
                              : ref_dot(x, (const float *)j->w + (size_t)n * j->ldw, NULL, j->K);
            float *y = j->y + (size_t)m * j->ldy + n;
            *y = j->acc ? *y + s : s;
        }
}

/* ---- SIMD ---- */

#if GV_X86
#define TGT512 __attribute__((target("avx512f,avx512dq,avx2,fma,f16c")))
#define TGT256 __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline))

/* Lanes 0..7 of a vector of 8 partial sums (lanes j and j + 8 already
 * added): + 4, + 2, + 1, as lm_gemv.h says. */
INL TGT256 float hsum8(__m256 s8) {
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

INL void gv_store(const gv_job *j, int m, int n, float s) {
    float *y = j->y + (size_t)m * j->ldy + n;
    *y = j->acc ? *y + s : s;
}

/* The last K % 16 columns of a tile, copied into zero-padded rows of 16
 * (0 x 0 added to a lane is the order's own padding). */
typedef struct {
    float x[4][16];
    union {
        float f[4][16];
        uint16_t h[4][16];
    } w;
} gv_tail;

/* Point xt / wt at tail copies of the given rows from column k. */
INL void gv_tail_fill(gv_tail *t, const float **xt, const void **wt, const float *const *xr, const void *const *wr,
                      int k, int K, int NR, int MR, int HALF) {
    int rem = K - k;
    memset(t, 0, sizeof *t);
    for (int m = 0; m < MR; m++) {
        memcpy(t->x[m], xr[m] + k, sizeof(float) * (size_t)rem);
        xt[m] = t->x[m];
    }
    for (int r = 0; r < NR; r++) {
        if (HALF) memcpy(t->w.h[r], (const uint16_t *)wr[r] + k, sizeof(uint16_t) * (size_t)rem);
        else memcpy(t->w.f[r], (const float *)wr[r] + k, sizeof(float) * (size_t)rem);
        wt[r] = HALF ? (const void *)t->w.h[r] : (const void *)t->w.f[r];
    }
}

/* A tile's row pointers; returns the prefetch distance in bytes: the first
 * pass over its weight rows fetches the rows GV_PF_ROWS ahead, the others
 * (0) none. */
INL size_t gv_tile_rows(const gv_job *j, int n0, int m0, int NR, int MR, const float **xr, const void **wr) {
    const size_t wsize = j->half ? sizeof(uint16_t) : sizeof(float);
    for (int m = 0; m < MR; m++) xr[m] = j->x + (size_t)(m0 + m) * j->ldx;
    for (int r = 0; r < NR; r++) wr[r] = (const char *)j->w + (size_t)(n0 + r) * j->ldw * wsize;
    return m0 == 0 ? (size_t)GV_PF_ROWS * j->ldw * wsize : 0;
}

/* A hint for the line `off` bytes past p, which may lie past the matrix
 * (a prefetch never faults; the address is formed as an integer). */
INL void gv_prefetch(const void *p, size_t off) {
    _mm_prefetch((const char *)(uintptr_t)((uintptr_t)p + off), _MM_HINT_T0);
}

/* -- AVX-512: NR weight rows x MR activation rows, one vector per pair -- */
#define G512_NR 4
#define G512_MR 4

INL TGT512 void fma512(__m512 acc[G512_NR][G512_MR], const float *const *xr, const void *const *wr, int k,
                       const int NR, const int MR, const int HALF, size_t pf) {
    __m512 wv[G512_NR];
    if (pf)
        for (int r = 0; r < NR; r++)
            gv_prefetch(wr[r], (size_t)k * (HALF ? 2 : 4) + pf);
    for (int r = 0; r < NR; r++)
        wv[r] = HALF ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)wr[r] + k)))
                     : _mm512_loadu_ps((const float *)wr[r] + k);
    for (int m = 0; m < MR; m++) {
        __m512 xv = _mm512_loadu_ps(xr[m] + k);
        for (int r = 0; r < NR; r++) acc[r][m] = _mm512_fmadd_ps(xv, wv[r], acc[r][m]);
    }
}

INL TGT512 void tile512(const gv_job *j, int n0, int m0, const int NR, const int MR, const int HALF) {
    __m512 acc[G512_NR][G512_MR];
    const float *xr[G512_MR];
    const void *wr[G512_NR];
    size_t pf = gv_tile_rows(j, n0, m0, NR, MR, xr, wr);
    for (int r = 0; r < NR; r++)
        for (int m = 0; m < MR; m++) acc[r][m] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= j->K; k += 16) fma512(acc, xr, wr, k, NR, MR, HALF, pf);
    if (k < j->K) {
        gv_tail t;
        const float *xt[G512_MR];
        const void *wt[G512_NR];
        gv_tail_fill(&t, xt, wt, xr, wr, k, j->K, NR, MR, HALF);
        fma512(acc, xt, wt, 0, NR, MR, HALF, 0);
    }
    for (int r = 0; r < NR; r++)
        for (int m = 0; m < MR; m++) {
            __m512 a = acc[r][m];
            gv_store(j, m0 + m, n0 + r, hsum8(_mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1))));
        }
}

static TGT512 void rows512(const gv_job *j, int n0, int n1) {
    for (int n = n0; n < n1;) {
        int nr = n1 - n >= G512_NR ? G512_NR : 1;
        for (int m = 0; m < j->M;) {
            int mr = SONO_MIN(G512_MR, j->M - m);
            switch ((nr == 1) * 16 + (mr - 1) * 2 + j->half) {
#define T(one, mr_, h) case (one) * 16 + ((mr_) - 1) * 2 + (h): tile512(j, n, m, (one) ? 1 : G512_NR, mr_, h); break;
                T(0, 1, 0) T(0, 2, 0) T(0, 3, 0) T(0, 4, 0) T(1, 1, 0) T(1, 2, 0) T(1, 3, 0) T(1, 4, 0)
                T(0, 1, 1) T(0, 2, 1) T(0, 3, 1) T(0, 4, 1) T(1, 1, 1) T(1, 2, 1) T(1, 3, 1) T(1, 4, 1)
#undef T
            default: break;
            }
            m += mr;
        }
        n += nr;
    }
}

/* -- AVX2: the 16 lanes as two vectors of 8 (lanes 0..7, 8..15) -- */
#define G256_NR 2
#define G256_MR 3

INL TGT256 void fma256(__m256 acc[G256_NR][G256_MR][2], const float *const *xr, const void *const *wr, int k,
                       const int NR, const int MR, const int HALF, size_t pf) {
    if (pf)
        for (int r = 0; r < NR; r++)
            gv_prefetch(wr[r], (size_t)k * (HALF ? 2 : 4) + pf);
    for (int h = 0; h < 2; h++) {
        __m256 wv[G256_NR];
        for (int r = 0; r < NR; r++)
            wv[r] = HALF ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)wr[r] + k + 8 * h)))
                         : _mm256_loadu_ps((const float *)wr[r] + k + 8 * h);
        for (int m = 0; m < MR; m++) {
            __m256 xv = _mm256_loadu_ps(xr[m] + k + 8 * h);
            for (int r = 0; r < NR; r++) acc[r][m][h] = _mm256_fmadd_ps(xv, wv[r], acc[r][m][h]);
        }
    }
}

INL TGT256 void tile256(const gv_job *j, int n0, int m0, const int NR, const int MR, const int HALF) {
    __m256 acc[G256_NR][G256_MR][2];
    const float *xr[G256_MR];
    const void *wr[G256_NR];
    size_t pf = gv_tile_rows(j, n0, m0, NR, MR, xr, wr);
    for (int r = 0; r < NR; r++)
        for (int m = 0; m < MR; m++) acc[r][m][0] = acc[r][m][1] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= j->K; k += 16) fma256(acc, xr, wr, k, NR, MR, HALF, pf);
    if (k < j->K) {
        gv_tail t;
        const float *xt[G256_MR];
        const void *wt[G256_NR];
        gv_tail_fill(&t, xt, wt, xr, wr, k, j->K, NR, MR, HALF);
        fma256(acc, xt, wt, 0, NR, MR, HALF, 0);
    }
    for (int r = 0; r < NR; r++)
        for (int m = 0; m < MR; m++) gv_store(j, m0 + m, n0 + r, hsum8(_mm256_add_ps(acc[r][m][0], acc[r][m][1])));
}

static TGT256 void rows256(const gv_job *j, int n0, int n1) {
    for (int n = n0; n < n1;) {
        int nr = n1 - n >= G256_NR ? G256_NR : 1;
        for (int m = 0; m < j->M;) {
            int mr = SONO_MIN(G256_MR, j->M - m);
            switch ((nr == 1) * 16 + (mr - 1) * 2 + j->half) {
#define T(one, mr_, h) case (one) * 16 + ((mr_) - 1) * 2 + (h): tile256(j, n, m, (one) ? 1 : G256_NR, mr_, h); break;
                T(0, 1, 0) T(0, 2, 0) T(0, 3, 0) T(1, 1, 0) T(1, 2, 0) T(1, 3, 0)
                T(0, 1, 1) T(0, 2, 1) T(0, 3, 1) T(1, 1, 1) T(1, 2, 1) T(1, 3, 1)
#undef T
            default: break;
            }
            m += mr;
        }
        n += nr;
    }
}
#endif /* GV_X86 */

/* ---- dispatch ---- */

int sn_lm_gemv_level(void) { return GV_X86 ? sono_cpu_level() : SONO_CPU_PLAIN; }

int sn_lm_gemv_f16_level(void) {
    int l = sn_lm_gemv_level();
#if GV_X86
    /* F16C from CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports
     * does not know "f16c") */
    unsigned a, b, c, d;
    if (l == SONO_CPU_AVX2 && !(__get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1))) l = SONO_CPU_PLAIN;
#endif
    return l;
}

static void gv_run(const gv_job *j, int level, int n_threads) {
    if (j->M <= 0 || j->N <= 0) return;
    void (*rows)(const gv_job *, int, int) = ref_rows;
#if GV_X86
    if (level == SONO_CPU_AVX512) rows = rows512;
    else if (level == SONO_CPU_AVX2) rows = rows256;
#else
    (void)level;
#endif
    int nb = (j->N + GV_BLOCK - 1) / GV_BLOCK;
    if (n_threads < 2 || nb < 2 || (double)j->M * j->N * j->K < GV_PAR_WORK) {
        rows(j, 0, j->N); /* no region at all (the attention calls this inside one) */
        return;
    }
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int b = 0; b < nb; b++) rows(j, b * GV_BLOCK, SONO_MIN(j->N, (b + 1) * GV_BLOCK));
}

/* The four entry points: float32 or float16 weights, at the CPU's level or plain. */
#define GV_CALL(half, level, nt) \
    do { \
        gv_job j = {y, x, w, ldy, ldx, ldw, M, N, K, accumulate, half}; \
        gv_run(&j, level, nt); \
    } while (0)

void sn_lm_gemv(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int M, int N, int K,
                int accumulate, int n_threads) {
    GV_CALL(0, sn_lm_gemv_level(), n_threads);
}

void sn_lm_gemv_ref(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int M, int N, int K,
                    int accumulate, int n_threads) {
    (void)n_threads;
    GV_CALL(0, SONO_CPU_PLAIN, 1);
}

void sn_lm_gemv_f16(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw, int M, int N, int K,
                    int accumulate, int n_threads) {
    GV_CALL(1, sn_lm_gemv_f16_level(), n_threads);
}

void sn_lm_gemv_f16_ref(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw, int M, int N, int K,
                        int accumulate, int n_threads) {
    (void)n_threads;
    GV_CALL(1, SONO_CPU_PLAIN, 1);
}
