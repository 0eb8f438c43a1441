/* Fuzz target: the BPE decoder and encoder with a fixed tokenizer (learned
 * once from a built-in text). The input, read as little-endian int32 ids, is
 * decoded (ids outside the vocabulary must give SONO_E_RANGE and nothing
 * else), with and without special names; read as text, it must encode to
 * text ids only and decode back to itself. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"
#include "sonotok/tokenizer.h"

static const char train_text[] =
    "the dog barks loudly at the door; the cat sleeps on the roof of the red car.\n"
    "rain falls, wind blows 2026 times: crowd cheers!! bell rings \xc3\xa9t\xc3\xa9 caf\xc3\xa9\n"
    "a man talks, a woman sings, piano music with drums and bass plays on and on and on.\n";

static sono_tokenizer *fixed(void) {
    static sono_tokenizer *tok;
    if (tok) return tok;
    sono_bpe_train_params p = sono_bpe_train_default_params();
    p.n_vocab = 16 + 256 + 64;
    sono_bpe_trainer *t = sono_bpe_trainer_new(&p, NULL);
    if (!t || sono_bpe_trainer_add_text(t, train_text, sizeof train_text - 1)) abort();
    tok = sono_bpe_trainer_finish(t, NULL);
    sono_bpe_trainer_free(t);
    if (!tok) abort();
    return tok;
}

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    sono_tokenizer *tok = fixed();
    const int32_t n_vocab = sono_tokenizer_n_vocab(tok), n_special = sono_tokenizer_n_special(tok);
    size_t n_ids = n / 4;
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids) abort();
    int in_range = 1;
    for (size_t i = 0; i < n_ids; i++) {
        ids[i] = (int32_t)((uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 | (uint32_t)data[4 * i + 2] << 16 |
                           (uint32_t)data[4 * i + 3] << 24);
        /* mostly small ids, so that most inputs decode */
        if (data[4 * i + 3] == 0) ids[i] %= n_vocab + 1;
        in_range &= ids[i] >= 0 && ids[i] < n_vocab;
    }
    int rc = 0;
    for (int flags = 0; flags <= SONO_TOK_DECODE_SPECIALS; flags++) {
        int64_t need = sono_tokenizer_decode(tok, ids, (int64_t)n_ids, flags, NULL, 0);
        if (!in_range) {
            if (need != SONO_E_RANGE) abort();
            rc = SONO_E_RANGE;
            continue;
        }
        if (need < 0 || need > (int64_t)n_ids * sono_tokenizer_max_chunk_bytes(tok)) abort();
        uint8_t *out = malloc((size_t)need + 1);
        if (!out || sono_tokenizer_decode(tok, ids, (int64_t)n_ids, flags, out, (size_t)need) != need) abort();
        /* a short buffer: the same length, the prefix written */
        if (need > 1) {
            uint8_t *part = malloc((size_t)need / 2);
            if (!part || sono_tokenizer_decode(tok, ids, (int64_t)n_ids, flags, part, (size_t)need / 2) != need ||
                memcmp(part, out, (size_t)need / 2))
                abort();
            free(part);
        }
        free(out);
    }
    /* the bytes as text */
    int64_t k = sono_tokenizer_encode(tok, data, n, ids, (int64_t)n);
    uint8_t *back = malloc(n + 1);
    if (!back || k < 0 || (size_t)k > n || sono_tokenizer_decode(tok, ids, k, 0, back, n) != (int64_t)n ||
        memcmp(back, data, n))
        abort();
    for (int64_t i = 0; i < k; i++)
        if (ids[i] < n_special || ids[i] >= n_vocab) abort();
    free(back);
    free(ids);
    return rc;
}

SONO_FUZZ_ENTRY
