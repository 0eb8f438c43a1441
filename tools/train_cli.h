/* What train-codec shares with bench --train (both use the library's
 * internal training API, codec/trainer.h). */
#ifndef SONOTOK_TRAIN_CLI_H
#define SONOTOK_TRAIN_CLI_H

#include "codec_internal.h"

/* train-codec's default architecture: 24 kHz mono, non-causal, 16 filters,
 * no LSTM, 8 codebooks of 1024, 1.5 / 3 / 6 kbps. */
void train_codec_default_config(codec_config *cfg);

#endif
