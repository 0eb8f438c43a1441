/* Internal interface of the token-data code (tokfile.c, npy.c, archive.c,
 * ecdc.c): bit packing, UTF-8 checks, token-file coder selection and header
 * probing, opening an archive from memory (for the fuzz target), and .ecdc
 * with a layout given directly (for tests without model weights). Not
 * installed; formats are in codec/FORMATS.md. */
#ifndef SONO_TOKDATA_H
#define SONO_TOKDATA_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/tokens.h"
#include "sono_internal.h" /* sn_rd32 and the other little-endian fields */

/* ---- bit packing ---- */

/* Values of a fixed width packed LSB first: bit i of the stream is bit
 * i mod 8 of byte i div 8, the last byte padded with zero bits. The token
 * file's packed and zstd-planes coders, and EnCodec's BitPacker (.ecdc). */
typedef struct {
    uint8_t *p;
    size_t pos;
    uint64_t acc;
    int n;
} sn_bitw;

static inline void sn_bitw_put(sn_bitw *w, uint32_t v, int bits) {
    w->acc |= (uint64_t)v << w->n;
    w->n += bits;
    while (w->n >= 8) {
        w->p[w->pos++] = (uint8_t)w->acc;
        w->acc >>= 8;
        w->n -= 8;
    }
}

static inline void sn_bitw_end(sn_bitw *w) {
    if (w->n > 0) w->p[w->pos++] = (uint8_t)w->acc;
    w->acc = 0;
    w->n = 0;
}

/* The reader: bytes past size read as 0; after the last value, acc holds
 * the padding bits not yet consumed of the bytes read. */
typedef struct {
    const uint8_t *p;
    size_t pos, size;
    uint64_t acc;
    int n;
} sn_bitr;

static inline uint32_t sn_bitr_get(sn_bitr *r, int bits) {
    while (r->n < bits) {
        r->acc |= (uint64_t)(r->pos < r->size ? r->p[r->pos] : 0) << r->n;
        r->pos++;
        r->n += 8;
    }
    uint32_t v = (uint32_t)(r->acc & (((uint64_t)1 << bits) - 1));
    r->acc >>= bits;
    r->n -= bits;
    return v;
}

/* ---- text ---- */

/* Bytes (1 to 4) of the UTF-8 character at s (n bytes available), its code
 * point in *cp; 0 when s does not start with one in shortest form, below
 * U+110000 and not a surrogate. */
static inline size_t sn_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t k = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (k == 0 || k >= n) return 0;
    uint32_t v = c & (0x7Fu >> (k + 1));
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[j] & 0x3F);
    }
    if ((k == 1 && v < 0x80) || (k == 2 && v < 0x800) || (k == 3 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return k + 1;
}

/* ---- token files ---- */

enum tokfile_coder {
    TOKFILE_CODER_AUTO = -1,   /* encode: try the coders, keep the smallest */
    TOKFILE_CODER_PACKED = 0,  /* fixed-width bit packing */
    TOKFILE_CODER_ZSTD = 1,    /* byte planes + zstd */
    TOKFILE_CODER_RANGE = 2,   /* adaptive binary range coder */
    TOKFILE_CODER_MODEL = 3,   /* range coder driven by a coder model (coder_model.h) */
};

typedef struct tokfile_opts {
    int coder;      /* enum tokfile_coder; default TOKFILE_CODER_AUTO */
    int zstd_level; /* for TOKFILE_CODER_ZSTD (and AUTO); default 19 */
    const sono_coder *model; /* for TOKFILE_CODER_MODEL (and AUTO); NULL: none */
    int n_threads;  /* the model coder's threads (0: 1) */
} tokfile_opts;

/* sono_tokens_encode with a chosen coder. o may be NULL (defaults). */
int sn_tokfile_encode_opts(const sono_tokens *t, const tokfile_opts *o, uint8_t **buf, size_t *n_bytes);

/* What sn_tokfile_probe learns without decoding the codes. */
typedef struct tokfile_info {
    int version_major, version_minor;
    int coder;
    int32_t sample_rate;
    int32_t n_q;
    int32_t codebook_size;
    int64_t n_frames;
    int64_t n_samples;
    size_t header_bytes;  /* preamble + header + header checksum */
    size_t payload_bytes; /* coded codes */
    uint8_t coder_hash[16]; /* the coder model's hash (coder 3), else zeros */
} tokfile_info;

/* Check a token file's structure and both checksums, and fill info; the
 * payload is not decoded. Returns 0 or the code sono_tokens_decode would give
 * for the same structural fault. */
int sn_tokfile_probe(const uint8_t *buf, size_t n_bytes, tokfile_info *info);

/* ---- archives ---- */

/* sono_archive_open over bytes in memory. buf is borrowed: it must outlive the
 * archive. Same checks as sono_archive_open. */
sono_archive *sn_archive_open_mem(const uint8_t *buf, size_t n_bytes, int *err);

/* Listing data kept in the index for entry i: the token file's original length
 * (samples per channel) and sample rate. Returns 0 or SONO_E_ARG. */
int sn_archive_entry_info(const sono_archive *a, int i, int64_t *n_samples, int32_t *sample_rate);

/* ---- EnCodec's .ecdc ---- */

/* What reading or writing the codes of a .ecdc takes from the model: the
 * file names its model and records nothing else about it. */
typedef struct ecdc_layout {
    int32_t sample_rate;      /* Hz */
    int32_t channels;
    int32_t hop;              /* samples per frame */
    int32_t codebook_size;    /* a power of two: each code takes log2 of it bits */
    int32_t max_n_q;          /* codebooks of the model; a file may use fewer */
    int64_t segment_samples;  /* samples per segment; 0: the whole signal is one segment */
    int64_t segment_stride;   /* samples from one segment's start to the next (when segmented) */
    int scaled;               /* 1: each segment starts with its scale */
} ecdc_layout;

/* sono_codec_ecdc_encode / _decode with the layout given: t's model name
 * becomes "m"; decoded tokens carry the file's "m" and no model hash. */
int sn_ecdc_encode(const sono_tokens *t, const ecdc_layout *g, uint8_t **buf, size_t *n_bytes);
int sn_ecdc_decode(const uint8_t *buf, size_t n_bytes, const ecdc_layout *g, sono_tokens **out);

#endif
