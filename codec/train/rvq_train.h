/* Training-time codebook maintenance for the residual VQ: exponential moving
 * averages of code usage and of the vectors assigned to each code (as
 * EnCodec's EuclideanCodebook), with dead-code replacement that actually
 * takes effect (EnCodec replaces `embed` and then overwrites it from
 * `embed_avg` a few lines later, so its dead codes never revive), and usage
 * statistics for the training log.
 *
 *   rvq_ema cb = {.K = 1024, .D = 128, .decay = 0.99f, .eps = 1e-5f,
 *                 .dead_threshold = 0.5f, .embed = E, .embed_avg = A, .cluster_size = S};
 *   sn_rvq_ema_update(&cb, x, idx, n, &rng, &n_replaced);   // after choosing idx for the batch x
 */
#ifndef SONO_RVQ_TRAIN_H
#define SONO_RVQ_TRAIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int K;                  /* codes */
    int D;                  /* dimension */
    float decay;            /* EMA decay (EnCodec: 0.99) */
    float eps;              /* Laplace smoothing (EnCodec: 1e-5) */
    float dead_threshold;   /* codes whose EMA count falls below this are replaced (0: never) */
    float *embed;           /* [K][D] the codebook used for quantization */
    float *embed_avg;       /* [K][D] EMA of the sum of vectors assigned to each code */
    float *cluster_size;    /* [K] EMA of the number of vectors assigned to each code */
} rvq_ema;

/* Initialise a codebook from data: code k = x[(k * n) / K] (spread over the
 * batch), embed_avg = embed, cluster_size = 1. x [n][D], n >= 1. */
void sn_rvq_ema_init_from(rvq_ema *cb, const float *x, int64_t n);

/* Initialise a codebook by k-means (Lloyd, `iters` rounds) on x [n][D],
 * n >= K: codes start from k-means++ seeding (rows drawn by squared
 * distance to the codes so far, with *rng); a code left without
 * vectors in a round moves to a random row. Afterwards cluster_size = each
 * code's share of the data scaled to `per_step` vectors (the vectors one
 * training step brings) and embed_avg = embed * cluster_size, so the EMA
 * starts at a fixed point instead of pulling popular codes to the centre.
 * Returns 0 or SONO_E_NOMEM / SONO_E_ARG. */
int sn_rvq_kmeans_init(rvq_ema *cb, const float *x, int64_t n, int iters, double per_step, uint64_t *rng);

/* One EMA step for a batch: x [n][D] (the residuals this codebook saw), idx [n]
 * their chosen codes. First the dead codes (EMA count below the threshold)
 * are replaced by random batch vectors drawn with *rng (xorshift64*), with
 * cluster_size set to twice the threshold (a grace period) and embed_avg to
 * match, so the replacement survives; then
 * cluster_size and embed_avg move towards this batch's counts and sums, and
 * embed = embed_avg / Laplace-smoothed counts. *n_replaced (may be NULL)
 * gets the number of codes replaced. No memory is allocated. */
void sn_rvq_ema_update(rvq_ema *cb, const float *x, const int32_t *idx, int64_t n, uint64_t *rng, int *n_replaced);

/* Code usage of a batch: perplexity exp(H(p)) of the empirical distribution
 * of idx over K codes (1 = collapsed onto one code, K = uniform), and the
 * number of distinct codes used (*used, may be NULL). */
double sn_rvq_perplexity(const int32_t *idx, int64_t n, int K, int *used);

#endif
