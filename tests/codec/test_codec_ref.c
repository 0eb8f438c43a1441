/* The codec against the reference implementation, on tiny random-weight
 * fixtures written by tests/ref/make_codec_fixtures.py (or the full-size ones
 * the slow test generates):
 *  - the .th, the Hugging Face folder and the native file of the same weights
 *    load to the same model hash and give identical codes;
 *  - codes equal the reference codes exactly at every bandwidth;
 *  - decoding the reference codes matches the reference audio (max abs error);
 *  - streaming in random chunk sizes equals one-shot, for encode and decode.
 * usage: test-codec-ref DATA_DIR NAME [TOLERANCE] */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sonotok/sonotok.h"
#include "tensors.h"
#include "test_util.h"

static const sono_tensor *need(const sono_tensors *ts, const char *name) {
    const sono_tensor *t = sn_tensors_find(ts, name);
    if (!t) { fprintf(stderr, "fixture lacks %s\n", name); exit(1); }
    return t;
}

static int64_t count_code_mismatch(const sono_tokens *t, const sono_tensor *ref) {
    if (ref->ndim != 2 || ref->shape[0] != t->n_q || ref->shape[1] != t->n_frames) {
        printf("  shape mismatch: ours [%d,%lld], reference [%lld,%lld]\n", t->n_q, (long long)t->n_frames,
               (long long)ref->shape[0], (long long)(ref->ndim > 1 ? ref->shape[1] : -1));
        return -1;
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < ref->numel; i++) bad += t->codes[i] != (int32_t)ref->data[i];
    return bad;
}

/* Encode in random chunks through the stream API. */
static sono_tokens *encode_chunked(const sono_codec *c, const float *x, int C, int64_t n, int n_q) {
    int err;
    sono_codec_stream *s = sono_codec_encoder_stream(c, n_q, &err);
    if (!s) return NULL;
    float *blk = malloc(sizeof(float) * (size_t)C * (size_t)n);
    int64_t off = 0;
    while (off < n) {
        int64_t m = 1 + (int64_t)(tu_rand() % 700);
        if (m > n - off) m = n - off;
        for (int ch = 0; ch < C; ch++) memcpy(blk + (size_t)ch * m, x + (size_t)ch * n + off, (size_t)m * sizeof(float));
        if (sono_codec_encoder_push(s, blk, m)) break;
        off += m;
    }
    sono_tokens *t = NULL;
    if (off == n) sono_codec_encoder_finish(s, &t);
    free(blk);
    sono_codec_stream_free(s);
    return t;
}

static float *decode_chunked(const sono_codec *c, const sono_tokens *t) {
    int err, C = sono_codec_channels(c);
    sono_codec_stream *s = sono_codec_decoder_stream(c, t, &err);
    if (!s) return NULL;
    float *out = malloc(sizeof(float) * (size_t)C * (size_t)t->n_samples);
    float *blk = malloc(sizeof(float) * (size_t)C * 1000);
    int64_t got = 0, m;
    for (;;) {
        int64_t want = 1 + (int64_t)(tu_rand() % 999);
        m = sono_codec_decoder_pull(s, blk, want);
        if (m <= 0) break;
        for (int ch = 0; ch < C; ch++) memcpy(out + (size_t)ch * t->n_samples + got, blk + (size_t)ch * m, (size_t)m * sizeof(float));
        got += m;
    }
    sono_codec_stream_free(s);
    free(blk);
    if (m < 0 || got != t->n_samples) { free(out); return NULL; }
    return out;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s DATA_DIR NAME [TOL]\n", argv[0]); return 2; }
    const char *dir = argv[1], *name = argv[2];
    double tol = argc > 3 ? atof(argv[3]) : 1e-4;
    tu_seed(1234);
    char p[4096];
    snprintf(p, sizeof p, "%s/%s_ref.safetensors", dir, name);
    sono_tensors *ref;
    if (sn_safetensors_load(p, &ref)) { fprintf(stderr, "%s: %s\n", p, sono_last_error()); return 1; }

    int err;
    sono_codec_params prm = sono_codec_default_params();
    prm.n_threads = 2;
    snprintf(p, sizeof p, "%s/%s.th", dir, name);
    sono_codec *c_th = sono_codec_load(p, &prm, &err);
    CHECK_MSG(c_th, "load %s: %s", p, sono_last_error());
    snprintf(p, sizeof p, "%s/%s_hf", dir, name);
    sono_codec *c_hf = sono_codec_load(p, &prm, &err);
    CHECK_MSG(c_hf, "load %s: %s", p, sono_last_error());
    if (!c_th || !c_hf) return tu_finish(name);
    char nat[64];
    snprintf(nat, sizeof nat, "/tmp/sono-test-%d-%s.safetensors", (int)getpid(), name);
    CHECK_MSG(sono_codec_save(c_th, nat, 0) == 0, "save native: %s", sono_last_error());
    sono_codec *c_nat = sono_codec_load(nat, &prm, &err);
    CHECK_MSG(c_nat, "load native: %s", sono_last_error());
    unlink(nat);
    if (!c_nat) return tu_finish(name);
    uint8_t h1[16], h2[16], h3[16];
    sono_codec_hash(c_th, h1);
    sono_codec_hash(c_hf, h2);
    sono_codec_hash(c_nat, h3);
    CHECK_MSG(!memcmp(h1, h2, 16), "hash of .th and Hugging Face folder differ");
    CHECK_MSG(!memcmp(h1, h3, 16), "hash of .th and native file differ");

    const sono_tensor *in = need(ref, "input");
    int C = (int)in->shape[0];
    int64_t N = in->shape[1];
    CHECK(C == sono_codec_channels(c_th));
    sono_codec *codecs[3] = {c_th, c_hf, c_nat};
    const char *cname[3] = {".th", "hf", "native"};
    for (int b = 0; b < sono_codec_n_bandwidths(c_th); b++) {
        double bw = sono_codec_bandwidth(c_th, b);
        char key[64];
        int n_q = sono_codec_n_q_for_bandwidth(c_th, bw);
        printf("%s @ %g kbps (%d codebooks)\n", name, bw, n_q);
        snprintf(key, sizeof key, "codes_%g", bw);
        const sono_tensor *rc = need(ref, key);
        snprintf(key, sizeof key, "scales_%g", bw);
        const sono_tensor *rs = need(ref, key);
        snprintf(key, sizeof key, "decoded_%g", bw);
        const sono_tensor *rd = need(ref, key);
        sono_tokens *tk[3] = {0};
        for (int k = 0; k < 3; k++) {
            int r = sono_codec_encode(codecs[k], in->data, N, n_q, &tk[k]);
            CHECK_MSG(r == 0, "encode (%s): %s", cname[k], sono_last_error());
            if (r) continue;
            int64_t bad = count_code_mismatch(tk[k], rc);
            printf("  %-6s codes: %lld of %lld differ from the reference\n", cname[k], (long long)bad, (long long)rc->numel);
            CHECK_MSG(bad == 0, "%s codes differ from the reference at %g kbps", cname[k], bw);
        }
        if (!tk[0]) continue;
        /* scales */
        if (tk[0]->scales) {
            CHECK(rs->numel == tk[0]->n_segments);
            double worst = 0;
            for (int i = 0; i < tk[0]->n_segments && i < rs->numel; i++) {
                double d = fabs(tk[0]->scales[i] - rs->data[i]) / (fabs(rs->data[i]) + 1e-12);
                if (d > worst) worst = d;
            }
            printf("  segment scales: %d, worst relative error %.3g\n", tk[0]->n_segments, worst);
            CHECK(worst < 1e-5);
        }
        /* decode the reference codes */
        sono_tokens *rt = sono_tokens_alloc(n_q, tk[0]->n_frames, tk[0]->n_segments, tk[0]->scales != NULL);
        memcpy(rt, tk[0], offsetof(sono_tokens, scales));
        for (int64_t i = 0; i < rc->numel && i < (int64_t)n_q * tk[0]->n_frames; i++) rt->codes[i] = (int32_t)rc->data[i];
        if (rt->scales) for (int i = 0; i < rt->n_segments; i++) rt->scales[i] = rs->data[i];
        float *y = NULL;
        int64_t ny = 0;
        int r = sono_codec_decode(c_th, rt, &y, &ny);
        CHECK_MSG(r == 0, "decode: %s", sono_last_error());
        if (!r) {
            CHECK(ny == N && rd->numel == (int64_t)C * N);
            if (ny == N && rd->numel == (int64_t)C * N) {
                double md = tu_maxdiff(y, rd->data, (size_t)C * N, "decoded vs reference");
                CHECK_MSG(md <= tol, "decoder output differs by %.3g (> %.3g)", md, tol);
            }
            /* streaming decode in random pull sizes equals one-shot */
            float *y2 = decode_chunked(c_th, rt);
            CHECK_MSG(y2 != NULL, "chunked decode failed: %s", sono_last_error());
            if (y2) {
                double md = tu_maxdiff(y2, y, (size_t)C * N, "chunked decode vs one-shot");
                CHECK(md == 0);
            }
            free(y2);
        }
        free(y);
        /* streaming encode in random chunk sizes equals one-shot */
        sono_tokens *tc = encode_chunked(c_th, in->data, C, N, n_q);
        CHECK_MSG(tc != NULL, "chunked encode failed: %s", sono_last_error());
        if (tc) {
            int same = tc->n_frames == tk[0]->n_frames &&
                       !memcmp(tc->codes, tk[0]->codes, sizeof(int32_t) * (size_t)n_q * (size_t)tc->n_frames);
            printf("  chunked encode equals one-shot: %s\n", same ? "yes" : "NO");
            CHECK(same);
        }
        sono_tokens_free(tc);
        sono_tokens_free(rt);
        for (int k = 0; k < 3; k++) sono_tokens_free(tk[k]);
    }
    sono_codec_free(c_th);
    sono_codec_free(c_hf);
    sono_codec_free(c_nat);
    sn_tensors_free(ref);
    return tu_finish(name);
}
