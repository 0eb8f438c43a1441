/* Fuzz target: tokenizer files (sono_tokenizer_from_bytes). A file that
 * reads must write back to the same bytes, and its tokenizer must encode and
 * decode the input itself (as text) back to the same bytes. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/tokenizer.h"

int sono_fuzz_parse(const uint8_t *data, size_t n) {
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

SONO_FUZZ_ENTRY
