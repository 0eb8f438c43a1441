/* Kernel speed at the EnCodec 24 kHz shapes for one second of audio
 * (T = 24000 at the top), with 1 and 2 threads, next to plain sgemm on a
 * 512x512x4096 product. Not a test: run by hand,
 *   build/tests/kernels/kernel_bench [-b|-a] [-c] [-1] [seconds_per_case]
 * -b forces the OpenBLAS back end (as on CPUs without AVX2) and -a the AVX2
 * one, for comparison; -c times with the thread's CPU clock and -1 runs one
 * thread only (together: rough 1-thread numbers on a machine other jobs use).
 * Each time is the fastest of the calls made in seconds_per_case (default
 * 0.5). The last line adds the kernels up, times their count per second of
 * audio, into an estimate of the whole codec's kernel time.
 * Two-thread numbers mean something only with both cores idle: when another
 * process holds the second core, every parallel region waits for a scheduler
 * tick (4 ms here) to get it. OpenBLAS reads its own environment
 * (OPENBLAS_CORETYPE etc.) as usual; this program sets none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#undef SONO_REF_KERNELS /* time the fast kernels in every build */
#include "kernels.h"

int sn_kern_test_set_isa(int level);
char *openblas_get_corename(void);

static int g_cpu_clock; /* -c: thread CPU time (1-thread runs on a busy machine) */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(g_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) { fprintf(stderr, "kernel_bench: out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
    return p;
}

enum { K_CONV, K_CONVTR, K_LSTM, K_ELU, K_GN, K_SGEMM };

typedef struct {
    const char *name;
    int kind;
    int a, b, T, K, stride; /* conv/convtr: C_in, C_out; lstm: C, H; elu/gn: C */
    int count;              /* how many such calls per second of audio (encode + decode) */
} bench_case;

static double g_budget = 0.5; /* seconds per measurement */

/* Seconds per call (the fastest of the calls made in g_budget seconds). */
static double time_case(const bench_case *c, int nt) {
    float *x = NULL, *w = NULL, *w2 = NULL, *bb = NULL, *y = NULL, *s = NULL, *h = NULL, *cc = NULL;
    size_t nx = 0, ny = 0, ns = 0;
    int T_in = 0;
    switch (c->kind) {
    case K_CONV:
        T_in = (c->T - 1) * c->stride + c->K;
        nx = (size_t)c->a * T_in; ny = (size_t)c->b * c->T;
        ns = sn_conv1d_scratch_floats(c->a, c->K, c->T);
        w = buf((size_t)c->a * c->b * c->K); bb = buf(c->b);
        break;
    case K_CONVTR:
        nx = (size_t)c->a * c->T; ny = (size_t)c->b * ((size_t)(c->T - 1) * c->stride + c->K);
        ns = sn_convtr1d_scratch_floats(c->b, c->K, c->T);
        w = buf((size_t)c->a * c->b * c->K); bb = buf(c->b);
        break;
    case K_LSTM:
        nx = (size_t)c->a * c->T; ny = (size_t)c->b * c->T;
        ns = sn_lstm_scratch_floats(c->a, c->b, c->T);
        w = buf((size_t)4 * c->b * c->a); w2 = buf((size_t)4 * c->b * c->b); bb = buf((size_t)4 * c->b);
        h = buf(c->b); cc = buf(c->b);
        for (int i = 0; i < 4 * c->b; i++) bb[i] *= 0.01f;
        for (size_t i = 0; i < (size_t)4 * c->b * c->b; i++) w2[i] *= 0.04f;
        for (size_t i = 0; i < (size_t)4 * c->b * c->a; i++) w[i] *= 0.04f;
        break;
    case K_ELU: case K_GN:
        nx = ny = (size_t)c->a * c->T; bb = buf(c->a); w = buf(c->a);
        break;
    case K_SGEMM:
        nx = (size_t)c->K * c->T; w = buf((size_t)c->a * c->K); ny = (size_t)c->a * c->T;
        break;
    }
    x = buf(nx); y = buf(ny); s = buf(ns);
    /* best single call: other processes only ever add time, so the fastest
     * of many calls is the closest to the kernel's own speed */
    double best = 1e30, t_start = now_s();
    int calls = 0;
    do {
        double t0 = now_s();
        switch (c->kind) {
        case K_CONV:
            sn_conv1d_forward(y, x, w, bb, c->a, c->b, T_in, c->K, c->stride, 1, s, nt); break;
        case K_CONVTR:
            sn_convtr1d_forward(y, x, w, bb, c->a, c->b, c->T, c->K, c->stride, s, nt); break;
        case K_LSTM:
            sn_lstm_forward(y, x, w, w2, bb, bb, h, cc, c->a, c->b, c->T, s, nt); break;
        case K_ELU:
            sn_elu_forward(y, x, nx, 1.0f, nt); break;
        case K_GN:
            sn_groupnorm1_forward(y, x, w, bb, c->a, c->T, 1e-5f, nt); break;
        case K_SGEMM:
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->a, c->T, c->K,
                        1.0f, w, c->K, x, c->T, 0.0f, y, c->T);
            break;
        }
        double el = now_s() - t0;
        if (el < best) best = el;
        calls++;
    } while (calls < 3 || now_s() - t_start < g_budget);
    free(x); free(w); free(w2); free(bb); free(y); free(s); free(h); free(cc);
    return best;
}

static double case_flops(const bench_case *c) {
    switch (c->kind) {
    case K_CONV: return 2.0 * c->a * c->b * c->K * c->T;
    case K_CONVTR: return 2.0 * c->a * c->b * c->K * c->T;
    case K_LSTM: return 2.0 * 4 * c->b * (double)(c->a + c->b) * c->T;
    case K_SGEMM: return 2.0 * c->a * c->K * (double)c->T;
    default: return (double)c->a * c->T; /* elements */
    }
}

int main(int argc, char **argv) {
    int force_blas = 0, max_nt = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b")) force_blas = 1;
        else if (!strcmp(argv[i], "-a")) force_blas = 2;
        else if (!strcmp(argv[i], "-c")) g_cpu_clock = 1;
        else if (!strcmp(argv[i], "-1")) max_nt = 1;
        else if (!strcmp(argv[i], "-h")) {
            printf("usage: kernel_bench [-b|-a] [-c] [-1] [seconds_per_case]\n");
            return 0;
        } else g_budget = atof(argv[i]) > 0 ? atof(argv[i]) : g_budget;
    }
    int isa = sn_kern_test_set_isa(force_blas == 1 ? 0 : force_blas == 2 ? 1 : 2);
    static const char *isa_names[] = {"OpenBLAS/plain", "AVX2", "AVX-512"};
    printf("kernel back end: %s; OpenBLAS core: %s\n", isa_names[isa], openblas_get_corename());

    static const bench_case cases[] = {
        {"sgemm 512x512 x 512x4096", K_SGEMM, 512, 0, 4096, 512, 1, 0},
        {"enc conv 1->32 k7", K_CONV, 1, 32, 24000, 7, 1, 1},
        {"res conv 32->16 k3 T24000", K_CONV, 32, 16, 24000, 3, 1, 2},
        {"res conv 16->32 k1 T24000", K_CONV, 16, 32, 24000, 1, 1, 2},
        {"enc conv 32->64 k4 s2", K_CONV, 32, 64, 12000, 4, 2, 1},
        {"res conv 64->32 k3 T12000", K_CONV, 64, 32, 12000, 3, 1, 2},
        {"res conv 32->64 k1 T12000", K_CONV, 32, 64, 12000, 1, 1, 2},
        {"enc conv 64->128 k8 s4", K_CONV, 64, 128, 3000, 8, 4, 1},
        {"res conv 128->64 k3 T3000", K_CONV, 128, 64, 3000, 3, 1, 2},
        {"res conv 64->128 k1 T3000", K_CONV, 64, 128, 3000, 1, 1, 2},
        {"enc conv 128->256 k10 s5", K_CONV, 128, 256, 600, 10, 5, 1},
        {"res conv 256->128 k3 T600", K_CONV, 256, 128, 600, 3, 1, 2},
        {"res conv 128->256 k1 T600", K_CONV, 128, 256, 600, 1, 1, 2},
        {"enc conv 256->512 k16 s8", K_CONV, 256, 512, 75, 16, 8, 1},
        {"lstm 512 H512 T75", K_LSTM, 512, 512, 75, 0, 0, 4},
        {"enc conv 512->128 k7 T75", K_CONV, 512, 128, 75, 7, 1, 1},
        {"dec conv 128->512 k7 T75", K_CONV, 128, 512, 75, 7, 1, 1},
        {"dec convtr 512->256 k16 s8", K_CONVTR, 512, 256, 75, 16, 8, 1},
        {"dec convtr 256->128 k10 s5", K_CONVTR, 256, 128, 600, 10, 5, 1},
        {"dec convtr 128->64 k8 s4", K_CONVTR, 128, 64, 3000, 8, 4, 1},
        {"dec convtr 64->32 k4 s2", K_CONVTR, 64, 32, 12000, 4, 2, 1},
        {"dec conv 32->1 k7", K_CONV, 32, 1, 24000, 7, 1, 1},
        /* ELU count: per level (dim, T) three ELUs over dim, dim/2, dim rows, encoder
         * and decoder; approximated by these three sizes */
        {"elu 32x24000", K_ELU, 32, 0, 24000, 0, 0, 5},
        {"elu 64x12000", K_ELU, 64, 0, 12000, 0, 0, 5},
        {"elu 128x3000", K_ELU, 128, 0, 3000, 0, 0, 5},
        {"groupnorm1 32x24000", K_GN, 32, 0, 24000, 0, 0, 0},
    };
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    double total[3] = {0, 0, 0};
    printf("%-30s %12s %10s %10s %10s %10s\n", "kernel (1 s of audio)", "MFLOP|Melem",
           "1 thr ms", "1 thr G/s", "2 thr ms", "2 thr G/s");
    for (int i = 0; i < n_cases; i++) {
        const bench_case *c = &cases[i];
        double f = case_flops(c), t[3] = {0, 0, 0};
        for (int nt = 1; nt <= max_nt; nt++) {
            sn_kern_set_threads(nt);
            t[nt] = time_case(c, nt);
            total[nt] += c->count * t[nt];
        }
        printf("%-30s %12.1f %10.3f %10.1f %10.3f %10.1f%s\n", c->name, f * 1e-6,
               t[1] * 1e3, f / t[1] * 1e-9, t[2] * 1e3, t[2] > 0 ? f / t[2] * 1e-9 : 0.0,
               c->kind >= K_ELU && c->kind != K_SGEMM ? "  (Gelem/s)" : "");
    }
    printf("codec kernels, estimated per second of audio (encode + decode): "
           "%.1f ms with 1 thread, %.1f ms with 2\n", total[1] * 1e3, total[2] * 1e3);
    return 0;
}
