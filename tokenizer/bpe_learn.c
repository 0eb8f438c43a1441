/* Learning BPE merges from text (train.h: sono_bpe_trainer), in the manner
 * of the Hugging Face tokenizers library's trainer rather than by a rescan
 * per merge:
 *
 *   - texts are cut into chunks (bpe.c's splitter) and only the distinct
 *     chunks are kept, with their counts ("words");
 *   - every adjacent pair of symbols has a count (summed over the words it
 *     occurs in, times their counts) and a list of the words it occurs in;
 *   - a max-heap orders the pairs by count, then by (left, right) id: the
 *     tie-break that makes the merges a function of the counts alone. An
 *     entry holds the count its pair had when pushed; a merge only lowers the
 *     counts of existing pairs (the pairs it raises all contain the new
 *     token, which did not exist before), so an entry whose count is stale
 *     is pushed again with the current count, and the first entry that is
 *     current is the true best pair;
 *   - merging pair (a, b) into z touches only the words on its list: their
 *     old pairs are taken off, the word rewritten, its new pairs counted.
 *
 * Cost: about the size of the text to count the chunks, then per merge the
 * total length of the words that hold the pair. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"
#include "bpe.h"
#include "sono_internal.h"

/* ---- growable arrays ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return sn_fail(SONO_E_NOMEM, "train-tokenizer: out of memory");
    *p = q;
    *cap = c;
    return 0;
}

/* ---- the distinct chunks ---- */

typedef struct {
    uint64_t hash;
    uint64_t off;    /* in the byte arena */
    uint32_t len;
    int64_t count;
} chunk_entry;

struct sono_bpe_trainer {
    sono_bpe_train_params p;
    chunk_entry *chunks;   /* open addressing, count == 0 marks an empty slot */
    size_t n_chunks, chunk_mask;
    uint8_t *arena;
    size_t n_arena, cap_arena;
    int64_t n_texts, n_bytes;
};

sono_bpe_train_params sono_bpe_train_default_params(void) {
    sono_bpe_train_params p = {.n_vocab = 2048, .min_count = 2, .n_special = SN_BPE_N_SPECIAL_DEFAULT};
    return p;
}

sono_bpe_trainer *sono_bpe_trainer_new(const sono_bpe_train_params *p, int *err) {
    sono_bpe_train_params d = p ? *p : sono_bpe_train_default_params();
    int e = 0;
    if (d.n_special < SONO_TOK_N_STANDARD || d.n_special > SN_BPE_MAX_SPECIAL)
        e = sn_fail(SONO_E_RANGE, "train-tokenizer: %d special tokens, not %d to %d", (int)d.n_special,
                    SONO_TOK_N_STANDARD, SN_BPE_MAX_SPECIAL);
    else if (d.n_vocab < d.n_special + 256 || d.n_vocab > d.n_special + 256 + SN_BPE_MAX_MERGES)
        e = sn_fail(SONO_E_RANGE, "train-tokenizer: a vocabulary of %d ids: it holds %d specials and 256 bytes, "
                    "at most %d merges", (int)d.n_vocab, (int)d.n_special, SN_BPE_MAX_MERGES);
    else if (d.min_count < 1)
        e = sn_fail(SONO_E_RANGE, "train-tokenizer: minimum pair count %d, not >= 1", (int)d.min_count);
    sono_bpe_trainer *t = e ? NULL : calloc(1, sizeof *t);
    if (!e && t) {
        t->p = d;
        t->chunk_mask = 1023;
        if (!(t->chunks = calloc(t->chunk_mask + 1, sizeof *t->chunks))) {
            free(t);
            t = NULL;
        }
    }
    if (!e && !t) e = sn_fail(SONO_E_NOMEM, "train-tokenizer: out of memory");
    if (!t && err) *err = e;
    return t;
}

void sono_bpe_trainer_free(sono_bpe_trainer *t) {
    if (!t) return;
    free(t->chunks);
    free(t->arena);
    free(t);
}

static int chunk_rehash(sono_bpe_trainer *t) {
    size_t n = (t->chunk_mask + 1) * 2;
    chunk_entry *c = calloc(n, sizeof *c);
    if (!c) return sn_fail(SONO_E_NOMEM, "train-tokenizer: out of memory");
    for (size_t i = 0; i <= t->chunk_mask; i++) {
        if (!t->chunks[i].count) continue;
        size_t s = t->chunks[i].hash & (n - 1);
        while (c[s].count) s = (s + 1) & (n - 1);
        c[s] = t->chunks[i];
    }
    free(t->chunks);
    t->chunks = c;
    t->chunk_mask = n - 1;
    return 0;
}

static int chunk_add(sono_bpe_trainer *t, const uint8_t *b, size_t len) {
    uint64_t h = XXH3_64bits(b, len);
    size_t s = h & t->chunk_mask;
    for (; t->chunks[s].count; s = (s + 1) & t->chunk_mask) {
        chunk_entry *e = &t->chunks[s];
        if (e->hash == h && e->len == len && !memcmp(t->arena + e->off, b, len)) {
            e->count++;
            return 0;
        }
    }
    int rc = grow((void **)&t->arena, &t->cap_arena, t->n_arena + len, 1);
    if (rc) return rc;
    memcpy(t->arena + t->n_arena, b, len);
    t->chunks[s] = (chunk_entry){h, t->n_arena, (uint32_t)len, 1};
    t->n_arena += len;
    if (++t->n_chunks * 2 > t->chunk_mask + 1) return chunk_rehash(t);
    return 0;
}

int sono_bpe_trainer_add_text(sono_bpe_trainer *t, const void *text, size_t n_bytes) {
    if (!t || (!text && n_bytes)) return sn_fail(SONO_E_ARG, "train-tokenizer: NULL argument");
    const uint8_t *p = text;
    for (size_t at = 0; at < n_bytes;) {
        size_t len = sn_bpe_chunk_len(p + at, n_bytes - at, SN_BPE_MAX_CHUNK);
        int rc = chunk_add(t, p + at, len);
        if (rc) return rc;
        at += len;
    }
    t->n_texts++;
    t->n_bytes += (int64_t)n_bytes;
    return 0;
}

/* The text fields of a manifest line. */
static const char *const text_fields[] = {"text", "caption", "transcript"};

static int64_t add_manifest(sono_bpe_trainer *t, const char *path, char *buf, size_t n) {
    int64_t added = 0, line_no = 0;
    for (char *line = buf, *end; line < buf + n; line = end + 1) {
        end = memchr(line, '\n', (size_t)(buf + n - line));
        if (!end) end = buf + n;
        *end = 0;
        line_no++;
        if (line + strspn(line, " \t\r") == end) continue;
        json_object *o = json_tokener_parse(line);
        if (!o || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            return sn_fail(SONO_E_FORMAT, "%s: line %lld is not a JSON object", path, (long long)line_no);
        }
        for (size_t i = 0; i < sizeof text_fields / sizeof *text_fields; i++) {
            json_object *v;
            if (!json_object_object_get_ex(o, text_fields[i], &v) || !json_object_is_type(v, json_type_string))
                continue;
            int rc = sono_bpe_trainer_add_text(t, json_object_get_string(v), (size_t)json_object_get_string_len(v));
            if (rc) {
                json_object_put(o);
                return rc;
            }
            added++;
        }
        json_object_put(o);
    }
    return added;
}

int64_t sono_bpe_trainer_add_file(sono_bpe_trainer *t, const char *path) {
    if (!t || !path) return sn_fail(SONO_E_ARG, "train-tokenizer: NULL argument");
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = sn_read_file(path, (size_t)1 << 30, &buf, &n);
    if (rc) return rc;
    size_t pl = strlen(path);
    int64_t added;
    if (pl > 6 && !strcmp(path + pl - 6, ".jsonl")) {
        added = add_manifest(t, path, (char *)buf, n);
    } else {
        rc = sono_bpe_trainer_add_text(t, buf, n);
        added = rc ? rc : 1;
    }
    free(buf);
    return added;
}

void sono_bpe_trainer_stats(const sono_bpe_trainer *t, int64_t *n_texts, int64_t *n_bytes, int64_t *n_chunks) {
    if (n_texts) *n_texts = t ? t->n_texts : 0;
    if (n_bytes) *n_bytes = t ? t->n_bytes : 0;
    if (n_chunks) *n_chunks = t ? (int64_t)t->n_chunks : 0;
}

/* ---- learning ---- */

typedef struct {
    uint64_t key;       /* (left << 32 | right) + 1 */
    int64_t count;
    int32_t *where;     /* words holding the pair (may repeat a word, or list one that no longer holds it) */
    size_t n_where, cap_where;
    int32_t new_at;     /* the merge that last listed it as new */
} pair_entry;

typedef struct {
    int64_t count;
    uint64_t key;
} heap_entry;

typedef struct {
    pair_entry *pairs;
    size_t n_pairs, cap_pairs;
    int32_t *slot;      /* hash table of pair indices, -1 empty */
    size_t slot_mask;
    heap_entry *heap;
    size_t n_heap, cap_heap;
} learner;

static inline uint64_t mk_key(uint32_t a, uint32_t b) { return ((uint64_t)a << 32 | b) + 1; }
static inline size_t key_slot(uint64_t key, size_t mask) { return (size_t)sn_bpe_mix(key) & mask; }

static int slots_rehash(learner *L) {
    size_t n = L->slot_mask ? (L->slot_mask + 1) * 2 : 1024;
    int32_t *s = malloc(n * sizeof *s);
    if (!s) return sn_fail(SONO_E_NOMEM, "train-tokenizer: out of memory");
    memset(s, 0xff, n * sizeof *s);
    for (size_t i = 0; i < L->n_pairs; i++) {
        size_t k = key_slot(L->pairs[i].key, n - 1);
        while (s[k] >= 0) k = (k + 1) & (n - 1);
        s[k] = (int32_t)i;
    }
    free(L->slot);
    L->slot = s;
    L->slot_mask = n - 1;
    return 0;
}

/* Index of pair (a, b), made when absent; negative on failure. */
static int64_t pair_get(learner *L, uint32_t a, uint32_t b) {
    uint64_t key = mk_key(a, b);
    size_t k = key_slot(key, L->slot_mask);
    for (; L->slot[k] >= 0; k = (k + 1) & L->slot_mask)
        if (L->pairs[L->slot[k]].key == key) return L->slot[k];
    if (L->n_pairs >= INT32_MAX) return sn_fail(SONO_E_LIMIT, "train-tokenizer: too many distinct pairs");
    int rc = grow((void **)&L->pairs, &L->cap_pairs, L->n_pairs + 1, sizeof *L->pairs);
    if (rc) return rc;
    L->pairs[L->n_pairs] = (pair_entry){.key = key, .new_at = -1};
    L->slot[k] = (int32_t)L->n_pairs;
    int64_t idx = (int64_t)L->n_pairs++;
    if (L->n_pairs * 2 > L->slot_mask + 1 && (rc = slots_rehash(L))) return rc;
    return idx;
}

static int pair_note_word(pair_entry *p, int32_t w) {
    if (p->n_where && p->where[p->n_where - 1] == w) return 0;
    int rc = grow((void **)&p->where, &p->cap_where, p->n_where + 1, sizeof *p->where);
    if (rc) return rc;
    p->where[p->n_where++] = w;
    return 0;
}

/* Heap order: larger count first, then the smaller key. */
static inline int heap_before(const heap_entry *x, const heap_entry *y) {
    return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static int heap_push(learner *L, int64_t count, uint64_t key) {
    int rc = grow((void **)&L->heap, &L->cap_heap, L->n_heap + 1, sizeof *L->heap);
    if (rc) return rc;
    size_t i = L->n_heap++;
    heap_entry e = {count, key};
    while (i > 0 && heap_before(&e, &L->heap[(i - 1) / 2])) {
        L->heap[i] = L->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    L->heap[i] = e;
    return 0;
}

static heap_entry heap_pop(learner *L) {
    heap_entry top = L->heap[0], last = L->heap[--L->n_heap];
    size_t i = 0, n = L->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&L->heap[c + 1], &L->heap[c])) c++;
        if (!heap_before(&L->heap[c], &last)) break;
        L->heap[i] = L->heap[c];
        i = c;
    }
    if (n) L->heap[i] = last;
    return top;
}

static void learner_free(learner *L) {
    for (size_t i = 0; i < L->n_pairs; i++) free(L->pairs[i].where);
    free(L->pairs);
    free(L->slot);
    free(L->heap);
}

/* Add count to every pair of word sym[0..n); list the word under each pair
 * holding z (a new token; UINT32_MAX for none) and collect those pairs in
 * fresh (for the heap). */
static int count_pairs(learner *L, const uint32_t *sym, int n, int64_t count, int32_t w, uint32_t z, int32_t merge,
                       int32_t **fresh, size_t *n_fresh, size_t *cap_fresh) {
    for (int i = 0; i + 1 < n; i++) {
        int64_t k = pair_get(L, sym[i], sym[i + 1]);
        if (k < 0) return (int)k;
        pair_entry *p = &L->pairs[k];
        p->count += count;
        int rc = 0;
        if (count > 0 && (z == UINT32_MAX || sym[i] == z || sym[i + 1] == z)) rc = pair_note_word(p, w);
        if (!rc && count > 0 && z != UINT32_MAX && (sym[i] == z || sym[i + 1] == z) && p->new_at != merge) {
            p->new_at = merge;
            if (!(rc = grow((void **)fresh, cap_fresh, *n_fresh + 1, sizeof **fresh))) (*fresh)[(*n_fresh)++] = (int32_t)k;
        }
        if (rc) return rc;
    }
    return 0;
}

sono_tokenizer *sono_bpe_trainer_finish(sono_bpe_trainer *t, int *err) {
    if (!t) {
        if (err) *err = sn_fail(SONO_E_ARG, "train-tokenizer: NULL trainer");
        return NULL;
    }
    learner L = {0};
    sono_tokenizer *tok = NULL;
    int rc = 0;
    const int32_t max_merges = t->p.n_vocab - t->p.n_special - 256;
    int32_t n_merges = 0, n_words = 0;
    uint32_t *merges = malloc(((size_t)max_merges * 2 + 1) * sizeof *merges);
    int32_t *fresh = NULL, *stamp = NULL;
    size_t n_fresh = 0, cap_fresh = 0;
    /* words: the distinct chunks of two or more bytes, as symbol arrays */
    uint64_t *w_off = malloc((t->n_chunks + 1) * sizeof *w_off);
    int32_t *w_len = malloc((t->n_chunks + 1) * sizeof *w_len);
    int64_t *w_count = malloc((t->n_chunks + 1) * sizeof *w_count);
    uint32_t *sym = malloc((t->n_arena + 1) * sizeof *sym);
    if (!merges || !w_off || !w_len || !w_count || !sym) {
        rc = sn_fail(SONO_E_NOMEM, "train-tokenizer: out of memory");
        goto done;
    }
    for (size_t i = 0; i <= t->chunk_mask; i++) {
        const chunk_entry *c = &t->chunks[i];
        if (!c->count || c->len < 2) continue;
        w_off[n_words] = c->off;
        w_len[n_words] = (int32_t)c->len;
        w_count[n_words] = c->count;
        for (uint32_t j = 0; j < c->len; j++) sym[c->off + j] = t->arena[c->off + j];
        n_words++;
    }
    if (!(stamp = malloc(((size_t)n_words + 1) * sizeof *stamp))) {
        rc = sn_fail(SONO_E_NOMEM, "train-tokenizer: out of memory");
        goto done;
    }
    memset(stamp, 0xff, ((size_t)n_words + 1) * sizeof *stamp);
    if ((rc = slots_rehash(&L))) goto done;
    for (int32_t w = 0; w < n_words && !rc; w++)
        rc = count_pairs(&L, sym + w_off[w], w_len[w], w_count[w], w, UINT32_MAX, -1, &fresh, &n_fresh, &cap_fresh);
    for (size_t i = 0; i < L.n_pairs && !rc; i++) rc = heap_push(&L, L.pairs[i].count, L.pairs[i].key);
    while (!rc && n_merges < max_merges && L.n_heap) {
        heap_entry top = heap_pop(&L);
        uint32_t a = (uint32_t)((top.key - 1) >> 32), b = (uint32_t)(top.key - 1);
        int64_t k = pair_get(&L, a, b);
        if (k < 0) {
            rc = (int)k;
            break;
        }
        int64_t now = L.pairs[k].count;
        if (now != top.count) { /* stale: counts only fall */
            if (now > 0) rc = heap_push(&L, now, top.key);
            continue;
        }
        if (now < t->p.min_count) break;
        const int32_t r = n_merges;
        const uint32_t z = 256 + (uint32_t)r;
        merges[2 * r] = a;
        merges[2 * r + 1] = b;
        n_merges++;
        /* take the word list: new pairs may move the pair table */
        int32_t *list = L.pairs[k].where;
        size_t n_list = L.pairs[k].n_where;
        L.pairs[k].where = NULL;
        L.pairs[k].n_where = L.pairs[k].cap_where = 0;
        n_fresh = 0;
        for (size_t i = 0; i < n_list && !rc; i++) {
            int32_t w = list[i];
            if (stamp[w] == r) continue;
            stamp[w] = r;
            uint32_t *s = sym + w_off[w];
            int n = w_len[w], hit = 0;
            for (int j = 0; j + 1 < n && !hit; j++) hit = s[j] == a && s[j + 1] == b;
            if (!hit) continue;
            if ((rc = count_pairs(&L, s, n, -w_count[w], w, UINT32_MAX, r, &fresh, &n_fresh, &cap_fresh))) break;
            int m = 0;
            for (int j = 0; j < n; j++) {
                if (j + 1 < n && s[j] == a && s[j + 1] == b) {
                    s[m++] = z;
                    j++;
                } else {
                    s[m++] = s[j];
                }
            }
            w_len[w] = m;
            rc = count_pairs(&L, s, m, w_count[w], w, z, r, &fresh, &n_fresh, &cap_fresh);
        }
        free(list);
        for (size_t i = 0; i < n_fresh && !rc; i++)
            if (L.pairs[fresh[i]].count > 0) rc = heap_push(&L, L.pairs[fresh[i]].count, L.pairs[fresh[i]].key);
    }
    if (!rc) {
        const char *names[SN_BPE_MAX_SPECIAL];
        char *buf = malloc((size_t)SN_BPE_MAX_SPECIAL * SN_BPE_NAME_MAX);
        if (!buf) {
            rc = sn_fail(SONO_E_NOMEM, "train-tokenizer: out of memory");
        } else {
            sn_bpe_default_specials(t->p.n_special, names, buf);
            tok = sn_bpe_build(names, t->p.n_special, merges, n_merges, SN_BPE_MAX_CHUNK, &rc);
            free(buf);
        }
    }
done:
    learner_free(&L);
    free(merges);
    free(fresh);
    free(stamp);
    free(w_off);
    free(w_len);
    free(w_count);
    free(sym);
    if (rc && err) *err = rc;
    return rc ? NULL : tok;
}
