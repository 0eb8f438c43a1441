/* sonotok codec training: the API behind `sonotok train-codec` and
 * `sonotok bench --train`. LESS STABLE than the codec API: names, fields and
 * behaviour may change between minor versions, so its declarations are
 * visible only when SONOTOK_TRAIN_UNSTABLE is defined before the include (as
 * zstd gates its advanced API behind ZSTD_STATIC_LINKING_ONLY). It lives in
 * the training library (sonotok-train), apart from libsonotok.
 *
 *   #define SONOTOK_TRAIN_UNSTABLE
 *   #include <sonotok/train.h>
 *
 *   sono_codec_config *cfg = sono_codec_config_default(&err);  // train-codec's default model
 *   double f = 32; sono_codec_config_set(cfg, "n_filters", &f, 1);
 *   sono_codec_train_params p = sono_codec_train_default_params();
 *   p.manifest = "corpus/train.jsonl"; p.steps = 100000;
 *   sono_codec_trainer *t = sono_codec_trainer_new(cfg, &p, &err);   // or _resume(checkpoint, &p, &err)
 *   while (sono_codec_trainer_steps_done(t) < p.steps && sono_codec_trainer_step(t) == 0) { ... }
 *   sono_codec_trainer_save_checkpoint(t, "run/checkpoint.safetensors");
 *   sono_codec_trainer_export(t, "model.safetensors", 1);
 *   sono_codec_trainer_free(t); sono_codec_config_free(cfg);
 *
 * A trainer is used by one thread at a time; it runs its own worker threads
 * (p.n_threads). Training is bit-identical for the same params and data, and
 * so is a run resumed from a checkpoint with the same thread count. */
#ifndef SONOTOK_TRAIN_H
#define SONOTOK_TRAIN_H

#include "sonotok/error.h"

#ifdef SONOTOK_TRAIN_UNSTABLE

#include <stdint.h>
#include <stdio.h>
#include "sonotok/tokenizer.h"
#include "sonotok/probe.h"
#include "sonotok/codec.h"
#include "sonotok/lm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SONO_CODEC_MAX_RATIOS 8  /* strides of a SEANet stack */
#define SONO_CODEC_MAX_BW 16     /* bandwidths a codec offers */
#define SONO_TRAIN_MAX_Q_LOG 8   /* codebooks reported per step */

/* ---- the architecture of a codec to train ---- */

/* A codec configuration (the native model's JSON config, as a value). */
typedef struct sono_codec_config sono_codec_config;

/* train-codec's default: 24 kHz mono, non-causal, 16 filters, strides
 * 8,5,4,2, no LSTM, 128-dim latents, 8 codebooks of 1024, 1.5/3/6 kbps.
 * Free with sono_codec_config_free. NULL on failure with *err set. */
SONO_API sono_codec_config *sono_codec_config_default(int *err);
/* From the native model's JSON config text (what a model's
 * __metadata__["config"] holds), or a file holding it. */
SONO_API sono_codec_config *sono_codec_config_from_json(const char *json, int *err);
SONO_API sono_codec_config *sono_codec_config_load(const char *path, int *err);
SONO_API void sono_codec_config_free(sono_codec_config *cfg);
/* The JSON config text (malloc'd; free()), NULL when out of memory. */
SONO_API char *sono_codec_config_to_json(const sono_codec_config *cfg);

/* Set one field by its JSON key: n_values numbers for a list ("ratios",
 * "bandwidths"), one for the others (integers where the field is an
 * integer: "sample_rate", "channels", "causal", "n_filters", "dimension",
 * "lstm", "codebook_size", "n_q", ...). The config may be inconsistent
 * until every field is set: check it with sono_codec_config_check.
 * Returns 0, SONO_E_NOT_FOUND for an unknown key, SONO_E_ARG for a wrong
 * count or a non-integer where an integer is needed. */
SONO_API int sono_codec_config_set(sono_codec_config *cfg, const char *key, const double *values, int n_values);
/* Get one field (or "hop", "frame_rate"): writes up to max_values numbers,
 * returns how many the field has, or SONO_E_NOT_FOUND. */
SONO_API int sono_codec_config_get(const sono_codec_config *cfg, const char *key, double *values, int max_values);
/* 0 when the config describes a codec that can be built, else
 * SONO_E_FORMAT with the reason in sono_last_error(). */
SONO_API int sono_codec_config_check(const sono_codec_config *cfg);

/* ---- training ---- */

/* Settings of a training run; each field's default in brackets. */
typedef struct {
    const char *manifest;     /* JSON lines: path (relative to the manifest's folder), category, duration */
    const char *cache;        /* PCM cache file (built when missing), NULL: decode into memory each start */
    const char *heldout;      /* manifest for held-out metrics, NULL: none */
    double mix[3];            /* sampling weight of speech, music, effects (0.5, 0.35, 0.15) */
    int batch;                /* crops per step (8) */
    double crop_seconds;      /* crop length, rounded up to a multiple of the hop (1.0) */
    int n_threads;            /* worker threads; the batch is split in n_threads micro-batches (2) */
    int64_t steps;            /* total steps, for the LR schedule (100000) */
    float lr, lr_min;         /* AdamW peak and final LR (3e-4, 3e-5) */
    int64_t warmup;           /* LR warmup steps (500) */
    float beta1, beta2, weight_decay, clip;  /* AdamW (0.5, 0.9, 0.0) and global grad-norm clip (0: none,
                                 the default: the decoder's output gain alone has gradients 100x the rest, so a
                                 global clip starves every other tensor; Adam normalises per parameter anyway) */
    float w_l1, w_mel, w_commit, w_adv, w_feat; /* loss weights (0.1, 1, 0.25, 1, 2) */
    int64_t adv_start;        /* step from which the discriminator trains and its losses count, once the
                                 reconstruction losses have settled (20000; -1: never) */
    int disc_filters;         /* discriminator width (8: EnCodec's 32 costs ~20x a small codec's step on a CPU) */
    float disc_lr;            /* discriminator AdamW LR (3e-4), same betas */
    int disc_reset;           /* resume only, not saved: 1 starts a new discriminator of the same width
                                 (fresh weights and optimiser state, as at adv_start) (0) */
    int quantizer_dropout;    /* 1: each micro-batch uses the codebooks of a random bandwidth (1) */
    int n_bw_mix;             /* 0: every bandwidth equally likely (the default); else the number of weights
                                 in bw_mix, one per bandwidth of the config (ascending), not all 0 */
    double bw_mix[SONO_CODEC_MAX_BW];
    float gain_db_min, gain_db_max; /* random gain per crop (-10, 4), peak kept <= 0.99 */
    float ema_decay;          /* codebook EMA decay (0.99) */
    float dead_threshold;     /* EMA count (uses per step) below which a code is replaced (0.05: used less
                                 than once in 20 steps; 8 x 1 s at 75 Hz gives 600 vectors per step) */
    int mel_log2_min, mel_log2_max, n_mels; /* mel loss scales 2^min..2^max, bands (5, 11, 64; 0: n_fft * 5 / 32
                                 bands per scale, DAC's choice, 320 at 2048: resolves harmonics) */
    uint64_t seed;            /* (1) */
    int commit_all_layers;    /* 1: every codebook's commitment reaches the encoder (1) */
    int mpd_filters;          /* HiFi-GAN's multi-period discriminator (periods 2, 3, 5, 7, 11, widths
                                 mpd_filters x 1, 4, 16, 32, 32) beside the MS-STFT one, from adv_start, with
                                 the same loss weights and learning rate; 0: none (0). On resume: 0 keeps
                                 the checkpoint's, another width starts a new one, -1 drops it;
                                 disc_reset renews it too */
    int freeze_encoder;       /* resume only: 1 freezes the encoder and the RVQ codebooks from the checkpoint's
                                 step on, so the codes of any audio stay what they are there while the decoder
                                 (SEANet or Vocos) and the discriminators go on training: no gradient into the
                                 encoder (no backward through it), no AdamW update (its moments are kept as
                                 they are), no EMA codebook update, no dead-code replacement; quantizer dropout
                                 as configured. The commitment loss then reaches nothing that trains. Saved in
                                 the checkpoint: later resumes stay frozen with or without it (a freeze is not
                                 undone). A new run refuses it (SONO_E_ARG: there is no trained encoder to keep).
                                 In sono_codec_trainer_params: 1 when the run is frozen (0) */
    int64_t frozen_at;        /* set by the trainer, ignored on input: the step from which the encoder and
                                 codebooks are frozen, -1 while they train (-1) */
    float w_spec;             /* weight of the high-resolution log-spectrum loss: mean L1 between ln max(|X|, 1e-4)
                                 of the reference's and the reconstruction's normalised Hann STFTs at n_fft
                                 2^spec_log2_min..2^spec_log2_max (hop n_fft/4), bins up to spec_top_hz, averaged
                                 over scales: the harmonics the mel bands smooth away (0: off, the default). On
                                 resume, >= 0 replaces the checkpoint's weight, scales and top frequency */
    int spec_log2_min, spec_log2_max; /* its STFT sizes (11, 11: n_fft 2048 only) */
    float spec_top_hz;        /* the highest frequency in it, Hz (4000: voiced speech's harmonics) */
} sono_codec_train_params;

SONO_API sono_codec_train_params sono_codec_train_default_params(void);

/* What the last step did. */
typedef struct {
    int64_t step;
    double l1, mel, commit, adv, feat, disc;   /* means over the last step (MS-STFT discriminator) */
    double mpd_adv, mpd_feat, mpd_disc;         /* the multi-period discriminator's (0 without one) */
    double grad_norm;
    float lr;
    int n_active_min, n_active_max;             /* codebooks used this step */
    double ppl[SONO_TRAIN_MAX_Q_LOG];           /* perplexity per codebook (first 8) */
    int used[SONO_TRAIN_MAX_Q_LOG];             /* distinct codes per codebook (first 8) */
    int replaced;                               /* dead codes replaced this step */
    double seconds;                             /* wall time of the step */
    double cpu_seconds;                         /* CPU time of the step (all threads) */
    double cpu_hours_total;                     /* CPU hours of training so far, across resumes */
    double spec;                                /* the log-spectrum loss, unweighted (0 when w_spec is 0) */
} sono_codec_train_stats;

typedef struct sono_codec_trainer sono_codec_trainer;

/* A new run: random init, data-dependent init, codebooks from the data.
 * cfg and p are copied (the strings in p must outlive the trainer). NULL on
 * failure with *err set. */
SONO_API sono_codec_trainer *sono_codec_trainer_new(const sono_codec_config *cfg, const sono_codec_train_params *p,
                                                     int *err);
/* Resume from a checkpoint: config, settings and state come from the file
 * (the corpus is opened by the first step, so exporting or evaluating needs
 * none). From p: the data paths and the thread count (a bit-identical
 * continuation needs the checkpoint's; another is allowed and logged);
 * p->steps when > 0 replaces the schedule's length; p->adv_start when >= -1
 * replaces the discriminator's start (a trained discriminator cannot be
 * switched off); p->n_mels when >= 0, the five loss weights when
 * p->w_l1 >= 0, the mix when p->mix[0] >= 0 and the bandwidth weights when
 * p->n_bw_mix >= 0 replace the checkpoint's (a later phase of training); so
 * does p->disc_filters when > 0, with a new discriminator when it differs
 * from the checkpoint's, or when p->disc_reset is set; p->freeze_encoder = 1
 * freezes the encoder and codebooks from the checkpoint's step on (a frozen
 * checkpoint stays frozen); p->w_spec when >= 0 replaces the log-spectrum
 * loss's weight and settings. Other fields of p are ignored. */
SONO_API sono_codec_trainer *sono_codec_trainer_resume(const char *checkpoint, const sono_codec_train_params *p,
                                                        int *err);
/* NULL-safe. */
SONO_API void sono_codec_trainer_free(sono_codec_trainer *t);

/* One optimisation step: 0 or a negative code. */
SONO_API int sono_codec_trainer_step(sono_codec_trainer *t);
SONO_API int64_t sono_codec_trainer_steps_done(const sono_codec_trainer *t);
/* Owned by the trainer, valid until the next step. */
SONO_API const sono_codec_train_stats *sono_codec_trainer_last_stats(const sono_codec_trainer *t);
/* The settings and the config in force (owned by the trainer). */
SONO_API const sono_codec_train_params *sono_codec_trainer_params(const sono_codec_trainer *t);
SONO_API const sono_codec_config *sono_codec_trainer_config(const sono_codec_trainer *t);
/* Audio seconds in one step (batch x crop). */
SONO_API double sono_codec_trainer_audio_per_step(const sono_codec_trainer *t);

/* A checkpoint (float32: all that a bit-identical resume needs). */
SONO_API int sono_codec_trainer_save_checkpoint(sono_codec_trainer *t, const char *path);
/* A native codec model (loadable by sono_codec_load), float16 when f16,
 * named after the file's stem ("models/x.safetensors" is model "x"). */
SONO_API int sono_codec_trainer_export(sono_codec_trainer *t, const char *path, int f16);
/* Held-out metrics at every bandwidth over up to max_clips clips of
 * p->heldout (the first max_seconds of each): per category (speech, music,
 * effects, all) mean mel distance, STOI, SI-SNR. Lines to f and rows to csv
 * (either may be NULL). 0 or a negative code. */
SONO_API int sono_codec_trainer_eval(sono_codec_trainer *t, int max_clips, double max_seconds, FILE *f, FILE *csv);

/* ---- text tokenizer: learning BPE merges (the tokenizer is sonotok/tokenizer.h's) ----
 *
 *   sono_bpe_train_params p = sono_bpe_train_default_params(); p.n_vocab = 4096;
 *   sono_bpe_trainer *bt = sono_bpe_trainer_new(&p, &err);
 *   sono_bpe_trainer_add_file(bt, "corpus/manifest.jsonl");   // or _add_text(bt, text, n_bytes)
 *   sono_tokenizer *tok = sono_bpe_trainer_finish(bt, &err);
 *   sono_bpe_trainer_free(bt);
 *
 * The merges depend only on the chunk counts of the texts added (not on
 * their order): ties between pairs of equal count go to the smaller (left,
 * right) id pair. A trainer is used by one thread at a time. */
typedef struct sono_bpe_trainer sono_bpe_trainer;

typedef struct {
    int32_t n_vocab;    /* ids in all: specials + 256 bytes + merges (default 2048); fewer when pairs run out */
    int32_t min_count;  /* a pair seen fewer times is never merged (default 2) */
    int32_t n_special;  /* special ids: the standard 7 and spares (default 16) */
} sono_bpe_train_params;

SONO_API sono_bpe_train_params sono_bpe_train_default_params(void);
/* p NULL: the defaults. NULL with *err set (SONO_E_RANGE for a bad param). */
SONO_API sono_bpe_trainer *sono_bpe_trainer_new(const sono_bpe_train_params *p, int *err);
SONO_API void sono_bpe_trainer_free(sono_bpe_trainer *t);
/* Count the chunks of one text (any bytes). 0 or a negative error. */
SONO_API int sono_bpe_trainer_add_text(sono_bpe_trainer *t, const void *text, size_t n_bytes);
/* Add a file: a corpus manifest when its name ends in ".jsonl" (each
 * line's "text", "caption" and "transcript" strings are texts; a line that
 * is not a JSON object is SONO_E_FORMAT), else the whole file as one text.
 * Returns the texts added, or a negative error. */
SONO_API int64_t sono_bpe_trainer_add_file(sono_bpe_trainer *t, const char *path);
/* Texts and bytes added so far, and the distinct chunks among them. */
SONO_API void sono_bpe_trainer_stats(const sono_bpe_trainer *t, int64_t *n_texts, int64_t *n_bytes,
                                     int64_t *n_chunks);
/* Learn the merges: a new tokenizer (free with sono_tokenizer_free), or NULL
 * with *err set. The trainer may be freed afterwards. */
SONO_API sono_tokenizer *sono_bpe_trainer_finish(sono_bpe_trainer *t, int *err);


/* ---- the token LM: train-lm ----
 *
 *   sono_lm_train_params p = sono_lm_train_default_params();
 *   p.manifest = "corpus/train.jsonl"; p.shards = "run/train.shard"; p.codec = "default";
 *   sono_lm_trainer *t = sono_lm_trainer_new(&p, &err);    // or _resume("run/checkpoint.safetensors", &p, &err)
 *   while (sono_lm_trainer_steps_done(t) < p.steps && sono_lm_trainer_step(t) == 0) { ... last_stats ... }
 *   sono_lm_trainer_save_checkpoint(t, "run/checkpoint.safetensors");
 *   sono_lm_trainer_export(t, "lm.safetensors");            // an LM file (sonotok/lm.h)
 *   sono_lm_trainer_free(t);
 *
 * The manifest's audio is tokenized once into p.shards (reused while the
 * manifest and codec match). Each step builds p.batch sequences
 * [task] [text ids] [<sep>] [audio steps, delay pattern] from random clips
 * (task continue: a random crop of any clip; task tta: a clip with a
 * caption from its start, the caption replaced by <uncond> at
 * p.cfg_dropout; task tts: a TTS record's clip, ELLA-V layout,
 * doc/tts-layout.md), pads them to the context, and takes one AdamW step on the
 * mean cross-entropy over every (position, codebook) target. Training is
 * bit-identical for the same params and data on any thread count (the
 * model's kernels split work by shape, OpenBLAS runs at one thread), and
 * so is a run resumed from a checkpoint. */
#define SONO_LM_MAX_K 32

typedef struct {
    const char *manifest;    /* training clips (JSON lines), required */
    const char *heldout;     /* held-out manifest for sono_lm_trainer_eval, NULL: none */
    const char *shards;      /* token shard file of the manifest (built when missing or stale), required */
    const char *heldout_shards; /* the held-out manifest's (needed with heldout) */
    const char *codec;       /* codec model (a path or name, sono_codec_load) ("default") */
    double bandwidth;        /* kbps: codebooks = the codec's for it; 0: use n_codebooks (0) */
    int n_codebooks;         /* K, codebooks per frame; 0: the codec's all (0) */
    const char *tokenizer;   /* tokenizer file; NULL: learn one from the manifest's texts (NULL) */
    int tokenizer_vocab;     /* ids of a learned tokenizer (1024) */
    int n_layer, width, n_head, context; /* the model (4, 256, 4, 512) */
    int learned_pos;         /* 1: learned positions, 0: rotary (0) */
    double w_continue, w_tta;/* task weights (1, 1); tta needs clips with a caption */
    double w_tts;            /* text-to-speech weight (1), for manifests with TTS records (phonemes, voice,
                              * lang): with any, the LM reads phonemes and the records' languages and
                              * voices (lm/README.md); without, it is as before */
    float cfg_dropout;       /* rate at which a tta caption becomes <uncond> (0.15) */
    int max_text;            /* text ids kept per caption (64) */
    int batch;               /* sequences per step (8) */
    int n_threads;           /* threads (2) */
    int64_t steps;           /* total steps, for the LR schedule (20000) */
    int64_t warmup;          /* LR warmup steps (200) */
    float lr, lr_min;        /* AdamW peak and final LR (1e-3, 1e-4) */
    float beta1, beta2, weight_decay, clip; /* AdamW (0.9, 0.95, 0.1) and global grad-norm clip (1.0) */
    uint64_t seed;           /* (1) */
} sono_lm_train_params;

SONO_API sono_lm_train_params sono_lm_train_default_params(void);

typedef struct {
    int64_t step;
    double loss;                         /* mean cross-entropy of the step, nats */
    double loss_cb[SONO_LM_MAX_K];       /* per codebook */
    double grad_norm;
    float lr;
    int64_t n_targets;                   /* (position, codebook) targets in the step */
    int64_t n_positions;                 /* non-padding positions in the step */
    double seconds, cpu_seconds;         /* wall and CPU time of the step */
    double cpu_hours_total;              /* across resumes */
} sono_lm_train_stats;

typedef struct sono_lm_trainer sono_lm_trainer;

/* A new run (tokenizes the audio when the shards are missing or stale,
 * learns a tokenizer when none is given). p is copied; its strings must
 * outlive the trainer. NULL with *err set. */
SONO_API sono_lm_trainer *sono_lm_trainer_new(const sono_lm_train_params *p, int *err);
/* Resume from a checkpoint: model, tokenizer, settings and state from the
 * file; from p: manifest, heldout, shards, heldout_shards, codec (its hash
 * must be the checkpoint's: SONO_E_MODEL_MISMATCH naming both otherwise),
 * n_threads, and steps when > 0. */
SONO_API sono_lm_trainer *sono_lm_trainer_resume(const char *checkpoint, const sono_lm_train_params *p, int *err);
SONO_API void sono_lm_trainer_free(sono_lm_trainer *t);
SONO_API int sono_lm_trainer_step(sono_lm_trainer *t);
SONO_API int64_t sono_lm_trainer_steps_done(const sono_lm_trainer *t);
SONO_API const sono_lm_train_stats *sono_lm_trainer_last_stats(const sono_lm_trainer *t);
/* The settings in force (owned by the trainer; strings as given). */
SONO_API const sono_lm_train_params *sono_lm_trainer_params(const sono_lm_trainer *t);
/* Parameters of the model, and codebooks K. */
SONO_API int64_t sono_lm_trainer_n_params(const sono_lm_trainer *t);
SONO_API int sono_lm_trainer_n_codebooks(const sono_lm_trainer *t);
SONO_API int sono_lm_trainer_save_checkpoint(sono_lm_trainer *t, const char *path);
/* An LM file (sonotok/lm.h) named after the path's stem. */
SONO_API int sono_lm_trainer_export(sono_lm_trainer *t, const char *path);
/* Held-out loss: the same fixed sequences every time (each held-out clip
 * from its start, task continue, and tta where it has a caption), up to
 * max_sequences. *loss and loss_cb [K] (may be NULL) get the means. 0,
 * SONO_E_ARG without a held-out manifest, or a negative error. */
SONO_API int sono_lm_trainer_eval(sono_lm_trainer *t, int max_sequences, double *loss, double *loss_cb);
/* The run's model as an LM (sonotok/lm.h), for sono_lm_generate between
 * steps (train-lm's samples): it reads the trainer's weights as they are at
 * the call, with the run's tokenizer and codec identity. Owned by the
 * trainer and valid until sono_lm_trainer_free (never sono_lm_free it); not
 * to be used while a step runs. Generating leaves the run as it was: the
 * generator draws from its own seed, never from the training stream. */
SONO_API const sono_lm *sono_lm_trainer_lm(const sono_lm_trainer *t);
/* The codec the run tokenizes with (owned by the trainer). */
SONO_API const sono_codec *sono_lm_trainer_codec(const sono_lm_trainer *t);
/* Held-out clip i, counting the held-out manifest's clips with codec frames
 * in order from 0: its first min(frames, max_frames) frames into codes
 * [K][that many] (codes may be NULL), the count in *n_frames, its audio path
 * and its tta caption (NULL where it has none; path and caption owned by
 * the trainer). 0, SONO_E_RANGE past the last clip, SONO_E_ARG without a
 * held-out manifest. */
SONO_API int sono_lm_trainer_heldout_clip(const sono_lm_trainer *t, int i, int32_t *codes, int64_t max_frames,
                                          int64_t *n_frames, const char **path, const char **caption);
/* An LM with random weights (GPT-2's initialisation from seed) of the given
 * sizes (rotary positions), a byte-level tokenizer (no merges), made for
 * codec (its identity, codebook size and frame rate, n_codebooks of its
 * codebooks): for timing generation (bench --generate) before a trained
 * model exists. Free with sono_lm_free. NULL with *err set (SONO_E_ARG /
 * SONO_E_RANGE for bad sizes, SONO_E_NOMEM). */
SONO_API sono_lm *sono_lm_random(const sono_codec *codec, int n_codebooks, int width, int n_layer, int n_head,
                                 int context, uint64_t seed, int *err);
/* ---- coder models (token-file coder 3, sonotok/tokens.h): train-coder ----
 *
 *   sono_token_shards *sh = sono_token_shards_open("run/train.shard", "corpus/train.jsonl", codec, 0, NULL, &err);
 *   sono_code_set train; sono_token_shards_code_set(sh, &train);     // a view into the shard file
 *   sono_coder_train_params p = sono_coder_train_default_params();
 *   p.codec_name = sono_codec_name(codec); sono_codec_hash(codec, p.codec_hash);
 *   sono_coder_trainer *t = sono_coder_trainer_new(&p, &train, &held, &err);   // or _resume(ckpt, &p, ...)
 *   while (sono_coder_trainer_steps_done(t) < p.steps && sono_coder_trainer_step(t) == 0) { ... }
 *   sono_coder_trainer_eval(t, 1, &ev);                  // held-out bits per code of the integer model
 *   sono_coder_trainer_export(t, "models/NAME.coder");
 *
 * The float twin of the integer coder model (codec/coder_model.h): per
 * codebook q, embeddings of the P frames before in codebooks 0..q and of
 * codebooks 0..q-1 of the frame, a ReLU layer of `hidden` shared by all
 * codebooks (its bias per codebook), a ReLU layer of `hidden2` and a
 * softmax over the codebook, both per codebook. Each step takes `batch`
 * random frames of the training clips, one target per codebook each, and
 * one AdamW step on the mean cross-entropy. Bit-identical on any thread
 * count and across resumes. The export picks power-of-two scales from the
 * weights and from activations on fixed training frames and rounds into a
 * .coder file; what the file codes is what counts (sono_coder_trainer_eval
 * with quantised = 1). */
#define SONO_CODER_TRAIN_MAX_K 64

/* Codes of a corpus, borrowed: clip i is codes[i], [n_codebooks][n_frames[i]]. */
typedef struct {
    int n_clips;
    const int16_t *const *codes;
    const int64_t *n_frames;      /* 0: a clip without frames (skipped) */
    const int *category;          /* 0 speech, 1 music, 2 effects, 3 other; NULL: all other */
    int n_codebooks, codebook_size;
} sono_code_set;

/* Token shards (train-lm's cache of a manifest's codes, built with codec at
 * n_codebooks (0: all) when path is missing or stale, reused otherwise). */
typedef struct sono_token_shards sono_token_shards;
SONO_API sono_token_shards *sono_token_shards_open(const char *path, const char *manifest, const sono_codec *codec,
                                                   int n_codebooks, int *built, int *err);
/* A view of the shards' codes, valid until sono_token_shards_close. */
SONO_API void sono_token_shards_code_set(const sono_token_shards *s, sono_code_set *out);
SONO_API void sono_token_shards_close(sono_token_shards *s);

typedef struct {
    const char *codec_name;   /* the codec whose codes these are (recorded in the model; copied) */
    uint8_t codec_hash[16];   /* its codes hash (sono_codec_codes_hash), recorded in the model */
    int lags;                 /* P, past frames seen (4) */
    int emb_dim;              /* D, embedding width (32); D, hidden, hidden2: multiples of 16 */
    int hidden, hidden2;      /* H, G (256, 128) */
    int batch;                /* frames per step, a target per codebook each (256) */
    int n_threads;            /* (2) */
    int64_t steps, warmup;    /* schedule (20000, 300) */
    float lr, lr_min;         /* AdamW peak and final LR (2e-3, 1e-4) */
    float beta1, beta2, weight_decay, clip; /* (0.9, 0.99, 0, 1.0) */
    uint64_t seed;            /* (1) */
    int eval_frames;          /* held-out frames per evaluation (30000) ... */
    int eval_clip_frames;     /* ... from each clip's start, at most this many of one clip (1500) */
    uint8_t codec_full_hash[16]; /* on resume, also accepted for codec_hash: the codec's sono_codec_hash, which
                                    checkpoints made before the codes hash record (zeros: none) */
} sono_coder_train_params;

SONO_API sono_coder_train_params sono_coder_train_default_params(void);

typedef struct {
    int64_t step;
    double bits;                                /* mean cross-entropy of the step, bits per code */
    double bits_cb[SONO_CODER_TRAIN_MAX_K];     /* per codebook */
    double grad_norm;
    float lr;
    double seconds, cpu_seconds, cpu_hours_total;
} sono_coder_train_stats;

typedef struct {
    double bits;                                /* bits per held-out code */
    double bits_cb[SONO_CODER_TRAIN_MAX_K];     /* per codebook */
    double bits_cat[4];                         /* per category (speech, music, effects, other) */
    int64_t n_codes, n_codes_cat[4];
} sono_coder_eval;

typedef struct sono_coder_trainer sono_coder_trainer;

/* A new run on train (and heldout, may be NULL), both borrowed until the
 * trainer is freed. NULL with *err set. */
SONO_API sono_coder_trainer *sono_coder_trainer_new(const sono_coder_train_params *p, const sono_code_set *train,
                                                    const sono_code_set *heldout, int *err);
/* Resume: sizes, schedule and state from the checkpoint; from p: n_threads,
 * steps when > 0, the evaluation sizes, and codec_name (when set, it must be
 * the checkpoint's and codec_hash or codec_full_hash its hash:
 * SONO_E_MODEL_MISMATCH; the run then records codec_hash). */
SONO_API sono_coder_trainer *sono_coder_trainer_resume(const char *checkpoint, const sono_coder_train_params *p,
                                                       const sono_code_set *train, const sono_code_set *heldout,
                                                       int *err);
SONO_API void sono_coder_trainer_free(sono_coder_trainer *t);
SONO_API int sono_coder_trainer_step(sono_coder_trainer *t);
SONO_API int64_t sono_coder_trainer_steps_done(const sono_coder_trainer *t);
SONO_API const sono_coder_train_stats *sono_coder_trainer_last_stats(const sono_coder_trainer *t);
SONO_API const sono_coder_train_params *sono_coder_trainer_params(const sono_coder_trainer *t);
SONO_API int64_t sono_coder_trainer_n_params(const sono_coder_trainer *t);
SONO_API int sono_coder_trainer_save_checkpoint(sono_coder_trainer *t, const char *path);
/* The integer model, a .coder file (sono_coder_load). */
SONO_API int sono_coder_trainer_export(sono_coder_trainer *t, const char *path);
/* Held-out bits per code over fixed frames (eval_frames, each clip from its
 * start): of the float model (quantised 0: cross-entropy) or of the integer
 * model the export would write (1: its frequency tables' code length, what a
 * token file costs before the range coder's few bytes). SONO_E_ARG without
 * held-out codes. */
SONO_API int sono_coder_trainer_eval(sono_coder_trainer *t, int quantised, sono_coder_eval *out);

/* ---- the linear probe (sonotok/probe.h): training ---- */

typedef struct {
    double l2;          /* L2 penalty l2/2 * |W|^2 on the weights (not the biases) [1e-3] */
    int steps;          /* full-batch Adam steps [400] */
    double lr;          /* Adam learning rate [0.05] */
    int class_balance;  /* weight each example by 1 / (its class's count), so each class counts alike [1] */
} sono_probe_train_params;

SONO_API sono_probe_train_params sono_probe_train_default_params(void);

/* What a probe is about: the codec and the labels. Strings are copied. */
typedef struct {
    const char *codec_name;
    uint8_t codec_hash[16];
    int feature_kind;             /* SONO_PROBE_MEAN or SONO_PROBE_MEAN_STD */
    int latent_dim;               /* the codec's latent dimension */
    int n_classes;                /* >= 2 */
    const char *const *class_names;
    const char *labels;           /* "category", "class", ... */
} sono_probe_info;

/* Train a probe on n feature vectors x [n][feature_dim] with labels
 * y [n] in [0, n_classes). Deterministic: the same inputs give the same
 * probe, bit for bit (full-batch, fixed summation order, one thread).
 * *final_loss (may be NULL) gets the last step's training loss. NULL on
 * failure with *err set (SONO_E_ARG for bad sizes or labels, SONO_E_EMPTY
 * for no examples, SONO_E_NOMEM). */
SONO_API sono_probe *sono_probe_train(const sono_probe_info *info, const float *x, const int32_t *y, int64_t n,
                                      const sono_probe_train_params *p, double *final_loss, int *err);

#ifdef __cplusplus
}
#endif
#endif /* SONOTOK_TRAIN_UNSTABLE */
#endif
