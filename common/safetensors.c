/* safetensors reader and writer. Layout: u64 little-endian header length N,
 * N bytes of JSON ({"name": {"dtype", "shape", "data_offsets": [begin, end]},
 * optional "__metadata__": {str: str}}, padded with spaces), then the data
 * area that the offsets index. The reader requires the tensors to tile the
 * data area exactly (no gaps, no overlap, nothing after), as the format
 * specifies; the writer pads the header so the data starts 8-byte aligned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "tensorset.h"
#include "sono_internal.h"
#include "tensors.h"

#define MAX_HEADER ((uint64_t)100 << 20) /* the reference implementation's limit */
#define JSON_DEPTH 16

static const struct { const char *name; int dtype; } st_dtypes[] = {
    {"F64", TD_F64}, {"F32", TD_F32}, {"F16", TD_F16}, {"BF16", TD_BF16}, {"I64", TD_I64}, {"I32", TD_I32},
    {"I16", TD_I16}, {"I8", TD_I8}, {"U8", TD_U8}, {"BOOL", TD_BOOL}, {"U16", TD_U16}, {"U32", TD_U32}, {"U64", TD_U64},
};

typedef struct {
    const char *name;
    int dtype, ndim;
    int64_t shape[SONO_MAX_DIMS];
    uint64_t numel, begin, end;
} st_entry;

static int by_offset(const void *x, const void *y) {
    const st_entry *a = *(const st_entry *const *)x, *b = *(const st_entry *const *)y;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    return a->end < b->end ? -1 : a->end > b->end;
}

/* Non-negative JSON integer, or -1. */
static int64_t json_uint(json_object *v) {
    if (!v || !json_object_is_type(v, json_type_int)) return -1;
    int64_t x = json_object_get_int64(v);
    return x < 0 ? -1 : x;
}

static int parse_entry(const char *name, json_object *v, uint64_t data_size, st_entry *e) {
    json_object *dt, *shape, *offs;
    e->name = name;
    if (!json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, "dtype", &dt) ||
        !json_object_object_get_ex(v, "shape", &shape) || !json_object_object_get_ex(v, "data_offsets", &offs) ||
        !json_object_is_type(dt, json_type_string) || !json_object_is_type(shape, json_type_array) ||
        !json_object_is_type(offs, json_type_array) || json_object_array_length(offs) != 2)
        return sn_fail(SONO_E_FORMAT, "safetensors: entry '%.200s' lacks dtype, shape or data_offsets", name);
    const char *ds = json_object_get_string(dt);
    e->dtype = -1;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(ds, st_dtypes[i].name)) e->dtype = st_dtypes[i].dtype;
    if (e->dtype < 0) return sn_fail(SONO_E_UNSUPPORTED, "safetensors: tensor '%.200s' has dtype %.32s", name, ds);
    size_t nd = json_object_array_length(shape);
    if (nd > SONO_MAX_DIMS)
        return sn_fail(SONO_E_UNSUPPORTED, "safetensors: tensor '%.200s' has %zu dims (at most %d)", name, nd, SONO_MAX_DIMS);
    e->ndim = (int)nd;
    uint64_t numel = 1;
    int huge = 0;
    for (size_t d = 0; d < nd; d++) {
        int64_t s = json_uint(json_object_array_get_idx(shape, d));
        if (s < 0) return sn_fail(SONO_E_FORMAT, "safetensors: tensor '%.200s' has a bad shape", name);
        e->shape[d] = s;
        if (s && numel > UINT64_MAX / (uint64_t)s) huge = 1;
        else numel *= (uint64_t)s;
    }
    /* the float32 copy must fit too, hence the /4 */
    if (huge || numel > SONO_MAX_ALLOC / sizeof(float))
        return sn_fail(SONO_E_LIMIT, "safetensors: tensor '%.200s' is too large", name);
    e->numel = numel;
    int64_t b = json_uint(json_object_array_get_idx(offs, 0)), en = json_uint(json_object_array_get_idx(offs, 1));
    if (b < 0 || en < 0 || b > en)
        return sn_fail(SONO_E_FORMAT, "safetensors: tensor '%.200s' has bad data_offsets", name);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    if (e->end - e->begin != numel * sn_tdtype_size(e->dtype))
        return sn_fail(SONO_E_FORMAT, "safetensors: tensor '%.200s' spans %llu bytes, its shape needs %llu", name,
                         (unsigned long long)(e->end - e->begin), (unsigned long long)(numel * sn_tdtype_size(e->dtype)));
    if (e->end > data_size)
        return sn_fail(SONO_E_TRUNCATED, "safetensors: tensor '%.200s' ends at byte %llu of a %llu-byte data area", name,
                         (unsigned long long)e->end, (unsigned long long)data_size);
    return 0;
}

/* __metadata__ must map strings to strings. */
static int check_metadata(json_object *m) {
    if (!json_object_is_type(m, json_type_object)) return 0;
    json_object_object_foreach(m, k, v) {
        (void)k;
        if (!json_object_is_type(v, json_type_string)) return 0;
    }
    return 1;
}

int sn_safetensors_load_mem(const uint8_t *buf, size_t n, sono_tensors **out) {
    if (!out) return sn_fail(SONO_E_ARG, "safetensors_load: out is NULL");
    *out = NULL;
    if (!buf && n) return sn_fail(SONO_E_ARG, "safetensors_load: NULL buffer");
    if (n < 8) return sn_fail(SONO_E_TRUNCATED, "safetensors: %zu bytes, shorter than the header length", n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > MAX_HEADER)
        return sn_fail(SONO_E_LIMIT, "safetensors: header of %llu bytes (at most %llu)", (unsigned long long)hlen,
                         (unsigned long long)MAX_HEADER);
    if (hlen > n - 8)
        return sn_fail(SONO_E_TRUNCATED, "safetensors: header of %llu bytes but only %zu follow", (unsigned long long)hlen, n - 8);
    const char *hdr = (const char *)buf + 8;
    if (hlen < 2 || hdr[0] != '{') return sn_fail(SONO_E_FORMAT, "safetensors: header is not a JSON object");
    if (memchr(hdr, 0, (size_t)hlen)) return sn_fail(SONO_E_FORMAT, "safetensors: NUL byte in the header");
    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_size = n - 8 - hlen;

    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (!tok) return sn_fail(SONO_E_NOMEM, "safetensors: out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, hdr, (int)hlen);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int rc = 0;
    st_entry *ents = NULL, **order = NULL;
    sono_tensors *ts = NULL;
    if (!root || jerr != json_tokener_success) {
        rc = sn_fail(SONO_E_FORMAT, "safetensors: bad JSON header: %s",
                       jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr));
        goto out;
    }
    for (size_t i = end; i < hlen; i++)
        if (hdr[i] != ' ' && hdr[i] != '\t' && hdr[i] != '\n' && hdr[i] != '\r') {
            rc = sn_fail(SONO_E_FORMAT, "safetensors: bytes after the JSON header");
            goto out;
        }
    if (!json_object_is_type(root, json_type_object)) {
        rc = sn_fail(SONO_E_FORMAT, "safetensors: header is not a JSON object");
        goto out;
    }

    size_t count = (size_t)json_object_object_length(root), n_ent = 0;
    ents = calloc(count + 1, sizeof *ents);
    order = calloc(count + 1, sizeof *order);
    if (!ents || !order) {
        rc = sn_fail(SONO_E_NOMEM, "safetensors: out of memory");
        goto out;
    }
    json_object *meta = NULL;
    json_object_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (!check_metadata(val)) {
                rc = sn_fail(SONO_E_FORMAT, "safetensors: __metadata__ is not an object of strings");
                goto out;
            }
            meta = val;
            continue;
        }
        if ((rc = parse_entry(key, val, data_size, &ents[n_ent])) < 0) goto out;
        order[n_ent] = &ents[n_ent];
        n_ent++;
    }
    /* the tensors must tile the data area */
    qsort(order, n_ent, sizeof *order, by_offset);
    uint64_t pos = 0;
    for (size_t i = 0; i < n_ent; i++) {
        if (order[i]->begin != pos) {
            rc = sn_fail(SONO_E_FORMAT, "safetensors: tensor '%.200s' %s at byte %llu (expected %llu)", order[i]->name,
                           order[i]->begin < pos ? "overlaps another" : "leaves a gap", (unsigned long long)order[i]->begin,
                           (unsigned long long)pos);
            goto out;
        }
        pos = order[i]->end;
    }
    if (pos != data_size) {
        rc = sn_fail(SONO_E_FORMAT, "safetensors: %llu bytes after the last tensor", (unsigned long long)(data_size - pos));
        goto out;
    }

    const char *meta_text = meta ? json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
    tset_sizes sz = {.meta_bytes = meta_text ? strlen(meta_text) + 1 : 0};
    for (size_t i = 0; i < n_ent; i++)
        if ((rc = sn_tset_count(&sz, strlen(ents[i].name), ents[i].numel)) < 0) goto out;
    if ((rc = sn_tset_alloc(&ts, &sz)) < 0) goto out;
    if (meta_text) memcpy(sn_tset_meta(ts), meta_text, sz.meta_bytes);
    for (size_t i = 0; i < n_ent; i++) {
        float *dst = sn_tset_add(ts, ents[i].name, strlen(ents[i].name), ents[i].ndim, ents[i].shape);
        if (!dst) {
            rc = sn_fail(SONO_E_FORMAT, "safetensors: internal size mismatch");
            goto out;
        }
        if (ents[i].numel) sn_tdtype_convert(dst, data + ents[i].begin, ents[i].dtype, (size_t)ents[i].numel, 1);
    }
    *out = ts;
    ts = NULL;
out:
    sn_tensors_free(ts);
    free(ents);
    free(order);
    json_object_put(root);
    return rc;
}

int sn_safetensors_load(const char *path, sono_tensors **out) {
    if (!path || !out) return sn_fail(SONO_E_ARG, "safetensors_load: NULL argument");
    *out = NULL;
    const uint8_t *buf;
    size_t n;
    int mapped;
    int rc = sn_map_file(path, SONO_MAX_ALLOC, &buf, &n, &mapped);
    if (rc < 0) return rc;
    rc = sn_safetensors_load_mem(buf, n, out);
    sn_unmap_file(buf, n, mapped);
    if (rc < 0) sn_error_prefix("%s", path);
    return rc;
}

/* ---- writer ---- */

static json_object *new_shape(const sono_tensor *t) {
    json_object *a = json_object_new_array();
    for (int d = 0; a && d < t->ndim; d++) json_object_array_add(a, json_object_new_int64(t->shape[d]));
    return a;
}

/* The header JSON (without padding), or NULL with the error recorded. */
static json_object *build_header(const sono_tensors *ts, const char *metadata_json, int f16, int *rc) {
    json_object *root = json_object_new_object();
    *rc = 0;
    if (!root) {
        *rc = sn_fail(SONO_E_NOMEM, "safetensors_save: out of memory");
        return NULL;
    }
    if (metadata_json) {
        json_object *m = json_tokener_parse(metadata_json);
        if (!m || !check_metadata(m)) {
            json_object_put(m);
            json_object_put(root);
            *rc = sn_fail(SONO_E_ARG, "safetensors_save: metadata is not a JSON object of strings");
            return NULL;
        }
        json_object_object_add(root, "__metadata__", m);
    }
    uint64_t off = 0, esz = f16 ? 2 : 4;
    for (int i = 0; i < ts->n; i++) {
        const sono_tensor *t = &ts->t[i];
        uint64_t numel = 1;
        int bad = !t->name || t->ndim < 0 || t->ndim > SONO_MAX_DIMS || (t->numel && !t->data);
        for (int d = 0; !bad && d < t->ndim; d++) {
            if (t->shape[d] < 0 || (t->shape[d] && numel > UINT64_MAX / (uint64_t)t->shape[d])) bad = 1;
            else numel *= (uint64_t)t->shape[d];
        }
        if (bad || numel != (uint64_t)t->numel) {
            json_object_put(root);
            *rc = sn_fail(SONO_E_ARG, "safetensors_save: tensor %d has an inconsistent shape", i);
            return NULL;
        }
        if (!strcmp(t->name, "__metadata__") || json_object_object_get_ex(root, t->name, NULL)) {
            json_object_put(root);
            *rc = sn_fail(SONO_E_ARG, "safetensors_save: duplicate or reserved tensor name '%.200s'", t->name);
            return NULL;
        }
        json_object *e = json_object_new_object(), *offs = json_object_new_array();
        if (e && offs) {
            json_object_object_add(e, "dtype", json_object_new_string(f16 ? "F16" : "F32"));
            json_object_object_add(e, "shape", new_shape(t));
            json_object_array_add(offs, json_object_new_int64((int64_t)off));
            json_object_array_add(offs, json_object_new_int64((int64_t)(off + numel * esz)));
            json_object_object_add(e, "data_offsets", offs);
            json_object_object_add(root, t->name, e);
        } else {
            json_object_put(e);
            json_object_put(offs);
            json_object_put(root);
            *rc = sn_fail(SONO_E_NOMEM, "safetensors_save: out of memory");
            return NULL;
        }
        off += numel * esz;
    }
    return root;
}

int sn_safetensors_save(const char *path, const sono_tensors *ts, const char *metadata_json, int f16) {
    if (!path || !ts || ts->n < 0 || (ts->n > 0 && !ts->t)) return sn_fail(SONO_E_ARG, "safetensors_save: bad arguments");
    int rc;
    json_object *root = build_header(ts, metadata_json, f16, &rc);
    if (!root) return rc;
    const char *hdr = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8; /* data starts 8-byte aligned */
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    FILE *f = fopen(path, "wb");
    if (!f) {
        json_object_put(root);
        return sn_fail(SONO_E_IO, "cannot create %s: %s", path, strerror(errno));
    }
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    json_object_put(root);
    uint16_t half[4096];
    for (int i = 0; ok && i < ts->n; i++) {
        const sono_tensor *t = &ts->t[i];
        size_t numel = (size_t)t->numel;
        if (!numel) continue;
        if (!f16) {
            ok = fwrite(t->data, sizeof(float), numel, f) == numel;
            continue;
        }
        for (size_t j = 0; ok && j < numel; j += 4096) {
            size_t k = SONO_MIN(numel - j, (size_t)4096);
            for (size_t q = 0; q < k; q++) half[q] = sn_float_to_half(t->data[j + q]);
            ok = fwrite(half, sizeof(uint16_t), k, f) == k;
        }
    }
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) return sn_fail(SONO_E_IO, "cannot write %s: %s", path, strerror(e));
    return 0;
}
