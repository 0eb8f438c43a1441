/* Internal helpers shared by every part of the library: error reporting,
 * logging, checked allocation. Not installed. */
#ifndef SONO_INTERNAL_H
#define SONO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"

#if defined(__GNUC__)
#define SONO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SONO_PRINTF(a, b)
#endif

/* Record a failure detail for this thread (printf-style) and return code.
 * Typical use: return sn_fail(SONO_E_FORMAT, "safetensors: header too long (%zu bytes)", n); */
int sn_fail(int code, const char *fmt, ...) SONO_PRINTF(2, 3);

/* Prefix the current detail with "prefix: " (for adding context on the way up). */
void sn_error_prefix(const char *fmt, ...) SONO_PRINTF(1, 2);

void sn_log(int level, const char *fmt, ...) SONO_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return 0 on overflow. */
static inline int sn_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Upper bound on any single allocation driven by file contents (4 GiB). */
#define SONO_MAX_ALLOC ((size_t)1 << 32)

/* Large, long-lived blocks (weights): 2 MiB aligned and backed by huge pages
 * where the kernel allows it, so loading a model takes hundreds of page faults
 * instead of tens of thousands. Zero-filled when zero != 0. Free with free(). */
void *sn_alloc_big(size_t n, int zero);

/* splitmix64: the one seeded random stream of the training code (init,
 * data sampling); deterministic for a seed on every platform. */
static inline uint64_t sn_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [0, 1) from the top 53 bits of sn_splitmix64. */
static inline double sn_unif01(uint64_t *s) { return (double)(sn_splitmix64(s) >> 11) * 0x1.0p-53; }

#define SONO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SONO_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
