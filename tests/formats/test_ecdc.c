/* .ecdc tests: byte identity with the reference implementation both ways
 * (fixtures written by facebookresearch/encodec through
 * tests/ref/ecdc_reference.py: 24 kHz in one segment, 48 kHz in three with
 * scales, two bandwidths each); refused files (cut at every length, magic,
 * version, the LM variant, every metadata field, padding, trailing bytes,
 * scales) with their codes and messages; model names escaped as Python's
 * json.dumps escapes them; refused tokens; random round trips over layouts,
 * checked against sizes this test computes itself.
 * usage: test-ecdc FIXTURE_DIR (tests/codec/data/ecdc) */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "sonotok/tokens.h"
#include "tensors.h"
#include "tokdata.h"
#include "test_util.h"

static const char *g_dir = ".";

static const char *const CASES[] = {"e24_1k5", "e24_6k", "e48_3k", "e48_6k", "e48_two"};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static int layout_for(const char *model, ecdc_layout *g) {
    codec_config cfg;
    if (sn_codec_config_preset(model, &cfg)) return -1;
    sn_codec_config_ecdc_layout(&cfg, g);
    return 0;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *b = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *nb = realloc(b, cap);
            if (!nb) break;
            b = nb;
        }
        size_t r = fread(b + *n, 1, cap - *n, f);
        *n += r;
        if (r == 0) break;
    }
    fclose(f);
    return b;
}

/* One reference case: its .ecdc bytes, and the codes, scales and metadata it
 * was written from, as tokens. load_case frees what it made when it fails. */
typedef struct {
    uint8_t *ecdc;
    size_t n;
    sono_tokens *t;
    ecdc_layout g;
    int n_seg_listed; /* segments in the metadata's segment_frames */
} ref_case;

static const char *meta_str(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static int load_case(const char *name, ref_case *c) {
    memset(c, 0, sizeof *c);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.ecdc", g_dir, name);
    c->ecdc = read_all(path, &c->n);
    CHECK_MSG(c->ecdc != NULL, "cannot read %s", path);
    snprintf(path, sizeof path, "%s/%s.safetensors", g_dir, name);
    sono_tensors *ts = NULL;
    int rc = sn_safetensors_load(path, &ts);
    CHECK_MSG(rc == 0, "%s: %s", path, sono_last_error());
    if (!c->ecdc || rc) {
        free(c->ecdc);
        return -1;
    }
    json_object *meta = json_tokener_parse(ts->metadata ? ts->metadata : "");
    const sono_tensor *codes = sn_tensors_find(ts, "codes"), *scales = sn_tensors_find(ts, "scales");
    const char *model = meta_str(meta, "m");
    int ok = meta && codes && codes->ndim == 2 && !layout_for(model, &c->g);
    CHECK_MSG(ok, "%s: metadata, codes or model %s missing", name, model);
    if (!ok) {
        json_object_put(meta);
        sn_tensors_free(ts);
        free(c->ecdc);
        return -1;
    }
    int n_q = (int)codes->shape[0];
    int64_t F = codes->shape[1];
    const char *sf = meta_str(meta, "segment_frames");
    int n_seg = 1;
    for (const char *p = sf; *p; p++) n_seg += *p == ',';
    c->n_seg_listed = n_seg;
    c->t = sono_tokens_alloc(n_q, F, n_seg, scales != NULL);
    snprintf(c->t->model_name, sizeof c->t->model_name, "%s", model);
    c->t->n_samples = atoll(meta_str(meta, "al"));
    CHECK_MSG(atoi(meta_str(meta, "nc")) == n_q, "%s: nc", name);
    c->t->sample_rate = c->g.sample_rate;
    c->t->channels = c->g.channels;
    c->t->hop = c->g.hop;
    c->t->codebook_size = c->g.codebook_size;
    c->t->segment_frames = c->g.segment_samples ? (c->g.segment_samples + c->g.hop - 1) / c->g.hop : 0;
    for (int64_t i = 0; i < n_q * F; i++) c->t->codes[i] = (int32_t)codes->data[i];
    if (scales) {
        CHECK_MSG(scales->numel == n_seg, "%s: %lld scales, %d segments", name, (long long)scales->numel, n_seg);
        for (int i = 0; i < n_seg && i < scales->numel; i++) c->t->scales[i] = scales->data[i];
    }
    json_object_put(meta);
    sn_tensors_free(ts);
    return 0;
}

static void free_case(ref_case *c) {
    free(c->ecdc);
    sono_tokens_free(c->t);
}

/* Our writer gives the reference's bytes; our reader gives the reference's codes. */
static void check_reference(const char *name, const ref_case *c) {
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = sn_ecdc_encode(c->t, &c->g, &buf, &n);
    CHECK_MSG(rc == 0, "%s: encode: %s", name, sono_last_error());
    size_t first = 0;
    while (rc == 0 && first < n && first < c->n && buf[first] == c->ecdc[first]) first++;
    CHECK_MSG(rc == 0 && n == c->n && first == n, "%s: our %zu bytes differ from the reference's %zu at byte %zu",
              name, n, c->n, first);
    free(buf);

    sono_tokens *t = NULL;
    rc = sn_ecdc_decode(c->ecdc, c->n, &c->g, &t);
    CHECK_MSG(rc == 0, "%s: decode: %s", name, sono_last_error());
    if (rc == 0) {
        CHECK(t->n_q == c->t->n_q && t->n_frames == c->t->n_frames && t->n_samples == c->t->n_samples);
        CHECK_MSG(t->n_segments == c->n_seg_listed, "%s: %d segments, the reference made %d", name,
                  t->n_segments, c->n_seg_listed);
        CHECK(!strcmp(t->model_name, c->t->model_name));
        CHECK(t->sample_rate == c->g.sample_rate && t->codebook_size == 1024);
        CHECK_MSG(!memcmp(t->codes, c->t->codes, (size_t)t->n_q * (size_t)t->n_frames * sizeof(int32_t)),
                  "%s: codes differ", name);
        CHECK((t->scales == NULL) == (c->t->scales == NULL));
        if (t->scales && c->t->scales && t->n_segments == c->n_seg_listed)
            CHECK_MSG(!memcmp(t->scales, c->t->scales, (size_t)t->n_segments * sizeof(float)),
                      "%s: scales differ", name);
    }
    sono_tokens_free(t);
    sono_ecdc_info info;
    CHECK(sono_ecdc_probe(c->ecdc, c->n, &info) == 0 && info.n_q == c->t->n_q &&
          info.n_samples == c->t->n_samples && !strcmp(info.model_name, c->t->model_name));
}

/* A cut at any length is TRUNCATED, and nothing is returned. */
static void check_truncated(const char *name, const ref_case *c) {
    int bad = 0;
    for (size_t cut = 0; cut < c->n; cut++) {
        sono_tokens *t = (sono_tokens *)&bad;
        int rc = sn_ecdc_decode(c->ecdc, cut, &c->g, &t);
        if (rc != SONO_E_TRUNCATED || t != NULL) {
            if (!bad) fprintf(stderr, "%s cut at %zu: %d %s\n", name, cut, rc, sono_last_error());
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%s: %d of %zu cuts not TRUNCATED", name, bad, c->n);
}

static void test_cases(void) {
    for (size_t k = 0; k < N_CASES; k++) {
        ref_case c;
        if (load_case(CASES[k], &c)) continue;
        check_reference(CASES[k], &c);
        check_truncated(CASES[k], &c);
        free_case(&c);
    }
}

/* b with its metadata replaced by json (the codes kept); caller frees. */
static uint8_t *with_meta(const uint8_t *b, size_t n, const char *json, size_t *n_out) {
    size_t old = (size_t)b[5] << 24 | (size_t)b[6] << 16 | (size_t)b[7] << 8 | b[8];
    size_t jl = strlen(json), rest = n - 9 - old;
    uint8_t *o = malloc(9 + jl + rest);
    memcpy(o, b, 5);
    for (int i = 0; i < 4; i++) o[5 + i] = (uint8_t)(jl >> (24 - 8 * i));
    memcpy(o + 9, json, jl);
    memcpy(o + 9 + jl, b + 9 + old, rest);
    *n_out = 9 + jl + rest;
    return o;
}

static void expect_fail(const char *what, const uint8_t *b, size_t n, const ecdc_layout *g, int code, const char *msg) {
    sono_tokens *t = (sono_tokens *)&code;
    int rc = sn_ecdc_decode(b, n, g, &t);
    CHECK_MSG(rc == code && t == NULL && strstr(sono_last_error(), msg), "%s: got %d (%s), expected %d with \"%s\"",
              what, rc, sono_last_error(), code, msg);
}

static void test_refused(void) {
    ref_case a, b;
    if (load_case("e24_1k5", &a)) return;
    if (load_case("e48_3k", &b)) {
        free_case(&a);
        return;
    }
    static const struct {
        const char *json;
        int code;
        const char *msg;
    } metas[] = {
        /* the reference's own metadata, rewritten: still the same file */
        {"{\"lm\":false,\"nc\":2,\"al\":24500,\"m\":\"encodec_24khz\"}", 0, ""},
        {" {\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 2, \"lm\": false, \"x\": [1]}\n", 0, ""},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 2, \"lm\": true}", SONO_E_UNSUPPORTED,
         "ecdc with the entropy-coded LM is not supported"},
        {"{\"m\": \"\", \"al\": 24500, \"nc\": 2, \"lm\": true}", SONO_E_UNSUPPORTED, "entropy-coded LM"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 2, \"lm\": 0}", SONO_E_FORMAT, "\"lm\" is not true or false"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 2}", SONO_E_FORMAT, "no \"lm\""},
        {"{\"al\": 24500, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "no \"m\""},
        {"{\"m\": 7, \"al\": 24500, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "\"m\" is not a string"},
        {"{\"m\": \"\", \"al\": 24500, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "model name is empty"},
        {"{\"m\": \"a\\u0000b\", \"al\": 24500, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "not valid UTF-8 text"},
        {"{\"m\": \"0123456789012345678901234567890123456789012345678901234567890123\", \"al\": 24500, \"nc\": 2, "
         "\"lm\": false}", SONO_E_LIMIT, "64 bytes (at most 63)"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"lm\": false}", SONO_E_FORMAT, "no \"nc\""},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": \"2\", \"lm\": false}", SONO_E_FORMAT, "\"nc\" is not an integer"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 0, \"lm\": false}", SONO_E_FORMAT, "\"nc\" is 0"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 1025, \"lm\": false}", SONO_E_LIMIT, "\"nc\" is 1025"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 33, \"lm\": false}", SONO_E_RANGE, "33 codebooks, the model has 32"},
        {"{\"m\": \"encodec_24khz\", \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "no \"al\""},
        {"{\"m\": \"encodec_24khz\", \"al\": 0, \"nc\": 2, \"lm\": false}", SONO_E_EMPTY, "\"al\" is 0"},
        {"{\"m\": \"encodec_24khz\", \"al\": -1, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "\"al\" is -1"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500.0, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "\"al\" is not an integer"},
        {"{\"m\": \"encodec_24khz\", \"al\": true, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "\"al\" is not an integer"},
        {"{\"m\": \"encodec_24khz\", \"al\": 4503599627370497, \"nc\": 2, \"lm\": false}", SONO_E_LIMIT, "at most 4503599627370496"},
        {"{\"m\": \"encodec_24khz\", \"al\": 18446744073709551615, \"nc\": 2, \"lm\": false}", SONO_E_LIMIT, "\"al\""},
        {"{\"m\": \"encodec_24khz\", \"al\": 1000000000000000, \"nc\": 2, \"lm\": false}", SONO_E_LIMIT, "2^32 frames"},
        {"{\"m\": \"encodec_24khz\", \"al\": 1000000000, \"nc\": 2, \"lm\": false}", SONO_E_TRUNCATED, "take 7812500 bytes"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24821, \"nc\": 2, \"lm\": false}", SONO_E_TRUNCATED, "take 195 bytes"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24180, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "3 bytes after the codes"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 1, \"lm\": false}", SONO_E_FORMAT, "bytes after the codes"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 2, \"lm\": false", SONO_E_FORMAT, "not a JSON object"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 2, \"lm\": false}}", SONO_E_FORMAT, "not a JSON object"},
        {"[1, 2]", SONO_E_FORMAT, "not a JSON object"},
        {"{\"m\": \"encodec_24khz\", \"al\": 24500, \"nc\": 2, \"lm\": false,}", SONO_E_FORMAT, "not a JSON object"},
        {"{'m': 'encodec_24khz', 'al': 24500, 'nc': 2, 'lm': False}", SONO_E_FORMAT, "not a JSON object"},
        {"{\"m\": \"encodec_\xff" "24khz\", \"al\": 24500, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "not valid UTF-8"},
        {"{\"m\": \"encodec_\xed\xa0\x80\", \"al\": 24500, \"nc\": 2, \"lm\": false}", SONO_E_FORMAT, "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof metas / sizeof metas[0]; i++) {
        size_t n;
        uint8_t *m = with_meta(a.ecdc, a.n, metas[i].json, &n);
        if (metas[i].code == 0) {
            sono_tokens *t = NULL;
            int rc = sn_ecdc_decode(m, n, &a.g, &t);
            CHECK_MSG(rc == 0 && t && !memcmp(t->codes, a.t->codes, 2 * 77 * sizeof(int32_t)), "metadata %s: %s",
                      metas[i].json, sono_last_error());
            sono_tokens_free(t);
        } else {
            expect_fail(metas[i].json, m, n, &a.g, metas[i].code, metas[i].msg);
        }
        free(m);
    }
    /* the LM is reported by the header reader alone too */
    size_t n;
    uint8_t *m = with_meta(a.ecdc, a.n, metas[2].json, &n);
    sono_ecdc_info info;
    CHECK(sono_ecdc_probe(m, n, &info) == SONO_E_UNSUPPORTED && info.n_q == 0 && !info.model_name[0]);
    free(m);

    uint8_t *x = malloc(a.n + 1);
    memcpy(x, a.ecdc, a.n);
    x[0] = 'X';
    expect_fail("magic", x, a.n, &a.g, SONO_E_FORMAT, "not an .ecdc file");
    expect_fail("magic, 2 bytes", x, 2, &a.g, SONO_E_FORMAT, "not an .ecdc file");
    x[0] = 'E';
    x[4] = 1;
    expect_fail("version 1", x, a.n, &a.g, SONO_E_UNSUPPORTED, "version 1 (only version 0 exists)");
    x[4] = 0;
    x[5] = 1;
    expect_fail("metadata length 2^24", x, a.n, &a.g, SONO_E_LIMIT, "at most 65536");
    x[5] = 0;
    memset(x + 5, 0, 4);
    expect_fail("metadata length 0", x, a.n, &a.g, SONO_E_FORMAT, "metadata is empty");
    memcpy(x, a.ecdc, a.n);
    x[a.n] = 0;
    expect_fail("a byte more", x, a.n + 1, &a.g, SONO_E_FORMAT, "1 bytes after the codes");
    /* 77 frames x 2 codebooks x 10 bits: the last byte holds 4 bits of codes */
    for (int bit = 4; bit < 8; bit++) {
        x[a.n - 1] = (uint8_t)(a.ecdc[a.n - 1] ^ (1u << bit));
        expect_fail("padding bit", x, a.n, &a.g, SONO_E_FORMAT, "segment 0 has non-zero padding bits");
    }
    x[a.n - 1] = a.ecdc[a.n - 1];
    free(x);

    /* 48 kHz: the scale before each segment */
    size_t meta48 = (size_t)b.ecdc[8], seg0 = 9 + meta48, seg1 = seg0 + 4 + 375, seg2 = seg1 + 4 + 373;
    CHECK(seg2 + 4 + 3 == b.n); /* segments of 150, 149 and 1 frames, 2 codebooks */
    x = malloc(b.n);
    static const struct {
        uint32_t bits;
        const char *msg;
    } scales[] = {{0x7FC00000u, "scale nan"}, {0x7F800000u, "scale inf"}, {0xBF800000u, "scale -1"}};
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        memcpy(x, b.ecdc, b.n);
        for (int j = 0; j < 4; j++) x[seg2 + (size_t)j] = (uint8_t)(scales[i].bits >> (24 - 8 * j));
        char m2[64];
        snprintf(m2, sizeof m2, "segment 2 has %s", scales[i].msg);
        expect_fail(scales[i].msg, x, b.n, &b.g, SONO_E_RANGE, m2);
    }
    memcpy(x, b.ecdc, b.n);
    x[seg2 - 1] |= 0xF0; /* 149 frames x 20 bits: 4 padding bits at the end of segment 1 */
    expect_fail("padding of segment 1", x, b.n, &b.g, SONO_E_FORMAT, "segment 1 has non-zero padding bits");
    memcpy(x, b.ecdc, b.n);
    for (int j = 0; j < 4; j++) x[seg1 + (size_t)j] = 0x80 * (j == 0); /* -0.0 is a scale of 0 */
    sono_tokens *t = NULL;
    CHECK(sn_ecdc_decode(x, b.n, &b.g, &t) == 0 && t && signbit(t->scales[1]) && t->scales[1] == 0);
    sono_tokens_free(t);
    free(x);
    uint8_t *m48 = with_meta(b.ecdc, b.n, "{\"m\": \"encodec_48khz\", \"al\": 1000000000000000, \"nc\": 2, \"lm\": false}", &n);
    expect_fail("48 kHz: 2^34 segments", m48, n, &b.g, SONO_E_LIMIT, "segments (at most 2^24)");
    free(m48);
    m48 = with_meta(b.ecdc, b.n, "{\"m\": \"encodec_48khz\", \"al\": 797000000, \"nc\": 2, \"lm\": false}", &n);
    expect_fail("48 kHz: more segments than the file has bytes", m48, n, &b.g, SONO_E_TRUNCATED, "16772 segments");
    free(m48);
    free_case(&a);
    free_case(&b);
}

/* Model names come out as Python's json.dumps writes them (expected strings
 * printed by Python 3.11) and read back the same. */
static void test_names(void) {
    static const struct {
        const char *name, *json;
    } cases[] = {
        {"a\"b\\c", "{\"m\": \"a\\\"b\\\\c\", \"al\": 1, \"nc\": 1, \"lm\": false}"},
        {"tab\there\nnl\rcr\bbs\fff", "{\"m\": \"tab\\there\\nnl\\rcr\\bbs\\fff\", \"al\": 1, \"nc\": 1, \"lm\": false}"},
        {"ctl\x01\x1f\x7f~ ", "{\"m\": \"ctl\\u0001\\u001f\\u007f~ \", \"al\": 1, \"nc\": 1, \"lm\": false}"},
        {"caf\xc3\xa9 \xe2\x82\xac", "{\"m\": \"caf\\u00e9 \\u20ac\", \"al\": 1, \"nc\": 1, \"lm\": false}"},
        {"emoji \xf0\x9f\x98\x80", "{\"m\": \"emoji \\ud83d\\ude00\", \"al\": 1, \"nc\": 1, \"lm\": false}"},
        {"slash/ok", "{\"m\": \"slash/ok\", \"al\": 1, \"nc\": 1, \"lm\": false}"},
    };
    ecdc_layout g = {16000, 1, 320, 1024, 8, 0, 0, 0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sono_tokens *t = sono_tokens_alloc(1, 1, 1, 0);
        snprintf(t->model_name, sizeof t->model_name, "%s", cases[i].name);
        t->n_samples = 1;
        t->codes[0] = 1023;
    uint8_t *buf = NULL;
        size_t n = 0;
        int rc = sn_ecdc_encode(t, &g, &buf, &n);
        size_t jl = strlen(cases[i].json);
        CHECK_MSG(rc == 0 && n == 9 + jl + 2 && buf[8] == jl && !memcmp(buf + 9, cases[i].json, jl) &&
                      buf[9 + jl] == 0xFF && buf[10 + jl] == 0x03,
                  "name %zu: %d %.*s", i, rc, rc ? 0 : (int)(n - 9), buf ? (const char *)buf + 9 : "");
        sono_ecdc_info info;
        CHECK_MSG(rc == 0 && sono_ecdc_probe(buf, n, &info) == 0 && !strcmp(info.model_name, cases[i].name),
                  "name %zu read back: %s", i, sono_last_error());
        free(buf);
        sono_tokens_free(t);
    }
}

static sono_tokens *unsegmented(int n_q, int64_t n_frames, const char *name) {
    sono_tokens *t = sono_tokens_alloc(n_q, n_frames, 1, 0);
    snprintf(t->model_name, sizeof t->model_name, "%s", name);
    return t;
}

static void test_writer_refuses(void) {
    ecdc_layout g = {24000, 1, 320, 1024, 32, 0, 0, 0};
    sono_tokens *t = unsegmented(2, 4, "m");
    t->n_samples = 4 * 320;
    uint8_t *buf = (uint8_t *)1;
    size_t n = 1;
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == 0 && n == 9 + strlen("{\"m\": \"m\", \"al\": 1280, \"nc\": 2, \"lm\": false}") + 10);
    free(buf);
    g.codebook_size = 1000;
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_UNSUPPORTED && buf == NULL && strstr(sono_last_error(), "power of two"));
    g.codebook_size = 1;
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_UNSUPPORTED);
    g.codebook_size = 1024;
    t->n_samples = 4 * 320 + 1; /* 5 frames */
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_ARG && strstr(sono_last_error(), "make 5"));
    t->n_samples = 0;
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_EMPTY);
    t->n_samples = 4 * 320;
    t->codes[7] = 1024;
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_RANGE && strstr(sono_last_error(), "codebook 1 frame 3"));
    t->codes[7] = -1;
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_RANGE);
    t->codes[7] = 0;
    memcpy(t->model_name, "bad\xff", 5);
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_ARG && strstr(sono_last_error(), "UTF-8"));
    t->model_name[0] = 0;
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == SONO_E_ARG);
    memset(t->model_name, 'x', sizeof t->model_name); /* 64 bytes, no NUL: still a name */
    CHECK(sn_ecdc_encode(t, &g, &buf, &n) == 0);
    free(buf);
    /* scaled: every segment needs its scale */
    ecdc_layout s = {48000, 2, 320, 1024, 16, 48000, 47520, 1};
    sono_tokens *u = sono_tokens_alloc(1, 2, 1, 0);
    snprintf(u->model_name, sizeof u->model_name, "m");
    u->n_samples = 640;
    CHECK(sn_ecdc_encode(u, &s, &buf, &n) == SONO_E_ARG && strstr(sono_last_error(), "no scales"));
    sono_tokens_free(u);
    u = sono_tokens_alloc(1, 2, 1, 1);
    snprintf(u->model_name, sizeof u->model_name, "m");
    u->n_samples = 640;
    u->scales[0] = NAN;
    CHECK(sn_ecdc_encode(u, &s, &buf, &n) == SONO_E_RANGE);
    u->scales[0] = 0.5f;
    CHECK(sn_ecdc_encode(u, &s, &buf, &n) == 0 && n == 9 + strlen("{\"m\": \"m\", \"al\": 640, \"nc\": 1, \"lm\": false}") + 4 + 3 &&
          buf[n - 7] == 0x3F && buf[n - 6] == 0 && buf[n - 5] == 0 && buf[n - 4] == 0);
    free(buf);
    sono_tokens_free(u);
    sono_tokens_free(t);
}

/* Random layouts, lengths and codes: decode(encode(x)) == x, and the size is
 * the one the reference's loop gives (segments computed here, not by ecdc.c). */
static void test_random(void) {
    tu_seed(20261207);
    int bad = 0;
    for (int it = 0; it < 400; it++) {
        ecdc_layout g;
        memset(&g, 0, sizeof g);
        g.sample_rate = 8000;
        g.channels = 1 + (int)(tu_rand() % 2);
        g.hop = 1 + (int)(tu_rand() % 40);
        int bits = 1 + (int)(tu_rand() % 16);
        g.codebook_size = 1 << bits;
        g.max_n_q = 1 + (int)(tu_rand() % 8);
        if (tu_rand() % 2) {
            g.segment_samples = 1 + (int64_t)(tu_rand() % 300);
            g.segment_stride = tu_rand() % 2 ? SONO_MAX(1, (int64_t)(0.99 * (double)g.segment_samples))
                                             : 1 + (int64_t)(tu_rand() % (uint64_t)g.segment_samples);
        }
        g.scaled = (int)(tu_rand() % 2);
        int n_q = 1 + (int)(tu_rand() % (uint64_t)g.max_n_q);
        int64_t al = 1 + (int64_t)(tu_rand() % 3000);
        /* the reference's decompress loop */
        int64_t frames = 0, seg = 0, bytes = 0;
        int64_t seg_len = g.segment_samples ? g.segment_samples : al, stride = g.segment_samples ? g.segment_stride : al;
        for (int64_t off = 0; off < al; off += stride, seg++) {
            int64_t len = SONO_MIN(al - off, seg_len), f = (len + g.hop - 1) / g.hop;
            frames += f;
            bytes += 4 * g.scaled + (f * n_q * bits + 7) / 8;
        }
        sono_tokens *t = sono_tokens_alloc(n_q, frames, (int)seg, g.scaled);
        snprintf(t->model_name, sizeof t->model_name, "rand%d", it);
        t->n_samples = al;
        for (int64_t i = 0; i < n_q * frames; i++) t->codes[i] = (int32_t)(tu_rand() % (uint64_t)g.codebook_size);
        for (int64_t i = 0; g.scaled && i < seg; i++) t->scales[i] = tu_uniform(0, 2);
    uint8_t *buf = NULL;
        size_t n = 0;
        int rc = sn_ecdc_encode(t, &g, &buf, &n);
        char json[128];
        int jl = snprintf(json, sizeof json, "{\"m\": \"rand%d\", \"al\": %lld, \"nc\": %d, \"lm\": false}", it,
                          (long long)al, n_q);
        sono_tokens *back = NULL;
        if (rc == 0) rc = sn_ecdc_decode(buf, n, &g, &back);
        int ok = rc == 0 && n == (size_t)(9 + jl + bytes) && !memcmp(buf + 9, json, (size_t)jl) &&
                 back->n_frames == frames && back->n_segments == seg &&
                 !memcmp(back->codes, t->codes, (size_t)(n_q * frames) * sizeof(int32_t)) &&
                 (!g.scaled || !memcmp(back->scales, t->scales, (size_t)seg * sizeof(float)));
        if (!ok && bad++ < 3)
            fprintf(stderr, "random %d: rc %d (%s), %zu bytes, expected %lld\n", it, rc, sono_last_error(), n,
                    (long long)(9 + jl + bytes));
        free(buf);
        sono_tokens_free(back);
        sono_tokens_free(t);
    }
    CHECK_MSG(bad == 0, "%d of 400 random round trips failed", bad);
}

int main(int argc, char **argv) {
    if (argc > 1) g_dir = argv[1];
    test_cases();
    test_refused();
    test_names();
    test_writer_refuses();
    test_random();
    return tu_finish("test-ecdc");
}
