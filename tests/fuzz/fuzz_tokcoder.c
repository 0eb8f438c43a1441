/* Fuzz target: the model coder's payload decoder (token-file coder 3,
 * sn_cm_decode) with a fixed small model (cmfix_fuzz_model: 64 codes, 3
 * codebooks). Input: byte 0 picks the codebooks (1..3), bytes 1-2 the
 * frames (1..2048, little-endian), the rest is the payload. A payload that
 * decodes must be exactly what the encoder writes for its codes. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/cpu.h"
#include "formats/cmfix.h"

static sono_coder *g_model;

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    if (!g_model && !(g_model = cmfix_fuzz_model())) abort();
    if (n < 3) return SONO_E_TRUNCATED;
    int n_q = 1 + data[0] % 3;
    int64_t F = 1 + (int64_t)(sn_rd16(data + 1) % 2048);
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)n_q * (size_t)F);
    if (!codes) abort();
    int rc = sn_cm_decode(g_model, data + 3, n - 3, n_q, F, sono_cpu_level(), codes);
    if (rc == 0) {
        uint8_t *p = NULL;
        size_t pn = 0;
        for (size_t i = 0; i < (size_t)n_q * (size_t)F; i++)
            if (codes[i] < 0 || codes[i] >= 64) abort();
        if (sn_cm_encode(g_model, codes, n_q, F, 1, SONO_CPU_PLAIN, &p, &pn) || pn != n - 3 || memcmp(p, data + 3, pn))
            abort();
        free(p);
    }
    free(codes);
    return rc;
}

SONO_FUZZ_ENTRY
