/* Flat parameters: every trainable tensor of a model lives at an offset in
 * ONE float buffer (and its gradient at the same offset in a same-sized
 * buffer), so that the optimiser, the micro-batch reduce and checkpoints see
 * one array, as llm.c does. A table names the ranges. Used by the codec's
 * training graph and discriminator (codec/train/), and by lm/ to come.
 *
 *   sn_param_table pt = {0};
 *   int64_t sh[3] = {C_out, C_in, K};
 *   int i = sn_params_add(&pt, "encoder.model.0.conv.conv", ".weight_v", 3, sh);  // offset 0
 *   ... float *params = calloc(pt.n_floats, sizeof(float)); params + pt.p[i].offset ...
 *   sn_params_free(&pt);
 */
#ifndef SONO_PARAMS_H
#define SONO_PARAMS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[96];        /* canonical name (checkpoint / state_dict key) */
    int ndim;             /* 1..3 */
    int64_t shape[3];
    size_t offset;        /* floats into the parameter (and gradient) buffer */
    size_t numel;
} sn_param;

typedef struct {
    sn_param *p;          /* n entries, in the order they were added */
    int n, cap;
    size_t n_floats;      /* the buffer's length: the sum of numel */
} sn_param_table;

/* Append name + suffix with shape [ndim] at the end of the buffer. Returns
 * its index, or SONO_E_NOMEM / SONO_E_ARG (ndim outside 1..3, a name too long). */
int sn_params_add(sn_param_table *t, const char *name, const char *suffix, int ndim, const int64_t *shape);
void sn_params_free(sn_param_table *t);

#endif
