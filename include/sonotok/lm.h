/* sonotok token LM: a decoder-only transformer over mixed text and audio
 * tokens (see lm/README.md). This header loads an LM file and says what the
 * model is; generation is added here by the generation API.
 *
 *   int err;
 *   sono_lm *lm = sono_lm_load("lm.safetensors", &err);
 *   if (!lm) { fprintf(stderr, "%s\n", sono_last_error()); ... }
 *   uint8_t hash[16]; sono_codec_hash(codec, hash);
 *   if (sono_lm_check_codec(lm, sono_codec_name(codec), hash)) ... // made for another codec
 *   printf("%d codebooks, context %d\n", sono_lm_n_codebooks(lm), sono_lm_context(lm));
 *   sono_lm_free(lm);
 *
 * An LM file is safetensors (float32 tensors named as the model's parameter
 * table: tok_emb.weight, blocks.0.attn.qkv.weight, ...) with __metadata__
 * holding the model config, the mixed vocabulary layout
 * (sono_vocab_layout_to_json), the text tokenizer's file (base64) and the
 * codec it was trained for (name and content hash). Byte layout: lm/README.md.
 *
 * A sono_lm is immutable after loading and may be shared between threads. */
#ifndef SONOTOK_LM_H
#define SONOTOK_LM_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"
#include "sonotok/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sono_lm sono_lm;

/* Read an LM file. NULL with *err set: SONO_E_NOT_FOUND, SONO_E_IO,
 * SONO_E_FORMAT (not an LM file, corrupt or inconsistent metadata, a tensor
 * missing or of another shape), SONO_E_TRUNCATED, SONO_E_UNSUPPORTED
 * (another format version), SONO_E_CHECKSUM (the embedded tokenizer),
 * SONO_E_LIMIT; sono_last_error() has a one-line detail. */
SONO_API sono_lm *sono_lm_load(const char *path, int *err);
/* The same from a file's n_bytes bytes in memory (not kept). */
SONO_API sono_lm *sono_lm_from_bytes(const void *data, size_t n_bytes, int *err);
/* NULL-safe. */
SONO_API void sono_lm_free(sono_lm *lm);

/* The model's name (the file's stem when it was exported). */
SONO_API const char *sono_lm_name(const sono_lm *lm);
/* Sizes: audio codebooks per frame (K), codes per codebook, context in
 * positions, residual width, layers, attention heads, parameters. */
SONO_API int sono_lm_n_codebooks(const sono_lm *lm);
SONO_API int sono_lm_codebook_size(const sono_lm *lm);
SONO_API int sono_lm_context(const sono_lm *lm);
SONO_API int sono_lm_width(const sono_lm *lm);
SONO_API int sono_lm_n_layers(const sono_lm *lm);
SONO_API int sono_lm_n_heads(const sono_lm *lm);
SONO_API int64_t sono_lm_n_params(const sono_lm *lm);
/* The text tokenizer the model reads (owned by lm). */
SONO_API const sono_tokenizer *sono_lm_tokenizer(const sono_lm *lm);
/* The mixed vocabulary layout stored in the file. */
SONO_API void sono_lm_vocab_layout(const sono_lm *lm, sono_vocab_layout *l);

/* The codec the model was trained for: its name, content hash
 * (sono_codec_hash) and frame rate in frames per second. */
SONO_API const char *sono_lm_codec_name(const sono_lm *lm);
SONO_API void sono_lm_codec_hash(const sono_lm *lm, uint8_t out[16]);
SONO_API double sono_lm_frame_rate(const sono_lm *lm);
/* 0 when codec_name / codec_hash (a codec's sono_codec_name and
 * sono_codec_hash) are the codec the LM was trained for; else
 * SONO_E_MODEL_MISMATCH with a detail line naming both codecs. */
SONO_API int sono_lm_check_codec(const sono_lm *lm, const char *codec_name, const uint8_t codec_hash[16]);

#ifdef __cplusplus
}
#endif
#endif
