/* Token file tests: random round trips through every coder (with and without
 * scales, odd codebook sizes), every single-bit flip and every truncation of
 * small files detected with the right code, crafted structural faults
 * (version, coder, flags, sizes, out-of-range codes, forward-compatible minor
 * versions), and atomic save/load. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sonotok/tokens.h"
#include "tokdata.h"
#include "formats/tokfix.h"
#include "test_util.h"

static const int sizes[] = {1, 2, 3, 7, 255, 256, 257, 1000, 1024, 2048, 4096, 65535, 65536};

static sono_tokens *make_tokens(int n_q, int64_t F, int K, int n_seg, int with_scales, int pattern) {
    sono_tokens *t = sono_tokens_alloc(n_q, F, n_seg, with_scales);
    if (!t) return NULL;
    snprintf(t->model_name, sizeof t->model_name, "model-%d", (int)(tu_rand() % 1000));
    for (int i = 0; i < 16; i++) t->model_hash[i] = (uint8_t)tu_rand();
    t->sample_rate = 24000;
    t->channels = 1 + (int)(tu_rand() % 2);
    t->hop = 320;
    t->codebook_size = K;
    t->n_samples = F * 320 - (int64_t)(tu_rand() % 320);
    t->segment_frames = n_seg > 1 ? (F + n_seg - 1) / n_seg : 0;
    for (int s = 0; t->scales && s < n_seg; s++) t->scales[s] = tu_uniform(0.01f, 3.0f);
    for (int q = 0; q < n_q; q++)
        for (int64_t f = 0; f < F; f++) {
            int32_t *c = &t->codes[(size_t)q * (size_t)F + (size_t)f];
            uint64_t r = tu_rand();
            if (pattern == 0) *c = (int32_t)(r % (uint64_t)K);
            else if (pattern == 1) *c = (int32_t)((r % 8) * (r % 8) % (uint64_t)K); /* skewed */
            else if (pattern == 2) *c = f > 0 && r % 4 ? c[-1] : (int32_t)((r >> 8) % (uint64_t)K); /* repeats */
            else *c = K - 1;
        }
    return t;
}

static int same_tokens(const sono_tokens *a, const sono_tokens *b) {
    if (strcmp(a->model_name, b->model_name) || memcmp(a->model_hash, b->model_hash, 16)) return 0;
    if (a->sample_rate != b->sample_rate || a->channels != b->channels || a->hop != b->hop || a->n_q != b->n_q ||
        a->codebook_size != b->codebook_size || a->n_frames != b->n_frames || a->n_samples != b->n_samples ||
        a->n_segments != b->n_segments || a->segment_frames != b->segment_frames)
        return 0;
    if (!a->scales != !b->scales) return 0;
    if (a->scales && memcmp(a->scales, b->scales, (size_t)a->n_segments * sizeof(float))) return 0;
    return !memcmp(a->codes, b->codes, (size_t)a->n_q * (size_t)a->n_frames * sizeof(int32_t));
}

static void test_round_trips(void) {
    int n_ok = 0;
    for (int it = 0; it < 300; it++) {
        int n_q = 1 + (int)(tu_rand() % (it % 10 == 0 ? 64 : 8));
        int64_t F = 1 + (int64_t)(tu_rand() % (it % 7 == 0 ? 3 : 400));
        int K = sizes[tu_rand() % (sizeof sizes / sizeof sizes[0])];
        int n_seg = (int)(tu_rand() % 4), with_scales = n_seg > 0 && (tu_rand() & 1);
        if (n_seg > F) n_seg = (int)F;
        sono_tokens *t = make_tokens(n_q, F, K, n_seg, with_scales, it % 4);
        CHECK(t != NULL);
        if (!t) continue;
        size_t best = 0, auto_n = 0;
        for (int c = TOKFILE_CODER_AUTO; c <= TOKFILE_CODER_RANGE; c++) {
            tokfile_opts o = {.coder = c, .zstd_level = 3};
            uint8_t *buf;
            size_t n;
            int rc = sn_tokfile_encode_opts(t, &o, &buf, &n);
            CHECK_MSG(rc == 0, "encode coder %d: %s", c, sono_last_error());
            if (rc) continue;
            sono_tokens *back = NULL;
            rc = sono_tokens_decode(buf, n, &back);
            CHECK_MSG(rc == 0 && same_tokens(t, back), "round trip it %d coder %d n_q %d F %lld K %d: %s", it, c, n_q,
                      (long long)F, K, sono_last_error());
            tokfile_info info;
            CHECK(sn_tokfile_probe(buf, n, &info) == 0);
            if (c == TOKFILE_CODER_AUTO) auto_n = n;
            else {
                CHECK(info.coder == c);
                if (!best || n < best) best = n;
            }
            n_ok += rc == 0;
            sono_tokens_free(back);
            free(buf);
        }
        /* AUTO used level 19 for zstd, the loop level 3, so compare with <= on
         * the other coders only through the best one within a few bytes */
        CHECK_MSG(auto_n <= best + 16, "auto %zu bytes, best single coder %zu", auto_n, best);
        sono_tokens_free(t);
    }
    printf("  %d round trips\n", n_ok);
}

static void test_edges(void) {
    /* codebook of 1: every code 0, zero-bit codes */
    sono_tokens *t = make_tokens(3, 50, 1, 1, 0, 0), *back = NULL;
    uint8_t *buf;
    size_t n;
    for (int c = TOKFILE_CODER_PACKED; c <= TOKFILE_CODER_RANGE; c++) {
        tokfile_opts o = {.coder = c, .zstd_level = 0};
        CHECK(sn_tokfile_encode_opts(t, &o, &buf, &n) == 0);
        CHECK(sono_tokens_decode(buf, n, &back) == 0 && same_tokens(t, back));
        sono_tokens_free(back);
        free(buf);
    }
    /* zero frames is refused on write */
    t->n_frames = 0;
    CHECK(sono_tokens_encode(t, &buf, &n) == SONO_E_EMPTY);
    t->n_frames = 50;
    /* out-of-range codes are refused on write */
    t->codes[77] = 1;
    CHECK(sono_tokens_encode(t, &buf, &n) == SONO_E_RANGE);
    CHECK(strstr(sono_last_error(), "q=1, frame=27") != NULL);
    t->codes[77] = -1;
    CHECK(sono_tokens_encode(t, &buf, &n) == SONO_E_RANGE);
    t->codes[77] = 0;
    /* bad arguments */
    t->sample_rate = 0;
    CHECK(sono_tokens_encode(t, &buf, &n) == SONO_E_ARG);
    t->sample_rate = 24000;
    memset(t->model_name, 'x', sizeof t->model_name);
    CHECK(sono_tokens_encode(t, &buf, &n) == SONO_E_ARG);
    t->model_name[63] = 0;
    CHECK(sono_tokens_encode(t, &buf, &n) == 0);
    CHECK(sono_tokens_decode(buf, n, &back) == 0 && back && strlen(back->model_name) == 63);
    sono_tokens_free(back);
    free(buf);
    CHECK(sono_tokens_encode(NULL, &buf, &n) == SONO_E_ARG);
    sono_tokens_free(t);
    sono_tokens_free(NULL);

    /* long constant input: the range coder's best ratio stays within the
     * decoder's sanity bound */
    t = make_tokens(2, 1 << 20, 1024, 1, 0, 3);
    tokfile_opts o = {.coder = TOKFILE_CODER_RANGE, .zstd_level = 0};
    CHECK(sn_tokfile_encode_opts(t, &o, &buf, &n) == 0);
    CHECK(sono_tokens_decode(buf, n, &back) == 0 && same_tokens(t, back));
    printf("  constant 2 x 2^20 codes: %zu bytes\n", n);
    sono_tokens_free(back);
    free(buf);
    sono_tokens_free(t);
}

/* Encode a small file with the given coder. */
static uint8_t *small_file(int coder, int scales, size_t *n) {
    sono_tokens *t = make_tokens(2, 12, 1024, 2, scales, 2);
    t->codes[13] = 1023; /* for the crafted codebook-size tests */
    tokfile_opts o = {.coder = coder, .zstd_level = 0};
    uint8_t *buf = NULL;
    CHECK(sn_tokfile_encode_opts(t, &o, &buf, n) == 0);
    sono_tokens_free(t);
    return buf;
}

static void test_bit_flips(void) {
    for (int c = TOKFILE_CODER_PACKED; c <= TOKFILE_CODER_RANGE; c++) {
        size_t n;
        uint8_t *buf = small_file(c, c != 1, &n);
        int n_checksum = 0, n_format = 0, n_other = 0;
        for (size_t bit = 0; bit < n * 8; bit++) {
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            sono_tokens *t = NULL;
            int rc = sono_tokens_decode(buf, n, &t);
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            CHECK_MSG(rc < 0 && t == NULL, "coder %d: flip of bit %zu not detected", c, bit);
            if (bit < 32) {
                CHECK_MSG(rc == SONO_E_FORMAT, "coder %d: magic flip %zu gave %d", c, bit, rc);
                n_format += rc == SONO_E_FORMAT;
            } else {
                CHECK_MSG(rc == SONO_E_CHECKSUM, "coder %d: flip of bit %zu gave %d (%s)", c, bit, rc,
                          sono_last_error());
                n_checksum += rc == SONO_E_CHECKSUM;
            }
            n_other += rc != SONO_E_FORMAT && rc != SONO_E_CHECKSUM;
            sono_tokens_free(t);
        }
        printf("  coder %d, %zu-byte file: %zu flips, %d checksum, %d format, %d other\n", c, n, n * 8, n_checksum,
               n_format, n_other);
        free(buf);
    }
}

static void test_truncations(void) {
    size_t n;
    uint8_t *buf = small_file(TOKFILE_CODER_RANGE, 1, &n);
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, buf, k);
        sono_tokens *t = NULL;
        int rc = sono_tokens_decode(cut, k, &t);
        CHECK_MSG(rc == SONO_E_TRUNCATED, "truncation to %zu of %zu bytes gave %d (%s)", k, n, rc, sono_last_error());
        free(cut);
    }
    sono_tokens *t = NULL;
    CHECK(sono_tokens_decode(NULL, 0, &t) == SONO_E_TRUNCATED);
    /* one byte too many */
    uint8_t *more = malloc(n + 1);
    memcpy(more, buf, n);
    more[n] = 0;
    CHECK(sono_tokens_decode(more, n + 1, &t) == SONO_E_FORMAT);
    free(more);
    free(buf);
}

/* Edit a field of a valid file, fix the checksums, expect a code. */
static void crafted(const char *what, int coder, size_t off, int width, uint64_t value, int want) {
    size_t n;
    uint8_t *buf = small_file(coder, 1, &n);
    if (width == 1) buf[off] = (uint8_t)value;
    else if (width == 2) sn_wr16(buf + off, (uint16_t)value);
    else if (width == 4) sn_wr32(buf + off, (uint32_t)value);
    else sn_wr64(buf + off, value);
    tokfix_tok(buf, n);
    sono_tokens *t = NULL;
    int rc = sono_tokens_decode(buf, n, &t);
    CHECK_MSG(rc == want, "%s: got %d (%s), expected %d", what, rc, sono_last_error(), want);
    sono_tokens_free(t);
    free(buf);
}

/* A range payload is refused unless it is exactly the encoder's: here with a
 * zero byte appended (the decoder reads zeros past the end anyway, so only
 * the engine's end checks see it) or FF FF FF FF in front, checksums fixed. */
static void test_range_canonical(void) {
    for (int k = 0; k < 2; k++) {
        size_t n;
        uint8_t *buf = small_file(TOKFILE_CODER_RANGE, 1, &n);
        uint8_t *x = calloc(1, n + 1);
        memcpy(x, buf, n - 8); /* the payload ends where the file checksum starts */
        size_t hs = sn_rd32(buf + 8), n_x = k == 0 ? n + 1 : n;
        if (k == 0) sn_wr64(x + 88, sn_rd64(buf + 88) + 1);
        else memset(x + hs, 0xFF, 4);
        tokfix_tok(x, n_x);
        sono_tokens *t = NULL;
        int rc = sono_tokens_decode(x, n_x, &t);
        CHECK_MSG(rc == SONO_E_FORMAT, "%s: got %d (%s)", k ? "FF FF FF FF first" : "a zero byte appended", rc,
                  sono_last_error());
        sono_tokens_free(t);
        free(x);
        free(buf);
    }
}

static void test_crafted(void) {
    crafted("major 2", 2, 4, 2, 2, SONO_E_UNSUPPORTED);
    crafted("major 0", 2, 4, 2, 0, SONO_E_FORMAT);
    crafted("flags", 2, 16, 4, 3, SONO_E_UNSUPPORTED);
    crafted("coder 4", 2, 20, 1, 4, SONO_E_UNSUPPORTED);
    crafted("coder 3 in a 1.0 header", 2, 20, 1, 3, SONO_E_FORMAT);
    crafted("reserved", 2, 22, 2, 1, SONO_E_FORMAT);
    crafted("name length 64", 2, 21, 1, 64, SONO_E_FORMAT);
    crafted("n_q 0", 2, 52, 4, 0, SONO_E_FORMAT);
    crafted("n_q 1025", 2, 52, 4, 1025, SONO_E_LIMIT);
    crafted("codebook 65537", 2, 56, 4, 65537, SONO_E_LIMIT);
    crafted("frames 0", 2, 64, 8, 0, SONO_E_EMPTY);
    crafted("frames 2^33", 2, 64, 8, (uint64_t)1 << 33, SONO_E_LIMIT);
    crafted("frames -1", 2, 64, 8, UINT64_MAX, SONO_E_FORMAT);
    crafted("sample rate 0", 2, 40, 4, 0, SONO_E_FORMAT);
    crafted("samples -5", 2, 72, 8, (uint64_t)-5, SONO_E_FORMAT);
    crafted("segments 3", 2, 60, 4, 3, SONO_E_FORMAT); /* header size no longer matches */
    crafted("header size", 2, 8, 4, 120, SONO_E_FORMAT);
    crafted("header size huge", 2, 8, 4, 1u << 30, SONO_E_LIMIT);
    crafted("payload size +1", 2, 88, 8, 0, SONO_E_FORMAT);      /* now shorter than the bytes */
    crafted("payload huge", 2, 88, 8, 1u << 20, SONO_E_TRUNCATED);
    crafted("codebook 900 (codes above)", 0, 56, 4, 900, SONO_E_RANGE);
    crafted("codebook 900 zstd", 1, 56, 4, 900, SONO_E_RANGE);
    crafted("codebook 900 range", 2, 56, 4, 900, SONO_E_RANGE);

    /* NaN scale */
    size_t n;
    uint8_t *buf = small_file(2, 1, &n);
    size_t name_len = buf[21];
    sn_wr32(buf + 96 + name_len, 0x7FC00000u);
    tokfix_tok(buf, n);
    sono_tokens *t = NULL;
    CHECK(sono_tokens_decode(buf, n, &t) == SONO_E_RANGE);
    /* a damaged payload whose checksum was fixed is still refused or in range */
    for (int c = 0; c <= 2; c++) {
        free(buf);
        buf = small_file(c, 0, &n);
        uint32_t hs = sn_rd32(buf + 8);
        int bad = 0;
        for (size_t i = hs; i + 8 < n; i++)
            for (int b = 0; b < 8; b++) {
                buf[i] ^= (uint8_t)(1 << b);
                tokfix_tok(buf, n);
                int rc = sono_tokens_decode(buf, n, &t);
                if (rc == 0) {
                    for (size_t k = 0; k < (size_t)t->n_q * (size_t)t->n_frames; k++)
                        bad += t->codes[k] < 0 || t->codes[k] >= t->codebook_size;
                    sono_tokens_free(t);
                } else {
                    bad += rc != SONO_E_FORMAT && rc != SONO_E_RANGE;
                }
                buf[i] ^= (uint8_t)(1 << b);
            }
        CHECK_MSG(bad == 0, "coder %d: payload flips with fixed checksums gave %d wrong results", c, bad);
    }
    free(buf);

    /* a newer minor version with an extra header field still reads: 1.3 has
     * 1.1's coder model hash (zero for coders 0-2) and, say, 4 bytes more */
    sono_tokens *orig = make_tokens(3, 40, 1024, 1, 1, 1);
    uint8_t *b;
    CHECK(sono_tokens_encode(orig, &b, &n) == 0);
    uint32_t hs = sn_rd32(b + 8);
    uint8_t *ext = calloc(1, n + 20);
    memcpy(ext, b, hs - 8);
    memcpy(ext + hs - 8 + 16, "\1\2\3\4", 4);
    memcpy(ext + hs + 12, b + hs - 8, n - (hs - 8));
    sn_wr16(ext + 6, 3);
    sn_wr32(ext + 8, hs + 20);
    tokfix_tok(ext, n + 20);
    CHECK(sono_tokens_decode(ext, n + 20, &t) == 0 && same_tokens(orig, t));
    sono_tokens_free(t);
    /* ... but the same header with minor 0 or 1 does not (their sizes are exact) */
    for (int minor = 0; minor <= 1; minor++) {
        sn_wr16(ext + 6, (uint16_t)minor);
        tokfix_tok(ext, n + 20);
        CHECK(sono_tokens_decode(ext, n + 20, &t) == SONO_E_FORMAT);
    }
    /* 1.1 with coder 2 reads when its coder model hash is zero, not otherwise */
    memmove(ext + hs + 8, ext + hs + 12, n - (hs - 8));
    sn_wr16(ext + 6, 1);
    sn_wr32(ext + 8, hs + 16);
    tokfix_tok(ext, n + 16);
    CHECK(sono_tokens_decode(ext, n + 16, &t) == 0 && same_tokens(orig, t));
    sono_tokens_free(t);
    ext[hs - 8 + 5] = 1;
    tokfix_tok(ext, n + 16);
    CHECK(sono_tokens_decode(ext, n + 16, &t) == SONO_E_FORMAT);
    free(ext);
    free(b);
    sono_tokens_free(orig);
}


static void test_files(void) {
    char dir[] = "/tmp/sono-tok-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/a.tok", dir);
    snprintf(bad, sizeof bad, "%s/missing/a.tok", dir);
    sono_tokens *t = make_tokens(4, 100, 1024, 1, 0, 1), *back = NULL;
    CHECK(sono_tokens_save(path, t) == 0);
    CHECK(sono_tokens_load(path, &back) == 0 && same_tokens(t, back));
    sono_tokens_free(back);
    /* saving over an existing file replaces it */
    sono_tokens *t2 = make_tokens(2, 30, 512, 1, 0, 0);
    CHECK(sono_tokens_save(path, t2) == 0);
    CHECK(sono_tokens_load(path, &back) == 0 && same_tokens(t2, back));
    sono_tokens_free(back);
    /* failures leave no file behind and the old one intact */
    t->codes[5] = 5000;
    CHECK(sono_tokens_save(path, t) == SONO_E_RANGE);
    CHECK(sono_tokens_load(path, &back) == 0 && same_tokens(t2, back));
    sono_tokens_free(back);
    CHECK(sono_tokens_save(bad, t2) == SONO_E_IO);
    CHECK(tu_count_files(dir) == 1);
    CHECK(sono_tokens_load(bad, &back) == SONO_E_NOT_FOUND && back == NULL);
    CHECK(sono_tokens_load(dir, &back) == SONO_E_IO);
    unlink(path);
    rmdir(dir);
    sono_tokens_free(t);
    sono_tokens_free(t2);
}

int main(void) {
    tu_seed(20240611);
    test_round_trips();
    test_edges();
    test_bit_flips();
    test_truncations();
    test_crafted();
    test_range_canonical();
    test_files();
    return tu_finish("test_tokfile");
}
