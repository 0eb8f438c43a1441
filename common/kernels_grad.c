/* Backward passes for the codec's layers, every gradient accumulated (+=).
 * The `_ref` ones are plain loops in the forward's index order with sums in
 * double; the formulas are written out above each. The fast conv backwards
 * (end of file) reuse the forward kernels, a dot-product kernel and sgemm; kernels_grad.h has the
 * layouts. */
#include <math.h>
#include <string.h>
#include <cblas.h>

#undef SONO_REF_KERNELS /* keep the fast names here even in -Dref_kernels builds */
#include "kernels.h"
#include "kernels_grad.h"

/* out[co][t] = b[co] + sum_ci sum_k w[co][ci][k] * in[ci][t*stride + k*dil], so
 *   db[co]        += sum_t dout[co][t]
 *   dw[co][ci][k] += sum_t dout[co][t] * in[ci][t*stride + k*dil]
 *   din[ci][t*stride + k*dil] += dout[co][t] * w[co][ci][k]   (scatter) */
void sn_conv1d_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w,
                         int C_in, int C_out, int T_in, int K, int stride, int dil,
                         float *scratch, int n_threads) {
    (void)scratch; (void)n_threads;
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    for (int co = 0; co < C_out; co++) {
        const float *dy = dout + (size_t)co * T_out;            /* dout [C_out][T_out] */
        if (db) {
            double acc = 0.0;
            for (int t = 0; t < T_out; t++) acc += dy[t];
            db[co] += (float)acc;
        }
        for (int ci = 0; ci < C_in; ci++) {
            const float *x = in + (size_t)ci * T_in;             /* in [C_in][T_in] */
            size_t wo = ((size_t)co * C_in + ci) * K;            /* w [C_out][C_in][K] */
            for (int k = 0; k < K; k++) {
                if (dw) {
                    double acc = 0.0;
                    for (int t = 0; t < T_out; t++)
                        acc += (double)dy[t] * x[(size_t)t * stride + (size_t)k * dil];
                    dw[wo + k] += (float)acc;
                }
                if (din) {
                    float *dx = din + (size_t)ci * T_in;
                    for (int t = 0; t < T_out; t++)
                        dx[(size_t)t * stride + (size_t)k * dil] += dy[t] * w[wo + k];
                }
            }
        }
    }
}

/* out[co][t*stride + k] += in[ci][t] * w[ci][co][k] (plus b[co] everywhere), so
 *   db[co]        += sum_j dout[co][j]
 *   dw[ci][co][k] += sum_t in[ci][t] * dout[co][t*stride + k]
 *   din[ci][t]    += sum_co sum_k w[ci][co][k] * dout[co][t*stride + k] */
void sn_convtr1d_backward_ref(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w,
                           int C_in, int C_out, int T_in, int K, int stride,
                           float *scratch, int n_threads) {
    (void)scratch; (void)n_threads;
    if (T_in <= 0) return;
    size_t T_out = (size_t)(T_in - 1) * stride + K;
    if (db)
        for (int co = 0; co < C_out; co++) {
            double acc = 0.0;
            for (size_t j = 0; j < T_out; j++) acc += dout[(size_t)co * T_out + j];
            db[co] += (float)acc;
        }
    for (int ci = 0; ci < C_in; ci++) {
        const float *x = in + (size_t)ci * T_in;                 /* in [C_in][T_in] */
        if (dw)
            for (int co = 0; co < C_out; co++) {
                const float *dy = dout + (size_t)co * T_out;     /* dout [C_out][T_out] */
                for (int k = 0; k < K; k++) {
                    double acc = 0.0;
                    for (int t = 0; t < T_in; t++) acc += (double)x[t] * dy[(size_t)t * stride + k];
                    dw[((size_t)ci * C_out + co) * K + k] += (float)acc; /* w [C_in][C_out][K] */
                }
            }
        if (din)
            for (int t = 0; t < T_in; t++) {
                double acc = 0.0;
                for (int co = 0; co < C_out; co++) {
                    const float *dy = dout + (size_t)co * T_out + (size_t)t * stride;
                    const float *wk = w + ((size_t)ci * C_out + co) * K;
                    for (int k = 0; k < K; k++) acc += (double)wk[k] * dy[k];
                }
                din[(size_t)ci * T_in + t] += (float)acc;
            }
    }
}

/* y = x > 0 ? x : alpha * (exp(x) - 1): dy/dx = 1 or alpha * exp(x) = y + alpha.
 * x == 0 takes the left branch, like the forward. */
void sn_elu_backward(float *din, const float *dout, const float *in, size_t n, float alpha) {
    for (size_t i = 0; i < n; i++)
        din[i] += in[i] > 0.0f ? dout[i] : dout[i] * alpha * expf(in[i]);
}

/* Branch-free, so that it vectorises (gcc keeps a branch for the select,
 * which mispredicts on every other sample of a signal): with pos = 1 or 0,
 * m = pos + (1 - pos) * (y + alpha) is exactly 1 or y + alpha. */
void sn_elu_backward_from_out(float *din, const float *dout, const float *out, size_t n, float alpha) {
    for (size_t i = 0; i < n; i++) {
        float pos = (float)(out[i] > 0.0f);
        din[i] += dout[i] * (pos + (1.0f - pos) * (out[i] + alpha));
    }
}

/* xhat = (x - mean) * rstd over all N = C*T values, y = xhat * gamma[c] + beta[c]:
 *   dbeta[c]  += sum_t dy,  dgamma[c] += sum_t dy * xhat
 *   with dxh = dy * gamma[c]:
 *   dx = rstd * (dxh - mean(dxh) - xhat * mean(dxh * xhat))   (means over all N) */
void sn_groupnorm1_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                         const float *in, const float *gamma, int C, int T, float eps) {
    size_t n = (size_t)C * T;
    if (n == 0) return;
    double mean, rstd;
    sn_groupnorm1_stats_ref(in, n, eps, &mean, &rstd);

    double sum_dxh = 0.0, sum_dxh_xh = 0.0;
    for (int ch = 0; ch < C; ch++) {
        double g = gamma ? gamma[ch] : 1.0, db = 0.0, dg = 0.0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)ch * T + t;                      /* in, dout [C][T] */
            double xh = (in[i] - mean) * rstd, dy = dout[i];
            db += dy;
            dg += dy * xh;
            sum_dxh += dy * g;
            sum_dxh_xh += dy * g * xh;
        }
        if (dbeta) dbeta[ch] += (float)db;
        if (dgamma) dgamma[ch] += (float)dg;
    }
    if (!din) return;
    double m1 = sum_dxh / (double)n, m2 = sum_dxh_xh / (double)n;
    for (int ch = 0; ch < C; ch++) {
        double g = gamma ? gamma[ch] : 1.0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)ch * T + t;
            double xh = (in[i] - mean) * rstd;
            din[i] += (float)(rstd * (dout[i] * g - m1 - xh * m2));
        }
    }
}

static double row_norm(const float *v, int inner) {
    double s = 0.0;
    for (int i = 0; i < inner; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

void sn_weightnorm_forward(float *w, const float *g, const float *v, int rows, int inner) {
    for (int r = 0; r < rows; r++) {
        const float *vr = v + (size_t)r * inner;                 /* v, w [rows][inner] */
        double nrm = row_norm(vr, inner), scale = nrm > 0.0 ? g[r] / nrm : 0.0;
        for (int i = 0; i < inner; i++) w[(size_t)r * inner + i] = (float)(scale * vr[i]);
    }
}

/* With u = v/||v|| and s = sum_i dw_i u_i (per row):
 *   dg += s,   dv += (g/||v||) * (dw - s * u) */
void sn_weightnorm_backward(float *dg, float *dv, const float *dw,
                         const float *g, const float *v, int rows, int inner) {
    for (int r = 0; r < rows; r++) {
        const float *vr = v + (size_t)r * inner, *dwr = dw + (size_t)r * inner;
        double nrm = row_norm(vr, inner);
        if (nrm == 0.0) continue;
        double s = 0.0;
        for (int i = 0; i < inner; i++) s += (double)dwr[i] * vr[i];
        s /= nrm;
        if (dg) dg[r] += (float)s;
        if (dv) {
            double scale = g[r] / nrm;
            for (int i = 0; i < inner; i++)
                dv[(size_t)r * inner + i] += (float)(scale * (dwr[i] - s * vr[i] / nrm));
        }
    }
}

size_t sn_lstm_saved_floats(int H, int T) {
    return (size_t)T * 4 * H + 2 * (size_t)(T + 1) * H;
}

lstm_saved *sn_lstm_saved_point(lstm_saved *s, float *buf, int H, int T) {
    s->gates = buf;
    s->c = buf + (size_t)T * 4 * H;
    s->h = s->c + (size_t)(T + 1) * H;
    return s;
}

/* sn_lstm_forward_ref's arithmetic (the same sn_lstm_step_ref), keeping every
 * step's gates and state. */
void sn_lstm_forward_train(float *out, lstm_saved *saved, const float *in,
                        const float *w_ih, const float *w_hh,
                        const float *b_ih, const float *b_hh,
                        const float *h0, const float *c0, int C, int H, int T) {
    for (int j = 0; j < H; j++) {
        saved->h[j] = h0 ? h0[j] : 0.0f;
        saved->c[j] = c0 ? c0[j] : 0.0f;
    }
    for (int t = 0; t < T; t++) {
        const float *hp = saved->h + (size_t)t * H, *cp = saved->c + (size_t)t * H;
        float *hn = saved->h + (size_t)(t + 1) * H, *cn = saved->c + (size_t)(t + 1) * H;
        sn_lstm_step_ref(hn, 1, cn, saved->gates + (size_t)t * 4 * H, in, t, T, w_ih, w_hh, b_ih, b_hh, hp, cp, C, H);
        if (out)
            for (int j = 0; j < H; j++) out[(size_t)j * T + t] = hn[j];
    }
}

size_t sn_lstm_backward_scratch_floats(int H) { return 6 * (size_t)H; }

/* Step t, going backwards, with dh = dh_next + dout[:, t] and c = c[t+1]:
 *   do = dh * tanh(c);  dc = dc_next + dh * o * (1 - tanh(c)^2)
 *   di = dc * g;  dg = dc * i;  df = dc * c[t];  dc_next <- dc * f
 *   dz = (di i(1-i), df f(1-f), dg (1-g^2), do o(1-o))      z [4H]
 *   db_ih, db_hh += dz;  dw_ih += dz x_t^T;  dw_hh += dz h[t]^T
 *   din[:, t] += w_ih^T dz;  dh_next <- w_hh^T dz */
void sn_lstm_backward(float *din, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                   float *dh0, float *dc0,
                   const float *dout, const float *dh_last, const float *dc_last,
                   const lstm_saved *saved, const float *in,
                   const float *w_ih, const float *w_hh,
                   int C, int H, int T, float *scratch) {
    float *dh = scratch, *dc = scratch + H, *dz = scratch + 2 * H; /* [H], [H], [4H] */
    size_t G = 4 * (size_t)H;
    for (int j = 0; j < H; j++) {
        dh[j] = dh_last ? dh_last[j] : 0.0f;
        dc[j] = dc_last ? dc_last[j] : 0.0f;
    }
    for (int t = T - 1; t >= 0; t--) {
        const float *gt = saved->gates + (size_t)t * G;
        const float *cp = saved->c + (size_t)t * H, *cn = saved->c + (size_t)(t + 1) * H;
        const float *hp = saved->h + (size_t)t * H;
        for (int j = 0; j < H; j++) {
            double i = gt[j], f = gt[H + j], g = gt[2 * H + j], o = gt[3 * H + j];
            double d_h = (double)dh[j] + (dout ? dout[(size_t)j * T + t] : 0.0);
            double tc = tanh((double)cn[j]);
            double d_c = dc[j] + d_h * o * (1.0 - tc * tc);
            dz[j] = (float)(d_c * g * i * (1.0 - i));
            dz[H + j] = (float)(d_c * cp[j] * f * (1.0 - f));
            dz[2 * H + j] = (float)(d_c * i * (1.0 - g * g));
            dz[3 * H + j] = (float)(d_h * tc * o * (1.0 - o));
            dc[j] = (float)(d_c * f);
        }
        for (size_t r = 0; r < G; r++) {
            if (db_ih) db_ih[r] += dz[r];
            if (db_hh) db_hh[r] += dz[r];
            if (dw_ih)
                for (int k = 0; k < C; k++) dw_ih[r * C + k] += dz[r] * in[(size_t)k * T + t];
            if (dw_hh)
                for (int k = 0; k < H; k++) dw_hh[r * H + k] += dz[r] * hp[k];
        }
        if (din)
            for (int k = 0; k < C; k++) {
                double acc = 0.0;
                for (size_t r = 0; r < G; r++) acc += (double)w_ih[r * C + k] * dz[r];
                din[(size_t)k * T + t] += (float)acc;
            }
        for (int k = 0; k < H; k++) {
            double acc = 0.0;
            for (size_t r = 0; r < G; r++) acc += (double)w_hh[r * H + k] * dz[r];
            dh[k] = (float)acc;
        }
    }
    if (dh0) for (int j = 0; j < H; j++) dh0[j] += dh[j];
    if (dc0) for (int j = 0; j < H; j++) dc0[j] += dc[j];
}

/* ---------------------------------------------------------------------------
 * Fast conv backwards.
 *
 * conv1d, stride 1 (any dilation): the input gradient is a conv of the output
 * gradient, zero-padded by (K-1)*dil on both sides, with the weight flipped in
 * time and transposed to [C_in][C_out][K]:
 *     din[ci][t] = sum_co sum_k w[co][ci][K-1-k] * dpad[co][t + k*dil]
 * (the stride-1 forward reads its input in place, so this is the fastest
 * form). conv1d with stride > 1 and dil = 1: the input gradient is the
 * transposed conv of dout with the same weight array ([C_out][C_in][K] read
 * as convtr's [C_in'][C_out'][K]): sn_convtr1d_forward itself for short outputs,
 * else in polyphase form as one stride-1 conv (see below), which measured
 * 1.2-1.8x faster there. Weight gradients: dw [C_out][C_in*K] += dout x im2col(in)^T, by
 * gemm_nt_add below.
 * Forward kernels overwrite their output, so the input gradient goes through
 * scratch and is added (the += contract). */

#define KG_TCHUNK 1024 /* time chunk of the im2col copies (bounds scratch) */
#define KG_POLY_MIN_T 512 /* strided conv din: polyphase form from this many output steps */

static size_t kg_max(size_t a, size_t b) { return a > b ? a : b; }
static int kg_min(int a, int b) { return a < b ? a : b; }

/* db[co] += sum_t dy[co][t] */
static void row_sums_add(float *db, const float *dy, int rows, size_t n) {
    for (int r = 0; r < rows; r++) {
        const float *y = dy + (size_t)r * n;
        double acc[4] = {0};  /* in double, as the _ref: a row sum is cheap next to the conv */
        size_t t = 0;
        for (; t + 4 <= n; t += 4)
            for (int u = 0; u < 4; u++) acc[u] += y[t + u];
        double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        for (; t < n; t++) s += y[t];
        db[r] += (float)s;
    }
}

/* dst[r][0..n) += src[r][0..n): dst rows ld_dst apart, src rows n apart */
static void rows_add(float *dst, size_t ld_dst, const float *src, int rows, size_t n) {
    for (int r = 0; r < rows; r++) {
        float *d = dst + (size_t)r * ld_dst;
        const float *s = src + (size_t)r * n;
        for (size_t i = 0; i < n; i++) d[i] += s[i];
    }
}

/* col [C*K][tc] = x[c][(t0 + j)*stride + k*dil], j < tc */
static void kg_im2col(float *col, const float *x, int C, int T_x, int K, int stride, int dil, int t0, int tc) {
    for (int r = 0; r < C * K; r++) {
        int c = r / K, k = r % K;
        const float *src = x + (size_t)c * T_x + (size_t)t0 * stride + (size_t)k * dil;
        float *d = col + (size_t)r * tc;
        if (stride == 1) memcpy(d, src, (size_t)tc * sizeof *d);
        else for (int j = 0; j < tc; j++) d[j] = src[(size_t)j * stride];
    }
}

/* Weight gradients, dw[m][n] += sum_t a[m][t] * b[n][t] (t < T), with a rows
 * lda apart (dout for a conv, the input for a transposed conv) and b an
 * implicit im2col of x [C][T_x]: b[c*K + k][t] = x[c][t*stride + k*dil].
 * Three ways, by shape (OpenBLAS's generic kernels on the development CPU run
 * these shapes at only 9-15 GFLOP/s, see the note in kernels.c):
 *  - on AVX2/AVX-512 CPUs: every b row is a contiguous shifted view of x
 *    (stride 1) or of a polyphase copy of x (x[c][u*stride + p] as rows
 *    [c][p][u]), so dot products straight from the rows, 3x3 register tiles
 *    of 8-float FMA accumulators (4x4 of 16 floats with AVX-512) over time
 *    blocks that stay in L1 (dw_direct);
 *  - both sides >= 32 and short (T < 1024): per time chunk one 1x1 conv on the conv
 *    engine, reducing over the chunk's steps and vectorised over the longer
 *    side, after a transposed copy of that side (gemm_engine);
 *  - else (no AVX2) sgemm over im2col chunks (beta = 1 accumulates). */

#define KG_TBLK 512 /* time block of the direct kernel: 6 rows of it stay in L1 */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define KG_X86 1
__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* out[i][j] = sum_{t < n} a[i][t] * b[j][t], i, j < 3 (out is [4][4]) */
__attribute__((target("avx2,fma"))) static void dot3x3(float out[4][4], const float *const a[4],
                                                       const float *const b[4], int n) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00,
           c21 = c00, c22 = c00;
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        __m256 b0 = _mm256_loadu_ps(b[0] + t), b1 = _mm256_loadu_ps(b[1] + t), b2 = _mm256_loadu_ps(b[2] + t);
        __m256 a0 = _mm256_loadu_ps(a[0] + t);
        c00 = _mm256_fmadd_ps(a0, b0, c00); c01 = _mm256_fmadd_ps(a0, b1, c01); c02 = _mm256_fmadd_ps(a0, b2, c02);
        __m256 a1 = _mm256_loadu_ps(a[1] + t);
        c10 = _mm256_fmadd_ps(a1, b0, c10); c11 = _mm256_fmadd_ps(a1, b1, c11); c12 = _mm256_fmadd_ps(a1, b2, c12);
        __m256 a2 = _mm256_loadu_ps(a[2] + t);
        c20 = _mm256_fmadd_ps(a2, b0, c20); c21 = _mm256_fmadd_ps(a2, b1, c21); c22 = _mm256_fmadd_ps(a2, b2, c22);
    }
    out[0][0] = hsum256(c00); out[0][1] = hsum256(c01); out[0][2] = hsum256(c02);
    out[1][0] = hsum256(c10); out[1][1] = hsum256(c11); out[1][2] = hsum256(c12);
    out[2][0] = hsum256(c20); out[2][1] = hsum256(c21); out[2][2] = hsum256(c22);
    for (; t < n; t++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) out[i][j] += a[i][t] * b[j][t];
}

/* The same for i, j < 4 in 16-float registers: 16 accumulators, 8 loads per
 * 16 FMAs (the 3x3 AVX2 tile needs 6 per 9). */
__attribute__((target("avx512f,fma"))) static void dot4x4(float out[4][4], const float *const a[4],
                                                          const float *const b[4], int n) {
    __m512 c[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) c[i][j] = _mm512_setzero_ps();
    int t = 0;
    for (; t + 16 <= n; t += 16) {
        __m512 b0 = _mm512_loadu_ps(b[0] + t), b1 = _mm512_loadu_ps(b[1] + t);
        __m512 b2 = _mm512_loadu_ps(b[2] + t), b3 = _mm512_loadu_ps(b[3] + t);
        for (int i = 0; i < 4; i++) {
            __m512 ai = _mm512_loadu_ps(a[i] + t);
            c[i][0] = _mm512_fmadd_ps(ai, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(ai, b1, c[i][1]);
            c[i][2] = _mm512_fmadd_ps(ai, b2, c[i][2]);
            c[i][3] = _mm512_fmadd_ps(ai, b3, c[i][3]);
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) out[i][j] = _mm512_reduce_add_ps(c[i][j]);
    for (; t < n; t++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) out[i][j] += a[i][t] * b[j][t];
}

static int kg_have_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static int kg_have_avx512(void) { return __builtin_cpu_supports("avx512f") && kg_have_avx2(); }
#else
#define KG_X86 0
static int kg_have_avx2(void) { return 0; }
#endif

#if KG_X86
/* b row n = c*K + k is xs + (c*S + ph(k))*ld + sh(k): with S = 1 the input
 * rows themselves (ph = 0, sh = k*dil), else its polyphase copy (ph =
 * (k*dil) % stride, sh = (k*dil) / stride). Edge tiles repeat their last row
 * and drop the repeated results. */
static void dw_direct(float *dw, const float *a, size_t lda, int M, const float *xs, size_t ld, int C, int K,
                      int S, int dil, int T) {
    const int N = C * K, big = kg_have_avx512(), R = big ? 4 : 3;
    for (int t0 = 0; t0 < T; t0 += KG_TBLK) {
        int tb = kg_min(KG_TBLK, T - t0);
        for (int m0 = 0; m0 < M; m0 += R) {
            const float *ar[4];
            for (int i = 0; i < R; i++) ar[i] = a + (size_t)kg_min(m0 + i, M - 1) * lda + t0;
            for (int n0 = 0; n0 < N; n0 += R) {
                const float *br[4];
                for (int j = 0; j < R; j++) {
                    int n = kg_min(n0 + j, N - 1), c = n / K, kd = (n % K) * dil;
                    br[j] = xs + ((size_t)c * S + kd % S) * ld + kd / S + t0;
                }
                float o[4][4];
                if (big) dot4x4(o, ar, br, tb);
                else dot3x3(o, ar, br, tb);
                for (int i = 0; i < R && m0 + i < M; i++)
                    for (int j = 0; j < R && n0 + j < N; j++) dw[(size_t)(m0 + i) * N + n0 + j] += o[i][j];
            }
        }
    }
}
#endif

/* the engine for wide, short layers (over few steps the direct kernel's
 * per-tile horizontal sums do not pay off) */
static int use_engine(int M, int N, int T) { return M >= 32 && N >= 32 && T < 1024; }

/* polyphase rows: Lp = T + (K-1)*dil / stride columns each */
static size_t poly_len(int T, int K, int stride, int dil) { return (size_t)T + (size_t)(K - 1) * dil / stride; }

static size_t gemm_nt_scratch(int M, int C, int K, int T, int stride, int dil) {
    int N = C * K;
    if (M <= 0 || N <= 0 || T <= 0) return 0;
    size_t tc = (size_t)kg_min(T, KG_TCHUNK);
    if (!use_engine(M, N, T) && kg_have_avx2())
        return stride == 1 ? 0 : (size_t)C * stride * poly_len(T, K, stride, dil);
    if (!use_engine(M, N, T)) return (size_t)N * tc;
    int big = M > N ? M : N;
    return tc * N + (size_t)M * tc + (size_t)M * N + sn_conv1d_scratch_floats((int)tc, 1, big);
}

static void gemm_nt_add(float *dw, const float *a, size_t lda, int M, const float *x, int C, int T_x, int K,
                        int stride, int dil, int T, float *scratch, int n_threads) {
    const int N = C * K;
#if KG_X86
    if (!use_engine(M, N, T) && kg_have_avx2()) {
        if (stride == 1) {
            dw_direct(dw, a, lda, M, x, (size_t)T_x, C, K, 1, dil, T);
            return;
        }
        /* polyphase copy xp[c][p][u] = x[c][u*stride + p]; columns past the
         * input are never read, zero them */
        size_t Lp = poly_len(T, K, stride, dil);
        for (int c = 0; c < C; c++)
            for (int p = 0; p < stride; p++) {
                const float *src = x + (size_t)c * T_x + p;
                float *d = scratch + ((size_t)c * stride + p) * Lp;
                size_t n_ok = p >= T_x ? 0 : (size_t)(T_x - 1 - p) / stride + 1;
                if (n_ok > Lp) n_ok = Lp;
                for (size_t u = 0; u < n_ok; u++) d[u] = src[u * stride];
                for (size_t u = n_ok; u < Lp; u++) d[u] = 0.0f;
            }
        dw_direct(dw, a, lda, M, scratch, Lp, C, K, stride, dil, T);
        return;
    }
#endif
    if (!use_engine(M, N, T)) {
        for (int t0 = 0; t0 < T; t0 += KG_TCHUNK) {
            int tc = kg_min(KG_TCHUNK, T - t0);
            kg_im2col(scratch, x, C, T_x, K, stride, dil, t0, tc);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, tc,
                        1.0f, a + t0, (int)lda, scratch, tc, 1.0f, dw, N);
        }
        return;
    }
    /* engine: per chunk tmp [M][N] = a_chunk [M][tc] (as weight) x bT [tc][N]
     * (as input) when N >= M, else tmp [N][M] = b_chunk [N][tc] x aT [tc][M] */
    for (int t0 = 0; t0 < T; t0 += KG_TCHUNK) {
        int tc = kg_min(KG_TCHUNK, T - t0);
        float *op_t = scratch;                                   /* transposed operand [tc][N or M] */
        float *op_w = op_t + (size_t)tc * (N >= M ? N : M);      /* weight operand [M or N][tc] */
        float *tmp = op_w + (size_t)(N >= M ? M : N) * tc;       /* [M][N] or [N][M] */
        float *cscr = tmp + (size_t)M * N;
        if (N >= M) {
            for (int j0 = 0; j0 < tc; j0 += 32) {                /* bT[j][c*K + k], blocked over j */
                int j1 = kg_min(tc, j0 + 32);
                for (int c = 0; c < C; c++)
                    for (int k = 0; k < K; k++) {
                        const float *src = x + (size_t)c * T_x + (size_t)t0 * stride + (size_t)k * dil;
                        float *d = op_t + (size_t)c * K + k;
                        for (int j = j0; j < j1; j++) d[(size_t)j * N] = src[(size_t)j * stride];
                    }
            }
            for (int m = 0; m < M; m++) memcpy(op_w + (size_t)m * tc, a + (size_t)m * lda + t0, (size_t)tc * sizeof(float));
            sn_conv1d_forward(tmp, op_t, op_w, NULL, tc, M, N, 1, 1, 1, cscr, n_threads);
            for (size_t i = 0; i < (size_t)M * N; i++) dw[i] += tmp[i];
        } else {
            for (int j0 = 0; j0 < tc; j0 += 32) {                /* aT[j][m] */
                int j1 = kg_min(tc, j0 + 32);
                for (int m = 0; m < M; m++) {
                    const float *src = a + (size_t)m * lda + t0;
                    for (int j = j0; j < j1; j++) op_t[(size_t)j * M + m] = src[j];
                }
            }
            kg_im2col(op_w, x, C, T_x, K, stride, dil, t0, tc);
            sn_conv1d_forward(tmp, op_t, op_w, NULL, tc, N, M, 1, 1, 1, cscr, n_threads);
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) dw[(size_t)m * N + n] += tmp[(size_t)n * M + m];
        }
    }
}

size_t sn_conv1d_backward_scratch_floats(int C_in, int C_out, int T_in, int K, int stride, int dil) {
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    if (T_out <= 0 || C_in <= 0 || C_out <= 0) return 0;
    size_t n_din;
    if (stride == 1) {
        size_t Lp = (size_t)T_out + 2 * (size_t)(K - 1) * dil;
        n_din = (size_t)C_out * Lp + (size_t)C_in * C_out * K + (size_t)C_in * T_in +
                sn_conv1d_scratch_floats(C_out, K, T_in);
    } else if (dil == 1) {
        int M = (K + stride - 1) / stride, U = T_out + M - 1;
        if (T_out >= KG_POLY_MIN_T)
            n_din = (size_t)C_out * (T_out + 2 * (M - 1)) + (size_t)stride * C_in * C_out * M +
                    (size_t)stride * C_in * U + sn_conv1d_scratch_floats(C_out, M, U);
        else
            n_din = (size_t)C_in * ((size_t)(T_out - 1) * stride + K) + sn_convtr1d_scratch_floats(C_in, K, T_out);
    } else {
        n_din = 0; /* the plain loop */
    }
    return kg_max(n_din, gemm_nt_scratch(C_out, C_in, K, T_out, stride, dil));
}

void sn_conv1d_backward(float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w,
                     int C_in, int C_out, int T_in, int K, int stride, int dil,
                     float *scratch, int n_threads) {
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    if (T_out <= 0 || C_out <= 0 || C_in <= 0) {
        if (db && T_out > 0) row_sums_add(db, dout, C_out, (size_t)T_out);
        return;
    }
    if (stride > 1 && dil > 1) { /* not in SEANet: the plain loop */
        sn_conv1d_backward_ref(din, dw, db, dout, in, w, C_in, C_out, T_in, K, stride, dil, NULL, 1);
        return;
    }
    if (db) row_sums_add(db, dout, C_out, (size_t)T_out);
    if (din && stride == 1) {
        int pad = (K - 1) * dil;
        size_t Lp = (size_t)T_out + 2 * (size_t)pad;
        float *dpad = scratch;                                   /* [C_out][Lp] */
        float *wt = dpad + (size_t)C_out * Lp;                   /* [C_in][C_out][K] */
        float *tmp = wt + (size_t)C_in * C_out * K;              /* [C_in][T_in] */
        float *cscr = tmp + (size_t)C_in * T_in;
        if (pad) /* K = 1 reads dout as it is */
            for (int co = 0; co < C_out; co++) {
                float *d = dpad + (size_t)co * Lp;
                memset(d, 0, (size_t)pad * sizeof *d);
                memcpy(d + pad, dout + (size_t)co * T_out, (size_t)T_out * sizeof *d);
                memset(d + pad + T_out, 0, (size_t)pad * sizeof *d);
            }
        for (int co = 0; co < C_out; co++)
            for (int ci = 0; ci < C_in; ci++)
                for (int k = 0; k < K; k++)
                    wt[((size_t)ci * C_out + co) * K + (K - 1 - k)] = w[((size_t)co * C_in + ci) * K + k];
        sn_conv1d_forward(tmp, pad ? dpad : dout, wt, NULL, C_out, C_in, (int)Lp, K, 1, dil, cscr, n_threads);
        rows_add(din, (size_t)T_in, tmp, C_in, (size_t)T_in);     /* conv output length is T_in */
    } else if (din && T_out < KG_POLY_MIN_T) { /* few steps: the transposed conv as it is */
        size_t Lc = (size_t)(T_out - 1) * stride + K;            /* <= T_in: a skipped tail gets nothing */
        float *tmp = scratch, *cscr = scratch + (size_t)C_in * Lc;
        sn_convtr1d_forward(tmp, dout, w, NULL, C_out, C_in, T_out, K, stride, cscr, n_threads);
        rows_add(din, (size_t)T_in, tmp, C_in, Lc);
    } else if (din) {
        /* polyphase: din[ci][u*stride + p] = sum_co sum_m w[co][ci][m*stride + p] * dout[co][u - m],
         * all phases at once as one stride-1 conv with stride*C_in output rows
         * (r = p*C_in + ci) and M = ceil(K/stride) taps, flipped, over dout
         * zero-padded by M-1 on both sides; then interleaved into din. */
        const int S = stride, M = (K + S - 1) / S, U = T_out + M - 1;
        const size_t Lx = (size_t)T_out + 2 * (size_t)(M - 1);
        float *X = scratch;                                      /* [C_out][Lx] */
        float *wp = X + (size_t)C_out * Lx;                      /* [S*C_in][C_out][M] */
        float *tmp = wp + (size_t)S * C_in * C_out * M;          /* [S*C_in][U] */
        float *cscr = tmp + (size_t)S * C_in * U;
        for (int co = 0; co < C_out; co++) {
            float *d = X + (size_t)co * Lx;
            memset(d, 0, (size_t)(M - 1) * sizeof *d);
            memcpy(d + M - 1, dout + (size_t)co * T_out, (size_t)T_out * sizeof *d);
            memset(d + M - 1 + T_out, 0, (size_t)(M - 1) * sizeof *d);
        }
        for (int p = 0; p < S; p++)
            for (int ci = 0; ci < C_in; ci++)
                for (int co = 0; co < C_out; co++)
                    for (int m = 0; m < M; m++) {
                        int k = m * S + p;
                        wp[(((size_t)p * C_in + ci) * C_out + co) * M + (M - 1 - m)] =
                            k < K ? w[((size_t)co * C_in + ci) * K + k] : 0.0f;
                    }
        sn_conv1d_forward(tmp, X, wp, NULL, C_out, S * C_in, (int)Lx, M, 1, 1, cscr, n_threads);
        for (int ci = 0; ci < C_in; ci++) {                      /* columns past T_in get nothing */
            float *dx = din + (size_t)ci * T_in;
            for (int u = 0; u < U; u++) {
                size_t j0 = (size_t)u * S;
                if (j0 >= (size_t)T_in) break;
                int np = (int)((size_t)T_in - j0 < (size_t)S ? (size_t)T_in - j0 : (size_t)S);
                for (int p = 0; p < np; p++) dx[j0 + p] += tmp[((size_t)p * C_in + ci) * U + u];
            }
        }
    }
    if (dw) gemm_nt_add(dw, dout, (size_t)T_out, C_out, in, C_in, T_in, K, stride, dil, T_out, scratch, n_threads);
}

/* convtr1d: the input gradient is exactly sn_conv1d_forward of dout with the same
 * weight array (convtr's [C_in][C_out][K] read as conv's [C_out'][C_in'][K])
 * and the same stride; its output length is T_in. The weight gradient is
 *     dw [C_in][C_out*K] += in x col^T,  col[co*K + k][t] = dout[co][t*stride + k]
 * (gemm_nt_add). */
size_t sn_convtr1d_backward_scratch_floats(int C_in, int C_out, int T_in, int K, int stride) {
    (void)stride;
    if (T_in <= 0 || C_in <= 0 || C_out <= 0 || K <= 0) return 0;
    size_t n_din = (size_t)C_in * T_in + sn_conv1d_scratch_floats(C_out, K, T_in);
    return kg_max(n_din, gemm_nt_scratch(C_in, C_out, K, T_in, stride, 1));
}

void sn_convtr1d_backward(float *din, float *dw, float *db, const float *dout,
                       const float *in, const float *w,
                       int C_in, int C_out, int T_in, int K, int stride,
                       float *scratch, int n_threads) {
    if (T_in <= 0 || C_out <= 0 || K <= 0) return;
    size_t T_out = (size_t)(T_in - 1) * stride + K;
    if (db) row_sums_add(db, dout, C_out, T_out);
    if (C_in <= 0) return;
    if (din) {
        float *tmp = scratch, *cscr = scratch + (size_t)C_in * T_in;
        sn_conv1d_forward(tmp, dout, w, NULL, C_out, C_in, (int)T_out, K, stride, 1, cscr, n_threads);
        rows_add(din, (size_t)T_in, tmp, C_in, (size_t)T_in);
    }
    if (dw) gemm_nt_add(dw, in, (size_t)T_in, C_in, dout, C_out, (int)T_out, K, stride, 1, T_in, scratch, n_threads);
}
