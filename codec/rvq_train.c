/* EMA codebook updates with working dead-code replacement; usage statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rvq_train.h"

static uint64_t xs64(uint64_t *s) {
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

void rvq_ema_init_from(rvq_ema *cb, const float *x, int64_t n) {
    for (int k = 0; k < cb->K; k++) {
        const float *src = x + (size_t)(((int64_t)k * n) / cb->K) * (size_t)cb->D;
        memcpy(cb->embed + (size_t)k * cb->D, src, (size_t)cb->D * sizeof(float));
        memcpy(cb->embed_avg + (size_t)k * cb->D, src, (size_t)cb->D * sizeof(float));
        cb->cluster_size[k] = 1.0f;
    }
}

void rvq_ema_update(rvq_ema *cb, const float *x, const int32_t *idx, int64_t n, uint64_t *rng, int *n_replaced) {
    const int K = cb->K, D = cb->D;
    const float a = cb->decay, b = 1.0f - cb->decay;
    int replaced = 0;
    /* dead codes: a random vector of this batch, with statistics that keep it */
    if (cb->dead_threshold > 0 && n > 0) {
        for (int k = 0; k < K; k++) {
            if (cb->cluster_size[k] >= cb->dead_threshold) continue;
            const float *s = x + (size_t)(xs64(rng) % (uint64_t)n) * (size_t)D;
            float c = cb->dead_threshold;
            for (int d = 0; d < D; d++) {
                cb->embed[(size_t)k * D + d] = s[d];
                cb->embed_avg[(size_t)k * D + d] = s[d] * c;
            }
            cb->cluster_size[k] = c;
            replaced++;
        }
    }
    /* EMA of counts and sums: decay everything, then add this batch */
    for (int k = 0; k < K; k++) cb->cluster_size[k] *= a;
    for (size_t i = 0; i < (size_t)K * (size_t)D; i++) cb->embed_avg[i] *= a;
    for (int64_t i = 0; i < n; i++) {
        int k = idx[i];
        if (k < 0 || k >= K) continue;
        cb->cluster_size[k] += b;
        float *avg = cb->embed_avg + (size_t)k * D;
        const float *v = x + (size_t)i * D;
        for (int d = 0; d < D; d++) avg[d] += b * v[d];
    }
    double total = 0;
    for (int k = 0; k < K; k++) total += cb->cluster_size[k];
    for (int k = 0; k < K; k++) {
        /* Laplace smoothing, then back to the count scale (EnCodec) */
        float cs = (float)((cb->cluster_size[k] + cb->eps) / (total + K * (double)cb->eps) * total);
        const float *avg = cb->embed_avg + (size_t)k * D;
        float *e = cb->embed + (size_t)k * D;
        if (cs > 0)
            for (int d = 0; d < D; d++) e[d] = avg[d] / cs;
    }
    if (n_replaced) *n_replaced = replaced;
}

double rvq_perplexity(const int32_t *idx, int64_t n, int K, int *used) {
    int64_t *count = calloc((size_t)K, sizeof *count);
    if (!count || n <= 0) {
        free(count);
        if (used) *used = 0;
        return 0;
    }
    for (int64_t i = 0; i < n; i++)
        if (idx[i] >= 0 && idx[i] < K) count[idx[i]]++;
    double h = 0;
    int u = 0;
    for (int k = 0; k < K; k++) {
        if (!count[k]) continue;
        u++;
        double p = (double)count[k] / (double)n;
        h -= p * log(p);
    }
    free(count);
    if (used) *used = u;
    return exp(h);
}
