/* sonotok error model: one enum of negative codes, a message per code, and a
 * per-thread detail line for the most recent failure.
 *
 *   int rc = sono_something(...);
 *   if (rc < 0) fprintf(stderr, "%s\n", sono_last_error());
 *
 * The library never prints and never exits; it logs through a callback that
 * the caller may set with sono_set_log(). */
#ifndef SONOTOK_ERROR_H
#define SONOTOK_ERROR_H

#include <stdarg.h>

#if defined(SONO_BUILDING)
#define SONO_API __attribute__((visibility("default")))
#else
#define SONO_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Stable error codes. Values never change; new codes are appended. */
enum sono_error {
    SONO_OK = 0,
    SONO_E_NOMEM = -1,          /* allocation failed */
    SONO_E_ARG = -2,            /* invalid argument from the caller */
    SONO_E_IO = -3,             /* open, read, write or rename failed */
    SONO_E_FORMAT = -4,         /* input is not in the expected format, or corrupt */
    SONO_E_TRUNCATED = -5,      /* input ends early */
    SONO_E_CHECKSUM = -6,       /* stored checksum does not match the content */
    SONO_E_MODEL_MISMATCH = -7, /* tokens made by another model */
    SONO_E_RANGE = -8,          /* a value is out of its valid range (codes, bandwidth) */
    SONO_E_UNSUPPORTED = -9,    /* valid input this build cannot handle */
    SONO_E_EMPTY = -10,         /* empty input (no samples, no frames, no files) */
    SONO_E_NOT_FOUND = -11,     /* file, model, tensor or entry not found */
    SONO_E_LIMIT = -12,         /* a size is beyond sane limits */
    SONO_E_MODEL_MISSING = -13, /* the data needs a model that is not present (a token file's coder model) */
};

/* Short static description of an error code ("checksum mismatch"). */
SONO_API const char *sono_strerror(int err);

/* Detail line of the last failure reported by this thread, e.g.
 * "token file: checksum mismatch (stored 1f.., computed 9a..)". Never NULL;
 * "" when nothing failed yet. Valid until the next failing call in this thread. */
SONO_API const char *sono_last_error(void);

/* Clear this thread's last error detail. */
SONO_API void sono_clear_error(void);

enum sono_log_level { SONO_LOG_ERROR = 0, SONO_LOG_WARN = 1, SONO_LOG_INFO = 2, SONO_LOG_DEBUG = 3 };

/* Log callback. msg has no trailing newline. */
typedef void (*sono_log_fn)(int level, const char *msg, void *user);

/* Set the process-wide log callback (NULL: discard). Default: discard. */
SONO_API void sono_set_log(sono_log_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
