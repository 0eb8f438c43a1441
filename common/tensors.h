/* Named float32 tensors read from weight files (PyTorch .th zip+pickle,
 * safetensors), all held in one allocation, plus the safetensors writer.
 *
 *   sono_tensors *ts; int rc = sn_th_load("encodec_24khz-d7cc33bc.th", &ts);
 *   const sono_tensor *t = sn_tensors_find(ts, "encoder.model.0.conv.conv.weight_v");
 *   ... sn_tensors_free(ts);
 *
 * Every loader converts stored dtypes (F64, F32, F16, BF16, and integer types)
 * to float32, keeps shapes, and fails with a sn_fail() detail on anything
 * corrupt, truncated, or beyond SONO_MAX_ALLOC. Inputs are never modified. */
#ifndef SONO_TENSORS_H
#define SONO_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SONO_MAX_DIMS 8

typedef struct {
    const char *name;              /* points into the set's storage */
    int ndim;                      /* 0..SONO_MAX_DIMS */
    int64_t shape[SONO_MAX_DIMS];
    int64_t numel;
    float *data;                   /* numel floats, points into the set's block */
} sono_tensor;

typedef struct sono_tensors {
    sono_tensor *t;                /* n tensors, in file order */
    int n;
    char *metadata;                /* safetensors __metadata__ as a JSON object text, or NULL */
    void *storage;                 /* implementation-owned */
} sono_tensors;

/* PyTorch zip checkpoint (torch.save since 1.6): a state_dict, possibly nested
 * under a dict key such as "state_dict"/"model"; OrderedDict of tensors.
 * Legacy (non-zip) pickles are refused with SONO_E_UNSUPPORTED. */
int sn_th_load(const char *path, sono_tensors **out);
int sn_th_load_mem(const uint8_t *buf, size_t n, sono_tensors **out);

/* safetensors; metadata (if any) copied into ->metadata as JSON object text. */
int sn_safetensors_load(const char *path, sono_tensors **out);
int sn_safetensors_load_mem(const uint8_t *buf, size_t n, sono_tensors **out);

/* Write tensors as safetensors (F32, or F16 when f16 != 0). metadata_json, if
 * not NULL, must be a JSON object of string values; it becomes __metadata__.
 * Writes to path directly (the caller handles temporary names). */
int sn_safetensors_save(const char *path, const sono_tensors *ts, const char *metadata_json, int f16);

/* Build a set from arrays (the set copies names and data). */
int sn_tensors_create(sono_tensors **out, int n, const char *const *names,
                        const int *ndims, const int64_t (*shapes)[SONO_MAX_DIMS],
                        const float *const *data);

const sono_tensor *sn_tensors_find(const sono_tensors *ts, const char *name);
void sn_tensors_free(sono_tensors *ts);

/* Map a regular file read-only (falls back to sn_read_file for other
 * files). Release with sn_unmap_file(buf, n, mapped). */
int sn_map_file(const char *path, size_t limit, const uint8_t **buf, size_t *n, int *mapped);
void sn_unmap_file(const uint8_t *buf, size_t n, int mapped);

/* Read a whole file into memory (NUL appended, not counted); limit in bytes. */
int sn_read_file(const char *path, size_t limit, uint8_t **buf, size_t *n);

#endif
