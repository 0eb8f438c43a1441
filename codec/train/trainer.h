/* Codec training loop: data (a corpus manifest, cached as 16-bit PCM),
 * data-parallel training graphs, losses (waveform L1, multi-scale mel,
 * high-resolution log spectrum (optional), RVQ
 * commitment, MS-STFT discriminator hinge + feature matching), EMA
 * codebooks with dead-code restarts, quantizer dropout, AdamW, checkpoints
 * that resume bit for bit, a log line per N steps, a CSV, held-out metrics.
 *
 *   trainer_params tp = sn_trainer_default_params();
 *   tp.manifest = "corpus/train.jsonl"; tp.steps = 100000; tp.n_threads = 2;
 *   trainer *t = sn_trainer_new(&cfg, &tp, &err);          // fresh (or sn_trainer_resume)
 *   while (sn_trainer_step(t) == 0 && sn_trainer_steps_done(t) < tp.steps) { ... }
 *   sn_trainer_save_checkpoint(t, "run/ckpt.safetensors");
 *   sn_trainer_export_model(t, "models/x.safetensors", 1);
 *   sn_trainer_free(t);
 *
 * Determinism: for the same params (seed, thread count, batch) and data,
 * training is bit-identical, and so is a run resumed from a checkpoint.
 * A trainer is used by one thread; it runs its own OpenMP workers. */
#ifndef SONO_TRAINER_H
#define SONO_TRAINER_H

#include <stdint.h>
#include <stdio.h>
#ifndef SONOTOK_TRAIN_UNSTABLE
#define SONOTOK_TRAIN_UNSTABLE
#endif
#include "sonotok/train.h"
#include "codec_internal.h"
#include "train_graph.h"

#define TRAIN_MAX_Q_LOG SONO_TRAIN_MAX_Q_LOG

/* The settings and the per-step report are the public API's
 * (include/sonotok/train.h documents every field). */
typedef sono_codec_train_params trainer_params;
typedef sono_codec_train_stats trainer_stats;

trainer_params sn_trainer_default_params(void);

typedef struct trainer trainer;

/* Fresh training: random init, data-dependent init, codebooks from data. */
trainer *sn_trainer_new(const codec_config *cfg, const trainer_params *p, int *err);
/* Resume from a checkpoint: config, params and state come from the file
 * (the corpus is opened by the first sn_trainer_step, so exporting or
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
 * p->disc_reset is set. p->freeze_encoder = 1 freezes the encoder and the
 * codebooks from the checkpoint's step on (p.frozen_at records the step,
 * saved with the checkpoint, so a frozen run stays frozen); a new run
 * refuses it. p->w_spec >= 0 replaces the log-spectrum loss's weight,
 * scales and top frequency (0 switches it off). Other fields of p are
 * ignored: the checkpoint's settings hold. */
trainer *sn_trainer_resume(const char *checkpoint, const trainer_params *p, int *err);
void sn_trainer_free(trainer *t);

/* One optimisation step. 0 or a negative code. */
int sn_trainer_step(trainer *t);
int64_t sn_trainer_steps_done(const trainer *t);
const trainer_stats *sn_trainer_last_stats(const trainer *t);
const codec_config *sn_trainer_config(const trainer *t);
const trainer_params *sn_trainer_get_params(const trainer *t);
/* Audio seconds in one step (batch x crop). */
double sn_trainer_audio_per_step(const trainer *t);

/* Checkpoint (float32: everything needed to resume bit for bit), written
 * to path.tmp and renamed. */
int sn_trainer_save_checkpoint(trainer *t, const char *path);
/* Native codec model (loadable by sono_codec_load), float16 when f16,
 * named after the file's stem ("models/x.safetensors" is model "x"). */
int sn_trainer_export_model(trainer *t, const char *path, int f16);

/* Held-out metrics at every bandwidth: per category (speech, music,
 * effects, all) mean mel distance, STOI, SI-SNR over up to max_clips
 * clips of p->heldout, shared evenly by the categories present and spread
 * over each category's entries (first max_seconds of each clip). Writes lines to f. */
int sn_trainer_eval(trainer *t, int max_clips, double max_seconds, FILE *f, FILE *csv);

/* The flat parameters, their last reduced (and clipped) gradients, the
 * parameter table naming ranges of both (train_graph.h), and the codebooks
 * (for tests and diagnostics). */
const float *sn_trainer_grads_data(const trainer *t, size_t *n_floats);
const train_param *sn_trainer_param_table(const trainer *t, int *n_params);
const float *sn_trainer_params_data(const trainer *t, size_t *n_floats);
const float *sn_trainer_codebooks_data(const trainer *t, size_t *n_floats);
/* The discriminators' flat parameters (NULL when the run has none). */
const float *sn_trainer_disc_params_data(const trainer *t, size_t *n_floats);
const float *sn_trainer_mpd_params_data(const trainer *t, size_t *n_floats);

#endif
