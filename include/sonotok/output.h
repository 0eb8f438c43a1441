/* Output files: the one way sonotok writes a file. Token files, .npy arrays,
 * archives, audio, model exports, training checkpoints and the tools' images
 * all go through it, so every output follows the same rules:
 *
 *   - a regular file, or a path that does not exist yet, is written under a
 *     unique temporary name in the same folder (".NAME.sonotok-XXXXXXXXXXXXXXXX"),
 *     synced, renamed over the target, and the folder synced: the target
 *     holds either its old content or the complete new one, never a part;
 *     an existing target keeps its permission bits;
 *   - a symbolic link is written through: the temporary goes beside the file
 *     the link (or chain of links) points to and is renamed onto it, so the
 *     link stays a link;
 *   - anything else (a character or block device such as /dev/null, a FIFO)
 *     and "-" (standard output) is opened and written directly: no temporary,
 *     no rename, the device stays a device. Where the writer needs to seek
 *     (SONO_OUTPUT_SEEK: archives, WAV headers) and the target cannot, the
 *     output is built in an unnamed scratch file under $TMPDIR (else /tmp)
 *     and copied to the target at commit;
 *   - a file registered with sono_output_protect() (an input of the run) is
 *     never written: opening it as an output fails with SONO_E_ARG, also when
 *     reached through a symbolic or hard link;
 *   - a temporary file lives in one process-wide table from its creation to
 *     its rename; sono_output_abort() and every failing call remove it, and
 *     sono_output_remove_temporaries() (async-signal-safe) removes them all,
 *     for a signal handler that is about to end the process.
 *
 *   int err;
 *   sono_output *o = sono_output_open("a.tok", 0, &err);
 *   if (!o) return err;
 *   int rc = sono_output_write(o, buf, n_bytes);
 *   if (rc) { sono_output_abort(o); return rc; }
 *   return sono_output_commit(o);       (or, in one call: sono_output_save)
 *
 * Thread safety: one sono_output is used by one thread at a time; separate
 * ones, and the functions that take no sono_output, may be used from any
 * thread. */
#ifndef SONOTOK_OUTPUT_H
#define SONOTOK_OUTPUT_H

#include <stddef.h>
#include <stdio.h>
#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sono_output sono_output;

/* Flags for sono_output_open. */
enum {
    SONO_OUTPUT_SEEK = 1, /* the caller seeks or writes at offsets (pwrite, libsndfile) */
};

/* Open an output at path ("-": standard output) following the rules above.
 * Returns the writer, or NULL with *err set: SONO_E_ARG for a protected input
 * or an empty path, SONO_E_IO when the path is a folder, its folder is
 * missing or not writable, or a temporary file cannot be made, SONO_E_LIMIT
 * when more than 64 temporary files are open at once. The file is empty.
 * Opening a FIFO waits for its reader, as a shell redirection does. */
SONO_API sono_output *sono_output_open(const char *path, int flags, int *err);

/* The file descriptor to write (owned by o: do not close it). With
 * SONO_OUTPUT_SEEK it is always a regular file at offset 0. */
SONO_API int sono_output_fd(const sono_output *o);

/* A stdio stream over the output, for writers that use one (owned by o:
 * commit flushes and closes it, abort drops it). NULL when out of memory.
 * Do not mix it with sono_output_write. */
SONO_API FILE *sono_output_stream(sono_output *o);

/* Write all n_bytes at the current position. 0 or SONO_E_IO (detail set). */
SONO_API int sono_output_write(sono_output *o, const void *buf, size_t n_bytes);

/* Finish: flush, sync, rename the temporary file over the target (or copy a
 * scratch file to it) and free o. 0, or a negative error after which the
 * temporary file is gone and the target untouched (a direct target may hold
 * part of the output). */
SONO_API int sono_output_commit(sono_output *o);

/* Drop the output: close and remove the temporary file, free o. A direct
 * target keeps what was written to it. NULL-safe. */
SONO_API void sono_output_abort(sono_output *o);

/* Open, write n_bytes of buf, commit: 0 or a negative error. */
SONO_API int sono_output_save(const char *path, const void *buf, size_t n_bytes);

/* Register path (followed through links) as an input of this run: from now
 * on no output of this process may be written onto that file (the list
 * lasts as long as the process). "-" is ignored. 0, SONO_E_NOT_FOUND or
 * SONO_E_IO (cannot stat), SONO_E_NOMEM. */
SONO_API int sono_output_protect(const char *path);

/* 0 when path may be opened as an output as far as the protected inputs go;
 * SONO_E_ARG (detail: "PATH: is the input INPUT; not writing over it") when
 * it is one of them. Tools call it before starting long work; opening checks
 * again. */
SONO_API int sono_output_check(const char *path);

/* Remove every temporary file still open. Async-signal-safe (it only calls
 * unlink): for a signal handler that ends the process right after. */
SONO_API void sono_output_remove_temporaries(void);

#ifdef __cplusplus
}
#endif
#endif
