/* The one output writer (contract and rules: include/sonotok/output.h).
 *
 * Three kinds of output: TEMP (a regular or new file: a temporary beside the
 * target, synced and renamed over it, then the folder synced), DIRECT (a
 * device, FIFO or standard output, written as it is) and SPOOL (a DIRECT
 * target for a caller that seeks: an unnamed scratch file copied to the
 * target at commit).
 *
 * Temporary files are listed in a fixed table of slots that a signal handler
 * may read at any moment: a slot's path is complete before the slot is
 * marked live, and the slot is marked live before the file is created, so a
 * signal at any point removes every file this writer made (at worst it
 * unlinks a name that does not exist yet or any more). The protected inputs
 * are a growing list of (device, inode) under a mutex; the process keeps it
 * to the end. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sono_internal.h"
#include "outfile.h"

#define OUT_PATH_MAX 4096
#define OUT_MAX_TEMPS 64
#define OUT_MAX_LINKS 40

void (*sn_outfile_test_hook)(const char *tmp_path);

/* ---- live temporary files ---- */

enum { SLOT_FREE, SLOT_FILLING, SLOT_LIVE };
static char g_temp_path[OUT_MAX_TEMPS][OUT_PATH_MAX];
static atomic_int g_temp_state[OUT_MAX_TEMPS];

static int temp_claim(void) {
    for (int i = 0; i < OUT_MAX_TEMPS; i++) {
        int expect = SLOT_FREE;
        if (atomic_compare_exchange_strong(&g_temp_state[i], &expect, SLOT_FILLING)) return i;
    }
    return -1;
}

static void temp_release(int slot) { atomic_store(&g_temp_state[slot], SLOT_FREE); }

void sono_output_remove_temporaries(void) {
    for (int i = 0; i < OUT_MAX_TEMPS; i++)
        if (atomic_load(&g_temp_state[i]) == SLOT_LIVE) unlink(g_temp_path[i]);
}

static uint64_t out_random(void) {
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 (uint64_t)atomic_fetch_add(&counter, 1) * 0xD1B54A32D192ED03ull;
    return sn_splitmix64(&s);
}

/* Create ".BASE.sonotok-XXXXXXXXXXXXXXXX" beside final (a file path),
 * registered in the table. Returns the slot with *fd open, or a negative
 * error (detail names name). */
static int temp_create(const char *final, const char *name, int *fd) {
    const char *slash = strrchr(final, '/');
    int dl = slash ? (int)(slash - final) + 1 : 0;
    if (strlen(final) + 30 >= OUT_PATH_MAX) return sn_fail(SONO_E_IO, "%s: path too long", name);
    int slot = temp_claim();
    if (slot < 0) return sn_fail(SONO_E_LIMIT, "%s: more than %d outputs open at once", name, OUT_MAX_TEMPS);
    int e = 0;
    *fd = -1;
    for (int attempt = 0; attempt < 100 && *fd < 0; attempt++) {
        snprintf(g_temp_path[slot], OUT_PATH_MAX, "%.*s.%s.sonotok-%016llx", dl, final, final + dl,
                 (unsigned long long)out_random());
        atomic_store(&g_temp_state[slot], SLOT_LIVE);
        /* O_EXCL: never touch a file we did not create. The mode goes
         * through the umask like any plain new file. */
        *fd = open(g_temp_path[slot], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd < 0) {
            e = errno;
            atomic_store(&g_temp_state[slot], SLOT_FILLING);
            if (e != EEXIST) break;
        }
    }
    if (*fd < 0) {
        temp_release(slot);
        return sn_fail(SONO_E_IO, "%s: cannot create: %s", name, strerror(e));
    }
    return slot;
}

static void temp_remove(int slot) {
    unlink(g_temp_path[slot]);
    temp_release(slot);
}

/* ---- protected inputs ---- */

typedef struct {
    dev_t dev;
    ino_t ino;
    char *path;
} out_input;

static pthread_mutex_t g_in_lock = PTHREAD_MUTEX_INITIALIZER;
static out_input *g_in;
static size_t g_n_in, g_cap_in;

/* 0, or SONO_E_ARG when st is a protected input (detail names both). */
static int input_refuse(const char *name, const struct stat *st) {
    int rc = 0;
    pthread_mutex_lock(&g_in_lock);
    for (size_t i = 0; i < g_n_in && !rc; i++)
        if (g_in[i].dev == st->st_dev && g_in[i].ino == st->st_ino)
            rc = sn_fail(SONO_E_ARG, "%s: is the same file as the input %s; not writing over it", name,
                           g_in[i].path);
    pthread_mutex_unlock(&g_in_lock);
    return rc;
}

int sono_output_protect(const char *path) {
    if (!path) return sn_fail(SONO_E_ARG, "protect: NULL path");
    struct stat st;
    if (!strcmp(path, "-")) {
        /* standard input: a file redirected into it is protected like a named one
         * (a pipe or a terminal cannot be written over) */
        if (fstat(STDIN_FILENO, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    } else if (stat(path, &st) != 0) {
        int e = errno;
        return sn_fail(e == ENOENT ? SONO_E_NOT_FOUND : SONO_E_IO, "%s: %s", path, strerror(e));
    }
    /* No search for duplicates: a folder of 100k inputs registers in linear
     * time, and a file listed twice costs nothing but its entry. */
    int rc = 0;
    pthread_mutex_lock(&g_in_lock);
    if (g_n_in == g_cap_in) {
        size_t cap = g_cap_in ? 2 * g_cap_in : 16;
        out_input *n = realloc(g_in, cap * sizeof *n);
        if (n) g_in = n, g_cap_in = cap;
    }
    char *copy = g_n_in < g_cap_in ? strdup(path) : NULL;
    if (copy) g_in[g_n_in++] = (out_input){st.st_dev, st.st_ino, copy};
    else rc = sn_fail(SONO_E_NOMEM, "protect: no memory");
    pthread_mutex_unlock(&g_in_lock);
    return rc;
}

int sono_output_check(const char *path) {
    if (!path) return sn_fail(SONO_E_ARG, "output: NULL path");
    struct stat st;
    int ok = strcmp(path, "-") ? stat(path, &st) == 0 : fstat(STDOUT_FILENO, &st) == 0;
    return ok ? input_refuse(strcmp(path, "-") ? path : "<stdout>", &st) : 0;
}

/* ---- the writer ---- */

enum { OUT_TEMP, OUT_DIRECT, OUT_SPOOL };

struct sono_output {
    int kind;
    int fd;         /* what the caller writes */
    int target_fd;  /* OUT_SPOOL: the target, -1 otherwise */
    int slot;       /* OUT_TEMP: the temporary file's slot, -1 otherwise */
    FILE *stream;   /* sono_output_stream, over a duplicate of fd */
    char *name;     /* the caller's path, for messages */
    char *final;    /* OUT_TEMP: the file the temporary replaces */
};

/* path's last component followed through symbolic links into out (a file
 * that may not exist yet). 0 or an errno. */
static int out_resolve(const char *path, char *out, size_t n) {
    size_t len = strlen(path);
    if (len >= n) return ENAMETOOLONG;
    memcpy(out, path, len + 1);
    for (int hop = 0;; hop++) {
        struct stat st;
        if (lstat(out, &st) != 0) return errno == ENOENT ? 0 : errno;
        if (!S_ISLNK(st.st_mode)) return 0;
        if (hop == OUT_MAX_LINKS) return ELOOP;
        char link[OUT_PATH_MAX];
        ssize_t k = readlink(out, link, sizeof link - 1);
        if (k < 0) return errno;
        link[k] = 0;
        /* a relative link is relative to the folder holding it */
        const char *slash = strrchr(out, '/');
        size_t dl = link[0] == '/' || !slash ? 0 : (size_t)(slash - out) + 1;
        if (dl + (size_t)k >= n) return ENAMETOOLONG;
        memcpy(out + dl, link, (size_t)k + 1);
    }
}

/* An unnamed scratch file under $TMPDIR (else /tmp), or a named one
 * removed at once where the file system cannot make unnamed files. */
static int out_scratch(const char *name) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    char base[OUT_PATH_MAX];
    if (snprintf(base, sizeof base, "%s/sonotok-scratch", dir) >= (int)sizeof base)
        return sn_fail(SONO_E_IO, "%s: $TMPDIR path too long", name);
    int slot = temp_create(base, name, &fd);
    if (slot < 0) return slot;
    temp_remove(slot);
    return fd;
}

static void out_free(sono_output *o) {
    free(o->name);
    free(o->final);
    free(o);
}

sono_output *sono_output_open(const char *path, int flags, int *err) {
    int dummy;
    if (!err) err = &dummy;
    if (!path || !*path) {
        *err = sn_fail(SONO_E_ARG, "output: no path");
        return NULL;
    }
    sono_output *o = calloc(1, sizeof *o);
    if (o) o->name = strdup(path);
    if (o) o->final = malloc(OUT_PATH_MAX);
    if (!o || !o->name || !o->final) {
        if (o) out_free(o);
        *err = sn_fail(SONO_E_NOMEM, "%s: no memory", path);
        return NULL;
    }
    o->fd = o->target_fd = o->slot = -1;
    int rc = 0, e = 0;
    struct stat st;
    if (!strcmp(path, "-")) {
        o->kind = OUT_DIRECT;
        o->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
        if (o->fd < 0 || fstat(o->fd, &st) != 0) rc = sn_fail(SONO_E_IO, "<stdout>: %s", strerror(errno));
        else rc = input_refuse("<stdout>", &st);
    } else if ((e = out_resolve(path, o->final, OUT_PATH_MAX)) != 0) {
        rc = sn_fail(SONO_E_IO, "%s: %s", path, strerror(e));
    } else if (stat(o->final, &st) != 0) {
        o->kind = OUT_TEMP;
        o->slot = temp_create(o->final, path, &o->fd);
    } else if (S_ISDIR(st.st_mode)) {
        rc = sn_fail(SONO_E_IO, "%s: is a folder", path);
    } else if ((rc = input_refuse(path, &st)) == 0 && S_ISREG(st.st_mode)) {
        o->kind = OUT_TEMP;
        o->slot = temp_create(o->final, path, &o->fd);
        /* The new file keeps the permissions (and, where allowed, the owner)
         * of the one it replaces; failing that it is still written. */
        if (o->slot >= 0 && (st.st_uid != geteuid() || st.st_gid != getegid()))
            e = fchown(o->fd, st.st_uid, st.st_gid);
        if (o->slot >= 0) e = fchmod(o->fd, st.st_mode & 0777);
    } else if (!rc) {
        o->kind = OUT_DIRECT;
        o->fd = open(o->final, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (o->fd < 0) rc = sn_fail(SONO_E_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    }
    if (!rc && o->kind == OUT_TEMP && o->slot < 0) rc = o->slot;
    if (!rc && o->kind == OUT_DIRECT && (flags & SONO_OUTPUT_SEEK)) {
        o->kind = OUT_SPOOL;
        o->target_fd = o->fd;
        o->fd = out_scratch(path);
        if (o->fd < 0) rc = o->fd;
    }
    if (rc) {
        sono_output_abort(o);
        *err = rc;
        return NULL;
    }
    *err = 0;
    return o;
}

int sono_output_fd(const sono_output *o) { return o ? o->fd : -1; }

FILE *sono_output_stream(sono_output *o) {
    if (!o) return NULL;
    if (!o->stream) {
        int d = fcntl(o->fd, F_DUPFD_CLOEXEC, 0);
        o->stream = d >= 0 ? fdopen(d, "wb") : NULL;
        if (d >= 0 && !o->stream) close(d);
    }
    return o->stream;
}

static int out_write_fd(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : ENOSPC;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int sono_output_write(sono_output *o, const void *buf, size_t n_bytes) {
    if (!o || (!buf && n_bytes)) return sn_fail(SONO_E_ARG, "output: NULL argument");
    int e = out_write_fd(o->fd, buf, n_bytes);
    return e ? sn_fail(SONO_E_IO, "%s: write failed: %s", o->name, strerror(e)) : 0;
}

/* Copy the scratch file to the target: 0 or an errno. */
static int out_copy(int from, int to) {
    if (lseek(from, 0, SEEK_SET) != 0) return errno;
    uint8_t buf[1 << 16];
    for (;;) {
        ssize_t r = read(from, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno;
        if (r == 0) return 0;
        int e = out_write_fd(to, buf, (size_t)r);
        if (e) return e;
    }
}

/* fsync the folder holding path, so the rename itself is durable. */
static int out_sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[OUT_PATH_MAX];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int e = fsync(fd) ? errno : 0;
    close(fd);
    return e == EINVAL ? 0 : e; /* some file systems cannot sync folders */
}

int sono_output_commit(sono_output *o) {
    if (!o) return sn_fail(SONO_E_ARG, "output: NULL writer");
    const char *what = NULL;
    int e = 0;
    if (o->stream) {
        if (fflush(o->stream) != 0 || ferror(o->stream)) e = errno ? errno : EIO, what = "write";
        if (fclose(o->stream) != 0 && !what) e = errno, what = "close";
        o->stream = NULL;
    }
    if (o->kind == OUT_SPOOL && !what && (e = out_copy(o->fd, o->target_fd)) != 0) what = "write";
    if (o->kind == OUT_TEMP && !what && fsync(o->fd) != 0) e = errno, what = "sync";
    int fd = o->fd;
    o->fd = -1;
    if (close(fd) != 0 && !what) e = errno, what = "close";
    if (o->target_fd >= 0 && close(o->target_fd) != 0 && !what) e = errno, what = "close";
    o->target_fd = -1;
    if (o->kind == OUT_TEMP && !what) {
        if (sn_outfile_test_hook) sn_outfile_test_hook(g_temp_path[o->slot]);
        if (rename(g_temp_path[o->slot], o->final) != 0) e = errno, what = "rename";
    }
    if (what) {
        int rc = sn_fail(SONO_E_IO, "%s: %s failed: %s", o->name, what, strerror(e));
        sono_output_abort(o);
        return rc;
    }
    /* After the rename: a signal in between unlinks a name that no longer
     * exists, which is harmless. */
    int rc = 0;
    if (o->kind == OUT_TEMP) {
        temp_release(o->slot);
        if ((e = out_sync_dir(o->final)) != 0)
            rc = sn_fail(SONO_E_IO, "%s: written, but syncing its folder failed: %s", o->name, strerror(e));
    }
    out_free(o);
    return rc;
}

void sono_output_abort(sono_output *o) {
    if (!o) return;
    if (o->stream) fclose(o->stream);
    if (o->fd >= 0) close(o->fd);
    if (o->target_fd >= 0) close(o->target_fd);
    if (o->slot >= 0) temp_remove(o->slot);
    out_free(o);
}

int sono_output_save(const char *path, const void *buf, size_t n_bytes) {
    int err = 0;
    sono_output *o = sono_output_open(path, 0, &err);
    if (!o) return err;
    int rc = sono_output_write(o, buf, n_bytes);
    if (rc) {
        sono_output_abort(o);
        return rc;
    }
    return sono_output_commit(o);
}
