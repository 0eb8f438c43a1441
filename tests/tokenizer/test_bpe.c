/* Byte-level BPE and the vocabulary layout (tokenizer/):
 *   - the chunk splitter on hand-worked examples;
 *   - the learner equals a plain reference (full rescan per merge) merge for
 *     merge, on a synthetic corpus, and is deterministic: the same texts in
 *     another order give a file identical byte for byte;
 *   - encode equals a plain reference (every merge applied in rank order to
 *     each chunk); encode and decode are inverses on thousands of random
 *     byte strings (NULs, invalid UTF-8, long runs) and on the corpus's
 *     texts when a manifest is found (SONO_TEST_CORPUS, else corpus/ or
 *     ../corpus/ beside the source tree; skipped when absent);
 *   - special tokens: never produced by text, decoded to names only when asked;
 *   - the file: save/load gives the same bytes; every truncation and every
 *     single-bit flip is refused, and so are a wrong version, trailing bytes,
 *     bad merges and bad names (with valid checksums);
 *   - the layout maps ids <-> (kind, codebook, index) one to one and onto,
 *     and its JSON form reads back.
 *
 *   test-bpe SOURCE_ROOT */
#include <json-c/json.h>
#include <unistd.h>
#include <xxhash.h>

#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"
#include "sonotok/tokenizer.h"
#include "bpe.h"
#include "sono_internal.h"
#include "test_util.h"

/* ---- a synthetic corpus: words drawn with a skewed distribution ---- */

static const char *const words[] = {
    "the", "a", "dog", "barks", "loudly", "rain", "falls", "on", "roof", "of", "car", "engine", "starts",
    "bird", "sings", "piano", "music", "with", "drums", "and", "bass", "speech", "man", "woman", "talks",
    "door", "slams", "water", "flows", "wind", "blows", "crowd", "cheers", "bell", "rings", "12", "2026",
    "beep", "tone", "error", "monkeys", "screaming", "Katze", "chat", "gato", "\xc3\xa9t\xc3\xa9", "\xe9\x9f\xb3",
};
enum { N_WORDS = (int)(sizeof words / sizeof *words) };

static const char *const syllables[] = {
    "ka", "ro", "mi", "te", "sun", "la", "vo", "ber", "qui", "an", "dr", "xe", "po", "li", "ne", "stu",
};

/* One caption: 2-9 words, a third of them made of syllables, now and then
 * punctuation or a newline. */
static size_t make_text(char *out, size_t cap) {
    size_t n = 0;
    int k = 2 + (int)(tu_rand() % 8);
    for (int i = 0; i < k; i++) {
        int a = (int)(tu_rand() % N_WORDS), b = (int)(tu_rand() % N_WORDS);
        const char *w = words[a < b ? a : b]; /* skewed to the front */
        char made[64] = "";
        if (tu_rand() % 3 == 0) {
            int m = 1 + (int)(tu_rand() % 4);
            for (int j = 0; j < m; j++) strcat(made, syllables[tu_rand() % 16]);
            w = made;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", w);
        uint64_t r = tu_rand() % 16;
        if (r == 0) n += (size_t)snprintf(out + n, cap - n, ",");
        if (r == 1) n += (size_t)snprintf(out + n, cap - n, "!!");
        if (r == 2) n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    return n;
}

#define N_TEXTS 3000
static char *texts[N_TEXTS];
static size_t text_len[N_TEXTS];

static sono_tokenizer *train(int n_vocab, int reverse) {
    sono_bpe_train_params p = sono_bpe_train_default_params();
    p.n_vocab = n_vocab;
    int err = 0;
    sono_bpe_trainer *t = sono_bpe_trainer_new(&p, &err);
    CHECK(t);
    if (!t) return NULL;
    for (int i = 0; i < N_TEXTS; i++) {
        int j = reverse ? N_TEXTS - 1 - i : i;
        CHECK(sono_bpe_trainer_add_text(t, texts[j], text_len[j]) == 0);
    }
    sono_tokenizer *tok = sono_bpe_trainer_finish(t, &err);
    CHECK_MSG(tok, "finish: %s", sono_last_error());
    sono_bpe_trainer_free(t);
    return tok;
}

/* ---- the splitter ---- */

static void test_chunks(void) {
    static const struct {
        const char *text;
        const char *chunks[12];
    } cases[] = {
        {"Hello world  foo\n\nbar 123!!", {"Hello", " world", " ", " foo", "\n\n", "bar", " 123", "!!"}},
        {" x", {" x"}},
        {"a  ", {"a", "  "}},
        {"\t b", {"\t", " b"}},
        {"don't", {"don", "'", "t"}},
        {"caf\xc3\xa9 12ab", {"caf\xc3\xa9", " 12", "ab"}},
        {"!? .", {"!?", " ."}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const uint8_t *t = (const uint8_t *)cases[c].text;
        size_t n = strlen(cases[c].text), at = 0;
        int k = 0;
        while (at < n) {
            size_t len = sn_bpe_chunk_len(t + at, n - at, SN_BPE_MAX_CHUNK);
            const char *want = cases[c].chunks[k];
            CHECK_MSG(want && len == strlen(want) && !memcmp(t + at, want, len), "case %zu chunk %d: '%.*s'", c, k,
                      (int)len, t + at);
            at += len;
            k++;
        }
        CHECK_MSG(!cases[c].chunks[k], "case %zu: %d chunks, more expected", c, k);
    }
    /* the cap */
    uint8_t run[300];
    memset(run, 'a', sizeof run);
    CHECK(sn_bpe_chunk_len(run, sizeof run, 128) == 128);
    CHECK(sn_bpe_chunk_len(run, 5, 128) == 5);
}

/* ---- reference learner: count every pair of every word again for each merge ---- */

typedef struct {
    uint32_t s[SN_BPE_MAX_CHUNK];
    int n;
    int64_t count;
} ref_word;

static int ref_learn(int max_merges, int min_count, uint32_t *merges) {
    /* distinct chunks with counts, by linear search (small corpus) */
    static ref_word w[20000];
    int n_w = 0;
    for (int i = 0; i < N_TEXTS; i++) {
        const uint8_t *t = (const uint8_t *)texts[i];
        for (size_t at = 0; at < text_len[i];) {
            size_t len = sn_bpe_chunk_len(t + at, text_len[i] - at, SN_BPE_MAX_CHUNK);
            int found = -1;
            for (int j = 0; j < n_w && found < 0; j++) {
                if ((size_t)w[j].n != len) continue;
                size_t m = 0;
                while (m < len && w[j].s[m] == t[at + m]) m++;
                if (m == len) found = j;
            }
            if (found < 0) {
                found = n_w++;
                w[found].n = (int)len;
                w[found].count = 0;
                for (size_t m = 0; m < len; m++) w[found].s[m] = t[at + m];
            }
            w[found].count++;
            at += len;
        }
    }
    int n_merges = 0;
    static int64_t cnt[600][600];
    while (n_merges < max_merges) {
        int ids = 256 + n_merges;
        for (int a = 0; a < ids; a++) memset(cnt[a], 0, (size_t)ids * sizeof cnt[a][0]);
        for (int j = 0; j < n_w; j++)
            for (int m = 0; m + 1 < w[j].n; m++) cnt[w[j].s[m]][w[j].s[m + 1]] += w[j].count;
        int64_t best = 0;
        int ba = -1, bb = -1;
        for (int a = 0; a < ids; a++)
            for (int b = 0; b < ids; b++)
                if (cnt[a][b] > best) best = cnt[a][b], ba = a, bb = b;
        if (best < min_count) break;
        merges[2 * n_merges] = (uint32_t)ba;
        merges[2 * n_merges + 1] = (uint32_t)bb;
        uint32_t z = 256 + (uint32_t)n_merges++;
        for (int j = 0; j < n_w; j++) {
            int m = 0;
            for (int i = 0; i < w[j].n; i++) {
                if (i + 1 < w[j].n && w[j].s[i] == (uint32_t)ba && w[j].s[i + 1] == (uint32_t)bb) {
                    w[j].s[m++] = z;
                    i++;
                } else {
                    w[j].s[m++] = w[j].s[i];
                }
            }
            w[j].n = m;
        }
    }
    return n_merges;
}

/* ---- reference encoder: each merge in rank order over each chunk ---- */

static int64_t ref_encode(const sono_tokenizer *tok, const uint8_t *t, size_t n, int32_t *ids) {
    int64_t k = 0;
    for (size_t at = 0; at < n;) {
        size_t len = sn_bpe_chunk_len(t + at, n - at, (size_t)tok->max_chunk);
        uint32_t s[SN_BPE_CHUNK_LIMIT];
        int m = (int)len;
        for (int i = 0; i < m; i++) s[i] = t[at + i];
        for (int32_t r = 0; r < tok->n_merges && m > 1; r++) {
            uint32_t a = tok->merges[2 * r], b = tok->merges[2 * r + 1];
            int o = 0;
            for (int i = 0; i < m; i++) {
                if (i + 1 < m && s[i] == a && s[i + 1] == b) {
                    s[o++] = 256 + (uint32_t)r;
                    i++;
                } else {
                    s[o++] = s[i];
                }
            }
            m = o;
        }
        for (int i = 0; i < m; i++) ids[k++] = tok->n_special + (int32_t)s[i];
        at += len;
    }
    return k;
}

/* Round trip of one byte string; also against the reference encoder. */
static int round_trip(const sono_tokenizer *tok, const uint8_t *t, size_t n, int check_ref) {
    int32_t *ids = malloc((n + 1) * sizeof *ids), *ref = malloc((n + 1) * sizeof *ref);
    uint8_t *back = malloc(n + 1);
    int ok = ids && ref && back;
    int64_t k = ok ? sono_tokenizer_encode(tok, t, n, ids, (int64_t)n) : -1;
    ok = ok && k >= 0 && (size_t)k <= n && (n == 0) == (k == 0);
    for (int64_t i = 0; ok && i < k; i++) ok = ids[i] >= tok->n_special && ids[i] < sono_tokenizer_n_vocab(tok);
    int64_t nb = ok ? sono_tokenizer_decode(tok, ids, k, 0, back, n) : -1;
    ok = ok && nb == (int64_t)n && (n == 0 || !memcmp(back, t, n));
    if (ok && check_ref) ok = ref_encode(tok, t, n, ref) == k && (k == 0 || !memcmp(ref, ids, (size_t)k * sizeof *ids));
    free(ids);
    free(ref);
    free(back);
    return ok;
}

static void test_learn(void) {
    sono_tokenizer *tok = train(16 + 256 + 300, 0);
    if (!tok) return;
    static uint32_t ref[2 * 300];
    int n_ref = ref_learn(300, 2, ref);
    printf("  learned %d merges, reference %d\n", (int)tok->n_merges, n_ref);
    CHECK(n_ref == 300);
    CHECK(tok->n_merges == n_ref);
    int first_diff = -1;
    for (int r = 0; r < n_ref && r < tok->n_merges && first_diff < 0; r++)
        if (ref[2 * r] != tok->merges[2 * r] || ref[2 * r + 1] != tok->merges[2 * r + 1]) first_diff = r;
    CHECK_MSG(first_diff < 0, "merge %d: (%u, %u), reference (%u, %u)", first_diff, tok->merges[2 * first_diff],
              tok->merges[2 * first_diff + 1], ref[2 * first_diff], ref[2 * first_diff + 1]);
    /* a frequent word is one token */
    int32_t ids[8];
    CHECK(sono_tokenizer_encode(tok, " dog", 4, ids, 8) == 1);

    /* determinism: the texts in reverse order, and a second run */
    sono_tokenizer *t2 = train(16 + 256 + 300, 1), *t3 = train(16 + 256 + 300, 0);
    uint8_t *b1 = NULL, *b2 = NULL, *b3 = NULL;
    size_t n1 = 0, n2 = 0, n3 = 0;
    CHECK(t2 && t3 && !sono_tokenizer_to_bytes(tok, &b1, &n1) && !sono_tokenizer_to_bytes(t2, &b2, &n2) &&
          !sono_tokenizer_to_bytes(t3, &b3, &n3));
    CHECK(n1 == n2 && n1 == n3 && b1 && b2 && b3 && !memcmp(b1, b2, n1) && !memcmp(b1, b3, n1));
    CHECK(sono_tokenizer_hash(tok) == XXH64(b1, n1, 0));
    free(b1), free(b2), free(b3);
    sono_tokenizer_free(t2);
    sono_tokenizer_free(t3);

    /* the vocabulary stops where pairs run out (min_count 2) */
    sono_tokenizer *big = train(16 + 256 + 100000, 0);
    CHECK(big && big->n_merges < 100000 && big->n_merges > 300);
    sono_tokenizer_free(big);
    sono_tokenizer_free(tok);
}

static void test_round_trip(void) {
    sono_tokenizer *tok = train(16 + 256 + 600, 0);
    if (!tok) return;
    int bad = 0, n_cases = 0;
    uint8_t buf[2048];
    for (int i = 0; i < 4000; i++) {
        size_t n = (size_t)(tu_rand() % (i % 10 == 0 ? 2048 : 300));
        int mode = i % 5;
        if (mode == 4) { /* long chunks of learned pieces: the encoder's heap path */
            size_t k = 0;
            while (k + 8 < n) {
                const char *w = tu_rand() % 2 ? syllables[tu_rand() % 16] : words[tu_rand() % 20];
                memcpy(buf + k, w, strlen(w));
                k += strlen(w);
            }
            n = k;
        }
        for (size_t j = 0; j < n && mode < 4; j++) {
            uint64_t r = tu_rand();
            if (mode == 0) buf[j] = (uint8_t)r; /* any byte: NULs, invalid UTF-8 */
            else if (mode == 1) buf[j] = (uint8_t)" abcdeghilnorstw.,\n\xc3\xa9\x80\xff\0"[r % 23];
            else if (mode == 2) buf[j] = (uint8_t)(r % 3 ? 'a' : ' ');   /* long runs */
            else buf[j] = (uint8_t)(0x80 | (r & 0x7f));                 /* continuation bytes only */
        }
        if (mode == 1 && n > 20) { /* some real words in it */
            size_t k = make_text((char *)buf, 200);
            (void)k;
        }
        n_cases++;
        if (!round_trip(tok, buf, n, 1)) {
            if (bad++ < 5) fprintf(stderr, "FAIL round trip, case %d (mode %d, %zu bytes)\n", i, mode, n);
        }
    }
    for (int i = 0; i < N_TEXTS; i++, n_cases++)
        if (!round_trip(tok, (const uint8_t *)texts[i], text_len[i], 1)) bad++;
    /* all 256 single bytes, and the empty string */
    for (int b = 0; b < 256; b++, n_cases++) {
        uint8_t one = (uint8_t)b;
        if (!round_trip(tok, &one, 1, 1)) bad++;
    }
    CHECK(round_trip(tok, (const uint8_t *)"", 0, 1));
    CHECK_MSG(bad == 0, "%d of %d round trips failed", bad, n_cases);
    printf("  %d round trips\n", n_cases);

    /* a short id buffer: the full count comes back, the prefix is written */
    const char *s = "the dog barks loudly on the roof of the car";
    int32_t all[64], few[3] = {-1, -1, -1};
    int64_t k = sono_tokenizer_encode(tok, s, strlen(s), all, 64);
    CHECK(k > 3 && sono_tokenizer_encode(tok, s, strlen(s), few, 2) == k && few[0] == all[0] && few[1] == all[1] &&
          few[2] == -1);
    CHECK(sono_tokenizer_encode(tok, s, strlen(s), NULL, 0) == k);
    /* a short byte buffer: the full length comes back */
    char out[8];
    CHECK(sono_tokenizer_decode(tok, all, k, 0, out, sizeof out) == (int64_t)strlen(s) && !memcmp(out, s, 8));
    sono_tokenizer_free(tok);
}

static void test_specials(void) {
    sono_tokenizer *tok = train(16 + 256 + 200, 0);
    if (!tok) return;
    CHECK(sono_tokenizer_n_special(tok) == 16);
    CHECK(sono_tokenizer_special_id(tok, "<pad>") == SONO_TOK_PAD);
    CHECK(sono_tokenizer_special_id(tok, "<end>") == SONO_TOK_END);
    CHECK(sono_tokenizer_special_id(tok, "<sep>") == SONO_TOK_SEP);
    CHECK(sono_tokenizer_special_id(tok, "<task:continue>") == SONO_TOK_TASK_CONTINUE);
    CHECK(sono_tokenizer_special_id(tok, "<task:tta>") == SONO_TOK_TASK_TTA);
    CHECK(sono_tokenizer_special_id(tok, "<task:tts>") == SONO_TOK_TASK_TTS);
    CHECK(sono_tokenizer_special_id(tok, "<uncond>") == SONO_TOK_UNCOND);
    CHECK(sono_tokenizer_special_id(tok, "<reserved:15>") == 15);
    CHECK(sono_tokenizer_special_id(tok, "<nope>") == SONO_E_NOT_FOUND);
    /* text that spells special names encodes to text ids only */
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        const uint8_t *b;
        int len = sono_tokenizer_token_bytes(tok, i, &b);
        CHECK(len > 2 && b[0] == '<');
        n += (size_t)snprintf(text + n, sizeof text - n, "%.*s %.*s<%.*s>", len, (const char *)b, len,
                              (const char *)b, len, (const char *)b);
    }
    int32_t ids[4096];
    int64_t k = sono_tokenizer_encode(tok, text, n, ids, 4096);
    int specials = 0;
    for (int64_t i = 0; i < k; i++) specials += ids[i] < sono_tokenizer_n_special(tok);
    CHECK(k > 0 && specials == 0);
    /* decode: specials left out unless asked, then their names */
    int32_t seq[] = {SONO_TOK_TASK_TTA, 0, SONO_TOK_SEP, 0, SONO_TOK_END};
    CHECK(sono_tokenizer_encode(tok, "a", 1, &seq[1], 1) == 1);
    CHECK(sono_tokenizer_encode(tok, "b", 1, &seq[3], 1) == 1);
    char out[128];
    int64_t m = sono_tokenizer_decode(tok, seq, 5, 0, out, sizeof out);
    CHECK(m == 2 && !memcmp(out, "ab", 2));
    m = sono_tokenizer_decode(tok, seq, 5, SONO_TOK_DECODE_SPECIALS, out, sizeof out);
    CHECK(m == (int64_t)strlen("<task:tta>a<sep>b<end>") && !memcmp(out, "<task:tta>a<sep>b<end>", (size_t)m));
    /* ids out of range */
    int32_t badid[2] = {sono_tokenizer_n_vocab(tok), -1};
    CHECK(sono_tokenizer_decode(tok, badid, 1, 0, out, sizeof out) == SONO_E_RANGE);
    CHECK(sono_tokenizer_decode(tok, badid + 1, 1, 0, out, sizeof out) == SONO_E_RANGE);
    sono_tokenizer_free(tok);
}

/* ---- the file ---- */

/* Rewrite the checksum after an edit. */
static void reseal(uint8_t *f, size_t n) { sn_wr64(f + n - 8, XXH64(f, n - 8, 0)); }

static void test_file(void) {
    sono_tokenizer *tok = train(16 + 256 + 200, 0);
    if (!tok) return;
    char dir[] = "/tmp/sonotok-test-bpe-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tok.sntok", dir);
    CHECK(sono_tokenizer_save(tok, path) == 0);
    CHECK(tu_count_files(dir) == 1);
    int err = 0;
    sono_tokenizer *back = sono_tokenizer_load(path, &err);
    CHECK_MSG(back, "load: %s", sono_last_error());
    uint8_t *f = NULL, *g = NULL;
    size_t n = 0, m = 0;
    CHECK(!sono_tokenizer_to_bytes(tok, &f, &n));
    CHECK(back && !sono_tokenizer_to_bytes(back, &g, &m) && m == n && !memcmp(f, g, n));
    /* header, the 16 names with their length bytes (188), merges, checksum */
    CHECK(n == 32 + 188 + (size_t)tok->n_merges * 8 + 8);
    free(g);
    sono_tokenizer_free(back);
    /* every truncation */
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        sono_tokenizer *t = sono_tokenizer_from_bytes(f, len, &err);
        if (t || (err != SONO_E_TRUNCATED && !(len == 0 && err == SONO_E_FORMAT))) {
            if (bad++ < 5) fprintf(stderr, "FAIL truncated to %zu: %s (%d)\n", len, t ? "accepted" : sono_last_error(), err);
        }
        sono_tokenizer_free(t);
    }
    CHECK_MSG(bad == 0, "%d truncations not refused as truncated", bad);
    /* every single-bit flip */
    bad = 0;
    uint8_t *h = malloc(n);
    for (size_t bit = 0; h && bit < 8 * n; bit++) {
        memcpy(h, f, n);
        h[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        sono_tokenizer *t = sono_tokenizer_from_bytes(h, n, &err);
        if (t || err >= 0) {
            if (bad++ < 5) fprintf(stderr, "FAIL bit %zu flipped: accepted\n", bit);
        }
        sono_tokenizer_free(t);
    }
    CHECK_MSG(bad == 0, "%d bit flips accepted", bad);
    /* content errors with a valid checksum */
    memcpy(h, f, n);
    sn_wr32(h + 8, 2);
    reseal(h, n);
    CHECK(!sono_tokenizer_from_bytes(h, n, &err) && err == SONO_E_UNSUPPORTED);
    memcpy(h, f, n);
    sn_wr32(h + n - 16, 256 + (uint32_t)tok->n_merges - 1); /* last merge joins itself */
    reseal(h, n);
    CHECK(!sono_tokenizer_from_bytes(h, n, &err) && err == SONO_E_FORMAT);
    memcpy(h, f, n);
    h[33] = 'x'; /* "<pad>" -> "xpad>" */
    reseal(h, n);
    CHECK(!sono_tokenizer_from_bytes(h, n, &err) && err == SONO_E_FORMAT);
    memcpy(h, f, n);
    memcpy(h + 34, "PAD", 3); /* "<PAD>": a valid name, not the standard one */
    reseal(h, n);
    CHECK(!sono_tokenizer_from_bytes(h, n, &err) && err == SONO_E_FORMAT);
    memcpy(h, f, n);
    sn_wr32(h + 20, sn_rd32(h + 20) + 1);
    reseal(h, n);
    CHECK(!sono_tokenizer_from_bytes(h, n, &err) && err == SONO_E_FORMAT);
    uint8_t *longer = malloc(n + 1);
    if (longer) {
        memcpy(longer, f, n - 8);
        longer[n - 8] = 0;
        reseal(longer, n + 1);
        CHECK(!sono_tokenizer_from_bytes(longer, n + 1, &err) && err == SONO_E_FORMAT);
    }
    free(longer);
    memcpy(h, f, n);
    memcpy(h, "SONOBPF", 7);
    CHECK(!sono_tokenizer_from_bytes(h, n, &err) && err == SONO_E_FORMAT);
    free(h);
    /* a missing file */
    snprintf(path, sizeof path, "%s/none.sntok", dir);
    CHECK(!sono_tokenizer_load(path, &err) && err == SONO_E_NOT_FOUND);
    CHECK(tu_count_files(dir) == 1);
    snprintf(path, sizeof path, "%s/tok.sntok", dir);
    unlink(path);
    rmdir(dir);
    free(f);
    sono_tokenizer_free(tok);
}

/* ---- the layout ---- */

static void test_layout(void) {
    sono_vocab_layout l = {16, 300, 4, 10, 0, 0};
    CHECK(sono_vocab_layout_check(&l) == 0);
    const int64_t size = sono_vocab_size(&l);
    CHECK(size == 16 + 300 + 4 * 12);
    /* id -> (kind, codebook, index) -> id, over the whole range */
    int bad = 0;
    for (int64_t id = 0; id < size; id++) {
        int kind = -1;
        int32_t cb = -1;
        int64_t ix = -1;
        if (sono_vocab_locate(&l, id, &kind, &cb, &ix) || sono_vocab_id(&l, kind, cb, ix) != id) bad++;
    }
    CHECK_MSG(bad == 0, "%d ids do not map back", bad);
    /* (kind, codebook, index) -> id: every valid triple, each id once, all ids hit */
    char *seen = calloc((size_t)size, 1);
    int64_t n_valid = 0;
    bad = 0;
    for (int kind = SONO_VOCAB_SPECIAL; kind <= SONO_VOCAB_AUDIO_END; kind++)
        for (int32_t cb = -1; cb <= 4; cb++)
            for (int64_t ix = -1; ix <= 300; ix++) {
                int64_t id = sono_vocab_id(&l, kind, cb, ix);
                int audio = kind >= SONO_VOCAB_AUDIO;
                int64_t lim = kind == SONO_VOCAB_SPECIAL ? 16 : kind == SONO_VOCAB_TEXT ? 300 : kind == SONO_VOCAB_AUDIO ? 10 : 1;
                int valid = ix >= 0 && ix < lim && (!audio || (cb >= 0 && cb < 4));
                if (!audio && cb != 0 && valid) continue; /* codebook ignored: counted once, at cb 0 */
                if (valid != (id >= 0)) bad++;
                if (id >= 0 && id < size) {
                    if (seen[id]++) bad++;
                    n_valid++;
                }
            }
    CHECK_MSG(bad == 0 && n_valid == size, "triples: %d bad, %lld ids of %lld", bad, (long long)n_valid, (long long)size);
    free(seen);
    CHECK(sono_vocab_id(&l, SONO_VOCAB_AUDIO_EMPTY, 2, 0) == 316 + 2 * 12 + 10);
    CHECK(sono_vocab_id(&l, SONO_VOCAB_AUDIO_END, 3, 0) == 316 + 3 * 12 + 11);
    CHECK(sono_vocab_id(&l, 9, 0, 0) == SONO_E_RANGE);
    CHECK(sono_vocab_locate(&l, size, NULL, NULL, NULL) == SONO_E_RANGE);
    CHECK(sono_vocab_locate(&l, -1, NULL, NULL, NULL) == SONO_E_RANGE);
    /* JSON */
    char js[SONO_VOCAB_JSON_MAX];
    sono_vocab_layout big = {256, 1 << 20, 3000, 1 << 20, 0, 0}, r;
    CHECK(sono_vocab_layout_check(&big) == SONO_E_LIMIT);
    big = (sono_vocab_layout){SN_BPE_MAX_SPECIAL, 1 << 20, 100, 1 << 20, 0, 0};
    CHECK(sono_vocab_layout_to_json(&big, js, sizeof js) > 0);
    CHECK(sono_vocab_layout_to_json(&l, js, sizeof js) > 0 && sono_vocab_layout_from_json(js, &r) == 0 &&
          !memcmp(&r, &l, sizeof l));
    CHECK(sono_vocab_layout_to_json(&l, js, 10) == SONO_E_LIMIT);
    CHECK(sono_vocab_layout_from_json("[1,2]", &r) == SONO_E_FORMAT);
    CHECK(sono_vocab_layout_from_json("{\"version\":1,\"n_special\":16}", &r) == SONO_E_FORMAT);
    CHECK(sono_vocab_layout_from_json("{\"version\":3,\"n_special\":16,\"n_text\":1,\"n_codebooks\":1,"
                                      "\"codebook_size\":4,\"audio_extra\":2}", &r) == SONO_E_UNSUPPORTED);
    /* version 2 needs the phoneme and condition counts */
    CHECK(sono_vocab_layout_from_json("{\"version\":2,\"n_special\":16,\"n_text\":1,\"n_codebooks\":1,"
                                      "\"codebook_size\":4,\"audio_extra\":2}", &r) == SONO_E_FORMAT);
    /* version 1 is still written for a layout without phonemes (old readers, golden files) */
    CHECK(sono_vocab_layout_to_json(&l, js, sizeof js) > 0 && strstr(js, "\"version\":1,") && !strstr(js, "n_phoneme"));
    CHECK(sono_vocab_layout_from_json("{\"version\":1,\"n_special\":16,\"n_text\":1,\"n_codebooks\":1,"
                                      "\"codebook_size\":0,\"audio_extra\":2}", &r) == SONO_E_RANGE);
    /* version 2: phonemes then conditions between the text and the audio (ids by hand) */
    sono_vocab_layout v2 = {16, 300, 4, 10, 20, 3};
    CHECK(sono_vocab_size(&v2) == 16 + 300 + 20 + 3 + 4 * 12);
    CHECK(sono_vocab_id(&v2, SONO_VOCAB_PHONEME, 0, 0) == 316 && sono_vocab_id(&v2, SONO_VOCAB_PHONEME, 0, 19) == 335);
    CHECK(sono_vocab_id(&v2, SONO_VOCAB_PHONEME, 0, 20) == SONO_E_RANGE);
    CHECK(sono_vocab_id(&v2, SONO_VOCAB_COND, 0, 0) == 336 && sono_vocab_id(&v2, SONO_VOCAB_COND, 0, 2) == 338);
    CHECK(sono_vocab_id(&v2, SONO_VOCAB_COND, 0, 3) == SONO_E_RANGE);
    CHECK(sono_vocab_id(&v2, SONO_VOCAB_AUDIO, 0, 0) == 339 && sono_vocab_id(&v2, SONO_VOCAB_AUDIO_END, 3, 0) == 339 + 3 * 12 + 11);
    {
        int kind = -1;
        int64_t ix = -1;
        CHECK(sono_vocab_locate(&v2, 330, &kind, NULL, &ix) == 0 && kind == SONO_VOCAB_PHONEME && ix == 14);
        CHECK(sono_vocab_locate(&v2, 337, &kind, NULL, &ix) == 0 && kind == SONO_VOCAB_COND && ix == 1);
        CHECK(sono_vocab_locate(&v2, 339, &kind, NULL, &ix) == 0 && kind == SONO_VOCAB_AUDIO && ix == 0);
    }
    CHECK(sono_vocab_layout_to_json(&v2, js, sizeof js) > 0 && strstr(js, "\"version\":2,") &&
          sono_vocab_layout_from_json(js, &r) == 0 && !memcmp(&r, &v2, sizeof v2));
    /* from a tokenizer */
    sono_tokenizer *tok = train(16 + 256 + 50, 0);
    CHECK(tok && sono_vocab_layout_for(tok, 8, 1024, &r) == 0 && r.n_special == 16 && r.n_text == 256 + tok->n_merges &&
          sono_vocab_id(&r, SONO_VOCAB_TEXT, 0, 'a') == sono_tokenizer_n_special(tok) + 'a');
    sono_tokenizer_free(tok);
}

/* ---- the corpus's texts ---- */

static void test_corpus(const char *src) {
    char path[4096];
    const char *env = getenv("SONO_TEST_CORPUS");
    const char *cand[3] = {env, "corpus/manifest.jsonl", "../corpus/manifest.jsonl"};
    int found = 0;
    for (int i = 0; i < 3 && !found; i++) {
        if (!cand[i]) continue;
        if (i == 0) snprintf(path, sizeof path, "%s", cand[i]);
        else snprintf(path, sizeof path, "%s/%s", src, cand[i]);
        found = access(path, R_OK) == 0;
    }
    if (!found) {
        printf("  corpus: no manifest (SONO_TEST_CORPUS, corpus/ or ../corpus/): skipped\n");
        return;
    }
    sono_bpe_trainer *bt = sono_bpe_trainer_new(NULL, NULL);
    int64_t n_texts = bt ? sono_bpe_trainer_add_file(bt, path) : -1;
    CHECK_MSG(n_texts > 0, "%s: %s", path, sono_last_error());
    int err = 0;
    sono_tokenizer *tok = n_texts > 0 ? sono_bpe_trainer_finish(bt, &err) : NULL;
    sono_bpe_trainer_free(bt);
    CHECK(tok);
    if (!tok) return;
    uint8_t *buf = NULL;
    size_t n = 0;
    FILE *fp = fopen(path, "rb");
    if (fp) {
        fseek(fp, 0, SEEK_END);
        n = (size_t)ftell(fp);
        fseek(fp, 0, SEEK_SET);
        buf = malloc(n + 1);
        if (!buf || fread(buf, 1, n, fp) != n) n = 0;
        fclose(fp);
    }
    CHECK(n > 0);
    /* every text, and the whole manifest as one string */
    int64_t k = 0, bytes = 0, ids = 0, bad = 0;
    char *save = NULL;
    if (buf) buf[n] = 0;
    uint8_t *copy = buf ? malloc(n + 1) : NULL;
    if (copy) memcpy(copy, buf, n + 1);
    for (char *line = copy ? strtok_r((char *)copy, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        json_object *o = json_tokener_parse(line), *v;
        if (o && json_object_object_get_ex(o, "text", &v) && json_object_is_type(v, json_type_string)) {
            size_t len = (size_t)json_object_get_string_len(v);
            const uint8_t *s = (const uint8_t *)json_object_get_string(v);
            if (!round_trip(tok, s, len, k < 2000)) bad++;
            k++;
            bytes += (int64_t)len;
            ids += sono_tokenizer_encode(tok, s, len, NULL, 0);
        }
        json_object_put(o);
    }
    free(copy);
    CHECK_MSG(bad == 0, "%lld of %lld corpus texts fail the round trip", (long long)bad, (long long)k);
    CHECK(round_trip(tok, buf, n, 0));
    printf("  corpus: %lld texts, %lld bytes -> %lld ids (%.2f bytes/id), %d merges\n", (long long)k, (long long)bytes,
           (long long)ids, ids ? (double)bytes / (double)ids : 0.0, (int)tok->n_merges);
    free(buf);
    sono_tokenizer_free(tok);
}

int main(int argc, char **argv) {
    tu_seed(14);
    for (int i = 0; i < N_TEXTS; i++) {
        texts[i] = malloc(512);
        text_len[i] = make_text(texts[i], 512);
    }
    test_chunks();
    test_learn();
    test_round_trip();
    test_specials();
    test_file();
    test_layout();
    test_corpus(argc > 1 ? argv[1] : ".");
    for (int i = 0; i < N_TEXTS; i++) free(texts[i]);
    return tu_finish("test-bpe");
}
