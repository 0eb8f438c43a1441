/* Fuzz target: coder model files (sono_coder_load_mem). A model that loads
 * codes and decodes a short stream of codes (one codebook, its last code
 * and 0s) on the plain kernels and on the fastest, with the same payload. A
 * second pass recomputes the checksums of the input (tokfix_tok: the same
 * places as a token file's) so that mutations reach
 * the field checks behind them; its result is not returned. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/cpu.h"
#include "formats/cmfix.h"

static void use(const sono_coder *m) {
    int V = sono_coder_codebook_size(m);
    int32_t x[24], back[24];
    for (int i = 0; i < 24; i++) x[i] = i % 3 == 0 ? V - 1 : i % 5;
    uint8_t *p = NULL, *p2 = NULL;
    size_t n = 0, n2 = 0;
    if (sn_cm_encode(m, x, 1, 24, 1, SONO_CPU_PLAIN, &p, &n) || sn_cm_encode(m, x, 1, 24, 1, SONO_CPU_AVX512, &p2, &n2))
        abort();
    if (n != n2 || memcmp(p, p2, n)) abort();
    if (sn_cm_decode(m, p, n, 1, 24, SONO_CPU_AVX512, back) || memcmp(x, back, sizeof x)) abort();
    free(p);
    free(p2);
}

static int parse_once(const uint8_t *data, size_t n) {
    int err = 0;
    sono_coder *m = sono_coder_load_mem(data, n, &err);
    if (m) {
        if (err) abort();
        /* keep it quick: skip models whose predictions cost much */
        if ((int64_t)sono_coder_codebook_size(m) * m->d.G + (int64_t)m->d.G * m->d.H + (int64_t)m->d.H * m->d.P * m->d.D <
            (1 << 20))
            use(m);
    } else if (!err) {
        abort();
    }
    sono_coder_free(m);
    return err;
}

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int rc = parse_once(data, n);
    if (n >= 16 && n <= ((size_t)1 << 22)) {
        tokfix_parse_fixed(data, n, tokfix_tok, parse_once);
    }
    return rc;
}

SONO_FUZZ_ENTRY
