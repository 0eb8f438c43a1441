/* The Vocos decoder head (notes/vocos_spec.md) at inference: a tiny random
 * model written here as a native model file, decoded by the library and by a
 * plain double-precision version of the spec written below (direct
 * convolutions, LayerNorm, erf GELU, an O(N^2) inverse DFT, overlap-add and
 * the window envelope); streaming in pieces against one push; thread counts;
 * a missing or misshapen head tensor refused by name; save and load; the
 * training graph's head (codec/train/vocos_train.c) on the same weights;
 * encode -> decode through the public API; the MAC count; a config whose
 * window envelope vanishes refused.
 *
 * usage: test-vocos-decode
 *        test-vocos-decode --bench-model SRC.safetensors OUT.safetensors
 * The second form writes OUT: SRC's encoder and codebooks with a random
 * Vocos head of the default size (training's initialisation), for
 * `sonotok bench -m OUT`. */
#include <unistd.h>
#include "codec_internal.h"
#include "sonotok/sonotok.h"
#include "tensors.h"
#include "test_util.h"
#include "vocos_train.h"

/* D 8, dim 16, inter 24, L 2, K 7, hop 8 (ratios 2, 4), n_fft 32 */
static const char *const tiny_json =
    "{\"name\": \"tinyvocos\", \"sample_rate\": 8000, \"channels\": 1, \"causal\": 0, \"norm\": \"weight_norm\","
    " \"pad_mode\": \"reflect\", \"n_filters\": 4, \"dimension\": 8, \"ratios\": [2, 4], \"kernel_size\": 7,"
    " \"last_kernel_size\": 7, \"residual_kernel_size\": 3, \"n_residual_layers\": 1, \"dilation_base\": 2,"
    " \"compress\": 2, \"lstm\": 0, \"true_skip\": 0, \"codebook_size\": 16, \"n_q\": 4, \"bandwidths\": [4, 16],"
    " \"decoder\": \"vocos\", \"vocos_dim\": 16, \"vocos_intermediate\": 24, \"vocos_layers\": 2,"
    " \"vocos_kernel\": 7, \"vocos_n_fft\": 32}";

/* ---- a model file: named tensors collected, then written ---- */

#define MAX_T 512
typedef struct {
    int n;
    char *name[MAX_T];
    int nd[MAX_T];
    int64_t shape[MAX_T][SONO_MAX_DIMS];
    float *data[MAX_T];
} tlist;

static float *tl_add(tlist *l, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2) {
    if (l->n == MAX_T) return NULL;
    int i = l->n++;
    l->name[i] = strdup(name);
    l->nd[i] = nd;
    int64_t d[3] = {d0, d1, d2}, numel = 1;
    for (int k = 0; k < nd; k++) numel *= (l->shape[i][k] = d[k]);
    l->data[i] = calloc((size_t)numel, sizeof(float));
    return l->data[i];
}

static float *tl_get(const tlist *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], name)) return l->data[i];
    return NULL;
}

static void tl_free(tlist *l) {
    for (int i = 0; i < l->n; i++) { free(l->name[i]); free(l->data[i]); }
    l->n = 0;
}

/* Write l (all but the tensor named skip) with cfg's JSON in __metadata__. */
static int tl_save(const tlist *l, const codec_config *cfg, const char *path, const char *skip) {
    const char *names[MAX_T];
    int nd[MAX_T], n = 0;
    int64_t sh[MAX_T][SONO_MAX_DIMS];
    const float *data[MAX_T];
    for (int i = 0; i < l->n; i++) {
        if (skip && !strcmp(l->name[i], skip)) continue;
        names[n] = l->name[i];
        nd[n] = l->nd[i];
        memcpy(sh[n], l->shape[i], sizeof sh[n]);
        data[n++] = l->data[i];
    }
    char *cj = sn_codec_config_to_json(cfg);
    size_t len = 2 * strlen(cj) + 64;
    char *meta = malloc(len);
    int o = snprintf(meta, len, "{\"format\": \"sonotok-codec\", \"config\": \"");
    for (const char *s = cj; *s; s++) {
        if (*s == '"' || *s == '\\') meta[o++] = '\\';
        meta[o++] = *s;
    }
    snprintf(meta + o, len - (size_t)o, "\"}");
    sono_tensors *ts = NULL;
    int rc = sn_tensors_create(&ts, n, names, nd, (const int64_t (*)[SONO_MAX_DIMS])sh, data);
    if (!rc) rc = sn_safetensors_save(path, ts, meta, 0);
    if (rc) fprintf(stderr, "writing %s: %s\n", path, sono_last_error());
    sn_tensors_free(ts);
    free(meta);
    free(cj);
    return rc;
}

/* The encoder's tensors (plain conv weights: weight norm already folded),
 * random, small. */
static int add_enc_layer(const seanet_layer *y, void *user) {
    tlist *l = user;
    char nm[160];
    if (y->kind == SEANET_LSTM) return 1; /* the tiny config has none */
    if (y->kind != SEANET_CONV) return 0;
    snprintf(nm, sizeof nm, "%s.weight", y->param);
    float *w = tl_add(l, nm, 3, y->C_out, y->C_in, y->K);
    tu_fill(w, (size_t)y->C_out * y->C_in * y->K, -0.3f, 0.3f);
    snprintf(nm, sizeof nm, "%s.bias", y->param);
    tu_fill(tl_add(l, nm, 1, y->C_out, 0, 0), (size_t)y->C_out, -0.1f, 0.1f);
    return 0;
}

/* Random values in [lo, hi] (std / truncated normal when init: training's
 * initialisation, for the bench model). */
static void fill(float *x, size_t n, float lo, float hi, int init) {
    if (!init) { tu_fill(x, n, lo, hi); return; }
    for (size_t i = 0; i < n; i++) {
        double g;
        do {
            double u1 = (tu_rand() >> 11) * (1.0 / 9007199254740992.0) + 1e-300, u2 = (tu_rand() >> 11) * (1.0 / 9007199254740992.0);
            g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        } while (fabs(g) > 2);
        x[i] = (float)(0.02 * g);
    }
}

/* The head's tensors by the spec's names, random: weights in [-a, a], norms
 * and gamma around their training values but not equal to them, so every
 * affine term shows (init: training's initialisation instead). */
static void add_head(tlist *l, const codec_config *cfg, int init) {
    const int64_t D = cfg->dimension, dim = cfg->vocos_dim, inter = cfg->vocos_intermediate, K = cfg->vocos_kernel,
                  N = cfg->vocos_n_fft;
    char nm[128];
    fill(tl_add(l, "decoder.backbone.embed.weight", 3, dim, D, K), (size_t)(dim * D * K), -0.15f, 0.15f, init);
    fill(tl_add(l, "decoder.backbone.embed.bias", 1, dim, 0, 0), (size_t)dim, -0.2f, 0.2f, 0);
    tu_fill(tl_add(l, "decoder.backbone.norm.weight", 1, dim, 0, 0), (size_t)dim, init ? 1 : 0.5f, init ? 1 : 1.5f);
    tu_fill(tl_add(l, "decoder.backbone.norm.bias", 1, dim, 0, 0), (size_t)dim, init ? 0 : -0.2f, init ? 0 : 0.2f);
    for (int i = 0; i < cfg->vocos_layers; i++) {
#define T(sfx, nd, a, b, c, lo, hi, in)                                              \
    snprintf(nm, sizeof nm, "decoder.backbone.convnext.%d.%s", i, sfx);          \
    fill(tl_add(l, nm, nd, a, b, c), (size_t)(a) * ((b) ? (b) : 1) * ((c) ? (c) : 1), lo, hi, in)
        T("dwconv.weight", 3, dim, 1, K, -0.4f, 0.4f, init);
        T("dwconv.bias", 1, dim, 0, 0, init ? 0 : -0.2f, init ? 0 : 0.2f, 0);
        T("norm.weight", 1, dim, 0, 0, init ? 1 : 0.5f, init ? 1 : 1.5f, 0);
        T("norm.bias", 1, dim, 0, 0, init ? 0 : -0.2f, init ? 0 : 0.2f, 0);
        T("pwconv1.weight", 2, inter, dim, 0, -0.4f, 0.4f, init);
        T("pwconv1.bias", 1, inter, 0, 0, init ? 0 : -0.2f, init ? 0 : 0.2f, 0);
        T("pwconv2.weight", 2, dim, inter, 0, -0.3f, 0.3f, init);
        T("pwconv2.bias", 1, dim, 0, 0, init ? 0 : -0.2f, init ? 0 : 0.2f, 0);
        T("gamma", 1, dim, 0, 0, init ? 1.0f / cfg->vocos_layers : 0.2f, init ? 1.0f / cfg->vocos_layers : 0.8f, 0);
#undef T
    }
    tu_fill(tl_add(l, "decoder.backbone.final_layer_norm.weight", 1, dim, 0, 0), (size_t)dim, init ? 1 : 0.5f, init ? 1 : 1.5f);
    tu_fill(tl_add(l, "decoder.backbone.final_layer_norm.bias", 1, dim, 0, 0), (size_t)dim, init ? 0 : -0.2f, init ? 0 : 0.2f);
    fill(tl_add(l, "decoder.head.out.weight", 2, N + 2, dim, 0), (size_t)((N + 2) * dim), -0.3f, 0.3f, init);
    float *ob = tl_add(l, "decoder.head.out.bias", 1, N + 2, 0, 0);
    if (!init) {
        tu_fill(ob, (size_t)(N + 2), -0.5f, 0.5f);
        ob[3] = 9.0f; /* bin 3's log magnitude beyond log(1e3): clipped */
    }
}

/* tiny_json with another n_fft */
static void tiny_json_nfft(char *js, size_t n, int n_fft) {
    snprintf(js, n, "%.*s, \"vocos_n_fft\": %d}", (int)(strstr(tiny_json, ", \"vocos_n_fft\"") - tiny_json), tiny_json,
             n_fft);
}

/* The tiny model (n_fft 32, or another): encoder, codebooks, head. */
static void make_tiny(tlist *l, codec_config *cfg, int n_fft) {
    char js[1024];
    tiny_json_nfft(js, sizeof js, n_fft);
    CHECK(sn_codec_config_from_json(js, cfg) == 0);
    CHECK(sn_seanet_walk(cfg, 0, add_enc_layer, l) == 0);
    add_head(l, cfg, 0);
    for (int q = 0; q < cfg->n_q; q++) {
        char nm[64];
        snprintf(nm, sizeof nm, "quantizer.vq.layers.%d._codebook.embed", q);
        tu_fill(tl_add(l, nm, 2, cfg->codebook_size, cfg->dimension, 0), (size_t)cfg->codebook_size * cfg->dimension,
                -1.0f, 1.0f);
    }
}

/* ---- the spec in double, straight ---- */

static void ref_layernorm(double *x, const float *g, const float *b, int C, int F) {
    for (int t = 0; t < F; t++) {
        double mu = 0, var = 0;
        for (int c = 0; c < C; c++) mu += x[c * F + t];
        mu /= C;
        for (int c = 0; c < C; c++) var += (x[c * F + t] - mu) * (x[c * F + t] - mu);
        var /= C;
        for (int c = 0; c < C; c++) x[c * F + t] = (x[c * F + t] - mu) / sqrt(var + 1e-6) * g[c] + b[c];
    }
}

/* y [F * hop] from latents z [D][F] (float). */
static void ref_head(const tlist *l, const codec_config *cfg, const float *z, int F, double *y) {
    const int D = cfg->dimension, dim = cfg->vocos_dim, inter = cfg->vocos_intermediate, K = cfg->vocos_kernel,
              N = cfg->vocos_n_fft, hop = sn_codec_config_hop(cfg), h = (K - 1) / 2, L = cfg->vocos_layers;
    double *x = calloc((size_t)dim * F, sizeof *x), *u = calloc((size_t)dim * F, sizeof *u),
           *hid = calloc((size_t)inter * F, sizeof *hid), *spec = calloc((size_t)(N + 2) * F, sizeof *spec);
    const float *ew = tl_get(l, "decoder.backbone.embed.weight"), *eb = tl_get(l, "decoder.backbone.embed.bias");
    for (int o = 0; o < dim; o++)
        for (int t = 0; t < F; t++) {
            double s = eb[o];
            for (int i = 0; i < D; i++)
                for (int k = 0; k < K; k++) {
                    int j = t + k - h;
                    if (j >= 0 && j < F) s += (double)ew[(o * D + i) * K + k] * z[i * F + j];
                }
            x[o * F + t] = s;
        }
    ref_layernorm(x, tl_get(l, "decoder.backbone.norm.weight"), tl_get(l, "decoder.backbone.norm.bias"), dim, F);
    for (int b = 0; b < L; b++) {
        char nm[128];
#define P(s) (snprintf(nm, sizeof nm, "decoder.backbone.convnext.%d.%s", b, s), tl_get(l, nm))
        const float *dw = P("dwconv.weight"), *db = P("dwconv.bias"), *nw = P("norm.weight"), *nb = P("norm.bias"),
                    *w1 = P("pwconv1.weight"), *b1 = P("pwconv1.bias"), *w2 = P("pwconv2.weight"),
                    *b2 = P("pwconv2.bias"), *gm = P("gamma");
#undef P
        for (int c = 0; c < dim; c++)
            for (int t = 0; t < F; t++) {
                double s = db[c];
                for (int k = 0; k < K; k++) {
                    int j = t + k - h;
                    if (j >= 0 && j < F) s += (double)dw[c * K + k] * x[c * F + j];
                }
                u[c * F + t] = s;
            }
        ref_layernorm(u, nw, nb, dim, F);
        for (int o = 0; o < inter; o++)
            for (int t = 0; t < F; t++) {
                double s = b1[o];
                for (int c = 0; c < dim; c++) s += (double)w1[o * dim + c] * u[c * F + t];
                hid[o * F + t] = 0.5 * s * (1 + erf(s / sqrt(2.0)));
            }
        for (int c = 0; c < dim; c++)
            for (int t = 0; t < F; t++) {
                double s = b2[c];
                for (int o = 0; o < inter; o++) s += (double)w2[c * inter + o] * hid[o * F + t];
                x[c * F + t] += gm[c] * s;
            }
    }
    ref_layernorm(x, tl_get(l, "decoder.backbone.final_layer_norm.weight"),
                  tl_get(l, "decoder.backbone.final_layer_norm.bias"), dim, F);
    const float *ow = tl_get(l, "decoder.head.out.weight"), *ob = tl_get(l, "decoder.head.out.bias");
    for (int o = 0; o < N + 2; o++)
        for (int t = 0; t < F; t++) {
            double s = ob[o];
            for (int c = 0; c < dim; c++) s += (double)ow[o * dim + c] * x[c * F + t];
            spec[o * F + t] = s;
        }
    /* inverse STFT: each frame's full Hermitian spectrum, inverse DFT by the definition */
    int64_t full = (int64_t)(F - 1) * hop + N, pad = (N - hop) / 2;
    double *yf = calloc((size_t)full, sizeof *yf), *env = calloc((size_t)full, sizeof *env);
    double *re = malloc(sizeof(double) * N), *im = malloc(sizeof(double) * N);
    for (int f = 0; f < F; f++) {
        for (int k = 0; k <= N / 2; k++) {
            double m = spec[k * F + f], p = spec[(N / 2 + 1 + k) * F + f];
            double mag = exp(m < log(1e3) ? m : log(1e3));
            re[k] = mag * cos(p);
            im[k] = k == 0 || k == N / 2 ? 0 : mag * sin(p);
            if (k > 0 && k < N / 2) { re[N - k] = re[k]; im[N - k] = -im[k]; }
        }
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < N; k++) s += re[k] * cos(2 * M_PI * k * n / N) - im[k] * sin(2 * M_PI * k * n / N);
            double w = 0.5 - 0.5 * cos(2 * M_PI * n / N);
            yf[(int64_t)f * hop + n] += s / N * w;
            env[(int64_t)f * hop + n] += w * w;
        }
    }
    for (int64_t t = 0; t < (int64_t)F * hop; t++) y[t] = yf[t + pad] / env[t + pad];
    free(x); free(u); free(hid); free(spec); free(yf); free(env); free(re); free(im);
}

/* ---- the library's head through the decoder run ---- */

/* Audio [F * hop] from latents [D][F], pushed in pieces of `piece` frames. */
static float *lib_head(const sono_codec *c, const float *z, int F, int piece, int64_t *n_out) {
    int err, D = c->cfg.dimension;
    *n_out = -1;
    seanet_run *r = sn_seanet_run_new(c, 1, &err);
    CHECK_MSG(r, "decoder run: %s", sono_last_error());
    if (!r) return NULL;
    int hop = sn_codec_config_hop(&c->cfg);
    float *y = malloc(sizeof(float) * ((size_t)F * hop + 1)), *zp = malloc(sizeof(float) * (size_t)D * piece);
    int64_t n = 0;
    for (int f0 = 0; f0 < F; f0 += piece) {
        int m = piece < F - f0 ? piece : F - f0;
        for (int d = 0; d < D; d++) memcpy(zp + d * m, z + d * F + f0, sizeof(float) * m);
        const float *o;
        int64_t no;
        int rc = sn_seanet_run_push(r, zp, m, f0 + m >= F, &o, &no);
        CHECK_MSG(rc == 0, "push: %s", sono_last_error());
        if (rc || n + no > (int64_t)F * hop) { n = -1; break; }
        memcpy(y + n, o, sizeof(float) * (size_t)no);
        n += no;
    }
    sn_seanet_run_free(r);
    free(zp);
    *n_out = n;
    return y;
}

static double peak(const double *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const double *b, int64_t n) {
    double md = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= md)) md = d;
    }
    return md / peak(b, n);
}

static sono_codec *load(const char *path, int threads) {
    sono_codec_params p = sono_codec_default_params();
    p.n_threads = threads;
    int err;
    return sono_codec_load(path, &p, &err);
}

static void test_reference(const sono_codec *c, const tlist *l) {
    const codec_config *cfg = &c->cfg;
    const int D = cfg->dimension, hop = sn_codec_config_hop(cfg);
    static const int lens[] = {1, 2, 3, 5, 9, 40};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        int F = lens[i];
        float *z = malloc(sizeof(float) * (size_t)D * F);
        tu_fill(z, (size_t)D * F, -2.0f, 2.0f);
        double *ref = malloc(sizeof(double) * (size_t)F * hop);
        ref_head(l, cfg, z, F, ref);
        int64_t n;
        float *y = lib_head(c, z, F, F, &n);
        CHECK_MSG(n == (int64_t)F * hop, "%d frames gave %lld samples, not %d", F, (long long)n, F * hop);
        if (y && n == (int64_t)F * hop) {
            double e = rel_err(y, ref, n);
            printf("  %2d frames: peak %.3g, max diff / peak %.3g\n", F, peak(ref, n), e);
            CHECK_MSG(e < 1e-5, "%d frames: the head differs from the reference by %.3g of the peak", F, e);
        }
        free(y);
        free(ref);
        free(z);
    }
}

/* Pieces of 1, 7, 100 and 300 frames (over the run's internal block) against one push, and 2 threads. */
static void test_streaming(const sono_codec *c1, const sono_codec *c2) {
    const int D = c1->cfg.dimension, F = 700, hop = sn_codec_config_hop(&c1->cfg);
    float *z = malloc(sizeof(float) * (size_t)D * F);
    tu_fill(z, (size_t)D * F, -2.0f, 2.0f);
    int64_t n1, n;
    float *one = lib_head(c1, z, F, F, &n1);
    CHECK(n1 == (int64_t)F * hop);
    double *oned = malloc(sizeof(double) * (size_t)F * hop);
    for (int64_t i = 0; one && i < n1; i++) oned[i] = one[i];
    static const int pieces[] = {1, 7, 100, 300};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0] && n1 == (int64_t)F * hop; i++) {
        float *y = lib_head(c1, z, F, pieces[i], &n);
        CHECK_MSG(n == n1, "pieces of %d: %lld samples, one push %lld", pieces[i], (long long)n, (long long)n1);
        if (y && n == n1) {
            double e = rel_err(y, oned, n);
            printf("  pieces of %3d frames: max diff / peak %.3g\n", pieces[i], e);
            CHECK_MSG(e < 1e-6, "pieces of %d frames differ from one push by %.3g of the peak", pieces[i], e);
        }
        free(y);
    }
    float *y2 = lib_head(c2, z, F, 64, &n);
    CHECK(n == n1);
    if (y2 && n == n1) {
        double e = rel_err(y2, oned, n);
        printf("  2 threads, pieces of 64: max diff / peak %.3g\n", e);
        CHECK_MSG(e < 1e-6, "2 threads differ from 1 by %.3g of the peak", e);
    }
    free(y2);
    free(one);
    free(oned);
    free(z);
}

/* The public API: encode -> tokens -> decode, one shot and through the
 * stream in small pulls, against the reference on the codebooks' latents. */
static void test_api(const sono_codec *c, const tlist *l) {
    const codec_config *cfg = &c->cfg;
    const int64_t n = 1003; /* not a whole number of frames */
    float *x = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.4 * sin(0.05 * i) + 0.1 * sin(0.71 * i));
    sono_tokens *t = NULL;
    int rc = sono_codec_encode(c, x, n, 3, &t);
    CHECK_MSG(rc == 0, "encode: %s", sono_last_error());
    if (!t) { free(x); return; }
    const int hop = sn_codec_config_hop(cfg), F = (int)t->n_frames, D = cfg->dimension;
    CHECK(F == (n + hop - 1) / hop && t->n_samples == n);
    float *y = NULL;
    int64_t ny = 0;
    rc = sono_codec_decode(c, t, &y, &ny);
    CHECK_MSG(rc == 0 && ny == n, "decode: rc %d, %lld samples of %lld: %s", rc, (long long)ny, (long long)n,
              sono_last_error());
    /* the latents are the sum of the chosen codebooks' entries */
    float *z = calloc((size_t)D * F, sizeof(float));
    char nm[64];
    for (int q = 0; q < t->n_q; q++) {
        snprintf(nm, sizeof nm, "quantizer.vq.layers.%d._codebook.embed", q);
        const float *cb = tl_get(l, nm);
        for (int f = 0; f < F; f++)
            for (int d = 0; d < D; d++) z[d * F + f] += cb[t->codes[(size_t)q * F + f] * D + d];
    }
    double *ref = malloc(sizeof(double) * (size_t)F * hop);
    ref_head(l, cfg, z, F, ref);
    if (y && ny == n) {
        double e = rel_err(y, ref, n);
        printf("  encode -> decode (%d frames): max diff / peak %.3g\n", F, e);
        CHECK_MSG(e < 1e-5, "decoded tokens differ from the reference by %.3g of the peak", e);
    }
    /* the decoder stream, pulled 5 samples at a time */
    int err;
    sono_codec_stream *s = sono_codec_decoder_stream(c, t, &err);
    CHECK(s != NULL);
    float *y2 = malloc(sizeof(float) * n);
    int64_t got = 0, m;
    while (s && got < n && (m = sono_codec_decoder_pull(s, y2 + got, n - got < 5 ? n - got : 5)) > 0) got += m;
    CHECK(got == n);
    if (y && ny == n && got == n) CHECK(!memcmp(y, y2, sizeof(float) * n));
    sono_codec_stream_free(s);
    CHECK(sono_codec_macs_per_second(c, 1, 3) ==
          ((double)D * 16 * 7 + 2 * (16.0 * 7 + 2 * 16 * 24) + 16.0 * 34 + 2 * 32 * 5 + 2 * 32) * 8000 / hop);
    free(y2);
    free(ref);
    free(z);
    free(y);
    sono_tokens_free(t);
    free(x);
}

/* The training graph's forward (its float path) on the same weights and
 * latents: the two implementations of the spec agree, parameter names and
 * shapes included. */
static void test_train_head(const sono_codec *c, const tlist *l) {
    const int D = c->cfg.dimension, F = 37, hop = sn_codec_config_hop(&c->cfg);
    sn_param_table pt = {0};
    vocos_head h = {0};
    int rc = sn_vocos_head_init(&h, &c->cfg, F, &pt);
    CHECK_MSG(rc == 0, "sn_vocos_head_init: %s", sono_last_error());
    if (rc) { sn_params_free(&pt); return; }
    float *params = calloc(pt.n_floats, sizeof(float)), *z = malloc(sizeof(float) * (size_t)D * F),
          *act = malloc(sizeof(float) * sn_vocos_act_floats(&h)), *scr = malloc(sizeof(float) * h.scratch_floats),
          *yt = malloc(sizeof(float) * (size_t)F * hop);
    for (int i = h.first_param; i < h.first_param + h.n_params; i++) {
        const sn_param *p = &pt.p[i];
        int found = 0;
        for (int j = 0; j < l->n; j++) {
            if (strcmp(l->name[j], p->name)) continue;
            found = l->nd[j] == p->ndim;
            for (int k = 0; found && k < p->ndim; k++) found = l->shape[j][k] == p->shape[k];
            if (found) memcpy(params + p->offset, l->data[j], sizeof(float) * p->numel);
        }
        CHECK_MSG(found, "the training head's %s is not in the model file, or not in that shape", p->name);
    }
    CHECK(h.n_params == 4 + 9 * c->cfg.vocos_layers + 4);
    tu_fill(z, (size_t)D * F, -2.0f, 2.0f);
    sn_vocos_forward(&h, yt, act, scr, z, params, 0);
    int64_t n;
    float *y = lib_head(c, z, F, 5, &n);
    CHECK(n == (int64_t)F * hop);
    if (y && n == (int64_t)F * hop) {
        double *ytd = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) ytd[i] = yt[i];
        double e = rel_err(y, ytd, n);
        printf("  against the training head (%d frames, pieces of 5): max diff / peak %.3g\n", F, e);
        CHECK_MSG(e < 1e-5, "inference and training heads differ by %.3g of the peak", e);
        free(ytd);
    }
    free(y); free(yt); free(scr); free(act); free(z); free(params);
    sn_vocos_head_free(&h);
    sn_params_free(&pt);
}

/* save -> load keeps the hash and the decoding; a file without one head
 * tensor, or with one misshapen, is refused naming it. */
static void test_files(const sono_codec *c, tlist *l, const char *tmp) {
    CHECK_MSG(sono_codec_save(c, tmp, 0) == 0, "save: %s", sono_last_error());
    sono_codec *c2 = load(tmp, 1);
    CHECK_MSG(c2, "load saved: %s", sono_last_error());
    if (c2) {
        uint8_t h1[16], h2[16];
        sono_codec_hash(c, h1);
        sono_codec_hash(c2, h2);
        CHECK(!memcmp(h1, h2, 16));
        const int D = c->cfg.dimension, F = 20;
        float *z = malloc(sizeof(float) * D * F);
        tu_fill(z, (size_t)D * F, -1, 1);
        int64_t n1, n2;
        float *y1 = lib_head(c, z, F, F, &n1), *y2 = lib_head(c2, z, F, F, &n2);
        CHECK(y1 && y2 && n1 == n2 && !memcmp(y1, y2, sizeof(float) * (size_t)n1));
        free(y1); free(y2); free(z);
        sono_codec_free(c2);
    }
    unlink(tmp);
    static const char *const names[] = {"decoder.backbone.convnext.1.gamma", "decoder.head.out.bias",
                                        "decoder.backbone.embed.weight"};
    codec_config cfg = c->cfg;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(tl_save(l, &cfg, tmp, names[i]) == 0);
        int err = 0;
        sono_codec_params p = sono_codec_default_params();
        sono_codec *cm = sono_codec_load(tmp, &p, &err);
        CHECK_MSG(!cm && err == SONO_E_MODEL_MISMATCH && strstr(sono_last_error(), names[i]),
                  "without %s: err %d, \"%s\"", names[i], err, sono_last_error());
        printf("  without %s: %s\n", names[i], sono_last_error());
        sono_codec_free(cm);
        unlink(tmp);
    }
    /* pwconv1 of block 0 with its dimensions swapped */
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], "decoder.backbone.convnext.0.pwconv1.weight")) {
            int64_t d = l->shape[i][0];
            l->shape[i][0] = l->shape[i][1];
            l->shape[i][1] = d;
            CHECK(tl_save(l, &cfg, tmp, NULL) == 0);
            int err = 0;
            sono_codec *cm = sono_codec_load(tmp, NULL, &err);
            CHECK_MSG(!cm && err == SONO_E_MODEL_MISMATCH && strstr(sono_last_error(), l->name[i]),
                      "misshapen pwconv1: err %d, \"%s\"", err, sono_last_error());
            printf("  misshapen: %s\n", sono_last_error());
            sono_codec_free(cm);
            unlink(tmp);
            l->shape[i][1] = l->shape[i][0];
            l->shape[i][0] = d;
        }
}

/* A model whose window envelope falls to 0 (n_fft = hop) is refused at
 * load; hop + 2 loads; n_fft 0 in the JSON means 4 x hop. */
static void test_envelope(const char *tmp) {
    static const struct { int n_fft, ok; } cases[] = {{8, 0}, {10, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tlist l = {0};
        codec_config cfg;
        make_tiny(&l, &cfg, cases[i].n_fft);
        CHECK(tl_save(&l, &cfg, tmp, NULL) == 0);
        int err = 0;
        sono_codec *c = sono_codec_load(tmp, NULL, &err);
        CHECK_MSG((c != NULL) == cases[i].ok && (c || (err == SONO_E_UNSUPPORTED && strstr(sono_last_error(), "envelope"))),
                  "n_fft %d: err %d (%s)", cases[i].n_fft, err, c ? "loaded" : sono_last_error());
        if (!c) printf("  n_fft %d: %s\n", cases[i].n_fft, sono_last_error());
        sono_codec_free(c);
        unlink(tmp);
        tl_free(&l);
    }
    char js[1024];
    codec_config cfg;
    tiny_json_nfft(js, sizeof js, 0);
    CHECK(sn_codec_config_from_json(js, &cfg) == 0 && cfg.vocos_n_fft == 32);
}

/* SRC's encoder and codebooks with a default-size random head. */
static int bench_model(const char *src, const char *out) {
    sono_tensors *ts;
    if (sn_safetensors_load(src, &ts)) { fprintf(stderr, "%s: %s\n", src, sono_last_error()); return 1; }
    sono_codec *c = load(src, 1);
    if (!c) { fprintf(stderr, "%s: %s\n", src, sono_last_error()); sn_tensors_free(ts); return 1; }
    codec_config cfg = c->cfg;
    sono_codec_free(c);
    int rc = sn_codec_config_apply_json("{\"decoder\": \"vocos\", \"vocos_n_fft\": 0}", &cfg);
    cfg.vocos_n_fft = 4 * sn_codec_config_hop(&cfg);
    snprintf(cfg.name, sizeof cfg.name, "vocos-bench");
    if (!rc) rc = sn_codec_config_check(&cfg);
    tlist l = {0};
    for (int i = 0; !rc && i < ts->n; i++) {
        const sono_tensor *t = &ts->t[i];
        if (!strncmp(t->name, "decoder.", 8)) continue;
        float *d = tl_add(&l, t->name, t->ndim, t->shape[0], t->ndim > 1 ? t->shape[1] : 0, t->ndim > 2 ? t->shape[2] : 0);
        memcpy(d, t->data, sizeof(float) * (size_t)t->numel);
    }
    add_head(&l, &cfg, 1);
    if (!rc) rc = tl_save(&l, &cfg, out, NULL);
    printf("%s: %s (%d tensors)\n", out, rc ? "failed" : "written", l.n);
    tl_free(&l);
    sn_tensors_free(ts);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--bench-model")) {
        tu_seed(42);
        return bench_model(argv[2], argv[3]);
    }
    tu_seed(20261207);
    char tmp[96];
    snprintf(tmp, sizeof tmp, "/tmp/sono-test-vocos-%d.safetensors", (int)getpid());
    /* n_fft 32 = 4 x hop, a power of two; 40 = 8 x 5: the inverse FFT's odd factor */
    static const int n_ffts[] = {32, 40};
    for (size_t i = 0; i < sizeof n_ffts / sizeof n_ffts[0]; i++) {
        tlist l = {0};
        codec_config cfg;
        make_tiny(&l, &cfg, n_ffts[i]);
        CHECK(tl_save(&l, &cfg, tmp, NULL) == 0);
        sono_codec *c1 = load(tmp, 1), *c2 = load(tmp, 2);
        CHECK_MSG(c1 && c2, "load the tiny model (n_fft %d): %s", n_ffts[i], sono_last_error());
        unlink(tmp);
        if (c1 && c2) {
            printf("n_fft %d, reference (whole head, double precision):\n", n_ffts[i]);
            test_reference(c1, &l);
            printf("n_fft %d, streaming:\n", n_ffts[i]);
            test_streaming(c1, c2);
            test_train_head(c1, &l);
        }
        if (c1 && c2 && i == 0) {
            printf("public API:\n");
            test_api(c2, &l);
            printf("files:\n");
            test_files(c1, &l, tmp);
        }
        sono_codec_free(c1);
        sono_codec_free(c2);
        tl_free(&l);
    }
    test_envelope(tmp);
    return tu_finish("test-vocos-decode");
}
