/* Fuzz target: token files (sono_tokens_decode). A decoded file must encode
 * again (range coder) and decode to the same tokens. A second pass recomputes the
 * checksums of the input (when its sizes allow) so that mutations reach the
 * field checks and payload decoders behind them; its result is not returned. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/tokens.h"
#include "tokdata.h"
#include "formats/tokfix.h"

static void round_trip(const sono_tokens *t) {
    uint8_t *buf = NULL;
    size_t n = 0;
    sono_tokens *back = NULL;
    /* the range coder alone: trying zstd -19 on every input would slow fuzzing down */
    tokfile_opts o = {.coder = TOKFILE_CODER_RANGE, .zstd_level = 1};
    if (sn_tokfile_encode_opts(t, &o, &buf, &n) != 0 || sono_tokens_decode(buf, n, &back) != 0) abort();
    size_t n_codes = (size_t)t->n_q * (size_t)t->n_frames;
    if (back->n_frames != t->n_frames || back->n_q != t->n_q ||
        memcmp(back->codes, t->codes, n_codes * sizeof *t->codes) || strcmp(back->model_name, t->model_name))
        abort();
    sono_tokens_free(back);
    free(buf);
}

static int parse_once(const uint8_t *data, size_t n) {
    sono_tokens *t = NULL;
    int rc = sono_tokens_decode(data, n, &t);
    if (rc == 0) {
        if (!t) abort();
        round_trip(t);
    } else if (t) {
        abort();
    }
    sono_tokens_free(t);
    return rc;
}

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int rc = parse_once(data, n);
    /* keep the fixed-checksum pass cheap: skip headers that claim many codes */
    if (n >= 96 && n <= ((size_t)1 << 20) &&
        sn_rd32(data + 52) <= 1024 && sn_rd64(data + 64) <= 65536 &&
        (uint64_t)sn_rd32(data + 52) * sn_rd64(data + 64) <= ((uint64_t)1 << 16)) {
        tokfix_parse_fixed(data, n, tokfix_tok, parse_once);
    }
    return rc;
}

SONO_FUZZ_ENTRY
