/* Fuzz target: archives, opened from memory (sn_archive_open_mem). Lists every
 * entry, finds it by name, reads it and decodes it as a token file; returns
 * the first error (from open, read or decode) or 0. A second pass recomputes
 * the header, index and footer checksums so that mutations reach the index
 * parser; its result is not returned. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "sonotok/tokens.h"
#include "tokdata.h"
#include "formats/tokfix.h"

/* Independent restatement of the name rule: no empty, "." or ".." component. */
static int safe_name(const char *name) {
    const char *c = name;
    for (;;) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) return 0;
        if (!e) return 1;
        c = e + 1;
    }
}

static int parse_once(const uint8_t *data, size_t n) {
    int rc = 0;
    sono_archive *a = sn_archive_open_mem(data, n, &rc);
    if (!a) {
        if (rc >= 0) abort();
        return rc;
    }
    int first = 0, count = sono_archive_count(a);
    for (int i = 0; i < count; i++) {
        const char *name = sono_archive_name(a, i);
        if (!name || sono_archive_find(a, name) != i) abort();
        if (!safe_name(name)) abort();
        uint8_t *d = NULL;
        size_t dn = 0;
        int r = sono_archive_read(a, i, &d, &dn);
        if (r == 0) {
            if (dn != sono_archive_size(a, i)) abort();
            sono_tokens *t = NULL;
            r = sono_tokens_decode(d, dn, &t);
            sono_tokens_free(t);
            free(d);
        }
        if (r && !first) first = r;
    }
    sono_archive_close(a);
    return first;
}

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int rc = parse_once(data, n);
    if (n >= 88 && n <= ((size_t)1 << 20)) {
        tokfix_parse_fixed(data, n, tokfix_archive, parse_once);
    }
    return rc;
}

SONO_FUZZ_ENTRY
