/* Speed of the MS-STFT discriminator (codec/train/disc.c) as the codec trainer runs
 * it: one disc per thread, single-threaded (OpenBLAS set to 1 thread), the
 * default EnCodec config (5 scales, n_fft 1024 2048 512 256 128), B crops of
 * T samples, mono, for filters 8 and 32. Times sn_disc_loss_d and sn_disc_loss_g
 * (best of `reps` after a warm-up) and, as a breakdown, each conv2d layer's
 * forward, input gradient and weight gradient on its own. Times are CPU time
 * of this thread (CLOCK_THREAD_CPUTIME_ID): the machine may be shared, and
 * CPU time is the steadier measure of the code itself; wall time is printed
 * next to it.
 *
 *   bench-disc [B] [T] [reps] [filters...]
 * defaults 4 24000 3 8 32. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "disc.h"
#include "kernels.h"

static double clk(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double cpu_s(void) { return clk(CLOCK_THREAD_CPUTIME_ID); }
static double wall_s(void) { return clk(CLOCK_MONOTONIC); }

static uint64_t rng = 0x243F6A8885A308D3ull;
static float urand_pm(void) {   /* U(-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

typedef struct { double cpu, wall; } tm;

static void keep_best(tm *best, double c0, double w0) {
    double c = cpu_s() - c0, w = wall_s() - w0;
    if (best->cpu == 0 || c < best->cpu) best->cpu = c;
    if (best->wall == 0 || w < best->wall) best->wall = w;
}

/* Each distinct conv2d shape of the disc, timed alone (best of reps). */
static void layer_breakdown(const disc_config *cfg, int T, int reps, int B) {
    printf("  per layer, one crop (ms CPU: forward, input grad, weight grad)\n");
    double tot_f = 0, tot_i = 0, tot_w = 0;
    for (int si = 0; si < cfg->n_scales; si++) {
        int frames = (T - cfg->n_fft[si]) / cfg->hop[si] + 1, bins = cfg->n_fft[si] / 2 + 1;
        int H = frames, W = bins, Cin = 2 * cfg->channels;
        for (int l = 0; l < 6; l++) {
            disc_conv2d_shape s;
            const int dil = l >= 1 && l <= 3 ? 1 << (l - 1) : 1;
            s.C_in = Cin; s.C_out = l == 5 ? 1 : cfg->filters; s.H = H; s.W = W;
            s.kh = 3; s.kw = l <= 3 ? 9 : 3; s.sh = 1; s.sw = l >= 1 && l <= 3 ? 2 : 1;
            s.dh = dil; s.dw = 1; s.ph = (s.kh - 1) * dil / 2; s.pw = (s.kw - 1) / 2;
            const int Ho = disc_conv2d_out(H, s.kh, s.sh, s.dh, s.ph), Wo = disc_conv2d_out(W, s.kw, s.sw, s.dw, s.pw);
            size_t nin = (size_t)s.C_in * H * W, nout = (size_t)s.C_out * Ho * Wo;
            size_t nw = (size_t)s.C_out * s.C_in * s.kh * s.kw;
            float *in = malloc(nin * sizeof(float)), *din = calloc(nin, sizeof(float));
            float *out = malloc(nout * sizeof(float)), *dout = malloc(nout * sizeof(float));
            float *w = malloc(nw * sizeof(float)), *dw = calloc(nw, sizeof(float)), b[4096] = {0}, db[4096] = {0};
            float *scr = malloc((sn_disc_conv2d_scratch_floats(&s) + 1) * sizeof(float));
            for (size_t k = 0; k < nin; k++) in[k] = urand_pm();
            for (size_t k = 0; k < nout; k++) dout[k] = urand_pm();
            for (size_t k = 0; k < nw; k++) w[k] = urand_pm() * 0.1f;
            double tf = 1e9, ti = 1e9, tw = 1e9;
            for (int r = 0; r <= reps; r++) {
                double c0 = cpu_s();
                sn_disc_conv2d_forward(out, in, w, b, &s, scr);
                double c1 = cpu_s();
                sn_disc_conv2d_backward(din, NULL, NULL, dout, in, w, &s, scr);
                double c2 = cpu_s();
                sn_disc_conv2d_backward(NULL, dw, db, dout, in, w, &s, scr);
                double c3 = cpu_s();
                if (r > 0) {
                    if (c1 - c0 < tf) tf = c1 - c0;
                    if (c2 - c1 < ti) ti = c2 - c1;
                    if (c3 - c2 < tw) tw = c3 - c2;
                }
            }
            double macs = (double)nout * s.C_in * s.kh * s.kw;
            printf("    s%d l%d %2d->%-2d %4dx%-4d -> %4dx%-4d k%dx%d s%d d%d  %7.3f %7.3f %7.3f   (%.1f M MAC, fwd %.1f GMAC/s)\n",
                   si, l, s.C_in, s.C_out, H, W, Ho, Wo, s.kh, s.kw, s.sw, s.dh, tf * 1e3, ti * 1e3, tw * 1e3,
                   macs * 1e-6, macs / tf * 1e-9);
            tot_f += tf; tot_i += ti; tot_w += tw;
            free(in); free(din); free(out); free(dout); free(w); free(dw); free(scr);
            H = Ho; W = Wo; Cin = s.C_out;
        }
    }
    (void)B;
    printf("  layers total per crop: fwd %.2f, din %.2f, dw %.2f ms\n", tot_f * 1e3, tot_i * 1e3, tot_w * 1e3);
    /* loss_d: 2 crops fwd + din (except the first layer) + dw; loss_g: 2 fwd + 1 din */
    printf("  => conv estimate per crop: loss_d ~%.1f ms, loss_g ~%.1f ms\n",
           2 * (tot_f + tot_i + tot_w) * 1e3, (2 * tot_f + tot_i) * 1e3);
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 4, T = argc > 2 ? atoi(argv[2]) : 24000, reps = argc > 3 ? atoi(argv[3]) : 3;
    int filt[16], nf = 0;
    for (int i = 4; i < argc && nf < 16; i++) filt[nf++] = atoi(argv[i]);
    if (!nf) { filt[0] = 8; filt[1] = 32; nf = 2; }
    if (B < 1 || T < 2048 || reps < 1) {
        fprintf(stderr, "usage: bench-disc [B] [T] [reps] [filters...]\n");
        return 1;
    }
    sn_kern_set_threads(1);
    printf("bench-disc: B %d, T %d, best of %d, single thread, CPU time of this thread (wall in brackets)\n", B, T,
           reps);
    for (int fi = 0; fi < nf; fi++) {
        disc_config cfg = sn_disc_default_config(1, filt[fi]);
        int err = 0;
        disc *d = sn_disc_new_config(&cfg, B, T, &err);
        if (!d) { fprintf(stderr, "sn_disc_new_config failed: %d\n", err); return 1; }
        sn_disc_init_params(d, 1234);
        size_t n = (size_t)B * T;
        float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *dy = calloc(n, sizeof(float));
        for (size_t k = 0; k < n; k++) { x[k] = 0.3f * urand_pm(); y[k] = 0.3f * urand_pm(); }
        tm bd = {0, 0}, bg = {0, 0};
        double ld = 0, adv = 0, feat = 0;
        for (int r = 0; r <= reps; r++) {   /* r == 0: warm-up */
            sn_disc_zero_grad(d);
            double c0 = cpu_s(), w0 = wall_s();
            ld = sn_disc_loss_d(d, x, y);
            if (r) keep_best(&bd, c0, w0);
            c0 = cpu_s(); w0 = wall_s();
            sn_disc_loss_g(d, x, y, 4.0f, 4.0f, dy, &adv, &feat);
            if (r) keep_best(&bg, c0, w0);
        }
        printf("filters %d: %zu params; L_d %.6f adv %.6f feat %.6f\n", filt[fi], sn_disc_n_floats(d), ld, adv, feat);
        printf("  sn_disc_loss_d %8.2f ms/crop (%8.2f)\n", bd.cpu * 1e3 / B, bd.wall * 1e3 / B);
        printf("  sn_disc_loss_g %8.2f ms/crop (%8.2f)\n", bg.cpu * 1e3 / B, bg.wall * 1e3 / B);
        printf("  d + g       %8.2f ms/crop (%8.2f)\n", (bd.cpu + bg.cpu) * 1e3 / B, (bd.wall + bg.wall) * 1e3 / B);
        layer_breakdown(&cfg, T, reps, B);
        free(x); free(y); free(dy);
        sn_disc_free(d);
    }
    return 0;
}
