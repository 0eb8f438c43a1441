/* Internal interface of the token-data code (tokfile.c, npy.c, archive.c):
 * atomic write, token-file
 * coder selection and header probing, and opening an archive from memory
 * (for the fuzz target). Not installed; formats are in codec/FORMATS.md. */
#ifndef SONO_TOKDATA_H
#define SONO_TOKDATA_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/tokens.h"
#include "sono_internal.h" /* sn_rd32 and the other little-endian fields */

/* ---- files ---- */


/* ---- token files ---- */

enum tokfile_coder {
    TOKFILE_CODER_AUTO = -1,   /* encode: try the coders, keep the smallest */
    TOKFILE_CODER_PACKED = 0,  /* fixed-width bit packing */
    TOKFILE_CODER_ZSTD = 1,    /* byte planes + zstd */
    TOKFILE_CODER_RANGE = 2,   /* adaptive binary range coder */
};

typedef struct tokfile_opts {
    int coder;      /* enum tokfile_coder; default TOKFILE_CODER_AUTO */
    int zstd_level; /* for TOKFILE_CODER_ZSTD (and AUTO); default 19 */
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

#endif
