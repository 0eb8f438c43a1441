/* Training graph of the whole codec: a tape of nodes (pad, conv, transposed
 * conv, GroupNorm, trim, ELU, LSTM, add, RVQ, and a Vocos decoder head as one
 * node whose inner activations vocos_train.c keeps in the saved area) over
 * tensors laid out in one arena, built once from (config, B, T). The forward runs the nodes in order
 * on the fast kernels of kernels.h (single-threaded: one graph per worker
 * thread; scratch from the arena) and keeps every node's input (the arena
 * holds all activations); the backward runs them in exact reverse order with
 * the kernels_grad.h backwards, accumulating into per-tensor gradients, then
 * folds the effective-weight gradients back through weight norm.
 * sn_train_graph_set_ref_kernels switches both to the plain `_ref` loops. The
 * nearest-code search is one GEMM per codebook and crop (dots = E x r, on the
 * conv engine as a 1x1 conv) followed by rvq.c's distance and tie rule.
 *
 * Padding and trimming follow EnCodec's SConv1d / SConvTranspose1d exactly
 * (see seanet.c and ENCODEC.md): lengths are fixed, so the "extra" right
 * padding is decided at build time. A pad is a gather (each padded column
 * reads one input column or zero), so its backward is the matching
 * scatter-add. */
#include "train_graph.h"
#include <math.h>
#include <time.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "kernels_grad.h"
#include "sono_internal.h"
#include "tensors.h"
#include "vocos_train.h"

enum { N_PAD, N_CONV, N_CONVTR, N_GN, N_TRIM, N_ELU, N_LSTM, N_ADD, N_RVQ, N_VOCOS };
static const char *const kind_names[TRAIN_NODE_KINDS] = {"pad", "conv", "convtr", "groupnorm", "trim",
                                                         "elu", "lstm", "add", "rvq", "vocos"};

#define GN_EPS 1e-5f
#define NONE ((size_t)-1)

typedef struct {
    int C, L;
    size_t off;     /* floats into act / dact; batch b at off + b * C * L */
    int grad;       /* 0: no gradient wanted (the audio input) */
    int zero_at;    /* backward zeroes the gradient just before this node (its last
                     * consumer, the first to write it; -1: before the loss) */
} tg_tensor;

typedef struct {
    int kind;
    int in, in2, out;   /* tensor ids (in2: ADD) */
    int pl, pr;         /* PAD: columns added left/right; TRIM: columns removed */
    int L_src;          /* PAD: input length */
    int idx;            /* conv or lstm index */
} tg_node;

typedef struct {
    int C_in, C_out, K, stride, dil, tr;
    int p_w, p_g, p_v, p_b, p_gnw, p_gnb; /* parameter indices, -1 none */
    size_t weff;        /* offset into weff/dweff (weight norm), NONE otherwise */
} tg_conv;

typedef struct {
    int C, layers;
    int p_wih[4], p_whh[4], p_bih[4], p_bhh[4];
    int mid[4];         /* tensor of each layer's output */
    size_t saved;       /* offset into saved: [layer][B] blocks of sn_lstm_saved_floats(C, L) */
} tg_lstm;

struct train_graph {
    codec_config cfg;
    int B, T, n_q, commit_all, err;
    sn_param_table pt;    /* the flat parameters (and gradients): names, shapes, offsets */
    tg_tensor *ten;
    int n_ten, cap_ten;
    tg_node *nodes;
    int n_nodes, cap_nodes;
    tg_conv *convs;
    int n_convs, cap_convs;
    tg_lstm lstm[2];
    int n_lstm;
    vocos_head vocos;   /* DECODER_VOCOS: the decoder head (its node: N_VOCOS) */
    size_t vocos_saved; /* offset into saved: [B] blocks of sn_vocos_act_floats */
    size_t n_weff, n_act, n_saved, n_lscr; /* n_lscr: scratch for kernels, LSTM and code search */
    int t_audio, t_latent, t_dec_in, t_out, F;
    int first_dec_node;   /* nodes [0, first_dec_node) are the encoder and the RVQ */
    size_t n_enc_floats;  /* their parameters: the flat buffer's first n_enc_floats */
    int freeze_encoder;   /* 1: the backward stops at the decoder's input */
    size_t arena_bytes;
    void *block;
    float *params, *grads, *weff, *dweff, *act, *dact, *saved, *lscr;
    float *codebooks, *cb_sq, *resid;
    int32_t *idx;
    float commit_weight, l1_weight;
    int n_active;       /* codebooks the next forwards use (quantizer dropout) */
    int use_ref;        /* 1: the plain _ref kernels */
    int timing;
    double t_fwd[TRAIN_NODE_KINDS], t_bwd[TRAIN_NODE_KINDS];
    const float *audio; /* copy lives in the audio tensor */
};

/* ---- building ---- */

static void *grow(void *p, int *cap, int n, size_t elt, train_graph *g) {
    if (n < *cap) return p;
    int nc = *cap ? *cap * 2 : 32;
    void *np = realloc(p, (size_t)nc * elt);
    if (!np) { g->err = SONO_E_NOMEM; return p; }
    *cap = nc;
    return np;
}

static int new_tensor(train_graph *g, int C, int L) {
    g->ten = grow(g->ten, &g->cap_ten, g->n_ten, sizeof *g->ten, g);
    if (g->err) return 0;
    tg_tensor *t = &g->ten[g->n_ten];
    t->C = C; t->L = L; t->off = g->n_act; t->grad = 1; t->zero_at = -1;
    g->n_act += (size_t)g->B * C * L;
    return g->n_ten++;
}

static tg_node *new_node(train_graph *g, int kind, int in, int out) {
    g->nodes = grow(g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes, g);
    if (g->err) return NULL;
    tg_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->kind = kind; n->in = in; n->out = out; n->in2 = -1;
    return n;
}

static int add_param(train_graph *g, const char *prefix, const char *suffix, int ndim,
                     int64_t d0, int64_t d1, int64_t d2) {
    const int64_t sh[3] = {d0, d1, d2};
    int i = sn_params_add(&g->pt, prefix, suffix, ndim, sh);
    if (i < 0) {
        g->err = i;
        return -1;
    }
    return i;
}

/* Parameters of conv layer y (tr = 0) or transposed conv (tr = 1) over C_in
 * channels, under the walk's canonical names. */
static int new_conv(train_graph *g, const seanet_layer *y, int tr, int C_in) {
    const int C_out = y->C_out, K = y->K, stride = y->stride, dil = y->dil;
    g->convs = grow(g->convs, &g->cap_convs, g->n_convs, sizeof *g->convs, g);
    if (g->err) return 0;
    tg_conv *c = &g->convs[g->n_convs];
    memset(c, 0, sizeof *c);
    c->C_in = C_in; c->C_out = C_out; c->K = K; c->stride = stride; c->dil = dil; c->tr = tr;
    c->p_w = c->p_g = c->p_v = c->p_gnw = c->p_gnb = -1;
    c->weff = NONE;
    const char *pre = y->param;
    int64_t d0 = tr ? C_in : C_out, d1 = tr ? C_out : C_in;
    if (g->cfg.norm == NORM_WEIGHT) {
        /* weight_g [rows,1,1], weight_v [rows][inner]: weight_norm(dim=0), rows = dim 0 */
        c->p_g = add_param(g, pre, ".weight_g", 3, d0, 1, 1);
        c->p_v = add_param(g, pre, ".weight_v", 3, d0, d1, K);
        c->weff = g->n_weff;
        g->n_weff += (size_t)d0 * d1 * K;
    } else {
        c->p_w = add_param(g, pre, ".weight", 3, d0, d1, K);
    }
    c->p_b = add_param(g, pre, ".bias", 1, C_out, 0, 0);
    if (g->cfg.norm == NORM_TIME_GROUP) {
        c->p_gnw = add_param(g, y->norm, ".weight", 1, C_out, 0, 0);
        c->p_gnb = add_param(g, y->norm, ".bias", 1, C_out, 0, 0);
    }
    return g->n_convs++;
}

/* SConv1d: pad (EnCodec's rule, "extra" on the right), conv, GroupNorm. Returns the output tensor. */
static int b_sconv(train_graph *g, const seanet_layer *y, int in) {
    if (g->err) return 0;
    const int C_out = y->C_out, K = y->K, stride = y->stride, dil = y->dil;
    int C_in = g->ten[in].C, L = g->ten[in].L;
    int ci = new_conv(g, y, 0, C_in);
    if (g->err) return 0;
    int eff = (K - 1) * dil + 1, pt = eff - stride;
    if (pt < 0) { g->err = sn_fail(SONO_E_UNSUPPORTED, "conv with kernel %d smaller than stride %d", K, stride); return 0; }
    int extra = (int)(((int64_t)L + stride - 1) / stride * stride - L);
    int pl, pr;
    if (g->cfg.causal) { pl = pt; pr = extra; }
    else { pl = pt - pt / 2; pr = pt / 2 + extra; }
    int cur = in;
    if (pl || pr) {
        cur = new_tensor(g, C_in, pl + L + pr);
        tg_node *n = new_node(g, N_PAD, in, cur);
        if (!n) return 0;
        n->pl = pl; n->pr = pr; n->L_src = L;
    }
    int Lo = conv1d_out_len(pl + L + pr, K, stride, dil);
    if (Lo <= 0) { g->err = sn_fail(SONO_E_ARG, "crop too short for %s", y->module); return 0; }
    int out = new_tensor(g, C_out, Lo);
    tg_node *n = new_node(g, N_CONV, cur, out);
    if (!n) return 0;
    n->idx = ci;
    if (g->cfg.norm == NORM_TIME_GROUP) {
        int o2 = new_tensor(g, C_out, Lo);
        if ((n = new_node(g, N_GN, out, o2))) n->idx = ci;
        out = o2;
    }
    return out;
}

/* SConvTranspose1d: convtr, GroupNorm on the untrimmed output, trim. */
static int b_sconvtr(train_graph *g, const seanet_layer *y, int in) {
    if (g->err) return 0;
    const int C_out = y->C_out, K = y->K, stride = y->stride;
    int C_in = g->ten[in].C, L = g->ten[in].L;
    int ci = new_conv(g, y, 1, C_in);
    if (g->err) return 0;
    int pt = K - stride;
    if (pt < 0) { g->err = sn_fail(SONO_E_UNSUPPORTED, "transposed conv with kernel %d smaller than stride %d", K, stride); return 0; }
    int Lf = (L - 1) * stride + K;
    int out = new_tensor(g, C_out, Lf);
    tg_node *n = new_node(g, N_CONVTR, in, out);
    if (!n) return 0;
    n->idx = ci;
    if (g->cfg.norm == NORM_TIME_GROUP) {
        int o2 = new_tensor(g, C_out, Lf);
        if ((n = new_node(g, N_GN, out, o2))) n->idx = ci;
        out = o2;
    }
    int pl, pr;
    if (g->cfg.causal) { pr = (int)ceil(pt * g->cfg.trim_right_ratio); pl = pt - pr; }
    else { pr = pt / 2; pl = pt - pr; }
    if (pl || pr) {
        int o3 = new_tensor(g, C_out, Lf - pl - pr);
        if ((n = new_node(g, N_TRIM, out, o3))) { n->pl = pl; n->pr = pr; }
        out = o3;
    }
    return out;
}

static int b_elu(train_graph *g, int in) {
    if (g->err) return 0;
    int out = new_tensor(g, g->ten[in].C, g->ten[in].L);
    new_node(g, N_ELU, in, out);
    return out;
}

static int b_add(train_graph *g, int a, int b) {
    if (g->err) return 0;
    int out = new_tensor(g, g->ten[a].C, g->ten[a].L);
    tg_node *n = new_node(g, N_ADD, a, out);
    if (n) n->in2 = b;
    return out;
}

/* SLSTM: LSTM layers, output + input. */
static int b_lstm(train_graph *g, const seanet_layer *y, int in) {
    if (g->err) return 0;
    tg_lstm *s = &g->lstm[g->n_lstm];
    int C = g->ten[in].C, L = g->ten[in].L;
    s->C = C;
    s->layers = g->cfg.lstm_layers;
    for (int l = 0; l < s->layers; l++) {
        int *slot[4] = {&s->p_wih[l], &s->p_whh[l], &s->p_bih[l], &s->p_bhh[l]};
        for (int k = 0; k < 4; k++) {
            char sfx[32];
            int64_t sh[2];
            int nd = sn_seanet_lstm_param(l, k, C, sfx, sizeof sfx, sh);
            *slot[k] = add_param(g, y->param, sfx, nd, sh[0], sh[1], 0);
        }
        s->mid[l] = new_tensor(g, C, L);
    }
    s->saved = g->n_saved;
    g->n_saved += (size_t)s->layers * g->B * sn_lstm_saved_floats(C, L);
    size_t ls = sn_lstm_backward_scratch_floats(C);
    if (ls > g->n_lscr) g->n_lscr = ls;
    int out = new_tensor(g, C, L);
    tg_node *n = new_node(g, N_LSTM, in, out);
    if (n) n->idx = g->n_lstm;
    g->n_lstm++;
    return out;
}

/* One SEANet stack from sn_seanet_walk's layers: x is the running tensor; a
 * residual block's shortcut (its conv, or the identity) reads the block's
 * input and is added to the block's output at RES_END. */
typedef struct {
    train_graph *g;
    int x, res_in, sc;
} tg_walk;

static int build_layer(const seanet_layer *y, void *user) {
    tg_walk *w = user;
    train_graph *g = w->g;
    switch (y->kind) {
    case SEANET_CONV:
        if (y->role == SEANET_RES_SHORTCUT) w->sc = b_sconv(g, y, w->res_in);
        else w->x = b_sconv(g, y, w->x);
        break;
    case SEANET_CONVTR: w->x = b_sconvtr(g, y, w->x); break;
    case SEANET_ELU: w->x = b_elu(g, w->x); break;
    case SEANET_LSTM: w->x = b_lstm(g, y, w->x); break;
    case SEANET_RES_BEGIN: w->res_in = w->sc = w->x; break;
    case SEANET_RES_END: w->x = b_add(g, w->sc, w->x); break;
    default: break;
    }
    return g->err;
}

static void build(train_graph *g) {
    const codec_config *cfg = &g->cfg;
    g->t_audio = new_tensor(g, cfg->channels, g->T);
    g->ten[g->t_audio].grad = 0;
    tg_walk w = {g, g->t_audio, 0, 0};
    if (sn_seanet_walk(cfg, 0, build_layer, &w) || g->err) return;
    int x = w.x;
    g->t_latent = x;
    g->F = g->ten[x].L;
    if (g->n_q > 0) {
        int q = new_tensor(g, cfg->dimension, g->F);
        new_node(g, N_RVQ, x, q);
        x = q;
    }
    g->t_dec_in = x;
    g->first_dec_node = g->n_nodes;
    g->n_enc_floats = g->pt.n_floats;
    if (cfg->decoder == DECODER_VOCOS) {
        if ((g->err = sn_vocos_head_init(&g->vocos, cfg, g->F, &g->pt))) return;
        g->vocos_saved = g->n_saved;
        g->n_saved += (size_t)g->B * sn_vocos_act_floats(&g->vocos);
        if (g->vocos.scratch_floats > g->n_lscr) g->n_lscr = g->vocos.scratch_floats;
        int y = new_tensor(g, 1, g->F * g->vocos.hop);
        new_node(g, N_VOCOS, x, y);
        x = y;
    } else {
        w.x = x;
        if (sn_seanet_walk(cfg, 1, build_layer, &w) || g->err) return;
        x = w.x;
    }
    g->t_out = x;
    if (g->ten[x].L < g->T)
        g->err = sn_fail(SONO_E_ARG, "decoder gives %d samples for a crop of %d (use a multiple of the hop)",
                           g->ten[x].L, g->T);
}

train_graph *sn_train_graph_new(const codec_config *cfg, int B, int T, int n_q, int *err) {
    int rc = sn_codec_config_check(cfg);
    train_graph *g = NULL;
    if (!rc && (B < 1 || T < 1 || n_q < 0 || n_q > cfg->n_q || n_q > TRAIN_MAX_Q || cfg->lstm_layers > 4))
        rc = sn_fail(SONO_E_ARG, "train graph: bad batch %d, crop %d or codebook count %d", B, T, n_q);
    if (!rc && !(g = calloc(1, sizeof *g))) rc = sn_fail(SONO_E_NOMEM, "out of memory");
    if (!rc) {
        g->cfg = *cfg;
        g->B = B; g->T = T; g->n_q = n_q;
        build(g);
        rc = g->err;
    }
    if (!rc) {
        g->n_active = n_q;
        for (int ni = 0; ni < g->n_nodes; ni++) {
            const tg_node *n = &g->nodes[ni];
            g->ten[n->in].zero_at = ni;
            if (n->in2 >= 0) g->ten[n->in2].zero_at = ni;
            if (n->kind == N_LSTM)
                for (int l = 0; l < g->lstm[n->idx].layers; l++) g->ten[g->lstm[n->idx].mid[l]].zero_at = ni;
        }
        /* one scratch area, used by one kernel at a time */
        for (int ni = 0; ni < g->n_nodes; ni++) {
            const tg_node *n = &g->nodes[ni];
            size_t need = 0;
            if (n->kind == N_CONV || n->kind == N_CONVTR) {
                const tg_conv *c = &g->convs[n->idx];
                int Li = g->ten[n->in].L, Lo = g->ten[n->out].L;
                if (c->tr) need = SONO_MAX(sn_convtr1d_scratch_floats(c->C_out, c->K, Li),
                                           sn_convtr1d_backward_scratch_floats(c->C_in, c->C_out, Li, c->K, c->stride));
                else need = SONO_MAX(sn_conv1d_scratch_floats(c->C_in, c->K, Lo),
                                     sn_conv1d_backward_scratch_floats(c->C_in, c->C_out, Li, c->K, c->stride, c->dil));
            } else if (n->kind == N_RVQ) {
                need = (size_t)cfg->codebook_size * g->F + sn_conv1d_scratch_floats(cfg->dimension, 1, g->F);
            }
            if (need > g->n_lscr) g->n_lscr = need;
        }
    }
    if (!rc) {
        size_t D = (size_t)cfg->dimension, K = (size_t)cfg->codebook_size, F = (size_t)g->F;
        size_t n_cb = (size_t)n_q * K * D, n_res = (size_t)n_q * B * D * F, n_idx = (size_t)n_q * B * F;
        size_t floats = 2 * g->pt.n_floats + 2 * g->n_weff + 2 * g->n_act + g->n_saved + g->n_lscr + n_cb +
                        (size_t)n_q * K + n_res + n_idx;
        if (floats > SONO_MAX_ALLOC / sizeof(float)) rc = sn_fail(SONO_E_LIMIT, "train graph needs %zu floats", floats);
        else if (!(g->block = calloc(floats ? floats : 1, sizeof(float)))) rc = sn_fail(SONO_E_NOMEM, "out of memory (%zu floats)", floats);
        if (!rc) {
#ifdef MADV_HUGEPAGE
            /* hundreds of MB streamed per step: huge pages spare the TLB (a hint;
             * where the kernel ignores it nothing changes) */
            uintptr_t a0 = ((uintptr_t)g->block + 4095) & ~(uintptr_t)4095;
            uintptr_t a1 = ((uintptr_t)g->block + floats * sizeof(float)) & ~(uintptr_t)4095;
            if (a1 > a0) madvise((void *)a0, a1 - a0, MADV_HUGEPAGE);
#endif
            float *p = g->block;
            g->params = p; p += g->pt.n_floats;
            g->grads = p; p += g->pt.n_floats;
            g->weff = p; p += g->n_weff;
            g->dweff = p; p += g->n_weff;
            g->act = p; p += g->n_act;
            g->dact = p; p += g->n_act;
            g->saved = p; p += g->n_saved;
            g->lscr = p; p += g->n_lscr;
            g->codebooks = p; p += n_cb;
            g->cb_sq = p; p += (size_t)n_q * K;
            g->resid = p; p += n_res;
            g->idx = (int32_t *)p;
            g->arena_bytes = (2 * g->n_act + g->n_saved + g->n_lscr + n_res + n_idx) * sizeof(float);
        }
    }
    if (rc) { sn_train_graph_free(g); g = NULL; }
    if (err) *err = rc;
    return g;
}

void sn_train_graph_free(train_graph *g) {
    if (!g) return;
    sn_params_free(&g->pt);
    sn_vocos_head_free(&g->vocos);
    free(g->ten);
    free(g->nodes);
    free(g->convs);
    free(g->block);
    free(g);
}

const train_param *sn_train_graph_param_table(const train_graph *g, int *n_params) {
    if (n_params) *n_params = g->pt.n;
    return g->pt.p;
}
float *sn_train_graph_params(train_graph *g) { return g->params; }
float *sn_train_graph_grads(train_graph *g) { return g->grads; }
size_t sn_train_graph_n_floats(const train_graph *g) { return g->pt.n_floats; }
float *sn_train_graph_codebooks(train_graph *g) { return g->codebooks; }
size_t sn_train_graph_arena_bytes(const train_graph *g) { return g->arena_bytes; }
void sn_train_graph_set_commit_all_layers(train_graph *g, int all_layers) { g->commit_all = all_layers != 0; }
void sn_train_graph_set_freeze_encoder(train_graph *g, int frozen) { g->freeze_encoder = frozen != 0; }
size_t sn_train_graph_encoder_floats(const train_graph *g) { return g->n_enc_floats; }
void sn_train_graph_zero_grad(train_graph *g) { memset(g->grads, 0, g->pt.n_floats * sizeof(float)); }

void sn_train_graph_codebooks_changed(train_graph *g) {
    size_t D = (size_t)g->cfg.dimension, K = (size_t)g->cfg.codebook_size;
    for (size_t k = 0; k < (size_t)g->n_q * K; k++) {
        const float *e = g->codebooks + k * D;
        float s = 0;
        for (size_t d = 0; d < D; d++) s += e[d] * e[d];
        g->cb_sq[k] = s;
    }
}

int sn_train_graph_load(train_graph *g, const sono_tensors *ts) {
    for (int i = 0; i < g->pt.n; i++) {
        const train_param *p = &g->pt.p[i];
        float *dst = g->params + p->offset;
        const sono_tensor *t = sn_tensors_find(ts, p->name);
        if (t) {
            if ((size_t)t->numel != p->numel)
                return sn_fail(SONO_E_MODEL_MISMATCH, "tensor %s has %lld values, the config needs %zu", p->name,
                                 (long long)t->numel, p->numel);
            memcpy(dst, t->data, p->numel * sizeof(float));
            continue;
        }
        /* weight_g / weight_v from a folded weight: g = row norm, v = weight */
        size_t L = strlen(p->name);
        int is_g = L > 9 && !strcmp(p->name + L - 9, ".weight_g"), is_v = L > 9 && !strcmp(p->name + L - 9, ".weight_v");
        if (is_g || is_v) {
            char base[112];
            snprintf(base, sizeof base, "%.*s.weight", (int)(L - 9), p->name);
            const sono_tensor *w = sn_tensors_find(ts, base);
            size_t rows = (size_t)p->shape[0];
            size_t numel_w = is_v ? p->numel : 0;
            if (w && is_v && (size_t)w->numel == numel_w) { memcpy(dst, w->data, p->numel * sizeof(float)); continue; }
            if (w && is_g && rows && (size_t)w->numel % rows == 0) {
                size_t inner = (size_t)w->numel / rows;
                for (size_t r = 0; r < rows; r++) {
                    double s = 0;
                    for (size_t k = 0; k < inner; k++) s += (double)w->data[r * inner + k] * w->data[r * inner + k];
                    dst[r] = (float)sqrt(s);
                }
                continue;
            }
        }
        return sn_fail(SONO_E_MODEL_MISMATCH, "weights have no tensor %s", p->name);
    }
    size_t KD = (size_t)g->cfg.codebook_size * g->cfg.dimension;
    for (int q = 0; q < g->n_q; q++) {
        char nm[96];
        snprintf(nm, sizeof nm, "quantizer.vq.layers.%d._codebook.embed", q);
        const sono_tensor *t = sn_tensors_find(ts, nm);
        if (!t || (size_t)t->numel != KD) return sn_fail(SONO_E_MODEL_MISMATCH, "weights have no codebook %s", nm);
        memcpy(g->codebooks + q * KD, t->data, KD * sizeof(float));
    }
    sn_train_graph_codebooks_changed(g);
    return 0;
}

/* ---- forward ---- */

static float *T_val(train_graph *g, int t, int b) { return g->act + g->ten[t].off + (size_t)b * g->ten[t].C * g->ten[t].L; }
static float *T_grad(train_graph *g, int t, int b) {
    return g->ten[t].grad ? g->dact + g->ten[t].off + (size_t)b * g->ten[t].C * g->ten[t].L : NULL;
}
static float *P(train_graph *g, int i) { return i < 0 ? NULL : g->params + g->pt.p[i].offset; }
static float *PG(train_graph *g, int i) { return i < 0 ? NULL : g->grads + g->pt.p[i].offset; }
static const float *conv_weight(train_graph *g, const tg_conv *c) {
    return c->weff != NONE ? g->weff + c->weff : P(g, c->p_w);
}
static float *conv_dweight(train_graph *g, const tg_conv *c) {
    return c->weff != NONE ? g->dweff + c->weff : PG(g, c->p_w);
}

/* pad1d source column of padded column i (-1: zero), as EnCodec's pad1d:
 * reflect pads zero-extend first when the signal is too short to reflect. */
static int pad_src(int i, int pl, int pr, int L, int mode) {
    int j = i - pl;
    if (mode == PAD_ZERO) return j >= 0 && j < L ? j : -1;
    int max_pad = SONO_MAX(pl, pr), M = L <= max_pad ? max_pad + 1 : L;
    if (j < 0) j = -j;
    if (j >= M) j = 2 * (M - 1) - j;
    return j < L ? j : -1;
}

/* Nearest code for every frame of every crop, codebook by codebook, on the
 * residual, with rvq.c's distance (|r|^2 - 2 r.e) + |e|^2 and tie rule (the
 * first of equal distances); q_out = sum of chosen codes. The dots of all
 * codes with all frames of a crop are one GEMM, dots [K][F] = E [K][D] x r [D][F]
 * (a 1x1 conv with K output channels); their float rounding differs from a
 * scalar loop's, which can only matter for codes at equal distance to float
 * precision. Only the first n_active codebooks are used; the residuals and
 * indices of the others are left as they are. */
static void rvq_forward(train_graph *g, const tg_node *n, train_losses *lo) {
    const int D = g->cfg.dimension, K = g->cfg.codebook_size, F = g->F, B = g->B, nq = g->n_active;
    float *dots = g->lscr;                                  /* [K][F] */
    float *best = dots + (size_t)K * F, *x2 = best + F;     /* [F], [F] */
    float *cscr = x2 + F;
    for (int q = 0; q < TRAIN_MAX_Q; q++) lo->commit_q[q] = 0;
    for (int b = 0; b < B; b++) {
        const float *z = T_val(g, n->in, b);   /* [D][F] */
        float *qo = T_val(g, n->out, b);        /* [D][F] */
        memset(qo, 0, (size_t)D * F * sizeof(float));
        float *r0 = g->resid + (size_t)b * D * F;
        memcpy(r0, z, (size_t)D * F * sizeof(float));
        for (int q = 0; q < nq; q++) {
            float *r = g->resid + ((size_t)q * B + b) * D * F;
            const float *E = g->codebooks + (size_t)q * K * D, *e2 = g->cb_sq + (size_t)q * K;
            int32_t *ix = g->idx + ((size_t)q * B + b) * F;
            if (g->use_ref) sn_conv1d_forward_ref(dots, r, E, NULL, D, K, F, 1, 1, 1, NULL, 1);
            else sn_conv1d_forward(dots, r, E, NULL, D, K, F, 1, 1, 1, cscr, 1);
            for (int f = 0; f < F; f++) {
                float s2 = 0;
                for (int d = 0; d < D; d++) s2 += r[(size_t)d * F + f] * r[(size_t)d * F + f];
                x2[f] = s2;
                best[f] = (s2 - 2.0f * dots[f]) + e2[0];
                ix[f] = 0;
            }
            for (int k = 1; k < K; k++) {
                const float *dk = dots + (size_t)k * F;
                for (int f = 0; f < F; f++) {
                    float dist = (x2[f] - 2.0f * dk[f]) + e2[k];
                    if (dist < best[f]) { best[f] = dist; ix[f] = k; }
                }
            }
            double sse = 0;
            float *rn = q + 1 < nq ? g->resid + ((size_t)(q + 1) * B + b) * D * F : NULL;
            for (int d = 0; d < D; d++)
                for (int f = 0; f < F; f++) {
                    float e = E[(size_t)ix[f] * D + d], diff = r[(size_t)d * F + f] - e;
                    sse += (double)diff * diff;
                    qo[(size_t)d * F + f] += e;
                    if (rn) rn[(size_t)d * F + f] = diff;
                }
            lo->commit_q[q] += sse;
        }
    }
    double commit = 0;
    for (int q = 0; q < nq; q++) {
        lo->commit_q[q] /= (double)B * D * F;
        commit += lo->commit_q[q];
    }
    lo->commit = nq ? commit / nq : 0;
}

static void lstm_fwd(train_graph *g, const tg_node *n, int b) {
    const tg_lstm *s = &g->lstm[n->idx];
    int C = s->C, L = g->ten[n->in].L;
    const float *x = T_val(g, n->in, b);
    for (int l = 0; l < s->layers; l++) {
        lstm_saved sv;
        sn_lstm_saved_point(&sv, g->saved + s->saved + ((size_t)l * g->B + b) * sn_lstm_saved_floats(C, L), C, L);
        float *y = T_val(g, s->mid[l], b);
        sn_lstm_forward_train(y, &sv, x, P(g, s->p_wih[l]), P(g, s->p_whh[l]), P(g, s->p_bih[l]), P(g, s->p_bhh[l]),
                           NULL, NULL, C, C, L);
        x = y;
    }
    const float *in = T_val(g, n->in, b);
    float *o = T_val(g, n->out, b);
    for (size_t i = 0; i < (size_t)C * L; i++) o[i] = x[i] + in[i];
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void weightnorm_all(train_graph *g) {
    for (int i = 0; i < g->n_convs; i++) {
        const tg_conv *c = &g->convs[i];
        if (c->weff == NONE) continue;
        int rows = c->tr ? c->C_in : c->C_out, inner = (c->tr ? c->C_out : c->C_in) * c->K;
        sn_weightnorm_forward(g->weff + c->weff, P(g, c->p_g), P(g, c->p_v), rows, inner);
    }
}

/* One node for the whole batch. bypass_rvq: the quantizer node passes the
 * latents through (data-dependent init, before the codebooks exist). */
static void fwd_node(train_graph *g, const tg_node *n, train_losses *lo, int bypass_rvq) {
    double t0 = g->timing ? now_s() : 0;
    const tg_tensor *ti = &g->ten[n->in], *to = &g->ten[n->out];
    if (n->kind == N_RVQ) {
        if (bypass_rvq)
            memcpy(T_val(g, n->out, 0), T_val(g, n->in, 0), (size_t)g->B * ti->C * ti->L * sizeof(float));
        else
            rvq_forward(g, n, lo);
        if (g->timing) g->t_fwd[n->kind] += now_s() - t0;
        return;
    }
    const int ref = g->use_ref;
    if (n->kind == N_VOCOS) {
        size_t per = sn_vocos_act_floats(&g->vocos);
        for (int b = 0; b < g->B; b++)
            sn_vocos_forward(&g->vocos, T_val(g, n->out, b), g->saved + g->vocos_saved + (size_t)b * per, g->lscr,
                             T_val(g, n->in, b), g->params, ref);
        if (g->timing) g->t_fwd[n->kind] += now_s() - t0;
        return;
    }
    for (int b = 0; b < g->B; b++) {
        const float *x = T_val(g, n->in, b);
        float *y = T_val(g, n->out, b);
        const tg_conv *c = n->kind == N_CONV || n->kind == N_CONVTR || n->kind == N_GN ? &g->convs[n->idx] : NULL;
        switch (n->kind) {
        case N_PAD:
            for (int ch = 0; ch < ti->C; ch++) {
                float *yc = y + (size_t)ch * to->L;
                const float *xc = x + (size_t)ch * ti->L;
                memcpy(yc + n->pl, xc, (size_t)ti->L * sizeof(float)); /* the middle is a copy */
                for (int i = 0; i < to->L; i++) {
                    if (i == n->pl) i += ti->L;
                    if (i >= to->L) break;
                    int j = pad_src(i, n->pl, n->pr, ti->L, g->cfg.pad_mode);
                    yc[i] = j < 0 ? 0.0f : xc[j];
                }
            }
            break;
        case N_CONV:
            if (ref)
                sn_conv1d_forward_ref(y, x, conv_weight(g, c), P(g, c->p_b), c->C_in, c->C_out, ti->L, c->K, c->stride,
                                   c->dil, NULL, 1);
            else
                sn_conv1d_forward(y, x, conv_weight(g, c), P(g, c->p_b), c->C_in, c->C_out, ti->L, c->K, c->stride,
                               c->dil, g->lscr, 1);
            break;
        case N_CONVTR:
            if (ref)
                sn_convtr1d_forward_ref(y, x, conv_weight(g, c), P(g, c->p_b), c->C_in, c->C_out, ti->L, c->K,
                                     c->stride, NULL, 1);
            else
                sn_convtr1d_forward(y, x, conv_weight(g, c), P(g, c->p_b), c->C_in, c->C_out, ti->L, c->K, c->stride,
                                 g->lscr, 1);
            break;
        case N_GN:
            if (ref) sn_groupnorm1_forward_ref(y, x, P(g, c->p_gnw), P(g, c->p_gnb), ti->C, ti->L, GN_EPS, 1);
            else sn_groupnorm1_forward(y, x, P(g, c->p_gnw), P(g, c->p_gnb), ti->C, ti->L, GN_EPS, 1);
            break;
        case N_TRIM:
            for (int ch = 0; ch < ti->C; ch++)
                memcpy(y + (size_t)ch * to->L, x + (size_t)ch * ti->L + n->pl, (size_t)to->L * sizeof(float));
            break;
        case N_ELU:
            if (ref) sn_elu_forward_ref(y, x, (size_t)ti->C * ti->L, 1.0f, 1);
            else sn_elu_forward(y, x, (size_t)ti->C * ti->L, 1.0f, 1);
            break;
        case N_LSTM: lstm_fwd(g, n, b); break;
        case N_ADD: {
            const float *x2 = T_val(g, n->in2, b);
            for (size_t i = 0; i < (size_t)ti->C * ti->L; i++) y[i] = x[i] + x2[i];
            break;
        }
        default: break;
        }
    }
    if (g->timing) g->t_fwd[n->kind] += now_s() - t0;
}

int sn_train_graph_forward(train_graph *g, const float *audio, float l1_weight, float commit_weight, train_losses *out) {
    train_losses lo;
    memset(&lo, 0, sizeof lo);
    g->commit_weight = commit_weight;
    g->l1_weight = l1_weight;
    weightnorm_all(g);
    memcpy(T_val(g, g->t_audio, 0), audio, (size_t)g->B * g->cfg.channels * g->T * sizeof(float));
    for (int ni = 0; ni < g->n_nodes; ni++) fwd_node(g, &g->nodes[ni], &lo, 0);
    /* waveform L1 over the first T samples of each crop */
    const tg_tensor *yo = &g->ten[g->t_out];
    double s = 0;
    for (int b = 0; b < g->B; b++)
        for (int ch = 0; ch < yo->C; ch++) {
            const float *y = T_val(g, g->t_out, b) + (size_t)ch * yo->L;
            const float *x = audio + ((size_t)b * yo->C + ch) * g->T;
            for (int t = 0; t < g->T; t++) s += fabs((double)y[t] - x[t]);
        }
    lo.l1 = s / ((double)g->B * yo->C * g->T);
    lo.total = l1_weight * lo.l1 + commit_weight * lo.commit;
    g->audio = T_val(g, g->t_audio, 0);
    if (out) *out = lo;
    return 0;
}

const float *sn_train_graph_output(const train_graph *g) { return g->act + g->ten[g->t_out].off; }
int sn_train_graph_output_len(const train_graph *g) { return g->ten[g->t_out].L; }
int sn_train_graph_frames(const train_graph *g) { return g->F; }
const float *sn_train_graph_latents(const train_graph *g) { return g->act + g->ten[g->t_latent].off; }
const float *sn_train_graph_residual(const train_graph *g, int q) {
    return q >= 0 && q < g->n_q ? g->resid + (size_t)q * g->B * g->cfg.dimension * g->F : NULL;
}
const int32_t *sn_train_graph_indices(const train_graph *g, int q) {
    return q >= 0 && q < g->n_q ? g->idx + (size_t)q * g->B * g->F : NULL;
}

/* ---- backward ---- */

/* Straight-through: the decoder input's gradient passes to the latents
 * unchanged; plus d(commit_weight * mean_q commit_q)/d latents. */
static void rvq_backward(train_graph *g, const tg_node *n) {
    const int D = g->cfg.dimension, K = g->cfg.codebook_size, F = g->F, B = g->B;
    const double coef = (double)g->commit_weight * 2.0 / ((double)g->n_active * B * D * F);
    int nq_grad = g->commit_all ? g->n_active : 1;
    for (int b = 0; b < B; b++) {
        float *dz = T_grad(g, n->in, b);
        const float *dq = T_grad(g, n->out, b);
        for (size_t i = 0; i < (size_t)D * F; i++) dz[i] += dq[i];
        for (int q = 0; q < nq_grad; q++) {
            const float *r = g->resid + ((size_t)q * B + b) * D * F;
            const float *E = g->codebooks + (size_t)q * K * D;
            const int32_t *ix = g->idx + ((size_t)q * B + b) * F;
            for (int d = 0; d < D; d++)
                for (int f = 0; f < F; f++)
                    dz[(size_t)d * F + f] += (float)(coef * ((double)r[(size_t)d * F + f] - E[(size_t)ix[f] * D + d]));
        }
    }
}

static void lstm_bwd(train_graph *g, const tg_node *n, int b) {
    const tg_lstm *s = &g->lstm[n->idx];
    int C = s->C, L = g->ten[n->in].L, last = s->layers - 1;
    const float *dy = T_grad(g, n->out, b);
    float *din = T_grad(g, n->in, b), *dm = T_grad(g, s->mid[last], b);
    for (size_t i = 0; i < (size_t)C * L; i++) { din[i] += dy[i]; dm[i] += dy[i]; }
    for (int l = last; l >= 0; l--) {
        lstm_saved sv;
        sn_lstm_saved_point(&sv, g->saved + s->saved + ((size_t)l * g->B + b) * sn_lstm_saved_floats(C, L), C, L);
        const float *x = l ? T_val(g, s->mid[l - 1], b) : T_val(g, n->in, b);
        float *dx = l ? T_grad(g, s->mid[l - 1], b) : din;
        sn_lstm_backward(dx, PG(g, s->p_wih[l]), PG(g, s->p_whh[l]), PG(g, s->p_bih[l]), PG(g, s->p_bhh[l]), NULL, NULL,
                      T_grad(g, s->mid[l], b), NULL, NULL, &sv, x, P(g, s->p_wih[l]), P(g, s->p_whh[l]), C, C, L,
                      g->lscr);
    }
}

int sn_train_graph_backward(train_graph *g, const float *extra_dout) {
    if (!g->audio) return sn_fail(SONO_E_ARG, "sn_train_graph_backward before a forward");
    /* each tensor's gradient is zeroed right before its first writer, where
     * it is about to be used (not one pass over the whole arena up front) */
    for (int i = 0; i < g->n_ten; i++)
        if (g->ten[i].zero_at < 0 && g->ten[i].grad)
            memset(T_grad(g, i, 0), 0, (size_t)g->B * g->ten[i].C * g->ten[i].L * sizeof(float));
    memset(g->dweff, 0, g->n_weff * sizeof(float));
    const tg_tensor *yo = &g->ten[g->t_out];
    const double inv = g->l1_weight / ((double)g->B * yo->C * g->T);
    for (int b = 0; b < g->B; b++)
        for (int ch = 0; ch < yo->C; ch++) {
            const float *y = T_val(g, g->t_out, b) + (size_t)ch * yo->L;
            float *dy = T_grad(g, g->t_out, b) + (size_t)ch * yo->L;
            const float *x = g->audio + ((size_t)b * yo->C + ch) * g->T;
            const float *ex = extra_dout ? extra_dout + ((size_t)b * yo->C + ch) * g->T : NULL;
            for (int t = 0; t < g->T; t++) {
                float d = y[t] - x[t];
                dy[t] = (float)((d > 0) - (d < 0)) * (float)inv + (ex ? ex[t] : 0.0f);
            }
        }
    const int ref = g->use_ref;
    /* frozen: nothing before the decoder's input gets a gradient, so nothing there runs backward */
    const int first = g->freeze_encoder ? g->first_dec_node : 0;
    for (int ni = g->n_nodes - 1; ni >= first; ni--) {
        const tg_node *n = &g->nodes[ni];
        const tg_tensor *ti = &g->ten[n->in], *to = &g->ten[n->out];
        double t0 = g->timing ? now_s() : 0;
        for (int i = 0; i < g->n_ten; i++)
            if (g->ten[i].zero_at == ni && g->ten[i].grad)
                memset(T_grad(g, i, 0), 0, (size_t)g->B * g->ten[i].C * g->ten[i].L * sizeof(float));
        if (n->kind == N_RVQ) {
            rvq_backward(g, n);
            if (g->timing) g->t_bwd[n->kind] += now_s() - t0;
            continue;
        }
        if (n->kind == N_VOCOS) {
            size_t per = sn_vocos_act_floats(&g->vocos);
            for (int b = 0; b < g->B; b++)
                sn_vocos_backward(&g->vocos, T_grad(g, n->in, b), g->grads, T_grad(g, n->out, b),
                                  g->saved + g->vocos_saved + (size_t)b * per, g->lscr, T_val(g, n->in, b), g->params,
                                  ref);
            if (g->timing) g->t_bwd[n->kind] += now_s() - t0;
            continue;
        }
        const tg_conv *c = n->kind == N_CONV || n->kind == N_CONVTR || n->kind == N_GN ? &g->convs[n->idx] : NULL;
        for (int b = 0; b < g->B; b++) {
            const float *x = T_val(g, n->in, b), *dy = T_grad(g, n->out, b);
            float *dx = T_grad(g, n->in, b);
            switch (n->kind) {
            case N_PAD:
                if (!dx) break;
                for (int ch = 0; ch < ti->C; ch++) {
                    float *dxc = dx + (size_t)ch * ti->L;
                    const float *dyc = dy + (size_t)ch * to->L;
                    for (int i = 0; i < ti->L; i++) dxc[i] += dyc[n->pl + i]; /* the copied middle */
                    for (int i = 0; i < to->L; i++) {
                        if (i == n->pl) i += ti->L;
                        if (i >= to->L) break;
                        int j = pad_src(i, n->pl, n->pr, ti->L, g->cfg.pad_mode);
                        if (j >= 0) dxc[j] += dyc[i];
                    }
                }
                break;
            case N_CONV:
                if (ref)
                    sn_conv1d_backward_ref(dx, conv_dweight(g, c), PG(g, c->p_b), dy, x, conv_weight(g, c), c->C_in,
                                        c->C_out, ti->L, c->K, c->stride, c->dil, NULL, 1);
                else
                    sn_conv1d_backward(dx, conv_dweight(g, c), PG(g, c->p_b), dy, x, conv_weight(g, c), c->C_in,
                                    c->C_out, ti->L, c->K, c->stride, c->dil, g->lscr, 1);
                break;
            case N_CONVTR:
                if (ref)
                    sn_convtr1d_backward_ref(dx, conv_dweight(g, c), PG(g, c->p_b), dy, x, conv_weight(g, c), c->C_in,
                                          c->C_out, ti->L, c->K, c->stride, NULL, 1);
                else
                    sn_convtr1d_backward(dx, conv_dweight(g, c), PG(g, c->p_b), dy, x, conv_weight(g, c), c->C_in,
                                      c->C_out, ti->L, c->K, c->stride, g->lscr, 1);
                break;
            case N_GN:
                sn_groupnorm1_backward(dx, PG(g, c->p_gnw), PG(g, c->p_gnb), dy, x, P(g, c->p_gnw), ti->C, ti->L, GN_EPS);
                break;
            case N_TRIM:
                for (int ch = 0; ch < ti->C; ch++)
                    for (int i = 0; i < to->L; i++) dx[(size_t)ch * ti->L + n->pl + i] += dy[(size_t)ch * to->L + i];
                break;
            case N_ELU: /* from the output: no exp, and equal for alpha > 0 */
                if (ref) sn_elu_backward(dx, dy, x, (size_t)ti->C * ti->L, 1.0f);
                else sn_elu_backward_from_out(dx, dy, T_val(g, n->out, b), (size_t)ti->C * ti->L, 1.0f);
                break;
            case N_LSTM: lstm_bwd(g, n, b); break;
            case N_ADD: {
                float *dx2 = T_grad(g, n->in2, b);
                for (size_t i = 0; i < (size_t)ti->C * ti->L; i++) { dx[i] += dy[i]; dx2[i] += dy[i]; }
                break;
            }
            default: break;
            }
        }
        if (g->timing) g->t_bwd[n->kind] += now_s() - t0;
    }
    for (int i = 0; i < g->n_convs; i++) {
        const tg_conv *c = &g->convs[i];
        if (c->weff == NONE || (g->freeze_encoder && g->pt.p[c->p_g].offset < g->n_enc_floats)) continue;
        int rows = c->tr ? c->C_in : c->C_out, inner = (c->tr ? c->C_out : c->C_in) * c->K;
        sn_weightnorm_backward(PG(g, c->p_g), PG(g, c->p_v), g->dweff + c->weff, P(g, c->p_g), P(g, c->p_v), rows, inner);
    }
    return 0;
}

/* ---- initialisation, options ---- */

void sn_train_graph_set_active_q(train_graph *g, int n_active) {
    if (g->n_q == 0) return;
    g->n_active = n_active < 1 ? 1 : n_active > g->n_q ? g->n_q : n_active;
}
int sn_train_graph_active_q(const train_graph *g) { return g->n_active; }
void sn_train_graph_set_ref_kernels(train_graph *g, int use_ref) { g->use_ref = use_ref != 0; }

void sn_train_graph_set_timing(train_graph *g, int on) {
    g->timing = on != 0;
    if (on) {
        memset(g->t_fwd, 0, sizeof g->t_fwd);
        memset(g->t_bwd, 0, sizeof g->t_bwd);
    }
}

void sn_train_graph_timing(const train_graph *g, const char **names, double *fwd_s, double *bwd_s) {
    for (int k = 0; k < TRAIN_NODE_KINDS; k++) {
        if (names) names[k] = kind_names[k];
        if (fwd_s) fwd_s[k] = g->t_fwd[k];
        if (bwd_s) bwd_s[k] = g->t_bwd[k];
    }
}

/* n values U(-bound, bound) */
static void fill_uniform(float *p, size_t n, double bound, uint64_t *st) {
    for (size_t i = 0; i < n; i++) p[i] = (float)((2.0 * sn_unif01(st) - 1.0) * bound);
}

void sn_train_graph_init_params(train_graph *g, uint64_t seed) {
    uint64_t st = seed;
    for (int i = 0; i < g->n_convs; i++) {
        const tg_conv *c = &g->convs[i];
        double bound = 1.0 / sqrt((double)(c->tr ? c->C_out : c->C_in) * c->K);
        int rows = c->tr ? c->C_in : c->C_out, inner = (c->tr ? c->C_out : c->C_in) * c->K;
        if (c->weff != NONE) {
            float *v = P(g, c->p_v), *gn = P(g, c->p_g);
            fill_uniform(v, (size_t)rows * inner, bound, &st);
            for (int r = 0; r < rows; r++) {
                double s2 = 0;
                for (int k = 0; k < inner; k++) s2 += (double)v[(size_t)r * inner + k] * v[(size_t)r * inner + k];
                gn[r] = (float)sqrt(s2);
            }
        } else {
            fill_uniform(P(g, c->p_w), (size_t)rows * inner, bound, &st);
        }
        fill_uniform(P(g, c->p_b), (size_t)c->C_out, bound, &st);
        if (c->p_gnw >= 0)
            for (int k = 0; k < c->C_out; k++) { P(g, c->p_gnw)[k] = 1.0f; P(g, c->p_gnb)[k] = 0.0f; }
    }
    for (int i = 0; i < g->n_lstm; i++) {
        const tg_lstm *s = &g->lstm[i];
        double bound = 1.0 / sqrt((double)s->C);
        for (int l = 0; l < s->layers; l++) {
            const int ps[4] = {s->p_wih[l], s->p_whh[l], s->p_bih[l], s->p_bhh[l]};
            for (int k = 0; k < 4; k++) fill_uniform(P(g, ps[k]), g->pt.p[ps[k]].numel, bound, &st);
        }
    }
    if (g->cfg.decoder == DECODER_VOCOS) sn_vocos_init_params(&g->vocos, g->params, &st);
}

int sn_train_graph_data_init(train_graph *g, const float *audio, float target_std) {
    if (!audio || !(target_std > 0)) return sn_fail(SONO_E_ARG, "sn_train_graph_data_init: no audio or target std");
    train_losses lo;
    memset(&lo, 0, sizeof lo);
    g->audio = NULL; /* the state left is no forward to backpropagate */
    weightnorm_all(g);
    memcpy(T_val(g, g->t_audio, 0), audio, (size_t)g->B * g->cfg.channels * g->T * sizeof(float));
    int last = -1; /* the SEANet decoder's last conv; a Vocos head is left as initialised */
    for (int ni = 0; ni < g->n_nodes && g->cfg.decoder != DECODER_VOCOS; ni++)
        if (g->nodes[ni].kind == N_CONV) last = ni;
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const tg_node *n = &g->nodes[ni];
        fwd_node(g, n, &lo, 1);
        if (n->kind != N_CONV && n->kind != N_CONVTR) continue;
        const tg_conv *c = &g->convs[n->idx];
        const tg_tensor *to = &g->ten[n->out];
        float *bias = P(g, c->p_b);
        /* per channel mean of the output without its bias, kept in bias for now */
        double var = 0;
        for (int ch = 0; ch < to->C; ch++) {
            double s1 = 0, s2 = 0;
            for (int b = 0; b < g->B; b++) {
                const float *y = T_val(g, n->out, b) + (size_t)ch * to->L;
                for (int t = 0; t < to->L; t++) s1 += (double)y[t] - bias[ch];
            }
            double m = s1 / ((double)g->B * to->L);
            for (int b = 0; b < g->B; b++) {
                const float *y = T_val(g, n->out, b) + (size_t)ch * to->L;
                for (int t = 0; t < to->L; t++) { double d = (double)y[t] - bias[ch] - m; s2 += d * d; }
            }
            var += s2;
            bias[ch] = (float)m;
        }
        double sd = sqrt(var / ((double)g->B * to->C * to->L));
        double scale = sd > 1e-30 ? (ni == last ? target_std : 1.0) / sd : 1.0;
        for (int ch = 0; ch < to->C; ch++) bias[ch] = (float)(-scale * bias[ch]);
        int rows = c->tr ? c->C_in : c->C_out, inner = (c->tr ? c->C_out : c->C_in) * c->K;
        if (c->weff != NONE) {
            float *gn = P(g, c->p_g);
            for (int r = 0; r < rows; r++) gn[r] = (float)(gn[r] * scale);
            sn_weightnorm_forward(g->weff + c->weff, gn, P(g, c->p_v), rows, inner);
        } else {
            float *w = P(g, c->p_w);
            for (size_t k = 0; k < (size_t)rows * inner; k++) w[k] = (float)(w[k] * scale);
        }
        fwd_node(g, n, &lo, 1);
    }
    return 0;
}
