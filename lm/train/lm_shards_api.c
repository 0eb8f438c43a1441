/* The public face of token shards (train.h, sono_token_shards_*): train-lm's
 * cache of a manifest's codes (lm_shards.h), opened for other trainers
 * (train-coder) as a set of per-clip code arrays. */
#include <stdlib.h>

#include "lm_shards.h"
#include "sono_internal.h"

#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"

struct sono_token_shards {
    sn_lm_manifest *man;
    sn_lm_shards *sh;
    const int16_t **codes; /* [n] into the map */
    int64_t *n_frames;     /* [n] */
    int *category;         /* [n] */
};

void sono_token_shards_close(sono_token_shards *s) {
    if (!s) return;
    sn_lm_shards_close(s->sh);
    sn_lm_manifest_free(s->man);
    free(s->codes);
    free(s->n_frames);
    free(s->category);
    free(s);
}

sono_token_shards *sono_token_shards_open(const char *path, const char *manifest, const sono_codec *codec,
                                          int n_codebooks, int *built, int *err) {
    sono_token_shards *s = calloc(1, sizeof *s);
    int rc = s ? sn_lm_manifest_read(manifest, &s->man) : sn_fail(SONO_E_NOMEM, "out of memory");
    int K = n_codebooks > 0 ? n_codebooks : sono_codec_max_codebooks(codec);
    if (!rc) rc = sn_lm_shards_open(&s->sh, path, s->man, codec, K, 1, built);
    if (!rc) {
        int n = s->sh->n_entries;
        s->codes = malloc(sizeof *s->codes * (size_t)n);
        s->n_frames = malloc(sizeof *s->n_frames * (size_t)n);
        s->category = malloc(sizeof *s->category * (size_t)n);
        if (!s->codes || !s->n_frames || !s->category) rc = sn_fail(SONO_E_NOMEM, "out of memory");
        for (int i = 0; !rc && i < n; i++) {
            s->codes[i] = s->sh->codes + s->sh->entries[i].offset;
            s->n_frames[i] = s->sh->entries[i].n_frames;
            s->category[i] = (int)s->sh->entries[i].category;
        }
    }
    if (rc) {
        sono_token_shards_close(s);
        s = NULL;
    }
    if (err) *err = rc;
    return s;
}

void sono_token_shards_code_set(const sono_token_shards *s, sono_code_set *out) {
    out->n_clips = s->sh->n_entries;
    out->codes = s->codes;
    out->n_frames = s->n_frames;
    out->category = s->category;
    out->n_codebooks = s->sh->K;
    out->codebook_size = s->sh->codebook_size;
}
