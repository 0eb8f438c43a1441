/* sonotok: neural audio tokens in C. One include for the whole public API:
 * errors (error.h), CPU dispatch (cpu.h), audio files (audio.h), token files, .npy and archives
 * (tokens.h), the codec (codec.h), metrics (metrics.h) and the output
 * writer every file goes through (output.h), the text tokenizer (tokenizer.h),
 * the phoneme front end (phonemes.h),
 * LM files (lm.h) and the linear probe (probe.h).
 *
 *   #include <sonotok/sonotok.h>
 *   sono_codec *c = sono_codec_load("encodec_24khz", NULL, &err);  */
#ifndef SONOTOK_H
#define SONOTOK_H
#include "sonotok/error.h"
#include "sonotok/cpu.h"
#include "sonotok/audio.h"
#include "sonotok/tokens.h"
#include "sonotok/codec.h"
#include "sonotok/metrics.h"
#include "sonotok/output.h"
#include "sonotok/tokenizer.h"
#include "sonotok/phonemes.h"
#include "sonotok/lm.h"
#include "sonotok/probe.h"

#define SONOTOK_VERSION "0.1.0"
#endif
