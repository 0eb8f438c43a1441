/* The linear probe (sonotok/probe.h): pooling by hand-computed values; on
 * generated audio through a tiny test codec (sines, noise, clicks) the
 * probe separates the classes on held-out clips; training is deterministic;
 * the file round-trips; another codec is refused; bad files, sizes and
 * labels fail with the right codes.
 * usage: test-probe CODEC_DATA_DIR WORK_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sonotok/sonotok.h"
#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"
#include "test_util.h"

#define N_CLASSES 3
#define PER_CLASS_TRAIN 30
#define PER_CLASS_TEST 20
#define MIN_ACCURACY 0.9

static const char *const class_names[N_CLASSES] = {"sine", "noise", "clicks"};

/* One generated clip of class k (0 sine, 1 white noise, 2 click train),
 * with its frequency, level and phase drawn at random: n samples at rate. */
static void make_clip(int k, float *x, int64_t n, int rate) {
    float amp = tu_uniform(0.2f, 0.5f);
    if (k == 0) {
        float f = tu_uniform(100.0f, 600.0f), ph = tu_uniform(0.0f, 6.28f);
        for (int64_t i = 0; i < n; i++) x[i] = amp * sinf(6.2831853f * f * (float)i / (float)rate + ph);
    } else if (k == 1) {
        for (int64_t i = 0; i < n; i++) x[i] = amp * tu_uniform(-1.0f, 1.0f);
    } else {
        int64_t period = (int64_t)(rate * tu_uniform(0.02f, 0.08f)), off = (int64_t)tu_uniform(0.0f, (float)period);
        for (int64_t i = 0; i < n; i++) x[i] = ((i + off) % period) < 8 ? amp : 0.0f;
    }
}

static int features_of(const sono_codec *c, int kind, const float *x, int64_t n, float *feat) {
    float *lat = NULL;
    int64_t nf = 0;
    int rc = sono_codec_encode_latents(c, x, n, &lat, &nf);
    if (!rc) rc = sono_probe_features(kind, lat, sono_codec_latent_dim(c), nf, feat);
    free(lat);
    return rc;
}

static int read_all(const char *path, unsigned char **buf, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)*n + 1);
    size_t got = fread(*buf, 1, (size_t)*n, f);
    fclose(f);
    return got == (size_t)*n ? 0 : -1;
}

static int write_all(const char *path, const unsigned char *buf, long n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(buf, 1, (size_t)n, f);
    return fclose(f) == 0 && put == (size_t)n ? 0 : -1;
}

static void test_pooling(void) {
    /* latents [2][4]: d0 = 1 2 3 4 (mean 2.5, std sqrt(1.25)), d1 = 5 5 5 5 */
    const float lat[8] = {1, 2, 3, 4, 5, 5, 5, 5};
    float f[4];
    CHECK(sono_probe_feature_dim(SONO_PROBE_MEAN, 2) == 2 && sono_probe_feature_dim(SONO_PROBE_MEAN_STD, 2) == 4);
    CHECK(sono_probe_feature_dim(7, 2) == SONO_E_ARG && sono_probe_feature_dim(SONO_PROBE_MEAN, 0) == SONO_E_ARG);
    CHECK(sono_probe_features(SONO_PROBE_MEAN_STD, lat, 2, 4, f) == 0);
    CHECK(fabsf(f[0] - 2.5f) < 1e-6f && fabsf(f[1] - 5.0f) < 1e-6f);
    CHECK(fabsf(f[2] - 1.1180340f) < 1e-6f && fabsf(f[3]) < 1e-6f);
    CHECK(sono_probe_features(SONO_PROBE_MEAN, lat, 2, 0, f) == SONO_E_EMPTY);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test-probe CODEC_DATA_DIR WORK_DIR\n");
        return 2;
    }
    tu_seed(20261207);
    test_pooling();
    char p24[4096], p48[4096], f1[4096], f2[4096], bad[4096];
    snprintf(p24, sizeof p24, "%s/tiny24.th", argv[1]);
    snprintf(p48, sizeof p48, "%s/tiny48.th", argv[1]);
    snprintf(f1, sizeof f1, "%s/a.probe", argv[2]);
    snprintf(f2, sizeof f2, "%s/b.probe", argv[2]);
    snprintf(bad, sizeof bad, "%s/bad.probe", argv[2]);
    int err;
    sono_codec *c = sono_codec_load(p24, NULL, &err), *c48 = sono_codec_load(p48, NULL, &err);
    CHECK(c && c48);
    if (!c || !c48) return tu_finish("probe");
    const int rate = sono_codec_sample_rate(c), D = sono_codec_latent_dim(c);
    const int kind = SONO_PROBE_MEAN_STD, F = sono_probe_feature_dim(kind, D);
    const int64_t n = rate / 4;
    const int n_train = N_CLASSES * PER_CLASS_TRAIN, n_test = N_CLASSES * PER_CLASS_TEST;
    float *x = malloc(sizeof(float) * (size_t)n);
    float *ftrain = malloc(sizeof(float) * (size_t)n_train * F), *ftest = malloc(sizeof(float) * (size_t)n_test * F);
    int32_t ytrain[N_CLASSES * PER_CLASS_TRAIN], ytest[N_CLASSES * PER_CLASS_TEST];
    for (int i = 0; i < n_train + n_test; i++) {
        int k = i % N_CLASSES, tr = i < n_train;
        make_clip(k, x, n, rate);
        float *dst = tr ? ftrain + (size_t)i * F : ftest + (size_t)(i - n_train) * F;
        CHECK(features_of(c, kind, x, n, dst) == 0);
        if (tr) ytrain[i] = k;
        else ytest[i - n_train] = k;
    }
    sono_probe_info info = {.codec_name = sono_codec_name(c), .feature_kind = kind, .latent_dim = D,
                            .n_classes = N_CLASSES, .class_names = class_names, .labels = "test"};
    sono_codec_hash(c, info.codec_hash);
    sono_probe_train_params tp = sono_probe_train_default_params();
    double loss1 = -1, loss2 = -2;
    sono_probe *p1 = sono_probe_train(&info, ftrain, ytrain, n_train, &tp, &loss1, &err);
    sono_probe *p2 = sono_probe_train(&info, ftrain, ytrain, n_train, &tp, &loss2, &err);
    CHECK(p1 && p2);
    if (!p1 || !p2) return tu_finish("probe");
    /* held-out generated clips */
    float prob[N_CLASSES], prob2[N_CLASSES];
    int right = 0;
    for (int i = 0; i < n_test; i++) {
        int k = sono_probe_predict(p1, ftest + (size_t)i * F, prob);
        right += k == ytest[i];
        if (k != ytest[i]) printf("  held-out clip %d: %s taken for %s\n", i, class_names[ytest[i]], class_names[k]);
    }
    double acc = (double)right / n_test;
    printf("held-out accuracy on generated sines/noise/clicks: %.3f (%d of %d), training loss %.4f\n", acc, right, n_test, loss1);
    CHECK_MSG(acc >= MIN_ACCURACY, "accuracy %.3f below %.2f", acc, MIN_ACCURACY);
    float s = 0;
    for (int k = 0; k < N_CLASSES; k++) s += prob[k];
    CHECK(fabsf(s - 1.0f) < 1e-5f);
    /* deterministic: two runs give the same file, byte for byte */
    CHECK(loss1 == loss2);
    CHECK(sono_probe_save(p1, f1) == 0 && sono_probe_save(p2, f2) == 0);
    unsigned char *b1 = NULL, *b2 = NULL;
    long n1 = 0, n2 = 0;
    CHECK(read_all(f1, &b1, &n1) == 0 && read_all(f2, &b2, &n2) == 0);
    CHECK_MSG(n1 == n2 && b1 && b2 && !memcmp(b1, b2, (size_t)n1), "two trainings on the same data differ");
    /* round trip: same settings, same probabilities bit for bit */
    sono_probe *q = sono_probe_load(f1, &err);
    CHECK(q != NULL);
    if (q) {
        CHECK(sono_probe_n_classes(q) == N_CLASSES && sono_probe_feature_kind(q) == kind && sono_probe_latent_dim(q) == D);
        CHECK(!strcmp(sono_probe_class_name(q, 2), "clicks") && sono_probe_class_name(q, 3) == NULL);
        CHECK(!strcmp(sono_probe_labels(q), "test") && !strcmp(sono_probe_codec_name(q), sono_codec_name(c)));
        int same = 1;
        for (int i = 0; i < n_test; i++) {
            int k1 = sono_probe_predict(p1, ftest + (size_t)i * F, prob), k2 = sono_probe_predict(q, ftest + (size_t)i * F, prob2);
            same &= k1 == k2 && !memcmp(prob, prob2, sizeof prob);
        }
        CHECK_MSG(same, "the loaded probe predicts differently");
        /* its own codec passes, another is refused */
        uint8_t h[16];
        sono_codec_hash(c, h);
        CHECK(sono_probe_check_codec(q, sono_codec_name(c), h) == 0);
        sono_codec_hash(c48, h);
        CHECK(sono_probe_check_codec(q, sono_codec_name(c48), h) == SONO_E_MODEL_MISMATCH);
        CHECK(strstr(sono_last_error(), "trained on codec") != NULL);
        sono_codec_hash(c, h);
        h[0] ^= 1;   /* same name, other weights */
        CHECK(sono_probe_check_codec(q, sono_codec_name(c), h) == SONO_E_MODEL_MISMATCH);
    }
    sono_probe_free(q);
    /* damaged files: truncated, a flipped byte in the header, not a probe */
    if (b1 && n1 > 100) {
        sono_probe *r;
        CHECK(write_all(bad, b1, n1 - 7) == 0);
        CHECK((r = sono_probe_load(bad, &err)) == NULL && err == SONO_E_TRUNCATED);
        sono_probe_free(r);
        unsigned char *m = malloc((size_t)n1);
        memcpy(m, b1, (size_t)n1);
        char *fmt = strstr((char *)m + 8, "sonotok-probe");
        if (fmt) fmt[0] = 'S';
        CHECK(fmt && write_all(bad, m, n1) == 0);
        CHECK((r = sono_probe_load(bad, &err)) == NULL && err == SONO_E_FORMAT);
        sono_probe_free(r);
        memcpy(m, b1, (size_t)n1);
        char *cls = strstr((char *)m + 8, "\"classes\"");
        if (cls) cls[1] = 'k';   /* "klasses": no class list */
        CHECK(cls && write_all(bad, m, n1) == 0);
        CHECK((r = sono_probe_load(bad, &err)) == NULL && err == SONO_E_FORMAT);
        sono_probe_free(r);
        free(m);
        CHECK((r = sono_probe_load(p24, &err)) == NULL && err != 0);
        char ref[4096];
        snprintf(ref, sizeof ref, "%s/tiny24_ref.safetensors", argv[1]);
        CHECK((r = sono_probe_load(ref, &err)) == NULL && err == SONO_E_FORMAT);
        snprintf(ref, sizeof ref, "%s/absent.probe", argv[2]);
        CHECK((r = sono_probe_load(ref, &err)) == NULL && err == SONO_E_NOT_FOUND);
    }
    free(b1);
    free(b2);
    /* bad training input */
    sono_probe *r;
    int32_t ybad[N_CLASSES * PER_CLASS_TRAIN];
    memcpy(ybad, ytrain, sizeof ybad);
    ybad[5] = N_CLASSES;
    CHECK((r = sono_probe_train(&info, ftrain, ybad, n_train, &tp, NULL, &err)) == NULL && err == SONO_E_ARG);
    CHECK((r = sono_probe_train(&info, ftrain, ytrain, 0, &tp, NULL, &err)) == NULL && err == SONO_E_EMPTY);
    sono_probe_info one = info;
    one.n_classes = 1;
    CHECK((r = sono_probe_train(&one, ftrain, ytrain, n_train, &tp, NULL, &err)) == NULL && err == SONO_E_ARG);
    ftrain[3] = NAN;
    CHECK((r = sono_probe_train(&info, ftrain, ytrain, n_train, &tp, NULL, &err)) == NULL && err == SONO_E_ARG);
    sono_probe_free(p1);
    sono_probe_free(p2);
    sono_probe_free(NULL);
    sono_codec_free(c);
    sono_codec_free(c48);
    free(x);
    free(ftrain);
    free(ftest);
    return tu_finish("probe");
}
