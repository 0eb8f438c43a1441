/* Coder models and token-file coder 3: the integer kernels agree bit for bit
 * on every kernel level (random and extreme values, where sums wrap), the
 * frequency tables are valid, payloads round-trip and are identical across
 * kernel levels and thread counts (encoded on one level, decoded on every
 * other), edge cases (one frame, one codebook, all-equal codes, the largest
 * codebook), the model file's checks (every truncation, every bit flip),
 * and the token file around it: version 1.1 header, AUTO choosing the
 * smallest, a missing or different model named (SONO_E_MODEL_MISSING),
 * models found beside the codec by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sonotok/cpu.h"
#include "sonotok/tokens.h"
#include "coder_model.h"
#include "sono_internal.h"
#include "tokdata.h"
#include "formats/cmfix.h"
#include "test_util.h"

static const int levels[] = {SONO_CPU_PLAIN, SONO_CPU_AVX2, SONO_CPU_AVX512};
#define N_LEVELS 3

static sono_coder *random_coder(const sn_cm_dims *d, const char *name, int extreme, uint8_t **file, size_t *n) {
    size_t nb = 0;
    uint8_t *b = cmfix_model(d, name, tu_rand, extreme, &nb);
    CHECK(b != NULL);
    if (!b) return NULL;
    int err = 0;
    sono_coder *m = sono_coder_load_mem(b, nb, &err);
    CHECK_MSG(m != NULL, "load: %s", sono_last_error());
    if (file) {
        *file = b;
        *n = nb;
    } else {
        free(b);
    }
    return m;
}

static void test_kernels(void) {
    /* random rows, then every value at the int16 limits (sums wrap modulo 2^32) */
    for (int it = 0; it < 200; it++) {
        int rows = 1 + (int)(tu_rand() % 40), n = 16 * (1 + (int)(tu_rand() % 12)), acc = (int)(tu_rand() & 1);
        int extreme = it % 4 == 3;
        int16_t *W = malloc((size_t)rows * (size_t)n * 2), *x = malloc((size_t)n * 2);
        int32_t *bias = malloc((size_t)rows * 4);
        uint32_t out[N_LEVELS][40];
        for (int i = 0; i < rows * n; i++) W[i] = extreme ? -32768 : (int16_t)tu_rand();
        for (int i = 0; i < n; i++) x[i] = extreme ? -32768 : (int16_t)tu_rand();
        for (int i = 0; i < rows; i++) bias[i] = (int32_t)tu_rand();
        uint32_t init[40];
        for (int i = 0; i < 40; i++) init[i] = (uint32_t)tu_rand();
        for (int l = 0; l < N_LEVELS; l++) {
            memcpy(out[l], init, sizeof init);
            sn_cm_matvec(out[l], W, x, it % 3 ? bias : NULL, rows, n, acc, levels[l]);
        }
        /* and the sum written out once more, in 64 bits, modulo 2^32 */
        for (int r = 0; r < rows; r++) {
            int64_t s = acc ? (int64_t)init[r] : 0;
            if (it % 3) s += bias[r];
            for (int i = 0; i < n; i++) s += (int64_t)W[(size_t)r * (size_t)n + (size_t)i] * x[i];
            CHECK_MSG((uint32_t)s == out[0][r], "plain row %d of %d x %d", r, rows, n);
        }
        for (int l = 1; l < N_LEVELS; l++)
            CHECK_MSG(!memcmp(out[0], out[l], (size_t)rows * 4), "level %s differs (rows %d, n %d, extreme %d)",
                      sono_cpu_level_name(levels[l]), rows, n, extreme);
        free(W), free(x), free(bias);
    }
}

static void test_freqs(void) {
    static uint32_t lg[SN_CM_V_MAX], fr[SN_CM_V_MAX];
    for (int it = 0; it < 300; it++) {
        int V = it % 50 == 0 ? SN_CM_V_MAX : SN_CM_V_MIN + (int)(tu_rand() % 2000);
        int ls = (int)(tu_rand() % 25), kind = it % 4;
        for (int i = 0; i < V; i++) {
            uint64_t r = tu_rand();
            lg[i] = kind == 0 ? (uint32_t)r                       /* anything, as int32 */
                    : kind == 1 ? (uint32_t)(int32_t)(r % 4000) - 2000 /* close together */
                    : kind == 2 ? (i == 7 ? 0x7FFFFFFFu : 0x80000000u) /* one certain symbol */
                                : 12345u;                         /* all equal */
        }
        sn_cm_freqs(fr, lg, V, ls);
        uint64_t sum = 0;
        uint32_t mn = UINT32_MAX;
        for (int i = 0; i < V; i++) {
            sum += fr[i];
            if (fr[i] < mn) mn = fr[i];
        }
        CHECK_MSG(sum == 65536 && mn >= 1, "V %d kind %d: sum %llu, min %u", V, kind, (unsigned long long)sum, mn);
        if (kind == 2 && (0xFFFFFFFFu >> ls) >= 2048) CHECK(fr[7] == 65536 - (uint32_t)V + 1); /* past the exp table */
        if (kind == 3) CHECK(fr[0] >= fr[1] && fr[1] == fr[V - 1]); /* the first takes the remainder */
    }
}

static void fill_codes(int32_t *c, int n_q, int64_t F, int V, int pattern) {
    for (int q = 0; q < n_q; q++)
        for (int64_t t = 0; t < F; t++) {
            int32_t *x = &c[(size_t)q * (size_t)F + (size_t)t];
            uint64_t r = tu_rand();
            if (pattern == 0) *x = (int32_t)(r % (uint64_t)V);
            else if (pattern == 1) *x = t > 0 && r % 3 ? x[-1] : (int32_t)((r >> 8) % (V < 17 ? (uint64_t)V : 17)); /* repeats */
            else if (pattern == 2) *x = 0;                                              /* all equal */
            else *x = V - 1;
        }
}

/* Encode on every level and thread count: one payload; decode it on every level. */
static void round_trip(const sono_coder *m, const int32_t *codes, int n_q, int64_t F, int random, const char *what) {
    uint8_t *ref = NULL;
    size_t ref_n = 0;
    size_t n_codes = (size_t)n_q * (size_t)F;
    int32_t *back = malloc(n_codes * sizeof *back);
    for (int l = 0; l < N_LEVELS; l++)
        for (int nt = 1; nt <= 3; nt++) {
            uint8_t *p = NULL;
            size_t pn = 0;
            int rc = sn_cm_encode(m, codes, n_q, F, nt, levels[l], &p, &pn);
            CHECK_MSG(rc == 0, "%s: encode: %s", what, sono_last_error());
            if (rc) continue;
            if (!ref) {
                ref = p;
                ref_n = pn;
                continue;
            }
            CHECK_MSG(pn == ref_n && !memcmp(p, ref, pn), "%s: payload on %s, %d threads differs", what,
                      sono_cpu_level_name(levels[l]), nt);
            free(p);
        }
    for (int l = 0; l < N_LEVELS && ref; l++) {
        memset(back, 0xAB, n_codes * sizeof *back);
        int rc = sn_cm_decode(m, ref, ref_n, n_q, F, levels[l], back);
        CHECK_MSG(rc == 0 && !memcmp(back, codes, n_codes * sizeof *back), "%s: decode on %s: %s", what,
                  sono_cpu_level_name(levels[l]), sono_last_error());
    }
    /* the payload is never much longer than the ideal length; for random codes it is
     * about as long (a run of one code can end on a short fraction and cost less) */
    double bits = sn_cm_code_length(m, codes, n_q, F, SONO_CPU_PLAIN, NULL);
    CHECK_MSG(ref && (double)ref_n * 8 <= bits * 1.01 + 40 && (!random || (double)ref_n * 8 >= bits * 0.99 - 40),
              "%s: %zu bytes for %.1f ideal bits", what, ref_n, bits);
    free(ref);
    free(back);
}

static void test_round_trips(void) {
    /* random models and codes: sizes across the block length (256 frames) */
    for (int it = 0; it < 24; it++) {
        int V = it % 6 == 5 ? 1024 : 16 + (int)(tu_rand() % 300), K = 1 + (int)(tu_rand() % 8), P = 1 + (int)(tu_rand() % 4);
        sn_cm_dims d = cmfix_dims(V, K, P);
        sono_coder *m = random_coder(&d, "rt", it % 8 == 7, NULL, NULL);
        if (!m) continue;
        int n_q = 1 + (int)(tu_rand() % (uint64_t)K);
        int64_t F = it % 5 == 0 ? 1 : 1 + (int64_t)(tu_rand() % 700);
        int32_t *c = malloc((size_t)n_q * (size_t)F * sizeof *c);
        fill_codes(c, n_q, F, V, it % 4);
        char what[96];
        snprintf(what, sizeof what, "V %d K %d P %d n_q %d F %lld pattern %d", V, K, P, n_q, (long long)F, it % 4);
        round_trip(m, c, n_q, F, it % 4 == 0, what);
        free(c);
        sono_coder_free(m);
    }
    /* the largest codebook the format allows, one codebook, 300 frames */
    sn_cm_dims d = cmfix_dims(SN_CM_V_MAX, 1, 2);
    sono_coder *m = random_coder(&d, "big", 0, NULL, NULL);
    if (m) {
        int32_t *c = malloc(300 * sizeof *c);
        fill_codes(c, 1, 300, SN_CM_V_MAX, 0);
        c[0] = SN_CM_V_MAX - 1;
        round_trip(m, c, 1, 300, 1, "V 16384");
        free(c);
        sono_coder_free(m);
    }
}

static void test_bad_calls(void) {
    sn_cm_dims d = cmfix_dims(64, 2, 2);
    sono_coder *m = random_coder(&d, "calls", 0, NULL, NULL);
    int32_t c[6] = {1, 2, 3, 4, 5, 64};
    uint8_t *p = NULL;
    size_t pn = 0;
    CHECK(sn_cm_encode(m, c, 3, 2, 1, SONO_CPU_PLAIN, &p, &pn) == SONO_E_ARG); /* more codebooks than the model */
    CHECK(sn_cm_encode(m, c, 2, 3, 1, SONO_CPU_PLAIN, &p, &pn) == SONO_E_RANGE); /* code 64 of 64 */
    c[5] = 63;
    CHECK(sn_cm_encode(m, c, 2, 3, 1, SONO_CPU_PLAIN, &p, &pn) == 0);
    int32_t back[6];
    /* a payload with a byte more, a byte less, a flipped bit: refused (most flips; the stream has no checksum) */
    uint8_t *q = malloc(pn + 1);
    memcpy(q, p, pn);
    q[pn] = 1;
    CHECK(sn_cm_decode(m, q, pn + 1, 2, 3, SONO_CPU_PLAIN, back) == SONO_E_FORMAT);
    if (pn > 0) CHECK(sn_cm_decode(m, q, pn - 1, 2, 3, SONO_CPU_PLAIN, back) == SONO_E_FORMAT || memcmp(back, c, sizeof c));
    free(q);
    free(p);
    sono_coder_free(m);
}

static void test_file(void) {
    sn_cm_dims d = cmfix_dims(16, 1, 1);
    d.H = 16;
    uint8_t *b = NULL;
    size_t n = 0;
    sono_coder *m = random_coder(&d, "tiny-codec", 0, &b, &n);
    if (!m) return;
    CHECK(n == sn_cm_file_bytes(&d));
    CHECK(!strcmp(sono_coder_codec_name(m), "tiny-codec") && sono_coder_codebook_size(m) == 16 &&
          sono_coder_max_codebooks(m) == 1);
    sono_coder_free(m);
    int err = 0;
    /* every cut: TRUNCATED */
    int bad_cut = 0;
    for (size_t k = 0; k < n; k++) {
        sono_coder *x = sono_coder_load_mem(b, k, &err);
        bad_cut += x != NULL || err != SONO_E_TRUNCATED;
        sono_coder_free(x);
    }
    CHECK_MSG(bad_cut == 0, "%d of %zu cuts not TRUNCATED", bad_cut, n);
    /* every bit flip outside the magic: CHECKSUM */
    int bad_flip = 0;
    for (size_t bit = 32; bit < n * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        sono_coder *x = sono_coder_load_mem(b, n, &err);
        if (x != NULL || err != SONO_E_CHECKSUM) {
            if (bad_flip++ < 3) fprintf(stderr, "  flip of bit %zu: %d %s\n", bit, err, sono_last_error());
        }
        sono_coder_free(x);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK_MSG(bad_flip == 0, "%d of %zu bit flips not CHECKSUM", bad_flip, n * 8 - 32);
    /* one more byte; another magic; version 2 */
    uint8_t *more = malloc(n + 1);
    memcpy(more, b, n);
    more[n] = 0;
    CHECK(!sono_coder_load_mem(more, n + 1, &err) && err == SONO_E_FORMAT);
    more[0] = 'X';
    CHECK(!sono_coder_load_mem(more, n, &err) && err == SONO_E_FORMAT);
    memcpy(more, b, n);
    sn_wr16(more + 4, 2);
    sn_wr32(more + 12, (uint32_t)XXH3_64bits(more, 12));
    CHECK(!sono_coder_load_mem(more, n, &err) && err == SONO_E_UNSUPPORTED);
    /* sizes the format refuses, with the header checksum made right */
    struct { int off, val, want; } crafted[] = {
        {28, 15, SONO_E_FORMAT}, {28, 16385, SONO_E_LIMIT}, {32, 0, SONO_E_FORMAT}, {32, 65, SONO_E_LIMIT},
        {36, 17, SONO_E_FORMAT}, {40, 24, SONO_E_FORMAT}, {24, 2, SONO_E_UNSUPPORTED}, {16, 5, SONO_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++) {
        memcpy(more, b, n);
        if (crafted[i].off == 16) sn_wr64(more + 16, (uint64_t)crafted[i].val);
        else sn_wr32(more + crafted[i].off, (uint32_t)crafted[i].val);
        sn_wr64(more + SN_CM_HEADER - 8, XXH3_64bits(more, SN_CM_HEADER - 8));
        sono_coder *x = sono_coder_load_mem(more, n, &err);
        CHECK_MSG(!x && err == crafted[i].want, "field at %d = %d: %d (%s)", crafted[i].off, crafted[i].val, err,
                  sono_last_error());
        sono_coder_free(x);
    }
    free(more);
    free(b);
}

static sono_tokens *tokens_for(const char *codec, int n_q, int64_t F, int V, int pattern) {
    sono_tokens *t = sono_tokens_alloc(n_q, F, 1, 0);
    snprintf(t->model_name, sizeof t->model_name, "%s", codec);
    t->sample_rate = 24000;
    t->channels = 1;
    t->hop = 320;
    t->codebook_size = V;
    t->n_samples = F * 320;
    fill_codes(t->codes, n_q, F, V, pattern);
    return t;
}

static int same_codes(const sono_tokens *a, const sono_tokens *b) {
    return a && b && a->n_q == b->n_q && a->n_frames == b->n_frames &&
           !memcmp(a->codes, b->codes, (size_t)a->n_q * (size_t)a->n_frames * sizeof(int32_t));
}

static void test_token_file(void) {
    /* a model under a codec name no models folder has */
    char name[64];
    snprintf(name, sizeof name, "cm-test-%llu", (unsigned long long)(tu_rand() % 1000000000));
    sn_cm_dims d = cmfix_dims(64, 4, 2);
    uint8_t *file = NULL;
    size_t file_n = 0;
    sono_coder *m = random_coder(&d, name, 0, &file, &file_n);
    if (!m) return;
    sono_tokens *t = tokens_for(name, 3, 500, 64, 0), *back = NULL;
    sono_tokens_encode_params p = sono_tokens_encode_default_params();
    uint8_t *buf = NULL;
    size_t n = 0;
    /* without a model the model coder cannot be chosen */
    p.coder = SONO_CODER_MODEL;
    CHECK(sono_tokens_encode_ex(t, &p, &buf, &n) == SONO_E_ARG);
    p.model = m;
    p.n_threads = 2;
    CHECK_MSG(sono_tokens_encode_ex(t, &p, &buf, &n) == 0, "%s", sono_last_error());
    tokfile_info info;
    CHECK(sn_tokfile_probe(buf, n, &info) == 0 && info.coder == 3 && info.version_minor == 1);
    uint8_t h[16];
    sono_coder_hash(m, h);
    CHECK(!memcmp(info.coder_hash, h, 16));
    /* with the model given; without it and none to be found: MODEL_MISSING naming it */
    CHECK(sono_tokens_decode_ex(buf, n, m, &back) == 0 && same_codes(t, back));
    sono_tokens_free(back);
    back = NULL;
    CHECK(sono_tokens_decode(buf, n, &back) == SONO_E_MODEL_MISSING && !back);
    char hex[8];
    snprintf(hex, sizeof hex, "%02x%02x%02x", h[0], h[1], h[2]);
    CHECK_MSG(strstr(sono_last_error(), hex) && strstr(sono_last_error(), name), "%s", sono_last_error());
    /* found beside the codec by name (SONOTOK_MODEL_PATH), and refused when that file is another model */
    char dir[] = "/tmp/sono-cm-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/%s.coder", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(file, 1, file_n, f) == file_n);
    if (f) fclose(f);
    setenv("SONOTOK_MODEL_PATH", dir, 1);
    CHECK_MSG(sono_tokens_decode(buf, n, &back) == 0 && same_codes(t, back), "%s", sono_last_error());
    sono_tokens_free(back);
    back = NULL;
    free(file);
    sono_coder *other = random_coder(&d, name, 0, &file, &file_n);
    f = fopen(path, "wb");
    CHECK(f && fwrite(file, 1, file_n, f) == file_n);
    if (f) fclose(f);
    CHECK(sono_tokens_decode_ex(buf, n, other, &back) == SONO_E_MODEL_MISSING && !back);
    CHECK_MSG(strstr(sono_last_error(), path) != NULL, "%s", sono_last_error());
    unlink(path);
    rmdir(dir);
    unsetenv("SONOTOK_MODEL_PATH");
    free(buf);

    /* AUTO: the smallest of the four; the model is skipped where it does not fit */
    p.coder = SONO_CODER_AUTO;
    size_t best = 0;
    for (int c = SONO_CODER_PACKED; c <= SONO_CODER_MODEL; c++) {
        sono_tokens_encode_params pc = p;
        pc.coder = c;
        CHECK(sono_tokens_encode_ex(t, &pc, &buf, &n) == 0);
        if (!best || n < best) best = n;
        free(buf);
    }
    CHECK(sono_tokens_encode_ex(t, &p, &buf, &n) == 0 && n == best);
    free(buf);
    sono_tokens *t5 = tokens_for(name, 5, 20, 64, 0), *t128 = tokens_for(name, 2, 20, 128, 0);
    CHECK(sono_tokens_encode_ex(t5, &p, &buf, &n) == 0 && sn_tokfile_probe(buf, n, &info) == 0 && info.coder != 3);
    free(buf);
    CHECK(sono_tokens_encode_ex(t128, &p, &buf, &n) == 0 && sn_tokfile_probe(buf, n, &info) == 0 && info.coder != 3);
    free(buf);
    p.coder = SONO_CODER_MODEL;
    CHECK(sono_tokens_encode_ex(t5, &p, &buf, &n) == SONO_E_ARG);
    CHECK(sono_tokens_encode_ex(t128, &p, &buf, &n) == SONO_E_ARG);
    sono_tokens_free(t5);
    sono_tokens_free(t128);

    /* every bit flip of a small coder-3 file is CHECKSUM, every cut TRUNCATED */
    sono_tokens *small = tokens_for(name, 2, 40, 64, 1);
    CHECK(sono_tokens_encode_ex(small, &p, &buf, &n) == 0);
    int bad = 0;
    for (size_t bit = 32; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        bad += sono_tokens_decode_ex(buf, n, m, &back) != SONO_E_CHECKSUM;
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK_MSG(bad == 0, "%d bit flips of a coder-3 file not CHECKSUM", bad);
    bad = 0;
    for (size_t k = 0; k < n; k++) bad += sono_tokens_decode_ex(buf, k, m, &back) != SONO_E_TRUNCATED;
    CHECK_MSG(bad == 0, "%d cuts of a coder-3 file not TRUNCATED", bad);
    /* a 1.0 header cannot hold coder 3; a 1.1 header with another coder must have a zero hash */
    uint8_t *x = malloc(n);
    memcpy(x, buf, n);
    sn_wr16(x + 6, 0);
    sn_wr32(x + 12, (uint32_t)XXH3_64bits(x, 12));
    sn_wr64(x + sn_rd32(x + 8) - 8, XXH3_64bits(x, sn_rd32(x + 8) - 8));
    sn_wr64(x + n - 8, XXH3_64bits(x, n - 8));
    CHECK(sono_tokens_decode_ex(x, n, m, &back) == SONO_E_FORMAT);
    memcpy(x, buf, n);
    x[20] = 2;
    sn_wr64(x + sn_rd32(x + 8) - 8, XXH3_64bits(x, sn_rd32(x + 8) - 8));
    sn_wr64(x + n - 8, XXH3_64bits(x, n - 8));
    CHECK(sono_tokens_decode_ex(x, n, m, &back) == SONO_E_FORMAT);
    free(x);
    free(buf);
    sono_tokens_free(small);
    sono_coder_free(other);
    free(file);
    sono_tokens_free(t);
    sono_coder_free(m);
}

/* Write the fuzz targets' seeds: test-codermodel seeds tests/fuzz */
static void put(const char *dir, const char *sub, const char *name, const uint8_t *b, size_t n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n);
    if (f) fclose(f);
}

static void write_seeds(const char *dir) {
    /* coder model files: two sizes, and known-bad ones */
    sn_cm_dims d1 = cmfix_dims(16, 1, 1), d2 = cmfix_dims(64, 3, 2);
    d1.H = 16;
    size_t n1 = 0, n2 = 0;
    uint8_t *b1 = cmfix_model(&d1, "seed", tu_rand, 0, &n1), *b2 = cmfix_model(&d2, "seed-2", tu_rand, 1, &n2);
    put(dir, "corpus/codermodel", "tiny.coder", b1, n1);
    put(dir, "corpus/codermodel", "small-extreme.coder", b2, n2);
    put(dir, "bad/codermodel", "TRUNCATED_half.coder", b1, n1 / 2);
    put(dir, "bad/codermodel", "TRUNCATED_header.coder", b1, 40);
    b1[n1 - 20] ^= 4;
    put(dir, "bad/codermodel", "CHECKSUM_weights.coder", b1, n1);
    b1[n1 - 20] ^= 4;
    b1[30] ^= 1;
    put(dir, "bad/codermodel", "CHECKSUM_header.coder", b1, n1);
    b1[30] ^= 1;
    sn_wr16(b1 + 4, 2);
    tokfix_tok(b1, n1);
    put(dir, "bad/codermodel", "UNSUPPORTED_version2.coder", b1, n1);
    sn_wr16(b1 + 4, 1);
    sn_wr32(b1 + 28, 8); /* 8 codes */
    tokfix_tok(b1, n1);
    put(dir, "bad/codermodel", "FORMAT_codebook8.coder", b1, n1);
    sn_wr32(b1 + 28, 16);
    sn_wr32(b1 + 32, 65);
    tokfix_tok(b1, n1);
    put(dir, "bad/codermodel", "LIMIT_codebooks65.coder", b1, n1);
    b1[0] = 'X';
    put(dir, "bad/codermodel", "FORMAT_magic.coder", b1, n1);
    free(b1);
    free(b2);
    /* model-coded payloads for tokcoder's fixed model: n_q, frames, payload */
    sono_coder *m = cmfix_fuzz_model();
    CHECK(m != NULL);
    if (!m) return;
    static const struct { int n_q, F, pattern; const char *name; } seeds[] = {
        {1, 1, 0, "one-code"}, {3, 40, 0, "random"}, {2, 300, 1, "repeats"}, {3, 600, 2, "zeros"}, {1, 2048, 3, "last"},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        int32_t *c = malloc(sizeof(int32_t) * 3 * 2048);
        fill_codes(c, seeds[i].n_q, seeds[i].F, 64, seeds[i].pattern);
        uint8_t *p = NULL;
        size_t pn = 0;
        CHECK(sn_cm_encode(m, c, seeds[i].n_q, seeds[i].F, 1, SONO_CPU_PLAIN, &p, &pn) == 0);
        uint8_t *in = malloc(pn + 4);
        in[0] = (uint8_t)(seeds[i].n_q - 1);
        sn_wr16(in + 1, (uint16_t)(seeds[i].F - 1));
        memcpy(in + 3, p, pn);
        put(dir, "corpus/tokcoder", seeds[i].name, in, pn + 3);
        if (i == 1) {
            in[pn + 3] = 7;
            put(dir, "bad/tokcoder", "FORMAT_byte_after", in, pn + 4);
            put(dir, "bad/tokcoder", "TRUNCATED_no_sizes", in, 2);
        }
        free(in);
        free(p);
        free(c);
    }
    sono_coder_free(m);
}

int main(int argc, char **argv) {
    tu_seed(20251207);
    if (argc > 2 && !strcmp(argv[1], "seeds")) {
        write_seeds(argv[2]);
        return tu_finish("test-codermodel seeds");
    }
    test_kernels();
    test_freqs();
    test_round_trips();
    test_bad_calls();
    test_file();
    test_token_file();
    return tu_finish("test-codermodel");
}
