/* A program outside the project, built against the installed library with
 * `pkg-config --cflags --libs sonotok` (or --static) alone: loads a codec,
 * tokenizes a generated sine, round-trips the token file through memory,
 * decodes, writes the audio to a WAV and reads it back resampled. Between
 * them these calls reach every library libsonotok needs (BLAS and OpenMP in
 * the kernels, json-c and xxHash in the loader, zstd in the token file,
 * libsndfile and libsoxr in audio I/O), so a static link fails when the .pc
 * file misses one.
 * usage: consumer MODEL WORK_DIR; prints "sonotok VERSION" and exits 0 when
 * every check holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sonotok/sonotok.h>

static int failures;
#define CHECK(cond) do { if (!(cond)) { failures++; \
    fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, sono_last_error()); } } while (0)

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: consumer MODEL WORK_DIR\n");
        return 1;
    }
    CHECK(strcmp(sono_strerror(SONO_E_CHECKSUM), "") != 0);
    int err = 0;
    CHECK(sono_codec_load("/nonexistent/model.th", NULL, &err) == NULL && err < 0 && sono_last_error()[0]);

    sono_codec_params p = sono_codec_default_params();
    p.n_threads = 2;
    sono_codec *c = sono_codec_load(argv[1], &p, &err);
    if (!c) {
        fprintf(stderr, "consumer: %s: %s\n", argv[1], sono_last_error());
        return 1;
    }
    int rate = sono_codec_sample_rate(c), channels = sono_codec_channels(c);
    int n_q = sono_codec_n_q_for_bandwidth(c, sono_codec_bandwidth(c, 0));
    int64_t n = rate / 2;
    float *x = malloc(sizeof(float) * (size_t)(n * channels));
    if (!x) return 1;
    for (int64_t i = 0; i < n * channels; i++) x[i] = 0.5f * sinf(2.0f * 3.14159265f * 440.0f * (float)(i % n) / (float)rate);

    sono_tokens *t = NULL, *back = NULL;
    uint8_t *buf = NULL;
    size_t n_bytes = 0;
    float *y = NULL;
    int64_t n_y = 0;
    CHECK(n_q > 0 && sono_codec_encode(c, x, n, n_q, &t) == 0);
    if (t) {
        CHECK(t->n_q == n_q && t->n_frames > 0 && t->n_frames <= sono_codec_max_frames(c, n));
        CHECK(sono_tokens_encode(t, &buf, &n_bytes) == 0 && sono_tokens_decode(buf, n_bytes, &back) == 0);
        CHECK(back && back->n_frames == t->n_frames &&
              !memcmp(back->codes, t->codes, sizeof(int32_t) * (size_t)(t->n_q * t->n_frames)));
        CHECK(sono_codec_decode(c, t, &y, &n_y) == 0 && n_y == n);
    }
    if (y && n_y == n) {
        char path[4096];
        snprintf(path, sizeof path, "%s/consumer.wav", argv[2]);
        sono_audio_writer *w = sono_audio_create(path, NULL, rate, rate, channels, &err);
        CHECK(w && sono_audio_write(w, y, n_y) == 0);
        CHECK(sono_audio_writer_close(w) == 0);
        sono_audio_reader *r = sono_audio_open(path, 2 * rate, 1, &err);
        float *z = NULL;
        int64_t n_z = 0;
        CHECK(r && sono_audio_read_all(r, &z, &n_z) == 0 && llabs(n_z - 2 * n) <= 2);
        sono_audio_close(r);
        free(z);
        CHECK(isfinite(sono_metrics_si_snr(x, y, n)));
    }
    free(y);
    free(buf);
    sono_tokens_free(back);
    sono_tokens_free(t);
    free(x);
    sono_codec_free(c);
    if (failures) return 1;
    printf("sonotok %s\n", SONOTOK_VERSION);
    return 0;
}
