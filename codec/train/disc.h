/* EnCodec's multi-scale STFT discriminator (MS-STFTD), forward and backward,
 * with its hinge and feature-matching losses, for adversarial training.
 *
 *   disc *d = sn_disc_new(1, 32, B, T, &err);          // mono, 32 filters
 *   sn_disc_init_params(d, 1234);
 *   // discriminator step
 *   sn_disc_zero_grad(d);
 *   double ld = sn_disc_loss_d(d, x, y);                // x real, y fake [B][C][T]
 *   ... sn_adamw_step(&opt, sn_disc_params(d), sn_disc_grads(d), lr) ...
 *   // generator step (disc parameters and grads untouched)
 *   double adv, feat;
 *   sn_disc_loss_g(d, x, y, 4.0f, 4.0f, dy, &adv, &feat);   // dy [B][C][T] +=
 *   sn_disc_free(d);
 *
 * Structure (audiocraft adversarial/discriminators/msstftd.py, DiscriminatorSTFT),
 * per scale s with n_fft N, hop N/4, window N (periodic Hann), F filters:
 *   z     = Spectrogram(normalized=True, center=False, power=None)(x),
 *           channels [re(ch 0..C-1), im(ch 0..C-1)], layout [2C][frames][N/2+1]
 *           (time rows, frequency contiguous)
 *   convs.0  Conv2d(2C -> F, (3,9), pad (1,4))                 + LeakyReLU
 *   convs.i  Conv2d(F -> F, (3,9), stride (1,2), dil (d,1), pad (d,4)),
 *            d = 1, 2, 4 for i = 1, 2, 3                      + LeakyReLU
 *   convs.4  Conv2d(F -> F, (3,3), pad (1,1))                  + LeakyReLU
 *   conv_post Conv2d(F -> 1, (3,3), pad (1,1))                 -> logits
 * Feature maps: the 5 LeakyReLU outputs of convs.0..4 (as audiocraft's fmap).
 * Weight norm (dim 0) on convs.1..4 and conv_post; convs.0 is a plain conv:
 * audiocraft builds it with NormConv2d's default norm='none' (the `norm`
 * argument is not passed to it). Default scales: n_fft 1024, 2048, 512, 256,
 * 128 (audiocraft's EnCodec config). LeakyReLU slope: 0.2 by default (the
 * module's default; audiocraft's compression config sets 0.3, see disc_config).
 *
 * Losses (audiocraft adversarial/losses.py, AdversarialLoss with normalize=True:
 * the per-scale losses are SUMMED then divided by the number of scales, i.e.
 * averaged over scales; every "mean" is over the whole tensor, batch included):
 *   L_d  = mean_s [ mean relu(1 - D_s(x)) + mean relu(1 + D_s(y)) ]
 *          (hinge_real_loss + hinge_fake_loss)
 *   adv  = mean_s mean relu(1 - D_s(y))        (DISC_GEN_HINGE2, default: EnCodec
 *          paper eq. and audiocraft's 'hinge2'), or
 *        = mean_s -mean D_s(y)                 (DISC_GEN_HINGE: audiocraft's 'hinge',
 *          which its compression config selects)
 *   feat = mean_s mean_l mean|f_sl(x) - f_sl(y)| / mean|f_sl(x)|   (feat_relative = 1,
 *          default: EnCodec paper eq. 4. audiocraft's FeatureMatchingLoss computes
 *          this denominator (feat_scale) but does not use it; feat_relative = 0
 *          gives its value, mean_s mean_l mean|f(x) - f(y)|.)
 *          The denominator is floored at 1e-8 and treated as a constant of y.
 * Gradients at the hinge and L1 kinks: 0 (relu'(0) = 0, sign(0) = 0).
 *
 * Memory: parameters in one flat buffer with a same-shaped gradient buffer
 * and a name table; all activations and scratch are sized in sn_disc_new from
 * (config, B, T): the loss calls allocate nothing and run on the calling
 * thread (common/conv2d.c: on CPUs with AVX-512 its direct kernels; else
 * kernels.c's conv1d/convtr1d with n_threads = 1 and cblas_sgemm for the
 * weight gradients: a caller running several discs in an OpenMP region
 * should give OpenBLAS one thread, sn_kern_set_threads(1)). A disc is used by one
 * thread at a time; different discs may run in parallel. Each call runs crop
 * by crop and scale by scale, so only one (crop, scale)'s activations are
 * alive, plus the real crops' feature maps at one scale in sn_disc_loss_g. */
#ifndef SONO_DISC_H
#define SONO_DISC_H

#include <stddef.h>
#include <stdint.h>
#include "conv2d.h"
#include "train_graph.h"

#define DISC_MAX_SCALES 8
#define DISC_N_CONVS 5   /* convs.0..4; conv_post comes after */
#define DISC_N_FMAPS 5

enum { DISC_GEN_HINGE2 = 0, DISC_GEN_HINGE = 1 };

typedef struct {
    int channels;                  /* audio channels C (1) */
    int filters;                   /* F, width of every conv (32) */
    int n_scales;                  /* 1..DISC_MAX_SCALES (5) */
    int n_fft[DISC_MAX_SCALES];    /* powers of two (1024, 2048, 512, 256, 128); window = n_fft */
    int hop[DISC_MAX_SCALES];      /* samples (n_fft / 4) */
    float slope;                   /* LeakyReLU negative slope (0.2) */
    int gen_loss;                  /* DISC_GEN_HINGE2 (default) or DISC_GEN_HINGE */
    int feat_relative;             /* 1: divide each fmap's L1 by mean|f(x)| (default) */
} disc_config;

/* The EnCodec configuration above for `channels` and `filters`. */
disc_config sn_disc_default_config(int channels, int filters);

typedef struct disc disc;

/* MS-STFT discriminator for batches of B crops of T samples, `channels` audio
 * channels, `filters` base width (32). Default config. Parameters start at
 * zero. NULL on failure with *err set (SONO_E_ARG, SONO_E_NOMEM; T must be
 * at least the largest n_fft). */
disc *sn_disc_new(int channels, int filters, int B, int T, int *err);
disc *sn_disc_new_config(const disc_config *cfg, int B, int T, int *err);
void sn_disc_free(disc *d);   /* NULL: no-op */
const disc_config *sn_disc_get_config(const disc *d);
/* Switch the generator's loss forms (disc_config.gen_loss, .feat_relative). */
void sn_disc_set_loss_forms(disc *d, int gen_loss, int feat_relative);

/* Parameter table in the order of the flat buffers. Names:
 *   disc.S.convs.0.weight, disc.S.convs.0.bias,
 *   disc.S.convs.I.bias, .weight_g, .weight_v   (I = 1..4),
 *   disc.S.conv_post.bias, .weight_g, .weight_v
 * (audiocraft's names are adversary.discriminators.S.convs.I.conv.*). The
 * table's shape holds 3 dims, so 4-D conv kernels are listed as
 * [C_out][C_in][kh*kw] and weight_g as [C_out][1][1]; sn_disc_param_shape4 gives
 * PyTorch's 4-D shapes ([C_out][C_in][kh][kw], weight_g [C_out][1][1][1]). */
const train_param *sn_disc_param_table(const disc *d, int *n_params);
int sn_disc_param_shape4(const disc *d, int i, int64_t shape[4]);   /* returns ndim */
float *sn_disc_params(disc *d);
float *sn_disc_grads(disc *d);
size_t sn_disc_n_floats(const disc *d);

/* PyTorch's default Conv2d init (weight kaiming_uniform(a=sqrt(5)), i.e.
 * U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in)), fan_in = C_in*kh*kw), then
 * weight norm: v = weight, g = ||v|| per output channel. Deterministic in
 * seed (its own generator: not PyTorch's random stream). */
void sn_disc_init_params(disc *d, uint64_t seed);
void sn_disc_zero_grad(disc *d);

/* Discriminator step on real x and fake y, both [B][channels][T]:
 * grads += dL_d/dparams. Returns L_d. */
double sn_disc_loss_d(disc *d, const float *x, const float *y);

/* on: sn_disc_loss_g keeps every forward pass it runs (real crops with their
 * logits), and the sn_disc_loss_d that follows reuses them instead of running
 * them again when x, y and the parameters are unchanged (checked by
 * comparing copies, so a mismatch just runs the forward passes): the same
 * result, bit for bit, for about a fifth less discriminator work. Costs
 * B * 2 * sum over scales of (spectrogram + activations) floats (~130 MB at
 * 8 filters, B 4, T 24000). off: frees that. SONO_E_NOMEM, SONO_E_LIMIT. */
int sn_disc_keep_forward(disc *d, int on);
/* 1 when the last sn_disc_loss_d reused kept forward passes (tests, benches). */
int sn_disc_last_reused(const disc *d);

/* Generator side: adv and feat as above (either pointer may be NULL);
 * dy [B][channels][T] += w_adv * d adv/dy + w_feat * d feat/dy (dy may be NULL:
 * losses only). Parameters and their gradients are not touched. */
void sn_disc_loss_g(disc *d, const float *x, const float *y, float w_adv, float w_feat,
                 float *dy, double *adv, double *feat);

/* ---- layers (exposed for tests; the convs are common/conv2d.h's) -------- */

/* LeakyReLU: out[i] = in[i] > 0 ? in[i] : slope * in[i] (out may equal in).
 * Backward from the OUTPUT (valid for slope > 0): din[i] += dout[i] * (out[i] > 0 ? 1 : slope). */
void sn_disc_lrelu_forward(float *out, const float *in, size_t n, float slope);
void sn_disc_lrelu_backward(float *din, const float *dout, const float *out, size_t n, float slope);

/* ---- pieces shared with the multi-period discriminator (mpd.c) ---------- */

/* The feature-loss sign term and the LeakyReLU backward, in place, from the
 * layer's output f: g[k] = (g[k] + cf * sign(f[k] - fx[k])) * (f[k] > 0 ? 1 : slope);
 * fx may be NULL (no sign term; cf unused). */
void sn_disc_lrelu_feat_backward(float *g, const float *f, const float *fx, float cf, size_t n, float slope);
/* sum |a[k]| (b NULL) or sum |a[k] - b[k]|, in double. */
double sn_disc_sum_abs(const float *a, const float *b, size_t n);
/* PyTorch's default conv init of one layer (see sn_disc_init_params) from
 * the generator *st: w [rows][inner], b [rows], then g [rows] = ||w row||
 * when g is not NULL (weight norm). */
void sn_disc_conv_init(float *w, float *b, float *g, int rows, int inner, uint64_t *st);
/* Hinge losses on n logits lg, each element's term added to *sum in turn:
 * discriminator relu(1 - lg) (fake 0) or relu(1 + lg) (fake 1), dl[k] = its
 * derivative times scale; generator (DISC_GEN_HINGE2) relu(1 - lg) or
 * (DISC_GEN_HINGE) -lg, dl[k] = its derivative times gscale. */
void sn_disc_hinge_d(const float *lg, float *dl, size_t n, int fake, float scale, double *sum);
void sn_disc_hinge_g(const float *lg, float *dl, size_t n, int gen_loss, float gscale, double *sum);

#endif
