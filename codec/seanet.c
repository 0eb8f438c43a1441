/* SEANet encoder/decoder as a streaming graph of stages.
 *
 * Each EnCodec layer becomes one or more stages that take input in chunks of
 * any size and emit output as soon as it is final: padding (reflect or zero,
 * EnCodec's pad1d rules, the right-hand "extra" padding decided at the end),
 * valid convolution, transposed convolution (overlap-add tail carried
 * between chunks), trimming, ELU, LSTM (state carried), GroupNorm (needs the
 * whole segment: it holds everything until the end), and residual blocks
 * (two branches joined as their outputs become available). Pushing the whole
 * signal at once and pushing it in pieces run the same arithmetic on the same
 * values, so chunked output equals one-shot output.
 *
 * Buffers are channel-major [C][n] and compact (row stride n); they grow to
 * the largest chunk seen and are then reused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "kernels.h"
#include "sono_internal.h"

/* ---- compact channel-major buffer ---- */

typedef struct {
    float *d;
    int C;
    int64_t n;
    size_t cap; /* floats */
} fbuf;

static int fbuf_reserve(fbuf *b, size_t floats) {
    if (floats <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < floats) cap *= 2;
    float *nd = realloc(b->d, cap * sizeof(float));
    if (!nd) return sono_fail(SONO_E_NOMEM, "out of memory (%zu floats)", cap);
    b->d = nd;
    b->cap = cap;
    return 0;
}

/* Append m samples per channel from src (row stride src_stride). */
static int fbuf_grow(fbuf *b, int64_t m, int64_t *old);

static int fbuf_append(fbuf *b, const float *src, int64_t m, int64_t src_stride) {
    if (m <= 0) return 0;
    int64_t n;
    int rc = fbuf_grow(b, m, &n);
    if (rc) return rc;
    for (int c = 0; c < b->C; c++)
        memcpy(b->d + (size_t)c * b->n + n, src + (size_t)c * src_stride, (size_t)m * sizeof(float));
    return 0;
}

/* Drop the first m samples of every channel. */
static void fbuf_consume(fbuf *b, int64_t m) {
    if (m <= 0) return;
    if (m >= b->n) { b->n = 0; return; }
    int64_t n = b->n, nn = n - m;
    for (int c = 0; c < b->C; c++) memmove(b->d + (size_t)c * nn, b->d + (size_t)c * n + m, (size_t)nn * sizeof(float));
    b->n = nn;
}

/* Make b an empty [C][n] buffer ready to be written. */
static int fbuf_setup(fbuf *b, int C, int64_t n) {
    b->C = C;
    int rc = fbuf_reserve(b, (size_t)C * (size_t)(n > 0 ? n : 0));
    b->n = rc ? 0 : n;
    return rc;
}

/* ---- stages ---- */

enum { ST_PAD, ST_CONV, ST_CONVTR, ST_TRIM, ST_GN, ST_ELU, ST_LSTM, ST_RES };

typedef struct chain chain;

typedef struct {
    int kind;
    int C_in, C_out;
    /* PAD (elu: apply ELU to the input first, fused) */
    int pl, pr_fixed, pad_stride, pad_mode, started, elu;
    int64_t n_seen;
    /* CONV, CONVTR, GN */
    const conv_w *w;
    int any_input;
    /* TRIM */
    int64_t to_skip;
    int trim_r;
    /* LSTM */
    const lstm_w *lw;
    int layers;
    float *hc;            /* [layers][2][C] */
    fbuf tmp[2];
    /* RES */
    chain *a, *b;         /* a == NULL: identity shortcut */
    fbuf qa, qb;
    float *ext_out;       /* when set, the output is here (ext_n samples) instead of out:
                           * in place in the input buffer (RES, GN) */
    int64_t ext_n;
    fbuf held, out, pending;
} stage;

struct chain {
    stage *st;
    int n, cap;
};

struct seanet_run {
    const sono_codec *c;
    int which;
    chain top;
    float *scratch;
    size_t scratch_cap;
    int n_threads;
};

static float *scratch_get(seanet_run *r, size_t floats) {
    if (floats > r->scratch_cap) {
        float *ns = realloc(r->scratch, floats * sizeof(float));
        if (!ns) return NULL;
        r->scratch = ns;
        r->scratch_cap = floats;
    }
    return r->scratch ? r->scratch : (r->scratch = malloc(sizeof(float)));
}

static stage *chain_add(chain *ch, int kind, int C_in, int C_out) {
    if (ch->n == ch->cap) {
        int cap = ch->cap ? ch->cap * 2 : 16;
        stage *ns = realloc(ch->st, (size_t)cap * sizeof *ns);
        if (!ns) return NULL;
        ch->st = ns;
        ch->cap = cap;
    }
    stage *s = &ch->st[ch->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->C_in = C_in;
    s->C_out = C_out;
    s->held.C = C_in;
    s->out.C = C_out;
    s->pending.C = C_out;
    return s;
}

static void chain_free(chain *ch);

static void stage_free(stage *s) {
    free(s->held.d);
    free(s->out.d);
    free(s->pending.d);
    free(s->qa.d);
    free(s->qb.d);
    free(s->tmp[0].d);
    free(s->tmp[1].d);
    free(s->hc);
    if (s->a) { chain_free(s->a); free(s->a); }
    if (s->b) { chain_free(s->b); free(s->b); }
}

static void chain_free(chain *ch) {
    for (int i = 0; i < ch->n; i++) stage_free(&ch->st[i]);
    free(ch->st);
    ch->st = NULL;
    ch->n = ch->cap = 0;
}

static void chain_reset(chain *ch);

static void stage_reset(stage *s) {
    s->started = 0;
    s->n_seen = 0;
    s->any_input = 0;
    s->held.n = s->out.n = s->pending.n = s->qa.n = s->qb.n = 0;
    if (s->kind == ST_TRIM) s->to_skip = s->pl;
    if (s->hc) memset(s->hc, 0, (size_t)s->layers * 2 * (size_t)s->C_in * sizeof(float));
    if (s->a) chain_reset(s->a);
    if (s->b) chain_reset(s->b);
}

static void chain_reset(chain *ch) {
    for (int i = 0; i < ch->n; i++) stage_reset(&ch->st[i]);
}

/* ---- graph construction ---- */

/* GroupNorm after a conv or transposed conv (time_group_norm models) */
static int add_gn(chain *ch, const conv_w *w) {
    stage *g = chain_add(ch, ST_GN, w->C_out, w->C_out);
    if (!g) return SONO_E_NOMEM;
    g->w = w;
    return 0;
}

static int add_sconv(chain *ch, const codec_config *cfg, const conv_w *w) {
    int eff = (w->K - 1) * w->dil + 1;
    int pt = eff - w->stride;
    if (pt < 0) return sono_fail(SONO_E_UNSUPPORTED, "conv with kernel %d smaller than stride %d", w->K, w->stride);
    if (pt > 0 || w->stride > 1) {
        /* an ELU right before the padding is applied by the padding stage
         * (ELU commutes with reflect and zero padding) */
        int elu = ch->n > 0 && ch->st[ch->n - 1].kind == ST_ELU;
        if (elu) ch->n--;
        stage *p = chain_add(ch, ST_PAD, w->C_in, w->C_in);
        if (!p) return SONO_E_NOMEM;
        p->elu = elu;
        p->pad_stride = w->stride;
        p->pad_mode = cfg->pad_mode;
        if (cfg->causal) { p->pl = pt; p->pr_fixed = 0; }
        else { p->pr_fixed = pt / 2; p->pl = pt - p->pr_fixed; }
    }
    stage *s = chain_add(ch, ST_CONV, w->C_in, w->C_out);
    if (!s) return SONO_E_NOMEM;
    s->w = w;
    if (w->gn_w && add_gn(ch, w)) return SONO_E_NOMEM;
    return 0;
}

static int add_sconvtr(chain *ch, const codec_config *cfg, const conv_w *w) {
    int pt = w->K - w->stride;
    if (pt < 0) return sono_fail(SONO_E_UNSUPPORTED, "transposed conv with kernel %d smaller than stride %d", w->K, w->stride);
    stage *s = chain_add(ch, ST_CONVTR, w->C_in, w->C_out);
    if (!s) return SONO_E_NOMEM;
    s->w = w;
    if (w->gn_w && add_gn(ch, w)) return SONO_E_NOMEM;
    int pr, pl;
    if (cfg->causal) { pr = (int)ceil(pt * cfg->trim_right_ratio); pl = pt - pr; }
    else { pr = pt / 2; pl = pt - pr; }
    if (pl || pr) {
        stage *t = chain_add(ch, ST_TRIM, w->C_out, w->C_out);
        if (!t) return SONO_E_NOMEM;
        t->pl = pl;
        t->to_skip = pl;
        t->trim_r = pr;
    }
    return 0;
}

static int add_elu(chain *ch, int C) { return chain_add(ch, ST_ELU, C, C) ? 0 : SONO_E_NOMEM; }

static int add_res(chain *ch, const codec_config *cfg, const res_w *rw) {
    int dim = rw->block1.C_in;
    stage *s = chain_add(ch, ST_RES, dim, dim);
    if (!s) return SONO_E_NOMEM;
    s->qa.C = s->qb.C = dim;
    s->b = calloc(1, sizeof(chain));
    if (!s->b) return SONO_E_NOMEM;
    int rc;
    if ((rc = add_elu(s->b, dim)) || (rc = add_sconv(s->b, cfg, &rw->block1)) ||
        (rc = add_elu(s->b, rw->block1.C_out)) || (rc = add_sconv(s->b, cfg, &rw->block2)))
        return rc;
    if (!cfg->true_skip) {
        s->a = calloc(1, sizeof(chain));
        if (!s->a) return SONO_E_NOMEM;
        if ((rc = add_sconv(s->a, cfg, &rw->shortcut))) return rc;
    }
    return 0;
}

static int add_lstm(chain *ch, const codec_config *cfg, const lstm_w *lw) {
    stage *s = chain_add(ch, ST_LSTM, lw->C, lw->C);
    if (!s) return SONO_E_NOMEM;
    s->lw = lw;
    s->layers = cfg->lstm_layers;
    s->tmp[0].C = s->tmp[1].C = lw->C;
    s->hc = calloc((size_t)s->layers * 2 * (size_t)lw->C, sizeof(float));
    return s->hc ? 0 : SONO_E_NOMEM;
}

static int build_encoder(chain *ch, const sono_codec *c) {
    const codec_config *cfg = &c->cfg;
    int rc;
    if ((rc = add_sconv(ch, cfg, &c->enc.first))) return rc;
    for (int i = 0; i < cfg->n_ratios; i++) {
        for (int j = 0; j < cfg->n_residual_layers; j++)
            if ((rc = add_res(ch, cfg, &c->enc.res[i][j]))) return rc;
        if ((rc = add_elu(ch, c->enc.updown[i].C_in)) || (rc = add_sconv(ch, cfg, &c->enc.updown[i]))) return rc;
    }
    if (cfg->lstm_layers && (rc = add_lstm(ch, cfg, &c->enc.lstm))) return rc;
    if ((rc = add_elu(ch, c->enc.last.C_in)) || (rc = add_sconv(ch, cfg, &c->enc.last))) return rc;
    return 0;
}

static int build_decoder(chain *ch, const sono_codec *c) {
    const codec_config *cfg = &c->cfg;
    int rc;
    if ((rc = add_sconv(ch, cfg, &c->dec.first))) return rc;
    if (cfg->lstm_layers && (rc = add_lstm(ch, cfg, &c->dec.lstm))) return rc;
    for (int i = 0; i < cfg->n_ratios; i++) {
        if ((rc = add_elu(ch, c->dec.updown[i].C_in)) || (rc = add_sconvtr(ch, cfg, &c->dec.updown[i]))) return rc;
        for (int j = 0; j < cfg->n_residual_layers; j++)
            if ((rc = add_res(ch, cfg, &c->dec.res[i][j]))) return rc;
    }
    if ((rc = add_elu(ch, c->dec.last.C_in)) || (rc = add_sconv(ch, cfg, &c->dec.last))) return rc;
    return 0;
}

/* ---- stage execution ---- */

static int chain_push(seanet_run *r, chain *ch, const float *in, int64_t n, int last,
                      const float **out, int64_t *n_out);

/* Grow dst by m samples per channel (rows re-laid); returns the old length. */
static int fbuf_grow(fbuf *b, int64_t m, int64_t *old) {
    int64_t n = b->n, nn = n + m;
    *old = n;
    int rc = fbuf_reserve(b, (size_t)b->C * (size_t)(nn > 0 ? nn : 1));
    if (rc) return rc;
    for (int c = b->C - 1; c > 0; c--) memmove(b->d + (size_t)c * nn, b->d + (size_t)c * n, (size_t)n * sizeof(float));
    b->n = nn;
    return 0;
}

/* Copy m samples per channel of src (row stride src_stride) into dst at
 * column off (dst row stride dst->n), through ELU when the stage asks. */
static void pad_copy(seanet_run *r, const stage *s, fbuf *dst, int64_t off, const float *src, int64_t src_stride,
                     int64_t m) {
    if (m <= 0) return;
    for (int c = 0; c < s->C_in; c++) {
        float *o = dst->d + (size_t)c * dst->n + off;
        const float *x = src + (size_t)c * src_stride;
        if (s->elu) elu_forward(o, x, (size_t)m, 1.0f, m >= 65536 ? r->n_threads : 1);
        else memcpy(o, x, (size_t)m * sizeof(float));
    }
}

/* EnCodec pad1d on a whole short signal (in held, already through ELU):
 * zero-extend when too short for reflection. */
static int pad_oneshot(stage *s, int64_t extra, fbuf *dst) {
    const fbuf *h = &s->held;
    int64_t L = h->n, pl = s->pl, pr = s->pr_fixed + extra, base;
    int64_t n_out = pl + L + pr;
    int rc = fbuf_grow(dst, n_out, &base);
    if (rc) return rc;
    int64_t max_pad = SONO_MAX(pl, pr), e = L <= max_pad ? max_pad - L + 1 : 0, M = L + e;
    for (int c = 0; c < s->C_in; c++) {
        const float *x = h->d + (size_t)c * L;
        float *o = dst->d + (size_t)c * dst->n + base;
        for (int64_t i = 0; i < n_out; i++) {
            int64_t j = i - pl;
            if (s->pad_mode == PAD_ZERO) { o[i] = j >= 0 && j < L ? x[j] : 0.0f; continue; }
            if (j < 0) j = -j;
            if (j >= M) j = 2 * (M - 1) - j;
            o[i] = j < L ? x[j] : 0.0f;
        }
    }
    return 0;
}

/* Padding (and the ELU before it): the padded signal is appended to dst,
 * the input history of the convolution that follows. Until enough input has
 * arrived to reflect the left edge it waits; it keeps the last `keep`
 * samples back for the right edge, whose length is known only at the end. */
static int run_pad(seanet_run *r, stage *s, const float *in, int64_t n, int last, fbuf *dst) {
    int rc;
    int64_t st = s->pad_stride;
    int64_t keep = (s->pr_fixed > 0 || st > 1) ? s->pr_fixed + st : 0;
    fbuf *h = &s->held;
    s->n_seen += n;
    int64_t extra = last ? ((s->n_seen + st - 1) / st) * st - s->n_seen : 0;
    if (!s->started) {
        int64_t old;
        if ((rc = fbuf_grow(h, n, &old))) return rc;
        pad_copy(r, s, h, old, in, n, n);
        if (last) { rc = pad_oneshot(s, extra, dst); h->n = 0; return rc; }
        if (s->n_seen <= s->pl + keep + 1) return 0;
        /* first output: the left edge, then all but the kept tail */
        int64_t body = h->n - keep, base;
        if ((rc = fbuf_grow(dst, s->pl + body, &base))) return rc;
        for (int c = 0; c < s->C_in; c++) {
            const float *x = h->d + (size_t)c * h->n;
            float *o = dst->d + (size_t)c * dst->n + base;
            for (int64_t i = 0; i < s->pl; i++) o[i] = s->pad_mode == PAD_ZERO ? 0.0f : x[s->pl - i];
            memcpy(o + s->pl, x, (size_t)body * sizeof(float));
        }
        fbuf_consume(h, body);
        s->started = 1;
        return 0;
    }
    /* steady state: the signal is held (h->n == keep samples) then in (n samples) */
    int64_t hn = h->n, total = hn + n;
    int64_t body = last ? total : total - keep;
    int64_t tail = last ? s->pr_fixed + extra : 0;
    int64_t base;
    if ((rc = fbuf_grow(dst, body + tail, &base))) return rc;
    int64_t from_h = SONO_MIN(hn, body);
    for (int c = 0; c < s->C_in; c++)
        memcpy(dst->d + (size_t)c * dst->n + base, h->d + (size_t)c * hn, (size_t)from_h * sizeof(float));
    pad_copy(r, s, dst, base + from_h, in, n, body - from_h);
    if (last) {
        /* right edge: reflect the signal's end, all of it now in dst */
        for (int c = 0; c < s->C_in; c++) {
            float *o = dst->d + (size_t)c * dst->n + base;
            for (int64_t i = 0; i < tail; i++) o[body + i] = s->pad_mode == PAD_ZERO ? 0.0f : o[body - 2 - i];
        }
        h->n = 0;
        return 0;
    }
    /* the new kept tail: the last `keep` samples of held + in */
    if (keep > 0) {
        int64_t from_in = SONO_MIN(keep, n), from_old = keep - from_in;
        /* old held samples that stay are its last from_old ones */
        fbuf_consume(h, hn - from_old);
        int64_t old;
        if ((rc = fbuf_grow(h, from_in, &old))) return rc;
        pad_copy(r, s, h, old, in + (n - from_in), n, from_in);
    } else {
        h->n = 0;
    }
    return 0;
}

/* Valid convolution over held history + new input. in == NULL: the input
 * was already appended to held (by the padding stage before it). */
static int run_conv(seanet_run *r, stage *s, const float *in, int64_t n) {
    const conv_w *w = s->w;
    int64_t eff = (int64_t)(w->K - 1) * w->dil + 1;
    s->out.n = 0;
    s->out.C = s->C_out;
    const float *src = in;
    int64_t T = n;
    int direct = in && s->held.n == 0;
    int rc;
    if (!in) n = 0;
    if (!direct) {
        if (n > 0 && (rc = fbuf_append(&s->held, in, n, n))) return rc;
        src = s->held.d;
        T = s->held.n;
    }
    int64_t n_out = T < eff ? 0 : (T - eff) / w->stride + 1;
    if (n_out > 0) {
        if (T > INT32_MAX) return sono_fail(SONO_E_LIMIT, "chunk too long");
        if ((rc = fbuf_setup(&s->out, s->C_out, n_out))) return rc;
        float *scr = scratch_get(r, conv1d_scratch_floats(w->C_in, w->K, (int)n_out));
        if (!scr) return sono_fail(SONO_E_NOMEM, "out of memory");
        conv1d_forward(s->out.d, src, w->w, w->b, w->C_in, w->C_out, (int)T, w->K, w->stride, w->dil, scr,
                       r->n_threads);
    }
    int64_t used = n_out * w->stride;
    if (direct) {
        if (used < n && (rc = fbuf_append(&s->held, in + used, n - used, n))) return rc;
    } else {
        fbuf_consume(&s->held, used);
    }
    return 0;
}

static void add_bias(float *x, int C, int64_t n, const float *b) {
    if (!b) return;
    for (int c = 0; c < C; c++) {
        float bv = b[c];
        float *row = x + (size_t)c * n;
        for (int64_t i = 0; i < n; i++) row[i] += bv;
    }
}

static int run_convtr(seanet_run *r, stage *s, const float *in, int64_t n, int last) {
    const conv_w *w = s->w;
    int64_t tailn = w->K - w->stride;
    int rc;
    s->out.n = 0;
    s->out.C = s->C_out;
    if (n > 0) {
        int64_t full = (n - 1) * w->stride + w->K;
        if (full > INT32_MAX) return sono_fail(SONO_E_LIMIT, "chunk too long");
        if ((rc = fbuf_setup(&s->out, s->C_out, full))) return rc;
        float *scr = scratch_get(r, convtr1d_scratch_floats(w->C_out, w->K, (int)n));
        if (!scr) return sono_fail(SONO_E_NOMEM, "out of memory");
        convtr1d_forward(s->out.d, in, w->w, NULL, w->C_in, w->C_out, (int)n, w->K, w->stride, scr, r->n_threads);
        if (s->any_input) {
            for (int c = 0; c < s->C_out; c++) {
                float *o = s->out.d + (size_t)c * full;
                const float *p = s->pending.d + (size_t)c * tailn;
                for (int64_t i = 0; i < tailn; i++) o[i] += p[i];
            }
        }
        /* the last tailn columns become the new pending tail */
        s->pending.C = s->C_out;
        s->pending.n = 0;
        if ((rc = fbuf_reserve(&s->pending, (size_t)s->C_out * (size_t)(tailn ? tailn : 1)))) return rc;
        for (int c = 0; c < s->C_out; c++)
            memcpy(s->pending.d + (size_t)c * tailn, s->out.d + (size_t)c * full + n * w->stride,
                   (size_t)tailn * sizeof(float));
        s->pending.n = tailn;
        s->out.n = full;
        /* keep the first n*stride columns */
        int64_t keep = n * w->stride;
        for (int c = 1; c < s->C_out; c++)
            memmove(s->out.d + (size_t)c * keep, s->out.d + (size_t)c * full, (size_t)keep * sizeof(float));
        s->out.n = keep;
        s->any_input = 1;
    }
    if (last && s->any_input && tailn > 0) {
        if ((rc = fbuf_append(&s->out, s->pending.d, tailn, tailn))) return rc;
        s->pending.n = 0;
    }
    add_bias(s->out.d, s->C_out, s->out.n, w->b);
    return 0;
}

static int run_trim(stage *s, const float *in, int64_t n, int last) {
    int64_t skip = SONO_MIN(s->to_skip, n);
    s->to_skip -= skip;
    int rc = fbuf_append(&s->held, in + skip, n - skip, n);
    if (rc) return rc;
    int64_t emit = s->held.n - s->trim_r;
    if (emit < 0) emit = 0;
    if ((rc = fbuf_setup(&s->out, s->C_out, emit))) return rc;
    for (int c = 0; c < s->C_out; c++)
        memcpy(s->out.d + (size_t)c * emit, s->held.d + (size_t)c * s->held.n, (size_t)emit * sizeof(float));
    if (last) s->held.n = 0;
    else fbuf_consume(&s->held, emit);
    return 0;
}

static int run_gn(seanet_run *r, stage *s, const float *in, int64_t n, int last) {
    s->ext_out = NULL;
    if (last && s->held.n == 0) {
        /* the whole segment in one piece (the usual case): normalise in place
         * in the previous stage's output buffer, which nothing reads again */
        if (n > INT32_MAX) return sono_fail(SONO_E_LIMIT, "segment too long");
        if (n > 0)
            groupnorm1_forward((float *)in, in, s->w->gn_w, s->w->gn_b, s->C_out, (int)n, 1e-5f, r->n_threads);
        s->ext_out = (float *)in;
        s->ext_n = n;
        return 0;
    }
    int rc = fbuf_append(&s->held, in, n, n);
    if (rc) return rc;
    s->out.n = 0;
    if (!last) return 0;
    if ((rc = fbuf_setup(&s->out, s->C_out, s->held.n))) return rc;
    if (s->held.n > INT32_MAX) return sono_fail(SONO_E_LIMIT, "segment too long");
    if (s->held.n > 0)
        groupnorm1_forward(s->out.d, s->held.d, s->w->gn_w, s->w->gn_b, s->C_out, (int)s->held.n, 1e-5f,
                           r->n_threads);
    s->held.n = 0;
    return 0;
}

/* ELU; in place when the input is the previous stage's own buffer (inplace),
 * into this stage's buffer when the input may be read again (a chain's input). */
static int run_elu(seanet_run *r, stage *s, const float *in, int64_t n, int inplace) {
    s->ext_out = NULL;
    if (inplace) {
        if (n > 0) elu_forward((float *)in, in, (size_t)s->C_out * (size_t)n, 1.0f, r->n_threads);
        s->ext_out = (float *)in;
        s->ext_n = n;
        return 0;
    }
    int rc = fbuf_setup(&s->out, s->C_out, n);
    if (rc) return rc;
    if (n > 0) elu_forward(s->out.d, in, (size_t)s->C_out * (size_t)n, 1.0f, r->n_threads);
    return 0;
}

static int run_lstm(seanet_run *r, stage *s, const float *in, int64_t n) {
    int C = s->C_in, rc;
    if ((rc = fbuf_setup(&s->out, C, n))) return rc;
    if (n == 0) return 0;
    if (n > INT32_MAX) return sono_fail(SONO_E_LIMIT, "chunk too long");
    if ((rc = fbuf_setup(&s->tmp[0], C, n)) || (rc = fbuf_setup(&s->tmp[1], C, n))) return rc;
    float *scr = scratch_get(r, lstm_scratch_floats(C, C, (int)n));
    if (!scr) return sono_fail(SONO_E_NOMEM, "out of memory");
    const float *x = in;
    for (int l = 0; l < s->layers; l++) {
        float *y = s->tmp[l & 1].d;
        float *h = s->hc + (size_t)l * 2 * C, *cc = h + C;
        lstm_forward(y, x, s->lw->w_ih[l], s->lw->w_hh[l], s->lw->b_ih[l], s->lw->b_hh[l], h, cc, C, C, (int)n,
                     scr, r->n_threads);
        x = y;
    }
    size_t tot = (size_t)C * (size_t)n;
    for (size_t i = 0; i < tot; i++) s->out.d[i] = x[i] + in[i];
    return 0;
}

static int run_res(seanet_run *r, stage *s, const float *in, int64_t n, int last) {
    const float *ob;
    int64_t nb;
    int rc;
    if (s->a) {
        const float *oa;
        int64_t na;
        if ((rc = chain_push(r, s->a, in, n, last, &oa, &na))) return rc;
        if ((rc = fbuf_append(&s->qa, oa, na, na))) return rc;
    } else if ((rc = fbuf_append(&s->qa, in, n, n))) {
        return rc;
    }
    if ((rc = chain_push(r, s->b, in, n, last, &ob, &nb))) return rc;
    if (s->qb.n == 0 && s->qa.n == nb) {
        /* both branches in step (the usual case): add the shortcut into the
         * block branch's own output buffer and pass that on */
        float *o = (float *)ob;
        for (int c = 0; c < s->C_out; c++) {
            const float *a = s->qa.d + (size_t)c * nb;
            float *ob_row = o + (size_t)c * nb;
            for (int64_t i = 0; i < nb; i++) ob_row[i] = a[i] + ob_row[i];
        }
        s->qa.n = 0;
        s->ext_out = o;
        s->ext_n = nb;
        return 0;
    }
    s->ext_out = NULL;
    if ((rc = fbuf_append(&s->qb, ob, nb, nb))) return rc;
    int64_t emit = SONO_MIN(s->qa.n, s->qb.n);
    if ((rc = fbuf_setup(&s->out, s->C_out, emit))) return rc;
    for (int c = 0; c < s->C_out; c++) {
        const float *a = s->qa.d + (size_t)c * s->qa.n, *b = s->qb.d + (size_t)c * s->qb.n;
        float *o = s->out.d + (size_t)c * emit;
        for (int64_t i = 0; i < emit; i++) o[i] = a[i] + b[i];
    }
    fbuf_consume(&s->qa, emit);
    fbuf_consume(&s->qb, emit);
    if (last) s->qa.n = s->qb.n = 0;
    return 0;
}

static int chain_push(seanet_run *r, chain *ch, const float *in, int64_t n, int last,
                      const float **out, int64_t *n_out) {
    const float *cur = in;
    int64_t cn = n;
    for (int i = 0; i < ch->n; i++) {
        stage *s = &ch->st[i];
        int rc;
        switch (s->kind) {
        case ST_PAD:
            /* a padding stage always precedes a conv: write into its history */
            rc = run_pad(r, s, cur, cn, last, &ch->st[i + 1].held);
            if (!rc) rc = run_conv(r, &ch->st[++i], NULL, 0);
            s = &ch->st[i];
            break;
        case ST_CONV: rc = run_conv(r, s, cur, cn); break;
        case ST_CONVTR: rc = run_convtr(r, s, cur, cn, last); break;
        case ST_TRIM: rc = run_trim(s, cur, cn, last); break;
        case ST_GN: rc = run_gn(r, s, cur, cn, last); break;
        case ST_ELU: rc = run_elu(r, s, cur, cn, i > 0); break;
        case ST_LSTM: rc = run_lstm(r, s, cur, cn); break;
        case ST_RES: rc = run_res(r, s, cur, cn, last); break;
        default: rc = SONO_E_ARG;
        }
        if (rc) return rc;
        if ((s->kind == ST_RES || s->kind == ST_GN || s->kind == ST_ELU) && s->ext_out) {
            cur = s->ext_out;
            cn = s->ext_n;
        } else {
            cur = s->out.d;
            cn = s->out.n;
        }
    }
    *out = cur;
    *n_out = cn;
    return 0;
}

seanet_run *seanet_run_new(const sono_codec *c, int which, int *err) {
    seanet_run *r = calloc(1, sizeof *r);
    int rc = r ? 0 : SONO_E_NOMEM;
    if (r) {
        r->c = c;
        r->which = which;
        r->n_threads = c->n_threads;
        rc = which ? build_decoder(&r->top, c) : build_encoder(&r->top, c);
    }
    if (rc) {
        if (rc == SONO_E_NOMEM) sono_fail(rc, "out of memory building the codec graph");
        seanet_run_free(r);
        r = NULL;
    }
    if (err) *err = rc;
    return r;
}

int seanet_run_push(seanet_run *r, const float *in, int64_t n, int last, const float **out, int64_t *n_out) {
    static const float dummy = 0;
    return chain_push(r, &r->top, in ? in : &dummy, n, last, out, n_out);
}

void seanet_run_reset(seanet_run *r) { chain_reset(&r->top); }

void seanet_run_free(seanet_run *r) {
    if (!r) return;
    chain_free(&r->top);
    free(r->scratch);
    free(r);
}
