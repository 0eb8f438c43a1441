/* Generation (sonotok/lm.h: sono_lm_generate): the prefix the trainer
 * builds ([task] [caption] [<sep>] [prompt steps]) is run once through a
 * small cache (the conditioned sequence and, with CFG, the unconditioned one
 * left-padded to its length), copied into the rows of every output, then
 * one batched step per position: mix, force or sample K ids per output,
 * hand each completed frame to the callback, feed the step back.
 *
 * Bits: the prefill runs at the same batch for any n_outputs and the steps
 * keep each row's results independent of the batch (lm_cache.h), OpenBLAS
 * runs one thread during the model's calls, sampling is single-threaded
 * from one stream per output: output i is the same for any n_outputs and
 * any n_threads. With half_weights the steps (not the prefill) read
 * float16 copies of the matrices (sn_lm_half, lm_cache.h), made here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "lm_cache.h"
#include "lm_delay.h"
#include "lm_file.h"
#include "lm_generate_tts.h"
#include "lm_sample.h"
#include "sono_internal.h"

sono_lm_generate_params sono_lm_generate_default_params(void) {
    sono_lm_generate_params p;
    memset(&p, 0, sizeof p);
    p.task = SONO_LM_TASK_CONTINUE;
    p.temperature = 1.0f;
    p.top_k = 250;
    p.top_p = 1.0f;
    p.cfg = 3.0f;
    p.seed = 1;
    p.n_outputs = 1;
    p.n_threads = 1;
    return p;
}

/* The checked parameters and the sizes of one generation. */
typedef struct {
    int K, cb, Va, n, B;    /* codebooks, codes per codebook, classes per head, outputs, rows */
    int use_cfg;
    int32_t *ids;           /* caption ids [n_ids] */
    int n_ids;
    int L;                  /* prefix positions: [task] [ids] [<sep>] (the unconditioned one padded to it) */
    int64_t Fp;             /* prompt frames */
    int64_t F_max;          /* most new frames per output */
    int64_t S_cap;          /* steps a grid can hold */
    int T_cap;              /* positions the cache needs */
    sn_lm_tts_plan *tts;    /* task tts: its own plan (lm_generate_tts.h), the rest unused but K, n, F_max */
} gen_plan;

static int plan_make(const sono_lm *lm, const sono_lm_generate_params *p, gen_plan *g) {
    memset(g, 0, sizeof *g);
    const sn_lm_config *cf = &lm->m->cfg;
    g->K = cf->K;
    g->cb = cf->codebook_size;
    g->Va = sn_lm_v_audio(cf);
    if (p->task != SONO_LM_TASK_CONTINUE && p->task != SONO_LM_TASK_TTA && p->task != SONO_LM_TASK_TTS)
        return sn_fail(SONO_E_ARG, "generate: unknown task %d", p->task);
    size_t n_bytes = p->text ? strlen(p->text) : 0;
    if (p->task == SONO_LM_TASK_TTA && n_bytes == 0) return sn_fail(SONO_E_ARG, "generate: the tta task needs a caption");
    if (p->task == SONO_LM_TASK_CONTINUE && n_bytes > 0)
        return sn_fail(SONO_E_ARG, "generate: the continue task takes no caption (tta takes one, and a prompt too)");
    if (p->n_outputs < 1 || p->n_outputs > SONO_LM_MAX_OUTPUTS)
        return sn_fail(SONO_E_ARG, "generate: %d outputs (1 to %d)", p->n_outputs, SONO_LM_MAX_OUTPUTS);
    if (p->n_threads < 1) return sn_fail(SONO_E_ARG, "generate: %d threads", p->n_threads);
    if (p->half_weights != 0 && p->half_weights != 1)
        return sn_fail(SONO_E_ARG, "generate: half_weights %d (0 or 1)", p->half_weights);
    if (!isfinite(p->temperature) || p->top_k < 0 || !(p->top_p > 0 && p->top_p <= 1) || !isfinite(p->cfg))
        return sn_fail(SONO_E_ARG, "generate: temperature %g, top-k %d, top-p %g or cfg %g out of range",
                       (double)p->temperature, p->top_k, (double)p->top_p, (double)p->cfg);
    if (p->max_frames < 0 || p->min_frames < 0 || p->n_prompt_frames < 0 || (p->n_prompt_frames > 0 && !p->prompt))
        return sn_fail(SONO_E_ARG, "generate: negative frame counts, or prompt frames without codes");
    if (p->task == SONO_LM_TASK_TTS) {
        int rc = sn_lm_tts_plan_new(lm, p, &g->tts);
        g->n = p->n_outputs;
        if (!rc) g->F_max = sn_lm_tts_plan_frames(g->tts);
        return rc;
    }
    g->Fp = p->n_prompt_frames;
    if (g->Fp > cf->T_max)
        return sn_fail(SONO_E_LIMIT, "generate: a prompt of %lld frames passes the context of %d positions",
                       (long long)g->Fp, cf->T_max);
    for (int64_t i = 0; i < (int64_t)g->K * g->Fp; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= g->cb)
            return sn_fail(SONO_E_RANGE, "generate: prompt code %d of codebook %d at frame %lld outside 0..%d",
                           (int)p->prompt[i], (int)(i / g->Fp), (long long)(i % g->Fp), g->cb - 1);
    if (n_bytes > 0) {
        if (!(g->ids = malloc(sizeof(int32_t) * (n_bytes + 1)))) return sn_fail(SONO_E_NOMEM, "out of memory");
        int64_t n = sono_tokenizer_encode(lm->tok, p->text, n_bytes, g->ids, (int64_t)n_bytes + 1);
        if (n < 0) return (int)n;
        if (n > cf->T_max / 2) /* training keeps at most half the context of a caption */
            return sn_fail(SONO_E_LIMIT, "generate: the caption is %lld tokens; this model reads at most %d (half its context)",
                           (long long)n, cf->T_max / 2);
        g->n_ids = (int)n;
    }
    g->use_cfg = g->n_ids > 0 && p->cfg != 1.0f;
    g->n = p->n_outputs;
    g->B = g->n * (g->use_cfg ? 2 : 1);
    g->L = 2 + g->n_ids;
    /* deciding step s needs L + s positions; the last free slot of F new
     * frames is at step Fp + F + K - 2 (codebook K - 1 of the last frame),
     * and with one codebook the step of the cap's <end-audio> (Fp + F) is
     * reached through the model too */
    const int tail = g->K > 2 ? g->K - 2 : 0;
    int64_t room = (int64_t)cf->T_max - g->L - g->Fp - tail;
    if (room < 1)
        return sn_fail(SONO_E_LIMIT, "generate: a prompt of %lld frames and %d caption tokens leave no room in the context of %d positions",
                       (long long)g->Fp, g->n_ids, cf->T_max);
    if (p->max_frames > room)
        return sn_fail(SONO_E_LIMIT, "generate: %lld frames do not fit the context: it holds %lld after this prompt and caption",
                       (long long)p->max_frames, (long long)room);
    g->F_max = p->max_frames > 0 ? p->max_frames : room;
    if (p->min_frames > g->F_max)
        return sn_fail(SONO_E_ARG, "generate: at least %lld frames asked, at most %lld", (long long)p->min_frames,
                       (long long)g->F_max);
    g->S_cap = g->Fp + g->F_max + g->K;
    g->T_cap = (int)(g->L + g->Fp + g->F_max + tail);
    return 0;
}

int64_t sono_lm_generate_max_frames(const sono_lm *lm, const sono_lm_generate_params *p) {
    gen_plan g = {0};
    int rc = lm && p ? plan_make(lm, p, &g) : sn_fail(SONO_E_ARG, "generate: no model or parameters");
    free(g.ids);
    sn_lm_tts_plan_free(g.tts);
    return rc < 0 ? rc : g.F_max;
}

/* One output's state. */
typedef struct {
    int32_t *grid;   /* [S_cap][K] every step so far, the prompt's included */
    int64_t s_end;   /* step of codebook 0's <end-audio>, -1 while none */
    int64_t n_new;   /* new frames handed to the callback */
    int done;
    uint64_t rng;
} gen_out;

/* The value step s must hold in codebook k, or -1 when it is the model's
 * choice: the prompt's codes, then the delay pattern's forced slots. */
static int32_t forced_at(const gen_plan *g, const sono_lm_generate_params *p, const gen_out *o, int64_t s, int k) {
    int64_t f = s - k;
    if (f >= 0 && f < g->Fp) return p->prompt[(size_t)k * g->Fp + f];
    if (k == 0 && o->s_end < 0 && f - g->Fp >= g->F_max) return g->cb + 1; /* the frame cap */
    return sn_lm_delay_forced((int)s, k, (int)o->s_end, g->cb);
}

/* Decide step s of output o from its (mixed) logits [K][Va]: forced slots
 * as they must be, free ones sampled among the codes (codebook 0 also
 * <end-audio>, once min_frames new frames are there). */
static void decide_step(const gen_plan *g, const sono_lm_generate_params *p, const sn_lm_sampling *sp, gen_out *o,
                        int64_t s, float *logits, void *scratch) {
    int32_t *row = o->grid + (size_t)s * g->K;
    for (int k = 0; k < g->K; k++) {
        int32_t v = forced_at(g, p, o, s, k);
        if (v < 0) {
            float *l = logits + (size_t)k * g->Va;
            l[g->cb] = -INFINITY; /* <empty> is never the model's choice */
            if (k > 0 || s - g->Fp < p->min_frames) l[g->cb + 1] = -INFINITY;
            v = sn_lm_sample(l, g->Va, sp, &o->rng, scratch);
        }
        row[k] = v;
        if (k == 0 && v == g->cb + 1 && o->s_end < 0) o->s_end = s;
    }
}

int sono_lm_generate(const sono_lm *lm, const sono_lm_generate_params *p, sono_lm_frame_fn on_frame, void *user,
                     int32_t *codes, int64_t *n_frames) {
    gen_plan g = {0};
    int rc = lm && p ? plan_make(lm, p, &g) : sn_fail(SONO_E_ARG, "generate: no model or parameters");
    if (rc || g.tts) {
        if (!rc) rc = sn_lm_tts_run(lm, p, g.tts, on_frame, user, codes, n_frames);
        sn_lm_tts_plan_free(g.tts);
        free(g.ids);
        return rc;
    }
    const sn_lm *m = lm->m;
    const int K = g.K, Va = g.Va, n = g.n, B = g.B, Bp = g.use_cfg ? 2 : 1, nt = p->n_threads;
    const int P = (int)(g.L + g.Fp); /* prefill positions */
    int blas_threads = sn_kern_set_threads(1); /* the same bits on any n_threads (lm_model.h) */
    sn_lm_cache *pre = NULL, *kv = NULL;
    sn_lm_half *half = NULL;
    gen_out out[SONO_LM_MAX_OUTPUTS];
    memset(out, 0, sizeof out);
    int32_t *ptext = malloc(sizeof(int32_t) * (size_t)Bp * P), *paudio = calloc((size_t)Bp * P * K, sizeof(int32_t));
    float *plogits = malloc(sizeof(float) * (size_t)Bp * K * Va), *logits = malloc(sizeof(float) * (size_t)B * K * Va);
    float *mix = malloc(sizeof(float) * (size_t)K * Va);
    int32_t *text1 = malloc(sizeof(int32_t) * (size_t)B), *audio1 = malloc(sizeof(int32_t) * (size_t)B * K);
    int32_t *undel = codes ? malloc(sizeof(int32_t) * (size_t)K * (g.Fp + g.F_max)) : NULL;
    void *scratch = malloc(sn_lm_sample_scratch_bytes(Va));
    int ok = ptext && paudio && plogits && logits && mix && text1 && audio1 && scratch && (!codes || undel);
    for (int i = 0; ok && i < n; i++) {
        out[i].grid = malloc(sizeof(int32_t) * (size_t)g.S_cap * K);
        out[i].s_end = -1;
        out[i].rng = sn_lm_output_seed(p->seed, i);
        ok = out[i].grid != NULL;
    }
    if (!ok) {
        rc = sn_fail(SONO_E_NOMEM, "generate: out of memory");
        goto done;
    }
    if ((rc = sn_lm_cache_new(m, Bp, P, 16, &pre)) || (rc = sn_lm_cache_new(m, B, g.T_cap, 1, &kv))) goto done;

    /* the prefix: row 0 conditioned, row 1 [task] [<uncond>] [<sep>] left-padded to its length */
    int32_t task = p->task == SONO_LM_TASK_TTA ? SONO_TOK_TASK_TTA : SONO_TOK_TASK_CONTINUE;
    for (int b = 0; b < Bp; b++) {
        int32_t *t = ptext + (size_t)b * P;
        int pad = b ? g.L - 3 : 0, j = 0;
        for (; j < pad; j++) t[j] = SONO_TOK_PAD;
        t[j++] = task;
        if (b) t[j++] = SONO_TOK_UNCOND;
        else
            for (int i = 0; i < g.n_ids; i++) t[j++] = g.ids[i];
        t[j++] = SONO_TOK_SEP;
        for (int64_t s = 0; s < g.Fp; s++, j++) {
            t[j] = -1;
            for (int k = 0; k < K; k++)
                paudio[((size_t)b * P + j) * K + k] = out[0].grid[s * K + k] = forced_at(&g, p, &out[0], s, k);
        }
        if (b && (rc = sn_lm_cache_pad(pre, 1, pad))) goto done;
    }
    for (int i = 1; i < n; i++) memcpy(out[i].grid, out[0].grid, sizeof(int32_t) * (size_t)g.Fp * K);
    if ((rc = sn_lm_step(m, pre, ptext, paudio, P, plogits, nt))) goto done;
    int from[2 * SONO_LM_MAX_OUTPUTS];
    for (int b = 0; b < B; b++) from[b] = b >= n;
    if ((rc = sn_lm_cache_fork(kv, pre, from, m))) goto done;
    sn_lm_cache_free(pre);
    pre = NULL;
    /* the prefill read float32; the steps read the float16 copies */
    if (p->half_weights && (rc = sn_lm_half_new(m, nt, &half))) goto done;
    kv->half = half;

    sn_lm_sampling sp = {.temperature = p->temperature, .top_k = p->top_k, .top_p = p->top_p};
    for (int64_t s = g.Fp;; s++) {
        int n_live = 0;
        for (int i = 0; i < n; i++) {
            gen_out *o = &out[i];
            int32_t *row = o->grid + (size_t)s * K;
            if (o->done) { /* its rows still run: feed the pattern's forced values */
                for (int k = 0; k < K; k++) row[k] = sn_lm_delay_forced((int)s, k, (int)o->s_end, g.cb);
                continue;
            }
            const float *lc = s == g.Fp ? plogits : logits + (size_t)i * K * Va;
            const float *lu = s == g.Fp ? plogits + (size_t)K * Va : logits + (size_t)(n + i) * K * Va;
            if (g.use_cfg) sn_lm_cfg_mix(mix, lc, lu, (size_t)K * Va, p->cfg);
            else memcpy(mix, lc, sizeof(float) * (size_t)K * Va);
            decide_step(&g, p, &sp, o, s, mix, scratch);
            int64_t f = s - (K - 1); /* the frame this step completes */
            if (f >= g.Fp && (o->s_end < 0 || f < o->s_end)) {
                int32_t fc[32]; /* K <= 32 (sn_lm_config_check) */
                for (int k = 0; k < K; k++) fc[k] = o->grid[(size_t)(f + k) * K + k];
                o->n_new++;
                if (on_frame && (rc = on_frame(user, i, f - g.Fp, fc))) goto done;
            }
            if (o->s_end >= 0 && s >= o->s_end + K - 2) o->done = 1;
            else n_live++;
        }
        if (!n_live) break;
        for (int b = 0; b < B; b++) {
            text1[b] = -1;
            memcpy(audio1 + (size_t)b * K, out[b % n].grid + (size_t)s * K, sizeof(int32_t) * (size_t)K);
        }
        sn_kern_set_threads(1); /* the callback may have run the codec, which sets its own */
        if ((rc = sn_lm_step(m, kv, text1, audio1, 1, logits, nt))) goto done;
    }
    /* the outputs' frames, read back from the whole grids (prompt first) */
    for (int i = 0; i < n; i++) {
        int64_t S = out[i].s_end + K - 1; /* the steps decided: the last frame's last code at s_end + K - 2 */
        int64_t F = codes ? sn_lm_undelay(undel, (int)(g.Fp + g.F_max), out[i].grid, (int)S, K, g.cb) - g.Fp
                          : out[i].n_new;
        if (codes)
            for (int k = 0; k < K; k++)
                memcpy(codes + ((size_t)i * K + k) * g.F_max, undel + (size_t)k * (g.Fp + g.F_max) + g.Fp,
                       sizeof(int32_t) * (size_t)F);
        if (n_frames) n_frames[i] = F;
    }
done:
    sn_kern_set_threads(blas_threads);
    sn_lm_cache_free(pre);
    sn_lm_cache_free(kv);
    sn_lm_half_free(half);
    for (int i = 0; i < n; i++) free(out[i].grid);
    free(g.ids);
    free(ptext);
    free(paudio);
    free(plogits);
    free(logits);
    free(mix);
    free(text1);
    free(audio1);
    free(undel);
    free(scratch);
    return rc;
}
