/* Internal interface of the token-data code (tokfile.c, npy.c, archive.c):
 * little-endian field helpers, whole-file read and atomic write, token-file
 * coder selection and header probing, and opening an archive from memory
 * (for the fuzz target). Not installed; formats are in codec/FORMATS.md. */
#ifndef SONO_TOKDATA_H
#define SONO_TOKDATA_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/tokens.h"

/* ---- little-endian fields (the files are little-endian on every host) ---- */
static inline uint16_t tokdata_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t tokdata_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tokdata_rd64(const uint8_t *p) {
    return (uint64_t)tokdata_rd32(p) | (uint64_t)tokdata_rd32(p + 4) << 32;
}
static inline void tokdata_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void tokdata_wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tokdata_wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- files ---- */

/* Write buf to a unique temporary file beside path (path.tmp.XXXXXX), fsync it,
 * and rename it over path; on any failure the temporary is removed and path is
 * untouched. Returns 0 or SONO_E_IO/SONO_E_ARG. */
int sn_tokdata_write_atomic(const char *path, const uint8_t *buf, size_t n_bytes);

/* Read a whole regular file into a malloc'd buffer (at least 1 byte allocated).
 * Files over max_bytes fail with SONO_E_LIMIT. Returns 0 or a negative code. */
int sn_tokdata_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *n_bytes);

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
