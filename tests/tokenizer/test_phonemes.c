/* The text front end (phonemes.h): phonemes of known words against what the
 * espeak-ng program prints for them (`espeak-ng -v L -q -x --sep=_ TEXT`,
 * copied below, not computed by the code under test), languages, stress,
 * words, pauses, spans and speech, determinism (also from two threads at
 * once), every error, the inventory (one to one, fallbacks, its JSON), and
 * the sentence splitter on hand-made cases. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonotok/phonemes.h"
#include "test_util.h"

static sono_phonemizer *make(const char *lang) {
    sono_phonemizer_params p = sono_phonemizer_default_params();
    p.language = lang;
    int err = 0;
    sono_phonemizer *ph = sono_phonemizer_new(&p, &err);
    if (!ph) printf("phonemizer %s: %d %s\n", lang, err, sono_last_error());
    return ph;
}

/* The spoken phonemes of text as "'oU"-style strings joined by spaces (stress
 * mark from the stress field, pauses left out), in buf. */
static int spoken(sono_phonemizer *ph, const char *text, char *buf, size_t n) {
    sono_phoneme_seq s;
    int rc = sono_phonemize(ph, text, strlen(text), 0, &s);
    if (rc) return rc;
    size_t k = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < s.n_phonemes; i++) {
        if (s.phonemes[i].kind != SONO_PH_PHONE) continue;
        const char *mark = s.phonemes[i].stress == 1 ? "'" : s.phonemes[i].stress == 2 ? "," : "";
        k += (size_t)snprintf(buf + k, n - k, "%s%s%s", k ? " " : "", mark, s.phonemes[i].name);
    }
    sono_phoneme_seq_free(&s);
    return 0;
}

static void test_known(void) {
    /* From espeak-ng 1.51's program, --sep=_ separators turned into spaces, pauses left out. */
    static const char *cases[][3] = {
        {"en", "Hello, world!", "h @ l 'oU w '3: l d"},
        {"en", "The quick brown fox jumps over the lazy dog.",
         "D @ k w 'I k b r 'aU n f '0 k s dZ 'V m p s ,oU v 3 D @ l 'eI z i d '0 g"},
        {"en", "Dr. Smith paid $42.", "d '0 k t 3 s m 'I T p 'eI d d '0 l 3 f 'o@ t i t 'u:"},
        {"en", "Mr. Jones", "m 'I s t 3 dZ 'oU n z"},
        {"es", "Hola, buenos días.", "'o l a b w 'e n o s D 'i ; a s"},
        {"de", "Guten Morgen.", "g 'u: t @ n m 'O r g @ n"},
        {"fr", "Bonjour le monde", "b O~ Z 'u r l @- m 'O~ d"},
        {"cs", "Dobrý den.", "d 'o b R i: d 'e n"},
    };
    char got[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sono_phonemizer *ph = make(cases[i][0]);
        CHECK(ph != NULL);
        if (!ph) continue;
        int rc = spoken(ph, cases[i][1], got, sizeof got);
        CHECK(rc == 0);
        if (rc == 0 && strcmp(got, cases[i][2]) != 0)
            printf("  %s '%s':\n    got  %s\n    want %s\n", cases[i][0], cases[i][1], got, cases[i][2]);
        CHECK(rc == 0 && strcmp(got, cases[i][2]) == 0);
        sono_phonemizer_free(ph);
    }
}

static void test_structure(void) {
    sono_phonemizer *ph = make("en");
    CHECK(ph != NULL);
    if (!ph) return;
    const char *text = "Hello, world. Cats sleep";
    sono_phoneme_seq a, b;
    CHECK(sono_phonemize(ph, text, strlen(text), SONO_PHONEMIZE_AUDIO, &a) == 0);
    CHECK(sono_phonemize(ph, text, strlen(text), SONO_PHONEMIZE_AUDIO, &b) == 0);
    /* determinism: the same phonemes (the spans may move by a few ms: espeak-ng's
     * pitch flutter runs on from call to call; a fresh process repeats them,
     * which the CLI test checks) */
    CHECK(a.n_phonemes == b.n_phonemes && a.n_samples > 22050 / 2 && a.pcm);
    CHECK(b.n_samples > a.n_samples * 98 / 100 && b.n_samples < a.n_samples * 102 / 100);
    for (int64_t i = 0; i < a.n_phonemes && i < b.n_phonemes; i++)
        CHECK(a.phonemes[i].token == b.phonemes[i].token && a.phonemes[i].word == b.phonemes[i].word &&
              a.phonemes[i].text_offset == b.phonemes[i].text_offset && a.phonemes[i].kind == b.phonemes[i].kind);
    CHECK(a.sample_rate == 22050 && a.n_words == 4);
    /* spans contiguous from 0 to the end; words and their text; pauses where the punctuation is */
    int64_t at = 0, n_pause = 0, n_short = 0, peak_ok = 0;
    int32_t last_word = -1;
    for (int64_t i = 0; i < a.n_phonemes; i++) {
        const sono_phoneme *p = &a.phonemes[i];
        CHECK(p->start_sample == at && p->end_sample >= p->start_sample);
        at = p->end_sample;
        if (p->kind == SONO_PH_PHONE) {
            CHECK(p->word >= last_word && p->word < a.n_words);
            CHECK((p->word != last_word) == (p->word_start == 1));
            last_word = p->word;
            CHECK(p->token == sono_phoneme_token(p->name, p->stress) && p->token >= SONO_PHT_N_SPECIAL);
        } else {
            CHECK(p->word == -1 && p->text_offset == -1);
            n_pause += p->kind == SONO_PH_PAUSE;
            n_short += p->kind == SONO_PH_PAUSE_SHORT;
            CHECK(p->token == (p->kind == SONO_PH_PAUSE ? SONO_PHT_PAUSE : SONO_PHT_PAUSE_SHORT));
        }
    }
    CHECK(at == a.n_samples);
    /* "," gives a short pause, "." and the end of the text a sentence's */
    CHECK(n_short == 1 && n_pause == 2);
    CHECK(a.phonemes[a.n_phonemes - 1].kind == SONO_PH_PAUSE);
    CHECK(a.phonemes[0].text_offset == 0 && a.phonemes[0].text_bytes == 5);            /* Hello */
    for (int64_t i = 0; i < a.n_phonemes; i++)
        if (a.phonemes[i].word == 1) CHECK(a.phonemes[i].text_offset == 7 && a.phonemes[i].text_bytes == 5); /* world */
    for (int64_t i = 0; i < a.n_samples; i++) peak_ok |= a.pcm[i] > 0.05f || a.pcm[i] < -0.05f;
    CHECK(peak_ok);
    /* the words fall in speech and the pauses in near silence: mean energy of each */
    double e_word[4] = {0}, e_pause = 0;
    int64_t n_word[4] = {0}, n_pause_s = 0;
    for (int64_t i = 0; i < a.n_phonemes; i++) {
        const sono_phoneme *p = &a.phonemes[i];
        for (int64_t t = p->start_sample; t < p->end_sample; t++) {
            if (p->kind == SONO_PH_PHONE && p->word < 4) e_word[p->word] += (double)a.pcm[t] * a.pcm[t], n_word[p->word]++;
            if (p->kind != SONO_PH_PHONE) e_pause += (double)a.pcm[t] * a.pcm[t], n_pause_s++;
        }
    }
    for (int w = 0; w < 4; w++) CHECK(n_word[w] > 0 && n_pause_s > 0 && e_word[w] / n_word[w] > 20 * e_pause / n_pause_s);
    /* without SONO_PHONEMIZE_AUDIO: the same phonemes, no speech kept */
    sono_phoneme_seq c;
    CHECK(sono_phonemize(ph, text, strlen(text), 0, &c) == 0);
    CHECK(c.pcm == NULL && c.n_phonemes == a.n_phonemes);
    for (int64_t i = 0; i < a.n_phonemes && i < c.n_phonemes; i++) CHECK(a.phonemes[i].token == c.phonemes[i].token);
    sono_phoneme_seq_free(&a);
    sono_phoneme_seq_free(&b);
    sono_phoneme_seq_free(&c);
    /* markup is text: "<b>" is read, not obeyed (espeak-ng's SSML is off) */
    char got[256];
    CHECK(spoken(ph, "a <break time=\"3s\"/> b", got, sizeof got) == 0);
    /* the speaking rate changes the spans, not the phonemes */
    sono_phonemizer_params pp = sono_phonemizer_default_params();
    pp.rate_wpm = 300;
    pp.variant = "f2";
    int err;
    sono_phonemizer *fast = sono_phonemizer_new(&pp, &err);
    CHECK(fast != NULL);
    char slow_s[256], fast_s[256];
    CHECK(spoken(ph, "Cats sleep all day.", slow_s, sizeof slow_s) == 0);
    CHECK(fast && spoken(fast, "Cats sleep all day.", fast_s, sizeof fast_s) == 0 && strcmp(slow_s, fast_s) == 0);
    sono_phoneme_seq s1, s2;
    CHECK(sono_phonemize(ph, "Cats sleep all day.", 19, 0, &s1) == 0);
    CHECK(fast && sono_phonemize(fast, "Cats sleep all day.", 19, 0, &s2) == 0 && s2.n_samples < s1.n_samples * 3 / 4);
    sono_phoneme_seq_free(&s1);
    sono_phoneme_seq_free(&s2);
    sono_phonemizer_free(fast);
    sono_phonemizer_free(ph);
}

typedef struct {
    sono_phonemizer *ph;
    int64_t n, sum;
    int rc;
} th_arg;

static void *th_run(void *v) {
    th_arg *a = v;
    for (int k = 0; k < 6 && !a->rc; k++) {
        sono_phoneme_seq s;
        const char *t = k % 2 ? "Le chat dort." : "The cat sleeps.";
        if ((a->rc = sono_phonemize(a->ph, t, strlen(t), 0, &s)) != 0) break;
        a->n += s.n_phonemes;
        for (int64_t i = 0; i < s.n_phonemes; i++) a->sum += s.phonemes[i].token * (i + 1) + s.phonemes[i].word;
        sono_phoneme_seq_free(&s);
    }
    return NULL;
}

static void test_threads(void) {
    /* two languages from two threads at once give what one thread gives */
    sono_phonemizer *en = make("en"), *fr = make("fr");
    CHECK(en && fr);
    if (!en || !fr) return;
    th_arg one = {en, 0, 0, 0}, mixed[2] = {{en, 0, 0, 0}, {en, 0, 0, 0}};
    th_run(&one);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, th_run, &mixed[i]);
    th_arg other = {fr, 0, 0, 0};
    th_run(&other);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    CHECK(one.rc == 0 && other.rc == 0);
    for (int i = 0; i < 2; i++) CHECK(mixed[i].rc == 0 && mixed[i].n == one.n && mixed[i].sum == one.sum);
    sono_phonemizer_free(en);
    sono_phonemizer_free(fr);
}

static void test_errors(void) {
    sono_phonemizer *ph = make("en");
    CHECK(ph != NULL);
    if (!ph) return;
    sono_phoneme_seq s;
    CHECK(sono_phonemize(ph, "", 0, 0, &s) == SONO_E_EMPTY && s.phonemes == NULL);
    CHECK(sono_phonemize(ph, " \n\t ", 4, 0, &s) == SONO_E_EMPTY && strstr(sono_last_error(), "empty text"));
    CHECK(sono_phonemize(ph, "...", 3, 0, &s) == SONO_E_EMPTY && strstr(sono_last_error(), "no pronounceable"));
    CHECK(sono_phonemize(ph, "a\xff b", 4, 0, &s) == SONO_E_FORMAT);
    CHECK(sono_phonemize(ph, "a\xc0\x80", 3, 0, &s) == SONO_E_FORMAT); /* overlong NUL */
    CHECK(sono_phonemize(ph, "ab\0cd", 5, 0, &s) == SONO_E_FORMAT);
    CHECK(sono_phonemize(ph, "\xed\xa0\x80", 3, 0, &s) == SONO_E_FORMAT); /* a surrogate */
    char *big = malloc(SONO_PHONEMIZE_MAX_BYTES + 2);
    memset(big, 'a', SONO_PHONEMIZE_MAX_BYTES + 1);
    CHECK(sono_phonemize(ph, big, SONO_PHONEMIZE_MAX_BYTES + 1, 0, &s) == SONO_E_LIMIT);
    free(big);
    CHECK(sono_phonemize(NULL, "a", 1, 0, &s) == SONO_E_ARG);
    CHECK(sono_phonemize(ph, "a", 1, 0, NULL) == SONO_E_ARG);
    sono_phonemizer_free(ph);
    sono_phonemizer_free(NULL);
    sono_phoneme_seq_free(NULL);

    sono_phonemizer_params p = sono_phonemizer_default_params();
    int err = 0;
    p.language = "xx-nope";
    CHECK(sono_phonemizer_new(&p, &err) == NULL && err == SONO_E_UNSUPPORTED && strstr(sono_last_error(), "xx-nope"));
    p.language = "en+m3"; /* a variant belongs in .variant */
    CHECK(sono_phonemizer_new(&p, &err) == NULL && err == SONO_E_UNSUPPORTED);
    p.language = "";
    CHECK(sono_phonemizer_new(&p, &err) == NULL && err == SONO_E_UNSUPPORTED);
    p.language = "../../etc";
    CHECK(sono_phonemizer_new(&p, &err) == NULL && err == SONO_E_UNSUPPORTED);
    p.language = "en";
    p.variant = "nosuchvariant";
    CHECK(sono_phonemizer_new(&p, &err) == NULL && err == SONO_E_UNSUPPORTED && strstr(sono_last_error(), "nosuchvariant"));
    p.variant = NULL;
    p.rate_wpm = 20;
    CHECK(sono_phonemizer_new(&p, &err) == NULL && err == SONO_E_RANGE);
    p.rate_wpm = 175;
    p.pitch = 101;
    CHECK(sono_phonemizer_new(&p, &err) == NULL && err == SONO_E_RANGE);
}

static void test_inventory(void) {
    int32_t n = sono_phoneme_n_tokens();
    CHECK(n == 1239); /* 8 specials + 208 consonants + 3 x 341 vowels (tokenizer/phoneme_table.inc) */
    /* every token's text maps back to it: one to one */
    char t[32];
    int bad = 0;
    for (int32_t i = SONO_PHT_N_SPECIAL; i < n; i++) {
        int k = sono_phoneme_token_text(i, t, sizeof t);
        int stress = t[0] == '\'' ? 1 : t[0] == ',' ? 2 : 0;
        bad += k <= 0 || sono_phoneme_token(t + (stress ? 1 : 0), stress) != i;
    }
    CHECK(bad == 0);
    CHECK(sono_phoneme_token_text(-1, t, sizeof t) == SONO_E_RANGE && sono_phoneme_token_text(n, t, sizeof t) == SONO_E_RANGE);
    CHECK(sono_phoneme_token_text(SONO_PHT_PAUSE, t, sizeof t) > 0 && strcmp(t, "<ph:pause>") == 0);
    /* vowels take three ids, consonants one; stress is ignored on a consonant */
    CHECK(sono_phoneme_token("oU", 1) == sono_phoneme_token("oU", 0) + 1);
    CHECK(sono_phoneme_token("oU", 2) == sono_phoneme_token("oU", 0) + 2);
    CHECK(sono_phoneme_token("t", 1) == sono_phoneme_token("t", 0));
    /* fallbacks: the longest known prefix, else <ph:unk> */
    CHECK(sono_phoneme_token("a#9", 1) == sono_phoneme_token("a#", 1));
    CHECK(sono_phoneme_token("tQQ", 0) == sono_phoneme_token("t", 0));
    CHECK(sono_phoneme_token("$$", 0) == SONO_PHT_UNK && sono_phoneme_token("", 0) == SONO_PHT_UNK);
    CHECK(sono_phoneme_token(NULL, 0) == SONO_PHT_UNK);
    /* the ids of version 1 never move: a few pinned */
    CHECK(sono_phoneme_token("@", 0) == 8 && sono_phoneme_token("*", 0) == 14);
    /* JSON: round trip, mismatch, garbage */
    char j[SONO_PHONEME_JSON_MAX];
    int len = sono_phoneme_inventory_to_json(j, sizeof j);
    CHECK(len > 0 && (size_t)len == strlen(j));
    CHECK(sono_phoneme_inventory_check(j) == 0);
    CHECK(sono_phoneme_inventory_to_json(j, 10) == SONO_E_LIMIT);
    sono_phoneme_inventory_to_json(j, sizeof j);
    char *h = strstr(j, "\"hash\":\"");
    h[8] = h[8] == '0' ? '1' : '0';
    CHECK(sono_phoneme_inventory_check(j) == SONO_E_MODEL_MISMATCH);
    CHECK(sono_phoneme_inventory_check("{\"version\":2,\"n_tokens\":1239,\"hash\":\"x\"}") == SONO_E_MODEL_MISMATCH);
    CHECK(sono_phoneme_inventory_check("[1,2]") == SONO_E_FORMAT);
    CHECK(sono_phoneme_inventory_check("{\"version\":\"1\"}") == SONO_E_FORMAT);
    CHECK(sono_phoneme_inventory_check(NULL) == SONO_E_ARG);
}

/* The pieces as "[...]" strings joined, or the error. */
static void split_str(const char *text, size_t max, char *out, size_t n) {
    sono_text_piece p[32];
    int64_t k = sono_text_split(text, strlen(text), max, p, 32);
    size_t at = 0;
    out[0] = 0;
    for (int64_t i = 0; i < k && i < 32; i++)
        at += (size_t)snprintf(out + at, n - at, "[%.*s]", (int)p[i].n_bytes, text + p[i].offset);
}

static void test_split(void) {
    static const char *cases[][3] = {
        {"Dr. Smith is here. He left! Really?", "400", "[Dr. Smith is here.][He left!][Really?]"},
        {"  J. R. R. Tolkien wrote books, e.g. this one.  Yes ", "400", "[J. R. R. Tolkien wrote books, e.g. this one.][Yes]"},
        {"He said \"stop.\" Then (quietly) left.", "400", "[He said \"stop.\"][Then (quietly) left.]"},
        {"Wait... what?! Pi is 3.14 today.", "400", "[Wait... what?!][Pi is 3.14 today.]"},
        {"a title\n\nfirst para line\nsame para.", "400", "[a title][first para line\nsame para.]"},
        {"one, two, three, four, five six seven", "16", "[one, two,][three, four,][five six seven]"},
        {"abcdefghijklmnopqrstuvwxyz", "16", "[abcdefghijklmnop][qrstuvwxyz]"},
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "16",
         "[\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9][\xc3\xa9]"},
        {" \n\t ", "400", ""},
        {"No end", "400", "[No end]"},
    };
    char got[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        split_str(cases[i][0], (size_t)atoi(cases[i][1]), got, sizeof got);
        if (strcmp(got, cases[i][2]) != 0) printf("  split '%s':\n    got  %s\n    want %s\n", cases[i][0], got, cases[i][2]);
        CHECK(strcmp(got, cases[i][2]) == 0);
    }
    sono_text_piece p[1];
    const char *t = "Aa. Bb c. Dd ee. Ff gg.";
    CHECK(sono_text_split(t, strlen(t), 400, p, 1) == 3 && p[0].offset == 0); /* "c." is an initial */
    CHECK(sono_text_split(t, strlen(t), 400, NULL, 0) == 3);
    CHECK(sono_text_split(t, strlen(t), 16, p, 1) == 3);
    CHECK(sono_text_split(t, strlen(t), 15, p, 1) == SONO_E_ARG);
    CHECK(sono_text_split(NULL, 3, 400, p, 1) == SONO_E_ARG);
    CHECK(sono_text_split("", 0, 400, p, 1) == 0);
    CHECK(sono_text_split("x", SONO_TEXT_MAX_BYTES + 1, 400, p, 1) == SONO_E_LIMIT);
}

int main(void) {
    test_inventory();
    test_split();
    test_known();
    test_structure();
    test_threads();
    test_errors();
    return tu_finish("test-phonemes");
}
