/* The linear probe's inference side: pooling latents into features, the
 * softmax classifier, and its file (safetensors with the codec, classes and
 * settings in __metadata__). Training is in probe_train.c. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probe_internal.h"
#include "sono_internal.h"
#include "tensors.h"

#define PROBE_FORMAT "sonotok-probe"
#define PROBE_VERSION "1"

int sono_probe_feature_dim(int kind, int latent_dim) {
    if (latent_dim < 1 || latent_dim > PROBE_MAX_FEATURES / 2) return sn_fail(SONO_E_ARG, "latent dimension %d out of range", latent_dim);
    if (kind == SONO_PROBE_MEAN) return latent_dim;
    if (kind == SONO_PROBE_MEAN_STD) return 2 * latent_dim;
    return sn_fail(SONO_E_ARG, "unknown probe feature kind %d", kind);
}

int sono_probe_features(int kind, const float *latents, int latent_dim, int64_t n_frames, float *out) {
    int F = sono_probe_feature_dim(kind, latent_dim);
    if (F < 0) return F;
    if (n_frames < 1) return sn_fail(SONO_E_EMPTY, "no latent frames to pool");
    for (int d = 0; d < latent_dim; d++) {
        const float *x = latents + (size_t)d * (size_t)n_frames;
        double s = 0;
        for (int64_t f = 0; f < n_frames; f++) s += x[f];
        double m = s / (double)n_frames;
        out[d] = (float)m;
        if (kind == SONO_PROBE_MEAN_STD) {
            double v = 0;
            for (int64_t f = 0; f < n_frames; f++) v += ((double)x[f] - m) * ((double)x[f] - m);
            out[latent_dim + d] = (float)sqrt(v / (double)n_frames);
        }
    }
    return 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

sono_probe *sn_probe_new(const sono_probe_info *info, int *err) {
    int F = sono_probe_feature_dim(info->feature_kind, info->latent_dim);
    int rc = F < 0 ? F : 0;
    if (!rc && (info->n_classes < 2 || info->n_classes > PROBE_MAX_CLASSES))
        rc = sn_fail(SONO_E_ARG, "%d classes; a probe needs 2 to %d", info->n_classes, PROBE_MAX_CLASSES);
    if (!rc && (!info->codec_name || !info->labels || !info->class_names))
        rc = sn_fail(SONO_E_ARG, "probe without a codec name, labels or class names");
    for (int k = 0; !rc && k < info->n_classes; k++)
        if (!info->class_names[k] || !info->class_names[k][0]) rc = sn_fail(SONO_E_ARG, "class %d has no name", k);
    sono_probe *p = NULL;
    if (!rc && !(p = calloc(1, sizeof *p))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    if (!rc) {
        p->kind = info->feature_kind;
        p->latent_dim = info->latent_dim;
        p->F = F;
        p->K = info->n_classes;
        memcpy(p->codec_hash, info->codec_hash, 16);
        p->codec_name = dup_str(info->codec_name);
        p->labels = dup_str(info->labels);
        p->class_names = calloc((size_t)p->K, sizeof(char *));
        p->mean = malloc((size_t)F * sizeof(float));
        p->std = malloc((size_t)F * sizeof(float));
        p->W = calloc((size_t)p->K * (size_t)F, sizeof(float));
        p->b = calloc((size_t)p->K, sizeof(float));
        int ok = p->codec_name && p->labels && p->class_names && p->mean && p->std && p->W && p->b;
        for (int k = 0; ok && k < p->K; k++) ok = (p->class_names[k] = dup_str(info->class_names[k])) != NULL;
        if (!ok) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    }
    if (rc) {
        sono_probe_free(p);
        p = NULL;
    }
    if (err) *err = rc;
    return p;
}

void sono_probe_free(sono_probe *p) {
    if (!p) return;
    if (p->class_names)
        for (int k = 0; k < p->K; k++) free(p->class_names[k]);
    free(p->class_names);
    free(p->codec_name);
    free(p->labels);
    free(p->mean);
    free(p->std);
    free(p->W);
    free(p->b);
    free(p);
}

int sono_probe_n_classes(const sono_probe *p) { return p->K; }
const char *sono_probe_class_name(const sono_probe *p, int k) { return k >= 0 && k < p->K ? p->class_names[k] : NULL; }
int sono_probe_feature_kind(const sono_probe *p) { return p->kind; }
int sono_probe_latent_dim(const sono_probe *p) { return p->latent_dim; }
const char *sono_probe_labels(const sono_probe *p) { return p->labels; }
const char *sono_probe_codec_name(const sono_probe *p) { return p->codec_name; }
void sono_probe_codec_hash(const sono_probe *p, uint8_t out[16]) { memcpy(out, p->codec_hash, 16); }

static void hex16(const uint8_t h[16], char out[33]) {
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int sono_probe_check_codec(const sono_probe *p, const char *codec_name, const uint8_t codec_hash[16]) {
    if (strcmp(p->codec_name, codec_name) == 0 && memcmp(p->codec_hash, codec_hash, 16) == 0) return 0;
    char a[33], b[33];
    hex16(p->codec_hash, a);
    hex16(codec_hash, b);
    return sn_fail(SONO_E_MODEL_MISMATCH, "the probe was trained on codec %s (%.12s), not on %s (%.12s)", p->codec_name, a,
                   codec_name, b);
}

int sono_probe_predict(const sono_probe *p, const float *features, float *probs) {
    int best = 0;
    for (int k = 0; k < p->K; k++) {
        const float *w = p->W + (size_t)k * p->F;
        double z = p->b[k];
        for (int j = 0; j < p->F; j++) z += (double)w[j] * (((double)features[j] - p->mean[j]) / p->std[j]);
        probs[k] = (float)z;
        if (probs[k] > probs[best]) best = k;
    }
    double zmax = probs[best], s = 0;
    for (int k = 0; k < p->K; k++) s += exp((double)probs[k] - zmax);
    for (int k = 0; k < p->K; k++) probs[k] = (float)(exp((double)probs[k] - zmax) / s);
    return best;
}

/* ---- the file ---- */

static const char *kind_name(int kind) { return kind == SONO_PROBE_MEAN_STD ? "mean_std" : "mean"; }

int sono_probe_save(const sono_probe *p, const char *path) {
    json_object *meta = json_object_new_object(), *cls = json_object_new_array();
    if (!meta || !cls) {
        json_object_put(meta);
        json_object_put(cls);
        return sn_fail(SONO_E_NOMEM, "out of memory");
    }
    for (int k = 0; k < p->K; k++) json_object_array_add(cls, json_object_new_string(p->class_names[k]));
    char hash[33], num[32];
    hex16(p->codec_hash, hash);
    json_object_object_add(meta, "format", json_object_new_string(PROBE_FORMAT));
    json_object_object_add(meta, "version", json_object_new_string(PROBE_VERSION));
    json_object_object_add(meta, "codec", json_object_new_string(p->codec_name));
    json_object_object_add(meta, "codec_hash", json_object_new_string(hash));
    json_object_object_add(meta, "features", json_object_new_string(kind_name(p->kind)));
    snprintf(num, sizeof num, "%d", p->latent_dim);
    json_object_object_add(meta, "latent_dim", json_object_new_string(num));
    json_object_object_add(meta, "labels", json_object_new_string(p->labels));
    json_object_object_add(meta, "classes", json_object_new_string(json_object_to_json_string_ext(cls, JSON_C_TO_STRING_PLAIN)));
    json_object_put(cls);
    const char *names[] = {"feature_mean", "feature_std", "weight", "bias"};
    int ndims[] = {1, 1, 2, 1};
    int64_t shapes[4][SONO_MAX_DIMS] = {{p->F}, {p->F}, {p->K, p->F}, {p->K}};
    const float *data[] = {p->mean, p->std, p->W, p->b};
    sono_tensors *ts = NULL;
    int rc = sn_tensors_create(&ts, 4, names, ndims, (const int64_t(*)[SONO_MAX_DIMS])shapes, data);
    if (!rc) rc = sn_safetensors_save(path, ts, json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN), 0);
    sn_tensors_free(ts);
    json_object_put(meta);
    return rc;
}

static const char *meta_str(json_object *meta, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(meta, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

static int parse_hash(const char *s, uint8_t out[16]) {
    if (!s || strlen(s) != 32) return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Copy tensor name of n floats into dst; SONO_E_FORMAT when missing or of another size. */
static int take(const sono_tensors *ts, const char *path, const char *name, int ndim, int64_t d0, int64_t d1, float *dst) {
    const sono_tensor *t = sn_tensors_find(ts, name);
    if (!t || t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1))
        return sn_fail(SONO_E_FORMAT, "%s: probe tensor %s missing or not of shape [%lld%s%.0lld]", path, name,
                       (long long)d0, ndim == 2 ? ", " : "", ndim == 2 ? (long long)d1 : 0LL);
    size_t n = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(t->data[i])) return sn_fail(SONO_E_FORMAT, "%s: probe tensor %s holds a non-finite value", path, name);
    memcpy(dst, t->data, n * sizeof(float));
    return 0;
}

/* The probe in a loaded tensor set (freed here); path names it in errors. */
static sono_probe *probe_from_tensors(sono_tensors *ts, int rc, const char *path, int *err) {
    sono_probe *p = NULL;
    json_object *meta = NULL, *cls = NULL;
    const char **names = NULL;
    if (!rc && (!ts->metadata || !(meta = json_tokener_parse(ts->metadata))))
        rc = sn_fail(SONO_E_FORMAT, "%s: not a sonotok probe (no metadata)", path);
    const char *fmt = meta ? meta_str(meta, "format") : NULL;
    if (!rc && (!fmt || strcmp(fmt, PROBE_FORMAT)))
        rc = sn_fail(SONO_E_FORMAT, "%s: not a sonotok probe (format is not %s)", path, PROBE_FORMAT);
    const char *ver = meta ? meta_str(meta, "version") : NULL;
    if (!rc && (!ver || strcmp(ver, PROBE_VERSION)))
        rc = sn_fail(SONO_E_FORMAT, "%s: probe version %s, this sonotok reads %s", path, ver ? ver : "(none)", PROBE_VERSION);
    sono_probe_info info = {0};
    if (!rc) {
        info.codec_name = meta_str(meta, "codec");
        info.labels = meta_str(meta, "labels");
        const char *feat = meta_str(meta, "features"), *ld = meta_str(meta, "latent_dim"), *cl = meta_str(meta, "classes");
        char *end = NULL;
        long d = ld ? strtol(ld, &end, 10) : -1;
        info.latent_dim = (end && !*end && d > 0 && d <= PROBE_MAX_FEATURES / 2) ? (int)d : -1;
        info.feature_kind = feat && !strcmp(feat, "mean") ? SONO_PROBE_MEAN : feat && !strcmp(feat, "mean_std") ? SONO_PROBE_MEAN_STD : -1;
        cls = cl ? json_tokener_parse(cl) : NULL;
        if (!info.codec_name || !info.labels || info.latent_dim < 0 || info.feature_kind < 0 || !cls ||
            !json_object_is_type(cls, json_type_array) || parse_hash(meta_str(meta, "codec_hash"), info.codec_hash))
            rc = sn_fail(SONO_E_FORMAT, "%s: probe metadata incomplete or malformed", path);
    }
    if (!rc) {
        size_t K = json_object_array_length(cls);
        if (K < 2 || K > PROBE_MAX_CLASSES) rc = sn_fail(SONO_E_FORMAT, "%s: probe with %zu classes", path, K);
        else if (!(names = calloc(K, sizeof *names))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
        for (size_t k = 0; !rc && k < K; k++) {
            json_object *v = json_object_array_get_idx(cls, k);
            if (!json_object_is_type(v, json_type_string) || !json_object_get_string_len(v))
                rc = sn_fail(SONO_E_FORMAT, "%s: probe class %zu is not a name", path, k);
            else names[k] = json_object_get_string(v);
        }
        info.n_classes = (int)K;
        info.class_names = names;
    }
    if (!rc) {
        p = sn_probe_new(&info, &rc);
        if (rc == SONO_E_ARG) rc = sn_fail(SONO_E_FORMAT, "%s: %s", path, sono_last_error());
    }
    if (!rc) rc = take(ts, path, "feature_mean", 1, p->F, 0, p->mean);
    if (!rc) rc = take(ts, path, "feature_std", 1, p->F, 0, p->std);
    if (!rc) rc = take(ts, path, "weight", 2, p->K, p->F, p->W);
    if (!rc) rc = take(ts, path, "bias", 1, p->K, 0, p->b);
    for (int j = 0; !rc && j < p->F; j++)
        if (!(p->std[j] > 0)) rc = sn_fail(SONO_E_FORMAT, "%s: probe feature %d has deviation %g", path, j, (double)p->std[j]);
    free(names);
    json_object_put(cls);
    json_object_put(meta);
    sn_tensors_free(ts);
    if (rc) {
        sono_probe_free(p);
        p = NULL;
    }
    if (err) *err = rc;
    return p;
}

sono_probe *sono_probe_load(const char *path, int *err) {
    sono_tensors *ts = NULL;
    int rc = sn_safetensors_load(path, &ts);
    return probe_from_tensors(ts, rc, path, err);
}

sono_probe *sn_probe_load_mem(const uint8_t *buf, size_t n_bytes, int *err) {
    sono_tensors *ts = NULL;
    int rc = sn_safetensors_load_mem(buf, n_bytes, &ts);
    return probe_from_tensors(ts, rc, "(memory)", err);
}
