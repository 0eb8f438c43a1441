/* The framing the STFT training losses share (mel_loss.c, spec_loss.c):
 * n_fft = 2^i, hop n_fft/4, periodic Hann window of n_fft, reflect padding
 * of (n_fft - hop)/2 on both sides, then zeros on the right up to the next
 * full frame, so there are ceil(n_samples / hop) frames (audiocraft's
 * MelSpectrogramWrapper: F.pad(reflect) then pad_for_conv1d), normalised by
 * 1/sqrt(sum w^2) (torchaudio Spectrogram(normalized=True)).
 *
 *   loss_stft s;
 *   if ((err = sn_loss_stft_init(&s, 2048, n_samples))) ...;
 *   sn_loss_stft_forward(&s, buf, re, im, x, n_samples);     // buf [s.len], re, im [s.n_frames][s.n_bins]
 *   sn_loss_stft_backward(&s, buf, dre, dim, dx, n_samples); // dx [n_samples] += ...
 *   sn_loss_stft_free(&s);
 *
 * Read-only after init (shareable between threads); buf is the caller's. */
#ifndef SONO_LOSS_STFT_H
#define SONO_LOSS_STFT_H

#include <stddef.h>

#include "stft.h"

typedef struct {
    stft_plan *plan;
    int n_fft, hop, pad;   /* reflect padding pad on both sides */
    int extra;             /* zeros after the right padding, to fill the last frame */
    int len;               /* padded length: pad + n_samples + pad + extra */
    int n_frames, n_bins;
} loss_stft;

/* n_fft a power of two with 4 <= n_fft <= n_samples. 0 or a negative code
 * (SONO_E_NOMEM); *s is zeroed first, so sn_loss_stft_free is safe after a failure. */
int sn_loss_stft_init(loss_stft *s, int n_fft, int n_samples);
void sn_loss_stft_free(loss_stft *s);
/* Pad x [n] into buf [s->len] (reflect, then the zero tail) and transform it: re, im [n_frames][n_bins]. */
void sn_loss_stft_forward(const loss_stft *s, float *buf, float *re, float *im, const float *x, int n);
/* dx [n] += the gradient given dre, dim [n_frames][n_bins]; buf [s->len] is overwritten. */
void sn_loss_stft_backward(const loss_stft *s, float *buf, const float *dre, const float *dim, float *dx, int n);
/* mag [i] = |re[i] + i im[i]|, i < n (mag may be re). */
void sn_loss_magnitude(float *mag, const float *re, const float *im, size_t n);

#endif
