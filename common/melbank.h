/* The HTK mel filterbank (torchaudio.functional.melscale_fbanks with
 * mel_scale='htk', norm=None, f_min 0, f_max sample_rate / 2): triangles
 * peaking at 1 between band edges equally spaced in mel. The one filterbank
 * of the library: eval's mel distance (common/metrics.c) and the multi-scale
 * mel loss (codec/train/mel_loss.c) use it.
 *
 *   double pts[n_mels + 2], row[n_bins];
 *   sn_mel_edges_htk(pts, n_mels, sample_rate);
 *   for (int b = 0; b < n_mels; b++) sn_mel_band(row, pts, b, n_bins, sample_rate / 2);
 */
#ifndef SONO_MELBANK_H
#define SONO_MELBANK_H

double sn_hz_to_mel_htk(double hz);
double sn_mel_to_hz_htk(double mel);

/* Band edges pts[n_mels + 2] in Hz, from 0 to sample_rate / 2 equally spaced
 * in mel. */
void sn_mel_edges_htk(double *pts, int n_mels, int sample_rate);

/* Weights of band b (0 <= b < n_mels, edges from sn_mel_edges_htk) at n_bins
 * bins: bin k at top_hz * k / (n_bins - 1) Hz (0 when n_bins is 1), so
 * top_hz = sample_rate / 2.0 gives the FFT bins k * sample_rate / n_fft and
 * torchaudio's linspace(0, sample_rate // 2, n_bins) is top_hz =
 * sample_rate / 2 in integers. row [n_bins], each weight >= 0. */
void sn_mel_band(double *row, const double *pts, int b, int n_bins, double top_hz);

#endif
