/* Archive tests: add/list/find/read/verify, unsafe and conflicting names
 * refused, a damaged entry does not stop the others, every truncation and
 * every bit flip detected, abort leaves nothing behind, commit replaces an
 * existing archive atomically, merge of shards (name order, identical
 * duplicates once, conflicting duplicates refused). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "sonotok/tokens.h"
#include "tokdata.h"
#include "formats/tokfix.h"
#include "test_util.h"

static char g_dir[64];

static uint8_t *make_entry(int n_frames, unsigned seed, size_t *n) {
    sono_tokens *t = sono_tokens_alloc(2, n_frames, 1, 0);
    snprintf(t->model_name, sizeof t->model_name, "test");
    t->sample_rate = 24000;
    t->channels = 1;
    t->hop = 320;
    t->codebook_size = 1024;
    t->n_samples = (int64_t)n_frames * 320;
    for (int64_t i = 0; i < 2 * (int64_t)n_frames; i++) t->codes[i] = (int32_t)((i * 7 + seed * 13) % 1024);
    uint8_t *buf = NULL;
    CHECK(sono_tokens_encode(t, &buf, n) == 0);
    sono_tokens_free(t);
    return buf;
}

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static int count_files(void) { return tu_count_files(g_dir); }

static int write_archive(const char *path, const char *const *names, int n, unsigned seed) {
    int err;
    sono_archive_writer *w = sono_archive_create(path, &err);
    if (!w) return err;
    for (int i = 0; i < n; i++) {
        size_t len;
        uint8_t *d = make_entry(10 + i, seed + (unsigned)i, &len);
        int rc = sono_archive_add(w, names[i], d, len);
        free(d);
        if (rc) {
            sono_archive_abort(w);
            return rc;
        }
    }
    return sono_archive_commit(w);
}

/* Read every entry of a; returns the number that read and decoded, and the
 * first error in *first_err. */
static int read_all(sono_archive *a, int *first_err) {
    int ok = 0;
    *first_err = 0;
    for (int i = 0; i < sono_archive_count(a); i++) {
        uint8_t *d;
        size_t n;
        int rc = sono_archive_read(a, i, &d, &n);
        sono_tokens *t = NULL;
        if (!rc) rc = sono_tokens_decode(d, n, &t);
        if (!rc) ok++;
        else if (!*first_err) *first_err = rc;
        if (!rc) free(d);
        sono_tokens_free(t);
    }
    return ok;
}

static uint8_t *slurp(const char *path, size_t *n) {
    uint8_t *b = NULL;
    CHECK(sn_tokdata_read_file(path, (size_t)1 << 30, &b, n) == 0);
    return b;
}

static void test_basic(void) {
    char path[256];
    path_in(path, sizeof path, "a.toka");
    const char *names[] = {"b.tok", "dir/a.tok", "dir/sub/\xc3\xa9t\xc3\xa9.tok", "z"};
    CHECK(write_archive(path, names, 4, 1) == 0);
    int err = 1;
    sono_archive *a = sono_archive_open(path, &err);
    CHECK(a && err == 0);
    if (!a) return;
    CHECK(sono_archive_count(a) == 4);
    for (int i = 0; i < 4; i++) {
        CHECK(!strcmp(sono_archive_name(a, i), names[i]));
        CHECK(sono_archive_find(a, names[i]) == i);
        size_t n;
        uint8_t *want = make_entry(10 + i, 1 + (unsigned)i, &n), *got;
        size_t gn;
        CHECK(sono_archive_size(a, i) == n);
        CHECK(sono_archive_read(a, i, &got, &gn) == 0 && gn == n && !memcmp(got, want, n));
        int64_t ns;
        int32_t sr;
        CHECK(sn_archive_entry_info(a, i, &ns, &sr) == 0 && ns == (10 + i) * 320 && sr == 24000);
        free(got);
        free(want);
    }
    CHECK(sono_archive_find(a, "nope") == SONO_E_NOT_FOUND);
    CHECK(sono_archive_find(a, "dir") == SONO_E_NOT_FOUND);
    CHECK(sono_archive_name(a, 4) == NULL && sono_archive_name(a, -1) == NULL && sono_archive_size(a, 9) == 0);
    uint8_t *d;
    size_t n;
    CHECK(sono_archive_read(a, 4, &d, &n) == SONO_E_ARG);
    int e2;
    CHECK(read_all(a, &e2) == 4 && e2 == 0);
    sono_archive_close(a);
    sono_archive_close(NULL);
    sono_archive_abort(NULL);
    CHECK(count_files() == 1);

    /* empty archive */
    char p2[256];
    path_in(p2, sizeof p2, "empty.toka");
    CHECK(write_archive(p2, NULL, 0, 0) == 0);
    a = sono_archive_open(p2, &err);
    CHECK(a && sono_archive_count(a) == 0);
    sono_archive_close(a);
    unlink(p2);
    CHECK(sono_archive_open(p2, &err) == NULL && err == SONO_E_NOT_FOUND);
}

static void test_names(void) {
    char path[256];
    path_in(path, sizeof path, "names.toka");
    int err;
    sono_archive_writer *w = sono_archive_create(path, &err);
    size_t n;
    uint8_t *d = make_entry(5, 3, &n);
    static const char *refused[] = {"", "/abs.tok", "../up.tok", "a/../../up.tok", "a/..", "..", ".", "./a",
                                    "a/./b", "a//b", "a/", "back\\slash", "ctl\x01", "bad\xff utf8",
                                    "over\xc0\xaflong", "surrogate\xed\xa0\x80", "trunc\xe2\x82"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int rc = sono_archive_add(w, refused[i], d, n);
        CHECK_MSG(rc == SONO_E_ARG, "name %zu '%s' accepted (%d)", i, refused[i], rc);
    }
    CHECK(sono_archive_add(w, "x/y.tok", d, n) == 0);
    CHECK(sono_archive_add(w, "x/y.tok", d, n) == SONO_E_ARG); /* duplicate */
    CHECK(strstr(sono_last_error(), "duplicate") != NULL);
    CHECK(sono_archive_add(w, "x", d, n) == SONO_E_ARG);         /* x is a folder */
    CHECK(sono_archive_add(w, "x/y.tok/z", d, n) == SONO_E_ARG); /* inside an entry */
    CHECK(sono_archive_add(w, "x/z.tok", d, n) == 0);
    CHECK(sono_archive_add(w, "...", d, n) == 0); /* a name, not a parent folder */
    CHECK(sono_archive_add(w, "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x8e\xb5.tok", d, n) == 0);
    /* not a token file */
    uint8_t junk[200] = {1, 2, 3};
    CHECK(sono_archive_add(w, "junk.tok", junk, sizeof junk) == SONO_E_FORMAT);
    d[n - 1] ^= 1;
    CHECK(sono_archive_add(w, "damaged.tok", d, n) == SONO_E_CHECKSUM);
    d[n - 1] ^= 1;
    CHECK(sono_archive_commit(w) == 0);
    sono_archive *a = sono_archive_open(path, &err);
    CHECK(a && sono_archive_count(a) == 4);
    sono_archive_close(a);
    free(d);
    unlink(path);

    /* an index carrying an unsafe name is refused on open */
    const char *one[] = {"aaaaaaa.tok"};
    CHECK(write_archive(path, one, 1, 9) == 0);
    size_t an;
    uint8_t *ab = slurp(path, &an);
    /* rebuild the index with the name patched to "../evil.tok" */
    uint8_t *f = ab + an - 56;
    uint64_t ioff = tokdata_rd64(f), isize = tokdata_rd64(f + 8), iraw = tokdata_rd64(f + 16);
    uint8_t *raw = malloc(iraw);
    CHECK(ZSTD_decompress(raw, iraw, ab + ioff, isize) == iraw);
    static const char *evil[] = {"../evil.tok", "/etc/evil1", "a//b.tok.xx", "ok.tok\0xxxx"};
    for (int k = 0; k < 4; k++) {
        memcpy(raw + 38, evil[k], 11);
        uint8_t *nb = malloc(an + 64);
        memcpy(nb, ab, ioff);
        size_t zn = ZSTD_compress(nb + ioff, 64 + isize, raw, iraw, 3);
        CHECK(!ZSTD_isError(zn));
        memcpy(nb + ioff + zn, f, 56);
        size_t nn = ioff + zn + 56;
        tokdata_wr64(nb + nn - 56 + 8, zn);
        tokdata_wr64(nb + 16, nn);
        tokfix_archive(nb, nn);
        int rc;
        sono_archive *m = sn_archive_open_mem(nb, nn, &rc);
        CHECK_MSG(m == NULL && rc == SONO_E_FORMAT, "evil name %d: %d %s", k, rc, sono_last_error());
        sono_archive_close(m);
        free(nb);
    }
    free(raw);
    free(ab);
    unlink(path);
}

static void test_damage(void) {
    char path[256];
    path_in(path, sizeof path, "dmg.toka");
    const char *names[] = {"one.tok", "two.tok", "three.tok"};
    CHECK(write_archive(path, names, 3, 5) == 0);
    size_t n;
    uint8_t *b = slurp(path, &n);
    int err;
    sono_archive *a = sono_archive_open(path, &err);
    CHECK(a != NULL);
    uint64_t off2 = 32 + sono_archive_size(a, 0);
    sono_archive_close(a);
    /* flip one byte inside entry 2 of 3 on disk */
    b[off2 + 20] ^= 0x40;
    CHECK(sn_tokdata_write_atomic(path, b, n) == 0);
    a = sono_archive_open(path, &err);
    CHECK(a != NULL);
    uint8_t *d;
    size_t dn;
    CHECK(sono_archive_read(a, 0, &d, &dn) == 0);
    free(d);
    CHECK(sono_archive_read(a, 1, &d, &dn) == SONO_E_CHECKSUM && d == NULL);
    CHECK(strstr(sono_last_error(), "two.tok") != NULL);
    CHECK(sono_archive_read(a, 2, &d, &dn) == 0);
    free(d);
    sono_archive_close(a);
    b[off2 + 20] ^= 0x40;

    /* every truncation of the archive is reported as truncated */
    for (size_t k = 0; k < n; k++) {
        int rc;
        sono_archive *m = sn_archive_open_mem(b, k, &rc);
        CHECK_MSG(m == NULL && rc == SONO_E_TRUNCATED, "truncation to %zu of %zu: %d %s", k, n, rc, sono_last_error());
        sono_archive_close(m);
    }
    /* on disk too, with the path in the message */
    CHECK(sn_tokdata_write_atomic(path, b, n / 2) == 0);
    CHECK(sono_archive_open(path, &err) == NULL && err == SONO_E_TRUNCATED && strstr(sono_last_error(), "truncated"));
    /* every single-bit flip: open fails, or exactly one entry fails its checksum */
    int n_open = 0, n_entry = 0;
    for (size_t bit = 0; bit < n * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc;
        sono_archive *m = sn_archive_open_mem(b, n, &rc);
        if (!m) {
            n_open++;
            CHECK_MSG(rc == SONO_E_CHECKSUM || (bit < 64 && rc == SONO_E_FORMAT) ||
                          (bit >= (n - 16) * 8 && bit < (n - 8) * 8 && rc == SONO_E_FORMAT),
                      "flip %zu: open gave %d (%s)", bit, rc, sono_last_error());
        } else {
            int first, ok = read_all(m, &first);
            CHECK_MSG(ok == 2 && first == SONO_E_CHECKSUM, "flip %zu: %d entries read, error %d", bit, ok, first);
            n_entry++;
        }
        sono_archive_close(m);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    printf("  %zu-byte archive: %zu flips, %d refused on open, %d caught by an entry checksum\n", n, n * 8, n_open,
           n_entry);
    /* trailing bytes, bad version, never committed */
    uint8_t *more = malloc(n + 1);
    memcpy(more, b, n);
    more[n] = 0;
    int rc;
    CHECK(sn_archive_open_mem(more, n + 1, &rc) == NULL && rc == SONO_E_FORMAT);
    tokdata_wr16(more + 8, 2);
    tokfix_archive(more, n);
    CHECK(sn_archive_open_mem(more, n, &rc) == NULL && rc == SONO_E_UNSUPPORTED);
    tokdata_wr16(more + 8, 1);
    tokdata_wr64(more + 16, 0);
    tokfix_archive(more, n);
    CHECK(sn_archive_open_mem(more, n, &rc) == NULL && rc == SONO_E_FORMAT && strstr(sono_last_error(), "committed"));
    free(more);
    free(b);
    unlink(path);
}

static void test_atomic(void) {
    char path[256];
    path_in(path, sizeof path, "atomic.toka");
    int base = count_files();
    /* abort leaves nothing behind */
    int err;
    sono_archive_writer *w = sono_archive_create(path, &err);
    size_t n;
    uint8_t *d = make_entry(8, 1, &n);
    CHECK(sono_archive_add(w, "a.tok", d, n) == 0);
    CHECK(count_files() == base + 1); /* the temporary */
    sono_archive_abort(w);
    CHECK(count_files() == base);
    CHECK(access(path, F_OK) != 0);

    /* commit over an existing archive replaces it; until then the old one reads */
    const char *old_names[] = {"old.tok"};
    CHECK(write_archive(path, old_names, 1, 2) == 0);
    w = sono_archive_create(path, &err);
    CHECK(sono_archive_add(w, "new1.tok", d, n) == 0);
    CHECK(sono_archive_add(w, "new2.tok", d, n) == 0);
    sono_archive *a = sono_archive_open(path, &err); /* an interrupted run would leave this */
    CHECK(a && sono_archive_count(a) == 1 && !strcmp(sono_archive_name(a, 0), "old.tok"));
    CHECK(sono_archive_commit(w) == 0);
    /* the reader opened before the commit still reads the old file */
    uint8_t *x;
    size_t xn;
    CHECK(sono_archive_read(a, 0, &x, &xn) == 0);
    free(x);
    sono_archive_close(a);
    a = sono_archive_open(path, &err);
    CHECK(a && sono_archive_count(a) == 2 && sono_archive_find(a, "new2.tok") == 1);
    sono_archive_close(a);
    CHECK(count_files() == base + 1);
    /* a writer whose folder does not exist fails cleanly */
    char bad[256];
    path_in(bad, sizeof bad, "no/such/dir.toka");
    CHECK(sono_archive_create(bad, &err) == NULL && err == SONO_E_IO);
    CHECK(sono_archive_commit(NULL) == SONO_E_ARG);
    free(d);
    unlink(path);
}

static void test_merge(void) {
    char s1[256], s2[256], s3[256], s4[256], out[256];
    path_in(s1, sizeof s1, "s1.toka");
    path_in(s2, sizeof s2, "s2.toka");
    path_in(s3, sizeof s3, "s3.toka");
    path_in(s4, sizeof s4, "s4.toka");
    path_in(out, sizeof out, "merged.toka");
    const char *n1[] = {"c.tok", "a.tok"}, *n2[] = {"d/x.tok", "b.tok"}, *n3[] = {"c.tok"};
    CHECK(write_archive(s1, n1, 2, 100) == 0);
    CHECK(write_archive(s2, n2, 2, 200) == 0);
    CHECK(write_archive(s3, n3, 1, 100) == 0); /* same content as s1's c.tok */
    CHECK(write_archive(s4, n3, 1, 999) == 0); /* different content */
    const char *in[] = {s1, s2, s3};
    CHECK(sono_archive_merge(out, in, 3) == 0);
    int err;
    sono_archive *a = sono_archive_open(out, &err);
    CHECK(a && sono_archive_count(a) == 4);
    const char *want[] = {"a.tok", "b.tok", "c.tok", "d/x.tok"};
    for (int i = 0; a && i < 4; i++) CHECK(!strcmp(sono_archive_name(a, i), want[i]));
    int first;
    CHECK(a && read_all(a, &first) == 4);
    /* content equals the source */
    sono_archive *src = sono_archive_open(s2, &err);
    uint8_t *x = NULL, *y = NULL;
    size_t xn = 0, yn = 0;
    CHECK(sono_archive_read(src, 1, &x, &xn) == 0 && sono_archive_read(a, 1, &y, &yn) == 0 && xn == yn &&
          !memcmp(x, y, xn));
    free(x);
    free(y);
    sono_archive_close(src);
    sono_archive_close(a);
    /* conflicting duplicate: refused, the existing output untouched */
    const char *in2[] = {s1, s4};
    CHECK(sono_archive_merge(out, in2, 2) == SONO_E_ARG);
    CHECK(strstr(sono_last_error(), "c.tok") != NULL);
    a = sono_archive_open(out, &err);
    CHECK(a && sono_archive_count(a) == 4);
    sono_archive_close(a);
    /* a damaged input stops the merge */
    size_t n;
    uint8_t *b = slurp(s2, &n);
    b[40] ^= 1;
    CHECK(sn_tokdata_write_atomic(s2, b, n) == 0);
    free(b);
    CHECK(sono_archive_merge(out, in, 3) == SONO_E_CHECKSUM);
    CHECK(sono_archive_merge(out, in, 0) == SONO_E_EMPTY);
    const char *missing[] = {"/nonexistent/x.toka"};
    CHECK(sono_archive_merge(out, missing, 1) == SONO_E_NOT_FOUND);
    a = sono_archive_open(out, &err);
    CHECK(a && sono_archive_count(a) == 4);
    sono_archive_close(a);
    unlink(s1);
    unlink(s2);
    unlink(s3);
    unlink(s4);
    unlink(out);
}

int main(void) {
    tu_seed(4242);
    snprintf(g_dir, sizeof g_dir, "/tmp/sono-ar-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    test_basic();
    test_names();
    test_damage();
    test_atomic();
    test_merge();
    char p[256];
    path_in(p, sizeof p, "a.toka");
    unlink(p);
    CHECK_MSG(count_files() == 0, "%d files left in %s", count_files(), g_dir);
    rmdir(g_dir);
    return tu_finish("test_archive");
}
