/* Training the linear probe: multinomial logistic regression on
 * standardised features, full-batch Adam (common/optim.h, no weight decay:
 * the L2 penalty is part of the loss), every sum in a fixed order on one
 * thread, so the same data gives the same probe bit for bit. The problem is
 * convex and small (thousands of clips, hundreds of features, a few
 * classes): a few hundred full-batch steps reach the optimum's
 * neighbourhood, which is all a yardstick needs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "optim.h"
#include "probe_internal.h"
#include "sono_internal.h"

sono_probe_train_params sono_probe_train_default_params(void) {
    sono_probe_train_params p = {.l2 = 1e-3, .steps = 400, .lr = 0.05, .class_balance = 1};
    return p;
}

/* Standardisation from the training set: mean and deviation per feature, a
 * constant feature gets deviation 1 (it then contributes nothing). */
static void fit_standardise(sono_probe *p, const float *x, int64_t n) {
    const int F = p->F;
    for (int j = 0; j < F; j++) {
        double s = 0, v = 0;
        for (int64_t i = 0; i < n; i++) s += x[(size_t)i * F + j];
        double m = s / (double)n;
        for (int64_t i = 0; i < n; i++) v += ((double)x[(size_t)i * F + j] - m) * ((double)x[(size_t)i * F + j] - m);
        double sd = sqrt(v / (double)n);
        p->mean[j] = (float)m;
        p->std[j] = sd > 1e-6 ? (float)sd : 1.0f;
    }
}

/* Weighted mean cross-entropy + l2/2 |W|^2 of params theta = [W (K*F) | b (K)]
 * on standardised z [n][F]; gradient into g (same layout). */
static double loss_grad(const float *theta, const float *z, const int32_t *y, const double *wt, int64_t n, int K, int F,
                        double l2, float *g, double *logit) {
    const float *W = theta, *b = theta + (size_t)K * F;
    double *gacc = logit + K;   /* [K*F + K] accumulators after the logits */
    memset(gacc, 0, ((size_t)K * F + K) * sizeof(double));
    double loss = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * F;
        double zmax = -INFINITY;
        for (int k = 0; k < K; k++) {
            double a = b[k];
            const float *w = W + (size_t)k * F;
            for (int j = 0; j < F; j++) a += (double)w[j] * zi[j];
            logit[k] = a;
            if (a > zmax) zmax = a;
        }
        double s = 0;
        for (int k = 0; k < K; k++) s += exp(logit[k] - zmax);
        double lse = zmax + log(s);
        loss += wt[i] * (lse - logit[y[i]]);
        for (int k = 0; k < K; k++) {
            double d = wt[i] * (exp(logit[k] - lse) - (k == y[i]));
            double *gw = gacc + (size_t)k * F;
            for (int j = 0; j < F; j++) gw[j] += d * zi[j];
            gacc[(size_t)K * F + k] += d;
        }
    }
    double reg = 0;
    for (size_t j = 0; j < (size_t)K * F; j++) {
        reg += (double)W[j] * W[j];
        g[j] = (float)(gacc[j] + l2 * W[j]);
    }
    for (int k = 0; k < K; k++) g[(size_t)K * F + k] = (float)gacc[(size_t)K * F + k];
    return loss + 0.5 * l2 * reg;
}

sono_probe *sono_probe_train(const sono_probe_info *info, const float *x, const int32_t *y, int64_t n,
                             const sono_probe_train_params *prm, double *final_loss, int *err) {
    sono_probe_train_params dp = sono_probe_train_default_params();
    if (!prm) prm = &dp;
    int rc = 0;
    if (n < 1) rc = sn_fail(SONO_E_EMPTY, "no examples to train the probe on");
    else if (prm->steps < 1 || !(prm->lr > 0) || !(prm->l2 >= 0))
        rc = sn_fail(SONO_E_ARG, "probe training needs steps >= 1, lr > 0 and l2 >= 0");
    sono_probe *p = rc ? NULL : sn_probe_new(info, &rc);
    const int K = p ? p->K : 0, F = p ? p->F : 0;
    for (int64_t i = 0; !rc && i < n; i++)
        if (y[i] < 0 || y[i] >= K) rc = sn_fail(SONO_E_ARG, "example %lld has label %d, not in [0, %d)", (long long)i, y[i], K);
    for (size_t i = 0; !rc && i < (size_t)n * (size_t)F; i++)
        if (!isfinite(x[i])) rc = sn_fail(SONO_E_ARG, "example %lld has a non-finite feature", (long long)(i / (size_t)F));
    size_t P = (size_t)K * F + (size_t)K;
    float *z = NULL, *theta = NULL, *g = NULL;
    double *wt = NULL, *work = NULL;
    sono_adamw opt = {0};
    if (!rc) {
        z = malloc((size_t)n * (size_t)F * sizeof(float));
        theta = calloc(P, sizeof(float));
        g = malloc(P * sizeof(float));
        wt = malloc((size_t)n * sizeof(double));
        work = malloc(((size_t)K + P) * sizeof(double));
        if (!z || !theta || !g || !wt || !work || sn_adamw_init(&opt, P, 0.9f, 0.999f, 1e-8f, 0.0f))
            rc = sn_fail(SONO_E_NOMEM, "out of memory for the probe's training");
    }
    if (!rc) {
        fit_standardise(p, x, n);
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < F; j++) z[(size_t)i * F + j] = (x[(size_t)i * F + j] - p->mean[j]) / p->std[j];
        /* weights sum to 1: plain mean, or each present class 1/(classes present) */
        int64_t count[PROBE_MAX_CLASSES] = {0};
        for (int64_t i = 0; i < n; i++) count[y[i]]++;
        int present = 0;
        for (int k = 0; k < K; k++) present += count[k] > 0;
        for (int64_t i = 0; i < n; i++)
            wt[i] = prm->class_balance ? 1.0 / ((double)present * (double)count[y[i]]) : 1.0 / (double)n;
        double loss = 0;
        for (int s = 0; s < prm->steps; s++) {
            loss = loss_grad(theta, z, y, wt, n, K, F, prm->l2, g, work);
            sn_adamw_step(&opt, theta, g, (float)prm->lr);
        }
        loss = loss_grad(theta, z, y, wt, n, K, F, prm->l2, g, work);
        if (final_loss) *final_loss = loss;
        memcpy(p->W, theta, (size_t)K * F * sizeof(float));
        memcpy(p->b, theta + (size_t)K * F, (size_t)K * sizeof(float));
    }
    sn_adamw_free(&opt);
    free(z);
    free(theta);
    free(g);
    free(wt);
    free(work);
    if (rc) {
        sono_probe_free(p);
        p = NULL;
    }
    if (err) *err = rc;
    return p;
}
