/* Coder-model training (codec/train/coder_train.c) on synthetic codes:
 *
 *   grad    the backward of a fixed batch against central finite differences
 *           (the 60 largest gradients and 60 random parameters)
 *   learn   on codes that follow rules (each codebook 0 code the previous
 *           plus one, each finer code a function of the coarser one), 1 in
 *           20 random, the held-out bits per code fall far below log2(V), the
 *           exported integer model codes no more than 2% above the float
 *           model, and
 *           its payloads decode back
 *   resume  8 steps equal 4 steps, a checkpoint, a resumed trainer and 4
 *           more (parameters bit for bit), and equal the same on 2 threads
 *
 *   test-coder-train MODE */
#include <stdint.h>
#include <unistd.h>
#include "test_util.h"
#include "coder_model.h"
#include "coder_train.h"
#include "sonotok/cpu.h"

#define V 64
#define K 3
#define N_CLIPS 12
#define N_FRAMES 400

static int16_t *g_codes[N_CLIPS];
static int64_t g_frames[N_CLIPS];
static int g_cat[N_CLIPS];

/* Rule-following codes (noise: 1 in `noise` codes random). */
static void make_set(sono_code_set *s, int first, int n, int noise) {
    for (int c = first; c < first + n; c++) {
        g_frames[c] = N_FRAMES - 37 * (c % 5);
        g_cat[c] = c % 3;
        g_codes[c] = malloc(sizeof(int16_t) * K * (size_t)g_frames[c]);
        int16_t *x = g_codes[c];
        int64_t F = g_frames[c];
        for (int64_t t = 0; t < F; t++) {
            x[t] = (int16_t)(t == 0 ? (int)(tu_rand() % V) : (x[t - 1] + 1) % V);
            for (int q = 1; q < K; q++) x[q * F + t] = (int16_t)((x[(q - 1) * F + t] * 5 + q) % V);
            for (int q = 0; q < K; q++)
                if (noise && tu_rand() % (uint64_t)noise == 0) x[q * F + t] = (int16_t)(tu_rand() % V);
        }
    }
    *s = (sono_code_set){n, (const int16_t *const *)g_codes + first, g_frames + first, g_cat + first, K, V};
}

static sono_coder_train_params small_params(void) {
    sono_coder_train_params p = sono_coder_train_default_params();
    p.codec_name = "synthetic";
    for (int i = 0; i < 16; i++) p.codec_hash[i] = (uint8_t)i;
    p.lags = 2;
    p.emb_dim = 16;
    p.hidden = 32;
    p.hidden2 = 32;
    p.batch = 32;
    p.n_threads = 1;
    p.steps = 600;
    p.warmup = 20;
    p.lr = 1e-2f;
    p.lr_min = 1e-3f;
    p.eval_frames = 2000;
    p.eval_clip_frames = 500;
    return p;
}

/* Central differences of the loss; a parameter whose one-sided differences
 * disagree (a ReLU switching inside the step) is passed over. */
static void test_grad(void) {
    sono_code_set tr;
    make_set(&tr, 0, 4, 3);
    sono_coder_train_params p = small_params();
    p.batch = 8;
    p.lr = 1e-3f;
    int err = 0;
    sono_coder_trainer *t = sono_coder_trainer_new(&p, &tr, NULL, &err);
    CHECK_MSG(t != NULL, "%s", sono_last_error());
    if (!t) return;
    for (int i = 0; i < 10; i++) sono_coder_trainer_step(t);
    sn_coder_trainer_draw(t);
    size_t n = 0;
    float *g = NULL, *w = sn_coder_trainer_weights(t, &g, &n);
    sn_coder_trainer_loss(t, 1);
    float *g0 = malloc(sizeof(float) * n);
    memcpy(g0, g, sizeof(float) * n);
    float *pick_from = malloc(sizeof(float) * n);
    memcpy(pick_from, g, sizeof(float) * n);
    /* the 60 largest gradients and 60 random parameters */
    int bad = 0, checked = 0, skipped = 0;
    double worst = 0;
    for (int pick = 0; pick < 120; pick++) {
        size_t i = 0;
        if (pick < 60) {
            float best = -1;
            for (size_t j = 0; j < n; j++)
                if (fabsf(pick_from[j]) > best) best = fabsf(pick_from[j]), i = j;
            pick_from[i] = 0;
        } else {
            i = (size_t)(tu_rand() % n);
        }
        float keep = w[i];
        double h = 2e-3 * fmax(1.0, fabs(keep)), l0 = sn_coder_trainer_loss(t, 0);
        w[i] = keep + (float)h;
        double fwd = (sn_coder_trainer_loss(t, 0) - l0) / h;
        w[i] = keep - (float)h;
        double bwd = (l0 - sn_coder_trainer_loss(t, 0)) / h;
        w[i] = keep;
        double fd[2] = {fwd, 0.5 * (fwd + bwd)};
        if (fabs(fwd - bwd) > 2e-4 + 0.02 * fabs(fd[1])) { /* one side differs from the other: a kink */
            skipped++;
            continue;
        }
        double an = g0[i], e = fabs(fd[1] - an), tol = 2e-4 + 0.02 * fabs(fd[1]);
        worst = e > worst ? e : worst;
        checked++;
        if (e > tol && bad++ < 5) fprintf(stderr, "  param %zu: analytic %.6g, finite differences %.6g\n", i, an, fd[1]);
    }
    printf("  %d gradients checked (%d passed over: a kink inside the step), worst abs error %.3g\n", checked, skipped,
           worst);
    CHECK_MSG(bad == 0, "%d of %d gradients off", bad, checked);
    CHECK_MSG(checked >= 90, "only %d gradients checked", checked);
    free(g0);
    free(pick_from);
    sono_coder_trainer_free(t);
}

static void test_learn(void) {
    sono_code_set tr, ho;
    make_set(&tr, 0, 8, 20);
    make_set(&ho, 8, 4, 20);
    sono_coder_train_params p = small_params();
    int err = 0;
    sono_coder_trainer *t = sono_coder_trainer_new(&p, &tr, &ho, &err);
    CHECK_MSG(t != NULL, "%s", sono_last_error());
    if (!t) return;
    sono_coder_eval e0, ef, ei;
    CHECK(sono_coder_trainer_eval(t, 0, &e0) == 0);
    while (sono_coder_trainer_steps_done(t) < p.steps && sono_coder_trainer_step(t) == 0) {
    }
    CHECK(sono_coder_trainer_steps_done(t) == p.steps);
    CHECK(sono_coder_trainer_eval(t, 0, &ef) == 0);
    CHECK_MSG(sono_coder_trainer_eval(t, 1, &ei) == 0, "%s", sono_last_error());
    printf("  held-out bits/code: %.3f at the start, %.3f float, %.3f integer (log2 V = 6); per codebook %.3f %.3f %.3f\n",
           e0.bits, ef.bits, ei.bits, ei.bits_cb[0], ei.bits_cb[1], ei.bits_cb[2]);
    /* 1 code in 20 is random: about 0.05 * 6 + 0.3 = 0.6 bits are left to pay */
    CHECK_MSG(ef.bits < 2.0 && e0.bits > 5.0, "float %.3f after, %.3f before", ef.bits, e0.bits);
    /* the integer model may do better: its frequencies are floored at 2^-16, so a rare random code costs at
     * most 16 bits where the float model may put it far lower */
    CHECK_MSG(ei.bits < 1.02 * ef.bits + 0.01, "integer %.4f, float %.4f", ei.bits, ef.bits);
    int64_t want = 0;
    for (int c = 0; c < ho.n_clips; c++) want += ho.n_frames[c] < 500 ? ho.n_frames[c] : 500;
    CHECK(ei.n_codes == K * (want < 2000 ? want : 2000) &&
          ei.n_codes_cat[0] + ei.n_codes_cat[1] + ei.n_codes_cat[2] == ei.n_codes);
    /* the export codes a held-out clip in about what eval said, and decodes it */
    char path[] = "/tmp/sono-coder-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(sono_coder_trainer_export(t, path) == 0);
    sono_coder *m = sono_coder_load(path, &err);
    CHECK_MSG(m != NULL, "%s", sono_last_error());
    unlink(path);
    if (m) {
        CHECK(!strcmp(sono_coder_codec_name(m), "synthetic") && sono_coder_max_codebooks(m) == K);
        int64_t F = ho.n_frames[0];
        int32_t *x = malloc(sizeof(int32_t) * K * (size_t)F), *back = malloc(sizeof(int32_t) * K * (size_t)F);
        for (int64_t i = 0; i < K * F; i++) x[i] = ho.codes[0][i];
        uint8_t *pl = NULL;
        size_t pn = 0;
        CHECK(sn_cm_encode(m, x, K, F, 2, sono_cpu_level(), &pl, &pn) == 0);
        CHECK(sn_cm_decode(m, pl, pn, K, F, SONO_CPU_PLAIN, back) == 0 && !memcmp(x, back, sizeof(int32_t) * K * (size_t)F));
        printf("  a held-out clip of %lld frames: %zu bytes (%.3f bits/code; packed: 6)\n", (long long)F, pn,
               8.0 * (double)pn / (double)(K * F));
        CHECK(8.0 * (double)pn / (double)(K * F) < 2.5);
        free(pl);
        free(x);
        free(back);
        sono_coder_free(m);
    }
    sono_coder_trainer_free(t);
}

static int same_weights(sono_coder_trainer *a, sono_coder_trainer *b) {
    size_t na = 0, nb = 0;
    const float *wa = sn_coder_trainer_weights(a, NULL, &na), *wb = sn_coder_trainer_weights(b, NULL, &nb);
    return na == nb && !memcmp(wa, wb, sizeof(float) * na);
}

static void test_resume(void) {
    sono_code_set tr;
    make_set(&tr, 0, 6, 5);
    sono_coder_train_params p = small_params();
    p.steps = 100;
    int err = 0;
    sono_coder_trainer *a = sono_coder_trainer_new(&p, &tr, NULL, &err);
    p.n_threads = 2;
    sono_coder_trainer *b = sono_coder_trainer_new(&p, &tr, NULL, &err);
    CHECK(a && b);
    if (!a || !b) return;
    for (int i = 0; i < 4; i++) CHECK(sono_coder_trainer_step(a) == 0 && sono_coder_trainer_step(b) == 0);
    char path[] = "/tmp/sono-coder-ckpt-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(sono_coder_trainer_save_checkpoint(a, path) == 0);
    p.n_threads = 1;
    sono_coder_trainer *r = sono_coder_trainer_resume(path, &p, &tr, NULL, &err);
    CHECK_MSG(r != NULL, "%s", sono_last_error());
    /* another codec's codes are refused */
    sono_coder_train_params other = p;
    other.codec_hash[0] ^= 1;
    sono_coder_trainer *o = sono_coder_trainer_resume(path, &other, &tr, NULL, &err);
    CHECK(!o && err == SONO_E_MODEL_MISMATCH);
    unlink(path);
    if (!r) return;
    CHECK(sono_coder_trainer_steps_done(r) == 4);
    for (int i = 0; i < 4; i++)
        CHECK(sono_coder_trainer_step(a) == 0 && sono_coder_trainer_step(b) == 0 && sono_coder_trainer_step(r) == 0);
    CHECK_MSG(same_weights(a, r), "resumed run differs");
    CHECK_MSG(same_weights(a, b), "2 threads differ from 1");
    /* and training moved the weights at all (the comparison can fail) */
    sono_coder_trainer *fresh = sono_coder_trainer_new(&p, &tr, NULL, &err);
    CHECK(fresh && !same_weights(a, fresh));
    sono_coder_trainer_free(fresh);
    sono_coder_trainer_free(a);
    sono_coder_trainer_free(b);
    sono_coder_trainer_free(r);
}

int main(int argc, char **argv) {
    tu_seed(777);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "grad")) test_grad();
    else if (!strcmp(mode, "learn")) test_learn();
    else if (!strcmp(mode, "resume")) test_resume();
    else {
        fprintf(stderr, "usage: test-coder-train grad|learn|resume\n");
        return 2;
    }
    for (int c = 0; c < N_CLIPS; c++) free(g_codes[c]);
    return tu_finish("test-coder-train");
}
