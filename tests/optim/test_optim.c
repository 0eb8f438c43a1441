/* Training helpers against PyTorch and the reference EnCodec
 * (fixture: tests/ref/make_optim_fixture.py), plus the dead-code revival
 * that the reference's EMA codebook never achieves.
 * usage: test-optim FIXTURE.txt */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "optim.h"
#include "rvq_train.h"
#include "test_util.h"
#include "sonotok/error.h"

#define MAXA 64
static struct { char name[32]; int n; float *v; } arr[MAXA];
static int n_arr;

static int load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (n_arr < MAXA && fscanf(f, "%31s %d", arr[n_arr].name, &arr[n_arr].n) == 2) {
        arr[n_arr].v = malloc(sizeof(float) * (size_t)(arr[n_arr].n + 1));
        for (int i = 0; i < arr[n_arr].n; i++) {
            double d;
            if (fscanf(f, "%lf", &d) != 1) { fclose(f); return -1; }
            arr[n_arr].v[i] = (float)d;
        }
        n_arr++;
    }
    fclose(f);
    return 0;
}

static const float *get(const char *name, int n) {
    for (int i = 0; i < n_arr; i++)
        if (!strcmp(arr[i].name, name)) {
            if (arr[i].n != n) { fprintf(stderr, "fixture %s has %d values, want %d\n", name, arr[i].n, n); exit(1); }
            return arr[i].v;
        }
    fprintf(stderr, "fixture lacks %s\n", name);
    exit(1);
}

static double maxrel(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (fabs(b[i]) + 1e-6);
        if (d > m) m = d;
    }
    return m;
}

static void test_adamw(void) {
    const int n = 37;
    float p[37];
    memcpy(p, get("adamw_p0", n), sizeof p);
    sono_adamw o;
    CHECK(sn_adamw_init(&o, n, 0.8f, 0.95f, 1e-6f, 0.1f) == 0);
    double worst = 0;
    for (int s = 0; s < 6; s++) {
        char k[32];
        snprintf(k, sizeof k, "adamw_g%d", s);
        sn_adamw_step(&o, p, get(k, n), 3e-3f);
        snprintf(k, sizeof k, "adamw_p%d", s + 1);
        double e = maxrel(p, get(k, n), n);
        if (e > worst) worst = e;
    }
    printf("AdamW vs torch.optim.AdamW, 6 steps: worst relative error %.3g\n", worst);
    CHECK(worst < 1e-5);
    sn_adamw_free(&o);
}

static void test_clip(void) {
    float g[50];
    memcpy(g, get("clip_g", 50), sizeof g);
    float norm = sn_grad_clip_norm(g, 50, 1.5f);
    printf("clip: norm %.6f (torch %.6f), worst relative error %.3g\n", norm, get("clip_norm", 1)[0],
           maxrel(g, get("clip_out", 50), 50));
    CHECK(fabs(norm - get("clip_norm", 1)[0]) < 1e-5 * norm);
    CHECK(maxrel(g, get("clip_out", 50), 50) < 1e-5);
    float small[3] = {0.1f, 0.2f, 0.2f};
    sn_grad_clip_norm(small, 3, 1.0f);
    CHECK(small[0] == 0.1f && small[2] == 0.2f); /* under the limit: untouched */
}

static void test_schedule(void) {
    CHECK(fabs(sn_lr_warmup_cosine(0, 10, 100, 1.0f, 0.1f) - 0.1f) < 1e-6);
    CHECK(fabs(sn_lr_warmup_cosine(9, 10, 100, 1.0f, 0.1f) - 1.0f) < 1e-6);
    CHECK(fabs(sn_lr_warmup_cosine(10, 10, 100, 1.0f, 0.1f) - 1.0f) < 1e-6);
    CHECK(fabs(sn_lr_warmup_cosine(55, 10, 100, 1.0f, 0.1f) - 0.55f) < 1e-5);
    CHECK(fabs(sn_lr_warmup_cosine(100, 10, 100, 1.0f, 0.1f) - 0.1f) < 1e-6);
    float prev = 2;
    int mono = 1;
    for (int s = 10; s < 100; s++) {
        float l = sn_lr_warmup_cosine(s, 10, 100, 1.0f, 0.1f);
        if (l > prev) mono = 0;
        prev = l;
    }
    CHECK(mono);
}

static void test_ema_reference(void) {
    const int K = 6, D = 4, N = 20;
    float e[24], avg[24], size[6];
    memcpy(e, get("ema_embed0", K * D), sizeof e);
    memcpy(avg, get("ema_avg0", K * D), sizeof avg);
    memcpy(size, get("ema_size0", K), sizeof size);
    const float *fidx = get("ema_idx", N);
    int32_t idx[20];
    for (int i = 0; i < N; i++) idx[i] = (int32_t)fidx[i];
    rvq_ema cb = {.K = K, .D = D, .decay = 0.9f, .eps = 1e-5f, .dead_threshold = 0,
                  .embed = e, .embed_avg = avg, .cluster_size = size};
    uint64_t rng = 1;
    int rep = -1;
    sn_rvq_ema_update(&cb, get("ema_x", N * D), idx, N, &rng, &rep);
    CHECK(rep == 0);
    double e1 = maxrel(size, get("ema_size1", K), K), e2 = maxrel(avg, get("ema_avg1", K * D), K * D),
           e3 = maxrel(e, get("ema_embed1", K * D), K * D);
    printf("EMA codebook vs EnCodec EuclideanCodebook: counts %.3g, sums %.3g, codes %.3g\n", e1, e2, e3);
    CHECK(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-4);
}

/* Data in 8 tight clusters, a codebook collapsed onto one point: with dead-code
 * replacement usage spreads over the clusters, without it stays collapsed. */
static double revive(float threshold) {
    enum { K = 16, D = 3, N = 256, C = 8 };
    static float x[N * D], e[K * D], avg[K * D], size[K], centers[C * D];
    for (int i = 0; i < C * D; i++) centers[i] = tu_uniform(-5, 5);
    for (int k = 0; k < K * D; k++) e[k] = avg[k] = 100.0f; /* far from all data */
    for (int k = 0; k < K; k++) size[k] = 1.0f;
    rvq_ema cb = {.K = K, .D = D, .decay = 0.9f, .eps = 1e-5f, .dead_threshold = threshold,
                  .embed = e, .embed_avg = avg, .cluster_size = size};
    uint64_t rng = 42;
    int32_t idx[N];
    double ppl = 0;
    for (int step = 0; step < 60; step++) {
        for (int i = 0; i < N; i++)
            for (int d = 0; d < D; d++) x[i * D + d] = centers[(i % C) * D + d] + tu_uniform(-0.05f, 0.05f);
        for (int i = 0; i < N; i++) { /* nearest code, first index on ties */
            float best = 0;
            for (int k = 0; k < K; k++) {
                float s = 0;
                for (int d = 0; d < D; d++) s += (x[i * D + d] - e[k * D + d]) * (x[i * D + d] - e[k * D + d]);
                if (k == 0 || s < best) { best = s; idx[i] = k; }
            }
        }
        ppl = sn_rvq_perplexity(idx, N, K, NULL);
        sn_rvq_ema_update(&cb, x, idx, N, &rng, NULL);
    }
    return ppl;
}

/* k-means init on 16 well separated clusters in 12 dimensions, 16 codes:
 * every cluster gets a code of its own (perplexity of the assignment near
 * 16), and the counts are scaled to per_step vectors. */
static void test_kmeans(void) {
    enum { K = 16, D = 12, C = 16, N = 1600 };
    static float x[N * D], e[K * D], avg[K * D], size[K], centers[C * D];
    for (int i = 0; i < C * D; i++) centers[i] = tu_uniform(-10, 10);
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) x[i * D + d] = centers[(i % C) * D + d] + tu_uniform(-0.5f, 0.5f);
    rvq_ema cb = {.K = K, .D = D, .decay = 0.99f, .eps = 1e-5f, .dead_threshold = 0.05f,
                  .embed = e, .embed_avg = avg, .cluster_size = size};
    uint64_t rng = 7;
    CHECK(sn_rvq_kmeans_init(&cb, x, N, 10, 160.0, &rng) == 0);
    int32_t idx[N];
    for (int i = 0; i < N; i++) { /* nearest code, brute force */
        float best = 0;
        for (int k = 0; k < K; k++) {
            float s = 0;
            for (int d = 0; d < D; d++) s += (x[i * D + d] - e[k * D + d]) * (x[i * D + d] - e[k * D + d]);
            if (k == 0 || s < best) { best = s; idx[i] = k; }
        }
    }
    double ppl = sn_rvq_perplexity(idx, N, K, NULL), total = 0;
    for (int k = 0; k < K; k++) total += size[k];
    printf("k-means init: perplexity %.2f on %d clusters, counts sum %.1f (per step 160)\n", ppl, C, total);
    /* Lloyd from random rows can merge two clusters and split another; with
     * 10 rounds on separated clusters it should not lose more than one */
    CHECK(ppl > C - 1.5);
    CHECK(fabs(total - 160.0) < 1e-3);
    CHECK(avg[0] == e[0] * size[0]);
    CHECK(sn_rvq_kmeans_init(&cb, x, K - 1, 10, 1.0, &rng) == SONO_E_ARG);
}

int main(int argc, char **argv) {
    if (argc < 2 || load(argv[1])) { fprintf(stderr, "usage: %s FIXTURE (readable)\n", argv[0]); return 2; }
    tu_seed(2024);
    test_adamw();
    test_clip();
    test_schedule();
    test_ema_reference();
    test_kmeans();
    double with = revive(0.5f), without = revive(0.0f);
    printf("dead-code revival: perplexity %.2f with replacement, %.2f without (8 clusters)\n", with, without);
    CHECK(with > 6.0);
    CHECK(without < 1.5);
    int used;
    int32_t one[4] = {3, 3, 3, 3};
    CHECK(fabs(sn_rvq_perplexity(one, 4, 8, &used) - 1.0) < 1e-12 && used == 1);
    int32_t uni[4] = {0, 1, 2, 3};
    CHECK(fabs(sn_rvq_perplexity(uni, 4, 4, &used) - 4.0) < 1e-9 && used == 4);
    return tu_finish("optim");
}
