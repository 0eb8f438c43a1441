/* The Vocos decoder head in the training graph (codec/train/vocos_train.c,
 * its node in train_graph.c), on a tiny config (D 8, dim 16, inter 24, L 2,
 * K 7, hop 8 from ratios 4,2, n_fft 32; SEANet encoder with 4 filters).
 *
 * 1. The inverse STFT alone (fast and _ref) against a direct O(N^2) inverse
 *    DFT in double written here (Hermitian extension of bins 0..N/2, the
 *    imaginary parts of bins 0 and N/2 dropped, 1/N), periodic Hann window,
 *    overlap-add, envelope computed here, "same" crop of (N - hop)/2.
 * 2. A known spectrum through the whole graph: out weight 0, out bias giving
 *    log magnitude log 0.5 at bin 4 and 8 (clipped to 1e3) at bin 8, -30
 *    elsewhere, constant phases: the output must be the sum of the two
 *    sinusoids (2A/N) cos(2 pi k (t + pad) / N + phi), with bins whose period
 *    divides the hop so every frame agrees, times sum w / sum w^2 (the
 *    frames are windowed once, as after an analysis STFT; 4/3 inside). The
 *    clipped bin's log magnitude gets gradient 0, the other one not.
 * 3. Finite differences (central at h and h/2, Richardson, on the _ref path
 *    whose sums are in double) of L = mean(y * R) for a fixed random R:
 *    a few elements of EVERY head parameter tensor and some encoder ones
 *    (graph with n_q = 0), and of the input latents z through the whole head
 *    (sn_vocos_backward's dz, on the head alone).
 * 4. Fast path (sgemm, float) against the _ref path: outputs and every
 *    gradient tensor to FAST_TOL normalised, with n_q = 4 and the L1 loss.
 * 5. The parameter table: the spec's names, shapes and order, and the count.
 * 6. Init: LayerNorm 1/0, biases 0, gamma 1/L, weights within 2 std = 0.04
 *    with the std of a truncated normal (0.88 x 0.02), deterministic in the
 *    seed; data-dependent init leaves the head bit for bit and scales the
 *    encoder to latents of std 1 (not to the target std, a SEANet decoder's).
 * 7. sn_train_graph_load of the graph's own table re-creates its parameters;
 *    a missing head tensor is refused.
 * 8. Two graphs on two OpenMP threads give what they give one after the
 *    other, bit for bit.
 * 9. n_fft == hop (the envelope reaches 0) is refused at build. */
#include "test_util.h"
#include "train_graph.h"
#include "graph_check.h"
#include "vocos_train.h"
#include "tensors.h"
#include "sono_internal.h"
#include "sonotok/error.h"

#define FAST_TOL 1e-5
#define FD_RTOL 2e-2
#define FD_ATOL_SCALE 1e-3
#define PI 3.14159265358979323846

static const char *TINY =
    "{\"sample_rate\": 8000, \"channels\": 1, \"causal\": 0, \"norm\": \"weight_norm\", \"n_filters\": 4,"
    " \"dimension\": 8, \"ratios\": [4, 2], \"kernel_size\": 7, \"last_kernel_size\": 7, \"residual_kernel_size\": 3,"
    " \"n_residual_layers\": 1, \"compress\": 2, \"lstm\": 1, \"codebook_size\": 16, \"n_q\": 4,"
    " \"bandwidths\": [6.0, 12.0], \"decoder\": \"vocos\", \"vocos_dim\": 16, \"vocos_intermediate\": 24,"
    " \"vocos_layers\": 2, \"vocos_kernel\": 7, \"vocos_n_fft\": %d}";

static int tiny_cfg(codec_config *cfg, int n_fft) {
    char js[1024];
    snprintf(js, sizeof js, TINY, n_fft);
    int rc = sn_codec_config_from_json(js, cfg);
    CHECK_MSG(!rc, "tiny config: %s", sono_strerror(rc));
    return rc;
}

/* the head alone on F frames of the tiny config; 0 or the error (checked) */
static int tiny_head(vocos_head *h, sn_param_table *pt, int F) {
    codec_config cfg;
    memset(pt, 0, sizeof *pt);
    int rc = tiny_cfg(&cfg, 32);
    if (!rc) rc = sn_vocos_head_init(h, &cfg, F, pt);
    CHECK_MSG(!rc, "sn_vocos_head_init: %s", sono_strerror(rc));
    if (rc) sn_params_free(pt);
    return rc;
}

static train_graph *tiny_graph(int B, int T, int n_q, uint64_t seed, codec_config *cfg) {
    int err = 0;
    if (tiny_cfg(cfg, 32)) return NULL;
    train_graph *g = sn_train_graph_new(cfg, B, T, n_q, &err);
    CHECK_MSG(g != NULL, "sn_train_graph_new: %s", sono_strerror(err));
    if (!g) return NULL;
    sn_train_graph_init_params(g, seed);
    float *cb = sn_train_graph_codebooks(g);
    for (size_t i = 0; i < (size_t)n_q * cfg->codebook_size * cfg->dimension; i++) cb[i] = tu_uniform(-1, 1);
    sn_train_graph_codebooks_changed(g);
    return g;
}

/* every head parameter moved off its init (which has many exact 0s and 1s) */
static void jitter_head(train_graph *g, float amount) {
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    float *p = sn_train_graph_params(g);
    for (int i = 0; i < np; i++)
        if (!strncmp(tab[i].name, "decoder.", 8))
            for (size_t k = 0; k < tab[i].numel; k++) p[tab[i].offset + k] += tu_uniform(-amount, amount);
}

static float *test_audio(size_t n) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = 0.3f * sinf(0.05f * (float)i * (1 + (float)(i % 5))) + tu_uniform(-0.2f, 0.2f);
    return x;
}

/* ---- 1. inverse STFT against a direct inverse DFT ---- */

static void istft_check(void) {
    const int F = 6;
    sn_param_table pt;
    vocos_head h;
    if (tiny_head(&h, &pt, F)) return;
    const int N = h.N, hop = h.hop, nb = N / 2 + 1, Lf = (F - 1) * hop + N, pad = (N - hop) / 2;
    CHECK(N == 32 && hop == 8);
    float *X = malloc((size_t)(N + 2) * F * sizeof *X), *scr = malloc(h.scratch_floats * sizeof *scr);
    float *y = malloc((size_t)F * hop * sizeof *y);
    float *yr = malloc((size_t)F * hop * sizeof *yr);
    double *full = calloc((size_t)Lf, sizeof *full), *env = calloc((size_t)Lf, sizeof *env), *want = malloc((size_t)F * hop * sizeof *want);
    tu_fill(X, (size_t)(N + 2) * F, -1, 1);
    for (int f = 0; f < F; f++)
        for (int n = 0; n < N; n++) {
            double s = 0; /* sum over all N bins of the Hermitian spectrum, real part */
            for (int k = 0; k < N; k++) {
                int kk = k <= N / 2 ? k : N - k;
                double re = X[(size_t)kk * F + f], im = k <= N / 2 ? X[(size_t)(nb + kk) * F + f] : -X[(size_t)(nb + kk) * F + f];
                if (k == 0 || k == N / 2) im = 0;
                double a = 2 * PI * k * n / N;
                s += re * cos(a) - im * sin(a);
            }
            double w = 0.5 - 0.5 * cos(2 * PI * n / N);
            full[f * hop + n] += s / N * w;
            env[f * hop + n] += w * w;
        }
    for (int t = 0; t < F * hop; t++) want[t] = full[t + pad] / env[t + pad];
    float *wf = malloc((size_t)F * hop * sizeof *wf);
    for (int t = 0; t < F * hop; t++) wf[t] = (float)want[t];
    sn_vocos_istft(&h, y, X, scr, 0);
    sn_vocos_istft(&h, yr, X, scr, 1);
    double e0 = norm_err(y, wf, (size_t)F * hop), e1 = norm_err(yr, wf, (size_t)F * hop);
    printf("istft vs direct inverse DFT + overlap-add: fast %.2g, ref %.2g (normalised)\n", e0, e1);
    CHECK_MSG(e0 < 1e-5 && e1 < 1e-6, "istft differs from the direct inverse DFT");
    free(X); free(scr); free(y); free(yr); free(full); free(env); free(want); free(wf);
    sn_vocos_head_free(&h);
    sn_params_free(&pt);
}

/* ---- 2. known spectrum through the graph ---- */

static void sinusoid_check(int use_ref) {
    codec_config cfg;
    const int B = 1, T = 64;
    train_graph *g = tiny_graph(B, T, 0, 7, &cfg);
    if (!g) return;
    sn_train_graph_set_ref_kernels(g, use_ref);
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    float *p = sn_train_graph_params(g);
    const int N = cfg.vocos_n_fft, nb = N / 2 + 1, hop = 8, pad = (N - hop) / 2;
    const int k0 = 4, k1 = 8;
    const double A0 = 0.5, ph0 = 0.3, ph1 = -1.1, A1 = 1e3; /* bin k1: log magnitude 8, clipped to log 1e3 */
    for (int i = 0; i < np; i++) {
        if (!strcmp(tab[i].name, "decoder.head.out.weight")) memset(p + tab[i].offset, 0, tab[i].numel * sizeof(float));
        if (!strcmp(tab[i].name, "decoder.head.out.bias")) {
            float *b = p + tab[i].offset;
            for (int k = 0; k < nb; k++) { b[k] = -30.0f; b[nb + k] = 0.7f; }
            b[k0] = (float)log(A0); b[nb + k0] = (float)ph0;
            b[k1] = 8.0f; b[nb + k1] = (float)ph1;
        }
    }
    float *x = test_audio((size_t)B * T);
    sn_train_graph_forward(g, x, 1.0f, 0.0f, NULL);
    const float *y = sn_train_graph_output(g);
    double md = 0;
    for (int t = 0; t < T; t++) {
        /* every frame holds the same sinusoid, windowed once: the overlap-add
         * gives it times sum w over sum w^2 (4/3 inside, other near the ends) */
        double sw = 0, sw2 = 0;
        for (int f = 0; f < T / hop; f++) {
            int n = t + pad - f * hop;
            double wn = n >= 0 && n < N ? 0.5 - 0.5 * cos(2 * PI * n / N) : 0;
            sw += wn, sw2 += wn * wn;
        }
        double w = (2 * A0 / N * cos(2 * PI * k0 * (t + pad) / N + (double)(float)ph0) +
                    2 * A1 / N * cos(2 * PI * k1 * (t + pad) / N + (double)(float)ph1)) * sw / sw2;
        md = fmax(md, fabs(y[t] - w));
        if (getenv("VOCOS_VERBOSE")) printf("  t %d y %.5f want %.5f\n", t, y[t], w);
    }
    printf("known spectrum (bins %d, %d, one clipped; %s path): max |y - sinusoids| %.3g\n", k0, k1,
           use_ref ? "_ref" : "fast", md);
    CHECK_MSG(md < 1e-3, "the head does not render the known spectrum (max diff %g)", md);
    /* the clipped bin's log magnitude gets no gradient, the other one does */
    float *R = malloc((size_t)B * T * sizeof *R);
    tu_fill(R, (size_t)B * T, -1, 1);
    sn_train_graph_zero_grad(g);
    sn_train_graph_backward(g, R);
    for (int i = 0; i < np; i++)
        if (!strcmp(tab[i].name, "decoder.head.out.bias")) {
            const float *gb = sn_train_graph_grads(g) + tab[i].offset;
            printf("  d/d log magnitude: bin %d %.4g, clipped bin %d %.4g\n", k0, gb[k0], k1, gb[k1]);
            CHECK_MSG(gb[k1] == 0.0f && gb[k0] != 0.0f, "clipped magnitude: gradients %g (bin %d), %g (clipped)",
                      gb[k0], k0, gb[k1]);
        }
    free(R);
    free(x);
    sn_train_graph_free(g);
}

/* ---- 3. finite differences ---- */

static double loss_at(train_graph *g, const float *x, const float *R, size_t nx) {
    sn_train_graph_forward(g, x, 0.0f, 0.0f, NULL);
    const float *y = sn_train_graph_output(g);
    double s = 0;
    for (size_t i = 0; i < nx; i++) s += (double)y[i] * R[i];
    return s / (double)nx;
}

static int fd_one(const char *what, float *v, const float an, double atol, double (*L)(void *), void *u, double *worst) {
    float v0 = *v, h = 1e-2f;
    double D[2];
    for (int k = 0; k < 2; k++, h *= 0.5f) {
        *v = v0 + h;
        double lp = L(u);
        *v = v0 - h;
        double lm = L(u);
        D[k] = (lp - lm) / (double)((v0 + h) - (v0 - h));
    }
    *v = v0;
    double num = (4 * D[1] - D[0]) / 3, d = fabs(an - num), tol = FD_RTOL * fmax(fabs(an), fabs(num)) + atol;
    if (d / tol > *worst) *worst = d / tol;
    CHECK_MSG(d <= tol, "%s: analytic %.7g, numeric %.7g", what, an, num);
    return d <= tol;
}

typedef struct { train_graph *g; const float *x, *R; size_t nx; } g_ctx;
static double g_loss(void *u) { g_ctx *c = u; return loss_at(c->g, c->x, c->R, c->nx); }

static void fd_graph(void) {
    codec_config cfg;
    const int B = 2, T = 64;
    train_graph *g = tiny_graph(B, T, 0, 11, &cfg);
    if (!g) return;
    jitter_head(g, 0.2f);
    sn_train_graph_set_ref_kernels(g, 1);
    size_t nx = (size_t)B * T;
    float *x = test_audio(nx), *R = malloc(nx * sizeof *R), *dR = malloc(nx * sizeof *dR);
    tu_fill(R, nx, -1, 1);
    for (size_t i = 0; i < nx; i++) dR[i] = (float)(R[i] / (double)nx);
    sn_train_graph_zero_grad(g);
    loss_at(g, x, R, nx);
    sn_train_graph_backward(g, dR);
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    float *p = sn_train_graph_params(g), *gr = sn_train_graph_grads(g);
    double gmax = 0, worst = 0;
    for (size_t k = 0; k < sn_train_graph_n_floats(g); k++) gmax = fmax(gmax, fabs(gr[k]));
    g_ctx c = {g, x, R, nx};
    int n_head = 0, n_enc = 0;
    for (int i = 0; i < np; i++) {
        int head = !strncmp(tab[i].name, "decoder.", 8);
        int n = head ? 3 : (i % 4 == 0); /* every head tensor; a quarter of the encoder's, one element */
        for (int j = 0; j < n; j++) {
            size_t e = tab[i].offset + (size_t)(tu_rand() % tab[i].numel);
            char what[160];
            snprintf(what, sizeof what, "fd %s[%zu]", tab[i].name, e - tab[i].offset);
            fd_one(what, p + e, gr[e], FD_ATOL_SCALE * gmax, g_loss, &c, &worst);
            head ? n_head++ : n_enc++;
        }
    }
    printf("fd graph (n_q = 0, _ref path): %d head and %d encoder elements, worst error / tolerance %.3f\n", n_head,
           n_enc, worst);
    CHECK(n_head == 3 * (4 + 9 * cfg.vocos_layers + 4));
    free(x); free(R); free(dR);
    sn_train_graph_free(g);
}

typedef struct { vocos_head *h; float *y, *act, *scr; const float *z, *params, *R; size_t ny; } h_ctx;
static double h_loss(void *u) {
    h_ctx *c = u;
    sn_vocos_forward(c->h, c->y, c->act, c->scr, c->z, c->params, 1);
    double s = 0;
    for (size_t i = 0; i < c->ny; i++) s += (double)c->y[i] * c->R[i];
    return s / (double)c->ny;
}

/* dz of the head alone against finite differences on z */
static void fd_latents(void) {
    const int F = 9;
    sn_param_table pt;
    vocos_head h;
    if (tiny_head(&h, &pt, F)) return;
    size_t nz = (size_t)h.D * F, ny = (size_t)F * h.hop;
    float *params = calloc(pt.n_floats, sizeof *params), *grads = calloc(pt.n_floats, sizeof *grads);
    float *act = malloc(sn_vocos_act_floats(&h) * sizeof *act), *scr = malloc(h.scratch_floats * sizeof *scr);
    float *z = malloc(nz * sizeof *z), *dz = calloc(nz, sizeof *dz), *y = malloc(ny * sizeof *y);
    float *R = malloc(ny * sizeof *R), *dR = malloc(ny * sizeof *dR);
    uint64_t st = 5;
    sn_vocos_init_params(&h, params, &st);
    for (size_t k = 0; k < pt.n_floats; k++) params[k] += tu_uniform(-0.2f, 0.2f);
    tu_fill(z, nz, -1, 1);
    tu_fill(R, ny, -1, 1);
    for (size_t i = 0; i < ny; i++) dR[i] = (float)(R[i] / (double)ny);
    h_ctx c = {&h, y, act, scr, z, params, R, ny};
    h_loss(&c);
    sn_vocos_backward(&h, dz, grads, dR, act, scr, z, params, 1);
    double gmax = 0, worst = 0;
    for (size_t k = 0; k < nz; k++) gmax = fmax(gmax, fabs(dz[k]));
    for (int j = 0; j < 30; j++) {
        size_t e = (size_t)(tu_rand() % nz);
        char what[64];
        snprintf(what, sizeof what, "fd latent z[%zu]", e);
        fd_one(what, z + e, dz[e], FD_ATOL_SCALE * gmax, h_loss, &c, &worst);
    }
    printf("fd latents through the head: 30 elements, worst error / tolerance %.3f\n", worst);
    free(params); free(grads); free(act); free(scr); free(z); free(dz); free(y); free(R); free(dR);
    sn_vocos_head_free(&h);
    sn_params_free(&pt);
}

/* ---- 4. fast vs _ref ---- */

static void fast_vs_ref(void) {
    codec_config cfg;
    const int B = 2, T = 128, NQ = 4;
    train_graph *g = tiny_graph(B, T, NQ, 3, &cfg);
    if (!g) return;
    jitter_head(g, 0.1f);
    float *x = test_audio((size_t)B * T);
    graph_fast_vs_ref(g, x, NQ, B, 1, "vocos", FAST_TOL);
    free(x);
    sn_train_graph_free(g);
}

/* ---- 5. table ---- */

static void table_check(void) {
    codec_config cfg;
    train_graph *g = tiny_graph(1, 64, 4, 1, &cfg);
    if (!g) return;
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    int i = 0;
    while (i < np && strncmp(tab[i].name, "decoder.", 8)) CHECK(!strncmp(tab[i++].name, "encoder.", 8));
    const int dim = cfg.vocos_dim, D = cfg.dimension, K = cfg.vocos_kernel, I = cfg.vocos_intermediate, N = cfg.vocos_n_fft;
    struct { char name[96]; int nd; int64_t s0, s1, s2; } want[64];
    int nw = 0;
#define W(nm, n, a, b, c) do { snprintf(want[nw].name, 96, "%s", nm); want[nw].nd = n; want[nw].s0 = a; \
    want[nw].s1 = b; want[nw].s2 = c; nw++; } while (0)
    W("decoder.backbone.embed.weight", 3, dim, D, K);
    W("decoder.backbone.embed.bias", 1, dim, 0, 0);
    W("decoder.backbone.norm.weight", 1, dim, 0, 0);
    W("decoder.backbone.norm.bias", 1, dim, 0, 0);
    for (int l = 0; l < cfg.vocos_layers; l++) {
        char b[96];
#define WB(sfx, n, a, bb, c) do { snprintf(b, sizeof b, "decoder.backbone.convnext.%d.%s", l, sfx); W(b, n, a, bb, c); } while (0)
        WB("dwconv.weight", 3, dim, 1, K);
        WB("dwconv.bias", 1, dim, 0, 0);
        WB("norm.weight", 1, dim, 0, 0);
        WB("norm.bias", 1, dim, 0, 0);
        WB("pwconv1.weight", 2, I, dim, 0);
        WB("pwconv1.bias", 1, I, 0, 0);
        WB("pwconv2.weight", 2, dim, I, 0);
        WB("pwconv2.bias", 1, dim, 0, 0);
        WB("gamma", 1, dim, 0, 0);
    }
    W("decoder.backbone.final_layer_norm.weight", 1, dim, 0, 0);
    W("decoder.backbone.final_layer_norm.bias", 1, dim, 0, 0);
    W("decoder.head.out.weight", 2, N + 2, dim, 0);
    W("decoder.head.out.bias", 1, N + 2, 0, 0);
    CHECK_MSG(np - i == nw, "head has %d parameters, the spec %d", np - i, nw);
    size_t n_head = 0;
    for (int k = 0; k < nw && i + k < np; k++) {
        const train_param *t = &tab[i + k];
        int ok = !strcmp(t->name, want[k].name) && t->ndim == want[k].nd && t->shape[0] == want[k].s0 &&
                 (t->ndim < 2 || t->shape[1] == want[k].s1) && (t->ndim < 3 || t->shape[2] == want[k].s2);
        CHECK_MSG(ok, "parameter %d: %s (ndim %d) where the spec has %s", i + k, t->name, t->ndim, want[k].name);
        n_head += t->numel;
    }
    size_t formula = (size_t)dim * D * K + dim + 2 * dim +
                     (size_t)cfg.vocos_layers * ((size_t)dim * K + dim + 2 * dim + (size_t)I * dim + I + (size_t)dim * I + dim + dim) +
                     2 * dim + (size_t)(N + 2) * dim + N + 2;
    printf("head parameter table: %d tensors, %zu values (formula %zu)\n", nw, n_head, formula);
    CHECK(n_head == formula);
    sn_train_graph_free(g);
}

/* ---- 6. init ---- */

static void init_check(void) {
    codec_config cfg;
    const int B = 2, T = 64;
    train_graph *g = tiny_graph(B, T, 4, 42, &cfg);
    if (!g) return;
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    size_t nf = sn_train_graph_n_floats(g);
    float *p = sn_train_graph_params(g), *p0 = malloc(nf * sizeof *p0);
    memcpy(p0, p, nf * sizeof *p0);
    double s2 = 0, amax = 0;
    size_t nw = 0;
    int bad = 0;
    for (int i = 0; i < np; i++) {
        const char *nm = tab[i].name;
        if (strncmp(nm, "decoder.", 8)) continue;
        const float *v = p + tab[i].offset;
        size_t L = strlen(nm);
        int is_bias = L > 5 && !strcmp(nm + L - 5, ".bias"), is_gamma = L > 6 && !strcmp(nm + L - 6, ".gamma");
        int is_ln = strstr(nm, "norm.weight") != NULL;
        for (size_t k = 0; k < tab[i].numel; k++) {
            if (is_bias) bad += v[k] != 0.0f;
            else if (is_gamma) bad += v[k] != (float)(1.0 / cfg.vocos_layers);
            else if (is_ln) bad += v[k] != 1.0f;
            else { s2 += (double)v[k] * v[k]; amax = fmax(amax, fabs(v[k])); nw++; }
        }
    }
    double sd = sqrt(s2 / (double)nw);
    printf("init: %zu head weights, std %.5f (truncated normal: %.5f), max |w| %.4f; %d wrong constants\n", nw, sd,
           0.02 * 0.8796, amax, bad);
    CHECK(bad == 0);
    CHECK(amax <= 0.04 && amax > 0.035);
    CHECK(fabs(sd - 0.02 * 0.8796) < 0.02 * 0.05);
    sn_train_graph_init_params(g, 42);
    CHECK_MSG(!memcmp(p, p0, nf * sizeof *p), "init is not deterministic in the seed");
    float *x = test_audio((size_t)B * T);
    CHECK(sn_train_graph_data_init(g, x, 0.1f) == 0);
    int head_same = 1, enc_changed = 0;
    for (int i = 0; i < np; i++) {
        int same = !memcmp(p + tab[i].offset, p0 + tab[i].offset, tab[i].numel * sizeof *p);
        if (!strncmp(tab[i].name, "decoder.", 8)) head_same &= same;
        else enc_changed |= !same;
    }
    CHECK_MSG(head_same, "data-dependent init changed the head");
    /* the encoder's last conv is scaled to std 1 (the latents), not to target_std */
    sn_train_graph_forward(g, x, 1.0f, 1.0f, NULL);
    const float *zl = sn_train_graph_latents(g);
    size_t nz = (size_t)B * cfg.dimension * sn_train_graph_frames(g);
    double m = 0, v = 0;
    for (size_t i = 0; i < nz; i++) m += zl[i];
    m /= (double)nz;
    for (size_t i = 0; i < nz; i++) v += (zl[i] - m) * (zl[i] - m);
    printf("  after data init: latents std %.4f\n", sqrt(v / (double)nz));
    CHECK(fabs(sqrt(v / (double)nz) - 1.0) < 1e-3);
    CHECK_MSG(enc_changed, "data-dependent init left the encoder as it was");
    free(x); free(p0);
    sn_train_graph_free(g);
}

/* ---- 7. load ---- */

static void load_check(void) {
    codec_config cfg;
    enum { NQ = 4 };
    train_graph *a = tiny_graph(1, 64, NQ, 9, &cfg), *b = NULL;
    int err = 0;
    if (!a) return;
    jitter_head(a, 0.1f);
    b = sn_train_graph_new(&cfg, 1, 64, NQ, &err);
    CHECK(b != NULL);
    int np;
    const train_param *tab = sn_train_graph_param_table(a, &np);
    int n = np + NQ;
    const char **names = calloc((size_t)n, sizeof *names);
    int *nd = calloc((size_t)n, sizeof *nd);
    int64_t (*sh)[SONO_MAX_DIMS] = calloc((size_t)n, sizeof *sh);
    const float **data = calloc((size_t)n, sizeof *data);
    char cbn[4][64];
    for (int i = 0; i < np; i++) {
        names[i] = tab[i].name;
        nd[i] = tab[i].ndim;
        for (int d = 0; d < tab[i].ndim; d++) sh[i][d] = tab[i].shape[d];
        data[i] = sn_train_graph_params(a) + tab[i].offset;
    }
    for (int q = 0; q < NQ; q++) {
        snprintf(cbn[q], sizeof cbn[q], "quantizer.vq.layers.%d._codebook.embed", q);
        names[np + q] = cbn[q];
        nd[np + q] = 2;
        sh[np + q][0] = cfg.codebook_size;
        sh[np + q][1] = cfg.dimension;
        data[np + q] = sn_train_graph_codebooks(a) + (size_t)q * cfg.codebook_size * cfg.dimension;
    }
    sono_tensors *ts = NULL;
    CHECK(sn_tensors_create(&ts, n, names, nd, (const int64_t(*)[SONO_MAX_DIMS])sh, data) == 0);
    if (b && ts) {
        CHECK(sn_train_graph_load(b, ts) == 0);
        CHECK_MSG(!memcmp(sn_train_graph_params(a), sn_train_graph_params(b), sn_train_graph_n_floats(a) * sizeof(float)),
                  "a loaded vocos graph differs from the one saved");
        sn_tensors_free(ts);
        ts = NULL;
        /* without the head's last tensor */
        int k = np - 1;
        CHECK(!strcmp(names[k], "decoder.head.out.bias"));
        names[k] = names[n - 1], nd[k] = nd[n - 1], data[k] = data[n - 1];
        memcpy(sh[k], sh[n - 1], sizeof sh[k]);
        CHECK(sn_tensors_create(&ts, n - 1, names, nd, (const int64_t(*)[SONO_MAX_DIMS])sh, data) == 0);
        if (ts) CHECK(sn_train_graph_load(b, ts) == SONO_E_MODEL_MISMATCH);
    }
    printf("load: a vocos graph's own tensors re-load bit for bit; a missing head tensor is refused\n");
    sn_tensors_free(ts);
    free(names); free(nd); free(sh); free(data);
    sn_train_graph_free(a);
    sn_train_graph_free(b);
}

/* ---- 8. threads ---- */

static void thread_check(void) {
    codec_config cfg;
    const int B = 2, T = 4096; /* long enough for the two threads' kernels to overlap */
    train_graph *g[2] = {tiny_graph(B, T, 4, 5, &cfg), tiny_graph(B, T, 4, 5, &cfg)};
    if (!g[0] || !g[1]) { sn_train_graph_free(g[0]); sn_train_graph_free(g[1]); return; }
    size_t nx = (size_t)B * T;
    float *x[2] = {test_audio(nx), test_audio(nx)};
    int same = graphs_same_on_threads(g, x, 10);
    printf("two vocos graphs on two threads: gradients %s as one after the other\n", same ? "the same" : "NOT the same");
    CHECK_MSG(same, "vocos graphs stepped on two threads differ from sequential steps");
    for (int i = 0; i < 2; i++) { free(x[i]); sn_train_graph_free(g[i]); }
}

/* ---- 9. envelope ---- */

static void env_check(void) {
    codec_config cfg;
    if (tiny_cfg(&cfg, 8)) return; /* n_fft == hop: the window is 0 at each frame's start */
    int err = 0;
    train_graph *g = sn_train_graph_new(&cfg, 1, 64, 0, &err);
    CHECK_MSG(!g && err == SONO_E_UNSUPPORTED, "n_fft == hop accepted (err %d)", err);
    sn_train_graph_free(g);
}

int main(void) {
    tu_seed(20261207);
    istft_check();
    sinusoid_check(0);
    sinusoid_check(1);
    fd_graph();
    fd_latents();
    fast_vs_ref();
    table_check();
    init_check();
    load_check();
    thread_check();
    env_check();
    return tu_finish("train-vocos");
}
