/* Audio quality metrics (used by `sonotok eval`): scale-invariant SNR,
 * multi-scale log-mel distance and STOI, plus the rational resampler STOI
 * uses. Mono float signals, computed in double.
 *
 *   double snr = sono_metrics_si_snr(ref, est, n);            // dB, NaN if ref is silent
 *   double d, s;
 *   if (sono_metrics_mel_distance(ref, est, n, 24000, &d) == 0) ...
 *   if (sono_metrics_stoi(ref, est, n, 24000, &s) == 0) ...    // else STOI undefined
 *
 * Functions return 0 or a negative sono_error code (error.h). */
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
 * MelScale defaults), then mean |log(mel_ref + 1e-5) - log(mel_est + 1e-5)|
 * over bands and frames. The result is the mean over the three sizes.
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
 * (n_fft/4)^2). n_fft a power of two in [2, 65536], hop >= 1, frame0 >= 0.
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
}
#endif
#endif
