/* Internals of the weight loaders (tensors.c, pickle.c, safetensors.c), not
 * installed: the one-block tensor-set builder and dtype conversion that both
 * loaders share, and the option-taking entry of the PyTorch loader that the
 * fuzz target uses.
 *
 * Building a set (sizes first, then one allocation, as llm.c does):
 *
 *   tset_sizes sz = {0};
 *   for each tensor: if ((rc = sn_tset_count(&sz, strlen(name), numel)) < 0) return rc;
 *   if ((rc = sn_tset_alloc(&ts, &sz)) < 0) return rc;
 *   for each tensor: float *dst = sn_tset_add(ts, name, strlen(name), ndim, shape); fill numel floats;
 */
#ifndef SONO_TENSORSET_H
#define SONO_TENSORSET_H

#include <stddef.h>
#include <stdint.h>
#include "tensors.h"

/* ---- stored element types ---- */

enum tdtype {
    TD_F32, TD_F64, TD_F16, TD_BF16, TD_I64, TD_I32, TD_I16, TD_I8, TD_U8, TD_BOOL,
    TD_U16, TD_U32, TD_U64, TD_COUNT
};

size_t sn_tdtype_size(int dt);
const char *sn_tdtype_name(int dt);

/* dst[i] = (float)src[i * stride] for i < count, src elements of type dt,
 * little-endian, any alignment; stride in elements. Integers and F64 are
 * rounded to nearest; BOOL is 0 or 1. */
void sn_tdtype_convert(float *dst, const uint8_t *src, int dt, size_t count, size_t stride);

/* IEEE half <-> float; float_to_half rounds to nearest even, keeps inf/nan,
 * and produces subnormals. */
float sn_half_to_float(uint16_t h);
uint16_t sn_float_to_half(float f);

/* ---- one-block tensor set builder (tensors.c) ---- */

typedef struct {
    size_t n_tensors;   /* tensors that will be added */
    size_t name_bytes;  /* sum of name lengths + 1 each */
    size_t n_floats;    /* sum of numel */
    size_t meta_bytes;  /* metadata text + NUL, 0 for none */
    size_t limit;       /* cap on the block in bytes; 0: SONO_MAX_ALLOC */
} tset_sizes;

/* Account for one tensor; SONO_E_LIMIT when the set would pass sz->limit. */
int sn_tset_count(tset_sizes *sz, size_t name_len, uint64_t numel);

/* Allocate the block (zero-filled); the set starts with n == 0. */
int sn_tset_alloc(sono_tensors **out, const tset_sizes *sz);

/* Append a tensor: copies the name, sets the shape, returns its numel floats
 * (or NULL if the sizes given to sn_tset_alloc are exceeded, a caller bug).
 * shape entries must be >= 0 and their product must match what was counted. */
float *sn_tset_add(sono_tensors *ts, const char *name, size_t name_len, int ndim, const int64_t *shape);

/* Metadata area of meta_bytes bytes (NULL when meta_bytes was 0); also sets ts->metadata. */
char *sn_tset_meta(sono_tensors *ts);

/* ---- PyTorch loader with options (pickle.c) ---- */

typedef struct {
    int skip_crc;       /* do not verify zip CRCs (fuzzing reaches the pickle VM this way) */
    size_t max_alloc;   /* cap on the output block in bytes; 0: SONO_MAX_ALLOC */
} th_load_opts;

/* sn_th_load_mem with options; opts may be NULL. */
int sn_th_load_mem_ex(const uint8_t *buf, size_t n, sono_tensors **out, const th_load_opts *opts);

#endif
