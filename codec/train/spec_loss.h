/* High-resolution log-spectrum loss for codec training, with its gradient
 * w.r.t. the reconstruction: the fine harmonic structure of voiced speech
 * that the multi-scale mel loss smooths away (issue 13: harmonics).
 *
 *   int err;
 *   spec_loss *s = sn_spec_loss_new(24000, 24000, 11, 11, 4000.0f, &err);
 *   float *scratch = malloc(sn_spec_loss_scratch_floats(s) * sizeof *scratch);
 *   double L = sn_spec_loss_compute(s, x, y, 1.0f, dy, scratch);   // dy [n] += dL/dy
 *   ...
 *   free(scratch); sn_spec_loss_free(s);
 *
 * Per scale (n_fft = 2^i for i in [log2_min, log2_max] with n_fft <= n_samples):
 * the mel loss's framing (loss_stft.h: hop n_fft/4, periodic Hann, reflect
 * padding, torchaudio's normalized=True), linear-frequency bins k = 0..K with
 * K = min(floor(top_hz * n_fft / sample_rate), n_fft / 2), and with S the
 * number of scales and F the frames of a scale:
 *   L = (1/S) sum_s (1/(F (K+1))) sum_{f,k} |ln max(|X_fk|, eps) - ln max(|Y_fk|, eps)|,  eps = 1e-4.
 * Gradient conventions follow torch (and mel_loss.h): d|u|/du = sign(u)
 * (0 at 0), clamp passes the gradient where |Y| >= eps, d|Y|/dY = Y/|Y|.
 * Float, sums in double.
 *
 * Why these choices:
 * - Scale: n_fft 2048 by default (the trainer's; 4096 can be added). At
 *   24 kHz its bins are 11.7 Hz apart and the Hann main lobe is 4 bins (47 Hz)
 *   wide, so the harmonics of a 100 Hz voice (8.5 bins apart) show as peaks
 *   and valleys; a mel band at 1-2 kHz is already ~40 Hz wide and sums them
 *   away. 4096 (170 ms frames) resolves low voices better but smears exactly
 *   the 1-2 kHz region: a 2-3 % pitch glide within a frame moves the 15th
 *   harmonic by 30-45 Hz, more than its 23 Hz main lobe.
 * - Linear bins, each counted once: the 1-2 kHz region gets as many terms as
 *   0-1 kHz, where the mel scale gives it a few bands.
 * - ln as the compression: a 15 dB peak-to-valley contrast costs the same at
 *   any level, so the weak upper harmonics (20-30 dB below the fundamental's)
 *   count as much as the loud low ones; L1 of ln is L1 in dB / 8.69.
 * - eps = 1e-4 on the normalised magnitude (white noise of standard
 *   deviation s gives |X| ~ s; a sine of amplitude A at n_fft 2048 peaks at
 *   18.5 A): ~20 dB above 16-bit quantisation noise (s = 8.8e-6), so silence
 *   and dither-level noise do not pull on the codec, and ~30 dB below the
 *   1-2 kHz harmonic valleys of speech at -40 dBFS, so those stay in the loss.
 * - top_hz = 4 kHz: where voiced speech has its harmonics. Above, speech is
 *   mostly noise-like, where a per-bin log distance only asks for a noise
 *   realisation the codes cannot carry (the mel loss and the discriminators
 *   cover that band), and fewer bins give the harmonic region its weight.
 *   Even below 4 kHz, on noise-like content the L1 optimum is the median of
 *   ln|X|, ~1.6 dB under the mean power of Rayleigh magnitudes: a small bias
 *   the loss weight keeps small next to the mel and adversarial terms. */
#ifndef SONO_SPEC_LOSS_H
#define SONO_SPEC_LOSS_H

#include <stddef.h>

#define SPEC_LOSS_EPS 1e-4f

typedef struct spec_loss spec_loss;

/* sample_rate > 0, 2 <= log2_min <= log2_max <= 16, n_samples >= 2^log2_min,
 * 0 < top_hz (above sample_rate / 2: every bin). Scales with n_fft >
 * n_samples are left out. Read-only after creation: shareable between
 * threads; the scratch of each call is the caller's. NULL on failure with
 * *err set (SONO_E_ARG, SONO_E_NOMEM). */
spec_loss *sn_spec_loss_new(int sample_rate, int n_samples, int log2_min, int log2_max, float top_hz, int *err);
void sn_spec_loss_free(spec_loss *s); /* NULL is a no-op */
/* Floats of scratch one sn_spec_loss_compute call needs. */
size_t sn_spec_loss_scratch_floats(const spec_loss *s);
/* Number of scales in use (those with n_fft <= n_samples). */
int sn_spec_loss_n_scales(const spec_loss *s);
/* Bins of scale i in the loss (K + 1). */
int sn_spec_loss_n_bins(const spec_loss *s, int i);

/* Loss for one signal pair (one channel of one crop): x = reference,
 * y = reconstruction, both [n_samples]. If dy != NULL: dy [n_samples] +=
 * weight * dL/dy. Returns L (unweighted). scratch: sn_spec_loss_scratch_floats(s)
 * floats, contents undefined on return. */
double sn_spec_loss_compute(const spec_loss *s, const float *x, const float *y, float weight, float *dy,
                            float *scratch);

#endif
