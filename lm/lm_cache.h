/* Incremental forward for generation: a KV cache per sequence and a step
 * that runs new positions against it, equal (within float rounding of the
 * matmuls) to the full forward's logits at those positions.
 *
 *   sn_lm_cache *kv; int rc = sn_lm_cache_new(m, 2, m->cfg.T_max, 16, &kv); // B = 2: cond + uncond
 *   rc = sn_lm_step(m, kv, text, audio, n_prompt, logits, n_threads);     // prefill the prompts
 *   loop: mix (sn_lm_cfg_mix), sample (lm_sample.h), then
 *         rc = sn_lm_step(m, kv, text1, audio1, 1, logits, n_threads);   // one position per sequence
 *   sn_lm_cache_free(kv);
 *
 * All B sequences advance together, one position per step each (the same
 * position index: CFG's uncond sequence keeps the cond one's length, with
 * its text replaced, as in training). The cache is per-use state: one per
 * thread; the model may be shared. No allocation happens in sn_lm_step.
 *
 * Sequences of different lengths (CFG: [task] [caption] [<sep>] beside
 * [task] [<uncond>] [<sep>]) share one step by left padding: after
 * sn_lm_cache_pad(c, b, n), sequence b's first n positions are padding,
 * never attended, and its positions (rotary angle, learned embedding)
 * count from the first position after them, so its logits equal those of
 * the unpadded sequence run alone (test lm-cache).
 *
 * Each sequence's logits depend on its own rows only, bit for bit, while B
 * is at most SN_LM_GEMV_ROWS (lm_layers.h; at SONO_CPU_PLAIN also while
 * OpenBLAS runs one thread), float32 or float16 weights alike: a
 * generator may batch any number of outputs (up to that bound) and get the
 * same bits as for one; sn_lm_cache_fork copies a prefilled prompt into
 * the rows of a larger cache. */
#ifndef SONO_LM_CACHE_H
#define SONO_LM_CACHE_H

#include <stdint.h>
#include "lm_model.h"

typedef struct sn_lm_cache {
    int B, T_cap, chunk;   /* sequences, positions the cache holds, positions per inner pass */
    int n_pos;             /* positions already in the cache */
    int *start;            /* [B] left padding of each sequence (sn_lm_cache_pad), 0 by default */
    float *k, *v;          /* [n_layer][B][T_cap][C] keys (rotated) and values */
    float *x, *ln, *rstd, *qkv, *atty, *fch, *att; /* scratch for B x chunk rows */
    float *last, *lnf, *lnf_rstd;                  /* [B][C], [B][C], [B] */
    int32_t *text, *audio;                         /* [B][chunk], [B][chunk][K] */
    float *block;
    const struct sn_lm_half *half; /* NULL (the default): float32 weights; else passes of at most
                                    * SN_LM_GEMV_ROWS rows read these float16 copies (not owned) */
} sn_lm_cache;

/* Float16 copies (lm_gemv.h) of the matrices a step reads: each layer's
 * four and the heads (embeddings and norms stay float32). Half the bytes a
 * generation step streams; the logits move by float16's rounding of the
 * weights (lm/README.md has the measurements). Set c->half to use them. */
typedef struct {
    const uint16_t *qkv, *attn_proj, *fc, *mlp_proj;
} sn_lm_half_layer;
typedef struct sn_lm_half {
    uint16_t *block;
    sn_lm_half_layer *layer; /* [n_layer] */
    const uint16_t *head;    /* [K][V_audio][C] */
} sn_lm_half;

/* Round m's matrices to float16 (nearest even) on n_threads. 0 or
 * SONO_E_NOMEM. The copies follow m's parameters at the time of the call. */
int sn_lm_half_new(const sn_lm *m, int n_threads, sn_lm_half **out);
void sn_lm_half_free(sn_lm_half *h);

/* A cache for B sequences of up to T_cap <= T_max positions, processing
 * at most `chunk` positions per inner pass (prefill splits longer inputs;
 * 16 is a good value). 0 or SONO_E_ARG / SONO_E_NOMEM. */
int sn_lm_cache_new(const sn_lm *m, int B, int T_cap, int chunk, sn_lm_cache **out);
void sn_lm_cache_free(sn_lm_cache *c);
/* Forget every position and padding (start new sequences). */
void sn_lm_cache_reset(sn_lm_cache *c);
/* Make the first n_pad positions of sequence b padding (before its first
 * step; the caller feeds any valid ids there, e.g. <pad>). 0 or SONO_E_ARG. */
int sn_lm_cache_pad(sn_lm_cache *c, int b, int n_pad);
/* dst's sequence b becomes a copy of src's sequence from[b] (keys, values,
 * padding), for every b < dst->B; dst then holds src->n_pos positions.
 * Same model, dst->T_cap >= src->n_pos. 0 or SONO_E_ARG. */
int sn_lm_cache_fork(sn_lm_cache *dst, const sn_lm_cache *src, const int *from, const sn_lm *m);

/* Append n >= 1 positions to each of the B sequences: text [B][n] (-1 for
 * audio frames), audio [B][n][K] (layouts as sn_lm_forward). Writes the
 * logits of the last new position of each sequence to logits [B][K][V_audio].
 * SONO_E_LIMIT when the cache would pass T_cap, SONO_E_RANGE for bad ids
 * (the cache is then unchanged). */
int sn_lm_step(const sn_lm *m, sn_lm_cache *c, const int32_t *text, const int32_t *audio, int n, float *logits,
               int n_threads);

#endif
