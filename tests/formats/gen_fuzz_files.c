/* Writes the token-file and archive fuzz seeds (tests/fuzz/corpus/{tokfile,
 * archive}/) and known-bad files (tests/fuzz/bad/{tokfile,archive}/, named
 * CODE_description), deterministically. The npy ones come from
 * make_npy_fixtures.py. Rerun after a format change:
 *   ninja -C build tests/formats/gen-fuzz-files && build/tests/formats/gen-fuzz-files tests/fuzz */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "sonotok/tokens.h"
#include "tokdata.h"
#include "formats/tokfix.h"

static const char *g_out;
static int g_fail;

static void put(const char *sub, const char *name, const uint8_t *b, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_out, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_out, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        g_fail = 1;
    }
    if (f) fclose(f);
}

static sono_tokens *tokens(int n_q, int64_t F, int K, int n_seg, unsigned seed) {
    sono_tokens *t = sono_tokens_alloc(n_q, F, n_seg, n_seg > 0);
    snprintf(t->model_name, sizeof t->model_name, "encodec_24khz");
    for (int i = 0; i < 16; i++) t->model_hash[i] = (uint8_t)(i * 17 + 3);
    t->sample_rate = 24000;
    t->channels = 1;
    t->hop = 320;
    t->codebook_size = K;
    t->n_samples = F * 320 - 100;
    t->segment_frames = n_seg > 1 ? (F + n_seg - 1) / n_seg : 0;
    for (int s = 0; s < n_seg; s++) t->scales[s] = 0.5f + 0.25f * (float)s;
    uint32_t r = seed;
    for (int64_t i = 0; i < n_q * F; i++) {
        r = r * 1664525u + 1013904223u;
        int32_t v = (int32_t)((r >> 10) % (uint32_t)K);
        t->codes[i] = (i % F) && (r >> 28) < 6 ? t->codes[i - 1] : (r >> 27) < 12 ? v % 16 : v;
    }
    if (K >= 1024) t->codes[1] = 1023;
    return t;
}

static uint8_t *enc(const sono_tokens *t, int coder, size_t *n) {
    tokfile_opts o = {.coder = coder, .zstd_level = 19};
    uint8_t *b = NULL;
    if (sn_tokfile_encode_opts(t, &o, &b, n)) {
        fprintf(stderr, "encode: %s\n", sono_last_error());
        exit(1);
    }
    return b;
}

static void bad_tok(const char *name, const uint8_t *b, size_t n, size_t off, int width, uint64_t v) {
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    if (width == 1) c[off] = (uint8_t)v;
    else if (width == 2) sn_wr16(c + off, (uint16_t)v);
    else if (width == 4) sn_wr32(c + off, (uint32_t)v);
    else sn_wr64(c + off, v);
    tokfix_tok(c, n);
    put("bad/tokfile", name, c, n);
    free(c);
}

static void gen_tokfile(void) {
    sono_tokens *t = tokens(2, 30, 1024, 1, 1), *s = tokens(4, 40, 1024, 3, 2), *u = tokens(1, 9, 1, 0, 3);
    sono_tokens *w = tokens(3, 20, 65536, 0, 4), *o = tokens(2, 25, 1000, 0, 5);
    size_t n;
    uint8_t *b;
    static const char *cn[] = {"packed", "zstd", "range"};
    for (int c = 0; c <= 2; c++) {
        char name[64];
        snprintf(name, sizeof name, "small_%s.tok", cn[c]);
        b = enc(t, c, &n);
        put("corpus/tokfile", name, b, n);
        free(b);
        snprintf(name, sizeof name, "scales_%s.tok", cn[c]);
        b = enc(s, c, &n);
        put("corpus/tokfile", name, b, n);
        free(b);
    }
    b = enc(u, -1, &n);
    put("corpus/tokfile", "codebook1.tok", b, n);
    free(b);
    b = enc(w, 2, &n);
    put("corpus/tokfile", "codebook65536_range.tok", b, n);
    free(b);
    b = enc(o, 2, &n);
    put("corpus/tokfile", "codebook1000_range.tok", b, n);
    free(b);

    b = enc(s, TOKFILE_CODER_RANGE, &n);
    uint32_t hs = sn_rd32(b + 8);
    uint8_t *c = malloc(n + 1);
    memcpy(c, b, n);
    c[hs + 2] ^= 0x10;
    put("bad/tokfile", "CHECKSUM_bitflip.tok", c, n);
    memcpy(c, b, n);
    c[64] ^= 0x01;
    put("bad/tokfile", "CHECKSUM_header_bitflip.tok", c, n);
    memcpy(c, b, n);
    c[9] ^= 0x01;
    put("bad/tokfile", "CHECKSUM_preamble_bitflip.tok", c, n);
    put("bad/tokfile", "TRUNCATED_half.tok", b, n / 2);
    put("bad/tokfile", "TRUNCATED_header.tok", b, 50);
    put("bad/tokfile", "TRUNCATED_checksum.tok", b, n - 1);
    put("bad/tokfile", "TRUNCATED_empty.tok", b, 0);
    memcpy(c, b, n);
    c[0] = 'X';
    put("bad/tokfile", "FORMAT_magic.tok", c, n);
    memcpy(c, b, n);
    c[n] = 0;
    put("bad/tokfile", "FORMAT_trailing.tok", c, n + 1);
    bad_tok("UNSUPPORTED_version.tok", b, n, 4, 2, 2);
    bad_tok("UNSUPPORTED_coder.tok", b, n, 20, 1, 7);
    bad_tok("UNSUPPORTED_flags.tok", b, n, 16, 4, 0x81);
    bad_tok("EMPTY_frames.tok", b, n, 64, 8, 0);
    bad_tok("LIMIT_nq.tok", b, n, 52, 4, 5000);
    bad_tok("LIMIT_codebook.tok", b, n, 56, 4, 1 << 20);
    bad_tok("FORMAT_negative_frames.tok", b, n, 64, 8, (uint64_t)-3);
    bad_tok("FORMAT_header_size.tok", b, n, 8, 4, hs + 4);
    bad_tok("RANGE_code.tok", b, n, 56, 4, 900);
    bad_tok("RANGE_scale.tok", b, n, 96 + b[21], 4, 0x7F800000u); /* +inf */
    free(b);
    /* a range payload with an extra byte the decoder never reads */
    b = enc(t, TOKFILE_CODER_RANGE, &n);
    hs = sn_rd32(b + 8);
    uint8_t *x = malloc(n + 8);
    memcpy(x, b, n - 8);
    memset(x + n - 8, 0x55, 8); /* beyond what the decoder reads ahead */
    sn_wr64(x + 88, sn_rd64(b + 88) + 8);
    tokfix_tok(x, n + 8);
    put("bad/tokfile", "FORMAT_payload_unused.tok", x, n + 8);
    free(x);
    free(b);
    /* a packed payload one byte short (sizes consistent, checksums fixed) */
    b = enc(t, TOKFILE_CODER_PACKED, &n);
    x = malloc(n);
    memcpy(x, b, n - 9);
    sn_wr64(x + 88, sn_rd64(b + 88) - 1);
    tokfix_tok(x, n - 1);
    put("bad/tokfile", "FORMAT_packed_short.tok", x, n - 1);
    free(x);
    free(b);
    free(c);
    sono_tokens_free(t);
    sono_tokens_free(s);
    sono_tokens_free(u);
    sono_tokens_free(w);
    sono_tokens_free(o);
}

/* ---- archives ---- */

static uint8_t *archive_bytes(const char *const *names, int n, size_t *out_n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/.gen-archive.tmp", g_out);
    int err;
    sono_archive_writer *w = sono_archive_create(path, &err);
    for (int i = 0; w && i < n; i++) {
        sono_tokens *t = tokens(2, 6 + i, 1024, 0, 10u + (unsigned)i);
        size_t tn;
        uint8_t *tb = enc(t, -1, &tn);
        if (sono_archive_add(w, names[i], tb, tn)) fprintf(stderr, "add: %s\n", sono_last_error()), exit(1);
        free(tb);
        sono_tokens_free(t);
    }
    if (!w || sono_archive_commit(w)) fprintf(stderr, "archive: %s\n", sono_last_error()), exit(1);
    uint8_t *b;
    if (sn_read_file(path, 1 << 30, &b, out_n)) exit(1);
    remove(path);
    return b;
}

/* Rewrite the index with name bytes of entry 'which' replaced, fix sums. */
static uint8_t *edit_name(const uint8_t *b, size_t n, int which, const char *name, size_t *out_n) {
    const uint8_t *f = b + n - 56;
    uint64_t ioff = sn_rd64(f), isize = sn_rd64(f + 8), iraw = sn_rd64(f + 16);
    uint8_t *raw = malloc(iraw);
    if (ZSTD_decompress(raw, iraw, b + ioff, isize) != iraw) exit(1);
    size_t p = 0;
    for (int i = 0; i < which; i++) p += 38 + sn_rd16(raw + p + 36);
    size_t len = sn_rd16(raw + p + 36);
    if (strlen(name) != len) fprintf(stderr, "edit_name: length differs\n"), exit(1);
    memcpy(raw + p + 38, name, len);
    size_t cap = ZSTD_compressBound(iraw);
    uint8_t *nb = malloc(ioff + cap + 56);
    memcpy(nb, b, ioff);
    size_t zn = ZSTD_compress(nb + ioff, cap, raw, iraw, 19);
    memcpy(nb + ioff + zn, f, 56);
    *out_n = ioff + zn + 56;
    sn_wr64(nb + *out_n - 56 + 8, zn);
    sn_wr64(nb + 16, *out_n);
    tokfix_archive(nb, *out_n);
    free(raw);
    return nb;
}

static void gen_archive(void) {
    const char *names[] = {"a.tok", "dir/b.tok", "dir/c.tok"};
    const char *utf[] = {"\xe6\x97\xa5\xe6\x9c\xac/\xc3\xa9t\xc3\xa9.tok"};
    size_t n, m;
    uint8_t *b = archive_bytes(names, 3, &n), *x;
    put("corpus/archive", "three.toka", b, n);
    x = archive_bytes(NULL, 0, &m);
    put("corpus/archive", "empty.toka", x, m);
    free(x);
    x = archive_bytes(utf, 1, &m);
    put("corpus/archive", "utf8_name.toka", x, m);
    free(x);

    x = malloc(n + 1);
    uint64_t ioff = sn_rd64(b + n - 56);
    memcpy(x, b, n);
    int err;
    sono_archive *a = sn_archive_open_mem(b, n, &err);
    if (!a) exit(1);
    x[32 + sono_archive_size(a, 0) + 20] ^= 0x08; /* inside entry 2 of 3 */
    sono_archive_close(a);
    put("bad/archive", "CHECKSUM_entry.toka", x, n);
    memcpy(x, b, n);
    x[ioff + 3] ^= 0x01;
    put("bad/archive", "CHECKSUM_index.toka", x, n);
    memcpy(x, b, n);
    x[n - 56 + 24] ^= 0x01;
    put("bad/archive", "CHECKSUM_footer.toka", x, n);
    memcpy(x, b, n);
    x[17] ^= 0x01;
    put("bad/archive", "CHECKSUM_header.toka", x, n);
    put("bad/archive", "TRUNCATED_half.toka", b, n / 2);
    put("bad/archive", "TRUNCATED_footer.toka", b, n - 10);
    put("bad/archive", "TRUNCATED_header.toka", b, 20);
    memcpy(x, b, n);
    x[3] ^= 0x20;
    put("bad/archive", "FORMAT_magic.toka", x, n);
    memcpy(x, b, n);
    x[n] = 0;
    put("bad/archive", "FORMAT_trailing.toka", x, n + 1);
    memcpy(x, b, n);
    sn_wr16(x + 8, 2);
    tokfix_archive(x, n);
    put("bad/archive", "UNSUPPORTED_version.toka", x, n);
    memcpy(x, b, n);
    sn_wr64(x + 16, 0);
    tokfix_archive(x, n);
    put("bad/archive", "FORMAT_uncommitted.toka", x, n);
    free(x);
    x = edit_name(b, n, 0, "../ev", &m);
    put("bad/archive", "FORMAT_unsafe_name.toka", x, m);
    free(x);
    x = edit_name(b, n, 1, "/etc/pass", &m);
    put("bad/archive", "FORMAT_absolute_name.toka", x, m);
    free(x);
    x = edit_name(b, n, 2, "dir/b.tok", &m);
    put("bad/archive", "FORMAT_duplicate_name.toka", x, m);
    free(x);
    /* a valid archive whose entry is not a valid token file (sums fixed) */
    x = malloc(n);
    memcpy(x, b, n);
    x[32 + 21] = 200; /* entry 1's model-name length */
    {
        /* fix the entry's own checksums, then its index checksum */
        uint64_t esize = 0;
        const uint8_t *f = b + n - 56;
        uint64_t iraw = sn_rd64(f + 16), isize = sn_rd64(f + 8);
        uint8_t *raw = malloc(iraw);
        if (ZSTD_decompress(raw, iraw, b + ioff, isize) != iraw) exit(1);
        esize = sn_rd64(raw + 8);
        tokfix_tok(x + 32, esize);
        sn_wr64(raw + 16, XXH3_64bits(x + 32, esize));
        size_t cap = ZSTD_compressBound(iraw);
        uint8_t *nb = malloc(ioff + cap + 56);
        memcpy(nb, x, ioff);
        size_t zn = ZSTD_compress(nb + ioff, cap, raw, iraw, 19);
        memcpy(nb + ioff + zn, f, 56);
        m = ioff + zn + 56;
        sn_wr64(nb + m - 56 + 8, zn);
        sn_wr64(nb + 16, m);
        tokfix_archive(nb, m);
        put("bad/archive", "FORMAT_entry_not_tokfile.toka", nb, m);
        free(nb);
        free(raw);
    }
    free(x);
    free(b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen-fuzz-files TESTS_FUZZ_DIR\n");
        return 1;
    }
    g_out = argv[1];
    gen_tokfile();
    gen_archive();
    return g_fail;
}
