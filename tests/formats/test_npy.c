/* .npy tests: our writer's exact bytes, round trips, fixtures written by
 * NumPy (every integer dtype, both byte orders, C and Fortran order,
 * versions 1.0-3.0; see make_npy_fixtures.py), refused arrays (float, bool,
 * structured, 1-D, 3-D, empty, out-of-range codes) with their messages,
 * hand-written headers with odd spacing and key order, and truncations.
 * usage: test-npy SRCDIR (the folder holding npy/) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sonotok/tokens.h"
#include "tokdata.h"
#include "test_util.h"

static const char *g_dir = ".";

static int load_fixture(const char *name, int K, int32_t **codes, int *n_q, int64_t *n_frames) {
    char path[1024];
    snprintf(path, sizeof path, "%s/npy/%s", g_dir, name);
    return sono_npy_load(path, K, codes, n_q, n_frames);
}

static void test_fixtures(void) {
    static const char *ok[] = {"ok_i1_C", "ok_u1_C", "ok_i2le_F", "ok_i2be_C", "ok_u2le_C", "ok_u2be_F",
                               "ok_i4le_C", "ok_i4be_F", "ok_u4le_C", "ok_u4be_C", "ok_i8le_F", "ok_i8be_C",
                               "ok_u8le_C", "ok_u8be_F", "ok_i8le_C_v2", "ok_i4le_F_v3"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.npy", ok[i]);
        int32_t *codes = NULL;
        int n_q = 0;
        int64_t F = 0;
        int rc = load_fixture(name, 1024, &codes, &n_q, &F);
        CHECK_MSG(rc == 0, "%s: %s", name, sono_last_error());
        if (rc) continue;
        CHECK(n_q == 3 && F == 5);
        int one_byte = ok[i][4] == '1';
        int bad = 0;
        for (int q = 0; q < 3; q++)
            for (int f = 0; f < 5; f++) {
                int want = (37 * q + 11 * f) % (one_byte ? 100 : 1000);
                if (!one_byte && q == 2 && f == 4) want = 1023;
                bad += codes[q * 5 + f] != want;
            }
        CHECK_MSG(bad == 0, "%s: %d codes differ", name, bad);
        free(codes);
        /* the largest code is refused by a smaller codebook */
        if (!one_byte) {
            rc = load_fixture(name, 1023, &codes, &n_q, &F);
            CHECK_MSG(rc == SONO_E_RANGE && strstr(sono_last_error(), "1023 at [q=2, frame=4]"), "%s: %s", name,
                      sono_last_error());
        }
    }
    static const struct {
        const char *name;
        int code;
        const char *msg;
    } bad[] = {
        {"bad_f4.npy", SONO_E_FORMAT, "npy: dtype <f4, expected an integer array"},
        {"bad_f8.npy", SONO_E_FORMAT, "npy: dtype >f8, expected an integer array"},
        {"bad_bool.npy", SONO_E_FORMAT, "npy: dtype |b1, expected an integer array"},
        {"bad_struct.npy", SONO_E_FORMAT, "structured dtype"},
        {"bad_1d.npy", SONO_E_FORMAT, "shape (15,) is 1-D, expected a 2-D array [n_q, n_frames]"},
        {"bad_3d.npy", SONO_E_FORMAT, "expected a 2-D array [n_q, n_frames]"},
        {"bad_neg.npy", SONO_E_RANGE, "code -1 at [q=1, frame=2] is outside [0, 1024)"},
        {"bad_big.npy", SONO_E_RANGE, "code 1024 at [q=2, frame=3] is outside [0, 1024)"},
        {"bad_empty.npy", SONO_E_EMPTY, "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *codes = (int32_t *)1;
        int n_q;
        int64_t F;
        int rc = load_fixture(bad[i].name, 1024, &codes, &n_q, &F);
        CHECK_MSG(rc == bad[i].code && strstr(sono_last_error(), bad[i].msg) && codes == NULL, "%s: got %d: %s",
                  bad[i].name, rc, sono_last_error());
    }
    /* without a codebook size only int32 range is checked */
    int32_t *codes;
    int n_q;
    int64_t F;
    CHECK(load_fixture("bad_neg.npy", 0, &codes, &n_q, &F) == 0 && codes[1 * 5 + 2] == -1);
    free(codes);
}

static int decode_str(const char *hdr, const void *data, size_t data_n, int32_t **codes, int *n_q, int64_t *F) {
    size_t hl = strlen(hdr);
    uint8_t *b = malloc(10 + hl + data_n);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    tokdata_wr16(b + 8, (uint16_t)hl);
    memcpy(b + 10, hdr, hl);
    memcpy(b + 10 + hl, data, data_n);
    int rc = sono_npy_decode(b, 10 + hl + data_n, 1024, codes, n_q, F);
    free(b);
    return rc;
}

static void test_headers(void) {
    uint16_t d16[6] = {1, 2, 3, 4, 5, 6};
    static const char *good[] = {
        "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }\n",
        "{\"shape\":(2,3),\"descr\":\"<u2\",\"fortran_order\":False}",
        "  {  'fortran_order' :False , 'shape' : ( 2 , 3 , ) ,'descr':'<u2' }   \n",
        "{'descr': '<u2', 'fortran_order': False, 'shape': (2L, 3L)}\n",
        "{'descr': '=u2', 'fortran_order': False, 'shape': (2, 3), }\t\r\n",
        "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }\n\0\0",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int32_t *codes = NULL;
        int n_q;
        int64_t F;
        size_t hl = strlen(good[i]) + (i == 5 ? 2 : 0);
        uint8_t *b = malloc(10 + hl + sizeof d16);
        memcpy(b, "\x93NUMPY\x01\x00", 8);
        tokdata_wr16(b + 8, (uint16_t)hl);
        memcpy(b + 10, good[i], hl);
        memcpy(b + 10 + hl, d16, sizeof d16); /* host is little-endian in CI; '=u2' means native */
        int rc = sono_npy_decode(b, 10 + hl + sizeof d16, 1024, &codes, &n_q, &F);
        CHECK_MSG(rc == 0 && n_q == 2 && F == 3 && codes[0] == 1 && codes[5] == 6, "header %zu: %s", i,
                  sono_last_error());
        free(codes);
        free(b);
    }
    static const struct {
        const char *hdr;
        int code;
    } bad[] = {
        {"{'descr': '<u2', 'fortran_order': False}", SONO_E_FORMAT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", SONO_E_FORMAT},
        {"{'descr': '<u2', 'descr': '<u2', 'fortran_order': False, 'shape': (2, 3)}", SONO_E_FORMAT},
        {"{'descr': '<u2', 'fortran_order': false, 'shape': (2, 3)}", SONO_E_FORMAT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3)} x", SONO_E_FORMAT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': [2, 3]}", SONO_E_FORMAT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3)", SONO_E_FORMAT},
        {"{'descr': '<u3', 'fortran_order': False, 'shape': (2, 3)}", SONO_E_FORMAT},
        {"{'descr': '|u2', 'fortran_order': False, 'shape': (2, 3)}", SONO_E_FORMAT},
        {"{'descr': '<U2', 'fortran_order': False, 'shape': (2, 3)}", SONO_E_FORMAT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 99999999999999999999)}", SONO_E_LIMIT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2000, 3)}", SONO_E_LIMIT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (0, 3)}", SONO_E_EMPTY},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2)}", SONO_E_FORMAT}, /* 4 data bytes left over */
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 4)}", SONO_E_TRUNCATED},
        {"{'descr': 'u2', 'fortran_order': False, 'shape': (2, 3)}", SONO_E_FORMAT},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': ()}", SONO_E_FORMAT},
        {"", SONO_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *codes = NULL;
        int n_q;
        int64_t F;
        int rc = decode_str(bad[i].hdr, d16, sizeof d16, &codes, &n_q, &F);
        CHECK_MSG(rc == bad[i].code && codes == NULL, "bad header %zu: got %d (%s)", i, rc, sono_last_error());
    }
}

static void test_round_trip_and_bytes(void) {
    for (int it = 0; it < 50; it++) {
        int n_q = 1 + (int)(tu_rand() % 16);
        int64_t F = 1 + (int64_t)(tu_rand() % 300);
        int32_t *c = malloc((size_t)n_q * (size_t)F * 4), *back = NULL;
        for (int64_t i = 0; i < n_q * F; i++) c[i] = (int32_t)(tu_rand() % 1024);
        uint8_t *buf;
        size_t n;
        CHECK(sono_npy_encode(c, n_q, F, &buf, &n) == 0);
        /* v1.0, '<i8', data on a 64-byte boundary, header ends with '\n' */
        size_t hl = tokdata_rd16(buf + 8);
        CHECK(!memcmp(buf, "\x93NUMPY\x01\x00", 8) && (10 + hl) % 64 == 0 && buf[10 + hl - 1] == '\n');
        CHECK(n == 10 + hl + (size_t)n_q * (size_t)F * 8);
        CHECK(strstr((const char *)buf + 10, "'descr': '<i8', 'fortran_order': False") != NULL);
        CHECK(tokdata_rd64(buf + 10 + hl + 8) == (uint64_t)c[1]);
        int nq2;
        int64_t F2;
        CHECK(sono_npy_decode(buf, n, 1024, &back, &nq2, &F2) == 0 && nq2 == n_q && F2 == F &&
              !memcmp(back, c, (size_t)n_q * (size_t)F * 4));
        free(back);
        /* every truncation is reported as such */
        if (it < 3)
            for (size_t k = 0; k < n; k++) {
                int rc = sono_npy_decode(buf, k, 1024, &back, &nq2, &F2);
                CHECK_MSG(rc == SONO_E_TRUNCATED, "truncation to %zu of %zu gave %d (%s)", k, n, rc, sono_last_error());
            }
        free(buf);
        free(c);
    }
    int32_t c0 = 0;
    uint8_t *buf;
    size_t n;
    CHECK(sono_npy_encode(&c0, 1, 0, &buf, &n) == SONO_E_EMPTY);
    CHECK(sono_npy_encode(NULL, 1, 1, &buf, &n) == SONO_E_ARG);
    CHECK(sono_npy_encode(&c0, 2000, 1, &buf, &n) == SONO_E_LIMIT);
    /* version 4 and a bad magic */
    CHECK(sono_npy_encode(&c0, 1, 1, &buf, &n) == 0);
    int32_t *back;
    int nq;
    int64_t F;
    buf[6] = 4;
    CHECK(sono_npy_decode(buf, n, 1024, &back, &nq, &F) == SONO_E_UNSUPPORTED);
    buf[6] = 1;
    buf[1] = 'X';
    CHECK(sono_npy_decode(buf, n, 1024, &back, &nq, &F) == SONO_E_FORMAT);
    free(buf);
}

static void test_files(void) {
    char dir[] = "/tmp/sono-npy-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/c.npy", dir);
    int32_t c[6] = {0, 1, 2, 1021, 1022, 1023}, *back;
    int nq;
    int64_t F;
    CHECK(sono_npy_save(path, c, 2, 3) == 0);
    CHECK(sono_npy_load(path, 1024, &back, &nq, &F) == 0 && nq == 2 && F == 3 && !memcmp(back, c, sizeof c));
    free(back);
    CHECK(sono_npy_load(path, 1000, &back, &nq, &F) == SONO_E_RANGE && strstr(sono_last_error(), path));
    unlink(path);
    CHECK(sono_npy_load(path, 1024, &back, &nq, &F) == SONO_E_NOT_FOUND);
    rmdir(dir);
}

int main(int argc, char **argv) {
    if (argc > 1) g_dir = argv[1];
    tu_seed(777);
    test_fixtures();
    test_headers();
    test_round_trip_and_bytes();
    test_files();
    return tu_finish("test_npy");
}
