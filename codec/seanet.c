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
 * Memory: a stage's output is read only by the next stage, so outputs live
 * in two buffers per chain nesting depth, written in turn (ping-pong); a
 * convolution's input (left context, then the new padded input) is put
 * together in one buffer shared by all convolutions. What a stage keeps
 * between pushes is only its true state, a few samples per channel (the
 * whole segment for GroupNorm). So a stream touches a few times
 * channels x push length floats, not that much per stage: page faults and
 * cache misses on the first push stay small.
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

/* Room for at least `floats`, contents kept. An eighth to spare rather than
 * doubling: buffers are sized by the push length, and a slightly longer push
 * later (a few samples of carried context more) still fits. */
static int fbuf_reserve(fbuf *b, size_t floats) {
    if (floats <= b->cap) return 0;
    size_t cap = floats + floats / 8;
    if (cap < 256) cap = 256;
    float *nd = realloc(b->d, cap * sizeof(float));
    if (!nd) return sn_fail(SONO_E_NOMEM, "out of memory (%zu floats)", cap);
    b->d = nd;
    b->cap = cap;
    return 0;
}

/* Make b an empty [C][n] buffer ready to be written; the old contents are
 * dropped (a larger buffer is allocated afresh, nothing is copied). */
static int fbuf_setup(fbuf *b, int C, int64_t n) {
    size_t floats = (size_t)C * (size_t)(n > 0 ? n : 0);
    b->C = C;
    b->n = 0;
    if (floats > b->cap) {
        free(b->d);
        b->d = NULL;
        b->cap = 0;
        int rc = fbuf_reserve(b, floats);
        if (rc) return rc;
    }
    b->n = n;
    return 0;
}

/* dst[c][i] = src[c][i] for c < C, i < m; rows of the given strides. */
static void copy_cols(float *dst, int64_t dst_stride, const float *src, int64_t src_stride, int C, int64_t m) {
    if (m <= 0) return;
    for (int c = 0; c < C; c++)
        memcpy(dst + (size_t)c * dst_stride, src + (size_t)c * src_stride, (size_t)m * sizeof(float));
}

/* Grow b by m samples per channel (rows re-laid); *old: the old length. */
static int fbuf_grow(fbuf *b, int64_t m, int64_t *old) {
    int64_t n = b->n, nn = n + m;
    *old = n;
    int rc = fbuf_reserve(b, (size_t)b->C * (size_t)(nn > 0 ? nn : 1));
    if (rc) return rc;
    if (n > 0)
        for (int c = b->C - 1; c > 0; c--) memmove(b->d + (size_t)c * nn, b->d + (size_t)c * n, (size_t)n * sizeof(float));
    b->n = nn;
    return 0;
}

/* Append m samples per channel from src (row stride src_stride). */
static int fbuf_append(fbuf *b, const float *src, int64_t m, int64_t src_stride) {
    if (m <= 0) return 0;
    int64_t n;
    int rc = fbuf_grow(b, m, &n);
    if (rc) return rc;
    copy_cols(b->d + n, b->n, src, src_stride, b->C, m);
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
    fbuf tmp;             /* [C][n] between layers (at the frame rate: small) */
    /* RES */
    chain *a, *b;         /* a == NULL: identity shortcut */
    fbuf qa, qb;          /* one branch's output the other has not reached yet */
    /* What the stage carries from one push to the next, a few samples per
     * channel except for GN: PAD the input kept back for the right edge
     * (before its first output: all input so far), CONV the input not yet
     * consumed (the left context), CONVTR the overlap-add tail, TRIM the
     * samples kept back for the right trim, GN the whole segment so far. */
    fbuf held;
} stage;

struct chain {
    stage *st;
    int n, cap;
};

struct seanet_run {
    const sono_codec *c;
    int which;
    vocos_run *voc;       /* a DECODER_VOCOS decoder: the run is this one */
    chain top;
    /* stage outputs: two per nesting depth (depth 0: the top chain, 1: the
     * branches of its residual blocks, ...). A residual block's input must
     * outlive both its branches, so they write the next depth's pair. */
    fbuf (*pp)[2];
    int n_depth;
    fbuf cin;             /* the input of the convolution being run */
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
    return s;
}

static void chain_free(chain *ch);

static void stage_free(stage *s) {
    free(s->held.d);
    free(s->qa.d);
    free(s->qb.d);
    free(s->tmp.d);
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
    s->held.n = s->qa.n = s->qb.n = 0;
    if (s->kind == ST_TRIM) s->to_skip = s->pl;
    if (s->hc) memset(s->hc, 0, (size_t)s->layers * 2 * (size_t)s->C_in * sizeof(float));
    if (s->a) chain_reset(s->a);
    if (s->b) chain_reset(s->b);
}

static void chain_reset(chain *ch) {
    for (int i = 0; i < ch->n; i++) stage_reset(&ch->st[i]);
}

/* Nesting depth of ch: 1, plus that of its deepest residual branch. */
static int chain_depth(const chain *ch) {
    int d = 0;
    for (int i = 0; i < ch->n; i++) {
        const stage *s = &ch->st[i];
        if (s->a) d = SONO_MAX(d, chain_depth(s->a));
        if (s->b) d = SONO_MAX(d, chain_depth(s->b));
    }
    return d + 1;
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
    if (pt < 0) return sn_fail(SONO_E_UNSUPPORTED, "conv with kernel %d smaller than stride %d", w->K, w->stride);
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
    if (pt < 0) return sn_fail(SONO_E_UNSUPPORTED, "transposed conv with kernel %d smaller than stride %d", w->K, w->stride);
    stage *s = chain_add(ch, ST_CONVTR, w->C_in, w->C_out);
    if (!s) return SONO_E_NOMEM;
    s->w = w;
    s->held.C = w->C_out; /* the overlap-add tail */
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

static int add_lstm(chain *ch, const codec_config *cfg, const lstm_w *lw) {
    stage *s = chain_add(ch, ST_LSTM, lw->C, lw->C);
    if (!s) return SONO_E_NOMEM;
    s->lw = lw;
    s->layers = cfg->lstm_layers;
    s->hc = calloc((size_t)s->layers * 2 * (size_t)lw->C, sizeof(float));
    return s->hc ? 0 : SONO_E_NOMEM;
}

/* Building the chain from sn_seanet_walk's layers: a residual block is a
 * RES stage whose block branch b takes the layers up to the shortcut conv,
 * which goes to branch a (none: identity shortcut). */
typedef struct {
    const sono_codec *c;
    const seanet_w *w;
    chain *top;
    chain *cur;      /* where the next layer goes */
    stage *res;      /* the residual block being built (they do not nest) */
} graph_build;

static int build_layer(const seanet_layer *y, void *user) {
    graph_build *g = user;
    const codec_config *cfg = &g->c->cfg;
    switch (y->kind) {
    case SEANET_CONV:
        if (y->role == SEANET_RES_SHORTCUT) {
            if (!(g->res->a = calloc(1, sizeof(chain)))) return SONO_E_NOMEM;
            g->cur = g->res->a;
        }
        return add_sconv(g->cur, cfg, sn_seanet_conv_slot(g->w, y));
    case SEANET_CONVTR: return add_sconvtr(g->cur, cfg, sn_seanet_conv_slot(g->w, y));
    case SEANET_ELU: return add_elu(g->cur, y->C_in);
    case SEANET_LSTM: return add_lstm(g->cur, cfg, &g->w->lstm);
    case SEANET_RES_BEGIN: {
        stage *s = chain_add(g->top, ST_RES, y->C_in, y->C_in);
        if (!s) return SONO_E_NOMEM;
        s->qa.C = s->qb.C = y->C_in;
        if (!(s->b = calloc(1, sizeof(chain)))) return SONO_E_NOMEM;
        g->res = s;
        g->cur = s->b;
        return 0;
    }
    case SEANET_RES_END:
        g->res = NULL;
        g->cur = g->top;
        return 0;
    default: return 0;
    }
}

/* ---- stage execution ----
 *
 * Each run_* reads its input (in, n samples per channel; never written
 * unless the stage works in place) and writes its output to o, one of the
 * ping-pong pair of its depth. */

static int chain_push(seanet_run *r, chain *ch, int depth, const float *in, int64_t n, int last,
                      const float **out, int64_t *n_out);

/* Copy m samples per channel of src (row stride src_stride) into dst at
 * column off (dst row stride dst->n), through ELU when the stage asks. */
static void pad_copy(seanet_run *r, const stage *s, fbuf *dst, int64_t off, const float *src, int64_t src_stride,
                     int64_t m) {
    if (m <= 0) return;
    for (int c = 0; c < s->C_in; c++) {
        float *o = dst->d + (size_t)c * dst->n + off;
        const float *x = src + (size_t)c * src_stride;
        if (s->elu) sn_elu_forward(o, x, (size_t)m, 1.0f, m >= 65536 ? r->n_threads : 1);
        else memcpy(o, x, (size_t)m * sizeof(float));
    }
}

/* EnCodec pad1d's edges around a whole short signal: the L samples at
 * column base + pl of dst (already through ELU) get pl samples before and
 * pr after; reflection zero-extends a signal too short to reflect. */
static void pad_edges_oneshot(const stage *s, fbuf *dst, int64_t base, int64_t L, int64_t pr) {
    int64_t pl = s->pl, max_pad = SONO_MAX(pl, pr), e = L <= max_pad ? max_pad - L + 1 : 0, M = L + e;
    for (int c = 0; c < s->C_in; c++) {
        float *o = dst->d + (size_t)c * dst->n + base;
        const float *x = o + pl;
        for (int64_t i = 0; i < pl + pr; i++) {
            int64_t j = i < pl ? i - pl : L + (i - pl); /* signal index of this edge sample */
            float v = 0.0f;
            if (s->pad_mode != PAD_ZERO) {
                if (j < 0) j = -j;
                if (j >= M) j = 2 * (M - 1) - j;
                v = j < L ? x[j] : 0.0f;
            }
            if (i < pl) o[i] = v;
            else o[L + i] = v;
        }
    }
}

/* Padding (and the ELU before it): the padded signal is appended to dst,
 * the input of the convolution that follows. Until enough input has
 * arrived to reflect the left edge it waits; it keeps the last `keep`
 * samples back for the right edge, whose length is known only at the end. */
static int run_pad(seanet_run *r, stage *s, const float *in, int64_t n, int last, fbuf *dst) {
    int rc;
    int64_t st = s->pad_stride;
    int64_t keep = (s->pr_fixed > 0 || st > 1) ? s->pr_fixed + st : 0;
    fbuf *h = &s->held;
    s->n_seen += n;
    int64_t extra = last ? ((s->n_seen + st - 1) / st) * st - s->n_seen : 0;
    if (!s->started && !last && s->n_seen <= s->pl + keep + 1) {
        int64_t old;
        if ((rc = fbuf_grow(h, n, &old))) return rc;
        pad_copy(r, s, h, old, in, n, n);
        return 0;
    }
    /* the signal is held (h->n samples) then in (n samples); all of it is
     * final but the kept tail, led by the left edge on the first output and
     * followed by the right edge on the last */
    int64_t hn = h->n, total = hn + n;
    int64_t lead = s->started ? 0 : s->pl;
    int64_t body = last ? total : total - keep;
    int64_t tail = last ? s->pr_fixed + extra : 0;
    int64_t base;
    if ((rc = fbuf_grow(dst, lead + body + tail, &base))) return rc;
    int64_t from_h = SONO_MIN(hn, body);
    copy_cols(dst->d + base + lead, dst->n, h->d, hn, s->C_in, from_h);
    pad_copy(r, s, dst, base + lead + from_h, in, n, body - from_h);
    if (!s->started && last) {
        pad_edges_oneshot(s, dst, base, body, tail);
    } else {
        for (int c = 0; c < s->C_in; c++) {
            float *o = dst->d + (size_t)c * dst->n + base;
            /* left edge: reflect the signal's start (it is longer than pl + 1) */
            for (int64_t i = 0; i < lead; i++) o[i] = s->pad_mode == PAD_ZERO ? 0.0f : o[lead + s->pl - i];
            /* right edge: reflect the signal's end, all of it now in dst */
            float *x = o + lead;
            for (int64_t i = 0; i < tail; i++) x[body + i] = s->pad_mode == PAD_ZERO ? 0.0f : x[body - 2 - i];
        }
    }
    s->started = 1;
    if (last || keep == 0) {
        h->n = 0;
        return 0;
    }
    /* the new kept tail: the last `keep` samples of held + in */
    int64_t from_in = SONO_MIN(keep, n), from_old = keep - from_in;
    fbuf_consume(h, hn - from_old);
    int64_t old;
    if ((rc = fbuf_grow(h, from_in, &old))) return rc;
    pad_copy(r, s, h, old, in + (n - from_in), n, from_in);
    return 0;
}

/* The input of conv stage cv: its left context, then the new input, through
 * padding stage pad when there is one. Without either, the new input is
 * used where it lies. */
static int conv_input(seanet_run *r, stage *cv, stage *pad, const float *in, int64_t n, int last,
                      const float **x, int64_t *T) {
    if (!pad && cv->held.n == 0) {
        *x = in;
        *T = n;
        return 0;
    }
    fbuf *b = &r->cin;
    b->C = cv->C_in;
    b->n = 0;
    int rc = fbuf_append(b, cv->held.d, cv->held.n, cv->held.n);
    if (!rc) rc = pad ? run_pad(r, pad, in, n, last, b) : fbuf_append(b, in, n, n);
    *x = b->d;
    *T = b->n;
    return rc;
}

/* Valid convolution of x [C_in][T]; what it does not consume (the left
 * context of the next output) is kept in held. x may not be held itself. */
static int run_conv(seanet_run *r, stage *s, const float *x, int64_t T, fbuf *o) {
    const conv_w *w = s->w;
    int64_t eff = (int64_t)(w->K - 1) * w->dil + 1;
    int64_t n_out = T < eff ? 0 : (T - eff) / w->stride + 1;
    int rc = fbuf_setup(o, s->C_out, n_out);
    if (rc) return rc;
    if (n_out > 0) {
        if (T > INT32_MAX) return sn_fail(SONO_E_LIMIT, "chunk too long");
        float *scr = scratch_get(r, sn_conv1d_scratch_floats(w->C_in, w->K, (int)n_out));
        if (!scr) return sn_fail(SONO_E_NOMEM, "out of memory");
        sn_conv1d_forward(o->d, x, w->w, w->b, w->C_in, w->C_out, (int)T, w->K, w->stride, w->dil, scr, r->n_threads);
    }
    int64_t used = n_out * w->stride;
    s->held.n = 0;
    return used < T ? fbuf_append(&s->held, x + used, T - used, T) : 0;
}

static void add_bias(float *x, int C, int64_t n, const float *b) {
    if (!b || n <= 0) return;
    for (int c = 0; c < C; c++) {
        float bv = b[c];
        float *row = x + (size_t)c * n;
        for (int64_t i = 0; i < n; i++) row[i] += bv;
    }
}

static int run_convtr(seanet_run *r, stage *s, const float *in, int64_t n, int last, fbuf *o) {
    const conv_w *w = s->w;
    int64_t tailn = w->K - w->stride;
    int64_t full = n > 0 ? (n - 1) * w->stride + w->K : 0;
    fbuf *p = &s->held; /* [C_out][tailn] the overlap-add tail not yet final */
    int rc = fbuf_setup(o, s->C_out, SONO_MAX(full, tailn));
    if (rc) return rc;
    o->n = 0;
    if (n > 0) {
        if (full > INT32_MAX) return sn_fail(SONO_E_LIMIT, "chunk too long");
        float *scr = scratch_get(r, sn_convtr1d_scratch_floats(w->C_out, w->K, (int)n));
        if (!scr) return sn_fail(SONO_E_NOMEM, "out of memory");
        sn_convtr1d_forward(o->d, in, w->w, NULL, w->C_in, w->C_out, (int)n, w->K, w->stride, scr, r->n_threads);
        if (s->any_input) {
            for (int c = 0; c < s->C_out; c++) {
                float *row = o->d + (size_t)c * full;
                const float *t = p->d + (size_t)c * tailn;
                for (int64_t i = 0; i < tailn; i++) row[i] += t[i];
            }
        }
        /* the last tailn columns become the new tail; the first n*stride are final */
        int64_t keep = n * w->stride;
        p->n = 0;
        if ((rc = fbuf_append(p, o->d + keep, tailn, full))) return rc;
        for (int c = 1; c < s->C_out; c++)
            memmove(o->d + (size_t)c * keep, o->d + (size_t)c * full, (size_t)keep * sizeof(float));
        o->n = keep;
        s->any_input = 1;
    }
    if (last && s->any_input && tailn > 0) {
        if ((rc = fbuf_append(o, p->d, tailn, tailn))) return rc;
        p->n = 0;
    }
    add_bias(o->d, s->C_out, o->n, w->b);
    return 0;
}

static int run_trim(stage *s, const float *in, int64_t n, int last, fbuf *o) {
    int64_t skip = SONO_MIN(s->to_skip, n);
    s->to_skip -= skip;
    fbuf *h = &s->held;
    int64_t hn = h->n, total = hn + (n - skip);
    int64_t emit = SONO_MAX(total - s->trim_r, 0);
    int rc = fbuf_setup(o, s->C_out, emit);
    if (rc) return rc;
    /* emit the held samples, then the new ones; keep the rest */
    int64_t from_h = SONO_MIN(hn, emit), from_in = emit - from_h;
    copy_cols(o->d, emit, h->d, hn, s->C_out, from_h);
    copy_cols(o->d + from_h, emit, in + skip, n, s->C_out, from_in);
    if (last) {
        h->n = 0;
        return 0;
    }
    fbuf_consume(h, from_h);
    return fbuf_append(h, in + skip + from_in, n - skip - from_in, n);
}

/* *in_place: the output is the input, normalised where it lies (allowed
 * when the input is a stage output nothing reads again: may_write_in). */
static int run_gn(seanet_run *r, stage *s, const float *in, int64_t n, int last, int may_write_in, fbuf *o,
                  int *in_place) {
    *in_place = 0;
    if (last && s->held.n == 0 && may_write_in) {
        /* the whole segment in one piece (the usual case) */
        if (n > INT32_MAX) return sn_fail(SONO_E_LIMIT, "segment too long");
        if (n > 0)
            sn_groupnorm1_forward((float *)in, in, s->w->gn_w, s->w->gn_b, s->C_out, (int)n, 1e-5f, r->n_threads);
        *in_place = 1;
        return 0;
    }
    int rc = fbuf_append(&s->held, in, n, n);
    if (rc) return rc;
    if ((rc = fbuf_setup(o, s->C_out, last ? s->held.n : 0))) return rc;
    if (!last) return 0;
    if (s->held.n > INT32_MAX) return sn_fail(SONO_E_LIMIT, "segment too long");
    if (s->held.n > 0)
        sn_groupnorm1_forward(o->d, s->held.d, s->w->gn_w, s->w->gn_b, s->C_out, (int)s->held.n, 1e-5f, r->n_threads);
    s->held.n = 0;
    return 0;
}

/* ELU; in place when o is NULL (the input is a stage output nothing reads
 * again), else into o (the input is a chain's input, which may be read again). */
static int run_elu(seanet_run *r, stage *s, const float *in, int64_t n, fbuf *o) {
    float *y = (float *)in;
    if (o) {
        int rc = fbuf_setup(o, s->C_out, n);
        if (rc) return rc;
        y = o->d;
    }
    if (n > 0) sn_elu_forward(y, in, (size_t)s->C_out * (size_t)n, 1.0f, r->n_threads);
    return 0;
}

static int run_lstm(seanet_run *r, stage *s, const float *in, int64_t n, fbuf *o) {
    int C = s->C_in, rc;
    if ((rc = fbuf_setup(o, C, n))) return rc;
    if (n == 0) return 0;
    if (n > INT32_MAX) return sn_fail(SONO_E_LIMIT, "chunk too long");
    if (s->layers > 1 && (rc = fbuf_setup(&s->tmp, C, n))) return rc;
    float *scr = scratch_get(r, sn_lstm_scratch_floats(C, C, (int)n));
    if (!scr) return sn_fail(SONO_E_NOMEM, "out of memory");
    /* layers write o and tmp in turn, the last one o */
    const float *x = in;
    for (int l = 0; l < s->layers; l++) {
        float *y = (s->layers - 1 - l) & 1 ? s->tmp.d : o->d;
        float *h = s->hc + (size_t)l * 2 * C, *cc = h + C;
        sn_lstm_forward(y, x, s->lw->w_ih[l], s->lw->w_hh[l], s->lw->b_ih[l], s->lw->b_hh[l], h, cc, C, C, (int)n,
                     scr, r->n_threads);
        x = y;
    }
    size_t tot = (size_t)C * (size_t)n;
    for (size_t i = 0; i < tot; i++) o->d[i] = o->d[i] + in[i];
    return 0;
}

/* Residual block at depth `depth`: shortcut branch a and block branch b run
 * on the same input at depth + 1. The branches may emit different counts
 * (padding holds samples back); what one has emitted beyond the other waits
 * in qa or qb. */
static int run_res(seanet_run *r, stage *s, int depth, const float *in, int64_t n, int last, fbuf *o) {
    const float *oa = in, *ob;
    int64_t na = n, nb;
    int C = s->C_out, rc;
    fbuf *qa = &s->qa, *qb = &s->qb;
    if (s->a && (rc = chain_push(r, s->a, depth + 1, in, n, last, &oa, &na))) return rc;
    /* o [C][avail_a]: all of a's output so far (branch b may overwrite oa) */
    int64_t avail_a = qa->n + na;
    if ((rc = fbuf_setup(o, C, avail_a))) return rc;
    copy_cols(o->d, avail_a, qa->d, qa->n, C, qa->n);
    copy_cols(o->d + qa->n, avail_a, oa, na, C, na);
    if ((rc = chain_push(r, s->b, depth + 1, in, n, last, &ob, &nb))) return rc;
    int64_t emit = SONO_MIN(avail_a, qb->n + nb);
    /* a's samples past emit wait in qa */
    if ((rc = fbuf_setup(qa, C, avail_a - emit))) return rc;
    copy_cols(qa->d, qa->n, o->d + emit, avail_a, C, qa->n);
    /* o [C][emit] = a + b, the rows closed up from stride avail_a to emit
     * (row c moves down, onto rows already done) */
    int64_t from_q = SONO_MIN(qb->n, emit);
    for (int c = 0; c < C && emit > 0; c++) {
        float *y = o->d + (size_t)c * emit;
        if (emit < avail_a) memmove(y, o->d + (size_t)c * avail_a, (size_t)emit * sizeof(float));
        const float *q = qb->d + (size_t)c * qb->n, *b = ob + (size_t)c * nb;
        for (int64_t i = 0; i < from_q; i++) y[i] = y[i] + q[i];
        for (int64_t i = from_q; i < emit; i++) y[i] = y[i] + b[i - from_q];
    }
    o->n = emit;
    /* b's samples past emit wait in qb */
    fbuf_consume(qb, from_q);
    if ((rc = fbuf_append(qb, ob + (emit - from_q), nb - (emit - from_q), nb))) return rc;
    if (last) qa->n = qb->n = 0;
    return 0;
}

/* Stands for the buffer of an empty input or output (n = 0). */
static const float seanet_empty = 0;

static int chain_push(seanet_run *r, chain *ch, int depth, const float *in, int64_t n, int last,
                      const float **out, int64_t *n_out) {
    fbuf *pp = r->pp[depth];
    const float *cur = in;
    int64_t cn = n;
    int ci = -1; /* which of pp holds cur; -1: the chain's input, never written */
    for (int i = 0; i < ch->n; i++) {
        stage *s = &ch->st[i];
        fbuf *o = &pp[ci == 0];
        const float *x;
        int64_t T;
        int rc, in_place = 0;
        switch (s->kind) {
        case ST_PAD: /* a padding stage always precedes a conv */
            s = &ch->st[++i];
            rc = conv_input(r, s, &ch->st[i - 1], cur, cn, last, &x, &T);
            if (!rc) rc = run_conv(r, s, x, T, o);
            break;
        case ST_CONV:
            rc = conv_input(r, s, NULL, cur, cn, last, &x, &T);
            if (!rc) rc = run_conv(r, s, x, T, o);
            break;
        case ST_CONVTR: rc = run_convtr(r, s, cur, cn, last, o); break;
        case ST_TRIM: rc = run_trim(s, cur, cn, last, o); break;
        case ST_GN: rc = run_gn(r, s, cur, cn, last, ci >= 0, o, &in_place); break;
        case ST_ELU:
            in_place = ci >= 0;
            rc = run_elu(r, s, cur, cn, in_place ? NULL : o);
            break;
        case ST_LSTM: rc = run_lstm(r, s, cur, cn, o); break;
        case ST_RES: rc = run_res(r, s, depth, cur, cn, last, o); break;
        default: rc = SONO_E_ARG;
        }
        if (rc) return rc;
        if (!in_place) {
            cur = o->d ? o->d : &seanet_empty;
            cn = o->n;
            ci = (int)(o - pp);
        }
    }
    *out = cur;
    *n_out = cn;
    return 0;
}

seanet_run *sn_seanet_run_new(const sono_codec *c, int which, int *err) {
    seanet_run *r = calloc(1, sizeof *r);
    int rc = r ? 0 : SONO_E_NOMEM;
    if (r) {
        r->c = c;
        r->which = which;
        r->n_threads = c->n_threads;
        if (which && c->cfg.decoder == DECODER_VOCOS) {
            r->voc = sn_vocos_run_new(c, &rc); /* the top chain stays empty */
        } else {
            graph_build g = {c, which ? &c->dec : &c->enc, &r->top, &r->top, NULL};
            rc = sn_seanet_walk(&c->cfg, which, build_layer, &g);
        }
    }
    if (!rc) {
        r->n_depth = chain_depth(&r->top);
        r->pp = calloc((size_t)r->n_depth, sizeof *r->pp);
        if (!r->pp) rc = SONO_E_NOMEM;
    }
    if (rc) {
        if (rc == SONO_E_NOMEM) sn_fail(rc, "out of memory building the codec graph");
        sn_seanet_run_free(r);
        r = NULL;
    }
    if (err) *err = rc;
    return r;
}

int sn_seanet_run_push(seanet_run *r, const float *in, int64_t n, int last, const float **out, int64_t *n_out) {
    if (r->voc) return sn_vocos_run_push(r->voc, in, n, last, out, n_out);
    return chain_push(r, &r->top, 0, in ? in : &seanet_empty, n, last, out, n_out);
}

void sn_seanet_run_reset(seanet_run *r) {
    if (r->voc) sn_vocos_run_reset(r->voc);
    else chain_reset(&r->top);
}

void sn_seanet_run_free(seanet_run *r) {
    if (!r) return;
    sn_vocos_run_free(r->voc);
    chain_free(&r->top);
    for (int d = 0; r->pp && d < r->n_depth; d++) {
        free(r->pp[d][0].d);
        free(r->pp[d][1].d);
    }
    free(r->pp);
    free(r->cin.d);
    free(r->scratch);
    free(r);
}
