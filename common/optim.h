/* Optimisation for training: AdamW with PyTorch's arithmetic, global
 * gradient-norm clipping, and a warmup + cosine learning-rate schedule.
 *
 *   sono_adamw opt; sn_adamw_init(&opt, n_params, 0.9f, 0.999f, 1e-8f, 0.01f);
 *   float norm = sn_grad_clip_norm(grads, n_params, 1.0f);
 *   sn_adamw_step(&opt, params, grads, sn_lr_warmup_cosine(step, 1000, 100000, 3e-4f, 3e-5f));
 *   ... sn_adamw_free(&opt);
 * The moments (m, v) and the step count are the optimizer state a checkpoint
 * saves to resume bit for bit. */
#ifndef SONO_OPTIM_H
#define SONO_OPTIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n;            /* parameters */
    float beta1, beta2, eps, weight_decay;
    int64_t step;        /* steps taken */
    float *m, *v;        /* [n] first and second moments */
} sono_adamw;

/* Zeroed moments; 0 or SONO_E_NOMEM. */
int sn_adamw_init(sono_adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay);
void sn_adamw_free(sono_adamw *o);

/* One step, exactly as torch.optim.AdamW (decoupled weight decay
 * p *= 1 - lr*wd, then p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)). */
void sn_adamw_step(sono_adamw *o, float *params, const float *grads, float lr);

/* Scale grads so their global 2-norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_: factor max_norm / (norm + 1e-6) when < 1).
 * Returns the norm before clipping. */
float sn_grad_clip_norm(float *grads, size_t n, float max_norm);

/* Linear warmup from 0 to base over `warmup` steps, then cosine decay to
 * min_lr at step `total` (min_lr after that). */
float sn_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float base, float min_lr);

#endif
