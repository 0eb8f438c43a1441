/* Fuzz target: safetensors reader (header length, JSON header, offsets,
 * dtype conversion). Its output is at most 4x the input, so no cap is needed. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "tensors.h"

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    sono_tensors *ts = NULL;
    int rc = sn_safetensors_load_mem(data, n, &ts);
    if (rc == 0) {
        volatile float sink = 0;
        for (int i = 0; i < ts->n; i++) {
            const sono_tensor *t = &ts->t[i];
            if (sn_tensors_find(ts, t->name) == NULL) abort();
            if (t->numel) sink += t->data[0] + t->data[t->numel - 1];
        }
        if (ts->metadata) sink += (float)strlen(ts->metadata);
        (void)sink;
    }
    sn_tensors_free(ts);
    return rc;
}

SONO_FUZZ_ENTRY
