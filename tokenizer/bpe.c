/* Byte-level BPE: the chunk splitter, encode and decode, and the tokenizer
 * file (read, check, write). Learning merges is in bpe_learn.c.
 *
 * Encoding a chunk merges, again and again, the adjacent pair whose merge was
 * learned first (the lowest rank), leftmost first, until no adjacent pair has
 * a merge: the same tokens as applying every merge in rank order, which is
 * how the learner saw them. Short chunks scan for that pair, long ones keep
 * a heap; the tokenizer holds no cache, so it is immutable and may be
 * shared between threads. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bpe.h"
#include "sonotok/output.h"
#include "sono_internal.h"

/* ---- the chunk splitter ---- */

enum { CL_SPACE, CL_LETTER, CL_DIGIT, CL_OTHER };

static int byte_class(uint8_t b) {
    if (b == ' ' || (b >= '\t' && b <= '\r')) return CL_SPACE;
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80) return CL_LETTER;
    if (b >= '0' && b <= '9') return CL_DIGIT;
    return CL_OTHER;
}

/* GPT-2's pattern, on bytes: " ?letters+ | ?digits+ | ?other+|\s+(?!\S)|\s+". */
size_t sn_bpe_chunk_len(const uint8_t *t, size_t n, size_t max_chunk) {
    if (n > max_chunk) n = max_chunk;
    size_t i = 0;
    if (byte_class(t[0]) == CL_SPACE) {
        while (i < n && byte_class(t[i]) == CL_SPACE) i++;
        if (i == n) return n;             /* white space to the end (or the cap) */
        if (t[i - 1] != ' ') return i;    /* "\n" then a word: the word stands alone */
        if (i > 1) return i - 1;          /* "   word": the last space goes with the word */
        /* one space, then a run of one class */
    }
    int c = byte_class(t[i]);
    while (i < n && byte_class(t[i]) == c) i++;
    return i;
}

/* ---- the merge table ---- */

static inline uint64_t pair_key(uint32_t a, uint32_t b) { return ((uint64_t)a << 32 | b) + 1; }
static inline uint64_t pair_slot(uint64_t key, uint64_t mask) { return sn_bpe_mix(key) & mask; }

/* Rank of the merge of (a, b), or INT32_MAX when there is none. */
static inline int32_t pair_rank(const sono_tokenizer *tok, uint32_t a, uint32_t b) {
    uint64_t key = pair_key(a, b);
    for (uint64_t s = pair_slot(key, tok->pair_mask);; s = (s + 1) & tok->pair_mask) {
        if (tok->pair_key[s] == key) return tok->pair_rank[s];
        if (!tok->pair_key[s]) return INT32_MAX;
    }
}

/* ---- building ---- */

static const char *const standard_names[SONO_TOK_N_STANDARD] = {
    "<pad>", "<end>", "<sep>", "<task:continue>", "<task:tta>", "<task:tts>", "<uncond>",
};

void sn_bpe_default_specials(int n, const char **names, char *buf) {
    for (int i = 0; i < n; i++) {
        if (i < SONO_TOK_N_STANDARD) {
            names[i] = standard_names[i];
        } else {
            snprintf(buf + (size_t)i * SN_BPE_NAME_MAX, SN_BPE_NAME_MAX, "<reserved:%d>", i);
            names[i] = buf + (size_t)i * SN_BPE_NAME_MAX;
        }
    }
}

/* A special's name: "<...>", printable ASCII without spaces, 3 to 63 bytes. */
static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 3 || n >= SN_BPE_NAME_MAX || s[0] != '<' || s[n - 1] != '>') return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return 0;
    return 1;
}

static int serialize(sono_tokenizer *t) {
    size_t n = 32 + 8 + (size_t)t->n_merges * 8;
    for (int i = 0; i < t->n_special; i++) n += 1 + strlen(t->special[i]);
    uint8_t *f = malloc(n), *p = f;
    if (!f) return sn_fail(SONO_E_NOMEM, "tokenizer: out of memory");
    memcpy(p, SN_BPE_MAGIC, 8);
    sn_wr32(p + 8, SN_BPE_VERSION);
    sn_wr32(p + 12, SN_BPE_SPLIT_GPT2);
    sn_wr32(p + 16, (uint32_t)t->max_chunk);
    sn_wr32(p + 20, (uint32_t)(t->n_special + 256 + t->n_merges));
    sn_wr32(p + 24, (uint32_t)t->n_special);
    sn_wr32(p + 28, (uint32_t)t->n_merges);
    p += 32;
    for (int i = 0; i < t->n_special; i++) {
        size_t len = strlen(t->special[i]);
        *p++ = (uint8_t)len;
        memcpy(p, t->special[i], len);
        p += len;
    }
    for (int32_t r = 0; r < 2 * t->n_merges; r++, p += 4) sn_wr32(p, t->merges[r]);
    sn_wr64(p, XXH64(f, (size_t)(p - f), 0));
    t->file = f;
    t->n_file = n;
    return 0;
}

sono_tokenizer *sn_bpe_build(const char *const *special, int32_t n_special, const uint32_t *merges,
                             int32_t n_merges, int32_t max_chunk, int *err) {
    int e = 0;
    sono_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        e = sn_fail(SONO_E_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    if (n_special < SONO_TOK_N_STANDARD || n_special > SN_BPE_MAX_SPECIAL || n_merges < 0 ||
        n_merges > SN_BPE_MAX_MERGES || max_chunk < 1 || max_chunk > SN_BPE_CHUNK_LIMIT) {
        e = sn_fail(SONO_E_LIMIT, "tokenizer: %d specials, %d merges, chunks of %d bytes: out of range",
                    (int)n_special, (int)n_merges, (int)max_chunk);
        goto fail;
    }
    t->n_special = n_special;
    t->n_merges = n_merges;
    t->max_chunk = max_chunk;
    const int32_t n_text = 256 + n_merges;
    t->special = calloc((size_t)n_special, sizeof *t->special);
    t->merges = malloc(((size_t)n_merges * 2 + 1) * sizeof *t->merges);
    t->tok_off = malloc((size_t)n_text * sizeof *t->tok_off);
    t->tok_len = malloc((size_t)n_text * sizeof *t->tok_len);
    uint64_t n_slots = 16;
    while (n_slots < 2 * (uint64_t)n_merges) n_slots *= 2;
    t->pair_mask = n_slots - 1;
    t->pair_key = calloc(n_slots, sizeof *t->pair_key);
    t->pair_rank = malloc(n_slots * sizeof *t->pair_rank);
    if (!t->special || !t->merges || !t->tok_off || !t->tok_len || !t->pair_key || !t->pair_rank) {
        e = sn_fail(SONO_E_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < n_special; i++) {
        if (!name_ok(special[i])) {
            e = sn_fail(SONO_E_FORMAT, "tokenizer: special token %d has no valid name", (int)i);
            goto fail;
        }
        if (i < SONO_TOK_N_STANDARD && strcmp(special[i], standard_names[i])) {
            e = sn_fail(SONO_E_FORMAT, "tokenizer: special token %d is '%s', not '%s'", (int)i, special[i],
                        standard_names[i]);
            goto fail;
        }
        for (int32_t j = 0; j < i; j++)
            if (!strcmp(special[i], special[j])) {
                e = sn_fail(SONO_E_FORMAT, "tokenizer: special token '%s' twice", special[i]);
                goto fail;
            }
        if (!(t->special[i] = strdup(special[i]))) {
            e = sn_fail(SONO_E_NOMEM, "tokenizer: out of memory");
            goto fail;
        }
    }
    /* token lengths first, then their bytes in one block */
    uint64_t total = 256;
    for (int32_t i = 0; i < 256; i++) t->tok_off[i] = (uint32_t)i, t->tok_len[i] = 1;
    for (int32_t r = 0; r < n_merges; r++) {
        uint32_t a = merges[2 * r], b = merges[2 * r + 1];
        if (a >= (uint32_t)(256 + r) || b >= (uint32_t)(256 + r)) {
            e = sn_fail(SONO_E_FORMAT, "tokenizer: merge %d joins ids %u and %u, not both earlier tokens", (int)r,
                        a, b);
            goto fail;
        }
        uint32_t len = t->tok_len[a] + t->tok_len[b];
        if (len > (uint32_t)max_chunk) {
            e = sn_fail(SONO_E_FORMAT, "tokenizer: merge %d makes a %u-byte token, longer than a chunk (%d)", (int)r,
                        len, (int)max_chunk);
            goto fail;
        }
        t->tok_off[256 + r] = (uint32_t)total;
        t->tok_len[256 + r] = len;
        total += len;
        t->merges[2 * r] = a;
        t->merges[2 * r + 1] = b;
        uint64_t key = pair_key(a, b), s = pair_slot(key, t->pair_mask);
        while (t->pair_key[s] && t->pair_key[s] != key) s = (s + 1) & t->pair_mask;
        if (t->pair_key[s]) {
            e = sn_fail(SONO_E_FORMAT, "tokenizer: merge %d repeats merge %d", (int)r, (int)t->pair_rank[s]);
            goto fail;
        }
        t->pair_key[s] = key;
        t->pair_rank[s] = r;
    }
    if (total > UINT32_MAX || !(t->tok_bytes = malloc((size_t)total))) {
        e = sn_fail(SONO_E_NOMEM, "tokenizer: out of memory for %llu token bytes", (unsigned long long)total);
        goto fail;
    }
    for (int32_t i = 0; i < 256; i++) t->tok_bytes[i] = (uint8_t)i;
    for (int32_t r = 0; r < n_merges; r++) {
        uint32_t a = merges[2 * r], b = merges[2 * r + 1];
        uint8_t *dst = t->tok_bytes + t->tok_off[256 + r];
        memcpy(dst, t->tok_bytes + t->tok_off[a], t->tok_len[a]);
        memcpy(dst + t->tok_len[a], t->tok_bytes + t->tok_off[b], t->tok_len[b]);
    }
    if ((e = serialize(t))) goto fail;
    return t;
fail:
    sono_tokenizer_free(t);
    if (err) *err = e;
    return NULL;
}

void sono_tokenizer_free(sono_tokenizer *t) {
    if (!t) return;
    for (int32_t i = 0; t->special && i < t->n_special; i++) free(t->special[i]);
    free(t->special);
    free(t->merges);
    free(t->tok_off);
    free(t->tok_len);
    free(t->tok_bytes);
    free(t->pair_key);
    free(t->pair_rank);
    free(t->file);
    free(t);
}

/* ---- the file ---- */

sono_tokenizer *sono_tokenizer_from_bytes(const void *data, size_t n, int *err) {
    const uint8_t *f = data;
    int e = 0;
    int32_t n_special = 0;
    char names[SN_BPE_MAX_SPECIAL][SN_BPE_NAME_MAX];
    const char *name_ptr[SN_BPE_MAX_SPECIAL];
    uint32_t *merges = NULL;
    sono_tokenizer *t = NULL;
    if (!f && n) {
        e = sn_fail(SONO_E_ARG, "tokenizer: NULL data");
        goto done;
    }
    if (n < 8 || memcmp(f, SN_BPE_MAGIC, 8)) {
        if (n < 8 && n > 0 && !memcmp(f, SN_BPE_MAGIC, n)) e = sn_fail(SONO_E_TRUNCATED, "tokenizer: file ends in its magic");
        else e = sn_fail(SONO_E_FORMAT, "not a sonotok tokenizer file (bad magic)");
        goto done;
    }
    if (n < 32) {
        e = sn_fail(SONO_E_TRUNCATED, "tokenizer: file ends in its header (%zu bytes)", n);
        goto done;
    }
    uint32_t version = sn_rd32(f + 8), split = sn_rd32(f + 12), max_chunk = sn_rd32(f + 16);
    uint32_t n_vocab = sn_rd32(f + 20), ns = sn_rd32(f + 24), n_merges = sn_rd32(f + 28);
    if (version != SN_BPE_VERSION) {
        e = sn_fail(SONO_E_UNSUPPORTED, "tokenizer: file format version %u (this build reads %d)", version,
                    SN_BPE_VERSION);
        goto done;
    }
    if (split != SN_BPE_SPLIT_GPT2) {
        e = sn_fail(SONO_E_UNSUPPORTED, "tokenizer: unknown text splitter %u", split);
        goto done;
    }
    if (max_chunk < 1 || max_chunk > SN_BPE_CHUNK_LIMIT || ns < SONO_TOK_N_STANDARD || ns > SN_BPE_MAX_SPECIAL ||
        n_merges > SN_BPE_MAX_MERGES) {
        e = sn_fail(SONO_E_LIMIT, "tokenizer: %u specials, %u merges, chunks of %u bytes: out of range", ns, n_merges,
                    max_chunk);
        goto done;
    }
    if ((uint64_t)n_vocab != (uint64_t)ns + 256 + n_merges) {
        e = sn_fail(SONO_E_FORMAT, "tokenizer: vocabulary of %u is not %u specials + 256 bytes + %u merges", n_vocab,
                    ns, n_merges);
        goto done;
    }
    n_special = (int32_t)ns;
    size_t pos = 32;
    for (int32_t i = 0; i < n_special; i++) {
        if (pos >= n) break;
        size_t len = f[pos];
        if (len >= SN_BPE_NAME_MAX || pos + 1 + len > n) {
            if (len >= SN_BPE_NAME_MAX) {
                e = sn_fail(SONO_E_FORMAT, "tokenizer: special token %d has a %zu-byte name", (int)i, len);
                goto done;
            }
            pos = n + 1;
            break;
        }
        memcpy(names[i], f + pos + 1, len);
        names[i][len] = 0;
        if (memchr(names[i], 0, len)) {
            e = sn_fail(SONO_E_FORMAT, "tokenizer: special token %d has a NUL in its name", (int)i);
            goto done;
        }
        name_ptr[i] = names[i];
        pos += 1 + len;
    }
    uint64_t want = (uint64_t)pos + 8 * (uint64_t)n_merges + 8;
    if (pos > n || want > n) {
        e = sn_fail(SONO_E_TRUNCATED, "tokenizer: file ends early (%zu bytes, %llu expected)", n,
                    pos > n ? 0ull : (unsigned long long)want);
        goto done;
    }
    if (want < n) {
        e = sn_fail(SONO_E_FORMAT, "tokenizer: %llu bytes after the end of the file", (unsigned long long)(n - want));
        goto done;
    }
    uint64_t stored = sn_rd64(f + n - 8), computed = XXH64(f, n - 8, 0);
    if (stored != computed) {
        e = sn_fail(SONO_E_CHECKSUM, "tokenizer: checksum mismatch (stored %016llx, computed %016llx)",
                    (unsigned long long)stored, (unsigned long long)computed);
        goto done;
    }
    merges = malloc(((size_t)n_merges * 2 + 1) * sizeof *merges);
    if (!merges) {
        e = sn_fail(SONO_E_NOMEM, "tokenizer: out of memory");
        goto done;
    }
    for (size_t r = 0; r < 2 * (size_t)n_merges; r++) merges[r] = sn_rd32(f + pos + 4 * r);
    t = sn_bpe_build(name_ptr, n_special, merges, (int32_t)n_merges, (int32_t)max_chunk, &e);
done:
    free(merges);
    if (!t && err) *err = e;
    return t;
}

sono_tokenizer *sono_tokenizer_load(const char *path, int *err) {
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = sn_read_file(path, (size_t)64 << 20, &buf, &n);
    if (rc) {
        if (err) *err = rc;
        return NULL;
    }
    sono_tokenizer *t = sono_tokenizer_from_bytes(buf, n, err);
    if (!t) sn_error_prefix("%s", path);
    free(buf);
    return t;
}

int sono_tokenizer_to_bytes(const sono_tokenizer *t, uint8_t **data, size_t *n_bytes) {
    if (!t || !data || !n_bytes) return sn_fail(SONO_E_ARG, "tokenizer_to_bytes: NULL argument");
    if (!(*data = malloc(t->n_file))) return sn_fail(SONO_E_NOMEM, "tokenizer: out of memory");
    memcpy(*data, t->file, t->n_file);
    *n_bytes = t->n_file;
    return 0;
}

int sono_tokenizer_save(const sono_tokenizer *t, const char *path) {
    if (!t || !path) return sn_fail(SONO_E_ARG, "tokenizer_save: NULL argument");
    return sono_output_save(path, t->file, t->n_file);
}

uint64_t sono_tokenizer_hash(const sono_tokenizer *t) { return t ? XXH64(t->file, t->n_file, 0) : 0; }
int32_t sono_tokenizer_n_special(const sono_tokenizer *t) { return t ? t->n_special : 0; }
int32_t sono_tokenizer_n_text(const sono_tokenizer *t) { return t ? 256 + t->n_merges : 0; }
int32_t sono_tokenizer_n_vocab(const sono_tokenizer *t) { return t ? t->n_special + 256 + t->n_merges : 0; }
int32_t sono_tokenizer_max_chunk_bytes(const sono_tokenizer *t) { return t ? t->max_chunk : 0; }

/* ---- encode, decode ---- */

/* Merge one chunk's symbols sym[0..n) in place; returns the new count.
 * Short chunks: scan for the leftmost lowest rank after each merge. */
static int merge_scan(const sono_tokenizer *t, uint32_t *sym, int n) {
    int32_t rank[SN_BPE_CHUNK_LIMIT];
    for (int i = 0; i + 1 < n; i++) rank[i] = pair_rank(t, sym[i], sym[i + 1]);
    while (n > 1) {
        int best = 0;
        for (int i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == INT32_MAX) break;
        sym[best] = 256 + (uint32_t)rank[best];
        memmove(sym + best + 1, sym + best + 2, (size_t)(n - best - 2) * sizeof *sym);
        memmove(rank + best, rank + best + 1, (size_t)(n - best - 2) * sizeof *rank);
        n--;
        if (best > 0) rank[best - 1] = pair_rank(t, sym[best - 1], sym[best]);
        if (best + 1 < n) rank[best] = pair_rank(t, sym[best], sym[best + 1]);
    }
    return n;
}

/* Long chunks: the same merges in the same order (lowest rank, then leftmost)
 * from a min-heap of (rank, position) over a linked list of symbols, so a
 * 128-byte run costs n log n rather than n^2. An entry is stale when its
 * left symbol is gone or its pair is no longer the one its rank merges. */
typedef struct {
    int32_t rank, pos;
} merge_cand;

static inline int cand_before(merge_cand x, merge_cand y) {
    return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos);
}

static void cand_push(merge_cand *h, int *n_h, merge_cand c) {
    int i = (*n_h)++;
    while (i > 0 && cand_before(c, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static merge_cand cand_pop(merge_cand *h, int *n_h) {
    merge_cand top = h[0], last = h[--*n_h];
    int i = 0, n = *n_h;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_before(h[c + 1], h[c])) c++;
        if (!cand_before(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

static int merge_heap(const sono_tokenizer *t, uint32_t *sym, int n) {
    int16_t prev[SN_BPE_CHUNK_LIMIT], next[SN_BPE_CHUNK_LIMIT];
    merge_cand heap[3 * SN_BPE_CHUNK_LIMIT];
    int n_h = 0;
    for (int i = 0; i < n; i++) {
        prev[i] = (int16_t)(i - 1);
        next[i] = (int16_t)(i + 1 < n ? i + 1 : -1);
        int32_t r = i + 1 < n ? pair_rank(t, sym[i], sym[i + 1]) : INT32_MAX;
        if (r != INT32_MAX) cand_push(heap, &n_h, (merge_cand){r, i});
    }
    while (n_h) {
        merge_cand c = cand_pop(heap, &n_h);
        int i = c.pos, j = next[i];
        if (sym[i] == UINT32_MAX || j < 0 || sym[i] != t->merges[2 * c.rank] || sym[j] != t->merges[2 * c.rank + 1])
            continue;
        sym[i] = 256 + (uint32_t)c.rank;
        sym[j] = UINT32_MAX;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = (int16_t)i;
        int32_t r;
        if (prev[i] >= 0 && (r = pair_rank(t, sym[prev[i]], sym[i])) != INT32_MAX)
            cand_push(heap, &n_h, (merge_cand){r, prev[i]});
        if (next[i] >= 0 && (r = pair_rank(t, sym[i], sym[next[i]])) != INT32_MAX)
            cand_push(heap, &n_h, (merge_cand){r, i});
    }
    int m = 0;
    for (int i = 0; i >= 0; i = next[i]) sym[m++] = sym[i];
    return m;
}

int64_t sono_tokenizer_encode(const sono_tokenizer *t, const void *text, size_t n_bytes, int32_t *ids,
                              int64_t max_ids) {
    if (!t || (!text && n_bytes) || (!ids && max_ids > 0)) return sn_fail(SONO_E_ARG, "tokenizer_encode: NULL argument");
    const uint8_t *p = text;
    const int32_t base = t->n_special;
    int64_t n_ids = 0;
    uint32_t sym[SN_BPE_CHUNK_LIMIT];
    for (size_t at = 0; at < n_bytes;) {
        size_t len = sn_bpe_chunk_len(p + at, n_bytes - at, (size_t)t->max_chunk);
        int n = (int)len;
        for (int i = 0; i < n; i++) sym[i] = p[at + i];
        at += len;
        if (n > 1) n = n <= 16 ? merge_scan(t, sym, n) : merge_heap(t, sym, n);
        for (int i = 0; i < n; i++, n_ids++)
            if (n_ids < max_ids) ids[n_ids] = base + (int32_t)sym[i];
    }
    return n_ids;
}

int sono_tokenizer_token_bytes(const sono_tokenizer *t, int32_t id, const uint8_t **bytes) {
    if (!t || !bytes) return sn_fail(SONO_E_ARG, "tokenizer_token_bytes: NULL argument");
    if (id < 0 || id >= sono_tokenizer_n_vocab(t))
        return sn_fail(SONO_E_RANGE, "tokenizer: id %d is not in [0, %d)", (int)id, (int)sono_tokenizer_n_vocab(t));
    if (id < t->n_special) {
        *bytes = (const uint8_t *)t->special[id];
        return (int)strlen(t->special[id]);
    }
    *bytes = t->tok_bytes + t->tok_off[id - t->n_special];
    return (int)t->tok_len[id - t->n_special];
}

int64_t sono_tokenizer_decode(const sono_tokenizer *t, const int32_t *ids, int64_t n_ids, int flags, void *out,
                              size_t max_bytes) {
    if (!t || (!ids && n_ids > 0) || (!out && max_bytes)) return sn_fail(SONO_E_ARG, "tokenizer_decode: NULL argument");
    uint8_t *o = out;
    int64_t n_out = 0;
    for (int64_t i = 0; i < n_ids; i++) {
        const uint8_t *b;
        int len = sono_tokenizer_token_bytes(t, ids[i], &b);
        if (len < 0) return len;
        if (ids[i] < t->n_special && !(flags & SONO_TOK_DECODE_SPECIALS)) continue;
        if ((uint64_t)n_out + (uint64_t)len <= max_bytes) memcpy(o + n_out, b, (size_t)len);
        else if ((uint64_t)n_out < max_bytes) memcpy(o + n_out, b, max_bytes - (size_t)n_out);
        n_out += len;
    }
    return n_out;
}

int32_t sono_tokenizer_special_id(const sono_tokenizer *t, const char *name) {
    if (!t || !name) return sn_fail(SONO_E_ARG, "tokenizer_special_id: NULL argument");
    for (int32_t i = 0; i < t->n_special; i++)
        if (!strcmp(t->special[i], name)) return i;
    return sn_fail(SONO_E_NOT_FOUND, "tokenizer: no special token '%s'", name);
}
