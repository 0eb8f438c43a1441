/* The LM training loop behind `sonotok train-lm` (include/sonotok/train.h):
 * token shards of the corpus (lm_shards.h), sequences built from them with
 * the delay pattern, one forward and backward over the whole batch, AdamW
 * with clipping and warmup + cosine (common/optim.h), checkpoints
 * (common/checkpoint.h) and the LM file export (lm_file.h).
 *
 * Determinism: the random stream (splitmix64) is the only source of the
 * data order, the model's kernels give the same bits on any n_threads with
 * OpenBLAS at one thread, and the checkpoint holds the stream's state, the
 * step, the parameters and both Adam moments: a resumed run is the same
 * run. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "kernels.h"
#include "lm_delay.h"
#include "lm_file.h"
#include "lm_model.h"
#include "lm_shards.h"
#include "lm_tts_seq.h"
#include "optim.h"
#include "sono_internal.h"
#include "sonotok/phonemes.h"

#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"

#define CKPT_FORMAT "sonotok-lm-checkpoint"

enum { TASK_CONTINUE = 0, TASK_TTA = 1, TASK_TTS = 2 };

/* One manifest with its shards and tokenized captions. */
typedef struct {
    sn_lm_manifest *man;
    sn_lm_shards *sh;
    int32_t **cap;     /* [n] caption ids or NULL */
    int *cap_n;        /* [n] */
    int *pool_all, n_all;   /* entries with frames */
    int *pool_tta, n_tta;   /* entries with frames and a caption */
    int32_t **ph_first;     /* [n] TTS: each phoneme's first frame [n_ph + 1] (lm_tts_seq.h), or NULL */
    int32_t **ph_ids;       /* [n] TTS: the phonemes' token ids, then the lang and voice ids */
    int *pool_tts, n_tts;   /* TTS records whose spans fit their frames and whose sequence fits the context */
} lm_data;

struct sono_lm_trainer {
    sono_lm_train_params p;
    sn_lm *m;
    sono_tokenizer *tok;
    sn_lm_codec_id codec;
    lm_data train, held;
    int has_held;
    sono_adamw opt;
    float *grads;
    sn_lm_acts *acts;
    int32_t *text, *audio, *targets; /* [B][T], [B][T][K], [B][T][K] */
    uint64_t rng;
    int64_t step;
    double cpu_hours;
    sono_lm_train_stats stats;
    char **cond;              /* TTS conditions ("lang:en", "voice:V"), sorted; NULL: no TTS */
    int n_cond;
    int tts;                  /* 1: the LM reads phonemes and conditions */
    sono_codec *codec_model;  /* the run's codec, kept for its samples */
    struct sono_lm view;      /* the model as an LM (sono_lm_trainer_lm): borrows m and tok */
};

sono_lm_train_params sono_lm_train_default_params(void) {
    sono_lm_train_params p;
    memset(&p, 0, sizeof p);
    p.codec = "default";
    p.tokenizer_vocab = 1024;
    p.n_layer = 4; p.width = 256; p.n_head = 4; p.context = 512;
    p.w_continue = 1; p.w_tta = 1; p.w_tts = 1;
    p.cfg_dropout = 0.15f;
    p.max_text = 64;
    p.batch = 8;
    p.n_threads = 2;
    p.steps = 20000;
    p.warmup = 200;
    p.lr = 1e-3f; p.lr_min = 1e-4f;
    p.beta1 = 0.9f; p.beta2 = 0.95f; p.weight_decay = 0.1f; p.clip = 1.0f;
    p.seed = 1;
    return p;
}

/* Seconds on a clock (CLOCK_MONOTONIC: wall; CLOCK_PROCESS_CPUTIME_ID: CPU, all threads). */
static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check_params(const sono_lm_train_params *p) {
    if (!p->manifest || !p->shards) return sn_fail(SONO_E_ARG, "train-lm: a manifest and a shard path are needed");
    if (p->heldout && !p->heldout_shards) return sn_fail(SONO_E_ARG, "train-lm: a held-out manifest needs its shard path");
    if (p->batch < 1 || p->batch > 4096 || p->n_threads < 1 || p->n_threads > 256 || p->steps < 1 || p->warmup < 0)
        return sn_fail(SONO_E_ARG, "train-lm: batch, threads, steps or warmup out of range");
    if (!(p->w_continue >= 0) || !(p->w_tta >= 0) || !(p->w_tts >= 0) || !(p->w_continue + p->w_tta + p->w_tts > 0))
        return sn_fail(SONO_E_ARG, "train-lm: task weights must be >= 0 and not all 0");
    if (!(p->cfg_dropout >= 0 && p->cfg_dropout <= 1)) return sn_fail(SONO_E_ARG, "train-lm: cfg dropout outside 0..1");
    if (p->max_text < 1) return sn_fail(SONO_E_ARG, "train-lm: max_text must be >= 1");
    if (p->context < 8) return sn_fail(SONO_E_ARG, "train-lm: context %d is below 8 positions", p->context);
    return 0;
}

/* ---- data ---- */

static void data_free(lm_data *d) {
    if (d->cap)
        for (int i = 0; i < d->man->n; i++) free(d->cap[i]);
    free(d->cap);
    free(d->cap_n);
    free(d->pool_all);
    free(d->pool_tta);
    if (d->ph_first)
        for (int i = 0; i < d->man->n; i++) free(d->ph_first[i]), free(d->ph_ids[i]);
    free(d->ph_first);
    free(d->ph_ids);
    free(d->pool_tts);
    sn_lm_shards_close(d->sh);
    sn_lm_manifest_free(d->man);
    memset(d, 0, sizeof *d);
}

static int cond_index(const sono_lm_trainer *t, const char *kind, const char *v);
static int data_tts(lm_data *d, const sono_lm_trainer *t);

static int data_open(lm_data *d, const char *manifest, const char *shards, const sono_codec *codec, int K,
                     const sono_tokenizer *tok, int n_threads) {
    int rc = sn_lm_manifest_read(manifest, &d->man);
    if (!rc) rc = sn_lm_shards_open(&d->sh, shards, d->man, codec, K, n_threads, NULL);
    if (rc) return rc;
    int n = d->man->n;
    d->cap = calloc((size_t)n, sizeof *d->cap);
    d->cap_n = calloc((size_t)n, sizeof *d->cap_n);
    d->pool_all = malloc(sizeof(int) * (size_t)n);
    d->pool_tta = malloc(sizeof(int) * (size_t)n);
    if (!d->cap || !d->cap_n || !d->pool_all || !d->pool_tta) return sn_fail(SONO_E_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *c = d->man->caption[i];
        if (c) {
            size_t nb = strlen(c);
            d->cap[i] = malloc(sizeof(int32_t) * (nb + 1));
            if (!d->cap[i]) return sn_fail(SONO_E_NOMEM, "out of memory");
            int64_t k = sono_tokenizer_encode(tok, c, nb, d->cap[i], (int64_t)nb + 1);
            if (k < 0) return (int)k;
            d->cap_n[i] = (int)k;
        }
        if (d->sh->entries[i].n_frames == 0) continue;
        d->pool_all[d->n_all++] = i;
        if (d->cap_n[i] > 0) d->pool_tta[d->n_tta++] = i;
    }
    if (!d->n_all) return sn_fail(SONO_E_EMPTY, "%s: no clip with codec frames", manifest);
    return 0;
}

/* The index of condition "kind:v" in t's list, or -1. */
static int cond_index(const sono_lm_trainer *t, const char *kind, const char *v) {
    return sn_lm_cond_find(t->cond, t->n_cond, kind, v);
}

/* The TTS pool of an opened manifest: records whose spans fit the codec's
 * frames (sn_lm_tts_frames), whose language and voice are conditions of the
 * run and whose whole sequence fits the context (no crops: the prefix must
 * be whole). Others are counted in one log line. */
static int data_tts(lm_data *d, const sono_lm_trainer *t) {
    const int n = d->man->n, T = t->m->cfg.T_max, K = t->m->cfg.K;
    d->ph_first = calloc((size_t)n, sizeof *d->ph_first);
    d->ph_ids = calloc((size_t)n, sizeof *d->ph_ids);
    d->pool_tts = malloc(sizeof(int) * (size_t)n);
    if (!d->ph_first || !d->ph_ids || !d->pool_tts) return sn_fail(SONO_E_NOMEM, "out of memory");
    sono_vocab_layout l = t->view.vocab;
    int n_spans = 0, n_long = 0, n_cond = 0, n_rec = 0;
    for (int i = 0; i < n; i++) {
        const sn_lm_tts_rec *r = d->man->tts[i];
        int F = (int)d->sh->entries[i].n_frames;
        if (!r || F == 0) continue;
        n_rec++;
        int lang = cond_index(t, "lang", r->lang), voice = cond_index(t, "voice", r->voice);
        if (lang < 0 || voice < 0) { n_cond++; continue; }
        if (sn_lm_tts_seq_len(r->n, F, K) > T) { n_long++; continue; }
        d->ph_first[i] = malloc(sizeof(int32_t) * ((size_t)r->n + 1));
        d->ph_ids[i] = malloc(sizeof(int32_t) * ((size_t)r->n + 2));
        if (!d->ph_first[i] || !d->ph_ids[i]) return sn_fail(SONO_E_NOMEM, "out of memory");
        int bad = sn_lm_tts_frames(r->start, r->end, r->n, F, d->ph_first[i]) != 0;
        for (int j = 0; !bad && j < r->n; j++) {
            int64_t id = sono_vocab_id(&l, SONO_VOCAB_PHONEME, 0, r->token[j]);
            bad = id < 0;
            d->ph_ids[i][j] = (int32_t)id;
        }
        if (bad) {
            free(d->ph_first[i]), free(d->ph_ids[i]);
            d->ph_first[i] = d->ph_ids[i] = NULL;
            n_spans++;
            continue;
        }
        d->ph_ids[i][r->n] = (int32_t)sono_vocab_id(&l, SONO_VOCAB_COND, 0, lang);
        d->ph_ids[i][r->n + 1] = (int32_t)sono_vocab_id(&l, SONO_VOCAB_COND, 0, voice);
        d->pool_tts[d->n_tts++] = i;
    }
    if (n_rec > d->n_tts)
        sn_log(SONO_LOG_WARN, "train-lm: %d of %d TTS records left out: %d spans that do not fit the codec's frames (or "
                              "phoneme ids beyond the inventory), %d longer than the context, %d of an unknown voice or language",
               n_rec - d->n_tts, n_rec, n_spans, n_long, n_cond);
    return 0;
}

/* The run's conditions from the training manifest's TTS records: every
 * distinct "lang:L" and "voice:V", sorted. 0 with t->n_cond 0 when it has
 * none. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int conditions_collect(sono_lm_trainer *t, const sn_lm_manifest *man) {
    int cap = 0;
    for (int i = 0; i < man->n; i++) cap += man->tts[i] ? 2 : 0;
    if (!cap) return 0;
    t->cond = calloc((size_t)cap, sizeof *t->cond);
    if (!t->cond) return sn_fail(SONO_E_NOMEM, "out of memory");
    for (int i = 0; i < man->n; i++) {
        const sn_lm_tts_rec *r = man->tts[i];
        for (int w = 0; r && w < 2; w++) {
            const char *kind = w ? "voice" : "lang", *v = w ? r->voice : r->lang;
            if (cond_index(t, kind, v) >= 0) continue;
            size_t len = strlen(kind) + strlen(v) + 2;
            char *name = malloc(len);
            if (!name) return sn_fail(SONO_E_NOMEM, "out of memory");
            snprintf(name, len, "%s:%s", kind, v);
            t->cond[t->n_cond++] = name;
            if (!sn_lm_cond_name_ok(name))
                return sn_fail(SONO_E_FORMAT, "%s: TTS %s \"%.60s\" is not a name (printable ASCII, no quotes, at most 56 bytes)",
                               t->p.manifest, kind, v);
        }
    }
    qsort(t->cond, (size_t)t->n_cond, sizeof *t->cond, cmp_str);
    return 0;
}

/* One sequence of T positions: [task] [text] [<sep>] [steps s0 .. s0 + n - 1
 * of the clip's grid], padding after. targets[p] is the grid step that
 * follows position p (-1 where nothing is predicted or the slot is EMPTY). */
static void build_seq(const sn_lm *m, const lm_data *d, int entry, int task, const int32_t *text_ids, int n_text,
                      int64_t s0, int32_t *text, int32_t *audio, int32_t *targets, int *n_real) {
    const int T = m->cfg.T_max, K = m->cfg.K, cb = m->cfg.codebook_size;
    const sn_lm_shard_entry *e = &d->sh->entries[entry];
    const int16_t *codes = d->sh->codes + e->offset;
    const int F = (int)e->n_frames;
    int P = 0;
    for (int t = 0; t < T; t++) text[t] = SONO_TOK_PAD;
    memset(audio, 0, sizeof(int32_t) * (size_t)T * K);
    for (size_t i = 0; i < (size_t)T * K; i++) targets[i] = -1;
    text[P++] = task == TASK_TTA ? SONO_TOK_TASK_TTA : SONO_TOK_TASK_CONTINUE;
    for (int i = 0; i < n_text; i++) text[P++] = text_ids[i];
    text[P++] = SONO_TOK_SEP;
    int64_t S_all = (int64_t)F + K, n = S_all - s0;
    if (n > T - P) n = T - P;
    for (int64_t j = 0; j < n; j++) {
        text[P + j] = -1;
        for (int k = 0; k < K; k++) audio[(P + j) * K + k] = sn_lm_grid_at16(codes, F, K, cb, s0 + j, k);
    }
    /* <sep> predicts the first step only when the clip starts there: the
     * middle of a clip cannot be told from [task] [<sep>] alone */
    for (int64_t j = s0 > 0; j <= n && P - 1 + j < T; j++)
        for (int k = 0; k < K; k++) {
            int32_t g = sn_lm_grid_at16(codes, F, K, cb, s0 + j, k);
            targets[(P - 1 + j) * K + k] = g == cb ? -1 : g;
        }
    *n_real = (int)(P + n);
}

static int pick_index(uint64_t *rng, int n) { return (int)(sn_unif01(rng) * n); }

/* The batch of step t: tasks by weight, clips uniformly from the task's
 * pool, crops and caption dropout from the stream. */
static int64_t build_batch(sono_lm_trainer *t) {
    const sono_lm_train_params *p = &t->p;
    const int T = t->m->cfg.T_max, K = t->m->cfg.K;
    const lm_data *d = &t->train;
    int64_t real = 0;
    double w_tta = d->n_tta ? p->w_tta : 0, w_tts = d->n_tts ? p->w_tts : 0, w_all = p->w_continue + w_tta + w_tts;
    const int max_text = p->max_text < T / 2 ? p->max_text : T / 2;
    for (int b = 0; b < p->batch; b++) {
        int task = TASK_CONTINUE;
        if (w_tta > 0 || w_tts > 0) {
            double u = sn_unif01(&t->rng) * w_all;
            task = u < p->w_continue ? TASK_CONTINUE : u < p->w_continue + w_tta ? TASK_TTA : TASK_TTS;
        }
        if (task == TASK_TTS) {
            int e = d->pool_tts[pick_index(&t->rng, d->n_tts)], n_ph = d->man->tts[e]->n;
            const sn_lm_shard_entry *en = &d->sh->entries[e];
            sn_lm_tts_seq(d->sh->codes + en->offset, (int)en->n_frames, K, t->m->cfg.codebook_size, d->ph_ids[e], n_ph,
                          d->ph_first[e], d->ph_ids[e][n_ph], d->ph_ids[e][n_ph + 1], T, t->text + (size_t)b * T,
                          t->audio + (size_t)b * T * K, t->targets + (size_t)b * T * K);
            real += sn_lm_tts_seq_len(n_ph, (int)en->n_frames, K);
            continue;
        }
        int32_t uncond = SONO_TOK_UNCOND;
        const int32_t *ids = NULL;
        int n_ids = 0, entry;
        int64_t s0 = 0;
        if (task == TASK_TTA) {
            entry = d->pool_tta[pick_index(&t->rng, d->n_tta)];
            if (sn_unif01(&t->rng) < p->cfg_dropout) {
                ids = &uncond;
                n_ids = 1;
            } else {
                ids = d->cap[entry];
                n_ids = d->cap_n[entry] < max_text ? d->cap_n[entry] : max_text;
            }
        } else {
            entry = d->pool_all[pick_index(&t->rng, d->n_all)];
            int64_t S_all = (int64_t)d->sh->entries[entry].n_frames + K, room = T - 2;
            if (S_all > room) s0 = (int64_t)(sn_unif01(&t->rng) * (double)(S_all - room + 1));
        }
        int n_real;
        build_seq(t->m, d, entry, task, ids, n_ids, s0, t->text + (size_t)b * T, t->audio + (size_t)b * T * K,
                  t->targets + (size_t)b * T * K, &n_real);
        real += n_real;
    }
    return real;
}

/* Mean cross-entropy per codebook of the last forward (sum and count). */
static void loss_per_codebook(const sn_lm_acts *a, int K, int V, double *sum, int64_t *cnt) {
    for (int k = 0; k < K; k++) sum[k] = 0, cnt[k] = 0;
    size_t N = (size_t)a->B * a->T;
    for (size_t r = 0; r < N; r++)
        for (int k = 0; k < K; k++) {
            int32_t y = a->targets[r * K + k];
            if (y < 0) continue;
            sum[k] += (double)a->lse[r * K + k] - (double)a->logits[(r * K + k) * V + y];
            cnt[k]++;
        }
}

/* ---- construction ---- */

/* Takes codec (freed with the trainer). */
static int setup_common(sono_lm_trainer *t, sono_codec *codec) {
    const sono_lm_train_params *p = &t->p;
    int K = t->m->cfg.K;
    t->codec_model = codec;
    t->view.m = t->m;
    t->view.tok = t->tok;
    snprintf(t->view.name, sizeof t->view.name, "train-lm");
    snprintf(t->view.codec_name, sizeof t->view.codec_name, "%s", t->codec.name);
    memcpy(t->view.codec_hash, t->codec.hash, 16);
    t->view.frame_rate = t->codec.frame_rate;
    int rc = sono_vocab_layout_for(t->tok, K, t->m->cfg.codebook_size, &t->view.vocab);
    if (t->tts) {
        t->view.vocab.n_phoneme = sono_phoneme_n_tokens();
        t->view.vocab.n_cond = t->n_cond;
        t->view.cond = t->cond;
        t->view.n_cond = t->n_cond;
    }
    if (!rc) rc = data_open(&t->train, p->manifest, p->shards, codec, K, t->tok, p->n_threads);
    if (!rc && t->tts) rc = data_tts(&t->train, t);
    if (!rc && p->heldout) {
        rc = data_open(&t->held, p->heldout, p->heldout_shards, codec, K, t->tok, p->n_threads);
        if (!rc && t->tts) rc = data_tts(&t->held, t);
        t->has_held = !rc;
    }
    if (rc) return rc;
    sn_kern_set_threads(1); /* the same bits on any n_threads (lm_model.h) */
    t->grads = sn_alloc_big(sizeof(float) * t->m->n_params, 1);
    size_t BT = (size_t)p->batch * t->m->cfg.T_max;
    t->text = malloc(sizeof(int32_t) * BT);
    t->audio = malloc(sizeof(int32_t) * BT * K);
    t->targets = malloc(sizeof(int32_t) * BT * K);
    if (!t->grads || !t->text || !t->audio || !t->targets) return sn_fail(SONO_E_NOMEM, "out of memory");
    return sn_lm_acts_new(t->m, p->batch, t->m->cfg.T_max, 1, &t->acts);
}

static sono_codec *load_codec(const char *name, int n_threads, int *rc) {
    sono_codec_params cp = sono_codec_default_params();
    cp.n_threads = n_threads;
    return sono_codec_load(name, &cp, rc);
}

void sono_lm_trainer_free(sono_lm_trainer *t) {
    if (!t) return;
    data_free(&t->train);
    data_free(&t->held);
    sn_adamw_free(&t->opt);
    free(t->grads);
    sn_lm_acts_free(t->acts);
    free(t->text);
    free(t->audio);
    free(t->targets);
    sn_lm_free(t->m);
    sono_tokenizer_free(t->tok);
    sono_codec_free(t->codec_model);
    for (int i = 0; i < t->n_cond; i++) free(t->cond[i]);
    free(t->cond);
    free(t);
}

sono_lm_trainer *sono_lm_trainer_new(const sono_lm_train_params *p, int *err) {
    int rc = check_params(p);
    sono_lm_trainer *t = rc ? NULL : calloc(1, sizeof *t);
    sono_codec *codec = NULL;
    if (!rc && !t) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    if (rc) goto fail;
    t->p = *p;
    if (!(codec = load_codec(p->codec ? p->codec : "default", p->n_threads, &rc))) goto fail;
    int K = p->n_codebooks > 0 ? p->n_codebooks : sono_codec_max_codebooks(codec);
    if (p->bandwidth > 0 && (K = sono_codec_n_q_for_bandwidth(codec, p->bandwidth)) < 0) { rc = K; goto fail; }
    if (K < 1 || K > sono_codec_max_codebooks(codec) || K > SONO_LM_MAX_K) {
        rc = sn_fail(SONO_E_RANGE, "train-lm: %d codebooks; the codec has %d", K, sono_codec_max_codebooks(codec));
        goto fail;
    }
    t->p.n_codebooks = K;
    if (p->tokenizer) {
        if (!(t->tok = sono_tokenizer_load(p->tokenizer, &rc))) goto fail;
    } else {
        sono_bpe_train_params bp = sono_bpe_train_default_params();
        bp.n_vocab = p->tokenizer_vocab;
        sono_bpe_trainer *bt = sono_bpe_trainer_new(&bp, &rc);
        int64_t added = bt ? sono_bpe_trainer_add_file(bt, p->manifest) : rc;
        if (added < 0) rc = (int)added;
        else t->tok = sono_bpe_trainer_finish(bt, &rc);
        sono_bpe_trainer_free(bt);
        if (!t->tok) goto fail;
        sn_log(SONO_LOG_INFO, "train-lm: learned a tokenizer of %d ids from %lld texts", (int)sono_tokenizer_n_vocab(t->tok),
               (long long)added);
    }
    snprintf(t->codec.name, sizeof t->codec.name, "%s", sono_codec_name(codec));
    sono_codec_codes_hash(codec, t->codec.hash);
    t->codec.frame_rate = sono_codec_frame_rate(codec);
    if (p->w_tts > 0) { /* the conditions and phonemes, when the manifest has TTS records */
        sn_lm_manifest *man = NULL;
        if ((rc = sn_lm_manifest_read(p->manifest, &man)) == 0) rc = conditions_collect(t, man);
        sn_lm_manifest_free(man);
        if (rc) goto fail;
        t->tts = t->n_cond > 0;
    }
    sn_lm_config c = sn_lm_config_default();
    c.V_text = sn_lm_v_text_for(t->tok, t->tts, t->n_cond);
    c.K = K;
    c.codebook_size = sono_codec_codebook_size(codec);
    c.C = p->width; c.n_layer = p->n_layer; c.n_head = p->n_head; c.T_max = p->context;
    c.pos = p->learned_pos ? SN_LM_POS_LEARNED : SN_LM_POS_ROPE;
    if ((rc = sn_lm_new(&c, &t->m))) goto fail;
    sn_lm_init_params(t->m, p->seed);
    if ((rc = sn_adamw_init(&t->opt, t->m->n_params, p->beta1, p->beta2, 1e-8f, p->weight_decay))) goto fail;
    t->rng = p->seed ^ 0x5eed5eed5eedULL;
    rc = setup_common(t, codec);
    codec = NULL; /* the trainer's now */
    if (rc) goto fail;
    if (err) *err = 0;
    return t;
fail:
    sono_codec_free(codec);
    sono_lm_trainer_free(t);
    if (err) *err = rc;
    return NULL;
}

/* ---- checkpoints ---- */

static void meta_dbl(json_object *m, const char *key, double v) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", v);
    sn_ckpt_meta_add_str(m, key, b);
}

static double ckpt_dbl(const sn_ckpt *c, const char *key, double dflt) {
    const char *s = sn_ckpt_meta_str(c, key);
    return s ? strtod(s, NULL) : dflt;
}

int sono_lm_trainer_save_checkpoint(sono_lm_trainer *t, const char *path) {
    const sono_lm_train_params *p = &t->p;
    json_object *meta = sn_ckpt_meta_new(CKPT_FORMAT);
    uint8_t *tb = NULL;
    size_t tn = 0;
    int rc = sono_tokenizer_to_bytes(t->tok, &tb, &tn);
    char *b64 = rc ? NULL : sn_lm_b64_encode(tb, tn);
    char *cfg = sn_lm_config_to_json(&t->m->cfg);
    free(tb);
    if (!meta || !b64 || !cfg) {
        free(b64); free(cfg); json_object_put(meta);
        return rc ? rc : sn_fail(SONO_E_NOMEM, "out of memory");
    }
    char hex[33];
    sn_lm_hash_hex(t->codec.hash, hex);
    sn_ckpt_meta_add_str(meta, "config", cfg);
    sn_ckpt_meta_add_str(meta, "tokenizer", b64);
    sn_ckpt_meta_add_str(meta, "codec", t->codec.name);
    sn_ckpt_meta_add_str(meta, "codec_hash", hex);
    meta_dbl(meta, "frame_rate", t->codec.frame_rate);
    sn_ckpt_meta_add_i64(meta, "step", t->step);
    sn_ckpt_meta_add_i64(meta, "adam_step", t->opt.step);
    sn_ckpt_meta_add_u64(meta, "rng", t->rng);
    meta_dbl(meta, "cpu_hours", t->cpu_hours);
    sn_ckpt_meta_add_i64(meta, "batch", p->batch);
    sn_ckpt_meta_add_i64(meta, "steps", p->steps);
    sn_ckpt_meta_add_i64(meta, "warmup", p->warmup);
    sn_ckpt_meta_add_i64(meta, "max_text", p->max_text);
    sn_ckpt_meta_add_u64(meta, "seed", p->seed);
    meta_dbl(meta, "lr", p->lr); meta_dbl(meta, "lr_min", p->lr_min);
    meta_dbl(meta, "beta1", p->beta1); meta_dbl(meta, "beta2", p->beta2);
    meta_dbl(meta, "weight_decay", p->weight_decay); meta_dbl(meta, "clip", p->clip);
    meta_dbl(meta, "w_continue", p->w_continue); meta_dbl(meta, "w_tta", p->w_tta);
    meta_dbl(meta, "cfg_dropout", p->cfg_dropout);
    if (t->tts) { /* only then: checkpoints without TTS stay as they were */
        json_object *arr = json_object_new_array();
        for (int i = 0; arr && i < t->n_cond; i++) json_object_array_add(arr, json_object_new_string(t->cond[i]));
        if (arr) sn_ckpt_meta_add_str(meta, "conditions", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(arr);
        meta_dbl(meta, "w_tts", p->w_tts);
    }
    free(b64);
    free(cfg);
    sn_ckpt_buf bufs[3] = {{"params", t->m->params, t->m->n_params},
                           {"adam.m", t->opt.m, t->m->n_params},
                           {"adam.v", t->opt.v, t->m->n_params}};
    return sn_ckpt_save(path, bufs, 3, meta);
}

/* The run's conditions from a checkpoint's "conditions" (NULL: no TTS). */
static int conditions_resume(sono_lm_trainer *t, const char *json, const char *checkpoint) {
    if (!json) return 0;
    json_object *arr = json_tokener_parse(json);
    int n = arr && json_object_is_type(arr, json_type_array) ? (int)json_object_array_length(arr) : 0;
    t->cond = n > 0 ? calloc((size_t)n, sizeof *t->cond) : NULL;
    int rc = t->cond ? 0 : sn_fail(SONO_E_FORMAT, "%s: checkpoint's conditions are not a list of names", checkpoint);
    for (int i = 0; !rc && i < n; i++) {
        json_object *v = json_object_array_get_idx(arr, (size_t)i);
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (!sn_lm_cond_name_ok(s)) rc = sn_fail(SONO_E_FORMAT, "%s: checkpoint condition %d is not a name", checkpoint, i);
        else if (!(t->cond[i] = strdup(s))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
        else t->n_cond = i + 1;
    }
    json_object_put(arr);
    t->tts = !rc;
    return rc;
}

sono_lm_trainer *sono_lm_trainer_resume(const char *checkpoint, const sono_lm_train_params *p, int *err) {
    sn_ckpt *c = NULL;
    sono_codec *codec = NULL;
    sono_lm_trainer *t = calloc(1, sizeof *t);
    int rc = t ? sn_ckpt_open(checkpoint, CKPT_FORMAT, &c) : sn_fail(SONO_E_NOMEM, "out of memory");
    if (rc) goto fail;
    const char *cfg = sn_ckpt_meta_str(c, "config"), *tok = sn_ckpt_meta_str(c, "tokenizer"),
               *cname = sn_ckpt_meta_str(c, "codec"), *chash = sn_ckpt_meta_str(c, "codec_hash");
    if (!cfg || !tok || !cname || !chash || strlen(cname) >= sizeof t->codec.name ||
        sn_lm_hash_parse(chash, t->codec.hash)) {
        rc = sn_fail(SONO_E_FORMAT, "%s: checkpoint lacks the model config, tokenizer or codec", checkpoint);
        goto fail;
    }
    snprintf(t->codec.name, sizeof t->codec.name, "%s", cname);
    t->codec.frame_rate = ckpt_dbl(c, "frame_rate", 0);
    sn_lm_config mc = sn_lm_config_default();
    if ((rc = sn_lm_config_from_json(cfg, &mc))) goto fail;
    uint8_t *tb = NULL;
    size_t tn = 0;
    if ((rc = sn_lm_b64_decode(tok, &tb, &tn))) goto fail;
    t->tok = sono_tokenizer_from_bytes(tb, tn, &rc);
    free(tb);
    if (!t->tok) goto fail;
    sono_lm_train_params q = sono_lm_train_default_params();
    q.manifest = p->manifest; q.heldout = p->heldout; q.shards = p->shards; q.heldout_shards = p->heldout_shards;
    q.codec = p->codec ? p->codec : NULL;
    q.n_threads = p->n_threads;
    q.n_codebooks = mc.K;
    q.n_layer = mc.n_layer; q.width = mc.C; q.n_head = mc.n_head; q.context = mc.T_max;
    q.learned_pos = mc.pos == SN_LM_POS_LEARNED;
    q.batch = (int)sn_ckpt_meta_i64(c, "batch", q.batch);
    q.steps = p->steps > 0 ? p->steps : sn_ckpt_meta_i64(c, "steps", q.steps);
    q.warmup = sn_ckpt_meta_i64(c, "warmup", q.warmup);
    q.max_text = (int)sn_ckpt_meta_i64(c, "max_text", q.max_text);
    q.seed = sn_ckpt_meta_u64(c, "seed", q.seed);
    q.lr = (float)ckpt_dbl(c, "lr", q.lr); q.lr_min = (float)ckpt_dbl(c, "lr_min", q.lr_min);
    q.beta1 = (float)ckpt_dbl(c, "beta1", q.beta1); q.beta2 = (float)ckpt_dbl(c, "beta2", q.beta2);
    q.weight_decay = (float)ckpt_dbl(c, "weight_decay", q.weight_decay); q.clip = (float)ckpt_dbl(c, "clip", q.clip);
    q.w_continue = ckpt_dbl(c, "w_continue", q.w_continue); q.w_tta = ckpt_dbl(c, "w_tta", q.w_tta);
    q.cfg_dropout = (float)ckpt_dbl(c, "cfg_dropout", q.cfg_dropout);
    q.w_tts = ckpt_dbl(c, "w_tts", 0);
    if ((rc = conditions_resume(t, sn_ckpt_meta_str(c, "conditions"), checkpoint))) goto fail;
    t->p = q;
    if ((rc = check_params(&t->p))) goto fail;
    if (!(codec = load_codec(q.codec ? q.codec : t->codec.name, q.n_threads, &rc))) goto fail;
    /* the checkpoint records the codec's codes hash, or (runs begun before
     * it) its full hash; the run goes on recording the codes hash */
    uint8_t h[16], full[16];
    sono_codec_codes_hash(codec, h);
    sono_codec_hash(codec, full);
    if ((memcmp(h, t->codec.hash, 16) && memcmp(full, t->codec.hash, 16)) ||
        strcmp(sono_codec_name(codec), t->codec.name)) {
        char a[33], b[33];
        sn_lm_hash_hex(t->codec.hash, a);
        sn_lm_hash_hex(h, b);
        rc = sn_fail(SONO_E_MODEL_MISMATCH, "%s: the run trains on codec \"%s\" (hash %.8s...), not \"%s\" (hash %.8s...)",
                     checkpoint, t->codec.name, a, sono_codec_name(codec), b);
        goto fail;
    }
    memcpy(t->codec.hash, h, 16);
    if ((rc = sn_lm_new(&mc, &t->m))) goto fail;
    if ((rc = sn_adamw_init(&t->opt, t->m->n_params, q.beta1, q.beta2, 1e-8f, q.weight_decay))) goto fail;
    if ((rc = sn_ckpt_take(c, "params", t->m->params, t->m->n_params)) ||
        (rc = sn_ckpt_take(c, "adam.m", t->opt.m, t->m->n_params)) ||
        (rc = sn_ckpt_take(c, "adam.v", t->opt.v, t->m->n_params)))
        goto fail;
    t->step = sn_ckpt_meta_i64(c, "step", -1);
    t->opt.step = sn_ckpt_meta_i64(c, "adam_step", -1);
    t->rng = sn_ckpt_meta_u64(c, "rng", 0);
    t->cpu_hours = ckpt_dbl(c, "cpu_hours", 0);
    if (t->step < 0 || t->opt.step < 0) { rc = sn_fail(SONO_E_FORMAT, "%s: checkpoint lacks its step", checkpoint); goto fail; }
    sn_ckpt_close(c);
    c = NULL;
    rc = setup_common(t, codec);
    codec = NULL; /* the trainer's now */
    if (rc) goto fail;
    if (err) *err = 0;
    return t;
fail:
    sn_ckpt_close(c);
    sono_codec_free(codec);
    sono_lm_trainer_free(t);
    if (err) *err = rc;
    return NULL;
}

/* ---- steps ---- */

int sono_lm_trainer_step(sono_lm_trainer *t) {
    const sono_lm_train_params *p = &t->p;
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    const int K = t->m->cfg.K, V = sn_lm_v_audio(&t->m->cfg);
    sn_kern_set_threads(1); /* again: a sample's codec decoding sets its own count */
    int64_t real = build_batch(t);
    float loss = 0;
    int rc = sn_lm_forward(t->m, t->acts, t->text, t->audio, t->targets, p->n_threads, &loss);
    if (rc) return rc;
    if (t->acts->n_valid == 0) return sn_fail(SONO_E_EMPTY, "train-lm: a batch without targets");
    memset(t->grads, 0, sizeof(float) * t->m->n_params);
    if ((rc = sn_lm_backward(t->m, t->acts, t->grads, 1.0f, p->n_threads))) return rc;
    float norm = p->clip > 0 ? sn_grad_clip_norm(t->grads, t->m->n_params, p->clip)
                             : sn_grad_clip_norm(t->grads, t->m->n_params, INFINITY);
    if (!isfinite(norm) || !isfinite(loss)) return sn_fail(SONO_E_RANGE, "train-lm: the loss or gradient is not finite at step %lld", (long long)t->step + 1);
    float lr = sn_lr_warmup_cosine(t->step, p->warmup, p->steps, p->lr, p->lr_min);
    sn_adamw_step(&t->opt, t->m->params, t->grads, lr);
    t->step++;
    sono_lm_train_stats *s = &t->stats;
    memset(s, 0, sizeof *s);
    double sum[SONO_LM_MAX_K];
    int64_t cnt[SONO_LM_MAX_K];
    loss_per_codebook(t->acts, K, V, sum, cnt);
    for (int k = 0; k < K; k++) s->loss_cb[k] = cnt[k] ? sum[k] / (double)cnt[k] : 0;
    s->step = t->step;
    s->loss = loss;
    s->grad_norm = norm;
    s->lr = lr;
    s->n_targets = t->acts->n_valid;
    s->n_positions = real;
    s->seconds = clock_s(CLOCK_MONOTONIC) - w0;
    s->cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    t->cpu_hours += s->cpu_seconds / 3600.0;
    s->cpu_hours_total = t->cpu_hours;
    return 0;
}

int sono_lm_trainer_eval(sono_lm_trainer *t, int max_sequences, double *loss, double *loss_cb) {
    if (!t->has_held) return sn_fail(SONO_E_ARG, "train-lm: no held-out manifest");
    const int B = t->p.batch, T = t->m->cfg.T_max, K = t->m->cfg.K, V = sn_lm_v_audio(&t->m->cfg);
    const lm_data *d = &t->held;
    const int max_text = t->p.max_text < T / 2 ? t->p.max_text : T / 2;
    double tot = 0, cb_sum[SONO_LM_MAX_K] = {0};
    int64_t n_tot = 0, cb_cnt[SONO_LM_MAX_K] = {0};
    sn_kern_set_threads(1);
    int done = 0, i = 0, task = TASK_CONTINUE;
    while (done < max_sequences && i < d->n_all) {
        int b = 0;
        for (; b < B && done < max_sequences && i < d->n_all; b++, done++) {
            int e = d->pool_all[i], n_real, n_ids = task == TASK_TTA ? (d->cap_n[e] < max_text ? d->cap_n[e] : max_text) : 0;
            build_seq(t->m, d, e, task, d->cap[e], n_ids, 0, t->text + (size_t)b * T, t->audio + (size_t)b * T * K,
                      t->targets + (size_t)b * T * K, &n_real);
            /* each clip as continue, then as tta when it has a caption */
            if (task == TASK_CONTINUE && d->cap_n[e] > 0) task = TASK_TTA;
            else task = TASK_CONTINUE, i++;
        }
        for (; b < B; b++) { /* fill the batch with masked copies */
            memcpy(t->text + (size_t)b * T, t->text, sizeof(int32_t) * T);
            memcpy(t->audio + (size_t)b * T * K, t->audio, sizeof(int32_t) * T * K);
            for (size_t j = 0; j < (size_t)T * K; j++) t->targets[(size_t)b * T * K + j] = -1;
        }
        float l = 0;
        int rc = sn_lm_forward(t->m, t->acts, t->text, t->audio, t->targets, t->p.n_threads, &l);
        if (rc) return rc;
        double s[SONO_LM_MAX_K];
        int64_t c[SONO_LM_MAX_K];
        loss_per_codebook(t->acts, K, V, s, c);
        for (int k = 0; k < K; k++) {
            cb_sum[k] += s[k];
            cb_cnt[k] += c[k];
            tot += s[k];
            n_tot += c[k];
        }
    }
    if (!n_tot) return sn_fail(SONO_E_EMPTY, "train-lm: no held-out targets");
    if (loss) *loss = tot / (double)n_tot;
    if (loss_cb)
        for (int k = 0; k < K; k++) loss_cb[k] = cb_cnt[k] ? cb_sum[k] / (double)cb_cnt[k] : 0;
    return 0;
}

int sono_lm_trainer_export(sono_lm_trainer *t, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[64];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = 0;
    return sn_lm_file_save_tts(path, name, t->m, t->tok, &t->codec, t->tts, (const char *const *)t->cond, t->n_cond);
}

sono_lm *sono_lm_random(const sono_codec *codec, int n_codebooks, int width, int n_layer, int n_head, int context,
                        uint64_t seed, int *err) {
    int rc = 0;
    sono_lm *lm = calloc(1, sizeof *lm);
    sono_bpe_train_params bp = sono_bpe_train_default_params();
    bp.n_vocab = bp.n_special + 256; /* the bytes, no merges */
    sono_bpe_trainer *bt = lm ? sono_bpe_trainer_new(&bp, &rc) : NULL;
    if (!lm) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    if (bt) lm->tok = sono_bpe_trainer_finish(bt, &rc);
    sono_bpe_trainer_free(bt);
    if (!lm || !lm->tok) goto fail;
    if (n_codebooks < 1 || n_codebooks > sono_codec_max_codebooks(codec)) {
        rc = sn_fail(SONO_E_RANGE, "lm: %d codebooks; codec %s has %d", n_codebooks, sono_codec_name(codec),
                     sono_codec_max_codebooks(codec));
        goto fail;
    }
    sn_lm_config c = sn_lm_config_default();
    c.V_text = sono_tokenizer_n_vocab(lm->tok);
    c.K = n_codebooks;
    c.codebook_size = sono_codec_codebook_size(codec);
    c.C = width; c.n_layer = n_layer; c.n_head = n_head; c.T_max = context;
    if ((rc = sn_lm_new(&c, &lm->m)) || (rc = sono_vocab_layout_for(lm->tok, c.K, c.codebook_size, &lm->vocab))) goto fail;
    sn_lm_init_params(lm->m, seed);
    snprintf(lm->name, sizeof lm->name, "random-%dx%d", width, n_layer);
    snprintf(lm->codec_name, sizeof lm->codec_name, "%s", sono_codec_name(codec));
    sono_codec_codes_hash(codec, lm->codec_hash);
    lm->frame_rate = sono_codec_frame_rate(codec);
    if (err) *err = 0;
    return lm;
fail:
    sono_lm_free(lm);
    if (err) *err = rc;
    return NULL;
}

const sono_lm *sono_lm_trainer_lm(const sono_lm_trainer *t) { return &t->view; }
const sono_codec *sono_lm_trainer_codec(const sono_lm_trainer *t) { return t->codec_model; }

int sono_lm_trainer_heldout_clip(const sono_lm_trainer *t, int i, int32_t *codes, int64_t max_frames,
                                 int64_t *n_frames, const char **path, const char **caption) {
    if (!t->has_held) return sn_fail(SONO_E_ARG, "train-lm: no held-out manifest");
    const lm_data *d = &t->held;
    if (i < 0 || i >= d->n_all) return SONO_E_RANGE;
    int e = d->pool_all[i], K = t->m->cfg.K;
    const sn_lm_shard_entry *en = &d->sh->entries[e];
    int64_t F = en->n_frames < max_frames ? (int64_t)en->n_frames : max_frames;
    if (codes)
        for (int k = 0; k < K; k++)
            for (int64_t f = 0; f < F; f++) codes[k * F + f] = d->sh->codes[en->offset + (size_t)k * en->n_frames + f];
    if (n_frames) *n_frames = F;
    if (path) *path = d->man->path[e];
    if (caption) *caption = d->cap_n[e] > 0 ? d->man->caption[e] : NULL;
    return 0;
}

int64_t sono_lm_trainer_steps_done(const sono_lm_trainer *t) { return t->step; }
const sono_lm_train_stats *sono_lm_trainer_last_stats(const sono_lm_trainer *t) { return &t->stats; }
const sono_lm_train_params *sono_lm_trainer_params(const sono_lm_trainer *t) { return &t->p; }
int64_t sono_lm_trainer_n_params(const sono_lm_trainer *t) { return (int64_t)t->m->n_params; }
int sono_lm_trainer_n_codebooks(const sono_lm_trainer *t) { return t->m->cfg.K; }
