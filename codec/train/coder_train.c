/* Coder-model training (train.h, "coder models"; `sonotok train-coder`): the
 * float twin of the integer model of codec/coder_model.h, trained on a
 * corpus's codes by cross-entropy with AdamW (common/optim.h), checkpoints
 * (common/checkpoint.h), held-out bits per code of the float model and of
 * the exported integer one, and the export: power-of-two scales chosen from
 * the weights and from activations on training frames, rounded into the
 * .coder file.
 *
 * A step takes `batch` random frames of the training clips; each frame
 * gives one target per codebook q, predicted from the P frames before it in
 * codebooks 0..q and from codebooks 0..q-1 of its own frame (zeros, i.e.
 * the pad embedding, before a clip's start, as at the start of a file).
 *
 * Determinism: one splitmix64 stream picks the frames; OpenBLAS runs at one
 * thread and the work is split by codebook, each codebook's sums done whole
 * by one thread, and the sums across codebooks in a fixed order: the same
 * bits on any n_threads, and across a resume (the checkpoint holds the
 * stream, the step, the parameters and both Adam moments). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sonotok/cpu.h"
#include "sonotok/output.h"
#include "checkpoint.h"
#include "coder_model.h"
#include "coder_train.h"
#include "kernels.h"
#include "optim.h"
#include "params.h"
#include "sono_internal.h"

#define CKPT_FORMAT "sonotok-coder-checkpoint"
#define CAL_FRAMES 4096 /* training frames whose activations set the export's scales */

enum { P_EMB, P_U, P_C, P_B1, P_W2, P_B2, P_WO, P_BO, P_COUNT };

/* Activations of one batch, [K][B][...] per codebook. */
typedef struct {
    int B;
    int32_t *x;           /* [B][K][P+1] codes, lag 0 (the target) first; V for a frame before the start */
    int *cat;             /* [B] category of the frame's clip */
    float *Xl, *Xc;       /* [K][B][P*D], [K][B][D] gathered embeddings */
    float *L, *Cu;        /* [K][B][H] the codebook's past and current terms (then their gradients) */
    float *Z, *Hh;        /* [K][B][H] first layer, before and after the ReLU */
    float *A2, *Gg;       /* [K][B][G] second layer */
    float *Y;             /* [K][B][V] logits, then softmax, then dlogits */
    float *dG, *dH;       /* [K][B][G], [K][B][H] */
    float *dXl, *dXc;     /* [K][B][P*D], [K][B][D] */
    double *loss;         /* [K][B] nats */
    double *ymax;         /* [K] largest |logit| of the last forward */
} ct_acts;

struct sono_coder_trainer {
    sono_coder_train_params p;
    char codec_name[SONO_MODEL_NAME_MAX];
    uint8_t codec_hash[16];
    int V, K, P, D, H, G;
    const sono_code_set *train, *held;
    int64_t *cum;         /* [n_clips + 1] training frames before clip i */
    int64_t *ev_clip, *ev_t, n_ev; /* held-out frames of an evaluation */
    sn_param_table pt;
    float *params, *grads;
    sono_adamw opt;
    ct_acts a;
    uint64_t rng;
    int64_t step;
    double cpu_hours;
    sono_coder_train_stats stats;
};

sono_coder_train_params sono_coder_train_default_params(void) {
    sono_coder_train_params p;
    memset(&p, 0, sizeof p);
    p.lags = 4;
    p.emb_dim = 32;
    p.hidden = 256;
    p.hidden2 = 128;
    p.batch = 256;
    p.n_threads = 2;
    p.steps = 20000;
    p.warmup = 300;
    p.lr = 2e-3f;
    p.lr_min = 1e-4f;
    p.beta1 = 0.9f;
    p.beta2 = 0.99f;
    p.weight_decay = 0.0f;
    p.clip = 1.0f;
    p.seed = 1;
    p.eval_frames = 30000;
    p.eval_clip_frames = 1500;
    return p;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *P_(sono_coder_trainer *t, int i, int k) { /* tensor i, codebook k */
    const sn_param *e = &t->pt.p[i];
    return t->params + e->offset + (size_t)k * (e->numel / (size_t)t->K);
}
static float *G_(sono_coder_trainer *t, int i, int k) {
    const sn_param *e = &t->pt.p[i];
    return t->grads + e->offset + (size_t)k * (e->numel / (size_t)t->K);
}

/* ---- sizes, buffers ---- */

static int check_set(const sono_code_set *s, const char *what) {
    if (!s || s->n_clips < 1 || !s->codes || !s->n_frames)
        return sn_fail(SONO_E_EMPTY, "train-coder: no %s clips", what);
    if (s->n_codebooks < 1 || s->n_codebooks > SN_CM_K_MAX || s->codebook_size < SN_CM_V_MIN ||
        s->codebook_size > SN_CM_V_MAX)
        return sn_fail(SONO_E_RANGE, "train-coder: %d codebooks of %d codes (a coder model takes 1..%d of %d..%d)",
                       s->n_codebooks, s->codebook_size, SN_CM_K_MAX, SN_CM_V_MIN, SN_CM_V_MAX);
    int64_t total = 0;
    for (int i = 0; i < s->n_clips; i++) total += s->n_frames[i] > 0 ? s->n_frames[i] : 0;
    if (!total) return sn_fail(SONO_E_EMPTY, "train-coder: the %s clips hold no frame", what);
    return 0;
}

static int check_params(const sono_coder_train_params *p) {
    sn_cm_dims d = {SN_CM_V_MIN, 1, p->lags, p->emb_dim, p->hidden, p->hidden2, 1, 1, 0};
    int rc = sn_cm_check_dims(&d);
    if (rc) return sn_fail(SONO_E_RANGE, "train-coder: %s", sono_last_error());
    if (p->batch < 1 || p->batch > 65536 || p->n_threads < 1 || p->steps < 1 || p->warmup < 0 || !(p->lr > 0) ||
        p->lr_min < 0 || p->eval_frames < 1 || p->eval_clip_frames < 1)
        return sn_fail(SONO_E_RANGE, "train-coder: batch, threads, steps, learning rate or evaluation size out of range");
    if (p->codec_name && strlen(p->codec_name) >= SONO_MODEL_NAME_MAX)
        return sn_fail(SONO_E_RANGE, "train-coder: codec name too long");
    return 0;
}

static void acts_free(ct_acts *a) {
    free(a->x), free(a->cat), free(a->Xl), free(a->Xc), free(a->L), free(a->Cu), free(a->Z), free(a->Hh);
    free(a->A2), free(a->Gg), free(a->Y), free(a->dG), free(a->dH), free(a->dXl), free(a->dXc), free(a->loss);
    free(a->ymax);
    memset(a, 0, sizeof *a);
}

static int acts_new(sono_coder_trainer *t, ct_acts *a) {
    size_t B = (size_t)t->p.batch, K = (size_t)t->K, PD = (size_t)t->P * (size_t)t->D, H = (size_t)t->H,
           G = (size_t)t->G, V = (size_t)t->V, D = (size_t)t->D;
    a->B = (int)B;
    a->x = malloc(sizeof(int32_t) * B * K * (size_t)(t->P + 1));
    a->cat = malloc(sizeof(int) * B);
    a->loss = malloc(sizeof(double) * K * B);
    a->ymax = malloc(sizeof(double) * K);
    struct { float **p; size_t n; } f[] = {
        {&a->Xl, PD}, {&a->Xc, D}, {&a->L, H}, {&a->Cu, H}, {&a->Z, H}, {&a->Hh, H}, {&a->A2, G},
        {&a->Gg, G},  {&a->Y, V},  {&a->dG, G}, {&a->dH, H}, {&a->dXl, PD}, {&a->dXc, D},
    };
    int ok = a->x && a->cat && a->loss && a->ymax;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) ok &= (*f[i].p = malloc(sizeof(float) * K * B * f[i].n)) != NULL;
    if (!ok) {
        acts_free(a);
        return sn_fail(SONO_E_NOMEM, "train-coder: no memory for a batch of %zu frames", B);
    }
    return 0;
}

/* ---- the float model ---- */

/* Frame (clip c, time t) of set s into row b of the batch. */
static void gather_codes(const sono_coder_trainer *t, ct_acts *a, int b, const sono_code_set *s, int c, int64_t tt) {
    int K = t->K, P = t->P;
    int64_t n = s->n_frames[c];
    const int16_t *x = s->codes[c];
    for (int k = 0; k < K; k++)
        for (int l = 0; l <= P; l++)
            a->x[((size_t)b * (size_t)K + (size_t)k) * (size_t)(P + 1) + (size_t)l] =
                tt - l >= 0 ? x[(size_t)k * (size_t)n + (size_t)(tt - l)] : t->V;
    a->cat[b] = s->category ? s->category[c] : 3;
}

/* Forward over the first nb rows (the rest of the batch is ignored).
 * a->loss gets each target's cross-entropy; a->Y the softmax. */
static void forward(sono_coder_trainer *t, ct_acts *a, int nb) {
    const int K = t->K, P = t->P, D = t->D, H = t->H, G = t->G, V = t->V, B = a->B, PD = P * D;
#pragma omp parallel for num_threads(t->p.n_threads) schedule(static)
    for (int k = 0; k < K; k++) {
        const float *E = P_(t, P_EMB, k);
        float *Xl = a->Xl + (size_t)k * (size_t)B * (size_t)PD, *Xc = a->Xc + (size_t)k * (size_t)B * (size_t)D;
        for (int b = 0; b < nb; b++) {
            const int32_t *x = a->x + ((size_t)b * (size_t)K + (size_t)k) * (size_t)(P + 1);
            memcpy(Xc + (size_t)b * (size_t)D, E + (size_t)x[0] * (size_t)D, sizeof(float) * (size_t)D);
            for (int l = 1; l <= P; l++)
                memcpy(Xl + (size_t)b * (size_t)PD + (size_t)(l - 1) * (size_t)D, E + (size_t)x[l] * (size_t)D,
                       sizeof(float) * (size_t)D);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, H, PD, 1.0f, Xl, PD, P_(t, P_U, k), PD, 0.0f,
                    a->L + (size_t)k * (size_t)B * (size_t)H, H);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, H, D, 1.0f, Xc, D, P_(t, P_C, k), D, 0.0f,
                    a->Cu + (size_t)k * (size_t)B * (size_t)H, H);
    }
    /* z_q = b1_q + sum_{k<q} (L_k + Cu_k) + L_q, the running sum kept in Hh of the last codebook */
    size_t BH = (size_t)B * (size_t)H;
    float *S = a->Hh + (size_t)(K - 1) * BH;
    memset(S, 0, sizeof(float) * BH);
    for (int q = 0; q < K; q++) {
        float *Z = a->Z + (size_t)q * BH;
        const float *L = a->L + (size_t)q * BH, *Cu = a->Cu + (size_t)q * BH, *b1 = P_(t, P_B1, q);
        for (int b = 0; b < nb; b++)
            for (int h = 0; h < H; h++) {
                size_t i = (size_t)b * (size_t)H + (size_t)h;
                Z[i] = S[i] + L[i] + b1[h];
                S[i] += L[i] + Cu[i];
            }
    }
#pragma omp parallel for num_threads(t->p.n_threads) schedule(static)
    for (int q = 0; q < K; q++) {
        const float *Z = a->Z + (size_t)q * BH;
        float *Hh = a->Hh + (size_t)q * BH, *A2 = a->A2 + (size_t)q * (size_t)B * (size_t)G;
        float *Gg = a->Gg + (size_t)q * (size_t)B * (size_t)G, *Y = a->Y + (size_t)q * (size_t)B * (size_t)V;
        for (size_t i = 0; i < (size_t)nb * (size_t)H; i++) Hh[i] = Z[i] > 0 ? Z[i] : 0;
        const float *b2 = P_(t, P_B2, q), *bo = P_(t, P_BO, q);
        for (int b = 0; b < nb; b++) memcpy(A2 + (size_t)b * (size_t)G, b2, sizeof(float) * (size_t)G);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, G, H, 1.0f, Hh, H, P_(t, P_W2, q), H, 1.0f, A2, G);
        for (size_t i = 0; i < (size_t)nb * (size_t)G; i++) Gg[i] = A2[i] > 0 ? A2[i] : 0;
        for (int b = 0; b < nb; b++) memcpy(Y + (size_t)b * (size_t)V, bo, sizeof(float) * (size_t)V);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, V, G, 1.0f, Gg, G, P_(t, P_WO, q), G, 1.0f, Y, V);
        double ym = 0;
        for (int b = 0; b < nb; b++) {
            float *y = Y + (size_t)b * (size_t)V;
            float mx = y[0], mn = y[0];
            for (int v = 1; v < V; v++) mx = y[v] > mx ? y[v] : mx, mn = y[v] < mn ? y[v] : mn;
            ym = fmax(ym, fmax(fabs(mx), fabs(mn)));
            double s = 0;
            for (int v = 0; v < V; v++) {
                y[v] = expf(y[v] - mx);
                s += y[v];
            }
            int32_t target = a->x[((size_t)b * (size_t)K + (size_t)q) * (size_t)(P + 1)];
            a->loss[(size_t)q * (size_t)B + (size_t)b] = log(s) - log((double)y[target]);
            float inv = (float)(1.0 / s);
            for (int v = 0; v < V; v++) y[v] *= inv;
        }
        a->ymax[q] = ym;
    }
}

/* Backward of the mean loss over the nb x K targets into t->grads (overwritten). */
static void backward(sono_coder_trainer *t, ct_acts *a, int nb) {
    const int K = t->K, P = t->P, D = t->D, H = t->H, G = t->G, V = t->V, B = a->B, PD = P * D;
    const float scale = 1.0f / (float)((size_t)nb * (size_t)K);
    size_t BH = (size_t)B * (size_t)H, BG = (size_t)B * (size_t)G;
    memset(t->grads, 0, sizeof(float) * t->pt.n_floats);
#pragma omp parallel for num_threads(t->p.n_threads) schedule(static)
    for (int q = 0; q < K; q++) {
        float *Y = a->Y + (size_t)q * (size_t)B * (size_t)V, *dG = a->dG + (size_t)q * BG, *dH = a->dH + (size_t)q * BH;
        const float *Gg = a->Gg + (size_t)q * BG, *A2 = a->A2 + (size_t)q * BG, *Hh = a->Hh + (size_t)q * BH;
        const float *Z = a->Z + (size_t)q * BH;
        for (int b = 0; b < nb; b++) {
            float *y = Y + (size_t)b * (size_t)V;
            y[a->x[((size_t)b * (size_t)K + (size_t)q) * (size_t)(P + 1)]] -= 1.0f;
            for (int v = 0; v < V; v++) y[v] *= scale;
        }
        float *dbo = G_(t, P_BO, q), *db2 = G_(t, P_B2, q), *db1 = G_(t, P_B1, q);
        for (int b = 0; b < nb; b++)
            for (int v = 0; v < V; v++) dbo[v] += Y[(size_t)b * (size_t)V + (size_t)v];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, G, nb, 1.0f, Y, V, Gg, G, 0.0f, G_(t, P_WO, q), G);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, G, V, 1.0f, Y, V, P_(t, P_WO, q), G, 0.0f, dG, G);
        for (size_t i = 0; i < (size_t)nb * (size_t)G; i++) dG[i] = A2[i] > 0 ? dG[i] : 0;
        for (int b = 0; b < nb; b++)
            for (int g = 0; g < G; g++) db2[g] += dG[(size_t)b * (size_t)G + (size_t)g];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, nb, 1.0f, dG, G, Hh, H, 0.0f, G_(t, P_W2, q), H);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, H, G, 1.0f, dG, G, P_(t, P_W2, q), H, 0.0f, dH, H);
        for (size_t i = 0; i < (size_t)nb * (size_t)H; i++) dH[i] = Z[i] > 0 ? dH[i] : 0; /* dz_q */
        for (int b = 0; b < nb; b++)
            for (int h = 0; h < H; h++) db1[h] += dH[(size_t)b * (size_t)H + (size_t)h];
    }
    /* dL_q = dz_q + sum_{q' > q} dz_q', dCu_q = sum_{q' > q} dz_q' (into L, Cu); the suffix sum in Z of the last codebook */
    float *Sg = a->Z + (size_t)(K - 1) * BH;
    for (int q = K - 1; q >= 0; q--) {
        float *dL = a->L + (size_t)q * BH, *dC = a->Cu + (size_t)q * BH;
        const float *dz = a->dH + (size_t)q * BH;
        for (size_t i = 0; i < (size_t)nb * (size_t)H; i++) {
            float s = q == K - 1 ? 0.0f : Sg[i];
            dC[i] = s;
            dL[i] = dz[i] + s;
            Sg[i] = s + dz[i];
        }
    }
#pragma omp parallel for num_threads(t->p.n_threads) schedule(static)
    for (int k = 0; k < K; k++) {
        const float *dL = a->L + (size_t)k * BH, *dC = a->Cu + (size_t)k * BH;
        const float *Xl = a->Xl + (size_t)k * (size_t)B * (size_t)PD, *Xc = a->Xc + (size_t)k * (size_t)B * (size_t)D;
        float *dXl = a->dXl + (size_t)k * (size_t)B * (size_t)PD, *dXc = a->dXc + (size_t)k * (size_t)B * (size_t)D;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, PD, nb, 1.0f, dL, H, Xl, PD, 0.0f, G_(t, P_U, k), PD);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, D, nb, 1.0f, dC, H, Xc, D, 0.0f, G_(t, P_C, k), D);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, PD, H, 1.0f, dL, H, P_(t, P_U, k), PD, 0.0f, dXl, PD);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, D, H, 1.0f, dC, H, P_(t, P_C, k), D, 0.0f, dXc, D);
        float *dE = G_(t, P_EMB, k);
        for (int b = 0; b < nb; b++) {
            const int32_t *x = a->x + ((size_t)b * (size_t)K + (size_t)k) * (size_t)(P + 1);
            float *row = dE + (size_t)x[0] * (size_t)D;
            const float *g = dXc + (size_t)b * (size_t)D;
            for (int d = 0; d < D; d++) row[d] += g[d];
            for (int l = 1; l <= P; l++) {
                row = dE + (size_t)x[l] * (size_t)D;
                g = dXl + (size_t)b * (size_t)PD + (size_t)(l - 1) * (size_t)D;
                for (int d = 0; d < D; d++) row[d] += g[d];
            }
        }
    }
}

/* ---- construction ---- */

static double normal(uint64_t *rng) {
    double u1 = sn_unif01(rng), u2 = sn_unif01(rng);
    return sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2);
}

static int setup(sono_coder_trainer *t) {
    const sono_code_set *s = t->train;
    t->V = s->codebook_size;
    t->K = s->n_codebooks;
    t->P = t->p.lags;
    t->D = t->p.emb_dim;
    t->H = t->p.hidden;
    t->G = t->p.hidden2;
    if (t->held && (t->held->n_codebooks != t->K || t->held->codebook_size != t->V))
        return sn_fail(SONO_E_ARG, "train-coder: held-out codes of %d x %d, training codes of %d x %d",
                       t->held->n_codebooks, t->held->codebook_size, t->K, t->V);
    int64_t K = t->K, V = t->V, P = t->P, D = t->D, H = t->H, G = t->G;
    int64_t shapes[P_COUNT][3] = {{K, V + 1, D}, {K, H, P * D}, {K, H, D}, {K, H, 1},
                                  {K, G, H},     {K, G, 1},     {K, V, G}, {K, V, 1}};
    static const char *const names[P_COUNT] = {"emb", "U", "C", "b1", "W2", "b2", "Wo", "bo"};
    for (int i = 0; i < P_COUNT; i++) {
        int rc = sn_params_add(&t->pt, names[i], "", shapes[i][2] == 1 ? 2 : 3, shapes[i]);
        if (rc < 0) return rc;
    }
    t->params = sn_alloc_big(sizeof(float) * t->pt.n_floats, 1);
    t->grads = sn_alloc_big(sizeof(float) * t->pt.n_floats, 1);
    t->cum = malloc(sizeof(int64_t) * (size_t)(s->n_clips + 1));
    if (!t->params || !t->grads || !t->cum) return sn_fail(SONO_E_NOMEM, "train-coder: out of memory");
    t->cum[0] = 0;
    for (int i = 0; i < s->n_clips; i++) t->cum[i + 1] = t->cum[i] + (s->n_frames[i] > 0 ? s->n_frames[i] : 0);
    if (t->held) {
        const sono_code_set *h = t->held;
        t->ev_clip = malloc(sizeof(int64_t) * (size_t)t->p.eval_frames);
        t->ev_t = malloc(sizeof(int64_t) * (size_t)t->p.eval_frames);
        if (!t->ev_clip || !t->ev_t) return sn_fail(SONO_E_NOMEM, "train-coder: out of memory");
        for (int c = 0; c < h->n_clips && t->n_ev < t->p.eval_frames; c++)
            for (int64_t f = 0; f < h->n_frames[c] && f < t->p.eval_clip_frames && t->n_ev < t->p.eval_frames; f++) {
                t->ev_clip[t->n_ev] = c;
                t->ev_t[t->n_ev++] = f;
            }
    }
    sn_kern_set_threads(1); /* the same bits on any n_threads */
    return acts_new(t, &t->a);
}

/* Random weights; each codebook's output bias at the log of its codes' counts in the training set. */
static void init_params(sono_coder_trainer *t) {
    uint64_t rng = t->p.seed ^ 0xC0DE5EEDull;
    const sn_param *e = t->pt.p;
    float sd_in = (float)(1.0 / sqrt((double)(t->P + 1) * t->D * t->K));
    for (size_t i = 0; i < e[P_EMB].numel; i++) t->params[e[P_EMB].offset + i] = (float)normal(&rng);
    for (size_t i = 0; i < e[P_U].numel; i++) t->params[e[P_U].offset + i] = sd_in * (float)normal(&rng);
    for (size_t i = 0; i < e[P_C].numel; i++) t->params[e[P_C].offset + i] = sd_in * (float)normal(&rng);
    for (size_t i = 0; i < e[P_W2].numel; i++) t->params[e[P_W2].offset + i] = (float)(sqrt(2.0 / t->H) * normal(&rng));
    for (size_t i = 0; i < e[P_WO].numel; i++) t->params[e[P_WO].offset + i] = (float)(0.5 / sqrt(t->G) * normal(&rng));
    const sono_code_set *s = t->train;
    double *cnt = calloc((size_t)t->V, sizeof *cnt);
    for (int q = 0; cnt && q < t->K; q++) {
        for (int v = 0; v < t->V; v++) cnt[v] = 1;
        double n = t->V;
        for (int c = 0; c < s->n_clips; c++)
            for (int64_t f = 0; f < s->n_frames[c]; f++, n++) cnt[s->codes[c][(size_t)q * (size_t)s->n_frames[c] + (size_t)f]]++;
        float *bo = P_(t, P_BO, q);
        for (int v = 0; v < t->V; v++) bo[v] = (float)log(cnt[v] / n);
    }
    free(cnt);
}

void sono_coder_trainer_free(sono_coder_trainer *t) {
    if (!t) return;
    acts_free(&t->a);
    sn_adamw_free(&t->opt);
    sn_params_free(&t->pt);
    free(t->params);
    free(t->grads);
    free(t->cum);
    free(t->ev_clip);
    free(t->ev_t);
    free(t);
}

static sono_coder_trainer *trainer_alloc(const sono_coder_train_params *p, const sono_code_set *train,
                                         const sono_code_set *heldout, int *rc) {
    sono_coder_trainer *t = NULL;
    if (!(*rc = check_params(p)) && !(*rc = check_set(train, "training")) && !(heldout && (*rc = check_set(heldout, "held-out"))) &&
        !(t = calloc(1, sizeof *t)))
        *rc = sn_fail(SONO_E_NOMEM, "train-coder: out of memory");
    if (!t) return NULL;
    t->p = *p;
    t->train = train;
    t->held = heldout;
    if (p->codec_name) snprintf(t->codec_name, sizeof t->codec_name, "%s", p->codec_name);
    t->p.codec_name = t->codec_name;
    memcpy(t->codec_hash, p->codec_hash, 16);
    return t;
}

sono_coder_trainer *sono_coder_trainer_new(const sono_coder_train_params *p, const sono_code_set *train,
                                           const sono_code_set *heldout, int *err) {
    int rc = 0;
    sono_coder_trainer *t = trainer_alloc(p, train, heldout, &rc);
    if (t && !(rc = setup(t))) {
        init_params(t);
        t->rng = p->seed ^ 0x5eed5eed5eedull;
        rc = sn_adamw_init(&t->opt, t->pt.n_floats, p->beta1, p->beta2, 1e-8f, p->weight_decay);
    }
    if (rc) {
        sono_coder_trainer_free(t);
        t = NULL;
    }
    if (err) *err = rc;
    return t;
}

/* ---- checkpoints ---- */

int sono_coder_trainer_save_checkpoint(sono_coder_trainer *t, const char *path) {
    const sono_coder_train_params *p = &t->p;
    json_object *meta = sn_ckpt_meta_new(CKPT_FORMAT);
    if (!meta) return sn_fail(SONO_E_NOMEM, "out of memory");
    char hex[33];
    for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", t->codec_hash[i]);
    sn_ckpt_meta_add_str(meta, "codec", t->codec_name);
    sn_ckpt_meta_add_str(meta, "codec_hash", hex);
    sn_ckpt_meta_add_i64(meta, "codebook_size", t->V);
    sn_ckpt_meta_add_i64(meta, "codebooks", t->K);
    sn_ckpt_meta_add_i64(meta, "lags", t->P);
    sn_ckpt_meta_add_i64(meta, "emb_dim", t->D);
    sn_ckpt_meta_add_i64(meta, "hidden", t->H);
    sn_ckpt_meta_add_i64(meta, "hidden2", t->G);
    sn_ckpt_meta_add_i64(meta, "batch", p->batch);
    sn_ckpt_meta_add_i64(meta, "steps", p->steps);
    sn_ckpt_meta_add_i64(meta, "warmup", p->warmup);
    sn_ckpt_meta_add_i64(meta, "step", t->step);
    sn_ckpt_meta_add_i64(meta, "adam_step", t->opt.step);
    sn_ckpt_meta_add_u64(meta, "rng", t->rng);
    sn_ckpt_meta_add_u64(meta, "seed", p->seed);
    sn_ckpt_meta_add_dbl(meta, "cpu_hours", t->cpu_hours);
    sn_ckpt_meta_add_dbl(meta, "lr", p->lr);
    sn_ckpt_meta_add_dbl(meta, "lr_min", p->lr_min);
    sn_ckpt_meta_add_dbl(meta, "beta1", p->beta1);
    sn_ckpt_meta_add_dbl(meta, "beta2", p->beta2);
    sn_ckpt_meta_add_dbl(meta, "weight_decay", p->weight_decay);
    sn_ckpt_meta_add_dbl(meta, "clip", p->clip);
    sn_ckpt_buf bufs[3] = {{"params", t->params, t->pt.n_floats},
                           {"adam.m", t->opt.m, t->pt.n_floats},
                           {"adam.v", t->opt.v, t->pt.n_floats}};
    return sn_ckpt_save(path, bufs, 3, meta);
}

sono_coder_trainer *sono_coder_trainer_resume(const char *checkpoint, const sono_coder_train_params *p,
                                              const sono_code_set *train, const sono_code_set *heldout, int *err) {
    sn_ckpt *c = NULL;
    sono_coder_trainer *t = NULL;
    int rc = sn_ckpt_open(checkpoint, CKPT_FORMAT, &c);
    if (rc) goto fail;
    sono_coder_train_params q = *p;
    const char *name = sn_ckpt_meta_str(c, "codec"), *hex = sn_ckpt_meta_str(c, "codec_hash");
    if (!name || !hex || strlen(hex) != 32) {
        rc = sn_fail(SONO_E_FORMAT, "%s: checkpoint lacks its codec", checkpoint);
        goto fail;
    }
    q.codec_name = name;
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        q.codec_hash[i] = (uint8_t)v;
    }
    if (p->codec_name) {
        static const uint8_t zero[16];
        const int full = memcmp(p->codec_full_hash, zero, 16) && !memcmp(p->codec_full_hash, q.codec_hash, 16);
        if (strcmp(p->codec_name, name) || (memcmp(p->codec_hash, q.codec_hash, 16) && !full)) {
            rc = sn_fail(SONO_E_MODEL_MISMATCH, "train-coder: the checkpoint is for codec %s (%.8s...), the codes are %s's",
                         name, hex, p->codec_name);
            goto fail;
        }
        memcpy(q.codec_hash, p->codec_hash, 16); /* a run begun with the full hash goes on with the codes hash */
    }
    q.lags = (int)sn_ckpt_meta_i64(c, "lags", 0);
    q.emb_dim = (int)sn_ckpt_meta_i64(c, "emb_dim", 0);
    q.hidden = (int)sn_ckpt_meta_i64(c, "hidden", 0);
    q.hidden2 = (int)sn_ckpt_meta_i64(c, "hidden2", 0);
    q.batch = (int)sn_ckpt_meta_i64(c, "batch", 0);
    q.steps = p->steps > 0 ? p->steps : sn_ckpt_meta_i64(c, "steps", 0);
    q.warmup = sn_ckpt_meta_i64(c, "warmup", 0);
    q.seed = sn_ckpt_meta_u64(c, "seed", 1);
    q.lr = (float)sn_ckpt_meta_dbl(c, "lr", 0);
    q.lr_min = (float)sn_ckpt_meta_dbl(c, "lr_min", 0);
    q.beta1 = (float)sn_ckpt_meta_dbl(c, "beta1", 0.9);
    q.beta2 = (float)sn_ckpt_meta_dbl(c, "beta2", 0.99);
    q.weight_decay = (float)sn_ckpt_meta_dbl(c, "weight_decay", 0);
    q.clip = (float)sn_ckpt_meta_dbl(c, "clip", 0);
    if (!(t = trainer_alloc(&q, train, heldout, &rc))) goto fail;
    if (sn_ckpt_meta_i64(c, "codebook_size", -1) != train->codebook_size ||
        sn_ckpt_meta_i64(c, "codebooks", -1) != train->n_codebooks) {
        rc = sn_fail(SONO_E_ARG, "train-coder: the checkpoint is for %lld codebooks of %lld, the codes are %d of %d",
                     (long long)sn_ckpt_meta_i64(c, "codebooks", -1), (long long)sn_ckpt_meta_i64(c, "codebook_size", -1),
                     train->n_codebooks, train->codebook_size);
        goto fail;
    }
    if ((rc = setup(t)) || (rc = sn_adamw_init(&t->opt, t->pt.n_floats, q.beta1, q.beta2, 1e-8f, q.weight_decay)) ||
        (rc = sn_ckpt_take(c, "params", t->params, t->pt.n_floats)) ||
        (rc = sn_ckpt_take(c, "adam.m", t->opt.m, t->pt.n_floats)) ||
        (rc = sn_ckpt_take(c, "adam.v", t->opt.v, t->pt.n_floats)))
        goto fail;
    t->step = sn_ckpt_meta_i64(c, "step", 0);
    t->opt.step = sn_ckpt_meta_i64(c, "adam_step", 0);
    t->rng = sn_ckpt_meta_u64(c, "rng", 0);
    t->cpu_hours = sn_ckpt_meta_dbl(c, "cpu_hours", 0);
    sn_ckpt_close(c);
    if (err) *err = 0;
    return t;
fail:
    sn_ckpt_close(c);
    sono_coder_trainer_free(t);
    if (err) *err = rc;
    return NULL;
}

/* ---- steps ---- */

/* nb random training frames into the batch, drawn from *rng */
static void draw_frames(sono_coder_trainer *t, uint64_t *rng, int nb) {
    const sono_code_set *s = t->train;
    int64_t total = t->cum[s->n_clips];
    for (int b = 0; b < nb; b++) {
        int64_t u = (int64_t)(sn_unif01(rng) * (double)total);
        int lo = 0, hi = s->n_clips - 1; /* the clip whose frames hold u */
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if (t->cum[mid] <= u) lo = mid;
            else hi = mid - 1;
        }
        gather_codes(t, &t->a, b, s, lo, u - t->cum[lo]);
    }
}

void sn_coder_trainer_draw(sono_coder_trainer *t) { draw_frames(t, &t->rng, t->a.B); }

double sn_coder_trainer_loss(sono_coder_trainer *t, int with_grad) {
    ct_acts *a = &t->a;
    forward(t, a, a->B);
    double s = 0;
    for (size_t i = 0; i < (size_t)a->B * (size_t)t->K; i++) s += a->loss[i];
    if (with_grad) backward(t, a, a->B);
    return s / ((double)a->B * t->K);
}

float *sn_coder_trainer_weights(sono_coder_trainer *t, float **grads, size_t *n) {
    if (grads) *grads = t->grads;
    if (n) *n = t->pt.n_floats;
    return t->params;
}

int sono_coder_trainer_step(sono_coder_trainer *t) {
    const sono_coder_train_params *p = &t->p;
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    ct_acts *a = &t->a;
    draw_frames(t, &t->rng, a->B);
    forward(t, a, a->B);
    backward(t, a, a->B);
    float norm = sn_grad_clip_norm(t->grads, t->pt.n_floats, p->clip > 0 ? p->clip : INFINITY);
    sono_coder_train_stats *st = &t->stats;
    memset(st, 0, sizeof *st);
    double sum = 0;
    for (int q = 0; q < t->K; q++) {
        double sq = 0;
        for (int b = 0; b < a->B; b++) sq += a->loss[(size_t)q * (size_t)a->B + (size_t)b];
        if (q < SONO_CODER_TRAIN_MAX_K) st->bits_cb[q] = sq / a->B / M_LN2;
        sum += sq;
    }
    st->bits = sum / ((double)a->B * t->K) / M_LN2;
    if (!isfinite(norm) || !isfinite(st->bits))
        return sn_fail(SONO_E_RANGE, "train-coder: the loss or gradient is not finite at step %lld", (long long)t->step + 1);
    float lr = sn_lr_warmup_cosine(t->step, p->warmup, p->steps, p->lr, p->lr_min);
    sn_adamw_step(&t->opt, t->params, t->grads, lr);
    t->step++;
    st->step = t->step;
    st->grad_norm = norm;
    st->lr = lr;
    st->seconds = clock_s(CLOCK_MONOTONIC) - w0;
    st->cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    t->cpu_hours += st->cpu_seconds / 3600.0;
    st->cpu_hours_total = t->cpu_hours;
    return 0;
}

/* ---- export ---- */

static int floor_log2(double x) { return x > 0 ? (int)floor(log2(x)) : 30; }
static int ceil_log2(double x) { return x > 1 ? (int)ceil(log2(x)) : 0; }

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static int16_t q16(float x, int f) {
    double v = nearbyint(ldexp((double)x, f));
    return (int16_t)(v > 32767 ? 32767 : v < -32767 ? -32767 : v);
}

static int32_t q32(float x, int f, int32_t add) {
    double v = nearbyint(ldexp((double)x, f)) + add;
    return (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483647.0 ? -2147483647.0 : v);
}

/* The integer model of the current weights, as a .coder file in memory. */
static int export_bytes(sono_coder_trainer *t, uint8_t **out, size_t *n_out) {
    ct_acts *a = &t->a;
    /* activation ranges on fixed training frames (their own stream: the run's is untouched) */
    uint64_t rng = t->p.seed ^ 0xCA11B8A7Eull;
    double mz = 0, mh = 0, ma2 = 0, mg = 0, my = 0;
    size_t BH = (size_t)a->B * (size_t)t->H, BG = (size_t)a->B * (size_t)t->G;
    for (int done = 0; done < CAL_FRAMES; done += a->B) {
        int nb = CAL_FRAMES - done < a->B ? CAL_FRAMES - done : a->B;
        draw_frames(t, &rng, nb);
        forward(t, a, nb);
        for (int q = 0; q < t->K; q++) {
            double z = max_abs(a->Z + q * BH, (size_t)nb * (size_t)t->H), h = max_abs(a->Hh + q * BH, (size_t)nb * (size_t)t->H);
            double a2 = max_abs(a->A2 + q * BG, (size_t)nb * (size_t)t->G), g = max_abs(a->Gg + q * BG, (size_t)nb * (size_t)t->G);
            mz = z > mz ? z : mz, mh = h > mh ? h : mh, ma2 = a2 > ma2 ? a2 : ma2, mg = g > mg ? g : mg;
            my = a->ymax[q] > my ? a->ymax[q] : my;
        }
    }
    const sn_param *e = t->pt.p;
    double m_emb = max_abs(t->params + e[P_EMB].offset, e[P_EMB].numel);
    double m_u = fmax(max_abs(t->params + e[P_U].offset, e[P_U].numel), max_abs(t->params + e[P_C].offset, e[P_C].numel));
    double m_w2 = max_abs(t->params + e[P_W2].offset, e[P_W2].numel), m_wo = max_abs(t->params + e[P_WO].offset, e[P_WO].numel);
    /* Scales 2^f: int16 weights at full range, sums inside int32 with room (the
     * calibration's largest |x| * 1.25 < 2^30: 2.5 times what the frames gave) */
    int fe = floor_log2(32767.0 / m_emb), fu = floor_log2(32767.0 / m_u);
    int F1 = fe + fu, F1max = 30 - ceil_log2(1.25 * mz);
    if (F1 > F1max) {
        int cut = F1 - F1max;
        fe -= cut / 2;
        fu -= cut - cut / 2;
        F1 = F1max;
    }
    int fh = floor_log2(32767.0 / mh), s1 = F1 - fh;
    if (s1 < 1) s1 = 1, fh = F1 - 1;
    int fw2 = floor_log2(32767.0 / m_w2), F2 = fw2 + fh, F2max = 30 - ceil_log2(1.25 * ma2);
    if (F2 > F2max) fw2 -= F2 - F2max, F2 = F2max;
    int fg = floor_log2(32767.0 / mg), s2 = F2 - fg;
    if (s2 < 1) s2 = 1, fg = F2 - 1;
    int fwo = floor_log2(32767.0 / m_wo), F3 = fwo + fg, F3max = 30 - ceil_log2(1.25 * my);
    if (F3 > F3max) fwo -= F3 - F3max, F3 = F3max;
    int ls = F3 - 7; /* logits in 1/128 nat */
    if (ls < 0 || s1 > 31 || s2 > 31 || ls > 24)
        return sn_fail(SONO_E_RANGE, "train-coder: the weights' range leaves no integer scale (shifts %d, %d, %d)", s1, s2, ls);

    sn_cm_dims d = {t->V, t->K, t->P, t->D, t->H, t->G, s1, s2, ls};
    sn_cm_tensors w;
    int16_t *emb = malloc(2 * e[P_EMB].numel), *U = malloc(2 * e[P_U].numel), *C = malloc(2 * e[P_C].numel);
    int16_t *W2 = malloc(2 * e[P_W2].numel), *Wo = malloc(2 * e[P_WO].numel);
    int32_t *b1 = malloc(4 * e[P_B1].numel), *b2 = malloc(4 * e[P_B2].numel), *bo = malloc(4 * e[P_BO].numel);
    int rc = 0;
    if (!emb || !U || !C || !W2 || !Wo || !b1 || !b2 || !bo) {
        rc = sn_fail(SONO_E_NOMEM, "train-coder: out of memory");
    } else {
        const float *pp = t->params;
        for (size_t i = 0; i < e[P_EMB].numel; i++) emb[i] = q16(pp[e[P_EMB].offset + i], fe);
        for (size_t i = 0; i < e[P_U].numel; i++) U[i] = q16(pp[e[P_U].offset + i], fu);
        for (size_t i = 0; i < e[P_C].numel; i++) C[i] = q16(pp[e[P_C].offset + i], fu);
        for (size_t i = 0; i < e[P_W2].numel; i++) W2[i] = q16(pp[e[P_W2].offset + i], fw2);
        for (size_t i = 0; i < e[P_WO].numel; i++) Wo[i] = q16(pp[e[P_WO].offset + i], fwo);
        /* the requantisations floor: half a step in the bias rounds them */
        for (size_t i = 0; i < e[P_B1].numel; i++) b1[i] = q32(pp[e[P_B1].offset + i], F1, 1 << (s1 - 1));
        for (size_t i = 0; i < e[P_B2].numel; i++) b2[i] = q32(pp[e[P_B2].offset + i], F2, 1 << (s2 - 1));
        for (size_t i = 0; i < e[P_BO].numel; i++) bo[i] = q32(pp[e[P_BO].offset + i], F3, 0);
        w = (sn_cm_tensors){emb, U, C, W2, Wo, b1, b2, bo};
        rc = sn_cm_serialize(&d, t->codec_name, t->codec_hash, &w, out, n_out);
    }
    free(emb), free(U), free(C), free(W2), free(Wo), free(b1), free(b2), free(bo);
    return rc;
}

int sono_coder_trainer_export(sono_coder_trainer *t, const char *path) {
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = export_bytes(t, &b, &n);
    if (!rc) rc = sono_output_save(path, b, n);
    free(b);
    return rc;
}

/* ---- held-out ---- */

static void eval_add(sono_coder_eval *ev, int q, int cat, double bits, int64_t n) {
    if (q < SONO_CODER_TRAIN_MAX_K) ev->bits_cb[q] += bits;
    ev->bits += bits;
    ev->n_codes += n;
    if (cat >= 0 && cat < 4) {
        ev->bits_cat[cat] += bits;
        ev->n_codes_cat[cat] += n;
    }
}

static void eval_finish(sono_coder_eval *ev, int K, const int64_t *n_cb) {
    for (int q = 0; q < K && q < SONO_CODER_TRAIN_MAX_K; q++) ev->bits_cb[q] = n_cb[q] ? ev->bits_cb[q] / (double)n_cb[q] : 0;
    ev->bits = ev->n_codes ? ev->bits / (double)ev->n_codes : 0;
    for (int c = 0; c < 4; c++) ev->bits_cat[c] = ev->n_codes_cat[c] ? ev->bits_cat[c] / (double)ev->n_codes_cat[c] : 0;
}

int sono_coder_trainer_eval(sono_coder_trainer *t, int quantised, sono_coder_eval *out) {
    if (!t->held || !t->n_ev) return sn_fail(SONO_E_ARG, "train-coder: no held-out codes");
    memset(out, 0, sizeof *out);
    int64_t n_cb[SONO_CODER_TRAIN_MAX_K] = {0};
    const sono_code_set *h = t->held;
    if (!quantised) {
        ct_acts *a = &t->a;
        for (int64_t i = 0; i < t->n_ev; i += a->B) {
            int nb = t->n_ev - i < a->B ? (int)(t->n_ev - i) : a->B;
            for (int b = 0; b < nb; b++) gather_codes(t, a, b, h, (int)t->ev_clip[i + b], t->ev_t[i + b]);
            forward(t, a, nb);
            for (int q = 0; q < t->K; q++)
                for (int b = 0; b < nb; b++) {
                    eval_add(out, q, a->cat[b], a->loss[(size_t)q * (size_t)a->B + (size_t)b] / M_LN2, 1);
                    if (q < SONO_CODER_TRAIN_MAX_K) n_cb[q]++;
                }
        }
        eval_finish(out, t->K, n_cb);
        return 0;
    }
    /* the integer model over each clip's frames (from its start, as in a file) */
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = export_bytes(t, &b, &n), err = 0;
    if (rc) return rc;
    sono_coder *m = sono_coder_load_mem(b, n, &err);
    free(b);
    if (!m) return err;
    int32_t *codes = NULL;
    double bits_q[SN_CM_K_MAX];
    for (int64_t i = 0; i < t->n_ev && !rc;) {
        int c = (int)t->ev_clip[i];
        int64_t F = 0;
        while (i + F < t->n_ev && t->ev_clip[i + F] == c) F++; /* frames 0..F-1 of clip c */
        int32_t *nc = realloc(codes, sizeof(int32_t) * (size_t)F * (size_t)t->K);
        if (!nc) {
            rc = sn_fail(SONO_E_NOMEM, "train-coder: out of memory");
            break;
        }
        codes = nc;
        for (int q = 0; q < t->K; q++)
            for (int64_t f = 0; f < F; f++) codes[(size_t)q * (size_t)F + (size_t)f] = h->codes[c][(size_t)q * (size_t)h->n_frames[c] + (size_t)f];
        if (sn_cm_code_length(m, codes, t->K, F, sono_cpu_level(), bits_q) < 0) {
            rc = sn_fail(SONO_E_NOMEM, "train-coder: out of memory");
            break;
        }
        for (int q = 0; q < t->K; q++) {
            eval_add(out, q, h->category ? h->category[c] : 3, bits_q[q], F);
            if (q < SONO_CODER_TRAIN_MAX_K) n_cb[q] += F;
        }
        i += F;
    }
    free(codes);
    sono_coder_free(m);
    if (!rc) eval_finish(out, t->K, n_cb);
    return rc;
}

int64_t sono_coder_trainer_steps_done(const sono_coder_trainer *t) { return t->step; }
const sono_coder_train_stats *sono_coder_trainer_last_stats(const sono_coder_trainer *t) { return &t->stats; }
const sono_coder_train_params *sono_coder_trainer_params(const sono_coder_trainer *t) { return &t->p; }
int64_t sono_coder_trainer_n_params(const sono_coder_trainer *t) { return (int64_t)t->pt.n_floats; }
