/* The neural audio codec: SEANet encoder + residual vector quantizer + SEANet
 * decoder. With EnCodec's config and weights it is EnCodec (24 kHz mono causal,
 * 48 kHz stereo segmented) and produces the reference implementation's codes.
 *
 *   int err;
 *   sono_codec_params p = sono_codec_default_params();
 *   p.n_threads = 2;
 *   sono_codec *c = sono_codec_load("encodec_24khz", &p, &err);
 *   int n_q = sono_codec_n_q_for_bandwidth(c, 6.0);          // 8 codebooks
 *   sono_tokens *tok;
 *   sono_codec_encode(c, pcm, n_samples, n_q, &tok);          // planar float PCM at the model rate
 *   float *out; int64_t n_out;
 *   sono_codec_decode(c, tok, &out, &n_out);
 *   ...; free(out); sono_tokens_free(tok); sono_codec_free(c);
 *
 * For long inputs use the streams (bounded memory): push audio, collect codes;
 * push codes, collect audio. Chunked results equal one-shot results.
 *
 * Threads: a sono_codec is immutable after loading and may be shared between
 * threads; each thread uses its own sono_codec_stream. Calls that run the
 * network set OpenBLAS's (process-wide) thread count to the codec's n_threads.
 * With n_threads > 1 the loops are OpenMP (libgomp): run the program with
 * OMP_WAIT_POLICY=PASSIVE unless the machine is otherwise idle; libgomp's
 * default spinning made tokenize 10-30x slower next to another busy process
 * on 2 cores (the sonotok program sets it for itself; see the README). */
#ifndef SONOTOK_CODEC_H
#define SONOTOK_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"
#include "sonotok/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sono_codec sono_codec;
typedef struct sono_codec_stream sono_codec_stream;

typedef struct {
    int n_threads;   /* threads for BLAS and our loops; default 1 */
} sono_codec_params;

SONO_API sono_codec_params sono_codec_default_params(void);

/* Resolve a model argument to a file or folder path. `model` may be a path (a
 * .th checkpoint, a .safetensors file, or a Hugging Face folder with
 * config.json + model.safetensors), or a name looked up, in order, in each
 * folder of $SONOTOK_MODEL_PATH (colon-separated), then
 * $XDG_DATA_HOME/sonotok/models (default ~/.local/share/sonotok/models), then
 * the installed models folder. A name matches NAME, NAME.safetensors, NAME.th,
 * NAME-<hash>.th or a folder NAME/. For the official EnCodec names the missing
 * file's exact name and download URL are in the error detail.
 * Writes the path into out (n bytes). Returns 0 or SONO_E_NOT_FOUND. */
SONO_API int sono_codec_resolve(const char *model, char *out, size_t n);

/* Load a codec (resolving names as above). NULL on failure, *err set. */
SONO_API sono_codec *sono_codec_load(const char *model, const sono_codec_params *p, int *err);
SONO_API void sono_codec_free(sono_codec *c);

/* Save as the native format (safetensors + config JSON in __metadata__). */
SONO_API int sono_codec_save(const sono_codec *c, const char *path, int f16);

SONO_API const char *sono_codec_name(const sono_codec *c);
/* The codec's content hash: XXH3-128 of its config (as JSON, without the
 * name) and of every tensor (names, shapes, then float32 data, canonical
 * order). Any change to any weight changes it. */
SONO_API void sono_codec_hash(const sono_codec *c, uint8_t out[16]);
/* The codes hash: the same XXH3-128 over the config (without the name) and
 * only the tensors that fix what the codes mean: the encoder's (encoder.*:
 * convolutions, their norms, LSTM) and the quantizer's codebooks
 * (quantizer.vq.layers.N._codebook.embed); the decoder's (decoder.*, SEANet
 * or Vocos) are left out. Two exports of a train-codec --freeze-encoder run
 * (at and after the freeze) share it while their sono_codec_hash differ;
 * an unfrozen step changes it. It is taken over the loaded float32 data, so
 * an f16 export and an f32 export of the same weights differ (their
 * encoders are not the same numbers). New token files, LM files and coder
 * models record it; files made before record sono_codec_hash, and every
 * check accepts either. */
SONO_API void sono_codec_codes_hash(const sono_codec *c, uint8_t out[16]);
SONO_API int sono_codec_sample_rate(const sono_codec *c);
SONO_API int sono_codec_channels(const sono_codec *c);
SONO_API int sono_codec_hop(const sono_codec *c);          /* samples per frame */
SONO_API double sono_codec_frame_rate(const sono_codec *c); /* frames per second */
SONO_API int sono_codec_codebook_size(const sono_codec *c);
SONO_API int sono_codec_max_codebooks(const sono_codec *c);
SONO_API int sono_codec_n_bandwidths(const sono_codec *c);
SONO_API double sono_codec_bandwidth(const sono_codec *c, int i); /* kbps */
/* Codebooks for a bandwidth in kbps; SONO_E_RANGE (detail lists the valid
 * ones) when the model does not offer it. */
SONO_API int sono_codec_n_q_for_bandwidth(const sono_codec *c, double kbps);
/* Upper bound on frames per codebook for n_samples of input. */
SONO_API int64_t sono_codec_max_frames(const sono_codec *c, int64_t n_samples);
/* Multiply-accumulates per second of audio for the encoder (decoder = 0,
 * including the RVQ search with n_q codebooks) or the decoder (decoder = 1),
 * counted from the architecture; for GFLOP/s reports (1 MAC = 2 FLOP). */
SONO_API double sono_codec_macs_per_second(const sono_codec *c, int decoder, int n_q);
/* 0 if tokens t were made by this codec: t->model_hash is its codes hash
 * (sono_codec_codes_hash: token files since the codes hash) or its full hash
 * (sono_codec_hash: earlier files), and the header fits the model; else
 * SONO_E_MODEL_MISMATCH or SONO_E_RANGE with a detail line. */
SONO_API int sono_codec_check_tokens(const sono_codec *c, const sono_tokens *t);

/* Wrap bare codes [n_q][n_frames] (e.g. from a .npy) as tokens of this
 * codec: n_samples = the longest signal those frames decode to, per-segment
 * scales 1 (a .npy carries none). Codes are copied and range-checked. */
SONO_API int sono_codec_tokens_from_codes(const sono_codec *c, const int32_t *codes, int n_q,
                                          int64_t n_frames, sono_tokens **out);

/* EnCodec's .ecdc without its entropy-coded LM (header: sono_ecdc_probe in
 * sonotok/tokens.h; layout: codec/FORMATS.md). encode writes tokens t of
 * this codec (checked as sono_codec_check_tokens does) into a malloc'd
 * buffer, byte for byte as the reference's compress(..., use_lm=False)
 * writes the same codes; "m" is the codec's name. The codebook size must be
 * a power of two (SONO_E_UNSUPPORTED). decode reads the codes (and segment
 * scales) of a .ecdc as tokens of this codec (its name and codes hash, whatever
 * model the file names); the caller frees *out. 0 or a negative error. */
SONO_API int sono_codec_ecdc_encode(const sono_codec *c, const sono_tokens *t, uint8_t **buf, size_t *n_bytes);
SONO_API int sono_codec_ecdc_decode(const sono_codec *c, const uint8_t *buf, size_t n_bytes, sono_tokens **out);

/* One-shot: planar PCM at the model's rate and channel count. */
SONO_API int sono_codec_encode(const sono_codec *c, const float *pcm, int64_t n_samples,
                               int n_q, sono_tokens **out);
/* The encoder's continuous output before quantisation: *latents gets
 * [D][*n_frames] floats (D = sono_codec_latent_dim, channel-major; caller
 * frees), the frames sono_codec_encode would quantise into its codes, of the
 * RMS-normalised segments for a segmenting model. Runs the streaming encoder
 * in chunks (memory: the input plus the latents). 0 or a negative error. */
SONO_API int sono_codec_latent_dim(const sono_codec *c);
SONO_API int sono_codec_encode_latents(const sono_codec *c, const float *pcm, int64_t n_samples,
                                       float **latents, int64_t *n_frames);
/* Decode to planar PCM, trimmed to t->n_samples. Caller frees *pcm. */
SONO_API int sono_codec_decode(const sono_codec *c, const sono_tokens *t,
                               float **pcm, int64_t *n_samples);

/* Streaming encode: push PCM in any chunk sizes, then finish; the result
 * equals sono_codec_encode on the whole signal. */
SONO_API sono_codec_stream *sono_codec_encoder_stream(const sono_codec *c, int n_q, int *err);
SONO_API int sono_codec_encoder_push(sono_codec_stream *s, const float *pcm, int64_t n_samples);
/* Finish and hand over all tokens (the stream keeps nothing). */
SONO_API int sono_codec_encoder_finish(sono_codec_stream *s, sono_tokens **out);

/* Streaming decode: created for a token set (kept by reference, must
 * outlive the stream); each pull writes up to max_samples per channel into
 * pcm (room for channels * max_samples floats) and returns the count n written
 * per channel, packed planar like sono_audio_read: channel c at pcm + c * n.
 * Returns 0 at the end, negative on error. */
SONO_API sono_codec_stream *sono_codec_decoder_stream(const sono_codec *c, const sono_tokens *t, int *err);
SONO_API int64_t sono_codec_decoder_pull(sono_codec_stream *s, float *pcm, int64_t max_samples);

/* Live decoding, for codes that arrive over time (a generator's frames):
 * push frames as they come, pull the audio decoded so far, end when no
 * more follow. A codec that decodes whole segments (48 kHz EnCodec) has no
 * live decoder: SONO_E_UNSUPPORTED. Frames are decoded 64 at a time (and at
 * the end); n frames give n * hop samples per channel in all, equal to
 * sono_codec_decode of the same codes. */
SONO_API sono_codec_stream *sono_codec_decoder_live(const sono_codec *c, int n_q, int *err);
/* Push n_frames frames of n_q codes, codes[q * stride + f] (codebook-major).
 * 0, or SONO_E_RANGE for a code out of range (nothing is taken). */
SONO_API int sono_codec_decoder_push(sono_codec_stream *s, const int32_t *codes, int64_t stride, int64_t n_frames);
/* No more frames: decode what is left. 0 or a negative error. */
SONO_API int sono_codec_decoder_end(sono_codec_stream *s);
/* sono_codec_decoder_pull on a live stream returns what is ready, 0 when
 * nothing is (yet, or any more after sono_codec_decoder_end). */

SONO_API void sono_codec_stream_free(sono_codec_stream *s);

#ifdef __cplusplus
}
#endif
#endif
