/* The token LM's core: a decoder-only, pre-norm transformer over mixed text
 * and audio positions, written the way llm.c writes GPT-2 (one flat block of
 * parameters with a table of named tensors, activations in one arena sized
 * from (B, T), each layer a forward and a backward, the backward in reverse).
 *
 *   sn_lm_config cfg = sn_lm_config_default();   // then set V_text, K, codebook_size, sizes
 *   sn_lm *m; int rc = sn_lm_new(&cfg, &m);       // parameters zeroed
 *   sn_lm_init_params(m, 1234);                    // or fill m->params from a file
 *   sn_lm_acts *a; rc = sn_lm_acts_new(m, B, T, 1, &a);   // 1: keep what backward needs
 *   float *grads = calloc(m->n_params, sizeof(float));
 *   rc = sn_lm_forward(m, a, text, audio, targets, n_threads, &loss);
 *   rc = sn_lm_backward(m, a, grads, 1.0f, n_threads);    // grads += d loss / d params
 *   ... sn_lm_acts_free(a); sn_lm_free(m);
 *
 * A position is either a token (text or special id in [0, V_text), embedded
 * by the token table) or an audio frame of K codebook ids, each in
 * [0, codebook_size + 2) (codebook_size = <empty>, codebook_size + 1 =
 * <end-audio>, see lm_delay.h), embedded as the sum of K per-codebook
 * embeddings. Rows are b * T + t:
 *   text  [B][T]     token id, or -1 where the position is an audio frame
 *   audio [B][T][K]  codebook ids, read only where text is -1
 * The output is K heads at every position: logits [B][T][K][V_audio] with
 * V_audio = codebook_size + 2. targets [B][T][K] hold the class to predict
 * at each (position, codebook), or -1 where the pair is masked out; the loss
 * is the mean cross-entropy over the pairs that are not masked.
 *
 * Layer (pre-norm, no biases, as MusicGen and LLaMA):
 *   x = x + proj(attn(rope(qkv(rmsnorm(x)))));  x = x + proj2(gelu_tanh(fc(rmsnorm(x))))
 * RMSNorm rather than LayerNorm: one statistic instead of two, no bias, a
 * shorter backward, and it is what rotary-position models (LLaMA) pair with;
 * nothing at this size says it trains worse.
 *
 * Threads: n_threads is for our own OpenMP loops, the matmuls included: they
 * run as sgemm calls over blocks fixed by the shapes (sn_lm_gemm). With
 * OpenBLAS at one thread (sn_kern_set_threads(1), the caller's setting),
 * every result is the same bits for any n_threads (reductions run in a
 * fixed order); with more OpenBLAS threads the results are as correct but
 * their last bits follow OpenBLAS's own split. A model is
 * read-only during forward/step and may be shared between threads, each with
 * its own sn_lm_acts / sn_lm_cache. */
#ifndef SONO_LM_MODEL_H
#define SONO_LM_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "params.h"

enum { SN_LM_POS_ROPE = 0, SN_LM_POS_LEARNED = 1 };

typedef struct {
    int V_text;        /* token ids [0, V_text); 0: no token table (audio only). Default 0 */
    int K;             /* codebooks per audio frame, 1..32. Default 4 */
    int codebook_size; /* codes per codebook; each head has codebook_size + 2 classes. Default 1024 */
    int C;             /* residual width, a multiple of n_head. Default 512 */
    int n_layer;       /* default 8 */
    int n_head;        /* default 8; head size C / n_head must be even (rotary pairs) */
    int T_max;         /* context length in positions. Default 1024 */
    int pos;           /* SN_LM_POS_ROPE (default) or SN_LM_POS_LEARNED (a [T_max][C] table) */
    float rope_theta;  /* rotary base. Default 10000 */
    float norm_eps;    /* RMSNorm epsilon. Default 1e-5 */
} sn_lm_config;

sn_lm_config sn_lm_config_default(void);
/* 0, or SONO_E_ARG with a detail naming the bad field. */
int sn_lm_config_check(const sn_lm_config *c);
static inline int sn_lm_v_audio(const sn_lm_config *c) { return c->codebook_size + 2; }

/* Pointers into a parameter-shaped buffer (the parameters or a gradient). */
typedef struct {
    float *ln1_w;       /* [C] */
    float *qkv_w;       /* [3C][C] rows: q (heads in order), k, v */
    float *attn_proj_w; /* [C][C] */
    float *ln2_w;       /* [C] */
    float *fc_w;        /* [4C][C] */
    float *mlp_proj_w;  /* [C][4C] */
} sn_lm_layer_w;

typedef struct {
    float *tok_emb;     /* [V_text][C], NULL when V_text == 0 */
    float *audio_emb;   /* [K][V_audio][C] */
    float *pos_emb;     /* [T_max][C], NULL with rotary positions */
    sn_lm_layer_w *layer; /* [n_layer] */
    float *lnf_w;       /* [C] */
    float *head_w;      /* [K][V_audio][C]: logits[k] = lnf(x) . head_w[k]^T */
} sn_lm_weights;

typedef struct sn_lm {
    sn_lm_config cfg;
    sn_param_table table; /* names, shapes and offsets (PyTorch-style names) */
    float *params;        /* [n_params], one block */
    size_t n_params;
    sn_lm_weights w;      /* points into params */
    float *rope_cos, *rope_sin; /* [T_max][head_size / 2] */
    int ref_kernels;      /* 1: plain reference kernels (tests; the default with -Dref_kernels=true); 0: fast */
} sn_lm;

/* A model with zeroed parameters; 0 or SONO_E_ARG / SONO_E_NOMEM. */
int sn_lm_new(const sn_lm_config *cfg, sn_lm **out);
void sn_lm_free(sn_lm *m);
/* Point w (whose layer array has n_layer entries) into a buffer laid out
 * as m->params (e.g. a gradient of m->n_params floats). */
void sn_lm_point(const sn_lm *m, float *base, sn_lm_weights *w, sn_lm_layer_w *layers);
/* GPT-2's initialisation from a seed: matrices and embeddings N(0, 0.02),
 * the two residual projections N(0, 0.02 / sqrt(2 n_layer)), norms 1. */
void sn_lm_init_params(sn_lm *m, uint64_t seed);

/* FLOPs of one forward over B sequences of T positions (matmuls 2 per
 * multiply-add, causal attention counted on the half it computes);
 * a training step (forward + backward) is 3 times this. */
double sn_lm_forward_flops(const sn_lm_config *c, int B, int T);

/* ---- activations ---- */

typedef struct {
    float *ln1, *ln1_rstd;  /* [BT][C], [BT] */
    float *qkv;             /* [BT][3C], q and k after rotation */
    float *att;             /* [B][n_head][T][T] softmax probabilities (0 above the diagonal) */
    float *atty;            /* [BT][C] attention output, heads concatenated */
    float *res1;            /* [BT][C] residual after attention */
    float *ln2, *ln2_rstd;  /* [BT][C], [BT] */
    float *fch, *fch_gelu;  /* [BT][4C] */
    float *res2;            /* [BT][C] residual after the MLP: the layer's output */
} sn_lm_layer_acts;

typedef struct sn_lm_acts {
    int B, T, train;
    float *block;           /* the arena */
    size_t n_floats;
    int32_t *text, *audio, *targets; /* copies of the last forward's inputs */
    int has_targets;
    float *encoded;         /* [BT][C] embeddings */
    sn_lm_layer_acts *layer;/* [n_layer]; without train all alias one set */
    float *lnf, *lnf_rstd;  /* [BT][C], [BT] */
    float *logits;          /* [BT][K][V_audio] */
    float *lse;             /* [BT][K] log-sum-exp of each head's logits */
    int n_valid;            /* unmasked (position, codebook) pairs */
    float loss;
    /* backward scratch (train only), reused by every layer */
    float *dres, *dln, *dqkv, *datt, *datty, *dfch, *dfch_gelu, *dlogits;
    sn_lm_layer_w *grad_layer; /* [n_layer] pointers into the caller's gradient */
} sn_lm_acts;

/* Arena for B sequences of T <= T_max positions. train = 1 keeps every
 * layer's activations and the backward scratch. 0 or SONO_E_ARG /
 * SONO_E_NOMEM / SONO_E_LIMIT. */
int sn_lm_acts_new(const sn_lm *m, int B, int T, int train, sn_lm_acts **out);
void sn_lm_acts_free(sn_lm_acts *a);

/* Forward over a->B x a->T positions (layouts in the file comment).
 * targets may be NULL (no loss; *loss, if given, set to 0). Ids out of
 * range fail with SONO_E_RANGE. Logits land in a->logits. */
int sn_lm_forward(const sn_lm *m, sn_lm_acts *a, const int32_t *text, const int32_t *audio,
                  const int32_t *targets, int n_threads, float *loss);

/* Backward of the last forward (which had targets; a->train set):
 * grads [n_params] += grad_scale * d loss / d params. grad_scale lets a
 * caller average micro-batches (1 / n_micro). Training code (lm_backward.c). */
int sn_lm_backward(const sn_lm *m, sn_lm_acts *a, float *grads, float grad_scale, int n_threads);

/* Check ids: text [N] in -1..V_text-1, audio [N][K] in 0..V_audio-1 where text
 * is -1. 0 or SONO_E_RANGE. */
int sn_lm_check_inputs(const sn_lm_config *c, const int32_t *text, const int32_t *audio, size_t N);

/* Copy every parameter from a tensor set by name (prefix + table name),
 * checking element counts. 0, SONO_E_NOT_FOUND or SONO_E_FORMAT. */
struct sono_tensors;
int sn_lm_params_from_tensors(sn_lm *m, const struct sono_tensors *ts, const char *prefix);

#endif
