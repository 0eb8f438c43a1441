/* Temperature / top-k / top-p sampling and CFG mixing (lm_sample.h). */
#include <math.h>
#include <stdlib.h>

#include "lm_sample.h"
#include "sono_internal.h"

typedef struct {
    float v;
    int i;
} cand;

sn_lm_sampling sn_lm_sampling_default(void) {
    sn_lm_sampling s = {.temperature = 1.0f, .top_k = 250, .top_p = 1.0f};
    return s;
}

size_t sn_lm_sample_scratch_bytes(int n) { return sizeof(cand) * (size_t)(n > 0 ? n : 1); }

int sn_lm_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
    return best;
}

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

int sn_lm_sample(const float *logits, int n, const sn_lm_sampling *s, uint64_t *rng, void *scratch) {
    if (n <= 1 || s->temperature <= 0.0f || s->top_k == 1) return sn_lm_argmax(logits, n);
    cand *c = scratch;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (logits[i] == logits[i] && logits[i] > -INFINITY) c[m++] = (cand){logits[i] / s->temperature, i};
    if (m == 0) return sn_lm_argmax(logits, n);
    qsort(c, (size_t)m, sizeof *c, cand_cmp);
    if (s->top_k > 0 && s->top_k < m) m = s->top_k;
    /* unnormalised probabilities, in rank order */
    double total = 0, top = c[0].v;
    for (int j = 0; j < m; j++) {
        c[j].v = (float)exp((double)c[j].v - top);
        total += c[j].v;
    }
    if (s->top_p < 1.0f) {
        double need = s->top_p * total, cum = 0;
        int keep = m;
        for (int j = 0; j < m; j++) {
            cum += c[j].v;
            if (cum >= need) { keep = j + 1; break; }
        }
        m = keep;
        total = cum;
    }
    double u = sn_unif01(rng) * total, cum = 0;
    for (int j = 0; j < m; j++) {
        cum += c[j].v;
        if (u < cum) return c[j].i;
    }
    return c[m - 1].i;
}

uint64_t sn_lm_output_seed(uint64_t seed, int i) {
    uint64_t s = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1));
    return sn_splitmix64(&s);
}

void sn_lm_cfg_mix(float *out, const float *cond, const float *uncond, size_t n, float cfg) {
    for (size_t i = 0; i < n; i++) out[i] = uncond[i] + cfg * (cond[i] - uncond[i]);
}
