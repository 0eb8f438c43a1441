/* The codec's training graph (codec/train/train_graph.c), whole model.
 *
 * 1. Against PyTorch autograd: tests/ref/make_grad_fixture.py runs the
 *    reference EncodecModel (tiny24: causal, weight norm, 2-layer LSTM, two
 *    residual layers; tiny48: non-causal, GroupNorm, identity skips, stereo)
 *    in train mode on a fixed batch (B=2, T=320/300, n_q=4) with
 *    L = mean|x_hat - x| + 1.0 * commitment (straight-through RVQ) and stores
 *    the losses, the codes and the gradient of every parameter. Here: same
 *    weights (NAME.th), same batch; codes must match exactly, losses to
 *    1e-5 relative, and every gradient tensor to a normalised error
 *    (max|c - ref| / max|ref|) of at most GRAD_TOL. A second forward and
 *    backward without zeroing must double every gradient (accumulation).
 * 2. Finite differences of the whole loss for randomly chosen parameter
 *    elements (seed printed; SONO_TEST_SEED to change). The waveform L1 has
 *    a kink at every sample where x_hat crosses x, and with steps large
 *    enough to beat float32 rounding the central differences straddle many
 *    of them, so here the reconstruction loss is a smooth one,
 *    mean(x_hat * R) for a fixed random R, fed in through the backward's
 *    extra_dout (L1 weight 0); the L1 gradient itself is checked in 1.
 *      a. tiny24 and tiny48 (non-causal, GroupNorm, identity skips, stereo)
 *         with the quantizer off (n_q = 0: the decoder reads the latents),
 *         so the loss is differentiable everywhere but at L1 kinks;
 *      b. tiny24 with n_q = 4: decoder parameters with the full loss; encoder
 *         parameters with no reconstruction loss and every codebook's commitment
 *         let through (sn_train_graph_set_commit_all_layers), because the
 *         straight-through gradient is by design not the derivative of the
 *         loss (the codes are piecewise constant in the encoder's weights).
 *      An element whose perturbation flips any code is skipped (counted).
 *    Central differences at h and h/2 combined (Richardson); the forward is
 *    float32, so the error allowed is FD_RTOL relative plus an absolute
 *    max(FD_ATOL, FD_ATOL_SCALE * the model's largest gradient element):
 *    gradients far below the model's scale are not judged on float noise.
 * 3. Fast kernels vs the plain _ref ones (sn_train_graph_set_ref_kernels) on
 *    tiny24 and tiny48: same codes, outputs and gradients to FAST_TOL
 *    normalised (float vs double sums, different summation order).
 * 4. Quantizer dropout: n_q = 4 with sn_train_graph_set_active_q(g, k) gives the
 *    same losses, output and gradients as a graph built with n_q = k (bit for
 *    bit: the same operations), for k = 1..4, with and without every
 *    codebook's commitment; residuals and indices of inactive codebooks stay
 *    as the last full forward left them.
 * 5. sn_train_graph_init_params: PyTorch's init rules checked from the
 *    parameter table alone (bound 1/sqrt(shape[1] * shape[2]) for conv and
 *    transposed-conv weights and their biases, 1/sqrt(H) for the LSTM; the
 *    values reach near the bound and have the std of a uniform, g = row norms
 *    of v), deterministic in the seed. sn_train_graph_data_init on a random-init
 *    tiny24: latents of std 1 (mean 0 per channel), the decoder output of the
 *    target std, and latents that vary over time (with the default init alone
 *    they are printed for comparison).
 * 6. Two graphs stepped at the same time on two OpenMP threads (as the
 *    trainer does) give bit for bit what they give one after the other:
 *    the kernels share no scratch or state. */
#include "test_util.h"
#include "train_graph.h"
#include "graph_check.h"
#include "tensors.h"
#include "sono_internal.h"
#include "sonotok/error.h"

#define GRAD_TOL 1e-4
#define FAST_TOL 1e-5
#define FD_RTOL 2e-2
#define FD_ATOL 2e-5
#define FD_ATOL_SCALE 1e-3 /* of the largest gradient element of the model */

static int load_cfg(const char *dir, const char *name, codec_config *cfg, sono_tensors **ts) {
    char p[4096];
    uint8_t *buf;
    size_t n;
    snprintf(p, sizeof p, "%s/%s.json", dir, name);
    int rc = sn_read_file(p, 1 << 20, &buf, &n);
    if (rc) return rc;
    rc = sn_codec_config_from_json((const char *)buf, cfg);
    free(buf);
    if (rc) return rc;
    snprintf(p, sizeof p, "%s/%s.th", dir, name);
    return sn_th_load(p, ts);
}

/* commit_weight * commitment + mean(x_hat * R) (R NULL: no reconstruction term) */
static double loss_at(train_graph *g, const float *x, const float *R, size_t nx, float wc) {
    train_losses L;
    sn_train_graph_forward(g, x, 0.0f, wc, &L);
    double s = 0;
    const float *y = sn_train_graph_output(g);
    for (size_t i = 0; R && i < nx; i++) s += (double)y[i] * R[i];
    return L.total + s / (double)nx;
}

static int codes_same(train_graph *g, const int32_t *ref, int n_q, size_t per_q) {
    for (int q = 0; q < n_q; q++)
        if (memcmp(sn_train_graph_indices(g, q), ref + q * per_q, per_q * sizeof(int32_t))) return 0;
    return 1;
}

/* FD check of n_check random elements of parameters whose name starts with
 * prefix ("" for all). */
static void fd_check(const char *what, const char *dir, const char *cfgname, int B, int T, int n_q, int commit_all,
                     const char *prefix, int recon, float wc, int n_check) {
    codec_config cfg;
    sono_tensors *ts = NULL;
    int rc = load_cfg(dir, cfgname, &cfg, &ts), err = 0;
    CHECK_MSG(!rc, "%s: cannot load %s (%s)", what, cfgname, sono_strerror(rc));
    if (rc) return;
    train_graph *g = sn_train_graph_new(&cfg, B, T, n_q, &err);
    CHECK_MSG(g != NULL, "%s: sn_train_graph_new: %s", what, sono_strerror(err));
    if (!g) { sn_tensors_free(ts); return; }
    CHECK(sn_train_graph_load(g, ts) == 0);
    CHECK(sn_train_graph_output_len(g) == T);
    sn_train_graph_set_commit_all_layers(g, commit_all);
    size_t nx = (size_t)B * cfg.channels * T;
    float *x = malloc(nx * sizeof *x);
    for (size_t i = 0; i < nx; i++) x[i] = 0.3f * sinf(0.07f * (float)i * (1 + (float)(i % 3))) + tu_uniform(-0.2f, 0.2f);
    float *R = NULL, *dR = NULL;
    if (recon) {
        R = malloc(nx * sizeof *R);
        dR = malloc(nx * sizeof *dR);
        tu_fill(R, nx, -1.0f, 1.0f);
        for (size_t i = 0; i < nx; i++) dR[i] = (float)(R[i] / (double)nx);
    }
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    float *p = sn_train_graph_params(g), *gr = sn_train_graph_grads(g);
    sn_train_graph_zero_grad(g);
    loss_at(g, x, R, nx, wc);
    sn_train_graph_backward(g, dR);
    size_t per_q = (size_t)B * sn_train_graph_frames(g);
    int32_t *codes = malloc((n_q ? n_q : 1) * per_q * sizeof *codes);
    for (int q = 0; q < n_q; q++) memcpy(codes + q * per_q, sn_train_graph_indices(g, q), per_q * sizeof *codes);
    int done = 0, skipped = 0, tries = 0;
    double worst = 0, gmax = 0;
    for (size_t k = 0; k < sn_train_graph_n_floats(g); k++) gmax = fmax(gmax, fabs(gr[k]));
    const double atol = fmax(FD_ATOL, FD_ATOL_SCALE * gmax);
    while (done < n_check && tries++ < 50 * n_check) {
        int i = (int)(tu_rand() % (uint64_t)np);
        if (strncmp(tab[i].name, prefix, strlen(prefix))) continue;
        size_t e = tab[i].offset + (size_t)(tu_rand() % tab[i].numel);
        float p0 = p[e], h = 1e-3f;
        double D[2];
        int flip = 0;
        for (int k = 0; k < 2; k++, h *= 0.5f) {
            p[e] = p0 + h;
            double lp = loss_at(g, x, R, nx, wc);
            flip |= !codes_same(g, codes, n_q, per_q);
            p[e] = p0 - h;
            double lm = loss_at(g, x, R, nx, wc);
            flip |= !codes_same(g, codes, n_q, per_q);
            D[k] = (lp - lm) / (double)((p0 + h) - (p0 - h));
        }
        p[e] = p0;
        if (flip) { skipped++; continue; }
        double num = (4 * D[1] - D[0]) / 3, an = gr[e];
        double d = fabs(an - num), tol = FD_RTOL * fmax(fabs(an), fabs(num)) + atol;
        if (d / tol > worst) worst = d / tol;
        if (getenv("TG_VERBOSE") && d / tol > 0.3) printf("  %s[%zu] an %.7g num %.7g D %.7g %.7g\n", tab[i].name, e - tab[i].offset, an, num, D[0], D[1]);
        CHECK_MSG(d <= tol, "%s: %s[%zu]: analytic %.7g, numeric %.7g", what, tab[i].name, e - tab[i].offset, an, num);
        done++;
    }
    printf("%s: %d elements checked (%d skipped: a code flipped), worst error / tolerance %.3f (atol %.2g)\n", what,
           done, skipped, worst, atol);
    CHECK(done == n_check);
    free(codes);
    free(x);
    free(R);
    free(dR);
    sn_train_graph_free(g);
    sn_tensors_free(ts);
}

static const float *fx(const sono_tensors *f, const char *name, size_t numel) {
    const sono_tensor *t = sn_tensors_find(f, name);
    CHECK_MSG(t && (size_t)t->numel == numel, "fixture tensor %s missing or of the wrong size", name);
    return t && (size_t)t->numel == numel ? t->data : NULL;
}

static int rel_ok(const char *what, double c, double ref, double tol) {
    double d = fabs(c - ref) / fmax(fabs(ref), 1e-12);
    printf("  %-12s C %.9g  ref %.9g  rel %.2g\n", what, c, ref, d);
    CHECK_MSG(d <= tol, "%s: %.9g vs reference %.9g", what, c, ref);
    return d <= tol;
}

static void ref_check(const char *codec_dir, const char *train_dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s_grad.safetensors", train_dir, name);
    sono_tensors *f = NULL, *ts = NULL;
    int rc = sn_safetensors_load(p, &f);
    CHECK_MSG(!rc, "%s: %s", p, sono_strerror(rc));
    if (rc) return;
    codec_config cfg;
    rc = load_cfg(codec_dir, name, &cfg, &ts);
    CHECK(!rc);
    const sono_tensor *in = sn_tensors_find(f, "input");
    CHECK(in && in->ndim == 3);
    if (rc || !in || in->ndim != 3) { sn_tensors_free(f); sn_tensors_free(ts); return; }
    const int B = (int)in->shape[0], T = (int)in->shape[2];
    const sono_tensor *cq = sn_tensors_find(f, "commit_q");
    int n_q = cq ? (int)cq->numel : 0, err = 0;
    train_graph *g = rc ? NULL : sn_train_graph_new(&cfg, B, T, n_q, &err);
    CHECK(g != NULL);
    if (!g) { sn_tensors_free(f); sn_tensors_free(ts); return; }
    CHECK(sn_train_graph_load(g, ts) == 0);
    const float *x = fx(f, "input", (size_t)B * cfg.channels * T);
    if (x) {
        train_losses L;
        sn_train_graph_zero_grad(g);
        sn_train_graph_forward(g, x, 1.0f, 1.0f, &L);
        printf("%s vs PyTorch autograd (B=%d, T=%d, n_q=%d; arena %zu bytes):\n", name, B, T, n_q,
               sn_train_graph_arena_bytes(g));
        int F = sn_train_graph_frames(g);
        const float *codes = fx(f, "codes", (size_t)n_q * B * F);
        if (codes) {
            int bad = 0;
            for (int q = 0; q < n_q; q++) {
                const int32_t *ix = sn_train_graph_indices(g, q);
                for (int i = 0; i < B * F; i++) bad += ix[i] != (int32_t)codes[q * B * F + i];
            }
            printf("  codes: %d of %d differ\n", bad, n_q * B * F);
            CHECK_MSG(bad == 0, "%d codes differ from the reference", bad);
        }
        const float *l1 = fx(f, "loss_l1", 1), *lc = fx(f, "loss_commit", 1), *lt = fx(f, "loss_total", 1);
        if (l1) rel_ok("loss_l1", L.l1, l1[0], 1e-5);
        if (lc) rel_ok("commit", L.commit, lc[0], 1e-5);
        if (lt) rel_ok("total", L.total, lt[0], 1e-5);
        for (int q = 0; cq && q < n_q; q++) {
            char nm[32];
            snprintf(nm, sizeof nm, "commit_q[%d]", q);
            rel_ok(nm, L.commit_q[q], cq->data[q], 1e-5);
        }
        sn_train_graph_backward(g, NULL);
        int np;
        const train_param *tab = sn_train_graph_param_table(g, &np);
        const float *gr = sn_train_graph_grads(g);
        double worst = 0;
        const char *worst_name = "";
        int n_ref = 0;
        for (int i = 0; i < f->n; i++) n_ref += !strncmp(f->t[i].name, "grad.", 5);
        CHECK_MSG(n_ref == np, "fixture has %d gradients, the graph %d parameters", n_ref, np);
        for (int i = 0; i < np; i++) {
            char nm[128];
            snprintf(nm, sizeof nm, "grad.%s", tab[i].name);
            const float *r = fx(f, nm, tab[i].numel);
            if (!r) continue;
            double md = 0, mr = 0;
            for (size_t k = 0; k < tab[i].numel; k++) {
                md = fmax(md, fabs((double)gr[tab[i].offset + k] - r[k]));
                mr = fmax(mr, fabs(r[k]));
            }
            double ne = mr > 0 ? md / mr : md;
            printf("  %-44s max abs %.3g  normalised %.3g\n", tab[i].name, md, ne);
            CHECK_MSG(ne <= GRAD_TOL, "%s: normalised gradient error %.3g", tab[i].name, ne);
            if (ne > worst) { worst = ne; worst_name = tab[i].name; }
        }
        printf("  worst normalised gradient error %.3g (%s), tolerance %g\n", worst, worst_name, GRAD_TOL);
        /* backward accumulates: a second step without zeroing doubles every gradient */
        size_t nf = sn_train_graph_n_floats(g);
        float *g1 = malloc(nf * sizeof *g1);
        memcpy(g1, gr, nf * sizeof *g1);
        sn_train_graph_forward(g, x, 1.0f, 1.0f, &L);
        sn_train_graph_backward(g, NULL);
        size_t bad = 0;
        double gmax = 0;
        for (size_t k = 0; k < nf; k++) gmax = fmax(gmax, fabs(g1[k]));
        /* float sums: (g + a) + b is not g + (a + b), so not bit-exact */
        for (size_t k = 0; k < nf; k++) bad += fabs(gr[k] - 2.0 * g1[k]) > 1e-5 * fabs(g1[k]) + 1e-6 * gmax;
        CHECK_MSG(bad == 0, "%s: %zu gradients did not accumulate", name, bad);
        free(g1);
    }
    sn_train_graph_free(g);
    sn_tensors_free(ts);
    sn_tensors_free(f);
}

static train_graph *load_graph(const char *dir, const char *name, int B, int T, int n_q, codec_config *cfg) {
    sono_tensors *ts = NULL;
    int rc = load_cfg(dir, name, cfg, &ts), err = 0;
    CHECK_MSG(!rc, "cannot load %s (%s)", name, sono_strerror(rc));
    if (rc) return NULL;
    train_graph *g = sn_train_graph_new(cfg, B, T, n_q, &err);
    CHECK_MSG(g != NULL, "sn_train_graph_new: %s", sono_strerror(err));
    if (g) CHECK(sn_train_graph_load(g, ts) == 0);
    sn_tensors_free(ts);
    return g;
}

static float *test_audio(size_t n) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = 0.3f * sinf(0.05f * (float)i * (1 + (float)(i % 5))) + tu_uniform(-0.2f, 0.2f);
    return x;
}

static void fast_vs_ref(const char *dir, const char *name, int B, int T, int n_q) {
    codec_config cfg;
    train_graph *g = load_graph(dir, name, B, T, n_q, &cfg);
    if (!g) return;
    float *x = test_audio((size_t)B * cfg.channels * T);
    graph_fast_vs_ref(g, x, n_q, B, cfg.channels, name, FAST_TOL);
    free(x);
    sn_train_graph_free(g);
}

static void active_q_check(const char *dir, int commit_all) {
    const int B = 2, T = 320, NQ = 4;
    codec_config cfg;
    train_graph *ga = load_graph(dir, "tiny24", B, T, NQ, &cfg);
    if (!ga) return;
    size_t nx = (size_t)B * T, no = (size_t)B * sn_train_graph_output_len(ga), nf = sn_train_graph_n_floats(ga);
    size_t per_q = (size_t)B * sn_train_graph_frames(ga), nr = per_q * cfg.dimension;
    float *x = test_audio(nx);
    sn_train_graph_set_commit_all_layers(ga, commit_all);
    for (int k = 1; k <= NQ; k++) {
        train_graph *gb = load_graph(dir, "tiny24", B, T, k, &cfg);
        if (!gb) break;
        sn_train_graph_set_commit_all_layers(gb, commit_all);
        train_losses La, Lb;
        sn_train_graph_set_active_q(ga, NQ);
        sn_train_graph_forward(ga, x, 1.0f, 1.0f, &La); /* a full forward first: leaves all residuals */
        int32_t *idx_full = malloc((size_t)NQ * per_q * sizeof *idx_full);
        float *res_full = malloc((size_t)NQ * nr * sizeof *res_full);
        for (int q = 0; q < NQ; q++) {
            memcpy(idx_full + q * per_q, sn_train_graph_indices(ga, q), per_q * sizeof *idx_full);
            memcpy(res_full + q * nr, sn_train_graph_residual(ga, q), nr * sizeof *res_full);
        }
        sn_train_graph_set_active_q(ga, k);
        CHECK(sn_train_graph_active_q(ga) == k);
        sn_train_graph_zero_grad(ga);
        sn_train_graph_zero_grad(gb);
        sn_train_graph_forward(ga, x, 1.0f, 0.7f, &La);
        sn_train_graph_forward(gb, x, 1.0f, 0.7f, &Lb);
        sn_train_graph_backward(ga, NULL);
        sn_train_graph_backward(gb, NULL);
        int same = La.total == Lb.total && La.commit == Lb.commit && La.l1 == Lb.l1;
        for (int q = 0; q < k; q++) same &= La.commit_q[q] == Lb.commit_q[q];
        same &= !memcmp(sn_train_graph_output(ga), sn_train_graph_output(gb), no * sizeof(float));
        same &= !memcmp(sn_train_graph_grads(ga), sn_train_graph_grads(gb), nf * sizeof(float));
        for (int q = 0; q < k; q++) same &= !memcmp(sn_train_graph_indices(ga, q), sn_train_graph_indices(gb, q), per_q * 4);
        int untouched = 1;
        for (int q = k; q < NQ; q++) {
            untouched &= La.commit_q[q] == 0;
            untouched &= !memcmp(sn_train_graph_indices(ga, q), idx_full + q * per_q, per_q * sizeof *idx_full);
            untouched &= !memcmp(sn_train_graph_residual(ga, q), res_full + q * nr, nr * sizeof *res_full);
        }
        printf("active_q %d of %d (commit_all %d): %s as n_q = %d; inactive codebooks %s\n", k, NQ, commit_all,
               same ? "the same" : "NOT the same", k, untouched ? "untouched" : "CHANGED");
        CHECK_MSG(same, "active_q %d differs from a graph with n_q %d", k, k);
        CHECK_MSG(untouched, "active_q %d changed inactive codebooks' state", k);
        free(idx_full);
        free(res_full);
        sn_train_graph_free(gb);
    }
    free(x);
    sn_train_graph_free(ga);
}

static double stdev(const float *v, size_t n, double *mean_out) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    double m = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += ((double)v[i] - m) * ((double)v[i] - m);
    if (mean_out) *mean_out = m;
    return sqrt(s2 / (double)n);
}

/* mean over crops and channels of the std over frames of z [B][D][F] */
static double temporal_std(const float *z, int B, int D, int F) {
    double s = 0;
    for (int i = 0; i < B * D; i++) s += stdev(z + (size_t)i * F, (size_t)F, NULL);
    return s / (B * D);
}

static void init_check(const char *dir) {
    const int B = 2, T = 960;
    codec_config cfg;
    train_graph *g = load_graph(dir, "tiny24", B, T, 4, &cfg);
    if (!g) return;
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    size_t nf = sn_train_graph_n_floats(g);
    float *p = sn_train_graph_params(g);
    sn_train_graph_init_params(g, 77);
    float *p1 = malloc(nf * sizeof *p1);
    memcpy(p1, p, nf * sizeof *p1);
    sn_train_graph_init_params(g, 77);
    CHECK_MSG(!memcmp(p, p1, nf * sizeof *p1), "init_params is not deterministic");
    sn_train_graph_init_params(g, 78);
    CHECK_MSG(memcmp(p, p1, nf * sizeof *p1) != 0, "init_params ignores its seed");
    sn_train_graph_init_params(g, 77);
    int bad = 0;
    double bound_w = 0;
    for (int i = 0; i < np; i++) {
        const train_param *t = &tab[i];
        const float *v = p + t->offset;
        const char *nm = t->name;
        size_t L = strlen(nm);
        int is_lstm = strstr(nm, ".lstm.") != NULL, is_norm = strstr(nm, ".norm.") != NULL;
        int is_g = L > 9 && !strcmp(nm + L - 9, ".weight_g");
        double bound;
        if (is_norm) {
            float want = strstr(nm, ".weight") ? 1.0f : 0.0f;
            for (size_t k = 0; k < t->numel; k++) bad += v[k] != want;
            continue;
        }
        if (is_lstm) bound = 1.0 / sqrt((double)(strstr(nm, "bias") ? t->shape[0] / 4 : t->shape[1]));
        else if (t->ndim == 3 && !is_g) bound = bound_w = 1.0 / sqrt((double)t->shape[1] * t->shape[2]);
        else if (is_g) {
            /* g = row norms of the v that follows it */
            const train_param *tv = &tab[i + 1];
            size_t rows = (size_t)tv->shape[0], inner = tv->numel / rows;
            for (size_t r = 0; r < rows; r++) {
                double s2 = 0;
                for (size_t k = 0; k < inner; k++) s2 += (double)p[tv->offset + r * inner + k] * p[tv->offset + r * inner + k];
                bad += fabs(v[r] - sqrt(s2)) > 1e-5 * sqrt(s2);
            }
            continue;
        } else bound = bound_w; /* conv bias: the bound of the weight before it */
        double mx = 0;
        for (size_t k = 0; k < t->numel; k++) mx = fmax(mx, fabs(v[k]));
        int ok = mx <= bound;
        if (t->numel >= 64) ok &= mx >= 0.85 * bound;
        if (t->numel >= 2000) {
            double sd = stdev(v, t->numel, NULL);
            ok &= fabs(sd / (bound / sqrt(3.0)) - 1) < 0.1;
        }
        if (!ok) printf("  init: %s: max %.4g, bound %.4g\n", nm, mx, bound);
        bad += !ok;
    }
    CHECK_MSG(bad == 0, "%d parameter values break PyTorch's init rules", bad);
    /* data-dependent init */
    size_t nx = (size_t)B * T;
    float *x = test_audio(nx);
    for (size_t i = 0; i < nx; i++) x[i] *= 0.3f;
    int D = cfg.dimension, F = sn_train_graph_frames(g);
    train_losses L;
    sn_train_graph_forward(g, x, 1.0f, 1.0f, &L); /* codebooks from the file: fine for a look at the latents */
    double z_sd0 = stdev(sn_train_graph_latents(g), (size_t)B * D * F, NULL);
    double z_t0 = temporal_std(sn_train_graph_latents(g), B, D, F);
    double x_sd = stdev(x, nx, NULL);
    CHECK(sn_train_graph_data_init(g, x, (float)x_sd) == 0);
    CHECK(sn_train_graph_backward(g, NULL) != 0); /* data init leaves no forward to backpropagate */
    const float *z = sn_train_graph_latents(g);
    double z_sd = stdev(z, (size_t)B * D * F, NULL), z_t = temporal_std(z, B, D, F), worst_mean = 0;
    for (int d = 0; d < D; d++) {
        double s = 0;
        for (int b = 0; b < B; b++)
            for (int f = 0; f < F; f++) s += z[((size_t)b * D + d) * F + f];
        worst_mean = fmax(worst_mean, fabs(s / (B * F)));
    }
    int Lo = sn_train_graph_output_len(g);
    double y_sd = stdev(sn_train_graph_output(g), (size_t)B * Lo, NULL);
    printf("init: default init latents std %.3g (over time %.3g); after data init std %.6f (over time %.3g, worst "
           "channel mean %.2g), output std %.6f for target %.6f\n", z_sd0, z_t0, z_sd, z_t, worst_mean, y_sd, x_sd);
    CHECK_MSG(fabs(z_sd - 1) < 1e-3, "latents std %.6f after data init", z_sd);
    CHECK_MSG(worst_mean < 1e-3, "latent channel mean %.3g after data init", worst_mean);
    CHECK_MSG(z_t > 0.2, "latents nearly constant over time after data init (%.3g)", z_t);
    CHECK_MSG(fabs(y_sd / x_sd - 1) < 1e-3, "output std %.6f, target %.6f", y_sd, x_sd);
    /* and training runs from there */
    CHECK(sn_train_graph_forward(g, x, 1.0f, 1.0f, &L) == 0 && isfinite(L.total));
    CHECK(sn_train_graph_backward(g, NULL) == 0);
    free(p1);
    free(x);
    sn_train_graph_free(g);
}

static void thread_check(const char *dir) {
    const int B = 2, T = 640;
    codec_config cfg;
    train_graph *g[2] = {load_graph(dir, "tiny48", B, T, 4, &cfg), NULL};
    g[1] = load_graph(dir, "tiny48", B, T, 4, &cfg);
    if (!g[0] || !g[1]) { sn_train_graph_free(g[0]); sn_train_graph_free(g[1]); return; }
    size_t nx = (size_t)B * cfg.channels * T;
    float *x[2] = {test_audio(nx), test_audio(nx)};
    int same = graphs_same_on_threads(g, x, 3);
    printf("two graphs on two threads: gradients %s as one after the other\n", same ? "the same" : "NOT the same");
    CHECK_MSG(same, "graphs stepped on two threads differ from sequential steps");
    for (int i = 0; i < 2; i++) { free(x[i]); sn_train_graph_free(g[i]); }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s CODEC_DATA_DIR TRAIN_DATA_DIR\n", argv[0]); return 1; }
    tu_seed(20261126);
    ref_check(argv[1], argv[2], "tiny24");
    ref_check(argv[1], argv[2], "tiny48");
    fd_check("fd tiny24 n_q=0", argv[1], "tiny24", 2, 96, 0, 0, "", 1, 0.0f, 40);
    fd_check("fd tiny48 n_q=0", argv[1], "tiny48", 2, 100, 0, 0, "", 1, 0.0f, 40);
    fd_check("fd tiny24 n_q=4 decoder", argv[1], "tiny24", 2, 96, 4, 0, "decoder.", 1, 1.0f, 20);
    fd_check("fd tiny24 n_q=4 encoder commit", argv[1], "tiny24", 2, 96, 4, 1, "encoder.", 0, 1.0f, 20);
    fast_vs_ref(argv[1], "tiny24", 2, 640, 4);
    fast_vs_ref(argv[1], "tiny48", 2, 600, 4);
    active_q_check(argv[1], 0);
    active_q_check(argv[1], 1);
    init_check(argv[1]);
    thread_check(argv[1]);
    return tu_finish("train-graph");
}
