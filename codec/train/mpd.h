/* HiFi-GAN's multi-period discriminator (MPD), forward and backward, with the
 * same hinge and feature-matching losses as the MS-STFT discriminator
 * (disc.h), for adversarial training (the trainer's mpd_filters, beside
 * the MS-STFT discriminator).
 *
 *   mpd *m = sn_mpd_new(1, 4, B, T, &err);        // mono, widths 4/16/64/128/128
 *   sn_mpd_init_params(m, 1234);
 *   sn_mpd_zero_grad(m);
 *   double ld = sn_mpd_loss_d(m, x, y);           // x real, y fake [B][C][T]
 *   double adv, feat;
 *   sn_mpd_loss_g(m, x, y, 1.0f, 2.0f, dy, &adv, &feat);   // dy [B][C][T] +=
 *   sn_mpd_free(m);
 *
 * Structure (HiFi-GAN models.py DiscriminatorP; audiocraft
 * adversarial/discriminators/mpd.py PeriodDiscriminator), per period p:
 *   x [C][T] right-padded by reflection (F.pad 'reflect': x[T-1+k] = x[T-1-k])
 *   to Tp, the next multiple of p, viewed as [C][Tp/p][p] (time rows, period
 *   columns);
 *   convs.i   Conv2d(ch[i-1] -> ch[i], (5,1), stride (3,1), pad (2,0)), i = 0..3
 *   convs.4   Conv2d(ch[3] -> ch[4], (5,1), stride 1, pad (2,0))
 *             each followed by LeakyReLU(slope)
 *   conv_post Conv2d(ch[4] -> 1, (3,1), pad (1,0))               -> logits
 * ch[-1] = C; default widths filters * (1, 4, 16, 32, 32): HiFi-GAN's 32, 128,
 * 512, 1024, 1024 at filters 32. Weight norm (dim 0) on every conv.
 * Feature maps: the 5 LeakyReLU outputs and the logits (as HiFi-GAN's and
 * audiocraft's fmap). Default periods 2, 3, 5, 7, 11; slope 0.1 (HiFi-GAN's
 * LRELU_SLOPE; audiocraft's module default is 0.2).
 *
 * Internally each period's map is held transposed, [C][p][Tp/p] (time
 * contiguous), and every conv is common/conv2d.c's with kernel (1,5), stride
 * (1,3), pad (0,2): the same arithmetic (kw = 1 in PyTorch's layout), and the
 * layout conv2d's row-flattened fast path takes. The weights' memory order is
 * PyTorch's, [C_out][C_in][5][1].
 *
 * Losses: as disc.h's, with the periods in place of the scales and 6 feature
 * maps per period:
 *   L_d  = mean_p [ mean relu(1 - D_p(x)) + mean relu(1 + D_p(y)) ]
 *   adv  = mean_p mean relu(1 - D_p(y))   (DISC_GEN_HINGE2)  or  mean_p -mean D_p(y)
 *   feat = mean_p mean_l mean|f_pl(x) - f_pl(y)| / mean|f_pl(x)|   (feat_relative)
 *
 * Memory and threads: as disc.h: flat parameters and gradients, everything
 * sized in sn_mpd_new, loss calls allocate nothing and run on the calling
 * thread, crop by crop and period by period; one mpd per thread. There is
 * no keep-forward option (yet). */
#ifndef SONO_MPD_H
#define SONO_MPD_H

#include <stddef.h>
#include <stdint.h>
#include "conv2d.h"
#include "disc.h"
#include "train_graph.h"

#define MPD_MAX_PERIODS 8
#define MPD_N_CONVS 5    /* convs.0..4; conv_post comes after */
#define MPD_N_FMAPS 6    /* the 5 LeakyReLU outputs and the logits */

typedef struct {
    int channels;                   /* audio channels C (1) */
    int n_periods;                  /* 1..MPD_MAX_PERIODS (5) */
    int periods[MPD_MAX_PERIODS];   /* >= 1 (2, 3, 5, 7, 11) */
    int width[MPD_N_CONVS];         /* output channels of convs.0..4 */
    int kernel, stride;             /* convs' kernel height and stride (5, 3; convs.4 has stride 1) */
    int post_kernel;                /* conv_post's kernel height (3) */
    float slope;                    /* LeakyReLU negative slope (0.1) */
    int gen_loss;                   /* DISC_GEN_HINGE2 (default) or DISC_GEN_HINGE */
    int feat_relative;              /* 1: divide each fmap's L1 by mean|f(x)| (default) */
} mpd_config;

/* The configuration above: widths filters * (1, 4, 16, 32, 32). */
mpd_config sn_mpd_default_config(int channels, int filters);

typedef struct mpd mpd;

/* For batches of B crops of T samples. Parameters start at zero. NULL on
 * failure with *err set (SONO_E_ARG: T below a period, odd kernels, ...;
 * SONO_E_NOMEM, SONO_E_LIMIT). */
mpd *sn_mpd_new(int channels, int filters, int B, int T, int *err);
mpd *sn_mpd_new_config(const mpd_config *cfg, int B, int T, int *err);
void sn_mpd_free(mpd *m);   /* NULL: no-op */
const mpd_config *sn_mpd_get_config(const mpd *m);
void sn_mpd_set_loss_forms(mpd *m, int gen_loss, int feat_relative);

/* Parameter table in the order of the flat buffers. Names, per period index
 * P (0-based, in cfg.periods order):
 *   mpd.P.convs.I.bias, .weight_g, .weight_v   (I = 0..4)
 *   mpd.P.conv_post.bias, .weight_g, .weight_v
 * (HiFi-GAN's names are mpd.discriminators.P.convs.I.*). Kernels are listed
 * as [C_out][C_in][k] and weight_g as [C_out][1][1]; sn_mpd_param_shape4
 * gives PyTorch's 4-D shapes ([C_out][C_in][k][1], [C_out][1][1][1]). */
const train_param *sn_mpd_param_table(const mpd *m, int *n_params);
int sn_mpd_param_shape4(const mpd *m, int i, int64_t shape[4]);   /* returns ndim */
float *sn_mpd_params(mpd *m);
float *sn_mpd_grads(mpd *m);
size_t sn_mpd_n_floats(const mpd *m);

/* As sn_disc_init_params: PyTorch's default Conv2d init, then weight norm. */
void sn_mpd_init_params(mpd *m, uint64_t seed);
void sn_mpd_zero_grad(mpd *m);

/* Discriminator step: grads += dL_d/dparams. Returns L_d. */
double sn_mpd_loss_d(mpd *m, const float *x, const float *y);
/* Generator side: adv, feat (either may be NULL); dy [B][C][T] += w_adv *
 * d adv/dy + w_feat * d feat/dy (dy may be NULL). Parameters and their
 * gradients are not touched. */
void sn_mpd_loss_g(mpd *m, const float *x, const float *y, float w_adv, float w_feat, float *dy, double *adv,
                   double *feat);

/* Tests: on, the convs run common/conv2d.c's plain reference kernels. */
void sn_mpd_use_ref_kernels(mpd *m, int on);

#endif
