/* Speed of the multi-period discriminator (codec/train/mpd.c) as a trainer
 * would run it: one mpd per thread, single-threaded (OpenBLAS set to 1
 * thread), periods 2 3 5 7 11, B mono crops of T samples, for each width
 * multiplier given (widths f * (1, 4, 16, 32, 32): f = 4 gives 4/16/64/128/128).
 * Times sn_mpd_loss_d and sn_mpd_loss_g (best of `reps` after a warm-up) as CPU
 * time of this thread (the machine may be shared); wall time in brackets.
 * Compare with bench-disc (the MS-STFT discriminator) run the same way.
 *
 *   bench-mpd [B] [T] [reps] [filters...]
 * defaults 4 24000 3 4 8. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels.h"
#include "mpd.h"

static double clk(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 4, T = argc > 2 ? atoi(argv[2]) : 24000, reps = argc > 3 ? atoi(argv[3]) : 3;
    int filt[16], nf = 0;
    for (int i = 4; i < argc && nf < 16; i++) filt[nf++] = atoi(argv[i]);
    if (!nf) { filt[0] = 4; filt[1] = 8; nf = 2; }
    if (B < 1 || T < 11 || reps < 1) {
        fprintf(stderr, "usage: bench-mpd [B] [T] [reps] [filters...]\n");
        return 1;
    }
    sn_kern_set_threads(1);
    printf("bench-mpd: B %d, T %d, periods 2 3 5 7 11, best of %d, single thread, CPU time of this thread (wall in "
           "brackets)\n", B, T, reps);
    uint64_t rng = 0x243F6A8885A308D3ull;
    for (int fi = 0; fi < nf; fi++) {
        int err = 0;
        mpd *m = sn_mpd_new(1, filt[fi], B, T, &err);
        if (!m) { fprintf(stderr, "sn_mpd_new failed: %d\n", err); return 1; }
        sn_mpd_init_params(m, 1234);
        const size_t n = (size_t)B * T;
        float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *dy = calloc(n, sizeof(float));
        for (size_t k = 0; k < n; k++) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            x[k] = 0.3f * (float)((double)(rng >> 11) * 0x1.0p-53 * 2.0 - 1.0);
            y[k] = 0.9f * x[k];
        }
        double bd[2] = {1e30, 1e30}, bg[2] = {1e30, 1e30}, ld = 0, adv = 0, feat = 0;
        for (int r = 0; r <= reps; r++) {   /* r == 0: warm-up */
            sn_mpd_zero_grad(m);
            double c0 = clk(CLOCK_THREAD_CPUTIME_ID), w0 = clk(CLOCK_MONOTONIC);
            ld = sn_mpd_loss_d(m, x, y);
            double c1 = clk(CLOCK_THREAD_CPUTIME_ID), w1 = clk(CLOCK_MONOTONIC);
            sn_mpd_loss_g(m, x, y, 1.0f, 2.0f, dy, &adv, &feat);
            double c2 = clk(CLOCK_THREAD_CPUTIME_ID), w2 = clk(CLOCK_MONOTONIC);
            if (!r) continue;
            if (c1 - c0 < bd[0]) bd[0] = c1 - c0;
            if (w1 - w0 < bd[1]) bd[1] = w1 - w0;
            if (c2 - c1 < bg[0]) bg[0] = c2 - c1;
            if (w2 - w1 < bg[1]) bg[1] = w2 - w1;
        }
        const mpd_config *c = sn_mpd_get_config(m);
        printf("filters %d (widths %d/%d/%d/%d/%d): %zu params; L_d %.6f adv %.6f feat %.6f\n", filt[fi], c->width[0],
               c->width[1], c->width[2], c->width[3], c->width[4], sn_mpd_n_floats(m), ld, adv, feat);
        printf("  sn_mpd_loss_d %8.2f ms/crop (%8.2f)\n", bd[0] * 1e3 / B, bd[1] * 1e3 / B);
        printf("  sn_mpd_loss_g %8.2f ms/crop (%8.2f)\n", bg[0] * 1e3 / B, bg[1] * 1e3 / B);
        printf("  d + g         %8.2f ms/crop (%8.2f)\n", (bd[0] + bg[0]) * 1e3 / B, (bd[1] + bg[1]) * 1e3 / B);
        free(x); free(y); free(dy);
        sn_mpd_free(m);
    }
    return 0;
}
