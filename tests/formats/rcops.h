/* Test and fuzz helpers for the range-coder engine (common/rangecoder.h): a
 * "script" of coding calls (symbols under a pool of random CDFs, fixed and
 * adaptive decisions, raw bits) made from a seed, values drawn for it, and
 * the encoder and decoder that run it. The values of a script are one
 * uint32_t per call: a symbol, a bit, or the raw bits' value. */
#ifndef SONO_RCOPS_H
#define SONO_RCOPS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "rangecoder.h"

enum { RCOP_CDF, RCOP_BIT, RCOP_ADAPT, RCOP_BITS };
#define RCS_MAX_CDF 8
#define RCS_MAX_SYM 1024
#define RCS_MAX_MODEL 8

typedef struct {
    uint8_t kind;
    uint8_t n_bits; /* RCOP_BITS */
    uint16_t index; /* RCOP_CDF: CDF; RCOP_ADAPT: model */
    uint32_t p1;    /* RCOP_BIT */
} rcop;

typedef struct {
    int n_cdf, n_sym[RCS_MAX_CDF];
    uint32_t cdf[RCS_MAX_CDF][RCS_MAX_SYM + 1];
    int n_model, limit[RCS_MAX_MODEL];
    sn_rc_prob model[RCS_MAX_MODEL]; /* initial states */
    rcop *ops;
    size_t n_ops;
} rcscript;

static inline uint64_t rcs_rand(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint32_t rcs_below(uint64_t *s, uint32_t n) { return (uint32_t)(rcs_rand(s) % n); }

/* A random CDF: 1..RCS_MAX_SYM symbols, some of frequency 0, skewed
 * frequencies, total a power of two or any value up to 2^16. */
static inline void rcs_make_cdf(uint32_t *cdf, int *n_sym_out, uint64_t *s) {
    int n_sym = 1 + (int)rcs_below(s, rcs_below(s, 4) ? 64 : RCS_MAX_SYM);
    double w[RCS_MAX_SYM];
    uint32_t f[RCS_MAX_SYM];
    int n_nz = 0;
    for (int i = 0; i < n_sym; i++) {
        int nz = n_sym == 1 || rcs_below(s, 10) != 0;
        double u = (double)(rcs_rand(s) >> 11) * 0x1.0p-53;
        w[i] = nz ? pow(u, 1 + rcs_below(s, 6)) : 0;
        f[i] = (uint32_t)nz;
        n_nz += nz;
    }
    if (n_nz == 0) f[0] = 1, w[0] = 1, n_nz = 1;
    uint32_t total;
    if (rcs_below(s, 2)) {
        int k = 0;
        while ((1 << k) < n_nz) k++;
        k += (int)rcs_below(s, (uint32_t)(17 - k));
        total = (uint32_t)1 << k;
    } else {
        total = (uint32_t)n_nz + rcs_below(s, SN_RC_TOTAL_MAX - (uint32_t)n_nz + 1);
    }
    double sw = 0;
    for (int i = 0; i < n_sym; i++) sw += w[i];
    uint32_t rem = total - (uint32_t)n_nz, used = 0;
    for (int i = 0; i < n_sym && sw > 0; i++) {
        uint32_t add = (uint32_t)floor((double)rem * w[i] / sw);
        if (add > rem - used) add = rem - used;
        f[i] += add;
        used += add;
    }
    for (int i = 0; used < rem; i = (i + 1) % n_sym)
        if (f[i]) f[i]++, used++;
    cdf[0] = 0;
    for (int i = 0; i < n_sym; i++) cdf[i + 1] = cdf[i] + f[i];
    *n_sym_out = n_sym;
}

/* A script of n_ops calls from seed. ops is malloc'd (rcs_free). */
static inline int rcs_make(rcscript *sc, uint64_t seed, size_t n_ops) {
    uint64_t s = seed;
    memset(sc, 0, sizeof *sc);
    sc->n_cdf = 1 + (int)rcs_below(&s, RCS_MAX_CDF);
    for (int i = 0; i < sc->n_cdf; i++) rcs_make_cdf(sc->cdf[i], &sc->n_sym[i], &s);
    sc->n_model = 1 + (int)rcs_below(&s, RCS_MAX_MODEL);
    for (int i = 0; i < sc->n_model; i++) {
        sc->model[i] = sn_rc_prob_make(rcs_below(&s, SN_RC_PROB_ONE), (uint16_t)rcs_below(&s, 8));
        sc->limit[i] = 1 + (int)rcs_below(&s, 300);
    }
    sc->ops = malloc((n_ops ? n_ops : 1) * sizeof *sc->ops);
    if (!sc->ops) return -1;
    sc->n_ops = n_ops;
    for (size_t i = 0; i < n_ops; i++) {
        rcop *o = &sc->ops[i];
        memset(o, 0, sizeof *o);
        o->kind = (uint8_t)rcs_below(&s, 4);
        if (o->kind == RCOP_CDF) o->index = (uint16_t)rcs_below(&s, (uint32_t)sc->n_cdf);
        if (o->kind == RCOP_ADAPT) o->index = (uint16_t)rcs_below(&s, (uint32_t)sc->n_model);
        if (o->kind == RCOP_BITS) o->n_bits = (uint8_t)rcs_below(&s, 17);
        if (o->kind == RCOP_BIT) { /* a quarter of them at the extremes */
            uint32_t e = rcs_below(&s, 8);
            o->p1 = e == 0 ? 1 + rcs_below(&s, 4) : e == 1 ? 65535 - rcs_below(&s, 4) : 1 + rcs_below(&s, 65535);
        }
    }
    return 0;
}

static inline void rcs_free(rcscript *sc) {
    free(sc->ops);
    sc->ops = NULL;
}

/* Values drawn from the script's own distributions (adaptive decisions from
 * the model's state at that point); returns their ideal cost in bits. */
static inline double rcs_draw(const rcscript *sc, uint32_t *values, uint64_t *s) {
    sn_rc_prob m[RCS_MAX_MODEL];
    memcpy(m, sc->model, sizeof m);
    double bits = 0;
    for (size_t i = 0; i < sc->n_ops; i++) {
        const rcop *o = &sc->ops[i];
        uint32_t v = 0;
        if (o->kind == RCOP_CDF) {
            const uint32_t *c = sc->cdf[o->index];
            int n = sc->n_sym[o->index];
            uint32_t u = rcs_below(s, c[n]);
            while (c[v + 1] <= u) v++;
            bits -= log2((double)(c[v + 1] - c[v]) / c[n]);
        } else if (o->kind == RCOP_BIT || o->kind == RCOP_ADAPT) {
            uint32_t p1 = o->kind == RCOP_BIT ? o->p1 : m[o->index].p;
            v = rcs_below(s, SN_RC_PROB_ONE) < p1;
            bits -= log2((v ? p1 : SN_RC_PROB_ONE - p1) / 65536.0);
            if (o->kind == RCOP_ADAPT) sn_rc_prob_update(&m[o->index], (int)v, sc->limit[o->index]);
        } else {
            v = (uint32_t)(rcs_rand(s) & ((1u << o->n_bits) - 1));
            bits += o->n_bits;
        }
        values[i] = v;
    }
    return bits;
}

/* Encode values under the script; returns sn_rc_enc_finish's result. */
static inline int rcs_encode(const rcscript *sc, const uint32_t *values, uint8_t **out, size_t *n_out) {
    sn_rc_prob m[RCS_MAX_MODEL];
    memcpy(m, sc->model, sizeof m);
    sn_rc_enc e;
    sn_rc_enc_init(&e);
    for (size_t i = 0; i < sc->n_ops; i++) {
        const rcop *o = &sc->ops[i];
        if (o->kind == RCOP_CDF) sn_rc_enc_cdf(&e, sc->cdf[o->index], sc->n_sym[o->index], (int)values[i]);
        else if (o->kind == RCOP_BIT) sn_rc_enc_bit(&e, o->p1, (int)values[i]);
        else if (o->kind == RCOP_ADAPT) sn_rc_enc_adaptive(&e, &m[o->index], (int)values[i], sc->limit[o->index]);
        else sn_rc_enc_bits(&e, values[i], o->n_bits);
    }
    return sn_rc_enc_finish(&e, out, n_out);
}

/* Decode under the script into values; returns sn_rc_dec_end's status. */
static inline int rcs_decode(const rcscript *sc, const uint8_t *in, size_t n_in, uint32_t *values) {
    sn_rc_prob m[RCS_MAX_MODEL];
    memcpy(m, sc->model, sizeof m);
    sn_rc_dec d;
    sn_rc_dec_init(&d, in, n_in);
    for (size_t i = 0; i < sc->n_ops; i++) {
        const rcop *o = &sc->ops[i];
        if (o->kind == RCOP_CDF) values[i] = (uint32_t)sn_rc_dec_cdf(&d, sc->cdf[o->index], sc->n_sym[o->index]);
        else if (o->kind == RCOP_BIT) values[i] = (uint32_t)sn_rc_dec_bit(&d, o->p1);
        else if (o->kind == RCOP_ADAPT) values[i] = (uint32_t)sn_rc_dec_adaptive(&d, &m[o->index], sc->limit[o->index]);
        else values[i] = sn_rc_dec_bits(&d, o->n_bits);
    }
    return sn_rc_dec_end(&d);
}

#endif
