/* sonotok text tokenizer: byte-level BPE, its special tokens, and the layout
 * of the mixed text + audio vocabulary the token LM reads and writes.
 *
 *   int err;
 *   sono_tokenizer *tok = sono_tokenizer_load("captions.sntok", &err);
 *   int32_t ids[256];
 *   int64_t n_ids = sono_tokenizer_encode(tok, "a dog barks", 11, ids, 256);
 *   char text[1024];
 *   int64_t n_bytes = sono_tokenizer_decode(tok, ids, n_ids, 0, text, sizeof text);
 *
 *   sono_vocab_layout l;   // the LM's whole vocabulary: specials, text, K codebooks
 *   sono_vocab_layout_for(tok, 8, 1024, &l);
 *   int64_t id = sono_vocab_id(&l, SONO_VOCAB_AUDIO, 3, 517);   // code 517 of codebook 3
 *   sono_tokenizer_free(tok);
 *
 * Ids. A tokenizer's ids are the first two ranges of the mixed vocabulary:
 * [0, n_special) the special tokens (SONO_TOK_PAD ...), then n_text text
 * tokens: the 256 single bytes (id n_special + b for byte b), then one id per
 * learned merge, in merge order. Encoding plain text never gives a special
 * id, whatever the text says ("<end>" is five bytes of text); every byte
 * string encodes (no unknown token), and decoding its ids gives the same
 * bytes back, invalid UTF-8 and NUL bytes included.
 *
 * Text is split into chunks before merging, in the manner of GPT-2: runs of
 * letters (ASCII letters and every byte >= 0x80, so UTF-8 text stays
 * together), of digits, of other symbols, each with at most one leading
 * space, and runs of white space; no merge crosses a chunk boundary, and a
 * chunk holds at most max_chunk_bytes bytes (the file says how many).
 *
 * A tokenizer is immutable: one may be shared by any number of threads.
 * Training one is in the training API (train.h: sono_bpe_trainer). The file
 * format is described in tokenizer/README.md. */
#ifndef SONOTOK_TOKENIZER_H
#define SONOTOK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sono_tokenizer sono_tokenizer;

/* The special tokens every tokenizer has, at these ids (a file whose first
 * names differ is refused). Ids from SONO_TOK_N_STANDARD up to
 * sono_tokenizer_n_special() - 1 are spares named "<reserved:N>". */
enum sono_tok_special {
    SONO_TOK_PAD = 0,           /* "<pad>": padding, never a training target */
    SONO_TOK_END = 1,           /* "<end>": end of a sequence */
    SONO_TOK_SEP = 2,           /* "<sep>": between the text and the audio */
    SONO_TOK_TASK_CONTINUE = 3, /* "<task:continue>": continue an audio prompt */
    SONO_TOK_TASK_TTA = 4,      /* "<task:tta>": text to audio */
    SONO_TOK_TASK_TTS = 5,      /* "<task:tts>": text to speech (reserved) */
    SONO_TOK_UNCOND = 6,        /* "<uncond>": the dropped text of classifier-free guidance */
    SONO_TOK_N_STANDARD = 7
};

/* Read a tokenizer file. NULL with *err set: SONO_E_NOT_FOUND, SONO_E_IO,
 * SONO_E_FORMAT (not a tokenizer file, or inconsistent content),
 * SONO_E_UNSUPPORTED (another format version), SONO_E_TRUNCATED,
 * SONO_E_CHECKSUM, SONO_E_LIMIT; sono_last_error() has the detail line. */
SONO_API sono_tokenizer *sono_tokenizer_load(const char *path, int *err);
/* The same from the n_bytes bytes of a file in memory (copied: data may be
 * freed afterwards), e.g. a tokenizer stored inside an LM file. */
SONO_API sono_tokenizer *sono_tokenizer_from_bytes(const void *data, size_t n_bytes, int *err);
SONO_API void sono_tokenizer_free(sono_tokenizer *tok);

/* The file's bytes (malloc'd into *data, the caller frees): 0 or SONO_E_NOMEM.
 * The same tokenizer always gives the same bytes. */
SONO_API int sono_tokenizer_to_bytes(const sono_tokenizer *tok, uint8_t **data, size_t *n_bytes);
/* Write the file through the output writer (sonotok/output.h): 0 or a negative error. */
SONO_API int sono_tokenizer_save(const sono_tokenizer *tok, const char *path);
/* XXH64 of the file's bytes: names the tokenizer (an LM records it). */
SONO_API uint64_t sono_tokenizer_hash(const sono_tokenizer *tok);

/* Sizes: n_special + n_text ids in all; n_text = 256 + merges. */
SONO_API int32_t sono_tokenizer_n_vocab(const sono_tokenizer *tok);
SONO_API int32_t sono_tokenizer_n_special(const sono_tokenizer *tok);
SONO_API int32_t sono_tokenizer_n_text(const sono_tokenizer *tok);
/* Longest chunk the splitter makes, in bytes; also the longest token. */
SONO_API int32_t sono_tokenizer_max_chunk_bytes(const sono_tokenizer *tok);

/* Encode n_bytes of text (any bytes). Writes at most max_ids ids and returns
 * how many the whole text encodes to (more than max_ids when ids was too
 * small: call again with a larger buffer; n_bytes ids always suffice), or
 * SONO_E_ARG for NULL arguments. Only text ids come out, never a special. */
SONO_API int64_t sono_tokenizer_encode(const sono_tokenizer *tok, const void *text, size_t n_bytes, int32_t *ids,
                                       int64_t max_ids);

/* Flags for sono_tokenizer_decode. */
enum {
    SONO_TOK_DECODE_SPECIALS = 1, /* write special tokens as their names ("<end>"); default: leave them out */
};

/* Decode n_ids ids into bytes: writes at most max_bytes bytes to out (no
 * terminating NUL) and returns the length of the whole decoding (as
 * snprintf does: more than max_bytes means out was too small), or
 * SONO_E_RANGE for an id outside [0, n_vocab) (detail names it). */
SONO_API int64_t sono_tokenizer_decode(const sono_tokenizer *tok, const int32_t *ids, int64_t n_ids, int flags,
                                       void *out, size_t max_bytes);

/* The bytes of one id (a special's name for a special) in *bytes, owned by
 * tok; returns their count, or SONO_E_RANGE. */
SONO_API int sono_tokenizer_token_bytes(const sono_tokenizer *tok, int32_t id, const uint8_t **bytes);
/* The id of a special token by name ("<sep>"), or SONO_E_NOT_FOUND. */
SONO_API int32_t sono_tokenizer_special_id(const sono_tokenizer *tok, const char *name);

/* ---- the mixed vocabulary ----
 *
 * One id space for the LM, in this order:
 *   [0, n_special)                             special tokens (the tokenizer's)
 *   [n_special, n_special + n_text)            text tokens (the tokenizer's)
 *   then n_phoneme phoneme tokens (the phoneme inventory's ids, phonemes.h;
 *   0 for an LM without text-to-speech), then n_cond condition tokens (an
 *   LM's languages and voices, named in its file: <lang:en>, <voice:NAME>),
 *   then n_codebooks blocks of codebook_size + SONO_VOCAB_AUDIO_EXTRA ids,
 *   block k: codes 0 .. codebook_size - 1 of codebook k, then its <empty>
 *   (a delay-pattern slot with no code yet), then its <end-audio>.
 * An LM's per-codebook embedding and head k cover block k; the local index
 * in the block of (kind, k, index) is index for SONO_VOCAB_AUDIO,
 * codebook_size for SONO_VOCAB_AUDIO_EMPTY and codebook_size + 1 for
 * SONO_VOCAB_AUDIO_END. */
#define SONO_VOCAB_AUDIO_EXTRA 2
#define SONO_VOCAB_JSON_MAX 256   /* bytes sono_vocab_layout_to_json needs at most, NUL included */

typedef struct sono_vocab_layout {
    int32_t n_special;     /* special ids, first */
    int32_t n_text;        /* text ids (256 bytes + merges) */
    int32_t n_codebooks;   /* audio codebooks (K), 0 for a text-only vocabulary */
    int32_t codebook_size; /* codes per codebook */
    int32_t n_phoneme;     /* phoneme ids after the text (layout version 2; 0 in version 1) */
    int32_t n_cond;        /* condition ids after the phonemes (version 2; 0 in version 1) */
} sono_vocab_layout;

enum sono_vocab_kind {
    SONO_VOCAB_SPECIAL = 0,     /* index: the special's id */
    SONO_VOCAB_TEXT = 1,        /* index: 0 .. n_text - 1 (byte b is index b) */
    SONO_VOCAB_AUDIO = 2,       /* index: a code of codebook `codebook` */
    SONO_VOCAB_AUDIO_EMPTY = 3, /* index 0: codebook's <empty> */
    SONO_VOCAB_AUDIO_END = 4,   /* index 0: codebook's <end-audio> */
    SONO_VOCAB_PHONEME = 5,     /* index: a phoneme inventory id, 0 .. n_phoneme - 1 */
    SONO_VOCAB_COND = 6,        /* index: a condition, 0 .. n_cond - 1 */
};

/* The layout for tok's ids and n_codebooks codebooks of codebook_size codes,
 * no phonemes or conditions (set n_phoneme, n_cond afterwards for TTS): 0, or SONO_E_RANGE / SONO_E_LIMIT (more than 2^31 - 1 ids in all). */
SONO_API int sono_vocab_layout_for(const sono_tokenizer *tok, int32_t n_codebooks, int32_t codebook_size,
                                   sono_vocab_layout *l);
/* 0 when every count is in range and the total fits an int32; else
 * SONO_E_RANGE or SONO_E_LIMIT. */
SONO_API int sono_vocab_layout_check(const sono_vocab_layout *l);
/* Ids in all. */
SONO_API int64_t sono_vocab_size(const sono_vocab_layout *l);
/* Global id of (kind, codebook, index); codebook is ignored for special and
 * text ids. SONO_E_RANGE when any of them is out of its range. */
SONO_API int64_t sono_vocab_id(const sono_vocab_layout *l, int kind, int32_t codebook, int64_t index);
/* The inverse: kind, codebook (0 for special and text) and index of a
 * global id; any output pointer may be NULL. 0 or SONO_E_RANGE. */
SONO_API int sono_vocab_locate(const sono_vocab_layout *l, int64_t id, int *kind, int32_t *codebook,
                               int64_t *index);
/* The layout as a one-line JSON object, for an LM file's metadata:
 * {"version":1,"n_special":16,"n_text":2032,"n_codebooks":8,"codebook_size":1024,"audio_extra":2};
 * a layout with phonemes or conditions is version 2, which adds
 * "n_phoneme" and "n_cond" (version 1 is still written without them, so
 * files without TTS stay as they were).
 * Writes at most n_bytes (SONO_VOCAB_JSON_MAX always suffices) and returns the
 * length without the NUL, or SONO_E_ARG / SONO_E_LIMIT (buffer too small). */
SONO_API int sono_vocab_layout_to_json(const sono_vocab_layout *l, char *buf, size_t n_bytes);
/* Parse what sono_vocab_layout_to_json wrote (version 1 or 2): 0,
 * SONO_E_FORMAT (not such an object), SONO_E_UNSUPPORTED (another version
 * or audio_extra), or what
 * sono_vocab_layout_check says. */
SONO_API int sono_vocab_layout_from_json(const char *json, sono_vocab_layout *l);

#ifdef __cplusplus
}
#endif
#endif
