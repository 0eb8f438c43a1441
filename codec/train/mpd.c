/* Multi-period discriminator (codec/train/mpd.h) on common/conv2d.c's layers
 * and disc.c's LeakyReLU, hinge and feature-loss pieces.
 *
 * Each loss call works crop by crop and period by period: one (crop,
 * period)'s view and activations are alive at a time, plus, in the generator
 * loss, the real crops' feature maps at the current period (the normaliser
 * mean|f(x)| is taken over the whole batch first). Weight-normed kernels are
 * folded once per call into an effective weight buffer; their gradients
 * gather there and go through the weight norm at the end of the call. */
#include "mpd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_grad.h"
#include "sono_internal.h"

#define MPD_N_LAYERS (MPD_N_CONVS + 1)   /* convs.0..4, conv_post */

typedef struct {
    conv2d_shape s;         /* transposed layout: H = period, W = time */
    size_t off_v, off_g, off_b;
    size_t off_eff;         /* effective weight in m->weff / m->dweff */
    size_t out_off;         /* output within a crop's activation set */
    size_t out_floats;
} mpd_layer;

typedef struct {
    int p, rows;            /* period; rows of PyTorch's view = Tp / p */
    size_t in_floats;       /* C * Tp: the view */
    size_t act_floats;      /* every layer's output, logits last */
    mpd_layer L[MPD_N_LAYERS];
} mpd_period;

struct mpd {
    mpd_config cfg;
    int B, T;
    int use_ref;
    mpd_period per[MPD_MAX_PERIODS];
    sn_param_table pt;
    size_t n_floats, n_eff, max_buf, max_act, max_in;
    float *params, *grads;
    float *weff, *dweff;    /* [n_eff] */
    float *in;              /* [max_in] one crop's view */
    float *acts;            /* [max_act] one crop's activations */
    float *xacts;           /* [B][max_act] real crops' feature maps (generator loss) */
    float *gA, *gB;         /* [max_buf] ping-pong gradients */
    float *scratch;
    size_t scratch_floats;
};

mpd_config sn_mpd_default_config(int channels, int filters) {
    static const int per[5] = {2, 3, 5, 7, 11}, mult[MPD_N_CONVS] = {1, 4, 16, 32, 32};
    mpd_config c;
    memset(&c, 0, sizeof c);
    c.channels = channels;
    c.n_periods = 5;
    for (int i = 0; i < 5; i++) c.periods[i] = per[i];
    for (int i = 0; i < MPD_N_CONVS; i++) c.width[i] = filters * mult[i];
    c.kernel = 5;
    c.stride = 3;
    c.post_kernel = 3;
    c.slope = 0.1f;
    c.gen_loss = DISC_GEN_HINGE2;
    c.feat_relative = 1;
    return c;
}

void sn_mpd_free(mpd *m) {
    if (!m) return;
    sn_params_free(&m->pt);
    free(m->params);
    free(m->grads);
    free(m->weff);
    free(m->dweff);
    free(m->in);
    free(m->acts);
    free(m->xacts);
    free(m->gA);
    free(m->gB);
    free(m->scratch);
    free(m);
}

/* base + suffix, shape [a][b][c] (trailing zeros: fewer dims), at the end of
 * the flat buffer; its offset (0 once *e is set). */
static size_t add_param(mpd *m, const char *base, const char *suffix, int64_t a, int64_t b, int64_t c, int *e) {
    if (*e) return 0;
    const int64_t sh[3] = {a, b, c};
    const int i = sn_params_add(&m->pt, base, suffix, b ? 3 : 1, sh);
    if (i < 0) {
        *e = i;
        return 0;
    }
    return m->pt.p[i].offset;
}

mpd *sn_mpd_new(int channels, int filters, int B, int T, int *err) {
    mpd_config c = sn_mpd_default_config(channels, filters);
    return sn_mpd_new_config(&c, B, T, err);
}

mpd *sn_mpd_new_config(const mpd_config *cfg, int B, int T, int *err) {
    int e = 0;
    mpd *m = NULL;
    int ok = cfg && cfg->channels >= 1 && cfg->channels <= 64 && cfg->n_periods >= 1 &&
             cfg->n_periods <= MPD_MAX_PERIODS && B >= 1 && T >= 2 && cfg->slope > 0.0f &&
             (cfg->gen_loss == DISC_GEN_HINGE2 || cfg->gen_loss == DISC_GEN_HINGE) && cfg->kernel >= 1 &&
             cfg->kernel <= 31 && (cfg->kernel & 1) && cfg->stride >= 1 && cfg->post_kernel >= 1 &&
             cfg->post_kernel <= 31 && (cfg->post_kernel & 1);
    for (int i = 0; ok && i < MPD_N_CONVS; i++) ok = cfg->width[i] >= 1 && cfg->width[i] <= 4096;
    for (int i = 0; ok && i < cfg->n_periods; i++) ok = cfg->periods[i] >= 1 && cfg->periods[i] <= T;
    if (!ok) {   /* a period above T: reflection cannot pad that far */
        e = sn_fail(SONO_E_ARG, "mpd: invalid config or batch (B %d, T %d)", B, T);
        goto done;
    }
    m = calloc(1, sizeof *m);
    if (!m) { e = SONO_E_NOMEM; goto done; }
    m->cfg = *cfg;
    m->B = B;
    m->T = T;
    const int C = cfg->channels;
    size_t eff = 0;
    for (int pi = 0; pi < cfg->n_periods; pi++) {
        mpd_period *P = &m->per[pi];
        const int p = cfg->periods[pi];
        P->p = p;
        P->rows = (T + p - 1) / p;
        P->in_floats = (size_t)C * p * P->rows;
        if (P->in_floats > m->max_in) m->max_in = P->in_floats;
        if (P->in_floats > m->max_buf) m->max_buf = P->in_floats;
        int W = P->rows, Cin = C;
        size_t act = 0;
        for (int l = 0; l < MPD_N_LAYERS; l++) {
            mpd_layer *L = &P->L[l];
            conv2d_shape *s = &L->s;
            const int post = l == MPD_N_LAYERS - 1;
            s->C_in = Cin;
            s->C_out = post ? 1 : cfg->width[l];
            s->H = p;
            s->W = W;
            s->kh = 1;
            s->kw = post ? cfg->post_kernel : cfg->kernel;
            s->sh = 1;
            s->sw = l < MPD_N_CONVS - 1 ? cfg->stride : 1;
            s->dh = s->dw = 1;
            s->ph = 0;
            s->pw = (s->kw - 1) / 2;
            const int Wo = conv2d_out_len(W, s->kw, s->sw, s->dw, s->pw);
            L->out_off = act;
            L->out_floats = (size_t)s->C_out * p * Wo;
            act += L->out_floats;
            char base[64];
            if (!post) snprintf(base, sizeof base, "mpd.%d.convs.%d", pi, l);
            else snprintf(base, sizeof base, "mpd.%d.conv_post", pi);
            /* state_dict order after torch weight_norm: bias, weight_g, weight_v */
            L->off_b = add_param(m, base, ".bias", s->C_out, 0, 0, &e);
            L->off_g = add_param(m, base, ".weight_g", s->C_out, 1, 1, &e);
            L->off_v = add_param(m, base, ".weight_v", s->C_out, s->C_in, s->kw, &e);
            if (e) goto done;
            L->off_eff = eff;
            eff += (size_t)s->C_out * s->C_in * s->kw;
            const size_t sf = sn_conv2d_scratch_floats(s);
            if (sf > m->scratch_floats) m->scratch_floats = sf;
            if (L->out_floats > m->max_buf) m->max_buf = L->out_floats;
            W = Wo;
            Cin = s->C_out;
        }
        P->act_floats = act;
        if (act > m->max_act) m->max_act = act;
    }
    m->n_floats = m->pt.n_floats;
    m->n_eff = eff;
    size_t xf;
    if (!sn_mul_ok(m->max_act, (size_t)B, &xf)) { e = sn_fail(SONO_E_LIMIT, "mpd: too large"); goto done; }
    m->params = calloc(m->n_floats, sizeof(float));
    m->grads = calloc(m->n_floats, sizeof(float));
    m->weff = calloc(eff, sizeof(float));
    m->dweff = calloc(eff, sizeof(float));
    m->in = calloc(m->max_in, sizeof(float));
    m->acts = calloc(m->max_act, sizeof(float));
    m->xacts = calloc(xf, sizeof(float));
    m->gA = calloc(m->max_buf, sizeof(float));
    m->gB = calloc(m->max_buf, sizeof(float));
    m->scratch = calloc(m->scratch_floats ? m->scratch_floats : 1, sizeof(float));
    if (!m->params || !m->grads || !m->weff || !m->dweff || !m->in || !m->acts || !m->xacts || !m->gA ||
        !m->gB || !m->scratch)
        e = sn_fail(SONO_E_NOMEM, "mpd: out of memory");
done:
    if (e) {
        sn_mpd_free(m);
        m = NULL;
    }
    if (err) *err = e;
    return m;
}

const mpd_config *sn_mpd_get_config(const mpd *m) { return &m->cfg; }

void sn_mpd_set_loss_forms(mpd *m, int gen_loss, int feat_relative) {
    m->cfg.gen_loss = gen_loss == DISC_GEN_HINGE ? DISC_GEN_HINGE : DISC_GEN_HINGE2;
    m->cfg.feat_relative = feat_relative != 0;
}

void sn_mpd_use_ref_kernels(mpd *m, int on) { m->use_ref = on != 0; }

const train_param *sn_mpd_param_table(const mpd *m, int *n_params) {
    if (n_params) *n_params = m->pt.n;
    return m->pt.p;
}

int sn_mpd_param_shape4(const mpd *m, int i, int64_t shape[4]) {
    if (i < 0 || i >= m->pt.n) return SONO_E_ARG;
    const sn_param *t = &m->pt.p[i];
    if (t->ndim == 1) {
        shape[0] = t->shape[0];
        shape[1] = shape[2] = shape[3] = 0;
        return 1;
    }
    shape[0] = t->shape[0];
    shape[1] = t->shape[1];
    shape[2] = t->shape[2];
    shape[3] = 1;
    return 4;
}

float *sn_mpd_params(mpd *m) { return m->params; }
float *sn_mpd_grads(mpd *m) { return m->grads; }
size_t sn_mpd_n_floats(const mpd *m) { return m->n_floats; }
void sn_mpd_zero_grad(mpd *m) { memset(m->grads, 0, m->n_floats * sizeof(float)); }

void sn_mpd_init_params(mpd *m, uint64_t seed) {
    uint64_t st = seed;
    for (int pi = 0; pi < m->cfg.n_periods; pi++)
        for (int l = 0; l < MPD_N_LAYERS; l++) {
            const mpd_layer *L = &m->per[pi].L[l];
            sn_disc_conv_init(m->params + L->off_v, m->params + L->off_b, m->params + L->off_g, L->s.C_out,
                              L->s.C_in * L->s.kw, &st);
        }
}

/* Effective weights into m->weff; zero m->dweff. */
static void mpd_fold_weights(mpd *m) {
    for (int pi = 0; pi < m->cfg.n_periods; pi++)
        for (int l = 0; l < MPD_N_LAYERS; l++) {
            const mpd_layer *L = &m->per[pi].L[l];
            sn_weightnorm_forward(m->weff + L->off_eff, m->params + L->off_g, m->params + L->off_v, L->s.C_out,
                                  L->s.C_in * L->s.kw);
        }
    memset(m->dweff, 0, m->n_eff * sizeof(float));
}

/* grads += the effective-weight gradients through the weight norm. */
static void mpd_unfold_grads(mpd *m) {
    for (int pi = 0; pi < m->cfg.n_periods; pi++)
        for (int l = 0; l < MPD_N_LAYERS; l++) {
            const mpd_layer *L = &m->per[pi].L[l];
            sn_weightnorm_backward(m->grads + L->off_g, m->grads + L->off_v, m->dweff + L->off_eff,
                                   m->params + L->off_g, m->params + L->off_v, L->s.C_out, L->s.C_in * L->s.kw);
        }
}

/* Source sample of padded position t < Tp: F.pad(mode='reflect') on the right. */
static inline int mpd_src(int t, int T) { return t < T ? t : 2 * (T - 1) - t; }

/* One crop x [C][T] through period pi: its view [C][p][rows] into m->in,
 * activations into acts (the period's layout). */
static void mpd_forward_crop(mpd *m, int pi, const float *x, float *acts) {
    const mpd_period *P = &m->per[pi];
    const int C = m->cfg.channels, T = m->T, p = P->p, rows = P->rows;
    for (int c = 0; c < C; c++)
        for (int w = 0; w < p; w++) {
            float *dst = m->in + ((size_t)c * p + w) * rows;
            const float *src = x + (size_t)c * T;
            for (int h = 0; h < rows; h++) dst[h] = src[mpd_src(h * p + w, T)];
        }
    const float *in = m->in;
    for (int l = 0; l < MPD_N_LAYERS; l++) {
        const mpd_layer *L = &P->L[l];
        float *out = acts + L->out_off;
        if (m->use_ref) sn_conv2d_forward_ref(out, in, m->weff + L->off_eff, m->params + L->off_b, &L->s, NULL);
        else sn_conv2d_forward(out, in, m->weff + L->off_eff, m->params + L->off_b, &L->s, m->scratch);
        if (l < MPD_N_CONVS) sn_disc_lrelu_forward(out, out, L->out_floats, m->cfg.slope);
        in = out;
    }
}

/* Backward of one crop through period pi from the logits' gradient in m->gB;
 * acts: that crop's forward (its view still in m->in). xacts (may be NULL):
 * the real crop's activations; coef[l] * sign(f_l(y) - f_l(x)) is then added
 * to each feature map's gradient. with_params: effective-weight gradients
 * into m->dweff, biases into m->grads. dx (may be NULL): [C][T] +=. */
static void mpd_backward_crop(mpd *m, int pi, const float *acts, const float *xacts, const double *coef,
                              int with_params, float *dx) {
    const mpd_period *P = &m->per[pi];
    float *gout = m->gB, *gin = m->gA;
    for (int l = MPD_N_LAYERS - 1; l >= 0; l--) {
        const mpd_layer *L = &P->L[l];
        /* the feature-loss sign term, then (convs) the LeakyReLU backward;
         * slope 1 on the logits: a no-op but for the sign term */
        if (xacts || l < MPD_N_CONVS)
            sn_disc_lrelu_feat_backward(gout, acts + L->out_off, xacts ? xacts + L->out_off : NULL,
                                        xacts ? (float)coef[l] : 0.0f, L->out_floats,
                                        l < MPD_N_CONVS ? m->cfg.slope : 1.0f);
        const float *in = l > 0 ? acts + P->L[l - 1].out_off : m->in;
        float *din = l > 0 || dx ? gin : NULL;
        float *dw = with_params ? m->dweff + L->off_eff : NULL, *db = with_params ? m->grads + L->off_b : NULL;
        const float *w = m->weff + L->off_eff;
        if (m->use_ref) {
            if (din) memset(din, 0, (size_t)L->s.C_in * L->s.H * L->s.W * sizeof(float));
            sn_conv2d_backward_ref(din, dw, db, gout, in, w, &L->s, NULL);
        } else {
            sn_conv2d_backward_fresh(din, dw, db, gout, in, w, &L->s, m->scratch);
        }
        float *t = gout;
        gout = gin;
        gin = t;
    }
    if (!dx) return;
    /* gout: the view's gradient; scatter it back through the reflection */
    const int C = m->cfg.channels, T = m->T, p = P->p, rows = P->rows;
    for (int c = 0; c < C; c++)
        for (int w = 0; w < p; w++) {
            const float *g = gout + ((size_t)c * p + w) * rows;
            float *dst = dx + (size_t)c * T;
            for (int h = 0; h < rows; h++) dst[mpd_src(h * p + w, T)] += g[h];
        }
}

double sn_mpd_loss_d(mpd *m, const float *x, const float *y) {
    const int NP = m->cfg.n_periods, B = m->B;
    const size_t crop = (size_t)m->cfg.channels * m->T;
    mpd_fold_weights(m);
    double total = 0;
    for (int pi = 0; pi < NP; pi++) {
        const mpd_layer *Lp = &m->per[pi].L[MPD_N_LAYERS - 1];
        const size_t nlog = Lp->out_floats;
        const float scale = (float)(1.0 / ((double)NP * B * nlog));
        double real = 0, fake = 0;
        for (int b = 0; b < B; b++)
            for (int which = 0; which < 2; which++) {   /* 0: real x, 1: fake y */
                mpd_forward_crop(m, pi, (which ? y : x) + b * crop, m->acts);
                sn_disc_hinge_d(m->acts + Lp->out_off, m->gB, nlog, which, scale, which ? &fake : &real);
                mpd_backward_crop(m, pi, m->acts, NULL, NULL, 1, NULL);
            }
        total += (real + fake) / ((double)B * nlog);
    }
    mpd_unfold_grads(m);
    return total / NP;
}

void sn_mpd_loss_g(mpd *m, const float *x, const float *y, float w_adv, float w_feat, float *dy, double *adv,
                   double *feat) {
    const int NP = m->cfg.n_periods, B = m->B;
    const size_t crop = (size_t)m->cfg.channels * m->T;
    const int backward = dy && (w_adv != 0.0f || w_feat != 0.0f);
    mpd_fold_weights(m);
    double adv_sum = 0, feat_sum = 0;
    for (int pi = 0; pi < NP; pi++) {
        const mpd_period *P = &m->per[pi];
        const mpd_layer *Lp = &P->L[MPD_N_LAYERS - 1];
        const size_t nlog = Lp->out_floats;
        double xabs[MPD_N_FMAPS] = {0}, diff[MPD_N_FMAPS] = {0}, denom[MPD_N_FMAPS], coef[MPD_N_FMAPS];
        for (int b = 0; b < B; b++) {
            float *xa = m->xacts + (size_t)b * m->max_act;
            mpd_forward_crop(m, pi, x + b * crop, xa);
            for (int l = 0; l < MPD_N_FMAPS; l++)
                xabs[l] += sn_disc_sum_abs(xa + P->L[l].out_off, NULL, P->L[l].out_floats);
        }
        for (int l = 0; l < MPD_N_FMAPS; l++) {
            const double n = (double)B * P->L[l].out_floats;
            denom[l] = m->cfg.feat_relative ? SONO_MAX(xabs[l] / n, 1e-8) : 1.0;
            coef[l] = (double)w_feat / ((double)NP * MPD_N_FMAPS * n * denom[l]);
        }
        const float gscale = (float)((double)w_adv / ((double)NP * B * nlog));
        double advs = 0;
        for (int b = 0; b < B; b++) {
            const float *xa = m->xacts + (size_t)b * m->max_act;
            mpd_forward_crop(m, pi, y + b * crop, m->acts);
            sn_disc_hinge_g(m->acts + Lp->out_off, m->gB, nlog, m->cfg.gen_loss, gscale, &advs);
            for (int l = 0; l < MPD_N_FMAPS; l++)
                diff[l] += sn_disc_sum_abs(m->acts + P->L[l].out_off, xa + P->L[l].out_off, P->L[l].out_floats);
            if (backward) mpd_backward_crop(m, pi, m->acts, xa, coef, 0, dy + b * crop);
        }
        adv_sum += advs / ((double)B * nlog);
        for (int l = 0; l < MPD_N_FMAPS; l++)
            feat_sum += diff[l] / ((double)B * P->L[l].out_floats) / denom[l] / MPD_N_FMAPS;
    }
    if (adv) *adv = adv_sum / NP;
    if (feat) *feat = feat_sum / NP;
}
