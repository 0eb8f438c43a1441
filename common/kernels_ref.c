/* Plain reference kernels: the obviously-correct twins of kernels.c.
 *
 * Straight loops in PyTorch's index order, sums accumulated in double so the
 * reference is also the more accurate side of every comparison. Used by the
 * kernel tests as the oracle and, with -Dref_kernels=true, by the whole codec.
 * scratch and n_threads are accepted for signature parity and ignored. */
#include <math.h>
#include <string.h>

#define SONO_KERNELS_IMPL
#undef SONO_REF_KERNELS /* the _ref names must stay distinct from the fast ones */
#include "kernels.h"

/* conv1d (PyTorch cross-correlation, no padding):
 * out[co][t] = b[co] + sum_ci sum_k w[co][ci][k] * in[ci][t*stride + k*dil] */
void sn_conv1d_forward_ref(float *out, const float *in, const float *w, const float *b,
                        int C_in, int C_out, int T_in, int K, int stride, int dil,
                        float *scratch, int n_threads) {
    (void)scratch; (void)n_threads;
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    for (int co = 0; co < C_out; co++) {             /* out [C_out][T_out] */
        for (int t = 0; t < T_out; t++) {
            double acc = b ? b[co] : 0.0;
            for (int ci = 0; ci < C_in; ci++) {      /* in [C_in][T_in] */
                const float *x = in + (size_t)ci * T_in + (size_t)t * stride;
                const float *wk = w + ((size_t)co * C_in + ci) * K; /* w [C_out][C_in][K] */
                for (int k = 0; k < K; k++) acc += (double)wk[k] * x[(size_t)k * dil];
            }
            out[(size_t)co * T_out + t] = (float)acc;
        }
    }
}

/* Transposed conv1d (PyTorch ConvTranspose1d, padding 0, no trimming):
 * out[co][t*stride + k] += in[ci][t] * w[ci][co][k], out starts at b[co]. */
void sn_convtr1d_forward_ref(float *out, const float *in, const float *w, const float *b,
                          int C_in, int C_out, int T_in, int K, int stride,
                          float *scratch, int n_threads) {
    (void)scratch; (void)n_threads;
    if (T_in <= 0) return;
    size_t T_out = (size_t)(T_in - 1) * stride + K;
    for (int co = 0; co < C_out; co++) {             /* out [C_out][T_out] */
        float *o = out + (size_t)co * T_out;
        for (size_t t = 0; t < T_out; t++) {
            /* gather form of the same sum: every (ci, t_in, k) with t_in*stride + k == t */
            double acc = b ? b[co] : 0.0;
            int k0 = (int)(t % (size_t)stride);
            for (int k = k0; k < K; k += stride) {
                if ((size_t)k > t) break;
                size_t ti = (t - (size_t)k) / (size_t)stride;
                if (ti >= (size_t)T_in) continue;
                for (int ci = 0; ci < C_in; ci++)    /* w [C_in][C_out][K], in [C_in][T_in] */
                    acc += (double)w[((size_t)ci * C_out + co) * K + k] * in[(size_t)ci * T_in + ti];
            }
            o[t] = (float)acc;
        }
    }
}

static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One LSTM layer, PyTorch gate order i, f, g, o:
 *   z = W_ih x_t + b_ih + W_hh h + b_hh        z [4H]
 *   i = sig(z_i), f = sig(z_f), g = tanh(z_g), o = sig(z_o)
 *   c = f*c + i*g, h = o*tanh(c), out[:, t] = h */
void sn_lstm_step_ref(float *h_new, ptrdiff_t h_stride, float *c_new, float *gates, const float *in, int t, int T,
                   const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                   const float *h_prev, const float *c_prev, int C, int H) {
    for (int j = 0; j < H; j++) {
        double z[4];
        for (int g = 0; g < 4; g++) {
            size_t row = (size_t)g * H + j;
            double acc = (b_ih ? b_ih[row] : 0.0) + (b_hh ? b_hh[row] : 0.0);
            for (int k = 0; k < C; k++) acc += (double)w_ih[row * C + k] * in[(size_t)k * T + t];
            for (int k = 0; k < H; k++) acc += (double)w_hh[row * H + k] * h_prev[k];
            z[g] = acc;
        }
        double ig = sigmoid_d(z[0]), fg = sigmoid_d(z[1]), gg = tanh(z[2]), og = sigmoid_d(z[3]);
        double cn = fg * c_prev[j] + ig * gg;
        if (gates) {
            gates[j] = (float)ig;
            gates[H + j] = (float)fg;
            gates[2 * H + j] = (float)gg;
            gates[3 * H + j] = (float)og;
        }
        c_new[j] = (float)cn;
        h_new[(ptrdiff_t)j * h_stride] = (float)(og * tanh(cn));
    }
}

void sn_lstm_forward_ref(float *out, const float *in, const float *w_ih, const float *w_hh,
                      const float *b_ih, const float *b_hh, float *h, float *c,
                      int C, int H, int T, float *scratch, int n_threads) {
    (void)scratch; (void)n_threads;
    for (int t = 0; t < T; t++) {
        /* every unit needs the whole previous h: new h goes to out[:, t] first
         * and is copied into h once all units are done */
        sn_lstm_step_ref(out + t, T, c, NULL, in, t, T, w_ih, w_hh, b_ih, b_hh, h, c, C, H);
        for (int j = 0; j < H; j++) h[j] = out[(size_t)j * T + t];
    }
}

void sn_elu_forward_ref(float *out, const float *in, size_t n, float alpha, int n_threads) {
    (void)n_threads;
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        out[i] = x > 0.0f ? x : alpha * expm1f(x);
    }
}

void sn_groupnorm1_stats_ref(const float *in, size_t n, float eps, double *mean, double *rstd) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += in[i];
    double m = s / (double)n;
    double v = 0.0;
    for (size_t i = 0; i < n; i++) { double d = in[i] - m; v += d * d; }
    *mean = m;
    *rstd = 1.0 / sqrt(v / (double)n + (double)eps);
}

/* GroupNorm(1, C): y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c],
 * mean and biased var over all C*T values. */
void sn_groupnorm1_forward_ref(float *out, const float *in, const float *gamma, const float *beta,
                            int C, int T, float eps, int n_threads) {
    (void)n_threads;
    size_t n = (size_t)C * T;
    if (n == 0) return;
    double mean, rstd;
    sn_groupnorm1_stats_ref(in, n, eps, &mean, &rstd);
    for (int ch = 0; ch < C; ch++) {
        double g = gamma ? gamma[ch] : 1.0, bb = beta ? beta[ch] : 0.0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)ch * T + t;
            out[i] = (float)((in[i] - mean) * rstd * g + bb);
        }
    }
}

/* out[n][oc] = b[oc] + sum_ic in[n][ic] * w[oc][ic] */
void sn_linear_forward_ref(float *out, const float *in, const float *w, const float *b,
                        int N, int IC, int OC, int n_threads) {
    (void)n_threads;
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++) {
            double acc = b ? b[oc] : 0.0;
            for (int ic = 0; ic < IC; ic++)
                acc += (double)in[(size_t)n * IC + ic] * w[(size_t)oc * IC + ic];
            out[(size_t)n * OC + oc] = (float)acc;
        }
}
