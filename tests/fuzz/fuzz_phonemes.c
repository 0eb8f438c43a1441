/* Fuzz target: what the text front end reads without espeak-ng. The input,
 * as a string, is a phoneme-inventory JSON object (an LM file's, checked by
 * sono_phoneme_inventory_check: its result is returned), and, as text, is
 * cut by sono_text_split, whose pieces must lie in order inside the text,
 * hold no white space at either end, fit the limit and never cut a UTF-8
 * character of valid text, with the same count whatever the array size. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/phonemes.h"

static int space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    int rc = sono_phoneme_inventory_check(s);
    size_t max = 16 + (n ? data[0] % 64 : 0);
    int64_t k = sono_text_split(s, n, max, NULL, 0);
    if (k < 0) abort();
    sono_text_piece *p = malloc((size_t)(k + 1) * sizeof *p);
    if (!p) abort();
    if (sono_text_split(s, n, max, p, k) != k) abort();
    int64_t end = 0;
    for (int64_t i = 0; i < k; i++) {
        if (p[i].offset < end || p[i].n_bytes < 1 || (size_t)p[i].n_bytes > max ||
            (size_t)(p[i].offset + p[i].n_bytes) > n)
            abort();
        if (space(s[p[i].offset]) || space(s[p[i].offset + p[i].n_bytes - 1])) abort();
        end = p[i].offset + p[i].n_bytes;
    }
    free(p);
    free(s);
    return rc;
}

SONO_FUZZ_ENTRY
