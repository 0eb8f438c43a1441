/* Audio quality metrics: SI-SNR, multi-scale log-mel distance, STOI, and the
 * Octave-compatible rational resampler STOI runs at 10 kHz with. Everything
 * is computed in double; buffers are allocated once per call, never per frame.
 * The constants and their sources are documented in metrics.h and below. */
#include "sonotok/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sono_internal.h"

#define PI 3.14159265358979323846
/* numpy's float64 eps: the guard the STOI reference adds to norms. */
#define STOI_EPS 2.220446049250313e-16

/* ---- FFT: iterative radix-2 complex FFT on real input ---- */

typedef struct {
    int n;           /* FFT size, a power of two */
    double *cos_t;   /* [n/2] twiddles */
    double *sin_t;   /* [n/2] */
    int *rev;        /* [n] bit reversal */
    double *re, *im; /* [n] work buffers */
} fft_plan;

static void fft_plan_free(fft_plan *p) {
    free(p->cos_t);
    free(p->sin_t);
    free(p->rev);
    free(p->re);
    free(p->im);
    memset(p, 0, sizeof *p);
}

static int fft_plan_init(fft_plan *p, int n) {
    memset(p, 0, sizeof *p);
    p->n = n;
    p->cos_t = malloc((size_t)n / 2 * sizeof *p->cos_t);
    p->sin_t = malloc((size_t)n / 2 * sizeof *p->sin_t);
    p->rev = malloc((size_t)n * sizeof *p->rev);
    p->re = malloc((size_t)n * sizeof *p->re);
    p->im = malloc((size_t)n * sizeof *p->im);
    if (!p->cos_t || !p->sin_t || !p->rev || !p->re || !p->im) {
        fft_plan_free(p);
        return SONO_E_NOMEM;
    }
    for (int k = 0; k < n / 2; k++) {
        p->cos_t[k] = cos(2 * PI * k / n);
        p->sin_t[k] = -sin(2 * PI * k / n);
    }
    int bits = 0;
    while ((1 << bits) < n) bits++;
    for (int i = 0; i < n; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++)
            if (i & (1 << b)) r |= 1 << (bits - 1 - b);
        p->rev[i] = r;
    }
    return 0;
}

/* Power spectrum |X[k]|^2, k = 0..n/2, of x[0..n_in) zero-padded to n. */
static void fft_power(fft_plan *p, const double *x, int n_in, double *power) {
    int n = p->n;
    for (int i = 0; i < n; i++) {
        int r = p->rev[i];
        p->re[r] = i < n_in ? x[i] : 0.0;
        p->im[r] = 0.0;
    }
    for (int len = 2; len <= n; len <<= 1) {
        int half = len / 2, step = n / len;
        for (int s = 0; s < n; s += len)
            for (int k = 0; k < half; k++) {
                double wr = p->cos_t[k * step], wi = p->sin_t[k * step];
                int a = s + k, b = a + half;
                double tr = p->re[b] * wr - p->im[b] * wi, ti = p->re[b] * wi + p->im[b] * wr;
                p->re[b] = p->re[a] - tr;
                p->im[b] = p->im[a] - ti;
                p->re[a] += tr;
                p->im[a] += ti;
            }
    }
    for (int k = 0; k <= n / 2; k++) power[k] = p->re[k] * p->re[k] + p->im[k] * p->im[k];
}

int sono_metrics_power_spectrogram(const float *x, int64_t n, int n_fft, int hop, int64_t frame0,
                                   int64_t n_frames, double *power) {
    if ((!x && n > 0) || n < 0 || !power || n_fft < 2 || n_fft > 65536 || (n_fft & (n_fft - 1)) || hop < 1 ||
        frame0 < 0 || n_frames < 0)
        return SONO_E_ARG;
    fft_plan p;
    double *frame = malloc((size_t)n_fft * 2 * sizeof *frame), *win = frame ? frame + n_fft : NULL;
    if (!frame || fft_plan_init(&p, n_fft)) {
        free(frame);
        return SONO_E_NOMEM;
    }
    for (int j = 0; j < n_fft; j++) win[j] = 0.5 - 0.5 * cos(2 * PI * j / n_fft);
    const int nb = n_fft / 2 + 1;
    for (int64_t f = 0; f < n_frames; f++) {
        int64_t start = (frame0 + f) * hop - n_fft / 2;
        for (int j = 0; j < n_fft; j++) {
            int64_t k = start + j;
            frame[j] = k >= 0 && k < n ? win[j] * x[k] : 0.0;
        }
        fft_power(&p, frame, n_fft, power + f * nb);
    }
    fft_plan_free(&p);
    free(frame);
    return 0;
}

/* ---- SI-SNR ---- */

double sono_metrics_si_snr(const float *ref, const float *est, int64_t n_samples) {
    if (!ref || !est || n_samples < 1) return NAN;
    double mr = 0, me = 0;
    for (int64_t i = 0; i < n_samples; i++) {
        mr += ref[i];
        me += est[i];
    }
    mr /= (double)n_samples;
    me /= (double)n_samples;
    double rr = 0, re = 0, ee = 0;
    for (int64_t i = 0; i < n_samples; i++) {
        double r = ref[i] - mr, e = est[i] - me;
        rr += r * r;
        re += r * e;
        ee += e * e;
    }
    if (!(rr > 0)) return NAN;
    /* |target|^2 = re^2/rr; |noise|^2 = ee - re^2/rr (by orthogonality). */
    double tt = re * re / rr;
    double nn = ee - tt;
    /* clamp the ratio to [1e-12, 1e12]: identical signals give 120 dB, an
     * estimate with nothing of the reference in it (or silent) -120 dB */
    if (!(tt > 0) || tt <= 1e-12 * nn) return -120.0;
    if (nn <= 1e-12 * tt) return 120.0;
    return 10.0 * log10(tt / nn);
}

/* ---- multi-scale mel distance ---- */

enum { MEL_BANDS = 64 };
static const int mel_sizes[] = {512, 1024, 2048};
#define MEL_LOG_FLOOR 1e-5

static double hz_to_mel_htk(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz_htk(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* Triangular HTK filterbank [MEL_BANDS][n_freqs], peak 1, no normalisation. */
static void mel_filterbank(double *fb, int n_freqs, int size, int rate) {
    double pts[MEL_BANDS + 2];
    double m_lo = hz_to_mel_htk(0), m_hi = hz_to_mel_htk(rate / 2.0);
    for (int i = 0; i < MEL_BANDS + 2; i++)
        pts[i] = mel_to_hz_htk(m_lo + (m_hi - m_lo) * i / (MEL_BANDS + 1));
    for (int b = 0; b < MEL_BANDS; b++)
        for (int k = 0; k < n_freqs; k++) {
            double f = (double)k * rate / size;
            double lo = (f - pts[b]) / (pts[b + 1] - pts[b]);
            double hi = (pts[b + 2] - f) / (pts[b + 2] - pts[b + 1]);
            double v = lo < hi ? lo : hi;
            fb[(size_t)b * n_freqs + k] = v > 0 ? v : 0;
        }
}

/* Log-mel of one frame (window applied here) into out[MEL_BANDS]. */
static void log_mel_frame(fft_plan *p, const float *x, int64_t avail, const double *win, const double *fb,
                          double *frame, double *power, double *out) {
    int n = p->n, n_freqs = n / 2 + 1;
    for (int i = 0; i < n; i++) frame[i] = i < avail ? win[i] * x[i] : 0.0;
    fft_power(p, frame, n, power);
    for (int b = 0; b < MEL_BANDS; b++) {
        const double *row = fb + (size_t)b * n_freqs;
        double s = 0;
        for (int k = 0; k < n_freqs; k++) s += row[k] * sqrt(power[k]);
        out[b] = log(s + MEL_LOG_FLOOR);
    }
}

int sono_metrics_mel_distance(const float *ref, const float *est, int64_t n_samples, int rate, double *out) {
    if (!ref || !est || !out || n_samples < 1 || rate <= 0) return SONO_E_ARG;
    double total = 0;
    for (size_t s = 0; s < sizeof mel_sizes / sizeof mel_sizes[0]; s++) {
        int size = mel_sizes[s], hop = size / 4, n_freqs = size / 2 + 1;
        fft_plan p;
        if (fft_plan_init(&p, size)) return SONO_E_NOMEM;
        double *win = malloc((size_t)size * sizeof *win);
        double *fb = malloc((size_t)MEL_BANDS * n_freqs * sizeof *fb);
        double *frame = malloc((size_t)size * sizeof *frame);
        double *power = malloc((size_t)n_freqs * sizeof *power);
        if (!win || !fb || !frame || !power) {
            free(win), free(fb), free(frame), free(power);
            fft_plan_free(&p);
            return SONO_E_NOMEM;
        }
        for (int i = 0; i < size; i++) win[i] = 0.5 - 0.5 * cos(2 * PI * i / size); /* periodic Hann */
        mel_filterbank(fb, n_freqs, size, rate);
        int64_t n_frames = n_samples >= size ? 1 + (n_samples - size) / hop : 1;
        double acc = 0, mr[MEL_BANDS], me[MEL_BANDS];
        for (int64_t f = 0; f < n_frames; f++) {
            int64_t start = f * hop, avail = n_samples - start;
            log_mel_frame(&p, ref + start, avail, win, fb, frame, power, mr);
            log_mel_frame(&p, est + start, avail, win, fb, frame, power, me);
            for (int b = 0; b < MEL_BANDS; b++) acc += fabs(mr[b] - me[b]);
        }
        total += acc / ((double)n_frames * MEL_BANDS);
        free(win), free(fb), free(frame), free(power);
        fft_plan_free(&p);
    }
    *out = total / (double)(sizeof mel_sizes / sizeof mel_sizes[0]);
    return 0;
}

/* ---- resampling (Octave resample.m / pystoi resample_oct + scipy resample_poly) ---- */

static long gcd_l(long a, long b) {
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Modified Bessel function I0 by its power series (converges for all x). */
static double bessel_i0(double x) {
    double sum = 1, term = 1, q = x * x / 4;
    for (int k = 1; k < 500; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < 1e-17 * sum) break;
    }
    return sum;
}

int64_t sono_metrics_resample_len(int64_t n_in, int in_rate, int out_rate) {
    if (n_in < 0 || in_rate <= 0 || out_rate <= 0) return -1;
    long g = gcd_l(in_rate, out_rate);
    int64_t up = out_rate / g, down = in_rate / g;
    return (n_in * up + down - 1) / down;
}

/* Output sample m = up * sum_i w[half + m*down - i*up] x[i], w the filter
 * normalised to sum 1, centred at tap half (zero delay). Writes outd or outf. */
static int resample_core(const float *in, int64_t n_in, int in_rate, int out_rate, double *outd, float *outf) {
    if (!in || n_in < 0 || in_rate <= 0 || out_rate <= 0) return SONO_E_ARG;
    long g = gcd_l(in_rate, out_rate);
    long up = out_rate / g, down = in_rate / g;
    int64_t n_out = sono_metrics_resample_len(n_in, in_rate, out_rate);
    if (up == 1 && down == 1) {
        for (int64_t i = 0; i < n_in; i++) {
            if (outd) outd[i] = in[i];
            else outf[i] = in[i];
        }
        return 0;
    }
    /* Kaiser design as in Octave's resample: rejection 60 dB, cut-off
     * 1/(2 max(up,down)), transition width cut-off/10, length from
     * Kaiser's formula (A - 8) / (2.285 * 2 pi * width) = (A - 8)/(28.714 w). */
    double rejection_db = 60.0;
    double fc = 1.0 / (2.0 * (double)(up > down ? up : down));
    double width = fc / 10.0;
    long half = (long)ceil((rejection_db - 8.0) / (28.714 * width));
    double beta = 0.1102 * (rejection_db - 8.7); /* Kaiser's beta for A > 50 dB */
    long n_taps = 2 * half + 1;
    double *h = malloc((size_t)n_taps * sizeof *h);
    if (!h) return SONO_E_NOMEM;
    double i0b = bessel_i0(beta), sum = 0;
    for (long k = 0; k < n_taps; k++) {
        double t = (double)(k - half);
        double arg = 2.0 * fc * t;
        double sinc = t == 0 ? 1.0 : sin(PI * arg) / (PI * arg);
        double r = 2.0 * (double)k / (double)(n_taps - 1) - 1.0;
        double kw = bessel_i0(beta * sqrt(fmax(0.0, 1.0 - r * r))) / i0b;
        h[k] = kw * 2.0 * (double)up * fc * sinc;
        sum += h[k];
    }
    for (long k = 0; k < n_taps; k++) h[k] = h[k] / sum * (double)up;
    for (int64_t m = 0; m < n_out; m++) {
        /* taps t = half + m*down - i*up in [0, n_taps) */
        int64_t c = (int64_t)half + m * down;
        int64_t i_lo = c - (n_taps - 1) <= 0 ? 0 : (c - (n_taps - 1) + up - 1) / up;
        int64_t i_hi = c / up;
        if (i_hi > n_in - 1) i_hi = n_in - 1;
        double acc = 0;
        for (int64_t i = i_lo; i <= i_hi; i++) acc += h[c - i * up] * in[i];
        if (outd) outd[m] = acc;
        else outf[m] = (float)acc;
    }
    free(h);
    return 0;
}

int sono_metrics_resample(const float *in, int64_t n_in, int in_rate, int out_rate, float *out) {
    if (!out) return SONO_E_ARG;
    return resample_core(in, n_in, in_rate, out_rate, NULL, out);
}

/* ---- STOI ---- */

enum {
    STOI_RATE = 10000,   /* Hz, the rate STOI is defined at */
    STOI_FRAME = 256,    /* window and frame length, samples */
    STOI_HOP = 128,      /* 50 % overlap */
    STOI_NFFT = 512,     /* zero-padded FFT size */
    STOI_BANDS = 15,     /* one-third octave bands */
    STOI_N = 30,         /* frames per intermediate-intelligibility segment (384 ms) */
};
#define STOI_MIN_FREQ 150.0   /* Hz, centre of the first band */
#define STOI_BETA (-15.0)     /* dB, lower bound of the signal-to-distortion ratio */
#define STOI_DYN_RANGE 40.0   /* dB below the loudest frame counted as silent */

/* MATLAB hanning(N): the periodic-free Hann without its zero end points. */
static void stoi_window(double *w) {
    for (int i = 0; i < STOI_FRAME; i++) w[i] = 0.5 - 0.5 * cos(2 * PI * (i + 1) / (STOI_FRAME + 1));
}

/* First FFT bin nearest to frequency f (ties go to the lower bin). */
static int stoi_nearest_bin(double f) {
    int best = 0;
    double bd = 1e300;
    for (int k = 0; k <= STOI_NFFT / 2; k++) {
        double fk = (double)k * STOI_RATE / STOI_NFFT, d = (fk - f) * (fk - f);
        if (d < bd) {
            bd = d;
            best = k;
        }
    }
    return best;
}

int sono_metrics_stoi(const float *ref, const float *est, int64_t n_samples, int rate, double *out) {
    if (!ref || !est || !out || n_samples < 1 || rate <= 0) return SONO_E_ARG;
    int rc = 0;
    int64_t n10 = sono_metrics_resample_len(n_samples, rate, STOI_RATE);
    double *x = malloc((size_t)n10 * sizeof *x), *y = malloc((size_t)n10 * sizeof *y);
    double *xs = NULL, *ys = NULL, *xb = NULL, *yb = NULL;
    unsigned char *keep = NULL;
    fft_plan p = {0};
    if (!x || !y || fft_plan_init(&p, STOI_NFFT)) {
        rc = SONO_E_NOMEM;
        goto done;
    }
    if ((rc = resample_core(ref, n_samples, rate, STOI_RATE, x, NULL)) ||
        (rc = resample_core(est, n_samples, rate, STOI_RATE, y, NULL)))
        goto done;
    double w[STOI_FRAME];
    stoi_window(w);

    /* Silent-frame removal: frames start at 0, 128, ... strictly before
     * n - 256 (the reference's range), energies of the windowed ref. */
    int64_t n_fr = n10 > STOI_FRAME ? (n10 - STOI_FRAME - 1) / STOI_HOP + 1 : 0;
    if (n_fr < 1) {
        rc = SONO_E_EMPTY;
        goto done;
    }
    keep = malloc((size_t)n_fr);
    double *energy = malloc((size_t)n_fr * sizeof *energy);
    if (!keep || !energy) {
        free(energy);
        rc = SONO_E_NOMEM;
        goto done;
    }
    double e_max = -1e300, norm_max = 0;
    for (int64_t f = 0; f < n_fr; f++) {
        double s = 0;
        for (int i = 0; i < STOI_FRAME; i++) {
            double v = w[i] * x[f * STOI_HOP + i];
            s += v * v;
        }
        double nrm = sqrt(s);
        if (nrm > norm_max) norm_max = nrm;
        energy[f] = 20.0 * log10(nrm + STOI_EPS);
        if (energy[f] > e_max) e_max = energy[f];
    }
    int64_t n_keep = 0;
    for (int64_t f = 0; f < n_fr; f++) {
        keep[f] = e_max - STOI_DYN_RANGE - energy[f] < 0;
        n_keep += keep[f];
    }
    free(energy);
    if (!(norm_max > 0) || n_keep < 1) {
        rc = SONO_E_EMPTY; /* silent reference: nothing to be intelligible */
        goto done;
    }
    /* Overlap-add of the kept windowed frames. */
    int64_t n_s = (n_keep - 1) * STOI_HOP + STOI_FRAME;
    xs = calloc((size_t)n_s, sizeof *xs);
    ys = calloc((size_t)n_s, sizeof *ys);
    if (!xs || !ys) {
        rc = SONO_E_NOMEM;
        goto done;
    }
    for (int64_t f = 0, k = 0; f < n_fr; f++) {
        if (!keep[f]) continue;
        for (int i = 0; i < STOI_FRAME; i++) {
            xs[k * STOI_HOP + i] += w[i] * x[f * STOI_HOP + i];
            ys[k * STOI_HOP + i] += w[i] * y[f * STOI_HOP + i];
        }
        k++;
    }

    /* STFT (same framing), one-third octave band magnitudes [band][frame]. */
    int64_t n_t = n_s > STOI_FRAME ? (n_s - STOI_FRAME - 1) / STOI_HOP + 1 : 0;
    if (n_t < STOI_N) {
        rc = SONO_E_EMPTY;
        goto done;
    }
    int lo[STOI_BANDS], hi[STOI_BANDS];
    for (int b = 0; b < STOI_BANDS; b++) {
        /* band edges at the centre frequency times 2^(-1/6) and 2^(1/6),
         * each snapped to the nearest bin; bins [lo, hi) belong to the band */
        lo[b] = stoi_nearest_bin(STOI_MIN_FREQ * pow(2.0, (2.0 * b - 1) / 6.0));
        hi[b] = stoi_nearest_bin(STOI_MIN_FREQ * pow(2.0, (2.0 * b + 1) / 6.0));
    }
    xb = malloc((size_t)STOI_BANDS * (size_t)n_t * sizeof *xb);
    yb = malloc((size_t)STOI_BANDS * (size_t)n_t * sizeof *yb);
    if (!xb || !yb) {
        rc = SONO_E_NOMEM;
        goto done;
    }
    double frame[STOI_FRAME], power[STOI_NFFT / 2 + 1];
    for (int pass = 0; pass < 2; pass++) {
        const double *sig = pass ? ys : xs;
        double *bands = pass ? yb : xb;
        for (int64_t t = 0; t < n_t; t++) {
            for (int i = 0; i < STOI_FRAME; i++) frame[i] = w[i] * sig[t * STOI_HOP + i];
            fft_power(&p, frame, STOI_FRAME, power);
            for (int b = 0; b < STOI_BANDS; b++) {
                double s = 0;
                for (int k = lo[b]; k < hi[b]; k++) s += power[k];
                bands[(size_t)b * n_t + t] = sqrt(s);
            }
        }
    }

    /* Intermediate intelligibility per band and segment of N frames. */
    double clip = 1.0 + pow(10.0, -STOI_BETA / 20.0), total = 0;
    int64_t n_seg = n_t - STOI_N + 1;
    for (int64_t m = STOI_N; m <= n_t; m++)
        for (int b = 0; b < STOI_BANDS; b++) {
            const double *xv = xb + (size_t)b * n_t + (m - STOI_N), *yv = yb + (size_t)b * n_t + (m - STOI_N);
            double xx = 0, yy = 0;
            for (int i = 0; i < STOI_N; i++) {
                xx += xv[i] * xv[i];
                yy += yv[i] * yv[i];
            }
            double alpha = sqrt(xx) / (sqrt(yy) + STOI_EPS);
            double yp[STOI_N], xm = 0, ym = 0;
            for (int i = 0; i < STOI_N; i++) {
                double a = alpha * yv[i], c = xv[i] * clip;
                yp[i] = a < c ? a : c;
                ym += yp[i];
                xm += xv[i];
            }
            xm /= STOI_N;
            ym /= STOI_N;
            double nx = 0, ny = 0, dot = 0;
            for (int i = 0; i < STOI_N; i++) {
                double a = xv[i] - xm, c = yp[i] - ym;
                nx += a * a;
                ny += c * c;
                dot += a * c;
            }
            total += dot / ((sqrt(nx) + STOI_EPS) * (sqrt(ny) + STOI_EPS));
        }
    *out = total / ((double)n_seg * STOI_BANDS);
done:
    free(x), free(y), free(xs), free(ys), free(xb), free(yb), free(keep);
    fft_plan_free(&p);
    return rc;
}
