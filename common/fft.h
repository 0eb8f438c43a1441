/* The library's FFT: the onesided spectrum of a real frame, in float, for
 * eval's metrics (common/metrics.c) and the training STFT (common/stft.c).
 *
 *   fft_plan *p = sn_fft_plan_new(1024, &err);   // n a power of two
 *   sn_fft_real(p, re, im, v, win);               // re, im [n/2 + 1]
 *   sn_fft_plan_free(p);
 *
 * X[k] = sum_j w[j] v[j] exp(-2 pi i j k / n), k = 0 .. n/2; im is 0 exactly
 * at bins 0 and n/2. A frame of n = 2m samples is packed as m complex values
 * z[q] = v[2q] + i v[2q+1], transformed by an in-place iterative radix-2
 * complex FFT of size m, and split into the onesided spectrum. Twiddles and
 * the bit reversal are computed once, in double, in the plan. The AVX-512
 * butterflies (chosen by sono_cpu_level() when the plan is made) give the
 * plain code's results bit for bit. A plan is read-only after creation and
 * may be shared between threads. */
#ifndef SONO_FFT_H
#define SONO_FFT_H

/* Open so that the STFT's backward (common/stft.c) can run the complex FFT
 * on spectra of its own; nothing else reads the fields. */
typedef struct fft_plan {
    int n, m;              /* frame length; m = n / 2, the complex FFT size */
    int *rev;              /* [m] bit reversal of log2(m) bits */
    float *tw_re, *tw_im;  /* [m] stage twiddles: half h uses [h, 2h): exp(-2 pi i k / (2h)) */
    float *pw_re, *pw_im;  /* [m/2 + 1] exp(-2 pi i k / n), for the real split */
    int simd;              /* the AVX-512 butterflies run (m >= 32) */
} fft_plan;

/* n a power of two, 2..65536. NULL on failure with *err set. */
fft_plan *sn_fft_plan_new(int n, int *err);
void sn_fft_plan_free(fft_plan *p); /* NULL is a no-op */

/* Spectrum of w[j] * v[j], j < n (w NULL: of v): re, im [n/2 + 1]. */
void sn_fft_real(const fft_plan *p, float *re, float *im, const float *v, const float *w);

/* In-place forward complex DFT of size p->m, a[k] = sum_j a[j] exp(-2 pi i jk / m),
 * of an input stored in bit-reversed order (a[rev[j]] = input j); the output
 * is in natural order. Called with re and im exchanged it computes the
 * unnormalised inverse. */
void sn_fft_complex_bitrev(const fft_plan *p, float *re, float *im);

/* The periodic Hann window w[j] = s (0.5 - 0.5 cos(2 pi j / n)), j < n, with
 * s = 1 / sqrt(sum of the unscaled w^2) when normalized, else 1. In double:
 * a caller that windows its frames in double rounds each sample once. */
void sn_fft_hann(double *w, int n, int normalized);

#endif
