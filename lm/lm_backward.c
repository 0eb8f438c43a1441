/* The LM's backward: each layer's backward (lm_layers.h) and the model's,
 * calling them in exact reverse order of sn_lm_forward. Training code: it
 * lives in the training library (sonolmtrain). Every parameter gradient is
 * accumulated in a fixed order, so the bits do not depend on n_threads. */
#include <math.h>
#include <string.h>
#include <cblas.h>
#include <omp.h>

#include "lm_layers.h"
#include "lm_model.h"
#include "sono_internal.h"

int openblas_get_num_threads(void);

/* ---- layer backwards ---- */

void sn_lm_rope_backward(float *dqkv, const float *cos_t, const float *sin_t, int B, int T, int C, int NH,
                         int pos0) {
    sn_lm_rope_turn(dqkv, cos_t, sin_t, B, T, C, NH, pos0, -1.0f);
}

void sn_lm_rmsnorm_backward(float *din, float *dw, const float *dout, const float *in, const float *rstd,
                            const float *w, int N, int C, int n_threads) {
#pragma omp parallel for num_threads(n_threads) if (n_threads > 1 && N > 16) schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = din + (size_t)n * C;
        double dot = 0;
        for (int i = 0; i < C; i++) dot += (double)w[i] * dy[i] * x[i];
        float r = rstd[n], coef = (float)(dot / C) * r * r * r;
        for (int i = 0; i < C; i++) dx[i] += r * w[i] * dy[i] - x[i] * coef;
    }
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * C, *dy = dout + (size_t)n * C;
        float r = rstd[n];
        for (int i = 0; i < C; i++) dw[i] += dy[i] * x[i] * r;
    }
}

void sn_lm_matmul_backward(float *din, float *dw, const float *dout, const float *in, const float *w,
                           int N, int IC, int OC, int n_threads) {
    if (N <= 0) return;
    sn_lm_gemm(0, 0, N, IC, OC, dout, OC, w, IC, 1.0f, din, IC, n_threads);
    sn_lm_gemm(1, 0, OC, IC, N, dout, OC, in, IC, 1.0f, dw, IC, n_threads);
}

void sn_lm_matmul_backward_ref(float *din, float *dw, const float *dout, const float *in, const float *w,
                               int N, int IC, int OC, int n_threads) {
    (void)n_threads;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < IC; i++) {
            double s = 0;
            for (int o = 0; o < OC; o++) s += (double)dout[(size_t)n * OC + o] * w[(size_t)o * IC + i];
            din[(size_t)n * IC + i] += (float)s;
        }
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IC; i++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dout[(size_t)n * OC + o] * in[(size_t)n * IC + i];
            dw[(size_t)o * IC + i] += (float)s;
        }
}

/* Per (batch, head), as the forward: datt = dout V^T, dV += att^T dout,
 * the softmax backward in place, dQ += datt K scale, dK += datt^T Q scale. */
void sn_lm_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att,
                              int B, int T, int C, int NH, int n_threads) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    int par = n_threads > 1 && openblas_get_num_threads() == 1;
#pragma omp parallel for num_threads(n_threads) if (par) schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs, *a = att + (size_t)bh * T * T;
        const float *dy = dout + (size_t)b * T * C + (size_t)h * hs;
        float *dq = dqkv + (size_t)b * T * C3 + (size_t)h * hs, *da = datt + (size_t)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dy, C, q + 2 * C, C3, 0.0f, da, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, dy, C, 1.0f, dq + 2 * C, C3);
        for (int t = 0; t < T; t++) {
            const float *ar = a + (size_t)t * T;
            float *dr = da + (size_t)t * T, sum = 0;
            for (int j = 0; j <= t; j++) sum += ar[j] * dr[j];
            for (int j = 0; j <= t; j++) dr[j] = ar[j] * (dr[j] - sum) * scale;
            memset(dr + t + 1, 0, sizeof(float) * (size_t)(T - t - 1));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, da, T, q + C, C3, 1.0f, dq, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, da, T, q, C3, 1.0f, dq + C, C3);
    }
}

void sn_lm_attention_backward_ref(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att,
                                  int B, int T, int C, int NH, int n_threads) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    size_t C3 = (size_t)3 * C;
    (void)n_threads;
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hs;
        float *dbase = dqkv + (size_t)b * T * C3 + (size_t)h * hs;
        for (int t = 0; t < T; t++) {
            const float *arow = att + ((size_t)bh * T + t) * T;
            float *darow = datt + ((size_t)bh * T + t) * T;
            const float *dy = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
            const float *q = base + t * C3;
            float *dq = dbase + t * C3;
            for (int j = 0; j <= t; j++) {
                const float *v = base + j * C3 + 2 * (size_t)C;
                float *dv = dbase + j * C3 + 2 * (size_t)C;
                float s = 0;
                for (int i = 0; i < hs; i++) s += dy[i] * v[i];
                darow[j] = s;
                float a = arow[j];
                for (int i = 0; i < hs; i++) dv[i] += a * dy[i];
            }
            float sum = 0;
            for (int j = 0; j <= t; j++) sum += arow[j] * darow[j];
            for (int j = 0; j <= t; j++) {
                const float *k = base + j * C3 + C;
                float *dk = dbase + j * C3 + C;
                float dp = arow[j] * (darow[j] - sum) * scale;
                for (int i = 0; i < hs; i++) {
                    dq[i] += dp * k[i];
                    dk[i] += dp * q[i];
                }
            }
        }
    }
}

void sn_lm_gelu_backward(float *din, const float *in, const float *dout, size_t n, int n_threads) {
    const float s = 0.7978845608028654f;
#pragma omp parallel for num_threads(n_threads) if (n_threads > 1 && n > 65536) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = in[i], th = tanhf(s * (x + 0.044715f * x * x * x));
        float local = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * s * (1.0f + 3.0f * 0.044715f * x * x);
        din[i] += local * dout[i];
    }
}

void sn_lm_embed_backward(float *dtok, float *daudio, float *dpos, const float *dout, const int32_t *text,
                          const int32_t *audio, int B, int T, int C, int K, int V_audio) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)b * T + t;
            const float *d = dout + r * C;
            if (text[r] >= 0) {
                float *g = dtok + (size_t)text[r] * C;
                for (int i = 0; i < C; i++) g[i] += d[i];
            } else {
                for (int k = 0; k < K; k++) {
                    float *g = daudio + ((size_t)k * V_audio + audio[r * K + k]) * C;
                    for (int i = 0; i < C; i++) g[i] += d[i];
                }
            }
            if (dpos)
                for (int i = 0; i < C; i++) dpos[(size_t)t * C + i] += d[i];
        }
}

void sn_lm_crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                 int n_valid, float scale, int N, int K, int V, int n_threads) {
    size_t rows = (size_t)N * K;
    float g = n_valid ? scale / n_valid : 0.0f;
#pragma omp parallel for num_threads(n_threads) if (n_threads > 1) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *d = dlogits + r * V;
        if (targets[r] < 0) {
            memset(d, 0, sizeof(float) * (size_t)V);
            continue;
        }
        const float *l = logits + r * V;
        for (int v = 0; v < V; v++) d[v] = g * expf(l[v] - lse[r]);
        d[targets[r]] -= g;
    }
}

/* ---- the model's backward ---- */

int sn_lm_backward(const sn_lm *m, sn_lm_acts *a, float *grads, float grad_scale, int n_threads) {
    const sn_lm_config *c = &m->cfg;
    if (!a->train || !a->has_targets)
        return sn_fail(SONO_E_ARG, "lm: backward needs a training arena and a forward with targets");
    int B = a->B, T = a->T, C = c->C, NH = c->n_head, K = c->K, Va = sn_lm_v_audio(c), ref = m->ref_kernels;
    int N = B * T;
    size_t NC = (size_t)N * C;
    if (n_threads < 1) n_threads = 1;
    sn_lm_weights g;
    sn_lm_point(m, grads, &g, a->grad_layer);
    void (*mm_back)(float *, float *, const float *, const float *, const float *, int, int, int, int) =
        ref ? sn_lm_matmul_backward_ref : sn_lm_matmul_backward;

    sn_lm_crossentropy_backward(a->dlogits, a->logits, a->lse, a->targets, a->n_valid, grad_scale, N, K, Va,
                                n_threads); /* [N][K][Va] */
    memset(a->dln, 0, sizeof(float) * NC);
    mm_back(a->dln, g.head_w, a->dlogits, a->lnf, m->w.head_w, N, C, K * Va, n_threads); /* [N][C] */
    memset(a->dres, 0, sizeof(float) * NC);
    const float *last = a->layer[c->n_layer - 1].res2;
    sn_lm_rmsnorm_backward(a->dres, g.lnf_w, a->dln, last, a->lnf_rstd, m->w.lnf_w, N, C, n_threads); /* [N][C] */
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const sn_lm_layer_w *w = &m->w.layer[l];
        sn_lm_layer_w *gw = &g.layer[l];
        const sn_lm_layer_acts *la = &a->layer[l];
        const float *residual = l ? a->layer[l - 1].res2 : a->encoded;
        /* MLP block: dres is d res2; the branch adds into it, making it d res1 */
        memset(a->dfch_gelu, 0, sizeof(float) * NC * 4);
        mm_back(a->dfch_gelu, gw->mlp_proj_w, a->dres, la->fch_gelu, w->mlp_proj_w, N, 4 * C, C, n_threads);
        memset(a->dfch, 0, sizeof(float) * NC * 4);
        sn_lm_gelu_backward(a->dfch, la->fch, a->dfch_gelu, NC * 4, n_threads); /* [N][4C] */
        memset(a->dln, 0, sizeof(float) * NC);
        mm_back(a->dln, gw->fc_w, a->dfch, la->ln2, w->fc_w, N, C, 4 * C, n_threads); /* [N][C] */
        sn_lm_rmsnorm_backward(a->dres, gw->ln2_w, a->dln, la->res1, la->ln2_rstd, w->ln2_w, N, C, n_threads);
        /* attention block: dres is d res1; it becomes d residual */
        memset(a->datty, 0, sizeof(float) * NC);
        mm_back(a->datty, gw->attn_proj_w, a->dres, la->atty, w->attn_proj_w, N, C, C, n_threads); /* [N][C] */
        memset(a->dqkv, 0, sizeof(float) * NC * 3);
        (ref ? sn_lm_attention_backward_ref : sn_lm_attention_backward)(a->dqkv, a->datt, a->datty, la->qkv, la->att,
                                                                        B, T, C, NH, n_threads); /* [N][3C] */
        if (c->pos == SN_LM_POS_ROPE) sn_lm_rope_backward(a->dqkv, m->rope_cos, m->rope_sin, B, T, C, NH, 0);
        memset(a->dln, 0, sizeof(float) * NC);
        mm_back(a->dln, gw->qkv_w, a->dqkv, la->ln1, w->qkv_w, N, C, 3 * C, n_threads); /* [N][C] */
        sn_lm_rmsnorm_backward(a->dres, gw->ln1_w, a->dln, residual, la->ln1_rstd, w->ln1_w, N, C, n_threads);
    }
    sn_lm_embed_backward(g.tok_emb, g.audio_emb, g.pos_emb, a->dres, a->text, a->audio, B, T, C, K, Va);
    return 0;
}
