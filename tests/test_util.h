/* Minimal test helpers: CHECK macros that count failures, a seeded RNG that
 * prints its seed, and float comparison that reports max abs and relative error. */
#ifndef SONO_TEST_UTIL_H
#define SONO_TEST_UTIL_H

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_failures;
static int tu_checks;

#define CHECK(cond) do { tu_checks++; if (!(cond)) { tu_failures++; \
    fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { tu_checks++; if (!(cond)) { tu_failures++; \
    fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Print a summary and return the process exit code. */
static inline int tu_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

/* xorshift64* RNG; seed from SONO_TEST_SEED if set, printed either way. */
static uint64_t tu_rng_state = 0x9E3779B97F4A7C15ull;
static inline void tu_seed(uint64_t def) {
    const char *s = getenv("SONO_TEST_SEED");
    tu_rng_state = s ? strtoull(s, NULL, 0) : def;
    if (!tu_rng_state) tu_rng_state = 1;
    printf("seed %llu\n", (unsigned long long)tu_rng_state);
}
static inline uint64_t tu_rand(void) {
    tu_rng_state ^= tu_rng_state >> 12; tu_rng_state ^= tu_rng_state << 25; tu_rng_state ^= tu_rng_state >> 27;
    return tu_rng_state * 2685821657736338717ull;
}
static inline float tu_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)((tu_rand() >> 40) * (1.0 / 16777216.0));
}
static inline void tu_fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = tu_uniform(lo, hi);
}

/* Max absolute difference; also prints normalised error (max|a-b| / max|b|). */
static inline double tu_maxdiff(const float *a, const float *b, size_t n, const char *what) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    if (what) printf("  %-40s max abs diff %.3g, normalised %.3g\n", what, md, mb > 0 ? md / mb : md);
    return md;
}

/* Entries in dir other than . and .., hidden ones included (e.g. to see that
 * nothing, not even a hidden temporary, was left behind). */
static inline int tu_count_files(const char *dir) {
    DIR *d = opendir(dir);
    int k = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) k++;
    if (d) closedir(d);
    return k;
}

#endif
