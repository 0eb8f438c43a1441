/* MusicGen's delay pattern: codebook k runs k steps behind codebook 0, so
 * that one LM step emits one frame's worth of codes and codebook k of a
 * frame is predicted after codebooks < k of the same frame were seen.
 *
 * For codes [K][F] (codebook-major, each < codebook_size) the delayed grid
 * has S = F + K steps, grid [S][K]:
 *   grid[s][k] = codes[k][s - k]   when 0 <= s - k < F
 *              = END               when s - k == F   (<end-audio>, codebook_size + 1)
 *              = EMPTY             otherwise          (<empty>, codebook_size: before a
 *                                                      codebook starts, after it ended)
 * The LM sees step s - 1 as input and predicts step s; a position whose
 * target is EMPTY is masked out of the loss (sn_lm_delay_targets).
 *
 *   int32_t grid[(F + K) * K]; sn_lm_delay_grid(grid, codes, K, F, cb);
 *   ... generate steps ...; int F2 = sn_lm_undelay(codes2, F_max, grid2, S2, K, cb);
 */
#ifndef SONO_LM_DELAY_H
#define SONO_LM_DELAY_H

#include <stddef.h>
#include <stdint.h>

/* Steps of the delayed grid of F frames: F + K. */
static inline int sn_lm_delay_steps(int F, int K) { return F + K; }

/* One slot of the delayed grid of codes [K][F] (int16, as token shards
 * hold them), without building the grid: at step s the code of frame s - k
 * for codebook k, END one step after the last frame, EMPTY before the first
 * and after END. */
static inline int32_t sn_lm_grid_at16(const int16_t *codes, int F, int K, int cb, int64_t s, int k) {
    (void)K;
    int64_t f = s - k;
    if (f < 0 || f > F) return cb;
    if (f == F) return cb + 1;
    return codes[(size_t)k * F + f];
}

/* grid [F + K][K] from codes [K][F]. 0, or SONO_E_RANGE when a code is
 * outside [0, codebook_size) (grid then undefined). */
int sn_lm_delay_grid(int32_t *grid, const int32_t *codes, int K, int F, int codebook_size);

/* targets [S][K] = grid with EMPTY replaced by -1 (masked). Returns the
 * number of unmasked entries. */
int sn_lm_delay_targets(int32_t *targets, const int32_t *grid, int S, int K, int codebook_size);

/* The value a generator must force at step s for codebook k, or -1 when
 * the model's choice is free: EMPTY before the codebook starts (s < k);
 * once codebook 0 ended at step s_end (its END; -1 while it has not),
 * END at s == s_end + k and EMPTY after. */
int sn_lm_delay_forced(int s, int k, int s_end, int codebook_size);

/* Frames back from a grid [S][K] (generated or built): frame f takes
 * grid[f + k][k] for each k. Stops at the first frame that is incomplete
 * (runs past the grid) or holds a non-code (EMPTY or END) in any codebook,
 * so an END in codebook 0 ends the audio. Writes codes [K][F_max]
 * (codebook-major, row stride F_max) and returns the frame count. */
int sn_lm_undelay(int32_t *codes, int F_max, const int32_t *grid, int S, int K, int codebook_size);

#endif
