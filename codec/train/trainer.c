/* Codec training loop (see trainer.h): the data pool and crop sampler, the
 * data-parallel step over per-thread training graphs, EMA codebooks,
 * optimisers, checkpoints, export and held-out evaluation.
 *
 * Data parallelism: the batch is split into M = n_threads micro-batches, one
 * train_graph (and one discriminator) per micro-batch, each run by one
 * OpenMP thread on single-threaded kernels. Gradients are summed in micro-
 * batch order, so the result depends on M but not on scheduling. */
#include "trainer.h"
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "disc.h"
#include "mpd.h"
#include "kernels.h"
#include "mel_loss.h"
#include "spec_loss.h"
#include "optim.h"
#include "rvq_train.h"
#include "checkpoint.h"
#include "sono_internal.h"
#include "sonotok/audio.h"
#include "sonotok/metrics.h"
#include "sonotok/output.h"
#include "tensors.h"
#include "train_graph.h"

enum { CAT_SPEECH, CAT_MUSIC, CAT_EFFECTS, N_CAT };
static const char *const cat_names[N_CAT] = {"speech", "music", "effects"};

/* ---- data pool: every clip as 16-bit planar PCM, from a cache file ---- */

#define CACHE_MAGIC "SONOPCM1"

typedef struct {
    int64_t off;      /* int16 values into pcm; channel c at off + c * n */
    int64_t n;        /* samples per channel */
    int32_t cat;
    int32_t pad;
} clip_t;

typedef struct {
    const int16_t *pcm;
    clip_t *clips;
    int64_t n_clips;
    int rate, channels;
    int64_t *by_cat[N_CAT];      /* clip indices per category */
    double *cum[N_CAT];          /* cumulative lengths (weights) per category */
    int64_t n_cat[N_CAT];
    void *map;                   /* mmap of the cache, or NULL */
    size_t map_len;
    int16_t *owned;              /* in-memory pool when there is no cache */
} data_pool;

typedef struct {
    char *path;
    int cat;
} man_entry;

static int cat_of(const char *s) {
    for (int i = 0; i < N_CAT; i++)
        if (s && !strcmp(s, cat_names[i])) return i;
    return -1;
}

/* Read a manifest: entries with a known category. *hash = XXH64 of the text. */
static int manifest_read(const char *path, man_entry **out, int64_t *n_out, uint64_t *hash) {
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = sn_read_file(path, (size_t)1 << 30, &buf, &n);
    if (rc) return rc;
    *hash = XXH64(buf, n, 0);
    char dir[4096];
    const char *sl = strrchr(path, '/');
    if (sl) snprintf(dir, sizeof dir, "%.*s/", (int)(sl - path), path);
    else dir[0] = 0;
    man_entry *v = NULL;
    int64_t cnt = 0, cap = 0, line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        if (!line[0]) continue;
        json_object *o = json_tokener_parse(line), *jp = NULL, *jc = NULL;
        if (!o || !json_object_object_get_ex(o, "path", &jp) || !json_object_is_type(jp, json_type_string)) {
            if (o) json_object_put(o);
            free(buf);
            for (int64_t i = 0; i < cnt; i++) free(v[i].path);
            free(v);
            return sn_fail(SONO_E_FORMAT, "%s: line %lld is not a JSON object with a \"path\"", path, (long long)line_no);
        }
        int cat = json_object_object_get_ex(o, "category", &jc) ? cat_of(json_object_get_string(jc)) : -1;
        if (cat >= 0) {
            if (cnt == cap) {
                cap = cap ? 2 * cap : 1024;
                man_entry *nv = realloc(v, (size_t)cap * sizeof *v);
                if (!nv) { json_object_put(o); rc = SONO_E_NOMEM; break; }
                v = nv;
            }
            const char *p = json_object_get_string(jp);
            size_t L = strlen(dir) + strlen(p) + 1;
            v[cnt].path = malloc(L);
            if (!v[cnt].path) { json_object_put(o); rc = SONO_E_NOMEM; break; }
            snprintf(v[cnt].path, L, "%s%s", p[0] == '/' ? "" : dir, p);
            v[cnt].cat = cat;
            cnt++;
        }
        json_object_put(o);
    }
    free(buf);
    if (!rc && cnt == 0) rc = sn_fail(SONO_E_EMPTY, "%s: no entries with a speech/music/effects category", path);
    if (rc) {
        for (int64_t i = 0; i < cnt; i++) free(v[i].path);
        free(v);
        return rc == SONO_E_NOMEM ? sn_fail(rc, "out of memory reading %s", path) : rc;
    }
    *out = v;
    *n_out = cnt;
    return 0;
}

static void manifest_free(man_entry *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) free(v[i].path);
    free(v);
}

static int16_t to_s16(float x) {
    float y = x * 32767.0f;
    if (y > 32767.0f) y = 32767.0f;
    if (y < -32768.0f) y = -32768.0f;
    return (int16_t)lrintf(y);
}

/* Decode every manifest entry (in parallel) into one int16 pool. */
static int pool_decode(data_pool *dp, const man_entry *ents, int64_t n, int rate, int channels, int n_threads) {
    int16_t **bufs = calloc((size_t)n, sizeof *bufs);
    int64_t *lens = calloc((size_t)n, sizeof *lens);
    if (!bufs || !lens) { free(bufs); free(lens); return sn_fail(SONO_E_NOMEM, "out of memory"); }
    int64_t failed = 0;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 8) reduction(+ : failed)
    for (int64_t i = 0; i < n; i++) {
        int err = 0;
        sono_audio_reader *r = sono_audio_open(ents[i].path, rate, channels, &err);
        float *pcm = NULL;
        int64_t ns = 0;
        if (r && !sono_audio_read_all(r, &pcm, &ns) && ns > 0) {
            bufs[i] = malloc((size_t)ns * channels * sizeof(int16_t));
            if (bufs[i]) {
                for (int64_t k = 0; k < ns * channels; k++) bufs[i][k] = to_s16(pcm[k]);
                lens[i] = ns;
            }
        }
        if (!bufs[i]) failed++;
        free(pcm);
        sono_audio_close(r);
    }
    if (failed) sn_log(SONO_LOG_WARN, "training data: %lld of %lld files could not be read and are skipped",
                         (long long)failed, (long long)n);
    int64_t total = 0, kept = 0;
    for (int64_t i = 0; i < n; i++) if (bufs[i]) { total += lens[i]; kept++; }
    int rc = 0;
    dp->owned = malloc((size_t)(total ? total : 1) * channels * sizeof(int16_t));
    dp->clips = calloc((size_t)(kept ? kept : 1), sizeof *dp->clips);
    if (!dp->owned || !dp->clips) rc = sn_fail(SONO_E_NOMEM, "out of memory for %lld samples of training audio", (long long)total);
    int64_t off = 0, c = 0;
    for (int64_t i = 0; i < n; i++) {
        if (bufs[i] && !rc) {
            memcpy(dp->owned + off, bufs[i], (size_t)lens[i] * channels * sizeof(int16_t));
            dp->clips[c].off = off; dp->clips[c].n = lens[i]; dp->clips[c].cat = ents[i].cat;
            off += lens[i] * channels;
            c++;
        }
        free(bufs[i]);
    }
    free(bufs); free(lens);
    if (rc) return rc;
    if (!kept) return sn_fail(SONO_E_EMPTY, "no readable training audio");
    dp->pcm = dp->owned;
    dp->n_clips = kept;
    return 0;
}

typedef struct {
    char magic[8];
    uint32_t rate, channels;
    uint64_t manifest_hash;
    uint64_t n_clips;
    uint64_t n_values;   /* int16 values */
} cache_header;

static int pool_write_cache(const data_pool *dp, const char *path, uint64_t mhash) {
    int rc;
    sono_output *out = sono_output_open(path, 0, &rc);
    FILE *f = out ? sono_output_stream(out) : NULL;
    if (!f) { sono_output_abort(out); return out ? sn_fail(SONO_E_NOMEM, "%s: no memory", path) : rc; }
    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.rate = (uint32_t)dp->rate; h.channels = (uint32_t)dp->channels; h.manifest_hash = mhash;
    h.n_clips = (uint64_t)dp->n_clips;
    const clip_t *last = &dp->clips[dp->n_clips - 1];
    h.n_values = (uint64_t)(last->off + last->n * dp->channels);
    int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(dp->clips, sizeof *dp->clips, (size_t)dp->n_clips, f) == (size_t)dp->n_clips &&
             fwrite(dp->pcm, sizeof(int16_t), (size_t)h.n_values, f) == (size_t)h.n_values;
    if (!ok) { sono_output_abort(out); return sn_fail(SONO_E_IO, "%s: cannot write the PCM cache", path); }
    return sono_output_commit(out);
}

/* 1: loaded, 0: no usable cache (missing), negative: error. */
static int pool_map_cache(data_pool *dp, const char *path, uint64_t mhash, int rate, int channels) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errno == ENOENT ? 0 : sn_fail(SONO_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || st.st_size < (off_t)sizeof(cache_header)) {
        close(fd);
        return sn_fail(SONO_E_TRUNCATED, "%s: PCM cache is truncated", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return sn_fail(SONO_E_IO, "%s: cannot map (%s)", path, strerror(errno));
    const cache_header *h = m;
    int rc = 0;
    if (memcmp(h->magic, CACHE_MAGIC, 8)) rc = sn_fail(SONO_E_FORMAT, "%s: not a sonotok PCM cache", path);
    else if (h->manifest_hash != mhash)
        rc = sn_fail(SONO_E_MODEL_MISMATCH, "%s: PCM cache was built from another manifest (delete it to rebuild)", path);
    else if ((int)h->rate != rate || (int)h->channels != channels)
        rc = sn_fail(SONO_E_MODEL_MISMATCH, "%s: PCM cache holds %u Hz x %u channels, the model needs %d x %d", path,
                       h->rate, h->channels, rate, channels);
    else if (h->n_clips == 0 || h->n_clips > (uint64_t)st.st_size / sizeof(clip_t) ||
             sizeof *h + h->n_clips * sizeof(clip_t) + h->n_values * 2 != (uint64_t)st.st_size)
        rc = sn_fail(SONO_E_TRUNCATED, "%s: PCM cache size does not match its header", path);
    if (!rc) {
        dp->clips = malloc(h->n_clips * sizeof(clip_t));
        if (!dp->clips) rc = sn_fail(SONO_E_NOMEM, "out of memory");
        else memcpy(dp->clips, (const char *)m + sizeof *h, h->n_clips * sizeof(clip_t));
        for (uint64_t i = 0; !rc && i < h->n_clips; i++) {
            const clip_t *c = &dp->clips[i];
            if (c->n <= 0 || c->off < 0 || (uint64_t)(c->off + c->n * channels) > h->n_values || c->cat < 0 || c->cat >= N_CAT)
                rc = sn_fail(SONO_E_FORMAT, "%s: PCM cache clip %llu is out of range", path, (unsigned long long)i);
        }
    }
    if (rc) { munmap(m, (size_t)st.st_size); free(dp->clips); dp->clips = NULL; return rc; }
    dp->map = m;
    dp->map_len = (size_t)st.st_size;
    dp->pcm = (const int16_t *)((const char *)m + sizeof *h + h->n_clips * sizeof(clip_t));
    dp->n_clips = (int64_t)h->n_clips;
    return 1;
}

static void pool_free(data_pool *dp) {
    if (dp->map) munmap(dp->map, dp->map_len);
    free(dp->owned);
    free(dp->clips);
    for (int c = 0; c < N_CAT; c++) { free(dp->by_cat[c]); free(dp->cum[c]); }
    memset(dp, 0, sizeof *dp);
}

static int pool_index(data_pool *dp) {
    for (int c = 0; c < N_CAT; c++) {
        dp->by_cat[c] = malloc((size_t)dp->n_clips * sizeof(int64_t));
        dp->cum[c] = malloc((size_t)dp->n_clips * sizeof(double));
        if (!dp->by_cat[c] || !dp->cum[c]) return sn_fail(SONO_E_NOMEM, "out of memory");
        double acc = 0;
        for (int64_t i = 0; i < dp->n_clips; i++)
            if (dp->clips[i].cat == c) {
                acc += (double)dp->clips[i].n;
                dp->by_cat[c][dp->n_cat[c]] = i;
                dp->cum[c][dp->n_cat[c]++] = acc;
            }
    }
    return 0;
}

static int pool_open(data_pool *dp, const char *manifest, const char *cache, int rate, int channels, int n_threads) {
    memset(dp, 0, sizeof *dp);
    dp->rate = rate;
    dp->channels = channels;
    man_entry *ents = NULL;
    int64_t n = 0;
    uint64_t mhash = 0;
    int rc = manifest_read(manifest, &ents, &n, &mhash);
    if (rc) return rc;
    int got = cache ? pool_map_cache(dp, cache, mhash, rate, channels) : 0;
    if (got < 0) rc = got;
    if (!rc && !got) {
        sn_log(SONO_LOG_INFO, "decoding %lld training files from %s", (long long)n, manifest);
        rc = pool_decode(dp, ents, n, rate, channels, n_threads);
        if (!rc && cache) rc = pool_write_cache(dp, cache, mhash);
        if (!rc && cache) {
            /* train from the cache just written, as every later run will: the same samples, mapped
             * instead of held (the decoded corpus is gigabytes of private memory) */
            pool_free(dp);
            dp->rate = rate;
            dp->channels = channels;
            got = pool_map_cache(dp, cache, mhash, rate, channels);
            if (got <= 0) rc = got < 0 ? got : sn_fail(SONO_E_IO, "%s: the PCM cache just written is gone", cache);
        }
    }
    manifest_free(ents, n);
    if (!rc) rc = pool_index(dp);
    if (rc) pool_free(dp);
    return rc;
}

/* Index i of weights w[0..n) such that u falls in its share: u in
 * [sum w[<i], sum w[<=i]); zero weights are never picked (u past the end,
 * by rounding, picks the last positive one). */
static int pick_weighted(const double *w, int n, double u) {
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (!(w[i] > 0)) continue;
        last = i;
        if (u < w[i]) return i;
        u -= w[i];
    }
    return last;
}

/* w = the mix weights, 0 for the categories the pool has no clips of; returns their sum. */
static double pool_weights(const data_pool *dp, const double mix[N_CAT], double w[N_CAT]) {
    double wsum = 0;
    for (int c = 0; c < N_CAT; c++) {
        w[c] = dp->n_cat[c] ? mix[c] : 0;
        wsum += w[c];
    }
    return wsum;
}

/* One crop: category by the mix weights (among those with data), clip by
 * length, random offset; short clips sit at a random place in silence.
 * Nearly silent crops are redrawn (up to 8 times). Then a random gain. */
static void pool_crop(const data_pool *dp, const double mix[N_CAT], int T, float gain_db_min, float gain_db_max,
                      uint64_t *rng, float *out /* [C][T] */) {
    const int C = dp->channels;
    double w[N_CAT];
    const double wsum = pool_weights(dp, mix, w);
    for (int attempt = 0; attempt < 8; attempt++) {
        int cat = pick_weighted(w, N_CAT, sn_unif01(rng) * wsum);
        const double *cum = dp->cum[cat];
        int64_t nc = dp->n_cat[cat];
        double v = sn_unif01(rng) * cum[nc - 1];
        int64_t lo = 0, hi = nc - 1;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (cum[mid] > v) hi = mid; else lo = mid + 1;
        }
        const clip_t *cl = &dp->clips[dp->by_cat[cat][lo]];
        memset(out, 0, (size_t)C * T * sizeof(float));
        int64_t src0 = 0, dst0 = 0, len = T;
        if (cl->n >= T) src0 = (int64_t)(sn_unif01(rng) * (double)(cl->n - T + 1));
        else { dst0 = (int64_t)(sn_unif01(rng) * (double)(T - cl->n + 1)); len = cl->n; }
        if (src0 > cl->n - len) src0 = cl->n - len;
        if (dst0 > T - len) dst0 = T - len;
        double ss = 0;
        for (int ch = 0; ch < C; ch++) {
            const int16_t *s = dp->pcm + cl->off + (int64_t)ch * cl->n + src0;
            float *o = out + (size_t)ch * T + dst0;
            for (int64_t i = 0; i < len; i++) { o[i] = (float)s[i] * (1.0f / 32768.0f); ss += (double)o[i] * o[i]; }
        }
        if (sqrt(ss / ((double)C * T)) > 3e-4 || attempt == 7) break;
    }
    float g = powf(10.0f, (gain_db_min + (float)sn_unif01(rng) * (gain_db_max - gain_db_min)) / 20.0f);
    float peak = 0;
    for (size_t i = 0; i < (size_t)C * T; i++) peak = fmaxf(peak, fabsf(out[i]));
    if (peak * g > 0.99f) g = 0.99f / peak;
    for (size_t i = 0; i < (size_t)C * T; i++) out[i] *= g;
}

/* ---- the trainer ---- */

typedef struct {
    train_graph *g;
    disc *d;
    mpd *mp;               /* multi-period discriminator, NULL when the run has none */
    float *mel_scratch;
    float *spec_scratch;   /* NULL when the run has no log-spectrum loss */
    float *dy;             /* [Bm][C][T] gradient of mel + adversarial losses w.r.t. the output */
    int n_active;
    double l1, mel, commit, adv, feat, dloss, madv, mfeat, mloss, spec;
} worker;

struct trainer {
    codec_config cfg;
    trainer_params p;
    int M, Bm, T, C, n_q, K, D, F;
    data_pool data;
    int have_data;
    worker *w;
    const float **srcs;    /* [M] per-worker gradient arrays being reduced */
    mel_loss *mel;
    spec_loss *spec;       /* NULL when w_spec is 0 */
    size_t n_pf, n_dpf;
    size_t n_enc;          /* params [0, n_enc) are the encoder's, the decoder's follow */
    float *params;         /* master parameters [n_pf] */
    float *grads;          /* reduced gradients [n_pf] */
    sono_adamw opt, dopt, mopt;
    float *dparams, *dgrads;
    size_t n_mpf;
    float *mparams, *mgrads; /* multi-period discriminator [n_mpf], NULL without one */
    float *cb_embed, *cb_avg, *cb_size;  /* [n_q][K][D], [n_q][K][D], [n_q][K] */
    float *audio;          /* [B][C][T] */
    float *gather;         /* [B * F][D] residuals of one codebook */
    int32_t *gidx;         /* [B * F] */
    uint64_t rng;
    int64_t step;
    double cpu_seconds;    /* CPU time spent in sn_trainer_step, across resumes */
    trainer_stats st;
    int n_bw_q[CODEC_MAX_BW];
    int n_bw;
};

trainer_params sn_trainer_default_params(void) {
    trainer_params p;
    memset(&p, 0, sizeof p);
    p.mix[CAT_SPEECH] = 0.5; p.mix[CAT_MUSIC] = 0.35; p.mix[CAT_EFFECTS] = 0.15;
    p.batch = 8;
    p.crop_seconds = 1.0;
    p.n_threads = 2;
    p.steps = 100000;
    p.lr = 3e-4f; p.lr_min = 3e-5f;
    p.warmup = 500;
    p.beta1 = 0.5f; p.beta2 = 0.9f; p.weight_decay = 0.0f; p.clip = 0.0f;
    p.w_l1 = 0.1f; p.w_mel = 1.0f; p.w_commit = 0.25f; p.w_adv = 1.0f; p.w_feat = 2.0f;
    p.adv_start = 20000;
    p.disc_filters = 8;
    p.disc_lr = 3e-4f;
    p.quantizer_dropout = 1;
    p.gain_db_min = -10.0f; p.gain_db_max = 4.0f;
    p.ema_decay = 0.99f;
    p.dead_threshold = 0.05f;
    p.mel_log2_min = 5; p.mel_log2_max = 11; p.n_mels = 64;
    p.seed = 1;
    p.commit_all_layers = 1;
    p.frozen_at = -1;
    p.spec_log2_min = 11; p.spec_log2_max = 11; p.spec_top_hz = 4000.0f;
    return p;
}

/* Numeric fields of trainer_params, for the checkpoint's metadata. */
typedef struct { const char *name; size_t off; char type; } tp_field;
#define TPF(f, t) {#f, offsetof(trainer_params, f), t}
static const tp_field tp_fields[] = {
    TPF(mix[0], 'd'), TPF(mix[1], 'd'), TPF(mix[2], 'd'), TPF(batch, 'i'), TPF(crop_seconds, 'd'),
    TPF(n_threads, 'i'), TPF(steps, 'l'), TPF(lr, 'f'), TPF(lr_min, 'f'), TPF(warmup, 'l'), TPF(beta1, 'f'),
    TPF(beta2, 'f'), TPF(weight_decay, 'f'), TPF(clip, 'f'), TPF(w_l1, 'f'), TPF(w_mel, 'f'), TPF(w_commit, 'f'),
    TPF(w_adv, 'f'), TPF(w_feat, 'f'), TPF(adv_start, 'l'), TPF(disc_filters, 'i'), TPF(disc_lr, 'f'),
    TPF(quantizer_dropout, 'i'), TPF(gain_db_min, 'f'), TPF(gain_db_max, 'f'), TPF(ema_decay, 'f'),
    TPF(dead_threshold, 'f'), TPF(mel_log2_min, 'i'), TPF(mel_log2_max, 'i'), TPF(n_mels, 'i'), TPF(seed, 'u'),
    TPF(commit_all_layers, 'i'),
};

/* The log-spectrum loss's settings: written only when it is on, so that runs
 * without it keep their checkpoints' bytes. */
static const tp_field tp_spec_fields[] = {
    TPF(w_spec, 'f'), TPF(spec_log2_min, 'i'), TPF(spec_log2_max, 'i'), TPF(spec_top_hz, 'f'),
};

static void tp_field_format(char *v, size_t n, const trainer_params *p, const tp_field *f) {
    const char *b = (const char *)p + f->off;
    switch (f->type) {
    case 'd': snprintf(v, n, "%a", *(const double *)(const void *)b); break;
    case 'f': snprintf(v, n, "%a", (double)*(const float *)(const void *)b); break;
    case 'i': snprintf(v, n, "%d", *(const int *)(const void *)b); break;
    case 'l': snprintf(v, n, "%lld", (long long)*(const int64_t *)(const void *)b); break;
    default: snprintf(v, n, "%llu", (unsigned long long)*(const uint64_t *)(const void *)b); break;
    }
}

/* The fields of table found in o; the others keep their values. */
static void tp_fields_parse(trainer_params *p, json_object *o, const tp_field *table, size_t n) {
    for (size_t i = 0; i < n; i++) {
        json_object *j;
        if (!json_object_object_get_ex(o, table[i].name, &j)) continue;
        const char *s = json_object_get_string(j);
        char *b = (char *)p + table[i].off;
        switch (table[i].type) {
        case 'd': *(double *)(void *)b = strtod(s, NULL); break;
        case 'f': *(float *)(void *)b = (float)strtod(s, NULL); break;
        case 'i': *(int *)(void *)b = (int)strtol(s, NULL, 10); break;
        case 'l': *(int64_t *)(void *)b = strtoll(s, NULL, 10); break;
        default: *(uint64_t *)(void *)b = strtoull(s, NULL, 10); break;
        }
    }
}

static json_object *tp_to_json(const trainer_params *p) {
    json_object *o = json_object_new_object();
    for (size_t i = 0; i < sizeof tp_fields / sizeof tp_fields[0]; i++) {
        char v[64];
        tp_field_format(v, sizeof v, p, &tp_fields[i]);
        json_object_object_add(o, tp_fields[i].name, json_object_new_string(v));
    }
    if (p->n_bw_mix > 0) {
        json_object *a = json_object_new_array();
        for (int i = 0; i < p->n_bw_mix; i++) {
            char v[64];
            snprintf(v, sizeof v, "%a", p->bw_mix[i]);
            json_object_array_add(a, json_object_new_string(v));
        }
        json_object_object_add(o, "bw_mix", a);
    }
    /* written only when set, so that runs without it keep their checkpoints' bytes */
    if (p->mpd_filters > 0) {
        char v[32];
        snprintf(v, sizeof v, "%d", p->mpd_filters);
        json_object_object_add(o, "mpd_filters", json_object_new_string(v));
    }
    if (p->frozen_at >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)p->frozen_at);
        json_object_object_add(o, "frozen_at", json_object_new_string(v));
    }
    if (p->w_spec > 0) {
        for (size_t i = 0; i < sizeof tp_spec_fields / sizeof tp_spec_fields[0]; i++) {
            char v[64];
            tp_field_format(v, sizeof v, p, &tp_spec_fields[i]);
            json_object_object_add(o, tp_spec_fields[i].name, json_object_new_string(v));
        }
    }
    return o;
}

static void tp_from_json(trainer_params *p, json_object *o) {
    tp_fields_parse(p, o, tp_fields, sizeof tp_fields / sizeof tp_fields[0]);
    tp_fields_parse(p, o, tp_spec_fields, sizeof tp_spec_fields / sizeof tp_spec_fields[0]);
    json_object *a;
    p->n_bw_mix = 0;
    if (json_object_object_get_ex(o, "bw_mix", &a) && json_object_is_type(a, json_type_array)) {
        size_t n = json_object_array_length(a);
        if (n > CODEC_MAX_BW) n = CODEC_MAX_BW;
        for (size_t i = 0; i < n; i++) p->bw_mix[i] = strtod(json_object_get_string(json_object_array_get_idx(a, i)), NULL);
        p->n_bw_mix = (int)n;
    }
    p->mpd_filters = json_object_object_get_ex(o, "mpd_filters", &a) ? (int)strtol(json_object_get_string(a), NULL, 10) : 0;
    p->frozen_at = json_object_object_get_ex(o, "frozen_at", &a) ? strtoll(json_object_get_string(a), NULL, 10) : -1;
    if (p->frozen_at < 0) p->frozen_at = -1;
    p->freeze_encoder = p->frozen_at >= 0;
}

const codec_config *sn_trainer_config(const trainer *t) { return &t->cfg; }
const trainer_params *sn_trainer_get_params(const trainer *t) { return &t->p; }
int64_t sn_trainer_steps_done(const trainer *t) { return t->step; }
const trainer_stats *sn_trainer_last_stats(const trainer *t) { return &t->st; }
double sn_trainer_audio_per_step(const trainer *t) { return (double)t->M * t->Bm * t->T / t->cfg.sample_rate; }
const float *sn_trainer_params_data(const trainer *t, size_t *n) { if (n) *n = t->n_pf; return t->params; }
const float *sn_trainer_grads_data(const trainer *t, size_t *n) { if (n) *n = t->n_pf; return t->grads; }
const train_param *sn_trainer_param_table(const trainer *t, int *n) { return sn_train_graph_param_table(t->w[0].g, n); }
const float *sn_trainer_codebooks_data(const trainer *t, size_t *n) {
    if (n) *n = (size_t)t->n_q * t->K * t->D;
    return t->cb_embed;
}

const float *sn_trainer_disc_params_data(const trainer *t, size_t *n) {
    if (n) *n = t->dparams ? t->n_dpf : 0;
    return t->dparams;
}

const float *sn_trainer_mpd_params_data(const trainer *t, size_t *n) {
    if (n) *n = t->mparams ? t->n_mpf : 0;
    return t->mparams;
}

void sn_trainer_free(trainer *t) {
    if (!t) return;
    if (t->w)
        for (int m = 0; m < t->M; m++) {
            sn_train_graph_free(t->w[m].g);
            sn_disc_free(t->w[m].d);
            sn_mpd_free(t->w[m].mp);
            free(t->w[m].mel_scratch);
            free(t->w[m].spec_scratch);
            free(t->w[m].dy);
        }
    free(t->w);
    free(t->srcs);
    sn_mel_loss_free(t->mel);
    sn_spec_loss_free(t->spec);
    if (t->have_data) pool_free(&t->data);
    free(t->params); free(t->grads);
    free(t->dparams); free(t->dgrads);
    free(t->mparams); free(t->mgrads);
    sn_adamw_free(&t->opt);
    sn_adamw_free(&t->dopt);
    sn_adamw_free(&t->mopt);
    free(t->cb_embed); free(t->cb_avg); free(t->cb_size);
    free(t->audio); free(t->gather); free(t->gidx);
    free(t);
}

/* Structures for (cfg, p): workers, buffers, optimisers; no data, no init. */
static int trainer_build(trainer *t) {
    const codec_config *cfg = &t->cfg;
    const trainer_params *p = &t->p;
    int hop = sn_codec_config_hop(cfg);
    if (p->batch < 1 || p->n_threads < 1 || p->batch % SONO_MIN(p->batch, p->n_threads))
        return sn_fail(SONO_E_ARG, "batch %d does not split into %d threads evenly", p->batch, p->n_threads);
    if (!(p->crop_seconds > 0 && p->crop_seconds <= 60))
        return sn_fail(SONO_E_ARG, "crop length %g s is out of range (0, 60]", p->crop_seconds);
    t->M = SONO_MIN(p->batch, p->n_threads);
    t->Bm = p->batch / t->M;
    int64_t T = (int64_t)ceil(p->crop_seconds * cfg->sample_rate);
    T = (T + hop - 1) / hop * hop;
    t->T = (int)T;
    t->C = cfg->channels;
    t->n_q = cfg->n_q;
    t->K = cfg->codebook_size;
    t->D = cfg->dimension;
    if (t->n_q > TRAIN_MAX_Q) return sn_fail(SONO_E_LIMIT, "%d codebooks (training supports %d)", t->n_q, TRAIN_MAX_Q);
    t->n_bw = 0;
    int fr = sn_codec_config_frame_rate(cfg), bits = 0;
    while ((1 << bits) < t->K) bits++;
    for (int i = 0; i < cfg->n_bandwidths; i++) {
        int nq = (int)floor(cfg->bandwidths[i] * 1000.0 / (fr * bits) + 1e-9);
        if (nq < 1) nq = 1;
        if (nq > t->n_q) nq = t->n_q;
        t->n_bw_q[t->n_bw++] = nq;
    }
    if (!t->n_bw) t->n_bw_q[t->n_bw++] = t->n_q;
    if (p->n_bw_mix > 0) {
        double sum = 0;
        for (int i = 0; i < p->n_bw_mix; i++) {
            if (!(p->bw_mix[i] >= 0)) return sn_fail(SONO_E_ARG, "bandwidth weights must not be negative");
            sum += p->bw_mix[i];
        }
        if (p->n_bw_mix != t->n_bw)
            return sn_fail(SONO_E_ARG, "%d bandwidth weights for the model's %d bandwidths", p->n_bw_mix, t->n_bw);
        if (!(sum > 0)) return sn_fail(SONO_E_ARG, "bandwidth weights are all 0");
    }
    int err = 0;
    t->w = calloc((size_t)t->M, sizeof *t->w);
    t->srcs = calloc((size_t)t->M, sizeof *t->srcs);
    if (!t->w || !t->srcs) return sn_fail(SONO_E_NOMEM, "out of memory");
    t->mel = sn_mel_loss_new(cfg->sample_rate, t->T, p->mel_log2_min, p->mel_log2_max, p->n_mels, &err);
    if (!t->mel) return err;
    if (!(p->w_spec >= 0)) return sn_fail(SONO_E_ARG, "log-spectrum loss weight %g is negative", (double)p->w_spec);
    if (p->w_spec > 0 && p->spec_log2_min >= 2 && p->spec_log2_min <= 16 && (1 << p->spec_log2_min) > t->T)
        return sn_fail(SONO_E_ARG, "log-spectrum loss: n_fft %d is longer than the crop (%d samples)",
                       1 << p->spec_log2_min, t->T);
    if (p->w_spec > 0 && !(t->spec = sn_spec_loss_new(cfg->sample_rate, t->T, p->spec_log2_min, p->spec_log2_max,
                                                      p->spec_top_hz, &err)))
        return err;
    for (int m = 0; m < t->M; m++) {
        worker *w = &t->w[m];
        w->g = sn_train_graph_new(cfg, t->Bm, t->T, t->n_q, &err);
        if (!w->g) return err;
        sn_train_graph_set_commit_all_layers(w->g, p->commit_all_layers);
        sn_train_graph_set_freeze_encoder(w->g, p->frozen_at >= 0);
        if (p->adv_start >= 0) {
            /* EnCodec's scales are for 24 kHz: scale them with the rate, and fit them into the crop */
            disc_config dc = sn_disc_default_config(t->C, p->disc_filters);
            for (int s = 0; s < dc.n_scales; s++) {
                double want = dc.n_fft[s] * (double)cfg->sample_rate / 24000.0;
                int nf = 16;
                while (nf * 2 <= want * 1.414 && nf * 2 <= t->T) nf *= 2;
                dc.n_fft[s] = nf;
                dc.hop[s] = nf / 4;
            }
            if (!(w->d = sn_disc_new_config(&dc, t->Bm, t->T, &err))) return err;
            /* the discriminator step reuses the generator loss's forward passes */
            if ((err = sn_disc_keep_forward(w->d, 1))) return err;
            if (p->mpd_filters > 0 && !(w->mp = sn_mpd_new(t->C, p->mpd_filters, t->Bm, t->T, &err))) return err;
        }
        w->mel_scratch = malloc(sn_mel_loss_scratch_floats(t->mel) * sizeof(float) + 64);
        w->dy = malloc((size_t)t->Bm * t->C * t->T * sizeof(float));
        if (!w->mel_scratch || !w->dy) return sn_fail(SONO_E_NOMEM, "out of memory");
        if (t->spec && !(w->spec_scratch = malloc(sn_spec_loss_scratch_floats(t->spec) * sizeof(float))))
            return sn_fail(SONO_E_NOMEM, "out of memory");
    }
    t->F = sn_train_graph_frames(t->w[0].g);
    t->n_pf = sn_train_graph_n_floats(t->w[0].g);
    t->n_enc = sn_train_graph_encoder_floats(t->w[0].g);
    size_t KD = (size_t)t->K * t->D, nB = (size_t)p->batch;
    t->params = calloc(t->n_pf, sizeof(float));
    t->grads = calloc(t->n_pf, sizeof(float));
    t->cb_embed = calloc((size_t)t->n_q * KD, sizeof(float));
    t->cb_avg = calloc((size_t)t->n_q * KD, sizeof(float));
    t->cb_size = calloc((size_t)t->n_q * t->K, sizeof(float));
    t->audio = calloc(nB * t->C * t->T, sizeof(float));
    t->gather = malloc(nB * t->F * t->D * sizeof(float));
    t->gidx = malloc(nB * t->F * sizeof(int32_t));
    if (!t->params || !t->grads || !t->cb_embed || !t->cb_avg || !t->cb_size || !t->audio || !t->gather || !t->gidx)
        return sn_fail(SONO_E_NOMEM, "out of memory");
    if (sn_adamw_init(&t->opt, t->n_pf, p->beta1, p->beta2, 1e-8f, p->weight_decay)) return sn_fail(SONO_E_NOMEM, "out of memory");
    if (t->w[0].d) {
        t->n_dpf = sn_disc_n_floats(t->w[0].d);
        t->dparams = calloc(t->n_dpf, sizeof(float));
        t->dgrads = calloc(t->n_dpf, sizeof(float));
        if (!t->dparams || !t->dgrads || sn_adamw_init(&t->dopt, t->n_dpf, p->beta1, p->beta2, 1e-8f, 0.0f))
            return sn_fail(SONO_E_NOMEM, "out of memory");
    }
    if (t->w[0].mp) {
        t->n_mpf = sn_mpd_n_floats(t->w[0].mp);
        t->mparams = calloc(t->n_mpf, sizeof(float));
        t->mgrads = calloc(t->n_mpf, sizeof(float));
        if (!t->mparams || !t->mgrads || sn_adamw_init(&t->mopt, t->n_mpf, p->beta1, p->beta2, 1e-8f, 0.0f))
            return sn_fail(SONO_E_NOMEM, "out of memory");
    }
    return 0;
}

static void sample_batch(trainer *t) {
    size_t crop = (size_t)t->C * t->T;
    for (int b = 0; b < t->p.batch; b++)
        pool_crop(&t->data, t->p.mix, t->T, t->p.gain_db_min, t->p.gain_db_max, &t->rng, t->audio + b * crop);
}

/* Quantizer dropout: a bandwidth index, one RNG draw (equal odds unless
 * bw_mix is set: then by its weights). */
static int pick_bandwidth(trainer *t) {
    if (t->p.n_bw_mix <= 0) return (int)(sn_splitmix64(&t->rng) % (uint64_t)t->n_bw);
    double sum = 0;
    for (int i = 0; i < t->n_bw; i++) sum += t->p.bw_mix[i];
    return pick_weighted(t->p.bw_mix, t->n_bw, sn_unif01(&t->rng) * sum);
}

/* EMA view of codebook q in the trainer's arrays. */
static rvq_ema codebook_of(trainer *t, int q) {
    const size_t KD = (size_t)t->K * t->D;
    rvq_ema cb = {.K = t->K, .D = t->D, .decay = t->p.ema_decay, .eps = 1e-5f, .dead_threshold = t->p.dead_threshold,
                  .embed = t->cb_embed + q * KD, .embed_avg = t->cb_avg + q * KD, .cluster_size = t->cb_size + (size_t)q * t->K};
    return cb;
}

/* Fresh discriminator weights (from the seed) into the trainer's copy. */
static void init_disc(trainer *t) {
    sn_disc_init_params(t->w[0].d, t->p.seed ^ 0xD15Cull);
    memcpy(t->dparams, sn_disc_params(t->w[0].d), t->n_dpf * sizeof(float));
}

/* Fresh multi-period discriminator weights and optimiser state. */
static void init_mpd(trainer *t) {
    sn_mpd_init_params(t->w[0].mp, t->p.seed ^ 0x3D9Dull);
    memcpy(t->mparams, sn_mpd_params(t->w[0].mp), t->n_mpf * sizeof(float));
    memset(t->mopt.m, 0, t->n_mpf * sizeof(float));
    memset(t->mopt.v, 0, t->n_mpf * sizeof(float));
    t->mopt.step = 0;
}

static void push_params(trainer *t, int m) {
    worker *w = &t->w[m];
    memcpy(sn_train_graph_params(w->g), t->params, t->n_pf * sizeof(float));
    memcpy(sn_train_graph_codebooks(w->g), t->cb_embed, (size_t)t->n_q * t->K * t->D * sizeof(float));
    sn_train_graph_codebooks_changed(w->g);
    if (w->d) memcpy(sn_disc_params(w->d), t->dparams, t->n_dpf * sizeof(float));
    if (w->mp) memcpy(sn_mpd_params(w->mp), t->mparams, t->n_mpf * sizeof(float));
}

/* Residuals [n][D] and indices of codebook q from every worker whose
 * micro-batch used it (or all workers when all = 1). Returns n. */
static int64_t gather_q(trainer *t, int q, int all) {
    int64_t n = 0;
    const int D = t->D, F = t->F;
    for (int m = 0; m < t->M; m++) {
        if (!all && t->w[m].n_active <= q) continue;
        const float *r = sn_train_graph_residual(t->w[m].g, q);
        const int32_t *ix = sn_train_graph_indices(t->w[m].g, q);
        for (int b = 0; b < t->Bm; b++)
            for (int f = 0; f < F; f++, n++) {
                for (int d = 0; d < D; d++) t->gather[n * D + d] = r[((size_t)b * D + d) * F + f];
                t->gidx[n] = ix[(size_t)b * F + f];
            }
    }
    return n;
}

/* Fresh init: PyTorch-style random weights, then data-dependent scaling of
 * every conv (on a graph without quantizer), then each codebook from the
 * residuals it will see, spread over several batches. */
static int trainer_init_fresh(trainer *t) {
    int err = 0, rc = 0;
    sample_batch(t);
    train_graph *gi = sn_train_graph_new(&t->cfg, t->p.batch, t->T, 0, &err);
    if (!gi) return err;
    sn_train_graph_init_params(gi, t->p.seed);
    double ss = 0;
    size_t na = (size_t)t->p.batch * t->C * t->T;
    for (size_t i = 0; i < na; i++) ss += (double)t->audio[i] * t->audio[i];
    float target = (float)sqrt(ss / (double)na);
    if (!(target > 1e-4f)) target = 0.1f;
    rc = sn_train_graph_data_init(gi, t->audio, target);
    if (!rc) memcpy(t->params, sn_train_graph_params(gi), t->n_pf * sizeof(float));
    sn_train_graph_free(gi);
    if (rc) return rc;
    const int K = t->K, D = t->D;
    /* k-means on about 10 vectors per code (at least 2 batches, at most 16) */
    int64_t per_batch = (int64_t)t->p.batch * t->F, n_batches = (10 * (int64_t)K + per_batch - 1) / per_batch;
    if (n_batches < 2) n_batches = 2;
    if (n_batches > 16) n_batches = 16;
    if (n_batches * per_batch < K) n_batches = (K + per_batch - 1) / per_batch;
    float *pool = malloc((size_t)(n_batches * per_batch) * D * sizeof(float));
    if (!pool) return sn_fail(SONO_E_NOMEM, "out of memory");
    float *batches = malloc((size_t)n_batches * t->p.batch * t->C * t->T * sizeof(float));
    if (!batches) { free(pool); return sn_fail(SONO_E_NOMEM, "out of memory"); }
    size_t bsz = (size_t)t->p.batch * t->C * t->T;
    for (int64_t i = 0; i < n_batches; i++) {
        sample_batch(t);
        memcpy(batches + i * bsz, t->audio, bsz * sizeof(float));
    }
    for (int q = 0; q < t->n_q; q++) {
        int64_t n = 0;
        /* codebooks 0..q-1 are set: the residual codebook q sees is now defined */
        for (int m = 0; m < t->M; m++) {
            push_params(t, m);
            sn_train_graph_set_active_q(t->w[m].g, q + 1);
            t->w[m].n_active = q + 1;
        }
        for (int64_t i = 0; i < n_batches; i++) {
#pragma omp parallel for num_threads(t->M) schedule(static, 1)
            for (int m = 0; m < t->M; m++) {
                train_losses L;
                sn_train_graph_forward(t->w[m].g, batches + i * bsz + (size_t)m * t->Bm * t->C * t->T, 1.0f, 1.0f, &L);
            }
            int64_t got = gather_q(t, q, 1);
            memcpy(pool + n * D, t->gather, (size_t)got * D * sizeof(float));
            n += got;
        }
        rvq_ema cb = codebook_of(t, q);
        int e = sn_rvq_kmeans_init(&cb, pool, n, 10, (double)per_batch, &t->rng);
        if (e) { free(pool); free(batches); return e; }
    }
    free(pool);
    free(batches);
    if (t->w[0].d) init_disc(t);
    if (t->w[0].mp) init_mpd(t);
    return 0;
}

static int trainer_open_data(trainer *t) {
    if (!t->p.manifest) return sn_fail(SONO_E_ARG, "no training manifest");
    int rc = pool_open(&t->data, t->p.manifest, t->p.cache, t->cfg.sample_rate, t->cfg.channels, t->p.n_threads);
    if (rc) return rc;
    /* the mix must give some weight to a category the corpus has (else the
     * pool is closed again, so a later step checks anew) */
    double w[N_CAT];
    if (!(pool_weights(&t->data, t->p.mix, w) > 0)) {
        rc = sn_fail(SONO_E_ARG, "mix %g,%g,%g gives no weight to the corpus's clips (speech %lld, music %lld, effects %lld)",
                       t->p.mix[0], t->p.mix[1], t->p.mix[2], (long long)t->data.n_cat[0],
                       (long long)t->data.n_cat[1], (long long)t->data.n_cat[2]);
        pool_free(&t->data);
        return rc;
    }
    t->have_data = 1;
    return 0;
}

trainer *sn_trainer_new(const codec_config *cfg, const trainer_params *p, int *err) {
    int rc = sn_codec_config_check(cfg);
    trainer *t = NULL;
    if (!rc && p->freeze_encoder)
        rc = sn_fail(SONO_E_ARG, "freezing the encoder applies to a resumed run: a new one has no trained encoder to keep");
    if (!rc && !(t = calloc(1, sizeof *t))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    if (!rc) {
        t->cfg = *cfg;
        t->p = *p;
        t->p.frozen_at = -1;
        t->rng = p->seed;
        rc = trainer_build(t);
    }
    if (!rc) rc = trainer_open_data(t);
    if (!rc) rc = trainer_init_fresh(t);
    if (rc) { sn_trainer_free(t); t = NULL; }
    if (err) *err = rc;
    return t;
}

static float lr_at(const trainer *t, int64_t step) {
    return sn_lr_warmup_cosine(step, t->p.warmup, t->p.steps, t->p.lr, t->p.lr_min);
}

int sn_trainer_step(trainer *t) {
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    const trainer_params *p = &t->p;
    const int M = t->M, Bm = t->Bm, C = t->C, T = t->T;
    const size_t crop = (size_t)C * T, mb = (size_t)Bm * crop;
    int adv_on = p->adv_start >= 0 && t->step >= p->adv_start && t->w[0].d;
    if (!t->have_data) {
        int e = trainer_open_data(t);
        if (e) return e;
    }
    sample_batch(t);
    /* workers run single-threaded kernels; OpenBLAS (the discriminator's weight
     * gradients) must not start threads of its own inside them */
    int blas_threads = sn_kern_set_threads(1);
    for (int m = 0; m < M; m++)
        t->w[m].n_active = p->quantizer_dropout ? t->n_bw_q[pick_bandwidth(t)] : t->n_q;
#pragma omp parallel for num_threads(M) schedule(static, 1)
    for (int m = 0; m < M; m++) {
        worker *w = &t->w[m];
        const float *x = t->audio + (size_t)m * mb;
        push_params(t, m);
        sn_train_graph_set_active_q(w->g, w->n_active);
        sn_train_graph_zero_grad(w->g);
        train_losses L;
        /* frozen: the commitment reaches nothing that trains (it is still measured, for the log) */
        sn_train_graph_forward(w->g, x, p->w_l1, p->frozen_at >= 0 ? 0.0f : p->w_commit, &L);
        w->l1 = L.l1;
        w->commit = L.commit;
        const float *y = sn_train_graph_output(w->g);
        int out_len = sn_train_graph_output_len(w->g);
        memset(w->dy, 0, mb * sizeof(float));
        double mel = 0;
        for (int b = 0; b < Bm; b++)
            for (int ch = 0; ch < C; ch++)
                mel += sn_mel_loss_compute(t->mel, x + b * crop + (size_t)ch * T, y + ((size_t)b * C + ch) * out_len,
                                        p->w_mel / (float)(Bm * C), w->dy + b * crop + (size_t)ch * T, w->mel_scratch);
        w->mel = mel / (Bm * C);
        double spec = 0;
        for (int b = 0; t->spec && b < Bm; b++)
            for (int ch = 0; ch < C; ch++)
                spec += sn_spec_loss_compute(t->spec, x + b * crop + (size_t)ch * T, y + ((size_t)b * C + ch) * out_len,
                                             p->w_spec / (float)(Bm * C), w->dy + b * crop + (size_t)ch * T,
                                             w->spec_scratch);
        w->spec = spec / (Bm * C);
        w->adv = w->feat = w->madv = w->mfeat = 0;
        if (adv_on) sn_disc_loss_g(w->d, x, y, p->w_adv, p->w_feat, w->dy, &w->adv, &w->feat);
        if (adv_on && w->mp) sn_mpd_loss_g(w->mp, x, y, p->w_adv, p->w_feat, w->dy, &w->madv, &w->mfeat);
        sn_train_graph_backward(w->g, w->dy);
    }
    /* reduce in micro-batch order, then one optimiser step */
    for (int m = 0; m < M; m++) t->srcs[m] = sn_train_graph_grads(t->w[m].g);
    sn_reduce_mean(t->grads, t->srcs, M, t->n_pf);
    float gn = p->clip > 0 ? sn_grad_clip_norm(t->grads, t->n_pf, p->clip) : sn_grad_clip_norm(t->grads, t->n_pf, INFINITY);
    float lr = lr_at(t, t->step);
    const int frozen = p->frozen_at >= 0;
    if (frozen) {
        /* the decoder's part of the parameters and of the moments; the encoder's weights and moments stay
         * as they were at the freeze (a view: the step count is the one optimiser's) */
        sono_adamw dec = t->opt;
        dec.n = t->n_pf - t->n_enc;
        dec.m += t->n_enc;
        dec.v += t->n_enc;
        sn_adamw_step(&dec, t->params + t->n_enc, t->grads + t->n_enc, lr);
        t->opt.step = dec.step;
    } else {
        sn_adamw_step(&t->opt, t->params, t->grads, lr);
    }
    /* codebooks: EMA on the residuals each saw this step (frozen: usage statistics only) */
    memset(&t->st, 0, sizeof t->st);
    for (int q = 0; q < t->n_q; q++) {
        int64_t n = gather_q(t, q, 0);
        if (!n) continue;
        rvq_ema cb = codebook_of(t, q);
        if (q < TRAIN_MAX_Q_LOG) t->st.ppl[q] = sn_rvq_perplexity(t->gidx, n, t->K, &t->st.used[q]);
        if (frozen) continue;
        int rep = 0;
        sn_rvq_ema_update(&cb, t->gather, t->gidx, n, &t->rng, &rep);
        t->st.replaced += rep;
    }
    /* discriminator step on this step's reconstructions */
    double dl = 0;
    if (adv_on) {
#pragma omp parallel for num_threads(M) schedule(static, 1)
        for (int m = 0; m < M; m++) {
            worker *w = &t->w[m];
            sn_disc_zero_grad(w->d);
            w->dloss = sn_disc_loss_d(w->d, t->audio + (size_t)m * mb, sn_train_graph_output(w->g));
        }
        for (int m = 0; m < M; m++) t->srcs[m] = sn_disc_grads(t->w[m].d);
        sn_reduce_mean(t->dgrads, t->srcs, M, t->n_dpf);
        if (p->clip > 0) sn_grad_clip_norm(t->dgrads, t->n_dpf, p->clip);
        sn_adamw_step(&t->dopt, t->dparams, t->dgrads, p->disc_lr * lr / p->lr);
        for (int m = 0; m < M; m++) dl += t->w[m].dloss / M;
    }
    double ml = 0;
    if (adv_on && t->mparams) {
#pragma omp parallel for num_threads(M) schedule(static, 1)
        for (int m = 0; m < M; m++) {
            worker *w = &t->w[m];
            sn_mpd_zero_grad(w->mp);
            w->mloss = sn_mpd_loss_d(w->mp, t->audio + (size_t)m * mb, sn_train_graph_output(w->g));
        }
        for (int m = 0; m < M; m++) t->srcs[m] = sn_mpd_grads(t->w[m].mp);
        sn_reduce_mean(t->mgrads, t->srcs, M, t->n_mpf);
        if (p->clip > 0) sn_grad_clip_norm(t->mgrads, t->n_mpf, p->clip);
        sn_adamw_step(&t->mopt, t->mparams, t->mgrads, p->disc_lr * lr / p->lr);
        for (int m = 0; m < M; m++) ml += t->w[m].mloss / M;
    }
    sn_kern_set_threads(blas_threads);
    t->step++;
    trainer_stats *s = &t->st;
    s->step = t->step;
    s->n_active_min = t->n_q;
    for (int m = 0; m < M; m++) {
        const worker *w = &t->w[m];
        s->l1 += w->l1 / M; s->mel += w->mel / M; s->commit += w->commit / M;
        s->adv += w->adv / M; s->feat += w->feat / M; s->spec += w->spec / M;
        s->mpd_adv += w->madv / M; s->mpd_feat += w->mfeat / M;
        s->n_active_min = SONO_MIN(s->n_active_min, w->n_active);
        s->n_active_max = SONO_MAX(s->n_active_max, w->n_active);
    }
    s->disc = dl;
    s->mpd_disc = ml;
    s->grad_norm = gn;
    s->lr = lr;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    s->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    s->cpu_seconds = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    t->cpu_seconds += s->cpu_seconds;
    s->cpu_hours_total = t->cpu_seconds / 3600.0;
    if (!isfinite(s->l1) || !isfinite(s->mel) || !isfinite(s->spec) || !isfinite(gn))
        return sn_fail(SONO_E_RANGE, "training diverged at step %lld (loss or gradient is not finite)", (long long)t->step);
    return 0;
}

/* ---- checkpoints (common/checkpoint.h) ---- */

#define CKPT_FORMAT "sonotok-train-checkpoint"

int sn_trainer_save_checkpoint(trainer *t, const char *path) {
    const size_t KD = (size_t)t->n_q * t->K * t->D;
    sn_ckpt_buf b[12] = {
        {"params", t->params, t->n_pf},
        {"adam.m", t->opt.m, t->n_pf},
        {"adam.v", t->opt.v, t->n_pf},
        {"codebooks.embed", t->cb_embed, KD},
        {"codebooks.embed_avg", t->cb_avg, KD},
        {"codebooks.cluster_size", t->cb_size, (size_t)t->n_q * t->K},
        {"disc.params", t->dparams, t->n_dpf},
        {"disc.adam.m", t->dopt.m, t->n_dpf},
        {"disc.adam.v", t->dopt.v, t->n_dpf},
        {"mpd.params", t->mparams, t->n_mpf},
        {"mpd.adam.m", t->mopt.m, t->n_mpf},
        {"mpd.adam.v", t->mopt.v, t->n_mpf},
    };
    char *cfgjson = sn_codec_config_to_json(&t->cfg);
    if (!cfgjson) return sn_fail(SONO_E_NOMEM, "out of memory");
    json_object *meta = sn_ckpt_meta_new(CKPT_FORMAT);
    sn_ckpt_meta_add_str(meta, "config", cfgjson);
    json_object *tp = tp_to_json(&t->p);
    sn_ckpt_meta_add_str(meta, "trainer", json_object_to_json_string_ext(tp, JSON_C_TO_STRING_PLAIN));
    json_object_put(tp);
    sn_ckpt_meta_add_i64(meta, "step", t->step);
    sn_ckpt_meta_add_u64(meta, "rng", t->rng);
    sn_ckpt_meta_add_i64(meta, "adam_step", t->opt.step);
    sn_ckpt_meta_add_i64(meta, "disc_adam_step", t->dparams ? t->dopt.step : 0);
    if (t->mparams) sn_ckpt_meta_add_i64(meta, "mpd_adam_step", t->mopt.step);
    char v[64];
    snprintf(v, sizeof v, "%.3f", t->cpu_seconds);
    sn_ckpt_meta_add_str(meta, "cpu_seconds", v);
    free(cfgjson);
    /* the buffers of the parts a run has, in order (a run without a discriminator has no MPD either) */
    int nb = t->dparams ? 9 : 6;
    if (t->mparams) nb = 12;
    return sn_ckpt_save(path, b, nb, meta);
}

trainer *sn_trainer_resume(const char *path, const trainer_params *p, int *err) {
    sn_ckpt *ck = NULL;
    trainer *t = NULL;
    int rc = sn_ckpt_open(path, CKPT_FORMAT, &ck), fresh_disc = 0, fresh_mpd = 0;
    const char *s;
    if (!rc && !(t = calloc(1, sizeof *t))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    if (!rc && (!(s = sn_ckpt_meta_str(ck, "config")) || sn_codec_config_from_json(s, &t->cfg)))
        rc = sn_fail(SONO_E_FORMAT, "%s: checkpoint has no valid codec config", path);
    if (!rc) {
        t->p = sn_trainer_default_params();
        json_object *tj = (s = sn_ckpt_meta_str(ck, "trainer")) ? json_tokener_parse(s) : NULL;
        if (!tj) rc = sn_fail(SONO_E_FORMAT, "%s: checkpoint has no trainer settings", path);
        else { tp_from_json(&t->p, tj); json_object_put(tj); }
    }
    if (!rc) {
        int saved_threads = t->p.n_threads;
        t->p.manifest = p->manifest; t->p.cache = p->cache; t->p.heldout = p->heldout;
        t->p.n_threads = p->n_threads;
        if (saved_threads != p->n_threads)
            sn_log(SONO_LOG_WARN, "resuming with %d threads (checkpoint: %d): not bit-identical to an uninterrupted run",
                     p->n_threads, saved_threads);
        if (p->steps != t->p.steps && p->steps > 0) t->p.steps = p->steps;
        if (p->adv_start != t->p.adv_start && p->adv_start >= -1) {
            /* the discriminator may be switched on later; it cannot be taken away once trained */
            if (t->p.adv_start < 0 || p->adv_start >= 0) t->p.adv_start = p->adv_start;
        }
        /* a later training phase may change the losses (mel bands, loss weights), the odds of the
         * bandwidths and the category mix */
        if (p->n_mels >= 0 && p->n_mels != t->p.n_mels) {
            sn_log(SONO_LOG_INFO, "mel loss bands: %d (checkpoint: %d)", p->n_mels, t->p.n_mels);
            t->p.n_mels = p->n_mels;
        }
        if (p->w_l1 >= 0 && (p->w_l1 != t->p.w_l1 || p->w_mel != t->p.w_mel || p->w_commit != t->p.w_commit ||
                             p->w_adv != t->p.w_adv || p->w_feat != t->p.w_feat)) {
            sn_log(SONO_LOG_INFO, "loss weights %g,%g,%g,%g,%g (checkpoint: %g,%g,%g,%g,%g)", (double)p->w_l1,
                     (double)p->w_mel, (double)p->w_commit, (double)p->w_adv, (double)p->w_feat, (double)t->p.w_l1,
                     (double)t->p.w_mel, (double)t->p.w_commit, (double)t->p.w_adv, (double)t->p.w_feat);
            t->p.w_l1 = p->w_l1; t->p.w_mel = p->w_mel; t->p.w_commit = p->w_commit;
            t->p.w_adv = p->w_adv; t->p.w_feat = p->w_feat;
        }
        if (p->w_spec >= 0 && (p->w_spec != t->p.w_spec || (p->w_spec > 0 && (p->spec_log2_min != t->p.spec_log2_min ||
                               p->spec_log2_max != t->p.spec_log2_max || p->spec_top_hz != t->p.spec_top_hz)))) {
            sn_log(SONO_LOG_INFO,
                   "log-spectrum loss %g, n_fft 2^%d..2^%d, up to %g Hz (checkpoint: %g, 2^%d..2^%d, %g Hz)",
                   (double)p->w_spec, p->spec_log2_min, p->spec_log2_max, (double)p->spec_top_hz,
                   (double)t->p.w_spec, t->p.spec_log2_min, t->p.spec_log2_max, (double)t->p.spec_top_hz);
            t->p.w_spec = p->w_spec;
            if (p->w_spec > 0) {
                t->p.spec_log2_min = p->spec_log2_min; t->p.spec_log2_max = p->spec_log2_max;
                t->p.spec_top_hz = p->spec_top_hz;
            }
        }
        /* a wider or narrower discriminator starts afresh */
        if (p->disc_filters > 0 && p->disc_filters != t->p.disc_filters) {
            sn_log(SONO_LOG_INFO, "discriminator: %d filters, new (checkpoint: %d)", p->disc_filters,
                     t->p.disc_filters);
            t->p.disc_filters = p->disc_filters;
            fresh_disc = 1;
        } else if (p->disc_reset && t->p.adv_start >= 0) {
            /* a discriminator that has caught up with the codec stops teaching it; a new one starts over */
            sn_log(SONO_LOG_INFO, "discriminator: %d filters, new (reset)", t->p.disc_filters);
            fresh_disc = 1;
        } else if (p->disc_reset) {
            sn_log(SONO_LOG_WARN, "no discriminator to reset: this run has none (--adv-start -1)");
        }
        /* the multi-period discriminator: added, replaced or dropped */
        if (p->mpd_filters != 0 && p->mpd_filters != t->p.mpd_filters && !(p->mpd_filters < 0 && !t->p.mpd_filters)) {
            if (p->mpd_filters > 0)
                sn_log(SONO_LOG_INFO, "multi-period discriminator: %d filters, new (checkpoint: %d)", p->mpd_filters,
                       t->p.mpd_filters);
            else
                sn_log(SONO_LOG_INFO, "multi-period discriminator dropped (checkpoint: %d filters)", t->p.mpd_filters);
            t->p.mpd_filters = p->mpd_filters > 0 ? p->mpd_filters : 0;
            fresh_mpd = 1;
        } else if (p->disc_reset && t->p.mpd_filters > 0 && t->p.adv_start >= 0) {
            sn_log(SONO_LOG_INFO, "multi-period discriminator: %d filters, new (reset)", t->p.mpd_filters);
            fresh_mpd = 1;
        }
        if (p->n_bw_mix >= 0) {
            sn_log(SONO_LOG_INFO, "bandwidth weights: %d given (checkpoint: %d)", p->n_bw_mix, t->p.n_bw_mix);
            t->p.n_bw_mix = p->n_bw_mix;
            memcpy(t->p.bw_mix, p->bw_mix, sizeof t->p.bw_mix);
        }
        /* the last phase: the codes are fixed (encoder and codebooks frozen), the decoder goes on */
        if (t->p.frozen_at >= 0) {
            sn_log(SONO_LOG_INFO, "encoder and codebooks frozen since step %lld (checkpoint)", (long long)t->p.frozen_at);
        } else if (p->freeze_encoder) {
            t->p.frozen_at = sn_ckpt_meta_i64(ck, "step", -1);
            t->p.freeze_encoder = 1;
            sn_log(SONO_LOG_INFO, "encoder and codebooks frozen from step %lld on", (long long)t->p.frozen_at);
        }
        /* and the data: the sampling weights of the categories */
        if (p->mix[0] >= 0 && (p->mix[0] != t->p.mix[0] || p->mix[1] != t->p.mix[1] || p->mix[2] != t->p.mix[2])) {
            sn_log(SONO_LOG_INFO, "mix %g,%g,%g (checkpoint: %g,%g,%g)", p->mix[0], p->mix[1], p->mix[2], t->p.mix[0],
                     t->p.mix[1], t->p.mix[2]);
            memcpy(t->p.mix, p->mix, sizeof t->p.mix);
        }
        t->step = sn_ckpt_meta_i64(ck, "step", -1);
        t->rng = sn_ckpt_meta_u64(ck, "rng", 0);
        t->cpu_seconds = (s = sn_ckpt_meta_str(ck, "cpu_seconds")) ? strtod(s, NULL) : 0;
        if (t->step < 0) rc = sn_fail(SONO_E_FORMAT, "%s: checkpoint has no step", path);
    }
    if (!rc) rc = trainer_build(t);
    if (!rc) {
        size_t KD = (size_t)t->n_q * t->K * t->D;
        if (!rc) rc = sn_ckpt_take(ck, "params", t->params, t->n_pf);
        if (!rc) rc = sn_ckpt_take(ck, "adam.m", t->opt.m, t->n_pf);
        if (!rc) rc = sn_ckpt_take(ck, "adam.v", t->opt.v, t->n_pf);
        if (!rc) rc = sn_ckpt_take(ck, "codebooks.embed", t->cb_embed, KD);
        if (!rc) rc = sn_ckpt_take(ck, "codebooks.embed_avg", t->cb_avg, KD);
        if (!rc) rc = sn_ckpt_take(ck, "codebooks.cluster_size", t->cb_size, (size_t)t->n_q * t->K);
        t->opt.step = sn_ckpt_meta_i64(ck, "adam_step", 0);
        if (!rc && t->dparams) {
            if (!fresh_disc && sn_ckpt_has(ck, "disc.params")) {
                if (!rc) rc = sn_ckpt_take(ck, "disc.params", t->dparams, t->n_dpf);
                if (!rc) rc = sn_ckpt_take(ck, "disc.adam.m", t->dopt.m, t->n_dpf);
                if (!rc) rc = sn_ckpt_take(ck, "disc.adam.v", t->dopt.v, t->n_dpf);
                t->dopt.step = sn_ckpt_meta_i64(ck, "disc_adam_step", 0);
            } else {
                init_disc(t);
            }
        }
        if (!rc && t->mparams) {
            if (!fresh_mpd && sn_ckpt_has(ck, "mpd.params")) {
                if (!rc) rc = sn_ckpt_take(ck, "mpd.params", t->mparams, t->n_mpf);
                if (!rc) rc = sn_ckpt_take(ck, "mpd.adam.m", t->mopt.m, t->n_mpf);
                if (!rc) rc = sn_ckpt_take(ck, "mpd.adam.v", t->mopt.v, t->n_mpf);
                t->mopt.step = sn_ckpt_meta_i64(ck, "mpd_adam_step", 0);
            } else {
                init_mpd(t);
            }
        }
    }
    /* the corpus is opened by the first step: exporting or evaluating a checkpoint needs none */
    sn_ckpt_close(ck);
    if (rc) { sn_trainer_free(t); t = NULL; }
    if (err) *err = rc;
    return t;
}

/* ---- export and evaluation ---- */

/* The model as a tensor set in canonical names (weight_g/weight_v pairs and
 * codebooks). */
static int model_tensors(trainer *t, sono_tensors **out) {
    int n_par = 0;
    const train_param *tab = sn_train_graph_param_table(t->w[0].g, &n_par);
    int n = n_par + t->n_q;
    const char **names = calloc((size_t)n, sizeof *names);
    int *nd = calloc((size_t)n, sizeof *nd);
    int64_t (*shapes)[SONO_MAX_DIMS] = calloc((size_t)n, sizeof *shapes);
    const float **data = calloc((size_t)n, sizeof *data);
    char (*cbn)[64] = calloc((size_t)t->n_q, sizeof *cbn);
    int rc = 0;
    if (!names || !nd || !shapes || !data || !cbn) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    for (int i = 0; !rc && i < n_par; i++) {
        names[i] = tab[i].name;
        nd[i] = tab[i].ndim;
        for (int k = 0; k < tab[i].ndim; k++) shapes[i][k] = tab[i].shape[k];
        data[i] = t->params + tab[i].offset;
    }
    for (int q = 0; !rc && q < t->n_q; q++) {
        snprintf(cbn[q], sizeof cbn[q], "quantizer.vq.layers.%d._codebook.embed", q);
        names[n_par + q] = cbn[q];
        nd[n_par + q] = 2;
        shapes[n_par + q][0] = t->K;
        shapes[n_par + q][1] = t->D;
        data[n_par + q] = t->cb_embed + (size_t)q * t->K * t->D;
    }
    if (!rc) rc = sn_tensors_create(out, n, names, nd, (const int64_t (*)[SONO_MAX_DIMS])shapes, data);
    free(names); free(nd); free(shapes); free(data); free(cbn);
    return rc;
}

static int trainer_codec(trainer *t, sono_codec **out) {
    sono_tensors *ts = NULL;
    int rc = model_tensors(t, &ts);
    if (!rc && (rc = sn_codec_from_tensors(ts, &t->cfg, out))) sn_tensors_free(ts);
    if (!rc) (*out)->n_threads = t->p.n_threads;
    return rc;
}

int sn_trainer_export_model(trainer *t, const char *path, int f16) {
    sono_codec *c = NULL;
    int rc = trainer_codec(t, &c);
    if (!rc) {
        /* named after the file's stem, so token files made with it find it by name */
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        snprintf(c->cfg.name, sizeof c->cfg.name, "%.*s", (int)strcspn(b, "."), b);
        rc = sono_codec_save(c, path, f16);
    }
    sono_codec_free(c);
    return rc;
}

int sn_trainer_eval(trainer *t, int max_clips, double max_seconds, FILE *f, FILE *csv) {
    if (!t->p.heldout) return 0;
    man_entry *ents = NULL;
    int64_t n = 0;
    uint64_t h;
    int rc = manifest_read(t->p.heldout, &ents, &n, &h);
    if (rc) return rc;
    sono_codec *c = NULL;
    if ((rc = trainer_codec(t, &c))) { manifest_free(ents, n); return rc; }
    enum { MAXBW = CODEC_MAX_BW };
    double sum[MAXBW][N_CAT + 1][3];
    int cnt[MAXBW][N_CAT + 1][3];
    memset(sum, 0, sizeof sum);
    memset(cnt, 0, sizeof cnt);
    /* the slice: per category, up to max_clips / (categories present) entries
     * spread evenly over that category's part of the held-out list */
    int64_t n_in[N_CAT] = {0};
    int cats = 0;
    for (int64_t i = 0; i < n; i++) n_in[ents[i].cat]++;
    for (int ci = 0; ci < N_CAT; ci++) cats += n_in[ci] > 0;
    int64_t per_cat = SONO_MAX(1, max_clips / SONO_MAX(cats, 1)), seen[N_CAT] = {0}, taken[N_CAT] = {0};
    for (int64_t i = 0; i < n && !rc; i++) {
        int cat = ents[i].cat;
        int64_t pos = seen[cat]++;
        /* entry pos of n_in[cat] is taken when it is the first at or past the next even step */
        if (taken[cat] >= per_cat || pos * per_cat < taken[cat] * n_in[cat]) continue;
        taken[cat]++;
        int e = 0;
        sono_audio_reader *r = sono_audio_open(ents[i].path, t->cfg.sample_rate, t->cfg.channels, &e);
        /* only the first max_seconds are scored: read no more (held-out music runs for minutes) */
        int64_t lim = (int64_t)(max_seconds * t->cfg.sample_rate);
        float *pcm = r ? malloc((size_t)lim * t->cfg.channels * sizeof *pcm) : NULL;
        int64_t ns = pcm ? sono_audio_read(r, pcm, lim) : -1;
        sono_audio_close(r);
        if (ns < t->cfg.sample_rate / 2) {
            free(pcm);
            continue;
        }
        for (int b = 0; b < t->cfg.n_bandwidths && b < MAXBW; b++) {
            sono_tokens *tk = NULL;
            float *dec = NULL;
            int64_t nd = 0;
            int nq = sono_codec_n_q_for_bandwidth(c, t->cfg.bandwidths[b]);
            if (nq > 0 && !sono_codec_encode(c, pcm, ns, nq, &tk) && !sono_codec_decode(c, tk, &dec, &nd) && nd == ns) {
                double v[3];
                v[0] = sono_metrics_si_snr(pcm, dec, ns);
                if (sono_metrics_mel_distance(pcm, dec, ns, t->cfg.sample_rate, &v[1])) v[1] = NAN;
                if (sono_metrics_stoi(pcm, dec, ns, t->cfg.sample_rate, &v[2])) v[2] = NAN;
                for (int k = 0; k < 3; k++) {
                    if (!isfinite(v[k])) continue;
                    sum[b][ents[i].cat][k] += v[k]; cnt[b][ents[i].cat][k]++;
                    sum[b][N_CAT][k] += v[k]; cnt[b][N_CAT][k]++;
                }
            }
            sono_tokens_free(tk);
            free(dec);
        }
        free(pcm);
    }
    for (int b = 0; b < t->cfg.n_bandwidths && b < MAXBW; b++)
        for (int cat = 0; cat <= N_CAT; cat++) {
            if (!cnt[b][cat][1]) continue;
            double m[3];
            for (int k = 0; k < 3; k++) m[k] = cnt[b][cat][k] ? sum[b][cat][k] / cnt[b][cat][k] : NAN;
            const char *cn = cat < N_CAT ? cat_names[cat] : "all";
            if (f)
                fprintf(f, "eval step %lld  %4.1f kbps  %-7s  n=%-3d  mel %.3f  stoi %.3f  si-snr %.2f dB\n",
                        (long long)t->step, t->cfg.bandwidths[b], cn, cnt[b][cat][1], m[1], m[2], m[0]);
            if (csv)
                fprintf(csv, "%lld,%g,%s,%d,%.5f,%.5f,%.4f\n", (long long)t->step, t->cfg.bandwidths[b], cn,
                        cnt[b][cat][1], m[1], m[2], m[0]);
        }
    if (csv) fflush(csv);
    sono_codec_free(c);
    manifest_free(ents, n);
    return rc;
}
