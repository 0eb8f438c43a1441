/* The codebook delay pattern (lm_delay.h). */
#include "lm_delay.h"
#include "sono_internal.h"

int sn_lm_delay_grid(int32_t *grid, const int32_t *codes, int K, int F, int codebook_size) {
    int S = sn_lm_delay_steps(F, K);
    for (int s = 0; s < S; s++)
        for (int k = 0; k < K; k++) {
            int f = s - k;
            int32_t v = codebook_size; /* EMPTY */
            if (f >= 0 && f < F) {
                v = codes[(size_t)k * F + f];
                if (v < 0 || v >= codebook_size)
                    return sn_fail(SONO_E_RANGE, "delay: code %d of codebook %d at frame %d outside 0..%d", (int)v, k,
                                   f, codebook_size - 1);
            } else if (f == F) {
                v = codebook_size + 1; /* END */
            }
            grid[(size_t)s * K + k] = v;
        }
    return 0;
}

int sn_lm_delay_targets(int32_t *targets, const int32_t *grid, int S, int K, int codebook_size) {
    int n = 0;
    for (size_t i = 0; i < (size_t)S * K; i++) {
        targets[i] = grid[i] == codebook_size ? -1 : grid[i];
        n += targets[i] >= 0;
    }
    return n;
}

int sn_lm_delay_forced(int s, int k, int s_end, int codebook_size) {
    if (s < k) return codebook_size;
    if (s_end >= 0 && s >= s_end + k) return s == s_end + k ? codebook_size + 1 : codebook_size;
    return -1;
}

int sn_lm_undelay(int32_t *codes, int F_max, const int32_t *grid, int S, int K, int codebook_size) {
    int F = 0;
    for (; F < F_max; F++) {
        int ok = F + K - 1 < S;
        for (int k = 0; ok && k < K; k++) {
            int32_t v = grid[(size_t)(F + k) * K + k];
            if (v < 0 || v >= codebook_size) ok = 0;
        }
        if (!ok) break;
        for (int k = 0; k < K; k++) codes[(size_t)k * F_max + F] = grid[(size_t)(F + k) * K + k];
    }
    return F;
}
