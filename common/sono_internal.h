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

/* Little-endian fields: every file format the library reads or writes
 * (zip, pickle, safetensors, token files, archives, .npy) stores them so on
 * every host. sn_rd_le reads an n_bytes-wide one (n_bytes <= 8). */
static inline uint16_t sn_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t sn_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t sn_rd64(const uint8_t *p) { return (uint64_t)sn_rd32(p) | (uint64_t)sn_rd32(p + 4) << 32; }
static inline uint64_t sn_rd_le(const uint8_t *p, int n_bytes) {
    uint64_t v = 0;
    for (int i = n_bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static inline void sn_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void sn_wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sn_wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Read a whole file into memory: one read of a regular file's size, growing
 * for pipes and the like; a NUL is appended (not counted). More than limit
 * bytes fails with SONO_E_LIMIT, a missing file with SONO_E_NOT_FOUND, a
 * directory or read error with SONO_E_IO. The one file reader of the library
 * (tensors.c); the caller frees *buf. */
int sn_read_file(const char *path, size_t limit, uint8_t **buf, size_t *n);

#define SONO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SONO_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
