/* Fuzz target: tokenizer files (sono_tokenizer_from_bytes). A file that
 * reads must write back to the same bytes, and its tokenizer must encode and
 * decode the input itself (as text) back to the same bytes. A second pass
 * rewrites the input's checksum (its last 8 bytes) so that mutations reach
 * the name and merge checks behind it; its result is not returned. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include "fuzz_target.h"
#include "sonotok/tokenizer.h"

static int parse_once(const uint8_t *data, size_t n) {
    int err = 0;
    sono_tokenizer *tok = sono_tokenizer_from_bytes(data, n, &err);
    if (!tok) return err;
    uint8_t *again = NULL;
    size_t m = 0;
    if (sono_tokenizer_to_bytes(tok, &again, &m) || m != n || memcmp(again, data, n)) abort();
    free(again);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    uint8_t *back = malloc(n + 1);
    if (!ids || !back) abort();
    int64_t k = sono_tokenizer_encode(tok, data, n, ids, (int64_t)n);
    if (k < 0 || (size_t)k > n || sono_tokenizer_decode(tok, ids, k, 0, back, n) != (int64_t)n || memcmp(back, data, n))
        abort();
    free(ids);
    free(back);
    sono_tokenizer_free(tok);
    return 0;
}

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int rc = parse_once(data, n);
    if (n >= 40) {
        uint8_t *c = malloc(n);
        if (c) {
            memcpy(c, data, n);
            uint64_t h = XXH64(c, n - 8, 0);
            for (int i = 0; i < 8; i++) c[n - 8 + i] = (uint8_t)(h >> (8 * i));
            (void)parse_once(c, n);
            free(c);
        }
    }
    return rc;
}

SONO_FUZZ_ENTRY
