/* Training forward and backward of the Vocos decoder head (the definition in
 * notes/vocos_spec.md): latents z [D][F] -> embedding conv, LayerNorm,
 * L ConvNeXt blocks, LayerNorm, linear to N + 2 channels (log magnitude and
 * phase of N/2 + 1 bins), inverse STFT with "same" padding -> audio [F * hop].
 * One crop per call; the training graph (train_graph.c) calls it per crop.
 *
 *   vocos_head h;
 *   sn_vocos_head_init(&h, cfg, F, &param_table);   // adds the head's parameters
 *   ... float *act = ...[sn_vocos_act_floats(&h)], *scr = ...[h.scratch_floats] ...
 *   sn_vocos_forward(&h, y, act, scr, z, params, 0);
 *   sn_vocos_backward(&h, dz, grads, dy, act, scr, z, params, 0); // += into dz, grads
 *   sn_vocos_head_free(&h);
 *
 * Activations are channel-major [C][F] as everywhere in the codec, so each
 * per-frame linear is one sgemm W [O][I] x [I][F]. The inverse STFT is one
 * sgemm too: a windowed inverse real DFT matrix [N][N+2] (1/N folded in, the
 * imaginary parts of bins 0 and N/2 ignored) times the spectrum [N+2][F],
 * then overlap-add and division by the window envelope. common/fft.c is
 * radix 2 only and the default N (4 x 320) is not a power of two, hence the
 * matrix (O(N^2) per frame: ~1/4 of the head's flops at the default sizes).
 *
 * use_ref = 1 runs plain loops with sums in double (the _ref twins) instead of
 * sgemm and the float kernels. Nothing here allocates after init or keeps
 * state between calls: separate graphs may run on separate threads. */
#ifndef SONO_VOCOS_TRAIN_H
#define SONO_VOCOS_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "codec_internal.h"
#include "params.h"


/* Per ConvNeXt block, parameter offsets into the flat buffer, in table order. */
enum { VB_DW_W, VB_DW_B, VB_LN_W, VB_LN_B, VB_PW1_W, VB_PW1_B, VB_PW2_W, VB_PW2_B, VB_GAMMA, VB_N };

typedef struct {
    int D, dim, inter, L, K, N, hop, F;
    int pad;                       /* (N - hop) / 2 samples dropped on each side */
    size_t embed_w, embed_b, norm_w, norm_b, fin_w, fin_b, out_w, out_b;
    size_t *blk;                   /* [L][VB_N] */
    int first_param, n_params;     /* the head's range in the parameter table */
    float *basis;                  /* [N][N+2] windowed inverse real DFT, 1/N folded in */
    float *env;                    /* [F * hop] window envelope over the kept range */
    size_t scratch_floats;         /* scratch of forward and backward, per call */
} vocos_head;

/* Check the sizes, add the head's parameters to pt (names and order of the
 * spec), build the inverse DFT matrix and the envelope for F frames.
 * Refuses an envelope below 1e-3 in the kept range. 0 or a negative code. */
int sn_vocos_head_init(vocos_head *h, const codec_config *cfg, int F, sn_param_table *pt);
void sn_vocos_head_free(vocos_head *h);   /* zeroed or initialised; frees basis, env, blk */

/* Saved activations of one crop, in floats. */
size_t sn_vocos_act_floats(const vocos_head *h);

/* z [D][F] -> y [F * hop]; act receives what the backward needs. */
void sn_vocos_forward(const vocos_head *h, float *y, float *act, float *scr, const float *z,
                      const float *params, int use_ref);

/* Gradients of the last forward on this crop (act, z as it left them):
 * dz [D][F] (may be NULL) and the head's entries of grads ACCUMULATE. */
void sn_vocos_backward(const vocos_head *h, float *dz, float *grads, const float *dy, const float *act,
                       float *scr, const float *z, const float *params, int use_ref);

/* The spec's initialisation from the splitmix64 state st: conv and linear
 * weights truncated normal (std 0.02, cut at 2 std), biases 0, LayerNorm 1/0,
 * gamma 1/L. */
void sn_vocos_init_params(const vocos_head *h, float *params, uint64_t *st);

/* The inverse STFT alone (for tests): spectrum X [N+2][F] (real parts of bins
 * 0..N/2, then imaginary parts) -> y [F * hop]; scr of h->scratch_floats. */
void sn_vocos_istft(const vocos_head *h, float *y, const float *X, float *scr, int use_ref);

#endif
