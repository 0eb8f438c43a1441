/* Tensor sets and what the weight loaders share: each set is one allocation
 * laid out from a size table (header, tensor table, names, metadata, then the
 * float data 64-byte aligned), dtype conversion to float32, half-precision
 * conversion, and whole-file reading. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tensorset.h"
#include "sono_internal.h"
#include "tensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensors.c assumes a little-endian host"
#endif

#define DATA_ALIGN 64

/* The block starts with this header; ts->storage points at it, so freeing
 * the set is one free(). */
typedef struct {
    sono_tensors ts;
    size_t cap;                 /* tensor slots */
    char *names, *names_end;    /* next free name byte, end of the name area */
    float *floats, *floats_end; /* next free float, end of the data area */
    char *meta;
    size_t meta_bytes;
} tset_block;

/* ---- dtypes ---- */

static const struct { size_t size; const char *name; } dtypes[TD_COUNT] = {
    [TD_F32] = {4, "float32"}, [TD_F64] = {8, "float64"}, [TD_F16] = {2, "float16"},
    [TD_BF16] = {2, "bfloat16"}, [TD_I64] = {8, "int64"}, [TD_I32] = {4, "int32"},
    [TD_I16] = {2, "int16"}, [TD_I8] = {1, "int8"}, [TD_U8] = {1, "uint8"}, [TD_BOOL] = {1, "bool"},
    [TD_U16] = {2, "uint16"}, [TD_U32] = {4, "uint32"}, [TD_U64] = {8, "uint64"},
};

size_t sn_tdtype_size(int dt) { return dt >= 0 && dt < TD_COUNT ? dtypes[dt].size : 0; }
const char *sn_tdtype_name(int dt) { return dt >= 0 && dt < TD_COUNT ? dtypes[dt].name : "?"; }

float sn_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
    float f;
    if (e == 0) {
        f = (float)m * (1.0f / 16777216.0f); /* zero or subnormal: m * 2^-24, exact */
        memcpy(&x, &f, 4);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13); /* inf, nan (payload kept) */
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    memcpy(&f, &x, 4);
    return f;
}

uint16_t sn_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or nan; nan stays quiet nan */
        return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 | ((a >> 13) & 0x3ff) : 0));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                  /* below 2^-14: half subnormal */
        if (a <= 0x33000000u) return sign;                  /* <= 2^-25 rounds to zero (tie to even) */
        uint32_t m = (a & 0x7fffff) | 0x800000, shift = 126 - (a >> 23); /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = a - (112u << 23); /* rebias exponent 127 -> 15 */
    uint32_t h = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry into the exponent is correct */
    return (uint16_t)(sign | h);
}

#define LD(T, p) (memcpy(&v_##T, (p), sizeof v_##T), v_##T)
#define CONVERT_LOOP(T, expr)                                                      \
    do {                                                                           \
        T v_##T;                                                                   \
        const size_t step = stride * sizeof(T);                                    \
        for (size_t i = 0; i < count; i++, src += step) dst[i] = (float)(expr);    \
    } while (0)

void sn_tdtype_convert(float *dst, const uint8_t *src, int dt, size_t count, size_t stride) {
    switch (dt) {
    case TD_F32:
        if (stride == 1) memcpy(dst, src, count * sizeof(float));
        else CONVERT_LOOP(float, LD(float, src));
        break;
    case TD_F64: CONVERT_LOOP(double, LD(double, src)); break;
    case TD_F16: CONVERT_LOOP(uint16_t, sn_half_to_float(LD(uint16_t, src))); break;
    case TD_BF16: {
        uint32_t bits;
        float f;
        CONVERT_LOOP(uint16_t, (bits = (uint32_t)LD(uint16_t, src) << 16, memcpy(&f, &bits, 4), f));
        break;
    }
    case TD_I64: CONVERT_LOOP(int64_t, LD(int64_t, src)); break;
    case TD_I32: CONVERT_LOOP(int32_t, LD(int32_t, src)); break;
    case TD_I16: CONVERT_LOOP(int16_t, LD(int16_t, src)); break;
    case TD_I8: CONVERT_LOOP(int8_t, LD(int8_t, src)); break;
    case TD_U8: CONVERT_LOOP(uint8_t, LD(uint8_t, src)); break;
    case TD_BOOL: CONVERT_LOOP(uint8_t, LD(uint8_t, src) != 0); break;
    case TD_U16: CONVERT_LOOP(uint16_t, LD(uint16_t, src)); break;
    case TD_U32: CONVERT_LOOP(uint32_t, LD(uint32_t, src)); break;
    case TD_U64: CONVERT_LOOP(uint64_t, LD(uint64_t, src)); break;
    default: memset(dst, 0, count * sizeof(float)); break;
    }
}

/* ---- builder ---- */

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* Block size for sz, or 0 when it passes the limit or overflows. */
static size_t block_bytes(const tset_sizes *sz) {
    size_t limit = sz->limit ? sz->limit : SONO_MAX_ALLOC, tab, data, total;
    if (!sn_mul_ok(sz->n_tensors, sizeof(sono_tensor), &tab) || !sn_mul_ok(sz->n_floats, sizeof(float), &data))
        return 0;
    total = sizeof(tset_block);
    size_t parts[] = {tab, sz->name_bytes, sz->meta_bytes, DATA_ALIGN, data};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i] > limit || total > limit - parts[i]) return 0;
        total += parts[i];
    }
    return total;
}

int sn_tset_count(tset_sizes *sz, size_t name_len, uint64_t numel) {
    size_t limit = sz->limit ? sz->limit : SONO_MAX_ALLOC;
    if (numel > limit / sizeof(float) || name_len >= limit || sz->n_floats > limit / sizeof(float) - numel ||
        sz->name_bytes > limit - name_len - 1 || sz->n_tensors >= limit / sizeof(sono_tensor))
        return sn_fail(SONO_E_LIMIT, "tensors: set beyond %zu bytes (tensor of %llu elements)", limit,
                         (unsigned long long)numel);
    sz->n_tensors++;
    sz->name_bytes += name_len + 1;
    sz->n_floats += (size_t)numel;
    if (!block_bytes(sz))
        return sn_fail(SONO_E_LIMIT, "tensors: set of %zu tensors, %zu floats is beyond %zu bytes", sz->n_tensors,
                         sz->n_floats, limit);
    return 0;
}

int sn_tset_alloc(sono_tensors **out, const tset_sizes *sz) {
    *out = NULL;
    size_t total = block_bytes(sz);
    if (!total) return sn_fail(SONO_E_LIMIT, "tensors: set of %zu floats is beyond the allocation limit", sz->n_floats);
    /* every loader writes all the float data; zero only the tables before it */
    char *mem = sn_alloc_big(total, 0);
    if (!mem) return sn_fail(SONO_E_NOMEM, "tensors: cannot allocate %zu bytes", total);
    memset(mem, 0, total - sz->n_floats * sizeof(float));
    tset_block *b = (tset_block *)mem;
    size_t off = sizeof(tset_block);
    b->ts.t = (sono_tensor *)(mem + off);
    off += sz->n_tensors * sizeof(sono_tensor);
    b->names = mem + off;
    off += sz->name_bytes;
    b->names_end = mem + off;
    b->meta = sz->meta_bytes ? mem + off : NULL;
    b->meta_bytes = sz->meta_bytes;
    off += sz->meta_bytes;
    /* align the data by address; DATA_ALIGN bytes were reserved for this */
    size_t pad = align_up((size_t)(uintptr_t)(mem + off), DATA_ALIGN) - (size_t)(uintptr_t)(mem + off);
    b->floats = (float *)(void *)(mem + off + pad);
    b->floats_end = b->floats + sz->n_floats;
    b->cap = sz->n_tensors;
    b->ts.n = 0;
    b->ts.storage = b;
    *out = &b->ts;
    return 0;
}

float *sn_tset_add(sono_tensors *ts, const char *name, size_t name_len, int ndim, const int64_t *shape) {
    tset_block *b = ts->storage;
    if ((size_t)ts->n >= b->cap || ndim < 0 || ndim > SONO_MAX_DIMS || (size_t)(b->names_end - b->names) < name_len + 1)
        return NULL;
    size_t numel = 1;
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0 || !sn_mul_ok(numel, (size_t)shape[d], &numel)) return NULL;
    if ((size_t)(b->floats_end - b->floats) < numel) return NULL;
    sono_tensor *t = &ts->t[ts->n++];
    memcpy(b->names, name, name_len);
    b->names[name_len] = 0;
    t->name = b->names;
    b->names += name_len + 1;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->numel = (int64_t)numel;
    t->data = b->floats;
    b->floats += numel;
    return t->data;
}

char *sn_tset_meta(sono_tensors *ts) {
    tset_block *b = ts->storage;
    ts->metadata = b->meta;
    return b->meta;
}

/* ---- public ---- */

/* data may be NULL (or data[i] NULL): those tensors are zero-filled. */
int sn_tensors_create(sono_tensors **out, int n, const char *const *names, const int *ndims,
                        const int64_t (*shapes)[SONO_MAX_DIMS], const float *const *data) {
    if (!out) return sn_fail(SONO_E_ARG, "tensors_create: out is NULL");
    *out = NULL;
    if (n < 0 || (n > 0 && (!names || !ndims || !shapes)))
        return sn_fail(SONO_E_ARG, "tensors_create: bad arguments (n = %d)", n);
    tset_sizes sz = {0};
    int rc;
    for (int i = 0; i < n; i++) {
        if (!names[i]) return sn_fail(SONO_E_ARG, "tensors_create: name %d is NULL", i);
        if (ndims[i] < 0 || ndims[i] > SONO_MAX_DIMS)
            return sn_fail(SONO_E_ARG, "tensors_create: tensor '%s' has %d dims", names[i], ndims[i]);
        uint64_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) {
            int64_t s = shapes[i][d];
            if (s < 0) return sn_fail(SONO_E_ARG, "tensors_create: tensor '%s' has a negative dim", names[i]);
            if (s && numel > UINT64_MAX / (uint64_t)s)
                return sn_fail(SONO_E_LIMIT, "tensors_create: tensor '%s' is too large", names[i]);
            numel *= (uint64_t)s;
        }
        if ((rc = sn_tset_count(&sz, strlen(names[i]), numel)) < 0) return rc;
    }
    sono_tensors *ts;
    if ((rc = sn_tset_alloc(&ts, &sz)) < 0) return rc;
    for (int i = 0; i < n; i++) {
        float *dst = sn_tset_add(ts, names[i], strlen(names[i]), ndims[i], shapes[i]);
        if (!ts->t[i].numel) continue;
        if (data && data[i]) memcpy(dst, data[i], (size_t)ts->t[i].numel * sizeof(float));
        else memset(dst, 0, (size_t)ts->t[i].numel * sizeof(float));
    }
    *out = ts;
    return 0;
}

const sono_tensor *sn_tensors_find(const sono_tensors *ts, const char *name) {
    if (!ts || !name) return NULL;
    for (int i = 0; i < ts->n; i++)
        if (!strcmp(ts->t[i].name, name)) return &ts->t[i];
    return NULL;
}

void sn_tensors_free(sono_tensors *ts) {
    if (ts) free(ts->storage);
}

int sn_map_file(const char *path, size_t limit, const uint8_t **buf, size_t *n, int *mapped) {
    *buf = NULL;
    *n = 0;
    *mapped = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uint64_t)st.st_size > (uint64_t)limit) {
            close(fd);
            return sn_fail(SONO_E_LIMIT, "%s is %lld bytes, more than the %zu allowed", path, (long long)st.st_size, limit);
        }
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p != MAP_FAILED) {
            madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL | MADV_WILLNEED);
            *buf = p;
            *n = (size_t)st.st_size;
            *mapped = 1;
            return 0;
        }
    } else if (fd >= 0) {
        close(fd);
    }
    uint8_t *b;
    int rc = sn_read_file(path, limit, &b, n);
    if (!rc) *buf = b;
    return rc;
}

void sn_unmap_file(const uint8_t *buf, size_t n, int mapped) {
    if (!buf) return;
    if (mapped) munmap((void *)buf, n);
    else free((void *)buf);
}

int sn_read_file(const char *path, size_t limit, uint8_t **buf, size_t *n) {
    if (!path || !buf || !n) return sn_fail(SONO_E_ARG, "read_file: NULL argument");
    *buf = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return sn_fail(e == ENOENT || e == ENOTDIR ? SONO_E_NOT_FOUND : SONO_E_IO, "cannot open %s: %s", path,
                         strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st)) {
        int e = errno;
        fclose(f);
        return sn_fail(SONO_E_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return sn_fail(SONO_E_IO, "%s is a directory", path);
    }
    /* regular files: one read of the known size; pipes and the like grow as they go */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, len = 0;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > (uint64_t)limit) {
        fclose(f);
        return sn_fail(SONO_E_LIMIT, "%s is %lld bytes, more than the %zu allowed", path, (long long)st.st_size, limit);
    }
    uint8_t *b = malloc(cap);
    if (!b) {
        fclose(f);
        return sn_fail(SONO_E_NOMEM, "cannot allocate %zu bytes for %s", cap, path);
    }
    for (;;) {
        size_t got = fread(b + len, 1, cap - 1 - len, f);
        len += got;
        if (len > limit) {
            free(b);
            fclose(f);
            return sn_fail(SONO_E_LIMIT, "%s is more than the %zu bytes allowed", path, limit);
        }
        if (len < cap - 1) {
            if (ferror(f)) {
                int e = errno;
                free(b);
                fclose(f);
                return sn_fail(SONO_E_IO, "cannot read %s: %s", path, strerror(e));
            }
            break; /* end of file */
        }
        int c = fgetc(f); /* buffer full: at the end, or did the file grow? */
        if (c == EOF) {
            if (ferror(f)) {
                int e = errno;
                free(b);
                fclose(f);
                return sn_fail(SONO_E_IO, "cannot read %s: %s", path, strerror(e));
            }
            break;
        }
        size_t ncap = cap < SIZE_MAX / 2 ? cap * 2 : SIZE_MAX;
        uint8_t *nb = ncap > cap ? realloc(b, ncap) : NULL;
        if (!nb) {
            free(b);
            fclose(f);
            return sn_fail(SONO_E_NOMEM, "cannot grow the buffer for %s", path);
        }
        b = nb;
        cap = ncap;
        b[len++] = (uint8_t)c;
        if (len > limit) {
            free(b);
            fclose(f);
            return sn_fail(SONO_E_LIMIT, "%s is more than the %zu bytes allowed", path, limit);
        }
    }
    fclose(f);
    b[len] = 0;
    *buf = b;
    *n = len;
    return 0;
}
