/* Float32 kernels for the codec (and later the LM), laid out for OpenBLAS.
 *
 * Layout conventions (all row-major, PyTorch order):
 *   activations  [C][T]            channel-major, time contiguous
 *   conv1d w     [C_out][C_in][K]
 *   convtr1d w   [C_in][C_out][K]
 *   lstm w_ih    [4H][C], w_hh [4H][H], biases [4H], gate order i, f, g, o
 *   linear w     [OC][IC], in [N][IC], out [N][OC]
 *
 * Every fast kernel has a plain reference twin with the same signature and a
 * `_ref` suffix (kernels_ref.c). Building with -Dref_kernels=true maps the fast
 * names onto the reference ones, so the whole codec runs on plain loops.
 *
 * Scratch: kernels that need temporary memory take a caller-owned `scratch`
 * buffer of at least the size the matching *_scratch_floats() function gives,
 * so nothing is allocated on the hot path. Reference kernels ignore it (may be NULL).
 * n_threads: threads for our own loops (OpenMP); OpenBLAS threads are set once
 * with sn_kern_set_threads(). */
#ifndef SONO_KERNELS_H
#define SONO_KERNELS_H

#include <stddef.h>

/* Set OpenBLAS's thread count (process-wide) and return the previous one. */
int sn_kern_set_threads(int n_threads);

/* Output length of a conv over an already padded input. */
static inline int conv1d_out_len(int T_in, int K, int stride, int dil) {
    int eff = (K - 1) * dil + 1;
    return T_in < eff ? 0 : (T_in - eff) / stride + 1;
}

/* conv1d, no padding (the caller pads). in [C_in][T_in], out [C_out][T_out],
 * T_out = conv1d_out_len(T_in, K, stride, dil); b may be NULL. */
size_t sn_conv1d_scratch_floats(int C_in, int K, int T_out);
void sn_conv1d_forward(float *out, const float *in, const float *w, const float *b,
                    int C_in, int C_out, int T_in, int K, int stride, int dil,
                    float *scratch, int n_threads);
void sn_conv1d_forward_ref(float *out, const float *in, const float *w, const float *b,
                        int C_in, int C_out, int T_in, int K, int stride, int dil,
                        float *scratch, int n_threads);

/* Transposed conv1d, no padding and no trimming: in [C_in][T_in],
 * out [C_out][(T_in - 1) * stride + K] (the caller trims). b may be NULL. */
size_t sn_convtr1d_scratch_floats(int C_out, int K, int T_in);
void sn_convtr1d_forward(float *out, const float *in, const float *w, const float *b,
                      int C_in, int C_out, int T_in, int K, int stride,
                      float *scratch, int n_threads);
void sn_convtr1d_forward_ref(float *out, const float *in, const float *w, const float *b,
                          int C_in, int C_out, int T_in, int K, int stride,
                          float *scratch, int n_threads);

/* One unidirectional LSTM layer over T steps. in [C][T], out [H][T].
 * h [H], c [H]: state in, updated in place (zeros for a fresh start).
 * b_ih, b_hh may be NULL. out may not alias in. */
size_t sn_lstm_scratch_floats(int C, int H, int T);
void sn_lstm_forward(float *out, const float *in, const float *w_ih, const float *w_hh,
                  const float *b_ih, const float *b_hh, float *h, float *c,
                  int C, int H, int T, float *scratch, int n_threads);
void sn_lstm_forward_ref(float *out, const float *in, const float *w_ih, const float *w_hh,
                      const float *b_ih, const float *b_hh, float *h, float *c,
                      int C, int H, int T, float *scratch, int n_threads);

/* One step of the plain LSTM for all H units (kernels_ref.c), shared by
 * sn_lstm_forward_ref and the training forward: pre-activations summed in double
 * from input column t of in [C][T] and h_prev [H]; writes c_new [H] (may equal
 * c_prev), h_new[j * h_stride] (must not alias h_prev) and, when gates is not
 * NULL, the activated gates i, f, g, o [4H]. */
void sn_lstm_step_ref(float *h_new, ptrdiff_t h_stride, float *c_new, float *gates, const float *in, int t, int T,
                   const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                   const float *h_prev, const float *c_prev, int C, int H);

/* ELU (alpha), elementwise, out may equal in. */
void sn_elu_forward(float *out, const float *in, size_t n, float alpha, int n_threads);
void sn_elu_forward_ref(float *out, const float *in, size_t n, float alpha, int n_threads);

/* GroupNorm with one group over in [C][T] (PyTorch nn.GroupNorm(1, C)):
 * normalise by the mean/variance of all C*T values (biased variance, eps),
 * then per-channel affine gamma[C], beta[C] (either may be NULL). out may equal in. */
void sn_groupnorm1_forward(float *out, const float *in, const float *gamma, const float *beta,
                        int C, int T, float eps, int n_threads);
void sn_groupnorm1_forward_ref(float *out, const float *in, const float *gamma, const float *beta,
                            int C, int T, float eps, int n_threads);

/* Mean and 1/sqrt(biased variance + eps) of in [n], summed in double: the
 * statistics of sn_groupnorm1_forward_ref, shared with its backward. */
void sn_groupnorm1_stats_ref(const float *in, size_t n, float eps, double *mean, double *rstd);

/* Linear: in [N][IC], w [OC][IC], b [OC] or NULL, out [N][OC]. */
void sn_linear_forward(float *out, const float *in, const float *w, const float *b,
                    int N, int IC, int OC, int n_threads);
void sn_linear_forward_ref(float *out, const float *in, const float *w, const float *b,
                        int N, int IC, int OC, int n_threads);

#ifdef SONO_REF_KERNELS
#define sn_conv1d_forward sn_conv1d_forward_ref
#define sn_convtr1d_forward sn_convtr1d_forward_ref
#define sn_lstm_forward sn_lstm_forward_ref
#define sn_elu_forward sn_elu_forward_ref
#define sn_groupnorm1_forward sn_groupnorm1_forward_ref
#define sn_linear_forward sn_linear_forward_ref
#endif

#endif
