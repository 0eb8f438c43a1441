/* The linear probe's object, shared by probe.c (load, save, predict) and
 * probe_train.c (training, in the training library). */
#ifndef SONO_PROBE_INTERNAL_H
#define SONO_PROBE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/probe.h"
#ifndef SONOTOK_TRAIN_UNSTABLE
#define SONOTOK_TRAIN_UNSTABLE   /* sono_probe_info, the trainer's description of a probe */
#endif
#include "sonotok/train.h"

#define PROBE_MAX_CLASSES 256
#define PROBE_MAX_FEATURES 65536

struct sono_probe {
    char *codec_name;
    uint8_t codec_hash[16];
    char *labels;
    int kind, latent_dim;
    int F, K;            /* features, classes */
    char **class_names;  /* [K] */
    float *mean, *std;   /* [F] standardisation */
    float *W;            /* [K][F] */
    float *b;            /* [K] */
};

/* An empty probe with room for its arrays, the strings copied; NULL when out
 * of memory or info is inconsistent (*err set). */
sono_probe *sn_probe_new(const sono_probe_info *info, int *err);

/* sono_probe_load from a buffer (the fuzz target's way in). */
sono_probe *sn_probe_load_mem(const uint8_t *buf, size_t n_bytes, int *err);

#endif
