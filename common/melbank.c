/* HTK mel filterbank (common/melbank.h). */
#include "melbank.h"

#include <math.h>

double sn_hz_to_mel_htk(double hz) { return 2595.0 * log10(1.0 + hz / 700.0); }
double sn_mel_to_hz_htk(double mel) { return 700.0 * (pow(10.0, mel / 2595.0) - 1.0); }

void sn_mel_edges_htk(double *pts, int n_mels, int sample_rate) {
    const double m_hi = sn_hz_to_mel_htk(sample_rate / 2.0);
    for (int i = 0; i < n_mels + 2; i++) pts[i] = sn_mel_to_hz_htk(m_hi * i / (n_mels + 1));
}

void sn_mel_band(double *row, const double *pts, int b, int n_bins, double top_hz) {
    for (int k = 0; k < n_bins; k++) {
        double f = n_bins > 1 ? top_hz * k / (n_bins - 1) : 0.0;
        double down = (f - pts[b]) / (pts[b + 1] - pts[b]);
        double up = (pts[b + 2] - f) / (pts[b + 2] - pts[b + 1]);
        double v = down < up ? down : up;
        row[k] = v > 0 ? v : 0.0;
    }
}
