/* The padded STFT framing of the training losses (codec/train/loss_stft.h). */
#include "loss_stft.h"

#include <math.h>
#include <string.h>

int sn_loss_stft_init(loss_stft *s, int n_fft, int n_samples) {
    int e = 0;
    memset(s, 0, sizeof *s);
    s->n_fft = n_fft;
    s->hop = n_fft / 4;
    s->pad = (n_fft - s->hop) / 2;
    int len0 = n_samples + 2 * s->pad;
    /* audiocraft pad_for_conv1d: frames = ceil((len0 - n_fft) / hop) + 1 */
    s->n_frames = (len0 - n_fft + s->hop - 1) / s->hop + 1;
    s->len = (s->n_frames - 1) * s->hop + n_fft;
    s->extra = s->len - len0;
    s->plan = sn_stft_plan_new(n_fft, s->hop, 1, &e);
    if (!s->plan) return e;
    s->n_bins = sn_stft_n_bins(s->plan);
    return 0;
}

void sn_loss_stft_free(loss_stft *s) {
    sn_stft_plan_free(s->plan);
    s->plan = NULL;
}

void sn_loss_stft_forward(const loss_stft *s, float *buf, float *re, float *im, const float *x, int n) {
    sn_stft_reflect_pad(buf, x, n, s->pad, s->pad);
    memset(buf + s->pad + n + s->pad, 0, (size_t)s->extra * sizeof *buf);
    sn_stft_forward(s->plan, re, im, buf, s->len);
}

void sn_loss_stft_backward(const loss_stft *s, float *buf, const float *dre, const float *dim, float *dx, int n) {
    memset(buf, 0, (size_t)s->len * sizeof *buf);
    sn_stft_backward(s->plan, buf, dre, dim, s->len);
    sn_stft_reflect_pad_backward(dx, buf, n, s->pad, s->pad); /* the zero tail gets nothing */
}

void sn_loss_magnitude(float *mag, const float *re, const float *im, size_t n) {
    for (size_t i = 0; i < n; i++) mag[i] = sqrtf(re[i] * re[i] + im[i] * im[i]);
}
