/* Speed of one training step (train_graph forward + backward) on the "small"
 * codec: 24 kHz mono, n_filters 16, ratios 8 5 4 2, no LSTM, dimension 128,
 * 8 codebooks of 1024, residual kernel 3, the rest as EnCodec's 24 kHz model.
 * B crops of T samples, random init + data-dependent init, codebooks from
 * random latent frames; single-threaded (OpenBLAS set to 1 thread). Prints ms
 * per step, audio-seconds per second, and the time per node kind. Wall and
 * process CPU time are both given: on a loaded machine the CPU time is the
 * steadier measure of the code itself.
 *
 *   bench-train-graph [B] [T] [steps] [ref_steps] [seanet|vocos]
 * defaults 4 24000 5 1 seanet (ref_steps: steps on the plain _ref kernels, 0:
 * skip; vocos: the Vocos decoder head at its default sizes, n_fft 4 x hop). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include "train_graph.h"
#include "kernels.h"
#include "sonotok/error.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static double urand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}

static void run(train_graph *g, const float *audio, int steps, int B, int T, int sr, const char *what) {
    train_losses L;
    sn_train_graph_set_timing(g, 1);
    double t0 = now_s(), c0 = cpu_s();
    for (int s = 0; s < steps; s++) {
        sn_train_graph_zero_grad(g);
        sn_train_graph_forward(g, audio, 1.0f, 1.0f, &L);
        sn_train_graph_backward(g, NULL);
    }
    double dt = (now_s() - t0) / steps, dc = (cpu_s() - c0) / steps;
    printf("%-5s: %8.1f ms per step wall, %8.1f ms CPU (B=%d, T=%d): %.2f audio-seconds per second (wall), %.2f (CPU); "
           "l1 %.4f commit %.4f\n", what, 1e3 * dt, 1e3 * dc, B, T, (double)B * T / sr / dt, (double)B * T / sr / dc,
           L.l1, L.commit);
    const char *names[TRAIN_NODE_KINDS];
    double f[TRAIN_NODE_KINDS], b[TRAIN_NODE_KINDS];
    sn_train_graph_timing(g, names, f, b);
    for (int k = 0; k < TRAIN_NODE_KINDS; k++)
        if (f[k] + b[k] > 0)
            printf("       %-10s fwd %8.2f ms  bwd %8.2f ms per step\n", names[k], 1e3 * f[k] / steps, 1e3 * b[k] / steps);
    sn_train_graph_set_timing(g, 0);
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 4, T = argc > 2 ? atoi(argv[2]) : 24000;
    int steps = argc > 3 ? atoi(argv[3]) : 5, ref_steps = argc > 4 ? atoi(argv[4]) : 1;
    sn_kern_set_threads(1);
    codec_config cfg;
    sn_codec_config_preset("encodec_24khz", &cfg);
    cfg.n_filters = 16;
    cfg.lstm_layers = 0;
    cfg.dimension = 128;
    cfg.n_q = 8;
    cfg.codebook_size = 1024;
    cfg.residual_kernel_size = 3;
    if (argc > 5 && !strcmp(argv[5], "vocos")) {
        cfg.decoder = DECODER_VOCOS;
        cfg.vocos_n_fft = 4 * sn_codec_config_hop(&cfg);
    }
    int err = 0;
    train_graph *g = sn_train_graph_new(&cfg, B, T, cfg.n_q, &err);
    if (!g) { fprintf(stderr, "sn_train_graph_new: %s\n", sono_strerror(err)); return 1; }
    size_t nx = (size_t)B * T;
    float *audio = malloc(nx * sizeof *audio);
    for (size_t i = 0; i < nx; i++) /* a few tones and noise, std about 0.1 */
        audio[i] = (float)(0.08 * sin(0.031 * (double)i) + 0.05 * sin(0.173 * (double)i + 1.0) +
                           0.04 * (2.0 * urand() - 1.0));
    sn_train_graph_init_params(g, 1234);
    double t0 = now_s();
    sn_train_graph_data_init(g, audio, 0.1f);
    printf("data init: %.1f ms; arena %.1f MB; %zu parameters\n", 1e3 * (now_s() - t0),
           sn_train_graph_arena_bytes(g) / 1e6, sn_train_graph_n_floats(g));
    /* codebooks: random latent frames (codebook 0), smaller noise for the rest */
    int F = sn_train_graph_frames(g), D = cfg.dimension, K = cfg.codebook_size;
    const float *z = sn_train_graph_latents(g);
    float *cb = sn_train_graph_codebooks(g);
    for (int q = 0; q < cfg.n_q; q++)
        for (int k = 0; k < K; k++) {
            int b = (int)(urand() * B), f = (int)(urand() * F);
            for (int d = 0; d < D; d++)
                cb[((size_t)q * K + k) * D + d] = q == 0 ? z[((size_t)b * D + d) * F + f]
                                                         : (float)((2.0 * urand() - 1.0) * pow(0.6, q));
        }
    sn_train_graph_codebooks_changed(g);
    run(g, audio, 1, B, T, cfg.sample_rate, "warm"); /* first touch of the arena */
    run(g, audio, steps, B, T, cfg.sample_rate, "fast");
    if (ref_steps > 0) {
        sn_train_graph_set_ref_kernels(g, 1);
        run(g, audio, ref_steps, B, T, cfg.sample_rate, "ref");
    }
    free(audio);
    sn_train_graph_free(g);
    return 0;
}
