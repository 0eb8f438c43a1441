/* Residual vector quantization, as EnCodec does it at inference: for each
 * codebook in turn, the nearest code to the residual (squared Euclidean
 * distance, written exactly as the reference writes it, first index on ties),
 * then the residual minus that code. Decoding sums the codes' vectors in
 * codebook order. Dot products for a block of frames come from one 1x1
 * convolution (the fast kernels, laid out [codes][frames]). */
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "kernels.h"
#include "sono_internal.h"

#define RVQ_BLOCK 256 /* frames per distance block */

size_t sn_rvq_scratch_floats(const sono_codec *c) {
    const size_t D = (size_t)c->cfg.dimension, K = (size_t)c->cfg.codebook_size;
    return RVQ_BLOCK * D + RVQ_BLOCK * K + 3 * RVQ_BLOCK + sn_conv1d_scratch_floats((int)D, 1, RVQ_BLOCK);
}

int sn_rvq_encode(const sono_codec *c, const float *latents, int64_t n_frames, int n_q,
               int32_t *codes, int64_t q_stride, int64_t f_stride, float *scratch_or_null) {
    const int D = c->cfg.dimension, K = c->cfg.codebook_size;
    if (n_q < 1 || n_q > c->cfg.n_q) return sn_fail(SONO_E_RANGE, "%d codebooks requested, model has %d", n_q, c->cfg.n_q);
    size_t need = sn_rvq_scratch_floats(c);
    float *scr = scratch_or_null ? scratch_or_null : malloc(need * sizeof(float));
    if (!scr) return sn_fail(SONO_E_NOMEM, "out of memory");
    float *res = scr;                         /* [D][F] residuals */
    float *dot = res + (size_t)RVQ_BLOCK * D; /* [K][F] */
    float *x2 = dot + (size_t)RVQ_BLOCK * K;  /* [F] */
    float *best = x2 + RVQ_BLOCK;             /* [F] */
    int32_t *bi = (int32_t *)(best + RVQ_BLOCK); /* [F] */
    float *kscr = (float *)(bi + RVQ_BLOCK);
    for (int64_t f0 = 0; f0 < n_frames; f0 += RVQ_BLOCK) {
        int F = (int)SONO_MIN((int64_t)RVQ_BLOCK, n_frames - f0);
        for (int d = 0; d < D; d++)
            memcpy(res + (size_t)d * F, latents + (size_t)d * n_frames + f0, (size_t)F * sizeof(float));
        for (int q = 0; q < n_q; q++) {
            const float *E = c->codebook[q];
            const float *e2 = c->codebook_sqnorm + (size_t)q * K;
            /* dot[k][f] = E[k] . x[f]: a 1x1 convolution over the frames */
            sn_conv1d_forward(dot, res, E, NULL, D, K, F, 1, 1, 1, kscr, c->n_threads);
            for (int f = 0; f < F; f++) {
                float s = 0;
                for (int d = 0; d < D; d++) s += res[(size_t)d * F + f] * res[(size_t)d * F + f];
                x2[f] = s;
            }
            /* dist = (|x|^2 - 2 x.e) + |e|^2, as the reference; strict < keeps the first index */
            for (int f = 0; f < F; f++) {
                best[f] = (x2[f] - 2.0f * dot[f]) + e2[0];
                bi[f] = 0;
            }
            for (int k = 1; k < K; k++) {
                const float *row = dot + (size_t)k * F;
                float ek = e2[k];
                for (int f = 0; f < F; f++) {
                    float dist = (x2[f] - 2.0f * row[f]) + ek;
                    if (dist < best[f]) { best[f] = dist; bi[f] = k; }
                }
            }
            for (int f = 0; f < F; f++) {
                codes[(size_t)q * q_stride + (size_t)(f0 + f) * f_stride] = bi[f];
                const float *e = E + (size_t)bi[f] * D;
                for (int d = 0; d < D; d++) res[(size_t)d * F + f] = res[(size_t)d * F + f] - e[d];
            }
        }
    }
    if (!scratch_or_null) free(scr);
    return 0;
}

int sn_rvq_decode(const sono_codec *c, const int32_t *codes, int64_t codes_stride, int64_t n_frames,
               int n_q, float *latents) {
    const int D = c->cfg.dimension, K = c->cfg.codebook_size;
    if (n_q < 1 || n_q > c->cfg.n_q) return sn_fail(SONO_E_RANGE, "%d codebooks in the tokens, model has %d", n_q, c->cfg.n_q);
    for (int q = 0; q < n_q; q++)
        for (int64_t f = 0; f < n_frames; f++) {
            int32_t k = codes[(size_t)q * codes_stride + f];
            if (k < 0 || k >= K) return sn_fail(SONO_E_RANGE, "code %d at codebook %d frame %lld is outside [0, %d)", k, q, (long long)f, K);
        }
    for (int64_t f = 0; f < n_frames; f++) {
        for (int d = 0; d < D; d++) {
            float s = 0.0f;
            for (int q = 0; q < n_q; q++) {
                int32_t k = codes[(size_t)q * codes_stride + f];
                s = s + c->codebook[q][(size_t)k * D + d];
            }
            latents[(size_t)d * n_frames + f] = s;
        }
    }
    return 0;
}
