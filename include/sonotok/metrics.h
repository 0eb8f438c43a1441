/* Audio quality metrics (used by `sonotok eval`): scale-invariant SNR,
 * multi-scale log-mel distance and STOI, plus the rational resampler STOI
 * uses. Mono float signals, computed in double.
 *
 *   double snr = sono_metrics_si_snr(ref, est, n);            // dB, NaN if ref is silent
 *   double d, s;
 *   if (sono_metrics_mel_distance(ref, est, n, 24000, &d) == 0) ...
 *   if (sono_metrics_stoi(ref, est, n, 24000, &s) == 0) ...    // else STOI undefined
 *
 * Functions return 0 or a negative sono_error code (error.h).
 *
 * Long signals: sono_metrics_stream gives the same three scores in bounded
 * memory from blocks of samples, reading the reference twice:
 *
 *   sono_metrics_stream *s = sono_metrics_stream_new(24000, &err);
 *   while (more) sono_metrics_stream_push_ref(s, ref_block, n);        // pass 1: the reference
 *   sono_metrics_scores sc;
 *   do {
 *       while (more) sono_metrics_stream_push(s, ref_block, est_block, n);  // pass 2: the pairs
 *   } while ((rc = sono_metrics_stream_finish(s, &sc)) == 1);          // 1: push the pairs again
 *   sono_metrics_stream_free(s); */
#ifndef SONO_METRICS_H
#define SONO_METRICS_H

#include <stdint.h>
#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scale-invariant SNR in dB (Le Roux et al. 2019): both signals made zero
 * mean, target = (<est,ref>/<ref,ref>) ref, noise = est - target,
 * 10 log10(|target|^2 / |noise|^2), clamped to [-120, 120] dB so that
 * identical signals give 120 dB rather than infinity (and a silent or
 * orthogonal estimate -120 dB).
 * NaN when ref is silent (zero energy after removing its mean) or n_samples < 1. */
SONO_API double sono_metrics_si_snr(const float *ref, const float *est, int64_t n_samples);

/* Multi-scale log-mel L1 distance at the signals' rate. For each STFT size
 * in {512, 1024, 2048}: hop = size/4, periodic Hann window, no centring or
 * padding (frames start at 0, hop, ... while they fit; a signal shorter
 * than one frame is zero-padded to one frame), magnitude spectrum, 64 mel
 * bands on the HTK scale (mel = 2595 log10(1 + f/700)) from 0 Hz to rate/2,
 * triangular filters of peak 1 without area normalisation (torchaudio's
 * MelScale defaults). Each mel value of both signals is floored at the
 * reference's largest mel value (over all its frames and bands, per STFT
 * size) times 1e-4, i.e. 80 dB below it (librosa's power_to_db top_db = 80),
 * so that differences far below the clip's level, which no one hears, do
 * not count; then mean |log(max(mel_ref, floor) + 1e-5) - log(max(mel_est,
 * floor) + 1e-5)| over bands and frames (the 1e-5 matters only for a silent
 * reference). The result is the mean over the three sizes.
 * Returns 0 (*out set), SONO_E_ARG (bad sizes or rate), SONO_E_NOMEM. */
SONO_API int sono_metrics_mel_distance(const float *ref, const float *est, int64_t n_samples, int rate, double *out);

/* STOI (Taal, Hendriks, Heusdens, Jensen, IEEE TASLP 2011), as in the
 * authors' MATLAB code: resample to 10 kHz (sono_metrics_resample), remove the
 * frames of ref (256 samples, hop 128, Hann) more than 40 dB below its
 * loudest frame from both signals (overlap-add of the kept windowed frames),
 * STFT with 256-sample Hann frames, hop 128, 512-point FFT, 15 one-third
 * octave bands from 150 Hz, segments of N = 30 frames, clipping at
 * beta = -15 dB, mean correlation over bands and segments.
 * Returns 0 with *out in about [-1, 1]; SONO_E_EMPTY when STOI is
 * undefined: ref is silent, or fewer than 30 frames remain after removing
 * silent ones (the reference code returns 1e-5 there); SONO_E_ARG, SONO_E_NOMEM. */
SONO_API int sono_metrics_stoi(const float *ref, const float *est, int64_t n_samples, int rate, double *out);

/* Power spectrogram, the one `eval --plot` draws: frames f = frame0 ..
 * frame0 + n_frames - 1 centred on sample f * hop (samples outside [0, n) are
 * zeros), periodic Hann window of n_fft samples, |X[k]|^2 for k = 0..n_fft/2
 * into power [n_frames][n_fft/2 + 1] (a full-scale sine peaks at
 * (n_fft/4)^2), by a float FFT (errors about 1e-7 of the frame's largest
 * bin). n_fft a power of two in [2, 65536], hop >= 1, frame0 >= 0.
 * Returns 0, SONO_E_ARG, SONO_E_NOMEM. */
SONO_API int sono_metrics_power_spectrogram(const float *x, int64_t n, int n_fft, int hop, int64_t frame0,
                                            int64_t n_frames, double *power);

/* Length of the output of sono_metrics_resample: ceil(n_in * out_rate / in_rate). */
SONO_API int64_t sono_metrics_resample_len(int64_t n_in, int in_rate, int out_rate);

/* Rational polyphase resampler, the one Octave's resample() and pystoi use:
 * up/down = out_rate/in_rate reduced, a Kaiser-windowed sinc of 60 dB
 * rejection, cut-off 1/(2 max(up, down)) of the upsampled rate, transition
 * width a tenth of that, normalised to unit DC gain per phase on average,
 * zero phase (centred). out holds sono_metrics_resample_len() samples.
 * Returns 0, SONO_E_ARG or SONO_E_NOMEM. */
SONO_API int sono_metrics_resample(const float *in, int64_t n_in, int in_rate, int out_rate, float *out);

#ifdef __cplusplus
extern "C" {
#endif

/* Streaming form of sono_metrics_resample, for signals of any length: push
 * the input in blocks of any size, then finish; the outputs, concatenated,
 * equal sono_metrics_resample's on the whole input, sample for sample. */
typedef struct sono_metrics_resampler sono_metrics_resampler;

/* NULL on failure, *err set (SONO_E_ARG for a rate <= 0, SONO_E_NOMEM). */
SONO_API sono_metrics_resampler *sono_metrics_resampler_new(int in_rate, int out_rate, int *err);
/* Most samples one push of n_in samples, or one finish (n_in = 0), writes. */
SONO_API int64_t sono_metrics_resampler_max_out(const sono_metrics_resampler *r, int64_t n_in);
/* Take n_in samples; write the outputs they complete to out (room for
 * sono_metrics_resampler_max_out(r, n_in)). Returns the count written, or
 * SONO_E_ARG (a push after finish, bad arguments), SONO_E_NOMEM. */
SONO_API int64_t sono_metrics_resampler_push(sono_metrics_resampler *r, const float *in, int64_t n_in,
                                             float *out);
/* End of input: write the remaining outputs (the zero-padded tail). Returns
 * the count written (the total is then sono_metrics_resample_len of all the
 * input), or SONO_E_ARG when called twice. */
SONO_API int64_t sono_metrics_resampler_finish(sono_metrics_resampler *r, float *out);
SONO_API void sono_metrics_resampler_free(sono_metrics_resampler *r); /* NULL-safe */

/* All three scores of a reference and an estimate, computed from blocks of
 * samples in memory that does not grow with the signals' length (1 to 2
 * MB, mostly filterbanks and resampling filters). The scores equal the one-shot functions' on the samples
 * pushed: STOI and the mel distance exactly, SI-SNR to rounding (it keeps
 * running sums instead of removing the means first).
 *
 * Two quantities are global over the reference: STOI drops the frames more
 * than 40 dB below the reference's loudest, and the mel floor hangs from
 * the reference's largest mel value. Pass 1 pushes the reference alone to
 * measure them; pass 2 pushes the pairs. Pass 2 measures them again on what
 * it was given: when they differ (pass 2 stopped short of the reference's
 * end, at the estimate's end, and the loudest part was in the rest), or when
 * pass 1 was skipped, finish returns 1 and the pairs must be pushed again;
 * the second run is exact. After a finish that returned 0 the stream takes
 * another pass 2 (another estimate of the same reference). Not thread-safe;
 * one stream per thread. */
typedef struct sono_metrics_stream sono_metrics_stream;

typedef struct {
    double si_snr;     /* dB, as sono_metrics_si_snr; NaN when the reference is silent */
    double mel;        /* as sono_metrics_mel_distance */
    double stoi;       /* as sono_metrics_stoi; NaN where that returns SONO_E_EMPTY */
    int64_t n_samples; /* pairs scored */
} sono_metrics_scores;

/* rate: the signals' sample rate in Hz. NULL on failure, *err set. */
SONO_API sono_metrics_stream *sono_metrics_stream_new(int rate, int *err);
/* Pass 1: the next n samples of the reference. 0, SONO_E_ARG (after pass 2
 * began), SONO_E_NOMEM. */
SONO_API int sono_metrics_stream_push_ref(sono_metrics_stream *s, const float *ref, int64_t n);
/* Pass 2: the next n samples of both signals. 0, SONO_E_ARG, SONO_E_NOMEM. */
SONO_API int sono_metrics_stream_push(sono_metrics_stream *s, const float *ref, const float *est, int64_t n);
/* End of pass 2. Returns 0 with *out set; 1 when the pairs must be pushed
 * again (see above; *out untouched); SONO_E_ARG when pass 2 had no samples
 * (the stream then takes a new pass 2); SONO_E_NOMEM. */
SONO_API int sono_metrics_stream_finish(sono_metrics_stream *s, sono_metrics_scores *out);
SONO_API void sono_metrics_stream_free(sono_metrics_stream *s); /* NULL-safe */

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
}
#endif
#endif
