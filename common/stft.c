/* Float STFT and its exact adjoint (common/stft.h), on the library's FFT
 * (common/fft.h): each frame is one sn_fft_real with the window, written
 * straight into the caller's re/im rows. The backward is the inverse of
 * that: the bin gradients become a Hermitian spectrum, a half-size inverse
 * FFT gives the gradient of the windowed frame, which is scattered into dx. */
#include "stft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"
#include "sono_internal.h"

#define STFT_PI 3.14159265358979323846
/* Half-size frames up to this many complex values use a stack buffer in the
 * backward (2 * 4096 floats = 32 KiB); larger ones take one malloc per call. */
#define STFT_STACK_M 4096

struct stft_plan {
    int n_fft, hop, m;     /* m = n_fft / 2, the complex FFT size */
    float *win;            /* [n_fft] periodic Hann, times 1/sqrt(sum w^2) when normalized */
    fft_plan *fft;
};

stft_plan *sn_stft_plan_new(int n_fft, int hop, int normalized, int *err) {
    if (hop < 1) {
        int e = sn_fail(SONO_E_ARG, "stft: hop %d invalid", hop);
        if (err) *err = e;
        return NULL;
    }
    fft_plan *fft = sn_fft_plan_new(n_fft, err);
    if (!fft) return NULL;
    stft_plan *p = calloc(1, sizeof *p);
    float *win = malloc((size_t)n_fft * sizeof *win);
    double *w = malloc((size_t)n_fft * sizeof *w); /* the window in double, rounded once */
    if (!p || !win || !w) {
        sn_fft_plan_free(fft);
        free(p), free(win), free(w);
        if (err) *err = SONO_E_NOMEM;
        return NULL;
    }
    sn_fft_hann(w, n_fft, normalized);
    for (int j = 0; j < n_fft; j++) win[j] = (float)w[j];
    free(w);
    *p = (stft_plan){.n_fft = n_fft, .hop = hop, .m = n_fft / 2, .win = win, .fft = fft};
    if (err) *err = 0;
    return p;
}

void sn_stft_plan_free(stft_plan *p) {
    if (!p) return;
    sn_fft_plan_free(p->fft);
    free(p->win);
    free(p);
}

int sn_stft_n_bins(const stft_plan *p) { return p->m + 1; }

int sn_stft_n_frames(const stft_plan *p, int n) { return n < p->n_fft ? 0 : (n - p->n_fft) / p->hop + 1; }

void sn_stft_forward(const stft_plan *p, float *re, float *im, const float *x, int n) {
    const int F = sn_stft_n_frames(p, n), nb = p->m + 1;
    for (int f = 0; f < F; f++)
        sn_fft_real(p->fft, re + (size_t)f * nb, im + (size_t)f * nb, x + (size_t)f * p->hop, p->win);
}

/* dv[j] = sum_k Re((dre[k] + i dim[k]) exp(2 pi i jk / n_fft)) over bins 0..m,
 * the gradient of one frame's spectrum w.r.t. its windowed samples. zr, zi [m]
 * receive dv interleaved: dv[2q] = zr[q], dv[2q+1] = zi[q].
 * dv is the inverse DFT (no 1/n) of the Hermitian spectrum H with H[0] = Re G[0],
 * H[m] = Re G[m], H[k] = G[k]/2 and H[n-k] = conj G[k]/2 for 0 < k < m (the
 * imaginary parts of G[0], G[m] multiply real exponentials and drop out). As in
 * the forward, its even and odd samples come from one inverse FFT of size m of
 * Z[k] = (H[k] + conj H[m-k]) + i (H[k] - conj H[m-k]) V^k, V = exp(2 pi i / n);
 * bins k and m-k again pair up: with E = (G[k] + conj G[m-k])/2 and
 * O = (G[k] - conj G[m-k]) V^k / 2, Z[k] = E + iO and Z[m-k] = conj E + i conj O. */
static void frame_backward(const stft_plan *p, float *zr, float *zi, const float *gr, const float *gi) {
    const int m = p->m;
    const int *rev = p->fft->rev; /* Z is stored bit-reversed for sn_fft_complex_bitrev */
    zr[0] = gr[0] + gr[m];
    zi[0] = gr[0] - gr[m];
    for (int k = 1; 2 * k <= m; k++) {
        float ar = gr[k], ai = gi[k], br = gr[m - k], bi = -gi[m - k];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
        float dr = 0.5f * (ar - br), di = 0.5f * (ai - bi);
        float vr = p->fft->pw_re[k], vi = -p->fft->pw_im[k];
        float or_ = dr * vr - di * vi, oi = dr * vi + di * vr;
        zr[rev[m - k]] = er + oi;
        zi[rev[m - k]] = or_ - ei;
        zr[rev[k]] = er - oi; /* after: k = m - k when 2k = m, where both agree */
        zi[rev[k]] = ei + or_;
    }
    sn_fft_complex_bitrev(p->fft, zi, zr); /* exchanged: the unnormalised inverse */
}

/* Plain O(n_fft * bins) fallback when the scratch cannot be allocated. */
static void frame_backward_ref(const stft_plan *p, float *dx, const float *gr, const float *gi) {
    const int n = p->n_fft, m = p->m;
    for (int j = 0; j < n; j++) {
        double acc = 0;
        for (int k = 0; k <= m; k++) {
            double a = 2 * STFT_PI * (double)((long long)j * k % n) / n;
            acc += gr[k] * cos(a) - gi[k] * sin(a);
        }
        dx[j] += (float)(p->win[j] * acc);
    }
}

void sn_stft_backward(const stft_plan *p, float *dx, const float *dre, const float *dim, int n) {
    const int F = sn_stft_n_frames(p, n), m = p->m, nb = m + 1;
    if (F == 0) return;
    float stack[2 * STFT_STACK_M];
    float *buf = m <= STFT_STACK_M ? stack : malloc((size_t)2 * m * sizeof *buf);
    for (int f = 0; f < F; f++) {
        float *dxf = dx + (size_t)f * p->hop;
        const float *gr = dre + (size_t)f * nb, *gi = dim + (size_t)f * nb;
        if (!buf) {
            frame_backward_ref(p, dxf, gr, gi);
            continue;
        }
        float *zr = buf, *zi = buf + m;
        frame_backward(p, zr, zi, gr, gi);
        for (int q = 0; q < m; q++) {
            dxf[2 * q] += p->win[2 * q] * zr[q];
            dxf[2 * q + 1] += p->win[2 * q + 1] * zi[q];
        }
    }
    if (buf != stack) free(buf);
}

void sn_stft_reflect_pad(float *out, const float *x, int n, int pl, int pr) {
    for (int i = 0; i < pl; i++) out[i] = x[pl - i];
    memcpy(out + pl, x, (size_t)n * sizeof *x);
    for (int i = 0; i < pr; i++) out[pl + n + i] = x[n - 2 - i];
}

void sn_stft_reflect_pad_backward(float *dx, const float *dout, int n, int pl, int pr) {
    for (int i = 0; i < pl; i++) dx[pl - i] += dout[i];
    for (int i = 0; i < n; i++) dx[i] += dout[pl + i];
    for (int i = 0; i < pr; i++) dx[n - 2 - i] += dout[pl + n + i];
}
