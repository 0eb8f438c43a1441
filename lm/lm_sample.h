/* Sampling one class from a head's logits, and classifier-free guidance.
 *
 *   sn_lm_sampling sp = sn_lm_sampling_default();  sp.temperature = 0.9f;
 *   void *scratch = malloc(sn_lm_sample_scratch_bytes(V));
 *   uint64_t rng = seed;                       // splitmix64 state, advanced by each draw
 *   sn_lm_cfg_mix(mixed, cond, uncond, V, 3.0f);
 *   int id = sn_lm_sample(mixed, V, &sp, &rng, scratch);
 *
 * Single-threaded and exact for a given input: the same seed and logits give
 * the same ids on any thread count (callers sample heads in a fixed order). */
#ifndef SONO_LM_SAMPLE_H
#define SONO_LM_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float temperature; /* logits are divided by it; <= 0: greedy. Default 1 */
    int top_k;         /* keep the k most likely; 0: all. Default 250 (MusicGen) */
    float top_p;       /* then the smallest set whose mass reaches top_p; >= 1: off. Default 1 */
} sn_lm_sampling;

sn_lm_sampling sn_lm_sampling_default(void);
size_t sn_lm_sample_scratch_bytes(int n);

/* The first index of the largest value of x [n] (NaN never wins). */
int sn_lm_argmax(const float *x, int n);

/* An index drawn from logits [n] (-INFINITY excludes an id). Greedy
 * (temperature <= 0 or top_k == 1) consumes no randomness; otherwise one
 * sn_unif01 draw from *rng. Candidates are ranked by logit, ties by index. */
int sn_lm_sample(const float *logits, int n, const sn_lm_sampling *s, uint64_t *rng, void *scratch);

/* The random stream of output i of a generation seeded with seed: it does
 * not depend on how many outputs run beside it. */
uint64_t sn_lm_output_seed(uint64_t seed, int i);

/* Classifier-free guidance: out [n] = uncond + cfg * (cond - uncond);
 * out may equal either input. */
void sn_lm_cfg_mix(float *out, const float *cond, const float *uncond, size_t n, float cfg);

#endif
