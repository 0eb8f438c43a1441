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
    uint8_t model_hash[16];   /* the model's codes hash (sono_codec_codes_hash); files
                                 written before it hold the full hash (sono_codec_hash) */
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

/* Serialise to a malloc'd buffer / parse from a buffer. encode keeps the
 * smallest of the packed, zstd and adaptive range coders (no coder model:
 * see sono_tokens_encode_ex). decode reads every coder; a file made with a
 * coder model (coder 3) needs that model: it is looked up beside the
 * codec the file names (sono_coder_for_codec), and when it is not there,
 * or that file is another model, decoding fails with SONO_E_MODEL_MISSING
 * naming the model and its hash. */
SONO_API int sono_tokens_encode(const sono_tokens *t, uint8_t **buf, size_t *n_bytes);
SONO_API int sono_tokens_decode(const uint8_t *buf, size_t n_bytes, sono_tokens **out);

/* ---- Coder models: the learned context model of token-file coder 3 ----
 *
 *   sono_coder *m = sono_coder_for_codec("sonotok-24k", &err);   // models/sonotok-24k.coder, or NULL
 *   sono_tokens_encode_params p = sono_tokens_encode_default_params();
 *   p.model = m;                                   // SONO_CODER_AUTO now also tries the model coder
 *   sono_tokens_encode_ex(t, &p, &buf, &n);
 *   sono_tokens_decode_ex(buf, n, m, &back);       // m saves looking it up again
 *   sono_coder_free(m);
 *
 * A coder model predicts each code from the earlier frames of its own and
 * the coarser codebooks and from the coarser codebooks of its frame, in
 * integer arithmetic: every machine, build, kernel level and thread count
 * computes the same probabilities, so a file coded anywhere decodes
 * anywhere. A model is made for one codec (trained on its codes: `sonotok
 * train-coder`) and shipped beside it as NAME.coder. It is immutable once
 * loaded and may be shared between threads. Format: codec/FORMATS.md. */
typedef struct sono_coder sono_coder;

/* Load a coder model file (.coder): NULL on failure with *err set
 * (SONO_E_FORMAT, _TRUNCATED, _CHECKSUM, _UNSUPPORTED, _LIMIT, _IO, ...). */
SONO_API sono_coder *sono_coder_load(const char *path, int *err);
SONO_API sono_coder *sono_coder_load_mem(const uint8_t *buf, size_t n_bytes, int *err);
/* The path of the coder model of the codec named codec_name: NAME.coder in
 * the folders sono_codec_resolve searches, in its order. 0, SONO_E_ARG for
 * a name that is not a plain file name, SONO_E_NOT_FOUND. */
SONO_API int sono_coder_resolve(const char *codec_name, char *out, size_t n);
/* sono_coder_resolve + sono_coder_load; NULL with *err = SONO_E_NOT_FOUND
 * when the codec has no coder model. */
SONO_API sono_coder *sono_coder_for_codec(const char *codec_name, int *err);
SONO_API void sono_coder_free(sono_coder *m); /* NULL-safe */
/* XXH3-128 of the model file: what a token file records. */
SONO_API void sono_coder_hash(const sono_coder *m, uint8_t out[16]);
/* The codec it was trained for (name, weights' hash), its codebook size
 * and the codebooks it can code (a file may hold fewer, never more). */
SONO_API const char *sono_coder_codec_name(const sono_coder *m);
SONO_API void sono_coder_codec_hash(const sono_coder *m, uint8_t out[16]);
SONO_API int sono_coder_codebook_size(const sono_coder *m);
SONO_API int sono_coder_max_codebooks(const sono_coder *m);

/* Payload coders of a token file (FORMATS.md). Values never change. */
enum sono_token_coder {
    SONO_CODER_AUTO = -1,   /* the smallest of those that apply (ties: the lower id) */
    SONO_CODER_PACKED = 0,  /* fixed-width bit packing */
    SONO_CODER_ZSTD = 1,    /* byte planes + zstd */
    SONO_CODER_RANGE = 2,   /* adaptive binary range coder */
    SONO_CODER_MODEL = 3,   /* range coder driven by a coder model */
};

typedef struct {
    int coder;               /* enum sono_token_coder (SONO_CODER_AUTO) */
    const sono_coder *model; /* for SONO_CODER_MODEL (required) and AUTO (tried when it fits the
                                tokens: same codebook size, enough codebooks) (NULL) */
    int n_threads;           /* threads for the model coder's predictions; the output does not depend on it (1) */
} sono_tokens_encode_params;

SONO_API sono_tokens_encode_params sono_tokens_encode_default_params(void);
/* sono_tokens_encode with a chosen coder (p NULL: the defaults). SONO_E_ARG
 * for SONO_CODER_MODEL without a model or with one that cannot code these
 * tokens (another codebook size, fewer codebooks than the tokens hold). */
SONO_API int sono_tokens_encode_ex(const sono_tokens *t, const sono_tokens_encode_params *p, uint8_t **buf,
                                   size_t *n_bytes);
/* sono_tokens_decode using model (may be NULL) for a file coded with it
 * (same hash); any other coder-3 file's model is looked up as
 * sono_tokens_decode does. */
SONO_API int sono_tokens_decode_ex(const uint8_t *buf, size_t n_bytes, const sono_coder *model, sono_tokens **out);

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
