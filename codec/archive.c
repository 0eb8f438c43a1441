/* Archives: many token files in one file. A checksummed header, the entries
 * back to back (each a complete token file), a zstd-compressed index (name,
 * offset, size, XXH3-64 per entry) and a fixed footer that locates the index,
 * so opening reads the header, footer and index only, and reading an entry
 * reads that entry only. Writers build the archive through the output
 * writer (sonotok/output.h: a temporary file renamed over the target on
 * commit, or a scratch file copied to a device, FIFO or stdout). Byte layout and the
 * reader's rules: codec/FORMATS.md ("Archive"). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sonotok/output.h"
#include "sonotok/tokens.h"
#include "sono_internal.h"
#include "tokdata.h"

#define AR_MAGIC "SNTKARCH"
#define AR_FOOT_MAGIC "SNTKINDX"
#define AR_MAJOR 1
#define AR_MINOR 0
#define AR_HEADER 32
#define AR_FOOTER 56
#define AR_ENTRY_FIXED 38 /* index record without its name */
#define AR_NAME_MAX 4096
#define AR_MAX_INDEX ((uint64_t)1 << 30)
#define AR_MAX_ENTRIES (INT_MAX - 1)

/* ------------------------------------------------------------------------- */
/* Names                                                                     */

/* NULL when name (len bytes) is a safe relative '/'-path, else why not. */
static const char *ar_name_problem(const char *name, size_t len) {
    if (len == 0) return "empty name";
    if (len > AR_NAME_MAX) return "name longer than 4096 bytes";
    if (name[0] == '/') return "absolute path";
    size_t comp = 0; /* start of the current component */
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '/') {
            size_t cl = i - comp;
            if (cl == 0) return "empty path component (leading, trailing or doubled '/')";
            if ((cl == 1 && name[comp] == '.') || (cl == 2 && name[comp] == '.' && name[comp + 1] == '.'))
                return "'.' or '..' path component";
            comp = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7F) return "control character in name";
        if (c == '\\') return "backslash in name";
        uint32_t cp;
        size_t k = sn_utf8_next((const uint8_t *)name + i, len - i, &cp);
        if (!k) return "name is not valid UTF-8";
        i += k - 1;
    }
    return NULL;
}

/* A hash set of byte strings with an int value, for names and folders. */
typedef struct {
    uint64_t h;
    const char *s; /* NULL: empty slot */
    size_t len;
    int value;
} ar_slot;

typedef struct {
    ar_slot *slots;
    size_t n, cap;
} ar_set;

static ar_slot *ar_set_find(const ar_set *set, const char *s, size_t len, uint64_t h) {
    if (!set->cap) return NULL;
    size_t mask = set->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        ar_slot *sl = &set->slots[i];
        if (!sl->s) return sl;
        if (sl->h == h && sl->len == len && !memcmp(sl->s, s, len)) return sl;
    }
}

/* Insert s (must stay valid while the set lives); 1 if it was already there,
 * 0 if added, SONO_E_NOMEM. */
static int ar_set_put(ar_set *set, const char *s, size_t len, int value, int *old_value) {
    if ((set->n + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        ar_slot *ns = calloc(cap, sizeof *ns);
        if (!ns) return sn_fail(SONO_E_NOMEM, "archive: no memory for the name table");
        ar_set big = {ns, 0, cap};
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i].s) *ar_set_find(&big, set->slots[i].s, set->slots[i].len, set->slots[i].h) = set->slots[i];
        big.n = set->n;
        free(set->slots);
        *set = big;
    }
    uint64_t h = XXH3_64bits(s, len);
    ar_slot *sl = ar_set_find(set, s, len, h);
    if (sl->s) {
        if (old_value) *old_value = sl->value;
        return 1;
    }
    *sl = (ar_slot){h, s, len, value};
    set->n++;
    return 0;
}

static int ar_set_get(const ar_set *set, const char *s, size_t len) {
    ar_slot *sl = ar_set_find(set, s, len, XXH3_64bits(s, len));
    return sl && sl->s ? sl->value : -1;
}

/* A name may be added when it is new, is not a folder of an earlier name,
 * and no folder of it is an earlier name. names maps name -> entry index;
 * dirs holds every folder prefix. Returns 0 or SONO_E_ARG with a detail. */
static int ar_names_check(const ar_set *names, const ar_set *dirs, const char *name, size_t len) {
    int old = ar_set_get(names, name, len);
    if (old >= 0) return sn_fail(SONO_E_ARG, "duplicate name '%s' (entry %d)", name, old);
    if (ar_set_get(dirs, name, len) >= 0)
        return sn_fail(SONO_E_ARG, "name '%s' is also a folder of another entry", name);
    for (size_t i = 0; i < len; i++)
        if (name[i] == '/' && ar_set_get(names, name, i) >= 0)
            return sn_fail(SONO_E_ARG, "name '%s' puts an entry inside entry '%.*s'", name, (int)i, name);
    return 0;
}

/* Record a checked name (borrowed: it must outlive the sets). 0 or SONO_E_NOMEM. */
static int ar_names_insert(ar_set *names, ar_set *dirs, const char *name, size_t len, int index) {
    int rc = ar_set_put(names, name, len, index, NULL);
    for (size_t i = 0; i < len && rc >= 0; i++)
        if (name[i] == '/') rc = ar_set_put(dirs, name, i, 0, NULL);
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------- */
/* Shared entry table                                                        */

typedef struct {
    uint64_t offset, size, sum;
    int64_t n_samples;
    int32_t sample_rate;
    char *name; /* NUL-terminated, owned */
    size_t name_len;
} ar_entry;

static void ar_entries_free(ar_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) free(e[i].name);
    free(e);
}

/* ------------------------------------------------------------------------- */
/* Writer                                                                    */

struct sono_archive_writer {
    char *path;      /* for messages */
    sono_output *out;
    int fd;          /* sono_output_fd(out): a regular file we pwrite */
    int failed; /* sticky error code after an I/O failure */
    uint64_t off;
    ar_entry *e;
    size_t n, cap;
    ar_set names, dirs;
};

static int ar_write_all(int fd, const uint8_t *p, size_t n, uint64_t off) {
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : ENOSPC;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static void ar_header(uint8_t *h, uint64_t archive_size) {
    memset(h, 0, AR_HEADER);
    memcpy(h, AR_MAGIC, 8);
    sn_wr16(h + 8, AR_MAJOR);
    sn_wr16(h + 10, AR_MINOR);
    sn_wr32(h + 12, 0);
    sn_wr64(h + 16, archive_size);
    sn_wr64(h + 24, XXH3_64bits(h, 24));
}

static void ar_writer_free(sono_archive_writer *w) {
    free(w->path);
    ar_entries_free(w->e, w->n);
    free(w->names.slots);
    free(w->dirs.slots);
    free(w);
}

sono_archive_writer *sono_archive_create(const char *path, int *err) {
    int dummy;
    if (!err) err = &dummy;
    *err = 0;
    if (!path || !*path) {
        *err = sn_fail(SONO_E_ARG, "archive: no path");
        return NULL;
    }
    sono_archive_writer *w = calloc(1, sizeof *w);
    if (w) w->path = strdup(path);
    if (!w || !w->path) {
        if (w) ar_writer_free(w);
        *err = sn_fail(SONO_E_NOMEM, "archive: no memory");
        return NULL;
    }
    if (!(w->out = sono_output_open(path, SONO_OUTPUT_SEEK, err))) {
        ar_writer_free(w);
        return NULL;
    }
    w->fd = sono_output_fd(w->out);
    uint8_t h[AR_HEADER];
    ar_header(h, 0); /* archive_size 0 until commit: an unfinished file never opens */
    int e = ar_write_all(w->fd, h, AR_HEADER, 0);
    if (e) {
        *err = sn_fail(SONO_E_IO, "%s: cannot write: %s", w->path, strerror(e));
        sono_archive_abort(w);
        return NULL;
    }
    w->off = AR_HEADER;
    return w;
}

int sono_archive_add(sono_archive_writer *w, const char *name, const uint8_t *data, size_t n_bytes) {
    if (!w || !name || !data) return sn_fail(SONO_E_ARG, "archive: NULL argument");
    if (w->failed) return sn_fail(w->failed, "archive: %s: an earlier write failed", w->path);
    size_t len = strlen(name);
    const char *why = ar_name_problem(name, len);
    if (why) return sn_fail(SONO_E_ARG, "archive: refused entry name '%s': %s", name, why);
    if (w->n >= AR_MAX_ENTRIES) return sn_fail(SONO_E_LIMIT, "archive: too many entries");
    int rc = ar_names_check(&w->names, &w->dirs, name, len);
    if (rc) {
        sn_error_prefix("archive: refused entry");
        return rc;
    }
    tokfile_info info;
    rc = sn_tokfile_probe(data, n_bytes, &info);
    if (rc) {
        sn_error_prefix("archive: entry '%s' is not a valid token file", name);
        return rc;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        ar_entry *ne = realloc(w->e, cap * sizeof *ne);
        if (!ne) return sn_fail(SONO_E_NOMEM, "archive: no memory");
        w->e = ne;
        w->cap = cap;
    }
    ar_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return sn_fail(SONO_E_NOMEM, "archive: no memory");
    e->name_len = len;
    w->n++; /* from here the table owns e->name, which the sets borrow */
    if ((rc = ar_names_insert(&w->names, &w->dirs, e->name, len, (int)w->n - 1))) {
        w->failed = rc;
        return rc;
    }
    int ioe = ar_write_all(w->fd, data, n_bytes, w->off);
    if (ioe) {
        w->failed = SONO_E_IO;
        return sn_fail(SONO_E_IO, "%s: write failed: %s", w->path, strerror(ioe));
    }
    e->offset = w->off;
    e->size = n_bytes;
    e->sum = XXH3_64bits(data, n_bytes);
    e->n_samples = info.n_samples;
    e->sample_rate = info.sample_rate;
    w->off += n_bytes;
    return 0;
}

int sono_archive_commit(sono_archive_writer *w) {
    if (!w) return sn_fail(SONO_E_ARG, "archive: NULL writer");
    if (w->failed) {
        int rc = sn_fail(w->failed, "archive: %s: not written, an earlier write failed", w->path);
        sono_archive_abort(w);
        return rc;
    }
    /* index records */
    size_t raw_n = 0;
    for (size_t i = 0; i < w->n; i++) raw_n += AR_ENTRY_FIXED + w->e[i].name_len;
    uint8_t *raw = malloc(raw_n ? raw_n : 1);
    size_t cap = ZSTD_compressBound(raw_n);
    uint8_t *z = malloc(cap + AR_FOOTER);
    if (!raw || !z) {
        free(raw);
        free(z);
        sono_archive_abort(w);
        return sn_fail(SONO_E_NOMEM, "archive: no memory for the index");
    }
    uint8_t *p = raw;
    for (size_t i = 0; i < w->n; i++) {
        const ar_entry *e = &w->e[i];
        sn_wr64(p, e->offset);
        sn_wr64(p + 8, e->size);
        sn_wr64(p + 16, e->sum);
        sn_wr64(p + 24, (uint64_t)e->n_samples);
        sn_wr32(p + 32, (uint32_t)e->sample_rate);
        sn_wr16(p + 36, (uint16_t)e->name_len);
        memcpy(p + AR_ENTRY_FIXED, e->name, e->name_len);
        p += AR_ENTRY_FIXED + e->name_len;
    }
    size_t zn = ZSTD_compress(z, cap, raw, raw_n, raw_n <= ((size_t)1 << 20) ? 19 : 9);
    free(raw);
    if (ZSTD_isError(zn)) {
        free(z);
        sono_archive_abort(w);
        return sn_fail(SONO_E_NOMEM, "archive: zstd: %s", ZSTD_getErrorName(zn));
    }
    uint8_t *f = z + zn;
    sn_wr64(f, w->off);
    sn_wr64(f + 8, zn);
    sn_wr64(f + 16, raw_n);
    sn_wr64(f + 24, w->n);
    sn_wr64(f + 32, XXH3_64bits(z, zn));
    memcpy(f + 40, AR_FOOT_MAGIC, 8);
    sn_wr64(f + 48, XXH3_64bits(f, 48));
    uint64_t total = w->off + zn + AR_FOOTER;
    uint8_t h[AR_HEADER];
    ar_header(h, total);
    int e = ar_write_all(w->fd, z, zn + AR_FOOTER, w->off);
    free(z);
    if (!e) e = ar_write_all(w->fd, h, AR_HEADER, 0);
    if (e) {
        int rc = sn_fail(SONO_E_IO, "archive: %s: write failed: %s", w->path, strerror(e));
        sono_archive_abort(w);
        return rc;
    }
    int rc = sono_output_commit(w->out);
    if (rc) sn_error_prefix("archive");
    ar_writer_free(w);
    return rc;
}

void sono_archive_abort(sono_archive_writer *w) {
    if (!w) return;
    sono_output_abort(w->out);
    ar_writer_free(w);
}

/* ------------------------------------------------------------------------- */
/* Reader                                                                    */

struct sono_archive {
    int fd;              /* -1 when reading from memory */
    const uint8_t *mem;  /* borrowed */
    uint64_t size;
    ar_entry *e;
    int n;
    ar_set names, dirs;
    char *label;         /* path or "(memory)" for messages */
};

/* Read n bytes at off: 0, or SONO_E_TRUNCATED / SONO_E_IO. */
static int ar_read_at(const sono_archive *a, uint64_t off, uint8_t *dst, size_t n) {
    if (off > a->size || n > a->size - off)
        return sn_fail(SONO_E_TRUNCATED, "archive: %s: read of %zu bytes at %llu is past the end", a->label, n,
                         (unsigned long long)off);
    if (a->mem) {
        memcpy(dst, a->mem + off, n);
        return 0;
    }
    while (n) {
        ssize_t r = pread(a->fd, dst, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return sn_fail(SONO_E_IO, "archive: %s: read failed: %s", a->label, strerror(errno));
        if (r == 0) return sn_fail(SONO_E_TRUNCATED, "archive: %s: file shrank while reading", a->label);
        dst += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

void sono_archive_close(sono_archive *a) {
    if (!a) return;
    if (a->fd >= 0) close(a->fd);
    ar_entries_free(a->e, (size_t)a->n);
    free(a->names.slots);
    free(a->dirs.slots);
    free(a->label);
    free(a);
}

static int ar_load_index(sono_archive *a) {
    const char *L = a->label;
    uint8_t h[AR_HEADER], f[AR_FOOTER];
    if (a->size < AR_HEADER) {
        size_t k = (size_t)a->size;
        int rc = ar_read_at(a, 0, h, k);
        if (rc) return rc;
        if (k == 0 || !memcmp(h, AR_MAGIC, k < 8 ? k : 8))
            return sn_fail(SONO_E_TRUNCATED, "archive: %s: %zu bytes, shorter than the header: file is truncated", L, k);
        return sn_fail(SONO_E_FORMAT, "archive: %s: not an archive", L);
    }
    int rc = ar_read_at(a, 0, h, AR_HEADER);
    if (rc) return rc;
    if (memcmp(h, AR_MAGIC, 8)) return sn_fail(SONO_E_FORMAT, "archive: %s: bad magic, not an archive", L);
    uint64_t hs = sn_rd64(h + 24), hc = XXH3_64bits(h, 24);
    if (hs != hc)
        return sn_fail(SONO_E_CHECKSUM, "archive: %s: header checksum mismatch (stored %016llx, computed %016llx)", L,
                         (unsigned long long)hs, (unsigned long long)hc);
    int major = sn_rd16(h + 8), minor = sn_rd16(h + 10);
    if (major == 0) return sn_fail(SONO_E_FORMAT, "archive: %s: version 0.%d is not valid", L, minor);
    if (major > AR_MAJOR)
        return sn_fail(SONO_E_UNSUPPORTED, "archive: %s: version %d.%d is newer than this reader (%d.x)", L, major,
                         minor, AR_MAJOR);
    uint32_t flags = sn_rd32(h + 12);
    if (flags) return sn_fail(SONO_E_UNSUPPORTED, "archive: %s: unknown flags 0x%x", L, flags);
    uint64_t total = sn_rd64(h + 16);
    if (total == 0) return sn_fail(SONO_E_FORMAT, "archive: %s: unfinished archive (never committed)", L);
    if (total < AR_HEADER + AR_FOOTER)
        return sn_fail(SONO_E_FORMAT, "archive: %s: size %llu in the header is impossible", L, (unsigned long long)total);
    if (a->size < total)
        return sn_fail(SONO_E_TRUNCATED, "archive: %s: %llu bytes, the header says %llu: file is truncated", L,
                         (unsigned long long)a->size, (unsigned long long)total);
    if (a->size > total)
        return sn_fail(SONO_E_FORMAT, "archive: %s: %llu unexpected bytes after the end", L,
                         (unsigned long long)(a->size - total));
    if ((rc = ar_read_at(a, total - AR_FOOTER, f, AR_FOOTER))) return rc;
    if (memcmp(f + 40, AR_FOOT_MAGIC, 8)) return sn_fail(SONO_E_FORMAT, "archive: %s: footer magic missing", L);
    uint64_t fs = sn_rd64(f + 48), fc = XXH3_64bits(f, 48);
    if (fs != fc)
        return sn_fail(SONO_E_CHECKSUM, "archive: %s: footer checksum mismatch (stored %016llx, computed %016llx)", L,
                         (unsigned long long)fs, (unsigned long long)fc);
    uint64_t ioff = sn_rd64(f), isize = sn_rd64(f + 8), iraw = sn_rd64(f + 16);
    uint64_t n_entries = sn_rd64(f + 24), isum = sn_rd64(f + 32);
    if (ioff < AR_HEADER || ioff > total - AR_FOOTER || isize != total - AR_FOOTER - ioff)
        return sn_fail(SONO_E_FORMAT, "archive: %s: index at %llu (%llu bytes) does not end at the footer", L,
                         (unsigned long long)ioff, (unsigned long long)isize);
    if (iraw > AR_MAX_INDEX || n_entries > AR_MAX_ENTRIES)
        return sn_fail(SONO_E_LIMIT, "archive: %s: index of %llu bytes / %llu entries beyond limits", L,
                         (unsigned long long)iraw, (unsigned long long)n_entries);
    if (n_entries * AR_ENTRY_FIXED > iraw)
        return sn_fail(SONO_E_FORMAT, "archive: %s: %llu entries cannot fit in a %llu-byte index", L,
                         (unsigned long long)n_entries, (unsigned long long)iraw);
    if (isize > AR_MAX_INDEX) return sn_fail(SONO_E_LIMIT, "archive: %s: stored index beyond limits", L);
    uint8_t *zi = malloc(isize ? (size_t)isize : 1), *raw = malloc(iraw ? (size_t)iraw : 1);
    if (!zi || !raw) {
        free(zi);
        free(raw);
        return sn_fail(SONO_E_NOMEM, "archive: %s: no memory for the index", L);
    }
    rc = ar_read_at(a, ioff, zi, (size_t)isize);
    uint64_t ic = rc ? 0 : XXH3_64bits(zi, (size_t)isize);
    if (!rc && ic != isum)
        rc = sn_fail(SONO_E_CHECKSUM, "archive: %s: index checksum mismatch (stored %016llx, computed %016llx)", L,
                       (unsigned long long)isum, (unsigned long long)ic);
    if (!rc) {
        unsigned long long content = ZSTD_getFrameContentSize(zi, (size_t)isize);
        size_t got = content == iraw ? ZSTD_decompress(raw, (size_t)iraw, zi, (size_t)isize) : 0;
        if (content != iraw || ZSTD_isError(got) || got != iraw ||
            ZSTD_findFrameCompressedSize(zi, (size_t)isize) != isize)
            rc = sn_fail(SONO_E_FORMAT, "archive: %s: index does not decompress to %llu bytes", L,
                           (unsigned long long)iraw);
    }
    free(zi);
    if (rc) {
        free(raw);
        return rc;
    }
    a->e = calloc(n_entries ? (size_t)n_entries : 1, sizeof *a->e);
    if (!a->e) {
        free(raw);
        return sn_fail(SONO_E_NOMEM, "archive: %s: no memory for %llu entries", L, (unsigned long long)n_entries);
    }
    const uint8_t *p = raw, *end = raw + iraw;
    uint64_t expect = AR_HEADER;
    for (uint64_t i = 0; i < n_entries && !rc; i++) {
        ar_entry *e = &a->e[i];
        if ((size_t)(end - p) < AR_ENTRY_FIXED) {
            rc = sn_fail(SONO_E_FORMAT, "archive: %s: index ends inside entry %llu", L, (unsigned long long)i);
            break;
        }
        e->offset = sn_rd64(p);
        e->size = sn_rd64(p + 8);
        e->sum = sn_rd64(p + 16);
        e->n_samples = (int64_t)sn_rd64(p + 24);
        e->sample_rate = (int32_t)sn_rd32(p + 32);
        e->name_len = sn_rd16(p + 36);
        p += AR_ENTRY_FIXED;
        if ((size_t)(end - p) < e->name_len) {
            rc = sn_fail(SONO_E_FORMAT, "archive: %s: index ends inside the name of entry %llu", L,
                           (unsigned long long)i);
            break;
        }
        e->name = malloc(e->name_len + 1);
        if (!e->name) {
            rc = sn_fail(SONO_E_NOMEM, "archive: no memory");
            break;
        }
        memcpy(e->name, p, e->name_len);
        e->name[e->name_len] = 0;
        p += e->name_len;
        a->n = (int)i + 1;
        const char *why = ar_name_problem(e->name, e->name_len);
        if (why) {
            rc = sn_fail(SONO_E_FORMAT, "archive: %s: entry %llu has an unsafe name: %s", L, (unsigned long long)i, why);
            break;
        }
        if (e->offset != expect || e->size == 0 || e->size > ioff - expect) {
            rc = sn_fail(SONO_E_FORMAT, "archive: %s: entry %llu '%s' at %llu (%llu bytes) is not where the "
                           "previous one ends (%llu) or runs into the index", L, (unsigned long long)i, e->name,
                           (unsigned long long)e->offset, (unsigned long long)e->size, (unsigned long long)expect);
            break;
        }
        expect += e->size;
        if (ar_names_check(&a->names, &a->dirs, e->name, e->name_len)) {
            sn_error_prefix("archive: %s: index", L);
            rc = SONO_E_FORMAT;
            break;
        }
        rc = ar_names_insert(&a->names, &a->dirs, e->name, e->name_len, (int)i);
    }
    if (!rc && p != end)
        rc = sn_fail(SONO_E_FORMAT, "archive: %s: %zu unexpected bytes at the end of the index", L, (size_t)(end - p));
    if (!rc && expect != ioff)
        rc = sn_fail(SONO_E_FORMAT, "archive: %s: %llu bytes between the last entry and the index", L,
                       (unsigned long long)(ioff - expect));
    free(raw);
    return rc;
}

static sono_archive *ar_open_common(sono_archive *a, int *err) {
    int rc = ar_load_index(a);
    if (rc) {
        sono_archive_close(a);
        a = NULL;
    }
    if (err) *err = rc;
    return a;
}

sono_archive *sono_archive_open(const char *path, int *err) {
    if (err) *err = 0;
    if (!path) {
        int rc = sn_fail(SONO_E_ARG, "archive: no path");
        if (err) *err = rc;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        int rc = sn_fail(e == ENOENT ? SONO_E_NOT_FOUND : SONO_E_IO, "archive: %s: %s", path, strerror(e));
        if (err) *err = rc;
        return NULL;
    }
    struct stat st;
    sono_archive *a = calloc(1, sizeof *a);
    char *label = strdup(path);
    if (!a || !label || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        int rc = !a || !label ? sn_fail(SONO_E_NOMEM, "archive: no memory")
                              : sn_fail(SONO_E_IO, "archive: %s: not a regular file", path);
        free(a);
        free(label);
        close(fd);
        if (err) *err = rc;
        return NULL;
    }
    a->fd = fd;
    a->size = (uint64_t)st.st_size;
    a->label = label;
    return ar_open_common(a, err);
}

sono_archive *sn_archive_open_mem(const uint8_t *buf, size_t n_bytes, int *err) {
    sono_archive *a = calloc(1, sizeof *a);
    char *label = strdup("(memory)");
    if (!a || !label || (!buf && n_bytes)) {
        int rc = !a || !label ? sn_fail(SONO_E_NOMEM, "archive: no memory") : sn_fail(SONO_E_ARG, "archive: NULL buffer");
        free(a);
        free(label);
        if (err) *err = rc;
        return NULL;
    }
    static const uint8_t none[1] = {0};
    a->fd = -1;
    a->mem = buf ? buf : none;
    a->size = n_bytes;
    a->label = label;
    return ar_open_common(a, err);
}

int sono_archive_count(const sono_archive *a) { return a ? a->n : 0; }

const char *sono_archive_name(const sono_archive *a, int i) {
    return a && i >= 0 && i < a->n ? a->e[i].name : NULL;
}

uint64_t sono_archive_size(const sono_archive *a, int i) {
    return a && i >= 0 && i < a->n ? a->e[i].size : 0;
}

int sn_archive_entry_info(const sono_archive *a, int i, int64_t *n_samples, int32_t *sample_rate) {
    if (!a || i < 0 || i >= a->n) return sn_fail(SONO_E_ARG, "archive: no entry %d", i);
    if (n_samples) *n_samples = a->e[i].n_samples;
    if (sample_rate) *sample_rate = a->e[i].sample_rate;
    return 0;
}

int sono_archive_find(const sono_archive *a, const char *name) {
    if (!a || !name) return sn_fail(SONO_E_ARG, "archive: NULL argument");
    int i = ar_set_get(&a->names, name, strlen(name));
    return i >= 0 ? i : sn_fail(SONO_E_NOT_FOUND, "archive: %s: no entry '%s'", a->label, name);
}

int sono_archive_read(sono_archive *a, int i, uint8_t **data, size_t *n_bytes) {
    if (!a || !data || !n_bytes) return sn_fail(SONO_E_ARG, "archive: NULL argument");
    *data = NULL;
    *n_bytes = 0;
    if (i < 0 || i >= a->n) return sn_fail(SONO_E_ARG, "archive: %s: no entry %d (of %d)", a->label, i, a->n);
    const ar_entry *e = &a->e[i];
    if (e->size > SONO_MAX_ALLOC)
        return sn_fail(SONO_E_LIMIT, "archive: %s: entry '%s' of %llu bytes is beyond the limit", a->label, e->name,
                         (unsigned long long)e->size);
    uint8_t *b = malloc((size_t)e->size);
    if (!b) return sn_fail(SONO_E_NOMEM, "archive: no memory for %llu bytes", (unsigned long long)e->size);
    int rc = ar_read_at(a, e->offset, b, (size_t)e->size);
    if (rc) {
        free(b);
        return rc;
    }
    uint64_t c = XXH3_64bits(b, (size_t)e->size);
    if (c != e->sum) {
        free(b);
        return sn_fail(SONO_E_CHECKSUM, "archive: %s: entry %d '%s' is damaged (checksum %016llx, index says %016llx)",
                         a->label, i, e->name, (unsigned long long)c, (unsigned long long)e->sum);
    }
    *data = b;
    *n_bytes = (size_t)e->size;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Merge                                                                     */

typedef struct {
    const char *name;
    int input, index;
} ar_ref;

static int ar_ref_cmp(const void *x, const void *y) {
    const ar_ref *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    if (c) return c;
    return a->input != b->input ? (a->input < b->input ? -1 : 1) : (a->index < b->index ? -1 : a->index > b->index);
}

int sono_archive_merge(const char *out_path, const char *const *inputs, int n_inputs) {
    if (!out_path || (!inputs && n_inputs)) return sn_fail(SONO_E_ARG, "archive merge: NULL argument");
    if (n_inputs <= 0) return sn_fail(SONO_E_EMPTY, "archive merge: no input archives");
    sono_archive **in = calloc((size_t)n_inputs, sizeof *in);
    if (!in) return sn_fail(SONO_E_NOMEM, "archive merge: no memory");
    int rc = 0;
    size_t total = 0;
    for (int k = 0; k < n_inputs && !rc; k++) {
        in[k] = sono_archive_open(inputs[k], &rc);
        if (in[k]) total += (size_t)in[k]->n;
    }
    ar_ref *refs = rc ? NULL : malloc((total ? total : 1) * sizeof *refs);
    if (!rc && !refs) rc = sn_fail(SONO_E_NOMEM, "archive merge: no memory");
    size_t nr = 0;
    for (int k = 0; !rc && k < n_inputs; k++)
        for (int i = 0; i < in[k]->n; i++) refs[nr++] = (ar_ref){in[k]->e[i].name, k, i};
    if (!rc) qsort(refs, nr, sizeof *refs, ar_ref_cmp);
    /* Refuse conflicting duplicates before writing anything. */
    for (size_t r = 1; !rc && r < nr; r++) {
        if (strcmp(refs[r].name, refs[r - 1].name)) continue;
        const ar_entry *x = &in[refs[r - 1].input]->e[refs[r - 1].index], *y = &in[refs[r].input]->e[refs[r].index];
        if (x->size != y->size || x->sum != y->sum)
            rc = sn_fail(SONO_E_ARG, "archive merge: entry '%s' differs between %s and %s", refs[r].name,
                           inputs[refs[r - 1].input], inputs[refs[r].input]);
    }
    sono_archive_writer *w = rc ? NULL : sono_archive_create(out_path, &rc);
    uint8_t *keep = NULL;
    size_t keep_n = 0;
    for (size_t r = 0; w && !rc && r < nr; r++) {
        uint8_t *d;
        size_t dn;
        rc = sono_archive_read(in[refs[r].input], refs[r].index, &d, &dn);
        if (rc) break;
        if (r > 0 && !strcmp(refs[r].name, refs[r - 1].name)) {
            if (dn != keep_n || memcmp(d, keep, dn))
                rc = sn_fail(SONO_E_ARG, "archive merge: entry '%s' differs between %s and %s", refs[r].name,
                               inputs[refs[r - 1].input], inputs[refs[r].input]);
            free(d);
            continue;
        }
        rc = sono_archive_add(w, refs[r].name, d, dn);
        free(keep);
        keep = d;
        keep_n = dn;
    }
    free(keep);
    free(refs);
    for (int k = 0; k < n_inputs; k++) sono_archive_close(in[k]);
    free(in);
    if (!w) return rc;
    if (rc) {
        sono_archive_abort(w);
        return rc;
    }
    return sono_archive_commit(w);
}
