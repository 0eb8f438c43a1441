/* Multi-scale mel-spectrogram loss and its gradient (codec/train/mel_loss.h).
 * Each scale pads, transforms (loss_stft.h), takes magnitudes and applies a
 * sparse triangular filterbank; the backward runs the same steps in reverse
 * for y only. All buffers come from the caller's scratch: no allocation per call. */
#include "mel_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss_stft.h"
#include "melbank.h"
#include "sono_internal.h"

#define MEL_FLOOR 1e-5f
#define MEL_MAX_SCALES 15

typedef struct {
    loss_stft fr;          /* framing and transform */
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

/* torchaudio.functional.melscale_fbanks(n_bins, 0, sr/2, n_mels, sr, None, 'htk'),
 * transposed to [n_mels][n_bins]; bin frequencies are linspace(0, sr // 2, n_bins). */
static int mel_fbank(float *fb, int n_bins, int n_mels, int sr) {
    double *pts = malloc((size_t)(n_mels + 2 + n_bins) * sizeof *pts), *row = pts + n_mels + 2;
    if (!pts) return SONO_E_NOMEM;
    sn_mel_edges_htk(pts, n_mels, sr);
    for (int b = 0; b < n_mels; b++) {
        sn_mel_band(row, pts, b, n_bins, (double)(sr / 2));
        for (int k = 0; k < n_bins; k++) fb[(size_t)b * n_bins + k] = (float)row[k];
    }
    free(pts);
    return 0;
}

void sn_mel_loss_free(mel_loss *m) {
    if (!m) return;
    for (int i = 0; i < m->n_scales; i++) {
        sn_loss_stft_free(&m->s[i].fr);
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
        if ((e = sn_loss_stft_init(&s->fr, 1 << i, n_samples)) != 0) goto done;
        s->n_mels = n_mels ? n_mels : SONO_MAX(1, s->fr.n_fft * 5 / 32);
        s->band_lo = malloc((size_t)s->n_mels * sizeof *s->band_lo);
        s->band_n = malloc((size_t)s->n_mels * sizeof *s->band_n);
        s->fb = malloc((size_t)s->n_mels * s->fr.n_bins * sizeof *s->fb);
        if (!s->band_lo || !s->band_n || !s->fb) { e = SONO_E_NOMEM; goto done; }
        if ((e = mel_fbank(s->fb, s->fr.n_bins, s->n_mels, sample_rate)) != 0) goto done;
        /* Keep the live bands only, packed: an empty band gives 0 for both
         * signals, so nothing to the sums and no gradient (it still counts in
         * the mean's denominator). */
        for (int b = 0; b < s->n_mels; b++) {
            const float *w = s->fb + (size_t)b * s->fr.n_bins;
            int lo = 0, hi = s->fr.n_bins;
            while (lo < hi && w[lo] == 0.0f) lo++;
            while (hi > lo && w[hi - 1] == 0.0f) hi--;
            if (hi == lo) continue;
            memmove(s->fb + (size_t)s->n_live * s->fr.n_bins, w, (size_t)s->fr.n_bins * sizeof *w);
            s->band_lo[s->n_live] = lo;
            s->band_n[s->n_live] = hi - lo;
            s->n_live++;
        }
        max_len = SONO_MAX(max_len, (size_t)s->fr.len);
        max_spec = SONO_MAX(max_spec, (size_t)s->fr.n_frames * s->fr.n_bins);
        max_mel = SONO_MAX(max_mel, (size_t)s->fr.n_frames * s->n_live);
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
    const int F = s->fr.n_frames, nb = s->fr.n_bins;
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

double sn_mel_loss_compute(const mel_loss *m, const float *x, const float *y, float weight, float *dy, float *scratch) {
    const int n = m->n_samples;
    double total = 0;
    for (int si = 0; si < m->n_scales; si++) {
        const mel_scale *s = &m->s[si];
        const int F = s->fr.n_frames, nb = s->fr.n_bins;
        const size_t spec = (size_t)F * nb, nm = (size_t)F * s->n_mels, nl = (size_t)F * s->n_live;
        float *buf = scratch;
        float *xr = buf + s->fr.len, *xi = xr + spec, *yr = xi + spec, *yi = yr + spec;
        float *mx = yi + spec, *my = mx + nl;
        sn_loss_stft_forward(&s->fr, buf, xr, xi, x, n);
        sn_loss_magnitude(xr, xr, xi, spec);
        mel_apply(s, mx, xr);
        /* keep y's complex spectrum for the backward; its magnitudes go to xr */
        sn_loss_stft_forward(&s->fr, buf, yr, yi, y, n);
        sn_loss_magnitude(xr, yr, yi, spec);
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
        sn_loss_stft_backward(&s->fr, buf, yr, yi, dy, n);
    }
    return total / m->n_scales;
}
