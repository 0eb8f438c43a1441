/* The Vocos decoder head (notes/vocos_spec.md) for inference, streaming.
 *
 * latents [D][F] -> embedding conv (K, "same") -> LayerNorm -> L ConvNeXt
 * blocks (depthwise conv K "same", LayerNorm, linear dim -> inter, GELU,
 * linear inter -> dim, layer scale, residual) -> LayerNorm -> linear
 * dim -> N + 2 (log magnitude, phase) -> inverse STFT ("same" padding,
 * periodic Hann window, divided by the window envelope) -> audio [F * hop].
 *
 * Streaming: the head is not causal. Each of its L + 1 "same" convs needs
 * h = (K - 1) / 2 frames on either side, so each keeps the last K - 1 frames
 * of its input (its left context, led by h zero frames at the stream's start)
 * and runs only the frames whose right context has arrived (h zero frames
 * follow the last push). The inverse STFT keeps the N - hop samples that
 * later frames still add to; a sample leaves once no later frame reaches it.
 * So a push emits all the audio that is final, pushing in pieces computes
 * the same frames as one push (the matrix products run on other sizes:
 * equal up to float rounding), and the run's memory is bounded: a push is
 * taken VOCOS_BLOCK frames at a time.
 *
 * Layout: activations are channel-major [C][T] as in the rest of the codec,
 * so the embedding conv and every linear are sn_conv1d_forward calls (kernel
 * K or 1: the SIMD engine or OpenBLAS, the plain twin under -Dref_kernels).
 *
 * The inverse DFT of a frame: common/fft.c's complex FFT is for powers of
 * two, and N = 4 x hop (1280 at 24 kHz) is 2^a x R with R odd (5). One
 * Cooley-Tukey step splits it: with N = M R, bins k = k1 + R k2 and samples
 * n < N, x[n] = sum_k1 e^{2 pi i k1 n / N} y_k1[n mod M], y_k1 the inverse
 * FFT of size M of the bins k1, k1 + R, ...; only the real part is kept, and
 * the window and 1/N are folded into the cos and sin table of that sum.
 * R FFTs of M plus 2 N R multiply-adds a frame.
 *
 * Our own loops (depthwise conv, LayerNorm, GELU, the spectrum and its
 * inverse) give each frame the same arithmetic whatever the thread count
 * and the push sizes. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "fft.h"
#include "kernels.h"
#include "sono_internal.h"

#define VOCOS_BLOCK 256            /* frames of a push taken through the head at a time */
#define VOCOS_PAR_MIN 32768        /* elements below which our loops stay on one thread */

/* The context of one "same" conv: the last K - 1 (or fewer) frames of its
 * input not yet used as a window start. */
typedef struct {
    float *held;                   /* [C][K - 1] */
    int64_t n;
    int started;                   /* input has arrived: the leading zeros are in */
} vocos_ctx;

struct vocos_run {
    const sono_codec *c;
    const vocos_w *v;
    int n_threads;
    int D, dim, inter, L, K, h, N, hop, pad;
    int64_t t_max;                 /* frames a stage handles at most for one block */
    vocos_ctx embed, *blk;         /* blk [L] */
    int M, R;                      /* N = M R, M a power of two, R odd */
    fft_plan *fft;                 /* complex FFT of size M */
    float *cs, *sn;                /* [R][N] w[n] / N cos, sin (2 pi k1 n / N) */
    float *fscr;                   /* [n_threads][2 N] a frame's sub-spectra */
    double *w2;                    /* [N] window^2 */
    float *ola;                    /* [N - hop] the earlier frames' sum from sample n_frames * hop on */
    float *ybuf;                   /* [t_max * hop + N] overlap-add of a block */
    int64_t n_frames;              /* frames through the inverse STFT */
    float *xp, *a, *y, *hid, *sig; /* work: [C][t_max] each, C = max(D, dim), dim, dim, max(inter, N + 2); [t_max][N] */
    float *scratch;                /* sn_conv1d_forward's */
    float *out;                    /* audio of the current push */
    int64_t out_n, out_cap;
};

static int nt_for(const vocos_run *r, int64_t elems) { return elems >= VOCOS_PAR_MIN ? r->n_threads : 1; }

/* ---- frame-axis context for the "same" convs ---- */

/* xp [C][Tp] = the held context, the new input in [C][n] (row stride ld),
 * led by h zero frames at the stream's start and followed by h at its end;
 * returns Tp. */
static int64_t ctx_window(vocos_ctx *cx, int C, int K, const float *in, int64_t ld, int64_t n, int last, float *xp) {
    const int h = (K - 1) / 2;
    int64_t lead = !cx->started && n > 0 ? h : 0;
    if (n > 0) cx->started = 1;
    int64_t tail = last && cx->started ? h : 0;
    int64_t Tp = cx->n + lead + n + tail;
    for (int c = 0; c < C; c++) {
        float *row = xp + (size_t)c * (size_t)Tp;
        memcpy(row, cx->held + (size_t)c * (size_t)(K - 1), (size_t)cx->n * sizeof(float));
        memset(row + cx->n, 0, (size_t)lead * sizeof(float));
        if (n > 0) memcpy(row + cx->n + lead, in + (size_t)c * (size_t)ld, (size_t)n * sizeof(float));
        memset(row + cx->n + lead + n, 0, (size_t)tail * sizeof(float));
    }
    return Tp;
}

/* Frames of a K conv over Tp input frames. */
static int64_t ctx_out_len(int64_t Tp, int K) { return Tp >= K ? Tp - K + 1 : 0; }

/* After the conv ran T_out windows of xp [C][Tp]: keep the columns from T_out
 * on (fewer than K), the left context of the next window. */
static void ctx_keep(vocos_ctx *cx, int C, int K, const float *xp, int64_t Tp, int64_t T_out, int last) {
    if (last) {
        cx->n = 0;
        cx->started = 0;
        return;
    }
    cx->n = Tp - T_out;
    for (int c = 0; c < C; c++)
        memmove(cx->held + (size_t)c * (size_t)(K - 1), xp + (size_t)c * (size_t)Tp + T_out, (size_t)cx->n * sizeof(float));
}

/* ---- layers (channel-major) ---- */

/* LayerNorm over the C channels of each frame of x [C][T], in place. */
static void vocos_layernorm(const vocos_run *r, float *x, const float *g, const float *b, int C, int64_t T) {
    enum { TB = 64 };
#pragma omp parallel for num_threads(nt_for(r, (int64_t)C * T)) schedule(static)
    for (int64_t t0 = 0; t0 < T; t0 += TB) {
        const int64_t nb = SONO_MIN((int64_t)TB, T - t0);
        float mu[TB], rs[TB];
        for (int64_t j = 0; j < nb; j++) mu[j] = rs[j] = 0.0f;
        for (int c = 0; c < C; c++) {
            const float *xr = x + (size_t)c * (size_t)T + t0;
            for (int64_t j = 0; j < nb; j++) mu[j] += xr[j];
        }
        for (int64_t j = 0; j < nb; j++) mu[j] /= (float)C;
        for (int c = 0; c < C; c++) {
            const float *xr = x + (size_t)c * (size_t)T + t0;
            for (int64_t j = 0; j < nb; j++) {
                float d = xr[j] - mu[j];
                rs[j] += d * d;
            }
        }
        for (int64_t j = 0; j < nb; j++) rs[j] = 1.0f / sqrtf(rs[j] / (float)C + VOCOS_LN_EPS);
        for (int c = 0; c < C; c++) {
            float *xr = x + (size_t)c * (size_t)T + t0;
            for (int64_t j = 0; j < nb; j++) xr[j] = (xr[j] - mu[j]) * rs[j] * g[c] + b[c];
        }
    }
}

/* Depthwise conv: y [C][T] from xp [C][T + K - 1], w [C][1][K], bias b [C]. */
static void vocos_dwconv(const vocos_run *r, float *y, const float *xp, const float *w, const float *b, int C, int K,
                         int64_t T) {
    const int64_t Tp = T + K - 1;
#pragma omp parallel for num_threads(nt_for(r, (int64_t)C * T * K)) schedule(static)
    for (int c = 0; c < C; c++) {
        float *yr = y + (size_t)c * (size_t)T;
        const float *xr = xp + (size_t)c * (size_t)Tp;
        for (int64_t t = 0; t < T; t++) yr[t] = b[c];
        for (int k = 0; k < K; k++) {
            const float wk = w[(size_t)c * K + k];
            for (int64_t t = 0; t < T; t++) yr[t] += wk * xr[t + k];
        }
    }
}

/* GELU, the erf form, in place over n values. */
#ifdef SONO_REF_KERNELS
static void gelu_span(float *restrict x, int64_t n) { /* the plain twin: libm's erff */
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}
#else
/* erf(v) as v P(v^2) / Q(v^2) for v clamped to [-4, 4] (+-1 in float
 * beyond), Eigen's rational approximation, within 1e-7 of erf. The loop
 * vectorises (calls to libm's erff do not: they took a tenth of the
 * decoding); GCC turns the clamp's comparisons into selects only when they
 * may not trap. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-trapping-math")))
#endif
static void gelu_span(float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * (float)M_SQRT1_2;
        v = v < -4.0f ? -4.0f : v;
        v = v > 4.0f ? 4.0f : v;
        const float v2 = v * v;
        float p = -2.72614225801306e-10f;
        p = p * v2 + 2.77068142495902e-08f;
        p = p * v2 - 2.10102402082508e-06f;
        p = p * v2 - 5.69250639462346e-05f;
        p = p * v2 - 7.34990630326855e-04f;
        p = p * v2 - 2.95459980854025e-03f;
        p = p * v2 - 1.60960333262415e-02f;
        float q = -1.45660718464996e-05f;
        q = q * v2 - 2.13374055278905e-04f;
        q = q * v2 - 1.68282697438203e-03f;
        q = q * v2 - 7.37332916720468e-03f;
        q = q * v2 - 1.42647390514189e-02f;
        x[i] = 0.5f * x[i] * (1.0f + v * p / q);
    }
}
#endif

/* gelu_span over spans of x on the threads. */
static void vocos_gelu(const vocos_run *r, float *x, int64_t n) {
    enum { SPAN = 4096 };
#pragma omp parallel for num_threads(nt_for(r, n)) schedule(static)
    for (int64_t i = 0; i < n; i += SPAN) gelu_span(x + i, SONO_MIN((int64_t)SPAN, n - i));
}

/* Frame t of spec [N + 2][T] (log magnitude rows 0..N/2, phase rows
 * N/2+1..N+1) -> its windowed signal s [N], through the FFT (see the top);
 * re, im [N] scratch. The imaginary parts of bins 0 and N/2 do not enter. */
static void vocos_frame(const vocos_run *r, float *s, const float *spec, int64_t T, int64_t t, float *re, float *im) {
    const int N = r->N, half = N / 2, M = r->M, R = r->R;
    for (int k1 = 0; k1 < R; k1++) {
        float *yr = re + (size_t)k1 * M, *yi = im + (size_t)k1 * M;
        for (int k2 = 0; k2 < M; k2++) {
            int k = k1 + R * k2, kk = k <= half ? k : N - k, j = r->fft->rev[k2];
            float mag = expf(fminf(spec[(size_t)kk * (size_t)T + t], (float)VOCOS_MAG_LOG_MAX));
            float p = spec[(size_t)(half + 1 + kk) * (size_t)T + t];
            yr[j] = mag * cosf(p);
            yi[j] = kk == 0 || kk == half ? 0.0f : k <= half ? mag * sinf(p) : -mag * sinf(p);
        }
        sn_fft_complex_bitrev(r->fft, yi, yr); /* re and im exchanged: the inverse */
    }
    for (int n = 0; n < N; n++) {
        const int n2 = n & (M - 1);
        float acc = 0.0f;
        for (int k1 = 0; k1 < R; k1++) {
            const size_t o = (size_t)k1 * N + n;
            acc += r->cs[o] * re[(size_t)k1 * M + n2] - r->sn[o] * im[(size_t)k1 * M + n2];
        }
        s[n] = acc;
    }
}

/* The windowed signals sig [T][N] of the frames of spec [N + 2][T]. */
static void vocos_frames(const vocos_run *r, float *sig, const float *spec, int64_t T) {
#pragma omp parallel num_threads(nt_for(r, T * r->N * 4))
    {
        float *re = r->fscr + (size_t)omp_get_thread_num() * 2 * (size_t)r->N, *im = re + r->N;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < T; t++) vocos_frame(r, sig + (size_t)t * (size_t)r->N, spec, T, t, re, im);
    }
}

/* The window envelope at y_full sample u: the sum of w^2 over the frames,
 * of the first n_frames, that reach u. */
static double istft_env(const vocos_run *r, int64_t u, int64_t n_frames) {
    double e = 0;
    for (int64_t f = SONO_MIN(u / r->hop, n_frames - 1); f >= 0 && u - f * r->hop < r->N; f--) e += r->w2[u - f * r->hop];
    return e;
}

/* Overlap-add the windowed signals sig [T][N] of the next T frames; the
 * samples no later frame reaches (at the end: up to F * hop + pad) go out,
 * those before the leading pad dropped, divided by the envelope. Each sample
 * sums its frames in order (the carried sum of earlier frames first), so
 * splitting the frames into pushes changes nothing. */
static void istft_push(vocos_run *r, const float *sig, int64_t T, int last) {
    const int N = r->N, hop = r->hop, keep = N - hop;
    if (r->n_frames + T == 0) return;
    float *buf = r->ybuf; /* y_full from sample n_frames * hop on */
    memcpy(buf, r->ola, (size_t)keep * sizeof(float));
    memset(buf + keep, 0, (size_t)(T * hop) * sizeof(float));
    for (int64_t f = 0; f < T; f++) {
        float *b = buf + f * hop;
        const float *x = sig + (size_t)f * (size_t)N;
        for (int i = 0; i < N; i++) b[i] += x[i];
    }
    const int64_t u0 = r->n_frames * hop, n = T * hop + (last ? r->pad : 0);
    r->n_frames += T;
    for (int64_t i = 0; i < n; i++)
        if (u0 + i >= r->pad) r->out[r->out_n++] = (float)(buf[i] / istft_env(r, u0 + i, r->n_frames));
    memcpy(r->ola, buf + T * hop, (size_t)keep * sizeof(float));
}

/* ---- the run ---- */

/* One piece of at most VOCOS_BLOCK frames, in [D][m] with row stride ld,
 * through every stage; the audio that became final is appended to out. */
static void vocos_block(vocos_run *r, const float *in, int64_t ld, int64_t m, int last) {
    const vocos_w *v = r->v;
    const int D = r->D, dim = r->dim, inter = r->inter, K = r->K, N = r->N, nt = r->n_threads;
    int64_t Tp = ctx_window(&r->embed, D, K, in, ld, m, last, r->xp), T = ctx_out_len(Tp, K);
    if (T > 0) sn_conv1d_forward(r->a, r->xp, v->embed_w, v->embed_b, D, dim, (int)Tp, K, 1, 1, r->scratch, nt);
    ctx_keep(&r->embed, D, K, r->xp, Tp, T, last);
    vocos_layernorm(r, r->a, v->norm_w, v->norm_b, dim, T);
    for (int l = 0; l < r->L; l++) {
        const vocos_block_w *b = &v->blk[l];
        Tp = ctx_window(&r->blk[l], dim, K, r->a, T, T, last, r->xp);
        T = ctx_out_len(Tp, K);
        if (T > 0) {
            vocos_dwconv(r, r->y, r->xp, b->dw_w, b->dw_b, dim, K, T);
            vocos_layernorm(r, r->y, b->norm_w, b->norm_b, dim, T);
            sn_conv1d_forward(r->hid, r->y, b->pw1_w, b->pw1_b, dim, inter, (int)T, 1, 1, 1, r->scratch, nt);
            vocos_gelu(r, r->hid, (int64_t)inter * T);
            sn_conv1d_forward(r->y, r->hid, b->pw2_w, b->pw2_b, inter, dim, (int)T, 1, 1, 1, r->scratch, nt);
            /* x = r + gamma y, r the window's centre column */
            for (int c = 0; c < dim; c++) {
                float *ar = r->a + (size_t)c * (size_t)T;
                const float *xr = r->xp + (size_t)c * (size_t)Tp + r->h, *yr = r->y + (size_t)c * (size_t)T;
                const float gc = b->gamma[c];
                for (int64_t t = 0; t < T; t++) ar[t] = xr[t] + gc * yr[t];
            }
        }
        ctx_keep(&r->blk[l], dim, K, r->xp, Tp, T, last);
    }
    if (T > 0) {
        vocos_layernorm(r, r->a, v->final_w, v->final_b, dim, T);
        sn_conv1d_forward(r->hid, r->a, v->out_w, v->out_b, dim, N + 2, (int)T, 1, 1, 1, r->scratch, nt);
        vocos_frames(r, r->sig, r->hid, T);
    }
    istft_push(r, r->sig, T, last);
}

void sn_vocos_run_reset(vocos_run *r) {
    r->embed.n = 0;
    r->embed.started = 0;
    for (int l = 0; l < r->L; l++) {
        r->blk[l].n = 0;
        r->blk[l].started = 0;
    }
    memset(r->ola, 0, (size_t)(r->N - r->hop) * sizeof(float));
    r->n_frames = 0;
}

int sn_vocos_run_push(vocos_run *r, const float *latents, int64_t n, int last, const float **out, int64_t *n_out) {
    static const float none = 0;
    /* at most all held frames and all new ones come out, plus the tail */
    int64_t cap = (n + (int64_t)(r->L + 1) * r->h + 1) * r->hop + r->N;
    if (cap > r->out_cap) {
        float *no = realloc(r->out, (size_t)cap * sizeof(float));
        if (!no) return sn_fail(SONO_E_NOMEM, "out of memory for %lld samples", (long long)cap);
        r->out = no;
        r->out_cap = cap;
    }
    r->out_n = 0;
    int64_t off = 0;
    do {
        int64_t m = SONO_MIN((int64_t)VOCOS_BLOCK, n - off);
        vocos_block(r, m > 0 ? latents + off : &none, n, m, last && off + m >= n);
        off += m;
    } while (off < n);
    if (last) sn_vocos_run_reset(r);
    *out = r->out ? r->out : &none;
    *n_out = r->out_n;
    return 0;
}

/* The FFT plan, the window's square, and the tables of the final sum:
 * w[n] / N times cos and sin of 2 pi k1 n / N. */
static int vocos_tables(vocos_run *r) {
    const int N = r->N;
    int rc;
    if (!(r->fft = sn_fft_plan_new(2 * r->M, &rc))) return rc;
    for (int k1 = 0; k1 < r->R; k1++)
        for (int n = 0; n < N; n++) {
            const double w = 0.5 - 0.5 * cos(2 * M_PI * n / N), a = 2 * M_PI * (double)((int64_t)k1 * n % N) / N;
            if (k1 == 0) r->w2[n] = w * w;
            r->cs[(size_t)k1 * N + n] = (float)(w / N * cos(a));
            r->sn[(size_t)k1 * N + n] = (float)(w / N * sin(a));
        }
    return 0;
}

vocos_run *sn_vocos_run_new(const sono_codec *c, int *err) {
    const codec_config *cfg = &c->cfg;
    int rc = 0;
    vocos_run *r = NULL;
    if (cfg->decoder != DECODER_VOCOS) {
        rc = sn_fail(SONO_E_ARG, "internal: model %s has no vocos decoder", cfg->name);
        goto out;
    }
    r = calloc(1, sizeof *r);
    if (!r) { rc = SONO_E_NOMEM; goto out; }
    r->c = c;
    r->v = &c->voc;
    r->n_threads = c->n_threads > 0 ? c->n_threads : 1;
    r->D = cfg->dimension;
    r->dim = cfg->vocos_dim;
    r->inter = cfg->vocos_intermediate;
    r->L = cfg->vocos_layers;
    r->K = cfg->vocos_kernel;
    r->h = (r->K - 1) / 2;
    r->N = cfg->vocos_n_fft;
    r->hop = sn_codec_config_hop(cfg);
    r->pad = (r->N - r->hop) / 2;
    for (r->M = 1; r->N % (2 * r->M) == 0; r->M *= 2) {}
    r->R = r->N / r->M;
    r->t_max = VOCOS_BLOCK + (int64_t)(r->L + 1) * r->h + r->K;
    const size_t t = (size_t)r->t_max, ctx = (size_t)(r->K > 1 ? r->K - 1 : 1);
    const int cx = SONO_MAX(r->D, r->dim), ch = SONO_MAX(r->inter, r->N + 2);
    const int c1 = SONO_MAX(r->dim, r->inter); /* the widest input of a pointwise product */
    const size_t scr = SONO_MAX(sn_conv1d_scratch_floats(r->D, r->K, (int)t), sn_conv1d_scratch_floats(c1, 1, (int)t));
    r->embed.held = malloc((size_t)r->D * ctx * sizeof(float));
    r->blk = calloc((size_t)SONO_MAX(r->L, 1), sizeof *r->blk);
    r->cs = malloc(2 * (size_t)r->R * (size_t)r->N * sizeof(float));
    r->sn = r->cs ? r->cs + (size_t)r->R * r->N : NULL;
    r->fscr = malloc((size_t)r->n_threads * 2 * (size_t)r->N * sizeof(float));
    r->w2 = malloc((size_t)r->N * sizeof(double));
    r->ola = malloc((size_t)r->N * sizeof(float));
    r->ybuf = malloc((t * (size_t)r->hop + (size_t)r->N) * sizeof(float));
    r->xp = malloc((size_t)cx * t * sizeof(float));
    r->a = malloc((size_t)r->dim * t * sizeof(float));
    r->y = malloc((size_t)r->dim * t * sizeof(float));
    r->hid = malloc((size_t)ch * t * sizeof(float));
    r->sig = malloc((size_t)r->N * t * sizeof(float));
    r->scratch = malloc(SONO_MAX(scr, (size_t)1) * sizeof(float));
    if (!r->embed.held || !r->blk || !r->cs || !r->fscr || !r->w2 || !r->ola || !r->ybuf || !r->xp || !r->a || !r->y || !r->hid || !r->sig ||
        !r->scratch) {
        rc = SONO_E_NOMEM;
        goto out;
    }
    for (int l = 0; l < r->L; l++)
        if (!(r->blk[l].held = malloc((size_t)r->dim * ctx * sizeof(float)))) { rc = SONO_E_NOMEM; goto out; }
    if ((rc = vocos_tables(r))) goto out;
    sn_vocos_run_reset(r);
out:
    if (rc) {
        if (rc == SONO_E_NOMEM) sn_fail(rc, "out of memory building the vocos decoder");
        sn_vocos_run_free(r);
        r = NULL;
    }
    if (err) *err = rc;
    return r;
}

void sn_vocos_run_free(vocos_run *r) {
    if (!r) return;
    free(r->embed.held);
    for (int l = 0; r->blk && l < r->L; l++) free(r->blk[l].held);
    free(r->blk);
    sn_fft_plan_free(r->fft);
    free(r->cs);
    free(r->fscr);
    free(r->w2);
    free(r->ola);
    free(r->ybuf);
    free(r->xp);
    free(r->a);
    free(r->y);
    free(r->hid);
    free(r->sig);
    free(r->scratch);
    free(r->out);
    free(r);
}

/* The envelope at kept sample t (y_full sample u = t + pad) is at least
 * w[u - f hop]^2 for f = floor(t / hop), an index in [pad, pad + hop), an
 * interval centred on N/2: at least w[pad]^2, which a one-frame signal's
 * first sample has exactly. */
int sn_vocos_check(const codec_config *cfg) {
    const int N = cfg->vocos_n_fft, hop = sn_codec_config_hop(cfg);
    const double w = 0.5 - 0.5 * cos(2 * M_PI * ((N - hop) / 2) / N);
    if (w * w < 1e-3)
        return sn_fail(SONO_E_UNSUPPORTED, "vocos_n_fft %d with hop %d: the inverse STFT's window envelope falls to "
                       "%.2g (under 1e-3)", N, hop, w * w);
    return 0;
}

double sn_vocos_macs_per_frame(const codec_config *cfg) {
    const double D = cfg->dimension, dim = cfg->vocos_dim, inter = cfg->vocos_intermediate, K = cfg->vocos_kernel,
                 N = cfg->vocos_n_fft;
    int M = 1;
    while (cfg->vocos_n_fft % (2 * M) == 0) M *= 2;
    const double R = N / M;
    return D * dim * K                                       /* embedding conv */
           + cfg->vocos_layers * (dim * K + 2 * dim * inter) /* ConvNeXt: depthwise conv, two linears */
           + dim * (N + 2)                                   /* magnitude and phase */
           + R * 2 * M * log2(M) + 2 * N * R;                /* R complex FFTs of M (4 real per butterfly), the sum */
}
