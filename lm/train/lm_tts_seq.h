/* Text-to-speech training sequences, ELLA-V style (doc/tts-layout.md): the
 * phoneme prefix, then each phoneme token inserted into the clip's delayed
 * audio grid at the step where codebook 0 starts the phoneme's first frame.
 *
 *   <task:tts> <lang:L> <voice:V> P1 .. Pn <sep>  P1 a a .. P2 a .. Pn a .. (tail)
 *
 * Targets (no new head): a phoneme token's position predicts the next step's
 * K codes (as <sep> does for tta); an audio step followed by a phoneme token
 * predicts <end-audio> in codebook 0 ("end of phoneme") and nothing in the
 * other codebooks, which are predicted at the token's position; every other
 * audio step predicts the next step as in tta (the last phoneme ends with
 * the grid's own <end-audio>, then its delay tail). The prefix and <sep>
 * predict nothing (what follows them is forced at generation).
 *
 *   int32_t first[n + 1];
 *   if (sn_lm_tts_frames(start, end, n, F, first) == 0 && sn_lm_tts_seq_len(n, F, K) <= T)
 *       sn_lm_tts_seq(codes, F, K, cb, ids, n, first, lang_id, voice_id, T, text, audio, targets);
 */
#ifndef SONO_LM_TTS_SEQ_H
#define SONO_LM_TTS_SEQ_H

#include <stdint.h>

/* Positions of the sequence of n phonemes over F frames, K codebooks. */
static inline int64_t sn_lm_tts_seq_len(int n, int F, int K) { return 4 + 2 * (int64_t)n + F + K; }

/* Each phoneme's first frame from the manifest's spans (start, end [n], at
 * the codec's frame rate, contiguous from 0) for a clip of F codec frames:
 * first [n + 1], first[n] = F, every phoneme at least one frame. The
 * codec's frame count may differ from the spans' end by up to 2 frames: the
 * last phoneme (a pause) takes the difference; a phoneme of 0 frames takes
 * one from its longer neighbour. 0, or -1 when the spans do not fit (not
 * contiguous, off by more than 2 frames, or a 0-frame phoneme whose
 * neighbours have one frame each). */
int sn_lm_tts_frames(const int32_t *start, const int32_t *end, int n, int F, int32_t *first);

/* Fill one sequence of T positions (text [T], audio [T][K], targets [T][K],
 * the layouts of lm_model.h), padded after its sn_lm_tts_seq_len positions,
 * which must be <= T. codes [K][F] (codebook-major); ids [n] the phonemes'
 * global token ids; lang_id, voice_id the conditions' ids. */
void sn_lm_tts_seq(const int16_t *codes, int F, int K, int cb, const int32_t *ids, int n, const int32_t *first,
                   int32_t lang_id, int32_t voice_id, int T, int32_t *text, int32_t *audio, int32_t *targets);

#endif
