/* The codec's training graph (codec/train_graph.c), whole model.
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
 *         let through (train_graph_set_commit_all_layers), because the
 *         straight-through gradient is by design not the derivative of the
 *         loss (the codes are piecewise constant in the encoder's weights).
 *      An element whose perturbation flips any code is skipped (counted).
 *    Central differences at h and h/2 combined (Richardson); the forward is
 *    float32, so the error allowed is FD_RTOL relative plus an absolute
 *    max(FD_ATOL, FD_ATOL_SCALE * the model's largest gradient element):
 *    gradients far below the model's scale are not judged on float noise. */
#include "test_util.h"
#include "train_graph.h"
#include "tensors.h"
#include "sonotok/error.h"

#define GRAD_TOL 1e-4
#define FD_RTOL 2e-2
#define FD_ATOL 2e-5
#define FD_ATOL_SCALE 1e-3 /* of the largest gradient element of the model */

static int load_cfg(const char *dir, const char *name, codec_config *cfg, sono_tensors **ts) {
    char p[4096];
    uint8_t *buf;
    size_t n;
    snprintf(p, sizeof p, "%s/%s.json", dir, name);
    int rc = sono_read_file(p, 1 << 20, &buf, &n);
    if (rc) return rc;
    rc = codec_config_from_json((const char *)buf, cfg);
    free(buf);
    if (rc) return rc;
    snprintf(p, sizeof p, "%s/%s.th", dir, name);
    return sono_th_load(p, ts);
}

/* commit_weight * commitment + mean(x_hat * R) (R NULL: no reconstruction term) */
static double loss_at(train_graph *g, const float *x, const float *R, size_t nx, float wc) {
    train_losses L;
    train_graph_forward(g, x, 0.0f, wc, &L);
    double s = 0;
    const float *y = train_graph_output(g);
    for (size_t i = 0; R && i < nx; i++) s += (double)y[i] * R[i];
    return L.total + s / (double)nx;
}

static int codes_same(train_graph *g, const int32_t *ref, int n_q, size_t per_q) {
    for (int q = 0; q < n_q; q++)
        if (memcmp(train_graph_indices(g, q), ref + q * per_q, per_q * sizeof(int32_t))) return 0;
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
    train_graph *g = train_graph_new(&cfg, B, T, n_q, &err);
    CHECK_MSG(g != NULL, "%s: train_graph_new: %s", what, sono_strerror(err));
    if (!g) { sono_tensors_free(ts); return; }
    CHECK(train_graph_load(g, ts) == 0);
    CHECK(train_graph_output_len(g) == T);
    train_graph_set_commit_all_layers(g, commit_all);
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
    const train_param *tab = train_graph_param_table(g, &np);
    float *p = train_graph_params(g), *gr = train_graph_grads(g);
    train_graph_zero_grad(g);
    loss_at(g, x, R, nx, wc);
    train_graph_backward(g, dR);
    size_t per_q = (size_t)B * train_graph_frames(g);
    int32_t *codes = malloc((n_q ? n_q : 1) * per_q * sizeof *codes);
    for (int q = 0; q < n_q; q++) memcpy(codes + q * per_q, train_graph_indices(g, q), per_q * sizeof *codes);
    int done = 0, skipped = 0, tries = 0;
    double worst = 0, gmax = 0;
    for (size_t k = 0; k < train_graph_n_floats(g); k++) gmax = fmax(gmax, fabs(gr[k]));
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
    train_graph_free(g);
    sono_tensors_free(ts);
}

static const float *fx(const sono_tensors *f, const char *name, size_t numel) {
    const sono_tensor *t = sono_tensors_find(f, name);
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
    int rc = sono_safetensors_load(p, &f);
    CHECK_MSG(!rc, "%s: %s", p, sono_strerror(rc));
    if (rc) return;
    codec_config cfg;
    rc = load_cfg(codec_dir, name, &cfg, &ts);
    CHECK(!rc);
    const sono_tensor *in = sono_tensors_find(f, "input");
    CHECK(in && in->ndim == 3);
    if (rc || !in || in->ndim != 3) { sono_tensors_free(f); sono_tensors_free(ts); return; }
    const int B = (int)in->shape[0], T = (int)in->shape[2];
    const sono_tensor *cq = sono_tensors_find(f, "commit_q");
    int n_q = cq ? (int)cq->numel : 0, err = 0;
    train_graph *g = rc ? NULL : train_graph_new(&cfg, B, T, n_q, &err);
    CHECK(g != NULL);
    if (!g) { sono_tensors_free(f); sono_tensors_free(ts); return; }
    CHECK(train_graph_load(g, ts) == 0);
    const float *x = fx(f, "input", (size_t)B * cfg.channels * T);
    if (x) {
        train_losses L;
        train_graph_zero_grad(g);
        train_graph_forward(g, x, 1.0f, 1.0f, &L);
        printf("%s vs PyTorch autograd (B=%d, T=%d, n_q=%d; arena %zu bytes):\n", name, B, T, n_q,
               train_graph_arena_bytes(g));
        int F = train_graph_frames(g);
        const float *codes = fx(f, "codes", (size_t)n_q * B * F);
        if (codes) {
            int bad = 0;
            for (int q = 0; q < n_q; q++) {
                const int32_t *ix = train_graph_indices(g, q);
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
        train_graph_backward(g, NULL);
        int np;
        const train_param *tab = train_graph_param_table(g, &np);
        const float *gr = train_graph_grads(g);
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
        size_t nf = train_graph_n_floats(g);
        float *g1 = malloc(nf * sizeof *g1);
        memcpy(g1, gr, nf * sizeof *g1);
        train_graph_forward(g, x, 1.0f, 1.0f, &L);
        train_graph_backward(g, NULL);
        size_t bad = 0;
        double gmax = 0;
        for (size_t k = 0; k < nf; k++) gmax = fmax(gmax, fabs(g1[k]));
        /* float sums: (g + a) + b is not g + (a + b), so not bit-exact */
        for (size_t k = 0; k < nf; k++) bad += fabs(gr[k] - 2.0 * g1[k]) > 1e-5 * fabs(g1[k]) + 1e-6 * gmax;
        CHECK_MSG(bad == 0, "%s: %zu gradients did not accumulate", name, bad);
        free(g1);
    }
    train_graph_free(g);
    sono_tensors_free(ts);
    sono_tensors_free(f);
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
    return tu_finish("train-graph");
}
