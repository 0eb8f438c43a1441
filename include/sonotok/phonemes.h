/* sonotok text front end: text -> phonemes through libespeak-ng, the stable
 * phoneme inventory (phoneme -> token id) an LM file records, and splitting
 * long text at sentence boundaries.
 *
 *   int err;
 *   sono_phonemizer_params pp = sono_phonemizer_default_params();   // English
 *   sono_phonemizer *ph = sono_phonemizer_new(&pp, &err);
 *   sono_phoneme_seq s;
 *   if (sono_phonemize(ph, "Hello, world.", 13, 0, &s) == 0) {
 *       for (int64_t i = 0; i < s.n_phonemes; i++) use(s.phonemes[i].token);
 *       sono_phoneme_seq_free(&s);
 *   }
 *   sono_phonemizer_free(ph);
 *
 * Phonemes are espeak-ng's own (its mnemonic names: "h", "@", "l", "oU";
 * espeak-ng decides numbers, abbreviations and punctuation), with the stress
 * of each vowel, the word each phoneme belongs to, and a pause token at each
 * clause boundary. The sequence is the one espeak-ng's synthesiser speaks
 * (its phoneme events), so with SONO_PHONEMIZE_AUDIO each phoneme also
 * comes with its exact span in that speech.
 *
 * Threads. espeak-ng keeps global state: every call that reaches it takes
 * one process-wide lock, so phonemizers may be used from any thread, but
 * their calls run one at a time. espeak-ng is initialised once, on the first
 * sono_phonemizer_new, from its installed data (no network), in a way that
 * cannot make it exit (its data is looked for first); only a damaged
 * installation (a language's dictionary missing) makes espeak-ng itself
 * print a line. A program that also calls espeak-ng directly must not do so
 * while a phonemizer call runs, and must not change its synthesis callback. */
#ifndef SONOTOK_PHONEMES_H
#define SONOTOK_PHONEMES_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the phoneme inventory (no espeak-ng needed) ----
 *
 * Version 1: SONO_PHT_N_SPECIAL tokens of the inventory's own, then every
 * phoneme name of every language table of espeak-ng 1.51 (549 names, in a
 * fixed order: tokenizer/phoneme_table.inc), a consonant taking one id and a
 * vowel three (unstressed, primary stress, secondary stress, in that order).
 * The table never changes within a version; a model records the version and
 * hash (sono_phoneme_inventory_to_json) and refuses another. */
#define SONO_PHONEME_INVENTORY_VERSION 1
#define SONO_PHONEME_JSON_MAX 96 /* bytes sono_phoneme_inventory_to_json needs at most, NUL included */

enum sono_pht_special {
    SONO_PHT_UNK = 0,         /* "<ph:unk>": a phoneme the inventory lacks (see sono_phoneme_token) */
    SONO_PHT_PAUSE_SHORT = 1, /* "<ph:pause-short>": a pause inside a sentence (comma, clause break) */
    SONO_PHT_PAUSE = 2,       /* "<ph:pause>": the pause after a sentence (. ! ?) */
    SONO_PHT_WORD = 3,        /* "<ph:word>": a word boundary, for layouts that mark words (no audio) */
    SONO_PHT_N_SPECIAL = 8    /* 4 .. 7 reserved ("<ph:reserved:N>") */
};

/* Tokens in all (specials included). */
SONO_API int32_t sono_phoneme_n_tokens(void);
/* The token of espeak-ng phoneme `name` (mnemonic, no stress mark) with
 * stress 0 (none), 1 (primary) or 2 (secondary; ignored for a consonant).
 * A name the inventory lacks (another espeak-ng version) falls back to the
 * longest prefix of the name that it has ("a#3" -> "a#" -> "a"), then to
 * SONO_PHT_UNK; never fails. */
SONO_API int32_t sono_phoneme_token(const char *name, int stress);
/* The token's text: the name with an espeak-ng stress mark before it
 * ("'oU", ",aI", "t"), or a special's name. Writes at most n_bytes (NUL
 * included; 24 always suffice); returns the length, or SONO_E_RANGE. */
SONO_API int sono_phoneme_token_text(int32_t token, char *buf, size_t n_bytes);
/* XXH64 of the inventory's text (names, vowel flags, specials, version). */
SONO_API uint64_t sono_phoneme_inventory_hash(void);
/* {"version":1,"n_tokens":1239,"hash":"0123456789abcdef","espeak_ng":"1.51"} for
 * an LM file: returns its length, or SONO_E_ARG / SONO_E_LIMIT (buffer too small). */
SONO_API int sono_phoneme_inventory_to_json(char *buf, size_t n_bytes);
/* 0 when json (what _to_json wrote) names this inventory; SONO_E_FORMAT when
 * it is not such an object, SONO_E_MODEL_MISMATCH for another version, size
 * or hash (the model was trained with other phoneme ids). */
SONO_API int sono_phoneme_inventory_check(const char *json);

/* ---- splitting long text (no espeak-ng needed) ---- */

typedef struct sono_text_piece {
    int64_t offset;  /* first byte of the piece in the text */
    int64_t n_bytes; /* its length (white space at either end left out) */
} sono_text_piece;

#define SONO_TEXT_MAX_BYTES ((size_t)1 << 26) /* longest text sono_text_split takes (64 MiB) */

/* Cut text into sentences: after . ! ? (and closing quotes or brackets)
 * followed by white space and no small letter, and not ending a common abbreviation ("Dr.",
 * "e.g.") or an initial ("J."), and at blank lines. A sentence longer than
 * max_piece_bytes (at least 16) is cut again at its last , ; : before the
 * limit, else its last space, else at a UTF-8 character boundary. Pieces
 * holding only white space are left out. Writes at most max_pieces pieces in
 * text order and returns how many the text has (more than max_pieces: call
 * again with a larger array); SONO_E_ARG, or SONO_E_LIMIT for text over
 * SONO_TEXT_MAX_BYTES. */
SONO_API int64_t sono_text_split(const char *text, size_t n_bytes, size_t max_piece_bytes, sono_text_piece *pieces,
                                 int64_t max_pieces);

/* ---- phonemizing (libespeak-ng) ---- */

typedef struct sono_phonemizer sono_phonemizer;

typedef struct sono_phonemizer_params {
    const char *language; /* espeak-ng language/voice name ("en", "en-us", "fr", "ru"); default "en" */
    const char *variant;  /* espeak-ng voice variant for the speech ("m3", "f2"), NULL: none; default NULL */
    int rate_wpm;         /* speaking rate in words per minute, 80 to 450; default 175 */
    int pitch;            /* base pitch, 0 to 100; default 50 */
} sono_phonemizer_params;

SONO_API sono_phonemizer_params sono_phonemizer_default_params(void);

/* A phonemizer for one language (NULL params: the defaults). NULL with *err:
 * SONO_E_NOT_FOUND (espeak-ng's data is not installed), SONO_E_UNSUPPORTED
 * (espeak-ng knows no such language or variant), SONO_E_RANGE (rate or
 * pitch), SONO_E_NOMEM.
 * The strings are copied. */
SONO_API sono_phonemizer *sono_phonemizer_new(const sono_phonemizer_params *p, int *err);
SONO_API void sono_phonemizer_free(sono_phonemizer *ph);

enum sono_phoneme_kind {
    SONO_PH_PHONE = 0,       /* a spoken phoneme */
    SONO_PH_PAUSE_SHORT = 1, /* pause at a clause boundary inside a sentence (, ; : or a long clause cut) */
    SONO_PH_PAUSE = 2,       /* pause after a sentence (. ! ? or the end of the text) */
};

typedef struct sono_phoneme {
    char name[8];         /* espeak-ng mnemonic, no stress mark ("oU"); "_" for a pause */
    int32_t token;        /* its inventory token (stress included) */
    int8_t kind;          /* enum sono_phoneme_kind */
    int8_t stress;        /* 0 none, 1 primary, 2 secondary */
    int8_t word_start;    /* 1 for the first phoneme of a word */
    int32_t word;         /* index of its word (0, 1, ...); -1 for a pause */
    int64_t text_offset;  /* its word's first byte in the text; -1 for a pause */
    int64_t text_bytes;   /* its word's length in bytes (a number is one word); 0 for a pause */
    int64_t start_sample; /* its span in espeak-ng's speech of the text: [start, end), */
    int64_t end_sample;   /* contiguous, from 0 to n_samples (see sono_phoneme_seq) */
} sono_phoneme;

typedef struct sono_phoneme_seq {
    sono_phoneme *phonemes; /* n_phonemes entries (malloc'd) */
    int64_t n_phonemes;
    int32_t n_words;
    int sample_rate;   /* of espeak-ng's speech (22050) */
    int64_t n_samples; /* its length: the spans cover [0, n_samples) */
    float *pcm;        /* the speech, mono, in [-1, 1]; only with SONO_PHONEMIZE_AUDIO, else NULL */
} sono_phoneme_seq;

enum {
    SONO_PHONEMIZE_AUDIO = 1, /* keep espeak-ng's speech in pcm */
};

#define SONO_PHONEMIZE_MAX_BYTES 4096 /* longest text one call takes: split longer text first */

/* Phonemize n_bytes of UTF-8 text (one sentence or a few: cut long text with
 * sono_text_split). Fills *out (free it with sono_phoneme_seq_free) and
 * returns 0, or a negative code with *out zeroed: SONO_E_EMPTY for empty or
 * white-space text ("empty text") and for text with nothing to pronounce
 * ("no pronounceable content"), SONO_E_FORMAT for invalid UTF-8 or a NUL
 * byte, SONO_E_LIMIT over SONO_PHONEMIZE_MAX_BYTES, SONO_E_ARG, SONO_E_NOMEM,
 * SONO_E_IO (espeak-ng failed). Markup is not interpreted: "<b>" and "[[x]]"
 * are text. The same text, language and espeak-ng give the same phonemes.
 * The speech and spans are the same for the same calls in a fresh process,
 * but a later call may come out a few milliseconds longer or shorter:
 * espeak-ng carries its pitch flutter over from one call to the next. */
SONO_API int sono_phonemize(sono_phonemizer *ph, const char *text, size_t n_bytes, int flags, sono_phoneme_seq *out);
SONO_API void sono_phoneme_seq_free(sono_phoneme_seq *s);

#ifdef __cplusplus
}
#endif
#endif
