/* Internals of the byte-level BPE tokenizer shared by the encoder
 * (bpe.c) and the merge learner (bpe_learn.c): the chunk splitter, the
 * tokenizer's in-memory form and its constructor. Not installed. */
#ifndef SONO_BPE_H
#define SONO_BPE_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/tokenizer.h"

#define SN_BPE_MAGIC "SONOBPE\x1a"   /* 8 bytes */
#define SN_BPE_VERSION 1
#define SN_BPE_SPLIT_GPT2 1          /* the only splitter (tokenizer.h) */
#define SN_BPE_MAX_CHUNK 128         /* what new tokenizers use */
#define SN_BPE_CHUNK_LIMIT 1024      /* the most a file may ask for */
#define SN_BPE_MAX_MERGES (1 << 20)
#define SN_BPE_MAX_SPECIAL 256
#define SN_BPE_NAME_MAX 64           /* a special's name, bytes */
#define SN_BPE_N_SPECIAL_DEFAULT 16  /* the standard seven and nine spares */

struct sono_tokenizer {
    int32_t n_special, n_merges, max_chunk;
    uint32_t *merges;       /* [n_merges][2]: text ids (byte b is b) of the pair merged */
    char **special;         /* [n_special] names */
    uint32_t *tok_off;      /* [256 + n_merges] offset of each text token's bytes in tok_bytes */
    uint32_t *tok_len;      /* [256 + n_merges] */
    uint8_t *tok_bytes;
    uint64_t *pair_key;     /* merge table, open addressing: key (left << 32 | right) + 1, 0 empty */
    int32_t *pair_rank;
    uint64_t pair_mask;
    uint8_t *file;          /* the file's bytes */
    size_t n_file;
};

/* A hash of a pair key (left << 32 | right) whose low bits depend on both
 * ids (murmur3's finaliser): the merge tables index by its low bits. */
static inline uint64_t sn_bpe_mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    return k ^ (k >> 33);
}

/* Length of the chunk that starts at text[0] (n_bytes > 0): at least 1, at
 * most max_chunk. Cutting text by successive calls gives its chunks. */
size_t sn_bpe_chunk_len(const uint8_t *text, size_t n_bytes, size_t max_chunk);

/* The standard special names, in id order: n names (SONO_TOK_N_STANDARD
 * standard ones, then "<reserved:N>"). names[i] points to static storage or
 * into buf (n * SN_BPE_NAME_MAX bytes). */
void sn_bpe_default_specials(int n, const char **names, char *buf);

/* Build a tokenizer from its parts (copied). merges[2r], merges[2r + 1] are
 * the text ids of merge r (each < 256 + r). NULL with *err set. */
sono_tokenizer *sn_bpe_build(const char *const *special, int32_t n_special, const uint32_t *merges,
                             int32_t n_merges, int32_t max_chunk, int *err);

#endif
