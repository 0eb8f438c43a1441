/* Token shards (lm_shards.h): the manifest reader, the builder (audio ->
 * codec -> int16 codes, once) and the checked, memory-mapped reader. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "lm_shards.h"
#include "sono_internal.h"
#include "sonotok/audio.h"
#include "sonotok/output.h"

#define SHARD_MAGIC "SNLMSHD1"

typedef struct {
    char magic[8];
    uint32_t version, K, codebook_size, n_entries;
    double frame_rate;
    uint8_t codec_hash[16];
    char codec_name[64];
    uint64_t manifest_hash, n_codes, table_hash;
} shard_header;
_Static_assert(sizeof(shard_header) == 136, "shard header layout");
_Static_assert(sizeof(sn_lm_shard_entry) == 16, "shard entry layout");

/* ---- manifest ---- */

static int category_of(const char *s) {
    if (!s) return SN_LM_CAT_OTHER;
    if (!strcmp(s, "speech")) return SN_LM_CAT_SPEECH;
    if (!strcmp(s, "music")) return SN_LM_CAT_MUSIC;
    if (!strcmp(s, "effects")) return SN_LM_CAT_EFFECTS;
    return SN_LM_CAT_OTHER;
}

static const char *str_field(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    const char *s = json_object_get_string(v);
    return *s ? s : NULL;
}

static void tts_rec_free(sn_lm_tts_rec *r) {
    if (!r) return;
    free(r->token);
    free(r->start);
    free(r->end);
    free(r->voice);
    free(r->lang);
    free(r);
}

/* An integer array field of exactly n entries (n < 0: any length, set), each
 * in [0, 2^31); 0 or -1. */
static int int_array(json_object *o, const char *key, int *n, int32_t **out) {
    json_object *a;
    *out = NULL;
    if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array)) return -1;
    int len = (int)json_object_array_length(a);
    if (len < 1 || len > 100000 || (*n >= 0 && len != *n)) return -1;
    int32_t *v = malloc(sizeof(int32_t) * (size_t)len);
    for (int i = 0; v && i < len; i++) {
        json_object *x = json_object_array_get_idx(a, (size_t)i);
        int64_t y = json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : -1;
        if (y < 0 || y > INT32_MAX) { free(v); return -1; }
        v[i] = (int32_t)y;
    }
    if (!v) return -1;
    *n = len;
    *out = v;
    return 0;
}

/* The TTS part of a manifest line: 0 with *out NULL when it has no
 * "tokens", 0 with a record, or -1 when it is broken. */
static int tts_rec_read(json_object *o, sn_lm_tts_rec **out) {
    *out = NULL;
    if (!json_object_object_get_ex(o, "tokens", NULL)) return 0;
    sn_lm_tts_rec *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->n = -1;
    const char *v = str_field(o, "voice"), *l = str_field(o, "lang");
    int bad = int_array(o, "tokens", &r->n, &r->token) || int_array(o, "start_frame", &r->n, &r->start) ||
              int_array(o, "end_frame", &r->n, &r->end) || !v || !l || !(r->voice = strdup(v)) ||
              !(r->lang = strdup(l));
    if (bad) { tts_rec_free(r); return -1; }
    *out = r;
    return 0;
}

void sn_lm_manifest_free(sn_lm_manifest *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        free(m->path[i]);
        free(m->caption[i]);
        tts_rec_free(m->tts[i]);
    }
    free(m->tts);
    free(m->path);
    free(m->caption);
    free(m->category);
    free(m);
}

int sn_lm_manifest_read(const char *path, sn_lm_manifest **out) {
    *out = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = sn_read_file(path, (size_t)1 << 31, &buf, &n);
    if (rc) return rc;
    sn_lm_manifest *m = calloc(1, sizeof *m);
    if (!m) { free(buf); return sn_fail(SONO_E_NOMEM, "out of memory"); }
    m->hash = XXH64(buf, n, 0);
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) : 0;
    int cap = 0, line_no = 0;
    char *p = (char *)buf, *end = (char *)buf + n;
    while (p < end && !rc) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line_no++;
        char *line = strndup(p, (size_t)(e - p));
        p = e + 1;
        if (!line) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); break; }
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (!*s) { free(line); continue; }
        json_object *o = json_tokener_parse(s);
        free(line);
        const char *ap = o && json_object_is_type(o, json_type_object) ? str_field(o, "path") : NULL;
        if (!ap) {
            json_object_put(o);
            rc = sn_fail(SONO_E_FORMAT, "%s:%d: not a JSON object with a \"path\"", path, line_no);
            break;
        }
        if (m->n == cap) {
            cap = cap ? cap * 2 : 256;
            char **np = realloc(m->path, sizeof *np * cap), **nc = np ? realloc(m->caption, sizeof *nc * cap) : NULL;
            if (np) m->path = np;
            if (nc) m->caption = nc;
            int *ncat = nc ? realloc(m->category, sizeof *ncat * cap) : NULL;
            if (ncat) m->category = ncat;
            sn_lm_tts_rec **nt = ncat ? realloc(m->tts, sizeof *nt * cap) : NULL;
            if (nt) m->tts = nt;
            if (!nt) { json_object_put(o); rc = sn_fail(SONO_E_NOMEM, "out of memory"); break; }
        }
        sn_lm_tts_rec *tr = NULL;
        if (tts_rec_read(o, &tr)) {
            json_object_put(o);
            rc = sn_fail(SONO_E_FORMAT, "%s:%d: a TTS record needs \"tokens\", \"start_frame\", \"end_frame\" (arrays of "
                                        "one length, counts >= 0), \"voice\" and \"lang\"", path, line_no);
            break;
        }
        m->tts[m->n] = tr;
        const char *cat_s = str_field(o, "category");
        int cat = !cat_s && tr ? SN_LM_CAT_SPEECH : category_of(cat_s);
        const char *cap_s = str_field(o, "caption");
        if (!cap_s && cat != SN_LM_CAT_SPEECH) cap_s = str_field(o, "text");
        size_t pl = strlen(ap) + (size_t)dir_len + 2;
        char *full = malloc(pl);
        if (full) {
            if (ap[0] == '/' || !dir_len) snprintf(full, pl, "%s", ap);
            else snprintf(full, pl, "%.*s/%s", dir_len, path, ap);
        }
        m->path[m->n] = full;
        m->caption[m->n] = cap_s ? strdup(cap_s) : NULL;
        m->category[m->n] = cat;
        m->n++;
        json_object_put(o);
        if (!full || (cap_s && !m->caption[m->n - 1])) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    }
    free(buf);
    if (!rc && !m->n) rc = sn_fail(SONO_E_EMPTY, "%s: no clips", path);
    if (rc) { sn_lm_manifest_free(m); return rc; }
    *out = m;
    return 0;
}

/* ---- reader ---- */

void sn_lm_shards_close(sn_lm_shards *s) {
    if (!s) return;
    if (s->map) munmap((void *)s->map, s->map_len);
    free(s);
}

int sn_lm_shards_map(sn_lm_shards **out, const char *path) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errno == ENOENT ? sn_fail(SONO_E_NOT_FOUND, "%s: no such file", path)
                                       : sn_fail(SONO_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(shard_header)) {
        close(fd);
        return sn_fail(SONO_E_TRUNCATED, "%s: token shard is truncated", path);
    }
    size_t len = (size_t)st.st_size;
    void *mp = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (mp == MAP_FAILED) return sn_fail(SONO_E_IO, "%s: cannot map (%s)", path, strerror(errno));
    sn_lm_shards *s = calloc(1, sizeof *s);
    if (!s) { munmap(mp, len); return sn_fail(SONO_E_NOMEM, "out of memory"); }
    s->map = mp;
    s->map_len = len;
    const shard_header *h = mp;
    int rc = 0;
    if (memcmp(h->magic, SHARD_MAGIC, 8)) rc = sn_fail(SONO_E_FORMAT, "%s: not a sonotok token shard", path);
    else if (h->version != 1) rc = sn_fail(SONO_E_UNSUPPORTED, "%s: token shard version %u", path, h->version);
    else if (h->K < 1 || h->K > 32 || h->codebook_size < 1 || h->codebook_size > 32767 || h->n_entries < 1 ||
             !(h->frame_rate > 0) || memchr(h->codec_name, 0, sizeof h->codec_name) == NULL)
        rc = sn_fail(SONO_E_FORMAT, "%s: token shard header out of range", path);
    else if (h->n_codes > (len - sizeof *h) / 2 ||
             (uint64_t)h->n_entries > (len - sizeof *h) / sizeof(sn_lm_shard_entry) ||
             sizeof *h + (uint64_t)h->n_entries * sizeof(sn_lm_shard_entry) + h->n_codes * 2 != len)
        rc = sn_fail(SONO_E_TRUNCATED, "%s: token shard size does not match its header", path);
    if (!rc) {
        s->entries = (const sn_lm_shard_entry *)((const uint8_t *)mp + sizeof *h);
        s->codes = (const int16_t *)(s->entries + h->n_entries);
        if (XXH64(s->entries, sizeof(sn_lm_shard_entry) * h->n_entries, 0) != h->table_hash)
            rc = sn_fail(SONO_E_CHECKSUM, "%s: token shard index checksum mismatch", path);
    }
    for (uint32_t i = 0; !rc && i < h->n_entries; i++) {
        const sn_lm_shard_entry *e = &s->entries[i];
        uint64_t need = (uint64_t)e->n_frames * h->K;
        if (e->category > SN_LM_CAT_OTHER || e->offset > h->n_codes || need > h->n_codes - e->offset)
            rc = sn_fail(SONO_E_FORMAT, "%s: token shard entry %u out of range", path, i);
        s->n_frames_total += e->n_frames;
    }
    for (uint64_t i = 0; !rc && i < h->n_codes; i++)
        if (s->codes[i] < 0 || s->codes[i] >= (int)h->codebook_size)
            rc = sn_fail(SONO_E_RANGE, "%s: token shard code %d outside [0, %u)", path, s->codes[i], h->codebook_size);
    if (rc) { sn_lm_shards_close(s); return rc; }
    s->K = (int)h->K;
    s->codebook_size = (int)h->codebook_size;
    s->n_entries = (int)h->n_entries;
    s->frame_rate = h->frame_rate;
    memcpy(s->codec_hash, h->codec_hash, 16);
    memcpy(s->codec_name, h->codec_name, sizeof s->codec_name);
    s->manifest_hash = h->manifest_hash;
    *out = s;
    return 0;
}

/* ---- builder ---- */

/* Codes [K][n_frames] of one clip as int16 (malloc'd); n_frames 0 when it
 * does not read (logged, skipped). */
static int encode_clip(const char *path, const sono_codec *codec, int K, int16_t **codes, uint32_t *n_frames) {
    *codes = NULL;
    *n_frames = 0;
    int err = 0;
    sono_audio_reader *r = sono_audio_open(path, sono_codec_sample_rate(codec), sono_codec_channels(codec), &err);
    float *pcm = NULL;
    int64_t n = 0;
    if (r) err = sono_audio_read_all(r, &pcm, &n);
    sono_audio_close(r);
    if (err || n <= 0) {
        sn_log(SONO_LOG_WARN, "train-lm: skipping %s (%s)", path, err ? sono_strerror(err) : "no samples");
        free(pcm);
        return err == SONO_E_NOMEM ? err : 0;
    }
    sono_tokens *t = NULL;
    err = sono_codec_encode(codec, pcm, n, K, &t);
    free(pcm);
    if (err) return err;
    if (t->n_frames > 0 && t->n_frames < (1 << 30)) {
        *codes = malloc(sizeof(int16_t) * (size_t)K * (size_t)t->n_frames);
        if (!*codes) { sono_tokens_free(t); return sn_fail(SONO_E_NOMEM, "out of memory"); }
        for (size_t i = 0; i < (size_t)K * (size_t)t->n_frames; i++) (*codes)[i] = (int16_t)t->codes[i];
        *n_frames = (uint32_t)t->n_frames;
    }
    sono_tokens_free(t);
    return 0;
}

static int shards_build(const char *path, const sn_lm_manifest *man, const sono_codec *codec, int K) {
    shard_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, SHARD_MAGIC, 8);
    h.version = 1;
    h.K = (uint32_t)K;
    h.codebook_size = (uint32_t)sono_codec_codebook_size(codec);
    h.n_entries = (uint32_t)man->n;
    h.frame_rate = sono_codec_frame_rate(codec);
    sono_codec_codes_hash(codec, h.codec_hash);
    snprintf(h.codec_name, sizeof h.codec_name, "%s", sono_codec_name(codec));
    h.manifest_hash = man->hash;
    sn_lm_shard_entry *ents = calloc((size_t)man->n, sizeof *ents);
    int16_t *all = NULL;
    size_t cap = 0;
    int rc = ents ? 0 : sn_fail(SONO_E_NOMEM, "out of memory");
    int64_t frames = 0;
    for (int i = 0; i < man->n && !rc; i++) {
        int16_t *c = NULL;
        uint32_t nf = 0;
        if ((rc = encode_clip(man->path[i], codec, K, &c, &nf))) break;
        size_t need = (size_t)h.n_codes + (size_t)nf * K;
        if (need > cap) {
            size_t nc = cap ? cap * 2 : (size_t)1 << 20;
            while (nc < need) nc *= 2;
            int16_t *na = realloc(all, nc * sizeof *na);
            if (!na) { free(c); rc = sn_fail(SONO_E_NOMEM, "out of memory"); break; }
            all = na;
            cap = nc;
        }
        ents[i].offset = h.n_codes;
        ents[i].n_frames = nf;
        ents[i].category = (uint32_t)man->category[i];
        if (nf) memcpy(all + h.n_codes, c, sizeof(int16_t) * nf * K);
        h.n_codes += (uint64_t)nf * K;
        frames += nf;
        free(c);
        if ((i + 1) % 500 == 0) sn_log(SONO_LOG_INFO, "train-lm: tokenized %d/%d clips", i + 1, man->n);
    }
    if (!rc && !frames) rc = sn_fail(SONO_E_EMPTY, "train-lm: no clip of the manifest gives a codec frame");
    if (!rc) {
        h.table_hash = XXH64(ents, sizeof *ents * (size_t)man->n, 0);
        sono_output *o = sono_output_open(path, 0, &rc);
        if (o) {
            rc = sono_output_write(o, &h, sizeof h);
            if (!rc) rc = sono_output_write(o, ents, sizeof *ents * (size_t)man->n);
            if (!rc && h.n_codes) rc = sono_output_write(o, all, sizeof(int16_t) * h.n_codes);
            if (rc) sono_output_abort(o);
            else rc = sono_output_commit(o);
        }
    }
    free(ents);
    free(all);
    return rc;
}

int sn_lm_shards_open(sn_lm_shards **out, const char *path, const sn_lm_manifest *man, const sono_codec *codec, int K,
                      int n_threads, int *built) {
    (void)n_threads; /* the codec was loaded with its thread count */
    *out = NULL;
    if (built) *built = 0;
    sn_lm_shards *s = NULL;
    uint8_t codes[16], hash[16]; /* shards record the codes hash; those built before it, the full hash */
    sono_codec_codes_hash(codec, codes);
    sono_codec_hash(codec, hash);
    int rc = sn_lm_shards_map(&s, path);
    const char *why = NULL;
    if (rc == SONO_E_NOT_FOUND) why = "none yet";
    else if (rc) why = "unreadable";
    else if (s->manifest_hash != man->hash || s->n_entries != man->n) why = "the manifest changed";
    else if ((memcmp(s->codec_hash, codes, 16) && memcmp(s->codec_hash, hash, 16)) ||
             strcmp(s->codec_name, sono_codec_name(codec)))
        why = "another codec";
    else if (s->K != K) why = "another codebook count";
    if (!why) {
        *out = s;
        return 0;
    }
    sn_lm_shards_close(s);
    sn_log(SONO_LOG_INFO, "train-lm: tokenizing %d clips into %s (%s)", man->n, path, why);
    if ((rc = shards_build(path, man, codec, K))) return rc;
    if (built) *built = 1;
    return sn_lm_shards_map(out, path);
}
