/* Training checkpoints (common/checkpoint.h): safetensors with a format tag. */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sono_internal.h"
#include "tensors.h"

struct sn_ckpt {
    sono_tensors *ts;
    json_object *meta;
    const char *path;
};

json_object *sn_ckpt_meta_new(const char *format) {
    json_object *m = json_object_new_object();
    if (m) sn_ckpt_meta_add_str(m, "format", format);
    return m;
}

void sn_ckpt_meta_add_str(json_object *meta, const char *key, const char *value) {
    json_object_object_add(meta, key, json_object_new_string(value));
}

void sn_ckpt_meta_add_i64(json_object *meta, const char *key, int64_t value) {
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)value);
    sn_ckpt_meta_add_str(meta, key, v);
}

void sn_ckpt_meta_add_u64(json_object *meta, const char *key, uint64_t value) {
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)value);
    sn_ckpt_meta_add_str(meta, key, v);
}

void sn_ckpt_meta_add_dbl(json_object *meta, const char *key, double value) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", value); /* round-trips through strtod */
    sn_ckpt_meta_add_str(meta, key, b);
}

int sn_ckpt_save(const char *path, const sn_ckpt_buf *bufs, int n_bufs, json_object *meta) {
    const char **names = calloc((size_t)n_bufs + 1, sizeof *names);
    int *nd = calloc((size_t)n_bufs + 1, sizeof *nd);
    int64_t (*shapes)[SONO_MAX_DIMS] = calloc((size_t)n_bufs + 1, sizeof *shapes);
    const float **data = calloc((size_t)n_bufs + 1, sizeof *data);
    int rc = names && nd && shapes && data && meta ? 0 : sn_fail(SONO_E_NOMEM, "out of memory");
    for (int i = 0; !rc && i < n_bufs; i++) {
        names[i] = bufs[i].name;
        nd[i] = 1;
        shapes[i][0] = (int64_t)bufs[i].n_floats;
        data[i] = bufs[i].data;
    }
    sono_tensors *ts = NULL;
    if (!rc) rc = sn_tensors_create(&ts, n_bufs, names, nd, (const int64_t (*)[SONO_MAX_DIMS])shapes, data);
    /* through the output writer: the old checkpoint stays until the new one is complete */
    if (!rc) rc = sn_safetensors_save(path, ts, json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN), 0);
    sn_tensors_free(ts);
    json_object_put(meta);
    free(names);
    free(nd);
    free(shapes);
    free(data);
    return rc;
}

int sn_ckpt_open(const char *path, const char *format, sn_ckpt **out) {
    *out = NULL;
    sn_ckpt *c = calloc(1, sizeof *c);
    if (!c) return sn_fail(SONO_E_NOMEM, "out of memory");
    c->path = path;
    int rc = sn_safetensors_load(path, &c->ts);
    const char *f;
    if (!rc && (!c->ts->metadata || !(c->meta = json_tokener_parse(c->ts->metadata)) ||
                !(f = sn_ckpt_meta_str(c, "format")) || strcmp(f, format)))
        rc = sn_fail(SONO_E_FORMAT, "%s: not a sonotok training checkpoint", path);
    if (rc) {
        sn_ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void sn_ckpt_close(sn_ckpt *c) {
    if (!c) return;
    if (c->meta) json_object_put(c->meta);
    sn_tensors_free(c->ts);
    free(c);
}

const char *sn_ckpt_meta_str(const sn_ckpt *c, const char *key) {
    json_object *j;
    return c->meta && json_object_object_get_ex(c->meta, key, &j) ? json_object_get_string(j) : NULL;
}

int64_t sn_ckpt_meta_i64(const sn_ckpt *c, const char *key, int64_t dflt) {
    const char *s = sn_ckpt_meta_str(c, key);
    return s ? (int64_t)strtoll(s, NULL, 10) : dflt;
}

uint64_t sn_ckpt_meta_u64(const sn_ckpt *c, const char *key, uint64_t dflt) {
    const char *s = sn_ckpt_meta_str(c, key);
    return s ? (uint64_t)strtoull(s, NULL, 10) : dflt;
}

double sn_ckpt_meta_dbl(const sn_ckpt *c, const char *key, double dflt) {
    const char *s = sn_ckpt_meta_str(c, key);
    return s ? strtod(s, NULL) : dflt;
}

int sn_ckpt_has(const sn_ckpt *c, const char *name) { return sn_tensors_find(c->ts, name) != NULL; }

int sn_ckpt_take(const sn_ckpt *c, const char *name, float *dst, size_t n_floats) {
    const sono_tensor *x = sn_tensors_find(c->ts, name);
    if (!x || (size_t)x->numel != n_floats)
        return sn_fail(SONO_E_FORMAT, "%s: checkpoint tensor %s is missing or has the wrong size", c->path, name);
    memcpy(dst, x->data, n_floats * sizeof(float));
    return 0;
}
