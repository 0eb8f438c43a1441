/* What float16 weights do to an LM's outputs (a measurement, not a test;
 * run by hand, lm/README.md has the numbers):
 *
 *   lm-f16-effect LM.safetensors [FRAMES]                 an LM file
 *   lm-f16-effect random CODEC WIDTH LAYERS [FRAMES]      random weights (GPT-2 init) for CODEC's codebooks at 6 kbps
 *
 * 1. Logits: the float32 greedy continuation's delayed grid (no prompt,
 *    task continue) is run step by step through two KV caches, float32 and
 *    float16 weights, each step fed the same ids: max |logit difference|,
 *    the largest |logit|, and how many (step, codebook) argmaxes differ.
 * 2. Outputs: sono_lm_generate with half_weights 0 and 1, greedy and
 *    sampled (temperature 1, top-k 250, seeds 1..4): the first frame where
 *    the codes part, and the share of codes that agree; for scale, the same
 *    for float32 through OpenBLAS sgemv (SONO_CPU_PLAIN) against our kernel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lm_cache.h"
#include "lm_delay.h"
#include "lm_file.h"
#include "lm_sample.h"
#include "sonotok/codec.h"
#include "sonotok/cpu.h"
#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"

static int64_t first_difference(const int32_t *a, const int32_t *b, int K, int64_t F, int64_t stride, int64_t *same) {
    int64_t first = -1;
    *same = 0;
    for (int64_t f = 0; f < F; f++)
        for (int k = 0; k < K; k++) {
            int eq = a[k * stride + f] == b[k * stride + f];
            *same += eq;
            if (!eq && first < 0) first = f;
        }
    return first;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: lm-f16-effect LM.safetensors [FRAMES] | random CODEC WIDTH LAYERS [FRAMES]\n");
        return 2;
    }
    int err = 0, random = !strcmp(argv[1], "random");
    int64_t F = argc > (random ? 5 : 2) ? atoll(argv[random ? 5 : 2]) : 375;
    sono_lm *lm = NULL;
    if (random) {
        if (argc < 5) return 2;
        sono_codec_params cp = sono_codec_default_params();
        sono_codec *codec = sono_codec_load(argv[2], &cp, &err);
        if (!codec) return fprintf(stderr, "%s\n", sono_last_error()), 1;
        int K = sono_codec_n_q_for_bandwidth(codec, 6.0);
        lm = sono_lm_random(codec, K > 0 ? K : sono_codec_max_codebooks(codec), atoi(argv[3]), atoi(argv[4]),
                            atoi(argv[3]) >= 128 ? atoi(argv[3]) / 64 : 1, 1024, 1, &err);
        sono_codec_free(codec);
    } else {
        lm = sono_lm_load(argv[1], &err);
    }
    if (!lm) return fprintf(stderr, "%s\n", sono_last_error()), 1;
    const sn_lm *m = lm->m;
    const int K = m->cfg.K, Va = sn_lm_v_audio(&m->cfg), cb = m->cfg.codebook_size;
    printf("LM %s: width %d, %d layers, K %d, context %d, %.2f M parameters; %lld frames\n", lm->name, m->cfg.C,
           m->cfg.n_layer, K, m->cfg.T_max, m->n_params / 1e6, (long long)F);

    /* 2. outputs, greedy and sampled */
    sono_lm_generate_params g = sono_lm_generate_default_params();
    g.max_frames = g.min_frames = F;
    int64_t room = sono_lm_generate_max_frames(lm, &g);
    if (room < 0) return fprintf(stderr, "%s\n", sono_last_error()), 1;
    int32_t *c32 = malloc(sizeof(int32_t) * K * F), *c16 = malloc(sizeof(int32_t) * K * F);
    int32_t *greedy = malloc(sizeof(int32_t) * K * F);
    int64_t n32 = 0, n16 = 0, n_greedy = 0, same = 0;
    for (int run = 0; run < 5; run++) {
        g.temperature = run == 0 ? 0.0f : 1.0f;
        g.seed = (uint64_t)(run > 0 ? run : 1);
        g.half_weights = 0;
        if (sono_lm_generate(lm, &g, NULL, NULL, c32, &n32)) return fprintf(stderr, "%s\n", sono_last_error()), 1;
        g.half_weights = 1;
        if (sono_lm_generate(lm, &g, NULL, NULL, c16, &n16)) return fprintf(stderr, "%s\n", sono_last_error()), 1;
        int64_t first = first_difference(c32, c16, K, F, F, &same), same_p = 0;
        /* for scale: float32 through OpenBLAS sgemv (the plain level) against our kernel */
        int level = sono_cpu_level();
        sono_set_cpu_level(SONO_CPU_PLAIN);
        g.half_weights = 0;
        int rc = sono_lm_generate(lm, &g, NULL, NULL, c16, &n16);
        sono_set_cpu_level(level);
        if (rc) return fprintf(stderr, "%s\n", sono_last_error()), 1;
        int64_t first_p = first_difference(c32, c16, K, F, F, &same_p);
        printf("%s %d: float16 codes part from float32's at frame %lld of %lld (-1: never), %.1f%% agree; "
               "float32 by sgemv at frame %lld, %.1f%% agree\n", run == 0 ? "greedy" : "sampled, seed", run,
               (long long)first, (long long)F, 100.0 * same / ((double)K * F), (long long)first_p,
               100.0 * same_p / ((double)K * F));
        if (run == 0) {
            memcpy(greedy, c32, sizeof(int32_t) * K * F);
            n_greedy = n32;
        }
    }

    /* 1. logits along the float32 greedy grid (kept in c16) */
    const int S = (int)(n_greedy + K), P = 2;
    int32_t *grid = malloc(sizeof(int32_t) * (size_t)S * K), *audio = calloc((size_t)P * K, sizeof(int32_t));
    sn_lm_delay_grid(grid, greedy, K, (int)n_greedy, cb);
    sn_lm_half *h = NULL;
    sn_lm_cache *kv32 = NULL, *kv16 = NULL;
    int T = P + S - 1 < m->cfg.T_max ? P + S - 1 : m->cfg.T_max;
    if (sn_lm_half_new(m, 1, &h) || sn_lm_cache_new(m, 1, T, 16, &kv32) || sn_lm_cache_new(m, 1, T, 16, &kv16))
        return 1;
    kv16->half = h;
    sn_kern_set_threads(1);
    float *l32 = malloc(sizeof(float) * K * Va), *l16 = malloc(sizeof(float) * K * Va);
    int32_t text[2] = {SONO_TOK_TASK_CONTINUE, SONO_TOK_SEP}, t1 = -1;
    /* the prefix through both (float32 at the prefill's rows, as sono_lm_generate) */
    kv16->half = NULL;
    sn_lm_step(m, kv32, text, audio, P, l32, 1);
    sn_lm_step(m, kv16, text, audio, P, l16, 1);
    kv16->half = h;
    double maxd = 0, maxl = 0;
    int64_t n_arg = 0, n_cmp = 0;
    for (int s = 0; s < S && kv32->n_pos < T; s++) {
        if (s > 0) {
            sn_lm_step(m, kv32, &t1, grid + (size_t)(s - 1) * K, 1, l32, 1);
            sn_lm_step(m, kv16, &t1, grid + (size_t)(s - 1) * K, 1, l16, 1);
        }
        for (int i = 0; i < K * Va; i++) {
            maxd = fmax(maxd, fabs((double)l32[i] - l16[i]));
            maxl = fmax(maxl, fabs((double)l32[i]));
        }
        for (int k = 0; k < K; k++, n_cmp++)
            n_arg += sn_lm_argmax(l32 + k * Va, Va) != sn_lm_argmax(l16 + k * Va, Va);
    }
    printf("logits along the float32 greedy grid (%d steps): max |float16 - float32| %.3g (largest |logit| %.3g); "
           "argmax differs at %lld of %lld (step, codebook)\n", S, maxd, maxl, (long long)n_arg, (long long)n_cmp);
    sn_lm_cache_free(kv32);
    sn_lm_cache_free(kv16);
    sn_lm_half_free(h);
    free(grid), free(audio), free(l32), free(l16), free(c32), free(c16), free(greedy);
    sono_lm_free(lm);
    return 0;
}
