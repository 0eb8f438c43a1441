/* One-shot speed measurement of the LM core (not a test; run by hand):
 * forward + backward tokens/s and GFLOP/s, the KV-cached generation step
 * rate with CFG (B = 2), and the sgemm yardstick of `sonotok bench`
 * (512x512x4096) on the same threads.
 *
 *   bench-lm [THREADS [C LAYERS HEADS T K CODEBOOK B [gen]]]   (default 2, 512 8 8 1024 4 1024 4;
 *   gen: the generation part only)
 *   bench-lm gemv [THREADS [C LAYERS [ROUNDS]]]   (the step's matmuls by path: see bench_gemv) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>

#include "kernels.h"
#include "lm_cache.h"
#include "lm_gemv.h"
#include "lm_layers.h"
#include "lm_model.h"
#include "lm_sample.h"
#include "sonotok/cpu.h"

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

/* ---- bench-lm gemv: the generation step's matmuls, path against path ----
 *
 * For a model of width C, L layers and K heads of 1026 classes, one "pass"
 * is every matmul a generation step makes (per layer qkv, attention
 * projection, fc, MLP projection; then the heads) on M rows, over the
 * model's own, separately allocated weights (so they stream from memory as
 * in a real step). Paths: OpenBLAS sgemv per row over cached weight blocks
 * (the former path, SONO_CPU_PLAIN), our kernel at AVX2 and AVX-512, and
 * the same on float16 weights. Rounds alternate the paths (a busy machine
 * slows them alike); the median pass time of each is reported. Then whole
 * KV-cached steps (sn_lm_step, 128 positions in the cache) per path. */

enum { P_SGEMV, P_AVX2, P_AVX512, P_F16_AVX2, P_F16_AVX512, N_PATHS };
static const char *const path_name[N_PATHS] = {"sgemv", "avx2", "avx512", "f16-avx2", "f16-avx512"};
static const int path_level[N_PATHS] = {SONO_CPU_PLAIN, SONO_CPU_AVX2, SONO_CPU_AVX512, SONO_CPU_AVX2, SONO_CPU_AVX512};

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void one_pass(const sn_lm *m, const sn_lm_half *h, int half, int M, float *x, float *y, int nt) {
    int C = m->cfg.C, NV = m->cfg.K * sn_lm_v_audio(&m->cfg);
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const sn_lm_layer_w *w = &m->w.layer[l];
        if (half) {
            sn_lm_gemv_f16(y, 4 * C, x, C, h->layer[l].qkv, C, M, 3 * C, C, 0, nt);
            sn_lm_gemv_f16(y, 4 * C, x, C, h->layer[l].attn_proj, C, M, C, C, 1, nt);
            sn_lm_gemv_f16(y, 4 * C, x, C, h->layer[l].fc, C, M, 4 * C, C, 0, nt);
            sn_lm_gemv_f16(x, C, y, 4 * C, h->layer[l].mlp_proj, 4 * C, M, C, 4 * C, 1, nt);
        } else {
            sn_lm_gemm(0, 1, M, 3 * C, C, x, C, w->qkv_w, C, 0.0f, y, 4 * C, nt);
            sn_lm_gemm(0, 1, M, C, C, x, C, w->attn_proj_w, C, 1.0f, y, 4 * C, nt);
            sn_lm_gemm(0, 1, M, 4 * C, C, x, C, w->fc_w, C, 0.0f, y, 4 * C, nt);
            sn_lm_gemm(0, 1, M, C, 4 * C, y, 4 * C, w->mlp_proj_w, 4 * C, 1.0f, x, C, nt);
        }
    }
    if (half) sn_lm_gemv_f16(y, NV, x, C, h->head, C, M, NV, C, 0, nt);
    else sn_lm_gemm(0, 1, M, NV, C, x, C, m->w.head_w, C, 0.0f, y, NV, nt);
}

static double clock_of(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench_gemv(int nt, int C, int L, int rounds) {
    /* one thread: its CPU time, which a busy machine's other processes do
     * not add to (they still share the caches and memory); more: wall time */
    clockid_t clk = nt == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    sn_lm_config c = sn_lm_config_default();
    c.V_text = 256;
    c.C = C;
    c.n_layer = L;
    c.n_head = C / 64;
    c.K = 8;
    c.T_max = 256;
    sn_lm *m = NULL;
    sn_lm_half *h = NULL;
    if (sn_lm_new(&c, &m) < 0) return 1;
    sn_lm_init_params(m, 1);
    double h0 = now();
    if (sn_lm_half_new(m, nt, &h) < 0) return 1;
    double h_ms = (now() - h0) * 1e3;
    int NV = c.K * sn_lm_v_audio(&c), top = sono_set_cpu_level(SONO_CPU_AVX512);
    double mat = 12.0 * C * C * L + (double)NV * C; /* weights the pass reads */
    printf("gemv: C %d, %d layers, K %d: %.2f M parameters, a pass reads %.1f M weights (%.0f MB float32); %d threads, "
           "cpu %s; float16 copies made in %.1f ms\n", C, L, c.K, m->n_params / 1e6, mat / 1e6, mat * 4 / 1e6, nt,
           sono_cpu_level_name(top), h_ms);
    sn_kern_set_threads(1);
    float *x = malloc(sizeof(float) * 16 * 4 * C), *y = malloc(sizeof(float) * 16 * (NV > 4 * C ? NV : 4 * C));
    double *t = malloc(sizeof(double) * rounds);
    static const int Ms[] = {1, 2, 4, 8, 16};
    printf("  %-3s", "M");
    for (int p = 0; p < N_PATHS; p++) printf(" %17s", path_name[p]);
    printf("   (%s ms per pass, GB/s of weights)\n", nt == 1 ? "CPU" : "wall");
    for (size_t im = 0; im < sizeof Ms / sizeof *Ms; im++) {
        int M = Ms[im];
        double ms[N_PATHS][64];
        for (int r = 0; r < rounds && r < 64; r++)
            for (int p = 0; p < N_PATHS; p++) {
                for (int i = 0; i < M * C; i++) x[i] = 0.01f * (float)((i * 7) % 13) - 0.06f;
                sono_set_cpu_level(path_level[p]);
                double t0 = clock_of(clk);
                if (sono_cpu_level() == path_level[p]) one_pass(m, h, p >= P_F16_AVX2, M, x, y, nt);
                ms[p][r] = (clock_of(clk) - t0) * 1e3;
            }
        printf("  %-3d", M);
        for (int p = 0; p < N_PATHS; p++) {
            for (int r = 0; r < rounds; r++) t[r] = ms[p][r];
            double md = median(t, rounds);
            printf(" %7.2f (%5.1f GB/s)", md, mat * (p >= P_F16_AVX2 ? 2 : 4) / (md * 1e-3) / 1e9);
        }
        printf("\n");
    }
    sono_set_cpu_level(SONO_CPU_AVX512);

    /* whole steps: B rows, 128 positions already in the cache */
    printf("  sn_lm_step, B rows, 128 positions cached (%s ms per step, median of %d):\n  %-3s", nt == 1 ? "CPU" : "wall",
           rounds, "B");
    for (int p = 0; p < N_PATHS; p++) printf(" %10s", path_name[p]);
    printf("\n");
    for (size_t im = 0; im < sizeof Ms / sizeof *Ms; im++) {
        int B = Ms[im], K = c.K, Va = sn_lm_v_audio(&c);
        sn_lm_cache *kv = NULL;
        if (sn_lm_cache_new(m, B, c.T_max, 16, &kv) < 0) return 1;
        int32_t *pt = malloc(sizeof(int32_t) * B * 128), *pa = calloc((size_t)B * 128 * K, sizeof(int32_t));
        float *lg = malloc(sizeof(float) * B * K * Va);
        for (int i = 0; i < B * 128; i++) pt[i] = i % 128 < 4 ? 3 : -1;
        sn_lm_step(m, kv, pt, pa, 128, lg, nt);
        double ms[N_PATHS][64];
        int32_t t1[16], a1[16 * 32];
        for (int i = 0; i < B; i++) t1[i] = -1;
        for (int i = 0; i < B * K; i++) a1[i] = i % c.codebook_size;
        for (int r = 0; r < rounds && r < 64; r++)
            for (int p = 0; p < N_PATHS; p++) {
                sono_set_cpu_level(path_level[p]);
                kv->half = p >= P_F16_AVX2 ? h : NULL;
                double t0 = clock_of(clk);
                if (sono_cpu_level() == path_level[p]) sn_lm_step(m, kv, t1, a1, 1, lg, nt);
                ms[p][r] = (clock_of(clk) - t0) * 1e3;
                kv->n_pos--; /* the same position again */
            }
        printf("  %-3d", B);
        for (int p = 0; p < N_PATHS; p++) {
            for (int r = 0; r < rounds; r++) t[r] = ms[p][r];
            printf(" %10.2f", median(t, rounds));
        }
        printf("\n");
        sn_lm_cache_free(kv);
        free(pt), free(pa), free(lg);
    }
    sono_set_cpu_level(SONO_CPU_AVX512);
    free(x), free(y), free(t);
    sn_lm_half_free(h);
    sn_lm_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "gemv")) { /* bench-lm gemv [THREADS [C LAYERS [ROUNDS]]] */
        int nt = argc > 2 ? atoi(argv[2]) : 2, rounds = argc > 5 ? atoi(argv[5]) : 15;
        if (argc > 4) return bench_gemv(nt, atoi(argv[3]), atoi(argv[4]), rounds < 1 ? 1 : rounds > 64 ? 64 : rounds);
        return bench_gemv(nt, 512, 8, rounds) || bench_gemv(nt, 256, 4, rounds);
    }
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
