/* Training checkpoints, model-free: named float32 buffers (parameters,
 * optimiser moments, anything a run needs to resume bit for bit) and string
 * metadata (a "format" tag naming the trainer, then the trainer's own keys)
 * in one safetensors file. Used by the codec trainer (codec/train/) and
 * meant for the LM trainer (lm/) alike.
 *
 *   sn_ckpt_buf b[] = {{"params", params, n}, {"adam.m", opt.m, n}, {"adam.v", opt.v, n}};
 *   json_object *meta = sn_ckpt_meta_new("my-trainer-checkpoint");
 *   sn_ckpt_meta_add_i64(meta, "step", step);
 *   rc = sn_ckpt_save(path, b, 3, meta);                 // meta is consumed
 *
 *   sn_ckpt *c; rc = sn_ckpt_open(path, "my-trainer-checkpoint", &c);
 *   rc = sn_ckpt_take(c, "params", params, n);           // size must match
 *   int64_t step = sn_ckpt_meta_i64(c, "step", -1);
 *   sn_ckpt_close(c);
 *
 * A save replaces the file only once the new one is complete (see
 * sn_ckpt_save); a crash midway leaves the previous checkpoint intact. */
#ifndef SONO_CHECKPOINT_H
#define SONO_CHECKPOINT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const float *data;
    size_t n_floats;     /* stored as a 1-D float32 tensor */
} sn_ckpt_buf;

/* A metadata object with "format" set; add string values with the helpers
 * (or json-c directly: every value must be a string). */
json_object *sn_ckpt_meta_new(const char *format);
void sn_ckpt_meta_add_str(json_object *meta, const char *key, const char *value);
void sn_ckpt_meta_add_i64(json_object *meta, const char *key, int64_t value);
void sn_ckpt_meta_add_u64(json_object *meta, const char *key, uint64_t value);
void sn_ckpt_meta_add_dbl(json_object *meta, const char *key, double value); /* %.17g: exact */

/* Write the buffers, in order, and meta (consumed, even on failure) to path
 * under a temporary name, then put it in place. 0 or a negative code. */
int sn_ckpt_save(const char *path, const sn_ckpt_buf *bufs, int n_bufs, json_object *meta);

typedef struct sn_ckpt sn_ckpt;

/* Open a checkpoint whose "format" is format: SONO_E_FORMAT ("not a FORMAT
 * checkpoint") otherwise. */
int sn_ckpt_open(const char *path, const char *format, sn_ckpt **out);
void sn_ckpt_close(sn_ckpt *c);
/* A metadata string (NULL when absent), or parsed as an integer (dflt when
 * absent). */
const char *sn_ckpt_meta_str(const sn_ckpt *c, const char *key);
int64_t sn_ckpt_meta_i64(const sn_ckpt *c, const char *key, int64_t dflt);
uint64_t sn_ckpt_meta_u64(const sn_ckpt *c, const char *key, uint64_t dflt);
double sn_ckpt_meta_dbl(const sn_ckpt *c, const char *key, double dflt);
/* 1 when the checkpoint holds a buffer of that name. */
int sn_ckpt_has(const sn_ckpt *c, const char *name);
/* Copy buffer name into dst, which holds n_floats: SONO_E_FORMAT when it is
 * missing or has another size. */
int sn_ckpt_take(const sn_ckpt *c, const char *name, float *dst, size_t n_floats);

#endif
