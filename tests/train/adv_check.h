/* Checks shared by the discriminator tests (test_disc.c: the MS-STFT
 * discriminator, test_mpd.c: the multi-period one): both have the same
 * interface (flat parameters and gradients, a parameter table, sn_*_loss_d,
 * sn_*_loss_g, the loss forms of disc.h), seen here through adv_model.
 *
 * Finite differences are directional derivatives (central, in double over
 * float32 forwards) along random directions, so that the signal stands above
 * float32 rounding: see adv_fd_dir. Include after test_util.h. */
#ifndef SONO_ADV_CHECK_H
#define SONO_ADV_CHECK_H

#include "disc.h"

#define ADV_FD_RTOL 2e-2
#define ADV_FD_ATOL 1e-5
#define ADV_FD_ATOL_SCALE 2e-3

typedef struct {
    void *d;
    const char *verbose_env;   /* getenv name that prints every check */
    double (*loss_d)(void *d, const float *x, const float *y);
    void (*loss_g)(void *d, const float *x, const float *y, float w_adv, float w_feat, float *dy, double *adv,
                   double *feat);
    void (*set_loss_forms)(void *d, int gen_loss, int feat_relative);
    float *(*params)(void *d);
    float *(*grads)(void *d);
    void (*zero_grad)(void *d);
    size_t n_floats;
    const train_param *tab;
    int n_params;
} adv_model;

/* adv_model pfx_adv_model(type *d, verbose_env) over the sn_pfx_* functions. */
#define ADV_MODEL_OF(pfx, type)                                                                                  \
    static double pfx##_am_loss_d(void *d, const float *x, const float *y) { return sn_##pfx##_loss_d(d, x, y); } \
    static void pfx##_am_loss_g(void *d, const float *x, const float *y, float wa, float wf, float *dy, double *a, \
                                double *f) {                                                                     \
        sn_##pfx##_loss_g(d, x, y, wa, wf, dy, a, f);                                                           \
    }                                                                                                            \
    static void pfx##_am_forms(void *d, int g, int r) { sn_##pfx##_set_loss_forms(d, g, r); }                     \
    static float *pfx##_am_params(void *d) { return sn_##pfx##_params(d); }                                      \
    static float *pfx##_am_grads(void *d) { return sn_##pfx##_grads(d); }                                        \
    static void pfx##_am_zero(void *d) { sn_##pfx##_zero_grad(d); }                                              \
    static adv_model pfx##_adv_model(type *d, const char *verbose_env) {                                         \
        adv_model m = {d, verbose_env, pfx##_am_loss_d, pfx##_am_loss_g, pfx##_am_forms, pfx##_am_params,        \
                       pfx##_am_grads, pfx##_am_zero, sn_##pfx##_n_floats(d), NULL, 0};                           \
        m.tab = sn_##pfx##_param_table(d, &m.n_params);                                                          \
        return m;                                                                                                \
    }

enum { ADV_LOSS_D, ADV_LOSS_ADV, ADV_LOSS_FEAT };

/* max|a - ref| / max|ref| (printed with what, unless NULL). */
static inline double adv_norm_err(const float *a, const float *ref, size_t n, const char *what) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]);
        if (!(e <= md)) md = e;
        mr = fmax(mr, fabs(ref[i]));
    }
    double ne = mr > 0 ? md / mr : md;
    if (what) printf("  %-40s max abs diff %.3g, normalised %.3g\n", what, md, ne);
    return ne;
}

static inline double adv_loss_of(const adv_model *m, int which, const float *x, const float *y) {
    double a, f;
    if (which == ADV_LOSS_D) return m->loss_d(m->d, x, y);   /* grads pollution is harmless here */
    m->loss_g(m->d, x, y, 0, 0, NULL, &a, &f);
    return which == ADV_LOSS_ADV ? a : f;
}

/* Directional derivative of loss `which` along v (n floats) at buf (the
 * parameters or y), from central differences f(h), f(h/2). linear = 0: the
 * loss is smooth there, Richardson (4 f(h/2) - f(h)) / 3. linear = 1: dense
 * kinks (every LeakyReLU input or L1 difference that crosses zero inside the
 * step bends the loss a little) give the central difference an O(h) error,
 * removed by 2 f(h/2) - f(h). Against an = <gradient, v>; allowed
 * ADV_FD_RTOL |fd| + ADV_FD_ATOL_SCALE * sum |g_k v_k| + ADV_FD_ATOL. */
static inline int adv_fd_dir(const adv_model *m, int which, const float *x, const float *y, float *buf,
                             const float *v, const float *g, size_t n, double h, int linear, const char *what) {
    float *keep = malloc(n * sizeof(float));
    memcpy(keep, buf, n * sizeof(float));
    double an = 0, scale = 0, e[2];
    for (size_t k = 0; k < n; k++) {
        an += (double)g[k] * v[k];
        scale += fabs((double)g[k] * v[k]);
    }
    /* e[j]: central difference at step h / 2^j minus the analytic change
     * along the perturbation actually applied (buf rounded to float), so that
     * the rounding of keep + t v does not count as error */
    for (int j = 0; j < 2; j++) {
        double t = j ? h / 2 : h, l[2], a[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            a[sgn] = 0;
            for (size_t k = 0; k < n; k++) {
                buf[k] = (float)(keep[k] + (sgn ? -t : t) * v[k]);
                a[sgn] += (double)g[k] * ((double)buf[k] - keep[k]);
            }
            l[sgn] = adv_loss_of(m, which, x, y);
        }
        e[j] = (l[0] - l[1] - (a[0] - a[1])) / (2 * t);
    }
    memcpy(buf, keep, n * sizeof(float));
    free(keep);
    double fd = an + (linear ? 2 * e[1] - e[0] : (4 * e[1] - e[0]) / 3);
    int ok = fabs(an - fd) <= ADV_FD_RTOL * fabs(fd) + ADV_FD_ATOL_SCALE * scale + ADV_FD_ATOL;
    if (!ok || getenv(m->verbose_env))
        fprintf(ok ? stdout : stderr, "  %s %s: analytic %.7g fd %.7g (h %.7g, h/2 %.7g), scale %.3g\n",
                ok ? "ok " : "BAD", what, an, fd, an + e[0], an + e[1], scale);
    return ok;
}

/* L_d's gradient (an, from one call at x, y) w.r.t. every parameter tensor,
 * one random direction each, Richardson; first checks every conv_post.bias
 * gradient is 0 (every logit inside the hinges: the loss is smooth). Call
 * with LeakyReLU slope 1. */
static inline void adv_check_params_fd(const adv_model *m, const float *x, const float *y, const float *an, float *v) {
    float *p = m->params(m->d);
    const train_param *tab = m->tab;
    int bad = 0;
    for (int i = 0; i < m->n_params; i++)
        if (strstr(tab[i].name, "conv_post.bias"))
            CHECK_MSG(fabs(an[tab[i].offset]) < 1e-6, "%s: gradient %g, not all hinges active", tab[i].name,
                      an[tab[i].offset]);
    for (int i = 0; i < m->n_params; i++) {
        const size_t off = tab[i].offset, k = tab[i].numel;
        double rms = 0;
        for (size_t j = 0; j < k; j++) rms += (double)p[off + j] * p[off + j];
        rms = sqrt(rms / k);
        tu_fill(v, k, -1, 1);
        bad += !adv_fd_dir(m, ADV_LOSS_D, x, y, p + off, v, an + off, k, 3e-2 * fmax(rms, 0.05), 0, tab[i].name);
    }
    printf("  L_d wrt %d parameter tensors: %d bad\n", m->n_params, bad);
    CHECK_MSG(bad == 0, "L_d: %d parameter tensors fail finite differences", bad);
}

/* L_d's gradients accumulate: a second call adds the same again. an: scratch [n_floats]. */
static inline void adv_check_accumulates(const adv_model *m, const float *x, const float *y, float *an) {
    const size_t n = m->n_floats;
    m->zero_grad(m->d);
    m->loss_d(m->d, x, y);
    memcpy(an, m->grads(m->d), n * sizeof(float));
    m->loss_d(m->d, x, y);
    const float *g = m->grads(m->d);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= fabs(g[i] - 2.0 * an[i]) <= 1e-5 * (1 + fabs(an[i]));
    CHECK_MSG(ok, "loss_d does not accumulate");
}

/* The 4 generator loss forms (adv hinge2, adv hinge, feat relative, feat
 * plain) w.r.t. y [rows][T] along 3 random directions over the whole batch,
 * then one confined to each row (crop, channel), then, when tail > 0, one
 * confined to each row's last `tail` samples (step 3e-3, else 1e-3); at most `allowed` directions
 * may miss per form. Also: dy accumulates and is linear in the weights, and
 * the parameter gradients stay as they are. v: scratch [rows * T]. */
static inline void adv_check_y_fd(const adv_model *m, const float *x, float *y, int rows, int T, int tail,
                                  int allowed, const char *tag, float *v) {
    const size_t nx = (size_t)rows * T;
    float *keep_grads = malloc(m->n_floats * sizeof(float)), *dy = malloc(nx * sizeof(float));
    memcpy(keep_grads, m->grads(m->d), m->n_floats * sizeof(float));
    static const char *names[4] = {"adv (hinge2)", "adv (hinge)", "feat (relative)", "feat (plain)"};
    for (int which = 0; which < 4; which++) {
        m->set_loss_forms(m->d, which == 1 ? DISC_GEN_HINGE : DISC_GEN_HINGE2, which != 3);
        const int is_feat = which >= 2;
        memset(dy, 0, nx * sizeof(float));
        double adv, feat;
        m->loss_g(m->d, x, y, is_feat ? 0.0f : 1.0f, is_feat ? 1.0f : 0.0f, dy, &adv, &feat);
        int bad = 0;
        const int ndir = 3 + rows * (tail > 0 ? 2 : 1);
        for (int r = 0; r < ndir; r++) {
            tu_fill(v, nx, -1, 1);
            if (r >= 3) {
                const int row = (r - 3) % rows, in_tail = r >= 3 + rows;
                for (size_t k = 0; k < nx; k++)
                    if (k / T != (size_t)row || (in_tail && k % T < (size_t)(T - tail))) v[k] = 0;
            }
            char what[80];
            snprintf(what, sizeof what, "%s wrt y, direction %d", names[which], r);
            /* a tail moves the loss little: a longer step keeps it above float32 rounding
             * (1e-2 crosses too many L1 kinks in the feature losses) */
            const double h = r >= 3 + rows ? 3e-3 : 1e-3;
            bad += !adv_fd_dir(m, is_feat ? ADV_LOSS_FEAT : ADV_LOSS_ADV, x, y, y, v, dy, nx, h, 1, what);
        }
        printf("  %-16s adv %.6f feat %.6f; wrt y along %d directions: %d bad\n", names[which], adv, feat, ndir, bad);
        CHECK_MSG(bad <= allowed, "%s: %s: %d directions fail finite differences", tag, names[which], bad);
        /* dy accumulates; weights combine linearly */
        float *dy2 = malloc(nx * sizeof(float));
        memcpy(dy2, dy, nx * sizeof(float));
        m->loss_g(m->d, x, y, is_feat ? 0.0f : 3.0f, is_feat ? 3.0f : 0.0f, dy2, NULL, NULL);
        int ok = 1;
        for (size_t i = 0; i < nx; i++) ok &= fabs(dy2[i] - 4.0 * dy[i]) <= 1e-5 * (1e-3 + fabs(dy[i]));
        CHECK_MSG(ok, "%s: dy does not accumulate linearly in the weight", names[which]);
        free(dy2);
    }
    m->set_loss_forms(m->d, DISC_GEN_HINGE2, 1);
    CHECK_MSG(!memcmp(keep_grads, m->grads(m->d), m->n_floats * sizeof(float)), "loss_g touched the gradients");
    free(keep_grads);
    free(dy);
}

/* Every weight_g (followed by its weight_v in the table) equals ||v|| per row. */
static inline int adv_weight_g_is_norm(const train_param *tab, int np, const float *p) {
    int ok = 1;
    for (int i = 0; i + 1 < np; i++)
        if (strstr(tab[i].name, ".weight_g")) {
            const train_param *vt = &tab[i + 1];
            size_t inner = vt->numel / tab[i].numel;
            for (size_t r = 0; r < tab[i].numel; r++) {
                double ss = 0;
                for (size_t k = 0; k < inner; k++)
                    ss += (double)p[vt->offset + r * inner + k] * p[vt->offset + r * inner + k];
                ok &= fabs(p[tab[i].offset + r] - sqrt(ss)) <= 1e-5 * sqrt(ss);
            }
        }
    return ok;
}

#endif
