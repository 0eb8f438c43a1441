/* Text-to-speech generation (sonotok/lm.h, task SONO_LM_TASK_TTS): the
 * plan (text -> sentence pieces -> phonemes -> prefix ids and caps, checked
 * before anything runs) and the run (ELLA-V: forced phoneme tokens, the
 * model ends each phoneme). lm_generate.c dispatches here. */
#ifndef SONO_LM_GENERATE_TTS_H
#define SONO_LM_GENERATE_TTS_H

#include <stdint.h>
#include "sonotok/lm.h"

typedef struct sn_lm_tts_plan sn_lm_tts_plan;

/* Check p for tts on lm (the common parameters are checked by the caller)
 * and phonemize its text: a plan (free with sn_lm_tts_plan_free), or a
 * negative error (sonotok/lm.h) with its detail line. */
int sn_lm_tts_plan_new(const sono_lm *lm, const sono_lm_generate_params *p, sn_lm_tts_plan **out);
void sn_lm_tts_plan_free(sn_lm_tts_plan *tp);
/* Frames per output at most: the sum of the pieces' caps. */
int64_t sn_lm_tts_plan_frames(const sn_lm_tts_plan *tp);

/* Run the plan: sono_lm_generate's contract (codes [n_outputs][K][F] with
 * F = sn_lm_tts_plan_frames). */
int sn_lm_tts_run(const sono_lm *lm, const sono_lm_generate_params *p, const sn_lm_tts_plan *tp,
                  sono_lm_frame_fn on_frame, void *user, int32_t *codes, int64_t *n_frames);

#endif
