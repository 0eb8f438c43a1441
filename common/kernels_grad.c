/* Backward passes for the codec's layers: plain loops in the forward's index
 * order, sums in double, every gradient accumulated (+=). The formulas are
 * written out above each function; kernels_grad.h has the layouts. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "kernels_grad.h"

/* out[co][t] = b[co] + sum_ci sum_k w[co][ci][k] * in[ci][t*stride + k*dil], so
 *   db[co]        += sum_t dout[co][t]
 *   dw[co][ci][k] += sum_t dout[co][t] * in[ci][t*stride + k*dil]
 *   din[ci][t*stride + k*dil] += dout[co][t] * w[co][ci][k]   (scatter) */
void conv1d_backward(float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w,
                     int C_in, int C_out, int T_in, int K, int stride, int dil) {
    int T_out = conv1d_out_len(T_in, K, stride, dil);
    for (int co = 0; co < C_out; co++) {
        const float *dy = dout + (size_t)co * T_out;            /* dout [C_out][T_out] */
        if (db) {
            double acc = 0.0;
            for (int t = 0; t < T_out; t++) acc += dy[t];
            db[co] += (float)acc;
        }
        for (int ci = 0; ci < C_in; ci++) {
            const float *x = in + (size_t)ci * T_in;             /* in [C_in][T_in] */
            size_t wo = ((size_t)co * C_in + ci) * K;            /* w [C_out][C_in][K] */
            for (int k = 0; k < K; k++) {
                if (dw) {
                    double acc = 0.0;
                    for (int t = 0; t < T_out; t++)
                        acc += (double)dy[t] * x[(size_t)t * stride + (size_t)k * dil];
                    dw[wo + k] += (float)acc;
                }
                if (din) {
                    float *dx = din + (size_t)ci * T_in;
                    for (int t = 0; t < T_out; t++)
                        dx[(size_t)t * stride + (size_t)k * dil] += dy[t] * w[wo + k];
                }
            }
        }
    }
}

/* out[co][t*stride + k] += in[ci][t] * w[ci][co][k] (plus b[co] everywhere), so
 *   db[co]        += sum_j dout[co][j]
 *   dw[ci][co][k] += sum_t in[ci][t] * dout[co][t*stride + k]
 *   din[ci][t]    += sum_co sum_k w[ci][co][k] * dout[co][t*stride + k] */
void convtr1d_backward(float *din, float *dw, float *db, const float *dout,
                       const float *in, const float *w,
                       int C_in, int C_out, int T_in, int K, int stride) {
    if (T_in <= 0) return;
    size_t T_out = (size_t)(T_in - 1) * stride + K;
    if (db)
        for (int co = 0; co < C_out; co++) {
            double acc = 0.0;
            for (size_t j = 0; j < T_out; j++) acc += dout[(size_t)co * T_out + j];
            db[co] += (float)acc;
        }
    for (int ci = 0; ci < C_in; ci++) {
        const float *x = in + (size_t)ci * T_in;                 /* in [C_in][T_in] */
        if (dw)
            for (int co = 0; co < C_out; co++) {
                const float *dy = dout + (size_t)co * T_out;     /* dout [C_out][T_out] */
                for (int k = 0; k < K; k++) {
                    double acc = 0.0;
                    for (int t = 0; t < T_in; t++) acc += (double)x[t] * dy[(size_t)t * stride + k];
                    dw[((size_t)ci * C_out + co) * K + k] += (float)acc; /* w [C_in][C_out][K] */
                }
            }
        if (din)
            for (int t = 0; t < T_in; t++) {
                double acc = 0.0;
                for (int co = 0; co < C_out; co++) {
                    const float *dy = dout + (size_t)co * T_out + (size_t)t * stride;
                    const float *wk = w + ((size_t)ci * C_out + co) * K;
                    for (int k = 0; k < K; k++) acc += (double)wk[k] * dy[k];
                }
                din[(size_t)ci * T_in + t] += (float)acc;
            }
    }
}

/* y = x > 0 ? x : alpha * (exp(x) - 1): dy/dx = 1 or alpha * exp(x) = y + alpha.
 * x == 0 takes the left branch, like the forward. */
void elu_backward(float *din, const float *dout, const float *in, size_t n, float alpha) {
    for (size_t i = 0; i < n; i++)
        din[i] += in[i] > 0.0f ? dout[i] : dout[i] * alpha * expf(in[i]);
}

void elu_backward_from_out(float *din, const float *dout, const float *out, size_t n, float alpha) {
    for (size_t i = 0; i < n; i++)
        din[i] += out[i] > 0.0f ? dout[i] : dout[i] * (out[i] + alpha);
}

/* xhat = (x - mean) * rstd over all N = C*T values, y = xhat * gamma[c] + beta[c]:
 *   dbeta[c]  += sum_t dy,  dgamma[c] += sum_t dy * xhat
 *   with dxh = dy * gamma[c]:
 *   dx = rstd * (dxh - mean(dxh) - xhat * mean(dxh * xhat))   (means over all N) */
void groupnorm1_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                         const float *in, const float *gamma, int C, int T, float eps) {
    size_t n = (size_t)C * T;
    if (n == 0) return;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += in[i];
    double mean = s / (double)n;
    double v = 0.0;
    for (size_t i = 0; i < n; i++) { double d = in[i] - mean; v += d * d; }
    double rstd = 1.0 / sqrt(v / (double)n + (double)eps);

    double sum_dxh = 0.0, sum_dxh_xh = 0.0;
    for (int ch = 0; ch < C; ch++) {
        double g = gamma ? gamma[ch] : 1.0, db = 0.0, dg = 0.0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)ch * T + t;                      /* in, dout [C][T] */
            double xh = (in[i] - mean) * rstd, dy = dout[i];
            db += dy;
            dg += dy * xh;
            sum_dxh += dy * g;
            sum_dxh_xh += dy * g * xh;
        }
        if (dbeta) dbeta[ch] += (float)db;
        if (dgamma) dgamma[ch] += (float)dg;
    }
    if (!din) return;
    double m1 = sum_dxh / (double)n, m2 = sum_dxh_xh / (double)n;
    for (int ch = 0; ch < C; ch++) {
        double g = gamma ? gamma[ch] : 1.0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)ch * T + t;
            double xh = (in[i] - mean) * rstd;
            din[i] += (float)(rstd * (dout[i] * g - m1 - xh * m2));
        }
    }
}

static double row_norm(const float *v, int inner) {
    double s = 0.0;
    for (int i = 0; i < inner; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

void weightnorm_forward(float *w, const float *g, const float *v, int rows, int inner) {
    for (int r = 0; r < rows; r++) {
        const float *vr = v + (size_t)r * inner;                 /* v, w [rows][inner] */
        double nrm = row_norm(vr, inner), scale = nrm > 0.0 ? g[r] / nrm : 0.0;
        for (int i = 0; i < inner; i++) w[(size_t)r * inner + i] = (float)(scale * vr[i]);
    }
}

/* With u = v/||v|| and s = sum_i dw_i u_i (per row):
 *   dg += s,   dv += (g/||v||) * (dw - s * u) */
void weightnorm_backward(float *dg, float *dv, const float *dw,
                         const float *g, const float *v, int rows, int inner) {
    for (int r = 0; r < rows; r++) {
        const float *vr = v + (size_t)r * inner, *dwr = dw + (size_t)r * inner;
        double nrm = row_norm(vr, inner);
        if (nrm == 0.0) continue;
        double s = 0.0;
        for (int i = 0; i < inner; i++) s += (double)dwr[i] * vr[i];
        s /= nrm;
        if (dg) dg[r] += (float)s;
        if (dv) {
            double scale = g[r] / nrm;
            for (int i = 0; i < inner; i++)
                dv[(size_t)r * inner + i] += (float)(scale * (dwr[i] - s * vr[i] / nrm));
        }
    }
}

size_t lstm_saved_floats(int H, int T) {
    return (size_t)T * 4 * H + 2 * (size_t)(T + 1) * H;
}

lstm_saved *lstm_saved_point(lstm_saved *s, float *buf, int H, int T) {
    s->gates = buf;
    s->c = buf + (size_t)T * 4 * H;
    s->h = s->c + (size_t)(T + 1) * H;
    return s;
}

/* lstm_forward_ref's arithmetic (the same lstm_step_ref), keeping every
 * step's gates and state. */
void lstm_forward_train(float *out, lstm_saved *saved, const float *in,
                        const float *w_ih, const float *w_hh,
                        const float *b_ih, const float *b_hh,
                        const float *h0, const float *c0, int C, int H, int T) {
    for (int j = 0; j < H; j++) {
        saved->h[j] = h0 ? h0[j] : 0.0f;
        saved->c[j] = c0 ? c0[j] : 0.0f;
    }
    for (int t = 0; t < T; t++) {
        const float *hp = saved->h + (size_t)t * H, *cp = saved->c + (size_t)t * H;
        float *hn = saved->h + (size_t)(t + 1) * H, *cn = saved->c + (size_t)(t + 1) * H;
        lstm_step_ref(hn, 1, cn, saved->gates + (size_t)t * 4 * H, in, t, T, w_ih, w_hh, b_ih, b_hh, hp, cp, C, H);
        if (out)
            for (int j = 0; j < H; j++) out[(size_t)j * T + t] = hn[j];
    }
}

size_t lstm_backward_scratch_floats(int H) { return 6 * (size_t)H; }

/* Step t, going backwards, with dh = dh_next + dout[:, t] and c = c[t+1]:
 *   do = dh * tanh(c);  dc = dc_next + dh * o * (1 - tanh(c)^2)
 *   di = dc * g;  dg = dc * i;  df = dc * c[t];  dc_next <- dc * f
 *   dz = (di i(1-i), df f(1-f), dg (1-g^2), do o(1-o))      z [4H]
 *   db_ih, db_hh += dz;  dw_ih += dz x_t^T;  dw_hh += dz h[t]^T
 *   din[:, t] += w_ih^T dz;  dh_next <- w_hh^T dz */
void lstm_backward(float *din, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                   float *dh0, float *dc0,
                   const float *dout, const float *dh_last, const float *dc_last,
                   const lstm_saved *saved, const float *in,
                   const float *w_ih, const float *w_hh,
                   int C, int H, int T, float *scratch) {
    float *dh = scratch, *dc = scratch + H, *dz = scratch + 2 * H; /* [H], [H], [4H] */
    size_t G = 4 * (size_t)H;
    for (int j = 0; j < H; j++) {
        dh[j] = dh_last ? dh_last[j] : 0.0f;
        dc[j] = dc_last ? dc_last[j] : 0.0f;
    }
    for (int t = T - 1; t >= 0; t--) {
        const float *gt = saved->gates + (size_t)t * G;
        const float *cp = saved->c + (size_t)t * H, *cn = saved->c + (size_t)(t + 1) * H;
        const float *hp = saved->h + (size_t)t * H;
        for (int j = 0; j < H; j++) {
            double i = gt[j], f = gt[H + j], g = gt[2 * H + j], o = gt[3 * H + j];
            double d_h = (double)dh[j] + (dout ? dout[(size_t)j * T + t] : 0.0);
            double tc = tanh((double)cn[j]);
            double d_c = dc[j] + d_h * o * (1.0 - tc * tc);
            dz[j] = (float)(d_c * g * i * (1.0 - i));
            dz[H + j] = (float)(d_c * cp[j] * f * (1.0 - f));
            dz[2 * H + j] = (float)(d_c * i * (1.0 - g * g));
            dz[3 * H + j] = (float)(d_h * tc * o * (1.0 - o));
            dc[j] = (float)(d_c * f);
        }
        for (size_t r = 0; r < G; r++) {
            if (db_ih) db_ih[r] += dz[r];
            if (db_hh) db_hh[r] += dz[r];
            if (dw_ih)
                for (int k = 0; k < C; k++) dw_ih[r * C + k] += dz[r] * in[(size_t)k * T + t];
            if (dw_hh)
                for (int k = 0; k < H; k++) dw_hh[r * H + k] += dz[r] * hp[k];
        }
        if (din)
            for (int k = 0; k < C; k++) {
                double acc = 0.0;
                for (size_t r = 0; r < G; r++) acc += (double)w_ih[r * C + k] * dz[r];
                din[(size_t)k * T + t] += (float)acc;
            }
        for (int k = 0; k < H; k++) {
            double acc = 0.0;
            for (size_t r = 0; r < G; r++) acc += (double)w_hh[r * H + k] * dz[r];
            dh[k] = (float)acc;
        }
    }
    if (dh0) for (int j = 0; j < H; j++) dh0[j] += dh[j];
    if (dc0) for (int j = 0; j < H; j++) dc0[j] += dc[j];
}
