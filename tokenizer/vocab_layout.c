/* The layout of the mixed text + audio vocabulary (tokenizer.h): which
 * global id is which special, text token or audio code, and its JSON form
 * for an LM file. Defined here and nowhere else. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "bpe.h"
#include "sono_internal.h"

#define LAYOUT_VERSION 2 /* the newest this build reads and writes; 1 when there are no phonemes */

static int64_t block_size(const sono_vocab_layout *l) { return (int64_t)l->codebook_size + SONO_VOCAB_AUDIO_EXTRA; }
static int64_t phoneme_base(const sono_vocab_layout *l) { return (int64_t)l->n_special + l->n_text; }
static int64_t audio_base(const sono_vocab_layout *l) { return phoneme_base(l) + l->n_phoneme + l->n_cond; }

int sono_vocab_layout_check(const sono_vocab_layout *l) {
    if (!l) return sn_fail(SONO_E_ARG, "vocab layout: NULL");
    if (l->n_special < 0 || l->n_text < 0 || l->n_codebooks < 0 || l->codebook_size < 0 || l->n_phoneme < 0 ||
        l->n_cond < 0 ||
        (l->n_codebooks > 0 && l->codebook_size < 1))
        return sn_fail(SONO_E_RANGE, "vocab layout: %d specials, %d text ids, %d codebooks of %d: out of range",
                       (int)l->n_special, (int)l->n_text, (int)l->n_codebooks, (int)l->codebook_size);
    if (audio_base(l) + (int64_t)l->n_codebooks * block_size(l) > INT32_MAX)
        return sn_fail(SONO_E_LIMIT, "vocab layout: more than 2^31 - 1 ids");
    return 0;
}

int sono_vocab_layout_for(const sono_tokenizer *tok, int32_t n_codebooks, int32_t codebook_size,
                          sono_vocab_layout *l) {
    if (!tok || !l) return sn_fail(SONO_E_ARG, "vocab layout: NULL argument");
    sono_vocab_layout v = {sono_tokenizer_n_special(tok), sono_tokenizer_n_text(tok), n_codebooks, codebook_size, 0, 0};
    int rc = sono_vocab_layout_check(&v);
    if (!rc) *l = v;
    return rc;
}

int64_t sono_vocab_size(const sono_vocab_layout *l) {
    return l ? audio_base(l) + (int64_t)l->n_codebooks * block_size(l) : 0;
}

int64_t sono_vocab_id(const sono_vocab_layout *l, int kind, int32_t codebook, int64_t index) {
    if (!l) return sn_fail(SONO_E_ARG, "vocab layout: NULL");
    int audio = kind == SONO_VOCAB_AUDIO || kind == SONO_VOCAB_AUDIO_EMPTY || kind == SONO_VOCAB_AUDIO_END;
    if (audio && (codebook < 0 || codebook >= l->n_codebooks))
        return sn_fail(SONO_E_RANGE, "vocab layout: codebook %d is not in [0, %d)", (int)codebook, (int)l->n_codebooks);
    int64_t limit = kind == SONO_VOCAB_SPECIAL ? l->n_special
                  : kind == SONO_VOCAB_TEXT    ? l->n_text
                  : kind == SONO_VOCAB_AUDIO   ? l->codebook_size
                  : kind == SONO_VOCAB_PHONEME ? l->n_phoneme
                  : kind == SONO_VOCAB_COND    ? l->n_cond
                  : audio                      ? 1
                                               : 0;
    if (index < 0 || index >= limit)
        return sn_fail(SONO_E_RANGE, "vocab layout: index %lld of kind %d is out of range", (long long)index, kind);
    switch (kind) {
    case SONO_VOCAB_SPECIAL: return index;
    case SONO_VOCAB_TEXT: return l->n_special + index;
    case SONO_VOCAB_PHONEME: return phoneme_base(l) + index;
    case SONO_VOCAB_COND: return phoneme_base(l) + l->n_phoneme + index;
    default: break;
    }
    int64_t local = kind == SONO_VOCAB_AUDIO ? index : kind == SONO_VOCAB_AUDIO_EMPTY ? l->codebook_size
                                                                                       : l->codebook_size + 1;
    return audio_base(l) + (int64_t)codebook * block_size(l) + local;
}

int sono_vocab_locate(const sono_vocab_layout *l, int64_t id, int *kind, int32_t *codebook, int64_t *index) {
    if (!l) return sn_fail(SONO_E_ARG, "vocab layout: NULL");
    if (id < 0 || id >= sono_vocab_size(l))
        return sn_fail(SONO_E_RANGE, "vocab layout: id %lld is not in [0, %lld)", (long long)id,
                       (long long)sono_vocab_size(l));
    int k;
    int32_t cb = 0;
    int64_t ix;
    if (id < l->n_special) {
        k = SONO_VOCAB_SPECIAL;
        ix = id;
    } else if (id < phoneme_base(l)) {
        k = SONO_VOCAB_TEXT;
        ix = id - l->n_special;
    } else if (id < phoneme_base(l) + l->n_phoneme) {
        k = SONO_VOCAB_PHONEME;
        ix = id - phoneme_base(l);
    } else if (id < audio_base(l)) {
        k = SONO_VOCAB_COND;
        ix = id - phoneme_base(l) - l->n_phoneme;
    } else {
        int64_t a = id - audio_base(l);
        cb = (int32_t)(a / block_size(l));
        ix = a % block_size(l);
        k = ix < l->codebook_size ? SONO_VOCAB_AUDIO : ix == l->codebook_size ? SONO_VOCAB_AUDIO_EMPTY
                                                                               : SONO_VOCAB_AUDIO_END;
        if (k != SONO_VOCAB_AUDIO) ix = 0;
    }
    if (kind) *kind = k;
    if (codebook) *codebook = cb;
    if (index) *index = ix;
    return 0;
}

int sono_vocab_layout_to_json(const sono_vocab_layout *l, char *buf, size_t n_bytes) {
    if (!l || !buf) return sn_fail(SONO_E_ARG, "vocab layout: NULL argument");
    int n = l->n_phoneme || l->n_cond
                ? snprintf(buf, n_bytes,
                           "{\"version\":2,\"n_special\":%d,\"n_text\":%d,\"n_phoneme\":%d,\"n_cond\":%d,"
                           "\"n_codebooks\":%d,\"codebook_size\":%d,\"audio_extra\":%d}",
                           (int)l->n_special, (int)l->n_text, (int)l->n_phoneme, (int)l->n_cond, (int)l->n_codebooks,
                           (int)l->codebook_size, SONO_VOCAB_AUDIO_EXTRA)
                : snprintf(buf, n_bytes,
                           "{\"version\":1,\"n_special\":%d,\"n_text\":%d,\"n_codebooks\":%d,\"codebook_size\":%d,"
                           "\"audio_extra\":%d}",
                           (int)l->n_special, (int)l->n_text, (int)l->n_codebooks, (int)l->codebook_size,
                           SONO_VOCAB_AUDIO_EXTRA);
    if (n < 0 || (size_t)n >= n_bytes) return sn_fail(SONO_E_LIMIT, "vocab layout: JSON buffer of %zu bytes too small", n_bytes);
    return n;
}

/* An integer field of o in [0, INT32_MAX]; -1 when absent or not such. */
static int64_t int_field(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) return -1;
    int64_t x = json_object_get_int64(v);
    return x < 0 || x > INT32_MAX ? -1 : x;
}

int sono_vocab_layout_from_json(const char *json, sono_vocab_layout *l) {
    if (!json || !l) return sn_fail(SONO_E_ARG, "vocab layout: NULL argument");
    json_object *o = json_tokener_parse(json);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return sn_fail(SONO_E_FORMAT, "vocab layout: not a JSON object");
    }
    int64_t version = int_field(o, "version"), extra = int_field(o, "audio_extra");
    int64_t f[6] = {int_field(o, "n_special"), int_field(o, "n_text"), int_field(o, "n_codebooks"),
                    int_field(o, "codebook_size"), 0, 0};
    if (version == 2) f[4] = int_field(o, "n_phoneme"), f[5] = int_field(o, "n_cond");
    json_object_put(o);
    if (version < 0 || extra < 0 || f[0] < 0 || f[1] < 0 || f[2] < 0 || f[3] < 0 || f[4] < 0 || f[5] < 0)
        return sn_fail(SONO_E_FORMAT, "vocab layout: a field is missing or not a count");
    if (version < 1 || version > LAYOUT_VERSION || extra != SONO_VOCAB_AUDIO_EXTRA)
        return sn_fail(SONO_E_UNSUPPORTED, "vocab layout: version %lld with %lld extra ids per codebook (this build: %d, %d)",
                       (long long)version, (long long)extra, LAYOUT_VERSION, SONO_VOCAB_AUDIO_EXTRA);
    sono_vocab_layout v = {(int32_t)f[0], (int32_t)f[1], (int32_t)f[2], (int32_t)f[3], (int32_t)f[4], (int32_t)f[5]};
    int rc = sono_vocab_layout_check(&v);
    if (!rc) *l = v;
    return rc;
}
