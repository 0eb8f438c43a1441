/* Test hooks of the coder-model trainer (coder_train.c; the API is
 * sonotok/train.h): a gradient check needs the loss of one fixed batch and
 * the flat parameter and gradient buffers. Not installed. */
#ifndef SONO_CODER_TRAIN_H
#define SONO_CODER_TRAIN_H

#include <stddef.h>
#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"

/* Draw the next batch of training frames (advances the run's stream). */
void sn_coder_trainer_draw(sono_coder_trainer *t);
/* Mean cross-entropy (nats) of the batch drawn; with_grad: its gradient
 * into the gradient buffer (overwritten). */
double sn_coder_trainer_loss(sono_coder_trainer *t, int with_grad);
/* The flat parameters (n floats) and, in *grads, their gradients. */
float *sn_coder_trainer_weights(sono_coder_trainer *t, float **grads, size_t *n);

#endif
