/* Fuzz target for audio input: the bytes go through sono_audio_open_mem
 * (libsndfile's virtual I/O, format detection, header checks), are mixed to
 * mono and resampled to 24 kHz, and read to the end in small blocks. Seeds in
 * corpus/audio/ and known-bad files in bad/audio/ are made by
 * tests/audio/make_audio_corpus.c. */
#include "fuzz_target.h"
#include "sonotok/audio.h"

/* Stop after this many output samples (about 5 s at 24 kHz): a tiny file can
 * claim a 1 Hz rate and expand 24000-fold, which proves nothing more after
 * the first blocks and slowed fuzzing to under 100 inputs a second when the
 * cap was 4 million samples. */
#define FUZZ_AUDIO_MAX_SAMPLES ((int64_t)1 << 17)

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    int err;
    sono_audio_reader *r = sono_audio_open_mem(data, (int64_t)n, 24000, 1, &err);
    if (!r) return err;
    float buf[1000];
    int64_t k, total = 0;
    while ((k = sono_audio_read(r, buf, 1000)) > 0 && (total += k) < FUZZ_AUDIO_MAX_SAMPLES) {
    }
    sono_audio_close(r);
    if (k < 0) return (int)k;
    return total > 0 ? 0 : SONO_E_EMPTY;
}

SONO_FUZZ_ENTRY
