/* The library's real FFT in float (common/fft.h). */
#include "fft.h"

#include <math.h>
#include <stdlib.h>

#include "sono_internal.h"
#include "sonotok/cpu.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(SONO_REF_KERNELS)
#include <immintrin.h>
#define FFT_X86 1
#else
#define FFT_X86 0
#endif

#define FFT_PI 3.14159265358979323846

fft_plan *sn_fft_plan_new(int n, int *err) {
    int e = 0;
    fft_plan *p = NULL;
    if (n < 2 || n > 65536 || (n & (n - 1))) {
        e = sn_fail(SONO_E_ARG, "fft: size %d is not a power of two in 2..65536", n);
        goto done;
    }
    p = calloc(1, sizeof *p);
    if (!p) { e = SONO_E_NOMEM; goto done; }
    const int m = n / 2;
    p->n = n;
    p->m = m;
    p->rev = malloc((size_t)m * sizeof *p->rev);
    p->tw_re = malloc((size_t)m * sizeof *p->tw_re);
    p->tw_im = malloc((size_t)m * sizeof *p->tw_im);
    p->pw_re = malloc((size_t)(m / 2 + 1) * sizeof *p->pw_re);
    p->pw_im = malloc((size_t)(m / 2 + 1) * sizeof *p->pw_im);
    if (!p->rev || !p->tw_re || !p->tw_im || !p->pw_re || !p->pw_im) {
        e = SONO_E_NOMEM;
        goto done;
    }
    int bits = 0;
    while ((1 << bits) < m) bits++;
    for (int i = 0; i < m; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++)
            if (i & (1 << b)) r |= 1 << (bits - 1 - b);
        p->rev[i] = r;
    }
    p->tw_re[0] = 1.0f;
    p->tw_im[0] = 0.0f;
    for (int h = 1; h < m; h <<= 1)
        for (int k = 0; k < h; k++) {
            double a = -FFT_PI * k / h;
            p->tw_re[h + k] = (float)cos(a);
            p->tw_im[h + k] = (float)sin(a);
        }
    for (int k = 0; k <= m / 2; k++) {
        double a = -2 * FFT_PI * k / n;
        p->pw_re[k] = (float)cos(a);
        p->pw_im[k] = (float)sin(a);
    }
#if FFT_X86
    p->simd = m >= 32 && sono_cpu_level() >= SONO_CPU_AVX512;
#endif
done:
    if (e) {
        sn_fft_plan_free(p);
        p = NULL;
    }
    if (err) *err = e;
    return p;
}

void sn_fft_plan_free(fft_plan *p) {
    if (!p) return;
    free(p->rev);
    free(p->tw_re);
    free(p->tw_im);
    free(p->pw_re);
    free(p->pw_im);
    free(p);
}

void sn_fft_hann(double *w, int n, int normalized) {
    double ss = 0;
    for (int j = 0; j < n; j++) {
        double h = 0.5 - 0.5 * cos(2 * FFT_PI * j / n);
        ss += h * h;
    }
    double s = normalized ? 1.0 / sqrt(ss) : 1.0;
    for (int j = 0; j < n; j++) w[j] = s * (0.5 - 0.5 * cos(2 * FFT_PI * j / n));
}

#if FFT_X86
/* The radix-2 stages h = 4 .. m/2 of sn_fft_complex_bitrev with AVX-512, each lane
 * doing the scalar loop's operations in its order (fp-contract off: no fused
 * multiply-adds, so the results are the plain code's, bit for bit). h = 4 and
 * 8 regroup 32 values (groups of 2h: a then b) into a vector of a's and one of
 * b's; h >= 16 runs straight over k. Needs m >= 32. */
#if defined(__clang__)
#define FFT_TGT __attribute__((target("avx512f")))   /* clang contracts only within one expression */
#else
#define FFT_TGT __attribute__((target("avx512f"), optimize("fp-contract=off")))
#endif

static inline __attribute__((always_inline)) FFT_TGT void
fft_bfly16(__m512 *ar, __m512 *ai, __m512 *br, __m512 *bi, __m512 wr, __m512 wi) {
    const __m512 tr = _mm512_sub_ps(_mm512_mul_ps(*br, wr), _mm512_mul_ps(*bi, wi));
    const __m512 ti = _mm512_add_ps(_mm512_mul_ps(*br, wi), _mm512_mul_ps(*bi, wr));
    *br = _mm512_sub_ps(*ar, tr);
    *bi = _mm512_sub_ps(*ai, ti);
    *ar = _mm512_add_ps(*ar, tr);
    *ai = _mm512_add_ps(*ai, ti);
}

/* Stage h (4 or 8) over 32 values at x: the a's and b's of 32/(2h) groups. */
static inline __attribute__((always_inline)) FFT_TGT void
fft_stage_small(float *re, float *im, int m, __m512i ia, __m512i ib, __m512i i0, __m512i i1, __m512 wr, __m512 wi) {
    for (int s = 0; s < m; s += 32) {
        const __m512 r0 = _mm512_loadu_ps(re + s), r1 = _mm512_loadu_ps(re + s + 16);
        const __m512 m0 = _mm512_loadu_ps(im + s), m1 = _mm512_loadu_ps(im + s + 16);
        __m512 ar = _mm512_permutex2var_ps(r0, ia, r1), br = _mm512_permutex2var_ps(r0, ib, r1);
        __m512 ai = _mm512_permutex2var_ps(m0, ia, m1), bi = _mm512_permutex2var_ps(m0, ib, m1);
        fft_bfly16(&ar, &ai, &br, &bi, wr, wi);
        _mm512_storeu_ps(re + s, _mm512_permutex2var_ps(ar, i0, br));
        _mm512_storeu_ps(re + s + 16, _mm512_permutex2var_ps(ar, i1, br));
        _mm512_storeu_ps(im + s, _mm512_permutex2var_ps(ai, i0, bi));
        _mm512_storeu_ps(im + s + 16, _mm512_permutex2var_ps(ai, i1, bi));
    }
}

FFT_TGT static void fft_stages_avx512(const fft_plan *p, float *re, float *im) {
    const int m = p->m;
    /* h = 4: lane l of a/b is group l/4 (of 8 in r0:r1), k = l%4; twiddles repeat every 4 lanes */
    fft_stage_small(re, im, m, _mm512_set_epi32(27, 26, 25, 24, 19, 18, 17, 16, 11, 10, 9, 8, 3, 2, 1, 0),
                    _mm512_set_epi32(31, 30, 29, 28, 23, 22, 21, 20, 15, 14, 13, 12, 7, 6, 5, 4),
                    _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0),
                    _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8),
                    _mm512_broadcast_f32x4(_mm_loadu_ps(p->tw_re + 4)),
                    _mm512_broadcast_f32x4(_mm_loadu_ps(p->tw_im + 4)));
    /* h = 8: lanes 0-7 are group 0, 8-15 group 1 */
    fft_stage_small(re, im, m, _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0),
                    _mm512_set_epi32(31, 30, 29, 28, 27, 26, 25, 24, 15, 14, 13, 12, 11, 10, 9, 8),
                    _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0),
                    _mm512_set_epi32(31, 30, 29, 28, 27, 26, 25, 24, 15, 14, 13, 12, 11, 10, 9, 8),
                    _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p->tw_re + 8)))),
                    _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p->tw_im + 8)))));
    for (int h = 16; h < m; h <<= 1) {
        const float *wr = p->tw_re + h, *wi = p->tw_im + h;
        for (int s = 0; s < m; s += 2 * h) {
            float *ar = re + s, *ai = im + s, *br = re + s + h, *bi = im + s + h;
            for (int k = 0; k < h; k += 16) {
                __m512 var = _mm512_loadu_ps(ar + k), vai = _mm512_loadu_ps(ai + k);
                __m512 vbr = _mm512_loadu_ps(br + k), vbi = _mm512_loadu_ps(bi + k);
                fft_bfly16(&var, &vai, &vbr, &vbi, _mm512_loadu_ps(wr + k), _mm512_loadu_ps(wi + k));
                _mm512_storeu_ps(ar + k, var);
                _mm512_storeu_ps(ai + k, vai);
                _mm512_storeu_ps(br + k, vbr);
                _mm512_storeu_ps(bi + k, vbi);
            }
        }
    }
}
#endif

void sn_fft_complex_bitrev(const fft_plan *p, float *re, float *im) {
    const int m = p->m;
    if (m == 2) {
        float ar = re[0], ai = im[0], br = re[1], bi = im[1];
        re[0] = ar + br; im[0] = ai + bi;
        re[1] = ar - br; im[1] = ai - bi;
        return;
    }
    /* halves 1 and 2 together (radix 4): twiddles 1 and -i, no multiplies */
    for (int s = 0; s + 3 < m; s += 4) {
        float s0r = re[s] + re[s + 1], s0i = im[s] + im[s + 1];
        float d0r = re[s] - re[s + 1], d0i = im[s] - im[s + 1];
        float s1r = re[s + 2] + re[s + 3], s1i = im[s + 2] + im[s + 3];
        float d1r = re[s + 2] - re[s + 3], d1i = im[s + 2] - im[s + 3];
        re[s] = s0r + s1r; im[s] = s0i + s1i;
        re[s + 2] = s0r - s1r; im[s + 2] = s0i - s1i;
        re[s + 1] = d0r + d1i; im[s + 1] = d0i - d1r; /* d0 + (-i) d1 */
        re[s + 3] = d0r - d1i; im[s + 3] = d0i + d1r;
    }
#if FFT_X86
    if (p->simd) {
        fft_stages_avx512(p, re, im);
        return;
    }
#endif
    for (int h = 4; h < m; h <<= 1) {
        const float *wr = p->tw_re + h, *wi = p->tw_im + h;
        for (int s = 0; s < m; s += 2 * h) {
            float *ar = re + s, *ai = im + s, *br = re + s + h, *bi = im + s + h;
            for (int k = 0; k < h; k++) {
                float tr = br[k] * wr[k] - bi[k] * wi[k];
                float ti = br[k] * wi[k] + bi[k] * wr[k];
                br[k] = ar[k] - tr;
                bi[k] = ai[k] - ti;
                ar[k] += tr;
                ai[k] += ti;
            }
        }
    }
}


/* The frame goes into re/im in bit-reversed order (so the permutation costs
 * nothing extra), the complex FFT runs in place, and the split to bins
 * 0..m needs no scratch either: each row has m + 1 slots. */
void sn_fft_real(const fft_plan *p, float *re, float *im, const float *v, const float *w) {
    const int m = p->m;
    float *zr = re, *zi = im;
    if (w)
        for (int j = 0; j < m; j++) {
            int r = p->rev[j];
            zr[r] = w[2 * j] * v[2 * j];
            zi[r] = w[2 * j + 1] * v[2 * j + 1];
        }
    else
        for (int j = 0; j < m; j++) {
            int r = p->rev[j];
            zr[r] = v[2 * j];
            zi[r] = v[2 * j + 1];
        }
    sn_fft_complex_bitrev(p, zr, zi);
    /* Split Z into even/odd-sample spectra E, O, then X[k] = E + W^k O and
     * X[m-k] = conj(E - W^k O), W = exp(-2 pi i / n); bins k and m-k
     * only read Z[k] and Z[m-k], so the split runs in place. */
    float z0r = zr[0], z0i = zi[0];
    zr[0] = z0r + z0i;
    zi[0] = 0.0f;
    zr[m] = z0r - z0i;
    zi[m] = 0.0f;
    for (int k = 1; 2 * k <= m; k++) {
        float akr = zr[k], aki = zi[k], bkr = zr[m - k], bki = -zi[m - k]; /* Z[k], conj Z[m-k] */
        float er = 0.5f * (akr + bkr), ei = 0.5f * (aki + bki);
        float dr = 0.5f * (akr - bkr), di = 0.5f * (aki - bki);
        float or_ = di, oi = -dr; /* O = (Z[k] - conj Z[m-k]) / (2i) */
        float wr = p->pw_re[k], wi = p->pw_im[k];
        float tr = wr * or_ - wi * oi, ti = wr * oi + wi * or_;
        zr[k] = er + tr;
        zi[k] = ei + ti;
        zr[m - k] = er - tr;
        zi[m - k] = -(ei - ti);
    }
}
