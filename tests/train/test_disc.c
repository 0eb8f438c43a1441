/* MS-STFT discriminator (codec/train/disc.c).
 *
 * 1. conv2d: the fast kernel against the plain reference (forward, and
 *    backward for din, dw, db), on the discriminator's shapes and others with
 *    stride, dilation, padding and several im2col chunks (the row-flattened
 *    path; one shape with a vertical stride and a frequency dilation takes
 *    the im2col + sgemm path); normalised error (max|fast - ref| / max|ref|)
 *    <= CONV_TOL; a second backward doubles the gradients.
 * 2. Finite differences (central, in double over float32 forwards) of
 *    sum(R * layer(..)) for the reference and fast conv2d backward and for
 *    LeakyReLU (inputs kept away from 0): |an - fd| <= LAYER_RTOL |fd| + LAYER_ATOL.
 * 3. Finite differences of a small whole discriminator (stereo, 3 filters,
 *    two scales, B = 2, T = 400), as directional derivatives along random
 *    directions (one per parameter tensor; for y three over the whole batch
 *    and one confined to each crop and channel), so that the signal stands
 *    above float32 rounding of the forward:
 *      a. L_d w.r.t. every parameter tensor, with LeakyReLU slope 1 (no
 *         activation kinks) and every logit inside the hinges (checked);
 *         Richardson from steps h, h/2;
 *      b. adv (both generator hinge forms) and feat (relative and plain)
 *         w.r.t. y, slopes 1 and 0.2, logits inside the hinges; LeakyReLU
 *         and L1 kinks are dense, so the O(h) part of the central difference
 *         is removed by 2 f(h/2) - f(h).
 *    With slope 0.2 one direction in 7 may miss (see the check).
 *    The hinge masks (logits on both sides of +-1) are checked in 4.
 *    Allowed: ADV_FD_RTOL relative plus ADV_FD_ATOL_SCALE * sum_k |g_k v_k| (the
 *    directional derivative's own scale) plus ADV_FD_ATOL (adv_check.h). Also: the generator
 *    call leaves the disc gradients untouched, gradients accumulate (a second
 *    call doubles them, dy adds linearly in the weights), init is
 *    deterministic and g = ||v||.
 * 4. Against PyTorch (tests/ref/make_disc_fixture.py: float64 reference with
 *    the weights and inputs rounded to float32; stereo, 4 filters, n_fft 256,
 *    512, 128, B = 2, T = 2400, slope 0.2, logits over both hinge sides):
 *    L_d, adv, feat to LOSS_RTOL relative; every parameter gradient of L_d
 *    and the dy of each adversarial loss to a normalised error
 *    (max|c - ref| / max|ref|) of at most GRAD_TOL; the dy of the feature
 *    losses to a relative L2 error (||c - ref|| / ||ref||) of FEAT_GRAD_TOL:
 *    sign(f(y) - f(x)) differs between float32 and float64 for the few
 *    feature-map elements whose difference is below the forward's rounding
 *    (here 4 of 210k within 3e-7 relative, two of them exact float32 ties in
 *    scale 2's convs.4, where C takes sign(0) = 0), and each such element
 *    moves hundreds of dy samples (measured: relative L2 5.8e-4; 2.8e-5 with
 *    an im2col forward whose rounding happens to split no tie).
 * 5. sn_disc_keep_forward: the discriminator step that reuses the generator
 *    loss's forward passes gives bit-identical L_d and gradients (and the
 *    generator side identical adv, feat, dy); it reuses them only when x, y
 *    and the parameters are unchanged (each changed in turn: it runs the
 *    forward passes again and still matches a plain disc), and only once.
 * 6. SONO_DISC_BENCH=1: ms per sn_disc_loss_d / sn_disc_loss_g for B = 1,
 *    T = 24000, 32 filters, default scales (not part of the pass/fail). */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "test_util.h"
#include "disc.h"
#include "adv_check.h"
#include "conv2d_check.h"
#include "kernels.h"
#include "tensors.h"
#include "sonotok/error.h"
#include "sonotok/cpu.h"

#define LAYER_RTOL 1e-3
#define LAYER_ATOL 1e-3
#define LOSS_RTOL 1e-5
#define GRAD_TOL 1e-4
#define FEAT_GRAD_TOL 3e-3

/* ---- 1, 2: conv2d and LeakyReLU ----------------------------------------- */

static void test_conv2d(void) {
    /* C_in C_out H W kh kw sh sw dh dw ph pw */
    static const conv2d_shape shapes[] = {
        {4, 5, 7, 33, 3, 9, 1, 1, 1, 1, 1, 4},     /* convs.0 */
        {5, 6, 9, 33, 3, 9, 1, 2, 1, 1, 1, 4},     /* convs.1 */
        {5, 6, 9, 32, 3, 9, 1, 2, 2, 1, 2, 4},     /* convs.2, even width */
        {5, 6, 11, 17, 3, 9, 1, 2, 4, 1, 4, 4},    /* convs.3 */
        {6, 1, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1},      /* conv_post */
        {3, 4, 5, 6, 2, 3, 2, 3, 1, 2, 0, 2},      /* strides/dilation on both axes: im2col path */
        {2, 3, 4, 3, 3, 9, 1, 2, 4, 1, 4, 4},      /* kernel wider than the input */
        {64, 8, 40, 129, 3, 9, 1, 2, 1, 1, 1, 4},  /* several im2col chunks */
        {8, 8, 12, 40, 3, 9, 1, 2, 2, 1, 2, 4},    /* convs.2 at 8 filters: full register blocks */
        {8, 8, 10, 20, 3, 3, 1, 1, 1, 1, 1, 1},    /* convs.4 at 8 filters */
        {2, 8, 30, 65, 3, 9, 1, 1, 1, 1, 1, 4},    /* convs.0, mono: 2 input channels */
        {32, 32, 9, 40, 3, 9, 1, 2, 4, 1, 4, 4},   /* convs.3 at 32 filters: several blocks each way */
        {2, 21, 8, 33, 3, 9, 1, 1, 1, 1, 1, 4},    /* blocks of 8, 8, 4, 1 output channels */
    };
    conv2d_check_shapes(shapes, sizeof shapes / sizeof shapes[0]);
}

static void test_lrelu(void) {
    enum { N = 64 };
    float x[N], y[N], R[N], dx[N] = {0};
    const float slope = 0.2f, h = 1e-3f;
    for (int i = 0; i < N; i++) {
        float v = tu_uniform(0.05f, 1.0f);
        x[i] = (i & 1) ? v : -v;
        R[i] = tu_uniform(-1, 1);
    }
    sn_disc_lrelu_forward(y, x, N, slope);
    sn_disc_lrelu_backward(dx, R, y, N, slope);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float a, b, keep = x[i];
        x[i] = keep + h;
        sn_disc_lrelu_forward(&a, &x[i], 1, slope);
        x[i] = keep - h;
        sn_disc_lrelu_forward(&b, &x[i], 1, slope);
        x[i] = keep;
        double fd = R[i] * ((double)a - b) / (2.0 * h);
        if (!(fabs(dx[i] - fd) <= LAYER_RTOL * fabs(fd) + LAYER_ATOL)) bad++;
    }
    CHECK_MSG(bad == 0, "leaky relu: %d finite-difference mismatches", bad);
    sn_disc_lrelu_forward(x, x, N, slope);   /* in place */
    CHECK(!memcmp(x, y, sizeof y));
}

/* ---- 3: whole discriminator, finite differences -------------------------- */

static disc_config small_config(float slope) {
    disc_config c = sn_disc_default_config(2, 3);
    c.n_scales = 2;
    c.n_fft[0] = 128;
    c.hop[0] = 32;
    c.n_fft[1] = 64;
    c.hop[1] = 16;
    c.slope = slope;
    return c;
}

ADV_MODEL_OF(disc, disc)

static void test_fd_disc(float slope) {
    disc_config cfg = small_config(slope);
    const int B = 2, T = 400, C = cfg.channels;
    int err = 0;
    disc *d = sn_disc_new_config(&cfg, B, T, &err);
    CHECK_MSG(d, "sn_disc_new_config: %s", sono_strerror(err));
    if (!d) return;
    sn_disc_init_params(d, 42);
    const size_t n = sn_disc_n_floats(d), nx = (size_t)B * C * T;
    float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) {
        x[i] = 0.5f * sinf(0.05f * (float)i) + tu_uniform(-0.2f, 0.2f);
        y[i] = x[i] + tu_uniform(-0.2f, 0.2f);
    }
    float *p = sn_disc_params(d);
    int np;
    const train_param *tab = sn_disc_param_table(d, &np);

    /* L_d w.r.t. each parameter tensor along a random direction, with
     * slope 1 only (LeakyReLU = identity: no activation kinks). With slope
     * 0.2 these differences are dominated by kinks (a step that moves a whole
     * channel's pre-activations crosses many of them, and L_d's parameter
     * gradients are small differences of its real and fake terms); there the
     * parameter gradients are checked against PyTorch (section 4) and the
     * LeakyReLU backward by the y checks below and section 2. The few logits
     * make the hinge kinks sparse but steep (one logit crossing +-1 changes the
     * slope by 1 / (n_scales * B * logits)); at the default init every logit
     * lies inside (-1, 1), which each scale's d L_d / d conv_post.bias being
     * exactly 0 confirms (checked), so both hinges are active everywhere. */
    const adv_model am = disc_adv_model(d, "DISC_VERBOSE");
    sn_disc_zero_grad(d);
    double L0 = sn_disc_loss_d(d, x, y);
    float *an = malloc(n * sizeof(float)), *v = malloc((n > nx ? n : nx) * sizeof(float));
    memcpy(an, sn_disc_grads(d), n * sizeof(float));
    printf("small disc (slope %.2g): %zu params, L_d %.6f\n", slope, n, L0);
    if (slope == 1.0f) adv_check_params_fd(&am, x, y, an, v);

    /* accumulation: another call adds the same gradient again */
    adv_check_accumulates(&am, x, y, an);

    /* generator losses w.r.t. y along random directions: 3 over the whole
     * batch, then one confined to each (crop, channel); the disc grads must
     * stay as they are. The logits stay inside the hinges (see above): with
     * them spread over both sides, a few steep hinge kinks inside the step
     * spoil the differences; the hinge masks are checked against PyTorch.
     * slope 0.2: LeakyReLU and L1 kinks at every scale; the differences
     * converge only below steps (~1e-5) where float32 rounding of the loss
     * takes over, so one direction in 7 may miss (measured: 2 misses over
     * 30 seeds x 4 losses x 7 directions; the values match PyTorch in 4) */
    char tag[32];
    snprintf(tag, sizeof tag, "slope %g", slope);
    adv_check_y_fd(&am, x, y, B * C, T, 0, slope == 1.0f ? 0 : 1, tag, v);

    /* deterministic init, g = ||v|| */
    disc *d2 = sn_disc_new_config(&cfg, B, T, &err);
    sn_disc_init_params(d2, 42);
    sn_disc_init_params(d, 42);
    CHECK(!memcmp(sn_disc_params(d), sn_disc_params(d2), n * sizeof(float)));
    sn_disc_init_params(d2, 43);
    CHECK(memcmp(sn_disc_params(d), sn_disc_params(d2), n * sizeof(float)));
    CHECK_MSG(adv_weight_g_is_norm(tab, np, p), "init: weight_g != ||weight_v||");
    sn_disc_free(d2);
    free(an); free(v); free(x); free(y);
    sn_disc_free(d);
}

/* ---- 4: against PyTorch -------------------------------------------------- */

static void test_fixture(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/disc_tiny.safetensors", dir);
    sono_tensors *f = NULL;
    int rc = sn_safetensors_load(path, &f);
    CHECK_MSG(!rc, "cannot load %s: %s", path, sono_strerror(rc));
    if (rc) return;
    disc_config cfg = sn_disc_default_config(2, 4);
    cfg.n_scales = 3;
    static const int nf[3] = {256, 512, 128};
    for (int s = 0; s < 3; s++) {
        cfg.n_fft[s] = nf[s];
        cfg.hop[s] = nf[s] / 4;
    }
    const int B = 2, T = 2400;
    const size_t nx = (size_t)B * cfg.channels * T;
    int err = 0;
    disc *d = sn_disc_new_config(&cfg, B, T, &err);
    CHECK_MSG(d, "sn_disc_new_config: %s", sono_strerror(err));
    const sono_tensor *x = sn_tensors_find(f, "x"), *y = sn_tensors_find(f, "y");
    CHECK(x && y && (size_t)x->numel == nx && (size_t)y->numel == nx);
    if (!d || !x || !y || (size_t)x->numel != nx || (size_t)y->numel != nx) goto out;
    int np;
    const train_param *tab = sn_disc_param_table(d, &np);
    float *p = sn_disc_params(d);
    int missing = 0;
    for (int i = 0; i < np; i++) {
        char name[128];
        snprintf(name, sizeof name, "param.%s", tab[i].name);
        const sono_tensor *t = sn_tensors_find(f, name);
        int64_t sh[4];
        int nd = sn_disc_param_shape4(d, i, sh);
        int ok = t && (size_t)t->numel == tab[i].numel && t->ndim == nd;
        for (int k = 0; ok && k < nd; k++) ok = t->shape[k] == sh[k];
        if (!ok) {
            missing++;
            fprintf(stderr, "  %s: missing or shaped differently in the fixture\n", name);
            continue;
        }
        memcpy(p + tab[i].offset, t->data, tab[i].numel * sizeof(float));
    }
    CHECK_MSG(missing == 0, "%d parameters missing", missing);
    CHECK_MSG(np == 3 * 17, "%d parameters", np);

    sn_disc_zero_grad(d);
    double ld = sn_disc_loss_d(d, x->data, y->data);
    double ld_ref = sn_tensors_find(f, "loss_d")->data[0];
    printf("  L_d %.8f ref %.8f\n", ld, ld_ref);
    CHECK_MSG(fabs(ld - ld_ref) <= LOSS_RTOL * fabs(ld_ref), "L_d %.8f vs %.8f", ld, ld_ref);
    double worst = 0;
    for (int i = 0; i < np; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad_d.%s", tab[i].name);
        const sono_tensor *g = sn_tensors_find(f, name);
        CHECK_MSG(g && (size_t)g->numel == tab[i].numel, "%s missing", name);
        if (!g || (size_t)g->numel != tab[i].numel) continue;
        double e = adv_norm_err(sn_disc_grads(d) + tab[i].offset, g->data, tab[i].numel, getenv("DISC_VERBOSE") ? name : NULL);
        if (e > worst) worst = e;
        CHECK_MSG(e <= GRAD_TOL, "%s: normalised error %.3g", name, e);
    }
    printf("  grad L_d: worst normalised error over %d tensors %.3g\n", np, worst);

    float *dy = malloc(nx * sizeof(float));
    static const char *loss[4] = {"adv_hinge2", "adv_hinge", "feat_rel", "feat_abs"};
    for (int which = 0; which < 4; which++) {
        sn_disc_set_loss_forms(d, which == 1 ? DISC_GEN_HINGE : DISC_GEN_HINGE2, which != 3);
        const int is_feat = which >= 2;
        memset(dy, 0, nx * sizeof(float));
        double adv, feat;
        sn_disc_loss_g(d, x->data, y->data, is_feat ? 0.0f : 1.0f, is_feat ? 1.0f : 0.0f, dy, &adv, &feat);
        const double v = is_feat ? feat : adv;
        const double ref = sn_tensors_find(f, loss[which])->data[0];
        char name[64];
        snprintf(name, sizeof name, "dy_%s", loss[which]);
        const sono_tensor *g = sn_tensors_find(f, name);
        printf("  %-10s %.8f ref %.8f\n", loss[which], v, ref);
        CHECK_MSG(fabs(v - ref) <= LOSS_RTOL * fmax(fabs(ref), 1e-3), "%s %.8f vs %.8f", loss[which], v, ref);
        CHECK_MSG(g && (size_t)g->numel == nx, "%s missing", name);
        if (g && (size_t)g->numel == nx) {
            double e = adv_norm_err(dy, g->data, nx, name), num = 0, den = 0;
            for (size_t i = 0; i < nx; i++) {
                num += ((double)dy[i] - g->data[i]) * ((double)dy[i] - g->data[i]);
                den += (double)g->data[i] * g->data[i];
            }
            double rel2 = sqrt(num / (den > 0 ? den : 1));
            printf("  %-40s relative L2 error %.3g\n", name, rel2);
            if (is_feat)
                CHECK_MSG(rel2 <= FEAT_GRAD_TOL, "%s: relative L2 error %.3g (allowed %.3g)", name, rel2,
                          FEAT_GRAD_TOL);
            else
                CHECK_MSG(e <= GRAD_TOL, "%s: normalised error %.3g (allowed %.3g)", name, e, GRAD_TOL);
        }
    }
    free(dy);
out:
    sn_disc_free(d);
    sn_tensors_free(f);
}

/* ---- 5: timing ----------------------------------------------------------- */

static double now_ms(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void bench(void) {
    const int B = 1, T = 24000;
    int err = 0;
    disc *d = sn_disc_new(1, 32, B, T, &err);
    if (!d) return;
    sn_disc_init_params(d, 1);
    float *x = malloc((size_t)B * T * sizeof(float)), *y = malloc((size_t)B * T * sizeof(float));
    float *dy = calloc((size_t)B * T, sizeof(float));
    tu_fill(x, (size_t)B * T, -0.5f, 0.5f);
    tu_fill(y, (size_t)B * T, -0.5f, 0.5f);
    enum { REPS = 3 };
    int prev = sn_kern_set_threads(1);   /* single-threaded, as inside the trainer's workers */
    double best_d = 1e30, best_g = 1e30, cpu_d = 1e30, cpu_g = 1e30, adv, feat;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
        sn_disc_loss_d(d, x, y);
        double t1 = now_ms(CLOCK_MONOTONIC), c1 = now_ms(CLOCK_THREAD_CPUTIME_ID);
        sn_disc_loss_g(d, x, y, 1.0f, 1.0f, dy, &adv, &feat);
        double t2 = now_ms(CLOCK_MONOTONIC), c2 = now_ms(CLOCK_THREAD_CPUTIME_ID);
        best_d = fmin(best_d, t1 - t0);
        best_g = fmin(best_g, t2 - t1);
        cpu_d = fmin(cpu_d, c1 - c0);
        cpu_g = fmin(cpu_g, c2 - c1);
    }
    sn_kern_set_threads(prev);
    printf("bench B=%d T=%d filters 32, 5 scales, 1 thread, best of %d: sn_disc_loss_d %.1f ms (cpu %.1f), "
           "sn_disc_loss_g %.1f ms (cpu %.1f)\n", B, T, REPS, best_d, cpu_d, best_g, cpu_g);
    free(x); free(y); free(dy);
    sn_disc_free(d);
}

/* One generator + discriminator step on a (plain) and k (keeping forwards),
 * which hold the same parameters; checks bit-identical results and whether
 * k reused its forward passes. */
static void keep_step(disc *a, disc *k, const float *x, const float *y, size_t nx, int change, int want_reuse) {
    const size_t n = sn_disc_n_floats(a);
    float *dya = calloc(nx, sizeof(float)), *dyk = calloc(nx, sizeof(float)), *y2 = malloc(nx * sizeof(float));
    double adva, feata, advk, featk;
    sn_disc_loss_g(a, x, y, 1.0f, 2.0f, dya, &adva, &feata);
    sn_disc_loss_g(k, x, y, 1.0f, 2.0f, dyk, &advk, &featk);
    CHECK_MSG(adva == advk && feata == featk && !memcmp(dya, dyk, nx * sizeof(float)),
              "keep_forward: generator side differs");
    memcpy(y2, y, nx * sizeof(float));
    if (change == 1) { sn_disc_params(a)[n / 2] += 1e-3f; sn_disc_params(k)[n / 2] += 1e-3f; }
    if (change == 2) y2[nx / 3] += 1e-3f;   /* a copy: the same pointer would not do for k */
    sn_disc_zero_grad(a);
    sn_disc_zero_grad(k);
    double la = sn_disc_loss_d(a, x, change == 2 ? y2 : y);
    double lk = sn_disc_loss_d(k, x, change == 2 ? y2 : y);
    CHECK_MSG(la == lk && !memcmp(sn_disc_grads(a), sn_disc_grads(k), n * sizeof(float)),
              "keep_forward (change %d): L_d %.9g vs %.9g or its gradients differ", change, la, lk);
    CHECK_MSG(sn_disc_last_reused(k) == want_reuse && !sn_disc_last_reused(a), "keep_forward (change %d): reused %d, want %d",
              change, sn_disc_last_reused(k), want_reuse);
    if (change == 3) {   /* a second discriminator step: nothing left to reuse */
        sn_disc_zero_grad(k);
        CHECK(sn_disc_loss_d(k, x, y) == sn_disc_loss_d(a, x, y) && !sn_disc_last_reused(k));
    }
    free(dya); free(dyk); free(y2);
}

static void test_keep_forward(void) {
    disc_config cfg = small_config(0.2f);
    const int B = 2, T = 400;
    int err = 0;
    disc *a = sn_disc_new_config(&cfg, B, T, &err), *k = sn_disc_new_config(&cfg, B, T, &err);
    CHECK_MSG(a && k && !sn_disc_keep_forward(k, 1), "sn_disc_new_config / sn_disc_keep_forward");
    if (!a || !k) { sn_disc_free(a); sn_disc_free(k); return; }
    sn_disc_init_params(a, 7);
    sn_disc_init_params(k, 7);
    const size_t nx = (size_t)B * cfg.channels * T;
    float *x = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) {
        x[i] = 0.5f * sinf(0.05f * (float)i) + tu_uniform(-0.2f, 0.2f);
        y[i] = x[i] + tu_uniform(-0.3f, 0.3f);
    }
    keep_step(a, k, x, y, nx, 0, 1);   /* the trainer's order: reused */
    keep_step(a, k, x, y, nx, 1, 0);   /* parameters changed in between */
    keep_step(a, k, x, y, nx, 2, 0);   /* y changed */
    keep_step(a, k, x, y, nx, 3, 1);   /* reused once, not twice */
    CHECK(!sn_disc_keep_forward(k, 0));
    keep_step(a, k, x, y, nx, 0, 0);   /* off again */
    free(x); free(y);
    sn_disc_free(a);
    sn_disc_free(k);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/train/data";
    tu_seed(20261126);
    sn_disc_free(NULL);
    int err = 0;
    CHECK(!sn_disc_new(1, 32, 1, 1000, &err) && err == SONO_E_ARG);   /* T below the largest n_fft */
    CHECK(!sn_disc_new(0, 32, 1, 24000, &err) && err == SONO_E_ARG);
    test_conv2d();
    test_lrelu();
    test_fd_disc(1.0f);   /* no LeakyReLU kinks: only hinge and L1 ones */
    test_fd_disc(0.2f);
    test_fixture(dir);
    test_keep_forward();
    if (getenv("SONO_DISC_BENCH")) bench();
    return tu_finish("test_disc");
}
