/* The LM file (include/sonotok/lm.h): what a sono_lm holds, the writer the
 * trainer exports with, and the pieces the trainer's checkpoints share
 * (config JSON, base64). Layout of the file: lm/README.md. */
#ifndef SONO_LM_FILE_H
#define SONO_LM_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "lm_model.h"
#include "sonotok/lm.h"

#define SN_LM_FILE_FORMAT "sonotok-lm"
#define SN_LM_FILE_VERSION 1

struct sono_lm {
    sn_lm *m;                    /* the model, parameters loaded */
    sono_tokenizer *tok;         /* the embedded text tokenizer */
    sono_vocab_layout vocab;
    char name[64];
    char codec_name[64];
    uint8_t codec_hash[16];
    double frame_rate;
    char **cond;                 /* [n_cond] condition names ("lang:en", "voice:flite/rms"), owned; for TTS */
    int n_cond;                  /* vocab.n_cond */
};

/* The codec an LM is made for. */
typedef struct {
    char name[64];
    uint8_t hash[16];
    double frame_rate;
} sn_lm_codec_id;

/* Write m (parameters as float32) with tok, its vocabulary layout and the
 * codec's identity through the output writer. 0 or a negative error. */
int sn_lm_file_save(const char *path, const char *name, const sn_lm *m, const sono_tokenizer *tok,
                    const sn_lm_codec_id *codec);
/* The same for an LM that also reads phonemes (when n_cond > 0, or
 * phonemes is 1): the vocabulary layout is version 2 with the phoneme
 * inventory's ids and the n_cond conditions (names "lang:L" / "voice:V",
 * their order is their ids), and the file records the inventory
 * (sono_phoneme_inventory_to_json) and the condition names. */
int sn_lm_file_save_tts(const char *path, const char *name, const sn_lm *m, const sono_tokenizer *tok,
                        const sn_lm_codec_id *codec, int phonemes, const char *const *cond, int n_cond);

/* The token-table size of an LM reading tok's ids plus, with phonemes, the
 * phoneme inventory and n_cond conditions: its config's V_text. */
int sn_lm_v_text_for(const sono_tokenizer *tok, int phonemes, int n_cond);

/* Condition names: "lang:L" or "voice:V" with a non-empty L / V of at most
 * 56 bytes, printable ASCII without quotes: 1 if name is one. */
int sn_lm_cond_name_ok(const char *name);
/* The index of condition "kind:v" among cond [n], or -1; v NULL: the
 * first of that kind. */
int sn_lm_cond_find(char *const *cond, int n, const char *kind, const char *v);

/* The config as a one-line JSON object (malloc'd), NULL when out of memory;
 * and back: 0 or SONO_E_FORMAT, then sn_lm_config_check's verdict. */
char *sn_lm_config_to_json(const sn_lm_config *c);
int sn_lm_config_from_json(const char *json, sn_lm_config *c);

/* base64 (RFC 4648, padded): encode into a malloc'd NUL-terminated string
 * (NULL when out of memory); decode into a malloc'd buffer: 0,
 * SONO_E_FORMAT (not base64) or SONO_E_NOMEM. */
char *sn_lm_b64_encode(const uint8_t *data, size_t n);
int sn_lm_b64_decode(const char *s, uint8_t **out, size_t *n_out);

/* 32 hex digits of a 16-byte hash, and back (0 or SONO_E_FORMAT). */
void sn_lm_hash_hex(const uint8_t h[16], char out[33]);
int sn_lm_hash_parse(const char *s, uint8_t h[16]);

#endif
