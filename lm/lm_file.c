/* The LM file: safetensors with the model config, the mixed vocabulary
 * layout, the text tokenizer and the codec's identity in __metadata__
 * (include/sonotok/lm.h, lm/README.md). The loader checks every field and
 * every tensor's shape before it builds the model: a file that is not an LM
 * file, truncated or inconsistent fails with one line naming the problem. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_file.h"
#include "sonotok/phonemes.h"
#include "sono_internal.h"
#include "tensors.h"

#define LM_FILE_MAX ((size_t)4 << 30)

/* ---- config JSON ---- */

char *sn_lm_config_to_json(const sn_lm_config *c) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"V_text\":%d,\"K\":%d,\"codebook_size\":%d,\"C\":%d,\"n_layer\":%d,\"n_head\":%d,\"T_max\":%d,"
             "\"pos\":\"%s\",\"rope_theta\":%.9g,\"norm_eps\":%.9g}",
             c->V_text, c->K, c->codebook_size, c->C, c->n_layer, c->n_head, c->T_max,
             c->pos == SN_LM_POS_LEARNED ? "learned" : "rope", (double)c->rope_theta, (double)c->norm_eps);
    return strdup(buf);
}

static int json_int(json_object *o, const char *key, int *v) {
    json_object *x;
    if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int)) return -1;
    int64_t i = json_object_get_int64(x);
    if (i < -(1LL << 30) || i > (1LL << 30)) return -1;
    *v = (int)i;
    return 0;
}

static int json_num(json_object *o, const char *key, float *v) {
    json_object *x;
    if (!json_object_object_get_ex(o, key, &x) ||
        !(json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int)))
        return -1;
    double d = json_object_get_double(x);
    if (!isfinite(d)) return -1;
    *v = (float)d;
    return 0;
}

int sn_lm_config_from_json(const char *json, sn_lm_config *c) {
    json_object *o = json ? json_tokener_parse(json) : NULL;
    json_object *pos;
    int bad = !o || !json_object_is_type(o, json_type_object);
    bad = bad || json_int(o, "V_text", &c->V_text) || json_int(o, "K", &c->K) ||
          json_int(o, "codebook_size", &c->codebook_size) || json_int(o, "C", &c->C) ||
          json_int(o, "n_layer", &c->n_layer) || json_int(o, "n_head", &c->n_head) || json_int(o, "T_max", &c->T_max) ||
          json_num(o, "rope_theta", &c->rope_theta) || json_num(o, "norm_eps", &c->norm_eps) ||
          !json_object_object_get_ex(o, "pos", &pos) || !json_object_is_type(pos, json_type_string);
    if (!bad) {
        const char *p = json_object_get_string(pos);
        if (!strcmp(p, "rope")) c->pos = SN_LM_POS_ROPE;
        else if (!strcmp(p, "learned")) c->pos = SN_LM_POS_LEARNED;
        else bad = 1;
    }
    json_object_put(o);
    if (bad) return sn_fail(SONO_E_FORMAT, "lm: the model config is not a valid LM config");
    return sn_lm_config_check(c) ? SONO_E_FORMAT : 0;
}

/* ---- base64 and hex ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *sn_lm_b64_encode(const uint8_t *d, size_t n) {
    char *s = malloc((n + 2) / 3 * 4 + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *o++ = b64_chars[v >> 18 & 63];
        *o++ = b64_chars[v >> 12 & 63];
        *o++ = i + 1 < n ? b64_chars[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64_chars[v & 63] : '=';
    }
    *o = 0;
    return s;
}

static int b64_val(char c) {
    const char *p = c ? strchr(b64_chars, c) : NULL;
    return p ? (int)(p - b64_chars) : -1;
}

int sn_lm_b64_decode(const char *s, uint8_t **out, size_t *n_out) {
    size_t len = strlen(s);
    *out = NULL;
    *n_out = 0;
    if (len % 4) return sn_fail(SONO_E_FORMAT, "lm: base64 text of %zu characters", len);
    uint8_t *d = malloc(len / 4 * 3 + 1);
    if (!d) return sn_fail(SONO_E_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            v[j] = b64_val(s[i + j]);
            if (s[i + j] == '=' && i + 4 == len && j >= 2) { v[j] = 0; pad++; }
            else if (v[j] < 0 || pad) { free(d); return sn_fail(SONO_E_FORMAT, "lm: bad base64 text"); }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        d[n++] = (uint8_t)(x >> 16);
        if (pad < 2) d[n++] = (uint8_t)(x >> 8);
        if (pad < 1) d[n++] = (uint8_t)x;
    }
    *out = d;
    *n_out = n;
    return 0;
}

void sn_lm_hash_hex(const uint8_t h[16], char out[33]) {
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int sn_lm_hash_parse(const char *s, uint8_t h[16]) {
    if (!s || strlen(s) != 32) return SONO_E_FORMAT;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
            !strchr("0123456789abcdef", s[2 * i + 1]))
            return SONO_E_FORMAT;
        h[i] = (uint8_t)v;
    }
    return 0;
}

/* ---- save ---- */

int sn_lm_v_text_for(const sono_tokenizer *tok, int phonemes, int n_cond) {
    return sono_tokenizer_n_vocab(tok) + (phonemes || n_cond ? sono_phoneme_n_tokens() + n_cond : 0);
}

int sn_lm_cond_name_ok(const char *name) {
    const char *v = !strncmp(name, "lang:", 5) ? name + 5 : !strncmp(name, "voice:", 6) ? name + 6 : NULL;
    if (!v || !*v || strlen(v) > 56) return 0;
    for (; *v; v++)
        if (*v <= ' ' || *v > '~' || *v == '"' || *v == '\\') return 0;
    return 1;
}

int sn_lm_cond_find(char *const *cond, int n, const char *kind, const char *v) {
    size_t kl = strlen(kind);
    for (int i = 0; i < n; i++)
        if (!strncmp(cond[i], kind, kl) && cond[i][kl] == ':' && (!v || !strcmp(cond[i] + kl + 1, v))) return i;
    return -1;
}

int sn_lm_file_save(const char *path, const char *name, const sn_lm *m, const sono_tokenizer *tok,
                    const sn_lm_codec_id *codec) {
    return sn_lm_file_save_tts(path, name, m, tok, codec, 0, NULL, 0);
}

int sn_lm_file_save_tts(const char *path, const char *name, const sn_lm *m, const sono_tokenizer *tok,
                        const sn_lm_codec_id *codec, int phonemes, const char *const *cond, int n_cond) {
    sono_vocab_layout l;
    int rc = sono_vocab_layout_for(tok, m->cfg.K, m->cfg.codebook_size, &l);
    if (rc) return rc;
    phonemes = phonemes || n_cond > 0;
    if (phonemes) {
        l.n_phoneme = sono_phoneme_n_tokens();
        l.n_cond = n_cond;
        for (int i = 0; i < n_cond; i++)
            if (!sn_lm_cond_name_ok(cond[i])) return sn_fail(SONO_E_ARG, "lm: bad condition name \"%.64s\"", cond[i]);
    }
    if (sono_vocab_size(&l) - (int64_t)l.n_codebooks * (l.codebook_size + SONO_VOCAB_AUDIO_EXTRA) != m->cfg.V_text)
        return sn_fail(SONO_E_ARG, "lm: the model reads %d token ids, the tokenizer and phonemes have %d", m->cfg.V_text,
                       sn_lm_v_text_for(tok, phonemes, n_cond));
    char vjson[SONO_VOCAB_JSON_MAX], hex[33], num[64];
    if ((rc = sono_vocab_layout_to_json(&l, vjson, sizeof vjson)) < 0) return rc;
    uint8_t *tb = NULL;
    size_t tn = 0;
    if ((rc = sono_tokenizer_to_bytes(tok, &tb, &tn))) return rc;
    char *b64 = sn_lm_b64_encode(tb, tn);
    free(tb);
    char *cjson = sn_lm_config_to_json(&m->cfg);
    json_object *meta = json_object_new_object();
    sono_tensors *ts = NULL;
    const char **names = malloc(sizeof *names * (size_t)m->table.n);
    int *ndims = malloc(sizeof *ndims * (size_t)m->table.n);
    int64_t (*shapes)[SONO_MAX_DIMS] = calloc((size_t)m->table.n, sizeof *shapes);
    const float **data = malloc(sizeof *data * (size_t)m->table.n);
    if (!b64 || !cjson || !meta || !names || !ndims || !shapes || !data) {
        rc = sn_fail(SONO_E_NOMEM, "out of memory");
        goto done;
    }
    json_object_object_add(meta, "format", json_object_new_string(SN_LM_FILE_FORMAT));
    snprintf(num, sizeof num, "%d", SN_LM_FILE_VERSION);
    json_object_object_add(meta, "version", json_object_new_string(num));
    json_object_object_add(meta, "name", json_object_new_string(name));
    json_object_object_add(meta, "config", json_object_new_string(cjson));
    json_object_object_add(meta, "vocab", json_object_new_string(vjson));
    json_object_object_add(meta, "tokenizer", json_object_new_string(b64));
    if (phonemes) {
        char pjson[SONO_PHONEME_JSON_MAX];
        json_object *arr = json_object_new_array();
        if (sono_phoneme_inventory_to_json(pjson, sizeof pjson) < 0 || !arr) {
            json_object_put(arr);
            rc = sn_fail(SONO_E_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < n_cond; i++) json_object_array_add(arr, json_object_new_string(cond[i]));
        json_object_object_add(meta, "phonemes", json_object_new_string(pjson));
        json_object_object_add(meta, "conditions", json_object_new_string(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
        json_object_put(arr);
    }
    json_object_object_add(meta, "codec", json_object_new_string(codec->name));
    sn_lm_hash_hex(codec->hash, hex);
    json_object_object_add(meta, "codec_hash", json_object_new_string(hex));
    snprintf(num, sizeof num, "%.17g", codec->frame_rate);
    json_object_object_add(meta, "frame_rate", json_object_new_string(num));
    for (int i = 0; i < m->table.n; i++) {
        const sn_param *p = &m->table.p[i];
        names[i] = p->name;
        ndims[i] = p->ndim;
        for (int k = 0; k < p->ndim; k++) shapes[i][k] = p->shape[k];
        data[i] = m->params + p->offset;
    }
    if ((rc = sn_tensors_create(&ts, m->table.n, names, ndims, (const int64_t (*)[SONO_MAX_DIMS])shapes, data)))
        goto done;
    rc = sn_safetensors_save(path, ts, json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN), 0);
done:
    sn_tensors_free(ts);
    free(names); free(ndims); free(shapes); free(data);
    json_object_put(meta);
    free(cjson);
    free(b64);
    return rc;
}

/* ---- load ---- */

static const char *meta_str(json_object *meta, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(meta, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

/* Floats the config's parameter table holds (lm_model.c's build_table),
 * computed before anything is allocated: a file whose tensors do not add up
 * to it is refused before the model is built, so the allocation is bounded
 * by what the file holds. */
static uint64_t config_floats(const sn_lm_config *c) {
    uint64_t C = (uint64_t)c->C, Va = (uint64_t)c->codebook_size + 2, K = (uint64_t)c->K;
    uint64_t n = (uint64_t)c->V_text * C + 2 * K * Va * C + C;
    if (c->pos == SN_LM_POS_LEARNED) n += (uint64_t)c->T_max * C;
    return n + (uint64_t)c->n_layer * (2 * C + 12 * C * C);
}

/* The phoneme inventory (checked against this build's) and the condition
 * names of a layout with phonemes. 0 or a negative error with its line. */
static int tts_meta_read(json_object *meta, sono_lm *lm) {
    const char *ph = meta_str(meta, "phonemes"), *cs = meta_str(meta, "conditions");
    if (!ph || !cs) return sn_fail(SONO_E_FORMAT, "LM file: a phoneme vocabulary without its inventory or conditions");
    int rc = sono_phoneme_inventory_check(ph);
    if (rc) {
        sn_error_prefix("LM file: this build's phoneme front end does not match the model's");
        return rc;
    }
    if (lm->vocab.n_phoneme != sono_phoneme_n_tokens())
        return sn_fail(SONO_E_FORMAT, "LM file: %d phoneme ids, the inventory has %d", (int)lm->vocab.n_phoneme,
                       (int)sono_phoneme_n_tokens());
    json_object *arr = json_tokener_parse(cs);
    int n = arr && json_object_is_type(arr, json_type_array) ? (int)json_object_array_length(arr) : -1;
    if (n != lm->vocab.n_cond) {
        json_object_put(arr);
        return sn_fail(SONO_E_FORMAT, "LM file: conditions are not a list of %d names", (int)lm->vocab.n_cond);
    }
    lm->cond = calloc((size_t)n + 1, sizeof *lm->cond);
    rc = lm->cond ? 0 : sn_fail(SONO_E_NOMEM, "out of memory");
    for (int i = 0; !rc && i < n; i++) {
        json_object *v = json_object_array_get_idx(arr, (size_t)i);
        const char *name = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        for (int j = 0; name && j < i; j++)
            if (!strcmp(lm->cond[j], name)) name = NULL;
        if (!name || !sn_lm_cond_name_ok(name)) rc = sn_fail(SONO_E_FORMAT, "LM file: condition %d is not a distinct lang:L or voice:V name", i);
        else if (!(lm->cond[i] = strdup(name))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
        else lm->n_cond = i + 1;
    }
    json_object_put(arr);
    return rc;
}

static int from_tensors(const sono_tensors *ts, sono_lm **out) {
    *out = NULL;
    if (!ts->metadata) return sn_fail(SONO_E_FORMAT, "not an LM file (no metadata)");
    json_object *meta = json_tokener_parse(ts->metadata);
    sono_lm *lm = calloc(1, sizeof *lm);
    int rc = 0;
    if (!lm) { json_object_put(meta); return sn_fail(SONO_E_NOMEM, "out of memory"); }
    const char *fmt = meta ? meta_str(meta, "format") : NULL, *ver = meta ? meta_str(meta, "version") : NULL;
    if (!fmt || strcmp(fmt, SN_LM_FILE_FORMAT)) { rc = sn_fail(SONO_E_FORMAT, "not an LM file (format is not \"%s\")", SN_LM_FILE_FORMAT); goto fail; }
    if (!ver || strcmp(ver, "1")) { rc = sn_fail(SONO_E_UNSUPPORTED, "LM file version %.16s (this build reads 1)", ver ? ver : "?"); goto fail; }
    const char *name = meta_str(meta, "name"), *cfg = meta_str(meta, "config"), *voc = meta_str(meta, "vocab"),
               *tok = meta_str(meta, "tokenizer"), *codec = meta_str(meta, "codec"),
               *chash = meta_str(meta, "codec_hash"), *fr = meta_str(meta, "frame_rate");
    if (!name || !cfg || !voc || !tok || !codec || !chash || !fr) {
        rc = sn_fail(SONO_E_FORMAT, "LM file: metadata lacks name, config, vocab, tokenizer, codec, codec_hash or frame_rate");
        goto fail;
    }
    if (strlen(name) >= sizeof lm->name || strlen(codec) >= sizeof lm->codec_name || !*codec) {
        rc = sn_fail(SONO_E_FORMAT, "LM file: model or codec name empty or too long");
        goto fail;
    }
    snprintf(lm->name, sizeof lm->name, "%s", name);
    snprintf(lm->codec_name, sizeof lm->codec_name, "%s", codec);
    char *end;
    lm->frame_rate = strtod(fr, &end);
    if (*end || !(lm->frame_rate > 0 && lm->frame_rate < 1e6)) { rc = sn_fail(SONO_E_FORMAT, "LM file: bad frame_rate"); goto fail; }
    if (sn_lm_hash_parse(chash, lm->codec_hash)) { rc = sn_fail(SONO_E_FORMAT, "LM file: codec_hash is not 32 hex digits"); goto fail; }
    sn_lm_config c = sn_lm_config_default();
    if ((rc = sn_lm_config_from_json(cfg, &c))) { sn_error_prefix("LM file"); goto fail; }
    if ((rc = sono_vocab_layout_from_json(voc, &lm->vocab))) { sn_error_prefix("LM file: vocab"); rc = SONO_E_FORMAT; goto fail; }
    uint8_t *tb = NULL;
    size_t tn = 0;
    if ((rc = sn_lm_b64_decode(tok, &tb, &tn))) { sn_error_prefix("LM file: tokenizer"); goto fail; }
    lm->tok = sono_tokenizer_from_bytes(tb, tn, &rc);
    free(tb);
    if (!lm->tok) { sn_error_prefix("LM file: embedded tokenizer"); goto fail; }
    if (lm->vocab.n_phoneme || lm->vocab.n_cond) {
        if ((rc = tts_meta_read(meta, lm))) goto fail;
    } else if (meta_str(meta, "phonemes") || meta_str(meta, "conditions")) {
        rc = sn_fail(SONO_E_FORMAT, "LM file: phonemes or conditions without a vocabulary layout that has them");
        goto fail;
    }
    if (lm->vocab.n_special != sono_tokenizer_n_special(lm->tok) || lm->vocab.n_text != sono_tokenizer_n_text(lm->tok) ||
        lm->vocab.n_codebooks != c.K || lm->vocab.codebook_size != c.codebook_size ||
        c.V_text != sono_tokenizer_n_vocab(lm->tok) + lm->vocab.n_phoneme + lm->vocab.n_cond) {
        rc = sn_fail(SONO_E_FORMAT, "LM file: vocab layout, tokenizer and model config disagree");
        goto fail;
    }
    uint64_t in_file = 0;
    for (int i = 0; i < ts->n; i++) in_file += (uint64_t)ts->t[i].numel;
    if (in_file != config_floats(&c)) {
        rc = sn_fail(SONO_E_FORMAT, "LM file: %llu parameters, the config needs %llu", (unsigned long long)in_file,
                     (unsigned long long)config_floats(&c));
        goto fail;
    }
    if ((uint64_t)c.T_max * (uint64_t)c.C > ((uint64_t)1 << 26)) { /* the rotary tables: T_max x C floats */
        rc = sn_fail(SONO_E_LIMIT, "LM file: context %d x width %d is beyond this build's limit", c.T_max, c.C);
        goto fail;
    }
    if ((rc = sn_lm_new(&c, &lm->m))) { sn_error_prefix("LM file"); rc = SONO_E_FORMAT; goto fail; }
    if (ts->n != lm->m->table.n) {
        rc = sn_fail(SONO_E_FORMAT, "LM file: %d tensors, the config needs %d", ts->n, lm->m->table.n);
        goto fail;
    }
    for (int i = 0; i < lm->m->table.n; i++) {
        const sn_param *p = &lm->m->table.p[i];
        const sono_tensor *t = sn_tensors_find(ts, p->name);
        int same = t && t->ndim == p->ndim;
        for (int k = 0; same && k < p->ndim; k++) same = t->shape[k] == p->shape[k];
        if (!same) { rc = sn_fail(SONO_E_FORMAT, "LM file: tensor %s missing or of another shape", p->name); goto fail; }
        for (int64_t j = 0; j < t->numel; j++)
            if (!isfinite(t->data[j])) { rc = sn_fail(SONO_E_FORMAT, "LM file: tensor %s holds a non-finite value", p->name); goto fail; }
        memcpy(lm->m->params + p->offset, t->data, sizeof(float) * p->numel);
    }
    json_object_put(meta);
    *out = lm;
    return 0;
fail:
    json_object_put(meta);
    sono_lm_free(lm);
    return rc;
}

sono_lm *sono_lm_from_bytes(const void *data, size_t n_bytes, int *err) {
    sono_tensors *ts = NULL;
    sono_lm *lm = NULL;
    int rc = data ? sn_safetensors_load_mem(data, n_bytes, &ts) : sn_fail(SONO_E_ARG, "no data");
    if (!rc) rc = from_tensors(ts, &lm);
    sn_tensors_free(ts);
    if (err) *err = rc;
    return lm;
}

sono_lm *sono_lm_load(const char *path, int *err) {
    const uint8_t *buf = NULL;
    size_t n = 0;
    int mapped = 0;
    int rc = path ? sn_map_file(path, LM_FILE_MAX, &buf, &n, &mapped) : sn_fail(SONO_E_ARG, "no path");
    sono_lm *lm = NULL;
    if (!rc) {
        lm = sono_lm_from_bytes(buf, n, &rc);
        sn_unmap_file(buf, n, mapped);
    }
    if (rc && path) sn_error_prefix("%s", path);
    if (err) *err = rc;
    return lm;
}

void sono_lm_free(sono_lm *lm) {
    if (!lm) return;
    sn_lm_free(lm->m);
    sono_tokenizer_free(lm->tok);
    for (int i = 0; i < lm->n_cond; i++) free(lm->cond[i]);
    free(lm->cond);
    free(lm);
}

const char *sono_lm_name(const sono_lm *lm) { return lm->name; }
int sono_lm_n_codebooks(const sono_lm *lm) { return lm->m->cfg.K; }
int sono_lm_codebook_size(const sono_lm *lm) { return lm->m->cfg.codebook_size; }
int sono_lm_context(const sono_lm *lm) { return lm->m->cfg.T_max; }
int sono_lm_width(const sono_lm *lm) { return lm->m->cfg.C; }
int sono_lm_n_layers(const sono_lm *lm) { return lm->m->cfg.n_layer; }
int sono_lm_n_heads(const sono_lm *lm) { return lm->m->cfg.n_head; }
int64_t sono_lm_n_params(const sono_lm *lm) { return (int64_t)lm->m->n_params; }
const sono_tokenizer *sono_lm_tokenizer(const sono_lm *lm) { return lm->tok; }
void sono_lm_vocab_layout(const sono_lm *lm, sono_vocab_layout *l) { *l = lm->vocab; }
const char *sono_lm_codec_name(const sono_lm *lm) { return lm->codec_name; }
void sono_lm_codec_hash(const sono_lm *lm, uint8_t out[16]) { memcpy(out, lm->codec_hash, 16); }
double sono_lm_frame_rate(const sono_lm *lm) { return lm->frame_rate; }
int sono_lm_n_conditions(const sono_lm *lm) { return lm->n_cond; }
const char *sono_lm_condition(const sono_lm *lm, int i) { return i >= 0 && i < lm->n_cond ? lm->cond[i] : NULL; }

int sono_lm_check_codec(const sono_lm *lm, const char *codec_name, const uint8_t codec_hash[16]) {
    return sono_lm_check_codec_hashes(lm, codec_name, codec_hash, codec_hash);
}

int sono_lm_check_codec_hashes(const sono_lm *lm, const char *codec_name, const uint8_t codes_hash[16],
                               const uint8_t hash[16]) {
    if (!strcmp(lm->codec_name, codec_name ? codec_name : "") &&
        (!memcmp(lm->codec_hash, codes_hash, 16) || !memcmp(lm->codec_hash, hash, 16)))
        return 0;
    char a[33], b[33];
    sn_lm_hash_hex(lm->codec_hash, a);
    sn_lm_hash_hex(codes_hash, b);
    return sn_fail(SONO_E_MODEL_MISMATCH, "LM \"%s\" was trained for codec \"%s\" (hash %.8s...), not codec \"%s\" (hash %.8s...)",
                   lm->name, lm->codec_name, a, codec_name ? codec_name : "?", b);
}
