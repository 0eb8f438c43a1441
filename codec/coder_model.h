/* Learned coder models (token-file coder 3): a small network that predicts
 * each code from its context, run in integer arithmetic so that every build,
 * ISA and thread count computes the same frequency table, and the range
 * coder of common/rangecoder.h driven by those tables. The file format and
 * the stream are specified in codec/FORMATS.md ("Coder models"); the
 * training side (float model, quantisation) is codec/train/coder_train.c.
 * Internal; the public face is sonotok/tokens.h (sono_coder_*).
 *
 *   sono_coder *m = sono_coder_load("models/sonotok-24k.coder", &err);
 *   sn_cm_encode(m, codes, n_q, n_frames, n_threads, level, &payload, &n);   // level: sono_cpu_level()
 *   sn_cm_decode(m, payload, n, n_q, n_frames, level, codes_out);
 *
 * The model, per codebook q < K of V codes, for frame t:
 *   z   = b1[q] + sum over k < q of (U[k] past_k(t) + C[k] e_k(x[k][t])) + U[q] past_q(t)   (H, int32)
 *   h   = clamp(max(z, 0) >> s1, 0, 32767)                                  (H, int16)
 *   g   = clamp(max(W2[q] h + b2[q], 0) >> s2, 0, 32767)                    (G, int16)
 *   y   = Wo[q] g + bo[q]                                                   (V, int32 logits)
 * with e_k(c) the int16 embedding row of code c of codebook k (row V for a
 * frame before the first) and past_k(t) = [e_k(x[k][t-1]), ..., e_k(x[k][t-P])]
 * (P*D). Only coarser codebooks and the code's own past
 * enter, so a code's probabilities do not depend on how many codebooks the
 * file holds, and a whole codebook can be coded before the next. Every sum
 * is taken modulo 2^32 (int16 x int16 products added as uint32), which is
 * associative: the SIMD kernels' summation order cannot change a bit. The
 * logits become frequencies (total 2^16, each >= 1) through an integer exp
 * table (sn_cm_freqs). */
#ifndef SONO_CODER_MODEL_H
#define SONO_CODER_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/tokens.h"

#define SN_CM_MAGIC "SNCM"
#define SN_CM_MAJOR 1
#define SN_CM_MINOR 0
#define SN_CM_HEADER 128           /* fixed header of version 1.0; tensors follow */
#define SN_CM_TOTAL_BITS 16        /* frequencies sum to 2^16 */
#define SN_CM_BLOCK 256            /* frames per block of the coding order */
#define SN_CM_V_MIN 16
#define SN_CM_V_MAX 16384
#define SN_CM_K_MAX 64
#define SN_CM_P_MAX 16
#define SN_CM_DIM_MAX 1024         /* D, H, G: multiples of 16, 16..1024 */
#define SN_CM_EXP_STEPS 128        /* the exp table's steps per nat */

/* Sizes of a model. */
typedef struct {
    int V, K, P, D, H, G;
    int s1, s2;        /* requantisation shifts of the two hidden layers */
    int logit_shift;   /* logits >> logit_shift are in 1/128 nat */
} sn_cm_dims;

struct sono_coder {
    sn_cm_dims d;
    char codec_name[SONO_MODEL_NAME_MAX];
    uint8_t codec_hash[16];
    uint8_t hash[16];       /* XXH3-128 of the file's bytes */
    const int16_t *emb;     /* [K][V+1][D] */
    const int16_t *U;       /* [K][H][P][D]: row h of codebook k over the P past embeddings, lag 1 first */
    const int16_t *C;       /* [K][H][D] */
    const int32_t *b1;      /* [K][H] */
    const int16_t *W2;      /* [K][G][H] */
    const int32_t *b2;      /* [K][G] */
    const int16_t *Wo;      /* [K][V][G] */
    const int32_t *bo;      /* [K][V] */
    void *block;            /* the one allocation the tensors point into */
};

/* Bytes of a model file with these sizes (0 when a size is out of range). */
size_t sn_cm_file_bytes(const sn_cm_dims *d);

/* Check sizes against the format's limits: 0 or SONO_E_FORMAT / SONO_E_LIMIT
 * with a detail line. */
int sn_cm_check_dims(const sn_cm_dims *d);

/* The integer tensors of a model to write, in file order. */
typedef struct {
    const int16_t *emb, *U, *C, *W2, *Wo;
    const int32_t *b1, *b2, *bo;
} sn_cm_tensors;

/* Serialise a model (codec name at most 63 bytes): *out malloc'd. 0 or a
 * negative error. */
int sn_cm_serialize(const sn_cm_dims *d, const char *codec_name, const uint8_t codec_hash[16], const sn_cm_tensors *w,
                    uint8_t **out, size_t *n_out);

/* The model coder's payload for codes [n_q][n_frames] (every code < V,
 * n_q <= K): a range-coder stream, blocks of SN_CM_BLOCK frames, each
 * codebook of a block in turn. Predictions run on n_threads (the stream
 * does not depend on it) with the kernels of `level` (sono_cpu_level
 * values; nor does it depend on that). *out malloc'd. */
int sn_cm_encode(const sono_coder *m, const int32_t *codes, int n_q, int64_t n_frames, int n_threads, int level,
                 uint8_t **out, size_t *n_out);
/* Decode such a payload into codes [n_q][n_frames]; SONO_E_FORMAT when it
 * is not exactly what the encoder writes for the codes it decodes to. */
int sn_cm_decode(const sono_coder *m, const uint8_t *in, size_t n_in, int n_q, int64_t n_frames, int level,
                 int32_t *codes);

/* Ideal code length in bits of codes [n_q][n_frames] under the model's
 * integer frequencies (what sn_cm_encode's payload approaches), per
 * codebook in bits_q [n_q] (may be NULL). */
double sn_cm_code_length(const sono_coder *m, const int32_t *codes, int n_q, int64_t n_frames, int level,
                         double *bits_q);

/* Kernels, exposed for the tests: out[r] = (acc ? out[r] : 0) + (bias ? bias[r] : 0)
 * + W[r] . x for r < rows, x and each W row of n int16 (n a multiple of 16),
 * all modulo 2^32; and the frequency table (sum 2^16, each >= 1) of V logits. */
void sn_cm_matvec(uint32_t *out, const int16_t *W, const int16_t *x, const int32_t *bias, int rows, int n, int acc,
                  int level);
void sn_cm_freqs(uint32_t *freq, const uint32_t *logits, int V, int logit_shift);

#endif
