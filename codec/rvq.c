/* Residual vector quantization, as EnCodec does it at inference: for each
 * codebook in turn, the nearest code to the residual (squared Euclidean
 * distance, written exactly as the reference writes it, first index on ties),
 * then the residual minus that code. Decoding sums the codes' vectors in
 * codebook order. Distances for a block of frames come from one sgemm. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "sono_internal.h"

#define RVQ_BLOCK 256 /* frames per sgemm */

int rvq_encode(const sono_codec *c, const float *latents, int64_t n_frames, int n_q,
               int32_t *codes, int64_t codes_stride, float *scratch_or_null) {
    const int D = c->cfg.dimension, K = c->cfg.codebook_size;
    if (n_q < 1 || n_q > c->cfg.n_q) return sono_fail(SONO_E_RANGE, "%d codebooks requested, model has %d", n_q, c->cfg.n_q);
    size_t need = (size_t)RVQ_BLOCK * D + (size_t)RVQ_BLOCK * K + RVQ_BLOCK;
    float *scr = scratch_or_null ? scratch_or_null : malloc(need * sizeof(float));
    if (!scr) return sono_fail(SONO_E_NOMEM, "out of memory");
    float *res = scr;                         /* [F][D] residuals, frame-major */
    float *dot = res + (size_t)RVQ_BLOCK * D; /* [F][K] */
    float *x2 = dot + (size_t)RVQ_BLOCK * K;  /* [F] */
    for (int64_t f0 = 0; f0 < n_frames; f0 += RVQ_BLOCK) {
        int F = (int)SONO_MIN((int64_t)RVQ_BLOCK, n_frames - f0);
        for (int f = 0; f < F; f++)
            for (int d = 0; d < D; d++) res[(size_t)f * D + d] = latents[(size_t)d * n_frames + f0 + f];
        for (int q = 0; q < n_q; q++) {
            const float *E = c->codebooks + (size_t)q * K * D;
            const float *e2 = c->codebook_sqnorm + (size_t)q * K;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, F, K, D, 1.0f, res, D, E, D, 0.0f, dot, K);
            for (int f = 0; f < F; f++) {
                const float *x = res + (size_t)f * D;
                float s = 0;
                for (int d = 0; d < D; d++) s += x[d] * x[d];
                x2[f] = s;
            }
            for (int f = 0; f < F; f++) {
                const float *row = dot + (size_t)f * K;
                float best = 0;
                int bi = 0;
                for (int k = 0; k < K; k++) {
                    float dist = (x2[f] - 2.0f * row[k]) + e2[k];
                    if (k == 0 || dist < best) { best = dist; bi = k; }
                }
                codes[(size_t)q * codes_stride + f0 + f] = bi;
                const float *e = E + (size_t)bi * D;
                float *x = res + (size_t)f * D;
                for (int d = 0; d < D; d++) x[d] = x[d] - e[d];
            }
        }
    }
    if (!scratch_or_null) free(scr);
    return 0;
}

int rvq_decode(const sono_codec *c, const int32_t *codes, int64_t codes_stride, int64_t n_frames,
               int n_q, float *latents) {
    const int D = c->cfg.dimension, K = c->cfg.codebook_size;
    if (n_q < 1 || n_q > c->cfg.n_q) return sono_fail(SONO_E_RANGE, "%d codebooks in the tokens, model has %d", n_q, c->cfg.n_q);
    for (int q = 0; q < n_q; q++)
        for (int64_t f = 0; f < n_frames; f++) {
            int32_t k = codes[(size_t)q * codes_stride + f];
            if (k < 0 || k >= K) return sono_fail(SONO_E_RANGE, "code %d at codebook %d frame %lld is outside [0, %d)", k, q, (long long)f, K);
        }
    for (int64_t f = 0; f < n_frames; f++) {
        for (int d = 0; d < D; d++) {
            float s = 0.0f;
            for (int q = 0; q < n_q; q++) {
                int32_t k = codes[(size_t)q * codes_stride + f];
                s = s + c->codebooks[((size_t)q * K + (size_t)k) * D + d];
            }
            latents[(size_t)d * n_frames + f] = s;
        }
    }
    return 0;
}
