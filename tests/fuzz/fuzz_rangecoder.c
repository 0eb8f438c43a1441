/* Fuzz target: the range-coder engine's decoder (common/rangecoder.h).
 * Input: 8 bytes of script seed and 2 of call count (little-endian, at most
 * 4096 calls), then the coded stream. The script (tests/formats/rcops.h)
 * says which calls to make: symbols under random CDFs, fixed and adaptive
 * decisions, raw bits. Whatever the bytes, decoding stays in bounds; a stream
 * the decoder accepts must be exactly what the encoder writes for the values
 * it decoded to, and those values must survive an encode/decode round trip.
 * Seeds: `test-rangecoder --write-corpus corpus/rangecoder bad/rangecoder`. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/error.h"
#include "formats/rcops.h"

#define MAX_CALLS 4096

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    if (n < 10) return SONO_E_TRUNCATED;
    uint64_t seed = 0;
    for (int i = 0; i < 8; i++) seed |= (uint64_t)data[i] << (8 * i);
    size_t n_ops = (size_t)(data[8] | data[9] << 8) % (MAX_CALLS + 1);
    rcscript sc;
    if (rcs_make(&sc, seed, n_ops)) return SONO_E_NOMEM;
    uint32_t *v = malloc((n_ops ? n_ops : 1) * sizeof *v), *back = malloc((n_ops ? n_ops : 1) * sizeof *back);
    if (!v || !back) abort();
    const uint8_t *stream = data + 10;
    size_t n_stream = n - 10;
    int st = rcs_decode(&sc, stream, n_stream, v);
    uint8_t *again;
    size_t n_again;
    if (rcs_encode(&sc, v, &again, &n_again) != 0) abort();
    if (st == SN_RC_OK && (n_again != n_stream || (n_again && memcmp(again, stream, n_again)))) abort();
    if (rcs_decode(&sc, again, n_again, back) != SN_RC_OK || (n_ops && memcmp(v, back, n_ops * sizeof *v))) abort();
    free(again);
    free(v);
    free(back);
    rcs_free(&sc);
    return st == SN_RC_OK ? 0 : SONO_E_FORMAT;
}

SONO_FUZZ_ENTRY
