/* Audio file input and output: anything libsndfile reads (WAV, FLAC, Ogg
 * Vorbis, Ogg Opus, MP3, ...), streamed in blocks, resampled with a
 * band-limited resampler (libsoxr) and mixed to the wanted channel count.
 *
 *   int err;
 *   sono_audio_reader *r = sono_audio_open("in.flac", 24000, 1, &err);
 *   float buf[4096];
 *   int64_t n;
 *   while ((n = sono_audio_read(r, buf, 4096)) > 0) { ... n samples per channel ... }
 *   sono_audio_close(r);
 *
 * Samples are float32 in [-1, 1], planar (channel-major): a block of n samples
 * per channel holds channel 0's n samples, then channel 1's, ...
 * Channel mapping: to mono, average all channels; from mono, duplicate; any
 * other change keeps the first channels and duplicates the last one as needed. */
#ifndef SONOTOK_AUDIO_H
#define SONOTOK_AUDIO_H

#include <stdint.h>
#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sono_audio_reader sono_audio_reader;
typedef struct sono_audio_writer sono_audio_writer;

/* Open an audio file for reading, converted to rate (0: keep the file's) and
 * channels (0: keep). NULL on failure with *err set (SONO_E_NOT_FOUND,
 * SONO_E_FORMAT for a non-audio file, SONO_E_EMPTY for zero-length audio). */
SONO_API sono_audio_reader *sono_audio_open(const char *path, int rate, int channels, int *err);

/* Same, from a memory buffer (not copied; must outlive the reader). */
SONO_API sono_audio_reader *sono_audio_open_mem(const void *data, int64_t n_bytes,
                                                int rate, int channels, int *err);

/* Output rate / channels, and the file's own. */
SONO_API int sono_audio_rate(const sono_audio_reader *r);
SONO_API int sono_audio_channels(const sono_audio_reader *r);
SONO_API int sono_audio_file_rate(const sono_audio_reader *r);
SONO_API int sono_audio_file_channels(const sono_audio_reader *r);

/* Expected number of output samples per channel (the file's frame count
 * converted to the output rate, rounded), or -1 if the file does not say. */
SONO_API int64_t sono_audio_length(const sono_audio_reader *r);

/* Read up to max_samples per channel into out (planar, channels * max_samples
 * floats). Returns samples per channel written, 0 at the end, negative on error. */
SONO_API int64_t sono_audio_read(sono_audio_reader *r, float *out, int64_t max_samples);

/* Convenience: read everything (planar, *n_samples per channel). Caller frees *out. */
SONO_API int sono_audio_read_all(sono_audio_reader *r, float **out, int64_t *n_samples);

SONO_API void sono_audio_close(sono_audio_reader *r);

/* Create an audio file at path. The container is chosen by format_ext (e.g.
 * "wav", "flac", "ogg", "opus"; NULL: from path's extension): WAV is 16-bit PCM,
 * FLAC 16-bit, "ogg" Vorbis, "opus" Ogg Opus. Samples are given at in_rate and
 * written at out_rate (resampled when they differ). The file is written
 * through the output writer (sonotok/output.h): under a temporary name that
 * sono_audio_writer_close renames over path, or to a scratch file copied to a
 * device, FIFO or "-" (stdout) at close. NULL on failure, *err set. */
SONO_API sono_audio_writer *sono_audio_create(const char *path, const char *format_ext,
                                              int in_rate, int out_rate, int channels, int *err);

/* Write n_samples per channel (planar). Returns 0 or a negative error. */
SONO_API int sono_audio_write(sono_audio_writer *w, const float *planar, int64_t n_samples);

/* Flush, finish, close and put the file in place. Returns 0 or a negative
 * error (then nothing is put in place). NULL-safe. */
SONO_API int sono_audio_writer_close(sono_audio_writer *w);

/* Drop the file being written (a failed or interrupted run) and free w.
 * NULL-safe. */
SONO_API void sono_audio_writer_abort(sono_audio_writer *w);

/* Is this extension one we can write? ("wav", "flac", "ogg", "opus") */
SONO_API int sono_audio_can_write(const char *ext);

#ifdef __cplusplus
}
#endif
#endif
