/* High-resolution log-spectrum loss and its gradient (codec/train/spec_loss.h).
 * Each scale pads and transforms both signals (loss_stft.h), compares the
 * clamped log magnitudes of the bins up to the top frequency, and for y
 * runs the same steps back. All buffers come from the caller's scratch. */
#include "spec_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss_stft.h"
#include "sono_internal.h"

#define SPEC_MAX_SCALES 15

struct spec_loss {
    int sample_rate, n_samples, n_scales;
    size_t scratch;
    loss_stft s[SPEC_MAX_SCALES];
    int n_used[SPEC_MAX_SCALES]; /* bins 0 .. n_used - 1 are in the loss */
};

void sn_spec_loss_free(spec_loss *l) {
    if (!l) return;
    for (int i = 0; i < l->n_scales; i++) sn_loss_stft_free(&l->s[i]);
    free(l);
}

spec_loss *sn_spec_loss_new(int sample_rate, int n_samples, int log2_min, int log2_max, float top_hz, int *err) {
    int e = 0;
    spec_loss *l = NULL;
    if (sample_rate <= 0 || log2_min < 2 || log2_max < log2_min || log2_max > 16 || !(top_hz > 0) ||
        n_samples < (1 << log2_min) || n_samples > (1 << 28)) {
        e = sn_fail(SONO_E_ARG, "spec_loss: bad arguments (rate %d, n_samples %d, scales 2^%d..2^%d, top %g Hz)",
                    sample_rate, n_samples, log2_min, log2_max, (double)top_hz);
        goto done;
    }
    l = calloc(1, sizeof *l);
    if (!l) { e = SONO_E_NOMEM; goto done; }
    l->sample_rate = sample_rate;
    l->n_samples = n_samples;
    size_t max_len = 0, max_spec = 0;
    for (int i = log2_min; i <= log2_max && (1 << i) <= n_samples; i++) {
        loss_stft *s = &l->s[l->n_scales++];
        if ((e = sn_loss_stft_init(s, 1 << i, n_samples)) != 0) goto done;
        double k = floor((double)top_hz * s->n_fft / sample_rate);
        l->n_used[l->n_scales - 1] = (int)SONO_MIN(k, (double)(s->n_bins - 1)) + 1;
        max_len = SONO_MAX(max_len, (size_t)s->len);
        max_spec = SONO_MAX(max_spec, (size_t)s->n_frames * s->n_bins);
    }
    /* padded signal, 4 spectra (re/im of x and y) */
    l->scratch = max_len + 4 * max_spec;
done:
    if (e) {
        sn_spec_loss_free(l);
        l = NULL;
    }
    if (err) *err = e;
    return l;
}

size_t sn_spec_loss_scratch_floats(const spec_loss *l) { return l->scratch; }

int sn_spec_loss_n_scales(const spec_loss *l) { return l->n_scales; }

int sn_spec_loss_n_bins(const spec_loss *l, int i) { return i >= 0 && i < l->n_scales ? l->n_used[i] : 0; }

double sn_spec_loss_compute(const spec_loss *l, const float *x, const float *y, float weight, float *dy,
                            float *scratch) {
    const int n = l->n_samples;
    const float eps = SPEC_LOSS_EPS;
    double total = 0;
    for (int si = 0; si < l->n_scales; si++) {
        const loss_stft *s = &l->s[si];
        const int F = s->n_frames, nb = s->n_bins, K = l->n_used[si];
        const size_t spec = (size_t)F * nb, nk = (size_t)F * K;
        float *buf = scratch;
        float *xr = buf + s->len, *xi = xr + spec, *yr = xi + spec, *yi = yr + spec;
        sn_loss_stft_forward(s, buf, xr, xi, x, n);
        sn_loss_magnitude(xr, xr, xi, spec);
        sn_loss_stft_forward(s, buf, yr, yi, y, n);
        const float gscale = dy ? weight / (float)((double)l->n_scales * (double)nk) : 0.0f;
        double sum = 0;
        for (int f = 0; f < F; f++) {
            const float *mx = xr + (size_t)f * nb;
            float *re = yr + (size_t)f * nb, *im = yi + (size_t)f * nb;
            for (int k = 0; k < K; k++) {
                float a = mx[k], b = sqrtf(re[k] * re[k] + im[k] * im[k]);
                float ca = a > eps ? a : eps, cb = b > eps ? b : eps;
                /* |ln ca - ln cb| = |ln(ca / cb)|: one log; the sign of ln ca - ln cb is that of ca - cb */
                if (ca != cb) sum += fabsf(logf(ca / cb));
                /* dL/d|Y| = -sign(ca - cb) / |Y| where |Y| >= eps (torch.clamp); dY = dL/d|Y| Y / |Y| */
                float g = 0.0f;
                if (b >= eps && ca != cb) g = (ca > cb ? -gscale : gscale) / (b * b);
                re[k] *= g;
                im[k] *= g;
            }
            /* bins above the top frequency are not in the loss */
            memset(re + K, 0, (size_t)(nb - K) * sizeof *re);
            memset(im + K, 0, (size_t)(nb - K) * sizeof *im);
        }
        total += sum / (double)nk;
        if (dy) sn_loss_stft_backward(s, buf, yr, yi, dy, n);
    }
    return total / l->n_scales;
}
