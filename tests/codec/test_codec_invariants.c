/* Codec invariances that need no reference: RVQ with k codebooks is the
 * prefix of RVQ with K; results do not depend on the thread count; tokens of
 * one model are refused by another; bare codes wrap into consistent tokens;
 * bad bandwidths and bad configs fail with the right codes.
 * usage: test-codec-invariants DATA_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "sonotok/sonotok.h"
#include "test_util.h"

static sono_codec *load(const char *dir, const char *name, int threads) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.th", dir, name);
    sono_codec_params prm = sono_codec_default_params();
    prm.n_threads = threads;
    int err;
    sono_codec *c = sono_codec_load(p, &prm, &err);
    if (!c) fprintf(stderr, "load %s: %s\n", p, sono_last_error());
    return c;
}

static float *signal(int C, int64_t n) {
    float *x = malloc(sizeof(float) * (size_t)C * (size_t)n);
    for (int64_t i = 0; i < (int64_t)C * n; i++) x[i] = tu_uniform(-0.5f, 0.5f);
    return x;
}

static void check_model(const char *dir, const char *name) {
    sono_codec *c1 = load(dir, name, 1), *c2 = load(dir, name, 2);
    CHECK(c1 && c2);
    if (!c1 || !c2) return;
    int C = sono_codec_channels(c1), Q = sono_codec_max_codebooks(c1);
    int64_t n = 2345;
    float *x = signal(C, n);
    sono_tokens *full = NULL, *part = NULL, *full2 = NULL;
    CHECK(sono_codec_encode(c1, x, n, Q, &full) == 0);
    CHECK(sono_codec_encode(c1, x, n, Q / 2, &part) == 0);
    CHECK(sono_codec_encode(c2, x, n, Q, &full2) == 0);
    if (full && part && full2) {
        CHECK_MSG(!memcmp(part->codes, full->codes, sizeof(int32_t) * (size_t)(Q / 2) * (size_t)full->n_frames),
                  "%s: %d codebooks are not the prefix of %d", name, Q / 2, Q);
        CHECK_MSG(!memcmp(full->codes, full2->codes, sizeof(int32_t) * (size_t)Q * (size_t)full->n_frames),
                  "%s: codes differ between 1 and 2 threads", name);
        float *y1 = NULL, *y2 = NULL;
        int64_t n1 = 0, n2 = 0;
        CHECK(sono_codec_decode(c1, full, &y1, &n1) == 0);
        CHECK(sono_codec_decode(c2, full, &y2, &n2) == 0);
        CHECK(n1 == n && n2 == n);
        if (y1 && y2 && n1 == n2)
            CHECK_MSG(!memcmp(y1, y2, sizeof(float) * (size_t)C * (size_t)n1), "%s: decode differs between 1 and 2 threads", name);
        free(y1);
        free(y2);
        /* bare codes -> tokens -> the same audio for the frames they cover */
        sono_tokens *w = NULL;
        CHECK(sono_codec_tokens_from_codes(c1, full->codes, Q, full->n_frames, &w) == 0);
        if (w) {
            CHECK(w->n_frames == full->n_frames && w->n_segments == full->n_segments);
            CHECK(w->n_samples >= n);
            CHECK(sono_codec_check_tokens(c1, w) == 0);
        }
        sono_tokens_free(w);
        /* an out-of-range code is refused before decoding */
        full->codes[3] = sono_codec_codebook_size(c1);
        CHECK(sono_codec_check_tokens(c1, full) == SONO_E_RANGE);
        float *y = NULL;
        int64_t ny;
        CHECK(sono_codec_decode(c1, full, &y, &ny) == SONO_E_RANGE);
        CHECK(y == NULL);
    }
    /* the continuous latents quantise to sono_codec_encode's codes, also over
     * more than one encoder chunk (24000 samples) */
    {
        int64_t nl = 30011;
        float *xl = signal(C, nl), *lat = NULL;
        int64_t nf = -1;
        sono_tokens *tl = NULL;
        CHECK(sono_codec_encode(c2, xl, nl, Q, &tl) == 0);
        CHECK(sono_codec_encode_latents(c2, xl, nl, &lat, &nf) == 0);
        if (tl && lat) {
            CHECK_MSG(nf == tl->n_frames, "%s: %lld latent frames, %lld code frames", name, (long long)nf,
                      (long long)tl->n_frames);
            int32_t *q = malloc(sizeof(int32_t) * (size_t)Q * (size_t)nf);
            CHECK(sn_rvq_encode(c2, lat, nf, Q, q, nf, 1, NULL) == 0);
            CHECK_MSG(!memcmp(q, tl->codes, sizeof(int32_t) * (size_t)Q * (size_t)nf),
                      "%s: latents do not quantise to the encoder's codes", name);
            free(q);
        }
        CHECK(sono_codec_latent_dim(c2) > 0);
        free(lat);
        lat = NULL;
        CHECK(sono_codec_encode_latents(c2, xl, 0, &lat, &nf) == SONO_E_EMPTY && lat == NULL);
        sono_tokens_free(tl);
        free(xl);
    }
    CHECK(sono_codec_n_q_for_bandwidth(c1, 0.123) == SONO_E_RANGE);
    CHECK(strstr(sono_last_error(), "choose one of") != NULL);
    sono_tokens *t0 = NULL;
    CHECK(sono_codec_encode(c1, x, 0, 1, &t0) == SONO_E_EMPTY);
    CHECK(sono_codec_encode(c1, x, n, Q + 1, &t0) == SONO_E_RANGE);
    sono_tokens_free(full);
    sono_tokens_free(part);
    sono_tokens_free(full2);
    free(x);
    sono_codec_free(c1);
    sono_codec_free(c2);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]); return 2; }
    tu_seed(77);
    check_model(argv[1], "tiny24");
    check_model(argv[1], "tiny48");
    /* tokens of one model are refused by another */
    sono_codec *a = load(argv[1], "tiny24", 1), *b = load(argv[1], "tiny48", 1);
    if (a && b) {
        float *x = signal(1, 500);
        sono_tokens *t = NULL;
        CHECK(sono_codec_encode(a, x, 500, 1, &t) == 0);
        if (t) {
            CHECK(sono_codec_check_tokens(b, t) == SONO_E_MODEL_MISMATCH);
            CHECK(strstr(sono_last_error(), "tiny24") != NULL);
            int err;
            CHECK(sono_codec_decoder_stream(b, t, &err) == NULL && err == SONO_E_MODEL_MISMATCH);
        }
        sono_tokens_free(t);
        free(x);
    }
    sono_codec_free(a);
    sono_codec_free(b);
    /* configs */
    codec_config cfg;
    CHECK(sn_codec_config_from_json("{\"sample_rate\": 24000, \"channels\": 1, \"n_q\": 8, \"bandwidths\": [6]}", &cfg) == 0);
    CHECK(sn_codec_config_from_json("[1,2]", &cfg) == SONO_E_FORMAT);
    CHECK(sn_codec_config_from_json("{\"sample_rate\": \"fast\"}", &cfg) == SONO_E_FORMAT);
    CHECK(sn_codec_config_from_json("{\"sample_rate\": 24000, \"channels\": 1, \"n_q\": 8, \"bandwidths\": [6], \"ratios\": [0]}", &cfg) == SONO_E_FORMAT);
    CHECK(sn_codec_config_from_json("{\"sample_rate\": 24000, \"channels\": 1, \"n_q\": 8, \"bandwidths\": [6], \"norm\": \"time_group_norm\", \"causal\": 1}", &cfg) == SONO_E_FORMAT);
    CHECK(sn_codec_config_preset("encodec_24khz", &cfg) == 0 && sn_codec_config_frame_rate(&cfg) == 75);
    CHECK(sn_codec_config_preset("encodec_48khz", &cfg) == 0 && sn_codec_config_segment_stride(&cfg) == 47520);
    /* name resolution */
    char path[256];
    setenv("SONOTOK_MODEL_PATH", argv[1], 1);
    CHECK(sono_codec_resolve("tiny24", path, sizeof path) == 0 && strstr(path, "tiny24.th"));
    setenv("SONOTOK_MODEL_PATH", "/nonexistent", 1);
    setenv("XDG_DATA_HOME", "/nonexistent", 1);
    CHECK(sono_codec_resolve("encodec_48khz", path, sizeof path) == SONO_E_NOT_FOUND);
    CHECK(strstr(sono_last_error(), "encodec_48khz-7e698e3e.th") && strstr(sono_last_error(), "https://"));
    return tu_finish("codec invariants");
}
