/* Audio quality metrics: SI-SNR, multi-scale log-mel distance, STOI, and the
 * Octave-compatible rational resampler STOI runs at 10 kHz with. Spectra come
 * from the library's float FFT (common/fft.h; it moves the scores by about
 * 1e-6 relative against a double FFT), the mel bands from its one HTK
 * filterbank (common/melbank.h); everything else is computed in double.
 * Buffers are allocated once per call, never per frame.
 * The constants and their sources are documented in metrics.h and below.
 *
 * Each metric has two forms that share their per-frame helpers: the one-shot
 * functions on whole signals (the plain reference, short signals), and
 * sono_metrics_stream, which keeps only a sliding window of samples and the
 * running sums, so `sonotok eval` scores an hour of audio in a few MB. */
#include "sonotok/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"
#include "melbank.h"
#include "sono_internal.h"

#define PI 3.14159265358979323846
/* numpy's float64 eps: the guard the STOI reference adds to norms. */
#define STOI_EPS 2.220446049250313e-16

/* Power |X[k]|^2 of a float spectrum, k < nb, in double. */
static void spectrum_power(const float *re, const float *im, int nb, double *power) {
    for (int k = 0; k < nb; k++) power[k] = (double)re[k] * re[k] + (double)im[k] * im[k];
}

int sono_metrics_power_spectrogram(const float *x, int64_t n, int n_fft, int hop, int64_t frame0,
                                   int64_t n_frames, double *power) {
    if ((!x && n > 0) || n < 0 || !power || n_fft < 2 || n_fft > 65536 || (n_fft & (n_fft - 1)) || hop < 1 ||
        frame0 < 0 || n_frames < 0)
        return SONO_E_ARG;
    const int nb = n_fft / 2 + 1;
    fft_plan *p = sn_fft_plan_new(n_fft, NULL);
    double *win = malloc((size_t)n_fft * sizeof *win);
    float *frame = malloc(((size_t)n_fft + 2 * (size_t)nb) * sizeof *frame);
    if (!p || !win || !frame) {
        sn_fft_plan_free(p);
        free(win), free(frame);
        return SONO_E_NOMEM;
    }
    float *re = frame + n_fft, *im = re + nb;
    sn_fft_hann(win, n_fft, 0);
    for (int64_t f = 0; f < n_frames; f++) {
        int64_t start = (frame0 + f) * hop - n_fft / 2;
        for (int j = 0; j < n_fft; j++) {
            int64_t k = start + j;
            frame[j] = k >= 0 && k < n ? (float)(win[j] * x[k]) : 0.0f;
        }
        sn_fft_real(p, re, im, frame, NULL);
        spectrum_power(re, im, nb, power + f * nb);
    }
    sn_fft_plan_free(p);
    free(win), free(frame);
    return 0;
}

/* ---- SI-SNR ---- */

/* SI-SNR from the zero-mean energies and cross term. */
static double si_snr_from_sums(double rr, double re, double ee) {
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
    return si_snr_from_sums(rr, re, ee);
}

/* ---- multi-scale mel distance ---- */

enum { MEL_BANDS = 64 };
static const int mel_sizes[] = {512, 1024, 2048};
#define MEL_LOG_FLOOR 1e-5
/* Mel values are magnitudes: 1e-4 is 80 dB below the reference's largest. */
#define MEL_RANGE 1e-4

/* One STFT size of the mel distance: its plan, window, filterbank and work
 * buffers, allocated once. */
typedef struct {
    int size, hop, n_freqs;
    fft_plan *p;
    double *win;    /* [size] periodic Hann */
    double *fb;     /* [MEL_BANDS][n_freqs], the HTK filterbank */
    int lo[MEL_BANDS], hi[MEL_BANDS]; /* each band's nonzero weights: bins [lo, hi) */
    float *frame;   /* [size] the windowed frame, zero-padded where the signal ends */
    float *re, *im; /* [n_freqs] */
    double *mag;    /* [n_freqs] */
} mel_scale;

static void mel_scale_free(mel_scale *m) {
    free(m->win), free(m->fb), free(m->frame), free(m->re), free(m->im), free(m->mag);
    sn_fft_plan_free(m->p);
    memset(m, 0, sizeof *m);
}

static int mel_scale_init(mel_scale *m, int size, int rate) {
    memset(m, 0, sizeof *m);
    m->size = size, m->hop = size / 4, m->n_freqs = size / 2 + 1;
    m->p = sn_fft_plan_new(size, NULL);
    m->win = malloc((size_t)size * sizeof *m->win);
    m->fb = malloc((size_t)MEL_BANDS * (size_t)m->n_freqs * sizeof *m->fb);
    m->frame = malloc((size_t)size * sizeof *m->frame);
    m->re = malloc((size_t)m->n_freqs * sizeof *m->re);
    m->im = malloc((size_t)m->n_freqs * sizeof *m->im);
    m->mag = malloc((size_t)m->n_freqs * sizeof *m->mag);
    if (!m->p || !m->win || !m->fb || !m->frame || !m->re || !m->im || !m->mag) {
        mel_scale_free(m);
        return SONO_E_NOMEM;
    }
    sn_fft_hann(m->win, size, 0);
    double pts[MEL_BANDS + 2];
    sn_mel_edges_htk(pts, MEL_BANDS, rate);
    for (int b = 0; b < MEL_BANDS; b++) {
        double *row = m->fb + (size_t)b * m->n_freqs;
        sn_mel_band(row, pts, b, m->n_freqs, rate / 2.0);
        int lo = 0, hi = m->n_freqs;
        while (lo < hi && row[lo] == 0) lo++;
        while (hi > lo && row[hi - 1] == 0) hi--;
        m->lo[b] = lo, m->hi[b] = hi;
    }
    return 0;
}

/* Frames of n samples: at 0, hop, ... while they fit; one zero-padded frame
 * when even the first does not. */
static int64_t mel_n_frames(const mel_scale *m, int64_t n) {
    return n >= m->size ? 1 + (n - m->size) / m->hop : 1;
}

/* Mel magnitudes of one frame x[0..avail) (zero-padded, window applied here)
 * into out[MEL_BANDS]; returns their largest. */
static double mel_frame(mel_scale *m, const float *x, int64_t avail, double *out) {
    int n = m->size, n_freqs = m->n_freqs;
    for (int i = 0; i < n; i++) m->frame[i] = i < avail ? (float)(m->win[i] * x[i]) : 0.0f;
    sn_fft_real(m->p, m->re, m->im, m->frame, NULL);
    spectrum_power(m->re, m->im, n_freqs, m->mag);
    for (int k = 0; k < n_freqs; k++) m->mag[k] = sqrt(m->mag[k]); /* power to magnitude */
    double peak = 0;
    for (int b = 0; b < MEL_BANDS; b++) {
        const double *row = m->fb + (size_t)b * n_freqs;
        double s = 0;
        /* the zero weights outside [lo, hi) would add exact zeros */
        for (int k = m->lo[b]; k < m->hi[b]; k++) s += row[k] * m->mag[k];
        out[b] = s;
        if (s > peak) peak = s;
    }
    return peak;
}

/* Sum over bands of |log(max(a, lo) + eps) - log(max(b, lo) + eps)|. */
static double mel_frame_distance(const double *a, const double *b, double lo) {
    double acc = 0;
    for (int k = 0; k < MEL_BANDS; k++) {
        double la = log((a[k] > lo ? a[k] : lo) + MEL_LOG_FLOOR);
        double lb = log((b[k] > lo ? b[k] : lo) + MEL_LOG_FLOOR);
        acc += fabs(la - lb);
    }
    return acc;
}

enum { MEL_N_SIZES = (int)(sizeof mel_sizes / sizeof mel_sizes[0]) };

int sono_metrics_mel_distance(const float *ref, const float *est, int64_t n_samples, int rate, double *out) {
    if (!ref || !est || !out || n_samples < 1 || rate <= 0) return SONO_E_ARG;
    double total = 0;
    for (int s = 0; s < MEL_N_SIZES; s++) {
        mel_scale m;
        if (mel_scale_init(&m, mel_sizes[s], rate)) return SONO_E_NOMEM;
        int64_t n_frames = mel_n_frames(&m, n_samples);
        double acc = 0, peak = 0, mr[MEL_BANDS], me[MEL_BANDS];
        for (int64_t f = 0; f < n_frames; f++) {
            double p = mel_frame(&m, ref + f * m.hop, n_samples - f * m.hop, mr);
            if (p > peak) peak = p;
        }
        for (int64_t f = 0; f < n_frames; f++) {
            int64_t start = f * m.hop, avail = n_samples - start;
            mel_frame(&m, ref + start, avail, mr);
            mel_frame(&m, est + start, avail, me);
            acc += mel_frame_distance(mr, me, peak * MEL_RANGE);
        }
        total += acc / ((double)n_frames * MEL_BANDS);
        mel_scale_free(&m);
    }
    *out = total / (double)MEL_N_SIZES;
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

/* The polyphase filter: output sample m = sum_i h[half + m*down - i*up] x[i]
 * over the taps in range, h the Kaiser-windowed sinc normalised to sum up
 * (unit DC gain per phase on average), centred at tap half (zero delay). */
typedef struct {
    long up, down, half, n_taps;
    double *h; /* [n_taps]; NULL when the rates are equal */
} rs_filter;

static int rs_filter_init(rs_filter *f, int in_rate, int out_rate) {
    memset(f, 0, sizeof *f);
    if (in_rate <= 0 || out_rate <= 0) return SONO_E_ARG;
    long g = gcd_l(in_rate, out_rate);
    f->up = out_rate / g, f->down = in_rate / g;
    if (f->up == 1 && f->down == 1) {
        f->n_taps = 1; /* the identity: output m is input m */
        return 0;
    }
    /* Kaiser design as in Octave's resample: rejection 60 dB, cut-off
     * 1/(2 max(up,down)), transition width cut-off/10, length from
     * Kaiser's formula (A - 8) / (2.285 * 2 pi * width) = (A - 8)/(28.714 w). */
    double rejection_db = 60.0;
    double fc = 1.0 / (2.0 * (double)(f->up > f->down ? f->up : f->down));
    double width = fc / 10.0;
    f->half = (long)ceil((rejection_db - 8.0) / (28.714 * width));
    double beta = 0.1102 * (rejection_db - 8.7); /* Kaiser's beta for A > 50 dB */
    f->n_taps = 2 * f->half + 1;
    double *h = f->h = malloc((size_t)f->n_taps * sizeof *h);
    if (!h) return SONO_E_NOMEM;
    double i0b = bessel_i0(beta), sum = 0;
    for (long k = 0; k < f->n_taps; k++) {
        double t = (double)(k - f->half);
        double arg = 2.0 * fc * t;
        double sinc = t == 0 ? 1.0 : sin(PI * arg) / (PI * arg);
        double r = 2.0 * (double)k / (double)(f->n_taps - 1) - 1.0;
        double kw = bessel_i0(beta * sqrt(fmax(0.0, 1.0 - r * r))) / i0b;
        h[k] = kw * 2.0 * (double)f->up * fc * sinc;
        sum += h[k];
    }
    for (long k = 0; k < f->n_taps; k++) h[k] = h[k] / sum * (double)f->up;
    return 0;
}

/* First input sample that output m uses. */
static int64_t rs_first_input(const rs_filter *f, int64_t m) {
    int64_t c = (int64_t)f->half + m * f->down;
    return c - (f->n_taps - 1) <= 0 ? 0 : (c - (f->n_taps - 1) + f->up - 1) / f->up;
}

/* Output m; x[i - base] is input i, n_in the inputs that exist (the taps
 * beyond them count as zeros). */
static double rs_output(const rs_filter *f, const float *x, int64_t base, int64_t n_in, int64_t m) {
    if (!f->h) return x[m - base];
    int64_t c = (int64_t)f->half + m * f->down;
    int64_t i_hi = c / f->up;
    if (i_hi > n_in - 1) i_hi = n_in - 1;
    double acc = 0;
    for (int64_t i = rs_first_input(f, m); i <= i_hi; i++) acc += f->h[c - i * f->up] * x[i - base];
    return acc;
}

/* Whole signals: writes outd or outf. */
static int resample_core(const float *in, int64_t n_in, int in_rate, int out_rate, double *outd, float *outf) {
    if (!in || n_in < 0) return SONO_E_ARG;
    rs_filter f;
    int rc = rs_filter_init(&f, in_rate, out_rate);
    if (rc) return rc;
    int64_t n_out = sono_metrics_resample_len(n_in, in_rate, out_rate);
    for (int64_t m = 0; m < n_out; m++) {
        double v = rs_output(&f, in, 0, n_in, m);
        if (outd) outd[m] = v;
        else outf[m] = (float)v;
    }
    free(f.h);
    return 0;
}

int sono_metrics_resample(const float *in, int64_t n_in, int in_rate, int out_rate, float *out) {
    if (!out) return SONO_E_ARG;
    return resample_core(in, n_in, in_rate, out_rate, NULL, out);
}

/* The streaming resampler keeps the inputs from the first one the next
 * output uses: about n_taps / up samples, plus the block in hand. Input is
 * taken RS_PIECE samples at a time so the window stays small. */
enum { RS_PIECE = 4096 };

typedef struct {
    rs_filter f;
    float *buf;              /* inputs [start, start + len) */
    int64_t start, len, cap;
    int64_t m;               /* next output */
    int ended;
} rs_stream;

static void rs_stream_free(rs_stream *s) {
    free(s->f.h);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

static int rs_stream_init(rs_stream *s, int in_rate, int out_rate) {
    memset(s, 0, sizeof *s);
    int rc = rs_filter_init(&s->f, in_rate, out_rate);
    if (rc) return rc;
    s->cap = s->f.n_taps / s->f.up + 2 + RS_PIECE;
    if (!(s->buf = malloc((size_t)s->cap * sizeof *s->buf))) {
        rs_stream_free(s);
        return SONO_E_NOMEM;
    }
    return 0;
}

/* Back to the start of a signal, the filter kept. */
static void rs_stream_reset(rs_stream *s) { s->start = s->len = s->m = 0, s->ended = 0; }

static int64_t rs_stream_max_out(const rs_stream *s, int64_t n_in) {
    return (n_in * s->f.up + s->f.half) / s->f.down + 3;
}

/* Take n inputs (end: then the signal ends) and write the outputs that are
 * complete to outd or outf. Returns their count. */
static int64_t rs_stream_run(rs_stream *s, const float *in, int64_t n, int end, double *outd, float *outf) {
    const rs_filter *f = &s->f;
    int64_t w = 0, done = 0;
    for (;;) {
        int64_t k = n - done < RS_PIECE ? n - done : RS_PIECE;
        if (s->len + k > s->cap) { /* drop the inputs no output from m on uses */
            int64_t drop = rs_first_input(f, s->m) - s->start;
            if (drop > s->len) drop = s->len;
            memmove(s->buf, s->buf + drop, (size_t)(s->len - drop) * sizeof *s->buf);
            s->start += drop, s->len -= drop;
        }
        if (k > 0) memcpy(s->buf + s->len, in + done, (size_t)k * sizeof *s->buf);
        s->len += k, done += k;
        const int64_t n_in = s->start + s->len, last = end && done == n;
        const int64_t n_out = (n_in * f->up + f->down - 1) / f->down;
        /* output m is complete once its last tap's input, (half + m down) / up, is in */
        while (s->m < n_out && (last || ((int64_t)f->half + s->m * f->down) / f->up < n_in)) {
            double v = rs_output(f, s->buf, s->start, n_in, s->m++);
            if (outd) outd[w++] = v;
            else outf[w++] = (float)v;
        }
        if (done == n) break;
    }
    if (end) s->ended = 1;
    return w;
}

struct sono_metrics_resampler {
    rs_stream s;
};

sono_metrics_resampler *sono_metrics_resampler_new(int in_rate, int out_rate, int *err) {
    sono_metrics_resampler *r = calloc(1, sizeof *r);
    int rc = r ? rs_stream_init(&r->s, in_rate, out_rate) : SONO_E_NOMEM;
    if (rc) {
        free(r);
        if (err) *err = rc;
        return NULL;
    }
    return r;
}

int64_t sono_metrics_resampler_max_out(const sono_metrics_resampler *r, int64_t n_in) {
    return r && n_in >= 0 ? rs_stream_max_out(&r->s, n_in) : SONO_E_ARG;
}

int64_t sono_metrics_resampler_push(sono_metrics_resampler *r, const float *in, int64_t n_in, float *out) {
    if (!r || r->s.ended || n_in < 0 || (n_in > 0 && (!in || !out))) return SONO_E_ARG;
    return rs_stream_run(&r->s, in, n_in, 0, NULL, out);
}

int64_t sono_metrics_resampler_finish(sono_metrics_resampler *r, float *out) {
    if (!r || r->s.ended || !out) return SONO_E_ARG;
    return rs_stream_run(&r->s, NULL, 0, 1, NULL, out);
}

void sono_metrics_resampler_free(sono_metrics_resampler *r) {
    if (!r) return;
    rs_stream_free(&r->s);
    free(r);
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

/* Band edges: centre frequency times 2^(-1/6) and 2^(1/6), each snapped to
 * the nearest bin; bins [lo, hi) belong to the band. */
static void stoi_band_edges(int *lo, int *hi) {
    for (int b = 0; b < STOI_BANDS; b++) {
        lo[b] = stoi_nearest_bin(STOI_MIN_FREQ * pow(2.0, (2.0 * b - 1) / 6.0));
        hi[b] = stoi_nearest_bin(STOI_MIN_FREQ * pow(2.0, (2.0 * b + 1) / 6.0));
    }
}

/* Energy of the windowed frame x[0..STOI_FRAME) in dB; *norm its norm. */
static double stoi_frame_energy(const double *w, const double *x, double *norm) {
    double s = 0;
    for (int i = 0; i < STOI_FRAME; i++) {
        double v = w[i] * x[i];
        s += v * v;
    }
    *norm = sqrt(s);
    return 20.0 * log10(*norm + STOI_EPS);
}

/* A frame is silent when more than STOI_DYN_RANGE dB below the loudest. */
static int stoi_keep(double energy, double e_max) { return e_max - STOI_DYN_RANGE - energy < 0; }

/* One-third octave band magnitudes of the windowed frame sig[0..STOI_FRAME). */
static void stoi_frame_bands(const fft_plan *p, const double *w, const int *lo, const int *hi, const double *sig,
                             double *bands) {
    float frame[STOI_NFFT], re[STOI_NFFT / 2 + 1], im[STOI_NFFT / 2 + 1];
    double power[STOI_NFFT / 2 + 1];
    for (int i = 0; i < STOI_NFFT; i++) frame[i] = i < STOI_FRAME ? (float)(w[i] * sig[i]) : 0.0f;
    sn_fft_real(p, re, im, frame, NULL);
    spectrum_power(re, im, STOI_NFFT / 2 + 1, power);
    for (int b = 0; b < STOI_BANDS; b++) {
        double s = 0;
        for (int k = lo[b]; k < hi[b]; k++) s += power[k];
        bands[b] = sqrt(s);
    }
}

/* Intermediate intelligibility of one band over one segment of STOI_N
 * frames: the correlation of x with y normalised to x's energy and clipped. */
static double stoi_segment(const double *xv, const double *yv) {
    const double clip = 1.0 + pow(10.0, -STOI_BETA / 20.0);
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
    return dot / ((sqrt(nx) + STOI_EPS) * (sqrt(ny) + STOI_EPS));
}

int sono_metrics_stoi(const float *ref, const float *est, int64_t n_samples, int rate, double *out) {
    if (!ref || !est || !out || n_samples < 1 || rate <= 0) return SONO_E_ARG;
    int rc = 0;
    int64_t n10 = sono_metrics_resample_len(n_samples, rate, STOI_RATE);
    double *x = malloc((size_t)n10 * sizeof *x), *y = malloc((size_t)n10 * sizeof *y);
    double *xs = NULL, *ys = NULL, *xb = NULL, *yb = NULL, *energy = NULL;
    unsigned char *keep = NULL;
    fft_plan *p = sn_fft_plan_new(STOI_NFFT, NULL);
    if (!x || !y || !p) {
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
    energy = malloc((size_t)n_fr * sizeof *energy);
    if (!keep || !energy) {
        rc = SONO_E_NOMEM;
        goto done;
    }
    double e_max = -1e300, norm_max = 0;
    for (int64_t f = 0; f < n_fr; f++) {
        double nrm;
        energy[f] = stoi_frame_energy(w, x + f * STOI_HOP, &nrm);
        if (nrm > norm_max) norm_max = nrm;
        if (energy[f] > e_max) e_max = energy[f];
    }
    int64_t n_keep = 0;
    for (int64_t f = 0; f < n_fr; f++) {
        keep[f] = (unsigned char)stoi_keep(energy[f], e_max);
        n_keep += keep[f];
    }
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
    stoi_band_edges(lo, hi);
    xb = malloc((size_t)STOI_BANDS * (size_t)n_t * sizeof *xb);
    yb = malloc((size_t)STOI_BANDS * (size_t)n_t * sizeof *yb);
    if (!xb || !yb) {
        rc = SONO_E_NOMEM;
        goto done;
    }
    for (int pass = 0; pass < 2; pass++) {
        const double *sig = pass ? ys : xs;
        double *bands = pass ? yb : xb, one[STOI_BANDS];
        for (int64_t t = 0; t < n_t; t++) {
            stoi_frame_bands(p, w, lo, hi, sig + t * STOI_HOP, one);
            for (int b = 0; b < STOI_BANDS; b++) bands[(size_t)b * n_t + t] = one[b];
        }
    }

    /* Intermediate intelligibility per band and segment of N frames. */
    double total = 0;
    int64_t n_seg = n_t - STOI_N + 1;
    for (int64_t m = STOI_N; m <= n_t; m++)
        for (int b = 0; b < STOI_BANDS; b++)
            total += stoi_segment(xb + (size_t)b * n_t + (m - STOI_N), yb + (size_t)b * n_t + (m - STOI_N));
    *out = total / ((double)n_seg * STOI_BANDS);
done:
    free(x), free(y), free(xs), free(ys), free(xb), free(yb), free(keep), free(energy);
    sn_fft_plan_free(p);
    return rc;
}

/* ---- streaming ---- */

/* Signals are taken PIECE samples at a time; the sliding windows hold the
 * largest frame plus one piece. */
enum { PIECE = 4096, MEL_MAX_SIZE = 2048 };

/* Streaming STOI. The 10 kHz signals pass through a window of the last
 * frame and a hop; each analysis frame of the reference gives its energy (pass
 * 1: only that, for the loudest); in pass 2 a kept frame is overlap-added
 * into ola[] at position STOI_HOP, which then holds, in [0, STOI_FRAME), the
 * finished compacted frame before it; its band magnitudes go into the last
 * STOI_N columns, and each full segment adds its correlations to the total. */
typedef struct {
    rs_stream rx, ry;               /* to 10 kHz */
    fft_plan *p;
    double w[STOI_FRAME];
    int lo[STOI_BANDS], hi[STOI_BANDS];
    double *x10, *y10;              /* 10 kHz samples [start, start + len) */
    int64_t start, len, cap;
    double *rx_out, *ry_out;        /* one piece of resampler output */
    int64_t f;                      /* next analysis frame */
    double e_max, norm_max;         /* measured in this pass */
    double e_level;                 /* pass 2: the loudest frame's energy it drops frames against */
    int64_t n_keep, n_t;
    double ola_x[STOI_FRAME + STOI_HOP], ola_y[STOI_FRAME + STOI_HOP];
    double bx[STOI_BANDS][STOI_N], by[STOI_BANDS][STOI_N]; /* last STOI_N compacted frames, oldest first */
    double total;
} stoi_stream;

static void stoi_stream_free(stoi_stream *s) {
    rs_stream_free(&s->rx), rs_stream_free(&s->ry);
    sn_fft_plan_free(s->p);
    free(s->x10), free(s->y10), free(s->rx_out), free(s->ry_out);
}

static int stoi_stream_init(stoi_stream *s, int rate) {
    memset(s, 0, sizeof *s);
    int rc = rs_stream_init(&s->rx, rate, STOI_RATE);
    if (!rc) rc = rs_stream_init(&s->ry, rate, STOI_RATE);
    if (!rc && !(s->p = sn_fft_plan_new(STOI_NFFT, NULL))) rc = SONO_E_NOMEM;
    if (rc) {
        stoi_stream_free(s);
        return rc;
    }
    int64_t n_out = rs_stream_max_out(&s->rx, PIECE);
    s->cap = STOI_FRAME + STOI_HOP + n_out;
    s->x10 = malloc((size_t)s->cap * sizeof *s->x10);
    s->y10 = malloc((size_t)s->cap * sizeof *s->y10);
    s->rx_out = malloc((size_t)n_out * sizeof *s->rx_out);
    s->ry_out = malloc((size_t)n_out * sizeof *s->ry_out);
    if (!s->x10 || !s->y10 || !s->rx_out || !s->ry_out) {
        stoi_stream_free(s);
        return SONO_E_NOMEM;
    }
    stoi_window(s->w);
    stoi_band_edges(s->lo, s->hi);
    return 0;
}

/* Back to the start of the signals, the dropping level kept. */
static void stoi_stream_reset(stoi_stream *s) {
    rs_stream_reset(&s->rx), rs_stream_reset(&s->ry);
    s->start = s->len = s->f = s->n_keep = s->n_t = 0;
    s->e_max = -1e300, s->norm_max = 0, s->total = 0;
    memset(s->ola_x, 0, sizeof s->ola_x), memset(s->ola_y, 0, sizeof s->ola_y);
}

/* Pass 2: a kept analysis frame at x, y. */
static void stoi_stream_keep(stoi_stream *s, const double *x, const double *y) {
    for (int i = 0; i < STOI_FRAME; i++) {
        s->ola_x[STOI_HOP + i] += s->w[i] * x[i];
        s->ola_y[STOI_HOP + i] += s->w[i] * y[i];
    }
    if (s->n_keep++ > 0) { /* compacted frame n_keep - 2 is finished */
        double bx[STOI_BANDS], by[STOI_BANDS];
        stoi_frame_bands(s->p, s->w, s->lo, s->hi, s->ola_x, bx);
        stoi_frame_bands(s->p, s->w, s->lo, s->hi, s->ola_y, by);
        for (int b = 0; b < STOI_BANDS; b++) {
            memmove(s->bx[b], s->bx[b] + 1, (STOI_N - 1) * sizeof(double));
            memmove(s->by[b], s->by[b] + 1, (STOI_N - 1) * sizeof(double));
            s->bx[b][STOI_N - 1] = bx[b];
            s->by[b][STOI_N - 1] = by[b];
        }
        if (++s->n_t >= STOI_N)
            for (int b = 0; b < STOI_BANDS; b++) s->total += stoi_segment(s->bx[b], s->by[b]);
    }
    memmove(s->ola_x, s->ola_x + STOI_HOP, STOI_FRAME * sizeof(double));
    memmove(s->ola_y, s->ola_y + STOI_HOP, STOI_FRAME * sizeof(double));
    memset(s->ola_x + STOI_FRAME, 0, STOI_HOP * sizeof(double));
    memset(s->ola_y + STOI_FRAME, 0, STOI_HOP * sizeof(double));
}

/* n samples of ref and, in pass 2 (pair), est; n <= PIECE; end: the
 * signals end here. */
static void stoi_stream_run(stoi_stream *s, const float *ref, const float *est, int64_t n, int pair, int end) {
    int64_t k = rs_stream_run(&s->rx, ref, n, end, s->rx_out, NULL);
    if (pair) rs_stream_run(&s->ry, est, n, end, s->ry_out, NULL); /* the same count: same rates and inputs */
    if (s->len + k > s->cap) {
        int64_t drop = s->f * STOI_HOP - s->start;
        if (drop > s->len) drop = s->len;
        memmove(s->x10, s->x10 + drop, (size_t)(s->len - drop) * sizeof *s->x10);
        memmove(s->y10, s->y10 + drop, (size_t)(s->len - drop) * sizeof *s->y10);
        s->start += drop, s->len -= drop;
    }
    memcpy(s->x10 + s->len, s->rx_out, (size_t)k * sizeof *s->x10);
    if (pair) memcpy(s->y10 + s->len, s->ry_out, (size_t)k * sizeof *s->y10);
    s->len += k;
    /* frame f counts when a sample follows it (the reference's range) */
    for (; s->f * STOI_HOP + STOI_FRAME < s->start + s->len; s->f++) {
        int64_t off = s->f * STOI_HOP - s->start;
        double nrm, e = stoi_frame_energy(s->w, s->x10 + off, &nrm);
        if (nrm > s->norm_max) s->norm_max = nrm;
        if (e > s->e_max) s->e_max = e;
        if (pair && stoi_keep(e, s->e_level)) stoi_stream_keep(s, s->x10 + off, s->y10 + off);
    }
}

/* The mean over segments and bands; SONO_E_EMPTY where STOI is undefined. */
static int stoi_stream_result(const stoi_stream *s, double *out) {
    if (s->f < 1 || !(s->norm_max > 0) || s->n_keep < 1 || s->n_t < STOI_N) return SONO_E_EMPTY;
    *out = s->total / ((double)(s->n_t - STOI_N + 1) * STOI_BANDS);
    return 0;
}

/* Mel distance at one STFT size: frames are taken from the shared window of
 * samples as they complete. */
typedef struct {
    mel_scale m;
    int64_t f;      /* next frame */
    double peak;    /* measured in this pass: the reference's largest mel value */
    double level;   /* pass 2: the reference's largest, the floor hangs from it */
    double acc;
} mel_stream;

struct sono_metrics_stream {
    int rate;
    int pass;              /* 1 or 2 */
    int64_t n;             /* samples pushed in this pass */
    float *xr, *xe;        /* samples [start, start + len) of ref and est */
    int64_t start, len, cap;
    mel_stream mel[MEL_N_SIZES];
    stoi_stream stoi;
    double e_level1, mel_level1[MEL_N_SIZES]; /* measured by pass 1 */
    double r0, e0;                 /* SI-SNR: the first samples, subtracted from all (shifted sums) */
    double sr, se, srr, sre, see;  /* sums of the shifted samples, their squares and products */
};

void sono_metrics_stream_free(sono_metrics_stream *s) {
    if (!s) return;
    for (int i = 0; i < MEL_N_SIZES; i++) mel_scale_free(&s->mel[i].m);
    stoi_stream_free(&s->stoi);
    free(s->xr), free(s->xe);
    free(s);
}

sono_metrics_stream *sono_metrics_stream_new(int rate, int *err) {
    int rc = rate > 0 ? 0 : SONO_E_ARG;
    sono_metrics_stream *s = rc ? NULL : calloc(1, sizeof *s);
    if (!rc && !s) rc = SONO_E_NOMEM;
    if (s) {
        s->rate = rate;
        s->pass = 1;
        s->cap = MEL_MAX_SIZE + PIECE;
        s->xr = malloc((size_t)s->cap * sizeof *s->xr);
        s->xe = malloc((size_t)s->cap * sizeof *s->xe);
        rc = s->xr && s->xe ? 0 : SONO_E_NOMEM;
        for (int i = 0; i < MEL_N_SIZES && !rc; i++) rc = mel_scale_init(&s->mel[i].m, mel_sizes[i], rate);
        if (!rc) rc = stoi_stream_init(&s->stoi, rate);
        if (rc) {
            sono_metrics_stream_free(s);
            s = NULL;
        } else {
            stoi_stream_reset(&s->stoi);
        }
    }
    if (rc && err) *err = rc;
    return s;
}

/* Start a pass: every running sum and position back to zero. */
static void stream_restart(sono_metrics_stream *s, int pass) {
    s->pass = pass;
    s->n = s->start = s->len = 0;
    s->sr = s->se = s->srr = s->sre = s->see = 0;
    for (int i = 0; i < MEL_N_SIZES; i++) s->mel[i].f = 0, s->mel[i].peak = 0, s->mel[i].acc = 0;
    stoi_stream_reset(&s->stoi);
}

/* Mel frames that the window now completes (end: also the one zero-padded
 * frame of a signal shorter than the size). */
static void stream_mel_frames(sono_metrics_stream *s, int end) {
    double mr[MEL_BANDS], me[MEL_BANDS];
    for (int i = 0; i < MEL_N_SIZES; i++) {
        mel_stream *ms = &s->mel[i];
        const int64_t size = ms->m.size, hop = ms->m.hop, n = s->start + s->len;
        for (; ms->f * hop + size <= n || (end && ms->f == 0); ms->f++) {
            int64_t off = ms->f * hop - s->start, avail = n - ms->f * hop;
            double p = mel_frame(&ms->m, s->xr + off, avail, mr);
            if (p > ms->peak) ms->peak = p;
            if (s->pass == 2) {
                mel_frame(&ms->m, s->xe + off, avail, me);
                ms->acc += mel_frame_distance(mr, me, ms->level * MEL_RANGE);
            }
        }
    }
}

/* Push n samples (n <= PIECE) of ref and, in pass 2, est (else NULL). */
static void stream_piece(sono_metrics_stream *s, const float *ref, const float *est, int64_t n) {
    if (s->len + n > s->cap) { /* keep from the earliest next frame of any size */
        int64_t keep = s->start + s->len;
        for (int i = 0; i < MEL_N_SIZES; i++) {
            int64_t at = s->mel[i].f * s->mel[i].m.hop;
            if (at < keep) keep = at;
        }
        int64_t drop = keep - s->start;
        memmove(s->xr, s->xr + drop, (size_t)(s->len - drop) * sizeof *s->xr);
        if (est) memmove(s->xe, s->xe + drop, (size_t)(s->len - drop) * sizeof *s->xe);
        s->start += drop, s->len -= drop;
    }
    memcpy(s->xr + s->len, ref, (size_t)n * sizeof *s->xr);
    if (est) memcpy(s->xe + s->len, est, (size_t)n * sizeof *s->xe);
    s->len += n;
    if (est) {
        if (s->n == 0) s->r0 = ref[0], s->e0 = est[0];
        double sr = 0, se = 0, srr = 0, sre = 0, see = 0;
        for (int64_t i = 0; i < n; i++) {
            double r = ref[i] - s->r0, e = est[i] - s->e0;
            sr += r, se += e, srr += r * r, sre += r * e, see += e * e;
        }
        s->sr += sr, s->se += se, s->srr += srr, s->sre += sre, s->see += see;
    }
    s->n += n;
    stream_mel_frames(s, 0);
    stoi_stream_run(&s->stoi, ref, est, n, est != NULL, 0);
}

int sono_metrics_stream_push_ref(sono_metrics_stream *s, const float *ref, int64_t n) {
    if (!s || s->pass != 1 || n < 0 || (n > 0 && !ref)) return SONO_E_ARG;
    for (int64_t done = 0; done < n; done += PIECE) stream_piece(s, ref + done, NULL, n - done < PIECE ? n - done : PIECE);
    return 0;
}

/* End of pass 1: its levels become those pass 2 uses. */
static void stream_end_pass1(sono_metrics_stream *s) {
    stream_mel_frames(s, 1);
    stoi_stream_run(&s->stoi, NULL, NULL, 0, 0, 1);
    s->e_level1 = s->stoi.e_max;
    for (int i = 0; i < MEL_N_SIZES; i++) s->mel_level1[i] = s->mel[i].peak;
}

/* Pass 2 with the given levels. */
static void stream_begin_pass2(sono_metrics_stream *s, double e_level, const double *mel_level) {
    stream_restart(s, 2);
    s->stoi.e_level = e_level;
    for (int i = 0; i < MEL_N_SIZES; i++) s->mel[i].level = mel_level[i];
}

int sono_metrics_stream_push(sono_metrics_stream *s, const float *ref, const float *est, int64_t n) {
    if (!s || n < 0 || (n > 0 && (!ref || !est))) return SONO_E_ARG;
    if (s->pass == 1) {
        stream_end_pass1(s);
        stream_begin_pass2(s, s->e_level1, s->mel_level1);
    }
    for (int64_t done = 0; done < n; done += PIECE)
        stream_piece(s, ref + done, est + done, n - done < PIECE ? n - done : PIECE);
    return 0;
}

int sono_metrics_stream_finish(sono_metrics_stream *s, sono_metrics_scores *out) {
    if (!s || !out) return SONO_E_ARG;
    if (s->pass == 1) { /* no pass 2 yet */
        stream_end_pass1(s);
        stream_begin_pass2(s, s->e_level1, s->mel_level1);
    }
    if (s->n < 1) {
        stream_begin_pass2(s, s->e_level1, s->mel_level1);
        return SONO_E_ARG;
    }
    stream_mel_frames(s, 1);
    stoi_stream_run(&s->stoi, NULL, NULL, 0, 1, 1);
    /* The levels this pass used against those of the reference it was given:
     * equal, the scores are exact (wherever the levels came from). */
    int same = s->stoi.e_max == s->stoi.e_level;
    double measured[MEL_N_SIZES];
    for (int i = 0; i < MEL_N_SIZES; i++) {
        measured[i] = s->mel[i].peak;
        same = same && measured[i] == s->mel[i].level;
    }
    if (!same) {
        stream_begin_pass2(s, s->stoi.e_max, measured);
        return 1;
    }
    double n = (double)s->n, total = 0, v;
    out->n_samples = s->n;
    out->si_snr = si_snr_from_sums(s->srr - s->sr * s->sr / n, s->sre - s->sr * s->se / n, s->see - s->se * s->se / n);
    for (int i = 0; i < MEL_N_SIZES; i++)
        total += s->mel[i].acc / ((double)mel_n_frames(&s->mel[i].m, s->n) * MEL_BANDS);
    out->mel = total / (double)MEL_N_SIZES;
    out->stoi = stoi_stream_result(&s->stoi, &v) == 0 ? v : NAN;
    stream_begin_pass2(s, s->e_level1, s->mel_level1); /* ready for another estimate */
    return 0;
}
