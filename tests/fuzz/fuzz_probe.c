/* Fuzz target: the linear probe's file (safetensors, then its metadata:
 * format, codec hash, pooling, class list as JSON text, tensor shapes,
 * non-finite values, deviations). */
#include <stdlib.h>
#include "fuzz_target.h"
#include "probe_internal.h"

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int rc = 0;
    sono_probe *p = sn_probe_load_mem(data, n, &rc);
    if (p) {
        /* a loaded probe predicts finite probabilities for zero features */
        float prob[PROBE_MAX_CLASSES];
        int F = sono_probe_feature_dim(sono_probe_feature_kind(p), sono_probe_latent_dim(p));
        if (F < 1 || F > PROBE_MAX_FEATURES) abort();
        float *feat = calloc((size_t)F, sizeof(float));
        if (feat) {
            int k = sono_probe_predict(p, feat, prob);
            if (k < 0 || k >= sono_probe_n_classes(p) || !sono_probe_class_name(p, k)) abort();
        }
        free(feat);
    }
    sono_probe_free(p);
    return rc;
}

SONO_FUZZ_ENTRY
