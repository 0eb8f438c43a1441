/* Range-coder engine tests (common/rangecoder.h): streams worked out by hand
 * from the stream definition, the adaptive model's rule, random scripts of
 * symbols, decisions and raw bits round-tripped and measured against their
 * ideal cost, extreme distributions, the stated precision bound, damaged
 * streams (every truncation, appended bytes, bit flips: never out of bounds,
 * and whatever the decoder accepts is exactly what the encoder writes for the
 * values it decoded), and calls that break their preconditions.
 * `test-rangecoder --write-corpus DIR` writes the seeds of the fuzz target. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rangecoder.h"
#include "formats/rcops.h"
#include "test_util.h"

/* A copy of exactly n bytes, so that a sanitizer sees any read past them. */
static uint8_t *exact_copy(const uint8_t *b, size_t n) {
    uint8_t *c = malloc(n ? n : 1);
    if (c && n) memcpy(c, b, n);
    return c;
}

/* Finish e and start d on an exact copy of its stream; returns the copy (the
 * caller frees it) and its size in *n_bytes. */
static uint8_t *finish_into(sn_rc_enc *e, sn_rc_dec *d, size_t *n_bytes) {
    uint8_t *buf = NULL;
    CHECK(sn_rc_enc_finish(e, &buf, n_bytes) == 0);
    uint8_t *c = exact_copy(buf, *n_bytes);
    free(buf);
    sn_rc_dec_init(d, c, *n_bytes);
    return c;
}

static int same_bytes(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
    return na == nb && (na == 0 || !memcmp(a, b, na));
}

/* ---- streams worked out by hand ---- */

static void test_vectors(void) {
    uint8_t *b;
    size_t n;
    sn_rc_enc e;
    sn_rc_dec d;

    /* nothing coded: value 0, every byte a dropped zero */
    sn_rc_enc_init(&e);
    CHECK(sn_rc_enc_finish(&e, &b, &n) == 0 && n == 0);
    sn_rc_dec_init(&d, b, n);
    CHECK(sn_rc_dec_end(&d) == SN_RC_OK);
    free(b);

    /* bit 1 at p = 1/2: bound = 0xFFFF * 0x8000 = 0x7FFF8000 = low, range
     * 0x80007FFF; rounded up to 2^24: 0x80000000, so the one byte 0x80 */
    sn_rc_enc_init(&e);
    sn_rc_enc_bit(&e, 32768, 1);
    CHECK(sn_rc_enc_finish(&e, &b, &n) == 0 && n == 1 && b[0] == 0x80);
    sn_rc_dec_init(&d, b, n);
    CHECK(sn_rc_dec_bit(&d, 32768) == 1 && sn_rc_dec_end(&d) == SN_RC_OK);
    free(b);

    /* symbol [1, 2) of 4: r = 0x3FFFFFFF = low = range, rounded 0x40000000 */
    sn_rc_enc_init(&e);
    sn_rc_enc_sym(&e, 1, 1, 4);
    CHECK(sn_rc_enc_finish(&e, &b, &n) == 0 && n == 1 && b[0] == 0x40);
    free(b);

    /* the last symbol [2, 3) of 3 keeps the remainder: r = 0x55555555, low
     * 0xAAAAAAAA, rounded 0xAB000000 (inside range 0x55555555, where r alone
     * would also do) */
    sn_rc_enc_init(&e);
    sn_rc_enc_sym(&e, 2, 1, 3);
    CHECK(sn_rc_enc_finish(&e, &b, &n) == 0 && n == 1 && b[0] == 0xAB);
    free(b);
    /* the last symbol [65535, 65536) of 2^16: r = 0xFFFF, low = 0xFFFE0001
     * and the remainder leaves range 0x1FFFE (r alone would leave 0xFFFF and
     * give FF FE 01): one shift (0xFF pending, low 0xFE000100), rounded to
     * 0xFF000000, so FF FF 00 00 00 less its zeros */
    sn_rc_enc_init(&e);
    sn_rc_enc_sym(&e, 65535, 1, 65536);
    CHECK(sn_rc_enc_finish(&e, &b, &n) == 0 && n == 2 && b[0] == 0xFF && b[1] == 0xFF);
    free(b);
    /* ... decoded: code 0xFFFF0000 / 0xFFFF = 65536, past the total: the
     * remainder belongs to the last symbol */
    static const uint8_t ffff[2] = {0xFF, 0xFF};
    uint8_t *t = exact_copy(ffff, 2);
    sn_rc_dec_init(&d, t, 2);
    CHECK(sn_rc_dec_target(&d, 65536) == 65535);
    sn_rc_dec_sym(&d, 65535, 1);
    CHECK(sn_rc_dec_end(&d) == SN_RC_OK);
    free(t);

    /* two bits at 1/2: 1 then 0: low 0x7FFF8000, range 0x80007FFF; then
     * bound = 0x8000 * 0x8000 = 0x40000000 = range; rounded 0x80000000 */
    sn_rc_enc_init(&e);
    sn_rc_enc_bit(&e, 32768, 1);
    sn_rc_enc_bit(&e, 32768, 0);
    CHECK(sn_rc_enc_finish(&e, &b, &n) == 0 && n == 1 && b[0] == 0x80);
    free(b);
}

/* ---- the adaptive model's rule, step by step ---- */

static void test_adaptive_rule(void) {
    sn_rc_prob m = sn_rc_prob_make(32768, 0);
    sn_rc_prob_update(&m, 1, 60); /* r = 16384: p += 32768 * 16384 >> 15 */
    CHECK(m.p == 49152 && m.n == 1);
    sn_rc_prob_update(&m, 1, 60); /* r = 10922: p += 16384 * 10922 >> 15 = 5461 */
    CHECK(m.p == 54613 && m.n == 2);
    sn_rc_prob_update(&m, 0, 60); /* r = 8192: p -= 54613 * 8192 >> 15 = 13653 */
    CHECK(m.p == 40960 && m.n == 3);
    m = sn_rc_prob_make(100, 2);
    sn_rc_prob_update(&m, 0, 2); /* r = 8192: p = 100 - 25 = 75; count stays at its limit */
    CHECK(m.p == 75 && m.n == 2);
    sn_rc_prob_update(&m, 0, 2); /* 75 - 18 = 57, clamped */
    CHECK(m.p == SN_RC_PROB_MIN);
    CHECK(sn_rc_prob_make(0, 0).p == SN_RC_PROB_MIN && sn_rc_prob_make(70000, 0).p == 65536 - SN_RC_PROB_MIN);
    for (int i = 0; i < 1000; i++) sn_rc_prob_update(&m, 1, 2);
    CHECK(m.p == 65536 - SN_RC_PROB_MIN && m.n == 2);
    /* at a slow rate the integer step stops short of the clamp: at n = 256,
     * r = 127, once (65536 - p) * 127 < 32768 */
    m = sn_rc_prob_make(32768, 0);
    for (int i = 0; i < 100000; i++) sn_rc_prob_update(&m, 1, 256);
    CHECK(m.n == 256 && m.p < 65536 - SN_RC_PROB_MIN && (65536u - m.p) * 127u < 32768u);
}

/* ---- random scripts ---- */

static void test_random_scripts(void) {
    int bad_trip = 0, bad_size = 0, scripts = 150;
    double worst = -1e9, sum_ideal = 0, sum_over = 0;
    for (int k = 0; k < scripts; k++) {
        rcscript sc;
        size_t n_ops = 1 + (size_t)(tu_rand() % (k < 20 ? 50 : 6000));
        uint64_t seed = tu_rand(), ds = tu_rand();
        if (rcs_make(&sc, seed, n_ops)) abort();
        uint32_t *v = malloc(n_ops * sizeof *v), *back = malloc(n_ops * sizeof *back);
        double ideal = rcs_draw(&sc, v, &ds);
        uint8_t *b;
        size_t n;
        CHECK(rcs_encode(&sc, v, &b, &n) == 0);
        uint8_t *c = exact_copy(b, n);
        int st = rcs_decode(&sc, c, n, back);
        if (st != SN_RC_OK || memcmp(v, back, n_ops * sizeof *v)) {
            if (!bad_trip++) fprintf(stderr, "script %d (seed %llu): status %d\n", k, (unsigned long long)seed, st);
        }
        /* compressed size: within 0.1 % and 3 bytes of the ideal */
        double over = 8.0 * (double)n - ideal;
        if (over > 0.001 * ideal + 24) {
            if (!bad_size++)
                fprintf(stderr, "script %d: %zu bytes for %.1f ideal bits (%zu calls)\n", k, n, ideal, n_ops);
        }
        if (over - 0.001 * ideal > worst) worst = over - 0.001 * ideal;
        sum_ideal += ideal;
        sum_over += over;
        free(b);
        free(c);
        free(v);
        free(back);
        rcs_free(&sc);
    }
    printf("  %d random scripts: %.0f bits over %.0f ideal (%.4f %%), the most over 0.1 %% of the ideal %.1f bits\n",
           scripts, sum_over, sum_ideal, 100 * sum_over / sum_ideal, worst);
    CHECK_MSG(bad_trip == 0, "%d scripts did not round-trip", bad_trip);
    CHECK_MSG(bad_size == 0, "%d scripts more than 0.1 %% + 3 bytes over their ideal size", bad_size);
}

/* ---- extremes ---- */

/* n symbols of a two-symbol CDF {a, b} (total a + b), the rare one every
 * `every` symbols; returns the payload size and checks the round trip. */
static size_t two_symbols(uint32_t a, uint32_t b, int rare_first, size_t n, size_t every, double *ideal) {
    uint32_t cdf[3] = {0, a, a + b};
    int rare = rare_first ? 0 : 1;
    sn_rc_enc e;
    sn_rc_enc_init(&e);
    *ideal = 0;
    for (size_t i = 0; i < n; i++) {
        int s = i % every == every - 1 ? rare : 1 - rare;
        sn_rc_enc_cdf(&e, cdf, 2, s);
        *ideal -= log2((double)(cdf[s + 1] - cdf[s]) / (a + b));
    }
    size_t nb;
    sn_rc_dec d;
    uint8_t *c = finish_into(&e, &d, &nb);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        int s = i % every == every - 1 ? rare : 1 - rare;
        wrong += sn_rc_dec_cdf(&d, cdf, 2) != s;
    }
    CHECK_MSG(wrong == 0 && sn_rc_dec_end(&d) == SN_RC_OK, "{%u, %u}: %zu wrong", a, b, wrong);
    free(c);
    return nb;
}

static void test_extremes(void) {
    double ideal;
    /* a symbol of frequency 1 in 65536, first or last, often or never */
    for (int first = 0; first < 2; first++) {
        uint32_t ra = first ? 1 : 65535, rb = first ? 65535 : 1;
        size_t n = two_symbols(ra, rb, first, 20000, 2, &ideal); /* every other symbol is the rare one */
        CHECK_MSG(8.0 * (double)n <= ideal * 1.001 + 24, "rare %s: %zu bytes, ideal %.0f bits", first ? "first" : "last", n, ideal);
        n = two_symbols(ra, rb, first, 100000, 100001, &ideal); /* never: ideal 3.2 bits */
        printf("  100000 symbols at 65535/65536 (%s): %zu bytes, ideal %.1f bits\n", first ? "second" : "first", n,
               ideal);
        /* the frequent symbol last keeps the remainder: near the ideal; first,
         * it pays up to -log2(1 - 2^16 / 2^24) bits each (the stated bound) */
        CHECK(first ? n <= 4 : 8.0 * (double)n <= -100000 * log2(1 - 1.0 / 256) + ideal + 24);
    }

    /* a one-symbol alphabet costs nothing, at total 1 or 2^16 */
    for (int k = 0; k < 2; k++) {
        uint32_t total = k ? SN_RC_TOTAL_MAX : 1;
        uint32_t cdf[2] = {0, total};
        sn_rc_enc e;
        sn_rc_enc_init(&e);
        for (int i = 0; i < 100000; i++) sn_rc_enc_cdf(&e, cdf, 1, 0);
        size_t n;
        sn_rc_dec d;
        uint8_t *c = finish_into(&e, &d, &n);
        int wrong = 0;
        for (int i = 0; i < 100000; i++) wrong += sn_rc_dec_cdf(&d, cdf, 1) != 0;
        CHECK(n == 0 && wrong == 0 && sn_rc_dec_end(&d) == SN_RC_OK);
        free(c);
    }

    /* decisions at p = 1, 2, 65534, 65535 (of 65536), both outcomes */
    static const uint32_t ps[] = {1, 2, 65534, 65535};
    for (int k = 0; k < 4; k++) {
        uint32_t p1 = ps[k];
        enum { N = 200000 };
        uint8_t *bits = malloc(N);
        double ideal_bits = 0;
        sn_rc_enc e;
        sn_rc_enc_init(&e);
        for (int i = 0; i < N; i++) {
            bits[i] = (uint8_t)((tu_rand() % SN_RC_PROB_ONE) < p1);
            if (i % 5000 == 17) bits[i] = p1 < 32768; /* the unlikely outcome, at least 40 times */
            ideal_bits -= log2((bits[i] ? p1 : SN_RC_PROB_ONE - p1) / 65536.0);
            sn_rc_enc_bit(&e, p1, bits[i]);
        }
        size_t n;
        sn_rc_dec d;
        uint8_t *c = finish_into(&e, &d, &n);
        int wrong = 0;
        for (int i = 0; i < N; i++) wrong += sn_rc_dec_bit(&d, p1) != bits[i];
        CHECK_MSG(wrong == 0 && sn_rc_dec_end(&d) == SN_RC_OK, "p1 %u: %d wrong", p1, wrong);
        /* the likely branch of a p near 0 is the truncated one: up to
         * -log2(1 - 2^16 / 2^24) extra bits per decision, as for symbols */
        double slack = p1 < 32768 ? -N * log2(1 - 1.0 / 256) : 0;
        printf("  %d decisions at p1 = %u: %zu bytes, ideal %.1f bits\n", N, p1, n, ideal_bits);
        CHECK_MSG(8.0 * (double)n <= ideal_bits * 1.001 + slack + 24, "p1 %u: %zu bytes for %.1f ideal bits", p1, n,
                  ideal_bits);
        free(c);
        free(bits);
    }

    /* raw bits: 16-bit values cost 16 bits, 0-bit values nothing */
    sn_rc_enc e;
    sn_rc_enc_init(&e);
    for (uint32_t i = 0; i < 4096; i++) {
        sn_rc_enc_bits(&e, (i * 40503u) & 0xFFFF, 16);
        sn_rc_enc_bits(&e, 0, 0);
    }
    size_t n;
    sn_rc_dec d;
    uint8_t *c = finish_into(&e, &d, &n);
    int wrong = 0;
    for (uint32_t i = 0; i < 4096; i++) {
        wrong += sn_rc_dec_bits(&d, 16) != ((i * 40503u) & 0xFFFF);
        wrong += sn_rc_dec_bits(&d, 0) != 0;
    }
    CHECK(n <= 2 * 4096 + 4 && wrong == 0 && sn_rc_dec_end(&d) == SN_RC_OK);
    free(c);
}

/* ---- damaged streams ---- */

/* Decode a damaged stream under sc; it must be refused or be exactly the
 * encoder's stream for what it decoded to. Returns 1 when refused. */
static int damaged(const rcscript *sc, const uint8_t *in, size_t n, int *not_canonical) {
    uint8_t *c = exact_copy(in, n);
    uint32_t *v = malloc(sc->n_ops * sizeof *v);
    int st = rcs_decode(sc, c, n, v);
    if (st == SN_RC_OK) {
        uint8_t *again;
        size_t n_again;
        if (rcs_encode(sc, v, &again, &n_again) != 0 || !same_bytes(again, n_again, in, n)) (*not_canonical)++;
        free(again);
    }
    free(v);
    free(c);
    return st != SN_RC_OK;
}

static void test_damage(void) {
    int cuts = 0, cuts_caught = 0, flips = 0, flips_caught = 0, apps = 0, apps_caught = 0, not_canonical = 0;
    for (int k = 0; k < 12; k++) {
        rcscript sc;
        uint64_t ds = tu_rand();
        if (rcs_make(&sc, tu_rand(), 200 + (size_t)(tu_rand() % 800))) abort();
        uint32_t *v = malloc(sc.n_ops * sizeof *v);
        rcs_draw(&sc, v, &ds);
        uint8_t *b;
        size_t n;
        CHECK(rcs_encode(&sc, v, &b, &n) == 0);
        for (size_t cut = 0; cut < n; cut++, cuts++) cuts_caught += damaged(&sc, b, cut, &not_canonical);
        uint8_t *x = malloc(n + 8);
        memcpy(x, b, n);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit += 3, flips++) {
                x[i] ^= (uint8_t)(1 << bit);
                flips_caught += damaged(&sc, x, n, &not_canonical);
                x[i] ^= (uint8_t)(1 << bit);
            }
        for (size_t extra = 1; extra <= 8; extra++, apps++) {
            x[n + extra - 1] = (uint8_t)(1 + tu_rand() % 255);
            apps_caught += damaged(&sc, x, n + extra, &not_canonical);
        }
        /* the encoder never ends on a zero byte, nor starts with FF FF FF FF */
        x[n] = 0;
        CHECK(damaged(&sc, x, n + 1, &not_canonical));
        memcpy(x, b, n);
        memset(x, 0xFF, n < 4 ? n : 4);
        if (n >= 4) CHECK(damaged(&sc, x, n, &not_canonical));
        free(x);
        free(b);
        free(v);
        rcs_free(&sc);
    }
    printf("  refused: %d of %d truncations, %d of %d bit flips, %d of %d appended tails\n", cuts_caught, cuts,
           flips_caught, flips, apps_caught, apps);
    CHECK_MSG(not_canonical == 0, "%d damaged streams were accepted but are not the encoder's", not_canonical);
    /* no checksum: some damage decodes to other values; most must not. An
     * appended tail is always refused unless the encoder dropped more than 3
     * zeros (about 1 stream in 256) and the tail leaves 3 of them. */
    CHECK(cuts_caught * 10 >= cuts * 7);
    CHECK(flips_caught * 10 >= flips * 7);
    CHECK(apps_caught * 10 >= apps * 9);

    /* garbage of every length up to 64 and some long: bounded, canonical when accepted */
    rcscript sc;
    if (rcs_make(&sc, 99, 3000)) abort();
    uint8_t g[4096];
    int g_caught = 0, g_n = 0;
    for (int len = 0; len <= 64; len++)
        for (int r = 0; r < 4; r++, g_n++) {
            for (int i = 0; i < len; i++) g[i] = (uint8_t)tu_rand();
            g_caught += damaged(&sc, g, (size_t)len, &not_canonical);
        }
    for (size_t i = 0; i < sizeof g; i++) g[i] = (uint8_t)tu_rand();
    g_caught += damaged(&sc, g, sizeof g, &not_canonical);
    CHECK(not_canonical == 0);
    printf("  refused: %d of %d random inputs\n", g_caught, g_n + 1);
    rcs_free(&sc);
}

/* ---- calls that break their preconditions ---- */

static void test_bad_calls(void) {
    static const uint32_t cdf_ok[4] = {0, 3, 3, 8}, cdf_down[4] = {0, 5, 3, 8};
    struct {
        const char *what;
        int kind;
        uint32_t a, b, c;
    } bad[] = {
        {"p1 0", 0, 0, 0, 0},           {"p1 65536", 0, 65536, 1, 0},   {"total 0", 1, 0, 1, 0},
        {"total 2^16+1", 1, 0, 1, 65537}, {"freq 0", 1, 0, 0, 8},       {"cum + freq > total", 1, 6, 3, 8},
        {"17 raw bits", 2, 0, 17, 0},   {"value over its bits", 2, 4, 2, 0}, {"zero-frequency symbol", 3, 1, 0, 0},
        {"decreasing CDF", 4, 1, 0, 0}, {"symbol outside the CDF", 3, 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sn_rc_enc e;
        sn_rc_enc_init(&e);
        sn_rc_enc_bit(&e, 100, 1);
        if (bad[i].kind == 0) sn_rc_enc_bit(&e, bad[i].a, (int)bad[i].b);
        if (bad[i].kind == 1) sn_rc_enc_sym(&e, bad[i].a, bad[i].b, bad[i].c);
        if (bad[i].kind == 2) sn_rc_enc_bits(&e, bad[i].a, (int)bad[i].b);
        if (bad[i].kind == 3) sn_rc_enc_cdf(&e, cdf_ok, 3, (int)bad[i].a);
        if (bad[i].kind == 4) sn_rc_enc_cdf(&e, cdf_down, 3, (int)bad[i].a);
        uint8_t *b = (uint8_t *)&e;
        size_t n = 1;
        CHECK_MSG(sn_rc_enc_finish(&e, &b, &n) == SONO_E_ARG && b == NULL && n == 0, "encoder, %s", bad[i].what);
    }
    /* the decoder: each bad call marks it corrupt, consumes nothing, and returns */
    static const uint8_t s[3] = {0x12, 0x34, 0x56};
    for (int k = 0; k < 9; k++) {
        sn_rc_dec d;
        sn_rc_dec_init(&d, s, 3);
        if (k == 0) sn_rc_dec_bit(&d, 0);
        if (k == 1) sn_rc_dec_bit(&d, 65536);
        if (k == 2) sn_rc_dec_target(&d, 0);
        if (k == 3) sn_rc_dec_target(&d, SN_RC_TOTAL_MAX + 1);
        if (k == 4) sn_rc_dec_sym(&d, 0, 1); /* no target first */
        if (k == 5) {
            uint32_t v = sn_rc_dec_target(&d, 8);
            sn_rc_dec_sym(&d, v + 1, 1); /* an interval that does not hold it */
        }
        if (k == 6) sn_rc_dec_bits(&d, 17);
        if (k == 7) sn_rc_dec_cdf(&d, cdf_ok, 0);
        if (k == 8) sn_rc_dec_cdf(&d, cdf_down, 3); /* may or may not land in the broken interval */
        if (k < 8) CHECK_MSG(sn_rc_dec_end(&d) == SN_RC_CORRUPT, "decoder, bad call %d", k);
    }
    /* a wrong interval is refused whichever side of the target it lies */
    sn_rc_dec d;
    sn_rc_dec_init(&d, s, 3);
    uint32_t v = sn_rc_dec_target(&d, 8);
    sn_rc_dec_sym(&d, 0, v); /* [0, v) ends just below it (empty when v = 0) */
    CHECK(d.err);
    /* NULL-safe free, and freeing an unfinished encoder */
    sn_rc_enc_free(NULL);
    sn_rc_enc e;
    sn_rc_enc_init(&e);
    for (int i = 0; i < 100000; i++) sn_rc_enc_bits(&e, (uint32_t)i & 0xFF, 8);
    sn_rc_enc_free(&e);
}

/* ---- fuzz seeds ---- */

/* Write the fuzz input for (seed, n_ops, stream), or its first `keep` bytes. */
static int put_file(const char *dir, const char *name, uint64_t seed, size_t n_ops, const uint8_t *b, size_t n,
                    size_t keep) {
    uint8_t *x = malloc(10 + n);
    if (!x) return 1;
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(seed >> (8 * i));
    x[8] = (uint8_t)(n_ops & 0xFF);
    x[9] = (uint8_t)(n_ops >> 8);
    if (n) memcpy(x + 10, b, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int rc = !f || fwrite(x, 1, keep < 10 + n ? keep : 10 + n, f) != (keep < 10 + n ? keep : 10 + n);
    if (f && fclose(f)) rc = 1;
    free(x);
    return rc;
}

/* Inputs of tests/fuzz/fuzz_rangecoder.c: 8 bytes of script seed and 2 of
 * call count (little-endian), then the stream. Seeds are encoder output for
 * values drawn from their script; the known-bad files break one rule each. */
static int write_corpus(const char *dir, const char *bad_dir) {
    int rc = 0;
    for (int k = 0; k < 8 && !rc; k++) {
        rcscript sc;
        uint64_t seed = 1000 + (uint64_t)k, ds = 7 + (uint64_t)k;
        size_t n_ops = k < 4 ? 20 : 400;
        if (rcs_make(&sc, seed, n_ops)) return 1;
        uint32_t v[400];
        rcs_draw(&sc, v, &ds);
        uint8_t *b;
        size_t n;
        if (rcs_encode(&sc, v, &b, &n)) return 1;
        char name[64];
        snprintf(name, sizeof name, "script%d.bin", k);
        rc |= put_file(dir, name, seed, n_ops, b, n, SIZE_MAX);
        if (k == 4) {
            uint8_t *x = malloc(n + 4);
            memcpy(x, b, n);
            x[n] = 0;
            rc |= put_file(bad_dir, "FORMAT_trailing_zero.bin", seed, n_ops, x, n + 1, SIZE_MAX);
            memset(x + n, 0x5A, 4);
            rc |= put_file(bad_dir, "FORMAT_unused_bytes.bin", seed, n_ops, x, n + 4, SIZE_MAX);
            memset(x, 0xFF, 4);
            rc |= put_file(bad_dir, "FORMAT_first_word.bin", seed, n_ops, x, n, SIZE_MAX);
            rc |= put_file(bad_dir, "TRUNCATED_no_script.bin", seed, n_ops, x, n, 7);
            free(x);
        }
        free(b);
        rcs_free(&sc);
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--write-corpus")) return write_corpus(argv[2], argv[3]);
    tu_seed(20240612);
    test_vectors();
    test_adaptive_rule();
    test_random_scripts();
    test_extremes();
    test_damage();
    test_bad_calls();
    return tu_finish("rangecoder");
}
