/* Loading a codec: resolve a model name to a file, read the weights in any of
 * the three spellings (official EnCodec .th, Hugging Face folder, native
 * safetensors), fold weight norm, lay everything into one block, and hash it. */
#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>
#include "codec_internal.h"
#include "sono_internal.h"
#include "tensors.h"

#ifndef SONO_MODELS_DIR
#define SONO_MODELS_DIR "/usr/local/share/sonotok/models"
#endif

/* ---- architecture walk: every parameter with its canonical name and shape ---- */

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[3];
    const float **slot;
} pspec;

typedef struct {
    pspec *p;
    int n, cap;
} plist;

static int plist_add(plist *l, const char *prefix, const char *suffix, const float **slot,
                     int ndim, int64_t d0, int64_t d1, int64_t d2) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        pspec *np = realloc(l->p, (size_t)cap * sizeof *np);
        if (!np) return SONO_E_NOMEM;
        l->p = np;
        l->cap = cap;
    }
    pspec *s = &l->p[l->n++];
    snprintf(s->name, sizeof s->name, "%s%s", prefix, suffix);
    s->ndim = ndim;
    s->shape[0] = d0; s->shape[1] = d1; s->shape[2] = d2;
    s->slot = slot;
    return 0;
}

/* Every parameter of one SEANet stack, as sn_seanet_walk lists the layers:
 * a conv's weight (folded, in canonical form), bias and GroupNorm affine, an
 * LSTM's four tensors per layer. */
typedef struct {
    plist *l;
    const codec_config *cfg;
    seanet_w *s;
} arch_walk;

static int add_layer(const seanet_layer *y, void *user) {
    arch_walk *a = user;
    int rc = 0;
    if (y->kind == SEANET_CONV || y->kind == SEANET_CONVTR) {
        conv_w *cw = sn_seanet_conv_slot(a->s, y);
        const int tr = y->kind == SEANET_CONVTR;
        cw->C_in = y->C_in; cw->C_out = y->C_out; cw->K = y->K; cw->stride = y->stride; cw->dil = y->dil;
        rc = plist_add(a->l, y->param, ".weight", &cw->w, 3, tr ? y->C_in : y->C_out, tr ? y->C_out : y->C_in, y->K);
        if (!rc) rc = plist_add(a->l, y->param, ".bias", &cw->b, 1, y->C_out, 0, 0);
        if (!rc && a->cfg->norm == NORM_TIME_GROUP) {
            rc = plist_add(a->l, y->norm, ".weight", &cw->gn_w, 1, y->C_out, 0, 0);
            if (!rc) rc = plist_add(a->l, y->norm, ".bias", &cw->gn_b, 1, y->C_out, 0, 0);
        }
    } else if (y->kind == SEANET_LSTM) {
        lstm_w *lw = &a->s->lstm;
        lw->C = y->C_in;
        for (int i = 0; !rc && i < a->cfg->lstm_layers; i++) {
            const float **slot[4] = {&lw->w_ih[i], &lw->w_hh[i], &lw->b_ih[i], &lw->b_hh[i]};
            for (int k = 0; !rc && k < 4; k++) {
                char sfx[32];
                int64_t sh[2];
                int nd = sn_seanet_lstm_param(i, k, lw->C, sfx, sizeof sfx, sh);
                rc = plist_add(a->l, y->param, sfx, slot[k], nd, sh[0], sh[1], 0);
            }
        }
    }
    return rc;
}

/* The Vocos head's parameters (notes/vocos_spec.md), in the spec's order. */
static int add_vocos(plist *l, const codec_config *cfg, vocos_w *v) {
    const int64_t D = cfg->dimension, dim = cfg->vocos_dim, inter = cfg->vocos_intermediate, K = cfg->vocos_kernel,
                  N = cfg->vocos_n_fft;
    const char *bb = "decoder.backbone.";
    int rc = plist_add(l, bb, "embed.weight", &v->embed_w, 3, dim, D, K);
    if (!rc) rc = plist_add(l, bb, "embed.bias", &v->embed_b, 1, dim, 0, 0);
    if (!rc) rc = plist_add(l, bb, "norm.weight", &v->norm_w, 1, dim, 0, 0);
    if (!rc) rc = plist_add(l, bb, "norm.bias", &v->norm_b, 1, dim, 0, 0);
    for (int i = 0; !rc && i < cfg->vocos_layers; i++) {
        vocos_block_w *b = &v->blk[i];
        char pre[64];
        snprintf(pre, sizeof pre, "%sconvnext.%d.", bb, i);
        const struct { const char *sfx; const float **slot; int ndim; int64_t d0, d1, d2; } p[] = {
            {"dwconv.weight", &b->dw_w, 3, dim, 1, K}, {"dwconv.bias", &b->dw_b, 1, dim, 0, 0},
            {"norm.weight", &b->norm_w, 1, dim, 0, 0}, {"norm.bias", &b->norm_b, 1, dim, 0, 0},
            {"pwconv1.weight", &b->pw1_w, 2, inter, dim, 0}, {"pwconv1.bias", &b->pw1_b, 1, inter, 0, 0},
            {"pwconv2.weight", &b->pw2_w, 2, dim, inter, 0}, {"pwconv2.bias", &b->pw2_b, 1, dim, 0, 0},
            {"gamma", &b->gamma, 1, dim, 0, 0},
        };
        for (size_t k = 0; !rc && k < sizeof p / sizeof p[0]; k++)
            rc = plist_add(l, pre, p[k].sfx, p[k].slot, p[k].ndim, p[k].d0, p[k].d1, p[k].d2);
    }
    if (!rc) rc = plist_add(l, bb, "final_layer_norm.weight", &v->final_w, 1, dim, 0, 0);
    if (!rc) rc = plist_add(l, bb, "final_layer_norm.bias", &v->final_b, 1, dim, 0, 0);
    if (!rc) rc = plist_add(l, "decoder.head.", "out.weight", &v->out_w, 2, N + 2, dim, 0);
    if (!rc) rc = plist_add(l, "decoder.head.", "out.bias", &v->out_b, 1, N + 2, 0, 0);
    return rc;
}

static int walk_arch(sono_codec *c, plist *l) {
    const codec_config *cfg = &c->cfg;
    arch_walk enc = {l, cfg, &c->enc}, dec = {l, cfg, &c->dec};
    int rc;
    if ((rc = sn_seanet_walk(cfg, 0, add_layer, &enc))) return rc;
    rc = cfg->decoder == DECODER_VOCOS ? add_vocos(l, cfg, &c->voc) : sn_seanet_walk(cfg, 1, add_layer, &dec);
    if (rc) return rc;
    /* quantizer: one codebook tensor per layer, stored contiguously */
    for (int q = 0; q < cfg->n_q; q++) {
        char pre[64];
        snprintf(pre, sizeof pre, "quantizer.vq.layers.%d", q);
        if ((rc = plist_add(l, pre, "._codebook.embed", &c->codebook[q], 2,
                            cfg->codebook_size, cfg->dimension, 0)))
            return rc;
    }
    return 0;
}

static int64_t pspec_numel(const pspec *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->shape[i];
    return n;
}

/* ---- tensor lookup across spellings ---- */

static void replace_all(char *dst, size_t n, const char *src, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), o = 0;
    while (*src && o + 1 < n) {
        if (!strncmp(src, from, fl)) {
            for (size_t i = 0; i < tl && o + 1 < n; i++) dst[o++] = to[i];
            src += fl;
        } else {
            dst[o++] = *src++;
        }
    }
    dst[o] = 0;
}

/* Hugging Face transformers spelling of a canonical (original EnCodec) name. */
static void hf_name(char *out, size_t n, const char *canon) {
    static const char *const rules[][2] = {
        {"encoder.model.", "encoder.layers."}, {"decoder.model.", "decoder.layers."},
        {".conv.conv.", ".conv."}, {".convtr.convtr.", ".conv."},
        {".conv.norm.", ".norm."}, {".convtr.norm.", ".norm."},
        {"quantizer.vq.layers.", "quantizer.layers."}, {"._codebook.", ".codebook."},
    };
    char a[128], b[128];
    snprintf(a, sizeof a, "%s", canon);
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        replace_all(b, sizeof b, a, rules[i][0], rules[i][1]);
        memcpy(a, b, sizeof a);
    }
    snprintf(out, n, "%s", a);
}

static int shape_is(const sono_tensor *t, const pspec *s) {
    if (t->ndim != s->ndim) return 0;
    for (int i = 0; i < s->ndim; i++)
        if (t->shape[i] != s->shape[i]) return 0;
    return 1;
}

static int shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    int o = snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < (int)n; i++)
        o += snprintf(buf + o, n - (size_t)o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < (int)n) o += snprintf(buf + o, n - (size_t)o, "]");
    return o;
}

static int bad_shape(const char *name, const sono_tensor *t, const pspec *s) {
    char a[64], b[64];
    shape_str(a, sizeof a, t->ndim, t->shape);
    shape_str(b, sizeof b, s->ndim, s->shape);
    return sn_fail(SONO_E_MODEL_MISMATCH, "tensor %s has shape %s, the config needs %s", name, a, b);
}

/* Fold weight norm in place into v: w = v * (g / ||v||), the norm over all dims but 0. */
static int fold_weight_norm(const sono_tensor *g, const sono_tensor *v, const pspec *s, const char *name) {
    if (!shape_is(v, s)) return bad_shape(name, v, s);
    if (g->numel != s->shape[0]) return sn_fail(SONO_E_MODEL_MISMATCH, "weight-norm gain of %s has %lld values, need %lld",
                                                  name, (long long)g->numel, (long long)s->shape[0]);
    int64_t inner = v->numel / s->shape[0];
    for (int64_t o = 0; o < s->shape[0]; o++) {
        float *vr = v->data + o * inner;
        double ss = 0;
        for (int64_t i = 0; i < inner; i++) ss += (double)vr[i] * vr[i];
        float norm = (float)sqrt(ss);
        float f = g->data[o] / norm;
        for (int64_t i = 0; i < inner; i++) vr[i] = vr[i] * f;
    }
    return 0;
}

/* Find the tensor for s in any spelling; *data points at it (weight norm folded in place). */
static int fetch(const sono_tensors *ts, const pspec *s, const float **data) {
    char names[2][128];
    snprintf(names[0], sizeof names[0], "%s", s->name);
    hf_name(names[1], sizeof names[1], s->name);
    for (int k = 0; k < 2; k++) {
        const char *nm = names[k];
        const sono_tensor *t = sn_tensors_find(ts, nm);
        if (t) {
            if (!shape_is(t, s)) return bad_shape(nm, t, s);
            *data = t->data;
            return 0;
        }
        size_t L = strlen(nm);
        if (L > 7 && !strcmp(nm + L - 7, ".weight")) {
            char base[128], gn[160], vn[160];
            memcpy(base, nm, L - 7);
            base[L - 7] = 0;
            static const char *const sp[][2] = {
                {".weight_g", ".weight_v"},
                {".parametrizations.weight.original0", ".parametrizations.weight.original1"},
            };
            for (int j = 0; j < 2; j++) {
                snprintf(gn, sizeof gn, "%s%s", base, sp[j][0]);
                snprintf(vn, sizeof vn, "%s%s", base, sp[j][1]);
                const sono_tensor *g = sn_tensors_find(ts, gn), *v = sn_tensors_find(ts, vn);
                if (g && v) {
                    int rc = fold_weight_norm(g, v, s, nm);
                    *data = v->data;
                    return rc;
                }
            }
        }
    }
    if (!strcmp(names[0], names[1])) return sn_fail(SONO_E_MODEL_MISMATCH, "weights have no tensor %s", names[0]);
    return sn_fail(SONO_E_MODEL_MISMATCH, "weights have no tensor %s (nor its Hugging Face spelling %s)",
                     names[0], names[1]);
}

/* The codes' part of the model: the encoder and the quantizer, not the
 * decoder (canonical names: encoder.*, quantizer.*, decoder.*). */
static int param_fixes_codes(const codec_param *p) { return strncmp(p->name, "decoder.", 8) != 0; }

/* XXH3-128 of the config (without its name: not part of the identity), then
 * the names and shapes, then the data, of the parameters that pass keep
 * (NULL: all). */
static void codec_hash_params(const sono_codec *c, int (*keep)(const codec_param *), uint8_t out[16]) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return;
    XXH3_128bits_reset(st);
    codec_config cfg = c->cfg;
    memset(cfg.name, 0, sizeof cfg.name);
    char *json = sn_codec_config_to_json(&cfg);
    if (json) { XXH3_128bits_update(st, json, strlen(json)); free(json); }
    for (int i = 0; i < c->n_params; i++) {
        const codec_param *p = &c->params[i];
        if (keep && !keep(p)) continue;
        XXH3_128bits_update(st, p->name, strlen(p->name) + 1);
        XXH3_128bits_update(st, p->shape, sizeof p->shape);
    }
    for (int i = 0; i < c->n_params; i++) {
        const codec_param *p = &c->params[i];
        if (keep && !keep(p)) continue;
        int64_t numel = 1;
        for (int d = 0; d < p->ndim; d++) numel *= p->shape[d];
        XXH3_128bits_update(st, p->data, (size_t)numel * sizeof(float));
    }
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, h);
    memcpy(out, canon.digest, 16);
}

static void codec_compute_hash(sono_codec *c) {
    codec_hash_params(c, NULL, c->hash);
    codec_hash_params(c, param_fixes_codes, c->codes_hash);
}

int sn_codec_from_tensors(sono_tensors *ts, const codec_config *cfg, sono_codec **out) {
    *out = NULL;
    int rc = sn_codec_config_check(cfg);
    if (!rc && cfg->decoder == DECODER_VOCOS) rc = sn_vocos_check(cfg);
    if (rc) return rc;
    sono_codec *c = calloc(1, sizeof *c);
    if (!c) return sn_fail(SONO_E_NOMEM, "out of memory");
    c->cfg = *cfg;
    c->n_threads = 1;
    plist l = {0};
    c->codebook = calloc((size_t)cfg->n_q, sizeof *c->codebook);
    c->codebook_sqnorm = malloc((size_t)cfg->n_q * (size_t)cfg->codebook_size * sizeof(float));
    if (!c->codebook || !c->codebook_sqnorm) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto fail; }
    if ((rc = walk_arch(c, &l))) goto fail;
    c->params = calloc((size_t)l.n, sizeof *c->params);
    if (!c->params) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto fail; }
    c->n_params = l.n;
    for (int i = 0; i < l.n; i++) {
        const float *data;
        if ((rc = fetch(ts, &l.p[i], &data))) goto fail;
        if (l.p[i].slot) *l.p[i].slot = data;
        codec_param *p = &c->params[i];
        snprintf(p->name, sizeof p->name, "%s", l.p[i].name);
        p->ndim = l.p[i].ndim;
        memcpy(p->shape, l.p[i].shape, sizeof p->shape);
        p->data = data;
        int64_t numel = pspec_numel(&l.p[i]);
        for (int64_t k = 0; k < numel; k++)
            if (!isfinite(data[k])) { rc = sn_fail(SONO_E_FORMAT, "tensor %s contains NaN or infinity", p->name); goto fail; }
    }
    for (int q = 0; q < cfg->n_q; q++)
        for (int k = 0; k < cfg->codebook_size; k++) {
            const float *e = c->codebook[q] + (size_t)k * cfg->dimension;
            float s = 0;
            for (int d = 0; d < cfg->dimension; d++) s += e[d] * e[d];
            c->codebook_sqnorm[(size_t)q * cfg->codebook_size + k] = s;
        }
    codec_compute_hash(c);
    free(l.p);
    c->ts = ts;
    *out = c;
    return 0;
fail:
    free(l.p);
    free(c->params);
    free(c->codebook);
    free(c->codebook_sqnorm);
    free(c);
    return rc;
}

/* ---- files ---- */

static int is_dir(const char *p) { struct stat st; return !stat(p, &st) && S_ISDIR(st.st_mode); }
static int is_file(const char *p) { struct stat st; return !stat(p, &st) && S_ISREG(st.st_mode); }

static int has_ext(const char *p, const char *ext) {
    size_t a = strlen(p), b = strlen(ext);
    return a >= b && !strcasecmp(p + a - b, ext);
}

static const struct { const char *name, *file, *url; } official[] = {
    {"encodec_24khz", "encodec_24khz-d7cc33bc.th", "https://dl.fbaipublicfiles.com/encodec/v0/encodec_24khz-d7cc33bc.th"},
    {"encodec_48khz", "encodec_48khz-7e698e3e.th", "https://dl.fbaipublicfiles.com/encodec/v0/encodec_48khz-7e698e3e.th"},
};

/* Try NAME in dir: NAME, NAME.safetensors, NAME.th, NAME-*.th, NAME/ (folder). */
static int try_dir(const char *dir, const char *name, char *out, size_t n) {
    static const char *const sfx[] = {".safetensors", ".th", "", NULL};
    char p[4096];
    for (int i = 0; sfx[i]; i++) {
        snprintf(p, sizeof p, "%s/%s%s", dir, name, sfx[i]);
        if (is_file(p) || (is_dir(p) && !sfx[i][0])) { snprintf(out, n, "%s", p); return 1; }
    }
    for (size_t i = 0; i < sizeof official / sizeof official[0]; i++) {
        if (strcmp(name, official[i].name)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, official[i].file);
        if (is_file(p)) { snprintf(out, n, "%s", p); return 1; }
    }
    return 0;
}

static const char *default_user_dir(char *buf, size_t n) {
    const char *x = getenv("XDG_DATA_HOME");
    if (x && *x) { snprintf(buf, n, "%s/sonotok/models", x); return buf; }
    const char *h = getenv("HOME");
    if (h && *h) { snprintf(buf, n, "%s/.local/share/sonotok/models", h); return buf; }
    return NULL;
}

/* Try name in each models folder in turn (SONOTOK_MODEL_PATH, the user's,
 * the installed one, the source tree's) with try(dir, name, out, n):
 * 1 found, 0 not, SONO_E_NOMEM. ud gets the user folder (for messages). */
static int search_dirs(const char *name, int (*try)(const char *, const char *, char *, size_t), char *out, size_t n,
                       char *ub, size_t ub_n, const char **ud) {
    const char *mp = getenv("SONOTOK_MODEL_PATH");
    if (mp && *mp) {
        char *dup = strdup(mp), *save = NULL;
        if (!dup) return sn_fail(SONO_E_NOMEM, "out of memory");
        for (char *d = strtok_r(dup, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            if (*d && try(d, name, out, n)) { free(dup); return 1; }
        }
        free(dup);
    }
    *ud = default_user_dir(ub, ub_n);
    if (*ud && try(*ud, name, out, n)) return 1;
    if (try(SONO_MODELS_DIR, name, out, n)) return 1;
#ifdef SONO_SOURCE_MODELS_DIR
    if (try(SONO_SOURCE_MODELS_DIR, name, out, n)) return 1;
#endif
    return 0;
}

static int try_exact(const char *dir, const char *file, char *out, size_t n) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    if (!is_file(p)) return 0;
    snprintf(out, n, "%s", p);
    return 1;
}

int sn_models_find(const char *file, char *out, size_t n) {
    char ub[4096];
    const char *ud = NULL;
    int rc = search_dirs(file, try_exact, out, n, ub, sizeof ub, &ud);
    if (rc) return rc < 0 ? rc : 0;
    return sn_fail(SONO_E_NOT_FOUND, "%s not found in SONOTOK_MODEL_PATH, %s or %s", file,
                   ud ? ud : "~/.local/share/sonotok/models", SONO_MODELS_DIR);
}

int sono_codec_resolve(const char *model, char *out, size_t n) {
    if (!model || !*model) return sn_fail(SONO_E_ARG, "empty model name");
    if (strchr(model, '/') || has_ext(model, ".th") || has_ext(model, ".safetensors") || is_file(model) || is_dir(model)) {
        if (!is_file(model) && !is_dir(model)) return sn_fail(SONO_E_NOT_FOUND, "model %s: no such file", model);
        snprintf(out, n, "%s", model);
        return 0;
    }
    char ub[4096];
    const char *ud = NULL;
    int found = search_dirs(model, try_dir, out, n, ub, sizeof ub, &ud);
    if (found) return found < 0 ? found : 0;
    for (size_t i = 0; i < sizeof official / sizeof official[0]; i++) {
        if (!strcmp(model, official[i].name))
            return sn_fail(SONO_E_NOT_FOUND,
                             "model %s not found: download %s from %s into %s (or a folder in SONOTOK_MODEL_PATH)",
                             model, official[i].file, official[i].url, ud ? ud : "~/.local/share/sonotok/models");
    }
    if (!strcmp(model, "default"))
        return sn_fail(SONO_E_NOT_FOUND, "the default model is missing (models/default.safetensors in the source "
                         "tree, or default.safetensors in a models folder): pass -m with a model file or name");
    return sn_fail(SONO_E_NOT_FOUND, "model %s not found in SONOTOK_MODEL_PATH, %s or %s", model,
                     ud ? ud : "~/.local/share/sonotok/models", SONO_MODELS_DIR);
}

static int read_text(const char *path, char **out) {
    uint8_t *buf;
    size_t n;
    int rc = sn_read_file(path, 1 << 20, &buf, &n);
    if (rc) return rc;
    *out = (char *)buf;
    return 0;
}

/* Config for a .th: a sidecar "<path>.json" or "<stem>.json" in our format, or
 * the official preset the file name or the tensors identify. */
static int th_config(const char *path, const sono_tensors *ts, codec_config *cfg) {
    char side[4096];
    char *json = NULL;
    snprintf(side, sizeof side, "%s.json", path);
    if (!is_file(side)) {
        snprintf(side, sizeof side, "%s", path);
        char *dot = strrchr(side, '.');
        if (dot) strcpy(dot, ".json");
    }
    if (is_file(side)) {
        int rc = read_text(side, &json);
        if (rc) return rc;
        rc = sn_codec_config_from_json(json, cfg);
        free(json);
        if (rc) sn_error_prefix("%s", side);
        return rc;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strncmp(base, "encodec_48khz", 13)) return sn_codec_config_preset("encodec_48khz", cfg);
    if (!strncmp(base, "encodec_24khz", 13)) return sn_codec_config_preset("encodec_24khz", cfg);
    /* by content: the 48 kHz model has group norms and a stereo first conv */
    const sono_tensor *t = sn_tensors_find(ts, "encoder.model.0.conv.norm.weight");
    if (t) return sn_codec_config_preset("encodec_48khz", cfg);
    t = sn_tensors_find(ts, "encoder.model.0.conv.conv.weight_v");
    if (t && t->ndim == 3 && t->shape[1] == 1) return sn_codec_config_preset("encodec_24khz", cfg);
    return sn_fail(SONO_E_FORMAT, "%s: cannot tell the codec configuration (no %s.json beside it)", path, base);
}

static int load_any(const char *path, sono_tensors **ts, codec_config *cfg) {
    int rc;
    if (is_dir(path)) {
        char p[4096], *json = NULL;
        snprintf(p, sizeof p, "%s/config.json", path);
        if ((rc = read_text(p, &json))) { sn_error_prefix("model folder %s", path); return rc; }
        rc = sn_codec_config_from_hf_json(json, cfg);
        free(json);
        if (rc) { sn_error_prefix("%s", p); return rc; }
        if (!cfg->name[0]) {
            const char *b = strrchr(path, '/');
            b = b && b[1] ? b + 1 : path;
            snprintf(cfg->name, sizeof cfg->name, "%s", b);
        }
        snprintf(p, sizeof p, "%s/model.safetensors", path);
        if ((rc = sn_safetensors_load(p, ts))) { sn_error_prefix("%s", p); return rc; }
        /* config.json has no codebook count: the checkpoint's codebooks decide */
        int n_q = 0;
        for (;; n_q++) {
            char k[96];
            snprintf(k, sizeof k, "quantizer.layers.%d.codebook.embed", n_q);
            if (!sn_tensors_find(*ts, k)) break;
        }
        if (n_q > 0) cfg->n_q = n_q;
        if ((rc = sn_codec_config_check(cfg))) { sn_error_prefix("%s", path); sn_tensors_free(*ts); *ts = NULL; }
        return rc;
    }
    if (has_ext(path, ".th") || has_ext(path, ".pt") || has_ext(path, ".bin")) {
        if ((rc = sn_th_load(path, ts))) { sn_error_prefix("%s", path); return rc; }
        if ((rc = th_config(path, *ts, cfg))) { sn_tensors_free(*ts); *ts = NULL; return rc; }
        return 0;
    }
    if ((rc = sn_safetensors_load(path, ts))) { sn_error_prefix("%s", path); return rc; }
    const char *meta = (*ts)->metadata;
    json_object *o = NULL, *cj = NULL;
    if (meta) o = json_tokener_parse(meta);
    if (!o || !json_object_object_get_ex(o, "config", &cj) || !json_object_is_type(cj, json_type_string)) {
        if (o) json_object_put(o);
        sn_tensors_free(*ts);
        *ts = NULL;
        return sn_fail(SONO_E_FORMAT, "%s: safetensors file without a sonotok codec config in __metadata__", path);
    }
    rc = sn_codec_config_from_json(json_object_get_string(cj), cfg);
    json_object_put(o);
    if (rc) { sn_error_prefix("%s", path); sn_tensors_free(*ts); *ts = NULL; }
    return rc;
}

sono_codec_params sono_codec_default_params(void) {
    sono_codec_params p = {.n_threads = 1};
    return p;
}

sono_codec *sono_codec_load(const char *model, const sono_codec_params *p, int *err) {
    char path[4096];
    int rc = sono_codec_resolve(model, path, sizeof path);
    sono_codec *c = NULL;
    sono_tensors *ts = NULL;
    codec_config cfg;
    if (!rc) rc = load_any(path, &ts, &cfg);
    if (!rc) {
        if (!cfg.name[0]) {
            const char *b = strrchr(path, '/');
            b = b ? b + 1 : path;
            snprintf(cfg.name, sizeof cfg.name, "%.*s", (int)strcspn(b, "."), b);
        }
        rc = sn_codec_from_tensors(ts, &cfg, &c);
        if (rc) sn_error_prefix("%s", path);
        else ts = NULL; /* the codec owns it */
    }
    sn_tensors_free(ts);
    if (c && p) c->n_threads = p->n_threads > 0 ? p->n_threads : 1;
    if (err) *err = rc;
    return c;
}

void sono_codec_free(sono_codec *c) {
    if (!c) return;
    sn_tensors_free(c->ts);
    free(c->params);
    free(c->codebook);
    free(c->codebook_sqnorm);
    free(c);
}

int sono_codec_save(const sono_codec *c, const char *path, int f16) {
    const codec_param *p = c->params;
    int n = c->n_params, rc;
    const char **names = calloc((size_t)n, sizeof *names);
    int *nd = calloc((size_t)n, sizeof *nd);
    int64_t (*shapes)[SONO_MAX_DIMS] = calloc((size_t)n, sizeof *shapes);
    const float **data = calloc((size_t)n, sizeof *data);
    sono_tensors *ts = NULL;
    char *cfgjson = sn_codec_config_to_json(&c->cfg);
    json_object *meta = json_object_new_object();
    if (!names || !nd || !shapes || !data || !cfgjson || !meta) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto done; }
    for (int i = 0; i < n; i++) {
        names[i] = p[i].name;
        nd[i] = p[i].ndim;
        for (int k = 0; k < p[i].ndim; k++) shapes[i][k] = p[i].shape[k];
        data[i] = p[i].data;
    }
    json_object_object_add(meta, "format", json_object_new_string("sonotok-codec"));
    json_object_object_add(meta, "config", json_object_new_string(cfgjson));
    rc = sn_tensors_create(&ts, n, names, nd, (const int64_t (*)[SONO_MAX_DIMS])shapes, data);
    if (!rc) rc = sn_safetensors_save(path, ts, json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN), f16);
done:
    if (meta) json_object_put(meta);
    free(cfgjson);
    sn_tensors_free(ts);
    free(names); free(nd); free(shapes); free(data);
    return rc;
}
