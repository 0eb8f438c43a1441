/* The LM's forward layers (see lm_layers.h): fast kernels (OpenBLAS sgemm,
 * OpenMP over rows or batch x heads, each output written by one thread so
 * the bits do not depend on the thread count) and their plain twins. */
#include <math.h>
#include <string.h>
#include <cblas.h>
#include <omp.h>

#include "lm_gemv.h"
#include "lm_layers.h"
#include "sono_internal.h"
#include "sonotok/cpu.h"

int openblas_get_num_threads(void);

/* ---- RMSNorm ---- */

static void rmsnorm_row(float *out, float *rstd, const float *x, const float *w, int C, float eps) {
    double ss = 0;
    for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / C + eps));
    for (int i = 0; i < C; i++) out[i] = x[i] * r * w[i];
    *rstd = r;
}

void sn_lm_rmsnorm_forward(float *out, float *rstd, const float *in, const float *w, int N, int C, float eps,
                           int n_threads) {
#pragma omp parallel for num_threads(n_threads) if (n_threads > 1 && N > 16) schedule(static)
    for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * C, rstd + n, in + (size_t)n * C, w, C, eps);
}

void sn_lm_rmsnorm_forward_ref(float *out, float *rstd, const float *in, const float *w, int N, int C, float eps,
                               int n_threads) {
    (void)n_threads;
    for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * C, rstd + n, in + (size_t)n * C, w, C, eps);
}

/* ---- matmul ---- */

/* C = A . B + beta C (row-major, either operand transposed) as a set of
 * sgemm calls over fixed blocks of C's rows (or, for few rows, columns),
 * run on n_threads. The blocks depend on the shapes only, and each element
 * is reduced in one call, so the bits do not depend on n_threads when
 * OpenBLAS itself runs one thread (sn_kern_set_threads(1); with more, it
 * is one call, correct but its bits follow OpenBLAS's own split). */
void sn_lm_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *Cm, int ldc, int n_threads) {
    if (M <= 0 || N <= 0) return;
    enum { BLK = 128 };
    if (M <= SN_LM_GEMV_ROWS && !trans_a && trans_b && (beta == 0.0f || beta == 1.0f) &&
        sn_lm_gemv_level() > SONO_CPU_PLAIN) {
        /* a few rows against a [N][K] weight (the generation step): our
         * kernel reads each weight once for all M rows, in a fixed order
         * per element (lm_gemv.h) */
        sn_lm_gemv(Cm, ldc, A, lda, B, ldb, M, N, K, beta != 0.0f, n_threads);
        return;
    }
    if (M <= SN_LM_GEMV_ROWS && !trans_a && trans_b && openblas_get_num_threads() == 1) {
        /* the same without SIMD (SONO_CPU_PLAIN): one sgemv per row streams
         * the weights at ~1.4x sgemm's rate. A block of weight rows (at
         * most 512 KB) stays in cache while the M rows pass over it; its
         * size depends on N and K only, so each row gets the same bits for
         * any M (lm_layers.h) */
        int rows = SONO_MAX(32, SONO_MIN(2 * BLK, (1 << 17) / SONO_MAX(K, 1)));
        int nb = (N + rows - 1) / rows, par = n_threads > 1 && (double)M * N * K >= 4e6;
#pragma omp parallel for num_threads(n_threads) if (par) schedule(static)
        for (int i = 0; i < nb; i++) {
            int lo = i * rows, len = SONO_MIN(rows, N - lo);
            for (int m = 0; m < M; m++)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, len, K, 1.0f, B + (size_t)lo * ldb, ldb, A + (size_t)m * lda,
                            1, beta, Cm + (size_t)m * ldc + lo, 1);
        }
        return;
    }
    CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    int by_rows = M >= 2 * BLK, by_cols = !by_rows && N >= 2 * BLK;
    if ((!by_rows && !by_cols) || openblas_get_num_threads() > 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, Cm, ldc);
        return;
    }
    int nb = ((by_rows ? M : N) + BLK - 1) / BLK;
    /* below ~4 M multiply-adds a parallel region costs more than it saves */
    int par = n_threads > 1 && (double)M * N * K >= 4e6;
#pragma omp parallel for num_threads(n_threads) if (par) schedule(dynamic, 1)
    for (int i = 0; i < nb; i++) {
        int lo = i * BLK, len = SONO_MIN(BLK, (by_rows ? M : N) - lo);
        if (by_rows)
            cblas_sgemm(CblasRowMajor, ta, tb, len, N, K, 1.0f, trans_a ? A + lo : A + (size_t)lo * lda, lda, B, ldb,
                        beta, Cm + (size_t)lo * ldc, ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, M, len, K, 1.0f, A, lda, trans_b ? B + (size_t)lo * ldb : B + lo, ldb,
                        beta, Cm + lo, ldc);
    }
}

void sn_lm_matmul_forward(float *out, const float *in, const float *w, int N, int IC, int OC, int accumulate,
                          int n_threads) {
    sn_lm_gemm(0, 1, N, OC, IC, in, IC, w, IC, accumulate ? 1.0f : 0.0f, out, OC, n_threads);
}

void sn_lm_matmul_forward_ref(float *out, const float *in, const float *w, int N, int IC, int OC, int accumulate,
                              int n_threads) {
    (void)n_threads;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = 0;
            const float *x = in + (size_t)n * IC, *wr = w + (size_t)o * IC;
            for (int i = 0; i < IC; i++) s += (double)x[i] * wr[i];
            float *y = out + (size_t)n * OC + o;
            *y = accumulate ? *y + (float)s : (float)s;
        }
}

/* ---- rotary positions ---- */

void sn_lm_rope_turn(float *qkv, const float *cos_t, const float *sin_t, int B, int T, int C, int NH, int pos0,
                       float sign) {
    int hs = C / NH, half = hs / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *cs = cos_t + (size_t)(pos0 + t) * half, *sn = sin_t + (size_t)(pos0 + t) * half;
            float *row = qkv + ((size_t)b * T + t) * 3 * C;
            for (int part = 0; part < 2; part++) /* q, then k */
                for (int h = 0; h < NH; h++) {
                    float *x = row + (size_t)part * C + (size_t)h * hs;
                    for (int i = 0; i < half; i++) {
                        float c = cs[i], s = sign * sn[i], x0 = x[2 * i], x1 = x[2 * i + 1];
                        x[2 * i] = x0 * c - x1 * s;
                        x[2 * i + 1] = x0 * s + x1 * c;
                    }
                }
        }
}

void sn_lm_rope_forward(float *qkv, const float *cos_t, const float *sin_t, int B, int T, int C, int NH, int pos0) {
    sn_lm_rope_turn(qkv, cos_t, sin_t, B, T, C, NH, pos0, 1.0f);
}

/* ---- attention ---- */

void sn_lm_attend_row(float *out, float *att, const float *q, const float *kbase, const float *vbase,
                      size_t stride, int n_keys, int hs, float scale) {
    float mx = -INFINITY;
    if (sn_lm_gemv_level() > SONO_CPU_PLAIN && stride <= (size_t)INT32_MAX) {
        /* the scores as the step's matmul: keys are weight rows (lm_gemv.h's
         * fixed order, SIMD across the head's width instead of one serial
         * sum per key); one thread, as the caller splits the rows */
        sn_lm_gemv(att, n_keys, q, hs, kbase, (int)stride, 1, n_keys, hs, 0, 1);
        for (int j = 0; j < n_keys; j++) {
            att[j] *= scale;
            if (att[j] > mx) mx = att[j];
        }
    } else
        for (int j = 0; j < n_keys; j++) {
            const float *k = kbase + (size_t)j * stride;
            float s = 0;
            for (int i = 0; i < hs; i++) s += q[i] * k[i];
            s *= scale;
            att[j] = s;
            if (s > mx) mx = s;
        }
    float sum = 0;
    for (int j = 0; j < n_keys; j++) {
        att[j] = expf(att[j] - mx);
        sum += att[j];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < hs; i++) out[i] = 0;
    for (int j = 0; j < n_keys; j++) {
        const float *v = vbase + (size_t)j * stride;
        float a = att[j] * inv;
        att[j] = a;
        for (int i = 0; i < hs; i++) out[i] += a * v[i];
    }
}

/* Per (batch, head): scores = Q K^T (one sgemm over the full T x T, the upper
 * triangle then dropped), a causal softmax per row, out = att V (sgemm).
 * Each (b, h) is one set of calls on its own outputs; with OpenBLAS at one
 * thread they run in parallel over n_threads, else one after another. */
void sn_lm_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int n_threads) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    size_t C3 = (size_t)3 * C;
    int par = n_threads > 1 && openblas_get_num_threads() == 1;
#pragma omp parallel for num_threads(n_threads) if (par) schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + (size_t)b * T * C3 + (size_t)h * hs;
        float *a = att + (size_t)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, (int)C3, q + C, (int)C3, 0.0f, a, T);
        for (int t = 0; t < T; t++) {
            float *row = a + (size_t)t * T, mx = -INFINITY, sum = 0;
            for (int j = 0; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
            for (int j = 0; j <= t; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            float inv = 1.0f / sum;
            for (int j = 0; j <= t; j++) row[j] *= inv;
            memset(row + t + 1, 0, sizeof(float) * (size_t)(T - t - 1));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, q + 2 * (size_t)C, (int)C3, 0.0f,
                    out + (size_t)b * T * C + (size_t)h * hs, C);
    }
}

void sn_lm_attention_forward_ref(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
                                 int n_threads) {
    (void)n_threads;
    int hs = C / NH;
    double scale = 1.0 / sqrt((double)hs);
    size_t C3 = (size_t)3 * C;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *arow = att + (((size_t)b * NH + h) * T + t) * T;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    if (j > t) { arow[j] = 0; continue; }
                    const float *k = qkv + ((size_t)b * T + j) * C3 + C + (size_t)h * hs;
                    double s = 0;
                    for (int i = 0; i < hs; i++) s += (double)q[i] * k[i];
                    arow[j] = (float)(s * scale);
                    if (s * scale > mx) mx = s * scale;
                }
                for (int j = 0; j <= t; j++) sum += exp(arow[j] - mx);
                for (int j = 0; j <= t; j++) arow[j] = (float)(exp(arow[j] - mx) / sum);
                for (int i = 0; i < hs; i++) {
                    double s = 0;
                    for (int j = 0; j <= t; j++)
                        s += (double)arow[j] * qkv[((size_t)b * T + j) * C3 + 2 * (size_t)C + (size_t)h * hs + i];
                    out[((size_t)b * T + t) * C + (size_t)h * hs + i] = (float)s;
                }
            }
}

/* ---- GELU (tanh) ---- */

#define GELU_S 0.7978845608028654f /* sqrt(2 / pi) */

void sn_lm_gelu_forward(float *out, const float *in, size_t n, int n_threads) {
#pragma omp parallel for num_threads(n_threads) if (n_threads > 1 && n > 65536) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_S * (x + 0.044715f * x * x * x)));
    }
}

/* ---- embeddings ---- */

void sn_lm_embed_forward(float *out, const int32_t *text, const int32_t *audio, const float *tok_emb,
                         const float *audio_emb, const float *pos_emb, int B, int T, int C, int K, int V_audio,
                         int pos0) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)b * T + t;
            float *o = out + r * C;
            if (text[r] >= 0) {
                memcpy(o, tok_emb + (size_t)text[r] * C, sizeof(float) * (size_t)C);
            } else {
                memset(o, 0, sizeof(float) * (size_t)C);
                for (int k = 0; k < K; k++) {
                    const float *e = audio_emb + ((size_t)k * V_audio + audio[r * K + k]) * C;
                    for (int i = 0; i < C; i++) o[i] += e[i];
                }
            }
            if (pos_emb) {
                const float *p = pos_emb + (size_t)(pos0 + t) * C;
                for (int i = 0; i < C; i++) o[i] += p[i];
            }
        }
}

/* ---- cross-entropy ---- */

float sn_lm_crossentropy_forward(float *lse, int *n_valid, const float *logits, const int32_t *targets, int N,
                                 int K, int V, int n_threads) {
    size_t rows = (size_t)N * K;
#pragma omp parallel for num_threads(n_threads) if (n_threads > 1) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        if (targets[r] < 0) { lse[r] = 0; continue; }
        const float *l = logits + r * V;
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        double s = 0;
        for (int v = 0; v < V; v++) s += expf(l[v] - mx);
        lse[r] = mx + (float)log(s);
    }
    double sum = 0;
    int nv = 0;
    for (size_t r = 0; r < rows; r++)
        if (targets[r] >= 0) {
            sum += (double)lse[r] - logits[r * V + targets[r]];
            nv++;
        }
    *n_valid = nv;
    return nv ? (float)(sum / nv) : 0.0f;
}
