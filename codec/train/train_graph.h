/* Training-time forward and backward of the whole codec (SEANet encoder,
 * residual VQ, SEANet decoder, or with cfg->decoder == DECODER_VOCOS the Vocos
 * head of codec/train/vocos_train.h) for a batch of B crops of T samples. Not
 * streaming: every crop is processed whole, as EnCodec's training does.
 *
 *   train_graph *g = sn_train_graph_new(&cfg, B, T, n_q, &err);
 *   sn_train_graph_load(g, ts);                       // weights + codebooks, or:
 *   //  sn_train_graph_init_params(g, seed);          // PyTorch's default init
 *   //  sn_train_graph_data_init(g, audio, 0.1f);     // unit-std activations
 *   //  ... set sn_train_graph_codebooks(g), sn_train_graph_codebooks_changed(g) ...
 *   sn_train_graph_zero_grad(g);
 *   train_losses L;
 *   sn_train_graph_forward(g, audio, 1.0f, 1.0f, &L); // audio [B][C][T]
 *   sn_train_graph_backward(g, NULL);                 // grads += dL/dparams
 *   ... optimiser step on sn_train_graph_params(g) with sn_train_graph_grads(g) ...
 *
 * Parameters are held in training form in ONE flat buffer (weight-norm
 * pairs weight_g/weight_v, biases, GroupNorm affines, LSTM weights), with a
 * same-shaped gradient buffer and a table of canonical EnCodec names
 * (sn_seanet_walk's names, which codec_load.c reads, e.g. encoder.model.3.conv.conv.weight_g),
 * so a trained model can be written as a native file; a Vocos head's
 * parameters follow under its decoder.backbone.* / decoder.head.* names
 * (notes/vocos_spec.md). Codebooks are not
 * parameters: they are updated by EMA elsewhere; the forward leaves, per
 * codebook, the residuals it quantised and the indices it chose.
 *
 * All activations live in one arena sized in sn_train_graph_new from
 * (config, B, T); forward and backward allocate nothing. A graph is used by
 * one thread at a time and runs single-threaded (kernels with n_threads = 1,
 * OpenBLAS with whatever thread count the caller set), so a training loop
 * runs one graph per worker thread; graphs share no mutable state. */
#ifndef SONO_TRAIN_GRAPH_H
#define SONO_TRAIN_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include "codec_internal.h"
#include "params.h"

struct sono_tensors;

#define TRAIN_MAX_Q 64
#define TRAIN_NODE_KINDS 10 /* see sn_train_graph_timing */

/* One entry of the flat parameter table (common/params.h), under its
 * canonical EnCodec name. */
typedef sn_param train_param;

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
train_graph *sn_train_graph_new(const codec_config *cfg, int B, int T, int n_q, int *err);
void sn_train_graph_free(train_graph *g);

/* Copy weights and codebooks from a tensor set in canonical names (an official
 * .th as sn_th_load reads it). A weight-normed conv may also come as a plain
 * folded `.weight` (then g = row norms, v = weight). 0 or a negative code. */
int sn_train_graph_load(train_graph *g, const struct sono_tensors *ts);

/* The parameter table, the flat buffers, and the codebooks [n_q][bins][D]
 * (writable; call sn_train_graph_codebooks_changed after editing them). */
const train_param *sn_train_graph_param_table(const train_graph *g, int *n_params);
float *sn_train_graph_params(train_graph *g);
float *sn_train_graph_grads(train_graph *g);
size_t sn_train_graph_n_floats(const train_graph *g);
float *sn_train_graph_codebooks(train_graph *g);
void sn_train_graph_codebooks_changed(train_graph *g);
/* Bytes of the activation arena. */
size_t sn_train_graph_arena_bytes(const train_graph *g);

/* EnCodec's RVQ training code (issue #25, kept there for reproducibility)
 * subtracts the straight-through output from the residual, so only the first
 * codebook's commitment reaches the encoder. all_layers = 1 lets every
 * codebook's commitment through (residual minus the detached code, as
 * audiocraft does). Default 0: gradients match the reference. */
void sn_train_graph_set_commit_all_layers(train_graph *g, int all_layers);

/* Forward on audio [B][C][T] (the graph keeps a copy): latents,
 * quantisation, reconstruction, losses.
 * L = l1_weight * mean|x_hat - x| + commit_weight * commitment. Returns 0. */
int sn_train_graph_forward(train_graph *g, const float *audio, float l1_weight, float commit_weight,
                        train_losses *out);

/* After sn_train_graph_forward: reconstruction [B][C][output_len] (output_len
 * == T when T is a multiple of the hop; the losses use the first T samples),
 * latents and per-codebook residual inputs [B][D][frames] (residual 0 = the
 * latents), indices [B][frames]. Valid until the next forward. */
const float *sn_train_graph_output(const train_graph *g);
int sn_train_graph_output_len(const train_graph *g);
int sn_train_graph_frames(const train_graph *g);
const float *sn_train_graph_latents(const train_graph *g);
const float *sn_train_graph_residual(const train_graph *g, int q);
const int32_t *sn_train_graph_indices(const train_graph *g, int q);

/* Backward of the last forward's loss; extra_dout [B][C][T] (may be NULL) is
 * the gradient of further losses with respect to the reconstruction, added to
 * the L1 term's. Gradients ACCUMULATE into sn_train_graph_grads. Returns 0, or
 * SONO_E_ARG when no forward has run. */
int sn_train_graph_backward(train_graph *g, const float *extra_dout);
void sn_train_graph_zero_grad(train_graph *g);

/* Frozen encoder: 1 makes every later backward stop at the decoder's input
 * (the quantizer's output, or the latents without a quantizer): the
 * encoder's parameters get no gradient (sn_train_graph_grads keeps there
 * what zero_grad left, zeros) and its nodes do not run backward; the
 * forward is unchanged. Default 0. The encoder's parameters are the flat
 * buffer's first sn_train_graph_encoder_floats(g) floats, the decoder's
 * follow. */
void sn_train_graph_set_freeze_encoder(train_graph *g, int frozen);
size_t sn_train_graph_encoder_floats(const train_graph *g);

/* Quantizer dropout: the next forwards (and their backwards) use only the
 * first n_active codebooks (clamped to 1..n_q; no effect when n_q == 0). The
 * commitment is averaged over the active ones, commit_q of the others is 0,
 * and their residuals and indices are left untouched. Default n_q. */
void sn_train_graph_set_active_q(train_graph *g, int n_active);
int sn_train_graph_active_q(const train_graph *g);

/* PyTorch's default initialisation, deterministic from seed (splitmix64):
 * Conv1d / ConvTranspose1d weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * (kaiming_uniform with a = sqrt(5); fan_in = C_in*K for a conv, C_out*K for a
 * transposed conv, as torch computes it from weight dim 1); under weight norm
 * v = that weight and g = its row norms; LSTM weights and biases
 * U(-1/sqrt(H), 1/sqrt(H)); GroupNorm weight 1, bias 0. A Vocos head then
 * draws from the same generator: weights truncated normal (std 0.02, cut at
 * 2 std), biases 0, LayerNorm 1/0, gamma 1/vocos_layers. Codebooks are not
 * touched (the caller sets them). */
void sn_train_graph_init_params(train_graph *g, uint64_t seed);

/* Data-dependent initialisation on audio [B][C][T]: runs the forward node by
 * node and, right after each conv and transposed conv (before its GroupNorm,
 * if any), rescales the layer by one factor so that its output has standard
 * deviation 1 over the whole batch (all channels and steps, each channel
 * about its own mean), scaling weight_g under weight norm and weight
 * otherwise, and sets the bias so every output channel has mean 0; the output
 * is recomputed before going on. The SEANet decoder's last conv is scaled to
 * target_std instead (e.g. the audio's std); a Vocos head is left as
 * initialised (target_std unused). LSTM layers are left as they are.
 * The quantizer is bypassed (the decoder sees the latents), since the
 * codebooks are usually made from the latents afterwards. Without it, with
 * PyTorch's default init every layer shrinks the signal, the latents are
 * nearly constant and training collapses onto one code.
 * Leaves no forward for sn_train_graph_backward. 0 or SONO_E_ARG. */
int sn_train_graph_data_init(train_graph *g, const float *audio, float target_std);

/* 1: run forward and backward on the plain _ref kernels (for tests and
 * benchmarks); 0 (default): the fast ones. */
void sn_train_graph_set_ref_kernels(train_graph *g, int use_ref);

/* Per node kind wall time: on = 1 clears the counters and starts timing every
 * node (one clock read per node and crop), 0 stops. sn_train_graph_timing fills
 * names, fwd_s and bwd_s (each TRAIN_NODE_KINDS entries, any may be NULL):
 * kind name, seconds in forwards and in backwards since timing was switched on. */
void sn_train_graph_set_timing(train_graph *g, int on);
void sn_train_graph_timing(const train_graph *g, const char **names, double *fwd_s, double *bwd_s);

#endif
