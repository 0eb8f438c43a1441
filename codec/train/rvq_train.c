/* EMA codebook updates with working dead-code replacement; usage statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rvq_train.h"
#include <cblas.h>
#include "sono_internal.h"

static uint64_t xs64(uint64_t *s) {
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

void sn_rvq_ema_init_from(rvq_ema *cb, const float *x, int64_t n) {
    for (int k = 0; k < cb->K; k++) {
        const float *src = x + (size_t)(((int64_t)k * n) / cb->K) * (size_t)cb->D;
        memcpy(cb->embed + (size_t)k * cb->D, src, (size_t)cb->D * sizeof(float));
        memcpy(cb->embed_avg + (size_t)k * cb->D, src, (size_t)cb->D * sizeof(float));
        cb->cluster_size[k] = 1.0f;
    }
}

/* Nearest code of each row of x [n][D] among E [K][D] (|x|^2 left out of
 * the distance; first index on ties), by blocks of rows through sgemm. */
static void nearest_codes(const float *x, int64_t n, const float *E, const float *e2, int K, int D,
                          int32_t *idx, float *dots /* [rows][K] */, int64_t rows) {
    for (int64_t i0 = 0; i0 < n; i0 += rows) {
        int64_t r = n - i0 < rows ? n - i0 : rows;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r, K, D, 1.0f, x + i0 * D, D, E, D, 0.0f, dots, K);
        for (int64_t i = 0; i < r; i++) {
            const float *dr = dots + i * K;
            float best = 0;
            int bi = 0;
            for (int k = 0; k < K; k++) {
                float dist = e2[k] - 2.0f * dr[k];
                if (k == 0 || dist < best) { best = dist; bi = k; }
            }
            idx[i0 + i] = bi;
        }
    }
}

int sn_rvq_kmeans_init(rvq_ema *cb, const float *x, int64_t n, int iters, double per_step, uint64_t *rng) {
    const int K = cb->K, D = cb->D;
    if (n < K || K < 1 || D < 1) return sn_fail(SONO_E_ARG, "k-means init: %lld vectors for %d codes", (long long)n, K);
    const int64_t rows = 256;
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    double *near = malloc((size_t)n * sizeof *near); /* squared distance to the nearest code so far */
    float *dots = malloc((size_t)rows * K * sizeof *dots), *e2 = malloc((size_t)K * sizeof *e2);
    double *sum = malloc((size_t)K * D * sizeof *sum), *cnt = malloc((size_t)K * sizeof *cnt);
    if (!idx || !near || !dots || !e2 || !sum || !cnt) {
        free(idx); free(near); free(dots); free(e2); free(sum); free(cnt);
        return sn_fail(SONO_E_NOMEM, "out of memory for k-means");
    }
    /* k-means++ seeding: each next code is a row drawn with probability
     * proportional to its squared distance from the nearest code so far */
    for (int k = 0; k < K; k++) {
        int64_t pick = 0;
        if (k == 0) {
            pick = (int64_t)(xs64(rng) % (uint64_t)n);
        } else {
            double total = 0;
            for (int64_t i = 0; i < n; i++) total += near[i];
            double u = (double)(xs64(rng) >> 11) * 0x1.0p-53 * total;
            pick = n - 1;
            for (int64_t i = 0; i < n; i++) {
                if (u < near[i]) { pick = i; break; }
                u -= near[i];
            }
            if (total <= 0) pick = (int64_t)(xs64(rng) % (uint64_t)n);
        }
        float *e = cb->embed + (size_t)k * D;
        memcpy(e, x + (size_t)pick * D, (size_t)D * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            const float *v = x + (size_t)i * D;
            double d2 = 0;
            for (int d = 0; d < D; d++) d2 += ((double)v[d] - e[d]) * ((double)v[d] - e[d]);
            if (k == 0 || d2 < near[i]) near[i] = d2;
        }
    }
    for (int it = 0; it <= iters; it++) {
        for (int k = 0; k < K; k++) {
            const float *e = cb->embed + (size_t)k * D;
            float s2 = 0;
            for (int d = 0; d < D; d++) s2 += e[d] * e[d];
            e2[k] = s2;
        }
        nearest_codes(x, n, cb->embed, e2, K, D, idx, dots, rows);
        memset(sum, 0, (size_t)K * D * sizeof *sum);
        memset(cnt, 0, (size_t)K * sizeof *cnt);
        for (int64_t i = 0; i < n; i++) {
            cnt[idx[i]] += 1;
            const float *v = x + (size_t)i * D;
            double *s = sum + (size_t)idx[i] * D;
            for (int d = 0; d < D; d++) s[d] += v[d];
        }
        if (it == iters) break;   /* last round only counts */
        for (int k = 0; k < K; k++) {
            float *e = cb->embed + (size_t)k * D;
            if (cnt[k] > 0) for (int d = 0; d < D; d++) e[d] = (float)(sum[(size_t)k * D + d] / cnt[k]);
            else memcpy(e, x + (size_t)(xs64(rng) % (uint64_t)n) * D, (size_t)D * sizeof(float));
        }
    }
    for (int k = 0; k < K; k++) {
        float c = (float)(cnt[k] * per_step / (double)n);
        cb->cluster_size[k] = c;
        for (int d = 0; d < D; d++) cb->embed_avg[(size_t)k * D + d] = cb->embed[(size_t)k * D + d] * c;
    }
    free(idx); free(near); free(dots); free(e2); free(sum); free(cnt);
    return 0;
}

void sn_rvq_ema_update(rvq_ema *cb, const float *x, const int32_t *idx, int64_t n, uint64_t *rng, int *n_replaced) {
    const int K = cb->K, D = cb->D;
    const float a = cb->decay, b = 1.0f - cb->decay;
    int replaced = 0;
    /* dead codes: a random vector of this batch, with statistics that keep it */
    if (cb->dead_threshold > 0 && n > 0) {
        for (int k = 0; k < K; k++) {
            if (cb->cluster_size[k] >= cb->dead_threshold) continue;
            const float *s = x + (size_t)(xs64(rng) % (uint64_t)n) * (size_t)D;
            /* twice the threshold: an unused replacement gets log(2)/(1-decay) steps to win
             * vectors before it counts as dead again (at the threshold itself it would be
             * replaced again on the very next step) */
            float c = 2.0f * cb->dead_threshold;
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

double sn_rvq_perplexity(const int32_t *idx, int64_t n, int K, int *used) {
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
