/* Token shards for LM training: a corpus manifest's audio tokenized once
 * with a codec into one memory-mapped file of int16 codes, reused while the
 * manifest, the codec and the codebook count stay the same, rebuilt
 * otherwise (as the codec trainer's PCM cache). Byte layout (little-endian):
 *
 *   header (136 bytes): magic "SNLMSHD1", u32 version 1, u32 K,
 *     u32 codebook_size, u32 n_entries, f64 frame_rate, u8 codec_hash[16]
 *     (the codec's codes hash; shards built before it: its full hash, reused too),
 *     char codec_name[64] (NUL-padded), u64 manifest_hash (XXH64 of the
 *     manifest's bytes), u64 n_codes, u64 table_hash (XXH64 of the entries)
 *   entries [n_entries]: u64 offset (in codes, from the codes' start),
 *     u32 n_frames, u32 category (0 speech, 1 music, 2 effects, 3 other):
 *     entry i is manifest line i; n_frames 0 for a clip that did not read
 *   codes int16 [n_codes]: each entry's [K][n_frames], codebook-major
 *
 *   sn_lm_manifest *man; sn_lm_manifest_read("train.jsonl", &man);
 *   sn_lm_shards *sh; int built;
 *   rc = sn_lm_shards_open(&sh, "run/train.shard", man, codec, K, n_threads, &built);
 *   const int16_t *codes = sh->codes + sh->entries[i].offset;   // [K][n_frames]
 *   sn_lm_shards_close(sh); sn_lm_manifest_free(man); */
#ifndef SONO_LM_SHARDS_H
#define SONO_LM_SHARDS_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/codec.h"

enum { SN_LM_CAT_SPEECH = 0, SN_LM_CAT_MUSIC = 1, SN_LM_CAT_EFFECTS = 2, SN_LM_CAT_OTHER = 3 };

/* A text-to-speech record's phonemes (tools/corpus/tts_corpus.py's
 * tts.jsonl): inventory ids and their spans in frames at 75 Hz. */
typedef struct {
    int n;                 /* phonemes, >= 1 */
    int32_t *token;        /* [n] phoneme inventory ids */
    int32_t *start, *end;  /* [n] frames */
    char *voice, *lang;    /* "voice", "lang" */
} sn_lm_tts_rec;

typedef struct {
    int n;              /* lines */
    char **path;        /* [n] audio paths, resolved against the manifest's folder */
    int *category;      /* [n] SN_LM_CAT_* */
    char **caption;     /* [n] the text for text-to-audio ("caption", else "text" outside speech) or NULL */
    sn_lm_tts_rec **tts;/* [n] phonemes for text-to-speech, or NULL (a line without "tokens") */
    uint64_t hash;      /* XXH64 of the manifest's bytes */
} sn_lm_manifest;

/* Read a manifest (JSON lines with "path", "category", optional "caption",
 * "text", "transcript"; a text-to-speech line adds "tokens", "start_frame",
 * "end_frame" (equal-length integer arrays), "voice" and "lang", and is
 * speech when it names no category). 0, or SONO_E_NOT_FOUND / SONO_E_IO /
 * SONO_E_FORMAT (a line that is not an object with a path, or a broken TTS
 * record: detail names the line) / SONO_E_EMPTY. */
int sn_lm_manifest_read(const char *path, sn_lm_manifest **out);
void sn_lm_manifest_free(sn_lm_manifest *m);

typedef struct {
    uint64_t offset;
    uint32_t n_frames;
    uint32_t category;
} sn_lm_shard_entry;

typedef struct {
    int K, codebook_size, n_entries;
    double frame_rate;
    uint8_t codec_hash[16];
    char codec_name[64];
    uint64_t manifest_hash;
    const sn_lm_shard_entry *entries; /* [n_entries], in the map */
    const int16_t *codes;             /* in the map */
    int64_t n_frames_total;
    const uint8_t *map;
    size_t map_len;
} sn_lm_shards;

/* Open the shard file at path if it matches (manifest hash, codec name and
 * hash, K); otherwise tokenize the manifest's audio with codec at K
 * codebooks (n_threads for the codec), write the file through the output
 * writer and map it. *built (may be NULL) says which. 0 or a negative
 * error; SONO_E_EMPTY when no clip of the manifest gives a frame. */
int sn_lm_shards_open(sn_lm_shards **out, const char *path, const sn_lm_manifest *man, const sono_codec *codec, int K,
                      int n_threads, int *built);
/* Map an existing shard file without a manifest or codec to compare with
 * (checked: magic, version, sizes, entry ranges, codes < codebook_size). */
int sn_lm_shards_map(sn_lm_shards **out, const char *path);
void sn_lm_shards_close(sn_lm_shards *s);

#endif
