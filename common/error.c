/* Error codes, per-thread failure detail, and the log callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "sono_internal.h"

static _Thread_local char g_detail[1024];
static sono_log_fn g_log_fn;
static void *g_log_user;

const char *sono_strerror(int err) {
    switch (err) {
    case SONO_OK: return "success";
    case SONO_E_NOMEM: return "out of memory";
    case SONO_E_ARG: return "invalid argument";
    case SONO_E_IO: return "input/output error";
    case SONO_E_FORMAT: return "bad format";
    case SONO_E_TRUNCATED: return "truncated input";
    case SONO_E_CHECKSUM: return "checksum mismatch";
    case SONO_E_MODEL_MISMATCH: return "model mismatch";
    case SONO_E_RANGE: return "value out of range";
    case SONO_E_UNSUPPORTED: return "unsupported";
    case SONO_E_EMPTY: return "empty input";
    case SONO_E_NOT_FOUND: return "not found";
    case SONO_E_LIMIT: return "size beyond limits";
    case SONO_E_MODEL_MISSING: return "model not present";
    default: return "unknown error";
    }
}

const char *sono_last_error(void) { return g_detail; }

void sono_clear_error(void) { g_detail[0] = 0; }

int sn_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_detail, sizeof g_detail, fmt, ap);
    va_end(ap);
    return code;
}

void sn_error_prefix(const char *fmt, ...) {
    char pre[512], old[sizeof g_detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, g_detail, sizeof old);
    snprintf(g_detail, sizeof g_detail, "%.500s: %.500s", pre, old);
}

void sono_set_log(sono_log_fn fn, void *user) {
    g_log_fn = fn;
    g_log_user = user;
}

void sn_log(int level, const char *fmt, ...) {
    if (!g_log_fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_log_fn(level, msg, g_log_user);
}

void *sn_alloc_big(size_t n, int zero) {
    const size_t huge = (size_t)2 << 20;
    if (n < 4 * huge) return zero ? calloc(1, n ? n : 1) : malloc(n ? n : 1);
    size_t rounded = (n + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, rounded);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE);
#endif
    if (zero) memset(p, 0, n);
    return p;
}
