/* Token data: the token file (.tok), NumPy .npy code arrays, archives of
 * many token files, and the header of EnCodec's .ecdc files (their codes are
 * read and written through the codec: sonotok/codec.h). Formats are
 * specified in codec/FORMATS.md.
 *
 *   sono_tokens *t; int rc = sono_tokens_load("a.tok", &t);
 *   ... t->codes[q * t->n_frames + f] ...
 *   sono_tokens_free(t);
 *
 * All readers check sizes, ranges and checksums and fail with a negative
 * sono_error code and a detail line (sono_last_error()); none modifies its input. */
#ifndef SONOTOK_TOKENS_H
#define SONOTOK_TOKENS_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SONO_MODEL_NAME_MAX 64

/* One tokenized audio file. */
typedef struct sono_tokens {
    char model_name[SONO_MODEL_NAME_MAX]; /* NUL-terminated, e.g. "encodec_24khz" */
    uint8_t model_hash[16];   /* content hash of the model weights */
    int32_t sample_rate;      /* Hz, model rate */
    int32_t channels;         /* model channels */
    int32_t hop;              /* samples per frame; frame rate = sample_rate / hop */
    int32_t n_q;              /* codebooks used */
    int32_t codebook_size;    /* codes are in [0, codebook_size) */
    int64_t n_frames;         /* frames per codebook (segments concatenated) */
    int64_t n_samples;        /* original length in samples per channel, at sample_rate */
    int32_t n_segments;       /* 1 for unsegmented models */
    int64_t segment_frames;   /* frames per full segment (0 when unsegmented) */
    float *scales;            /* n_segments per-segment scales, or NULL when the model has none */
    int32_t *codes;           /* [n_q][n_frames] */
} sono_tokens;

/* Allocate a zeroed sono_tokens with codes (and scales if n_segments > 0 and with_scales). */
SONO_API sono_tokens *sono_tokens_alloc(int n_q, int64_t n_frames, int n_segments, int with_scales);
SONO_API void sono_tokens_free(sono_tokens *t);

/* Serialise to a malloc'd buffer / parse from a buffer. */
SONO_API int sono_tokens_encode(const sono_tokens *t, uint8_t **buf, size_t *n_bytes);
SONO_API int sono_tokens_decode(const uint8_t *buf, size_t n_bytes, sono_tokens **out);

/* Files. save writes through the output writer (sonotok/output.h): a
 * temporary file renamed over path, or a device, FIFO or "-" (stdout) directly. */
SONO_API int sono_tokens_save(const char *path, const sono_tokens *t);
SONO_API int sono_tokens_load(const char *path, sono_tokens **out);

/* NumPy: an integer array of shape [n_q, n_frames] (written as little-endian int64).
 * Reading accepts any integer dtype, either byte order, C or Fortran order,
 * and checks 0 <= code < codebook_size when codebook_size > 0. */
SONO_API int sono_npy_encode(const int32_t *codes, int n_q, int64_t n_frames, uint8_t **buf, size_t *n_bytes);
SONO_API int sono_npy_decode(const uint8_t *buf, size_t n_bytes, int codebook_size,
                             int32_t **codes, int *n_q, int64_t *n_frames);
SONO_API int sono_npy_save(const char *path, const int32_t *codes, int n_q, int64_t n_frames);
SONO_API int sono_npy_load(const char *path, int codebook_size, int32_t **codes, int *n_q, int64_t *n_frames);

/* ---- Archives: many token files in one file, with an index ---- */

typedef struct sono_archive sono_archive;
typedef struct sono_archive_writer sono_archive_writer;

/* Start a new archive at path through the output writer (sonotok/output.h):
 * everything goes to a temporary file beside it that sono_archive_commit()
 * renames over path (a device, FIFO or "-" gets a scratch copy at commit). */
SONO_API sono_archive_writer *sono_archive_create(const char *path, int *err);
/* Add one entry: name is a relative path using '/', unique in the archive;
 * data is a token file as made by sono_tokens_encode. */
SONO_API int sono_archive_add(sono_archive_writer *w, const char *name, const uint8_t *data, size_t n_bytes);
/* Write the index, sync, rename into place (sono_output_commit), free w. */
SONO_API int sono_archive_commit(sono_archive_writer *w);
/* Drop the temporary file and free w. NULL-safe. */
SONO_API void sono_archive_abort(sono_archive_writer *w);

/* Open for reading: reads and checks the index only. */
SONO_API sono_archive *sono_archive_open(const char *path, int *err);
SONO_API int sono_archive_count(const sono_archive *a);
SONO_API const char *sono_archive_name(const sono_archive *a, int i);
SONO_API uint64_t sono_archive_size(const sono_archive *a, int i); /* stored bytes of entry i */
SONO_API int sono_archive_find(const sono_archive *a, const char *name); /* index or SONO_E_NOT_FOUND */
/* Read entry i (seeks to it; reads no other entry) and check its checksum. */
SONO_API int sono_archive_read(sono_archive *a, int i, uint8_t **data, size_t *n_bytes);
SONO_API void sono_archive_close(sono_archive *a);

/* Merge archives (e.g. from --shard runs) into one new archive at out_path.
 * Duplicate entry names are an error (SONO_E_ARG) unless identical in content. */
SONO_API int sono_archive_merge(const char *out_path, const char *const *inputs, int n_inputs);

/* ---- EnCodec's .ecdc (facebookresearch/encodec), without its entropy-coded LM ---- */

/* The header of a .ecdc: the magic "ECDC", version 0, and JSON metadata
 * naming the model, the audio length and the codebooks. Where the codes that
 * follow split into segments depends on the model, so they are read and
 * written with it: sono_codec_ecdc_decode / sono_codec_ecdc_encode. */
typedef struct sono_ecdc_info {
    char model_name[SONO_MODEL_NAME_MAX]; /* "m", NUL-terminated: "encodec_24khz", "encodec_48khz", ... */
    int64_t n_samples;    /* "al": audio length in samples per channel, at the model's rate */
    int32_t n_q;          /* "nc": codebooks */
    size_t header_bytes;  /* bytes of magic, version, length and JSON: the first segment's offset */
} sono_ecdc_info;

/* Read and check the header of a .ecdc in buf (the codes are not read).
 * 0, or SONO_E_TRUNCATED, SONO_E_FORMAT (not a .ecdc, bad JSON, a field
 * missing or of the wrong type), SONO_E_LIMIT, SONO_E_EMPTY (no audio), and
 * SONO_E_UNSUPPORTED for another version or a file coded with EnCodec's
 * language model ("lm": true: "ecdc with the entropy-coded LM is not
 * supported"). */
SONO_API int sono_ecdc_probe(const uint8_t *buf, size_t n_bytes, sono_ecdc_info *info);

#ifdef __cplusplus
}
#endif
#endif
