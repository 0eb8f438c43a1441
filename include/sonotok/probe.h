/* The linear probe: a multinomial logistic regression (softmax over classes)
 * on pooled codec encoder latents, the project's yardstick for generated
 * audio ("does this sound like speech, music, an animal?"). The features of a
 * clip are the mean over frames of the encoder's continuous output
 * (sono_codec_encode_latents), optionally followed by the standard deviation
 * over frames; they are standardised with the training set's mean and
 * deviation before the linear layer. A probe file remembers the codec it was
 * trained with (name and content hash): features of another codec mean
 * nothing to it.
 *
 *   int err;
 *   sono_probe *p = sono_probe_load("speech-music.probe", &err);
 *   uint8_t h[16]; sono_codec_hash(codec, h);
 *   if (sono_probe_check_codec(p, sono_codec_name(codec), h)) ...refuse...;
 *   float *lat; int64_t nf;
 *   sono_codec_encode_latents(codec, pcm, n_samples, &lat, &nf);
 *   float feat[512], prob[64];
 *   sono_probe_features(sono_probe_feature_kind(p), lat, sono_codec_latent_dim(codec), nf, feat);
 *   int k = sono_probe_predict(p, feat, prob);       // top class, prob[] all of them
 *   printf("%s %.3f\n", sono_probe_class_name(p, k), prob[k]);
 *   free(lat); sono_probe_free(p);
 *
 * Training (sono_probe_train, in sonotok/train.h under SONOTOK_TRAIN_UNSTABLE)
 * lives in the training library (sonotok-train); loading, predicting and
 * saving in libsonotok. A sono_probe is immutable
 * after it is made and may be shared between threads. */
#ifndef SONOTOK_PROBE_H
#define SONOTOK_PROBE_H

#include <stdint.h>
#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sono_probe sono_probe;

/* Pooling of a clip's latents [D][n_frames] into one feature vector. */
enum {
    SONO_PROBE_MEAN = 0,      /* [D]: mean over frames */
    SONO_PROBE_MEAN_STD = 1,  /* [2D]: mean, then standard deviation over frames */
};

/* Feature length for a pooling kind and latent dimension; SONO_E_ARG for an
 * unknown kind or a dimension < 1. */
SONO_API int sono_probe_feature_dim(int kind, int latent_dim);
/* Pool latents [latent_dim][n_frames] (channel-major, as
 * sono_codec_encode_latents gives them) into out [sono_probe_feature_dim].
 * 0, SONO_E_ARG for a bad kind or dimension, SONO_E_EMPTY for no frames. */
SONO_API int sono_probe_features(int kind, const float *latents, int latent_dim, int64_t n_frames, float *out);

/* Read a probe file. NULL on failure with *err set: SONO_E_NOT_FOUND or
 * SONO_E_IO, SONO_E_FORMAT for a file that is not a sonotok probe or is
 * inconsistent (detail in sono_last_error()). */
SONO_API sono_probe *sono_probe_load(const char *path, int *err);
/* Write the probe as safetensors (tensors feature_mean [F], feature_std [F],
 * weight [K][F], bias [K]; codec, classes and settings in __metadata__)
 * through the output writer (sonotok/output.h). 0 or a negative error. */
SONO_API int sono_probe_save(const sono_probe *p, const char *path);
SONO_API void sono_probe_free(sono_probe *p);   /* NULL-safe */

SONO_API int sono_probe_n_classes(const sono_probe *p);
/* Name of class k in [0, n_classes) (owned by p), NULL out of range. */
SONO_API const char *sono_probe_class_name(const sono_probe *p, int k);
SONO_API int sono_probe_feature_kind(const sono_probe *p);
SONO_API int sono_probe_latent_dim(const sono_probe *p);
/* What the labels were ("category", "class", or the trainer's word). */
SONO_API const char *sono_probe_labels(const sono_probe *p);
SONO_API const char *sono_probe_codec_name(const sono_probe *p);
SONO_API void sono_probe_codec_hash(const sono_probe *p, uint8_t out[16]);
/* 0 when the probe was trained on this codec (name and content hash), else
 * SONO_E_MODEL_MISMATCH with a one-line detail naming both. */
SONO_API int sono_probe_check_codec(const sono_probe *p, const char *codec_name, const uint8_t codec_hash[16]);

/* Class probabilities for one feature vector [feature_dim] into
 * probs [n_classes] (softmax of the linear layer on the standardised
 * features). Returns the most probable class (the first on a tie). */
SONO_API int sono_probe_predict(const sono_probe *p, const float *features, float *probs);

#ifdef __cplusplus
}
#endif
#endif
