/* Multi-scale STFT discriminator (codec/train/disc.h): the model on top of
 * common/conv2d.c's layers: LeakyReLU, the per-scale forward/backward, and the
 * hinge and feature-matching losses.
 *
 * Each loss call works crop by crop and scale by scale, so the activations of
 * only one (crop, scale) are alive at a time, plus, for the generator's
 * feature loss, the real crops' feature maps at the current scale (the
 * normaliser mean|f(x)| is taken over the whole batch before any gradient is
 * formed). Weight-normed kernels are folded once per call into an effective
 * weight buffer; their gradients gather there and are pushed through the
 * weight norm at the end of the call. */
#include "disc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_grad.h"
#include "sono_internal.h"
#include "sonotok/cpu.h"
#include "stft.h"

/* ---------------------------------------------------------------------------
 * LeakyReLU and the feature loss's sums (the convs are common/conv2d.c's) */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define DISC_X86 1
#define DTGT __attribute__((target("avx512f,fma")))

/* Elementwise LeakyReLU pieces with compare masks (a plain C select compiles
 * to a branch, which mispredicts half the time on random signs). */
DTGT static void dlrelu_avx512(float *out, const float *in, size_t n, float slope) {
    const __m512 sv = _mm512_set1_ps(slope), z = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(in + i);
        const __mmask16 pos = _mm512_cmp_ps_mask(v, z, _CMP_GT_OQ);
        _mm512_storeu_ps(out + i, _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, sv), v));
    }
    for (; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : slope * in[i];
}

/* g[k] = (g[k] + cf * sign(f[k] - fx[k])) * (f[k] > 0 ? 1 : slope); fx may be NULL (no sign term). */
DTGT static void dlrelu_grad_avx512(float *g, const float *f, const float *fx, float cf, size_t n, float slope) {
    const __m512 sv = _mm512_set1_ps(slope), cv = _mm512_set1_ps(cf), z = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        const __m512 fv = _mm512_loadu_ps(f + k);
        __m512 gv = _mm512_loadu_ps(g + k);
        if (fx) {
            const __m512 df = _mm512_sub_ps(fv, _mm512_loadu_ps(fx + k));
            gv = _mm512_mask_add_ps(gv, _mm512_cmp_ps_mask(df, z, _CMP_GT_OQ), gv, cv);
            gv = _mm512_mask_sub_ps(gv, _mm512_cmp_ps_mask(df, z, _CMP_LT_OQ), gv, cv);
        }
        const __mmask16 pos = _mm512_cmp_ps_mask(fv, z, _CMP_GT_OQ);
        _mm512_storeu_ps(g + k, _mm512_mask_blend_ps(pos, _mm512_mul_ps(gv, sv), gv));
    }
    for (; k < n; k++) {
        if (fx) {
            const float df = f[k] - fx[k];
            g[k] += df > 0.0f ? cf : df < 0.0f ? -cf : 0.0f;
        }
        if (!(f[k] > 0.0f)) g[k] *= slope;
    }
}
#else
#define DISC_X86 0
#endif

static int disc_have_avx512(void) { return DISC_X86 && sono_cpu_level() >= SONO_CPU_AVX512; }

void sn_disc_lrelu_forward(float *out, const float *in, size_t n, float slope) {
#if DISC_X86
    if (disc_have_avx512()) {
        dlrelu_avx512(out, in, n, slope);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : slope * in[i];
}

void sn_disc_lrelu_backward(float *din, const float *dout, const float *out, size_t n, float slope) {
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * (out[i] > 0.0f ? 1.0f : slope);
}

void sn_disc_lrelu_feat_backward(float *g, const float *f, const float *fx, float cf, size_t n, float slope) {
#if DISC_X86
    if (disc_have_avx512()) {
        dlrelu_grad_avx512(g, f, fx, cf, n, slope);
        return;
    }
#endif
    for (size_t k = 0; k < n; k++) {
        if (fx) {
            const float df = f[k] - fx[k];
            g[k] += df > 0.0f ? cf : df < 0.0f ? -cf : 0.0f;
        }
        if (!(f[k] > 0.0f)) g[k] *= slope;
    }
}

/* sum |a[k]| and sum |a[k] - b[k]| in double, 8 independent partial sums
 * (one serial chain of double adds was the bottleneck of the feature loss). */
#if DISC_X86
__attribute__((target("avx512f"))) static double disc_sum_abs_avx512(const float *a, const float *b, size_t n) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    const __m512 sign = _mm512_set1_ps(-0.0f);
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 v = _mm512_loadu_ps(a + k);
        if (b) v = _mm512_sub_ps(v, _mm512_loadu_ps(b + k));
        v = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(sign), _mm512_castps_si512(v)));
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    double r = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for (; k < n; k++) r += fabsf(b ? a[k] - b[k] : a[k]);
    return r;
}
#endif

double sn_disc_sum_abs(const float *a, const float *b, size_t n) {
#if DISC_X86
    if (disc_have_avx512()) return disc_sum_abs_avx512(a, b, n);
#endif
    double acc[8] = {0};
    size_t k = 0;
    if (b) {
        for (; k + 8 <= n; k += 8)
            for (int u = 0; u < 8; u++) acc[u] += fabsf(a[k + u] - b[k + u]);
        for (; k < n; k++) acc[0] += fabsf(a[k] - b[k]);
    } else {
        for (; k + 8 <= n; k += 8)
            for (int u = 0; u < 8; u++) acc[u] += fabsf(a[k + u]);
        for (; k < n; k++) acc[0] += fabsf(a[k]);
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* ---------------------------------------------------------------------------
 * The discriminator */

#define DISC_N_LAYERS (DISC_N_CONVS + 1)   /* convs.0..4, conv_post */
#define DISC_PARAMS_PER_SCALE (2 + 3 * (DISC_N_LAYERS - 1))

typedef struct {
    conv2d_shape s;
    int Ho, Wo;
    int wn;                 /* weight-normed (all but convs.0) */
    size_t off_w;           /* plain weight, or v */
    size_t off_g;           /* weight_g (wn only) */
    size_t off_b;
    size_t off_eff;         /* effective weight in d->weff / d->dweff */
    size_t out_off;         /* output within a crop's activation set */
    size_t out_floats;
} disc_layer;

typedef struct {
    stft_plan *plan;
    int frames, bins;
    size_t spec_floats;     /* [2C][frames][bins] */
    size_t fmap_floats;     /* sum of convs.0..4 outputs */
    size_t act_floats;      /* fmaps + logits */
    disc_layer L[DISC_N_LAYERS];
} disc_scale;

struct disc {
    disc_config cfg;
    int B, T;
    disc_scale sc[DISC_MAX_SCALES];
    sn_param_table pt;        /* the flat parameters: names, shapes (kernels folded to 3-D), offsets */
    int64_t (*shape4)[4];
    int *ndim4;
    size_t n_floats, n_eff, max_buf, max_act, max_fmap, max_spec;
    float *params, *grads;
    float *weff, *dweff;    /* [n_eff] effective weights and their gradient */
    float *spec;            /* [max_spec] */
    float *acts;            /* [max_act] one crop's activations */
    float *xacts;           /* [B][max_fmap] real crops' feature maps (generator loss) */
    float *gA, *gB;         /* [max_buf] ping-pong gradients */
    float *scratch;
    size_t scratch_floats;
    /* sn_disc_keep_forward: every (scale, crop, real/fake) forward of the last
     * sn_disc_loss_g, for the sn_disc_loss_d that follows on the same x, y, params */
    size_t keep_off[DISC_MAX_SCALES];   /* scale si's block: [B][2][spec_floats + act_floats] */
    float *keep;
    float *keep_x, *keep_y, *keep_params; /* what that sn_disc_loss_g saw */
    int keep_valid;
    int reused;             /* the last sn_disc_loss_d reused kept forward passes */
};

disc_config sn_disc_default_config(int channels, int filters) {
    static const int nf[5] = {1024, 2048, 512, 256, 128};
    disc_config c;
    memset(&c, 0, sizeof c);
    c.channels = channels;
    c.filters = filters;
    c.n_scales = 5;
    for (int i = 0; i < 5; i++) {
        c.n_fft[i] = nf[i];
        c.hop[i] = nf[i] / 4;
    }
    c.slope = 0.2f;
    c.gen_loss = DISC_GEN_HINGE2;
    c.feat_relative = 1;
    return c;
}

void sn_disc_free(disc *d) {
    if (!d) return;
    for (int s = 0; s < DISC_MAX_SCALES; s++) sn_stft_plan_free(d->sc[s].plan);
    sn_params_free(&d->pt);
    free(d->shape4);
    free(d->ndim4);
    free(d->params);
    free(d->grads);
    free(d->weff);
    free(d->dweff);
    free(d->spec);
    free(d->acts);
    free(d->xacts);
    free(d->gA);
    free(d->gB);
    free(d->scratch);
    free(d->keep);
    free(d->keep_x);
    free(d->keep_y);
    free(d->keep_params);
    free(d);
}

/* Parameter base + suffix at the end of the flat buffer; returns its offset
 * (0 once *e is set: the first failure is kept in *e). */
static size_t add_param(disc *d, const char *base, const char *suffix, int ndim4, const int64_t *sh4, int *e) {
    if (*e) return 0;
    int64_t sh[3] = {0, 0, 0};
    int nd = ndim4;
    if (ndim4 == 4) {   /* fold the kernel: [C_out][C_in][kh*kw] */
        nd = 3;
        sh[0] = sh4[0];
        sh[1] = sh4[1];
        sh[2] = sh4[2] * sh4[3];
    } else {
        for (int k = 0; k < ndim4; k++) sh[k] = sh4[k];
    }
    const int i = sn_params_add(&d->pt, base, suffix, nd, sh);
    if (i < 0) {
        *e = i;
        return 0;
    }
    d->ndim4[i] = ndim4;
    for (int k = 0; k < 4; k++) d->shape4[i][k] = k < ndim4 ? sh4[k] : 0;
    return d->pt.p[i].offset;
}

disc *sn_disc_new(int channels, int filters, int B, int T, int *err) {
    disc_config c = sn_disc_default_config(channels, filters);
    return sn_disc_new_config(&c, B, T, err);
}

disc *sn_disc_new_config(const disc_config *cfg, int B, int T, int *err) {
    int e = 0;
    disc *d = NULL;
    if (!cfg || cfg->channels < 1 || cfg->channels > 64 || cfg->filters < 1 || cfg->filters > 4096 ||
        cfg->n_scales < 1 || cfg->n_scales > DISC_MAX_SCALES || B < 1 || T < 1 || !(cfg->slope > 0.0f) ||
        (cfg->gen_loss != DISC_GEN_HINGE2 && cfg->gen_loss != DISC_GEN_HINGE)) {
        e = sn_fail(SONO_E_ARG, "disc: invalid config or batch (B %d, T %d)", B, T);
        goto done;
    }
    for (int s = 0; s < cfg->n_scales; s++)
        if (cfg->n_fft[s] < 2 || cfg->n_fft[s] > T || cfg->hop[s] < 1) {
            e = sn_fail(SONO_E_ARG, "disc: scale %d: n_fft %d, hop %d invalid for T %d", s, cfg->n_fft[s],
                          cfg->hop[s], T);
            goto done;
        }
    d = calloc(1, sizeof *d);
    if (!d) { e = SONO_E_NOMEM; goto done; }
    d->cfg = *cfg;
    d->B = B;
    d->T = T;
    const int C = cfg->channels, F = cfg->filters;
    const int np = cfg->n_scales * DISC_PARAMS_PER_SCALE;
    d->shape4 = calloc((size_t)np, sizeof *d->shape4);
    d->ndim4 = calloc((size_t)np, sizeof *d->ndim4);
    if (!d->shape4 || !d->ndim4) { e = SONO_E_NOMEM; goto done; }

    size_t eff = 0;
    for (int si = 0; si < cfg->n_scales; si++) {
        disc_scale *sc = &d->sc[si];
        sc->plan = sn_stft_plan_new(cfg->n_fft[si], cfg->hop[si], 1, &e);
        if (!sc->plan) goto done;
        sc->frames = sn_stft_n_frames(sc->plan, T);
        sc->bins = sn_stft_n_bins(sc->plan);
        sc->spec_floats = (size_t)2 * C * sc->frames * sc->bins;
        int H = sc->frames, W = sc->bins, Cin = 2 * C;
        size_t act = 0;
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            disc_layer *L = &sc->L[l];
            conv2d_shape *s = &L->s;
            const int dil = l >= 1 && l <= 3 ? 1 << (l - 1) : 1;
            s->C_in = Cin;
            s->C_out = l == DISC_N_LAYERS - 1 ? 1 : F;
            s->H = H;
            s->W = W;
            s->kh = 3;
            s->kw = l <= 3 ? 9 : 3;
            s->sh = 1;
            s->sw = l >= 1 && l <= 3 ? 2 : 1;
            s->dh = dil;
            s->dw = 1;
            s->ph = (s->kh - 1) * dil / 2;
            s->pw = (s->kw - 1) / 2;
            L->Ho = conv2d_out_len(H, s->kh, s->sh, s->dh, s->ph);
            L->Wo = conv2d_out_len(W, s->kw, s->sw, s->dw, s->pw);
            L->wn = l > 0;
            L->out_off = act;
            L->out_floats = (size_t)s->C_out * L->Ho * L->Wo;
            act += L->out_floats;
            if (l == DISC_N_LAYERS - 2) sc->fmap_floats = act;
            char base[64];
            if (l < DISC_N_CONVS) snprintf(base, sizeof base, "disc.%d.convs.%d", si, l);
            else snprintf(base, sizeof base, "disc.%d.conv_post", si);
            const int64_t wsh[4] = {s->C_out, s->C_in, s->kh, s->kw};
            const int64_t bsh[1] = {s->C_out};
            const int64_t gsh[4] = {s->C_out, 1, 1, 1};
            if (!L->wn) {
                L->off_w = add_param(d, base, ".weight", 4, wsh, &e);
                L->off_b = add_param(d, base, ".bias", 1, bsh, &e);
            } else {   /* state_dict order after torch weight_norm: bias, weight_g, weight_v */
                L->off_b = add_param(d, base, ".bias", 1, bsh, &e);
                L->off_g = add_param(d, base, ".weight_g", 4, gsh, &e);
                L->off_w = add_param(d, base, ".weight_v", 4, wsh, &e);
            }
            if (e) goto done;
            L->off_eff = eff;
            eff += (size_t)s->C_out * s->C_in * s->kh * s->kw;
            size_t sf = sn_conv2d_scratch_floats(s);
            if (sf > d->scratch_floats) d->scratch_floats = sf;
            size_t in_floats = (size_t)Cin * H * W;
            if (in_floats > d->max_buf) d->max_buf = in_floats;
            if (L->out_floats > d->max_buf) d->max_buf = L->out_floats;
            H = L->Ho;
            W = L->Wo;
            Cin = s->C_out;
        }
        sc->act_floats = act;
        if (H < 1 || W < 1) {
            e = sn_fail(SONO_E_ARG, "disc: scale %d leaves no output", si);
            goto done;
        }
        if (act > d->max_act) d->max_act = act;
        if (sc->fmap_floats > d->max_fmap) d->max_fmap = sc->fmap_floats;
        if (sc->spec_floats > d->max_spec) d->max_spec = sc->spec_floats;
    }
    const size_t off = d->pt.n_floats;
    d->n_floats = off;
    d->n_eff = eff;
    size_t xf;
    if (!sn_mul_ok(d->max_fmap, (size_t)B, &xf)) { e = sn_fail(SONO_E_LIMIT, "disc: too large"); goto done; }
    d->params = calloc(off, sizeof(float));
    d->grads = calloc(off, sizeof(float));
    d->weff = calloc(eff, sizeof(float));
    d->dweff = calloc(eff, sizeof(float));
    d->spec = calloc(d->max_spec, sizeof(float));
    d->acts = calloc(d->max_act, sizeof(float));
    d->xacts = calloc(xf, sizeof(float));
    d->gA = calloc(d->max_buf, sizeof(float));
    d->gB = calloc(d->max_buf, sizeof(float));
    d->scratch = calloc(d->scratch_floats ? d->scratch_floats : 1, sizeof(float));
    if (!d->params || !d->grads || !d->weff || !d->dweff || !d->spec || !d->acts || !d->xacts || !d->gA ||
        !d->gB || !d->scratch)
        e = sn_fail(SONO_E_NOMEM, "disc: out of memory");
done:
    if (e) {
        sn_disc_free(d);
        d = NULL;
    }
    if (err) *err = e;
    return d;
}

const disc_config *sn_disc_get_config(const disc *d) { return &d->cfg; }

void sn_disc_set_loss_forms(disc *d, int gen_loss, int feat_relative) {
    d->cfg.gen_loss = gen_loss == DISC_GEN_HINGE ? DISC_GEN_HINGE : DISC_GEN_HINGE2;
    d->cfg.feat_relative = feat_relative != 0;
}

const train_param *sn_disc_param_table(const disc *d, int *n_params) {
    if (n_params) *n_params = d->pt.n;
    return d->pt.p;
}

int sn_disc_param_shape4(const disc *d, int i, int64_t shape[4]) {
    if (i < 0 || i >= d->pt.n) return SONO_E_ARG;
    for (int k = 0; k < 4; k++) shape[k] = d->shape4[i][k];
    return d->ndim4[i];
}

float *sn_disc_params(disc *d) { return d->params; }
float *sn_disc_grads(disc *d) { return d->grads; }
size_t sn_disc_n_floats(const disc *d) { return d->n_floats; }

void sn_disc_zero_grad(disc *d) { memset(d->grads, 0, d->n_floats * sizeof(float)); }

static float uniform_pm(uint64_t *st, float bound) {
    return (float)((2.0 * sn_unif01(st) - 1.0) * bound);
}

void sn_disc_conv_init(float *w, float *b, float *g, int rows, int inner, uint64_t *st) {
    const float bound = 1.0f / sqrtf((float)inner);
    for (size_t k = 0; k < (size_t)rows * inner; k++) w[k] = uniform_pm(st, bound);
    for (int k = 0; k < rows; k++) b[k] = uniform_pm(st, bound);
    if (g)
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int k = 0; k < inner; k++) ss += (double)w[(size_t)r * inner + k] * w[(size_t)r * inner + k];
            g[r] = (float)sqrt(ss);
        }
}

void sn_disc_init_params(disc *d, uint64_t seed) {
    uint64_t st = seed;
    for (int si = 0; si < d->cfg.n_scales; si++)
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            const disc_layer *L = &d->sc[si].L[l];
            const conv2d_shape *s = &L->s;
            sn_disc_conv_init(d->params + L->off_w, d->params + L->off_b, L->wn ? d->params + L->off_g : NULL,
                              s->C_out, s->C_in * s->kh * s->kw, &st);
        }
}

void sn_disc_hinge_d(const float *lg, float *dl, size_t n, int fake, float scale, double *sum) {
    for (size_t k = 0; k < n; k++) {
        /* real: relu(1 - D), fake: relu(1 + D) */
        float m = fake ? 1.0f + lg[k] : 1.0f - lg[k];
        if (m > 0.0f) {
            *sum += m;
            dl[k] = fake ? scale : -scale;
        } else {
            dl[k] = 0.0f;
        }
    }
}

void sn_disc_hinge_g(const float *lg, float *dl, size_t n, int gen_loss, float gscale, double *sum) {
    for (size_t k = 0; k < n; k++) {
        if (gen_loss == DISC_GEN_HINGE) {
            *sum -= lg[k];
            dl[k] = -gscale;
        } else {
            float m = 1.0f - lg[k];
            *sum += m > 0.0f ? m : 0.0f;
            dl[k] = m > 0.0f ? -gscale : 0.0f;
        }
    }
}

/* Effective weights of every layer into d->weff; zero d->dweff. */
static void disc_fold_weights(disc *d) {
    for (int si = 0; si < d->cfg.n_scales; si++)
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            const disc_layer *L = &d->sc[si].L[l];
            const int rows = L->s.C_out, inner = L->s.C_in * L->s.kh * L->s.kw;
            if (L->wn)
                sn_weightnorm_forward(d->weff + L->off_eff, d->params + L->off_g, d->params + L->off_w, rows, inner);
            else
                memcpy(d->weff + L->off_eff, d->params + L->off_w, (size_t)rows * inner * sizeof(float));
        }
    memset(d->dweff, 0, d->n_eff * sizeof(float));
}

/* grads += the effective-weight gradients pushed through the weight norm. */
static void disc_unfold_grads(disc *d) {
    for (int si = 0; si < d->cfg.n_scales; si++)
        for (int l = 0; l < DISC_N_LAYERS; l++) {
            const disc_layer *L = &d->sc[si].L[l];
            const int rows = L->s.C_out, inner = L->s.C_in * L->s.kh * L->s.kw;
            const float *dw = d->dweff + L->off_eff;
            if (L->wn) {
                sn_weightnorm_backward(d->grads + L->off_g, d->grads + L->off_w, dw, d->params + L->off_g,
                                    d->params + L->off_w, rows, inner);
            } else {
                float *g = d->grads + L->off_w;
                for (size_t k = 0; k < (size_t)rows * inner; k++) g[k] += dw[k];
            }
        }
}

/* One crop x [C][T] through scale si: spectrogram into spec, feature maps
 * (and logits when with_logits) into acts (the scale's act layout). */
static void disc_forward_crop(disc *d, int si, const float *x, float *spec, float *acts, int with_logits) {
    const disc_scale *sc = &d->sc[si];
    const int C = d->cfg.channels;
    const size_t plane = (size_t)sc->frames * sc->bins;
    for (int c = 0; c < C; c++)
        sn_stft_forward(sc->plan, spec + c * plane, spec + (C + c) * plane, x + (size_t)c * d->T, d->T);
    const float *in = spec;
    const int nl = with_logits ? DISC_N_LAYERS : DISC_N_CONVS;
    for (int l = 0; l < nl; l++) {
        const disc_layer *L = &sc->L[l];
        float *out = acts + L->out_off;
        sn_conv2d_forward(out, in, d->weff + L->off_eff, d->params + L->off_b, &L->s, d->scratch);
        if (l < DISC_N_CONVS) sn_disc_lrelu_forward(out, out, L->out_floats, d->cfg.slope);
        in = out;
    }
}

/* Backward of one crop through scale si from dlogit (in d->gB, the logits'
 * shape); spec and acts: that crop's forward. xacts (may be NULL): the real crop's feature maps; then
 * coef[l] * sign(f_l(y) - f_l(x)) is added to each feature map's gradient.
 * with_params: effective-weight gradients into d->dweff, biases into d->grads.
 * dx (may be NULL): [C][T] += gradient w.r.t. the crop. */
static void disc_backward_crop(disc *d, int si, const float *spec, const float *acts, const float *xacts,
                               const double *coef, int with_params, float *dx) {
    const disc_scale *sc = &d->sc[si];
    float *gout = d->gB, *gin = d->gA;
    for (int l = DISC_N_LAYERS - 1; l >= 0; l--) {
        const disc_layer *L = &sc->L[l];
        const float *out = acts + L->out_off;
        if (l < DISC_N_CONVS)   /* feature-loss sign term, then LeakyReLU backward */
            sn_disc_lrelu_feat_backward(gout, out, xacts ? xacts + L->out_off : NULL,
                                        xacts ? (float)coef[l] : 0.0f, L->out_floats, d->cfg.slope);
        const float *in = l > 0 ? acts + sc->L[l - 1].out_off : spec;
        const int need_din = l > 0 || dx;
        sn_conv2d_backward_fresh(need_din ? gin : NULL, with_params ? d->dweff + L->off_eff : NULL,
                                 with_params ? d->grads + L->off_b : NULL, gout, in, d->weff + L->off_eff, &L->s,
                                 d->scratch);
        float *t = gout;
        gout = gin;
        gin = t;
    }
    if (dx) {
        const int C = d->cfg.channels;
        const size_t plane = (size_t)sc->frames * sc->bins;
        for (int c = 0; c < C; c++)
            sn_stft_backward(sc->plan, dx + (size_t)c * d->T, gout + c * plane, gout + (C + c) * plane, d->T);
    }
}

/* Where crop b's (which 0: real, 1: fake) forward at scale si is kept. */
static float *keep_spec(const disc *d, int si, int b, int which) {
    const disc_scale *sc = &d->sc[si];
    return d->keep + d->keep_off[si] + ((size_t)b * 2 + which) * (sc->spec_floats + sc->act_floats);
}
static float *keep_acts(const disc *d, int si, int b, int which) {
    return keep_spec(d, si, b, which) + d->sc[si].spec_floats;
}

/* sn_disc_loss_g's buffers for crop b (which 0: real, 1: fake) at scale si:
 * the kept forward passes when sn_disc_keep_forward is on, else the shared
 * spectrogram and activations (the real crops' feature maps per crop). */
static float *gen_spec(disc *d, int si, int b, int which) {
    return d->keep ? keep_spec(d, si, b, which) : d->spec;
}
static float *gen_acts(disc *d, int si, int b, int which) {
    if (d->keep) return keep_acts(d, si, b, which);
    return which ? d->acts : d->xacts + (size_t)b * d->max_fmap;
}

int sn_disc_keep_forward(disc *d, int on) {
    free(d->keep);
    free(d->keep_x);
    free(d->keep_y);
    free(d->keep_params);
    d->keep = d->keep_x = d->keep_y = d->keep_params = NULL;
    d->keep_valid = 0;
    if (!on) return 0;
    size_t n = 0, per;
    for (int si = 0; si < d->cfg.n_scales; si++) {
        d->keep_off[si] = n;
        const disc_scale *sc = &d->sc[si];
        if (!sn_mul_ok((size_t)d->B * 2, sc->spec_floats + sc->act_floats, &per) || n + per < n)
            return sn_fail(SONO_E_LIMIT, "disc: kept forward passes too large");
        n += per;
    }
    const size_t crops = (size_t)d->B * d->cfg.channels * d->T;
    d->keep = malloc(n * sizeof(float));
    d->keep_x = malloc(crops * sizeof(float));
    d->keep_y = malloc(crops * sizeof(float));
    d->keep_params = malloc(d->n_floats * sizeof(float));
    if (!d->keep || !d->keep_x || !d->keep_y || !d->keep_params) {
        sn_disc_keep_forward(d, 0);
        return sn_fail(SONO_E_NOMEM, "disc: out of memory keeping forward passes (%zu MB)", (n * 4) >> 20);
    }
    return 0;
}

int sn_disc_last_reused(const disc *d) { return d->reused; }

/* The kept forward passes hold for (x, y) and the current parameters. */
static int keep_matches(const disc *d, const float *x, const float *y) {
    const size_t crops = (size_t)d->B * d->cfg.channels * d->T * sizeof(float);
    return d->keep_valid && !memcmp(d->keep_params, d->params, d->n_floats * sizeof(float)) &&
           !memcmp(d->keep_x, x, crops) && !memcmp(d->keep_y, y, crops);
}

double sn_disc_loss_d(disc *d, const float *x, const float *y) {
    const int S = d->cfg.n_scales, B = d->B;
    const size_t crop = (size_t)d->cfg.channels * d->T;
    const int reuse = keep_matches(d, x, y);
    d->keep_valid = 0;
    d->reused = reuse;
    disc_fold_weights(d);
    double total = 0;
    for (int si = 0; si < S; si++) {
        const disc_layer *P = &d->sc[si].L[DISC_N_LAYERS - 1];
        const size_t nlog = P->out_floats;
        const float scale = (float)(1.0 / ((double)S * B * nlog));
        double real = 0, fake = 0;
        for (int b = 0; b < B; b++)
            for (int which = 0; which < 2; which++) {   /* 0: real x, 1: fake y */
                float *spec = d->spec, *acts = d->acts;
                if (reuse) {
                    spec = keep_spec(d, si, b, which);
                    acts = keep_acts(d, si, b, which);
                } else {
                    disc_forward_crop(d, si, (which ? y : x) + b * crop, spec, acts, 1);
                }
                sn_disc_hinge_d(acts + P->out_off, d->gB, nlog, which, scale, which ? &fake : &real);
                disc_backward_crop(d, si, spec, acts, NULL, NULL, 1, NULL);
            }
        total += (real + fake) / ((double)B * nlog);
    }
    disc_unfold_grads(d);
    return total / S;
}

void sn_disc_loss_g(disc *d, const float *x, const float *y, float w_adv, float w_feat, float *dy, double *adv,
                 double *feat) {
    const int S = d->cfg.n_scales, B = d->B;
    const size_t crop = (size_t)d->cfg.channels * d->T;
    const int backward = dy && (w_adv != 0.0f || w_feat != 0.0f);
    const int keep = d->keep != NULL;
    d->keep_valid = 0;
    disc_fold_weights(d);
    double adv_sum = 0, feat_sum = 0;
    for (int si = 0; si < S; si++) {
        const disc_scale *sc = &d->sc[si];
        const disc_layer *P = &sc->L[DISC_N_LAYERS - 1];
        const size_t nlog = P->out_floats;
        double xabs[DISC_N_FMAPS] = {0}, diff[DISC_N_FMAPS] = {0}, denom[DISC_N_FMAPS], coef[DISC_N_FMAPS];
        for (int b = 0; b < B; b++) {
            /* kept: with the logits too, which sn_disc_loss_d needs */
            float *xa = gen_acts(d, si, b, 0);
            disc_forward_crop(d, si, x + b * crop, gen_spec(d, si, b, 0), xa, keep);
            for (int l = 0; l < DISC_N_FMAPS; l++) {
                xabs[l] += sn_disc_sum_abs(xa + sc->L[l].out_off, NULL, sc->L[l].out_floats);
            }
        }
        for (int l = 0; l < DISC_N_FMAPS; l++) {
            const double n = (double)B * sc->L[l].out_floats;
            denom[l] = d->cfg.feat_relative ? SONO_MAX(xabs[l] / n, 1e-8) : 1.0;
            coef[l] = (double)w_feat / ((double)S * DISC_N_FMAPS * n * denom[l]);
        }
        const float gscale = (float)((double)w_adv / ((double)S * B * nlog));
        double advs = 0;
        for (int b = 0; b < B; b++) {
            const float *xa = gen_acts(d, si, b, 0);
            float *spec = gen_spec(d, si, b, 1), *acts = gen_acts(d, si, b, 1);
            disc_forward_crop(d, si, y + b * crop, spec, acts, 1);
            sn_disc_hinge_g(acts + P->out_off, d->gB, nlog, d->cfg.gen_loss, gscale, &advs);
            for (int l = 0; l < DISC_N_FMAPS; l++) {
                diff[l] += sn_disc_sum_abs(acts + sc->L[l].out_off, xa + sc->L[l].out_off, sc->L[l].out_floats);
            }
            if (backward) disc_backward_crop(d, si, spec, acts, xa, coef, 0, dy + b * crop);
        }
        adv_sum += advs / ((double)B * nlog);
        for (int l = 0; l < DISC_N_FMAPS; l++)
            feat_sum += diff[l] / ((double)B * sc->L[l].out_floats) / denom[l] / DISC_N_FMAPS;
    }
    if (keep) {
        memcpy(d->keep_x, x, crop * B * sizeof(float));
        memcpy(d->keep_y, y, crop * B * sizeof(float));
        memcpy(d->keep_params, d->params, d->n_floats * sizeof(float));
        d->keep_valid = 1;
    }
    if (adv) *adv = adv_sum / S;
    if (feat) *feat = feat_sum / S;
}
