/* sonotok token LM: a decoder-only transformer over mixed text and audio
 * tokens (see lm/README.md). This header loads an LM file, says what the
 * model is, and generates codes with it (sono_lm_generate, below).
 *
 *   int err;
 *   sono_lm *lm = sono_lm_load("lm.safetensors", &err);
 *   if (!lm) { fprintf(stderr, "%s\n", sono_last_error()); ... }
 *   uint8_t codes[16], full[16];
 *   sono_codec_codes_hash(codec, codes); sono_codec_hash(codec, full);
 *   if (sono_lm_check_codec_hashes(lm, sono_codec_name(codec), codes, full)) ... // made for another codec
 *   printf("%d codebooks, context %d\n", sono_lm_n_codebooks(lm), sono_lm_context(lm));
 *   sono_lm_free(lm);
 *
 * An LM file is safetensors (float32 tensors named as the model's parameter
 * table: tok_emb.weight, blocks.0.attn.qkv.weight, ...) with __metadata__
 * holding the model config, the mixed vocabulary layout
 * (sono_vocab_layout_to_json), the text tokenizer's file (base64) and the
 * codec it was trained for (name and codes hash, sono_codec_codes_hash; LM
 * files made before the codes hash record its full content hash,
 * sono_codec_hash). Byte layout: lm/README.md.
 *
 * Generation: continue an audio prompt's codes, or write audio for a caption,
 * frame by frame; each finished frame goes to a callback (e.g. a codec
 * decoder stream, sono_codec_decoder_live), so audio can be rendered while
 * the model runs.
 *
 *   sono_lm_generate_params g = sono_lm_generate_default_params();
 *   g.task = SONO_LM_TASK_TTA; g.text = "a dog barks"; g.max_frames = 375; g.n_threads = 2;
 *   int64_t F = sono_lm_generate_max_frames(lm, &g);       // frames per output, or an error
 *   int32_t *codes = malloc(sizeof(int32_t) * g.n_outputs * K * F);
 *   int64_t n_frames[1];
 *   int rc = sono_lm_generate(lm, &g, on_frame, user, codes, n_frames);
 *
 * A sono_lm is immutable after loading and may be shared between threads;
 * each sono_lm_generate call has its own state (KV cache, random streams). */
#ifndef SONOTOK_LM_H
#define SONOTOK_LM_H

#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"
#include "sonotok/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sono_lm sono_lm;

/* Read an LM file. NULL with *err set: SONO_E_NOT_FOUND, SONO_E_IO,
 * SONO_E_FORMAT (not an LM file, corrupt or inconsistent metadata, a tensor
 * missing or of another shape), SONO_E_TRUNCATED, SONO_E_UNSUPPORTED
 * (another format version), SONO_E_CHECKSUM (the embedded tokenizer),
 * SONO_E_LIMIT; sono_last_error() has a one-line detail. */
SONO_API sono_lm *sono_lm_load(const char *path, int *err);
/* The same from a file's n_bytes bytes in memory (not kept). */
SONO_API sono_lm *sono_lm_from_bytes(const void *data, size_t n_bytes, int *err);
/* NULL-safe. */
SONO_API void sono_lm_free(sono_lm *lm);

/* The model's name (the file's stem when it was exported). */
SONO_API const char *sono_lm_name(const sono_lm *lm);
/* Sizes: audio codebooks per frame (K), codes per codebook, context in
 * positions, residual width, layers, attention heads, parameters. */
SONO_API int sono_lm_n_codebooks(const sono_lm *lm);
SONO_API int sono_lm_codebook_size(const sono_lm *lm);
SONO_API int sono_lm_context(const sono_lm *lm);
SONO_API int sono_lm_width(const sono_lm *lm);
SONO_API int sono_lm_n_layers(const sono_lm *lm);
SONO_API int sono_lm_n_heads(const sono_lm *lm);
SONO_API int64_t sono_lm_n_params(const sono_lm *lm);
/* The text tokenizer the model reads (owned by lm). */
SONO_API const sono_tokenizer *sono_lm_tokenizer(const sono_lm *lm);
/* The mixed vocabulary layout stored in the file. */
SONO_API void sono_lm_vocab_layout(const sono_lm *lm, sono_vocab_layout *l);

/* Text-to-speech conditions (an LM whose vocabulary has phonemes, layout
 * version 2): how many, and condition i's name, "lang:L" (a language of
 * its training data, an espeak-ng language name) or "voice:NAME" (a
 * training voice); NULL for i out of range. 0 for an LM without TTS. */
SONO_API int sono_lm_n_conditions(const sono_lm *lm);
SONO_API const char *sono_lm_condition(const sono_lm *lm, int i);

/* The codec the model was trained for: its name, hash (its codes hash,
 * sono_codec_codes_hash, or in LM files made before it the full hash,
 * sono_codec_hash) and frame rate in frames per second. */
SONO_API const char *sono_lm_codec_name(const sono_lm *lm);
SONO_API void sono_lm_codec_hash(const sono_lm *lm, uint8_t out[16]);
SONO_API double sono_lm_frame_rate(const sono_lm *lm);
/* 0 when codec_name is the name the LM records and codec_hash the hash it
 * records (exactly); else SONO_E_MODEL_MISMATCH with a detail line naming
 * both codecs. To check a codec, use sono_lm_check_codec_hashes. */
SONO_API int sono_lm_check_codec(const sono_lm *lm, const char *codec_name, const uint8_t codec_hash[16]);
/* 0 when a codec (its sono_codec_name, sono_codec_codes_hash and
 * sono_codec_hash) is the one the LM was trained for: the names agree and
 * the LM records either hash (the codes hash: any codec with the same
 * encoder and codebooks, e.g. the exports of a train-codec --freeze-encoder
 * phase; the full hash: LM files made before the codes hash). Else
 * SONO_E_MODEL_MISMATCH with a detail line naming both codecs. What
 * generate and train-lm check. */
SONO_API int sono_lm_check_codec_hashes(const sono_lm *lm, const char *codec_name, const uint8_t codes_hash[16],
                                        const uint8_t hash[16]);

/* ---- generation ----
 *
 * The model reads what it was trained on: [task] [caption ids] [<sep>] then
 * audio steps (codebook k delayed by k steps, MusicGen's pattern), and
 * writes one step, i.e. K codes, per position. A prompt's codes are the
 * first steps; the generator forces the slots it knows (the prompt's late
 * codebooks, <empty> before a codebook starts, <end-audio> after the end)
 * and samples the others. An output stops when codebook 0 draws
 * <end-audio> (not before min_frames), or at max_frames.
 *
 * Classifier-free guidance, where there is a caption to drop (tta) and cfg
 * is not 1: each output runs a second sequence with the caption replaced
 * by <uncond>, in the same batched step, and samples from
 * uncond + cfg * (cond - uncond). continue has no caption, hence no CFG.
 *
 * Output i draws from its own random stream, derived from (seed, i): the
 * first output of n_outputs = 3 is the output of n_outputs = 1, and the
 * codes are the same on any n_threads. Greedy or low-temperature sampling
 * can fall into a loop (the same few frames again and again), as LMs do;
 * temperature near 1 with top-k (MusicGen's 250) avoids it in practice. */

enum sono_lm_task {
    SONO_LM_TASK_CONTINUE = 0, /* continue the prompt (none: start from nothing); no caption */
    SONO_LM_TASK_TTA = 1,      /* text to audio: a caption; a prompt is optional (the audio's start) */
    SONO_LM_TASK_TTS = 2,      /* text to speech: text is what to say (an LM trained with phonemes) */
};

/* Text to speech (task TTS, an LM whose vocabulary has phonemes; others:
 * SONO_E_UNSUPPORTED). The text is cut into sentences (sono_text_split,
 * pieces of at most SONO_LM_TTS_PIECE_BYTES), each turned into phonemes
 * in p->lang (espeak-ng, sonotok/phonemes.h); pieces with nothing to
 * pronounce are left out. Each piece is generated from its own prefix
 * [<task:tts> <lang:L> <voice:V> phonemes <sep>] in the ELLA-V layout
 * (doc/tts-layout.md): the generator forces each phoneme token in turn, the
 * model decides when each ends (codebook 0's <end-audio>), and the pieces'
 * frames follow one another in one output (frame numbers continue), the
 * gap between them being each piece's own closing pause phoneme. Caps
 * make every generation end: SONO_LM_TTS_CAP_PHONE frames per phoneme,
 * SONO_LM_TTS_CAP_PAUSE per pause, SONO_LM_TTS_CAP_MEAN x phonemes per
 * piece (and what the context holds). No CFG, prompt, max_frames or
 * min_frames (0, else SONO_E_ARG). Errors: SONO_E_EMPTY (empty text, or
 * nothing pronounceable), SONO_E_LIMIT (text over SONO_LM_TTS_MAX_BYTES,
 * or a sentence whose phonemes do not fit the context), SONO_E_ARG (a
 * language or voice not among the LM's conditions: the detail lists
 * them), or the phonemizer's (SONO_E_NOT_FOUND: espeak-ng's data missing,
 * SONO_E_FORMAT: invalid UTF-8). */
#define SONO_LM_TTS_MAX_BYTES 16384
#define SONO_LM_TTS_PIECE_BYTES 400
#define SONO_LM_TTS_CAP_PHONE 40
#define SONO_LM_TTS_CAP_PAUSE 120
#define SONO_LM_TTS_CAP_MEAN 20

#define SONO_LM_MAX_OUTPUTS 8  /* outputs of one call */

typedef struct {
    int task;                 /* SONO_LM_TASK_*. Default CONTINUE */
    const char *text;         /* caption, NUL-terminated bytes (UTF-8), NULL or "": none. Default NULL */
    const int32_t *prompt;    /* prompt codes [K][n_prompt_frames] (codebook-major, each < codebook size), or NULL */
    int64_t n_prompt_frames;  /* default 0 */
    int64_t max_frames;       /* most new frames per output; 0: as many as the context holds. Default 0 */
    int64_t min_frames;       /* <end-audio> is not drawn before this many new frames. Default 0 */
    float temperature;        /* logits / temperature; <= 0: greedy. Default 1 */
    int top_k;                /* keep the k most likely codes; 0: all. Default 250 */
    float top_p;              /* then the smallest set holding this much probability; 1: off. Default 1 */
    float cfg;                /* guidance scale (tta). Default 3 */
    uint64_t seed;            /* default 1 */
    int n_outputs;            /* candidates generated together, 1..SONO_LM_MAX_OUTPUTS. Default 1 */
    int n_threads;            /* threads for the model. Default 1 */
    int half_weights;         /* 1: the steps read float16 copies of the weight matrices, made at the start of
                               * the call (half the bytes a step streams: faster where memory is the limit;
                               * the logits move by float16's rounding, so the codes differ from float32's);
                               * 0: float32. Same bits on any n_threads either way. Default 0 */
    const char *lang;         /* tts: the language, an LM condition "lang:L" (sono_lm_condition). NULL: "en" */
    const char *voice;        /* tts: the voice, an LM condition "voice:V". NULL: the LM's first voice */
} sono_lm_generate_params;

SONO_API sono_lm_generate_params sono_lm_generate_default_params(void);

/* Called once for every completed new frame of every output, in step order
 * (frame by frame, outputs in order within a step): codes [K] are the
 * frame's codes, one per codebook; frame counts from 0, the prompt's frames
 * not included. Return 0 to go on; anything else stops the generation and
 * sono_lm_generate returns it. */
typedef int (*sono_lm_frame_fn)(void *user, int output, int64_t frame, const int32_t *codes);

/* New frames per output that the context allows for p (its max_frames, or
 * what the context holds when that is 0), after checking p: > 0, or
 * SONO_E_ARG (bad parameters: detail names them), the tts errors (above),
 * SONO_E_RANGE (a prompt code out of range), SONO_E_LIMIT (the caption is
 * longer than half the context, as in training; or the prompt, caption and
 * max_frames pass the context). */
SONO_API int64_t sono_lm_generate_max_frames(const sono_lm *lm, const sono_lm_generate_params *p);

/* Generate p->n_outputs outputs. on_frame (NULL: none) receives each frame
 * as it completes. codes (NULL: not wanted) receives every output's frames,
 * [n_outputs][K][F] with F = sono_lm_generate_max_frames(lm, p), and
 * n_frames (NULL: not wanted) [n_outputs] their counts. 0, an error of
 * sono_lm_generate_max_frames, SONO_E_NOMEM, or on_frame's non-zero value. */
SONO_API int sono_lm_generate(const sono_lm *lm, const sono_lm_generate_params *p, sono_lm_frame_fn on_frame,
                              void *user, int32_t *codes, int64_t *n_frames);

#ifdef __cplusplus
}
#endif
#endif
