/* Test and fuzz helpers: recompute the checksums of a (possibly edited) token
 * file or archive in place, so a test can craft a structurally bad file whose
 * checksums still match, and a fuzzer can reach the checks behind them.
 * Offsets follow codec/FORMATS.md. */
#ifndef SONO_TOKFIX_H
#define SONO_TOKFIX_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>
#include "tokdata.h"

/* Token file: preamble check, header checksum (at header_size - 8, when the
 * header fits) and file checksum (the last 8 bytes, when past the header). */
static inline void tokfix_tok(uint8_t *b, size_t n) {
    if (n < 16) return;
    sn_wr32(b + 12, (uint32_t)XXH3_64bits(b, 12));
    uint32_t hs = sn_rd32(b + 8);
    if (hs < 16 || hs > n) return;
    sn_wr64(b + hs - 8, XXH3_64bits(b, hs - 8));
    if (n >= (size_t)hs + 8) sn_wr64(b + n - 8, XXH3_64bits(b, n - 8));
}

/* Archive: header checksum, index checksum and footer checksum, taking the
 * footer to be the last 56 bytes. */
static inline void tokfix_archive(uint8_t *b, size_t n) {
    if (n < 32) return;
    sn_wr64(b + 24, XXH3_64bits(b, 24));
    if (n < 32 + 56) return;
    uint8_t *f = b + n - 56;
    uint64_t off = sn_rd64(f), size = sn_rd64(f + 8);
    if (off <= n - 56 && size <= n - 56 - off) sn_wr64(f + 32, XXH3_64bits(b + off, (size_t)size));
    sn_wr64(f + 48, XXH3_64bits(f, 48));
}

/* The fuzz targets' second pass: parse a copy of the input whose checksums
 * fix() recomputed, so that mutations reach the checks behind them. */
static inline void tokfix_parse_fixed(const uint8_t *data, size_t n, void (*fix)(uint8_t *, size_t),
                                      int (*parse)(const uint8_t *, size_t)) {
    uint8_t *c = malloc(n ? n : 1);
    if (!c) return;
    memcpy(c, data, n);
    fix(c, n);
    (void)parse(c, n);
    free(c);
}

#endif
