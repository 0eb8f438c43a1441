/* What train-codec shares with bench --train: the public, less stable
 * training API. */
#ifndef SONOTOK_TRAIN_CLI_H
#define SONOTOK_TRAIN_CLI_H

#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"

#endif
