/* Replays fuzz corpora through one fuzz target and checks known-bad files.
 * usage: replay-TARGET [--bad DIR] [DIR|FILE]...
 * Corpus files must not crash (sanitizers catch the rest); files under --bad
 * must fail with the error code their name starts with. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz_target.h"
#include "sonotok/error.h"

static const struct { const char *name; int code; } codes[] = {
    {"FORMAT", SONO_E_FORMAT}, {"TRUNCATED", SONO_E_TRUNCATED}, {"CHECKSUM", SONO_E_CHECKSUM},
    {"RANGE", SONO_E_RANGE}, {"LIMIT", SONO_E_LIMIT}, {"UNSUPPORTED", SONO_E_UNSUPPORTED},
    {"EMPTY", SONO_E_EMPTY}, {"MODEL_MISMATCH", SONO_E_MODEL_MISMATCH},
};

static int n_run, n_bad_ok, n_fail;

static int read_all(const char *path, uint8_t **buf, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) { uint8_t *nb = realloc(b, cap *= 2); if (!nb) { free(b); b = NULL; } else b = nb; }
    }
    fclose(f);
    if (!b) return -1;
    *buf = b; *n = len;
    return 0;
}

static void one(const char *path, int bad) {
    uint8_t *buf; size_t n;
    if (read_all(path, &buf, &n)) { fprintf(stderr, "cannot read %s\n", path); n_fail++; return; }
    int rc = sono_fuzz_parse(buf, n);
    free(buf);
    n_run++;
    if (!bad) return;
    const char *base = strrchr(path, '/'); base = base ? base + 1 : path;
    int want = 1;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t l = strlen(codes[i].name);
        if (!strncmp(base, codes[i].name, l) && base[l] == '_') want = codes[i].code;
    }
    if (want == 1) { fprintf(stderr, "FAIL %s: name does not start with an error code\n", path); n_fail++; }
    else if (rc != want) {
        fprintf(stderr, "FAIL %s: expected %s, got %d (%s) %s\n", path, sono_strerror(want), rc,
                sono_strerror(rc), sono_last_error());
        n_fail++;
    } else n_bad_ok++;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void walk(const char *path, int bad) {
    struct stat st;
    if (stat(path, &st)) { fprintf(stderr, "FAIL missing %s\n", path); n_fail++; return; }
    if (!S_ISDIR(st.st_mode)) { one(path, bad); return; }
    DIR *d = opendir(path);
    if (!d) { n_fail++; return; }
    char **names = NULL; size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (nn + 1) * sizeof *names);
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        names[nn] = malloc(l);
        snprintf(names[nn++], l, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (nn) qsort(names, nn, sizeof *names, cmp);
    for (size_t i = 0; i < nn; i++) { walk(names[i], bad); free(names[i]); }
    free(names);
}

int main(int argc, char **argv) {
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bad")) { bad = 1; continue; }
        if (!strcmp(argv[i], "--corpus")) { bad = 0; continue; }
        walk(argv[i], bad);
    }
    printf("%d inputs replayed, %d known-bad inputs failed as expected, %d problems\n", n_run, n_bad_ok, n_fail);
    return n_fail ? 1 : (n_run ? 0 : 1);
}
