/* One hour of 44.1 kHz stereo read through sono_audio_read with a small
 * buffer, resampled to 24 kHz mono: the reader's memory must stay constant
 * (peak resident size grows by less than a few MB) and the output length must
 * be exact. The input is a FLAC of near-silence (a click every second), which
 * libsndfile compresses to well under a megabyte, so the test needs no big
 * file on disk. Suite 'slow'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "sonotok/audio.h"
#include "test_util.h"

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    const int rate = 44100, out_rate = 24000;
    const int64_t n = (int64_t)3600 * rate;
    const char *base = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/sono-audio-long-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(path, sizeof path, "%s/hour.flac", dir);

    double t0 = now_s();
    int err;
    sono_audio_writer *w = sono_audio_create(path, NULL, rate, rate, 2, &err);
    CHECK_MSG(w, "%s", sono_last_error());
    if (!w) return tu_finish("test_audio_long");
    enum { BLOCK = 44100 };
    static float block[2 * BLOCK];
    for (int64_t i = 0; i < n; i += BLOCK) {
        memset(block, 0, sizeof block);
        block[0] = 0.5f;          /* left click */
        block[BLOCK + 100] = -0.5f; /* right click */
        CHECK(sono_audio_write(w, block, BLOCK) == 0);
    }
    CHECK(sono_audio_writer_close(w) == 0);
    double t1 = now_s();

    long rss0 = peak_rss_kb();
    sono_audio_reader *r = sono_audio_open(path, out_rate, 1, &err);
    CHECK_MSG(r, "%s", sono_last_error());
    int64_t got = 0, k, want = (2 * n * out_rate + rate) / (2 * rate);
    double peak = 0;
    float buf[1024];
    if (r) {
        CHECK(sono_audio_length(r) == want);
        while ((k = sono_audio_read(r, buf, 1024)) > 0) {
            for (int64_t i = 0; i < k; i++)
                if (buf[i] > peak) peak = buf[i];
            got += k;
        }
        CHECK(k == 0);
        sono_audio_close(r);
    }
    double t2 = now_s();
    long rss1 = peak_rss_kb();
    printf("1 hour 44.1 kHz stereo: written in %.1f s, read at 24 kHz mono in %.1f s, %lld samples (want %lld), "
           "peak RSS %ld -> %ld KB, loudest sample %.3f\n", t1 - t0, t2 - t1, (long long)got, (long long)want, rss0,
           rss1, peak);
    CHECK(got == want);
    CHECK_MSG(rss1 - rss0 < 8 * 1024, "peak RSS grew by %ld KB while reading", rss1 - rss0);
    CHECK(peak > 0.1 && peak < 0.5); /* the clicks survive, averaged */
    unlink(path);
    rmdir(dir);
    return tu_finish("test_audio_long");
}
