/* The Vocos decoder head for training (vocos_train.h): layers as paired
 * forward/backward functions over one crop, each with a fast form (float,
 * OpenBLAS sgemm for the linears and the inverse DFT) and a plain _ref form
 * (loops, sums in double) selected by use_ref. */
#include "vocos_train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"
#include "kernels.h"
#include "kernels_grad.h"
#include "sono_internal.h"

#define VOCOS_PI 3.14159265358979323846

/* ---- layout of the saved activations of one crop ---- */

/* e [dim][F] embed output; st [2][F] LN mean, rstd; x_i [dim][F], i = 0..L
 * (block inputs; x_L the final LN input); per block a [dim][F] dwconv output,
 * st, n [dim][F] LN output, u [inter][F], g [inter][F] GELU output, v [dim][F]
 * pwconv2 output; final st, xf [dim][F]; h [N+2][F]; X [N+2][F] spectrum. */
typedef struct {
    size_t e, st0, x0, blk0, blk_size, a, st, n, u, g, v, stf, xf, h, X, total;
} vocos_layout;

static vocos_layout layout(const vocos_head *h) {
    vocos_layout o;
    size_t F = (size_t)h->F, dF = (size_t)h->dim * F, iF = (size_t)h->inter * F, sF = 2 * F;
    o.e = 0;
    o.st0 = o.e + dF;
    o.x0 = o.st0 + sF;
    o.blk0 = o.x0 + (size_t)(h->L + 1) * dF;
    o.a = 0;
    o.st = o.a + dF;
    o.n = o.st + sF;
    o.u = o.n + dF;
    o.g = o.u + iF;
    o.v = o.g + iF;
    o.blk_size = o.v + dF;
    o.stf = o.blk0 + (size_t)h->L * o.blk_size;
    o.xf = o.stf + sF;
    o.h = o.xf + dF;
    o.X = o.h + (size_t)(h->N + 2) * F;
    o.total = o.X + (size_t)(h->N + 2) * F;
    return o;
}

size_t sn_vocos_act_floats(const vocos_head *h) { return layout(h).total; }

/* samples of the overlap-added signal before the "same" crop */
static size_t full_len(const vocos_head *h) { return (size_t)(h->F - 1) * h->hop + h->N; }

/* ---- building ---- */

static int add(sn_param_table *pt, size_t *off, const char *pre, const char *sfx, int nd, int64_t d0, int64_t d1,
               int64_t d2) {
    const int64_t sh[3] = {d0, d1, d2};
    int i = sn_params_add(pt, pre, sfx, nd, sh);
    if (i < 0) return i;
    *off = pt->p[i].offset;
    return 0;
}

int sn_vocos_head_init(vocos_head *h, const codec_config *cfg, int F, sn_param_table *pt) {
    memset(h, 0, sizeof *h);
    h->D = cfg->dimension; h->dim = cfg->vocos_dim; h->inter = cfg->vocos_intermediate;
    h->L = cfg->vocos_layers; h->K = cfg->vocos_kernel; h->N = cfg->vocos_n_fft;
    h->hop = sn_codec_config_hop(cfg); h->F = F;
    if (cfg->decoder != DECODER_VOCOS || F < 1 || h->K < 1 || h->K % 2 == 0 || h->N < h->hop || h->N % 2 ||
        (h->N - h->hop) % 2)
        return sn_fail(SONO_E_ARG, "vocos head: bad sizes (n_fft %d, hop %d, kernel %d, %d frames)", h->N, h->hop,
                       h->K, F);
    h->pad = (h->N - h->hop) / 2;
    const int D = h->D, dim = h->dim, inter = h->inter, K = h->K, N = h->N;
    int rc = 0;
    h->first_param = pt->n;
    rc = rc ? rc : add(pt, &h->embed_w, "decoder.backbone.embed", ".weight", 3, dim, D, K);
    rc = rc ? rc : add(pt, &h->embed_b, "decoder.backbone.embed", ".bias", 1, dim, 0, 0);
    rc = rc ? rc : add(pt, &h->norm_w, "decoder.backbone.norm", ".weight", 1, dim, 0, 0);
    rc = rc ? rc : add(pt, &h->norm_b, "decoder.backbone.norm", ".bias", 1, dim, 0, 0);
    if (!rc && h->L > 0 && !(h->blk = malloc((size_t)h->L * VB_N * sizeof *h->blk))) rc = SONO_E_NOMEM;
    for (int i = 0; i < h->L && !rc; i++) {
        char pre[64];
        size_t *b = h->blk + (size_t)i * VB_N;
        snprintf(pre, sizeof pre, "decoder.backbone.convnext.%d", i);
        rc = rc ? rc : add(pt, &b[VB_DW_W], pre, ".dwconv.weight", 3, dim, 1, K);
        rc = rc ? rc : add(pt, &b[VB_DW_B], pre, ".dwconv.bias", 1, dim, 0, 0);
        rc = rc ? rc : add(pt, &b[VB_LN_W], pre, ".norm.weight", 1, dim, 0, 0);
        rc = rc ? rc : add(pt, &b[VB_LN_B], pre, ".norm.bias", 1, dim, 0, 0);
        rc = rc ? rc : add(pt, &b[VB_PW1_W], pre, ".pwconv1.weight", 2, inter, dim, 0);
        rc = rc ? rc : add(pt, &b[VB_PW1_B], pre, ".pwconv1.bias", 1, inter, 0, 0);
        rc = rc ? rc : add(pt, &b[VB_PW2_W], pre, ".pwconv2.weight", 2, dim, inter, 0);
        rc = rc ? rc : add(pt, &b[VB_PW2_B], pre, ".pwconv2.bias", 1, dim, 0, 0);
        rc = rc ? rc : add(pt, &b[VB_GAMMA], pre, ".gamma", 1, dim, 0, 0);
    }
    rc = rc ? rc : add(pt, &h->fin_w, "decoder.backbone.final_layer_norm", ".weight", 1, dim, 0, 0);
    rc = rc ? rc : add(pt, &h->fin_b, "decoder.backbone.final_layer_norm", ".bias", 1, dim, 0, 0);
    rc = rc ? rc : add(pt, &h->out_w, "decoder.head.out", ".weight", 2, N + 2, dim, 0);
    rc = rc ? rc : add(pt, &h->out_b, "decoder.head.out", ".bias", 1, N + 2, 0, 0);
    h->n_params = pt->n - h->first_param;
    if (rc) { sn_vocos_head_free(h); return rc == SONO_E_NOMEM ? sn_fail(rc, "out of memory") : rc; }

    /* window, inverse DFT matrix and envelope, in double, rounded once */
    const int nb = N / 2 + 1, hop = h->hop;
    size_t Lf = full_len(h);
    double *w = malloc((size_t)N * sizeof *w), *env = calloc(Lf, sizeof *env);
    h->basis = malloc((size_t)N * (N + 2) * sizeof *h->basis);
    h->env = malloc((size_t)F * hop * sizeof *h->env);
    if (!w || !env || !h->basis || !h->env) {
        free(w), free(env);
        sn_vocos_head_free(h);
        return sn_fail(SONO_E_NOMEM, "out of memory (vocos inverse DFT of %d)", N);
    }
    sn_fft_hann(w, N, 0);
    for (int n = 0; n < N; n++) {
        float *row = h->basis + (size_t)n * (N + 2);
        for (int k = 0; k < nb; k++) {
            double c = (k == 0 || k == N / 2 ? 1.0 : 2.0) * w[n] / N;
            double a = 2 * VOCOS_PI * (double)((long long)k * n % N) / N;
            row[k] = (float)(c * cos(a));
            row[nb + k] = k == 0 || k == N / 2 ? 0.0f : (float)(-c * sin(a));
        }
    }
    for (int f = 0; f < F; f++)
        for (int n = 0; n < N; n++) env[(size_t)f * hop + n] += w[n] * w[n];
    double lo = INFINITY;
    for (size_t t = 0; t < (size_t)F * hop; t++) {
        lo = env[t + h->pad] < lo ? env[t + h->pad] : lo;
        h->env[t] = (float)env[t + h->pad];
    }
    free(w), free(env);
    if (!(lo >= 1e-3)) {
        sn_vocos_head_free(h);
        return sn_fail(SONO_E_UNSUPPORTED, "vocos n_fft %d with hop %d: the window envelope falls to %g (< 1e-3)",
                       N, hop, lo);
    }
    size_t Fp = (size_t)F + K - 1, dF = (size_t)dim * F;
    size_t fwd = (size_t)D * Fp + sn_conv1d_scratch_floats(D, K, F) + (size_t)N * F + Lf;
    size_t bwd = Lf + (size_t)N * F + (size_t)(N + 2) * F + 6 * dF + (size_t)inter * F + 2 * (size_t)D * Fp +
                 2 * (size_t)F + sn_conv1d_backward_scratch_floats(D, dim, (int)Fp, K, 1, 1);
    h->scratch_floats = SONO_MAX(fwd, bwd);
    return 0;
}

void sn_vocos_head_free(vocos_head *h) {
    if (!h) return;
    free(h->blk);
    free(h->basis);
    free(h->env);
    h->blk = NULL; h->basis = NULL; h->env = NULL;
}

/* ---- layers: x, y [C][F] ---- */

/* C [M][F] = op(A) [M][K] B [K][F] + beta C, A stored [M][K] (transA 0) or
 * [K][M] (transA 1): sgemm, or plain loops summing in double. */
static void mm(float *C, const float *A, int transA, const float *B, int M, int K, int F, float beta, int ref) {
    if (!ref) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, CblasNoTrans, M, F, K, 1.0f, A, transA ? M : K,
                    B, F, beta, C, F);
        return;
    }
    const size_t rs = transA ? 1 : (size_t)K, cs = transA ? (size_t)M : 1;
    for (int m = 0; m < M; m++)
        for (int f = 0; f < F; f++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[m * rs + k * cs] * B[(size_t)k * F + f];
            C[(size_t)m * F + f] = (float)(s + (beta != 0.0f ? beta * C[(size_t)m * F + f] : 0.0));
        }
}

/* Linear per frame: y [O][F] = W [O][I] x [I][F] + b. */
static void linear_fwd(float *y, const float *x, const float *W, const float *b, int IC, int OC, int F, int ref) {
    for (int o = 0; o < OC; o++)
        for (int f = 0; f < F; f++) y[(size_t)o * F + f] = b[o];
    mm(y, W, 0, x, OC, IC, F, 1.0f, ref);
}

/* dW += dy x^T, db += rows of dy, dx += W^T dy (dx may be NULL). */
static void linear_bwd(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W, int IC, int OC,
                       int F, int ref) {
    for (int o = 0; o < OC; o++) {
        double sb = 0;
        for (int f = 0; f < F; f++) sb += dy[(size_t)o * F + f];
        db[o] += (float)sb;
    }
    if (ref) {
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < IC; i++) {
                double s = 0;
                for (int f = 0; f < F; f++) s += (double)dy[(size_t)o * F + f] * x[(size_t)i * F + f];
                dW[(size_t)o * IC + i] += (float)s;
            }
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, IC, F, 1.0f, dy, F, x, F, 1.0f, dW, IC);
    }
    if (dx) mm(dx, W, 1, dy, IC, OC, F, 1.0f, ref);
}

/* LayerNorm over the C channels of each frame; st [2][F] receives mean and 1/std. */
static void ln_fwd(float *y, float *st, const float *x, const float *w, const float *b, int C, int F, int ref) {
    float *mu = st, *rs = st + F;
    if (ref) {
        for (int f = 0; f < F; f++) {
            double s = 0, s2 = 0;
            for (int c = 0; c < C; c++) s += x[(size_t)c * F + f];
            double m = s / C;
            for (int c = 0; c < C; c++) { double d = x[(size_t)c * F + f] - m; s2 += d * d; }
            mu[f] = (float)m;
            rs[f] = (float)(1.0 / sqrt(s2 / C + VOCOS_LN_EPS));
        }
    } else {
        for (int f = 0; f < F; f++) mu[f] = rs[f] = 0;
        for (int c = 0; c < C; c++)
            for (int f = 0; f < F; f++) mu[f] += x[(size_t)c * F + f];
        for (int f = 0; f < F; f++) mu[f] /= (float)C;
        for (int c = 0; c < C; c++)
            for (int f = 0; f < F; f++) { float d = x[(size_t)c * F + f] - mu[f]; rs[f] += d * d; }
        for (int f = 0; f < F; f++) rs[f] = 1.0f / sqrtf(rs[f] / (float)C + VOCOS_LN_EPS);
    }
    for (int c = 0; c < C; c++)
        for (int f = 0; f < F; f++) y[(size_t)c * F + f] = (x[(size_t)c * F + f] - mu[f]) * rs[f] * w[c] + b[c];
}

/* dx += rs (dxh - mean(dxh) - xh mean(dxh xh)), dxh = dy w; dw, db +=. tmp [2][F]. */
static void ln_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *st, const float *w,
                   int C, int F, float *tmp, int ref) {
    const float *mu = st, *rs = st + F;
    if (ref) {
        for (int c = 0; c < C; c++) {
            double sw = 0, sb = 0;
            for (int f = 0; f < F; f++) {
                double xh = ((double)x[(size_t)c * F + f] - mu[f]) * rs[f];
                sw += dy[(size_t)c * F + f] * xh;
                sb += dy[(size_t)c * F + f];
            }
            dw[c] += (float)sw;
            db[c] += (float)sb;
        }
        for (int f = 0; f < F; f++) {
            double m1 = 0, m2 = 0;
            for (int c = 0; c < C; c++) {
                double g = (double)dy[(size_t)c * F + f] * w[c], xh = ((double)x[(size_t)c * F + f] - mu[f]) * rs[f];
                m1 += g;
                m2 += g * xh;
            }
            m1 /= C, m2 /= C;
            for (int c = 0; c < C; c++) {
                double g = (double)dy[(size_t)c * F + f] * w[c], xh = ((double)x[(size_t)c * F + f] - mu[f]) * rs[f];
                dx[(size_t)c * F + f] += (float)(rs[f] * (g - m1 - xh * m2));
            }
        }
        return;
    }
    float *m1 = tmp, *m2 = tmp + F;
    for (int f = 0; f < F; f++) m1[f] = m2[f] = 0;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * F, *dyc = dy + (size_t)c * F;
        float sw = 0, sb = 0;
        for (int f = 0; f < F; f++) {
            float xh = (xc[f] - mu[f]) * rs[f], g = dyc[f] * w[c];
            sw += dyc[f] * xh;
            sb += dyc[f];
            m1[f] += g;
            m2[f] += g * xh;
        }
        dw[c] += sw;
        db[c] += sb;
    }
    for (int f = 0; f < F; f++) { m1[f] /= (float)C; m2[f] /= (float)C; }
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * F, *dyc = dy + (size_t)c * F;
        float *dxc = dx + (size_t)c * F;
        for (int f = 0; f < F; f++) {
            float xh = (xc[f] - mu[f]) * rs[f];
            dxc[f] += rs[f] * (dyc[f] * w[c] - m1[f] - xh * m2[f]);
        }
    }
}

/* Depthwise conv, kernel K, zero padding (K-1)/2: w [C][K], b [C]. */
static void dw_fwd(float *y, const float *x, const float *w, const float *b, int C, int F, int K, int ref) {
    const int p = (K - 1) / 2;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * F, *wc = w + (size_t)c * K;
        float *yc = y + (size_t)c * F;
        if (ref) {
            for (int t = 0; t < F; t++) {
                double s = b[c];
                for (int k = 0; k < K; k++) {
                    int j = t + k - p;
                    if (j >= 0 && j < F) s += (double)wc[k] * xc[j];
                }
                yc[t] = (float)s;
            }
            continue;
        }
        for (int t = 0; t < F; t++) yc[t] = b[c];
        for (int k = 0; k < K; k++) {
            int o = k - p, t0 = o < 0 ? -o : 0, t1 = o > 0 ? F - o : F;
            for (int t = t0; t < t1; t++) yc[t] += wc[k] * xc[t + o];
        }
    }
}

static void dw_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int C, int F,
                   int K, int ref) {
    const int p = (K - 1) / 2;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * F, *wc = w + (size_t)c * K, *dyc = dy + (size_t)c * F;
        float *dxc = dx + (size_t)c * F;
        double sb = 0;
        for (int t = 0; t < F; t++) sb += dyc[t];
        db[c] += (float)sb;
        for (int k = 0; k < K; k++) {
            int o = k - p, t0 = o < 0 ? -o : 0, t1 = o > 0 ? F - o : F;
            if (ref) {
                double s = 0;
                for (int t = t0; t < t1; t++) s += (double)dyc[t] * xc[t + o];
                dw[(size_t)c * K + k] += (float)s;
            } else {
                float s = 0;
                for (int t = t0; t < t1; t++) s += dyc[t] * xc[t + o];
                dw[(size_t)c * K + k] += s;
            }
            for (int t = t0; t < t1; t++) dxc[t + o] += wc[k] * dyc[t];
        }
    }
}

/* GELU, exact erf form */
static void gelu_fwd(float *g, const float *u, size_t n, int ref) {
    if (ref)
        for (size_t i = 0; i < n; i++) g[i] = (float)(0.5 * u[i] * (1.0 + erf(u[i] / sqrt(2.0))));
    else
        for (size_t i = 0; i < n; i++) g[i] = 0.5f * u[i] * (1.0f + erff(u[i] * 0.70710678f));
}

/* du = dg * (Phi(u) + u phi(u)) (written, not accumulated) */
static void gelu_bwd(float *du, const float *dg, const float *u, size_t n, int ref) {
    if (ref)
        for (size_t i = 0; i < n; i++) {
            double x = u[i];
            du[i] = (float)(dg[i] * (0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * VOCOS_PI)));
        }
    else
        for (size_t i = 0; i < n; i++) {
            float x = u[i];
            du[i] = dg[i] * (0.5f * (1.0f + erff(x * 0.70710678f)) + x * expf(-0.5f * x * x) * 0.39894228f);
        }
}

/* h [N+2][F] (log magnitude, phase) -> X [N+2][F] (real, imaginary) */
static void spec_fwd(const vocos_head *h, float *X, const float *hh, int ref) {
    const size_t nbF = (size_t)(h->N / 2 + 1) * h->F;
    for (size_t i = 0; i < nbF; i++) {
        if (ref) {
            double m = exp(fmin(hh[i], VOCOS_MAG_LOG_MAX)), p = hh[nbF + i];
            X[i] = (float)(m * cos(p));
            X[nbF + i] = (float)(m * sin(p));
        } else {
            float m = expf(fminf(hh[i], (float)VOCOS_MAG_LOG_MAX)), p = hh[nbF + i];
            X[i] = m * cosf(p);
            X[nbF + i] = m * sinf(p);
        }
    }
}

/* dX -> dh in place: d(log mag) = dRe Re + dIm Im (0 where clipped), dphase = dIm Re - dRe Im */
static void spec_bwd(const vocos_head *h, float *d, const float *X, const float *hh) {
    const size_t nbF = (size_t)(h->N / 2 + 1) * h->F;
    for (size_t i = 0; i < nbF; i++) {
        float dr = d[i], di = d[nbF + i], re = X[i], im = X[nbF + i];
        d[i] = hh[i] <= (float)VOCOS_MAG_LOG_MAX ? dr * re + di * im : 0.0f;
        d[nbF + i] = di * re - dr * im;
    }
}

void sn_vocos_istft(const vocos_head *h, float *y, const float *X, float *scr, int use_ref) {
    const int N = h->N, F = h->F, hop = h->hop, J = N + 2;
    float *fr = scr, *yf = fr + (size_t)N * F; /* frames [N][F], overlap-added [full_len] */
    mm(fr, h->basis, 0, X, N, J, F, 0.0f, use_ref);
    memset(yf, 0, full_len(h) * sizeof *yf);
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) yf[(size_t)f * hop + n] += fr[(size_t)n * F + f];
    for (size_t t = 0; t < (size_t)F * hop; t++) y[t] = yf[t + h->pad] / h->env[t];
}

/* dX [N+2][F] = basis^T dframes, dframes[n][f] = dy[f*hop + n - pad] / env */
static void istft_bwd(const vocos_head *h, float *dX, const float *dy, float *scr, int ref) {
    const int N = h->N, F = h->F, hop = h->hop, J = N + 2;
    float *df = scr, *dfr = df + full_len(h);
    memset(df, 0, full_len(h) * sizeof *df);
    for (size_t t = 0; t < (size_t)F * hop; t++) df[t + h->pad] = dy[t] / h->env[t];
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) dfr[(size_t)n * F + f] = df[(size_t)f * hop + n];
    mm(dX, h->basis, 1, dfr, J, N, F, 0.0f, ref);
}

/* ---- the head ---- */

static void pad_latents(const vocos_head *h, float *zp, const float *z) {
    const int F = h->F, p = (h->K - 1) / 2, Fp = F + h->K - 1;
    for (int d = 0; d < h->D; d++) {
        float *r = zp + (size_t)d * Fp;
        memset(r, 0, (size_t)Fp * sizeof *r);
        memcpy(r + p, z + (size_t)d * F, (size_t)F * sizeof *r);
    }
}

void sn_vocos_forward(const vocos_head *h, float *y, float *act, float *scr, const float *z, const float *params,
                      int use_ref) {
    const vocos_layout o = layout(h);
    const int D = h->D, dim = h->dim, inter = h->inter, K = h->K, F = h->F, ref = use_ref;
    const size_t dF = (size_t)dim * F;
    const float *P = params;
    float *zp = scr, *cs = zp + (size_t)D * (F + K - 1);
    pad_latents(h, zp, z);
    if (ref) sn_conv1d_forward_ref(act + o.e, zp, P + h->embed_w, P + h->embed_b, D, dim, F + K - 1, K, 1, 1, NULL, 1);
    else sn_conv1d_forward(act + o.e, zp, P + h->embed_w, P + h->embed_b, D, dim, F + K - 1, K, 1, 1, cs, 1);
    ln_fwd(act + o.x0, act + o.st0, act + o.e, P + h->norm_w, P + h->norm_b, dim, F, ref);
    for (int i = 0; i < h->L; i++) {
        const size_t *b = h->blk + (size_t)i * VB_N;
        float *B = act + o.blk0 + (size_t)i * o.blk_size;
        const float *x = act + o.x0 + (size_t)i * dF;
        float *xn = act + o.x0 + (size_t)(i + 1) * dF;
        dw_fwd(B + o.a, x, P + b[VB_DW_W], P + b[VB_DW_B], dim, F, K, ref);
        ln_fwd(B + o.n, B + o.st, B + o.a, P + b[VB_LN_W], P + b[VB_LN_B], dim, F, ref);
        linear_fwd(B + o.u, B + o.n, P + b[VB_PW1_W], P + b[VB_PW1_B], dim, inter, F, ref);
        gelu_fwd(B + o.g, B + o.u, (size_t)inter * F, ref);
        linear_fwd(B + o.v, B + o.g, P + b[VB_PW2_W], P + b[VB_PW2_B], inter, dim, F, ref);
        const float *gm = P + b[VB_GAMMA], *v = B + o.v;
        for (int c = 0; c < dim; c++)
            for (int f = 0; f < F; f++) xn[(size_t)c * F + f] = x[(size_t)c * F + f] + gm[c] * v[(size_t)c * F + f];
    }
    ln_fwd(act + o.xf, act + o.stf, act + o.x0 + (size_t)h->L * dF, P + h->fin_w, P + h->fin_b, dim, F, ref);
    linear_fwd(act + o.h, act + o.xf, P + h->out_w, P + h->out_b, dim, h->N + 2, F, ref);
    spec_fwd(h, act + o.X, act + o.h, ref);
    sn_vocos_istft(h, y, act + o.X, scr, ref);
}

void sn_vocos_backward(const vocos_head *h, float *dz, float *grads, const float *dy, const float *act, float *scr,
                       const float *z, const float *params, int use_ref) {
    const vocos_layout o = layout(h);
    const int D = h->D, dim = h->dim, inter = h->inter, K = h->K, F = h->F, N = h->N, ref = use_ref;
    const size_t dF = (size_t)dim * F, Fp = (size_t)F + K - 1;
    const float *P = params;
    float *G = grads;
    float *dX = scr + full_len(h) + (size_t)N * F; /* after istft_bwd's own scratch */
    float *dxf = dX + (size_t)(N + 2) * F, *dcur = dxf + dF, *dv = dcur + dF, *dn = dv + dF, *da = dn + dF;
    float *de = da + dF, *dg = de + dF, *tmp = dg + (size_t)inter * F, *zp = tmp + 2 * (size_t)F;
    float *dzp = zp + (size_t)D * Fp, *cs = dzp + (size_t)D * Fp;
    istft_bwd(h, dX, dy, scr, ref);
    spec_bwd(h, dX, act + o.X, act + o.h);
    memset(dxf, 0, dF * sizeof *dxf);
    linear_bwd(dxf, G + h->out_w, G + h->out_b, dX, act + o.xf, P + h->out_w, dim, N + 2, F, ref);
    memset(dcur, 0, dF * sizeof *dcur);
    ln_bwd(dcur, G + h->fin_w, G + h->fin_b, dxf, act + o.x0 + (size_t)h->L * dF, act + o.stf, P + h->fin_w, dim, F,
           tmp, ref);
    for (int i = h->L - 1; i >= 0; i--) { /* dcur: gradient of x_{i+1}, becomes that of x_i */
        const size_t *b = h->blk + (size_t)i * VB_N;
        const float *B = act + o.blk0 + (size_t)i * o.blk_size;
        const float *x = act + o.x0 + (size_t)i * dF, *gm = P + b[VB_GAMMA], *v = B + o.v;
        float *dgm = G + b[VB_GAMMA];
        for (int c = 0; c < dim; c++) {
            double s = 0;
            for (int f = 0; f < F; f++) {
                s += (double)dcur[(size_t)c * F + f] * v[(size_t)c * F + f];
                dv[(size_t)c * F + f] = gm[c] * dcur[(size_t)c * F + f];
            }
            dgm[c] += (float)s;
        }
        memset(dg, 0, (size_t)inter * F * sizeof *dg);
        linear_bwd(dg, G + b[VB_PW2_W], G + b[VB_PW2_B], dv, B + o.g, P + b[VB_PW2_W], inter, dim, F, ref);
        gelu_bwd(dg, dg, B + o.u, (size_t)inter * F, ref);
        memset(dn, 0, dF * sizeof *dn);
        linear_bwd(dn, G + b[VB_PW1_W], G + b[VB_PW1_B], dg, B + o.n, P + b[VB_PW1_W], dim, inter, F, ref);
        memset(da, 0, dF * sizeof *da);
        ln_bwd(da, G + b[VB_LN_W], G + b[VB_LN_B], dn, B + o.a, B + o.st, P + b[VB_LN_W], dim, F, tmp, ref);
        dw_bwd(dcur, G + b[VB_DW_W], G + b[VB_DW_B], da, x, P + b[VB_DW_W], dim, F, K, ref);
    }
    memset(de, 0, dF * sizeof *de);
    ln_bwd(de, G + h->norm_w, G + h->norm_b, dcur, act + o.e, act + o.st0, P + h->norm_w, dim, F, tmp, ref);
    pad_latents(h, zp, z);
    memset(dzp, 0, (size_t)D * Fp * sizeof *dzp);
    if (ref)
        sn_conv1d_backward_ref(dz ? dzp : NULL, G + h->embed_w, G + h->embed_b, de, zp, P + h->embed_w, D, dim, (int)Fp,
                               K, 1, 1, NULL, 1);
    else
        sn_conv1d_backward(dz ? dzp : NULL, G + h->embed_w, G + h->embed_b, de, zp, P + h->embed_w, D, dim, (int)Fp, K,
                           1, 1, cs, 1);
    if (dz)
        for (int d = 0; d < D; d++)
            for (int f = 0; f < F; f++) dz[(size_t)d * F + f] += dzp[(size_t)d * Fp + f + (K - 1) / 2];
}

/* ---- initialisation ---- */

/* N(0, std^2) cut at +-2 std (resampled), Box-Muller on splitmix64 */
static void fill_trunc_normal(float *p, size_t n, double std, uint64_t *st) {
    for (size_t i = 0; i < n; i++) {
        double v;
        do {
            double u1 = sn_unif01(st), u2 = sn_unif01(st);
            v = sqrt(-2.0 * log(1.0 - u1)) * cos(2 * VOCOS_PI * u2);
        } while (v < -2.0 || v > 2.0);
        p[i] = (float)(v * std);
    }
}

static void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

void sn_vocos_init_params(const vocos_head *h, float *params, uint64_t *st) {
    const size_t dim = (size_t)h->dim, inter = (size_t)h->inter;
    float *P = params;
    fill_trunc_normal(P + h->embed_w, dim * h->D * h->K, 0.02, st);
    fill(P + h->embed_b, dim, 0.0f);
    fill(P + h->norm_w, dim, 1.0f);
    fill(P + h->norm_b, dim, 0.0f);
    for (int i = 0; i < h->L; i++) {
        const size_t *b = h->blk + (size_t)i * VB_N;
        fill_trunc_normal(P + b[VB_DW_W], dim * h->K, 0.02, st);
        fill(P + b[VB_DW_B], dim, 0.0f);
        fill(P + b[VB_LN_W], dim, 1.0f);
        fill(P + b[VB_LN_B], dim, 0.0f);
        fill_trunc_normal(P + b[VB_PW1_W], inter * dim, 0.02, st);
        fill(P + b[VB_PW1_B], inter, 0.0f);
        fill_trunc_normal(P + b[VB_PW2_W], dim * inter, 0.02, st);
        fill(P + b[VB_PW2_B], dim, 0.0f);
        fill(P + b[VB_GAMMA], dim, (float)(1.0 / h->L));
    }
    fill(P + h->fin_w, dim, 1.0f);
    fill(P + h->fin_b, dim, 0.0f);
    fill_trunc_normal(P + h->out_w, (size_t)(h->N + 2) * dim, 0.02, st);
    fill(P + h->out_b, (size_t)h->N + 2, 0.0f);
}
