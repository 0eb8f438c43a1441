/* Float STFT and its exact adjoint (common/stft.h).
 *
 * A real frame of n_fft = 2M samples is packed as M complex values
 * z[m] = v[2m] + i v[2m+1], transformed by an in-place iterative radix-2
 * complex FFT of size M, and split into the onesided spectrum (bins 0..M).
 * The forward works inside the caller's re/im rows (each has M + 1 slots),
 * so it needs no scratch. The backward is the inverse of that: the bin
 * gradients become a Hermitian spectrum, a half-size inverse FFT gives the
 * gradient of the windowed frame, which is scattered into dx. Twiddles and
 * the bit reversal are computed once, in double, in the plan. */
#include "stft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sono_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(SONO_REF_KERNELS)
#include <immintrin.h>
#define STFT_X86 1
#else
#define STFT_X86 0
#endif

#define STFT_PI 3.14159265358979323846
/* Half-size frames up to this many complex values use a stack buffer in the
 * backward (2 * 4096 floats = 32 KiB); larger ones take one malloc per call. */
#define STFT_STACK_M 4096

struct stft_plan {
    int n_fft, hop, m;     /* m = n_fft / 2, the complex FFT size */
    float scale;           /* 1/sqrt(sum w^2) when normalized, else 1 */
    float *win;            /* [n_fft] periodic Hann times scale */
    int *rev;              /* [m] bit reversal of log2(m) bits */
    float *tw_re, *tw_im;  /* [m] stage twiddles: half h uses [h, 2h): exp(-2 pi i k / (2h)) */
    float *pw_re, *pw_im;  /* [m/2 + 1] exp(-2 pi i k / n_fft), for the real split */
    int simd;              /* the AVX-512 butterflies run (CPU has them, m >= 32) */
};

static int g_stft_simd_cap = 1; /* cleared by sn_stft_test_set_simd() only */

/* Test hook, not part of the contract: 0 makes plans created afterwards use
 * the plain C butterflies; returns whether new plans would use AVX-512. */
int sn_stft_test_set_simd(int on);
int sn_stft_test_set_simd(int on) {
    g_stft_simd_cap = on != 0;
#if STFT_X86
    return g_stft_simd_cap && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

stft_plan *sn_stft_plan_new(int n_fft, int hop, int normalized, int *err) {
    int e = 0;
    stft_plan *p = NULL;
    if (n_fft < 2 || n_fft > 65536 || (n_fft & (n_fft - 1)) || hop < 1) {
        e = sn_fail(SONO_E_ARG, "stft: n_fft %d (a power of two in 2..65536) or hop %d invalid", n_fft, hop);
        goto done;
    }
    p = calloc(1, sizeof *p);
    if (!p) { e = SONO_E_NOMEM; goto done; }
    const int m = n_fft / 2;
    p->n_fft = n_fft;
    p->hop = hop;
    p->m = m;
    p->win = malloc((size_t)n_fft * sizeof *p->win);
    p->rev = malloc((size_t)m * sizeof *p->rev);
    p->tw_re = malloc((size_t)m * sizeof *p->tw_re);
    p->tw_im = malloc((size_t)m * sizeof *p->tw_im);
    p->pw_re = malloc((size_t)(m / 2 + 1) * sizeof *p->pw_re);
    p->pw_im = malloc((size_t)(m / 2 + 1) * sizeof *p->pw_im);
    if (!p->win || !p->rev || !p->tw_re || !p->tw_im || !p->pw_re || !p->pw_im) {
        e = SONO_E_NOMEM;
        goto done;
    }
    double ss = 0;
    for (int j = 0; j < n_fft; j++) {
        double w = 0.5 - 0.5 * cos(2 * STFT_PI * j / n_fft);
        ss += w * w;
    }
    double s = normalized ? 1.0 / sqrt(ss) : 1.0;
    p->scale = (float)s;
    for (int j = 0; j < n_fft; j++) p->win[j] = (float)(s * (0.5 - 0.5 * cos(2 * STFT_PI * j / n_fft)));
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
            double a = -STFT_PI * k / h;
            p->tw_re[h + k] = (float)cos(a);
            p->tw_im[h + k] = (float)sin(a);
        }
    for (int k = 0; k <= m / 2; k++) {
        double a = -2 * STFT_PI * k / n_fft;
        p->pw_re[k] = (float)cos(a);
        p->pw_im[k] = (float)sin(a);
    }
#if STFT_X86
    p->simd = g_stft_simd_cap && m >= 32 && __builtin_cpu_supports("avx512f");
#endif
done:
    if (e) {
        sn_stft_plan_free(p);
        p = NULL;
    }
    if (err) *err = e;
    return p;
}

void sn_stft_plan_free(stft_plan *p) {
    if (!p) return;
    free(p->win);
    free(p->rev);
    free(p->tw_re);
    free(p->tw_im);
    free(p->pw_re);
    free(p->pw_im);
    free(p);
}

int sn_stft_n_bins(const stft_plan *p) { return p->m + 1; }

int sn_stft_n_frames(const stft_plan *p, int n) { return n < p->n_fft ? 0 : (n - p->n_fft) / p->hop + 1; }

#if STFT_X86
/* The radix-2 stages h = 4 .. m/2 of fft_bitrev_in with AVX-512, each lane
 * doing the scalar loop's operations in its order (fp-contract off: no fused
 * multiply-adds, so the results are the plain code's, bit for bit). h = 4 and
 * 8 regroup 32 values (groups of 2h: a then b) into a vector of a's and one of
 * b's; h >= 16 runs straight over k. Needs m >= 32. */
#if defined(__clang__)
#define STFT_TGT __attribute__((target("avx512f")))   /* clang contracts only within one expression */
#else
#define STFT_TGT __attribute__((target("avx512f"), optimize("fp-contract=off")))
#endif

static inline __attribute__((always_inline)) STFT_TGT void
fft_bfly16(__m512 *ar, __m512 *ai, __m512 *br, __m512 *bi, __m512 wr, __m512 wi) {
    const __m512 tr = _mm512_sub_ps(_mm512_mul_ps(*br, wr), _mm512_mul_ps(*bi, wi));
    const __m512 ti = _mm512_add_ps(_mm512_mul_ps(*br, wi), _mm512_mul_ps(*bi, wr));
    *br = _mm512_sub_ps(*ar, tr);
    *bi = _mm512_sub_ps(*ai, ti);
    *ar = _mm512_add_ps(*ar, tr);
    *ai = _mm512_add_ps(*ai, ti);
}

/* Stage h (4 or 8) over 32 values at x: the a's and b's of 32/(2h) groups. */
static inline __attribute__((always_inline)) STFT_TGT void
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

STFT_TGT static void fft_stages_avx512(const stft_plan *p, float *re, float *im) {
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

/* In-place forward complex DFT of size p->m, a[k] = sum_j a[j] exp(-2 pi i jk / m),
 * of an input the caller stored in bit-reversed order (a[rev[j]] = input j), so
 * the permutation costs nothing extra; the output is in natural order. Called
 * with re and im exchanged it computes the unnormalised inverse. */
static void fft_bitrev_in(const stft_plan *p, float *re, float *im) {
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
#if STFT_X86
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

void sn_stft_forward(const stft_plan *p, float *re, float *im, const float *x, int n) {
    const int F = sn_stft_n_frames(p, n), m = p->m, nb = m + 1;
    for (int f = 0; f < F; f++) {
        const float *xf = x + (size_t)f * p->hop;
        float *zr = re + (size_t)f * nb, *zi = im + (size_t)f * nb;
        for (int j = 0; j < m; j++) {
            int r = p->rev[j];
            zr[r] = p->win[2 * j] * xf[2 * j];
            zi[r] = p->win[2 * j + 1] * xf[2 * j + 1];
        }
        fft_bitrev_in(p, zr, zi);
        /* Split Z into even/odd-sample spectra E, O, then X[k] = E + W^k O and
         * X[m-k] = conj(E - W^k O), W = exp(-2 pi i / n_fft); bins k and m-k
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
}

/* dv[j] = sum_k Re((dre[k] + i dim[k]) exp(2 pi i jk / n_fft)) over bins 0..m,
 * the gradient of one frame's spectrum w.r.t. its windowed samples. zr, zi [m]
 * receive dv interleaved: dv[2q] = zr[q], dv[2q+1] = zi[q].
 * dv is the inverse DFT (no 1/n) of the Hermitian spectrum H with H[0] = Re G[0],
 * H[m] = Re G[m], H[k] = G[k]/2 and H[n-k] = conj G[k]/2 for 0 < k < m (the
 * imaginary parts of G[0], G[m] multiply real exponentials and drop out). As in
 * the forward, its even and odd samples come from one inverse FFT of size m of
 * Z[k] = (H[k] + conj H[m-k]) + i (H[k] - conj H[m-k]) V^k, V = exp(2 pi i / n);
 * bins k and m-k again pair up: with E = (G[k] + conj G[m-k])/2 and
 * O = (G[k] - conj G[m-k]) V^k / 2, Z[k] = E + iO and Z[m-k] = conj E + i conj O. */
static void frame_backward(const stft_plan *p, float *zr, float *zi, const float *gr, const float *gi) {
    const int m = p->m;
    const int *rev = p->rev; /* Z is stored bit-reversed for fft_bitrev_in */
    zr[0] = gr[0] + gr[m];
    zi[0] = gr[0] - gr[m];
    for (int k = 1; 2 * k <= m; k++) {
        float ar = gr[k], ai = gi[k], br = gr[m - k], bi = -gi[m - k];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
        float dr = 0.5f * (ar - br), di = 0.5f * (ai - bi);
        float vr = p->pw_re[k], vi = -p->pw_im[k];
        float or_ = dr * vr - di * vi, oi = dr * vi + di * vr;
        zr[rev[m - k]] = er + oi;
        zi[rev[m - k]] = or_ - ei;
        zr[rev[k]] = er - oi; /* after: k = m - k when 2k = m, where both agree */
        zi[rev[k]] = ei + or_;
    }
    fft_bitrev_in(p, zi, zr); /* exchanged: the unnormalised inverse */
}

/* Plain O(n_fft * bins) fallback when the scratch cannot be allocated. */
static void frame_backward_ref(const stft_plan *p, float *dx, const float *gr, const float *gi) {
    const int n = p->n_fft, m = p->m;
    for (int j = 0; j < n; j++) {
        double acc = 0;
        for (int k = 0; k <= m; k++) {
            double a = 2 * STFT_PI * (double)((long long)j * k % n) / n;
            acc += gr[k] * cos(a) - gi[k] * sin(a);
        }
        dx[j] += (float)(p->win[j] * acc);
    }
}

void sn_stft_backward(const stft_plan *p, float *dx, const float *dre, const float *dim, int n) {
    const int F = sn_stft_n_frames(p, n), m = p->m, nb = m + 1;
    if (F == 0) return;
    float stack[2 * STFT_STACK_M];
    float *buf = m <= STFT_STACK_M ? stack : malloc((size_t)2 * m * sizeof *buf);
    for (int f = 0; f < F; f++) {
        float *dxf = dx + (size_t)f * p->hop;
        const float *gr = dre + (size_t)f * nb, *gi = dim + (size_t)f * nb;
        if (!buf) {
            frame_backward_ref(p, dxf, gr, gi);
            continue;
        }
        float *zr = buf, *zi = buf + m;
        frame_backward(p, zr, zi, gr, gi);
        for (int q = 0; q < m; q++) {
            dxf[2 * q] += p->win[2 * q] * zr[q];
            dxf[2 * q + 1] += p->win[2 * q + 1] * zi[q];
        }
    }
    if (buf != stack) free(buf);
}

void sn_stft_reflect_pad(float *out, const float *x, int n, int pl, int pr) {
    for (int i = 0; i < pl; i++) out[i] = x[pl - i];
    memcpy(out + pl, x, (size_t)n * sizeof *x);
    for (int i = 0; i < pr; i++) out[pl + n + i] = x[n - 2 - i];
}

void sn_stft_reflect_pad_backward(float *dx, const float *dout, int n, int pl, int pr) {
    for (int i = 0; i < pl; i++) dx[pl - i] += dout[i];
    for (int i = 0; i < n; i++) dx[i] += dout[pl + i];
    for (int i = 0; i < pr; i++) dx[n - 2 - i] += dout[pl + n + i];
}
