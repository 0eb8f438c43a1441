/* Shared by the kernel tests: guarded buffers and the fast-vs-reference
 * comparison with a stated tolerance. */
#ifndef KERNEL_CHECK_H
#define KERNEL_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test_util.h"
/* Test the fast kernels by their own names even in -Dref_kernels=true builds
 * (where kernels.h would map them onto the reference ones). */
#undef SONO_REF_KERNELS
#include "kernels.h"

/* Tolerance on the normalised error max|a - b| / max|b|. */
#define KC_TOL 1e-5

/* Test hook in kernels.c (not part of kernels.h): cap the back end
 * (0 OpenBLAS/plain C, 1 AVX2, 2 AVX-512); returns the level in effect. */
int sn_kern_test_set_isa(int level);

#define KC_GUARD 32
#define KC_CANARY 12345.678f

/* n floats followed by KC_GUARD canaries; kc_guard_ok() says whether a kernel
 * wrote past the end. */
static inline float *kc_alloc(size_t n) {
    float *p = malloc((n + KC_GUARD) * sizeof *p);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    for (size_t i = 0; i < n + KC_GUARD; i++) p[i] = KC_CANARY;
    return p;
}
static inline int kc_guard_ok(const float *p, size_t n) {
    for (size_t i = n; i < n + KC_GUARD; i++)
        if (p[i] != KC_CANARY) return 0;
    return 1;
}

/* Normalised error of a against the reference b (NaN-safe: NaN fails):
 * max|a - b| / max(max|b|, floor). */
static inline double kc_norm_err_floor(const float *a, const float *b, size_t n, double floor,
                                       double *max_abs) {
    double md = 0, mb = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    if (max_abs) *max_abs = md;
    return mb > 0 ? md / mb : md;
}
static inline double kc_norm_err(const float *a, const float *b, size_t n, double *max_abs) {
    return kc_norm_err_floor(a, b, n, 0.0, max_abs);
}

/* Compare, print one line, count a check; returns 1 when within tolerance. */
static inline int kc_compare_floor(const char *what, const float *got, const float *ref, size_t n,
                                   double floor, double tol) {
    double ma, ne = kc_norm_err_floor(got, ref, n, floor, &ma);
    int ok = ne <= tol;
    printf("  %-60s max abs %.3g, normalised %.3g%s\n", what, ma, ne, ok ? "" : "  <-- FAIL");
    CHECK_MSG(ok, "%s: normalised error %.3g > %.1g", what, ne, tol);
    return ok;
}
static inline int kc_compare(const char *what, const float *got, const float *ref, size_t n, double tol) {
    return kc_compare_floor(what, got, ref, n, 0.0, tol);
}

#endif
