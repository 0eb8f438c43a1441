/* NumPy .npy code arrays: write version 1.0 '<i8' C-order [n_q, n_frames];
 * read versions 1.0, 2.0 and 3.0 of any integer dtype, either byte order,
 * C or Fortran order, 2-D only, with every code range-checked. The accepted
 * header grammar is in codec/FORMATS.md ("NumPy arrays"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonotok/tokens.h"
#include "sono_internal.h"
#include "tokdata.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER ((size_t)1 << 20)
#define NPY_MAX_NQ 1024
#define NPY_MAX_FRAMES ((uint64_t)1 << 32)

/* ---- writing ---- */

int sono_npy_encode(const int32_t *codes, int n_q, int64_t n_frames, uint8_t **buf, size_t *n_bytes) {
    if (!buf || !n_bytes) return sn_fail(SONO_E_ARG, "npy: NULL output");
    *buf = NULL;
    *n_bytes = 0;
    if (!codes) return sn_fail(SONO_E_ARG, "npy: NULL codes");
    if (n_q <= 0 || n_frames < 0) return sn_fail(SONO_E_ARG, "npy: shape [%d, %lld] is invalid", n_q, (long long)n_frames);
    if (n_frames == 0) return sn_fail(SONO_E_EMPTY, "npy: no frames to write");
    if (n_q > NPY_MAX_NQ || (uint64_t)n_frames > NPY_MAX_FRAMES)
        return sn_fail(SONO_E_LIMIT, "npy: shape [%d, %lld] beyond limits [%d, 2^32]", n_q, (long long)n_frames,
                         NPY_MAX_NQ);
    size_t n_codes, data_n;
    if (!sn_mul_ok((size_t)n_q, (size_t)n_frames, &n_codes) || !sn_mul_ok(n_codes, 8, &data_n))
        return sn_fail(SONO_E_LIMIT, "npy: array too large");
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<i8', 'fortran_order': False, 'shape': (%d, %lld), }", n_q,
                      (long long)n_frames);
    /* Pad with spaces and a final newline so the data starts on a 64-byte boundary. */
    size_t hlen = (size_t)dl + 1;
    hlen += (64 - (10 + hlen) % 64) % 64;
    size_t total = 10 + hlen + data_n;
    uint8_t *b = malloc(total);
    if (!b) return sn_fail(SONO_E_NOMEM, "npy: no memory for %zu bytes", total);
    memcpy(b, NPY_MAGIC, NPY_MAGIC_LEN);
    b[6] = 1;
    b[7] = 0;
    tokdata_wr16(b + 8, (uint16_t)hlen);
    memcpy(b + 10, dict, (size_t)dl);
    memset(b + 10 + dl, ' ', hlen - (size_t)dl - 1);
    b[10 + hlen - 1] = '\n';
    uint8_t *d = b + 10 + hlen;
    for (size_t i = 0; i < n_codes; i++) tokdata_wr64(d + 8 * i, (uint64_t)(int64_t)codes[i]);
    *buf = b;
    *n_bytes = total;
    return 0;
}

int sono_npy_save(const char *path, const int32_t *codes, int n_q, int64_t n_frames) {
    uint8_t *buf;
    size_t n;
    int rc = sono_npy_encode(codes, n_q, n_frames, &buf, &n);
    if (rc) return rc;
    rc = sn_tokdata_write_atomic(path, buf, n);
    free(buf);
    return rc;
}

/* ---- header parsing ---- */

typedef struct {
    const char *s;
    size_t pos, n;
} npy_lex;

static void lex_ws(npy_lex *l) {
    while (l->pos < l->n && (l->s[l->pos] == ' ' || l->s[l->pos] == '\t' || l->s[l->pos] == '\n' ||
                             l->s[l->pos] == '\r'))
        l->pos++;
}

static int lex_peek(npy_lex *l) {
    lex_ws(l);
    return l->pos < l->n ? (unsigned char)l->s[l->pos] : -1;
}

static int lex_eat(npy_lex *l, char c) {
    if (lex_peek(l) != (unsigned char)c) return 0;
    l->pos++;
    return 1;
}

/* A quoted Python string without escapes, copied into out (NUL-terminated). */
static int lex_string(npy_lex *l, char *out, size_t cap) {
    int q = lex_peek(l);
    if (q != '\'' && q != '"') return sn_fail(SONO_E_FORMAT, "npy: header: expected a string at offset %zu", l->pos);
    size_t start = ++l->pos;
    while (l->pos < l->n && l->s[l->pos] != q) {
        if (l->s[l->pos] == '\\') return sn_fail(SONO_E_FORMAT, "npy: header: escapes in strings are not supported");
        l->pos++;
    }
    if (l->pos >= l->n) return sn_fail(SONO_E_FORMAT, "npy: header: unterminated string");
    size_t len = l->pos - start;
    l->pos++;
    if (len >= cap) return sn_fail(SONO_E_FORMAT, "npy: header: string of %zu bytes is too long", len);
    memcpy(out, l->s + start, len);
    out[len] = 0;
    return 0;
}

static int lex_word(npy_lex *l, const char *w) {
    size_t k = strlen(w);
    lex_ws(l);
    if (l->n - l->pos < k || memcmp(l->s + l->pos, w, k)) return 0;
    l->pos += k;
    return 1;
}

/* (d0, d1, ...) with an optional trailing comma and Python 2 'L' suffixes. */
static int lex_shape(npy_lex *l, uint64_t *dims, int *ndim) {
    if (!lex_eat(l, '(')) return sn_fail(SONO_E_FORMAT, "npy: header: shape is not a tuple");
    *ndim = 0;
    for (;;) {
        if (lex_eat(l, ')')) return 0;
        int c = lex_peek(l);
        if (c < '0' || c > '9') return sn_fail(SONO_E_FORMAT, "npy: header: bad number in shape");
        uint64_t v = 0;
        while (l->pos < l->n && l->s[l->pos] >= '0' && l->s[l->pos] <= '9') {
            int d = l->s[l->pos++] - '0';
            if (v > (UINT64_MAX - (uint64_t)d) / 10) return sn_fail(SONO_E_LIMIT, "npy: header: shape too large");
            v = v * 10 + (uint64_t)d;
        }
        if (l->pos < l->n && l->s[l->pos] == 'L') l->pos++;
        if (*ndim >= 32) return sn_fail(SONO_E_FORMAT, "npy: header: more than 32 dimensions");
        dims[(*ndim)++] = v;
        if (lex_eat(l, ',')) continue;
        if (lex_eat(l, ')')) return 0;
        return sn_fail(SONO_E_FORMAT, "npy: header: bad shape tuple");
    }
}

typedef struct {
    int is_signed, size, swap;
    int fortran;
    uint64_t dims[32];
    int ndim;
} npy_header;

static int host_little(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static int parse_descr(const char *d, npy_header *h) {
    size_t n = strlen(d);
    char order = n ? d[0] : 0;
    char kind = n > 1 ? d[1] : 0;
    int size = 0;
    for (size_t i = 2; i < n && i < 6; i++) {
        if (d[i] < '0' || d[i] > '9') { size = -1; break; }
        size = size * 10 + (d[i] - '0');
    }
    if ((order != '<' && order != '>' && order != '|' && order != '=') || n < 3 || n > 5 || size <= 0 ||
        (kind != 'i' && kind != 'u'))
        return sn_fail(SONO_E_FORMAT, "npy: dtype %s, expected an integer array", d);
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return sn_fail(SONO_E_FORMAT, "npy: dtype %s has an unsupported integer size", d);
    if (order == '|' && size != 1) return sn_fail(SONO_E_FORMAT, "npy: dtype %s has no byte order", d);
    int little = order == '<' || (order == '=' && host_little()) || order == '|';
    h->is_signed = kind == 'i';
    h->size = size;
    h->swap = !little; /* values are assembled from bytes, so only file order matters */
    return 0;
}

static int parse_header(const char *s, size_t n, npy_header *h) {
    npy_lex l = {s, 0, n};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (!lex_eat(&l, '{')) return sn_fail(SONO_E_FORMAT, "npy: header is not a Python dict");
    for (;;) {
        if (lex_eat(&l, '}')) break;
        char key[32];
        int rc = lex_string(&l, key, sizeof key);
        if (rc) return rc;
        if (!lex_eat(&l, ':')) return sn_fail(SONO_E_FORMAT, "npy: header: expected ':' after '%s'", key);
        if (!strcmp(key, "descr")) {
            if (have_descr++) return sn_fail(SONO_E_FORMAT, "npy: header: duplicate key 'descr'");
            if (lex_peek(&l) == '[')
                return sn_fail(SONO_E_FORMAT, "npy: structured dtype, expected an integer array");
            char d[64];
            if ((rc = lex_string(&l, d, sizeof d)) || (rc = parse_descr(d, h))) return rc;
        } else if (!strcmp(key, "fortran_order")) {
            if (have_fortran++) return sn_fail(SONO_E_FORMAT, "npy: header: duplicate key 'fortran_order'");
            if (lex_word(&l, "True")) h->fortran = 1;
            else if (lex_word(&l, "False")) h->fortran = 0;
            else return sn_fail(SONO_E_FORMAT, "npy: header: fortran_order is not True or False");
        } else if (!strcmp(key, "shape")) {
            if (have_shape++) return sn_fail(SONO_E_FORMAT, "npy: header: duplicate key 'shape'");
            if ((rc = lex_shape(&l, h->dims, &h->ndim))) return rc;
        } else {
            return sn_fail(SONO_E_FORMAT, "npy: header: unexpected key '%s'", key);
        }
        if (lex_eat(&l, ',')) continue;
        if (lex_eat(&l, '}')) break;
        return sn_fail(SONO_E_FORMAT, "npy: header: expected ',' or '}' at offset %zu", l.pos);
    }
    lex_ws(&l);
    /* NumPy pads with spaces and a newline; some writers pad with NULs. */
    while (l.pos < l.n && l.s[l.pos] == 0) l.pos++;
    if (l.pos != l.n) return sn_fail(SONO_E_FORMAT, "npy: header: unexpected text after the dict");
    if (!have_descr || !have_fortran || !have_shape)
        return sn_fail(SONO_E_FORMAT, "npy: header lacks '%s'", !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    return 0;
}

/* ---- reading ---- */

int sono_npy_decode(const uint8_t *buf, size_t n_bytes, int codebook_size, int32_t **codes, int *n_q,
                    int64_t *n_frames) {
    if (!codes || !n_q || !n_frames) return sn_fail(SONO_E_ARG, "npy: NULL output");
    *codes = NULL;
    *n_q = 0;
    *n_frames = 0;
    if (!buf && n_bytes) return sn_fail(SONO_E_ARG, "npy: NULL buffer");
    if (n_bytes < NPY_MAGIC_LEN) {
        if (n_bytes == 0 || !memcmp(buf, NPY_MAGIC, n_bytes))
            return sn_fail(SONO_E_TRUNCATED, "npy: %zu bytes, file is truncated", n_bytes);
        return sn_fail(SONO_E_FORMAT, "npy: not a NumPy file");
    }
    if (memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN)) return sn_fail(SONO_E_FORMAT, "npy: bad magic, not a NumPy file");
    if (n_bytes < 8) return sn_fail(SONO_E_TRUNCATED, "npy: %zu bytes, file is truncated in the preamble", n_bytes);
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return sn_fail(major == 0 ? SONO_E_FORMAT : SONO_E_UNSUPPORTED,
                         "npy: version %d.%d is not supported (1.0, 2.0, 3.0)", major, minor);
    size_t lenbytes = major == 1 ? 2 : 4, off = 8 + lenbytes;
    if (n_bytes < off) return sn_fail(SONO_E_TRUNCATED, "npy: %zu bytes, file is truncated in the preamble", n_bytes);
    size_t hlen = major == 1 ? tokdata_rd16(buf + 8) : tokdata_rd32(buf + 8);
    if (hlen > NPY_MAX_HEADER) return sn_fail(SONO_E_LIMIT, "npy: header of %zu bytes is beyond the limit", hlen);
    if (n_bytes - off < hlen)
        return sn_fail(SONO_E_TRUNCATED, "npy: %zu bytes, header needs %zu: file is truncated", n_bytes, off + hlen);
    npy_header h;
    memset(&h, 0, sizeof h);
    int rc = parse_header((const char *)buf + off, hlen, &h);
    if (rc) return rc;
    off += hlen;
    if (h.ndim != 2) {
        char shape[64] = "(";
        for (int i = 0; i < h.ndim && i < 4; i++) {
            size_t k = strlen(shape);
            snprintf(shape + k, sizeof shape - k, "%s%llu", i ? ", " : "", (unsigned long long)h.dims[i]);
        }
        strcat(shape, h.ndim == 1 ? ",)" : h.ndim > 4 ? ", ...)" : ")");
        return sn_fail(SONO_E_FORMAT, "npy: shape %s is %d-D, expected a 2-D array [n_q, n_frames]", shape, h.ndim);
    }
    if (h.dims[0] == 0 || h.dims[1] == 0)
        return sn_fail(SONO_E_EMPTY, "npy: shape (%llu, %llu) is empty", (unsigned long long)h.dims[0],
                         (unsigned long long)h.dims[1]);
    if (h.dims[0] > NPY_MAX_NQ || h.dims[1] > NPY_MAX_FRAMES)
        return sn_fail(SONO_E_LIMIT, "npy: shape (%llu, %llu) beyond limits (%d, 2^32)", (unsigned long long)h.dims[0],
                         (unsigned long long)h.dims[1], NPY_MAX_NQ);
    size_t Q = (size_t)h.dims[0], F = (size_t)h.dims[1], n_codes, data_n;
    if (!sn_mul_ok(Q, F, &n_codes) || !sn_mul_ok(n_codes, (size_t)h.size, &data_n) ||
        n_codes > SONO_MAX_ALLOC / sizeof(int32_t))
        return sn_fail(SONO_E_LIMIT, "npy: array of %zu x %zu beyond the memory limit", Q, F);
    if (n_bytes - off < data_n)
        return sn_fail(SONO_E_TRUNCATED, "npy: data is %zu bytes, shape and dtype need %zu: file is truncated",
                         n_bytes - off, data_n);
    if (n_bytes - off > data_n)
        return sn_fail(SONO_E_FORMAT, "npy: %zu unexpected bytes after the array data", n_bytes - off - data_n);
    int32_t *out = malloc(n_codes * sizeof *out);
    if (!out) return sn_fail(SONO_E_NOMEM, "npy: no memory for %zu codes", n_codes);
    const uint8_t *d = buf + off;
    int64_t lo = codebook_size > 0 ? 0 : INT32_MIN, hi = codebook_size > 0 ? (int64_t)codebook_size - 1 : INT32_MAX;
    for (size_t q = 0; q < Q; q++)
        for (size_t f = 0; f < F; f++) {
            const uint8_t *p = d + (h.fortran ? q + f * Q : q * F + f) * (size_t)h.size;
            uint64_t u = 0;
            for (int i = 0; i < h.size; i++) u |= (uint64_t)p[h.swap ? h.size - 1 - i : i] << (8 * i);
            int neg = 0;
            if (h.is_signed && h.size < 8 && (u >> (8 * h.size - 1)) & 1) u |= ~(uint64_t)0 << (8 * h.size);
            if (h.is_signed && (u >> 63)) neg = 1;
            int64_t v = (int64_t)u;
            int ok = neg ? v >= lo : u <= (uint64_t)hi;
            if (!ok) {
                free(out);
                char val[32];
                if (neg) snprintf(val, sizeof val, "%lld", (long long)v);
                else snprintf(val, sizeof val, "%llu", (unsigned long long)u);
                if (codebook_size > 0)
                    return sn_fail(SONO_E_RANGE, "npy: code %s at [q=%zu, frame=%zu] is outside [0, %d)", val, q, f,
                                     codebook_size);
                return sn_fail(SONO_E_RANGE, "npy: value %s at [q=%zu, frame=%zu] does not fit in int32", val, q, f);
            }
            out[q * F + f] = (int32_t)v;
        }
    *codes = out;
    *n_q = (int)Q;
    *n_frames = (int64_t)F;
    return 0;
}

int sono_npy_load(const char *path, int codebook_size, int32_t **codes, int *n_q, int64_t *n_frames) {
    uint8_t *buf;
    size_t n;
    if (codes) *codes = NULL;
    int rc = sn_tokdata_read_file(path, 2 * SONO_MAX_ALLOC + NPY_MAX_HEADER + 16, &buf, &n);
    if (rc) return rc;
    rc = sono_npy_decode(buf, n, codebook_size, codes, n_q, n_frames);
    free(buf);
    if (rc) sn_error_prefix("%s", path);
    return rc;
}
