/* Multi-scale mel-spectrogram loss and its gradient (codec/train/mel_loss.h).
 * Each scale pads, transforms (common/stft.c), takes magnitudes and applies a
 * sparse triangular filterbank; the backward runs the same steps in reverse
 * for y only. All buffers come from the caller's scratch: no allocation per call. */
#include "mel_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sono_internal.h"
#include "stft.h"

#define MEL_FLOOR 1e-5f
#define MEL_MAX_SCALES 15

typedef struct {
    stft_plan *plan;
    int n_fft, hop, pad;   /* reflect padding pad on both sides */
    int extra;             /* zeros after the right padding, to fill the last frame */
    int len;               /* padded length: pad + n_samples + pad + extra */
    int n_frames, n_bins;
    int n_mels;            /* bands of this scale (all counted in the mean) */
    int n_live;            /* bands with a nonzero weight (small n_fft leaves some empty) */
    int *band_lo, *band_n; /* [n_live] first bin and bin count of each live band's weights */
    float *fb;             /* live band j's weights at fb + j * n_bins, bins band_lo..+band_n */
} mel_scale;

struct mel_loss {
    int sample_rate, n_samples, n_scales;
    size_t scratch;
    mel_scale s[MEL_MAX_SCALES];
};

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* torchaudio.functional.melscale_fbanks(n_bins, 0, sr/2, n_mels, sr, None, 'htk'),
 * transposed to [n_mels][n_bins]; bin frequencies are linspace(0, sr // 2, n_bins). */
static int mel_fbank(float *fb, int n_bins, int n_mels, int sr) {
    double m_hi = hz_to_mel(sr / 2.0);
    double *pts = malloc((size_t)(n_mels + 2) * sizeof *pts);
    if (!pts) return SONO_E_NOMEM;
    for (int i = 0; i < n_mels + 2; i++) pts[i] = mel_to_hz(m_hi * i / (n_mels + 1));
    for (int b = 0; b < n_mels; b++)
        for (int k = 0; k < n_bins; k++) {
            double f = n_bins > 1 ? (double)(sr / 2) * k / (n_bins - 1) : 0.0;
            double down = (f - pts[b]) / (pts[b + 1] - pts[b]);
            double up = (pts[b + 2] - f) / (pts[b + 2] - pts[b + 1]);
            double v = down < up ? down : up;
            fb[(size_t)b * n_bins + k] = v > 0 ? (float)v : 0.0f;
        }
    free(pts);
    return 0;
}

void sn_mel_loss_free(mel_loss *m) {
    if (!m) return;
    for (int i = 0; i < m->n_scales; i++) {
        sn_stft_plan_free(m->s[i].plan);
        free(m->s[i].band_lo);
        free(m->s[i].band_n);
        free(m->s[i].fb);
    }
    free(m);
}

mel_loss *sn_mel_loss_new(int sample_rate, int n_samples, int log2_min, int log2_max, int n_mels, int *err) {
    int e = 0;
    mel_loss *m = NULL;
    if (sample_rate <= 0 || log2_min < 2 || log2_max < log2_min || log2_max > 16 || n_mels < 0 || n_mels > 1024 ||
        n_samples < (1 << log2_min) || n_samples > (1 << 28)) {
        e = sn_fail(SONO_E_ARG, "mel_loss: bad arguments (rate %d, n_samples %d, scales 2^%d..2^%d, %d mels)",
                      sample_rate, n_samples, log2_min, log2_max, n_mels);
        goto done;
    }
    m = calloc(1, sizeof *m);
    if (!m) { e = SONO_E_NOMEM; goto done; }
    m->sample_rate = sample_rate;
    m->n_samples = n_samples;
    size_t max_len = 0, max_spec = 0, max_mel = 0;
    for (int i = log2_min; i <= log2_max && (1 << i) <= n_samples; i++) {
        mel_scale *s = &m->s[m->n_scales++];
        s->n_fft = 1 << i;
        s->hop = s->n_fft / 4;
        s->pad = (s->n_fft - s->hop) / 2;
        int len0 = n_samples + 2 * s->pad;
        /* audiocraft pad_for_conv1d: frames = ceil((len0 - n_fft) / hop) + 1 */
        s->n_frames = (len0 - s->n_fft + s->hop - 1) / s->hop + 1;
        s->len = (s->n_frames - 1) * s->hop + s->n_fft;
        s->extra = s->len - len0;
        s->plan = sn_stft_plan_new(s->n_fft, s->hop, 1, &e);
        if (!s->plan) goto done;
        s->n_bins = sn_stft_n_bins(s->plan);
        s->n_mels = n_mels ? n_mels : SONO_MAX(1, s->n_fft * 5 / 32);
        s->band_lo = malloc((size_t)s->n_mels * sizeof *s->band_lo);
        s->band_n = malloc((size_t)s->n_mels * sizeof *s->band_n);
        s->fb = malloc((size_t)s->n_mels * s->n_bins * sizeof *s->fb);
        if (!s->band_lo || !s->band_n || !s->fb) { e = SONO_E_NOMEM; goto done; }
        if ((e = mel_fbank(s->fb, s->n_bins, s->n_mels, sample_rate)) != 0) goto done;
        /* Keep the live bands only, packed: an empty band gives 0 for both
         * signals, so nothing to the sums and no gradient (it still counts in
         * the mean's denominator). */
        for (int b = 0; b < s->n_mels; b++) {
            const float *w = s->fb + (size_t)b * s->n_bins;
            int lo = 0, hi = s->n_bins;
            while (lo < hi && w[lo] == 0.0f) lo++;
            while (hi > lo && w[hi - 1] == 0.0f) hi--;
            if (hi == lo) continue;
            memmove(s->fb + (size_t)s->n_live * s->n_bins, w, (size_t)s->n_bins * sizeof *w);
            s->band_lo[s->n_live] = lo;
            s->band_n[s->n_live] = hi - lo;
            s->n_live++;
        }
        max_len = SONO_MAX(max_len, (size_t)s->len);
        max_spec = SONO_MAX(max_spec, (size_t)s->n_frames * s->n_bins);
        max_mel = SONO_MAX(max_mel, (size_t)s->n_frames * s->n_live);
    }
    /* padded signal, 4 spectra (re/im of x and y), 2 mel spectrograms */
    m->scratch = max_len + 4 * max_spec + 2 * max_mel;
done:
    if (e) {
        sn_mel_loss_free(m);
        m = NULL;
    }
    if (err) *err = e;
    return m;
}

size_t sn_mel_loss_scratch_floats(const mel_loss *m) { return m->scratch; }

int sn_mel_loss_n_scales(const mel_loss *m) { return m->n_scales; }

/* mel [n_live][F] from the magnitudes mag [F][NB]. */
static void mel_apply(const mel_scale *s, float *mel, const float *mag_all) {
    const int F = s->n_frames, nb = s->n_bins;
    for (int f = 0; f < F; f++) {
        const float *mag = mag_all + (size_t)f * nb;
        for (int b = 0; b < s->n_live; b++) {
            const float *w = s->fb + (size_t)b * nb;
            float acc = 0.0f;
            for (int k = s->band_lo[b], e = k + s->band_n[b]; k < e; k++) acc += w[k] * mag[k];
            mel[(size_t)b * F + f] = acc;
        }
    }
}

/* Pad x (reflect, then the zero tail) into buf [s->len] and transform it. */
static void scale_spectrum(const mel_scale *s, float *buf, float *re, float *im, const float *x, int n) {
    sn_stft_reflect_pad(buf, x, n, s->pad, s->pad);
    memset(buf + s->pad + n + s->pad, 0, (size_t)s->extra * sizeof *buf);
    sn_stft_forward(s->plan, re, im, buf, s->len);
}

static void magnitude(float *mag, const float *re, const float *im, size_t n) {
    for (size_t i = 0; i < n; i++) mag[i] = sqrtf(re[i] * re[i] + im[i] * im[i]);
}

double sn_mel_loss_compute(const mel_loss *m, const float *x, const float *y, float weight, float *dy, float *scratch) {
    const int n = m->n_samples;
    double total = 0;
    for (int si = 0; si < m->n_scales; si++) {
        const mel_scale *s = &m->s[si];
        const int F = s->n_frames, nb = s->n_bins;
        const size_t spec = (size_t)F * nb, nm = (size_t)F * s->n_mels, nl = (size_t)F * s->n_live;
        float *buf = scratch;
        float *xr = buf + s->len, *xi = xr + spec, *yr = xi + spec, *yi = yr + spec;
        float *mx = yi + spec, *my = mx + nl;
        scale_spectrum(s, buf, xr, xi, x, n);
        magnitude(xr, xr, xi, spec);
        mel_apply(s, mx, xr);
        /* keep y's complex spectrum for the backward; its magnitudes go to xr */
        scale_spectrum(s, buf, yr, yi, y, n);
        magnitude(xr, yr, yi, spec);
        mel_apply(s, my, xr);
        double l1 = 0, llog = 0;
        const float gscale = dy ? weight / (float)((double)m->n_scales * (double)nm) : 0.0f;
        for (size_t i = 0; i < nl; i++) {
            float a = mx[i], b = my[i];
            float ca = a > MEL_FLOOR ? a : MEL_FLOOR, cb = b > MEL_FLOOR ? b : MEL_FLOOR;
            l1 += fabsf(a - b);
            /* |ln ca - ln cb| = |ln(ca / cb)|: one log, and the sign of ln ca - ln cb is that of ca - cb */
            if (ca != cb) llog += fabsf(logf(ca / cb));
            /* dL/d my, in place: -sign(a - b) - sign(ca - cb) / b where b >= floor (torch.clamp) */
            float g = (a > b) ? -1.0f : (a < b ? 1.0f : 0.0f);
            if (b >= MEL_FLOOR) g += ((ca > cb) ? -1.0f : (ca < cb ? 1.0f : 0.0f)) / b;
            my[i] = g * gscale;
        }
        total += (l1 + llog) / (double)nm;
        if (!dy) continue;
        /* d|X| [F][NB] into xi (x's spectrum is no longer needed) */
        memset(xi, 0, spec * sizeof *xi);
        for (int b = 0; b < s->n_live; b++) {
            const float *w = s->fb + (size_t)b * nb;
            const int lo = s->band_lo[b], e = lo + s->band_n[b];
            const float *g = my + (size_t)b * F;
            for (int f = 0; f < F; f++) {
                float gf = g[f];
                if (gf == 0.0f) continue;
                float *dm = xi + (size_t)f * nb;
                for (int k = lo; k < e; k++) dm[k] += gf * w[k];
            }
        }
        /* dX = d|X| X / |X| in place over y's spectrum */
        for (size_t i = 0; i < spec; i++) {
            float mag = xr[i], gd = mag > 0.0f ? xi[i] / mag : 0.0f;
            yr[i] *= gd;
            yi[i] *= gd;
        }
        memset(buf, 0, (size_t)s->len * sizeof *buf);
        sn_stft_backward(s->plan, buf, yr, yi, s->len);
        sn_stft_reflect_pad_backward(dy, buf, n, s->pad, s->pad); /* the zero tail gets nothing */
    }
    return total / m->n_scales;
}
