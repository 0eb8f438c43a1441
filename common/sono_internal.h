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
 * Typical use: return sono_fail(SONO_E_FORMAT, "safetensors: header too long (%zu bytes)", n); */
int sono_fail(int code, const char *fmt, ...) SONO_PRINTF(2, 3);

/* Prefix the current detail with "prefix: " (for adding context on the way up). */
void sono_error_prefix(const char *fmt, ...) SONO_PRINTF(1, 2);

void sono_log(int level, const char *fmt, ...) SONO_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return 0 on overflow. */
static inline int sono_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Upper bound on any single allocation driven by file contents (4 GiB). */
#define SONO_MAX_ALLOC ((size_t)1 << 32)

/* Large, long-lived blocks (weights): 2 MiB aligned and backed by huge pages
 * where the kernel allows it, so loading a model takes hundreds of page faults
 * instead of tens of thousands. Zero-filled when zero != 0. Free with free(). */
void *sono_alloc_big(size_t n, int zero);

#define SONO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SONO_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
