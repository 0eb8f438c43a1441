/* The LM: config, the parameter table and block, initialisation, the
 * activation arena and the forward pass (see lm_model.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_model.h"
#include "lm_layers.h"
#include "sono_internal.h"
#include "tensors.h"

sn_lm_config sn_lm_config_default(void) {
    sn_lm_config c = {.V_text = 0, .K = 4, .codebook_size = 1024, .C = 512, .n_layer = 8, .n_head = 8,
                      .T_max = 1024, .pos = SN_LM_POS_ROPE, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    return c;
}

int sn_lm_config_check(const sn_lm_config *c) {
    if (c->V_text < 0 || c->V_text > (1 << 24)) return sn_fail(SONO_E_ARG, "lm: V_text %d outside 0..2^24", c->V_text);
    if (c->K < 1 || c->K > 32) return sn_fail(SONO_E_ARG, "lm: K %d outside 1..32", c->K);
    if (c->codebook_size < 1 || c->codebook_size > (1 << 20))
        return sn_fail(SONO_E_ARG, "lm: codebook_size %d outside 1..2^20", c->codebook_size);
    if (c->n_layer < 1 || c->n_layer > 256) return sn_fail(SONO_E_ARG, "lm: n_layer %d outside 1..256", c->n_layer);
    if (c->n_head < 1 || c->C < 2 || c->C > 16384 || c->C % c->n_head || (c->C / c->n_head) % 2)
        return sn_fail(SONO_E_ARG, "lm: C %d must split into n_head %d heads of even size", c->C, c->n_head);
    if (c->T_max < 1 || c->T_max > (1 << 20)) return sn_fail(SONO_E_ARG, "lm: T_max %d outside 1..2^20", c->T_max);
    if (c->pos != SN_LM_POS_ROPE && c->pos != SN_LM_POS_LEARNED)
        return sn_fail(SONO_E_ARG, "lm: unknown position kind %d", c->pos);
    if (!(c->rope_theta > 1.0f) || !(c->norm_eps > 0.0f))
        return sn_fail(SONO_E_ARG, "lm: rope_theta must be > 1 and norm_eps > 0");
    return 0;
}

/* Table order: embeddings, then each layer, then the final norm and heads. */
static int build_table(sn_param_table *t, const sn_lm_config *c) {
    int64_t C = c->C, Va = sn_lm_v_audio(c);
    int rc = 0;
#define ADD(name, suffix, nd, ...)                                   \
    do {                                                             \
        int64_t sh_[3] = {__VA_ARGS__};                              \
        if ((rc = sn_params_add(t, name, suffix, nd, sh_)) < 0) return rc; \
    } while (0)
    if (c->V_text > 0) ADD("tok_emb", ".weight", 2, c->V_text, C);
    ADD("audio_emb", ".weight", 3, c->K, Va, C);
    if (c->pos == SN_LM_POS_LEARNED) ADD("pos_emb", ".weight", 2, c->T_max, C);
    for (int l = 0; l < c->n_layer; l++) {
        char p[48];
        snprintf(p, sizeof p, "blocks.%d.ln1", l);
        ADD(p, ".weight", 1, C);
        snprintf(p, sizeof p, "blocks.%d.attn.qkv", l);
        ADD(p, ".weight", 2, 3 * C, C);
        snprintf(p, sizeof p, "blocks.%d.attn.proj", l);
        ADD(p, ".weight", 2, C, C);
        snprintf(p, sizeof p, "blocks.%d.ln2", l);
        ADD(p, ".weight", 1, C);
        snprintf(p, sizeof p, "blocks.%d.mlp.fc", l);
        ADD(p, ".weight", 2, 4 * C, C);
        snprintf(p, sizeof p, "blocks.%d.mlp.proj", l);
        ADD(p, ".weight", 2, C, 4 * C);
    }
    ADD("ln_f", ".weight", 1, C);
    ADD("heads", ".weight", 3, c->K, Va, C);
#undef ADD
    return 0;
}

void sn_lm_point(const sn_lm *m, float *base, sn_lm_weights *w, sn_lm_layer_w *layers) {
    const sn_lm_config *c = &m->cfg;
    const sn_param *p = m->table.p;
    int i = 0;
    w->tok_emb = c->V_text > 0 ? base + p[i++].offset : NULL;
    w->audio_emb = base + p[i++].offset;
    w->pos_emb = c->pos == SN_LM_POS_LEARNED ? base + p[i++].offset : NULL;
    w->layer = layers;
    for (int l = 0; l < c->n_layer; l++) {
        layers[l].ln1_w = base + p[i++].offset;
        layers[l].qkv_w = base + p[i++].offset;
        layers[l].attn_proj_w = base + p[i++].offset;
        layers[l].ln2_w = base + p[i++].offset;
        layers[l].fc_w = base + p[i++].offset;
        layers[l].mlp_proj_w = base + p[i++].offset;
    }
    w->lnf_w = base + p[i++].offset;
    w->head_w = base + p[i++].offset;
}

int sn_lm_new(const sn_lm_config *cfg, sn_lm **out) {
    *out = NULL;
    int rc = sn_lm_config_check(cfg);
    if (rc < 0) return rc;
    sn_lm *m = calloc(1, sizeof *m);
    if (!m) return sn_fail(SONO_E_NOMEM, "lm: out of memory");
    m->cfg = *cfg;
#ifdef SONO_REF_KERNELS
    m->ref_kernels = 1; /* -Dref_kernels=true: plain loops everywhere, as for the codec */
#endif
    if ((rc = build_table(&m->table, cfg)) < 0) goto fail;
    m->n_params = m->table.n_floats;
    int half = cfg->C / cfg->n_head / 2;
    m->params = sn_alloc_big(sizeof(float) * m->n_params, 1);
    m->w.layer = calloc((size_t)cfg->n_layer, sizeof(sn_lm_layer_w));
    m->rope_cos = malloc(sizeof(float) * (size_t)cfg->T_max * half);
    m->rope_sin = malloc(sizeof(float) * (size_t)cfg->T_max * half);
    if (!m->params || !m->w.layer || !m->rope_cos || !m->rope_sin) {
        rc = sn_fail(SONO_E_NOMEM, "lm: out of memory for %zu parameters", m->n_params);
        goto fail;
    }
    sn_lm_point(m, m->params, &m->w, m->w.layer);
    /* angles in double, rounded once (the PyTorch reference does the same) */
    for (int t = 0; t < cfg->T_max; t++)
        for (int i = 0; i < half; i++) {
            double a = t * pow((double)cfg->rope_theta, -2.0 * i / (2.0 * half));
            m->rope_cos[(size_t)t * half + i] = (float)cos(a);
            m->rope_sin[(size_t)t * half + i] = (float)sin(a);
        }
    *out = m;
    return 0;
fail:
    sn_lm_free(m);
    return rc;
}

void sn_lm_free(sn_lm *m) {
    if (!m) return;
    sn_params_free(&m->table);
    free(m->params);
    free(m->w.layer);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m);
}

static double normal01(uint64_t *s) {
    double u1 = sn_unif01(s), u2 = sn_unif01(s);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

void sn_lm_init_params(sn_lm *m, uint64_t seed) {
    uint64_t s = seed;
    float std_proj = 0.02f / sqrtf(2.0f * m->cfg.n_layer);
    for (int i = 0; i < m->table.n; i++) {
        const sn_param *p = &m->table.p[i];
        float *x = m->params + p->offset;
        if (p->ndim == 1) {
            for (size_t j = 0; j < p->numel; j++) x[j] = 1.0f;
            continue;
        }
        float std = strstr(p->name, ".proj.") ? std_proj : 0.02f;
        for (size_t j = 0; j < p->numel; j++) x[j] = (float)(std * normal01(&s));
    }
}

double sn_lm_forward_flops(const sn_lm_config *c, int B, int T) {
    double C = c->C, N = (double)B * T, hs = (double)c->C / c->n_head;
    double mm = 2.0 * N * (c->n_layer * 12.0 * C * C + C * c->K * sn_lm_v_audio(c));
    /* q.k and att.v over the T (T + 1) / 2 causal pairs of each head */
    double att = 4.0 * c->n_layer * B * c->n_head * (T * (T + 1.0) / 2.0) * hs;
    return mm + att;
}

/* ---- activations ---- */

int sn_lm_acts_new(const sn_lm *m, int B, int T, int train, sn_lm_acts **out) {
    *out = NULL;
    const sn_lm_config *c = &m->cfg;
    if (B < 1 || T < 1 || T > c->T_max)
        return sn_fail(SONO_E_ARG, "lm: activations for B %d x T %d (context %d)", B, T, c->T_max);
    size_t N = (size_t)B * T, C = (size_t)c->C, KV = (size_t)c->K * sn_lm_v_audio(c);
    size_t att = (size_t)B * c->n_head * T * T;
    size_t per_layer = N * C * 5 + N * 2 + N * 3 * C + att + N * 8 * C;
    int L_stored = train ? c->n_layer : 1;
    size_t n = N * C + per_layer * L_stored + N * C + N + N * KV + N * c->K;
    if (train) n += N * C * 3 + N * 3 * C + att + N * 8 * C + N * KV;
    if ((double)n * sizeof(float) > (double)SONO_MAX_ALLOC * 4)
        return sn_fail(SONO_E_LIMIT, "lm: activations of %.1f GB", (double)n * sizeof(float) / 1e9);
    sn_lm_acts *a = calloc(1, sizeof *a);
    if (!a) return sn_fail(SONO_E_NOMEM, "lm: out of memory");
    a->B = B;
    a->T = T;
    a->train = train;
    a->n_floats = n;
    a->block = sn_alloc_big(sizeof(float) * n, 1);
    a->layer = calloc((size_t)c->n_layer, sizeof *a->layer);
    a->grad_layer = calloc((size_t)c->n_layer, sizeof *a->grad_layer);
    a->text = malloc(sizeof(int32_t) * N);
    a->audio = malloc(sizeof(int32_t) * N * c->K);
    a->targets = malloc(sizeof(int32_t) * N * c->K);
    if (!a->block || !a->layer || !a->grad_layer || !a->text || !a->audio || !a->targets) {
        sn_lm_acts_free(a);
        return sn_fail(SONO_E_NOMEM, "lm: out of memory for %.1f MB of activations", (double)n * 4 / 1e6);
    }
    float *p = a->block;
#define TAKE(ptr, count) do { (ptr) = p; p += (count); } while (0)
    TAKE(a->encoded, N * C);
    for (int l = 0; l < L_stored; l++) {
        sn_lm_layer_acts *la = &a->layer[l];
        TAKE(la->ln1, N * C);
        TAKE(la->ln1_rstd, N);
        TAKE(la->qkv, N * 3 * C);
        TAKE(la->att, att);
        TAKE(la->atty, N * C);
        TAKE(la->res1, N * C);
        TAKE(la->ln2, N * C);
        TAKE(la->ln2_rstd, N);
        TAKE(la->fch, N * 4 * C);
        TAKE(la->fch_gelu, N * 4 * C);
        TAKE(la->res2, N * C);
    }
    for (int l = L_stored; l < c->n_layer; l++) a->layer[l] = a->layer[0];
    TAKE(a->lnf, N * C);
    TAKE(a->lnf_rstd, N);
    TAKE(a->logits, N * KV);
    TAKE(a->lse, N * c->K);
    if (train) {
        TAKE(a->dres, N * C);
        TAKE(a->dln, N * C);
        TAKE(a->datty, N * C);
        TAKE(a->dqkv, N * 3 * C);
        TAKE(a->datt, att);
        TAKE(a->dfch, N * 4 * C);
        TAKE(a->dfch_gelu, N * 4 * C);
        TAKE(a->dlogits, N * KV);
    }
#undef TAKE
    *out = a;
    return 0;
}

void sn_lm_acts_free(sn_lm_acts *a) {
    if (!a) return;
    free(a->block);
    free(a->layer);
    free(a->grad_layer);
    free(a->text);
    free(a->audio);
    free(a->targets);
    free(a);
}

/* ---- forward ---- */

int sn_lm_check_inputs(const sn_lm_config *c, const int32_t *text, const int32_t *audio, size_t N) {
    int Va = sn_lm_v_audio(c);
    for (size_t r = 0; r < N; r++) {
        if (text[r] >= c->V_text || text[r] < -1)
            return sn_fail(SONO_E_RANGE, "lm: token id %d at row %zu outside -1..%d", (int)text[r], r, c->V_text - 1);
        if (text[r] >= 0) continue;
        for (int k = 0; k < c->K; k++) {
            int32_t v = audio[r * c->K + k];
            if (v < 0 || v >= Va)
                return sn_fail(SONO_E_RANGE, "lm: codebook %d id %d at row %zu outside 0..%d", k, (int)v, r, Va - 1);
        }
    }
    return 0;
}

int sn_lm_forward(const sn_lm *m, sn_lm_acts *a, const int32_t *text, const int32_t *audio,
                  const int32_t *targets, int n_threads, float *loss) {
    const sn_lm_config *c = &m->cfg;
    int B = a->B, T = a->T, C = c->C, NH = c->n_head, K = c->K, Va = sn_lm_v_audio(c), ref = m->ref_kernels;
    size_t N = (size_t)B * T;
    if (n_threads < 1) n_threads = 1;
    int rc = sn_lm_check_inputs(c, text, audio, N);
    if (rc < 0) return rc;
    if (targets)
        for (size_t r = 0; r < N * K; r++)
            if (targets[r] < -1 || targets[r] >= Va)
                return sn_fail(SONO_E_RANGE, "lm: target %d outside -1..%d", (int)targets[r], Va - 1);
    memcpy(a->text, text, sizeof(int32_t) * N);
    for (size_t r = 0; r < N * K; r++) a->audio[r] = text[r / K] >= 0 ? 0 : audio[r];
    a->has_targets = targets != NULL;
    if (targets) memcpy(a->targets, targets, sizeof(int32_t) * N * K);

    sn_lm_embed_forward(a->encoded, a->text, a->audio, m->w.tok_emb, m->w.audio_emb, m->w.pos_emb, B, T, C, K, Va, 0);
    const float *residual = a->encoded;
    for (int l = 0; l < c->n_layer; l++) {
        const sn_lm_layer_w *w = &m->w.layer[l];
        sn_lm_layer_acts *la = &a->layer[l];
        /* attention block */
        (ref ? sn_lm_rmsnorm_forward_ref : sn_lm_rmsnorm_forward)(la->ln1, la->ln1_rstd, residual, w->ln1_w, (int)N,
                                                                  C, c->norm_eps, n_threads); /* [N][C] */
        (ref ? sn_lm_matmul_forward_ref : sn_lm_matmul_forward)(la->qkv, la->ln1, w->qkv_w, (int)N, C, 3 * C, 0,
                                                                n_threads); /* [N][3C] */
        if (c->pos == SN_LM_POS_ROPE) sn_lm_rope_forward(la->qkv, m->rope_cos, m->rope_sin, B, T, C, NH, 0);
        (ref ? sn_lm_attention_forward_ref : sn_lm_attention_forward)(la->atty, la->att, la->qkv, B, T, C, NH,
                                                                      n_threads); /* [N][C], [B][NH][T][T] */
        memcpy(la->res1, residual, sizeof(float) * N * C);
        (ref ? sn_lm_matmul_forward_ref : sn_lm_matmul_forward)(la->res1, la->atty, w->attn_proj_w, (int)N, C, C, 1,
                                                                n_threads); /* [N][C] */
        /* MLP block */
        (ref ? sn_lm_rmsnorm_forward_ref : sn_lm_rmsnorm_forward)(la->ln2, la->ln2_rstd, la->res1, w->ln2_w, (int)N,
                                                                  C, c->norm_eps, n_threads); /* [N][C] */
        (ref ? sn_lm_matmul_forward_ref : sn_lm_matmul_forward)(la->fch, la->ln2, w->fc_w, (int)N, C, 4 * C, 0,
                                                                n_threads); /* [N][4C] */
        sn_lm_gelu_forward(la->fch_gelu, la->fch, N * 4 * C, n_threads); /* [N][4C] */
        memcpy(la->res2, la->res1, sizeof(float) * N * C);
        (ref ? sn_lm_matmul_forward_ref : sn_lm_matmul_forward)(la->res2, la->fch_gelu, w->mlp_proj_w, (int)N, 4 * C,
                                                                C, 1, n_threads); /* [N][C] */
        residual = la->res2;
    }
    (ref ? sn_lm_rmsnorm_forward_ref : sn_lm_rmsnorm_forward)(a->lnf, a->lnf_rstd, residual, m->w.lnf_w, (int)N, C,
                                                              c->norm_eps, n_threads); /* [N][C] */
    (ref ? sn_lm_matmul_forward_ref : sn_lm_matmul_forward)(a->logits, a->lnf, m->w.head_w, (int)N, C, K * Va, 0,
                                                            n_threads); /* [N][K][Va] */
    a->loss = 0;
    a->n_valid = 0;
    if (targets) a->loss = sn_lm_crossentropy_forward(a->lse, &a->n_valid, a->logits, a->targets, (int)N, K, Va,
                                                      n_threads);
    if (loss) *loss = a->loss;
    return 0;
}

int sn_lm_params_from_tensors(sn_lm *m, const struct sono_tensors *ts, const char *prefix) {
    char name[160];
    for (int i = 0; i < m->table.n; i++) {
        const sn_param *p = &m->table.p[i];
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", p->name);
        const sono_tensor *t = sn_tensors_find(ts, name);
        if (!t) return sn_fail(SONO_E_NOT_FOUND, "lm: tensor %s missing", name);
        if ((size_t)t->numel != p->numel)
            return sn_fail(SONO_E_FORMAT, "lm: tensor %s has %lld values, expected %zu", name, (long long)t->numel,
                           p->numel);
        memcpy(m->params + p->offset, t->data, sizeof(float) * p->numel);
    }
    return 0;
}
