/* Random coder models (coder_model.h) for the tests and the fuzz targets:
 * weights drawn from the test RNG at scales that give skewed, varied
 * frequency tables, or (extreme) at the int16 limits, where every sum
 * wraps modulo 2^32. Returns the serialised file (malloc'd) or NULL. */
#ifndef SONO_TEST_CMFIX_H
#define SONO_TEST_CMFIX_H

#include <stdlib.h>
#include "coder_model.h"
#include "sono_internal.h"
#include "formats/tokfix.h" /* tokfix_tok: a coder model file's checksums sit where a token file's do */

static inline int16_t cmfix_w(uint64_t (*rnd)(void), int amp, int extreme) {
    uint64_t r = rnd();
    if (extreme) return (int16_t)(r & 1 ? -32768 : 32767);
    return (int16_t)((int)(r % (uint64_t)(2 * amp + 1)) - amp);
}

static inline uint8_t *cmfix_model(const sn_cm_dims *d, const char *codec_name, uint64_t (*rnd)(void), int extreme,
                                   size_t *n_bytes) {
    size_t K = (size_t)d->K, V = (size_t)d->V, D = (size_t)d->D, H = (size_t)d->H, G = (size_t)d->G, P = (size_t)d->P;
    size_t ne = K * (V + 1) * D, nu = K * P * H * D, nc = K * H * D, nw2 = K * G * H, nwo = K * V * G;
    int16_t *emb = malloc(ne * 2), *U = malloc(nu * 2), *C = malloc(nc * 2), *W2 = malloc(nw2 * 2), *Wo = malloc(nwo * 2);
    int32_t *b1 = malloc(K * H * 4), *b2 = malloc(K * G * 4), *bo = malloc(K * V * 4);
    uint8_t *out = NULL;
    if (emb && U && C && W2 && Wo && b1 && b2 && bo) {
        for (size_t i = 0; i < ne; i++) emb[i] = cmfix_w(rnd, 2000, extreme);
        for (size_t i = 0; i < nu; i++) U[i] = cmfix_w(rnd, 2000, extreme);
        for (size_t i = 0; i < nc; i++) C[i] = cmfix_w(rnd, 2000, extreme);
        for (size_t i = 0; i < nw2; i++) W2[i] = cmfix_w(rnd, 1000, extreme);
        for (size_t i = 0; i < nwo; i++) Wo[i] = cmfix_w(rnd, 600, extreme);
        for (size_t i = 0; i < K * H; i++) b1[i] = extreme ? (int32_t)rnd() : (int32_t)(rnd() % 20000001) - 10000000;
        for (size_t i = 0; i < K * G; i++) b2[i] = extreme ? (int32_t)rnd() : (int32_t)(rnd() % 20000001) - 10000000;
        for (size_t i = 0; i < K * V; i++) bo[i] = extreme ? (int32_t)rnd() : (int32_t)(rnd() % 2000001) - 1000000;
        sn_cm_tensors w = {emb, U, C, W2, Wo, b1, b2, bo};
        uint8_t hash[16];
        for (int i = 0; i < 16; i++) hash[i] = (uint8_t)rnd();
        if (sn_cm_serialize(d, codec_name, hash, &w, &out, n_bytes)) out = NULL;
    }
    free(emb), free(U), free(C), free(W2), free(Wo), free(b1), free(b2), free(bo);
    return out;
}

/* The fuzz target tokcoder's model: fixed sizes and weights (its own stream). */
static uint64_t cmfix_fuzz_state;
static inline uint64_t cmfix_fuzz_rand(void) {
    uint64_t z = (cmfix_fuzz_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The usual small test sizes: V codes, K codebooks, P past frames. */
static inline sn_cm_dims cmfix_dims(int V, int K, int P) {
    return (sn_cm_dims){.V = V, .K = K, .P = P, .D = 16, .H = 32, .G = 16, .s1 = 12, .s2 = 12, .logit_shift = 14};
}

/* 64 codes, 3 codebooks, 2 past frames: the fuzz target's model. */
static inline sono_coder *cmfix_fuzz_model(void) {
    sn_cm_dims d = cmfix_dims(64, 3, 2);
    cmfix_fuzz_state = 20251208;
    size_t n = 0;
    uint8_t *b = cmfix_model(&d, "fuzz", cmfix_fuzz_rand, 0, &n);
    sono_coder *m = b ? sono_coder_load_mem(b, n, NULL) : NULL;
    free(b);
    return m;
}

#endif
