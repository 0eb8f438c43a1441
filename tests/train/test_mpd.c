/* Multi-period discriminator (codec/train/mpd.c). No PyTorch here: the
 * oracles are an independent double-precision forward written below in
 * PyTorch's layout, and finite differences.
 *
 * 1. conv2d (common/conv2d.c) fast against the plain reference on the MPD's
 *    shapes (held transposed: kernel (1,k), stride (1,s), pad (0,(k-1)/2),
 *    H = the period, one input channel first), at every kernel level this CPU
 *    has: normalised error (max|fast - ref| / max|ref|) <= CONV_TOL for the
 *    output, din, dw, db.
 * 2. An independent forward in double (HiFi-GAN's DiscriminatorP, written
 *    from its definition: F.pad reflect to a multiple of p, view [C][Tp/p][p],
 *    Conv2d (k,1) stride (s,1), weight norm g v / ||v||, LeakyReLU; the losses
 *    of mpd.h) on stereo, B = 2, T = 401 (a prime: every period pads), with
 *    conv_post's gain raised so the logits lie on both sides of +-1 (checked):
 *    L_d, adv (hinge2, hinge), feat (relative, plain) to LOSS_RTOL. This
 *    checks the reflection, the view and its transposition, and the losses.
 * 3. Finite differences (directional, as test_disc.c's section 3), B = 2,
 *    stereo, widths 1/4/16/32/32, T = 401: L_d w.r.t. every parameter tensor
 *    (slope 1, every logit inside the hinges, checked by conv_post.bias's
 *    gradient being 0); adv and feat (both forms) w.r.t. y along 3 random
 *    directions over the whole batch, one per (crop, channel), and one per
 *    (crop, channel) confined to its last 12 samples (the ones the reflection
 *    reads twice), slopes 1 and 0.1 (with 0.1 one direction in 7 may miss,
 *    as in test_disc.c: dense LeakyReLU and L1 kinks).
 * 4. The whole MPD with the fast conv kernels against the reference kernels:
 *    L_d and its gradients, every generator loss and its dy, normalised error
 *    <= WHOLE_TOL (the feature losses' dy: relative L2 <= FEAT_GRAD_TOL, as in
 *    test_disc.c: sign(f(y) - f(x)) flips on near-ties).
 * 5. Gradients accumulate, the generator call leaves the parameter gradients
 *    alone, init is deterministic with g = ||v||, the table's names and
 *    shapes, bad configs are refused. */
#include "test_util.h"
#include "mpd.h"
#include "kernels.h"
#include "sonotok/cpu.h"
#include "sonotok/error.h"

#define CONV_TOL 1e-5
#define LOSS_RTOL 1e-5
#define WHOLE_TOL 1e-4
#define FEAT_GRAD_TOL 3e-3
#define FD_RTOL 2e-2
#define FD_ATOL 1e-5
#define FD_ATOL_SCALE 2e-3

static double norm_err(const float *a, const float *ref, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]);
        if (!(e <= md)) md = e;
        mr = fmax(mr, fabs(ref[i]));
    }
    return mr > 0 ? md / mr : md;
}

/* ---- 1: conv2d on the MPD's shapes ---------------------------------------- */

static void test_conv_shape(const conv2d_shape *s) {
    const int Ho = conv2d_out_len(s->H, s->kh, s->sh, s->dh, s->ph), Wo = conv2d_out_len(s->W, s->kw, s->sw, s->dw, s->pw);
    const size_t ni = (size_t)s->C_in * s->H * s->W, nw = (size_t)s->C_out * s->C_in * s->kh * s->kw,
                 no = (size_t)s->C_out * Ho * Wo;
    float *in = malloc(ni * sizeof(float)), *w = malloc(nw * sizeof(float)), *b = malloc(s->C_out * sizeof(float));
    float *o1 = malloc(no * sizeof(float)), *o2 = malloc(no * sizeof(float)), *R = malloc(no * sizeof(float));
    float *di1 = calloc(ni, sizeof(float)), *di2 = calloc(ni, sizeof(float));
    float *dw1 = calloc(nw, sizeof(float)), *dw2 = calloc(nw, sizeof(float));
    float *db1 = calloc(s->C_out, sizeof(float)), *db2 = calloc(s->C_out, sizeof(float));
    const size_t sf = sn_conv2d_scratch_floats(s);
    float *scr = malloc((sf ? sf : 1) * sizeof(float));
    tu_fill(in, ni, -1, 1);
    tu_fill(w, nw, -0.5f, 0.5f);
    tu_fill(b, s->C_out, -0.5f, 0.5f);
    tu_fill(R, no, -1, 1);
    sn_conv2d_forward(o1, in, w, b, s, scr);
    sn_conv2d_forward_ref(o2, in, w, b, s, NULL);
    sn_conv2d_backward(di1, dw1, db1, R, in, w, s, scr);
    sn_conv2d_backward_ref(di2, dw2, db2, R, in, w, s, NULL);
    const double e[4] = {norm_err(o1, o2, no), norm_err(di1, di2, ni), norm_err(dw1, dw2, nw),
                         norm_err(db1, db2, s->C_out)};
    printf("  conv2d %d->%d %dx%d k1x%d s1,%d p0,%d: out %.2g din %.2g dw %.2g db %.2g\n", s->C_in, s->C_out, s->H,
           s->W, s->kw, s->sw, s->pw, e[0], e[1], e[2], e[3]);
    for (int k = 0; k < 4; k++) CHECK_MSG(e[k] <= CONV_TOL, "conv2d %d->%d W %d: error %d: %.3g", s->C_in, s->C_out, s->W, k, e[k]);
    free(in); free(w); free(b); free(o1); free(o2); free(R);
    free(di1); free(di2); free(dw1); free(dw2); free(db1); free(db2); free(scr);
}

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
    int done[SONO_CPU_AVX512 + 1] = {0};
    for (int level = SONO_CPU_AVX512; level >= SONO_CPU_PLAIN; level--) {
        int got = sono_set_cpu_level(level);
        if (done[got]) continue;
        done[got] = 1;
        printf("conv2d at kernel level %s\n", sono_cpu_level_name(got));
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) test_conv_shape(&shapes[i]);
    }
    sono_set_cpu_level(SONO_CPU_AVX512);
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

enum { LOSS_D, LOSS_ADV, LOSS_FEAT };

static double loss_of(mpd *m, int which, const float *x, const float *y) {
    double a, f;
    if (which == LOSS_D) return sn_mpd_loss_d(m, x, y);
    sn_mpd_loss_g(m, x, y, 0, 0, NULL, &a, &f);
    return which == LOSS_ADV ? a : f;
}

/* Directional derivative along v at buf (parameters or y), central
 * differences at h and h/2 against <g, v> (the rounding of buf + t v
 * accounted for); linear: 2 f(h/2) - f(h) (dense kinks), else Richardson. */
static int fd_dir(mpd *m, int which, const float *x, const float *y, float *buf, const float *v, const float *g,
                  size_t n, double h, int linear, const char *what) {
    float *keep = malloc(n * sizeof(float));
    memcpy(keep, buf, n * sizeof(float));
    double an = 0, scale = 0, e[2];
    for (size_t k = 0; k < n; k++) {
        an += (double)g[k] * v[k];
        scale += fabs((double)g[k] * v[k]);
    }
    for (int j = 0; j < 2; j++) {
        const double t = j ? h / 2 : h;
        double l[2], a[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            a[sgn] = 0;
            for (size_t k = 0; k < n; k++) {
                buf[k] = (float)(keep[k] + (sgn ? -t : t) * v[k]);
                a[sgn] += (double)g[k] * ((double)buf[k] - keep[k]);
            }
            l[sgn] = loss_of(m, which, x, y);
        }
        e[j] = (l[0] - l[1] - (a[0] - a[1])) / (2 * t);
    }
    memcpy(buf, keep, n * sizeof(float));
    free(keep);
    const double fd = an + (linear ? 2 * e[1] - e[0] : (4 * e[1] - e[0]) / 3);
    const int ok = fabs(an - fd) <= FD_RTOL * fabs(fd) + FD_ATOL_SCALE * scale + FD_ATOL;
    if (!ok || getenv("MPD_VERBOSE"))
        fprintf(ok ? stdout : stderr, "  %s %s: analytic %.7g fd %.7g, scale %.3g\n", ok ? "ok " : "BAD", what, an,
                fd, scale);
    return ok;
}

static void test_fd(float slope) {
    mpd_config cfg = sn_mpd_default_config(2, 1);
    cfg.slope = slope;
    const int B = 2, T = 401, C = cfg.channels;
    int err = 0;
    mpd *m = sn_mpd_new_config(&cfg, B, T, &err);
    CHECK_MSG(m, "sn_mpd_new_config: %s", sono_strerror(err));
    if (!m) return;
    sn_mpd_init_params(m, 42);
    const size_t n = sn_mpd_n_floats(m), nx = (size_t)B * C * T;
    float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
    fill_xy(x, y, nx, 0.2f);
    float *p = sn_mpd_params(m);
    int np;
    const train_param *tab = sn_mpd_param_table(m, &np);
    float *an = malloc(n * sizeof(float)), *v = malloc((n > nx ? n : nx) * sizeof(float));
    sn_mpd_zero_grad(m);
    const double L0 = sn_mpd_loss_d(m, x, y);
    memcpy(an, sn_mpd_grads(m), n * sizeof(float));
    printf("small mpd (slope %.2g): %zu params in %d tensors, L_d %.6f\n", slope, n, np, L0);
    int bad = 0;
    if (slope == 1.0f) {
        for (int i = 0; i < np; i++)
            if (strstr(tab[i].name, "conv_post.bias"))
                CHECK_MSG(fabs(an[tab[i].offset]) < 1e-6, "%s: gradient %g, not all hinges active", tab[i].name,
                          an[tab[i].offset]);
        for (int i = 0; i < np; i++) {
            const size_t off = tab[i].offset, k = tab[i].numel;
            double rms = 0;
            for (size_t j = 0; j < k; j++) rms += (double)p[off + j] * p[off + j];
            rms = sqrt(rms / k);
            tu_fill(v, k, -1, 1);
            bad += !fd_dir(m, LOSS_D, x, y, p + off, v, an + off, k, 3e-2 * fmax(rms, 0.05), 0, tab[i].name);
        }
        printf("  L_d wrt %d parameter tensors: %d bad\n", np, bad);
        CHECK_MSG(bad == 0, "L_d: %d parameter tensors fail finite differences", bad);
    }
    /* accumulation */
    sn_mpd_zero_grad(m);
    sn_mpd_loss_d(m, x, y);
    memcpy(an, sn_mpd_grads(m), n * sizeof(float));
    sn_mpd_loss_d(m, x, y);
    int acc = 1;
    for (size_t i = 0; i < n; i++) acc &= fabs(sn_mpd_grads(m)[i] - 2.0 * an[i]) <= 1e-5 * (1 + fabs(an[i]));
    CHECK_MSG(acc, "sn_mpd_loss_d does not accumulate");
    memcpy(an, sn_mpd_grads(m), n * sizeof(float));

    float *dy = malloc(nx * sizeof(float));
    static const char *names[4] = {"adv (hinge2)", "adv (hinge)", "feat (relative)", "feat (plain)"};
    for (int which = 0; which < 4; which++) {
        sn_mpd_set_loss_forms(m, which == 1 ? DISC_GEN_HINGE : DISC_GEN_HINGE2, which != 3);
        const int is_feat = which >= 2;
        memset(dy, 0, nx * sizeof(float));
        double adv, feat;
        sn_mpd_loss_g(m, x, y, is_feat ? 0.0f : 1.0f, is_feat ? 1.0f : 0.0f, dy, &adv, &feat);
        bad = 0;
        const int ndir = 3 + 2 * B * C;
        for (int r = 0; r < ndir; r++) {
            tu_fill(v, nx, -1, 1);
            if (r >= 3) {   /* one (crop, channel); from 3 + B C on, only its last 12 samples */
                const int cc = (r - 3) % (B * C), tail = r >= 3 + B * C;
                for (size_t k = 0; k < nx; k++)
                    if (k / T != (size_t)cc || (tail && k % T < (size_t)T - 12)) v[k] = 0;
            }
            char what[80];
            snprintf(what, sizeof what, "%s wrt y, direction %d", names[which], r);
            bad += !fd_dir(m, is_feat ? LOSS_FEAT : LOSS_ADV, x, y, y, v, dy, nx, 1e-3, 1, what);
        }
        printf("  %-16s adv %.6f feat %.6f; wrt y along %d directions: %d bad\n", names[which], adv, feat, ndir, bad);
        const int allowed = slope == 1.0f ? 0 : 1;
        CHECK_MSG(bad <= allowed, "slope %g: %s: %d directions fail finite differences", slope, names[which], bad);
        float *dy2 = malloc(nx * sizeof(float));   /* dy accumulates, linear in the weights */
        memcpy(dy2, dy, nx * sizeof(float));
        sn_mpd_loss_g(m, x, y, is_feat ? 0.0f : 3.0f, is_feat ? 3.0f : 0.0f, dy2, NULL, NULL);
        int ok = 1;
        for (size_t i = 0; i < nx; i++) ok &= fabs(dy2[i] - 4.0 * dy[i]) <= 1e-5 * (1e-3 + fabs(dy[i]));
        CHECK_MSG(ok, "%s: dy does not accumulate linearly in the weight", names[which]);
        free(dy2);
    }
    CHECK_MSG(!memcmp(an, sn_mpd_grads(m), n * sizeof(float)), "sn_mpd_loss_g touched the gradients");
    free(dy); free(an); free(v); free(x); free(y);
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
    const double eg = norm_err(sn_mpd_grads(f), sn_mpd_grads(r), n);
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
        const double e = norm_err(dyf, dyr, nx);
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
    int gn_ok = 1;
    for (int i = 0; i < np; i++) {
        total += tab[i].numel;
        if (!strstr(tab[i].name, ".weight_g")) continue;
        const train_param *vt = &tab[i + 1];
        gn_ok &= strstr(vt->name, ".weight_v") != NULL;
        const size_t inner = vt->numel / tab[i].numel;
        for (size_t r = 0; r < tab[i].numel; r++) {
            double ss = 0;
            for (size_t k = 0; k < inner; k++) ss += (double)p[vt->offset + r * inner + k] * p[vt->offset + r * inner + k];
            gn_ok &= fabs(p[tab[i].offset + r] - sqrt(ss)) <= 1e-5 * sqrt(ss);
        }
    }
    CHECK_MSG(gn_ok, "init: weight_g != ||weight_v||");
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
    return tu_finish("test_mpd");
}
