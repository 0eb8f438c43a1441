/* AdamW, gradient clipping and the learning-rate schedule. */
#include <math.h>
#include <stdlib.h>
#include "optim.h"
#include "sono_internal.h"

int sn_adamw_init(sono_adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay) {
    o->n = n;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->step = 0;
    o->m = calloc(n ? n : 1, sizeof(float));
    o->v = calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v) {
        sn_adamw_free(o);
        return sn_fail(SONO_E_NOMEM, "optimizer: out of memory for %zu parameters", n);
    }
    return 0;
}

void sn_adamw_free(sono_adamw *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void sn_adamw_step(sono_adamw *o, float *p, const float *g, float lr) {
    o->step++;
    /* bias corrections as PyTorch computes them (in double, then used as float) */
    double bc1 = 1.0 - pow((double)o->beta1, (double)o->step);
    double bc2 = 1.0 - pow((double)o->beta2, (double)o->step);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = 1.0f - lr * o->weight_decay;
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    for (size_t i = 0; i < o->n; i++) {
        p[i] *= decay;
        o->m[i] = o->m[i] * b1 + g[i] * (1.0f - b1);
        o->v[i] = o->v[i] * b2 + (1.0f - b2) * g[i] * g[i];
        float denom = sqrtf(o->v[i]) / bc2_sqrt + eps;
        p[i] += -step_size * (o->m[i] / denom);
    }
}

float sn_grad_clip_norm(float *g, size_t n, float max_norm) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    float norm = (float)sqrt(ss);
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (size_t i = 0; i < n; i++) g[i] *= coef;
    return norm;
}

float sn_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float base, float min_lr) {
    if (warmup > 0 && step < warmup) return base * (float)(step + 1) / (float)warmup;
    if (step >= total || total <= warmup) return min_lr;
    double t = (double)(step - warmup) / (double)(total - warmup);
    return (float)(min_lr + 0.5 * (base - min_lr) * (1.0 + cos(M_PI * t)));
}
