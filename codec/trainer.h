/* Codec training loop: data (a corpus manifest, cached as 16-bit PCM),
 * data-parallel training graphs, losses (waveform L1, multi-scale mel, RVQ
 * commitment, MS-STFT discriminator hinge + feature matching), EMA
 * codebooks with dead-code restarts, quantizer dropout, AdamW, checkpoints
 * that resume bit for bit, a log line per N steps, a CSV, held-out metrics.
 *
 *   trainer_params tp = trainer_default_params();
 *   tp.manifest = "corpus/train.jsonl"; tp.steps = 100000; tp.n_threads = 2;
 *   trainer *t = trainer_new(&cfg, &tp, &err);          // fresh (or trainer_resume)
 *   while (trainer_step(t) == 0 && trainer_steps_done(t) < tp.steps) { ... }
 *   trainer_save_checkpoint(t, "run/ckpt.safetensors");
 *   trainer_export_model(t, "models/x.safetensors", 1);
 *   trainer_free(t);
 *
 * Determinism: for the same params (seed, thread count, batch) and data,
 * training is bit-identical, and so is a run resumed from a checkpoint.
 * A trainer is used by one thread; it runs its own OpenMP workers. */
#ifndef SONO_TRAINER_H
#define SONO_TRAINER_H

#include <stdint.h>
#include <stdio.h>
#include "codec_internal.h"
#include "train_graph.h"

#define TRAIN_MAX_Q_LOG 8

typedef struct {
    const char *manifest;     /* JSON lines: path (relative to the manifest's folder), category, duration */
    const char *cache;        /* PCM cache file (built when missing), NULL: decode into memory each start */
    const char *heldout;      /* manifest for --eval-every, NULL: none */
    double mix[3];            /* sampling weight of speech, music, effects (default 0.5, 0.35, 0.15) */
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
                                 (fresh weights and optimiser state, as at --adv-start) (0) */
    int quantizer_dropout;    /* 1: each micro-batch uses the codebooks of a random bandwidth (1) */
    int n_bw_mix;             /* 0: every bandwidth equally likely (the default); else the number of weights
                                 in bw_mix, one per bandwidth of the config (ascending), not all 0 */
    double bw_mix[CODEC_MAX_BW];
    float gain_db_min, gain_db_max; /* random gain per crop (-10, 4), peak kept <= 0.99 */
    float ema_decay;          /* codebook EMA decay (0.99) */
    float dead_threshold;     /* EMA count (uses per step) below which a code is replaced (0.05: used less
                                 than once in 20 steps; 8 x 1 s at 75 Hz gives 600 vectors per step) */
    int mel_log2_min, mel_log2_max, n_mels; /* mel loss scales 2^min..2^max, bands (5, 11, 64; 0: n_fft * 5 / 32
                                 bands per scale, DAC's choice, 320 at 2048: resolves harmonics) */
    uint64_t seed;            /* (1) */
    int commit_all_layers;    /* 1: every codebook's commitment reaches the encoder (1) */
} trainer_params;

trainer_params trainer_default_params(void);

typedef struct {
    int64_t step;
    double l1, mel, commit, adv, feat, disc;   /* means over the last step */
    double grad_norm;
    float lr;
    int n_active_min, n_active_max;             /* codebooks used this step */
    double ppl[TRAIN_MAX_Q_LOG];                /* perplexity per codebook (first 8) */
    int used[TRAIN_MAX_Q_LOG];                  /* distinct codes per codebook (first 8) */
    int replaced;                               /* dead codes replaced this step */
    double seconds;                             /* wall time of the step */
    double cpu_seconds;                         /* CPU time of the step (all threads) */
    double cpu_hours_total;                     /* CPU hours of training so far, across resumes */
} trainer_stats;

typedef struct trainer trainer;

/* Fresh training: random init, data-dependent init, codebooks from data. */
trainer *trainer_new(const codec_config *cfg, const trainer_params *p, int *err);
/* Resume from a checkpoint: config, params and state come from the file
 * (the corpus is opened by the first trainer_step, so exporting or
 * evaluating needs none). From p: the data paths and the thread count (a
 * bit-identical continuation needs the checkpoint's; another is allowed and
 * noted); p->steps when > 0 replaces the schedule's length; p->adv_start
 * when >= -1 replaces the discriminator's start, except that a discriminator
 * the checkpoint already trains cannot be switched off (-1); p->n_mels when
 * >= 0, the five loss weights when p->w_l1 >= 0, the mix when
 * p->mix[0] >= 0 and the bandwidth weights when p->n_bw_mix >= 0 replace the
 * checkpoint's (a later phase of training; the change is logged); so does
 * p->disc_filters when > 0, with a new discriminator (fresh weights and
 * optimiser state) when it differs from the checkpoint's, or when
 * p->disc_reset is set. Other fields of p are ignored: the checkpoint's
 * settings hold. */
trainer *trainer_resume(const char *checkpoint, const trainer_params *p, int *err);
void trainer_free(trainer *t);

/* One optimisation step. 0 or a negative code. */
int trainer_step(trainer *t);
int64_t trainer_steps_done(const trainer *t);
const trainer_stats *trainer_last_stats(const trainer *t);
const codec_config *trainer_config(const trainer *t);
const trainer_params *trainer_get_params(const trainer *t);
/* Audio seconds in one step (batch x crop). */
double trainer_audio_per_step(const trainer *t);

/* Checkpoint (float32: everything needed to resume bit for bit), written
 * to path.tmp and renamed. */
int trainer_save_checkpoint(trainer *t, const char *path);
/* Native codec model (loadable by sono_codec_load), float16 when f16,
 * named after the file's stem ("models/x.safetensors" is model "x"). */
int trainer_export_model(trainer *t, const char *path, int f16);

/* Held-out metrics at every bandwidth: per category (speech, music,
 * effects, all) mean mel distance, STOI, SI-SNR over up to max_clips
 * clips of p->heldout, shared evenly by the categories present and spread
 * over each category's entries (first max_seconds of each clip). Writes lines to f. */
int trainer_eval(trainer *t, int max_clips, double max_seconds, FILE *f, FILE *csv);

/* The flat parameters, their last reduced (and clipped) gradients, the
 * parameter table naming ranges of both (train_graph.h), and the codebooks
 * (for tests and diagnostics). */
const float *trainer_grads_data(const trainer *t, size_t *n_floats);
const train_param *trainer_param_table(const trainer *t, int *n_params);
const float *trainer_params_data(const trainer *t, size_t *n_floats);
const float *trainer_codebooks_data(const trainer *t, size_t *n_floats);
/* The discriminator's flat parameters (NULL when the run has none). */
const float *trainer_disc_params_data(const trainer *t, size_t *n_floats);

#endif
