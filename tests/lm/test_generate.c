/* Generation (sono_lm_generate, lm/lm_generate.c) and the live codec
 * decoder it renders through, on random LMs (sono_lm_random) made for the
 * tiny test codec (tests/codec/data/tiny24.th):
 *
 *   pad      a left-padded sequence in a batched step gives the bits of the
 *            same sequence alone (rotary and learned positions), and the
 *            padding is never attended
 *   oracle   sono_lm_generate equals a plain loop written here (one cache
 *            per sequence, no batching, CFG mixed and ids forced or sampled
 *            step by step), for continue and tta, cfg 0, 1 and 3, with and
 *            without a prompt; cfg 0 ignores the caption
 *   outputs  a row of a batched step has the bits of the row alone (up to
 *            2 x SONO_LM_MAX_OUTPUTS rows), on float32 and float16 weights;
 *            output 0 of n_outputs = 3 is the output of n_outputs = 1
 *            (either precision); the
 *            codes are the same bits on 1 and 2 threads; the callback's
 *            frames, in order, are the final codes
 *   end      a model that always wants <end-audio> stops at min_frames (0
 *            included), one that never does at max_frames; a callback's
 *            error stops the generation and comes back
 *   bad      bad parameters refused with their error code
 *   tts      text to speech on a random LM with phonemes and conditions: a
 *            model that always wants <end-audio> speaks each phoneme one
 *            frame (so every phoneme came, once: frames = phonemes, piece
 *            after piece), one that never does stops at the piece caps (20
 *            per phoneme, or what the context holds); a random one ends
 *            within them, the same on 1 and 2 threads and as output 0 of
 *            3, the callback's frames are the codes; bad input (empty,
 *            nothing pronounceable, unknown language or voice, overlong
 *            text or sentence, a prompt, an LM without phonemes) refused
 *   live     the live decoder, fed in uneven pieces, gives sono_codec_decode's
 *            samples, frames x hop of them; a segmenting codec has none; a
 *            code out of range is refused
 *
 *   test-generate MODE CODEC_DATA_DIR */
#include "test_util.h"
#include "lm_cache.h"
#include "lm_delay.h"
#include "lm_file.h"
#include "lm_sample.h"
#include "kernels.h"
#include "sono_internal.h"
#include "sonotok/codec.h"
#include "sonotok/phonemes.h"
#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"

static sono_codec *g_codec;   /* tiny24: 8 kHz, hop 8, 8 codebooks of 64 */
static char g_data[512];

static sono_lm *random_lm(int K, int width, int layers, int heads, int context, uint64_t seed) {
    int err = 0;
    sono_lm *lm = sono_lm_random(g_codec, K, width, layers, heads, context, seed, &err);
    if (!lm) fprintf(stderr, "sono_lm_random: %s\n", sono_last_error());
    return lm;
}

/* A prompt of F frames of made-up codes [K][F]. */
static int32_t *make_prompt(int K, int F, int cb) {
    int32_t *p = malloc(sizeof(int32_t) * (size_t)K * (size_t)(F > 0 ? F : 1));
    for (int i = 0; i < K * F; i++) p[i] = (int32_t)(tu_rand() % (uint64_t)cb);
    return p;
}

/* ---- pad ---- */

static void test_pad(void) {
    for (int pos = 0; pos < 2; pos++) {
        sono_lm *lm = random_lm(3, 32, 2, 2, 48, 5);
        if (!lm) { CHECK(0); return; }
        sn_lm *m = lm->m;
        if (pos) { /* the same sizes with learned positions */
            sn_lm_config c = m->cfg;
            c.pos = SN_LM_POS_LEARNED;
            sn_lm *ml = NULL;
            CHECK(sn_lm_new(&c, &ml) == 0);
            sn_lm_init_params(ml, 9);
            sn_lm_free(m);
            lm->m = m = ml;
        }
        enum { K = 3, pad = 5, T = 20 };
        const int Va = sn_lm_v_audio(&m->cfg);
        /* sequence 0: [task] 6 ids [<sep>] audio...; sequence 1: 5 x <pad>, [task] [<uncond>] [<sep>] audio... */
        int32_t text[2 * T], audio[2 * T * 3], one[T], one_a[T * 3];
        for (int t = 0; t < T; t++)
            for (int b = 0; b < 2; b++) {
                int u = t - (b ? pad : 0);
                int32_t v = -1;
                if (b && t < pad) v = SONO_TOK_PAD;
                else if (u == 0) v = SONO_TOK_TASK_TTA;
                else if (u == 1 && b) v = SONO_TOK_UNCOND;
                else if ((b && u == 2) || (!b && u == 7)) v = SONO_TOK_SEP;
                else if (!b && u < 7) v = 40 + u;
                text[b * T + t] = v;
                for (int k = 0; k < K; k++) audio[(b * T + t) * K + k] = v >= 0 ? 0 : (int32_t)((t * 7 + k * 3 + b) % 64);
            }
        for (int t = 0; t < T - pad; t++) {
            one[t] = text[T + pad + t];
            for (int k = 0; k < K; k++) one_a[t * K + k] = audio[(T + pad + t) * K + k];
        }
        /* position by position: the padded row's logits equal the sequence alone, bit for bit */
        sn_lm_cache *two = NULL, *alone = NULL;
        CHECK(sn_lm_cache_new(m, 2, T, 1, &two) == 0 && sn_lm_cache_new(m, 1, T, 1, &alone) == 0);
        CHECK(sn_lm_cache_pad(two, 1, pad) == 0);
        float lg2[2 * 3 * 66], lg1[3 * 66];
        int same = 1, steps = 0;
        for (int t = 0; t < T; t++) {
            int32_t tt[2] = {text[t], text[T + t]}, aa[6];
            for (int k = 0; k < K; k++) aa[k] = audio[t * K + k], aa[K + k] = audio[(T + t) * K + k];
            CHECK(sn_lm_step(m, two, tt, aa, 1, lg2, 1) == 0);
            if (t < pad) continue;
            CHECK(sn_lm_step(m, alone, one + t - pad, one_a + (t - pad) * K, 1, lg1, 1) == 0);
            same &= !memcmp(lg2 + K * Va, lg1, sizeof(float) * (size_t)K * Va);
            steps++;
        }
        CHECK_MSG(same, "%s positions: padded sequence differs from the sequence alone",
                  pos ? "learned" : "rotary");
        /* in one prefill of chunks (sgemm): the same within rounding */
        sn_lm_cache *chunked = NULL;
        CHECK(sn_lm_cache_new(m, 2, T, 16, &chunked) == 0 && sn_lm_cache_pad(chunked, 1, pad) == 0);
        CHECK(sn_lm_step(m, chunked, text, audio, T, lg2, 1) == 0);
        double d = tu_maxdiff(lg2 + K * Va, lg1, (size_t)K * Va, pos ? "chunked padded prefill (learned)" : "chunked padded prefill (rotary)");
        CHECK(d < 1e-4);
        /* the padding matters to the unpadded: without it the logits move */
        sn_lm_cache_reset(chunked);
        CHECK(sn_lm_step(m, chunked, text, audio, T, lg2, 1) == 0);
        CHECK_MSG(tu_maxdiff(lg2 + K * Va, lg1, (size_t)K * Va, NULL) > 1e-3, "padding left out makes no difference?");
        CHECK(steps == T - pad);
        sn_lm_cache_free(two);
        sn_lm_cache_free(alone);
        sn_lm_cache_free(chunked);
        sono_lm_free(lm);
    }
}

/* ---- oracle ---- */

/* The generation of output i written plainly: the prefix of the trainer
 * ([task] [ids] [<sep>] [prompt steps], the unconditioned one
 * [task] [<uncond>] [<sep>] ...) through the same padded prefill, then one
 * cache per sequence, one step each, mixed, forced or sampled. Frames
 * [K][F_cap] into codes; returns the new frame count. */
static int64_t oracle(const sono_lm *lm, const sono_lm_generate_params *p, int i, int32_t *codes, int64_t F_cap) {
    const sn_lm *m = lm->m;
    const int K = m->cfg.K, cb = m->cfg.codebook_size, Va = cb + 2;
    const int64_t Fp = p->n_prompt_frames;
    int32_t ids[256];
    int n_ids = p->text ? (int)sono_tokenizer_encode(lm->tok, p->text, strlen(p->text), ids, 256) : 0;
    int cfg = n_ids > 0 && p->cfg != 1.0f, L = 2 + n_ids, P = (int)(L + Fp), T = m->cfg.T_max;
    int64_t room = T - L - Fp - (K > 2 ? K - 2 : 0), F_max = p->max_frames ? p->max_frames : room;
    int32_t *grid = calloc((size_t)(Fp + F_max + K) * K, sizeof(int32_t));
    int32_t *pt = malloc(sizeof(int32_t) * 2 * (size_t)P), *pa = calloc(2 * (size_t)P * K, sizeof(int32_t));
    for (int b = 0; b < (cfg ? 2 : 1); b++) {
        int j = 0, pad = b ? L - 3 : 0;
        for (; j < pad; j++) pt[b * P + j] = SONO_TOK_PAD;
        pt[b * P + j++] = p->task == SONO_LM_TASK_TTA ? SONO_TOK_TASK_TTA : SONO_TOK_TASK_CONTINUE;
        if (b) pt[b * P + j++] = SONO_TOK_UNCOND;
        for (int t = 0; !b && t < n_ids; t++) pt[b * P + j++] = ids[t];
        pt[b * P + j++] = SONO_TOK_SEP;
        for (int64_t s = 0; s < Fp; s++, j++) {
            pt[b * P + j] = -1;
            for (int k = 0; k < K; k++) {
                int32_t v = s - k < 0 ? cb : p->prompt[k * Fp + s - k];
                pa[((size_t)b * P + j) * K + k] = grid[s * K + k] = v;
            }
        }
    }
    sn_lm_cache *pre = NULL, *c1 = NULL, *c2 = NULL;
    int Bp = cfg ? 2 : 1, T_cap = (int)(L + Fp + F_max + K);
    if (T_cap > T) T_cap = T;
    float *lp = malloc(sizeof(float) * 2 * K * Va), *lc = malloc(sizeof(float) * K * Va), *lu = malloc(sizeof(float) * K * Va);
    float *mix = malloc(sizeof(float) * K * Va);
    void *scr = malloc(sn_lm_sample_scratch_bytes(Va));
    sn_lm_cache_new(m, Bp, P, 16, &pre);
    if (cfg) sn_lm_cache_pad(pre, 1, L - 3);
    sn_lm_step(m, pre, pt, pa, P, lp, 1);
    sn_lm_cache_new(m, 1, T_cap, 1, &c1);
    sn_lm_cache_new(m, 1, T_cap, 1, &c2);
    int from0 = 0, from1 = 1;
    sn_lm_cache_fork(c1, pre, &from0, m);
    if (cfg) sn_lm_cache_fork(c2, pre, &from1, m);
    memcpy(lc, lp, sizeof(float) * K * Va);
    memcpy(lu, lp + (cfg ? K * Va : 0), sizeof(float) * K * Va);
    sn_lm_sampling sp = {p->temperature, p->top_k, p->top_p};
    uint64_t rng = sn_lm_output_seed(p->seed, i);
    int64_t s_end = -1;
    for (int64_t s = Fp;; s++) {
        for (int j = 0; j < K * Va; j++) mix[j] = cfg ? lu[j] + p->cfg * (lc[j] - lu[j]) : lc[j];
        for (int k = 0; k < K; k++) {
            int64_t f = s - k;
            int32_t v = -1;
            if (f < 0) v = cb;
            else if (f < Fp) v = p->prompt[k * Fp + f];
            else if (s_end >= 0) v = f == s_end ? cb + 1 : f > s_end ? cb : -1;
            else if (k == 0 && f - Fp >= F_max) v = cb + 1;
            if (v < 0) {
                float *l = mix + k * Va;
                l[cb] = -INFINITY;
                if (k > 0 || s - Fp < p->min_frames) l[cb + 1] = -INFINITY;
                v = sn_lm_sample(l, Va, &sp, &rng, scr);
            }
            grid[s * K + k] = v;
            if (k == 0 && v == cb + 1 && s_end < 0) s_end = s;
        }
        if (s_end >= 0 && s >= s_end + K - 2) break;
        int32_t t1 = -1;
        sn_lm_step(m, c1, &t1, grid + s * K, 1, lc, 1);
        if (cfg) sn_lm_step(m, c2, &t1, grid + s * K, 1, lu, 1);
    }
    int64_t F = s_end - Fp;
    for (int64_t f = 0; f < F && f < F_cap; f++)
        for (int k = 0; k < K; k++) codes[k * F_cap + f] = grid[(Fp + f + k) * K + k];
    sn_lm_cache_free(pre);
    sn_lm_cache_free(c1);
    sn_lm_cache_free(c2);
    free(grid), free(pt), free(pa), free(lp), free(lc), free(lu), free(mix), free(scr);
    return F;
}

/* Output i of a generation ([n][K][F] codes, counts) against the oracle. */
static int matches_oracle(const sono_lm *lm, const sono_lm_generate_params *p, const int32_t *codes,
                          const int64_t *n_frames, int64_t F, int i) {
    int K = sono_lm_n_codebooks(lm);
    int32_t *o = calloc((size_t)K * F, sizeof(int32_t));
    int64_t Fo = oracle(lm, p, i, o, F);
    int same = Fo == n_frames[i];
    for (int k = 0; same && k < K; k++) same = !memcmp(o + k * F, codes + ((size_t)i * K + k) * F, sizeof(int32_t) * Fo);
    if (!same) fprintf(stderr, "  output %d: %lld frames, oracle %lld\n", i, (long long)n_frames[i], (long long)Fo);
    free(o);
    return same;
}

static void test_oracle(void) {
    sono_lm *lm = random_lm(3, 32, 2, 2, 64, 11);
    if (!lm) { CHECK(0); return; }
    const int K = 3;
    int32_t *prompt = make_prompt(K, 6, 64);
    const char *caption = "a dog barks";
    struct { int task; int with_prompt; float cfg; } cases[] = {
        {SONO_LM_TASK_CONTINUE, 1, 3}, {SONO_LM_TASK_CONTINUE, 0, 3}, {SONO_LM_TASK_TTA, 0, 3},
        {SONO_LM_TASK_TTA, 1, 3}, {SONO_LM_TASK_TTA, 1, 0}, {SONO_LM_TASK_TTA, 0, 1}, {SONO_LM_TASK_TTA, 1, 1.5f},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sono_lm_generate_params p = sono_lm_generate_default_params();
        p.task = cases[c].task;
        p.text = p.task == SONO_LM_TASK_TTA ? caption : NULL;
        p.prompt = cases[c].with_prompt ? prompt : NULL;
        p.n_prompt_frames = cases[c].with_prompt ? 6 : 0;
        p.cfg = cases[c].cfg;
        p.top_k = 20;
        p.max_frames = 30;
        p.min_frames = c % 2 ? 0 : 10;
        p.n_outputs = 2;
        p.seed = 100 + c;
        int64_t F = sono_lm_generate_max_frames(lm, &p), n_frames[2];
        CHECK(F == 30);
        int32_t *codes = calloc((size_t)2 * K * F, sizeof(int32_t));
        CHECK_MSG(sono_lm_generate(lm, &p, NULL, NULL, codes, n_frames) == 0, "%s", sono_last_error());
        for (int i = 0; i < 2; i++)
            CHECK_MSG(matches_oracle(lm, &p, codes, n_frames, F, i), "case %zu (task %d, prompt %d, cfg %g), output %d",
                      c, p.task, cases[c].with_prompt, (double)p.cfg, i);
        printf("case %zu: %lld and %lld frames\n", c, (long long)n_frames[0], (long long)n_frames[1]);
        free(codes);
    }
    /* cfg 0 samples from the unconditioned sequence alone: the caption does not matter */
    sono_lm_generate_params p = sono_lm_generate_default_params();
    p.task = SONO_LM_TASK_TTA;
    p.cfg = 0;
    p.max_frames = p.min_frames = 20;
    int32_t a[3 * 20], b[3 * 20];
    p.text = "a dog barks";
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, a, NULL) == 0);
    p.text = "rain on a tin roof, far away";
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, b, NULL) == 0);
    CHECK_MSG(!memcmp(a, b, sizeof a), "cfg 0 depends on the caption");
    p.cfg = 3; /* and with guidance it does */
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, b, NULL) == 0);
    CHECK_MSG(memcmp(a, b, sizeof a), "cfg 3 ignores the caption");
    free(prompt);
    sono_lm_free(lm);
}

/* ---- outputs, threads, callback ---- */

typedef struct {
    int K;
    int64_t F;
    int32_t *codes;     /* [n][K][F] as the callback saw them */
    int64_t next[8];    /* next frame expected per output */
    int in_order;
    int stop_after;     /* > 0: return SONO_E_IO at that many calls */
    int calls;
} cb_rec;

static int record(void *user, int output, int64_t frame, const int32_t *codes) {
    cb_rec *r = user;
    r->calls++;
    if (r->stop_after && r->calls >= r->stop_after) return SONO_E_IO;
    if (output < 0 || output >= 8 || frame != r->next[output] || frame >= r->F) {
        r->in_order = 0;
        return 0;
    }
    r->next[output]++;
    for (int k = 0; k < r->K; k++) r->codes[((size_t)output * r->K + k) * r->F + frame] = codes[k];
    return 0;
}

/* One step of B copies of a sequence gives each row the bits of the
 * sequence alone, for every B a generation uses (the guarantee behind
 * n_outputs; sampling alone would rarely show a difference). */
static void check_rows_alone(const sn_lm *m) {
    const int K = m->cfg.K, Va = sn_lm_v_audio(&m->cfg), P = 12;
    int32_t text[16 * 12], audio[16 * 12 * 3];
    float *lg = malloc(sizeof(float) * 16 * K * Va), *one = malloc(sizeof(float) * K * Va);
    int blas = sn_kern_set_threads(1); /* as sono_lm_generate runs the model */
    sn_lm_half *h = NULL;
    CHECK(sn_lm_half_new(m, 2, &h) == 0);
    for (int half = 0; half < 2; half++)
    for (int B = 1; B <= 2 * SONO_LM_MAX_OUTPUTS; B++) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < P; t++) {
                text[b * P + t] = t < 3 ? 20 + t : -1;
                for (int k = 0; k < K; k++) audio[(b * P + t) * K + k] = t < 3 ? 0 : (t * 5 + k) % 64;
            }
        sn_lm_cache *c = NULL;
        CHECK(sn_lm_cache_new(m, B, P + 1, 16, &c) == 0);
        int from[16] = {0};
        sn_lm_cache *pre = NULL; /* the prefix once, forked into B rows, as the generator does */
        CHECK(sn_lm_cache_new(m, 1, P, 16, &pre) == 0);
        CHECK(sn_lm_step(m, pre, text, audio, P, lg, 1) == 0);
        CHECK(sn_lm_cache_fork(c, pre, from, m) == 0);
        c->half = half ? h : NULL; /* the steps on float16 weights, as half_weights does */
        int32_t t1[16], a1[16 * 3];
        for (int b = 0; b < B; b++) {
            t1[b] = -1;
            for (int k = 0; k < K; k++) a1[b * K + k] = (7 + k) % 64;
        }
        CHECK(sn_lm_step(m, c, t1, a1, 1, lg, 2) == 0);
        if (B == 1) memcpy(one, lg, sizeof(float) * K * Va);
        int same = 1;
        for (int b = 0; b < B; b++) same &= !memcmp(lg + (size_t)b * K * Va, one, sizeof(float) * K * Va);
        CHECK_MSG(same, "a step of %d rows differs from a step of one (%s weights)", B, half ? "float16" : "float32");
        sn_lm_cache_free(pre);
        sn_lm_cache_free(c);
    }
    sn_kern_set_threads(blas);
    sn_lm_half_free(h);
    free(lg);
    free(one);
}

static void test_outputs(void) {
    /* wide enough (C 512) that the matmuls and the attention run on 2 threads */
    sono_lm *lm = random_lm(3, 512, 1, 8, 64, 21);
    if (!lm) { CHECK(0); return; }
    const int K = 3;
    check_rows_alone(lm->m);
    int32_t *prompt = make_prompt(K, 8, 64);
    for (int half = 0; half < 2; half++)
    for (int cfg = 0; cfg < 2; cfg++) {
        sono_lm_generate_params p = sono_lm_generate_default_params();
        p.half_weights = half;
        p.task = cfg ? SONO_LM_TASK_TTA : SONO_LM_TASK_CONTINUE;
        p.text = cfg ? "a high beep" : NULL;
        p.prompt = prompt;
        p.n_prompt_frames = 8;
        p.max_frames = 24;
        p.top_k = 0;
        p.top_p = 0.95f;
        p.seed = 7;
        const int64_t F = 24;
        int32_t *one = calloc((size_t)K * F, sizeof(int32_t)), *three = calloc((size_t)3 * K * F, sizeof(int32_t)),
                *three2 = calloc((size_t)3 * K * F, sizeof(int32_t)), *seen = calloc((size_t)3 * K * F, sizeof(int32_t));
        int64_t n1[1], n3[3], n3b[3];
        p.n_outputs = 1;
        CHECK(sono_lm_generate(lm, &p, NULL, NULL, one, n1) == 0);
        p.n_outputs = 3;
        cb_rec r = {.K = K, .F = F, .codes = seen, .in_order = 1};
        CHECK(sono_lm_generate(lm, &p, record, &r, three, n3) == 0);
        CHECK_MSG(n1[0] == n3[0] && !memcmp(one, three, sizeof(int32_t) * (size_t)K * F),
                  "%s: output 0 of 3 is not the output of 1", cfg ? "CFG" : "no CFG");
        CHECK_MSG(memcmp(three, three + K * F, sizeof(int32_t) * (size_t)K * F), "outputs 0 and 1 are the same");
        /* the callback: every frame of every output, in order, equal to the final codes */
        CHECK(r.in_order);
        for (int i = 0; i < 3; i++) CHECK(r.next[i] == n3[i]);
        CHECK_MSG(!memcmp(seen, three, sizeof(int32_t) * 3 * K * F), "callback frames differ from the final codes");
        /* 2 threads: the same bits */
        p.n_threads = 2;
        CHECK(sono_lm_generate(lm, &p, NULL, NULL, three2, n3b) == 0);
        CHECK_MSG(!memcmp(three, three2, sizeof(int32_t) * 3 * K * F) && !memcmp(n3, n3b, sizeof n3),
                  "%s: 2 threads differ from 1", cfg ? "CFG" : "no CFG");
        printf("%s, %s weights: frames %lld %lld %lld\n", cfg ? "CFG" : "no CFG", half ? "float16" : "float32",
               (long long)n3[0], (long long)n3[1], (long long)n3[2]);
        free(one), free(three), free(three2), free(seen);
    }
    free(prompt);
    sono_lm_free(lm);
}

/* ---- end ---- */

/* Rig lm so that codebook 0's <end-audio> logit is end_logit x (a positive
 * number) and every other logit 0: channel 0 of the residual stream holds
 * the embeddings' +1s alone (the layers never write it), the final norm
 * keeps only that channel, and only the heads' <end-audio> row reads it. */
static void rig_end(sono_lm *lm, float end_logit) {
    sn_lm *m = lm->m;
    const int C = m->cfg.C, K = m->cfg.K, Va = sn_lm_v_audio(&m->cfg), cb = m->cfg.codebook_size;
    for (int v = 0; v < m->cfg.V_text; v++) m->w.tok_emb[(size_t)v * C] = 1;
    for (int i = 0; i < K * Va; i++) m->w.audio_emb[(size_t)i * C] = 1;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        memset(m->w.layer[l].attn_proj_w, 0, sizeof(float) * (size_t)C);
        memset(m->w.layer[l].mlp_proj_w, 0, sizeof(float) * 4 * (size_t)C);
    }
    for (int i = 0; i < C; i++) m->w.lnf_w[i] = i == 0;
    memset(m->w.head_w, 0, sizeof(float) * (size_t)K * Va * C);
    m->w.head_w[(size_t)(cb + 1) * C] = end_logit;
}

static void test_end(void) {
    sono_lm *lm = random_lm(3, 32, 2, 2, 64, 31);
    if (!lm) { CHECK(0); return; }
    const int K = 3;
    int32_t *prompt = make_prompt(K, 5, 64), codes[2 * 3 * 40];
    int64_t n[2];
    sono_lm_generate_params p = sono_lm_generate_default_params();
    p.prompt = prompt;
    p.n_prompt_frames = 5;
    p.max_frames = 40;
    p.n_outputs = 2;
    rig_end(lm, 20);
    for (int mf = 0; mf <= 12; mf += 6) {
        p.min_frames = mf;
        CHECK(sono_lm_generate(lm, &p, NULL, NULL, codes, n) == 0);
        CHECK_MSG(n[0] == mf && n[1] == mf, "end wanted at once, min_frames %d: %lld and %lld frames", mf,
                  (long long)n[0], (long long)n[1]);
    }
    rig_end(lm, -20);
    p.min_frames = 0;
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, codes, n) == 0);
    CHECK_MSG(n[0] == 40 && n[1] == 40, "end never wanted: %lld and %lld frames (cap 40)", (long long)n[0], (long long)n[1]);
    p.max_frames = 0; /* what the context holds: 64 - [task] [<sep>] - 5 - K + 2 */
    int64_t F = sono_lm_generate_max_frames(lm, &p);
    CHECK(F == 64 - 2 - 5 - K + 2);
    int32_t *all = malloc(sizeof(int32_t) * 2 * K * (size_t)F);
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, all, n) == 0);
    CHECK(n[0] == F && n[1] == F);
    /* a callback's error stops it and comes back */
    cb_rec r = {.K = K, .F = F, .codes = all, .in_order = 1, .stop_after = 7};
    CHECK(sono_lm_generate(lm, &p, record, &r, all, n) == SONO_E_IO);
    CHECK(r.calls == 7);
    free(all);
    free(prompt);
    sono_lm_free(lm);
    /* one and two codebooks: the cap fills the context to its last position */
    for (int k1 = 1; k1 <= 2; k1++) {
        lm = random_lm(k1, 32, 1, 2, 40, 33);
        if (!lm) { CHECK(0); return; }
        rig_end(lm, -20);
        p = sono_lm_generate_default_params();
        p.task = SONO_LM_TASK_TTA;
        p.text = "hum";
        int64_t F1 = sono_lm_generate_max_frames(lm, &p);
        CHECK_MSG(F1 == 40 - 5, "K %d: %lld frames fit", k1, (long long)F1);
        CHECK_MSG(sono_lm_generate(lm, &p, NULL, NULL, NULL, n) == 0 && n[0] == F1, "K %d: %s", k1, sono_last_error());
        sono_lm_free(lm);
    }
}

/* ---- tts ---- */

/* A random LM that reads phonemes, with conditions lang:en, voice:a, voice:b. */
static sono_lm *random_tts_lm(int K, int context, uint64_t seed) {
    sono_lm *lm = random_lm(K, 32, 1, 2, context, seed);
    if (!lm) return NULL;
    sn_lm_config c = lm->m->cfg;
    c.V_text += sono_phoneme_n_tokens() + 3;
    sn_lm *m = NULL;
    if (sn_lm_new(&c, &m)) { sono_lm_free(lm); return NULL; }
    sn_lm_init_params(m, seed);
    sn_lm_free(lm->m);
    lm->m = m;
    lm->vocab.n_phoneme = sono_phoneme_n_tokens();
    lm->vocab.n_cond = 3;
    lm->cond = calloc(3, sizeof *lm->cond);
    const char *names[3] = {"lang:en", "voice:a", "voice:b"};
    for (int i = 0; i < 3; i++) lm->cond[i] = strdup(names[i]);
    lm->n_cond = 3;
    return lm;
}

/* Phonemes espeak-ng gives text (English). */
static int n_phonemes(const char *text) {
    int err = 0;
    sono_phonemizer *ph = sono_phonemizer_new(NULL, &err);
    sono_phoneme_seq s;
    int n = ph && sono_phonemize(ph, text, strlen(text), 0, &s) == 0 ? (int)s.n_phonemes : -1;
    if (n >= 0) sono_phoneme_seq_free(&s);
    sono_phonemizer_free(ph);
    return n;
}

static void test_tts(void) {
    enum { K = 3, T = 200 };
    sono_lm *lm = random_tts_lm(K, T, 51);
    if (!lm) { CHECK(0); return; }
    const char *one = "Hi, Bob.", *two = "Hi, Bob. The cat sat on the mat, then left.";
    const int n1 = n_phonemes(one), n2a = n_phonemes("The cat sat on the mat, then left.");
    CHECK_MSG(n1 >= 5 && n2a > n1, "phonemes %d %d", n1, n2a);
    sono_lm_generate_params p = sono_lm_generate_default_params();
    p.task = SONO_LM_TASK_TTS;
    p.text = one;
    int64_t F = sono_lm_generate_max_frames(lm, &p);
    CHECK_MSG(F == 20 * n1, "one sentence: %lld frames at most, %d phonemes (%s)", (long long)F, n1, sono_last_error());
    if (F <= 0) { sono_lm_free(lm); return; }
    int32_t *codes = malloc(sizeof(int32_t) * 3 * K * 20 * (size_t)(n1 + n2a)), *c2 = malloc(sizeof(int32_t) * 3 * K * 20 * (size_t)(n1 + n2a));
    int64_t n[3], m[3];
    /* a random model: ends within the caps; threads and outputs do not change output 0 */
    p.n_outputs = 1;
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, codes, n) == 0);
    CHECK_MSG(n[0] >= n1 && n[0] <= F, "random model: %lld frames (%d to %lld)", (long long)n[0], n1, (long long)F);
    p.n_threads = 2;
    p.n_outputs = 3;
    int64_t F3 = sono_lm_generate_max_frames(lm, &p);
    cb_rec r = {.K = K, .F = F3, .codes = c2, .in_order = 1};
    CHECK(F3 == F && sono_lm_generate(lm, &p, record, &r, NULL, m) == 0 && r.in_order);
    CHECK(m[0] == n[0] && !memcmp(codes, c2, sizeof(int32_t) * (size_t)n[0]));
    int same = m[0] == n[0];
    for (int k = 0; same && k < K; k++) same = !memcmp(codes + (size_t)k * F, c2 + (size_t)k * F3, sizeof(int32_t) * (size_t)n[0]);
    CHECK_MSG(same, "output 0 of 3 on 2 threads differs from output 0 of 1 on 1 thread");
    int32_t *c3 = malloc(sizeof(int32_t) * 3 * K * (size_t)F3);
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, c3, m) == 0);
    same = 1;
    for (int i = 0; i < 3; i++) same = same && r.next[i] == m[i];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < K; k++)
            same = same && !memcmp(c3 + ((size_t)i * K + k) * F3, c2 + ((size_t)i * K + k) * F3, sizeof(int32_t) * (size_t)m[i]);
    CHECK_MSG(same, "the callback's frames are not the codes");
    free(c3);
    p.n_threads = 1;
    p.n_outputs = 2;
    /* always <end-audio>: one frame per phoneme, every phoneme reached */
    rig_end(lm, 20);
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, codes, n) == 0);
    CHECK_MSG(n[0] == n1 && n[1] == n1, "end always wanted: %lld, %lld frames for %d phonemes", (long long)n[0],
              (long long)n[1], n1);
    p.text = two; /* two sentences, one after the other */
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, codes, n) == 0);
    CHECK_MSG(n[0] == n1 + n2a, "two sentences: %lld frames for %d + %d phonemes", (long long)n[0], n1, n2a);
    /* never <end-audio>: the caps end it, 20 frames per phoneme per piece or what the context holds */
    rig_end(lm, -20);
    const int room2 = T - 4 - 2 * n2a - K, cap2 = 20 * n2a < room2 ? 20 * n2a : room2;
    CHECK(cap2 < 20 * n2a); /* the second sentence meets the context */
    CHECK(sono_lm_generate_max_frames(lm, &p) == 20 * n1 + cap2);
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, codes, n) == 0);
    CHECK_MSG(n[0] == 20 * n1 + cap2 && n[1] == n[0], "end never wanted: %lld frames, cap %d", (long long)n[0], 20 * n1 + cap2);
    sono_lm_free(lm);
    /* a small context caps a piece at what it holds: 4 + 2n + F + K positions */
    lm = random_tts_lm(K, 4 + 2 * n1 + 3 * n1 + K, 52);
    rig_end(lm, -20);
    p.text = one;
    CHECK_MSG(sono_lm_generate_max_frames(lm, &p) == 3 * n1, "%s", sono_last_error());
    CHECK(sono_lm_generate(lm, &p, NULL, NULL, codes, n) == 0 && n[0] == 3 * n1);
    sono_lm_free(lm);
    free(codes);
    free(c2);
}

static void test_tts_bad(void) {
    sono_lm *lm = random_tts_lm(2, 64, 53), *plain = random_lm(2, 32, 1, 2, 64, 54);
    if (!lm || !plain) { CHECK(0); return; }
    sono_lm_generate_params p = sono_lm_generate_default_params();
    p.task = SONO_LM_TASK_TTS;
    int32_t prompt[2 * 4] = {0};
    static char big[SONO_LM_TTS_MAX_BYTES + 2];
    memset(big, 'a', sizeof big - 1);
    for (size_t i = 5; i < sizeof big - 1; i += 6) big[i] = ' ';
    const struct { const char *text, *lang, *voice; int prompt, max_frames, err; const char *msg; } cases[] = {
        {"", NULL, NULL, 0, 0, SONO_E_EMPTY, "empty text"},
        {"   \n ", NULL, NULL, 0, 0, SONO_E_EMPTY, "empty text"},
        {NULL, NULL, NULL, 0, 0, SONO_E_EMPTY, "empty text"},
        {"... ??? ()", NULL, NULL, 0, 0, SONO_E_EMPTY, "no pronounceable content"},
        {"Hello.", "fr", NULL, 0, 0, SONO_E_ARG, "language \"fr\"; LM \"random-32x1\" knows: en"},
        {"Hello.", NULL, "c", 0, 0, SONO_E_ARG, "voice \"c\"; LM \"random-32x1\" knows: a, b"},
        {big, NULL, NULL, 0, 0, SONO_E_LIMIT, "bytes of text"},
        {"Hello.", NULL, NULL, 1, 0, SONO_E_ARG, "no prompt"},
        {"Hello.", NULL, NULL, 0, 10, SONO_E_ARG, "no prompt"},
        {"The quick brown fox jumps over the lazy dog and runs far away into the woods.", NULL, "b", 0, 0, SONO_E_LIMIT, "too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p.text = cases[i].text;
        p.lang = cases[i].lang;
        p.voice = cases[i].voice;
        p.prompt = cases[i].prompt ? prompt : NULL;
        p.n_prompt_frames = cases[i].prompt ? 4 : 0;
        p.max_frames = cases[i].max_frames;
        sono_clear_error();
        int64_t rc = sono_lm_generate_max_frames(lm, &p);
        const char *msg = sono_last_error();
        CHECK_MSG(rc == cases[i].err && strstr(msg, cases[i].msg) && !strchr(msg, '\n'), "case %zu: %lld (%s)", i,
                  (long long)rc, msg);
        CHECK(sono_lm_generate(lm, &p, NULL, NULL, NULL, NULL) == cases[i].err);
    }
    p = sono_lm_generate_default_params();
    p.task = SONO_LM_TASK_TTS;
    p.text = "Hello.";
    CHECK(sono_lm_generate_max_frames(plain, &p) == SONO_E_UNSUPPORTED);
    p.voice = "b"; /* a known voice and language */
    p.lang = "en";
    CHECK(sono_lm_generate_max_frames(lm, &p) > 0);
    sono_lm_free(lm);
    sono_lm_free(plain);
}

/* ---- bad ---- */

static void test_bad(void) {
    sono_lm *lm = random_lm(3, 32, 1, 2, 48, 41);
    if (!lm) { CHECK(0); return; }
    int32_t prompt[3 * 4] = {0};
    const sono_lm_generate_params d = sono_lm_generate_default_params();
    sono_lm_generate_params p;
#define BAD(expect, ...) do { p = d; __VA_ARGS__; int64_t r_ = sono_lm_generate_max_frames(lm, &p); \
        CHECK_MSG(r_ == (expect), "got %lld (%s)", (long long)r_, sono_last_error()); \
        CHECK(sono_lm_generate(lm, &p, NULL, NULL, NULL, NULL) == (expect)); } while (0)
    BAD(SONO_E_ARG, p.task = 7);
    BAD(SONO_E_UNSUPPORTED, p.task = SONO_LM_TASK_TTS, p.text = "hello");
    BAD(SONO_E_ARG, p.task = SONO_LM_TASK_TTA);
    BAD(SONO_E_ARG, p.task = SONO_LM_TASK_TTA, p.text = "");
    BAD(SONO_E_ARG, p.text = "a caption for continue");
    BAD(SONO_E_ARG, p.n_outputs = 0);
    BAD(SONO_E_ARG, p.n_outputs = SONO_LM_MAX_OUTPUTS + 1);
    BAD(SONO_E_ARG, p.half_weights = 2);
    BAD(SONO_E_ARG, p.n_threads = 0);
    BAD(SONO_E_ARG, p.temperature = NAN);
    BAD(SONO_E_ARG, p.top_p = 0);
    BAD(SONO_E_ARG, p.top_k = -1);
    BAD(SONO_E_ARG, p.cfg = INFINITY);
    BAD(SONO_E_ARG, p.max_frames = -1);
    BAD(SONO_E_ARG, p.n_prompt_frames = 4);
    prompt[5] = 64;
    BAD(SONO_E_RANGE, p.prompt = prompt, p.n_prompt_frames = 4);
    prompt[5] = -1;
    BAD(SONO_E_RANGE, p.prompt = prompt, p.n_prompt_frames = 4);
    prompt[5] = 0;
    /* context 48: a caption of more than 24 tokens; a prompt and frames that pass it */
    BAD(SONO_E_LIMIT, p.task = SONO_LM_TASK_TTA, p.text = "twenty-five bytes of text");
    p = d;
    p.task = SONO_LM_TASK_TTA;
    p.text = "twenty-four bytes of tex";
    CHECK(sono_lm_generate_max_frames(lm, &p) == 48 - 26 - 3 + 2);
    BAD(SONO_E_LIMIT, p.max_frames = 48 - 2 - 4 - 3 + 2 + 1, p.prompt = prompt, p.n_prompt_frames = 4);
    BAD(SONO_E_ARG, p.max_frames = 10, p.min_frames = 11);
    int32_t *big = calloc(3 * 48, sizeof(int32_t));
    BAD(SONO_E_LIMIT, p.prompt = big, p.n_prompt_frames = 46);
    free(big);
    p = d;
    p.prompt = prompt;
    p.n_prompt_frames = 4;
    p.max_frames = 48 - 2 - 4 - 3 + 2;
    CHECK(sono_lm_generate_max_frames(lm, &p) == p.max_frames);
#undef BAD
    sono_lm_free(lm);
}

/* ---- live ---- */

static void test_live(void) {
    const int K = 4, F = 150, hop = sono_codec_hop(g_codec);
    int32_t *codes = make_prompt(K, F, sono_codec_codebook_size(g_codec));
    sono_tokens *t = NULL;
    float *ref = NULL;
    int64_t n_ref = 0;
    CHECK(sono_codec_tokens_from_codes(g_codec, codes, K, F, &t) == 0);
    CHECK(sono_codec_decode(g_codec, t, &ref, &n_ref) == 0);
    CHECK(n_ref == (int64_t)F * hop);
    int err = 0;
    sono_codec_stream *s = sono_codec_decoder_live(g_codec, K, &err);
    CHECK(s != NULL);
    float *got = calloc((size_t)F * hop + 64, sizeof(float)), blk[37];
    int64_t n_got = 0, f = 0;
    const int pieces[] = {1, 5, 63, 1, 2, 64, 7};
    for (int i = 0; s && f < F; i++) {
        int64_t m = pieces[i % 7] < F - f ? pieces[i % 7] : F - f;
        CHECK(sono_codec_decoder_push(s, codes + f, F, m) == 0);
        f += m;
        int64_t n;
        while ((n = sono_codec_decoder_pull(s, blk, 37)) > 0) {
            if (n_got + n <= (int64_t)F * hop) memcpy(got + n_got, blk, sizeof(float) * (size_t)n);
            n_got += n;
        }
        CHECK(n == 0);
        CHECK(n_got <= f * hop);
    }
    if (s) {
        CHECK(sono_codec_decoder_end(s) == 0);
        int64_t n;
        while ((n = sono_codec_decoder_pull(s, blk, 37)) > 0) {
            if (n_got + n <= (int64_t)F * hop) memcpy(got + n_got, blk, sizeof(float) * (size_t)n);
            n_got += n;
        }
        CHECK_MSG(n_got == (int64_t)F * hop, "live decoder gave %lld samples for %d frames of %d", (long long)n_got, F, hop);
        CHECK_MSG(!memcmp(got, ref, sizeof(float) * (size_t)F * hop), "live decoding differs from sono_codec_decode");
        CHECK(sono_codec_decoder_push(s, codes, F, 1) == SONO_E_ARG); /* after the end */
    }
    sono_codec_stream_free(s);
    s = sono_codec_decoder_live(g_codec, K, &err);
    codes[F + 3] = 64; /* codebook 1, frame 3 */
    CHECK(sono_codec_decoder_push(s, codes, F, 10) == SONO_E_RANGE);
    sono_codec_stream_free(s);
    CHECK(sono_codec_decoder_live(g_codec, 9, &err) == NULL && err == SONO_E_RANGE);
    char path[600];
    snprintf(path, sizeof path, "%s/tiny48.th", g_data);
    sono_codec *seg = sono_codec_load(path, NULL, &err);
    CHECK_MSG(seg != NULL, "%s", sono_last_error());
    if (seg) CHECK(sono_codec_decoder_live(seg, 2, &err) == NULL && err == SONO_E_UNSUPPORTED);
    sono_codec_free(seg);
    sono_tokens_free(t);
    free(ref);
    free(got);
    free(codes);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test-generate pad|oracle|outputs|end|bad|live CODEC_DATA_DIR\n");
        return 2;
    }
    tu_seed(3);
    snprintf(g_data, sizeof g_data, "%s", argv[2]);
    char path[600];
    snprintf(path, sizeof path, "%s/tiny24.th", g_data);
    int err = 0;
    if (!(g_codec = sono_codec_load(path, NULL, &err))) {
        fprintf(stderr, "%s: %s\n", path, sono_last_error());
        return 1;
    }
    sn_kern_set_threads(1); /* the model's bits are the same on any thread count with OpenBLAS at one */
    const char *w = argv[1];
    if (!strcmp(w, "pad")) test_pad();
    else if (!strcmp(w, "oracle")) test_oracle();
    else if (!strcmp(w, "outputs")) test_outputs();
    else if (!strcmp(w, "end")) test_end();
    else if (!strcmp(w, "bad")) test_bad();
    else if (!strcmp(w, "live")) test_live();
    else if (!strcmp(w, "tts")) test_tts();
    else if (!strcmp(w, "tts-bad")) test_tts_bad();
    else { fprintf(stderr, "unknown mode %s\n", w); return 2; }
    sono_codec_free(g_codec);
    return tu_finish(w);
}
