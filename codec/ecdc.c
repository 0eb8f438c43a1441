/* EnCodec's .ecdc files (facebookresearch/encodec, encodec/binary.py and
 * encodec/compress.py), without the variant coded by its language model: a
 * 9-byte preamble, JSON metadata, then per segment an optional big-endian
 * float32 scale and the codes bit-packed time-major in log2(codebook size)
 * bits each. Written byte for byte as the reference writes the same codes;
 * read strictly, so a file that reads is one the reference could have
 * written. The layout is in codec/FORMATS.md (".ecdc"). */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "sono_internal.h"
#include "tokdata.h"

#define ECDC_MAGIC "ECDC"
#define ECDC_PREAMBLE 9                  /* magic, version (u8), metadata bytes (u32 big-endian) */
#define ECDC_MAX_META 65536              /* the reference writes about 60 bytes */
#define ECDC_MAX_NQ 1024
#define ECDC_MAX_SAMPLES ((int64_t)1 << 52)
#define ECDC_MAX_SEGMENTS ((int64_t)1 << 24)
#define ECDC_MAX_FRAMES ((int64_t)1 << 32)
#define ECDC_SCALE_BYTES 4
#define ECDC_JSON_MAX 640                /* the metadata we write: a 63-byte name escapes to at most 378 */

static uint32_t ecdc_rd_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void ecdc_wr_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* ---- layout ---- */

void sn_codec_config_ecdc_layout(const codec_config *cfg, ecdc_layout *g) {
    memset(g, 0, sizeof *g);
    g->sample_rate = cfg->sample_rate;
    g->channels = cfg->channels;
    g->hop = sn_codec_config_hop(cfg);
    g->codebook_size = cfg->codebook_size;
    g->max_n_q = cfg->n_q;
    g->segment_samples = sn_codec_config_segment_length(cfg);
    g->segment_stride = sn_codec_config_segment_stride(cfg);
    g->scaled = cfg->normalize;
}

/* Bits per code (the reference's bits_per_codebook = log2(bins), which it
 * asserts is whole), or a negative error. */
static int ecdc_layout_bits(const ecdc_layout *g) {
    if (!g || g->hop < 1 || g->sample_rate < 1 || g->channels < 1 || g->max_n_q < 1 || g->segment_samples < 0 ||
        (g->segment_samples > 0 && g->segment_stride < 1))
        return sn_fail(SONO_E_ARG, "ecdc: invalid model layout");
    int bits = 1;
    while (bits <= 16 && ((int32_t)1 << bits) < g->codebook_size) bits++;
    if (bits > 16 || ((int32_t)1 << bits) != g->codebook_size)
        return sn_fail(SONO_E_UNSUPPORTED,
                       "ecdc: the model's codebooks hold %d codes; .ecdc packs log2(size) bits per code, so the "
                       "size must be a power of two from 2 to 65536", g->codebook_size);
    return bits;
}

/* EnCodec's segments of n_samples: they start at 0, stride, 2 stride, ...
 * below n_samples and are min(segment, n_samples - start) long; an
 * unsegmented model has one, the whole signal. */
static int64_t ecdc_n_segments(const ecdc_layout *g, int64_t n_samples) {
    return g->segment_samples ? (n_samples + g->segment_stride - 1) / g->segment_stride : 1;
}

static int64_t ecdc_segment_frames(const ecdc_layout *g, int64_t n_samples, int64_t i) {
    int64_t len = g->segment_samples ? SONO_MIN(g->segment_samples, n_samples - i * g->segment_stride) : n_samples;
    return (len + g->hop - 1) / g->hop;
}

static uint64_t ecdc_segment_bytes(const ecdc_layout *g, int64_t frames, int n_q, int bits) {
    return (g->scaled ? ECDC_SCALE_BYTES : 0) + ((uint64_t)frames * (uint64_t)n_q * (uint64_t)bits + 7) / 8;
}

typedef struct {
    int64_t n_segments, n_frames;
    uint64_t payload_bytes; /* everything after the metadata */
} ecdc_plan;

/* Segments, frames and bytes of n_samples of audio in n_q codebooks;
 * SONO_E_LIMIT beyond the format's limits. */
static int ecdc_plan_for(const ecdc_layout *g, int64_t n_samples, int n_q, int bits, ecdc_plan *p) {
    memset(p, 0, sizeof *p);
    p->n_segments = ecdc_n_segments(g, n_samples);
    if (p->n_segments > ECDC_MAX_SEGMENTS)
        return sn_fail(SONO_E_LIMIT, "ecdc: %lld samples make %lld segments (at most 2^24)", (long long)n_samples,
                       (long long)p->n_segments);
    for (int64_t i = 0; i < p->n_segments; i++) {
        int64_t f = ecdc_segment_frames(g, n_samples, i);
        p->n_frames += f;
        if (p->n_frames > ECDC_MAX_FRAMES)
            return sn_fail(SONO_E_LIMIT, "ecdc: %lld samples make more than 2^32 frames", (long long)n_samples);
        p->payload_bytes += ecdc_segment_bytes(g, f, n_q, bits);
    }
    size_t n_codes;
    if (!sn_mul_ok((size_t)n_q, (size_t)p->n_frames, &n_codes) || n_codes > SONO_MAX_ALLOC / sizeof(int32_t))
        return sn_fail(SONO_E_LIMIT, "ecdc: %d codebooks x %lld frames exceed 4 GiB of codes", n_q,
                       (long long)p->n_frames);
    return 0;
}

/* ---- metadata ---- */

/* Append s as Python's json.dumps writes a str (ensure_ascii): \" \\ \b \f
 * \n \r \t, other characters outside ' '..'~' as \u00xx, lowercase hex, and
 * those beyond U+FFFF as a surrogate pair. 0, or -1 when s is not UTF-8 or
 * out does not have room. */
static int ecdc_json_string(char *out, size_t cap, size_t *o, const char *s) {
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s);
    char tmp[16];
    if (*o + 1 >= cap) return -1;
    out[(*o)++] = '"';
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = sn_utf8_next(p + i, n - i, &cp);
        if (!k) return -1;
        i += k;
        int m;
        switch (cp) {
        case '"': m = snprintf(tmp, sizeof tmp, "\\\""); break;
        case '\\': m = snprintf(tmp, sizeof tmp, "\\\\"); break;
        case '\b': m = snprintf(tmp, sizeof tmp, "\\b"); break;
        case '\f': m = snprintf(tmp, sizeof tmp, "\\f"); break;
        case '\n': m = snprintf(tmp, sizeof tmp, "\\n"); break;
        case '\r': m = snprintf(tmp, sizeof tmp, "\\r"); break;
        case '\t': m = snprintf(tmp, sizeof tmp, "\\t"); break;
        default:
            if (cp >= 0x20 && cp <= 0x7E) m = snprintf(tmp, sizeof tmp, "%c", (char)cp);
            else if (cp < 0x10000) m = snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
            else
                m = snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", (unsigned)(0xD800 + ((cp - 0x10000) >> 10)),
                             (unsigned)(0xDC00 + ((cp - 0x10000) & 0x3FF)));
        }
        if (*o + (size_t)m + 1 >= cap) return -1;
        memcpy(out + *o, tmp, (size_t)m);
        *o += (size_t)m;
    }
    out[(*o)++] = '"';
    return 0;
}

/* The metadata as compress_to_file writes it: json.dumps of the dict
 * {'m', 'al', 'nc', 'lm'} in that order, with ", " and ": " between items. */
static int ecdc_json_write(const char *model, int64_t n_samples, int n_q, char *out, size_t cap, size_t *n_out) {
    size_t o = (size_t)snprintf(out, cap, "{\"m\": ");
    if (ecdc_json_string(out, cap, &o, model))
        return sn_fail(SONO_E_ARG, "ecdc: the model name is not valid UTF-8");
    int m = snprintf(out + o, cap - o, ", \"al\": %lld, \"nc\": %d, \"lm\": false}", (long long)n_samples, n_q);
    if (m < 0 || (size_t)m >= cap - o) return sn_fail(SONO_E_ARG, "ecdc: metadata too long");
    *n_out = o + (size_t)m;
    return 0;
}

/* An integer field of the metadata in [lo, hi] (hi beyond: SONO_E_LIMIT). */
static int ecdc_json_int(json_object *root, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, key, &v))
        return sn_fail(SONO_E_FORMAT, "ecdc: the metadata has no \"%s\"", key);
    if (!json_object_is_type(v, json_type_int))
        return sn_fail(SONO_E_FORMAT, "ecdc: \"%s\" is not an integer", key);
    int64_t x = json_object_get_int64(v);
    if (x > hi || (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX))
        return sn_fail(SONO_E_LIMIT, "ecdc: \"%s\" is %s (at most %lld)", key, json_object_get_string(v),
                       (long long)hi);
    if (x < lo) return sn_fail(SONO_E_FORMAT, "ecdc: \"%s\" is %lld (at least %lld)", key, (long long)x, (long long)lo);
    *out = x;
    return 0;
}

/* Fill info from the parsed metadata object: "lm" first, as a file coded
 * with the LM is unsupported whatever else it holds. */
static int ecdc_json_read(json_object *root, sono_ecdc_info *info) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, "lm", &v)) return sn_fail(SONO_E_FORMAT, "ecdc: the metadata has no \"lm\"");
    if (!json_object_is_type(v, json_type_boolean)) return sn_fail(SONO_E_FORMAT, "ecdc: \"lm\" is not true or false");
    if (json_object_get_boolean(v))
        return sn_fail(SONO_E_UNSUPPORTED, "ecdc with the entropy-coded LM is not supported (\"lm\": true; "
                                           "the reference writes without it with use_lm=False)");
    if (!json_object_object_get_ex(root, "m", &v)) return sn_fail(SONO_E_FORMAT, "ecdc: the metadata has no \"m\"");
    if (!json_object_is_type(v, json_type_string)) return sn_fail(SONO_E_FORMAT, "ecdc: \"m\" is not a string");
    const char *name = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len == 0) return sn_fail(SONO_E_FORMAT, "ecdc: the model name is empty");
    if (len >= SONO_MODEL_NAME_MAX)
        return sn_fail(SONO_E_LIMIT, "ecdc: the model name is %zu bytes (at most %d)", len, SONO_MODEL_NAME_MAX - 1);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = sn_utf8_next((const uint8_t *)name + i, len - i, &cp);
        if (!k || cp == 0) return sn_fail(SONO_E_FORMAT, "ecdc: the model name is not valid UTF-8 text");
        i += k;
    }
    memcpy(info->model_name, name, len);
    info->model_name[len] = 0;
    int64_t x;
    int rc = ecdc_json_int(root, "nc", 1, ECDC_MAX_NQ, &x);
    if (rc) return rc;
    info->n_q = (int32_t)x;
    if (!json_object_object_get_ex(root, "al", &v)) return sn_fail(SONO_E_FORMAT, "ecdc: the metadata has no \"al\"");
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 0)
        return sn_fail(SONO_E_EMPTY, "ecdc: the audio length \"al\" is 0");
    if ((rc = ecdc_json_int(root, "al", 1, ECDC_MAX_SAMPLES, &info->n_samples))) return rc;
    return 0;
}

int sono_ecdc_probe(const uint8_t *buf, size_t n, sono_ecdc_info *info) {
    if (!info) return sn_fail(SONO_E_ARG, "ecdc: NULL info");
    memset(info, 0, sizeof *info);
    if (!buf && n) return sn_fail(SONO_E_ARG, "ecdc: NULL buffer");
    if (n < 4) {
        if (n && memcmp(buf, ECDC_MAGIC, n)) return sn_fail(SONO_E_FORMAT, "ecdc: not an .ecdc file (no ECDC magic)");
        return sn_fail(SONO_E_TRUNCATED, "ecdc: the file ends after %zu bytes, inside the magic", n);
    }
    if (memcmp(buf, ECDC_MAGIC, 4)) return sn_fail(SONO_E_FORMAT, "ecdc: not an .ecdc file (no ECDC magic)");
    if (n < ECDC_PREAMBLE)
        return sn_fail(SONO_E_TRUNCATED, "ecdc: the file ends after %zu bytes, inside the 9-byte preamble", n);
    if (buf[4] != 0) return sn_fail(SONO_E_UNSUPPORTED, "ecdc: version %u (only version 0 exists)", buf[4]);
    uint32_t meta = ecdc_rd_be32(buf + 5);
    if (meta == 0) return sn_fail(SONO_E_FORMAT, "ecdc: the metadata is empty");
    if (meta > ECDC_MAX_META)
        return sn_fail(SONO_E_LIMIT, "ecdc: metadata of %u bytes (at most %d)", meta, ECDC_MAX_META);
    if (n - ECDC_PREAMBLE < meta)
        return sn_fail(SONO_E_TRUNCATED, "ecdc: the file ends %zu bytes into %u bytes of metadata", n - ECDC_PREAMBLE,
                       meta);
    /* The reference decodes the metadata as UTF-8, then parses it as JSON. */
    const uint8_t *js = buf + ECDC_PREAMBLE;
    for (size_t i = 0; i < meta;) {
        uint32_t cp;
        size_t k = sn_utf8_next(js + i, meta - i, &cp);
        if (!k) return sn_fail(SONO_E_FORMAT, "ecdc: the metadata is not valid UTF-8");
        i += k;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) return sn_fail(SONO_E_NOMEM, "ecdc: out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, (const char *)js, (int)meta);
    size_t end = json_tokener_get_parse_end(tok);
    int ok = json_tokener_get_error(tok) == json_tokener_success && root && json_object_is_type(root, json_type_object);
    json_tokener_free(tok);
    while (ok && end < meta && (js[end] == ' ' || js[end] == '\t' || js[end] == '\n' || js[end] == '\r')) end++;
    int rc = 0;
    if (!ok || end != meta) rc = sn_fail(SONO_E_FORMAT, "ecdc: the metadata is not a JSON object");
    else rc = ecdc_json_read(root, info);
    json_object_put(root);
    if (rc) {
        memset(info, 0, sizeof *info);
        return rc;
    }
    info->header_bytes = ECDC_PREAMBLE + (size_t)meta;
    return 0;
}

/* ---- codes ---- */

int sn_ecdc_encode(const sono_tokens *t, const ecdc_layout *g, uint8_t **buf, size_t *n_bytes) {
    if (!buf || !n_bytes) return sn_fail(SONO_E_ARG, "ecdc: NULL output");
    *buf = NULL;
    *n_bytes = 0;
    int bits = ecdc_layout_bits(g);
    if (bits < 0) return bits;
    if (!t || !t->codes) return sn_fail(SONO_E_ARG, "ecdc: no tokens");
    if (t->n_q < 1 || t->n_q > ECDC_MAX_NQ)
        return sn_fail(SONO_E_ARG, "ecdc: %d codebooks (1 to %d)", t->n_q, ECDC_MAX_NQ);
    if (t->n_samples < 1 || t->n_samples > ECDC_MAX_SAMPLES)
        return sn_fail(t->n_samples ? SONO_E_ARG : SONO_E_EMPTY, "ecdc: %lld samples (1 to 2^52)",
                       (long long)t->n_samples);
    char name[SONO_MODEL_NAME_MAX + 1], json[ECDC_JSON_MAX];
    memcpy(name, t->model_name, SONO_MODEL_NAME_MAX);
    name[SONO_MODEL_NAME_MAX] = 0;
    if (!name[0]) return sn_fail(SONO_E_ARG, "ecdc: the tokens name no model");
    size_t json_n = 0;
    int rc = ecdc_json_write(name, t->n_samples, t->n_q, json, sizeof json, &json_n);
    if (rc) return rc;
    ecdc_plan p;
    if ((rc = ecdc_plan_for(g, t->n_samples, t->n_q, bits, &p))) return rc;
    if (p.n_frames != t->n_frames)
        return sn_fail(SONO_E_ARG, "ecdc: the tokens hold %lld frames, but %lld samples make %lld",
                       (long long)t->n_frames, (long long)t->n_samples, (long long)p.n_frames);
    if (g->scaled) {
        if (!t->scales || t->n_segments != p.n_segments)
            return sn_fail(SONO_E_ARG, "ecdc: the model scales each of %lld segments; the tokens have %s",
                           (long long)p.n_segments, t->scales ? "another segment count" : "no scales");
        for (int i = 0; i < t->n_segments; i++)
            if (!isfinite(t->scales[i]) || t->scales[i] < 0)
                return sn_fail(SONO_E_RANGE, "ecdc: segment %d has scale %g", i, (double)t->scales[i]);
    }
    const size_t F = (size_t)t->n_frames;
    for (size_t i = 0; i < (size_t)t->n_q * F; i++)
        if (t->codes[i] < 0 || t->codes[i] >= g->codebook_size)
            return sn_fail(SONO_E_RANGE, "ecdc: code %d at codebook %zu frame %zu is outside [0, %d)", t->codes[i],
                           i / F, i % F, g->codebook_size);
    size_t total = ECDC_PREAMBLE + json_n + (size_t)p.payload_bytes;
    uint8_t *b = malloc(total);
    if (!b) return sn_fail(SONO_E_NOMEM, "ecdc: no memory for %zu bytes", total);
    memcpy(b, ECDC_MAGIC, 4);
    b[4] = 0;
    ecdc_wr_be32(b + 5, (uint32_t)json_n);
    memcpy(b + ECDC_PREAMBLE, json, json_n);
    /* Each segment: its scale ('!f'), then its codes time-major through a
     * BitPacker flushed at the segment's end. */
    size_t pos = ECDC_PREAMBLE + json_n;
    int64_t base = 0;
    for (int64_t s = 0; s < p.n_segments; s++) {
        int64_t f = ecdc_segment_frames(g, t->n_samples, s);
        if (g->scaled) {
            uint32_t u;
            memcpy(&u, &t->scales[s], 4);
            ecdc_wr_be32(b + pos, u);
            pos += ECDC_SCALE_BYTES;
        }
        sn_bitw w = {b + pos, 0, 0, 0};
        for (int64_t k = base; k < base + f; k++)
            for (int q = 0; q < t->n_q; q++) sn_bitw_put(&w, (uint32_t)t->codes[(size_t)q * F + (size_t)k], bits);
        sn_bitw_end(&w);
        pos += w.pos;
        base += f;
    }
    *buf = b;
    *n_bytes = total;
    return 0;
}

int sn_ecdc_decode(const uint8_t *buf, size_t n, const ecdc_layout *g, sono_tokens **out) {
    if (!out) return sn_fail(SONO_E_ARG, "ecdc: NULL output");
    *out = NULL;
    int bits = ecdc_layout_bits(g);
    if (bits < 0) return bits;
    sono_ecdc_info info;
    int rc = sono_ecdc_probe(buf, n, &info);
    if (rc) return rc;
    if (info.n_q > g->max_n_q)
        return sn_fail(SONO_E_RANGE, "ecdc: %d codebooks, the model has %d", info.n_q, g->max_n_q);
    /* Every segment takes at least a byte (and its scale): refuse a length
     * the file cannot hold before counting its segments' frames. */
    size_t avail = n - info.header_bytes;
    int64_t n_seg = ecdc_n_segments(g, info.n_samples);
    if (n_seg <= ECDC_MAX_SEGMENTS && (uint64_t)n_seg * (g->scaled ? ECDC_SCALE_BYTES + 1 : 1) > avail)
        return sn_fail(SONO_E_TRUNCATED,
                       "ecdc: the file ends early: %lld samples make %lld segments, it has %zu bytes of codes",
                       (long long)info.n_samples, (long long)n_seg, avail);
    ecdc_plan p;
    if ((rc = ecdc_plan_for(g, info.n_samples, info.n_q, bits, &p))) return rc;
    if (p.payload_bytes > avail)
        return sn_fail(SONO_E_TRUNCATED,
                       "ecdc: the file ends early: the codes of %lld samples take %llu bytes, it has %zu",
                       (long long)info.n_samples, (unsigned long long)p.payload_bytes, avail);
    if (p.payload_bytes < avail)
        return sn_fail(SONO_E_FORMAT, "ecdc: %llu bytes after the codes of %lld samples",
                       (unsigned long long)(avail - p.payload_bytes), (long long)info.n_samples);
    sono_tokens *t = sono_tokens_alloc(info.n_q, p.n_frames, (int)p.n_segments, g->scaled);
    if (!t) return sn_fail(SONO_E_NOMEM, "ecdc: no memory for %lld frames", (long long)p.n_frames);
    memcpy(t->model_name, info.model_name, sizeof t->model_name);
    t->sample_rate = g->sample_rate;
    t->channels = g->channels;
    t->hop = g->hop;
    t->codebook_size = g->codebook_size;
    t->n_samples = info.n_samples;
    t->segment_frames = g->segment_samples ? (g->segment_samples + g->hop - 1) / g->hop : 0;
    const size_t F = (size_t)p.n_frames;
    size_t pos = info.header_bytes;
    int64_t base = 0;
    for (int64_t s = 0; s < p.n_segments; s++) {
        int64_t f = ecdc_segment_frames(g, info.n_samples, s);
        if (g->scaled) {
            uint32_t u = ecdc_rd_be32(buf + pos);
            float scale;
            memcpy(&scale, &u, 4);
            if (!isfinite(scale) || scale < 0) {
                sono_tokens_free(t);
                return sn_fail(SONO_E_RANGE, "ecdc: segment %lld has scale %g", (long long)s, (double)scale);
            }
            t->scales[s] = scale;
            pos += ECDC_SCALE_BYTES;
        }
        size_t seg_bytes = (size_t)ecdc_segment_bytes(g, f, info.n_q, bits) - (g->scaled ? ECDC_SCALE_BYTES : 0);
        sn_bitr r = {buf + pos, 0, seg_bytes, 0, 0};
        for (int64_t k = base; k < base + f; k++)
            for (int q = 0; q < info.n_q; q++) t->codes[(size_t)q * F + (size_t)k] = (int32_t)sn_bitr_get(&r, bits);
        /* The reference's BitPacker pads with zeros; anything else was not written by it. */
        if (r.acc != 0) {
            sono_tokens_free(t);
            return sn_fail(SONO_E_FORMAT, "ecdc: segment %lld has non-zero padding bits", (long long)s);
        }
        pos += seg_bytes;
        base += f;
    }
    *out = t;
    return 0;
}

/* ---- with a codec ---- */

int sono_codec_ecdc_encode(const sono_codec *c, const sono_tokens *t, uint8_t **buf, size_t *n_bytes) {
    if (buf) *buf = NULL;
    if (n_bytes) *n_bytes = 0;
    if (!c || !t) return sn_fail(SONO_E_ARG, "ecdc: no codec or tokens");
    int rc = sono_codec_check_tokens(c, t);
    if (rc) return rc;
    ecdc_layout g;
    sn_codec_config_ecdc_layout(&c->cfg, &g);
    return sn_ecdc_encode(t, &g, buf, n_bytes);
}

int sono_codec_ecdc_decode(const sono_codec *c, const uint8_t *buf, size_t n_bytes, sono_tokens **out) {
    if (!out) return sn_fail(SONO_E_ARG, "ecdc: NULL output");
    *out = NULL;
    if (!c) return sn_fail(SONO_E_ARG, "ecdc: no codec");
    ecdc_layout g;
    sn_codec_config_ecdc_layout(&c->cfg, &g);
    sono_tokens *t = NULL;
    int rc = sn_ecdc_decode(buf, n_bytes, &g, &t);
    if (rc) return rc;
    snprintf(t->model_name, sizeof t->model_name, "%s", c->cfg.name);
    memcpy(t->model_hash, c->codes_hash, sizeof t->model_hash);
    if ((rc = sono_codec_check_tokens(c, t))) {
        sono_tokens_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
