/* The KV-cached incremental forward (lm_cache.h). It runs the same layers
 * as sn_lm_forward, in the same order, on B x chunk rows; attention reads
 * keys and values from the cache through the same row routine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "lm_cache.h"
#include "lm_gemv.h"
#include "lm_layers.h"
#include "sono_internal.h"

int sn_lm_cache_new(const sn_lm *m, int B, int T_cap, int chunk, sn_lm_cache **out) {
    *out = NULL;
    const sn_lm_config *cf = &m->cfg;
    if (B < 1 || T_cap < 1 || T_cap > cf->T_max || chunk < 1)
        return sn_fail(SONO_E_ARG, "lm: cache for B %d x %d positions, chunk %d (context %d)", B, T_cap, chunk,
                       cf->T_max);
    if (chunk > T_cap) chunk = T_cap;
    size_t C = (size_t)cf->C, R = (size_t)B * chunk;
    size_t kv = (size_t)cf->n_layer * B * T_cap * C;
    size_t n = 2 * kv + R * C * 3 + R + R * 3 * C + R * 4 * C + (size_t)B * cf->n_head * chunk * T_cap +
               (size_t)B * (2 * C + 1);
    sn_lm_cache *c = calloc(1, sizeof *c);
    if (!c) return sn_fail(SONO_E_NOMEM, "lm: out of memory");
    c->B = B;
    c->T_cap = T_cap;
    c->chunk = chunk;
    c->block = sn_alloc_big(sizeof(float) * n, 1);
    c->text = malloc(sizeof(int32_t) * R);
    c->audio = malloc(sizeof(int32_t) * R * cf->K);
    c->start = calloc((size_t)B, sizeof(int));
    if (!c->block || !c->text || !c->audio || !c->start) {
        sn_lm_cache_free(c);
        return sn_fail(SONO_E_NOMEM, "lm: out of memory for a %.1f MB cache", (double)n * 4 / 1e6);
    }
    float *p = c->block;
#define TAKE(ptr, count) do { (ptr) = p; p += (count); } while (0)
    TAKE(c->k, kv);
    TAKE(c->v, kv);
    TAKE(c->x, R * C);
    TAKE(c->ln, R * C);
    TAKE(c->rstd, R);
    TAKE(c->qkv, R * 3 * C);
    TAKE(c->atty, R * C);
    TAKE(c->fch, R * 4 * C);
    TAKE(c->att, (size_t)B * cf->n_head * chunk * T_cap);
    TAKE(c->last, (size_t)B * C);
    TAKE(c->lnf, (size_t)B * C);
    TAKE(c->lnf_rstd, (size_t)B);
#undef TAKE
    *out = c;
    return 0;
}

void sn_lm_cache_free(sn_lm_cache *c) {
    if (!c) return;
    free(c->block);
    free(c->text);
    free(c->audio);
    free(c->start);
    free(c);
}

void sn_lm_cache_reset(sn_lm_cache *c) {
    c->n_pos = 0;
    memset(c->start, 0, sizeof(int) * (size_t)c->B);
}

int sn_lm_cache_pad(sn_lm_cache *c, int b, int n_pad) {
    if (b < 0 || b >= c->B || n_pad < 0 || n_pad >= c->T_cap || c->n_pos > 0)
        return sn_fail(SONO_E_ARG, "lm: padding %d positions of sequence %d (cache of %d, %d positions in)", n_pad, b,
                       c->B, c->n_pos);
    c->start[b] = n_pad;
    return 0;
}

int sn_lm_cache_fork(sn_lm_cache *dst, const sn_lm_cache *src, const int *from, const sn_lm *m) {
    size_t C = (size_t)m->cfg.C;
    if (dst->T_cap < src->n_pos) return sn_fail(SONO_E_ARG, "lm: fork of %d positions into a cache of %d", src->n_pos, dst->T_cap);
    for (int b = 0; b < dst->B; b++)
        if (from[b] < 0 || from[b] >= src->B) return sn_fail(SONO_E_ARG, "lm: fork from sequence %d of %d", from[b], src->B);
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int b = 0; b < dst->B; b++) {
            size_t d = ((size_t)l * dst->B + b) * dst->T_cap * C, s = ((size_t)l * src->B + from[b]) * src->T_cap * C;
            memcpy(dst->k + d, src->k + s, sizeof(float) * C * (size_t)src->n_pos);
            memcpy(dst->v + d, src->v + s, sizeof(float) * C * (size_t)src->n_pos);
        }
    for (int b = 0; b < dst->B; b++) dst->start[b] = src->start[from[b]];
    dst->n_pos = src->n_pos;
    return 0;
}

int sn_lm_half_new(const sn_lm *m, int n_threads, sn_lm_half **out) {
    const sn_lm_config *cf = &m->cfg;
    size_t C = (size_t)cf->C, per_layer = 12 * C * C, head = (size_t)cf->K * sn_lm_v_audio(cf) * C;
    sn_lm_half *h = calloc(1, sizeof *h);
    *out = NULL;
    if (h) h->layer = calloc((size_t)cf->n_layer, sizeof *h->layer);
    if (h && h->layer) h->block = sn_alloc_big(sizeof(uint16_t) * (per_layer * cf->n_layer + head), 0);
    if (!h || !h->layer || !h->block) {
        sn_lm_half_free(h);
        return sn_fail(SONO_E_NOMEM, "lm: out of memory for float16 weights");
    }
    /* (matrix, its float16 place, floats): the layers' four, then the heads */
    int n_mat = 4 * cf->n_layer + 1;
    uint16_t *p = h->block;
#pragma omp parallel for num_threads(n_threads) if (n_threads > 1) schedule(dynamic, 1)
    for (int i = 0; i < n_mat; i++) {
        const float *src;
        size_t n, at;
        if (i == n_mat - 1) {
            src = m->w.head_w, n = head, at = per_layer * cf->n_layer;
        } else {
            const sn_lm_layer_w *w = &m->w.layer[i / 4];
            static const size_t off[4] = {0, 3, 4, 8}; /* in C x C units: qkv 3, proj 1, fc 4, mlp_proj 4 */
            const float *mats[4] = {w->qkv_w, w->attn_proj_w, w->fc_w, w->mlp_proj_w};
            src = mats[i % 4];
            n = (i % 4 == 0 ? 3 : i % 4 == 1 ? 1 : 4) * C * C;
            at = (size_t)(i / 4) * per_layer + off[i % 4] * C * C;
        }
        sn_lm_f16_from_f32(p + at, src, n);
    }
    for (int l = 0; l < cf->n_layer; l++) {
        uint16_t *b = p + (size_t)l * per_layer;
        h->layer[l] = (sn_lm_half_layer){b, b + 3 * C * C, b + 4 * C * C, b + 8 * C * C};
    }
    h->head = p + per_layer * cf->n_layer;
    *out = h;
    return 0;
}

void sn_lm_half_free(sn_lm_half *h) {
    if (!h) return;
    free(h->block);
    free(h->layer);
    free(h);
}

/* out [R][OC] (accumulate: +=) in [R][IC] . w [OC][IC]^T: from the float16
 * copy wh when there is one and the rows are few (a generation step). */
static void step_matmul(const sn_lm *m, float *out, const float *in, const float *w, const uint16_t *wh, int R,
                        int IC, int OC, int accumulate, int n_threads) {
    if (wh && R <= SN_LM_GEMV_ROWS)
        (m->ref_kernels ? sn_lm_gemv_f16_ref : sn_lm_gemv_f16)(out, OC, in, IC, wh, IC, R, OC, IC, accumulate, n_threads);
    else
        (m->ref_kernels ? sn_lm_matmul_forward_ref : sn_lm_matmul_forward)(out, in, w, R, IC, OC, accumulate, n_threads);
}

/* Position (rotary angle, learned embedding) of row j of sequence b in the
 * chunk starting at p0: counted from the sequence's padding; padding rows
 * take 0 (their results are never read). */
static inline int seq_pos(const sn_lm_cache *c, int b, int p0, int j) {
    int p = p0 + j - c->start[b];
    return p > 0 ? p : 0;
}

static const sn_lm_half_layer no_half; /* float32 weights */

/* One inner pass over nc <= chunk positions of each sequence (inputs
 * already copied to c->text / c->audio as [B][nc] rows). */
static void step_chunk(const sn_lm *m, sn_lm_cache *c, int nc, int n_threads) {
    const sn_lm_config *cf = &m->cfg;
    int B = c->B, C = cf->C, NH = cf->n_head, hs = C / NH, K = cf->K, Va = sn_lm_v_audio(cf), R = B * nc;
    int ref = m->ref_kernels, p0 = c->n_pos;
    float scale = 1.0f / sqrtf((float)hs);
    void (*norm)(float *, float *, const float *, const float *, int, int, float, int) =
        ref ? sn_lm_rmsnorm_forward_ref : sn_lm_rmsnorm_forward;

    for (int b = 0; b < B; b++)
        for (int j = 0; j < nc; j++) {
            size_t r = (size_t)b * nc + j;
            sn_lm_embed_forward(c->x + r * C, c->text + r, c->audio + r * K, m->w.tok_emb, m->w.audio_emb, m->w.pos_emb, 1,
                                1, C, K, Va, seq_pos(c, b, p0, j));
        }
    for (int l = 0; l < cf->n_layer; l++) {
        const sn_lm_layer_w *w = &m->w.layer[l];
        const sn_lm_half_layer *wh = c->half ? &c->half->layer[l] : &no_half;
        float *kc = c->k + (size_t)l * B * c->T_cap * C, *vc = c->v + (size_t)l * B * c->T_cap * C;
        norm(c->ln, c->rstd, c->x, w->ln1_w, R, C, cf->norm_eps, n_threads); /* [R][C] */
        step_matmul(m, c->qkv, c->ln, w->qkv_w, wh->qkv, R, C, 3 * C, 0, n_threads);           /* [R][3C] */
        if (cf->pos == SN_LM_POS_ROPE)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < nc; j++)
                    sn_lm_rope_forward(c->qkv + ((size_t)b * nc + j) * 3 * C, m->rope_cos, m->rope_sin, 1, 1, C, NH,
                                       seq_pos(c, b, p0, j));
        for (int b = 0; b < B; b++)
            for (int j = 0; j < nc; j++) {
                const float *row = c->qkv + ((size_t)b * nc + j) * 3 * C;
                size_t at = ((size_t)b * c->T_cap + p0 + j) * C;
                memcpy(kc + at, row + C, sizeof(float) * (size_t)C);
                memcpy(vc + at, row + 2 * (size_t)C, sizeof(float) * (size_t)C);
            }
        int par = n_threads > 1 && (double)B * nc * (p0 + nc) * C > 1e6; /* a region costs ~10 us */
#pragma omp parallel for num_threads(n_threads) if (par) schedule(dynamic, 1)
        for (int i = 0; i < B * NH * nc; i++) {
            int b = i / (NH * nc), h = (i / nc) % NH, j = i % nc, s0 = c->start[b], n_keys = p0 + j + 1 - s0;
            size_t r = (size_t)b * nc + j, kb = ((size_t)b * c->T_cap + (size_t)s0) * C + (size_t)h * hs;
            float *out = c->atty + r * C + (size_t)h * hs;
            if (n_keys > 0)
                sn_lm_attend_row(out, c->att + (size_t)i * c->T_cap, c->qkv + r * 3 * C + (size_t)h * hs, kc + kb,
                                 vc + kb, (size_t)C, n_keys, hs, scale);
            else /* a padding row: attends to nothing */
                memset(out, 0, sizeof(float) * (size_t)hs);
        }
        step_matmul(m, c->x, c->atty, w->attn_proj_w, wh->attn_proj, R, C, C, 1, n_threads); /* [R][C] residual += */
        norm(c->ln, c->rstd, c->x, w->ln2_w, R, C, cf->norm_eps, n_threads); /* [R][C] */
        step_matmul(m, c->fch, c->ln, w->fc_w, wh->fc, R, C, 4 * C, 0, n_threads); /* [R][4C] */
        sn_lm_gelu_forward(c->fch, c->fch, (size_t)R * 4 * C, n_threads);
        step_matmul(m, c->x, c->fch, w->mlp_proj_w, wh->mlp_proj, R, 4 * C, C, 1, n_threads); /* [R][C] residual += */
    }
    for (int b = 0; b < B; b++)
        memcpy(c->last + (size_t)b * C, c->x + ((size_t)b * nc + nc - 1) * C, sizeof(float) * (size_t)C);
    c->n_pos += nc;
}

int sn_lm_step(const sn_lm *m, sn_lm_cache *c, const int32_t *text, const int32_t *audio, int n, float *logits,
               int n_threads) {
    const sn_lm_config *cf = &m->cfg;
    int B = c->B, K = cf->K, Va = sn_lm_v_audio(cf);
    if (n < 1) return sn_fail(SONO_E_ARG, "lm: step of %d positions", n);
    if (c->n_pos + n > c->T_cap)
        return sn_fail(SONO_E_LIMIT, "lm: %d + %d positions pass the cache's %d", c->n_pos, n, c->T_cap);
    if (n_threads < 1) n_threads = 1;
    int rc = sn_lm_check_inputs(cf, text, audio, (size_t)B * n);
    if (rc < 0) return rc;
    for (int s = 0; s < n; s += c->chunk) {
        int nc = SONO_MIN(c->chunk, n - s);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < nc; j++) {
                size_t src = (size_t)b * n + s + j, dst = (size_t)b * nc + j;
                c->text[dst] = text[src];
                for (int k = 0; k < K; k++) c->audio[dst * K + k] = text[src] >= 0 ? 0 : audio[src * K + k];
            }
        step_chunk(m, c, nc, n_threads);
    }
    (m->ref_kernels ? sn_lm_rmsnorm_forward_ref : sn_lm_rmsnorm_forward)(c->lnf, c->lnf_rstd, c->last, m->w.lnf_w, B,
                                                                         cf->C, cf->norm_eps, n_threads);
    step_matmul(m, logits, c->lnf, m->w.head_w, c->half ? c->half->head : NULL, B, cf->C, K * Va, 0,
                n_threads); /* [B][K][Va] */
    return 0;
}
