/* Fuzz target: PyTorch zip checkpoints (zip reader, pickle VM, tensor
 * gathering). The result is the loader's code with CRCs checked; an input
 * that fails only its CRC is run again without the check, so mutations of
 * data.pkl still reach the pickle VM. The output block is capped at 64 MiB
 * (stride-0 views can ask for far more than the input holds). */
#include <stdlib.h>
#include "fuzz_target.h"
#include "tensorset.h"
#include "sonotok/error.h"
#include "tensors.h"

static void touch(const sono_tensors *ts) {
    volatile float sink = 0;
    for (int i = 0; i < ts->n; i++) {
        const sono_tensor *t = &ts->t[i];
        if (sn_tensors_find(ts, t->name) == NULL) abort();
        for (int64_t j = 0; j < t->numel; j += 97) sink += t->data[j];
        if (t->numel) sink += t->data[t->numel - 1];
    }
    (void)sink;
}

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    th_load_opts o = {.skip_crc = 0, .max_alloc = (size_t)64 << 20};
    sono_tensors *ts = NULL;
    int rc = sn_th_load_mem_ex(data, n, &ts, &o);
    if (rc == 0) touch(ts);
    sn_tensors_free(ts);
    if (rc == SONO_E_CHECKSUM) {
        o.skip_crc = 1;
        ts = NULL;
        if (sn_th_load_mem_ex(data, n, &ts, &o) == 0) touch(ts);
        sn_tensors_free(ts);
    }
    return rc;
}

SONO_FUZZ_ENTRY
