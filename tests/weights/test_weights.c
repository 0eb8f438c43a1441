/* Weight loaders against fixtures made by make_weight_fixtures.py (torch
 * 1.13): PyTorch zip checkpoints (plain, protocol 4, zip64, nested, legacy),
 * safetensors load/save round trips, the F16 writer against numpy's
 * rounding, and corrupt inputs (every truncation, every bit flip, bad header
 * lengths, random garbling of data.pkl) that must fail cleanly.
 *
 * usage: test_weights DATA_DIR               (suite fast)
 *        test_weights --encodec CHECKPOINT   (suite slow; skips when absent) */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "tensorset.h"
#include "sonotok/error.h"
#include "tensors.h"
#include "test_util.h"

static const char *g_dir;

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[SONO_MAX_DIMS];
    int64_t numel;
    float *data;
} expect_t;

static expect_t g_exp[64];
static int g_n_exp;

static char *path_of(const char *name) {
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static uint8_t *slurp(const char *name, size_t *n) {
    uint8_t *b = NULL;
    int rc = sn_read_file(path_of(name), 1 << 24, &b, n);
    CHECK_MSG(rc == 0, "%s: %s", name, sono_last_error());
    return b;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static int read_expected(void) {
    size_t n, pos = 8;
    uint8_t *b = slurp("expected.bin", &n);
    if (!b || n < 8 || memcmp(b, "SOEX", 4)) { free(b); return -1; }
    g_n_exp = (int)rd32(b + 4);
    if (g_n_exp > 64) { free(b); return -1; }
    for (int i = 0; i < g_n_exp; i++) {
        expect_t *e = &g_exp[i];
        uint32_t nl = rd32(b + pos);
        pos += 4;
        memcpy(e->name, b + pos, nl);
        e->name[nl] = 0;
        pos += nl;
        e->ndim = (int)rd32(b + pos);
        pos += 4;
        e->numel = 1;
        for (int d = 0; d < e->ndim; d++, pos += 8) {
            memcpy(&e->shape[d], b + pos, 8);
            e->numel *= e->shape[d];
        }
        e->data = malloc((size_t)e->numel * 4 + 4);
        memcpy(e->data, b + pos, (size_t)e->numel * 4);
        pos += (size_t)e->numel * 4;
    }
    free(b);
    return pos == n ? 0 : -1;
}

/* names, order, shapes and values exactly as torch gave them */
static void check_set(const sono_tensors *ts, const char *what) {
    CHECK_MSG(ts && ts->n == g_n_exp, "%s: %d tensors, expected %d", what, ts ? ts->n : -1, g_n_exp);
    if (!ts || ts->n != g_n_exp) return;
    for (int i = 0; i < g_n_exp; i++) {
        const sono_tensor *t = &ts->t[i];
        const expect_t *e = &g_exp[i];
        CHECK_MSG(!strcmp(t->name, e->name), "%s: tensor %d is '%s', expected '%s'", what, i, t->name, e->name);
        CHECK_MSG(t->ndim == e->ndim && t->numel == e->numel, "%s: '%s' shape", what, e->name);
        for (int d = 0; d < e->ndim && d < t->ndim; d++) CHECK(t->shape[d] == e->shape[d]);
        if (t->numel == e->numel)
            CHECK_MSG(!memcmp(t->data, e->data, (size_t)e->numel * 4), "%s: '%s' values differ", what, e->name);
        CHECK(sn_tensors_find(ts, e->name) == t);
        CHECK(((uintptr_t)t->data & 63) == 0 || i > 0);
    }
}

/* mkstemp under $TMPDIR (or /tmp); the file is left empty and closed */
static void make_tmp(char *path, size_t cap, const char *stem) {
    const char *d = getenv("TMPDIR");
    snprintf(path, cap, "%s/%s_XXXXXX", d && *d ? d : "/tmp", stem);
    int fd = mkstemp(path);
    CHECK_MSG(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
}

static int is_code(int rc) { return rc == 0 || (rc <= SONO_E_NOMEM && rc >= SONO_E_LIMIT); }

static void test_th_fixtures(void) {
    const char *files[] = {"sd.th", "sd_p4.th", "sd_zip64.th", "nested.th"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        sono_tensors *ts = NULL;
        int rc = sn_th_load(path_of(files[i]), &ts);
        CHECK_MSG(rc == 0, "%s: %d %s", files[i], rc, sono_last_error());
        check_set(ts, files[i]);
        CHECK(ts && ts->metadata == NULL);
        sn_tensors_free(ts);
    }
    /* view facts the fixture is meant to exercise, to be sure they stay covered */
    sono_tensors *ts = NULL;
    if (sn_th_load(path_of("sd.th"), &ts) == 0) {
        const sono_tensor *t = sn_tensors_find(ts, "transposed");
        CHECK(t && t->ndim == 2 && t->shape[0] == 4 && t->shape[1] == 3 && t->data[1] == 0.0f && t->data[3] == -0.75f);
        t = sn_tensors_find(ts, "scalar");
        CHECK(t && t->ndim == 0 && t->numel == 1 && t->data[0] == 3.5f);
        t = sn_tensors_find(ts, "steps");
        CHECK(t && t->numel == 3 && t->data[1] == -2.0f && t->data[2] == 3e9f);
        t = sn_tensors_find(ts, "empty");
        CHECK(t && t->numel == 0 && t->ndim == 2);
        const sono_tensor *a = sn_tensors_find(ts, "share_a"), *b = sn_tensors_find(ts, "share_b");
        CHECK(a && b && a->data[3] == b->data[0]);
        CHECK(sn_tensors_find(ts, "_metadata") == NULL && sn_tensors_find(ts, "nope") == NULL);
    }
    sn_tensors_free(ts);

    ts = (sono_tensors *)1;
    int rc = sn_th_load(path_of("legacy.th"), &ts);
    CHECK_MSG(rc == SONO_E_UNSUPPORTED && strstr(sono_last_error(), "legacy torch format; re-save with torch>=1.6"),
              "legacy: %d %s", rc, sono_last_error());
    CHECK(ts == NULL);
    rc = sn_th_load(path_of("no_such_file.th"), &ts);
    CHECK(rc == SONO_E_NOT_FOUND);
}

static void test_th_corrupt(void) {
    size_t n;
    uint8_t *orig = slurp("sd.th", &n);
    if (!orig) return;
    uint8_t *b = malloc(n);
    int bad_trunc = 0, bad_code = 0, ok_flips = 0;
    /* every truncation: the end records go first, so always TRUNCATED */
    for (size_t len = 0; len < n; len++) {
        memcpy(b, orig, len);
        sono_tensors *ts = NULL;
        int rc = sn_th_load_mem(b, len, &ts);
        if (rc != SONO_E_TRUNCATED) {
            if (!bad_trunc++) fprintf(stderr, "truncated at %zu: %d %s\n", len, rc, sono_last_error());
        }
        sn_tensors_free(ts);
    }
    CHECK_MSG(bad_trunc == 0, "%d truncations did not give SONO_E_TRUNCATED", bad_trunc);
    /* every bit flip, with and without the CRC check */
    th_load_opts nocrc = {.skip_crc = 1};
    for (size_t i = 0; i < n * 8; i++) {
        memcpy(b, orig, n);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        for (int pass = 0; pass < 2; pass++) {
            sono_tensors *ts = NULL;
            int rc = sn_th_load_mem_ex(b, n, &ts, pass ? &nocrc : NULL);
            if (!is_code(rc)) bad_code++;
            if (rc == 0) {
                ok_flips++;
                CHECK(ts != NULL);
            } else {
                CHECK(ts == NULL && sono_last_error()[0]);
            }
            sn_tensors_free(ts);
        }
    }
    CHECK(bad_code == 0);
    printf("  th: %zu truncations, %zu bit flips x2 (%d loads still succeeded)\n", n, n * 8, ok_flips);
    /* random garbling (1-8 bytes) with the CRC off, so the pickle VM sees it */
    tu_seed(20240601);
    for (int it = 0; it < 3000; it++) {
        memcpy(b, orig, n);
        int k = 1 + (int)(tu_rand() % 8);
        for (int j = 0; j < k; j++) {
            size_t at = (size_t)(tu_rand() % n);
            b[at] = (uint8_t)tu_rand();
        }
        sono_tensors *ts = NULL;
        int rc = sn_th_load_mem_ex(b, n, &ts, &nocrc);
        CHECK(is_code(rc));
        sn_tensors_free(ts);
    }
    free(b);
    free(orig);
}

static void test_safetensors_fixture(void) {
    sono_tensors *ts = NULL;
    int rc = sn_safetensors_load(path_of("sd.safetensors"), &ts);
    CHECK_MSG(rc == 0, "sd.safetensors: %s", sono_last_error());
    check_set(ts, "sd.safetensors");
    if (!ts) return;
    CHECK(ts->metadata != NULL);
    json_object *m = ts->metadata ? json_tokener_parse(ts->metadata) : NULL, *v;
    CHECK(m && json_object_object_length(m) == 2);
    CHECK(m && json_object_object_get_ex(m, "format", &v) && !strcmp(json_object_get_string(v), "pt"));
    CHECK(m && json_object_object_get_ex(m, "note", &v) && !strcmp(json_object_get_string(v), "sonotok fixture / \"quoted\""));
    json_object_put(m);

    /* F32 round trip: exact, metadata kept */
    char tmp[4096];
    make_tmp(tmp, sizeof tmp, "sono_weights");
    rc = sn_safetensors_save(tmp, ts, ts->metadata, 0);
    CHECK_MSG(rc == 0, "save: %s", sono_last_error());
    sono_tensors *back = NULL;
    rc = sn_safetensors_load(tmp, &back);
    CHECK_MSG(rc == 0, "reload: %s", sono_last_error());
    check_set(back, "f32 round trip");
    CHECK(back && back->metadata && !strcmp(back->metadata, ts->metadata));
    struct stat st;
    size_t n;
    uint8_t *raw = NULL;
    if (sn_read_file(tmp, 1 << 24, &raw, &n) == 0) {
        uint64_t hl;
        memcpy(&hl, raw, 8);
        CHECK((8 + hl) % 8 == 0 && hl + 8 <= n);
        CHECK(raw[8] == '{');
    }
    free(raw);
    sn_tensors_free(back);
    back = NULL;

    /* F16: each value within half precision; beyond 65504 it becomes inf */
    rc = sn_safetensors_save(tmp, ts, NULL, 1);
    CHECK(rc == 0);
    rc = sn_safetensors_load(tmp, &back);
    CHECK(rc == 0 && back && back->n == ts->n && back->metadata == NULL);
    if (back && back->n == ts->n)
        for (int i = 0; i < ts->n; i++)
            for (int64_t j = 0; j < ts->t[i].numel; j++) {
                float x = ts->t[i].data[j], y = back->t[i].data[j];
                if (fabsf(x) >= 65520.0f) CHECK(isinf(y) && (x > 0) == (y > 0));
                else CHECK_MSG(fabsf(x - y) <= fabsf(x) * (1.0f / 2048) + 3e-8f, "%s[%lld]: %g vs %g", ts->t[i].name,
                               (long long)j, x, y);
            }
    sn_tensors_free(back);
    CHECK(stat(tmp, &st) == 0);
    unlink(tmp);

    /* writer refuses bad input */
    CHECK(sn_safetensors_save(tmp, ts, "{\"a\": 1}", 0) == SONO_E_ARG);
    CHECK(sn_safetensors_save(tmp, ts, "[1]", 0) == SONO_E_ARG);
    CHECK(sn_safetensors_save("/nonexistent_dir/x.safetensors", ts, NULL, 0) == SONO_E_IO);
    CHECK(sn_safetensors_save(tmp, NULL, NULL, 0) == SONO_E_ARG);
    const char *dup[] = {"a", "a"};
    int nd[] = {1, 1};
    const int64_t sh[2][SONO_MAX_DIMS] = {{1}, {1}};
    sono_tensors *d = NULL;
    CHECK(sn_tensors_create(&d, 2, dup, nd, sh, NULL) == 0);
    CHECK(d && sn_safetensors_save(tmp, d, NULL, 0) == SONO_E_ARG);
    sn_tensors_free(d);
    unlink(tmp);
    sn_tensors_free(ts);
}

/* F16 rounding against numpy for edge cases (ties, subnormals, overflow, nan) */
static void test_f16_cases(void) {
    size_t n;
    uint8_t *b = slurp("f16_cases.bin", &n);
    if (!b) return;
    uint32_t k = rd32(b);
    CHECK(n == 4 + (size_t)k * 8);
    const float *in = (const float *)(void *)(b + 4), *want = in + k;
    const char *names[] = {"x"};
    int nd[] = {1};
    const int64_t sh[1][SONO_MAX_DIMS] = {{k}};
    const float *data[] = {in};
    sono_tensors *ts = NULL, *back = NULL;
    CHECK(sn_tensors_create(&ts, 1, names, nd, sh, data) == 0);
    char tmp[4096];
    make_tmp(tmp, sizeof tmp, "sono_f16");
    CHECK(sn_safetensors_save(tmp, ts, "{\"k\":\"v\"}", 1) == 0);
    CHECK(sn_safetensors_load(tmp, &back) == 0);
    int bad = 0;
    for (uint32_t i = 0; back && i < k; i++) {
        float y = back->t[0].data[i];
        int same = isnan(want[i]) ? isnan(y) : !memcmp(&y, &want[i], 4);
        if (!same && bad++ < 5) fprintf(stderr, "f16(%.9g) = %.9g, numpy %.9g\n", in[i], y, want[i]);
    }
    CHECK_MSG(bad == 0, "%d half conversions differ from numpy", bad);
    CHECK(back && back->metadata && !strcmp(back->metadata, "{\"k\":\"v\"}"));
    /* and half -> float -> half is the identity for every non-nan half */
    int bad_rt = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sn_half_to_float((uint16_t)h);
        if (!isnan(f) && sn_float_to_half(f) != h) bad_rt++;
        if (isnan(f) && (sn_float_to_half(f) & 0x7c00) != 0x7c00) bad_rt++;
    }
    CHECK(bad_rt == 0);
    unlink(tmp);
    sn_tensors_free(ts);
    sn_tensors_free(back);
    free(b);
}

static int st_load(const uint8_t *b, size_t n) {
    sono_tensors *ts = NULL;
    int rc = sn_safetensors_load_mem(b, n, &ts);
    sn_tensors_free(ts);
    return rc;
}

/* a safetensors buffer from a header and data bytes (header length given or actual) */
static size_t mk_st(uint8_t *out, const char *hdr, uint64_t hlen, const void *data, size_t dn) {
    size_t h = strlen(hdr);
    if (hlen == (uint64_t)-1) hlen = h;
    memcpy(out, &hlen, 8);
    memcpy(out + 8, hdr, h);
    memcpy(out + 8 + h, data, dn);
    return 8 + h + dn;
}

static void test_safetensors_corrupt(void) {
    size_t n;
    uint8_t *orig = slurp("sd.safetensors", &n);
    if (!orig) return;
    uint8_t *b = malloc(n + 16);
    int bad_trunc = 0, bad_code = 0;
    for (size_t len = 0; len < n; len++) {
        memcpy(b, orig, len);
        int rc = st_load(b, len);
        if (rc != SONO_E_TRUNCATED && !bad_trunc++) fprintf(stderr, "truncated at %zu: %d %s\n", len, rc, sono_last_error());
    }
    CHECK_MSG(bad_trunc == 0, "%d truncations did not give SONO_E_TRUNCATED", bad_trunc);
    for (size_t i = 0; i < n * 8; i++) {
        memcpy(b, orig, n);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (!is_code(st_load(b, n))) bad_code++;
    }
    CHECK(bad_code == 0);
    /* header lengths */
    uint64_t hl;
    memcpy(&hl, orig, 8);
    struct { uint64_t hlen; int want; } lens[] = {
        {0, SONO_E_FORMAT}, {1, SONO_E_FORMAT}, {hl - 1, SONO_E_FORMAT}, {n - 8 + 1, SONO_E_TRUNCATED},
        {(uint64_t)100 << 20, SONO_E_TRUNCATED}, {((uint64_t)100 << 20) + 1, SONO_E_LIMIT},
        {UINT64_MAX, SONO_E_LIMIT}, {(uint64_t)1 << 63, SONO_E_LIMIT}, {hl + 8, SONO_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(b, orig, n);
        memcpy(b, &lens[i].hlen, 8);
        int rc = st_load(b, n);
        CHECK_MSG(rc == lens[i].want, "header length %llu: %d (%s), want %d", (unsigned long long)lens[i].hlen, rc,
                  sono_last_error(), lens[i].want);
    }
    free(b);
    free(orig);

    /* hand-made headers */
    uint8_t buf[512];
    float two[2] = {1, 2};
    struct { const char *hdr; size_t dn; int want; } cases[] = {
        {"{}", 0, 0},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 4, 0},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 8, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, SONO_E_LIMIT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615],\"data_offsets\":[0,8]}}", 8, SONO_E_LIMIT},
        {"{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, SONO_E_UNSUPPORTED},
        {"{\"a\":[1,2]}", 8, SONO_E_FORMAT},
        {"{\"__metadata__\":[1]}", 0, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, SONO_E_FORMAT},
        {"{\"a\":NaN}", 0, SONO_E_FORMAT},
        {"{'a':1}", 0, SONO_E_FORMAT},
        {"{}   \n ", 0, 0},
        {"{} x", 0, SONO_E_FORMAT},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, SONO_E_FORMAT},
        {"{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, SONO_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = mk_st(buf, cases[i].hdr, (uint64_t)-1, two, cases[i].dn);
        int rc = st_load(buf, len);
        CHECK_MSG(rc == cases[i].want, "case %zu: got %d (%s), want %d", i, rc, sono_last_error(), cases[i].want);
    }
}

static void test_tensors_api(void) {
    const char *names[] = {"w", "b", "s"};
    int nd[] = {2, 1, 0};
    const int64_t sh[3][SONO_MAX_DIMS] = {{2, 3}, {3}, {0}};
    float w[6] = {1, 2, 3, 4, 5, 6}, bb[3] = {7, 8, 9}, s[1] = {10};
    const float *data[] = {w, bb, s};
    sono_tensors *ts = NULL;
    CHECK(sn_tensors_create(&ts, 3, names, nd, sh, data) == 0);
    if (ts) {
        CHECK(ts->n == 3 && ts->metadata == NULL);
        const sono_tensor *t = sn_tensors_find(ts, "b");
        CHECK(t && t->numel == 3 && t->data[2] == 9 && t->ndim == 1);
        t = sn_tensors_find(ts, "s");
        CHECK(t && t->numel == 1 && t->ndim == 0 && t->data[0] == 10);
        CHECK(sn_tensors_find(ts, "x") == NULL && sn_tensors_find(NULL, "w") == NULL);
        CHECK(((uintptr_t)ts->t[0].data & 63) == 0);
    }
    sn_tensors_free(ts);
    CHECK(sn_tensors_create(&ts, 3, names, nd, sh, NULL) == 0 && ts && ts->t[0].data[5] == 0);
    sn_tensors_free(ts);
    CHECK(sn_tensors_create(&ts, 0, NULL, NULL, NULL, NULL) == 0 && ts && ts->n == 0);
    sn_tensors_free(ts);
    sn_tensors_free(NULL);
    int bad_nd[] = {9};
    CHECK(sn_tensors_create(&ts, 1, names, bad_nd, sh, NULL) == SONO_E_ARG && ts == NULL);
    const int64_t neg[1][SONO_MAX_DIMS] = {{-1}};
    CHECK(sn_tensors_create(&ts, 1, names, nd + 1, neg, NULL) == SONO_E_ARG);
    const int64_t huge[1][SONO_MAX_DIMS] = {{(int64_t)1 << 40}};
    CHECK(sn_tensors_create(&ts, 1, names, nd + 1, huge, NULL) == SONO_E_LIMIT);
    CHECK(sn_tensors_create(NULL, 1, names, nd, sh, NULL) == SONO_E_ARG);
}

static void test_read_file(void) {
    uint8_t *b = (uint8_t *)1;
    size_t n = 7;
    CHECK(sn_read_file(path_of("no_such_file"), 100, &b, &n) == SONO_E_NOT_FOUND && b == NULL && n == 0);
    CHECK(sn_read_file(g_dir, 100, &b, &n) == SONO_E_IO);
    CHECK(sn_read_file(path_of("sd.th"), 100, &b, &n) == SONO_E_LIMIT && b == NULL);
    CHECK(sn_read_file(path_of("sd.th"), 1 << 20, &b, &n) == 0 && n > 100 && b[n] == 0);
    free(b);
    char tmp[4096];
    make_tmp(tmp, sizeof tmp, "sono_empty");
    b = NULL;
    CHECK(sn_read_file(tmp, 100, &b, &n) == 0 && n == 0 && b && b[0] == 0);
    free(b);
    unlink(tmp);
    /* a non-regular file (pipe-like): /dev/zero read up to a limit */
    CHECK(sn_read_file("/dev/zero", 100000, &b, &n) == SONO_E_LIMIT);
}

/* the official 24 kHz checkpoint, when present */
static int run_encodec(const char *path) {
    struct stat st;
    if (stat(path, &st)) {
        printf("SKIP: %s not found (set SONO_ENCODEC_24K)\n", path);
        return 77;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sono_tensors *ts = NULL;
    int rc = sn_th_load(path, &ts);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK_MSG(rc == 0, "%s", sono_last_error());
    if (ts) {
        int64_t total = 0;
        for (int i = 0; i < ts->n; i++) total += ts->t[i].numel;
        printf("  %d tensors, %lld elements, loaded in %.1f ms\n", ts->n, (long long)total, ms);
        CHECK(ts->n == 252 && total == 23273218);
        const sono_tensor *t = sn_tensors_find(ts, "decoder.model.3.convtr.convtr.weight_v");
        CHECK(t && t->ndim == 3 && t->shape[0] == 512 && t->shape[1] == 256 && t->shape[2] == 16);
        CHECK(ms < 1000);
    }
    sn_tensors_free(ts);
    return tu_finish("test_weights --encodec");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--encodec")) {
        const char *env = getenv("SONO_ENCODEC_24K");
        return run_encodec(env && *env ? env : argv[2]);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: test_weights DATA_DIR | --encodec CHECKPOINT\n");
        return 1;
    }
    g_dir = argv[1];
    if (read_expected()) {
        fprintf(stderr, "cannot read %s/expected.bin\n", g_dir);
        return 1;
    }
    test_tensors_api();
    test_read_file();
    test_th_fixtures();
    test_safetensors_fixture();
    test_f16_cases();
    test_safetensors_corrupt();
    test_th_corrupt();
    for (int i = 0; i < g_n_exp; i++) free(g_exp[i].data);
    return tu_finish("test_weights");
}
