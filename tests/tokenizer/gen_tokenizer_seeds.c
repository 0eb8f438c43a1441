/* Writes the seeds and known-bad files of the tokenizer fuzz targets
 * (tests/fuzz/corpus/tokenizer, bad/tokenizer, corpus/tokdecode, bad/tokdecode):
 *
 *   gen-tokenizer-seeds tests/fuzz
 *
 * Seeds are small valid tokenizer files (a few hundred merges at most, so
 * each stays under 4 KB) and, for the decoder, texts and id arrays. Each bad
 * file is a valid one with one thing wrong, resealed with a valid checksum
 * where the fault is not the checksum, named for the error it must give. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/output.h"
#include "sonotok/train.h"
#include "sonotok/tokenizer.h"
#include "sono_internal.h"

static const char text[] =
    "sound of monkeys screaming. a dog barks twice, then a door slams!\n"
    "piano music with soft drums; rain on a tin roof 1234 5678\n"
    "caf\xc3\xa9 \xe9\x9f\xb3\xe6\xa5\xbd m\xc3\xbasica \xff\xfe invalid \x80 bytes\n";

static const char *root;
static int failures;

static void put(const char *sub, const char *name, const void *data, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", root, sub, name);
    if (sono_output_save(path, data, n)) {
        fprintf(stderr, "%s: %s\n", path, sono_last_error());
        failures++;
    }
}

static sono_tokenizer *learn(int n_vocab, int n_special) {
    sono_bpe_train_params p = sono_bpe_train_default_params();
    p.n_vocab = n_vocab;
    p.n_special = n_special;
    p.min_count = 1;
    sono_bpe_trainer *t = sono_bpe_trainer_new(&p, NULL);
    sono_bpe_trainer_add_text(t, text, sizeof text - 1);
    sono_tokenizer *tok = sono_bpe_trainer_finish(t, NULL);
    sono_bpe_trainer_free(t);
    if (!tok) {
        fprintf(stderr, "learning failed: %s\n", sono_last_error());
        exit(1);
    }
    return tok;
}

static void reseal(uint8_t *f, size_t n) { sn_wr64(f + n - 8, XXH64(f, n - 8, 0)); }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen-tokenizer-seeds FUZZ_DIR (tests/fuzz)\n");
        return 1;
    }
    root = argv[1];
    uint8_t *f;
    size_t n;
    const struct { const char *name; int n_vocab, n_special; } seeds[] = {
        {"small.sntok", 16 + 256 + 60, 16}, {"nomerge.sntok", 16 + 256, 16}, {"spares.sntok", 24 + 256 + 20, 24},
        {"bare.sntok", 7 + 256 + 8, 7},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        sono_tokenizer *tok = learn(seeds[i].n_vocab, seeds[i].n_special);
        sono_tokenizer_to_bytes(tok, &f, &n);
        put("corpus/tokenizer", seeds[i].name, f, n);
        free(f);
        sono_tokenizer_free(tok);
    }
    sono_tokenizer *tok = learn(16 + 256 + 60, 16);
    sono_tokenizer_to_bytes(tok, &f, &n);
    if (n < 32 + 16 * 3 + 60 * 8 + 8) {
        fprintf(stderr, "gen-tokenizer-seeds: a %zu-byte tokenizer is too small for the bad files\n", n);
        return 1;
    }
    uint8_t *g = malloc(n + 8);
    if (!g) return 1;
    const size_t merges_at = n - 8 - 60 * 8;
    put("bad/tokenizer", "TRUNCATED_half.sntok", f, n / 2);
    put("bad/tokenizer", "TRUNCATED_no_checksum.sntok", f, n - 8);
    put("bad/tokenizer", "TRUNCATED_header.sntok", f, 20);
    memcpy(g, f, n), g[n / 2] ^= 4;
    put("bad/tokenizer", "CHECKSUM_bit_flip.sntok", g, n);
    memcpy(g, f, n), sn_wr32(g + 8, 2), reseal(g, n);
    put("bad/tokenizer", "UNSUPPORTED_version2.sntok", g, n);
    memcpy(g, f, n), sn_wr32(g + 12, 7), reseal(g, n);
    put("bad/tokenizer", "UNSUPPORTED_splitter.sntok", g, n);
    memcpy(g, f, n), memcpy(g, "SONOTOK\x1a", 8);
    put("bad/tokenizer", "FORMAT_magic.sntok", g, n);
    memcpy(g, f, n), sn_wr32(g + merges_at, 256 + 59), reseal(g, n);   /* merge 0 joins the last token */
    put("bad/tokenizer", "FORMAT_merge_later.sntok", g, n);
    memcpy(g, f, n), memcpy(g + merges_at + 8, g + merges_at, 8), reseal(g, n);  /* merge 1 repeats merge 0 */
    put("bad/tokenizer", "FORMAT_merge_twice.sntok", g, n);
    memcpy(g, f, n - 8), g[n - 8] = 0, reseal(g, n + 1);
    put("bad/tokenizer", "FORMAT_trailing.sntok", g, n + 1);
    memcpy(g, f, n), sn_wr32(g + 20, sn_rd32(g + 20) + 1), reseal(g, n);
    put("bad/tokenizer", "FORMAT_vocab_size.sntok", g, n);
    memcpy(g, f, n), memcpy(g + 34, "PAD", 3), reseal(g, n);
    put("bad/tokenizer", "FORMAT_pad_name.sntok", g, n);
    memcpy(g, f, n), sn_wr32(g + 24, 300), reseal(g, n);
    put("bad/tokenizer", "LIMIT_specials.sntok", g, n);
    memcpy(g, f, n), sn_wr32(g + 16, 5000), reseal(g, n);
    put("bad/tokenizer", "LIMIT_chunk.sntok", g, n);
    free(g);
    /* the decoder: the text, a part of it, ids of every kind */
    put("corpus/tokdecode", "text.txt", text, sizeof text - 1);
    put("corpus/tokdecode", "words.txt", "the dog barks at the door", 25);
    int32_t ids[64];
    int64_t k = sono_tokenizer_encode(tok, text, 200, ids, 64);
    uint8_t le[4 * 64 + 16];
    for (int64_t i = 0; i < k && i < 64; i++) sn_wr32(le + 4 * i, (uint32_t)ids[i]);
    put("corpus/tokdecode", "ids_text.bin", le, 4 * (size_t)(k < 64 ? k : 64));
    for (int i = 0; i < 16; i++) sn_wr32(le + 4 * i, (uint32_t)i);
    put("corpus/tokdecode", "ids_specials.bin", le, 64);
    sn_wr32(le, (uint32_t)sono_tokenizer_n_vocab(tok)), sn_wr32(le + 4, 0xffffffffu);
    put("corpus/tokdecode", "ids_out_of_range.bin", le, 8);
    sn_wr32(le, 20), sn_wr32(le + 4, 0x7ffffff0u); /* top byte not 0: taken as it is */
    put("bad/tokdecode", "RANGE_past_vocab.bin", le, 8);
    free(f);
    sono_tokenizer_free(tok);
    return failures ? 1 : 0;
}
