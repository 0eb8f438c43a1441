/* One-shot speed measurement of the LM core (not a test; run by hand):
 * forward + backward tokens/s and GFLOP/s, the KV-cached generation step
 * rate with CFG (B = 2), and the sgemm yardstick of `sonotok bench`
 * (512x512x4096) on the same threads.
 *
 *   bench-lm [THREADS [C LAYERS HEADS T K CODEBOOK B [gen]]]   (default 2, 512 8 8 1024 4 1024 4;
 *   gen: the generation part only) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>

#include "kernels.h"
#include "lm_cache.h"
#include "lm_layers.h"
#include "lm_model.h"
#include "lm_sample.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best of a few C[512 x 4096] = A[512 x 512] B[512 x 4096]: one sgemm call on
 * OpenBLAS's own blas_threads threads, or the LM's blocked sgemm (OpenBLAS at
 * one thread, n_threads OpenMP threads). */
static double sgemm_gflops(int blas_threads, int n_threads) {
    const int M = 512, K = 512, N = 4096;
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    sn_kern_set_threads(blas_threads);
    double best = 1e30;
    for (int rep = 0; rep < 8; rep++) {
        double t0 = now();
        if (blas_threads > 1)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        else
            sn_lm_gemm(0, 0, M, N, K, a, K, b, N, 0.0f, c, N, n_threads);
        double dt = now() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    free(a), free(b), free(c);
    return 2.0 * M * K * (double)N / best / 1e9;
}

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 2;
    sn_lm_config c = sn_lm_config_default();
    int B = 4;
    if (argc > 8) {
        c.C = atoi(argv[2]);
        c.n_layer = atoi(argv[3]);
        c.n_head = atoi(argv[4]);
        c.T_max = atoi(argv[5]);
        c.K = atoi(argv[6]);
        c.codebook_size = atoi(argv[7]);
        B = atoi(argv[8]);
    }
    c.V_text = 256;
    int T = c.T_max, K = c.K, Va = sn_lm_v_audio(&c);
    sn_lm *m = NULL;
    if (sn_lm_new(&c, &m) < 0) return 1;
    sn_lm_init_params(m, 1);
    printf("model: C %d, %d layers, %d heads, T %d, K %d, codebook %d: %.2f M parameters; %d threads\n", c.C,
           c.n_layer, c.n_head, T, K, c.codebook_size, m->n_params / 1e6, nt);
    sn_kern_set_threads(1);

    size_t N = (size_t)B * T;
    int32_t *text = malloc(sizeof(int32_t) * N), *audio = malloc(sizeof(int32_t) * N * K),
            *targ = malloc(sizeof(int32_t) * N * K);
    uint64_t s = 7;
    for (size_t r = 0; r < N; r++) {
        text[r] = r % T < 8 ? (int32_t)(r % 200) : -1;
        for (int k = 0; k < K; k++) {
            audio[r * K + k] = (int32_t)((r * 31 + k * 7) % (size_t)c.codebook_size);
            targ[r * K + k] = (int32_t)((r * 17 + k + (s = s * 6364136223846793005ull + 1) % 3) % (size_t)Va);
        }
    }
    int gen_only = argc > 9 && !strcmp(argv[9], "gen");
    sn_lm_acts *a = NULL;
    if (!gen_only && sn_lm_acts_new(m, B, T, 1, &a) < 0) return 1;
    if (a) {
    printf("activations: %.2f GB\n", a->n_floats * 4.0 / 1e9);
    float *g = calloc(m->n_params, sizeof(float)), loss = 0;
    sn_lm_forward(m, a, text, audio, targ, nt, &loss); /* warm-up: page faults */
    sn_lm_backward(m, a, g, 1.0f, nt);
    double t0 = now();
    sn_lm_forward(m, a, text, audio, targ, nt, &loss);
    double t1 = now();
    sn_lm_backward(m, a, g, 1.0f, nt);
    double t2 = now();
    double fl = sn_lm_forward_flops(&c, B, T);
    printf("train step B %d x T %d: forward %.2f s, backward %.2f s: %.0f tokens/s, %.1f GFLOP/s (model FLOPs, 3x forward)\n",
           B, T, t1 - t0, t2 - t1, N / (t2 - t0), 3 * fl / (t2 - t0) / 1e9);
    sn_lm_acts_free(a);
    free(g);
    }

    /* generation: B = 2 (cond + uncond), prefill 64 positions, then 256 steps with CFG + sampling */
    sn_lm_cache *kv = NULL;
    if (sn_lm_cache_new(m, 2, T, 16, &kv) < 0) return 1;
    float *lg = malloc(sizeof(float) * 2 * K * Va), *mix = malloc(sizeof(float) * K * Va);
    void *scr = malloc(sn_lm_sample_scratch_bytes(Va));
    int32_t pt[2 * 64], pa[2 * 64 * 32], t1s[2] = {-1, -1}, a1[2 * 32];
    for (int i = 0; i < 2 * 64; i++) {
        pt[i] = i % 64 < 8 ? i % 64 : -1;
        for (int k = 0; k < K; k++) pa[i * K + k] = (i * 13 + k) % c.codebook_size;
    }
    sn_lm_sampling sp = sn_lm_sampling_default();
    uint64_t rng = 1;
    double p0 = now();
    sn_lm_step(m, kv, pt, pa, 64, lg, nt);
    double p1 = now();
    int steps = T - 64 < 256 ? T - 64 : 256;
    for (int st = 0; st < steps; st++) {
        sn_lm_cfg_mix(mix, lg, lg + K * Va, (size_t)K * Va, 3.0f);
        for (int k = 0; k < K; k++) a1[k] = a1[K + k] = sn_lm_sample(mix + k * Va, c.codebook_size, &sp, &rng, scr);
        sn_lm_step(m, kv, t1s, a1, 1, lg, nt);
    }
    double p2 = now();
    printf("generate B 2 (CFG): prefill 64 positions %.3f s; %d steps %.2f s: %.1f steps/s (positions %d..%d)\n",
           p1 - p0, steps, p2 - p1, steps / (p2 - p1), 64, 64 + steps);
    sn_lm_cache_free(kv);
    free(lg), free(mix), free(scr);

    printf("sgemm 512x512x4096: %.1f GFLOP/s (OpenBLAS, %d threads), %.1f GFLOP/s (blocked, OpenBLAS 1 thread, %d OpenMP threads)\n",
           sgemm_gflops(nt, nt), nt, sgemm_gflops(1, nt), nt);
    free(text), free(audio), free(targ);
    sn_lm_free(m);
    return 0;
}
