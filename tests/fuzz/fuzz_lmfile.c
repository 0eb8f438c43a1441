/* Fuzz target: LM files (sono_lm_from_bytes): the safetensors container,
 * the metadata (config JSON, vocabulary layout, base64 tokenizer, codec
 * identity) and every tensor's shape. A file that reads must report sizes
 * that agree with its vocabulary layout and tokenizer. */
#include <stdlib.h>
#include "fuzz_target.h"
#include "sonotok/lm.h"

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int err = 0;
    sono_lm *lm = sono_lm_from_bytes(data, n, &err);
    if (!lm) return err;
    sono_vocab_layout l;
    sono_lm_vocab_layout(lm, &l);
    if (l.n_codebooks != sono_lm_n_codebooks(lm) || l.codebook_size != sono_lm_codebook_size(lm) ||
        l.n_special + l.n_text != sono_tokenizer_n_vocab(sono_lm_tokenizer(lm)) || sono_lm_n_params(lm) <= 0)
        abort();
    uint8_t h[16];
    sono_lm_codec_hash(lm, h);
    if (sono_lm_check_codec(lm, sono_lm_codec_name(lm), h)) abort();
    sono_lm_free(lm);
    return 0;
}

SONO_FUZZ_ENTRY
