/* Multi-period discriminator (codec/train/mpd.c). No PyTorch here: the
 * oracles are an independent double-precision forward written below in
 * PyTorch's layout, and finite differences.
 *
 * 1. conv2d (common/conv2d.c) on the MPD's shapes (held transposed: kernel
 *    (1,k), stride (1,s), pad (0,(k-1)/2), H = the period, one input channel
 *    first): conv2d_check.h's fast-vs-reference and finite-difference checks
 *    at every kernel level this CPU has.
 * 2. An independent forward in double (HiFi-GAN's DiscriminatorP, written
 *    from its definition: F.pad reflect to a multiple of p, view [C][Tp/p][p],
 *    Conv2d (k,1) stride (s,1), weight norm g v / ||v||, LeakyReLU; the losses
 *    of mpd.h) on stereo, B = 2, T = 401 (a prime: every period pads), with
 *    conv_post's gain raised so the logits lie on both sides of +-1 (checked):
 *    L_d, adv (hinge2, hinge), feat (relative, plain) to LOSS_RTOL. This
 *    checks the reflection, the view and its transposition, and the losses.
 * 3. Finite differences (directional, adv_check.h, as test_disc.c's
 *    section 3), B = 2, stereo, widths 1/4/16/32/32, T = 1201, y - x ~
 *    U(-1, 1): L_d w.r.t. every parameter tensor
 *    (slope 1, every logit inside the hinges, checked by conv_post.bias's
 *    gradient being 0); adv and feat (both forms) w.r.t. y along 3 random
 *    directions over the whole batch, one per (crop, channel), and one per
 *    (crop, channel) confined to its last 12 samples (the ones the reflection
 *    reads twice), slopes 1 and 0.1 (one direction in 11 may miss: see
 *    test_fd).
 * 4. The whole MPD with the fast conv kernels against the reference kernels:
 *    L_d and its gradients, every generator loss and its dy, normalised error
 *    <= WHOLE_TOL (the feature losses' dy: relative L2 <= FEAT_GRAD_TOL, as in
 *    test_disc.c: sign(f(y) - f(x)) flips on near-ties).
 * 4b. Two mpds in two OpenMP threads at once match a serial run bit for
 *    bit (the trainer's pattern: one discriminator per worker thread).
 * 5. Gradients accumulate, the generator call leaves the parameter gradients
 *    alone, init is deterministic with g = ||v||, the table's names and
 *    shapes, bad configs are refused. */
#include "test_util.h"
#include "mpd.h"
#include "adv_check.h"
#include "conv2d_check.h"
#include "kernels.h"
#include "sonotok/cpu.h"
#include "sonotok/error.h"

#define LOSS_RTOL 1e-5
#define WHOLE_TOL 1e-4
#define FEAT_GRAD_TOL 3e-3

/* ---- 1: conv2d on the MPD's shapes ---------------------------------------- */

static void test_conv2d(void) {
    /* C_in C_out H W kh kw sh sw dh dw ph pw */
    static const conv2d_shape shapes[] = {
        {1, 4, 2, 12000, 1, 5, 1, 3, 1, 1, 0, 2},    /* convs.0, period 2, 1 s at 24 kHz */
        {1, 4, 11, 2182, 1, 5, 1, 3, 1, 1, 0, 2},    /* convs.0, period 11 */
        {2, 3, 5, 81, 1, 5, 1, 3, 1, 1, 0, 2},       /* stereo input */
        {4, 16, 3, 2667, 1, 5, 1, 3, 1, 1, 0, 2},    /* convs.1 */
        {16, 64, 7, 125, 1, 5, 1, 3, 1, 1, 0, 2},    /* convs.2, odd length */
        {64, 128, 5, 53, 1, 5, 1, 3, 1, 1, 0, 2},    /* convs.3 */
        {128, 128, 2, 296, 1, 5, 1, 1, 1, 1, 0, 2},  /* convs.4 */
        {128, 1, 11, 9, 1, 3, 1, 1, 1, 1, 0, 1},     /* conv_post */
        {8, 8, 7, 1, 1, 5, 1, 3, 1, 1, 0, 2},        /* one row: kernel over the padding only */
        {8, 21, 3, 2, 1, 3, 1, 1, 1, 1, 0, 1},
    };
    conv2d_check_shapes(shapes, sizeof shapes / sizeof shapes[0]);
}

/* ---- 2: an independent forward in PyTorch's layout ------------------------ */

/* The 6 feature maps of one crop at period p, each [C_out][H][p] in double
 * (maps[l] allocated here). Parameters read by name from m's table. */
static void ref_period(const mpd *m, int pi, const float *x, double *maps[MPD_N_FMAPS], size_t nmap[MPD_N_FMAPS]) {
    const mpd_config *c = sn_mpd_get_config(m);
    const float *prm = sn_mpd_params((mpd *)m);
    int np;
    const train_param *tab = sn_mpd_param_table(m, &np);
    const int T = 401, p = c->periods[pi], C = c->channels;
    int Tp = T;
    while (Tp % p) Tp++;
    int H = Tp / p, Cin = C;
    double *cur = malloc((size_t)C * Tp * sizeof(double));
    for (int ch = 0; ch < C; ch++)
        for (int t = 0; t < Tp; t++) {
            int src = t < T ? t : (T - 1) - (t - (T - 1));   /* torch reflect: the edge is not repeated */
            cur[(size_t)ch * Tp + t] = x[(size_t)ch * T + src];   /* [ch][h][w] with t = h p + w */
        }
    for (int l = 0; l < MPD_N_FMAPS; l++) {
        const int post = l == MPD_N_FMAPS - 1;
        const int K = post ? c->post_kernel : c->kernel, S = l < MPD_N_CONVS - 1 ? c->stride : 1, pad = (K - 1) / 2;
        const int Cout = post ? 1 : c->width[l];
        const int Ho = (H + 2 * pad - K) / S + 1;
        char nb[64], ng[64], nv[64];
        if (post) snprintf(nb, sizeof nb, "mpd.%d.conv_post", pi);
        else snprintf(nb, sizeof nb, "mpd.%d.convs.%d", pi, l);
        snprintf(ng, sizeof ng, "%s.weight_g", nb);
        snprintf(nv, sizeof nv, "%s.weight_v", nb);
        strcat(nb, ".bias");
        const float *bias = NULL, *g = NULL, *v = NULL;
        for (int i = 0; i < np; i++) {
            if (!strcmp(tab[i].name, nb)) bias = prm + tab[i].offset;
            if (!strcmp(tab[i].name, ng)) g = prm + tab[i].offset;
            if (!strcmp(tab[i].name, nv)) v = prm + tab[i].offset;
        }
        if (!bias || !g || !v) {
            CHECK_MSG(0, "%s: parameters missing", nb);
            exit(1);
        }
        nmap[l] = (size_t)Cout * Ho * p;
        double *out = maps[l] = calloc(nmap[l], sizeof(double));
        for (int co = 0; co < Cout; co++) {
            double nrm = 0;
            const float *vr = v + (size_t)co * Cin * K;
            for (int k = 0; k < Cin * K; k++) nrm += (double)vr[k] * vr[k];
            const double gain = g[co] / sqrt(nrm);
            for (int ho = 0; ho < Ho; ho++)
                for (int w = 0; w < p; w++) {
                    double acc = bias[co];
                    for (int ci = 0; ci < Cin; ci++)
                        for (int k = 0; k < K; k++) {
                            int h = ho * S + k - pad;
                            if (h >= 0 && h < H) acc += gain * vr[ci * K + k] * cur[((size_t)ci * H + h) * p + w];
                        }
                    if (!post && acc <= 0) acc *= c->slope;
                    out[((size_t)co * Ho + ho) * p + w] = acc;
                }
        }
        if (l == 0) free(cur);   /* the padded input; the maps are the caller's */
        cur = out;
        H = Ho;
        Cin = Cout;
    }
}

typedef struct { double ld, adv2, adv1, feat_rel, feat_abs; int above, below; } ref_losses;

static ref_losses ref_loss(const mpd *m, const float *x, const float *y, int B) {
    const mpd_config *c = sn_mpd_get_config(m);
    const size_t crop = (size_t)c->channels * 401;
    ref_losses r = {0};
    for (int pi = 0; pi < c->n_periods; pi++) {
        double hr = 0, hf = 0, a2 = 0, a1 = 0, xabs[MPD_N_FMAPS] = {0}, diff[MPD_N_FMAPS] = {0};
        size_t n[MPD_N_FMAPS];
        for (int b = 0; b < B; b++) {
            double *fx[MPD_N_FMAPS], *fy[MPD_N_FMAPS];
            ref_period(m, pi, x + b * crop, fx, n);
            ref_period(m, pi, y + b * crop, fy, n);
            for (size_t k = 0; k < n[MPD_N_FMAPS - 1]; k++) {
                const double dx = fx[MPD_N_FMAPS - 1][k], dyv = fy[MPD_N_FMAPS - 1][k];
                hr += fmax(1 - dx, 0);
                hf += fmax(1 + dyv, 0);
                a2 += fmax(1 - dyv, 0);
                a1 -= dyv;
                r.above += (dx > 1) + (dyv > 1);
                r.below += (dx < -1) + (dyv < -1);
            }
            for (int l = 0; l < MPD_N_FMAPS; l++) {
                for (size_t k = 0; k < n[l]; k++) {
                    xabs[l] += fabs(fx[l][k]);
                    diff[l] += fabs(fx[l][k] - fy[l][k]);
                }
                free(fx[l]);
                free(fy[l]);
            }
        }
        const double nl = (double)B * n[MPD_N_FMAPS - 1];
        r.ld += (hr + hf) / nl;
        r.adv2 += a2 / nl;
        r.adv1 += a1 / nl;
        for (int l = 0; l < MPD_N_FMAPS; l++) {
            const double nn = (double)B * n[l];
            r.feat_rel += diff[l] / nn / fmax(xabs[l] / nn, 1e-8) / MPD_N_FMAPS;
            r.feat_abs += diff[l] / nn / MPD_N_FMAPS;
        }
    }
    const int P = c->n_periods;
    r.ld /= P;
    r.adv2 /= P;
    r.adv1 /= P;
    r.feat_rel /= P;
    r.feat_abs /= P;
    return r;
}

static void fill_xy(float *x, float *y, size_t n, float dev) {
    for (size_t i = 0; i < n; i++) {
        x[i] = 0.5f * sinf(0.05f * (float)i) + tu_uniform(-0.2f, 0.2f);
        y[i] = x[i] + tu_uniform(-dev, dev);
    }
}

static void check_loss(const char *what, double v, double ref) {
    printf("  %-12s %.9f ref %.9f\n", what, v, ref);
    CHECK_MSG(fabs(v - ref) <= LOSS_RTOL * fmax(fabs(ref), 1e-3), "%s: %.9f vs reference %.9f", what, v, ref);
}

static void test_reference(void) {
    mpd_config cfg = sn_mpd_default_config(2, 2);
    cfg.slope = 0.1f;
    const int B = 2, T = 401;
    int err = 0;
    mpd *m = sn_mpd_new_config(&cfg, B, T, &err);
    CHECK_MSG(m, "sn_mpd_new_config: %s", sono_strerror(err));
    if (!m) return;
    sn_mpd_init_params(m, 99);
    int np;
    const train_param *tab = sn_mpd_param_table(m, &np);
    float *p = sn_mpd_params(m);
    for (int i = 0; i < np; i++)   /* logits over both hinge sides */
        if (strstr(tab[i].name, "conv_post.weight_g"))
            for (size_t k = 0; k < tab[i].numel; k++) p[tab[i].offset + k] *= 300.0f;
    const size_t nx = (size_t)B * cfg.channels * T;
    float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
    fill_xy(x, y, nx, 0.3f);
    ref_losses r = ref_loss(m, x, y, B);
    printf("reference forward (periods 2 3 5 7 11, T %d): logits above 1: %d, below -1: %d\n", T, r.above, r.below);
    CHECK_MSG(r.above > 0 && r.below > 0, "the logits do not reach both hinge sides");
    sn_mpd_zero_grad(m);
    check_loss("L_d", sn_mpd_loss_d(m, x, y), r.ld);
    double adv, feat;
    sn_mpd_loss_g(m, x, y, 0, 0, NULL, &adv, &feat);
    check_loss("adv hinge2", adv, r.adv2);
    check_loss("feat rel", feat, r.feat_rel);
    sn_mpd_set_loss_forms(m, DISC_GEN_HINGE, 0);
    sn_mpd_loss_g(m, x, y, 0, 0, NULL, &adv, &feat);
    check_loss("adv hinge", adv, r.adv1);
    check_loss("feat plain", feat, r.feat_abs);
    free(x); free(y);
    sn_mpd_free(m);
}

/* ---- 3: finite differences ------------------------------------------------ */

ADV_MODEL_OF(mpd, mpd)

static void test_fd(float slope) {
    mpd_config cfg = sn_mpd_default_config(2, 1);
    cfg.slope = slope;
    const int B = 2, T = 1201, C = cfg.channels;
    int err = 0;
    mpd *m = sn_mpd_new_config(&cfg, B, T, &err);
    CHECK_MSG(m, "sn_mpd_new_config: %s", sono_strerror(err));
    if (!m) return;
    sn_mpd_init_params(m, 42);
    const size_t n = sn_mpd_n_floats(m), nx = (size_t)B * C * T;
    float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
    fill_xy(x, y, nx, 1.0f);   /* y far from x: few L1 kinks near the feature maps of few elements */
    const adv_model am = mpd_adv_model(m, "MPD_VERBOSE");
    float *an = malloc(n * sizeof(float)), *v = malloc((n > nx ? n : nx) * sizeof(float));
    sn_mpd_zero_grad(m);
    const double L0 = sn_mpd_loss_d(m, x, y);
    memcpy(an, sn_mpd_grads(m), n * sizeof(float));
    printf("small mpd (slope %.2g): %zu params in %d tensors, L_d %.6f\n", slope, n, am.n_params, L0);
    if (slope == 1.0f) adv_check_params_fd(&am, x, y, an, v);
    adv_check_accumulates(&am, x, y, an);
    char tag[32];
    snprintf(tag, sizeof tag, "slope %g", slope);
    /* one direction in 11 may miss, at either slope: the relative feature
     * loss weights the deep maps of few elements (11 logits per crop at period
     * 11) as much as the rest, so their L1 kinks are sparse but steep
     * (measured with y - x ~ U(-1, 1): 2 misses over 16 seeds x 2 slopes x
     * 4 forms x 11 directions, all in the relative form) */
    adv_check_y_fd(&am, x, y, B * C, T, 12, 1, tag, v);
    free(an); free(v); free(x); free(y);
    sn_mpd_free(m);
}

/* ---- 4: fast against reference kernels, whole MPD -------------------------- */

static void test_fast_vs_ref(void) {
    mpd_config cfg = sn_mpd_default_config(1, 2);
    const int B = 2, T = 3001;
    int err = 0;
    mpd *f = sn_mpd_new_config(&cfg, B, T, &err), *r = sn_mpd_new_config(&cfg, B, T, &err);
    CHECK(f && r);
    if (!f || !r) { sn_mpd_free(f); sn_mpd_free(r); return; }
    sn_mpd_use_ref_kernels(r, 1);
    sn_mpd_init_params(f, 5);
    sn_mpd_init_params(r, 5);
    const size_t n = sn_mpd_n_floats(f), nx = (size_t)B * T;
    float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
    float *dyf = malloc(nx * sizeof(float)), *dyr = malloc(nx * sizeof(float));
    fill_xy(x, y, nx, 0.3f);
    sn_mpd_zero_grad(f);
    sn_mpd_zero_grad(r);
    const double lf = sn_mpd_loss_d(f, x, y), lr = sn_mpd_loss_d(r, x, y);
    const double eg = adv_norm_err(sn_mpd_grads(f), sn_mpd_grads(r), n, NULL);
    printf("fast vs reference kernels (B %d, T %d, %zu params): L_d %.9f / %.9f, gradients %.3g\n", B, T, n, lf, lr, eg);
    CHECK_MSG(fabs(lf - lr) <= LOSS_RTOL * fabs(lr), "L_d fast %.9f vs ref %.9f", lf, lr);
    CHECK_MSG(eg <= WHOLE_TOL, "L_d gradients: fast vs ref %.3g", eg);
    for (int which = 0; which < 4; which++) {
        sn_mpd_set_loss_forms(f, which == 1 ? DISC_GEN_HINGE : DISC_GEN_HINGE2, which != 3);
        sn_mpd_set_loss_forms(r, which == 1 ? DISC_GEN_HINGE : DISC_GEN_HINGE2, which != 3);
        const float wa = which < 2 ? 1.0f : 0.0f, wf = which < 2 ? 0.0f : 1.0f;
        double af, ff, ar, fr;
        memset(dyf, 0, nx * sizeof(float));
        memset(dyr, 0, nx * sizeof(float));
        sn_mpd_loss_g(f, x, y, wa, wf, dyf, &af, &ff);
        sn_mpd_loss_g(r, x, y, wa, wf, dyr, &ar, &fr);
        const double e = adv_norm_err(dyf, dyr, nx, NULL);
        double num = 0, den = 0;
        for (size_t i = 0; i < nx; i++) {
            num += ((double)dyf[i] - dyr[i]) * ((double)dyf[i] - dyr[i]);
            den += (double)dyr[i] * dyr[i];
        }
        printf("  form %d: adv %.9f / %.9f, feat %.9f / %.9f, dy %.3g (relative L2 %.3g)\n", which, af, ar, ff, fr,
               e, sqrt(num / den));
        CHECK_MSG(fabs(af - ar) <= LOSS_RTOL * fmax(fabs(ar), 1e-3) && fabs(ff - fr) <= LOSS_RTOL * fabs(fr),
                  "form %d: losses differ", which);
        /* the feature loss's sign(f(y) - f(x)) flips between the two on
         * elements whose difference is below the forward's rounding (each flip
         * moves many dy samples): relative L2 there (measured 1.1e-3, 4.1e-4) */
        if (which < 2) CHECK_MSG(e <= WHOLE_TOL, "form %d: dy fast vs ref %.3g", which, e);
        else CHECK_MSG(sqrt(num / den) <= FEAT_GRAD_TOL, "form %d: dy fast vs ref, relative L2 %.3g", which, sqrt(num / den));
    }
    free(x); free(y); free(dyf); free(dyr);
    sn_mpd_free(f);
    sn_mpd_free(r);
}

/* ---- 4b: one mpd per thread ----------------------------------------------- */

/* Two mpds with the same parameters run in two OpenMP threads at once give,
 * bit for bit, what one gives serially (no shared state between instances). */
static void test_threads(void) {
    const int B = 2, T = 24001;   /* long enough for the two threads to overlap */
    int err = 0;
    mpd *m[2] = {sn_mpd_new(1, 2, B, T, &err), sn_mpd_new(1, 2, B, T, &err)};
    CHECK(m[0] && m[1]);
    if (!m[0] || !m[1]) { sn_mpd_free(m[0]); sn_mpd_free(m[1]); return; }
    const size_t n = sn_mpd_n_floats(m[0]), nx = (size_t)B * T;
    float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float)), *dy[3], *g = malloc(n * sizeof(float));
    fill_xy(x, y, nx, 0.5f);
    double l[3], adv[3], feat[3];
    for (int i = 0; i < 3; i++) dy[i] = calloc(nx, sizeof(float));
    sn_mpd_init_params(m[0], 3);
    sn_mpd_init_params(m[1], 3);
    sn_mpd_zero_grad(m[0]);
    l[2] = sn_mpd_loss_d(m[0], x, y);
    memcpy(g, sn_mpd_grads(m[0]), n * sizeof(float));
    sn_mpd_loss_g(m[0], x, y, 1.0f, 2.0f, dy[2], &adv[2], &feat[2]);
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int i = 0; i < 2; i++) {
        sn_mpd_zero_grad(m[i]);
        l[i] = sn_mpd_loss_d(m[i], x, y);
        sn_mpd_loss_g(m[i], x, y, 1.0f, 2.0f, dy[i], &adv[i], &feat[i]);
    }
    for (int i = 0; i < 2; i++)
        CHECK_MSG(l[i] == l[2] && adv[i] == adv[2] && feat[i] == feat[2] && !memcmp(dy[i], dy[2], nx * sizeof(float)) &&
                      !memcmp(sn_mpd_grads(m[i]), g, n * sizeof(float)),
                  "mpd %d in a thread differs from the serial run", i);
    for (int i = 0; i < 3; i++) free(dy[i]);
    free(x); free(y); free(g);
    sn_mpd_free(m[0]);
    sn_mpd_free(m[1]);
}

/* ---- 5: init, table, config ------------------------------------------------ */

static void test_misc(void) {
    int err = 0;
    sn_mpd_free(NULL);
    CHECK(!sn_mpd_new(1, 4, 1, 10, &err) && err == SONO_E_ARG);   /* T below period 11 */
    CHECK(!sn_mpd_new(0, 4, 1, 24000, &err) && err == SONO_E_ARG);
    CHECK(!sn_mpd_new(1, 0, 1, 24000, &err) && err == SONO_E_ARG);
    mpd_config c = sn_mpd_default_config(1, 4);
    c.kernel = 4;
    CHECK(!sn_mpd_new_config(&c, 1, 24000, &err) && err == SONO_E_ARG);
    c = sn_mpd_default_config(1, 32);
    CHECK(c.width[0] == 32 && c.width[1] == 128 && c.width[2] == 512 && c.width[3] == 1024 && c.width[4] == 1024);
    CHECK(c.n_periods == 5 && c.periods[4] == 11 && c.slope == 0.1f);

    mpd *a = sn_mpd_new(1, 2, 1, 100, &err), *b = sn_mpd_new(1, 2, 1, 100, &err);
    CHECK(a && b);
    if (!a || !b) { sn_mpd_free(a); sn_mpd_free(b); return; }
    const size_t n = sn_mpd_n_floats(a);
    sn_mpd_init_params(a, 42);
    sn_mpd_init_params(b, 42);
    CHECK(!memcmp(sn_mpd_params(a), sn_mpd_params(b), n * sizeof(float)));
    sn_mpd_init_params(b, 43);
    CHECK(memcmp(sn_mpd_params(a), sn_mpd_params(b), n * sizeof(float)));
    int np;
    const train_param *tab = sn_mpd_param_table(a, &np);
    const float *p = sn_mpd_params(a);
    CHECK_MSG(np == 5 * 18, "%d parameter tensors", np);
    size_t total = 0;
    for (int i = 0; i < np; i++) total += tab[i].numel;
    CHECK_MSG(adv_weight_g_is_norm(tab, np, p), "init: weight_g != ||weight_v||");
    CHECK(total == n);
    CHECK(!strcmp(tab[0].name, "mpd.0.convs.0.bias") && !strcmp(tab[2].name, "mpd.0.convs.0.weight_v"));
    CHECK(!strcmp(tab[17].name, "mpd.0.conv_post.weight_v") && !strcmp(tab[18].name, "mpd.1.convs.0.bias"));
    int64_t sh[4];
    CHECK(sn_mpd_param_shape4(a, 2, sh) == 4 && sh[0] == 2 && sh[1] == 1 && sh[2] == 5 && sh[3] == 1);
    CHECK(sn_mpd_param_shape4(a, 1, sh) == 4 && sh[0] == 2 && sh[1] == 1 && sh[2] == 1 && sh[3] == 1);
    CHECK(sn_mpd_param_shape4(a, 17, sh) == 4 && sh[0] == 1 && sh[1] == 64 && sh[2] == 3 && sh[3] == 1);
    CHECK(sn_mpd_param_shape4(a, 0, sh) == 1 && sh[0] == 2);
    CHECK(sn_mpd_param_shape4(a, np, sh) == SONO_E_ARG);
    sn_mpd_free(a);
    sn_mpd_free(b);
}

int main(void) {
    tu_seed(20261207);
    sn_kern_set_threads(1);
    test_misc();
    test_conv2d();
    test_reference();
    test_fd(1.0f);
    test_fd(0.1f);
    test_fast_vs_ref();
    test_threads();
    return tu_finish("test_mpd");
}
