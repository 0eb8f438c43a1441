/* Multi-scale mel-spectrogram loss for codec training, with its gradient
 * w.r.t. the reconstruction.
 *
 *   int err;
 *   mel_loss *m = sn_mel_loss_new(24000, 24000, 5, 11, 64, &err);
 *   float *scratch = malloc(sn_mel_loss_scratch_floats(m) * sizeof *scratch);
 *   double L = sn_mel_loss_compute(m, x, y, 1.0f, dy, scratch);   // dy [n] += dL/dy
 *   ...
 *   free(scratch); sn_mel_loss_free(m);
 *
 * Per scale (n_fft = 2^i for i in [log2_min, log2_max] with n_fft <= n_samples):
 * hop n_fft/4, window n_fft (periodic Hann), reflect padding of (n_fft - hop)/2
 * on both sides followed by zeros on the right up to the next full frame, so
 * there are ceil(n_samples / hop) frames (audiocraft's MelSpectrogramWrapper:
 * F.pad(reflect) then pad_for_conv1d), magnitude (power 1) of the STFT
 * normalised by 1/sqrt(sum w^2) (torchaudio Spectrogram(normalized=True)),
 * then n_mels HTK mel bands (n_mels = 0: 5 bands per 32 STFT points, as DAC
 * does, so 320 at n_fft 2048 and 5 at 32) from 0 to sample_rate/2 (torchaudio
 * melscale_fbanks(norm=None, mel_scale='htk')). With M_s the mel spectrogram
 * [n_mels][frames] of scale s and S the number of scales:
 *   L = (1/S) sum_s [ mean|M_s(x) - M_s(y)| + mean|ln max(M_s(x), 1e-5) - ln max(M_s(y), 1e-5)| ].
 * Gradient conventions follow torch: d|u|/du = sign(u) (0 at 0), clamp passes
 * the gradient where M >= 1e-5, d|X|/dX = X/|X| (0 where |X| = 0, no epsilon).
 * The loss is computed in float with sums in double. */
#ifndef SONO_MEL_LOSS_H
#define SONO_MEL_LOSS_H

#include <stddef.h>

typedef struct mel_loss mel_loss;

/* sample_rate > 0, n_samples >= 2^log2_min, 2 <= log2_min <= log2_max <= 16,
 * 0 <= n_mels <= 1024 (0: per scale, see above). Scales with n_fft > n_samples are left out. Read-only
 * after creation: shareable between threads; the scratch of each call is the
 * caller's. NULL on failure with *err set (SONO_E_ARG, SONO_E_NOMEM). */
mel_loss *sn_mel_loss_new(int sample_rate, int n_samples, int log2_min, int log2_max, int n_mels, int *err);
void sn_mel_loss_free(mel_loss *m); /* NULL is a no-op */
/* Floats of scratch one sn_mel_loss_compute call needs. */
size_t sn_mel_loss_scratch_floats(const mel_loss *m);
/* Number of scales in use (those with n_fft <= n_samples). */
int sn_mel_loss_n_scales(const mel_loss *m);

/* Loss for one signal pair (one channel of one crop): x = reference,
 * y = reconstruction, both [n_samples]. If dy != NULL: dy [n_samples] +=
 * weight * dL/dy. Returns L (unweighted). scratch: sn_mel_loss_scratch_floats(m)
 * floats, contents undefined on return. */
double sn_mel_loss_compute(const mel_loss *m, const float *x, const float *y, float weight, float *dy, float *scratch);

#endif
