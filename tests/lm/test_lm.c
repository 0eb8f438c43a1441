/* Tests of the LM core (lm/): against the PyTorch fixture (tests/ref/lm_reference.py),
 * finite differences, KV cache vs full forward, the delay pattern, sampling,
 * a short overfit and thread-count determinism.
 *
 *   test-lm fixture FILE.safetensors | grad | cache | delay | sample | overfit | threads */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lm_cache.h"
#include "lm_delay.h"
#include "lm_model.h"
#include "lm_sample.h"
#include "optim.h"
#include "sono_internal.h"
#include "tensors.h"
#include "test_util.h"

/* A small random model for the oracle tests. */
static sn_lm *tiny(int pos, int K, uint64_t seed) {
    sn_lm_config c = sn_lm_config_default();
    c.V_text = 7;
    c.K = K;
    c.codebook_size = 9;
    c.C = 16;
    c.n_layer = 2;
    c.n_head = 2;
    c.T_max = 24;
    c.pos = pos;
    sn_lm *m = NULL;
    if (sn_lm_new(&c, &m) < 0) return NULL;
    sn_lm_init_params(m, seed);
    /* larger than GPT-2's 0.02 so that every path carries signal */
    for (size_t i = 0; i < m->n_params; i++)
        if (m->params[i] != 1.0f) m->params[i] *= 10.0f;
    return m;
}

/* Random inputs: the first n_text positions of each row are tokens. */
static void random_batch(const sn_lm_config *c, int B, int T, int n_text, int32_t *text, int32_t *audio,
                         int32_t *targets) {
    int Va = sn_lm_v_audio(c);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)b * T + t;
            text[r] = t < n_text ? (int32_t)(tu_rand() % (uint64_t)c->V_text) : -1;
            for (int k = 0; k < c->K; k++) {
                audio[r * c->K + k] = (int32_t)(tu_rand() % (uint64_t)Va);
                if (targets) targets[r * c->K + k] = tu_rand() % 4 == 0 ? -1 : (int32_t)(tu_rand() % (uint64_t)Va);
            }
        }
}


static double meta_dbl(const char *meta, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = meta ? strstr(meta, pat) : NULL;
    return p ? atof(p + strlen(pat)) : -1;
}

static int meta_int(const char *meta, const char *key) { return (int)meta_dbl(meta, key); }

static const sono_tensor *need(const sono_tensors *ts, const char *name) {
    const sono_tensor *t = sn_tensors_find(ts, name);
    if (!t) fprintf(stderr, "fixture lacks %s\n", name);
    return t;
}

static void to_i32(int32_t *dst, const sono_tensor *t) {
    for (int64_t i = 0; i < t->numel; i++) dst[i] = (int32_t)t->data[i];
}

/* Tolerances (float32 C against the float64 reference): logits within
 * 1e-5 absolute (they are O(1)), loss within 2e-6, each gradient tensor
 * within 2e-5 of its largest magnitude (normalised error); greedy tokens
 * exact (the fixture's smallest top-1 / top-2 logit gap is 4e-3). Both the
 * fast and the reference kernels. Observed: logits 1.8e-6, loss < 1e-7,
 * gradients at most 2.1e-6 normalised. */
static void test_fixture(const char *path) {
    sono_tensors *ts = NULL;
    int rc = sn_safetensors_load(path, &ts);
    CHECK_MSG(rc == 0, "%s: %s", path, sono_last_error());
    if (rc) return;
    sn_lm_config c = sn_lm_config_default();
    c.V_text = meta_int(ts->metadata, "V_text");
    c.K = meta_int(ts->metadata, "K");
    c.codebook_size = meta_int(ts->metadata, "codebook_size");
    c.C = meta_int(ts->metadata, "C");
    c.n_layer = meta_int(ts->metadata, "n_layer");
    c.n_head = meta_int(ts->metadata, "n_head");
    c.T_max = meta_int(ts->metadata, "T_max");
    c.pos = strstr(ts->metadata, "\"pos\":\"learned\"") ? SN_LM_POS_LEARNED : SN_LM_POS_ROPE;
    int B = meta_int(ts->metadata, "B"), T = meta_int(ts->metadata, "T"), K = c.K, Va = sn_lm_v_audio(&c);
    printf("fixture %s: pos %s, B %d T %d K %d\n", path, c.pos ? "learned" : "rope", B, T, K);
    sn_lm *m = NULL;
    rc = sn_lm_new(&c, &m);
    CHECK(rc == 0);
    if (rc) goto out;
    CHECK((rc = sn_lm_params_from_tensors(m, ts, "param.")) == 0);
    const sono_tensor *ttext = need(ts, "in.text"), *taudio = need(ts, "in.audio"), *ttarg = need(ts, "in.targets"),
                      *tlog = need(ts, "out.logits"), *tloss = need(ts, "out.loss"), *gtext = need(ts, "gen.text"),
                      *gaudio = need(ts, "gen.audio"), *gtok = need(ts, "gen.tokens");
    CHECK(ttext && taudio && ttarg && tlog && tloss && gtext && gaudio && gtok);
    if (rc || !ttext || !taudio || !ttarg || !tlog || !tloss || !gtext || !gaudio || !gtok) goto out;
    int32_t *text = malloc(sizeof(int32_t) * B * T), *audio = malloc(sizeof(int32_t) * B * T * K),
            *targ = malloc(sizeof(int32_t) * B * T * K);
    to_i32(text, ttext);
    to_i32(audio, taudio);
    to_i32(targ, ttarg);
    float *grads = malloc(sizeof(float) * m->n_params);
    for (int ref = 0; ref < 2; ref++) {
        m->ref_kernels = ref;
        printf(" %s kernels\n", ref ? "reference" : "fast");
        sn_lm_acts *a = NULL;
        CHECK(sn_lm_acts_new(m, B, T, 1, &a) == 0);
        float loss = 0;
        CHECK(sn_lm_forward(m, a, text, audio, targ, 2, &loss) == 0);
        CHECK(tu_maxdiff(a->logits, tlog->data, (size_t)B * T * K * Va, "logits") < 1e-5);
        printf("  loss %.7f vs %.7f\n", loss, tloss->data[0]);
        CHECK(fabsf(loss - tloss->data[0]) < 2e-6f);
        memset(grads, 0, sizeof(float) * m->n_params);
        CHECK(sn_lm_backward(m, a, grads, 1.0f, 2) == 0);
        for (int i = 0; i < m->table.n; i++) {
            char name[128];
            snprintf(name, sizeof name, "grad.%s", m->table.p[i].name);
            const sono_tensor *g = need(ts, name);
            CHECK(g && (size_t)g->numel == m->table.p[i].numel);
            if (!g || (size_t)g->numel != m->table.p[i].numel) continue;
            double gmax = 0;
            for (int64_t j = 0; j < g->numel; j++) gmax = fmax(gmax, fabs(g->data[j]));
            double d = tu_maxdiff(grads + m->table.p[i].offset, g->data, m->table.p[i].numel, name);
            CHECK_MSG(d <= 2e-5 * gmax, "%s: normalised %.3g", name, d / gmax);
        }
        sn_lm_acts_free(a);

        /* greedy generation through the KV cache: prompt, then 8 steps */
        int P = (int)gtext->numel, n_gen = (int)(gtok->numel / K);
        int32_t *pt = malloc(sizeof(int32_t) * P), *pa = malloc(sizeof(int32_t) * P * K), one = -1;
        int32_t *next = malloc(sizeof(int32_t) * K), gen_prev[32];
        float *lg = malloc(sizeof(float) * K * Va);
        to_i32(pt, gtext);
        to_i32(pa, gaudio);
        sn_lm_cache *kv = NULL;
        CHECK(sn_lm_cache_new(m, 1, c.T_max, 4, &kv) == 0);
        CHECK(sn_lm_step(m, kv, pt, pa, P, lg, 1) == 0);
        int same = 1;
        for (int s = 0; s < n_gen; s++) {
            for (int k = 0; k < K; k++) {
                next[k] = sn_lm_argmax(lg + k * Va, Va);
                if (next[k] != (int32_t)gtok->data[s * K + k]) same = 0;
            }
            if (s + 1 < n_gen) CHECK(sn_lm_step(m, kv, &one, next, 1, lg, 1) == 0);
        }
        CHECK_MSG(same, "greedy tokens differ from PyTorch's");
        sn_lm_cache_free(kv);

        /* the same with float16 weights in the steps (generate --f16):
         * within half the fixture's greedy margin of the float32 logits,
         * so the tokens cannot change */
        sn_lm_half *h = NULL;
        sn_lm_cache *k32 = NULL, *k16 = NULL;
        float *l16 = malloc(sizeof(float) * K * Va);
        CHECK(sn_lm_half_new(m, 1, &h) == 0 && sn_lm_cache_new(m, 1, c.T_max, 4, &k32) == 0 &&
              sn_lm_cache_new(m, 1, c.T_max, 4, &k16) == 0);
        CHECK(sn_lm_step(m, k32, pt, pa, P, lg, 1) == 0 && sn_lm_step(m, k16, pt, pa, P, l16, 1) == 0);
        k16->half = h;
        double d16 = 0;
        int same16 = 1;
        for (int s = 0; s < n_gen; s++) {
            if (s > 0) { /* the fixture's tokens into both */
                CHECK(sn_lm_step(m, k32, &one, gen_prev, 1, lg, 1) == 0);
                CHECK(sn_lm_step(m, k16, &one, gen_prev, 1, l16, 1) == 0);
            }
            for (int i = 0; i < K * Va; i++) d16 = fmax(d16, fabs((double)lg[i] - l16[i]));
            for (int k = 0; k < K; k++) {
                same16 &= sn_lm_argmax(l16 + k * Va, Va) == (int32_t)gtok->data[s * K + k];
                gen_prev[k] = (int32_t)gtok->data[s * K + k];
            }
        }
        double margin = meta_dbl(ts->metadata, "margin");
        printf("  float16 steps: max |logit - float32's| %.3g (fixture's greedy margin %.3g); greedy tokens %s\n", d16,
               margin, same16 ? "the same" : "DIFFER");
        CHECK_MSG(d16 > 0 && d16 < margin / 2, "float16 logits move %.3g, the margin is %.3g", d16, margin);
        CHECK_MSG(same16, "float16 greedy tokens differ from PyTorch's");
        sn_lm_cache_free(k32);
        sn_lm_cache_free(k16);
        sn_lm_half_free(h);
        free(l16);
        free(pt);
        free(pa);
        free(next);
        free(lg);
    }
    free(grads);
    free(text);
    free(audio);
    free(targ);
out:
    sn_lm_free(m);
    sn_tensors_free(ts);
}

/* Central differences in the reference kernels (sums in double) with two
 * step sizes: the analytic gradient must match the better of the two within
 * 2% + 2e-4 (float32 forward noise sets that floor). */
static void test_grad(void) {
    for (int pos = 0; pos < 2; pos++) {
        sn_lm *m = tiny(pos, 2, 7);
        CHECK(m != NULL);
        if (!m) return;
        m->ref_kernels = 1;
        int B = 2, T = 6;
        int32_t text[12], audio[24], targ[24];
        random_batch(&m->cfg, B, T, 2, text, audio, targ);
        sn_lm_acts *a = NULL;
        CHECK(sn_lm_acts_new(m, B, T, 1, &a) == 0);
        float *g = calloc(m->n_params, sizeof(float)), loss;
        sn_lm_forward(m, a, text, audio, targ, 1, &loss);
        sn_lm_backward(m, a, g, 1.0f, 1);
        int bad = 0, tried = 0;
        for (int i = 0; i < m->table.n; i++) {
            const sn_param *p = &m->table.p[i];
            for (int rep = 0; rep < 3; rep++) {
                size_t j = p->offset + tu_rand() % p->numel;
                if (i == 0 && rep == 0) j = p->offset + (size_t)text[0] * m->cfg.C; /* a used token row */
                float keep = m->params[j];
                double best = INFINITY, num = 0;
                for (int e = 0; e < 2; e++) {
                    float h = e ? 5e-3f : 1e-2f, lp, lm;
                    m->params[j] = keep + h;
                    sn_lm_forward(m, a, text, audio, targ, 1, &lp);
                    m->params[j] = keep - h;
                    sn_lm_forward(m, a, text, audio, targ, 1, &lm);
                    m->params[j] = keep;
                    double n = ((double)lp - lm) / (2.0 * h);
                    if (fabs(n - g[j]) < best) { best = fabs(n - g[j]); num = n; }
                }
                tried++;
                if (!(best <= 0.02 * fabs(g[j]) + 2e-4)) {
                    bad++;
                    fprintf(stderr, "  %s[%zu]: analytic %.6g numeric %.6g\n", p->name, j - p->offset, g[j], num);
                }
            }
        }
        printf("grad (%s): %d of %d entries differ\n", pos ? "learned" : "rope", bad, tried);
        CHECK(bad == 0);
        free(g);
        sn_lm_acts_free(a);
        sn_lm_free(m);
    }
}

/* The cached step equals the full forward at every position, one position
 * at a time and in prefill chunks that cross the inner chunk size. */
static void test_cache(void) {
    for (int ref = 0; ref < 2; ref++)
        for (int pos = 0; pos < 2; pos++) {
            sn_lm *m = tiny(pos, 3, 11);
            CHECK(m != NULL);
            if (!m) return;
            m->ref_kernels = ref;
            int B = 2, T = 10, K = 3, Va = sn_lm_v_audio(&m->cfg), KV = K * Va;
            int32_t text[20], audio[60];
            random_batch(&m->cfg, B, T, 3, text, audio, NULL);
            sn_lm_acts *a = NULL;
            CHECK(sn_lm_acts_new(m, B, T, 0, &a) == 0);
            CHECK(sn_lm_forward(m, a, text, audio, NULL, 2, NULL) == 0);
            sn_lm_cache *kv = NULL;
            CHECK(sn_lm_cache_new(m, B, T, 3, &kv) == 0);
            float lg[2 * 3 * 11], worst = 0;
            int32_t t1[2], a1[6];
            for (int t = 0; t < T; t++) {
                for (int b = 0; b < B; b++) {
                    t1[b] = text[b * T + t];
                    memcpy(a1 + b * K, audio + ((size_t)b * T + t) * K, sizeof(int32_t) * K);
                }
                CHECK(sn_lm_step(m, kv, t1, a1, 1, lg, 2) == 0);
                for (int b = 0; b < B; b++)
                    worst = fmaxf(worst, (float)tu_maxdiff(lg + b * KV, a->logits + ((size_t)b * T + t) * KV, KV, NULL));
            }
            CHECK(sn_lm_step(m, kv, t1, a1, 1, lg, 1) == SONO_E_LIMIT);
            /* prefill 7 positions (chunks 3 + 3 + 1), then 3 more at once */
            sn_lm_cache_reset(kv);
            int32_t pt[2 * 7], pa[2 * 7 * 3];
            for (int b = 0; b < B; b++) {
                memcpy(pt + b * 7, text + b * T, sizeof(int32_t) * 7);
                memcpy(pa + b * 7 * K, audio + (size_t)b * T * K, sizeof(int32_t) * 7 * K);
            }
            CHECK(sn_lm_step(m, kv, pt, pa, 7, lg, 1) == 0);
            for (int b = 0; b < B; b++)
                worst = fmaxf(worst, (float)tu_maxdiff(lg + b * KV, a->logits + ((size_t)b * T + 6) * KV, KV, NULL));
            for (int b = 0; b < B; b++) {
                memcpy(pt + b * 3, text + b * T + 7, sizeof(int32_t) * 3);
                memcpy(pa + b * 3 * K, audio + ((size_t)b * T + 7) * K, sizeof(int32_t) * 3 * K);
            }
            CHECK(sn_lm_step(m, kv, pt, pa, 3, lg, 1) == 0);
            for (int b = 0; b < B; b++)
                worst = fmaxf(worst, (float)tu_maxdiff(lg + b * KV, a->logits + ((size_t)b * T + 9) * KV, KV, NULL));
            printf("cache (%s kernels, %s): max logit diff %.3g\n", ref ? "ref" : "fast", pos ? "learned" : "rope",
                   worst);
            CHECK(worst < 1e-5f);
            /* a bad id is refused and leaves the cache as it was */
            sn_lm_cache_reset(kv);
            t1[0] = t1[1] = -1;
            a1[0] = Va;
            CHECK(sn_lm_step(m, kv, t1, a1, 1, lg, 1) == SONO_E_RANGE && kv->n_pos == 0);
            sn_lm_cache_free(kv);
            sn_lm_acts_free(a);
            sn_lm_free(m);
        }
}

static void test_delay(void) {
    enum { K = 4, F = 6, CB = 10, S = F + K };
    int32_t codes[K * F], grid[S * K], targ[S * K], back[K * 8];
    for (int i = 0; i < K * F; i++) codes[i] = (int32_t)(tu_rand() % CB);
    CHECK(sn_lm_delay_grid(grid, codes, K, F, CB) == 0);
    /* hand-checked corners: step 0 has only codebook 0; the last step only codebook K-1's END */
    CHECK(grid[0] == codes[0] && grid[1] == CB && grid[K - 1] == CB);
    CHECK(grid[1 * K + 1] == codes[1 * F + 0] && grid[3 * K + 3] == codes[3 * F + 0]);
    CHECK(grid[F * K + 0] == CB + 1 && grid[(F + 1) * K + 0] == CB);
    CHECK(grid[(S - 1) * K + K - 1] == CB + 1 && grid[(S - 1) * K + K - 2] == CB);
    int nv = sn_lm_delay_targets(targ, grid, S, K, CB);
    CHECK(nv == K * (F + 1));
    CHECK(targ[1] == -1 && targ[0] == codes[0]);
    CHECK(sn_lm_undelay(back, 8, grid, S, K, CB) == F);
    int same = 1;
    for (int k = 0; k < K; k++)
        for (int f = 0; f < F; f++) same &= back[k * 8 + f] == codes[k * F + f];
    CHECK(same);
    /* a grid cut short loses only the incomplete frames */
    CHECK(sn_lm_undelay(back, 8, grid, S - 3, K, CB) == F - 2);
    /* an END in codebook 0 ends the frames there */
    grid[2 * K + 0] = CB + 1;
    CHECK(sn_lm_undelay(back, 8, grid, S, K, CB) == 2);
    codes[5] = CB;
    CHECK(sn_lm_delay_grid(grid, codes, K, F, CB) == SONO_E_RANGE);
    /* forced slots: s < k EMPTY; END of codebook 0 at s_end puts END at s_end + k */
    CHECK(sn_lm_delay_forced(0, 1, -1, CB) == CB && sn_lm_delay_forced(1, 1, -1, CB) == -1);
    CHECK(sn_lm_delay_forced(7, 2, 5, CB) == CB + 1 && sn_lm_delay_forced(8, 2, 5, CB) == CB);
    CHECK(sn_lm_delay_forced(6, 2, 5, CB) == -1);
    printf("delay: done\n");
}

static void test_sample(void) {
    float lg[5] = {0.5f, 2.0f, 1.0f, 2.0f, -INFINITY};
    uint64_t rng = 42;
    void *scr = malloc(sn_lm_sample_scratch_bytes(5));
    sn_lm_sampling s = sn_lm_sampling_default();
    CHECK(sn_lm_argmax(lg, 5) == 1);
    s.temperature = 0;
    CHECK(sn_lm_sample(lg, 5, &s, &rng, scr) == 1 && rng == 42);
    s.temperature = 1;
    s.top_k = 1;
    CHECK(sn_lm_sample(lg, 5, &s, &rng, scr) == 1);
    /* frequencies follow the softmax (20000 draws, within 0.015) */
    s.top_k = 0;
    int cnt[5] = {0};
    for (int i = 0; i < 20000; i++) cnt[sn_lm_sample(lg, 5, &s, &rng, scr)]++;
    double z = exp(0.5) + 2 * exp(2.0) + exp(1.0);
    CHECK(cnt[4] == 0);
    CHECK(fabs(cnt[0] / 20000.0 - exp(0.5) / z) < 0.015 && fabs(cnt[2] / 20000.0 - exp(1.0) / z) < 0.015);
    CHECK(fabs(cnt[1] / 20000.0 - exp(2.0) / z) < 0.015);
    /* top-k 2 keeps the two 2.0s; top-p 0.5 keeps the first of them (ties by index) */
    s.top_k = 2;
    int only = 1;
    for (int i = 0; i < 2000; i++) {
        int v = sn_lm_sample(lg, 5, &s, &rng, scr);
        only &= v == 1 || v == 3;
    }
    CHECK(only);
    s.top_k = 0;
    s.top_p = 0.3f;
    only = 1;
    for (int i = 0; i < 500; i++) only &= sn_lm_sample(lg, 5, &s, &rng, scr) == 1;
    CHECK(only);
    /* temperature sharpens: at 0.25 the 1.0 logit is rarer than at 1 */
    s.top_p = 1;
    s.temperature = 0.25f;
    int c2 = 0;
    for (int i = 0; i < 20000; i++) c2 += sn_lm_sample(lg, 5, &s, &rng, scr) == 2;
    CHECK(c2 < cnt[2] / 4);
    /* same seed, same draws */
    uint64_t r1 = 9, r2 = 9;
    s.temperature = 1;
    int same = 1;
    for (int i = 0; i < 100; i++) same &= sn_lm_sample(lg, 5, &s, &r1, scr) == sn_lm_sample(lg, 5, &s, &r2, scr);
    CHECK(same);
    float cond[3] = {1, 2, 3}, unc[3] = {1, 0, 5}, mix[3];
    sn_lm_cfg_mix(mix, cond, unc, 3, 3.0f);
    CHECK(mix[0] == 1 && mix[1] == 6 && mix[2] == -1);
    free(scr);
    printf("sample: done\n");
}

/* 300 AdamW steps on one fixed batch take the loss to below a twentieth
 * of where it started (observed: from 2.4 to below 1e-4). */
static void test_overfit(void) {
    sn_lm *m = tiny(SN_LM_POS_ROPE, 2, 5);
    CHECK(m != NULL);
    if (!m) return;
    sn_lm_init_params(m, 5);
    int B = 2, T = 12;
    int32_t text[24], audio[48], targ[48];
    random_batch(&m->cfg, B, T, 2, text, audio, targ);
    sn_lm_acts *a = NULL;
    CHECK(sn_lm_acts_new(m, B, T, 1, &a) == 0);
    float *g = calloc(m->n_params, sizeof(float)), first = 0, loss = 0;
    sono_adamw opt;
    CHECK(sn_adamw_init(&opt, m->n_params, 0.9f, 0.95f, 1e-8f, 0.0f) == 0);
    for (int step = 0; step < 300; step++) {
        sn_lm_forward(m, a, text, audio, targ, 2, &loss);
        if (step == 0) first = loss;
        memset(g, 0, sizeof(float) * m->n_params);
        sn_lm_backward(m, a, g, 1.0f, 2);
        sn_grad_clip_norm(g, m->n_params, 1.0f);
        sn_adamw_step(&opt, m->params, g, 1e-2f);
    }
    printf("overfit: loss %.4f -> %.4f (%.1fx)\n", first, loss, first / loss);
    CHECK(loss * 20 < first);
    sn_adamw_free(&opt);
    free(g);
    sn_lm_acts_free(a);
    sn_lm_free(m);
}

/* Forward + backward + cached steps give the same bits on 1 and 2 threads
 * (OpenBLAS at one thread, as lm_model.h asks). A size where the loops and
 * the blocked matmuls do split across threads. */
static void test_threads(void) {
    sn_lm_config c = sn_lm_config_default();
    c.V_text = 50;
    c.K = 2;
    c.codebook_size = 60;
    c.C = 64;
    c.n_layer = 2;
    c.n_head = 4;
    c.T_max = 48;
    sn_lm *m = NULL;
    CHECK(sn_lm_new(&c, &m) == 0);
    if (!m) return;
    sn_lm_init_params(m, 3);
    int B = 6, T = 48, K = 2, Va = sn_lm_v_audio(&c);
    size_t N = (size_t)B * T;
    int32_t *text = malloc(sizeof(int32_t) * N), *audio = malloc(sizeof(int32_t) * N * K),
            *targ = malloc(sizeof(int32_t) * N * K);
    random_batch(&c, B, T, 5, text, audio, targ);
    float *g[2], *lg[2], loss[2], *st[2];
    sn_kern_set_threads(1);
    for (int r = 0; r < 2; r++) {
        int nt = r + 1;
        sn_lm_acts *a = NULL;
        CHECK(sn_lm_acts_new(m, B, T, 1, &a) == 0);
        g[r] = calloc(m->n_params, sizeof(float));
        lg[r] = malloc(sizeof(float) * N * K * Va);
        st[r] = malloc(sizeof(float) * B * K * Va);
        sn_lm_forward(m, a, text, audio, targ, nt, &loss[r]);
        sn_lm_backward(m, a, g[r], 1.0f, nt);
        memcpy(lg[r], a->logits, sizeof(float) * N * K * Va);
        sn_lm_cache *kv = NULL;
        CHECK(sn_lm_cache_new(m, B, T, 16, &kv) == 0);
        int32_t pt[6 * 40], pa[6 * 40 * 2];
        for (int b = 0; b < B; b++) {
            memcpy(pt + b * 40, text + b * T, sizeof(int32_t) * 40);
            memcpy(pa + b * 80, audio + (size_t)b * T * K, sizeof(int32_t) * 80);
        }
        sn_lm_step(m, kv, pt, pa, 40, st[r], nt);
        sn_lm_cache_free(kv);
        sn_lm_acts_free(a);
    }
    CHECK(memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
    CHECK(memcmp(lg[0], lg[1], sizeof(float) * N * K * Va) == 0);
    CHECK(memcmp(g[0], g[1], sizeof(float) * m->n_params) == 0);
    CHECK(memcmp(st[0], st[1], sizeof(float) * B * K * Va) == 0);
    printf("threads: loss %.6f on 1 and 2 threads\n", loss[0]);
    for (int r = 0; r < 2; r++) {
        free(g[r]);
        free(lg[r]);
        free(st[r]);
    }
    free(text);
    free(audio);
    free(targ);
    sn_lm_free(m);
}

/* Bad ids and configs are refused with the documented codes. */
static void test_bad(void) {
    sn_lm_config c = sn_lm_config_default();
    sn_lm *m = NULL;
    c.C = 30; /* 8 heads do not divide it */
    CHECK(sn_lm_new(&c, &m) == SONO_E_ARG && m == NULL);
    m = tiny(SN_LM_POS_ROPE, 2, 1);
    CHECK(m != NULL);
    if (!m) return;
    sn_lm_acts *a = NULL;
    CHECK(sn_lm_acts_new(m, 1, m->cfg.T_max + 1, 0, &a) == SONO_E_ARG);
    CHECK(sn_lm_acts_new(m, 1, 2, 0, &a) == 0);
    int32_t text[2] = {7, -1}, audio[4] = {0, 0, 1, 2}, targ[4] = {0, 0, 0, 11};
    CHECK(sn_lm_forward(m, a, text, audio, NULL, 1, NULL) == SONO_E_RANGE); /* token 7 of 7 */
    text[0] = 6;
    audio[3] = 11;
    CHECK(sn_lm_forward(m, a, text, audio, NULL, 1, NULL) == SONO_E_RANGE); /* id 11 of 11 */
    audio[3] = 10;
    CHECK(sn_lm_forward(m, a, text, audio, NULL, 1, NULL) == 0);
    CHECK(sn_lm_forward(m, a, text, audio, targ, 1, NULL) == SONO_E_RANGE);
    CHECK(sn_lm_backward(m, a, m->params, 1.0f, 1) == SONO_E_ARG); /* not a training arena */
    sn_lm_acts_free(a);
    sn_lm_free(m);
    printf("bad input: done\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test-lm fixture FILE | grad | cache | delay | sample | overfit | threads | bad\n");
        return 1;
    }
    tu_seed(20261207);
    const char *w = argv[1];
    if (!strcmp(w, "fixture") && argc > 2) test_fixture(argv[2]);
    else if (!strcmp(w, "grad")) test_grad();
    else if (!strcmp(w, "cache")) test_cache();
    else if (!strcmp(w, "delay")) test_delay();
    else if (!strcmp(w, "sample")) test_sample();
    else if (!strcmp(w, "overfit")) test_overfit();
    else if (!strcmp(w, "threads")) test_threads();
    else if (!strcmp(w, "bad")) test_bad();
    else {
        fprintf(stderr, "test-lm: unknown test %s\n", w);
        return 1;
    }
    return tu_finish(w);
}
