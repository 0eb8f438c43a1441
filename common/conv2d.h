/* 2-D convolution, forward and backward, with plain reference twins (the
 * layer of the multi-scale STFT discriminator, codec/train/disc.c). In the
 * training-common library: only training uses a 2-D conv today.
 *
 *   conv2d_shape s = {C_in, C_out, H, W, 3, 9, 1, 2, 1, 1, 1, 4};
 *   float *scr = malloc(sn_conv2d_scratch_floats(&s) * sizeof(float));
 *   sn_conv2d_forward(out, in, w, b, &s, scr);
 *   sn_conv2d_backward(din, dw, db, dout, in, w, &s, scr);
 *
 * Conventions as kernels_grad.h: backwards accumulate, NULL gradients are
 * skipped, scratch is the caller's; the kernel level is sono_cpu_level()'s. */
#ifndef SONO_CONV2D_H
#define SONO_CONV2D_H

#include <stddef.h>

/* conv2d over in [C_in][H][W] (W contiguous; in the discriminator W = frequency), zero
 * padding (ph, pw) on both sides, w [C_out][C_in][kh][kw], b [C_out] (may be
 * NULL), out [C_out][H_out][W_out] with H_out = conv2d_out_len(H, kh, sh, dh, ph). */
typedef struct {
    int C_in, C_out, H, W;
    int kh, kw, sh, sw, dh, dw, ph, pw;
} conv2d_shape;

static inline int conv2d_out_len(int n, int k, int stride, int dil, int pad) {
    int eff = (k - 1) * dil + 1;
    return n + 2 * pad < eff ? 0 : (n + 2 * pad - eff) / stride + 1;
}

/* Scratch floats the fast forward and backward need (im2col columns). */
size_t sn_conv2d_scratch_floats(const conv2d_shape *s);

/* Fast and plain reference twins, same signatures; the reference ignores
 * scratch (may be NULL). The fast one, single-threaded: when sh == 1 and
 * dw == 1 (every conv of the discriminator) the zero-padded input is read row-flattened
 * (and split by column phase when sw > 1), so every tap is a fixed offset
 * along one long signal; on CPUs with AVX-512 that runs through direct
 * register-blocked kernels for the forward, input and weight gradients (no
 * im2col, no BLAS). Without AVX-512: each kernel row is one long conv1d
 * (forward) or transposed conv1d (input gradient) through kernels.c and the
 * weight gradient is im2col + cblas_sgemm; other strides and dilations:
 * im2col + cblas_sgemm. */
void sn_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                       const conv2d_shape *s, float *scratch);
void sn_conv2d_forward_ref(float *out, const float *in, const float *w, const float *b,
                           const conv2d_shape *s, float *scratch);
/* din [C_in][H][W], dw [C_out][C_in][kh][kw], db [C_out]: each may be NULL,
 * each ACCUMULATES. dout [C_out][H_out][W_out]; in, w as in the forward.
 * sn_conv2d_backward_fresh writes din instead (bit for bit what a zeroed din
 * accumulates), sparing the caller a clear and the kernels a pass. */
void sn_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, const conv2d_shape *s, float *scratch);
void sn_conv2d_backward_fresh(float *din, float *dw, float *db, const float *dout,
                              const float *in, const float *w, const conv2d_shape *s, float *scratch);
void sn_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, const conv2d_shape *s, float *scratch);

#endif
