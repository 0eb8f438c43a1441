/* Training-time forward and backward of the whole codec (SEANet encoder,
 * residual VQ, SEANet decoder) for a batch of B crops of T samples. Not
 * streaming: every crop is processed whole, as EnCodec's training does.
 *
 *   train_graph *g = train_graph_new(&cfg, B, T, n_q, &err);
 *   train_graph_load(g, ts);                       // weights + codebooks
 *   train_graph_zero_grad(g);
 *   train_losses L;
 *   train_graph_forward(g, audio, 1.0f, 1.0f, &L); // audio [B][C][T]
 *   train_graph_backward(g, NULL);                 // grads += dL/dparams
 *   ... optimiser step on train_graph_params(g) with train_graph_grads(g) ...
 *
 * Parameters are held in training form in ONE flat buffer (weight-norm
 * pairs weight_g/weight_v, biases, GroupNorm affines, LSTM weights), with a
 * same-shaped gradient buffer and a table of canonical EnCodec names
 * (the names codec_load.c reads, e.g. encoder.model.3.conv.conv.weight_g),
 * so a trained model can be written as a native file. Codebooks are not
 * parameters: they are updated by EMA elsewhere; the forward leaves, per
 * codebook, the residuals it quantised and the indices it chose.
 *
 * All activations live in one arena sized in train_graph_new from
 * (config, B, T); forward and backward allocate nothing. A graph is used by
 * one thread at a time. */
#ifndef SONO_TRAIN_GRAPH_H
#define SONO_TRAIN_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include "codec_internal.h"

struct sono_tensors;

#define TRAIN_MAX_Q 64

typedef struct {
    char name[96];        /* canonical EnCodec name */
    int ndim;
    int64_t shape[3];
    size_t offset;        /* floats into the parameter (and gradient) buffer */
    size_t numel;
} train_param;

typedef struct {
    double l1;            /* mean |x_hat - x| over B*C*T */
    double commit;        /* mean over codebooks of commit_q (EnCodec's penalty) */
    double commit_q[TRAIN_MAX_Q]; /* per codebook: mean((residual - code)^2) over B*D*frames */
    double total;         /* l1_weight * l1 + commit_weight * commit */
} train_losses;

typedef struct train_graph train_graph;

/* Build the graph for cfg, batch B, crop length T (samples per channel; the
 * decoder output must cover T, which holds when T is a multiple of the hop),
 * n_q codebooks (1..cfg->n_q; 0: no quantizer, the decoder reads the latents).
 * Parameters start at zero. NULL on failure with *err set. */
train_graph *train_graph_new(const codec_config *cfg, int B, int T, int n_q, int *err);
void train_graph_free(train_graph *g);

/* Copy weights and codebooks from a tensor set in canonical names (an official
 * .th as sono_th_load reads it). A weight-normed conv may also come as a plain
 * folded `.weight` (then g = row norms, v = weight). 0 or a negative code. */
int train_graph_load(train_graph *g, const struct sono_tensors *ts);

/* The parameter table, the flat buffers, and the codebooks [n_q][bins][D]
 * (writable; call train_graph_codebooks_changed after editing them). */
const train_param *train_graph_param_table(const train_graph *g, int *n_params);
float *train_graph_params(train_graph *g);
float *train_graph_grads(train_graph *g);
size_t train_graph_n_floats(const train_graph *g);
float *train_graph_codebooks(train_graph *g);
void train_graph_codebooks_changed(train_graph *g);
/* Bytes of the activation arena. */
size_t train_graph_arena_bytes(const train_graph *g);

/* EnCodec's RVQ training code (issue #25, kept there for reproducibility)
 * subtracts the straight-through output from the residual, so only the first
 * codebook's commitment reaches the encoder. all_layers = 1 lets every
 * codebook's commitment through (residual minus the detached code, as
 * audiocraft does). Default 0: gradients match the reference. */
void train_graph_set_commit_all_layers(train_graph *g, int all_layers);

/* Forward on audio [B][C][T] (the graph keeps a copy): latents,
 * quantisation, reconstruction, losses.
 * L = l1_weight * mean|x_hat - x| + commit_weight * commitment. Returns 0. */
int train_graph_forward(train_graph *g, const float *audio, float l1_weight, float commit_weight,
                        train_losses *out);

/* After train_graph_forward: reconstruction [B][C][output_len] (output_len
 * == T when T is a multiple of the hop; the losses use the first T samples),
 * latents and per-codebook residual inputs [B][D][frames] (residual 0 = the
 * latents), indices [B][frames]. Valid until the next forward. */
const float *train_graph_output(const train_graph *g);
int train_graph_output_len(const train_graph *g);
int train_graph_frames(const train_graph *g);
const float *train_graph_latents(const train_graph *g);
const float *train_graph_residual(const train_graph *g, int q);
const int32_t *train_graph_indices(const train_graph *g, int q);

/* Backward of the last forward's loss; extra_dout [B][C][T] (may be NULL) is
 * the gradient of further losses with respect to the reconstruction, added to
 * the L1 term's. Gradients ACCUMULATE into train_graph_grads. Returns 0, or
 * SONO_E_ARG when no forward has run. */
int train_graph_backward(train_graph *g, const float *extra_dout);
void train_graph_zero_grad(train_graph *g);

#endif
