/* Backward passes for the codec's layers (for training).
 *
 * Usage, one conv layer inside a training step:
 *     float *scr = arena + ...;   // sn_conv1d_backward_scratch_floats(...) floats
 *     sn_conv1d_forward(out, in, w, b, C_in, C_out, T_in, K, stride, dil, fscr, 1);
 *     ... loss, dout [C_out][T_out] ...
 *     sn_conv1d_backward(din, dw, db, dout, in, w, C_in, C_out, T_in, K, stride, dil, scr, 1);
 *
 * Conventions (STYLE items 7 and 8; layouts as in kernels.h):
 *   - each backward pairs with a forward: gradients written first, then the
 *     output gradient, then what the forward saw, sizes last;
 *   - every backward ACCUMULATES (+=) into its gradient buffers, so the caller
 *     zeroes them once per step and several uses of a tensor simply add up;
 *   - a gradient buffer marked "may be NULL" is skipped (nothing computed);
 *   - the conv backwards come in pairs like kernels.h: a fast one (the SIMD
 *     forward kernels of kernels.c for the input gradient; for the weight
 *     gradient an AVX2/AVX-512 dot-product kernel, the conv engine for short
 *     wide layers, OpenBLAS sgemm on CPUs without AVX2; float sums) and a
 *     plain `_ref` twin with the same signature (sums in double; ignores
 *     scratch and n_threads). Building with -Dref_kernels=true maps the fast
 *     names onto the `_ref` ones;
 *   - scratch: caller-owned, at least *_backward_scratch_floats() floats, so
 *     nothing is allocated; n_threads: threads for the forward kernels used
 *     inside (our own loops are serial; OpenBLAS uses its own pool as set by
 *     sn_kern_set_threads). Thread-safe: no shared state, so separate graphs may
 *     call them from separate threads with n_threads = 1.
 * The _ref ones are checked against central finite differences in
 * tests/grad/test_grad.c, the fast ones against the _ref ones. */
#ifndef SONO_KERNELS_GRAD_H
#define SONO_KERNELS_GRAD_H

#include <stddef.h>

/* conv1d over an already padded input (sn_conv1d_forward's layout):
 * in [C_in][T_in], w [C_out][C_in][K], dout [C_out][T_out] with
 * T_out = conv1d_out_len(T_in, K, stride, dil).
 * din [C_in][T_in] (may be NULL), dw [C_out][C_in][K] (may be NULL),
 * db [C_out] (may be NULL). Input positions the conv never reads (a tail the
 * stride skips) get no gradient. */
/* Scratch of the fast sn_conv1d_backward, in floats (the largest of its input-
 * and weight-gradient needs; may be 0). */
size_t sn_conv1d_backward_scratch_floats(int C_in, int C_out, int T_in, int K, int stride, int dil);
void sn_conv1d_backward(float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w,
                     int C_in, int C_out, int T_in, int K, int stride, int dil,
                     float *scratch, int n_threads);
void sn_conv1d_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w,
                         int C_in, int C_out, int T_in, int K, int stride, int dil,
                         float *scratch, int n_threads);

/* Transposed conv1d, untrimmed (sn_convtr1d_forward's layout):
 * in [C_in][T_in], w [C_in][C_out][K], dout [C_out][(T_in - 1) * stride + K].
 * A caller that trims the forward output passes zeros for the trimmed columns.
 * din [C_in][T_in], dw [C_in][C_out][K], db [C_out]; each may be NULL. */
/* Scratch of the fast sn_convtr1d_backward, in floats. */
size_t sn_convtr1d_backward_scratch_floats(int C_in, int C_out, int T_in, int K, int stride);
void sn_convtr1d_backward(float *din, float *dw, float *db, const float *dout,
                       const float *in, const float *w,
                       int C_in, int C_out, int T_in, int K, int stride,
                       float *scratch, int n_threads);
void sn_convtr1d_backward_ref(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w,
                           int C_in, int C_out, int T_in, int K, int stride,
                           float *scratch, int n_threads);

/* ELU(alpha) backward from the forward's INPUT x:
 * din[i] += dout[i] * (x > 0 ? 1 : alpha * exp(x)). din [n]. */
void sn_elu_backward(float *din, const float *dout, const float *in, size_t n, float alpha);
/* The same from the forward's OUTPUT y (for an in-place forward, which loses x):
 * din[i] += dout[i] * (y > 0 ? 1 : y + alpha). Equal to sn_elu_backward for alpha > 0. */
void sn_elu_backward_from_out(float *din, const float *dout, const float *out, size_t n, float alpha);

/* GroupNorm(1, C) backward (sn_groupnorm1_forward's layout): in [C][T] is the
 * forward's input; mean and variance are recomputed from it.
 * gamma [C] may be NULL (taken as ones, as in the forward).
 * din [C][T], dgamma [C], dbeta [C]; each may be NULL. */
void sn_groupnorm1_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                         const float *in, const float *gamma, int C, int T, float eps);

/* Weight normalisation, PyTorch weight_norm(dim=0): w[r][:] = g[r] * v[r][:] / ||v[r][:]||,
 * the norm taken over all dims but the first, so w and v are [rows][inner]
 * (conv1d: rows = C_out, inner = C_in * K; convtr1d: rows = C_in, inner = C_out * K).
 * A zero row of v gives a zero row of w (and no gradient). */
void sn_weightnorm_forward(float *w, const float *g, const float *v, int rows, int inner);
/* dg [rows] (may be NULL), dv [rows][inner] (may be NULL) from dw [rows][inner]. */
void sn_weightnorm_backward(float *dg, float *dv, const float *dw,
                         const float *g, const float *v, int rows, int inner);

/* What sn_lstm_forward_train keeps for sn_lstm_backward. Pointers into one
 * caller-owned block of sn_lstm_saved_floats(H, T) floats (see sn_lstm_saved_point):
 *   gates [T][4H]   activated gates per step, order i, f, g, o
 *   c     [T+1][H]  cell state; c[0] is the initial state, c[t+1] after step t
 *   h     [T+1][H]  hidden state, same indexing (h[t+1] is out[:, t]) */
typedef struct lstm_saved {
    float *gates;
    float *c;
    float *h;
} lstm_saved;

size_t sn_lstm_saved_floats(int H, int T);
/* Point s's arrays into buf (sn_lstm_saved_floats(H, T) floats); returns s. */
lstm_saved *sn_lstm_saved_point(lstm_saved *s, float *buf, int H, int T);

/* sn_lstm_forward_ref that also fills `saved`. in [C][T], out [H][T] (may be NULL:
 * the same values are in saved->h). h0 [H], c0 [H]: initial state, NULL for zeros;
 * the final state is saved->h + T*H, saved->c + T*H. b_ih, b_hh may be NULL. */
void sn_lstm_forward_train(float *out, lstm_saved *saved, const float *in,
                        const float *w_ih, const float *w_hh,
                        const float *b_ih, const float *b_hh,
                        const float *h0, const float *c0, int C, int H, int T);

/* Scratch for sn_lstm_backward, in floats. */
size_t sn_lstm_backward_scratch_floats(int H);

/* LSTM layer backward through all T steps (backprop through time).
 * Gradients (each may be NULL, all accumulate):
 *   din [C][T], dw_ih [4H][C], dw_hh [4H][H], db_ih [4H], db_hh [4H],
 *   dh0 [H], dc0 [H]  (gradient w.r.t. the initial state, for chunked training)
 * Inputs: dout [H][T] (may be NULL: only the final state matters),
 *   dh_last [H], dc_last [H]: gradient arriving at the final state (may be NULL),
 *   saved: from sn_lstm_forward_train on the same in and weights.
 * scratch: sn_lstm_backward_scratch_floats(H) floats, not NULL. */
void sn_lstm_backward(float *din, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                   float *dh0, float *dc0,
                   const float *dout, const float *dh_last, const float *dc_last,
                   const lstm_saved *saved, const float *in,
                   const float *w_ih, const float *w_hh,
                   int C, int H, int T, float *scratch);

#ifdef SONO_REF_KERNELS
#define sn_conv1d_backward sn_conv1d_backward_ref
#define sn_convtr1d_backward sn_convtr1d_backward_ref
#endif

#endif
