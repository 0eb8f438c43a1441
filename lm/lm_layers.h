/* The LM's layers, llm.c style: output first, sizes last, a shape comment
 * on every tensor. Rows are N = B * T positions (row b * T + t). Each fast
 * kernel has a plain reference twin (`_ref`, same signature): plain loops,
 * sums in double, no threads. Forwards in lm_layers.c (inference library),
 * backwards in lm_backward.c (training library); every backward accumulates
 * (+=) into its outputs. All results are independent of n_threads. */
#ifndef SONO_LM_LAYERS_H
#define SONO_LM_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* out [N][C] = in * rstd * w, rstd [N] = 1 / sqrt(mean(in^2) + eps); w [C]. */
void sn_lm_rmsnorm_forward(float *out, float *rstd, const float *in, const float *w, int N, int C, float eps,
                           int n_threads);
void sn_lm_rmsnorm_forward_ref(float *out, float *rstd, const float *in, const float *w, int N, int C, float eps,
                               int n_threads);
/* din [N][C] +=, dw [C] += from dout [N][C], the forward's in and rstd. */
void sn_lm_rmsnorm_backward(float *din, float *dw, const float *dout, const float *in, const float *rstd,
                            const float *w, int N, int C, int n_threads);

/* Cm [M][N] = A . B + beta Cm, row-major, A [M][K] (or [K][M] when trans_a),
 * B [K][N] (or [N][K] when trans_b): sgemm calls over fixed blocks on
 * n_threads. Same bits for any n_threads while OpenBLAS runs one thread.
 * Up to SN_LM_GEMV_ROWS rows against a [N][K] weight (a generation step,
 * beta 0 or 1) it is sn_lm_gemv (lm_gemv.h: each weight read once for all
 * rows, one fixed order per element), or at SONO_CPU_PLAIN one sgemv per
 * row over blocks fixed by N and K: each row's result is then also the
 * same bits for any M, so a batch of generated outputs gives each output
 * what it would get alone. */
#define SN_LM_GEMV_ROWS 16
void sn_lm_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *Cm, int ldc, int n_threads);

/* out [N][OC] = (accumulate ? out : 0) + in [N][IC] . w [OC][IC]^T (OpenBLAS sgemm). */
void sn_lm_matmul_forward(float *out, const float *in, const float *w, int N, int IC, int OC, int accumulate,
                          int n_threads);
void sn_lm_matmul_forward_ref(float *out, const float *in, const float *w, int N, int IC, int OC, int accumulate,
                              int n_threads);
/* din [N][IC] += dout . w;  dw [OC][IC] += dout^T . in. */
void sn_lm_matmul_backward(float *din, float *dw, const float *dout, const float *in, const float *w,
                           int N, int IC, int OC, int n_threads);
void sn_lm_matmul_backward_ref(float *din, float *dw, const float *dout, const float *in, const float *w,
                               int N, int IC, int OC, int n_threads);

/* Rotary positions on the q and k parts of qkv [B][T][3C] in place: within
 * each head, pair (2i, 2i+1) of position pos0 + t turns by angle
 * (pos0 + t) * theta^(-2i / hs); cos, sin [T_max][hs / 2]. */
void sn_lm_rope_forward(float *qkv, const float *cos_t, const float *sin_t, int B, int T, int C, int NH, int pos0);
/* The turn itself, by sign * angle (1: forward, -1: the inverse). */
void sn_lm_rope_turn(float *qkv, const float *cos_t, const float *sin_t, int B, int T, int C, int NH, int pos0,
                     float sign);
/* The inverse turn on dqkv [B][T][3C] in place (q and k parts); training
 * code (lm_backward.c), so that libsonotok holds no backward. */
void sn_lm_rope_backward(float *dqkv, const float *cos_t, const float *sin_t, int B, int T, int C, int NH, int pos0);

/* Attention per (batch, head): the fast forward and backward are sgemm
 * calls on the full T x T scores (the upper triangle masked); the reference
 * twins are plain loops over the causal half. */

/* One query row of causal attention: att [n_keys] = softmax(q . k_j * scale),
 * out [hs] = sum_j att_j v_j; keys j at kbase + j * stride (values likewise).
 * The cached step's attention; the scores go through sn_lm_gemv (its
 * fixed order) above SONO_CPU_PLAIN, a plain serial sum at PLAIN. */
void sn_lm_attend_row(float *out, float *att, const float *q, const float *kbase, const float *vbase,
                      size_t stride, int n_keys, int hs, float scale);
/* out [B][T][C], att [B][NH][T][T] (zeros above the diagonal) from qkv [B][T][3C]. */
void sn_lm_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int n_threads);
void sn_lm_attention_forward_ref(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
                                 int n_threads);
/* dqkv [B][T][3C] += from dout [B][T][C]; datt [B][NH][T][T] scratch. */
void sn_lm_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att,
                              int B, int T, int C, int NH, int n_threads);
void sn_lm_attention_backward_ref(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att,
                                  int B, int T, int C, int NH, int n_threads);

/* GELU, tanh form (GPT-2): out [n] from in [n]. */
void sn_lm_gelu_forward(float *out, const float *in, size_t n, int n_threads);
/* din [n] += dout * gelu'(in). */
void sn_lm_gelu_backward(float *din, const float *in, const float *dout, size_t n, int n_threads);

/* out [B][T][C]: token table row for text ids >= 0, else the sum of the K
 * audio rows; plus pos_emb [pos0 + t] when pos_emb is not NULL.
 * tok_emb [V_text][C], audio_emb [K][V_audio][C]. Ids are checked by the caller. */
void sn_lm_embed_forward(float *out, const int32_t *text, const int32_t *audio, const float *tok_emb,
                         const float *audio_emb, const float *pos_emb, int B, int T, int C, int K, int V_audio,
                         int pos0);
void sn_lm_embed_backward(float *dtok, float *daudio, float *dpos, const float *dout, const int32_t *text,
                          const int32_t *audio, int B, int T, int C, int K, int V_audio);

/* Mean cross-entropy of logits [N][K][V] against targets [N][K] (-1:
 * masked). lse [N][K] keeps each row's log-sum-exp; *n_valid the unmasked
 * count. Returns the loss (0 when nothing is unmasked). */
float sn_lm_crossentropy_forward(float *lse, int *n_valid, const float *logits, const int32_t *targets, int N,
                                 int K, int V, int n_threads);
/* dlogits [N][K][V] = scale * (softmax - onehot) / n_valid, 0 on masked rows (written, not accumulated). */
void sn_lm_crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int32_t *targets,
                                 int n_valid, float scale, int N, int K, int V, int n_threads);

#endif
