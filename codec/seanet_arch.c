/* The SEANet architecture of a config, walked once (codec_internal.h,
 * sn_seanet_walk): EnCodec's module order and indices, the channels, kernel,
 * stride and dilation of every conv, and the canonical parameter names. The
 * loader (codec_load.c), the streaming graph (seanet.c), the MAC count
 * (codec.c) and the training graph (codec/train/train_graph.c) all iterate
 * it, so they cannot drift apart. */
#include <stdio.h>
#include <string.h>
#include "codec_internal.h"
#include "sono_internal.h"

typedef struct {
    const codec_config *cfg;
    seanet_layer_fn fn;
    void *user;
    seanet_layer l;   /* kind-independent fields (decoder) kept across calls */
} walker;

static int emit(walker *w, int kind, int role, const char *module, int C_in, int C_out, int K, int stride, int dil) {
    seanet_layer *l = &w->l;
    l->kind = kind;
    l->role = role;
    l->C_in = C_in;
    l->C_out = C_out;
    l->K = K;
    l->stride = stride;
    l->dil = dil;
    snprintf(l->module, sizeof l->module, "%s", module);
    l->param[0] = l->norm[0] = 0;
    if (kind == SEANET_CONV || kind == SEANET_CONVTR) {
        const char *t = kind == SEANET_CONVTR ? "convtr" : "conv";
        snprintf(l->param, sizeof l->param, "%s.%s.%s", module, t, t);
        snprintf(l->norm, sizeof l->norm, "%s.%s.norm", module, t);
    } else if (kind == SEANET_LSTM) {
        snprintf(l->param, sizeof l->param, "%s.lstm", module);
    }
    return w->fn(l, w->user);
}

/* module name "encoder.model.N" of the next index */
static const char *next_module(walker *w, char *buf, size_t n, int *idx) {
    snprintf(buf, n, "%s.model.%d", w->l.decoder ? "decoder" : "encoder", (*idx)++);
    return buf;
}

/* SEANetResnetBlock: ELU, conv_k (block.1), ELU, conv1x1 (block.3), and
 * a 1x1 shortcut conv unless true_skip */
static int res_block(walker *w, const char *module, int dim, int dil) {
    const codec_config *cfg = w->cfg;
    const int hidden = dim / cfg->compress;
    char sub[SEANET_NAME_MAX];
    int rc;
    if ((rc = emit(w, SEANET_RES_BEGIN, SEANET_ROLE_NONE, module, dim, dim, 0, 1, dil))) return rc;
    if ((rc = emit(w, SEANET_ELU, SEANET_ROLE_NONE, module, dim, dim, 0, 1, 1))) return rc;
    snprintf(sub, sizeof sub, "%s.block.1", module);
    if ((rc = emit(w, SEANET_CONV, SEANET_RES_BLOCK1, sub, dim, hidden, cfg->residual_kernel_size, 1, dil))) return rc;
    if ((rc = emit(w, SEANET_ELU, SEANET_ROLE_NONE, module, hidden, hidden, 0, 1, 1))) return rc;
    snprintf(sub, sizeof sub, "%s.block.3", module);
    if ((rc = emit(w, SEANET_CONV, SEANET_RES_BLOCK2, sub, hidden, dim, 1, 1, 1))) return rc;
    if (!cfg->true_skip) {
        snprintf(sub, sizeof sub, "%s.shortcut", module);
        if ((rc = emit(w, SEANET_CONV, SEANET_RES_SHORTCUT, sub, dim, dim, 1, 1, 1))) return rc;
    }
    return emit(w, SEANET_RES_END, SEANET_ROLE_NONE, module, dim, dim, 0, 1, dil);
}

static int walk_encoder(walker *w) {
    const codec_config *cfg = w->cfg;
    const int nf = cfg->n_filters;
    char m[SEANET_NAME_MAX];
    int rc, idx = 0, mult = 1;
    if ((rc = emit(w, SEANET_CONV, SEANET_FIRST, next_module(w, m, sizeof m, &idx), cfg->channels, nf,
                   cfg->kernel_size, 1, 1)))
        return rc;
    for (int i = 0; i < cfg->n_ratios; i++) {
        const int ratio = cfg->ratios[cfg->n_ratios - 1 - i];
        w->l.i = i;
        for (int j = 0, dil = 1; j < cfg->n_residual_layers; j++, dil *= cfg->dilation_base) {
            w->l.j = j;
            if ((rc = res_block(w, next_module(w, m, sizeof m, &idx), mult * nf, dil))) return rc;
        }
        if ((rc = emit(w, SEANET_ELU, SEANET_ROLE_NONE, next_module(w, m, sizeof m, &idx), mult * nf, mult * nf, 0, 1,
                       1)) ||
            (rc = emit(w, SEANET_CONV, SEANET_UPDOWN, next_module(w, m, sizeof m, &idx), mult * nf, 2 * mult * nf,
                       2 * ratio, ratio, 1)))
            return rc;
        mult *= 2;
    }
    if (cfg->lstm_layers && (rc = emit(w, SEANET_LSTM, SEANET_ROLE_NONE, next_module(w, m, sizeof m, &idx), mult * nf,
                                       mult * nf, 0, 1, 1)))
        return rc;
    if ((rc = emit(w, SEANET_ELU, SEANET_ROLE_NONE, next_module(w, m, sizeof m, &idx), mult * nf, mult * nf, 0, 1, 1)))
        return rc;
    return emit(w, SEANET_CONV, SEANET_LAST, next_module(w, m, sizeof m, &idx), mult * nf, cfg->dimension,
                cfg->last_kernel_size, 1, 1);
}

static int walk_decoder(walker *w) {
    const codec_config *cfg = w->cfg;
    const int nf = cfg->n_filters;
    char m[SEANET_NAME_MAX];
    int rc, idx = 0, mult = 1 << cfg->n_ratios;
    if ((rc = emit(w, SEANET_CONV, SEANET_FIRST, next_module(w, m, sizeof m, &idx), cfg->dimension, mult * nf,
                   cfg->kernel_size, 1, 1)))
        return rc;
    if (cfg->lstm_layers && (rc = emit(w, SEANET_LSTM, SEANET_ROLE_NONE, next_module(w, m, sizeof m, &idx), mult * nf,
                                       mult * nf, 0, 1, 1)))
        return rc;
    for (int i = 0; i < cfg->n_ratios; i++) {
        const int ratio = cfg->ratios[i];
        w->l.i = i;
        if ((rc = emit(w, SEANET_ELU, SEANET_ROLE_NONE, next_module(w, m, sizeof m, &idx), mult * nf, mult * nf, 0, 1,
                       1)) ||
            (rc = emit(w, SEANET_CONVTR, SEANET_UPDOWN, next_module(w, m, sizeof m, &idx), mult * nf, mult * nf / 2,
                       2 * ratio, ratio, 1)))
            return rc;
        for (int j = 0, dil = 1; j < cfg->n_residual_layers; j++, dil *= cfg->dilation_base) {
            w->l.j = j;
            if ((rc = res_block(w, next_module(w, m, sizeof m, &idx), mult * nf / 2, dil))) return rc;
        }
        mult /= 2;
    }
    if ((rc = emit(w, SEANET_ELU, SEANET_ROLE_NONE, next_module(w, m, sizeof m, &idx), nf, nf, 0, 1, 1))) return rc;
    return emit(w, SEANET_CONV, SEANET_LAST, next_module(w, m, sizeof m, &idx), nf, cfg->channels,
                cfg->last_kernel_size, 1, 1);
}

int sn_seanet_walk(const codec_config *cfg, int decoder, seanet_layer_fn fn, void *user) {
    walker w;
    memset(&w, 0, sizeof w);
    w.cfg = cfg;
    w.fn = fn;
    w.user = user;
    w.l.decoder = decoder != 0;
    return decoder ? walk_decoder(&w) : walk_encoder(&w);
}

conv_w *sn_seanet_conv_slot(const seanet_w *s, const seanet_layer *l) {
    seanet_w *m = (seanet_w *)s; /* const in, writable out, as strchr */
    switch (l->role) {
    case SEANET_FIRST: return &m->first;
    case SEANET_RES_BLOCK1: return &m->res[l->i][l->j].block1;
    case SEANET_RES_BLOCK2: return &m->res[l->i][l->j].block2;
    case SEANET_RES_SHORTCUT: return &m->res[l->i][l->j].shortcut;
    case SEANET_UPDOWN: return &m->updown[l->i];
    case SEANET_LAST: return &m->last;
    default: return NULL;
    }
}

int sn_seanet_lstm_param(int layer, int k, int C, char *suffix, size_t n, int64_t shape[2]) {
    static const char *const names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    snprintf(suffix, n, ".%s_l%d", names[k], layer);
    shape[0] = 4 * (int64_t)C;
    shape[1] = k < 2 ? C : 0;
    return k < 2 ? 2 : 1;
}
