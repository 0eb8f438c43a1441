/* Fuzz target: NumPy arrays (sono_npy_decode with a 1024-entry codebook).
 * A decoded array must encode again and decode to the same codes. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/tokens.h"

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int32_t *codes = NULL, *back = NULL;
    int n_q = 0, n_q2 = 0;
    int64_t n_frames = 0, n_frames2 = 0;
    int rc = sono_npy_decode(data, n, 1024, &codes, &n_q, &n_frames);
    if (rc != 0) {
        if (codes) abort();
        return rc;
    }
    uint8_t *buf = NULL;
    size_t bn = 0;
    if (sono_npy_encode(codes, n_q, n_frames, &buf, &bn) != 0 ||
        sono_npy_decode(buf, bn, 1024, &back, &n_q2, &n_frames2) != 0 || n_q2 != n_q || n_frames2 != n_frames ||
        memcmp(back, codes, (size_t)n_q * (size_t)n_frames * sizeof *codes))
        abort();
    free(back);
    free(buf);
    free(codes);
    return 0;
}

SONO_FUZZ_ENTRY
