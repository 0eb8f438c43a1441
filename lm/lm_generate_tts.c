/* Text-to-speech generation, ELLA-V layout (lm_generate_tts.h,
 * doc/tts-layout.md). Each sentence piece runs from its own prefix
 *   <task:tts> <lang:L> <voice:V> P1 .. Pn <sep> P1
 * through a small cache, copied into every output's row; then one batched
 * position per iteration. An output's position is either an audio step
 * (K codes: codebook 0 sampled with <end-audio> allowed once the current
 * phoneme has a frame, the others as in tta) or, when codebook 0 drew
 * <end-audio> before the last phoneme, the next phoneme's token (forced):
 * the phoneme index only moves forward. Caps force <end-audio>: per
 * phoneme (SONO_LM_TTS_CAP_PHONE, _PAUSE) and per piece (the plan's F_cap,
 * which then ends the piece). Rows stay independent (lm_cache.h), so
 * output i is the same for any n_outputs and n_threads, as for tta. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lm_cache.h"
#include "lm_delay.h"
#include "lm_file.h"
#include "lm_generate_tts.h"
#include "lm_sample.h"
#include "sono_internal.h"
#include "sonotok/phonemes.h"

typedef struct {
    int n;          /* phonemes */
    int32_t *ids;   /* [n] global token ids */
    int32_t *cap;   /* [n] most frames of each */
    int64_t F_cap;  /* most frames of the piece */
} tts_piece;

struct sn_lm_tts_plan {
    int32_t lang_id, voice_id;
    int n_pieces;
    tts_piece *pc;
    int64_t F_total, F_cap_max;
    int n_max;      /* most phonemes of a piece */
};

void sn_lm_tts_plan_free(sn_lm_tts_plan *tp) {
    if (!tp) return;
    for (int i = 0; i < tp->n_pieces; i++) free(tp->pc[i].ids), free(tp->pc[i].cap);
    free(tp->pc);
    free(tp);
}

int64_t sn_lm_tts_plan_frames(const sn_lm_tts_plan *tp) { return tp->F_total; }

/* "unknown voice "x"; this LM has: a, b" as the error line. */
static int unknown_cond(const sono_lm *lm, const char *kind, const char *v) {
    char list[512] = "";
    size_t kl = strlen(kind), used = 0;
    for (int i = 0; i < lm->n_cond && used + 64 < sizeof list; i++)
        if (!strncmp(lm->cond[i], kind, kl) && lm->cond[i][kl] == ':')
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", lm->cond[i] + kl + 1);
    return sn_fail(SONO_E_ARG, "generate: unknown %s \"%.64s\"; LM \"%s\" knows: %s",
                   strcmp(kind, "lang") ? kind : "language", v ? v : "", lm->name, used ? list : "none");
}

/* Phonemes of one piece into pc (0 with pc->n 0 when it has nothing to
 * pronounce). */
static int piece_phonemes(const sono_lm *lm, sono_phonemizer *ph, const char *text, size_t n_bytes, tts_piece *pc) {
    sono_phoneme_seq s;
    int rc = sono_phonemize(ph, text, n_bytes, 0, &s);
    if (rc == SONO_E_EMPTY) return 0;
    if (rc) return rc;
    pc->ids = malloc(sizeof(int32_t) * (size_t)s.n_phonemes);
    pc->cap = malloc(sizeof(int32_t) * (size_t)s.n_phonemes);
    if (!pc->ids || !pc->cap || s.n_phonemes > (1 << 20)) {
        sono_phoneme_seq_free(&s);
        return sn_fail(SONO_E_NOMEM, "out of memory");
    }
    int64_t sum = 0;
    for (int64_t i = 0; i < s.n_phonemes; i++) {
        int32_t t = s.phonemes[i].token;
        pc->ids[i] = (int32_t)sono_vocab_id(&lm->vocab, SONO_VOCAB_PHONEME, 0, t);
        pc->cap[i] = t == SONO_PHT_PAUSE || t == SONO_PHT_PAUSE_SHORT ? SONO_LM_TTS_CAP_PAUSE : SONO_LM_TTS_CAP_PHONE;
        sum += pc->cap[i];
    }
    pc->n = (int)s.n_phonemes;
    sono_phoneme_seq_free(&s);
    int64_t mean = (int64_t)SONO_LM_TTS_CAP_MEAN * pc->n;
    pc->F_cap = sum < mean ? sum : mean;
    /* the context: the prefix (4 + n), n inserted tokens, F_cap + K steps */
    const sn_lm_config *cf = &lm->m->cfg;
    int64_t room = (int64_t)cf->T_max - 4 - 2 * (int64_t)pc->n - cf->K;
    if (room < pc->F_cap) pc->F_cap = room;
    if (pc->F_cap < 2 * (int64_t)pc->n)
        return sn_fail(SONO_E_LIMIT, "generate: a sentence of %d phonemes (\"%.40s...\") is too long for the context of %d "
                                     "positions; split it",
                       pc->n, text, cf->T_max);
    return 0;
}

int sn_lm_tts_plan_new(const sono_lm *lm, const sono_lm_generate_params *p, sn_lm_tts_plan **out) {
    *out = NULL;
    if (lm->vocab.n_phoneme == 0)
        return sn_fail(SONO_E_UNSUPPORTED, "generate: LM \"%s\" was not trained for text to speech", lm->name);
    if (p->n_prompt_frames > 0 || p->max_frames > 0 || p->min_frames > 0)
        return sn_fail(SONO_E_ARG, "generate: the tts task takes no prompt, max_frames or min_frames (its caps come from the phonemes)");
    size_t n_bytes = p->text ? strlen(p->text) : 0;
    if (n_bytes > SONO_LM_TTS_MAX_BYTES)
        return sn_fail(SONO_E_LIMIT, "generate: %zu bytes of text; tts takes at most %d (split it)", n_bytes,
                       SONO_LM_TTS_MAX_BYTES);
    const char *lang = p->lang ? p->lang : "en";
    int li = sn_lm_cond_find(lm->cond, lm->n_cond, "lang", lang), vi = sn_lm_cond_find(lm->cond, lm->n_cond, "voice", p->voice);
    if (li < 0) return unknown_cond(lm, "lang", lang);
    if (vi < 0) return unknown_cond(lm, "voice", p->voice);
    int64_t n_split = sono_text_split(p->text ? p->text : "", n_bytes, SONO_LM_TTS_PIECE_BYTES, NULL, 0);
    if (n_split < 0) return (int)n_split;
    if (n_split == 0) return sn_fail(SONO_E_EMPTY, "generate: empty text");
    sn_lm_tts_plan *tp = calloc(1, sizeof *tp);
    sono_text_piece *pieces = malloc(sizeof *pieces * (size_t)n_split);
    int rc = tp && pieces ? 0 : sn_fail(SONO_E_NOMEM, "out of memory");
    if (!rc && !(tp->pc = calloc((size_t)n_split, sizeof *tp->pc))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    if (!rc) sono_text_split(p->text, n_bytes, SONO_LM_TTS_PIECE_BYTES, pieces, n_split);
    sono_phonemizer *ph = NULL;
    if (!rc) {
        sono_phonemizer_params pp = sono_phonemizer_default_params();
        pp.language = lang;
        ph = sono_phonemizer_new(&pp, &rc);
    }
    for (int64_t i = 0; !rc && i < n_split; i++) {
        tts_piece *pc = &tp->pc[tp->n_pieces];
        rc = piece_phonemes(lm, ph, p->text + pieces[i].offset, (size_t)pieces[i].n_bytes, pc);
        if (!rc && pc->n > 0) {
            tp->n_pieces++;
            tp->F_total += pc->F_cap;
            if (pc->F_cap > tp->F_cap_max) tp->F_cap_max = pc->F_cap;
            if (pc->n > tp->n_max) tp->n_max = pc->n;
        } else if (pc->ids || pc->cap) {
            free(pc->ids), free(pc->cap);
            pc->ids = pc->cap = NULL;
        }
    }
    sono_phonemizer_free(ph);
    free(pieces);
    if (!rc && tp->n_pieces == 0) rc = sn_fail(SONO_E_EMPTY, "generate: no pronounceable content in the text");
    if (rc) {
        sn_lm_tts_plan_free(tp);
        return rc;
    }
    tp->lang_id = (int32_t)sono_vocab_id(&lm->vocab, SONO_VOCAB_COND, 0, li);
    tp->voice_id = (int32_t)sono_vocab_id(&lm->vocab, SONO_VOCAB_COND, 0, vi);
    *out = tp;
    return 0;
}

/* One output's state within a piece. */
typedef struct {
    int32_t *grid;   /* [F_cap + K][K] */
    int64_t s;       /* the next step to decide */
    int64_t s_end;   /* codebook 0's final <end-audio>, -1 while none */
    int j, nf;       /* the phoneme being spoken, its frames so far */
    int done;
} tts_out;

/* Shared buffers of a run. */
typedef struct {
    int K, cb, Va, n, nt;
    float *plogits, *logits, *mix;
    int32_t *text1, *audio1, *undel, *ptext, *paudio;
    void *scratch;
    const sn_lm_half *half;
    uint64_t rng[SONO_LM_MAX_OUTPUTS];
    int64_t base[SONO_LM_MAX_OUTPUTS]; /* frames of earlier pieces */
    tts_out out[SONO_LM_MAX_OUTPUTS];
} tts_run;

/* Decide output i's next position from its logits l [K][Va]: a step (fed
 * as audio) or the next phoneme's token. 0 or on_frame's value. */
/* Decide output i's next position from its logits l [K][Va]: an audio
 * step (fed as audio, a completed frame to on_frame) or, at the end of a
 * phoneme, the next phoneme's token. 0 or on_frame's value. */
static int tts_decide(tts_run *r, int i, const tts_piece *pc, float *l, const sn_lm_sampling *sp,
                      sono_lm_frame_fn on_frame, void *user) {
    const int K = r->K, cb = r->cb, Va = r->Va;
    tts_out *o = &r->out[i];
    int32_t *row = o->grid + (size_t)o->s * K;
    int32_t v0;
    if (o->s_end >= 0) v0 = sn_lm_delay_forced((int)o->s, 0, (int)o->s_end, cb);
    else if (o->nf >= pc->cap[o->j] || o->s >= pc->F_cap) v0 = cb + 1; /* a cap */
    else {
        l[cb] = -INFINITY;                       /* <empty> is never the model's choice */
        if (o->nf == 0) l[cb + 1] = -INFINITY;   /* every phoneme has a frame */
        v0 = sn_lm_sample(l, Va, sp, &r->rng[i], r->scratch);
    }
    if (o->s_end < 0 && v0 == cb + 1 && o->j + 1 < pc->n && o->s < pc->F_cap) { /* end of phoneme: the next one's token */
        o->j++;
        o->nf = 0;
        r->text1[i] = pc->ids[o->j];
        return 0;
    }
    row[0] = v0;
    if (o->s_end < 0 && v0 == cb + 1) o->s_end = o->s;
    else if (o->s_end < 0) o->nf++;
    for (int k = 1; k < K; k++) {
        int32_t v = sn_lm_delay_forced((int)o->s, k, (int)o->s_end, cb);
        if (v < 0) {
            float *lk = l + (size_t)k * Va;
            lk[cb] = lk[cb + 1] = -INFINITY;
            v = sn_lm_sample(lk, Va, sp, &r->rng[i], r->scratch);
        }
        row[k] = v;
    }
    r->text1[i] = -1;
    memcpy(r->audio1 + (size_t)i * K, row, sizeof(int32_t) * (size_t)K);
    int64_t s = o->s++, f = s - (K - 1); /* the frame this step completes */
    if (f >= 0 && (o->s_end < 0 || f < o->s_end)) {
        int32_t fc[32];
        for (int k = 0; k < K; k++) fc[k] = o->grid[(size_t)(f + k) * K + k];
        int rc = on_frame ? on_frame(user, i, r->base[i] + f, fc) : 0;
        if (rc) return rc;
    }
    if (o->s_end >= 0 && s >= o->s_end + K - 2) o->done = 1;
    return 0;
}

/* One piece for every output, appended to codes. */
static int tts_piece_run(const sono_lm *lm, const sono_lm_generate_params *p, const sn_lm_tts_plan *tp, const tts_piece *pc,
                         tts_run *r, sono_lm_frame_fn on_frame, void *user, int32_t *codes, int64_t F_max) {
    const sn_lm *m = lm->m;
    const int K = r->K, n = r->n, Lp = 5 + pc->n;
    const int T_cap = (int)(4 + 2 * pc->n + pc->F_cap + K);
    sn_lm_cache *pre = NULL, *kv = NULL;
    int rc = sn_lm_cache_new(m, 1, Lp, 16, &pre);
    if (!rc) rc = sn_lm_cache_new(m, n, T_cap, 1, &kv);
    if (rc) goto done;
    int j = 0;
    r->ptext[j++] = SONO_TOK_TASK_TTS;
    r->ptext[j++] = tp->lang_id;
    r->ptext[j++] = tp->voice_id;
    for (int q = 0; q < pc->n; q++) r->ptext[j++] = pc->ids[q];
    r->ptext[j++] = SONO_TOK_SEP;
    r->ptext[j++] = pc->ids[0];
    if ((rc = sn_lm_step(m, pre, r->ptext, r->paudio, Lp, r->plogits, r->nt))) goto done;
    int from[SONO_LM_MAX_OUTPUTS] = {0};
    if ((rc = sn_lm_cache_fork(kv, pre, from, m))) goto done;
    kv->half = r->half;
    for (int i = 0; i < n; i++) {
        tts_out *o = &r->out[i];
        o->s = 0, o->s_end = -1, o->j = 0, o->nf = 0, o->done = 0;
    }
    sn_lm_sampling sp = {.temperature = p->temperature, .top_k = p->top_k, .top_p = p->top_p};
    for (int first = 1;; first = 0) {
        int n_live = 0;
        for (int i = 0; i < n; i++) {
            if (r->out[i].done) { /* its row still runs: feed padding */
                r->text1[i] = SONO_TOK_PAD;
                continue;
            }
            memcpy(r->mix, first ? r->plogits : r->logits + (size_t)i * K * r->Va, sizeof(float) * (size_t)K * r->Va);
            if ((rc = tts_decide(r, i, pc, r->mix, &sp, on_frame, user))) goto done;
            n_live += !r->out[i].done;
        }
        if (!n_live) break;
        sn_kern_set_threads(1); /* the callback may have run the codec, which sets its own */
        if ((rc = sn_lm_step(m, kv, r->text1, r->audio1, 1, r->logits, r->nt))) goto done;
    }
    for (int i = 0; i < n; i++) {
        tts_out *o = &r->out[i];
        int64_t F = sn_lm_undelay(r->undel, (int)tp->F_cap_max, o->grid, (int)(o->s_end + K - 1), K, r->cb);
        if (codes)
            for (int k = 0; k < K; k++)
                memcpy(codes + ((size_t)i * K + k) * F_max + r->base[i], r->undel + (size_t)k * tp->F_cap_max,
                       sizeof(int32_t) * (size_t)F);
        r->base[i] += F;
    }
done:
    sn_lm_cache_free(pre);
    sn_lm_cache_free(kv);
    return rc;
}

int sn_lm_tts_run(const sono_lm *lm, const sono_lm_generate_params *p, const sn_lm_tts_plan *tp,
                  sono_lm_frame_fn on_frame, void *user, int32_t *codes, int64_t *n_frames) {
    const sn_lm_config *cf = &lm->m->cfg;
    tts_run r;
    memset(&r, 0, sizeof r);
    r.K = cf->K, r.cb = cf->codebook_size, r.Va = sn_lm_v_audio(cf), r.n = p->n_outputs, r.nt = p->n_threads;
    const int K = r.K, Va = r.Va, n = r.n, Lmax = 5 + tp->n_max;
    int blas_threads = sn_kern_set_threads(1); /* the same bits on any n_threads (lm_model.h) */
    sn_lm_half *half = NULL;
    r.plogits = malloc(sizeof(float) * (size_t)K * Va);
    r.logits = malloc(sizeof(float) * (size_t)n * K * Va);
    r.mix = malloc(sizeof(float) * (size_t)K * Va);
    r.text1 = malloc(sizeof(int32_t) * (size_t)n);
    r.audio1 = calloc((size_t)n * K, sizeof(int32_t));
    r.undel = malloc(sizeof(int32_t) * (size_t)K * tp->F_cap_max);
    r.ptext = malloc(sizeof(int32_t) * (size_t)Lmax);
    r.paudio = calloc((size_t)Lmax * K, sizeof(int32_t));
    r.scratch = malloc(sn_lm_sample_scratch_bytes(Va));
    int ok = r.plogits && r.logits && r.mix && r.text1 && r.audio1 && r.undel && r.ptext && r.paudio && r.scratch;
    for (int i = 0; ok && i < n; i++) {
        r.rng[i] = sn_lm_output_seed(p->seed, i);
        ok = (r.out[i].grid = malloc(sizeof(int32_t) * (size_t)(tp->F_cap_max + K) * K)) != NULL;
    }
    int rc = ok ? 0 : sn_fail(SONO_E_NOMEM, "generate: out of memory");
    if (!rc && p->half_weights && !(rc = sn_lm_half_new(lm->m, r.nt, &half))) r.half = half;
    for (int q = 0; !rc && q < tp->n_pieces; q++)
        rc = tts_piece_run(lm, p, tp, &tp->pc[q], &r, on_frame, user, codes, tp->F_total);
    if (!rc && n_frames)
        for (int i = 0; i < n; i++) n_frames[i] = r.base[i];
    sn_kern_set_threads(blas_threads);
    sn_lm_half_free(half);
    for (int i = 0; i < n; i++) free(r.out[i].grid);
    free(r.plogits); free(r.logits); free(r.mix); free(r.text1); free(r.audio1); free(r.undel);
    free(r.ptext); free(r.paudio); free(r.scratch);
    return rc;
}
