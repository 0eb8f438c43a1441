/* The generation step's matmul: a few rows (M <= SN_LM_GEMV_ROWS, the
 * batched outputs of sono_lm_generate) against a weight matrix, which is
 * read once for all rows. Memory-bound: a step streams every weight once.
 *
 *   sn_lm_gemv(y, N, x, K, w, K, M, N, K, 0, n_threads);    // y [M][N] = x [M][K] . w [N][K]^T
 *   uint16_t *h = malloc(2 * N * K); sn_lm_f16_from_f32(h, w, (size_t)N * K);
 *   sn_lm_gemv_f16(y, N, x, K, h, K, M, N, K, 0, n_threads); // the same from float16 weights
 *
 * The order of the sums is fixed, the same for every M, every thread count
 * and every kernel level: for each (m, n), 16 lanes j = 0..15 each take
 * p_j = fma(x[k], w[k], p_j) over k = j, j + 16, j + 32, ... in order (from
 * +0; k past K adds 0 x 0), then p_j += p_{j+8} (j < 8), p_j += p_{j+4}
 * (j < 4), p_j += p_{j+2}, s = p_0 + p_1, and y = s (or y + s when
 * accumulating). So a row's result has the same bits whatever the other
 * rows are, and the AVX-512 (16 lanes), AVX2 + FMA (two vectors of 8) and
 * plain C (`_ref`, fmaf) variants give the same bits: the tests compare
 * them. Threads split the N weight rows into fixed blocks; each y element
 * is written by one thread.
 *
 * Float16 weights (IEEE binary16, converted from float32 by rounding to
 * nearest even) are widened to float32 exactly before the same fma; the
 * variants need F16C (AVX2 level) or AVX-512F. */
#ifndef SONO_LM_GEMV_H
#define SONO_LM_GEMV_H

#include <stddef.h>
#include <stdint.h>

/* y [M][N] (row stride ldy) = (accumulate ? y : 0) + x [M][K] (ldx) . w [N][K]^T (ldw),
 * at the level sono_cpu_level() allows (plain C below AVX2). Any M >= 0;
 * meant for M <= 16. y must not overlap x or w. */
void sn_lm_gemv(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int M, int N, int K,
                int accumulate, int n_threads);
void sn_lm_gemv_ref(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, int M, int N, int K,
                    int accumulate, int n_threads);
void sn_lm_gemv_f16(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw, int M, int N, int K,
                    int accumulate, int n_threads);
void sn_lm_gemv_f16_ref(float *y, int ldy, const float *x, int ldx, const uint16_t *w, int ldw, int M, int N, int K,
                        int accumulate, int n_threads);

/* The level sn_lm_gemv runs at now (SONO_CPU_PLAIN: the plain C twin), and
 * sn_lm_gemv_f16's (PLAIN also where the CPU lacks F16C). */
int sn_lm_gemv_level(void);
int sn_lm_gemv_f16_level(void);

/* IEEE binary16 <-> float32: round to nearest even (overflow to infinity,
 * NaN kept NaN), and the exact widening. Plain C, equal to F16C's
 * vcvtps2ph / vcvtph2ps (tested). */
uint16_t sn_lm_f32_to_f16(float f);
float sn_lm_f16_to_f32(uint16_t h);
void sn_lm_f16_from_f32(uint16_t *dst, const float *src, size_t n);

#endif
