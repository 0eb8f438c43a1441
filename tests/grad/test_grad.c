/* Finite-difference checks of every backward in kernels_grad.c (STYLE item 11).
 *
 * For each layer and several small shapes: L = sum(out * R) for a fixed random
 * R (so dL/dout = R), the analytic gradient from the backward, and for EVERY
 * element of every input and parameter a numeric gradient: central differences
 * D(h) = (L(p + h) - L(p - h)) / 2h at h = 1e-3 and 5e-4, combined as
 * (4 D(h/2) - D(h)) / 3 (Richardson; the h^2 truncation terms cancel).
 * L is computed by a plain double-precision forward written here (the oracle;
 * each is also checked to give the same L as the library's float _ref forward).
 * With a float forward the rounding noise on L, divided by 2h, swamps small
 * gradients; in double the numeric side is exact to ~1e-10 and the error left
 * is the backward's own float rounding.
 * Per element the error is |analytic - numeric| / max(|analytic|, |numeric|, floor),
 * floor = max(1e-3 * max|numeric| over the tensor, 1e-6), so gradients far below
 * the tensor's scale are not judged on their last bits. Fails above TOL = 1e-3
 * (observed worst over 400 seeds: 2.2e-4, an LSTM dh0 element).
 * Also: every backward accumulates (a second call doubles the gradient), NULL
 * gradient buffers are skipped, sn_lstm_forward_train equals sn_lstm_forward_ref, and
 * LSTM backprop in two chunks (dh0/dc0 carried back) equals one pass.
 * Fast conv backwards (sn_conv1d_backward, sn_convtr1d_backward: forward kernels +
 * sgemm, float sums) against their _ref twins on random shapes, stride > 1,
 * dilation > 1, odd lengths, on every back end of kernels.c (AVX-512, AVX2,
 * OpenBLAS) that the input gradients run on (the weight-gradient kernel picks
 * its own path from the CPU: its sgemm fallback for CPUs without AVX2 is not
 * reached on one that has it), each gradient buffer starting from random values (so += is
 * checked) and once more with the other buffers NULL. Error: max|fast - ref|
 * over max|ref's increment|; fails above FAST_TOL = 1e-5 (float sums of up to
 * ~1000 terms against double ones: observed 5e-7).
 * Seed: SONO_TEST_SEED (printed). */
#include "test_util.h"
#include "kernels.h"
#include "kernels_grad.h"

#define EPS 1e-3f
#define TOL 1e-3
#define FAST_TOL 1e-5

int sn_kern_test_set_isa(int level); /* kernels.c test hook: 0 BLAS, 1 AVX2, 2 AVX-512 */

typedef double (*loss_fn)(void *ctx);

static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static float *zalloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
static float *ralloc(size_t n, float lo, float hi) {
    float *p = zalloc(n);
    tu_fill(p, n, lo, hi);
    return p;
}
static float *dup(const float *a, size_t n) {
    float *p = zalloc(n);
    memcpy(p, a, n * sizeof *p);
    return p;
}

static double g_worst; /* over the whole run, for the summary line */

/* The test's double forward and the library's float forward give the same L. */
static void agree(const char *layer, double L, double L_ref) {
    double d = fabs(L - L_ref) / (fabs(L) > 1 ? fabs(L) : 1.0);
    CHECK_MSG(d <= 1e-5, "%s: double oracle L %.9g, _ref forward L %.9g", layer, L, L_ref);
}

/* (L(p + h) - L(p - h)) / (2h), h as actually represented in float; restores *p. */
static double central(float *p, float h, loss_fn f, void *ctx) {
    float save = *p, hi = save + h, lo = save - h;
    *p = hi; double lp = f(ctx);
    *p = lo; double lm = f(ctx);
    *p = save;
    return (lp - lm) / ((double)hi - (double)lo);
}

/* Compare analytic gradient ana[n] of L w.r.t. p[n] with central differences. */
static void gc_param(const char *layer, const char *what, float *p, size_t n,
                     const float *ana, loss_fn f, void *ctx) {
    double *num = malloc((n ? n : 1) * sizeof *num);
    double scale = 0.0, worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        float save = p[i];
        double d1 = central(p + i, EPS, f, ctx), d2 = central(p + i, 0.5f * EPS, f, ctx);
        p[i] = save;
        num[i] = (4.0 * d2 - d1) / 3.0; /* Richardson: the eps^2 error terms cancel */
        if (fabs(num[i]) > scale) scale = fabs(num[i]);
    }
    double floor = 1e-3 * scale > 1e-6 ? 1e-3 * scale : 1e-6;
    for (size_t i = 0; i < n; i++) {
        double a = ana[i], d = fabs(a - num[i]), den = floor;
        if (fabs(a) > den) den = fabs(a);
        if (fabs(num[i]) > den) den = fabs(num[i]);
        double r = d / den;
        if (!(r <= worst)) { worst = r; at = i; }
    }
    printf("  %-38s %-6s n %4zu  max rel err %.2e\n", layer, what, n, worst);
    CHECK_MSG(worst <= TOL, "%s d%s: rel err %.3g at [%zu] analytic %.6g numeric %.6g",
              layer, what, worst, at, n ? ana[at] : 0.0, n ? num[at] : 0.0);
    if (!(worst <= g_worst)) g_worst = worst;
    free(num);
}

/* After a second identical backward call, g2 must be twice g1 (accumulation). */
static void acc_check(const char *layer, const char *what, const float *g2, const float *g1, size_t n) {
    double md = 0.0, mb = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g2[i] - 2.0 * g1[i]);
        if (!(d <= md)) md = d;
        if (fabs(2.0 * g1[i]) > mb) mb = fabs(2.0 * g1[i]);
    }
    double rel = mb > 0 ? md / mb : md;
    CHECK_MSG(rel <= 1e-5, "%s d%s: second call does not accumulate (rel %.3g)", layer, what, rel);
}

static void same_check(const char *layer, const char *what, const float *a, const float *b, size_t n) {
    CHECK_MSG(memcmp(a, b, n * sizeof *a) == 0, "%s d%s: differs when other buffers are NULL", layer, what);
}

/* ---------------------------------------------------------------- conv1d */

typedef struct {
    int C_in, C_out, T_in, K, stride, dil;
    float *in, *w, *b, *out, *R;
} conv_ctx;

/* L in double from the float tensors: the oracle for the differences */
static double conv_loss(void *v) {
    conv_ctx *c = v;
    int T_out = conv1d_out_len(c->T_in, c->K, c->stride, c->dil);
    double L = 0.0;
    for (int co = 0; co < c->C_out; co++)
        for (int t = 0; t < T_out; t++) {
            double acc = c->b[co];
            for (int ci = 0; ci < c->C_in; ci++)
                for (int k = 0; k < c->K; k++)
                    acc += (double)c->w[((size_t)co * c->C_in + ci) * c->K + k] *
                           c->in[(size_t)ci * c->T_in + (size_t)t * c->stride + (size_t)k * c->dil];
            L += acc * c->R[(size_t)co * T_out + t];
        }
    return L;
}

/* the same L through the library's forward (float), to tie the oracle to it */
static double conv_loss_ref(void *v) {
    conv_ctx *c = v;
    sn_conv1d_forward_ref(c->out, c->in, c->w, c->b, c->C_in, c->C_out, c->T_in, c->K, c->stride, c->dil, NULL, 1);
    return dot(c->out, c->R, (size_t)c->C_out * conv1d_out_len(c->T_in, c->K, c->stride, c->dil));
}

static void test_conv1d(int C_in, int C_out, int T_in, int K, int stride, int dil) {
    char name[96];
    snprintf(name, sizeof name, "conv1d %d->%d T%d K%d s%d d%d", C_in, C_out, T_in, K, stride, dil);
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    size_t ni = (size_t)C_in * T_in, nw = (size_t)C_out * C_in * K, no = (size_t)C_out * T_out;
    conv_ctx c = {C_in, C_out, T_in, K, stride, dil, ralloc(ni, -1, 1), ralloc(nw, -1, 1),
                  ralloc(C_out, -1, 1), zalloc(no), ralloc(no, -1, 1)};
    float *din = zalloc(ni), *dw = zalloc(nw), *db = zalloc(C_out);
    sn_conv1d_backward_ref(din, dw, db, c.R, c.in, c.w, C_in, C_out, T_in, K, stride, dil, NULL, 1);
    agree(name, conv_loss(&c), conv_loss_ref(&c));
    gc_param(name, "in", c.in, ni, din, conv_loss, &c);
    gc_param(name, "w", c.w, nw, dw, conv_loss, &c);
    gc_param(name, "b", c.b, C_out, db, conv_loss, &c);

    float *din2 = dup(din, ni), *dw2 = dup(dw, nw), *db2 = dup(db, C_out);
    sn_conv1d_backward_ref(din2, dw2, db2, c.R, c.in, c.w, C_in, C_out, T_in, K, stride, dil, NULL, 1);
    acc_check(name, "in", din2, din, ni);
    acc_check(name, "w", dw2, dw, nw);
    acc_check(name, "b", db2, db, C_out);
    memset(dw2, 0, nw * sizeof *dw2);
    sn_conv1d_backward_ref(NULL, dw2, NULL, c.R, c.in, c.w, C_in, C_out, T_in, K, stride, dil, NULL, 1);
    same_check(name, "w", dw2, dw, nw);

    free(c.in); free(c.w); free(c.b); free(c.out); free(c.R);
    free(din); free(dw); free(db); free(din2); free(dw2); free(db2);
}

/* -------------------------------------------------------------- convtr1d */

typedef struct {
    int C_in, C_out, T_in, K, stride;
    float *in, *w, *b, *out, *R;
} convtr_ctx;

static size_t convtr_len(int T_in, int K, int stride) { return (size_t)(T_in - 1) * stride + K; }

static double convtr_loss(void *v) {
    convtr_ctx *c = v;
    size_t T_out = convtr_len(c->T_in, c->K, c->stride);
    double *out = malloc((size_t)c->C_out * T_out * sizeof *out);
    for (int co = 0; co < c->C_out; co++)
        for (size_t j = 0; j < T_out; j++) out[(size_t)co * T_out + j] = c->b[co];
    for (int ci = 0; ci < c->C_in; ci++)
        for (int co = 0; co < c->C_out; co++)
            for (int t = 0; t < c->T_in; t++)
                for (int k = 0; k < c->K; k++)
                    out[(size_t)co * T_out + (size_t)t * c->stride + k] +=
                        (double)c->in[(size_t)ci * c->T_in + t] * c->w[((size_t)ci * c->C_out + co) * c->K + k];
    double L = 0.0;
    for (size_t i = 0; i < (size_t)c->C_out * T_out; i++) L += out[i] * c->R[i];
    free(out);
    return L;
}

static double convtr_loss_ref(void *v) {
    convtr_ctx *c = v;
    sn_convtr1d_forward_ref(c->out, c->in, c->w, c->b, c->C_in, c->C_out, c->T_in, c->K, c->stride, NULL, 1);
    return dot(c->out, c->R, (size_t)c->C_out * convtr_len(c->T_in, c->K, c->stride));
}

static void test_convtr1d(int C_in, int C_out, int T_in, int K, int stride) {
    char name[96];
    snprintf(name, sizeof name, "convtr1d %d->%d T%d K%d s%d", C_in, C_out, T_in, K, stride);
    size_t ni = (size_t)C_in * T_in, nw = (size_t)C_in * C_out * K;
    size_t no = (size_t)C_out * convtr_len(T_in, K, stride);
    convtr_ctx c = {C_in, C_out, T_in, K, stride, ralloc(ni, -1, 1), ralloc(nw, -1, 1),
                    ralloc(C_out, -1, 1), zalloc(no), ralloc(no, -1, 1)};
    float *din = zalloc(ni), *dw = zalloc(nw), *db = zalloc(C_out);
    sn_convtr1d_backward_ref(din, dw, db, c.R, c.in, c.w, C_in, C_out, T_in, K, stride, NULL, 1);
    agree(name, convtr_loss(&c), convtr_loss_ref(&c));
    gc_param(name, "in", c.in, ni, din, convtr_loss, &c);
    gc_param(name, "w", c.w, nw, dw, convtr_loss, &c);
    gc_param(name, "b", c.b, C_out, db, convtr_loss, &c);

    float *din2 = dup(din, ni), *dw2 = dup(dw, nw), *db2 = dup(db, C_out);
    sn_convtr1d_backward_ref(din2, dw2, db2, c.R, c.in, c.w, C_in, C_out, T_in, K, stride, NULL, 1);
    acc_check(name, "in", din2, din, ni);
    acc_check(name, "w", dw2, dw, nw);
    acc_check(name, "b", db2, db, C_out);
    memset(din2, 0, ni * sizeof *din2);
    sn_convtr1d_backward_ref(din2, NULL, NULL, c.R, c.in, c.w, C_in, C_out, T_in, K, stride, NULL, 1);
    same_check(name, "in", din2, din, ni);

    free(c.in); free(c.w); free(c.b); free(c.out); free(c.R);
    free(din); free(dw); free(db); free(din2); free(dw2); free(db2);
}

/* ------------------------------------------------------------------- ELU */

typedef struct { size_t n; float alpha; float *in, *out, *R; } elu_ctx;

static double elu_loss(void *v) {
    elu_ctx *c = v;
    double L = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        double x = c->in[i];
        L += (x > 0 ? x : c->alpha * expm1(x)) * c->R[i];
    }
    return L;
}

static double elu_loss_ref(void *v) {
    elu_ctx *c = v;
    sn_elu_forward_ref(c->out, c->in, c->n, c->alpha, 1);
    return dot(c->out, c->R, c->n);
}

static void test_elu(size_t n, float alpha) {
    char name[96];
    snprintf(name, sizeof name, "elu n%zu alpha %g", n, alpha);
    elu_ctx c = {n, alpha, ralloc(n, -3, 2), zalloc(n), ralloc(n, -1, 1)};
    /* keep inputs off the kink at 0 (the slope jumps there unless alpha == 1) */
    for (size_t i = 0; i < n; i++)
        if (fabsf(c.in[i]) < 0.05f) c.in[i] += c.in[i] < 0 ? -0.05f : 0.05f;
    float *din = zalloc(n), *din_o = zalloc(n);
    sn_elu_backward(din, c.R, c.in, n, alpha);
    agree(name, elu_loss(&c), elu_loss_ref(&c));
    gc_param(name, "in", c.in, n, din, elu_loss, &c);
    sn_elu_forward_ref(c.out, c.in, n, alpha, 1);
    sn_elu_backward_from_out(din_o, c.R, c.out, n, alpha);
    snprintf(name, sizeof name, "elu_from_out n%zu alpha %g", n, alpha);
    gc_param(name, "in", c.in, n, din_o, elu_loss, &c);

    float *d2 = dup(din, n), *d2o = dup(din_o, n);
    sn_elu_backward(d2, c.R, c.in, n, alpha);
    sn_elu_forward_ref(c.out, c.in, n, alpha, 1);
    sn_elu_backward_from_out(d2o, c.R, c.out, n, alpha);
    acc_check(name, "in", d2, din, n);
    acc_check(name, "in(out)", d2o, din_o, n);
    free(c.in); free(c.out); free(c.R); free(din); free(din_o); free(d2); free(d2o);
}

/* -------------------------------------------------------------- GroupNorm */

typedef struct { int C, T; float eps; float *in, *gamma, *beta, *out, *R; } gn_ctx;

static double gn_loss(void *v) {
    gn_ctx *c = v;
    size_t n = (size_t)c->C * c->T;
    double s = 0.0, var = 0.0, L = 0.0;
    for (size_t i = 0; i < n; i++) s += c->in[i];
    double mean = s / (double)n;
    for (size_t i = 0; i < n; i++) var += (c->in[i] - mean) * (c->in[i] - mean);
    double rstd = 1.0 / sqrt(var / (double)n + (double)c->eps);
    for (int ch = 0; ch < c->C; ch++)
        for (int t = 0; t < c->T; t++) {
            size_t i = (size_t)ch * c->T + t;
            double y = (c->in[i] - mean) * rstd * (c->gamma ? c->gamma[ch] : 1.0) + (c->beta ? c->beta[ch] : 0.0);
            L += y * c->R[i];
        }
    return L;
}

static double gn_loss_ref(void *v) {
    gn_ctx *c = v;
    sn_groupnorm1_forward_ref(c->out, c->in, c->gamma, c->beta, c->C, c->T, c->eps, 1);
    return dot(c->out, c->R, (size_t)c->C * c->T);
}

static void test_groupnorm(int C, int T, int affine) {
    char name[96];
    snprintf(name, sizeof name, "groupnorm1 C%d T%d%s", C, T, affine ? "" : " no affine");
    size_t n = (size_t)C * T;
    gn_ctx c = {C, T, 1e-5f, ralloc(n, -1, 2), affine ? ralloc(C, 0.5f, 1.5f) : NULL,
                affine ? ralloc(C, -1, 1) : NULL, zalloc(n), ralloc(n, -1, 1)};
    float *din = zalloc(n), *dg = zalloc(C), *dbe = zalloc(C);
    sn_groupnorm1_backward(din, dg, dbe, c.R, c.in, c.gamma, C, T, c.eps);
    agree(name, gn_loss(&c), gn_loss_ref(&c));
    gc_param(name, "in", c.in, n, din, gn_loss, &c);
    if (affine) {
        gc_param(name, "gamma", c.gamma, C, dg, gn_loss, &c);
        gc_param(name, "beta", c.beta, C, dbe, gn_loss, &c);
    }
    float *din2 = dup(din, n), *dg2 = dup(dg, C), *dbe2 = dup(dbe, C);
    sn_groupnorm1_backward(din2, dg2, dbe2, c.R, c.in, c.gamma, C, T, c.eps);
    acc_check(name, "in", din2, din, n);
    acc_check(name, "gamma", dg2, dg, C);
    acc_check(name, "beta", dbe2, dbe, C);
    memset(din2, 0, n * sizeof *din2);
    sn_groupnorm1_backward(din2, NULL, NULL, c.R, c.in, c.gamma, C, T, c.eps);
    same_check(name, "in", din2, din, n);
    free(c.in); free(c.gamma); free(c.beta); free(c.out); free(c.R);
    free(din); free(dg); free(dbe); free(din2); free(dg2); free(dbe2);
}

/* ----------------------------------------------------------- weight norm */

typedef struct { int rows, inner; float *g, *v, *w, *R; } wn_ctx;

static double wn_loss(void *p) {
    wn_ctx *c = p;
    double L = 0.0;
    for (int r = 0; r < c->rows; r++) {
        const float *v = c->v + (size_t)r * c->inner;
        double s = 0.0, d = 0.0;
        for (int i = 0; i < c->inner; i++) { s += (double)v[i] * v[i]; d += (double)v[i] * c->R[(size_t)r * c->inner + i]; }
        L += c->g[r] * d / sqrt(s);
    }
    return L;
}

static double wn_loss_ref(void *p) {
    wn_ctx *c = p;
    sn_weightnorm_forward(c->w, c->g, c->v, c->rows, c->inner);
    return dot(c->w, c->R, (size_t)c->rows * c->inner);
}

static void test_weightnorm(int rows, int inner) {
    char name[96];
    snprintf(name, sizeof name, "weightnorm %dx%d", rows, inner);
    size_t n = (size_t)rows * inner;
    wn_ctx c = {rows, inner, ralloc(rows, 0.5f, 1.5f), ralloc(n, -1, 1), zalloc(n), ralloc(n, -1, 1)};
    /* no row of v near zero (the norm's gradient blows up there) */
    for (size_t i = 0; i < n; i++)
        if (fabsf(c.v[i]) < 0.1f) c.v[i] += c.v[i] < 0 ? -0.1f : 0.1f;
    float *dg = zalloc(rows), *dv = zalloc(n);
    sn_weightnorm_backward(dg, dv, c.R, c.g, c.v, rows, inner);
    agree(name, wn_loss(&c), wn_loss_ref(&c));
    gc_param(name, "g", c.g, rows, dg, wn_loss, &c);
    gc_param(name, "v", c.v, n, dv, wn_loss, &c);
    float *dg2 = dup(dg, rows), *dv2 = dup(dv, n);
    sn_weightnorm_backward(dg2, dv2, c.R, c.g, c.v, rows, inner);
    acc_check(name, "g", dg2, dg, rows);
    acc_check(name, "v", dv2, dv, n);
    memset(dv2, 0, n * sizeof *dv2);
    sn_weightnorm_backward(NULL, dv2, c.R, c.g, c.v, rows, inner);
    same_check(name, "v", dv2, dv, n);
    /* a sanity check on the forward: every row of w has norm |g| */
    sn_weightnorm_forward(c.w, c.g, c.v, rows, inner);
    for (int r = 0; r < rows; r++) {
        double s = 0.0;
        for (int i = 0; i < inner; i++) s += (double)c.w[(size_t)r * inner + i] * c.w[(size_t)r * inner + i];
        CHECK_MSG(fabs(sqrt(s) - c.g[r]) <= 1e-5 * c.g[r], "%s: row %d norm %.7g, g %.7g", name, r, sqrt(s), c.g[r]);
    }
    free(c.g); free(c.v); free(c.w); free(c.R); free(dg); free(dv); free(dg2); free(dv2);
}

/* ------------------------------------------------------------------ LSTM */

/* L = [use_out] sum(out * R) + [use_final] (sum(h_T * Rh) + sum(c_T * Rc)) */
typedef struct {
    int C, H, T, use_out, use_final;
    float *in, *w_ih, *w_hh, *b_ih, *b_hh, *h0, *c0;
    float *out, *h, *c, *R, *Rh, *Rc;
} lstm_ctx;

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static double lstm_loss(void *v) {
    lstm_ctx *c = v;
    int C = c->C, H = c->H, T = c->T;
    double *h = malloc(3 * (size_t)H * sizeof *h), *cc = h + H, *hn = h + 2 * H, L = 0.0;
    for (int j = 0; j < H; j++) { h[j] = c->h0[j]; cc[j] = c->c0[j]; }
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < H; j++) {
            double z[4];
            for (int g = 0; g < 4; g++) {
                size_t row = (size_t)g * H + j;
                z[g] = (double)c->b_ih[row] + c->b_hh[row];
                for (int k = 0; k < C; k++) z[g] += (double)c->w_ih[row * C + k] * c->in[(size_t)k * T + t];
                for (int k = 0; k < H; k++) z[g] += (double)c->w_hh[row * H + k] * h[k];
            }
            cc[j] = sig(z[1]) * cc[j] + sig(z[0]) * tanh(z[2]);
            hn[j] = sig(z[3]) * tanh(cc[j]);
            if (c->use_out) L += hn[j] * c->R[(size_t)j * T + t];
        }
        memcpy(h, hn, (size_t)H * sizeof *h);
    }
    if (c->use_final)
        for (int j = 0; j < H; j++) L += h[j] * c->Rh[j] + cc[j] * c->Rc[j];
    free(h);
    return L;
}

static double lstm_loss_ref(void *v) {
    lstm_ctx *c = v;
    memcpy(c->h, c->h0, (size_t)c->H * sizeof *c->h);
    memcpy(c->c, c->c0, (size_t)c->H * sizeof *c->c);
    sn_lstm_forward_ref(c->out, c->in, c->w_ih, c->w_hh, c->b_ih, c->b_hh, c->h, c->c, c->C, c->H, c->T, NULL, 1);
    double L = 0.0;
    if (c->use_out) L += dot(c->out, c->R, (size_t)c->H * c->T);
    if (c->use_final) L += dot(c->h, c->Rh, c->H) + dot(c->c, c->Rc, c->H);
    return L;
}

static void lstm_grads(lstm_ctx *c, float *const g[7]) {
    int C = c->C, H = c->H, T = c->T;
    float *sbuf = zalloc(sn_lstm_saved_floats(H, T)), *scratch = zalloc(sn_lstm_backward_scratch_floats(H));
    lstm_saved s;
    sn_lstm_saved_point(&s, sbuf, H, T);
    sn_lstm_forward_train(NULL, &s, c->in, c->w_ih, c->w_hh, c->b_ih, c->b_hh, c->h0, c->c0, C, H, T);
    sn_lstm_backward(g[0], g[1], g[2], g[3], g[4], g[5], g[6],
                  c->use_out ? c->R : NULL, c->use_final ? c->Rh : NULL, c->use_final ? c->Rc : NULL,
                  &s, c->in, c->w_ih, c->w_hh, C, H, T, scratch);
    free(sbuf); free(scratch);
}

static void test_lstm(int C, int H, int T, int use_out, int use_final) {
    char name[96];
    snprintf(name, sizeof name, "lstm C%d H%d T%d%s%s", C, H, T,
             use_out ? "" : " final-only", use_final ? "" : " out-only");
    size_t G = 4 * (size_t)H;
    lstm_ctx c = {C, H, T, use_out, use_final,
                  ralloc((size_t)C * T, -1, 1), ralloc(G * C, -0.6f, 0.6f), ralloc(G * H, -0.6f, 0.6f),
                  ralloc(G, -0.5f, 0.5f), ralloc(G, -0.5f, 0.5f), ralloc(H, -0.8f, 0.8f), ralloc(H, -1, 1),
                  zalloc((size_t)H * T), zalloc(H), zalloc(H),
                  ralloc((size_t)H * T, -1, 1), ralloc(H, -1, 1), ralloc(H, -1, 1)};
    float *params[7] = {c.in, c.w_ih, c.w_hh, c.b_ih, c.b_hh, c.h0, c.c0};
    const char *names[7] = {"in", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0"};
    size_t sizes[7] = {(size_t)C * T, G * C, G * H, G, G, (size_t)H, (size_t)H};
    float *g[7], *g2[7];
    for (int i = 0; i < 7; i++) g[i] = zalloc(sizes[i]);
    lstm_grads(&c, g);
    agree(name, lstm_loss(&c), lstm_loss_ref(&c));
    for (int i = 0; i < 7; i++) gc_param(name, names[i], params[i], sizes[i], g[i], lstm_loss, &c);

    for (int i = 0; i < 7; i++) g2[i] = dup(g[i], sizes[i]);
    lstm_grads(&c, g2);
    for (int i = 0; i < 7; i++) acc_check(name, names[i], g2[i], g[i], sizes[i]);
    /* only dw_hh requested */
    float *only[7] = {NULL, NULL, g2[2], NULL, NULL, NULL, NULL};
    memset(g2[2], 0, sizes[2] * sizeof *g2[2]);
    lstm_grads(&c, only);
    same_check(name, "w_hh", g2[2], g[2], sizes[2]);

    /* the training forward computes what the inference reference computes */
    float *sbuf = zalloc(sn_lstm_saved_floats(H, T)), *out2 = zalloc((size_t)H * T);
    lstm_saved s;
    sn_lstm_saved_point(&s, sbuf, H, T);
    sn_lstm_forward_train(out2, &s, c.in, c.w_ih, c.w_hh, c.b_ih, c.b_hh, c.h0, c.c0, C, H, T);
    lstm_loss_ref(&c);
    CHECK_MSG(tu_maxdiff(out2, c.out, (size_t)H * T, NULL) <= 1e-6, "%s: forward_train out != ref", name);
    CHECK_MSG(tu_maxdiff(s.h + (size_t)T * H, c.h, H, NULL) <= 1e-6, "%s: final h != ref", name);
    CHECK_MSG(tu_maxdiff(s.c + (size_t)T * H, c.c, H, NULL) <= 1e-6, "%s: final c != ref", name);
    free(sbuf); free(out2);

    for (int i = 0; i < 7; i++) { free(params[i]); free(g[i]); free(g2[i]); }
    free(c.out); free(c.h); free(c.c); free(c.R); free(c.Rh); free(c.Rc);
}

/* Backprop through two chunks (T1 then T2 steps, state carried forward, dh0/dc0
 * of the second chunk fed back as dh_last/dc_last of the first) equals one pass. */
static void test_lstm_chunked(int C, int H, int T1, int T2) {
    char name[96];
    snprintf(name, sizeof name, "lstm chunked C%d H%d T%d+%d", C, H, T1, T2);
    int T = T1 + T2;
    size_t G = 4 * (size_t)H;
    float *in = ralloc((size_t)C * T, -1, 1), *w_ih = ralloc(G * C, -0.6f, 0.6f), *w_hh = ralloc(G * H, -0.6f, 0.6f);
    float *b = ralloc(G, -0.5f, 0.5f), *R = ralloc((size_t)H * T, -1, 1);
    float *scratch = zalloc(sn_lstm_backward_scratch_floats(H));
    /* one pass */
    float *sb = zalloc(sn_lstm_saved_floats(H, T)), *din = zalloc((size_t)C * T);
    float *dwi = zalloc(G * C), *dwh = zalloc(G * H), *db = zalloc(G);
    lstm_saved s;
    sn_lstm_saved_point(&s, sb, H, T);
    sn_lstm_forward_train(NULL, &s, in, w_ih, w_hh, b, NULL, NULL, NULL, C, H, T);
    sn_lstm_backward(din, dwi, dwh, db, NULL, NULL, NULL, R, NULL, NULL, &s, in, w_ih, w_hh, C, H, T, scratch);
    /* two chunks: [C][T] is channel-major, so each chunk's in/dout are copied out */
    float *in1 = zalloc((size_t)C * T1), *in2 = zalloc((size_t)C * T2), *R1 = zalloc((size_t)H * T1), *R2 = zalloc((size_t)H * T2);
    for (int k = 0; k < C; k++) {
        memcpy(in1 + (size_t)k * T1, in + (size_t)k * T, (size_t)T1 * sizeof *in);
        memcpy(in2 + (size_t)k * T2, in + (size_t)k * T + T1, (size_t)T2 * sizeof *in);
    }
    for (int j = 0; j < H; j++) {
        memcpy(R1 + (size_t)j * T1, R + (size_t)j * T, (size_t)T1 * sizeof *R);
        memcpy(R2 + (size_t)j * T2, R + (size_t)j * T + T1, (size_t)T2 * sizeof *R);
    }
    float *sb1 = zalloc(sn_lstm_saved_floats(H, T1)), *sb2 = zalloc(sn_lstm_saved_floats(H, T2));
    float *din1 = zalloc((size_t)C * T1), *din2 = zalloc((size_t)C * T2);
    float *cwi = zalloc(G * C), *cwh = zalloc(G * H), *cb = zalloc(G), *dh = zalloc(H), *dc = zalloc(H);
    lstm_saved s1, s2;
    sn_lstm_saved_point(&s1, sb1, H, T1);
    sn_lstm_saved_point(&s2, sb2, H, T2);
    sn_lstm_forward_train(NULL, &s1, in1, w_ih, w_hh, b, NULL, NULL, NULL, C, H, T1);
    sn_lstm_forward_train(NULL, &s2, in2, w_ih, w_hh, b, NULL, s1.h + (size_t)T1 * H, s1.c + (size_t)T1 * H, C, H, T2);
    sn_lstm_backward(din2, cwi, cwh, cb, NULL, dh, dc, R2, NULL, NULL, &s2, in2, w_ih, w_hh, C, H, T2, scratch);
    sn_lstm_backward(din1, cwi, cwh, cb, NULL, NULL, NULL, R1, dh, dc, &s1, in1, w_ih, w_hh, C, H, T1, scratch);
    double worst = 0.0;
    for (int k = 0; k < C; k++)
        for (int t = 0; t < T; t++) {
            float got = t < T1 ? din1[(size_t)k * T1 + t] : din2[(size_t)k * T2 + t - T1];
            double d = fabs((double)got - din[(size_t)k * T + t]);
            if (!(d <= worst)) worst = d;
        }
    double dw1 = tu_maxdiff(cwi, dwi, G * C, NULL), dw2 = tu_maxdiff(cwh, dwh, G * H, NULL), db1 = tu_maxdiff(cb, db, G, NULL);
    printf("  %-38s max abs diff din %.1e dw_ih %.1e dw_hh %.1e db %.1e\n", name, worst, dw1, dw2, db1);
    CHECK_MSG(worst <= 1e-5 && dw1 <= 1e-5 && dw2 <= 1e-5 && db1 <= 1e-5, "%s: chunked backward differs", name);
    free(in); free(w_ih); free(w_hh); free(b); free(R); free(scratch); free(sb); free(din);
    free(dwi); free(dwh); free(db); free(in1); free(in2); free(R1); free(R2); free(sb1); free(sb2);
    free(din1); free(din2); free(cwi); free(cwh); free(cb); free(dh); free(dc);
}

/* ------------------------------------------------ fast backwards vs _ref */

static double g_fast_worst;

/* normalised error of fast vs ref, both started from init */
static void fast_cmp(const char *layer, const char *what, const float *fast, const float *ref,
                     const float *init, size_t n) {
    double md = 0.0, mr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)fast[i] - ref[i]), r = fabs((double)ref[i] - init[i]);
        if (!(d <= md)) md = d;
        if (r > mr) mr = r;
    }
    double ne = mr > 0 ? md / mr : md;
    CHECK_MSG(ne <= FAST_TOL, "%s d%s: fast vs ref normalised error %.3g (max abs %.3g)", layer, what, ne, md);
    if (!(ne <= g_fast_worst)) g_fast_worst = ne;
    if (getenv("GRAD_VERBOSE")) printf("  %-44s d%-3s fast vs ref max abs %.3g normalised %.3g\n", layer, what, md, ne);
}

/* tr = 0: conv1d (C_in, C_out, T_in, K, stride, dil); tr = 1: convtr1d (dil unused) */
static void test_fast(int tr, int C_in, int C_out, int T_in, int K, int stride, int dil, int isa) {
    char name[112];
    snprintf(name, sizeof name, "%s %d->%d T%d K%d s%d d%d isa%d", tr ? "convtr1d" : "conv1d", C_in, C_out, T_in, K,
             stride, dil, isa);
    int T_out = tr ? (T_in - 1) * stride + K : conv1d_out_len(T_in, K, stride, dil);
    size_t ni = (size_t)C_in * T_in, nw = (size_t)C_out * C_in * K, no = (size_t)C_out * T_out;
    size_t ns = tr ? sn_convtr1d_backward_scratch_floats(C_in, C_out, T_in, K, stride)
                   : sn_conv1d_backward_scratch_floats(C_in, C_out, T_in, K, stride, dil);
    float *in = ralloc(ni, -1, 1), *w = ralloc(nw, -1, 1), *dy = ralloc(no, -1, 1);
    float *din0 = ralloc(ni, -1, 1), *dw0 = ralloc(nw, -1, 1), *db0 = ralloc(C_out, -1, 1);
    float *dinr = dup(din0, ni), *dwr = dup(dw0, nw), *dbr = dup(db0, C_out);
    float *dinf = dup(din0, ni), *dwf = dup(dw0, nw), *dbf = dup(db0, C_out);
    float *scr = ralloc(ns, -1, 1); /* garbage in scratch must not matter */
    int got = sn_kern_test_set_isa(isa);
    if (tr) {
        sn_convtr1d_backward_ref(dinr, dwr, dbr, dy, in, w, C_in, C_out, T_in, K, stride, NULL, 1);
        sn_convtr1d_backward(dinf, dwf, dbf, dy, in, w, C_in, C_out, T_in, K, stride, scr, 1);
    } else {
        sn_conv1d_backward_ref(dinr, dwr, dbr, dy, in, w, C_in, C_out, T_in, K, stride, dil, NULL, 1);
        sn_conv1d_backward(dinf, dwf, dbf, dy, in, w, C_in, C_out, T_in, K, stride, dil, scr, 1);
    }
    fast_cmp(name, "in", dinf, dinr, din0, ni);
    fast_cmp(name, "w", dwf, dwr, dw0, nw);
    fast_cmp(name, "b", dbf, dbr, db0, C_out);
    /* one buffer at a time (the others NULL) gives the same */
    float *d1 = dup(din0, ni), *d2 = dup(dw0, nw), *d3 = dup(db0, C_out);
    if (tr) {
        sn_convtr1d_backward(d1, NULL, NULL, dy, in, w, C_in, C_out, T_in, K, stride, scr, 1);
        sn_convtr1d_backward(NULL, d2, NULL, dy, in, w, C_in, C_out, T_in, K, stride, scr, 1);
        sn_convtr1d_backward(NULL, NULL, d3, dy, in, w, C_in, C_out, T_in, K, stride, scr, 1);
    } else {
        sn_conv1d_backward(d1, NULL, NULL, dy, in, w, C_in, C_out, T_in, K, stride, dil, scr, 1);
        sn_conv1d_backward(NULL, d2, NULL, dy, in, w, C_in, C_out, T_in, K, stride, dil, scr, 1);
        sn_conv1d_backward(NULL, NULL, d3, dy, in, w, C_in, C_out, T_in, K, stride, dil, scr, 1);
    }
    same_check(name, "in (alone)", d1, dinf, ni);
    same_check(name, "w (alone)", d2, dwf, nw);
    same_check(name, "b (alone)", d3, dbf, C_out);
    sn_kern_test_set_isa(2);
    (void)got;
    free(in); free(w); free(dy); free(din0); free(dw0); free(db0); free(dinr); free(dwr); free(dbr);
    free(dinf); free(dwf); free(dbf); free(scr); free(d1); free(d2); free(d3);
}

static void test_fast_all(void) {
    /* fixed shapes: the SEANet kinds (K7 first/last, residual K3 d1/d3/d9, 1x1,
     * strided K = 2*stride) plus odd lengths, a tail the stride skips, K = 1 strided */
    static const int conv[][6] = {
        {1, 8, 101, 7, 1, 1}, {8, 4, 97, 3, 1, 1}, {8, 4, 97, 3, 1, 3}, {6, 5, 200, 3, 1, 9},
        {4, 8, 63, 1, 1, 1}, {8, 16, 64, 4, 2, 1}, {8, 16, 103, 8, 4, 1}, {5, 7, 77, 10, 5, 1},
        {16, 32, 1500, 16, 8, 1}, {3, 2, 12, 3, 2, 1}, {3, 4, 11, 5, 2, 2}, {2, 3, 10, 1, 3, 1},
        {16, 1, 1031, 7, 1, 1}, {20, 12, 2300, 3, 1, 2},
        /* strided with >= 512 output steps: the polyphase input gradient, incl.
         * K not a multiple of the stride and a tail the stride skips */
        {8, 12, 2100, 4, 2, 1}, {5, 6, 3004, 10, 5, 1}, {3, 4, 1204, 3, 2, 1}, {4, 3, 2003, 7, 3, 1},
    };
    static const int convtr[][5] = {
        {16, 8, 50, 16, 8}, {8, 4, 33, 8, 4}, {4, 2, 101, 4, 2}, {7, 5, 21, 10, 5}, {2, 3, 5, 3, 1},
        {3, 3, 1300, 4, 2}, {2, 2, 4, 2, 4}, {1, 6, 9, 5, 3},
    };
    for (int isa = 2; isa >= 0; isa--) {
        for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++)
            test_fast(0, conv[i][0], conv[i][1], conv[i][2], conv[i][3], conv[i][4], conv[i][5], isa);
        for (size_t i = 0; i < sizeof convtr / sizeof convtr[0]; i++)
            test_fast(1, convtr[i][0], convtr[i][1], convtr[i][2], convtr[i][3], convtr[i][4], 1, isa);
    }
    /* random shapes */
    for (int r = 0; r < 40; r++) {
        int K = 1 + (int)(tu_rand() % 9), stride = 1 + (int)(tu_rand() % 4), dil = 1 + (int)(tu_rand() % 4);
        if (stride > 1 && r % 2) dil = 1;
        int C_in = 1 + (int)(tu_rand() % 12), C_out = 1 + (int)(tu_rand() % 12);
        int T_in = (K - 1) * dil + 1 + (int)(tu_rand() % 300);
        test_fast(0, C_in, C_out, T_in, K, stride, dil, 2 - r % 3);
        test_fast(1, C_in, C_out, 1 + (int)(tu_rand() % 200), K, stride, 1, 2 - r % 3);
    }
    printf("fast conv backwards vs _ref: worst normalised error %.2e (tolerance %g)\n", g_fast_worst, FAST_TOL);
}

int main(void) {
    tu_seed(0x5eed9ad);
    printf("central differences (Richardson), h %g and %g, double forward; tolerance %g (relative, see header)\n",
           (double)EPS, 0.5 * EPS, TOL);

    /* C_in, C_out, T_in, K, stride, dil; T_in = 12 with K3 s2 leaves a tail the conv never reads */
    test_conv1d(2, 3, 9, 3, 1, 1);
    test_conv1d(3, 2, 12, 3, 2, 1);
    test_conv1d(2, 2, 13, 2, 1, 3);
    test_conv1d(1, 3, 8, 1, 1, 1);
    test_conv1d(1, 1, 10, 4, 3, 2);
    test_conv1d(3, 4, 11, 5, 2, 2);

    /* C_in, C_out, T_in, K, stride; K = 2 * stride as in SEANet upsampling, and stride > K */
    test_convtr1d(2, 3, 5, 3, 1);
    test_convtr1d(3, 2, 4, 4, 2);
    test_convtr1d(1, 2, 6, 1, 1);
    test_convtr1d(2, 1, 3, 5, 3);
    test_convtr1d(2, 2, 4, 2, 4);
    test_convtr1d(3, 3, 5, 8, 4);

    test_elu(64, 1.0f);
    test_elu(64, 0.5f);

    test_groupnorm(3, 7, 1);
    test_groupnorm(1, 5, 1);
    test_groupnorm(4, 1, 1);
    test_groupnorm(2, 6, 0);

    test_weightnorm(3, 6);
    test_weightnorm(1, 4);
    test_weightnorm(4, 1);

    test_lstm(3, 4, 5, 1, 1);
    test_lstm(1, 2, 3, 1, 1);
    test_lstm(2, 3, 1, 1, 1);
    test_lstm(2, 3, 4, 0, 1);
    test_lstm(3, 2, 6, 1, 0);
    test_lstm_chunked(3, 4, 5, 4);
    test_lstm_chunked(1, 2, 1, 6);

    printf("worst relative error over all checks: %.2e (tolerance %g)\n", g_worst, TOL);
    test_fast_all();
    return tu_finish("grad-check");
}
