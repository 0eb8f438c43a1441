/* A program built against the installed training library with
 * `pkg-config --cflags --libs sonotok-train` alone: the unstable training
 * API (a codec config by JSON key, default training settings) and, from the
 * same library, the inference API.
 * usage: consumer-train; prints "sonotok VERSION" and exits 0 when every
 * check holds. */
#define SONOTOK_TRAIN_UNSTABLE
#include <sonotok/train.h>
#include <sonotok/sonotok.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond) do { if (!(cond)) { failures++; \
    fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, sono_last_error()); } } while (0)

int main(void) {
    int err = 0;
    sono_codec_config *cfg = sono_codec_config_default(&err);
    if (!cfg) {
        fprintf(stderr, "consumer-train: %s\n", sono_last_error());
        return 1;
    }
    double f = 8, got = 0;
    CHECK(sono_codec_config_set(cfg, "n_filters", &f, 1) == 0);
    CHECK(sono_codec_config_get(cfg, "n_filters", &got, 1) == 1 && got == 8);
    CHECK(sono_codec_config_set(cfg, "no_such_key", &f, 1) == SONO_E_NOT_FOUND);
    CHECK(sono_codec_config_check(cfg) == 0);
    char *json = sono_codec_config_to_json(cfg);
    CHECK(json && strstr(json, "\"n_filters\""));
    sono_codec_config *again = json ? sono_codec_config_from_json(json, &err) : NULL;
    CHECK(again && sono_codec_config_get(again, "n_filters", &got, 1) == 1 && got == 8);
    sono_codec_config_free(again);
    free(json);
    sono_codec_config_free(cfg);
    sono_codec_train_params p = sono_codec_train_default_params();
    CHECK(p.batch > 0 && p.steps > 0);
    CHECK(strcmp(sono_strerror(SONO_E_IO), "") != 0);
    if (failures) return 1;
    printf("sonotok %s\n", SONOTOK_VERSION);
    return 0;
}
