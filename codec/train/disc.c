/* Multi-scale STFT discriminator (codec/train/disc.h): conv2d and LeakyReLU layers
 * with their backward passes, the per-scale forward/backward, and the hinge and
 * feature-matching losses.
 *
 * Each loss call works crop by crop and scale by scale, so the activations of
 * only one (crop, scale) are alive at a time, plus, for the generator's
 * feature loss, the real crops' feature maps at the current scale (the
 * normaliser mean|f(x)| is taken over the whole batch before any gradient is
 * formed). Weight-normed kernels are folded once per call into an effective
 * weight buffer; their gradients gather there and are pushed through the
 * weight norm at the end of the call. */
#include "disc.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "kernels_grad.h"
#include "sono_internal.h"
#include "stft.h"

/* ---------------------------------------------------------------------------
 * conv2d */

/* Floats per im2col chunk (1 MiB: stays in L2 next to the kernel). */
#define CONV2D_COL_TARGET ((size_t)1 << 18)

static int conv2d_rows_per_chunk(const disc_conv2d_shape *s, int Ho, int Wo) {
    size_t per_row = (size_t)s->C_in * s->kh * s->kw * (size_t)Wo;
    size_t r = per_row ? CONV2D_COL_TARGET / per_row : 1;
    if (r < 1) r = 1;
    if (r > (size_t)Ho) r = (size_t)Ho;
    return (int)(r < 1 ? 1 : r);
}

/* Row-flattened path for sh == 1, dw == 1 (every conv of the discriminator)
 * on CPUs without AVX-512 (with it, the direct kernels further down run):
 * the input, zero-padded to Hp = H + 2ph rows of Wp = W + 2pw (rounded up to
 * a multiple of sw) columns, is read as one long signal per channel, so kernel
 * row i is a conv1d over it shifted by i*dh rows: output h*q + wo (q = Wp/sw)
 * is output (h, wo); the rest (wo >= Wo, rows past Ho) is computed and
 * dropped. That hands each kernel row to kernels.c's sn_conv1d_forward (its own
 * SIMD engine where the CPU has one, else im2col + sgemm) and the input
 * gradient to sn_convtr1d_forward, both over thousands of time steps. */
typedef struct {
    int flat;                 /* row-flattened path usable */
    int Ho, Wo, Wp, Hp, q;
    size_t Lp;                /* padded floats per channel */
    size_t T1;                /* conv1d outputs over Lp */
    size_t Tg;                /* Ho*q: flattened output gradient per channel */
    size_t Ltr;               /* convtr1d output length over Tg */
    size_t o_pad, o_tmp, o_g, o_w, o_k, o_col, total;   /* scratch layout, floats */
} conv2d_plan;

static void conv2d_plan_make(conv2d_plan *pl, const disc_conv2d_shape *s) {
    memset(pl, 0, sizeof *pl);
    pl->Ho = disc_conv2d_out(s->H, s->kh, s->sh, s->dh, s->ph);
    pl->Wo = disc_conv2d_out(s->W, s->kw, s->sw, s->dw, s->pw);
    if (pl->Ho <= 0 || pl->Wo <= 0) return;
    const size_t kdim = (size_t)s->C_in * s->kh * s->kw;
    const int r = conv2d_rows_per_chunk(s, pl->Ho, pl->Wo);
    const size_t col = 2 * kdim * (size_t)r * pl->Wo;   /* im2col columns + their gradient */
    pl->flat = s->sh == 1 && s->dw == 1 && s->sw >= 1;
    if (!pl->flat) {
        pl->o_col = 0;
        pl->total = col;
        return;
    }
    pl->Wp = (s->W + 2 * s->pw + s->sw - 1) / s->sw * s->sw;
    pl->q = pl->Wp / s->sw;
    pl->Hp = s->H + 2 * s->ph;
    pl->Lp = (size_t)pl->Hp * pl->Wp;
    pl->T1 = (size_t)conv1d_out_len((int)pl->Lp, s->kw, s->sw, 1);
    pl->Tg = (size_t)pl->Ho * pl->q;
    pl->Ltr = (pl->Tg - 1) * s->sw + s->kw;
    size_t n_pad = (size_t)s->C_in * pl->Lp + (size_t)(s->kh - 1) * s->dh * pl->Wp + s->kw;
    size_t n_tmp = SONO_MAX((size_t)s->C_out * pl->T1, (size_t)s->C_in * pl->Ltr);
    size_t n_g = (size_t)s->C_out * pl->Tg;
    size_t n_w = (size_t)s->C_out * s->C_in * s->kw;
    size_t n_k = SONO_MAX(sn_conv1d_scratch_floats(s->C_in, s->kw, (int)pl->T1),
                          sn_convtr1d_scratch_floats(s->C_in, s->kw, (int)pl->Tg));
    pl->o_pad = 0;
    pl->o_tmp = pl->o_pad + n_pad;
    pl->o_g = pl->o_tmp + n_tmp;
    pl->o_w = pl->o_g + n_g;
    pl->o_k = pl->o_w + n_w;
    pl->o_col = pl->o_k + n_k;
    pl->total = pl->o_col + col;
}

static size_t dconv_scratch_floats(const disc_conv2d_shape *s);

size_t sn_disc_conv2d_scratch_floats(const disc_conv2d_shape *s) {
    conv2d_plan pl;
    conv2d_plan_make(&pl, s);
    return SONO_MAX(pl.total, dconv_scratch_floats(s));
}

/* w_i [C_out][C_in][kw] = w[:, :, i, :] */
static void conv2d_kernel_row(float *wi, const float *w, const disc_conv2d_shape *s, int i) {
    const size_t rows = (size_t)s->C_out * s->C_in;
    for (size_t r = 0; r < rows; r++)
        memcpy(wi + r * s->kw, w + (r * s->kh + i) * s->kw, (size_t)s->kw * sizeof(float));
}

/* Output columns wo whose input column wo*sw + x0 lies in [0, W): [*lo, *hi]. */
static void conv2d_valid_cols(int x0, int sw, int W, int Wo, int *lo, int *hi) {
    int l = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw;
    int h = W - 1 - x0 < 0 ? -1 : (W - 1 - x0) / sw;
    if (h > Wo - 1) h = Wo - 1;
    *lo = l;
    *hi = h;
}

/* col [C_in*kh*kw][nh*Wo] for output rows h0 .. h0+nh-1. */
static void conv2d_im2col(float *col, const float *in, const disc_conv2d_shape *s, int h0, int nh, int Wo) {
    const int H = s->H, W = s->W;
    const size_t n = (size_t)nh * Wo;
    for (int ci = 0; ci < s->C_in; ci++)
        for (int i = 0; i < s->kh; i++)
            for (int j = 0; j < s->kw; j++) {
                float *row = col + ((size_t)(ci * s->kh + i) * s->kw + j) * n;
                const int x0 = j * s->dw - s->pw;
                int lo, hi;
                conv2d_valid_cols(x0, s->sw, W, Wo, &lo, &hi);
                for (int hh = 0; hh < nh; hh++) {
                    float *dst = row + (size_t)hh * Wo;
                    const int y = (h0 + hh) * s->sh - s->ph + i * s->dh;
                    if (y < 0 || y >= H || lo > hi) {
                        memset(dst, 0, (size_t)Wo * sizeof *dst);
                        continue;
                    }
                    const float *src = in + ((size_t)ci * H + y) * W + x0;
                    for (int wo = 0; wo < lo; wo++) dst[wo] = 0.0f;
                    if (s->sw == 1)
                        memcpy(dst + lo, src + lo, (size_t)(hi - lo + 1) * sizeof *dst);
                    else
                        for (int wo = lo; wo <= hi; wo++) dst[wo] = src[wo * s->sw];
                    for (int wo = hi + 1; wo < Wo; wo++) dst[wo] = 0.0f;
                }
            }
}

/* din += the columns' gradient scattered back (adjoint of conv2d_im2col). */
static void conv2d_col2im(float *din, const float *dcol, const disc_conv2d_shape *s, int h0, int nh, int Wo) {
    const int H = s->H, W = s->W;
    const size_t n = (size_t)nh * Wo;
    for (int ci = 0; ci < s->C_in; ci++)
        for (int i = 0; i < s->kh; i++)
            for (int j = 0; j < s->kw; j++) {
                const float *row = dcol + ((size_t)(ci * s->kh + i) * s->kw + j) * n;
                const int x0 = j * s->dw - s->pw;
                int lo, hi;
                conv2d_valid_cols(x0, s->sw, W, Wo, &lo, &hi);
                if (lo > hi) continue;
                for (int hh = 0; hh < nh; hh++) {
                    const int y = (h0 + hh) * s->sh - s->ph + i * s->dh;
                    if (y < 0 || y >= H) continue;
                    const float *g = row + (size_t)hh * Wo;
                    float *dst = din + ((size_t)ci * H + y) * W + x0;
                    for (int wo = lo; wo <= hi; wo++) dst[wo * s->sw] += g[wo];
                }
            }
}

static void conv2d_forward_im2col(float *out, const float *in, const float *w, const float *b,
                                  const disc_conv2d_shape *s, float *scratch, int Ho, int Wo) {
    const int kdim = s->C_in * s->kh * s->kw;
    const size_t HW = (size_t)Ho * Wo;
    const int r = conv2d_rows_per_chunk(s, Ho, Wo);
    for (int h0 = 0; h0 < Ho; h0 += r) {
        const int nh = SONO_MIN(r, Ho - h0);
        const int n = nh * Wo;
        conv2d_im2col(scratch, in, s, h0, nh, Wo);
        float *o = out + (size_t)h0 * Wo;
        for (int co = 0; co < s->C_out; co++) {
            float bv = b ? b[co] : 0.0f;
            float *oc = o + (size_t)co * HW;
            for (int k = 0; k < n; k++) oc[k] = bv;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->C_out, n, kdim,
                    1.0f, w, kdim, scratch, n, 1.0f, o, (int)HW);
    }
}

/* ---------------------------------------------------------------------------
 * Direct AVX-512 kernels for the row-flattened case (sh == 1, dw == 1).
 *
 * The zero-padded input is split by column phase (x mod sw) and flattened per
 * channel: P[ci][p][y*q + m] = padded(y, m*sw + p), q = Wp / sw. Then output
 * (ho, wo) is flat position t = ho*q + wo and kernel tap (i, j) reads
 * P[ci][j % sw][t + i*dh*q + j/sw]: every conv is a 1-D correlation over t
 * with fixed offsets, vectorised over t (16 lanes), with a block of up to 8
 * output channels in registers (forward), input channels (input gradient) or
 * taps (weight gradient). Columns wo >= Wo of the flat output are computed
 * and dropped; the flat output gradient G is zero there, so they add nothing
 * to the gradients. This replaces per-kernel-row conv1d calls and the
 * im2col + sgemm weight gradient, which at 8 filters spent most of their
 * time moving memory. Everything lives in the caller's scratch. */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define DISC_X86 1
#else
#define DISC_X86 0
#endif

#define DC_VB 192     /* flat lengths are rounded up to this (a multiple of every vector block) */
#define DC_TILE 1024   /* weight gradient: flat positions per cache tile */

typedef struct {
    int ok;                   /* direct path usable */
    int Ho, Wo, sw, q, Hp;
    size_t Tn;                /* flat output positions computed (Ho*q rounded up) */
    size_t Un;                /* flat input-gradient positions computed (Hp*q rounded up) */
    size_t OFF;               /* largest tap offset (kh-1)*dh*q + (kw-1)/sw */
    size_t GOFF;              /* OFF rounded up to 16: G's zero lead-in (keeps G[c][GOFF + t] aligned) */
    size_t Lf;                /* floats per (ci, phase) row of P */
    size_t Lg;                /* floats per channel of the padded flat gradient */
    size_t o_p, o_t, o_g, o_w, o_a, total;
} dconv_plan;

static size_t dc_round(size_t n, size_t m) { return (n + m - 1) / m * m; }

static void dconv_plan_make(dconv_plan *p, const disc_conv2d_shape *s) {
    memset(p, 0, sizeof *p);
    p->Ho = disc_conv2d_out(s->H, s->kh, s->sh, s->dh, s->ph);
    p->Wo = disc_conv2d_out(s->W, s->kw, s->sw, s->dw, s->pw);
    if (p->Ho <= 0 || p->Wo <= 0 || s->sh != 1 || s->dw != 1 || s->sw < 1) return;
    p->sw = s->sw;
    p->q = (s->W + 2 * s->pw + s->sw - 1) / s->sw;
    p->Hp = s->H + 2 * s->ph;
    p->Tn = dc_round((size_t)p->Ho * p->q, DC_VB);
    p->Un = dc_round((size_t)p->Hp * p->q, DC_VB);
    p->OFF = (size_t)(s->kh - 1) * s->dh * p->q + (size_t)(s->kw - 1) / s->sw;
    p->Lf = dc_round(SONO_MAX(p->Tn + p->OFF, p->Un), 16);
    p->GOFF = dc_round(p->OFF, 16);
    p->Lg = dc_round(p->GOFF + SONO_MAX(p->Un, p->Tn), 16);
    const size_t kdim = (size_t)s->C_in * s->kh * s->kw;
    const size_t nP = (size_t)s->C_in * p->sw * p->Lf;
    const size_t nT = SONO_MAX((size_t)s->C_out * p->Tn, nP);
    const size_t nG = (size_t)s->C_out * p->Lg;
    const size_t nW = (size_t)s->C_out * kdim;
    const size_t nA = kdim * 8 * 16;
    p->o_p = 0;
    p->o_t = dc_round(p->o_p + nP, 16);
    p->o_g = dc_round(p->o_t + nT, 16);
    p->o_w = dc_round(p->o_g + nG, 16);
    p->o_a = dc_round(p->o_w + nW, 16);
    p->total = p->o_a + nA + 16;   /* +16: room to align the base to 64 bytes */
    p->ok = 1;
}

static size_t dconv_scratch_floats(const disc_conv2d_shape *s) {
    dconv_plan p;
    dconv_plan_make(&p, s);
    return p.ok ? p.total : 0;
}

#if DISC_X86
/* dst[k] = src[2k], k < n; src holds n_src floats. */
__attribute__((target("avx512f"))) static void dgather2_avx512(float *dst, const float *src, int n, int n_src) {
    const __m512i idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    int k = 0;
    for (; k + 16 <= n && 2 * k + 32 <= n_src; k += 16)
        _mm512_storeu_ps(dst + k, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * k), idx,
                                                         _mm512_loadu_ps(src + 2 * k + 16)));
    for (; k < n; k++) dst[k] = src[2 * k];
}

/* The inverse of dgather2 for one input row of a stride-2 layer: column x takes
 * phase (x + pw) & 1 at offset (x + pw) >> 1, i.e. d[2k] from a[k], d[2k+1]
 * from b[k] (a, b: the two phase rows, already offset), for x < W. add: d +=
 * (else d = 0 + value, what a zeroed d gives, -0 included). One value per
 * column either way, so the result is the scalar loop's. */
__attribute__((target("avx512f"))) static void dscatter2_avx512(float *d, const float *a, const float *b, int W,
                                                                 int add) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    int k = 0;
    for (; 2 * k + 32 <= W; k += 16) {
        const __m512 va = _mm512_loadu_ps(a + k), vb = _mm512_loadu_ps(b + k);
        __m512 d0 = add ? _mm512_loadu_ps(d + 2 * k) : _mm512_setzero_ps();
        __m512 d1 = add ? _mm512_loadu_ps(d + 2 * k + 16) : _mm512_setzero_ps();
        _mm512_storeu_ps(d + 2 * k, _mm512_add_ps(d0, _mm512_permutex2var_ps(va, lo, vb)));
        _mm512_storeu_ps(d + 2 * k + 16, _mm512_add_ps(d1, _mm512_permutex2var_ps(va, hi, vb)));
    }
    for (int x = 2 * k; x < W; x++) {
        const float v = x & 1 ? b[x >> 1] : a[x >> 1];
        d[x] = (add ? d[x] : 0.0f) + v;
    }
}

/* P[ci][p][y*q + m] (see above), zeros in the padding and past the end. Each
 * phase row is zeroed just before it is filled (it is then in L1), instead of
 * one memset of all of P: this runs once per layer on megabytes. */
static void dconv_pad(float *P, const float *in, const disc_conv2d_shape *s, const dconv_plan *p) {
    const int sw = p->sw;
    const size_t q = (size_t)p->q, Lf = p->Lf;
    for (int ci = 0; ci < s->C_in; ci++) {
        for (int ph = 0; ph < sw; ph++) {
            float *R = P + ((size_t)ci * sw + ph) * Lf;
            memset(R, 0, (size_t)s->ph * q * sizeof(float));
            memset(R + (size_t)(s->ph + s->H) * q, 0, (Lf - (size_t)(s->ph + s->H) * q) * sizeof(float));
        }
        for (int y = 0; y < s->H; y++) {
            const float *src = in + ((size_t)ci * s->H + y) * s->W;
            const size_t row = (size_t)(y + s->ph) * q;
            for (int ph = 0; ph < sw; ph++) {   /* padded columns xp = x + pw = m*sw + ph */
                float *dst = P + ((size_t)ci * sw + ph) * Lf + row;
                const int x0 = ((ph - s->pw) % sw + sw) % sw, m0 = (x0 + s->pw) / sw;
                const int n = x0 < s->W ? (s->W - x0 + sw - 1) / sw : 0;
                memset(dst, 0, (size_t)m0 * sizeof(float));
                memset(dst + m0 + n, 0, (q - (size_t)(m0 + n)) * sizeof(float));
                if (sw == 1) memcpy(dst + m0, src, (size_t)n * sizeof(float));
                else if (sw == 2) dgather2_avx512(dst + m0, src + x0, n, s->W - x0);
                else
                    for (int k = 0; k < n; k++) dst[m0 + k] = src[x0 + k * sw];
            }
        }
    }
}

/* Channels are taken in register blocks of 8, then 4, 2, 1; weights are
 * regrouped per block starting at channel c0 as r[c0*inner + k*cb + c] =
 * w[(c0 + c)*inner + k], so a tap's cb weights are adjacent. */
static int dconv_block(int c0, int n) {
    int r = n - c0;
    return r >= 8 ? 8 : r >= 4 ? 4 : r >= 2 ? 2 : 1;
}

#define DTGT __attribute__((target("avx512f,fma")))
#define DINL static inline __attribute__((always_inline)) DTGT

/* A register tile's accumulators: acc[c][v] = b[c] (0 without b). */
DINL void dacc_init(__m512 acc[8][4], const float *b, const int CB, const int NV) {
#pragma GCC unroll 8
    for (int c = 0; c < CB; c++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[c][v] = _mm512_set1_ps(b ? b[c] : 0.0f);
}

/* One tap of a register tile: acc[c][v] += src[16v .. 16v+15] * w[c] for
 * channels c < CB and NV vectors (the forward's and the input gradient's
 * inner step; they differ only in where src and w point). */
DINL void dtap(__m512 acc[8][4], const float *src, const float *w, const int CB, const int NV) {
    __m512 x[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_ps(src + 16 * v);
#pragma GCC unroll 8
    for (int c = 0; c < CB; c++) {
        const __m512 wv = _mm512_set1_ps(w[c]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[c][v] = _mm512_fmadd_ps(x[v], wv, acc[c][v]);
    }
}

/* out[c][t] (stride Tn) for t < Tn, channels c < CB: bias + sum over taps. */
DINL void dfwd_blk(float *out, size_t ostride, const float *P, const float *wr, const float *b,
                   const disc_conv2d_shape *s, const dconv_plan *p, const int CB, const int NV) {
    const int sw = p->sw, kw = s->kw, kh = s->kh;
    const size_t dq = (size_t)s->dh * p->q;
    for (size_t t0 = 0; t0 < p->Tn; t0 += (size_t)16 * NV) {
        __m512 acc[8][4];
        dacc_init(acc, b, CB, NV);
        for (int ci = 0; ci < s->C_in; ci++)
            for (int i = 0; i < kh; i++)
                for (int ph = 0; ph < sw; ph++) {   /* taps j = ph + m*sw read phase ph at offset m */
                    const float *base = P + ((size_t)ci * sw + ph) * p->Lf + i * dq + t0;
                    const float *wk = wr + ((size_t)(ci * kh + i) * kw) * CB;
                    for (int j = ph, m = 0; j < kw; j += sw, m++) dtap(acc, base + m, wk + j * CB, CB, NV);
                }
#pragma GCC unroll 8
        for (int c = 0; c < CB; c++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) _mm512_storeu_ps(out + c * ostride + t0 + 16 * v, acc[c][v]);
    }
}

/* dP[c][p][u] for u < Un, channels c < CB of the input, phase ph:
 * sum over co, i, j = ph (mod sw) of w[co][c][i][j] * G[co][GOFF + u - i*dh*q - j/sw]. */
DINL void dbwd_blk(float *dP, const float *G, const float *wt, const disc_conv2d_shape *s, const dconv_plan *p,
                   int ph, const int CB, const int NV) {
    const int sw = p->sw, kw = s->kw, kh = s->kh;
    const size_t dq = (size_t)s->dh * p->q;
    for (size_t u0 = 0; u0 < p->Un; u0 += (size_t)16 * NV) {
        __m512 acc[8][4];
        dacc_init(acc, NULL, CB, NV);
        for (int co = 0; co < s->C_out; co++)
            for (int i = 0; i < kh; i++) {
                const float *base = G + (size_t)co * p->Lg + p->GOFF + u0 - i * dq;
                const float *w = wt + ((size_t)(co * kh + i) * kw) * CB;
                for (int j = ph, m = 0; j < kw; j += sw, m++) dtap(acc, base - m, w + j * CB, CB, NV);
            }
#pragma GCC unroll 8
        for (int c = 0; c < CB; c++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                _mm512_storeu_ps(dP + ((size_t)c * sw + ph) * p->Lf + u0 + 16 * v, acc[c][v]);
    }
}

/* Lane sums A[k][c][16] over flat positions t in [t0, t1) of
 * G[c][GOFF + t] * P[ci][j % sw][t + i*dh*q + j/sw] for taps k = (ci, i, j0 .. j0+J-1). */
DINL void ddw_blk(float *A, const float *G, const float *P, const disc_conv2d_shape *s, const dconv_plan *p,
                  int ci, int i, int j0, size_t t0, size_t t1, const int CB, const int J) {
    const int sw = p->sw;
    const size_t k0 = ((size_t)ci * s->kh + i) * s->kw + j0;
    __m512 acc[8][3];
    const float *src[3];
#pragma GCC unroll 3
    for (int jj = 0; jj < J; jj++) {
        const int j = j0 + jj;
        src[jj] = P + ((size_t)ci * sw + j % sw) * p->Lf + (size_t)i * s->dh * p->q + j / sw;
#pragma GCC unroll 8
        for (int c = 0; c < CB; c++) acc[c][jj] = _mm512_loadu_ps(A + ((k0 + jj) * CB + c) * 16);
    }
    const float *g = G + p->GOFF;
    for (size_t t = t0; t < t1; t += 16) {   /* each G and P vector loaded once: CB + J loads, CB*J FMAs */
        __m512 x[3], gv[8];
#pragma GCC unroll 8
        for (int c = 0; c < CB; c++) {
            gv[c] = _mm512_loadu_ps(g + (size_t)c * p->Lg + t);
            __asm__("" : "+v"(gv[c]));   /* keep it in a register: GCC would reload it into every FMA */
        }
#pragma GCC unroll 3
        for (int jj = 0; jj < J; jj++) {
            x[jj] = _mm512_loadu_ps(src[jj] + t);
#pragma GCC unroll 8
            for (int c = 0; c < CB; c++) acc[c][jj] = _mm512_fmadd_ps(gv[c], x[jj], acc[c][jj]);
        }
    }
#pragma GCC unroll 3
    for (int jj = 0; jj < J; jj++)
#pragma GCC unroll 8
        for (int c = 0; c < CB; c++) _mm512_storeu_ps(A + ((k0 + jj) * CB + c) * 16, acc[c][jj]);
}

DTGT static void dfwd_avx512(float *T, const float *P, const float *wr, const float *b, const disc_conv2d_shape *s,
                             const dconv_plan *p) {
    const size_t kdim = (size_t)s->C_in * s->kh * s->kw;
    for (int c0 = 0; c0 < s->C_out;) {
        const int cb = dconv_block(c0, s->C_out);
        float *o = T + (size_t)c0 * p->Tn;
        const float *w = wr + (size_t)c0 * kdim, *bb = b ? b + c0 : NULL;
        if (cb == 8) dfwd_blk(o, p->Tn, P, w, bb, s, p, 8, 3);
        else if (cb == 4) dfwd_blk(o, p->Tn, P, w, bb, s, p, 4, 4);
        else if (cb == 2) dfwd_blk(o, p->Tn, P, w, bb, s, p, 2, 4);
        else dfwd_blk(o, p->Tn, P, w, bb, s, p, 1, 4);
        c0 += cb;
    }
}

DTGT static void dbwd_avx512(float *dP, const float *G, const float *wt, const disc_conv2d_shape *s,
                             const dconv_plan *p) {
    const size_t kin = (size_t)s->C_out * s->kh * s->kw;
    for (int c0 = 0; c0 < s->C_in;) {
        const int cb = dconv_block(c0, s->C_in);
        float *o = dP + (size_t)c0 * p->sw * p->Lf;
        const float *w = wt + (size_t)c0 * kin;
        for (int ph = 0; ph < p->sw; ph++) {
            if (cb == 8) dbwd_blk(o, G, w, s, p, ph, 8, 3);
            else if (cb == 4) dbwd_blk(o, G, w, s, p, ph, 4, 4);
            else if (cb == 2) dbwd_blk(o, G, w, s, p, ph, 2, 4);
            else dbwd_blk(o, G, w, s, p, ph, 1, 4);
        }
        c0 += cb;
    }
}

/* dw [C_out][kdim] += the weight gradient; A: [kdim][8][16] lane sums. */
DTGT static void ddw_avx512(float *dw, float *A, const float *G, const float *P, const disc_conv2d_shape *s,
                            const dconv_plan *p) {
    const size_t kdim = (size_t)s->C_in * s->kh * s->kw;
    for (int c0 = 0; c0 < s->C_out;) {
        const int cb = dconv_block(c0, s->C_out);
        const float *g = G + (size_t)c0 * p->Lg;
        memset(A, 0, kdim * cb * 16 * sizeof(float));
        for (size_t t0 = 0; t0 < p->Tn; t0 += DC_TILE) {
            const size_t t1 = SONO_MIN(p->Tn, t0 + DC_TILE);
            for (int ci = 0; ci < s->C_in; ci++)
                for (int i = 0; i < s->kh; i++)
                    for (int j0 = 0; j0 < s->kw;) {   /* taps in groups of 3 (2 for 8 channels: registers) */
                        const int J = cb == 8 ? (s->kw - j0 >= 2 ? 2 : 1) : (s->kw - j0 >= 3 ? 3 : 1);
                        if (J > 1) {
                            if (cb == 8) ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 8, 2);
                            else if (cb == 4) ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 4, 3);
                            else if (cb == 2) ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 2, 3);
                            else ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 1, 3);
                        } else {
                            if (cb == 8) ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 8, 1);
                            else if (cb == 4) ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 4, 1);
                            else if (cb == 2) ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 2, 1);
                            else ddw_blk(A, g, P, s, p, ci, i, j0, t0, t1, 1, 1);
                        }
                        j0 += J;
                    }
        }
        for (size_t k = 0; k < kdim; k++)
            for (int c = 0; c < cb; c++)
                dw[(size_t)(c0 + c) * kdim + k] += _mm512_reduce_add_ps(_mm512_loadu_ps(A + (k * cb + c) * 16));
        c0 += cb;
    }
}

/* Elementwise LeakyReLU pieces with compare masks (a plain C select compiles
 * to a branch, which mispredicts half the time on random signs). */
DTGT static void dlrelu_avx512(float *out, const float *in, size_t n, float slope) {
    const __m512 sv = _mm512_set1_ps(slope), z = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(in + i);
        const __mmask16 pos = _mm512_cmp_ps_mask(v, z, _CMP_GT_OQ);
        _mm512_storeu_ps(out + i, _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, sv), v));
    }
    for (; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : slope * in[i];
}

/* g[k] = (g[k] + cf * sign(f[k] - fx[k])) * (f[k] > 0 ? 1 : slope); fx may be NULL (no sign term). */
DTGT static void dlrelu_grad_avx512(float *g, const float *f, const float *fx, float cf, size_t n, float slope) {
    const __m512 sv = _mm512_set1_ps(slope), cv = _mm512_set1_ps(cf), z = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        const __m512 fv = _mm512_loadu_ps(f + k);
        __m512 gv = _mm512_loadu_ps(g + k);
        if (fx) {
            const __m512 df = _mm512_sub_ps(fv, _mm512_loadu_ps(fx + k));
            gv = _mm512_mask_add_ps(gv, _mm512_cmp_ps_mask(df, z, _CMP_GT_OQ), gv, cv);
            gv = _mm512_mask_sub_ps(gv, _mm512_cmp_ps_mask(df, z, _CMP_LT_OQ), gv, cv);
        }
        const __mmask16 pos = _mm512_cmp_ps_mask(fv, z, _CMP_GT_OQ);
        _mm512_storeu_ps(g + k, _mm512_mask_blend_ps(pos, _mm512_mul_ps(gv, sv), gv));
    }
    for (; k < n; k++) {
        if (fx) {
            const float df = f[k] - fx[k];
            g[k] += df > 0.0f ? cf : df < 0.0f ? -cf : 0.0f;
        }
        if (!(f[k] > 0.0f)) g[k] *= slope;
    }
}

static int dconv_have_isa(void) { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"); }
#else
static int dconv_have_isa(void) { return 0; }
#endif

static float *dconv_base(float *scratch) {   /* scratch rounded up to 64 bytes */
    uintptr_t a = (uintptr_t)scratch;
    return scratch + ((64 - a % 64) % 64) / sizeof(float);
}

/* Forward through the direct kernels; returns 0 when they cannot run (then
 * the caller takes another path). */
static int dconv_forward(float *out, const float *in, const float *w, const float *b, const disc_conv2d_shape *s,
                         float *scratch) {
    dconv_plan p;
    dconv_plan_make(&p, s);
    if (!p.ok || !dconv_have_isa()) return 0;
#if DISC_X86
    float *S = dconv_base(scratch);
    float *P = S + p.o_p, *T = S + p.o_t, *wr = S + p.o_w;
    const size_t kdim = (size_t)s->C_in * s->kh * s->kw;
    dconv_pad(P, in, s, &p);
    for (int c0 = 0; c0 < s->C_out;) {
        const int cb = dconv_block(c0, s->C_out);
        for (size_t k = 0; k < kdim; k++)
            for (int c = 0; c < cb; c++) wr[(size_t)c0 * kdim + k * cb + c] = w[(size_t)(c0 + c) * kdim + k];
        c0 += cb;
    }
    dfwd_avx512(T, P, wr, b, s, &p);
    for (int co = 0; co < s->C_out; co++)
        for (int h = 0; h < p.Ho; h++)
            memcpy(out + ((size_t)co * p.Ho + h) * p.Wo, T + (size_t)co * p.Tn + (size_t)h * p.q,
                   (size_t)p.Wo * sizeof(float));
    return 1;
#else
    (void)out; (void)in; (void)w; (void)b; (void)scratch;
    return 0;
#endif
}

/* din_set: din is written (as if zeroed first), not accumulated into. */
static int dconv_backward(float *din, float *dw, const float *dout, const float *in, const float *w,
                          const disc_conv2d_shape *s, float *scratch, int din_set) {
    dconv_plan p;
    dconv_plan_make(&p, s);
    if (!p.ok || !dconv_have_isa()) return 0;
#if DISC_X86
    float *S = dconv_base(scratch);
    float *P = S + p.o_p, *dP = S + p.o_t, *G = S + p.o_g, *wt = S + p.o_w, *A = S + p.o_a;
    const size_t HW = (size_t)p.Ho * p.Wo;
    const size_t tail = (size_t)p.Ho * p.q;   /* G rows: dout's, zeros elsewhere, each float written once */
    for (int co = 0; co < s->C_out; co++) {
        float *g = G + (size_t)co * p.Lg;
        memset(g, 0, p.GOFF * sizeof(float));
        for (int h = 0; h < p.Ho; h++) {
            float *r = g + p.GOFF + (size_t)h * p.q;
            memcpy(r, dout + co * HW + (size_t)h * p.Wo, (size_t)p.Wo * sizeof(float));
            for (int x = p.Wo; x < p.q; x++) r[x] = 0.0f;
        }
        memset(g + p.GOFF + tail, 0, (p.Lg - p.GOFF - tail) * sizeof(float));
    }
    if (dw) {
        dconv_pad(P, in, s, &p);
        ddw_avx512(dw, A, G, P, s, &p);
    }
    if (din) {
        const size_t khw = (size_t)s->kh * s->kw, kin = (size_t)s->C_out * khw;
        for (int c0 = 0; c0 < s->C_in;) {
            const int cb = dconv_block(c0, s->C_in);
            for (int co = 0; co < s->C_out; co++)
                for (size_t k = 0; k < khw; k++)
                    for (int c = 0; c < cb; c++)
                        wt[(size_t)c0 * kin + (co * khw + k) * cb + c] =
                            w[((size_t)co * s->C_in + c0 + c) * khw + k];
            c0 += cb;
        }
        dbwd_avx512(dP, G, wt, s, &p);
        const int sw = p.sw;
        for (int ci = 0; ci < s->C_in; ci++)
            for (int y = 0; y < s->H; y++) {
                float *d = din + ((size_t)ci * s->H + y) * s->W;
                const size_t row = (size_t)(y + s->ph) * p.q;
                if (sw == 1) {
                    const float *src = dP + (size_t)ci * p.Lf + row + s->pw;
                    if (din_set)
                        for (int x = 0; x < s->W; x++) d[x] = 0.0f + src[x];
                    else
                        for (int x = 0; x < s->W; x++) d[x] += src[x];
                    continue;
                }
                if (sw == 2) {   /* column x: phase (x + pw) & 1, offset (x + pw) >> 1 */
                    const float *r0 = dP + (size_t)ci * 2 * p.Lf + row, *r1 = r0 + p.Lf;
                    const int pw = s->pw;
                    dscatter2_avx512(d, (pw & 1 ? r1 : r0) + (pw >> 1), (pw & 1 ? r0 : r1) + ((pw + 1) >> 1),
                                     s->W, !din_set);
                    continue;
                }
                if (din_set)
                    for (int x = 0; x < s->W; x++) d[x] = 0.0f;
                for (int ph = 0; ph < sw; ph++) {
                    const float *src = dP + ((size_t)ci * sw + ph) * p.Lf + row;
                    const int x0 = ((ph - s->pw) % sw + sw) % sw;
                    for (int x = x0, m = (x0 + s->pw) / sw; x < s->W; x += sw, m++) d[x] += src[m];
                }
            }
    }
    return 1;
#else
    (void)din; (void)dw; (void)dout; (void)in; (void)w; (void)scratch; (void)din_set;
    return 0;
#endif
}

void sn_disc_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                         const disc_conv2d_shape *s, float *scratch) {
    if (dconv_forward(out, in, w, b, s, scratch)) return;
    conv2d_plan pl;
    conv2d_plan_make(&pl, s);
    if (pl.Ho <= 0 || pl.Wo <= 0) return;
    if (!pl.flat) {
        conv2d_forward_im2col(out, in, w, b, s, scratch + pl.o_col, pl.Ho, pl.Wo);
        return;
    }
    float *P = scratch + pl.o_pad, *tmp = scratch + pl.o_tmp, *wi = scratch + pl.o_w, *ks = scratch + pl.o_k;
    const size_t HW = (size_t)pl.Ho * pl.Wo;
    /* zero-padded, row-flattened input */
    memset(P, 0, ((size_t)s->C_in * pl.Lp + (size_t)(s->kh - 1) * s->dh * pl.Wp + s->kw) * sizeof(float));
    for (int ci = 0; ci < s->C_in; ci++)
        for (int y = 0; y < s->H; y++)
            memcpy(P + ci * pl.Lp + (size_t)(y + s->ph) * pl.Wp + s->pw, in + ((size_t)ci * s->H + y) * s->W,
                   (size_t)s->W * sizeof(float));
    for (int i = 0; i < s->kh; i++) {
        conv2d_kernel_row(wi, w, s, i);
        sn_conv1d_forward(tmp, P + (size_t)i * s->dh * pl.Wp, wi, NULL, s->C_in, s->C_out, (int)pl.Lp, s->kw, s->sw, 1,
                       ks, 1);
        for (int co = 0; co < s->C_out; co++) {
            const float bv = b ? b[co] : 0.0f;
            for (int h = 0; h < pl.Ho; h++) {
                float *o = out + co * HW + (size_t)h * pl.Wo;
                const float *t = tmp + co * pl.T1 + (size_t)h * pl.q;
                if (i == 0)
                    for (int wo = 0; wo < pl.Wo; wo++) o[wo] = bv + t[wo];
                else
                    for (int wo = 0; wo < pl.Wo; wo++) o[wo] += t[wo];
            }
        }
    }
}

/* sn_disc_conv2d_backward; din_set: din is written as if it had been zeroed
 * first (the discriminator's fresh input-gradient buffers), which spares the
 * direct kernels a pass over it. */
static void conv2d_backward_to(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                               const disc_conv2d_shape *s, float *scratch, int din_set) {
    conv2d_plan pl;
    conv2d_plan_make(&pl, s);
    const int Ho = pl.Ho, Wo = pl.Wo;
    if (Ho <= 0 || Wo <= 0) return;
    const int kdim = s->C_in * s->kh * s->kw;
    const size_t HW = (size_t)Ho * Wo;
    const int r = conv2d_rows_per_chunk(s, Ho, Wo);
    float *col = scratch + pl.o_col, *dcol = col + (size_t)kdim * r * Wo;
    if (db)   /* each channel's sum in order, 8 channels' chains interleaved (one was latency-bound) */
        for (int c0 = 0; c0 < s->C_out; c0 += 8) {
            const int cb = SONO_MIN(8, s->C_out - c0);
            double acc[8] = {0};
            const float *g = dout + (size_t)c0 * HW;
            if (cb == 8)
                for (size_t k = 0; k < HW; k++)
                    for (int c = 0; c < 8; c++) acc[c] += g[c * HW + k];
            else
                for (int c = 0; c < cb; c++)
                    for (size_t k = 0; k < HW; k++) acc[c] += g[c * HW + k];
            for (int c = 0; c < cb; c++) db[c0 + c] += (float)acc[c];
        }
    if ((din || dw) && dconv_backward(din, dw, dout, in, w, s, scratch, din_set)) return;
    if (din && din_set) memset(din, 0, (size_t)s->C_in * s->H * s->W * sizeof(float));
    for (int h0 = 0; (dw || (din && !pl.flat)) && h0 < Ho; h0 += r) {
        const int nh = SONO_MIN(r, Ho - h0);
        const int n = nh * Wo;
        const float *g = dout + (size_t)h0 * Wo;
        if (dw) {
            conv2d_im2col(col, in, s, h0, nh, Wo);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->C_out, kdim, n,
                        1.0f, g, (int)HW, col, n, 1.0f, dw, kdim);
        }
        if (din && !pl.flat) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kdim, n, s->C_out,
                        1.0f, w, kdim, g, (int)HW, 0.0f, dcol, n);
            conv2d_col2im(din, dcol, s, h0, nh, Wo);
        }
    }
    if (!din || !pl.flat) return;
    /* input gradient: per kernel row, a transposed conv1d of the flattened
     * output gradient (zeros where the forward's outputs were dropped),
     * added back at the row's shift */
    float *G = scratch + pl.o_g, *tmp = scratch + pl.o_tmp, *wi = scratch + pl.o_w, *ks = scratch + pl.o_k;
    for (int co = 0; co < s->C_out; co++)
        for (int h = 0; h < Ho; h++) {
            float *gr = G + co * pl.Tg + (size_t)h * pl.q;
            memcpy(gr, dout + co * HW + (size_t)h * Wo, (size_t)Wo * sizeof(float));
            for (int wo = Wo; wo < pl.q; wo++) gr[wo] = 0.0f;
        }
    for (int i = 0; i < s->kh; i++) {
        conv2d_kernel_row(wi, w, s, i);
        sn_convtr1d_forward(tmp, G, wi, NULL, s->C_out, s->C_in, (int)pl.Tg, s->kw, s->sw, ks, 1);
        /* tmp[ci][t] is the gradient at padded flat position i*dh*Wp + t */
        const long shift = (long)i * s->dh * pl.Wp;
        for (int ci = 0; ci < s->C_in; ci++)
            for (int y = 0; y < s->H; y++) {
                long t0 = (long)(y + s->ph) * pl.Wp + s->pw - shift;
                long lo = t0 < 0 ? -t0 : 0;
                long hi = SONO_MIN((long)s->W, (long)pl.Ltr - t0);
                float *d = din + ((size_t)ci * s->H + y) * s->W;
                const float *t = tmp + ci * pl.Ltr + t0;
                for (long x = lo; x < hi; x++) d[x] += t[x];
            }
    }
}

void sn_disc_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, const disc_conv2d_shape *s, float *scratch) {
    conv2d_backward_to(din, dw, db, dout, in, w, s, scratch, 0);
}

void sn_disc_conv2d_forward_ref(float *out, const float *in, const float *w, const float *b,
                             const disc_conv2d_shape *s, float *scratch) {
    (void)scratch;
    const int Ho = disc_conv2d_out(s->H, s->kh, s->sh, s->dh, s->ph);
    const int Wo = disc_conv2d_out(s->W, s->kw, s->sw, s->dw, s->pw);
    for (int co = 0; co < s->C_out; co++)
        for (int ho = 0; ho < Ho; ho++)
            for (int wo = 0; wo < Wo; wo++) {
                double acc = b ? b[co] : 0.0;
                for (int ci = 0; ci < s->C_in; ci++)
                    for (int i = 0; i < s->kh; i++) {
                        int y = ho * s->sh - s->ph + i * s->dh;
                        if (y < 0 || y >= s->H) continue;
                        for (int j = 0; j < s->kw; j++) {
                            int x = wo * s->sw - s->pw + j * s->dw;
                            if (x < 0 || x >= s->W) continue;
                            acc += (double)in[((size_t)ci * s->H + y) * s->W + x] *
                                   w[(((size_t)co * s->C_in + ci) * s->kh + i) * s->kw + j];
                        }
                    }
                out[((size_t)co * Ho + ho) * Wo + wo] = (float)acc;
            }
}

void sn_disc_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                              const float *in, const float *w, const disc_conv2d_shape *s, float *scratch) {
    (void)scratch;
    const int Ho = disc_conv2d_out(s->H, s->kh, s->sh, s->dh, s->ph);
    const int Wo = disc_conv2d_out(s->W, s->kw, s->sw, s->dw, s->pw);
    for (int co = 0; co < s->C_out; co++) {
        const float *g = dout + (size_t)co * Ho * Wo;
        if (db) {
            double acc = 0;
            for (size_t k = 0; k < (size_t)Ho * Wo; k++) acc += g[k];
            db[co] += (float)acc;
        }
        for (int ci = 0; ci < s->C_in; ci++)
            for (int i = 0; i < s->kh; i++)
                for (int j = 0; j < s->kw; j++) {
                    const size_t wi = (((size_t)co * s->C_in + ci) * s->kh + i) * s->kw + j;
                    double acc = 0;
                    for (int ho = 0; ho < Ho; ho++) {
                        int y = ho * s->sh - s->ph + i * s->dh;
                        if (y < 0 || y >= s->H) continue;
                        for (int wo = 0; wo < Wo; wo++) {
                            int x = wo * s->sw - s->pw + j * s->dw;
                            if (x < 0 || x >= s->W) continue;
                            const size_t ii = ((size_t)ci * s->H + y) * s->W + x;
                            const float gv = g[(size_t)ho * Wo + wo];
                            acc += (double)gv * in[ii];
                            if (din) din[ii] += gv * w[wi];
                        }
                    }
                    if (dw) dw[wi] += (float)acc;
                }
    }
}

void sn_disc_lrelu_forward(float *out, const float *in, size_t n, float slope) {
#if DISC_X86
    if (dconv_have_isa()) {
        dlrelu_avx512(out, in, n, slope);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : slope * in[i];
}

void sn_disc_lrelu_backward(float *din, const float *dout, const float *out, size_t n, float slope) {
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * (out[i] > 0.0f ? 1.0f : slope);
}

/* sum |a[k]| and sum |a[k] - b[k]| in double, 8 independent partial sums
 * (one serial chain of double adds was the bottleneck of the feature loss). */
#if DISC_X86
__attribute__((target("avx512f"))) static double disc_sum_abs_avx512(const float *a, const float *b, size_t n) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    const __m512 sign = _mm512_set1_ps(-0.0f);
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 v = _mm512_loadu_ps(a + k);
        if (b) v = _mm512_sub_ps(v, _mm512_loadu_ps(b + k));
        v = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(sign), _mm512_castps_si512(v)));
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    double r = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for (; k < n; k++) r += fabsf(b ? a[k] - b[k] : a[k]);
    return r;
}
#endif

static double disc_sum_abs(const float *a, const float *b, size_t n) {
#if DISC_X86
    if (__builtin_cpu_supports("avx512f")) return disc_sum_abs_avx512(a, b, n);
#endif
    double acc[8] = {0};
    size_t k = 0;
    if (b) {
        for (; k + 8 <= n; k += 8)
            for (int u = 0; u < 8; u++) acc[u] += fabsf(a[k + u] - b[k + u]);
        for (; k < n; k++) acc[0] += fabsf(a[k] - b[k]);
    } else {
        for (; k + 8 <= n; k += 8)
            for (int u = 0; u < 8; u++) acc[u] += fabsf(a[k + u]);
        for (; k < n; k++) acc[0] += fabsf(a[k]);
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* ---------------------------------------------------------------------------
 * The discriminator */

#define DISC_N_LAYERS (DISC_N_CONVS + 1)   /* convs.0..4, conv_post */
#define DISC_PARAMS_PER_SCALE (2 + 3 * (DISC_N_LAYERS - 1))

typedef struct {
    disc_conv2d_shape s;
    int Ho, Wo;
    int wn;                 /* weight-normed (all but convs.0) */
    size_t off_w;           /* plain weight, or v */
    size_t off_g;           /* weight_g (wn only) */
    size_t off_b;
    size_t off_eff;         /* effective weight in d->weff / d->dweff */
    size_t out_off;         /* output within a crop's activation set */
    size_t out_floats;
} disc_layer;

typedef struct {
    stft_plan *plan;
    int frames, bins;
    size_t spec_floats;     /* [2C][frames][bins] */
    size_t fmap_floats;     /* sum of convs.0..4 outputs */
    size_t act_floats;      /* fmaps + logits */
    disc_layer L[DISC_N_LAYERS];
} disc_scale;

struct disc {
    disc_config cfg;
    int B, T;
    disc_scale sc[DISC_MAX_SCALES];
    train_param *table;
    int64_t (*shape4)[4];
    int *ndim4;
    int n_params;
    size_t n_floats, n_eff, max_buf, max_act, max_fmap, max_spec;
    float *params, *grads;
    float *weff, *dweff;    /* [n_eff] effective weights and their gradient */
    float *spec;            /* [max_spec] */
    float *acts;            /* [max_act] one crop's activations */
    float *xacts;           /* [B][max_fmap] real crops' feature maps (generator loss) */
    float *gA, *gB;         /* [max_buf] ping-pong gradients */
    float *scratch;
    size_t scratch_floats;
    /* sn_disc_keep_forward: every (scale, crop, real/fake) forward of the last
     * sn_disc_loss_g, for the sn_disc_loss_d that follows on the same x, y, params */
    size_t keep_off[DISC_MAX_SCALES];   /* scale si's block: [B][2][spec_floats + act_floats] */
    float *keep;
    float *keep_x, *keep_y, *keep_params; /* what that sn_disc_loss_g saw */
    int keep_valid;
    int reused;             /* the last sn_disc_loss_d reused kept forward passes */
};

disc_config sn_disc_default_config(int channels, int filters) {
    static const int nf[5] = {1024, 2048, 512, 256, 128};
    disc_config c;
    memset(&c, 0, sizeof c);
    c.channels = channels;
    c.filters = filters;
    c.n_scales = 5;
    for (int i = 0; i < 5; i++) {
        c.n_fft[i] = nf[i];
        c.hop[i] = nf[i] / 4;
    }
    c.slope = 0.2f;
    c.gen_loss = DISC_GEN_HINGE2;
    c.feat_relative = 1;
    return c;
}

void sn_disc_free(disc *d) {
    if (!d) return;
    for (int s = 0; s < DISC_MAX_SCALES; s++) sn_stft_plan_free(d->sc[s].plan);
    free(d->table);
    free(d->shape4);
    free(d->ndim4);
    free(d->params);
    free(d->grads);
    free(d->weff);
    free(d->dweff);
    free(d->spec);
    free(d->acts);
    free(d->xacts);
    free(d->gA);
    free(d->gB);
    free(d->scratch);
    free(d->keep);
    free(d->keep_x);
    free(d->keep_y);
    free(d->keep_params);
    free(d);
}

static void add_param(disc *d, const char *name, int ndim4, const int64_t *sh4, size_t *off) {
    train_param *p = &d->table[d->n_params];
    size_t numel = 1;
    for (int k = 0; k < ndim4; k++) numel *= (size_t)sh4[k];
    snprintf(p->name, sizeof p->name, "%s", name);
    if (ndim4 == 4) {   /* fold the kernel: [C_out][C_in][kh*kw] */
        p->ndim = 3;
        p->shape[0] = sh4[0];
        p->shape[1] = sh4[1];
        p->shape[2] = sh4[2] * sh4[3];
    } else {
        p->ndim = ndim4;
        for (int k = 0; k < ndim4; k++) p->shape[k] = sh4[k];
    }
    p->offset = *off;
    p->numel = numel;
    d->ndim4[d->n_params] = ndim4;
    for (int k = 0; k < 4; k++) d->shape4[d->n_params][k] = k < ndim4 ? sh4[k] : 0;
    d->n_params++;
    *off += numel;
}

disc *sn_disc_new(int channels, int filters, int B, int T, int *err) {
    disc_config c = sn_disc_default_config(channels, filters);
    return sn_disc_new_config(&c, B, T, err);
}

disc *sn_disc_new_config(const disc_config *cfg, int B, int T, int *err) {
    int e = 0;
    disc *d = NULL;
    if (!cfg || cfg->channels < 1 || cfg->channels > 64 || cfg->filters < 1 || cfg->filters > 4096 ||
        cfg->n_scales < 1 || cfg->n_scales > DISC_MAX_SCALES || B < 1 || T < 1 || !(cfg->slope > 0.0f) ||
        (cfg->gen_loss != DISC_GEN_HINGE2 && cfg->gen_loss != DISC_GEN_HINGE)) {
        e = sn_fail(SONO_E_ARG, "disc: invalid config or batch (B %d, T %d)", B, T);
        goto done;
    }
    for (int s = 0; s < cfg->n_scales; s++)
        if (cfg->n_fft[s] < 2 || cfg->n_fft[s] > T || cfg->hop[s] < 1) {
            e = sn_fail(SONO_E_ARG, "disc: scale %d: n_fft %d, hop %d invalid for T %d", s, cfg->n_fft[s],
                          cfg->hop[s], T);
            goto done;
        }
    d = calloc(1, sizeof *d);
    if (!d) { e = SONO_E_NOMEM; goto done; }
    d->cfg = *cfg;
    d->B = B;
    d->T = T;
    const int C = cfg->channels, F = cfg->filters;
    const int np = cfg->n_scales * DISC_PARAMS_PER_SCALE;
    d->table = calloc((size_t)np, sizeof *d->table);
    d->shape4 = calloc((size_t)np, sizeof *d->shape4);
    d->ndim4 = calloc((size_t)np, sizeof *d->ndim4);
    if (!d->table || !d->shape4 || !d->ndim4) { e = SONO_E_NOMEM; goto done; }

    size_t off = 0, eff = 0;
    for (int si = 0; si < cfg->n_scales; si++) {
        disc_scale *sc = &d->sc[si];
        sc->plan = sn_stft_plan_new(cfg->n_fft[si], cfg->hop[si], 1, &e);
        if (!sc->plan) goto done;
        sc->frames = sn_stft_n_frames(sc->plan, T);
        sc->bins = sn_stft_n_bins(sc->plan);
        sc->spec_floats = (size_t)2 * C * sc->frames * sc->bins;
        int H = sc->frames, W = sc->bins, Cin = 2 * C;
        size_t act = 0;
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            disc_layer *L = &sc->L[l];
            disc_conv2d_shape *s = &L->s;
            const int dil = l >= 1 && l <= 3 ? 1 << (l - 1) : 1;
            s->C_in = Cin;
            s->C_out = l == DISC_N_LAYERS - 1 ? 1 : F;
            s->H = H;
            s->W = W;
            s->kh = 3;
            s->kw = l <= 3 ? 9 : 3;
            s->sh = 1;
            s->sw = l >= 1 && l <= 3 ? 2 : 1;
            s->dh = dil;
            s->dw = 1;
            s->ph = (s->kh - 1) * dil / 2;
            s->pw = (s->kw - 1) / 2;
            L->Ho = disc_conv2d_out(H, s->kh, s->sh, s->dh, s->ph);
            L->Wo = disc_conv2d_out(W, s->kw, s->sw, s->dw, s->pw);
            L->wn = l > 0;
            L->out_off = act;
            L->out_floats = (size_t)s->C_out * L->Ho * L->Wo;
            act += L->out_floats;
            if (l == DISC_N_LAYERS - 2) sc->fmap_floats = act;
            char base[64], name[96];
            if (l < DISC_N_CONVS) snprintf(base, sizeof base, "disc.%d.convs.%d", si, l);
            else snprintf(base, sizeof base, "disc.%d.conv_post", si);
            const int64_t wsh[4] = {s->C_out, s->C_in, s->kh, s->kw};
            const int64_t bsh[1] = {s->C_out};
            const int64_t gsh[4] = {s->C_out, 1, 1, 1};
            if (!L->wn) {
                snprintf(name, sizeof name, "%s.weight", base);
                L->off_w = off;
                add_param(d, name, 4, wsh, &off);
                snprintf(name, sizeof name, "%s.bias", base);
                L->off_b = off;
                add_param(d, name, 1, bsh, &off);
            } else {   /* state_dict order after torch weight_norm: bias, weight_g, weight_v */
                snprintf(name, sizeof name, "%s.bias", base);
                L->off_b = off;
                add_param(d, name, 1, bsh, &off);
                snprintf(name, sizeof name, "%s.weight_g", base);
                L->off_g = off;
                add_param(d, name, 4, gsh, &off);
                snprintf(name, sizeof name, "%s.weight_v", base);
                L->off_w = off;
                add_param(d, name, 4, wsh, &off);
            }
            L->off_eff = eff;
            eff += (size_t)s->C_out * s->C_in * s->kh * s->kw;
            size_t sf = sn_disc_conv2d_scratch_floats(s);
            if (sf > d->scratch_floats) d->scratch_floats = sf;
            size_t in_floats = (size_t)Cin * H * W;
            if (in_floats > d->max_buf) d->max_buf = in_floats;
            if (L->out_floats > d->max_buf) d->max_buf = L->out_floats;
            H = L->Ho;
            W = L->Wo;
            Cin = s->C_out;
        }
        sc->act_floats = act;
        if (H < 1 || W < 1) {
            e = sn_fail(SONO_E_ARG, "disc: scale %d leaves no output", si);
            goto done;
        }
        if (act > d->max_act) d->max_act = act;
        if (sc->fmap_floats > d->max_fmap) d->max_fmap = sc->fmap_floats;
        if (sc->spec_floats > d->max_spec) d->max_spec = sc->spec_floats;
    }
    d->n_floats = off;
    d->n_eff = eff;
    size_t xf;
    if (!sn_mul_ok(d->max_fmap, (size_t)B, &xf)) { e = sn_fail(SONO_E_LIMIT, "disc: too large"); goto done; }
    d->params = calloc(off, sizeof(float));
    d->grads = calloc(off, sizeof(float));
    d->weff = calloc(eff, sizeof(float));
    d->dweff = calloc(eff, sizeof(float));
    d->spec = calloc(d->max_spec, sizeof(float));
    d->acts = calloc(d->max_act, sizeof(float));
    d->xacts = calloc(xf, sizeof(float));
    d->gA = calloc(d->max_buf, sizeof(float));
    d->gB = calloc(d->max_buf, sizeof(float));
    d->scratch = calloc(d->scratch_floats ? d->scratch_floats : 1, sizeof(float));
    if (!d->params || !d->grads || !d->weff || !d->dweff || !d->spec || !d->acts || !d->xacts || !d->gA ||
        !d->gB || !d->scratch)
        e = sn_fail(SONO_E_NOMEM, "disc: out of memory");
done:
    if (e) {
        sn_disc_free(d);
        d = NULL;
    }
    if (err) *err = e;
    return d;
}

const disc_config *sn_disc_get_config(const disc *d) { return &d->cfg; }

void sn_disc_set_loss_forms(disc *d, int gen_loss, int feat_relative) {
    d->cfg.gen_loss = gen_loss == DISC_GEN_HINGE ? DISC_GEN_HINGE : DISC_GEN_HINGE2;
    d->cfg.feat_relative = feat_relative != 0;
}

const train_param *sn_disc_param_table(const disc *d, int *n_params) {
    if (n_params) *n_params = d->n_params;
    return d->table;
}

int sn_disc_param_shape4(const disc *d, int i, int64_t shape[4]) {
    if (i < 0 || i >= d->n_params) return SONO_E_ARG;
    for (int k = 0; k < 4; k++) shape[k] = d->shape4[i][k];
    return d->ndim4[i];
}

float *sn_disc_params(disc *d) { return d->params; }
float *sn_disc_grads(disc *d) { return d->grads; }
size_t sn_disc_n_floats(const disc *d) { return d->n_floats; }

void sn_disc_zero_grad(disc *d) { memset(d->grads, 0, d->n_floats * sizeof(float)); }

static float uniform_pm(uint64_t *st, float bound) {
    return (float)((2.0 * sn_unif01(st) - 1.0) * bound);
}

void sn_disc_init_params(disc *d, uint64_t seed) {
    uint64_t st = seed;
    for (int si = 0; si < d->cfg.n_scales; si++)
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            const disc_layer *L = &d->sc[si].L[l];
            const disc_conv2d_shape *s = &L->s;
            const int inner = s->C_in * s->kh * s->kw;
            const float bound = 1.0f / sqrtf((float)inner);
            float *w = d->params + L->off_w;
            for (size_t k = 0; k < (size_t)s->C_out * inner; k++) w[k] = uniform_pm(&st, bound);
            for (int k = 0; k < s->C_out; k++) d->params[L->off_b + k] = uniform_pm(&st, bound);
            if (L->wn)
                for (int r = 0; r < s->C_out; r++) {
                    double ss = 0;
                    for (int k = 0; k < inner; k++) ss += (double)w[(size_t)r * inner + k] * w[(size_t)r * inner + k];
                    d->params[L->off_g + r] = (float)sqrt(ss);
                }
        }
}

/* Effective weights of every layer into d->weff; zero d->dweff. */
static void disc_fold_weights(disc *d) {
    for (int si = 0; si < d->cfg.n_scales; si++)
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            const disc_layer *L = &d->sc[si].L[l];
            const int rows = L->s.C_out, inner = L->s.C_in * L->s.kh * L->s.kw;
            if (L->wn)
                sn_weightnorm_forward(d->weff + L->off_eff, d->params + L->off_g, d->params + L->off_w, rows, inner);
            else
                memcpy(d->weff + L->off_eff, d->params + L->off_w, (size_t)rows * inner * sizeof(float));
        }
    memset(d->dweff, 0, d->n_eff * sizeof(float));
}

/* grads += the effective-weight gradients pushed through the weight norm. */
static void disc_unfold_grads(disc *d) {
    for (int si = 0; si < d->cfg.n_scales; si++)
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            const disc_layer *L = &d->sc[si].L[l];
            const int rows = L->s.C_out, inner = L->s.C_in * L->s.kh * L->s.kw;
            const float *dw = d->dweff + L->off_eff;
            if (L->wn) {
                sn_weightnorm_backward(d->grads + L->off_g, d->grads + L->off_w, dw, d->params + L->off_g,
                                    d->params + L->off_w, rows, inner);
            } else {
                float *g = d->grads + L->off_w;
                for (size_t k = 0; k < (size_t)rows * inner; k++) g[k] += dw[k];
            }
        }
}

/* One crop x [C][T] through scale si: spectrogram into spec, feature maps
 * (and logits when with_logits) into acts (the scale's act layout). */
static void disc_forward_crop(disc *d, int si, const float *x, float *spec, float *acts, int with_logits) {
    const disc_scale *sc = &d->sc[si];
    const int C = d->cfg.channels;
    const size_t plane = (size_t)sc->frames * sc->bins;
    for (int c = 0; c < C; c++)
        sn_stft_forward(sc->plan, spec + c * plane, spec + (C + c) * plane, x + (size_t)c * d->T, d->T);
    const float *in = spec;
    const int nl = with_logits ? DISC_N_LAYERS : DISC_N_CONVS;
    for (int l = 0; l < nl; l++) {
        const disc_layer *L = &sc->L[l];
        float *out = acts + L->out_off;
        sn_disc_conv2d_forward(out, in, d->weff + L->off_eff, d->params + L->off_b, &L->s, d->scratch);
        if (l < DISC_N_CONVS) sn_disc_lrelu_forward(out, out, L->out_floats, d->cfg.slope);
        in = out;
    }
}

/* Backward of one crop through scale si from dlogit (in d->gB, the logits'
 * shape); spec and acts: that crop's forward. xacts (may be NULL): the real crop's feature maps; then
 * coef[l] * sign(f_l(y) - f_l(x)) is added to each feature map's gradient.
 * with_params: effective-weight gradients into d->dweff, biases into d->grads.
 * dx (may be NULL): [C][T] += gradient w.r.t. the crop. */
static void disc_backward_crop(disc *d, int si, const float *spec, const float *acts, const float *xacts,
                               const double *coef, int with_params, float *dx) {
    const disc_scale *sc = &d->sc[si];
    float *gout = d->gB, *gin = d->gA;
    for (int l = DISC_N_LAYERS - 1; l >= 0; l--) {
        const disc_layer *L = &sc->L[l];
        const float *out = acts + L->out_off;
        if (l < DISC_N_CONVS) {   /* feature-loss sign term, then LeakyReLU backward */
            const float *xo = xacts ? xacts + L->out_off : NULL;
            const float cf = xacts ? (float)coef[l] : 0.0f, slope = d->cfg.slope;
#if DISC_X86
            if (dconv_have_isa()) dlrelu_grad_avx512(gout, out, xo, cf, L->out_floats, slope);
            else
#endif
                for (size_t k = 0; k < L->out_floats; k++) {
                    if (xo) {
                        const float df = out[k] - xo[k];
                        gout[k] += df > 0.0f ? cf : df < 0.0f ? -cf : 0.0f;
                    }
                    if (!(out[k] > 0.0f)) gout[k] *= slope;
                }
        }
        const float *in = l > 0 ? acts + sc->L[l - 1].out_off : spec;
        const int need_din = l > 0 || dx;
        conv2d_backward_to(need_din ? gin : NULL, with_params ? d->dweff + L->off_eff : NULL,
                           with_params ? d->grads + L->off_b : NULL, gout, in, d->weff + L->off_eff, &L->s,
                           d->scratch, 1);
        float *t = gout;
        gout = gin;
        gin = t;
    }
    if (dx) {
        const int C = d->cfg.channels;
        const size_t plane = (size_t)sc->frames * sc->bins;
        for (int c = 0; c < C; c++)
            sn_stft_backward(sc->plan, dx + (size_t)c * d->T, gout + c * plane, gout + (C + c) * plane, d->T);
    }
}

/* Where crop b's (which 0: real, 1: fake) forward at scale si is kept. */
static float *keep_spec(const disc *d, int si, int b, int which) {
    const disc_scale *sc = &d->sc[si];
    return d->keep + d->keep_off[si] + ((size_t)b * 2 + which) * (sc->spec_floats + sc->act_floats);
}
static float *keep_acts(const disc *d, int si, int b, int which) {
    return keep_spec(d, si, b, which) + d->sc[si].spec_floats;
}

/* sn_disc_loss_g's buffers for crop b (which 0: real, 1: fake) at scale si:
 * the kept forward passes when sn_disc_keep_forward is on, else the shared
 * spectrogram and activations (the real crops' feature maps per crop). */
static float *gen_spec(disc *d, int si, int b, int which) {
    return d->keep ? keep_spec(d, si, b, which) : d->spec;
}
static float *gen_acts(disc *d, int si, int b, int which) {
    if (d->keep) return keep_acts(d, si, b, which);
    return which ? d->acts : d->xacts + (size_t)b * d->max_fmap;
}

int sn_disc_keep_forward(disc *d, int on) {
    free(d->keep);
    free(d->keep_x);
    free(d->keep_y);
    free(d->keep_params);
    d->keep = d->keep_x = d->keep_y = d->keep_params = NULL;
    d->keep_valid = 0;
    if (!on) return 0;
    size_t n = 0, per;
    for (int si = 0; si < d->cfg.n_scales; si++) {
        d->keep_off[si] = n;
        const disc_scale *sc = &d->sc[si];
        if (!sn_mul_ok((size_t)d->B * 2, sc->spec_floats + sc->act_floats, &per) || n + per < n)
            return sn_fail(SONO_E_LIMIT, "disc: kept forward passes too large");
        n += per;
    }
    const size_t crops = (size_t)d->B * d->cfg.channels * d->T;
    d->keep = malloc(n * sizeof(float));
    d->keep_x = malloc(crops * sizeof(float));
    d->keep_y = malloc(crops * sizeof(float));
    d->keep_params = malloc(d->n_floats * sizeof(float));
    if (!d->keep || !d->keep_x || !d->keep_y || !d->keep_params) {
        sn_disc_keep_forward(d, 0);
        return sn_fail(SONO_E_NOMEM, "disc: out of memory keeping forward passes (%zu MB)", (n * 4) >> 20);
    }
    return 0;
}

int sn_disc_last_reused(const disc *d) { return d->reused; }

/* The kept forward passes hold for (x, y) and the current parameters. */
static int keep_matches(const disc *d, const float *x, const float *y) {
    const size_t crops = (size_t)d->B * d->cfg.channels * d->T * sizeof(float);
    return d->keep_valid && !memcmp(d->keep_params, d->params, d->n_floats * sizeof(float)) &&
           !memcmp(d->keep_x, x, crops) && !memcmp(d->keep_y, y, crops);
}

double sn_disc_loss_d(disc *d, const float *x, const float *y) {
    const int S = d->cfg.n_scales, B = d->B;
    const size_t crop = (size_t)d->cfg.channels * d->T;
    const int reuse = keep_matches(d, x, y);
    d->keep_valid = 0;
    d->reused = reuse;
    disc_fold_weights(d);
    double total = 0;
    for (int si = 0; si < S; si++) {
        const disc_layer *P = &d->sc[si].L[DISC_N_LAYERS - 1];
        const size_t nlog = P->out_floats;
        const float scale = (float)(1.0 / ((double)S * B * nlog));
        double real = 0, fake = 0;
        for (int b = 0; b < B; b++)
            for (int which = 0; which < 2; which++) {   /* 0: real x, 1: fake y */
                float *spec = d->spec, *acts = d->acts;
                if (reuse) {
                    spec = keep_spec(d, si, b, which);
                    acts = keep_acts(d, si, b, which);
                } else {
                    disc_forward_crop(d, si, (which ? y : x) + b * crop, spec, acts, 1);
                }
                const float *lg = acts + P->out_off;
                float *dl = d->gB;
                for (size_t k = 0; k < nlog; k++) {
                    /* real: relu(1 - D), fake: relu(1 + D) */
                    float m = which ? 1.0f + lg[k] : 1.0f - lg[k];
                    if (m > 0.0f) {
                        if (which) fake += m;
                        else real += m;
                        dl[k] = which ? scale : -scale;
                    } else {
                        dl[k] = 0.0f;
                    }
                }
                disc_backward_crop(d, si, spec, acts, NULL, NULL, 1, NULL);
            }
        total += (real + fake) / ((double)B * nlog);
    }
    disc_unfold_grads(d);
    return total / S;
}

void sn_disc_loss_g(disc *d, const float *x, const float *y, float w_adv, float w_feat, float *dy, double *adv,
                 double *feat) {
    const int S = d->cfg.n_scales, B = d->B;
    const size_t crop = (size_t)d->cfg.channels * d->T;
    const int backward = dy && (w_adv != 0.0f || w_feat != 0.0f);
    const int keep = d->keep != NULL;
    d->keep_valid = 0;
    disc_fold_weights(d);
    double adv_sum = 0, feat_sum = 0;
    for (int si = 0; si < S; si++) {
        const disc_scale *sc = &d->sc[si];
        const disc_layer *P = &sc->L[DISC_N_LAYERS - 1];
        const size_t nlog = P->out_floats;
        double xabs[DISC_N_FMAPS] = {0}, diff[DISC_N_FMAPS] = {0}, denom[DISC_N_FMAPS], coef[DISC_N_FMAPS];
        for (int b = 0; b < B; b++) {
            /* kept: with the logits too, which sn_disc_loss_d needs */
            float *xa = gen_acts(d, si, b, 0);
            disc_forward_crop(d, si, x + b * crop, gen_spec(d, si, b, 0), xa, keep);
            for (int l = 0; l < DISC_N_FMAPS; l++) {
                xabs[l] += disc_sum_abs(xa + sc->L[l].out_off, NULL, sc->L[l].out_floats);
            }
        }
        for (int l = 0; l < DISC_N_FMAPS; l++) {
            const double n = (double)B * sc->L[l].out_floats;
            denom[l] = d->cfg.feat_relative ? SONO_MAX(xabs[l] / n, 1e-8) : 1.0;
            coef[l] = (double)w_feat / ((double)S * DISC_N_FMAPS * n * denom[l]);
        }
        const float gscale = (float)((double)w_adv / ((double)S * B * nlog));
        double advs = 0;
        for (int b = 0; b < B; b++) {
            const float *xa = gen_acts(d, si, b, 0);
            float *spec = gen_spec(d, si, b, 1), *acts = gen_acts(d, si, b, 1);
            disc_forward_crop(d, si, y + b * crop, spec, acts, 1);
            const float *lg = acts + P->out_off;
            float *dl = d->gB;
            for (size_t k = 0; k < nlog; k++) {
                if (d->cfg.gen_loss == DISC_GEN_HINGE) {
                    advs -= lg[k];
                    dl[k] = -gscale;
                } else {
                    float m = 1.0f - lg[k];
                    advs += m > 0.0f ? m : 0.0f;
                    dl[k] = m > 0.0f ? -gscale : 0.0f;
                }
            }
            for (int l = 0; l < DISC_N_FMAPS; l++) {
                diff[l] += disc_sum_abs(acts + sc->L[l].out_off, xa + sc->L[l].out_off, sc->L[l].out_floats);
            }
            if (backward) disc_backward_crop(d, si, spec, acts, xa, coef, 0, dy + b * crop);
        }
        adv_sum += advs / ((double)B * nlog);
        for (int l = 0; l < DISC_N_FMAPS; l++)
            feat_sum += diff[l] / ((double)B * sc->L[l].out_floats) / denom[l] / DISC_N_FMAPS;
    }
    if (keep) {
        memcpy(d->keep_x, x, crop * B * sizeof(float));
        memcpy(d->keep_y, y, crop * B * sizeof(float));
        memcpy(d->keep_params, d->params, d->n_floats * sizeof(float));
        d->keep_valid = 1;
    }
    if (adv) *adv = adv_sum / S;
    if (feat) *feat = feat_sum / S;
}
