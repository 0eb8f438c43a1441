/* Short-time Fourier transform with its backward, for training losses (the
 * multi-scale mel loss, codec/train/mel_loss.c) and the multi-scale STFT
 * discriminator (codec/train/disc.c), on the library's FFT (common/fft.h).
 * Float, real input, periodic Hann window, no centering: the caller pads
 * (sn_stft_reflect_pad below).
 *
 *   stft_plan *p = sn_stft_plan_new(1024, 256, 1, &err);       // n_fft, hop, normalized
 *   int F = sn_stft_n_frames(p, n), NB = sn_stft_n_bins(p);       // NB = n_fft / 2 + 1
 *   sn_stft_forward(p, re, im, x, n);                          // re, im [F][NB]
 *   ... dre, dim [F][NB] ...
 *   sn_stft_backward(p, dx, dre, dim, n);                      // dx [n] += ...
 *   sn_stft_plan_free(p);
 *
 * Frame f covers x[f*hop .. f*hop + n_fft); window length = n_fft.
 * X[f][k] = s * sum_j w[j] x[f*hop + j] exp(-2 pi i j k / n_fft), with
 * s = 1 / sqrt(sum_j w[j]^2) when normalized, else 1. That is torchaudio's
 * Spectrogram(normalized=True) (what audiocraft's mel loss and MS-STFT
 * discriminator use); NOT torch.stft(normalized=True), which scales by
 * 1 / sqrt(n_fft) instead (sum w^2 = 3 n_fft / 8 for the periodic Hann).
 * The forward writes im = 0 exactly at bins 0 and n_fft/2; the backward
 * ignores dim there (those outputs do not depend on x).
 * A plan is read-only after creation and may be shared between threads;
 * scratch is on the stack or in the caller's buffers. */
#ifndef SONO_STFT_H
#define SONO_STFT_H

#include <stddef.h>

typedef struct stft_plan stft_plan;

/* n_fft a power of two, 2..65536; 1 <= hop. NULL on failure with *err set. */
stft_plan *sn_stft_plan_new(int n_fft, int hop, int normalized, int *err);
void sn_stft_plan_free(stft_plan *p);
int sn_stft_n_bins(const stft_plan *p);
/* Frames over n samples: 0 when n < n_fft, else (n - n_fft) / hop + 1. */
int sn_stft_n_frames(const stft_plan *p, int n);

/* re, im [F][NB]. */
void sn_stft_forward(const stft_plan *p, float *re, float *im, const float *x, int n);
/* dx [n] += gradient of the loss w.r.t. x, given dre, dim [F][NB] (gradients
 * w.r.t. re and im). Samples no frame reads get nothing. */
void sn_stft_backward(const stft_plan *p, float *dx, const float *dre, const float *dim, int n);

/* Reflect padding as torch.nn.functional.pad(mode='reflect'): out [pl + n + pr],
 * pl, pr < n. Backward: dx [n] += folded dout [pl + n + pr]. */
void sn_stft_reflect_pad(float *out, const float *x, int n, int pl, int pr);
void sn_stft_reflect_pad_backward(float *dx, const float *dout, int n, int pl, int pr);

#endif
