/* Codec internals shared by codec_config.c, codec_load.c, seanet.c,
 * seanet_arch.c, vocos.c, rvq.c and codec.c: the configuration, the weights (one
 * block, folded weight norm), the architecture walk and the streaming SEANet
 * graph. Not installed. */
#ifndef SONO_CODEC_INTERNAL_H
#define SONO_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/codec.h"

#define CODEC_MAX_RATIOS 8
#define CODEC_MAX_BW 16

enum { NORM_NONE = 0, NORM_WEIGHT = 1, NORM_TIME_GROUP = 2 };
enum { PAD_REFLECT = 0, PAD_ZERO = 1 };
/* The decoder: EnCodec's SEANet (mirror of the encoder), or a Vocos-style head
 * (ConvNeXt blocks at the frame rate predicting STFT magnitude and phase,
 * then an inverse STFT with hop = the codec's hop). */
enum { DECODER_SEANET = 0, DECODER_VOCOS = 1 };

/* Architecture and behaviour. Field names follow EnCodec's SEANet arguments. */
typedef struct {
    char name[SONO_MODEL_NAME_MAX];
    int sample_rate;          /* Hz */
    int channels;             /* audio channels */
    int causal;               /* 1: causal padding and trimming */
    int norm;                 /* NORM_* */
    int pad_mode;             /* PAD_* */
    int n_filters;            /* base width (32) */
    int dimension;            /* latent dimension (128) */
    int n_ratios;
    int ratios[CODEC_MAX_RATIOS]; /* decoder order, e.g. 8 5 4 2; the encoder uses them reversed */
    int kernel_size, last_kernel_size, residual_kernel_size;
    int n_residual_layers, dilation_base, compress;
    int lstm_layers;          /* 0: no LSTM */
    int true_skip;            /* 1: identity shortcut, 0: 1x1 conv */
    double trim_right_ratio;  /* causal transposed-conv trimming split (1.0: all right) */
    int codebook_size;        /* bins */
    int n_q;                  /* codebooks in the model */
    int n_bandwidths;
    double bandwidths[CODEC_MAX_BW]; /* kbps, ascending */
    int normalize;            /* per-segment RMS scale */
    double segment;           /* seconds, 0: whole signal in one segment */
    double overlap;           /* fraction of a segment */
    int decoder;              /* DECODER_*; the encoder is always SEANet */
    int vocos_dim;            /* DECODER_VOCOS: ConvNeXt width (384) */
    int vocos_intermediate;   /* pointwise hidden width (1152) */
    int vocos_layers;         /* ConvNeXt blocks (8) */
    int vocos_kernel;         /* depthwise and embedding conv kernel, odd (7) */
    int vocos_n_fft;          /* inverse STFT size = window length, even, >= hop (4 x hop) */
} codec_config;

/* Find a file by its exact name in the models folders, in the order
 * sono_codec_resolve looks (coder models: NAME.coder). 0 with the path in
 * out, or SONO_E_NOT_FOUND naming the folders. */
int sn_models_find(const char *file, char *out, size_t n);

/* Presets. Return 0 or SONO_E_NOT_FOUND. */
int sn_codec_config_preset(const char *name, codec_config *cfg);
/* Parse our JSON config (the native format's __metadata__["config"]). */
int sn_codec_config_from_json(const char *json, codec_config *cfg);
/* Set the fields a JSON object names (others keep their values), without
 * checking the result: 0 or SONO_E_FORMAT for a bad value. */
int sn_codec_config_apply_json(const char *json, codec_config *cfg);
/* Hugging Face config.json (EncodecConfig). */
int sn_codec_config_from_hf_json(const char *json, codec_config *cfg);
/* Serialise to JSON (malloc'd). */
char *sn_codec_config_to_json(const codec_config *cfg);
/* Check internal consistency; 0 or SONO_E_FORMAT with detail. */
int sn_codec_config_check(const codec_config *cfg);
int sn_codec_config_hop(const codec_config *cfg);
int sn_codec_config_frame_rate(const codec_config *cfg); /* ceil(sample_rate / hop), as EnCodec */
int64_t sn_codec_config_segment_length(const codec_config *cfg); /* samples, 0 when unsegmented */
int64_t sn_codec_config_segment_stride(const codec_config *cfg);
/* The layout a .ecdc of this codec has (tokdata.h). */
struct ecdc_layout;
void sn_codec_config_ecdc_layout(const codec_config *cfg, struct ecdc_layout *g);

/* ---- weights ---- */

typedef struct {
    int C_in, C_out, K, stride, dil;
    const float *w;     /* conv: [C_out][C_in][K]; convtr: [C_in][C_out][K] */
    const float *b;     /* [C_out] or NULL */
    const float *gn_w;  /* GroupNorm affine [C_out] (NORM_TIME_GROUP) or NULL */
    const float *gn_b;
} conv_w;

typedef struct {
    conv_w block1;      /* dim -> hidden, residual_kernel_size, dilation */
    conv_w block2;      /* hidden -> dim, k1 */
    conv_w shortcut;    /* dim -> dim, k1; unused when true_skip */
} res_w;

typedef struct {
    int C;
    const float *w_ih[4], *w_hh[4], *b_ih[4], *b_hh[4]; /* per layer */
} lstm_w;

/* One SEANet stack: encoder or decoder. */
typedef struct {
    conv_w first;                                     /* first conv */
    res_w res[CODEC_MAX_RATIOS][4];                   /* [ratio][residual layer] */
    conv_w updown[CODEC_MAX_RATIOS];                  /* strided conv (enc) / convtr (dec) */
    lstm_w lstm;
    conv_w last;
} seanet_w;

/* The Vocos head's weights (DECODER_VOCOS; notes/vocos_spec.md), PyTorch
 * layouts: embed [dim][D][K], dwconv [dim][1][K], pwconv1 [inter][dim],
 * pwconv2 [dim][inter], out [N+2][dim], norms and gamma [dim]. */
#define VOCOS_MAX_LAYERS 64
/* The head's numerics, shared by inference (vocos.c) and training
 * (train/vocos_train.c): LayerNorm epsilon, and the cap on the predicted
 * log-magnitude before exp (magnitude at most 1e3). */
#define VOCOS_LN_EPS 1e-6f
#define VOCOS_MAG_LOG_MAX 6.907755278982137 /* log(1e3) */
typedef struct {
    const float *dw_w, *dw_b, *norm_w, *norm_b, *pw1_w, *pw1_b, *pw2_w, *pw2_b, *gamma;
} vocos_block_w;

typedef struct {
    const float *embed_w, *embed_b, *norm_w, *norm_b;
    vocos_block_w blk[VOCOS_MAX_LAYERS];
    const float *final_w, *final_b, *out_w, *out_b;
} vocos_w;

/* ---- the architecture walk (seanet_arch.c) ----
 * One SEANet stack of a config as EnCodec's modules, in order: the one
 * description of the architecture that the loader, the streaming graph, the
 * MAC count and the training graph iterate. A residual block comes as
 * RES_BEGIN, ELU, CONV block.1, ELU, CONV block.3, [CONV shortcut], RES_END
 * (the shortcut runs on the block's input; the outputs are added). */
enum { SEANET_CONV, SEANET_CONVTR, SEANET_ELU, SEANET_LSTM, SEANET_RES_BEGIN, SEANET_RES_END };
/* which conv of a seanet_w a conv is (sn_seanet_conv_slot) */
enum { SEANET_ROLE_NONE, SEANET_FIRST, SEANET_RES_BLOCK1, SEANET_RES_BLOCK2, SEANET_RES_SHORTCUT, SEANET_UPDOWN,
       SEANET_LAST };
#define SEANET_NAME_MAX 64

typedef struct {
    int kind;                /* SEANET_CONV .. SEANET_RES_END */
    int role;                /* SEANET_FIRST ..; SEANET_ROLE_NONE for all but convs */
    int decoder;             /* 0 encoder, 1 decoder */
    int i, j;                /* ratio index and residual layer of the latest ratio / block */
    int C_in, C_out;         /* channels (equal for ELU, LSTM and the RES_ marks) */
    int K, stride, dil;      /* convs; a RES_ mark carries the block's dilation */
    char module[SEANET_NAME_MAX];      /* "encoder.model.3", "encoder.model.1.block.1" */
    char param[SEANET_NAME_MAX + 16];  /* parameter prefix: MODULE.conv.conv, .convtr.convtr, .lstm */
    char norm[SEANET_NAME_MAX + 16];   /* GroupNorm prefix of a conv: MODULE.conv.norm, .convtr.norm */
} seanet_layer;

/* Called for every layer in order; a non-zero return stops the walk and is
 * returned by sn_seanet_walk. The layer is valid during the call only. */
typedef int (*seanet_layer_fn)(const seanet_layer *l, void *user);
int sn_seanet_walk(const codec_config *cfg, int decoder, seanet_layer_fn fn, void *user);

/* The conv_w of s that conv layer l fills (NULL for other layers). */
conv_w *sn_seanet_conv_slot(const seanet_w *s, const seanet_layer *l);

/* LSTM parameter k (0 weight_ih, 1 weight_hh, 2 bias_ih, 3 bias_hh) of layer
 * `layer` over C channels: its name suffix (".weight_ih_l0") and shape
 * ([4C][C] or [4C]); returns the number of dimensions. */
int sn_seanet_lstm_param(int layer, int k, int C, char *suffix, size_t n, int64_t shape[2]);

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[3];
    const float *data;
} codec_param;

struct sono_tensors;

struct sono_codec {
    codec_config cfg;
    seanet_w enc, dec;        /* dec: DECODER_SEANET only */
    vocos_w voc;              /* DECODER_VOCOS only */
    const float **codebook;   /* [n_q] pointers to [codebook_size][dimension] */
    float *codebook_sqnorm;   /* [n_q][codebook_size] |e|^2 */
    struct sono_tensors *ts;  /* the loaded tensors (one block): every weight points into it */
    codec_param *params;      /* n_params, canonical order */
    int n_params;
    uint8_t hash[16];         /* config + every tensor (sono_codec_hash) */
    uint8_t codes_hash[16];   /* config + encoder and quantizer tensors (sono_codec_codes_hash) */
    int n_threads;
};


/* Build a codec from a tensor set (any spelling) and a config. On success
 * the codec owns ts (weight norm is folded in place, weights point into it);
 * on failure ts is still the caller's. */
int sn_codec_from_tensors(struct sono_tensors *ts, const codec_config *cfg, sono_codec **out);

/* ---- streaming SEANet ---- */
typedef struct seanet_run seanet_run;
/* which: 0 encoder (audio -> latents), 1 decoder (latents -> audio; a
 * DECODER_VOCOS codec's decoder run is a vocos_run underneath). */
seanet_run *sn_seanet_run_new(const sono_codec *c, int which, int *err);
/* Push n samples ([C_in][n], planar). last: no input follows. Output is
 * [C_out][*n_out] in a buffer owned by the run, valid until the next call. */
int sn_seanet_run_push(seanet_run *r, const float *in, int64_t n, int last,
                    const float **out, int64_t *n_out);
void sn_seanet_run_reset(seanet_run *r);
void sn_seanet_run_free(seanet_run *r);

/* ---- the Vocos head, streaming (vocos.c) ----
 * The same contract as the SEANet decoder run: latents [D][n] in, audio
 * [1][*n_out] out as soon as it is final, in a buffer owned by the run. */
typedef struct vocos_run vocos_run;
vocos_run *sn_vocos_run_new(const sono_codec *c, int *err);
int sn_vocos_run_push(vocos_run *r, const float *latents, int64_t n, int last, const float **out, int64_t *n_out);
void sn_vocos_run_reset(vocos_run *r);
void sn_vocos_run_free(vocos_run *r);
/* 0, or SONO_E_UNSUPPORTED when the inverse STFT's window envelope falls
 * under 1e-3 somewhere in the kept samples of some signal length (n_fft too
 * close to the hop); the loader refuses such a model. */
int sn_vocos_check(const codec_config *cfg);
/* Multiply-adds per frame of the head as vocos.c computes it. */
double sn_vocos_macs_per_frame(const codec_config *cfg);

/* ---- RVQ ---- */
size_t sn_rvq_scratch_floats(const sono_codec *c);
/* latents [D][n_frames] -> codes[q * q_stride + f * f_stride] for q < n_q. */
int sn_rvq_encode(const sono_codec *c, const float *latents, int64_t n_frames, int n_q,
               int32_t *codes, int64_t q_stride, int64_t f_stride, float *scratch_or_null);
/* codes -> latents [D][n_frames] */
int sn_rvq_decode(const sono_codec *c, const int32_t *codes, int64_t codes_stride, int64_t n_frames,
               int n_q, float *latents);

#endif
