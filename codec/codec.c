/* The codec's public face: metadata queries, one-shot and streaming encode
 * and decode, EnCodec's segmenting with per-segment RMS scale and the
 * triangular overlap-add of decoded segments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "kernels.h"
#include "sono_internal.h"

#define ENC_CHUNK 24000 /* samples pushed into the encoder at a time */
#define DEC_CHUNK 64      /* frames pushed into the decoder at a time */

const char *sono_codec_name(const sono_codec *c) { return c->cfg.name; }
void sono_codec_hash(const sono_codec *c, uint8_t out[16]) { memcpy(out, c->hash, 16); }
void sono_codec_codes_hash(const sono_codec *c, uint8_t out[16]) { memcpy(out, c->codes_hash, 16); }
int sono_codec_sample_rate(const sono_codec *c) { return c->cfg.sample_rate; }
int sono_codec_channels(const sono_codec *c) { return c->cfg.channels; }
int sono_codec_hop(const sono_codec *c) { return sn_codec_config_hop(&c->cfg); }
double sono_codec_frame_rate(const sono_codec *c) { return (double)c->cfg.sample_rate / sn_codec_config_hop(&c->cfg); }
int sono_codec_codebook_size(const sono_codec *c) { return c->cfg.codebook_size; }
int sono_codec_max_codebooks(const sono_codec *c) { return c->cfg.n_q; }
int sono_codec_n_bandwidths(const sono_codec *c) { return c->cfg.n_bandwidths; }
double sono_codec_bandwidth(const sono_codec *c, int i) {
    return i >= 0 && i < c->cfg.n_bandwidths ? c->cfg.bandwidths[i] : 0;
}

int sono_codec_n_q_for_bandwidth(const sono_codec *c, double kbps) {
    const codec_config *cfg = &c->cfg;
    int found = 0;
    for (int i = 0; i < cfg->n_bandwidths; i++)
        if (fabs(cfg->bandwidths[i] - kbps) < 1e-9) found = 1;
    if (!found) {
        char list[256];
        int o = 0;
        for (int i = 0; i < cfg->n_bandwidths && o < (int)sizeof list; i++)
            o += snprintf(list + o, sizeof list - (size_t)o, "%s%g", i ? ", " : "", cfg->bandwidths[i]);
        return sn_fail(SONO_E_RANGE, "bandwidth %g kbps is not offered by %s (choose one of: %s)", kbps,
                         cfg->name, list);
    }
    /* EnCodec: bits per codebook = log2(bins), frame rate = ceil(sr / hop) */
    double bw_per_q = log2((double)cfg->codebook_size) * sn_codec_config_frame_rate(cfg);
    int n_q = (int)floor(kbps * 1000 / bw_per_q);
    if (n_q < 1) n_q = 1;
    if (n_q > cfg->n_q) n_q = cfg->n_q;
    return n_q;
}

/* MACs per second of one SEANet stack, layer by layer (sn_seanet_walk): a conv
 * costs C_in * C_out * K per output step, a transposed conv per input step;
 * rate is the current step rate (strided convs divide it, transposed convs
 * multiply it). */
typedef struct {
    double rate, lstm, m;
} mac_count;

static int count_layer(const seanet_layer *y, void *user) {
    mac_count *mc = user;
    const double per_step = (double)y->C_in * y->C_out * y->K;
    if (y->kind == SEANET_CONV) {
        mc->rate /= y->stride;
        mc->m += per_step * mc->rate;
    } else if (y->kind == SEANET_CONVTR) {
        mc->m += per_step * mc->rate;
        mc->rate *= y->stride;
    } else if (y->kind == SEANET_LSTM) {
        mc->m += mc->lstm;
    }
    return 0;
}

double sono_codec_macs_per_second(const sono_codec *c, int decoder, int n_q) {
    const codec_config *cfg = &c->cfg;
    double frame_rate = (double)cfg->sample_rate / sn_codec_config_hop(cfg);
    if (decoder && cfg->decoder == DECODER_VOCOS) return sn_vocos_macs_per_frame(cfg) * frame_rate;
    double H = c->enc.lstm.C;
    mac_count mc = {decoder ? frame_rate : cfg->sample_rate, cfg->lstm_layers * 4.0 * H * (2.0 * H) * frame_rate, 0};
    sn_seanet_walk(cfg, decoder, count_layer, &mc);
    if (!decoder) mc.m += (double)n_q * cfg->codebook_size * cfg->dimension * frame_rate;
    return mc.m;
}

/* frames of each segment, EnCodec's segmentation of n_samples */
static int64_t frames_for(const codec_config *cfg, int64_t n_samples, int *n_segments) {
    int64_t hop = sn_codec_config_hop(cfg), seg = sn_codec_config_segment_length(cfg), st = sn_codec_config_segment_stride(cfg);
    if (!seg) {
        if (n_segments) *n_segments = 1;
        return (n_samples + hop - 1) / hop;
    }
    int64_t total = 0;
    int ns = 0;
    for (int64_t off = 0; off < n_samples; off += st, ns++) {
        int64_t len = SONO_MIN(seg, n_samples - off);
        total += (len + hop - 1) / hop;
    }
    if (n_segments) *n_segments = ns;
    return total;
}

int64_t sono_codec_max_frames(const sono_codec *c, int64_t n_samples) {
    return n_samples > 0 ? frames_for(&c->cfg, n_samples, NULL) : 0;
}

int sono_codec_check_tokens(const sono_codec *c, const sono_tokens *t) {
    const codec_config *cfg = &c->cfg;
    /* token files record the codes hash; those written before it, the full hash */
    if (memcmp(t->model_hash, c->codes_hash, 16) && memcmp(t->model_hash, c->hash, 16)) {
        const uint8_t *h = c->codes_hash;
        return sn_fail(SONO_E_MODEL_MISMATCH,
                         "tokens were made by model \"%s\" (hash %02x%02x%02x%02x...), not by \"%s\" (codes hash %02x%02x%02x%02x...)",
                         t->model_name, t->model_hash[0], t->model_hash[1], t->model_hash[2], t->model_hash[3],
                         cfg->name, h[0], h[1], h[2], h[3]);
    }
    if (t->sample_rate != cfg->sample_rate || t->channels != cfg->channels || t->hop != sn_codec_config_hop(cfg) ||
        t->codebook_size != cfg->codebook_size)
        return sn_fail(SONO_E_MODEL_MISMATCH, "token header disagrees with model %s (rate, channels, hop or codebook size)",
                         cfg->name);
    if (t->n_q < 1 || t->n_q > cfg->n_q)
        return sn_fail(SONO_E_RANGE, "tokens use %d codebooks, model %s has %d", t->n_q, cfg->name, cfg->n_q);
    int ns;
    int64_t want = frames_for(cfg, t->n_samples, &ns);
    if (t->n_samples <= 0 || want != t->n_frames || ns != t->n_segments)
        return sn_fail(SONO_E_FORMAT, "tokens hold %lld frames in %d segments, but %lld samples need %lld frames in %d",
                         (long long)t->n_frames, t->n_segments, (long long)t->n_samples, (long long)want, ns);
    if (cfg->normalize && !t->scales) return sn_fail(SONO_E_FORMAT, "tokens lack the per-segment scales model %s needs", cfg->name);
    if (t->scales)
        for (int i = 0; i < t->n_segments; i++)
            if (!isfinite(t->scales[i]) || t->scales[i] < 0)
                return sn_fail(SONO_E_RANGE, "segment %d has scale %g", i, (double)t->scales[i]);
    for (int q = 0; q < t->n_q; q++)
        for (int64_t f = 0; f < t->n_frames; f++) {
            int32_t k = t->codes[(size_t)q * t->n_frames + f];
            if (k < 0 || k >= cfg->codebook_size)
                return sn_fail(SONO_E_RANGE, "code %d at codebook %d frame %lld is outside [0, %d)", k, q, (long long)f,
                                 cfg->codebook_size);
        }
    return 0;
}

static void fill_header(const sono_codec *c, sono_tokens *t, int n_q) {
    const codec_config *cfg = &c->cfg;
    snprintf(t->model_name, sizeof t->model_name, "%s", cfg->name);
    memcpy(t->model_hash, c->codes_hash, 16);
    t->sample_rate = cfg->sample_rate;
    t->channels = cfg->channels;
    t->hop = sn_codec_config_hop(cfg);
    t->n_q = n_q;
    t->codebook_size = cfg->codebook_size;
    int64_t seg = sn_codec_config_segment_length(cfg);
    t->segment_frames = seg ? (seg + t->hop - 1) / t->hop : 0;
}

int sono_codec_tokens_from_codes(const sono_codec *c, const int32_t *codes, int n_q, int64_t n_frames,
                                 sono_tokens **out) {
    const codec_config *cfg = &c->cfg;
    *out = NULL;
    if (n_q < 1 || n_q > cfg->n_q) return sn_fail(SONO_E_RANGE, "%d codebooks, model %s has 1 to %d", n_q, cfg->name, cfg->n_q);
    if (n_frames < 1) return sn_fail(SONO_E_EMPTY, "no frames");
    int64_t hop = sn_codec_config_hop(cfg), seg = sn_codec_config_segment_length(cfg);
    int64_t n_samples;
    int n_seg = 1;
    if (!seg) {
        n_samples = n_frames * hop;
    } else {
        int64_t sf = (seg + hop - 1) / hop, st = sn_codec_config_segment_stride(cfg);
        int64_t ns = (n_frames + sf - 1) / sf;
        if (ns > INT32_MAX) return sn_fail(SONO_E_LIMIT, "too many segments");
        n_seg = (int)ns;
        n_samples = (ns - 1) * st + (n_frames - (ns - 1) * sf) * hop;
        int chk;
        if (frames_for(cfg, n_samples, &chk) != n_frames || chk != n_seg)
            return sn_fail(SONO_E_FORMAT, "%lld frames do not form whole segments of model %s", (long long)n_frames, cfg->name);
    }
    sono_tokens *t = sono_tokens_alloc(n_q, n_frames, n_seg, cfg->normalize);
    if (!t) return sn_fail(SONO_E_NOMEM, "out of memory");
    fill_header(c, t, n_q);
    t->n_samples = n_samples;
    t->n_segments = n_seg;
    if (t->scales) for (int i = 0; i < n_seg; i++) t->scales[i] = 1.0f;
    memcpy(t->codes, codes, (size_t)n_q * (size_t)n_frames * sizeof(int32_t));
    int rc = sono_codec_check_tokens(c, t);
    if (rc) { sono_tokens_free(t); return rc; }
    *out = t;
    return 0;
}

/* ---- streams ---- */

struct sono_codec_stream {
    const sono_codec *c;
    int decoder;
    seanet_run *run;
    int n_q;
    int C;
    /* encoder */
    int32_t *codes;        /* frame-major [cap][n_q] */
    int latents_only;      /* keep the encoder's latents instead of quantising them */
    float *lat_keep;       /* frame-major [cap][D] when latents_only */
    int64_t n_frames, cap_frames;
    int64_t n_in;          /* samples pushed */
    float *seg;            /* [C][seg_len] sliding segment buffer */
    int64_t seg_fill;
    float *scales;
    int n_seg, cap_seg;
    float *rvq_scratch;
    float *lat;            /* decoder latents [D][DEC_CHUNK] */
    /* decoder */
    const sono_tokens *t;
    int seg_i;             /* next segment to decode */
    int64_t frame_i;       /* next frame to decode (within the current segment for segmented) */
    float *q;              /* output queue [C][q_cap] planar with row stride q_cap */
    int64_t q_n, q_cap;
    int64_t emitted;       /* samples given out */
    float *acc, *wsum;     /* overlap-add accumulator [C][acc_cap], weights [acc_cap] */
    int64_t acc_off, acc_n, acc_cap; /* acc covers [acc_off, acc_off + acc_n) */
    float *tri;            /* triangle weights for the first decoded segment length */
    int64_t tri_n;
    int done;
    /* live decoder (sono_codec_decoder_live): frames pushed, not yet decoded */
    int live;
    int32_t *live_codes;   /* [n_q][DEC_CHUNK] */
    int64_t live_n;
};

/* Latents [D][n] of the next n frames, kept frame-major (a later transpose
 * gives the caller [D][n_frames]) so the buffer grows without moving rows. */
static int append_latents(sono_codec_stream *s, const float *lat, int64_t n) {
    const int D = s->c->cfg.dimension;
    if (s->n_frames + n > s->cap_frames) {
        int64_t cap = s->cap_frames ? s->cap_frames : 256;
        while (cap < s->n_frames + n) cap *= 2;
        float *nl = realloc(s->lat_keep, (size_t)cap * (size_t)D * sizeof(float));
        if (!nl) return sn_fail(SONO_E_NOMEM, "out of memory for latents");
        s->lat_keep = nl;
        s->cap_frames = cap;
    }
    for (int64_t f = 0; f < n; f++)
        for (int d = 0; d < D; d++) s->lat_keep[(size_t)(s->n_frames + f) * D + d] = lat[(size_t)d * n + f];
    s->n_frames += n;
    return 0;
}

static int append_codes(sono_codec_stream *s, const float *lat, int64_t n) {
    if (n <= 0) return 0;
    if (s->latents_only) return append_latents(s, lat, n);
    if (s->n_frames + n > s->cap_frames) {
        int64_t cap = s->cap_frames ? s->cap_frames : 256;
        while (cap < s->n_frames + n) cap *= 2;
        int32_t *nc = realloc(s->codes, (size_t)cap * (size_t)s->n_q * sizeof(int32_t));
        if (!nc) return sn_fail(SONO_E_NOMEM, "out of memory for codes");
        s->codes = nc;
        s->cap_frames = cap;
    }
    /* frame-major: codebook q of frame f at codes[f * n_q + q] */
    int rc = sn_rvq_encode(s->c, lat, n, s->n_q, s->codes + (size_t)s->n_frames * s->n_q, 1, s->n_q, s->rvq_scratch);
    if (!rc) s->n_frames += n;
    return rc;
}

static int encode_piece(sono_codec_stream *s, const float *pcm, int64_t n, int64_t stride, int last) {
    /* push in chunks of at most ENC_CHUNK so memory stays bounded */
    int64_t off = 0;
    float *tmp = NULL;
    do {
        int64_t m = SONO_MIN((int64_t)ENC_CHUNK, n - off);
        int is_last = last && off + m >= n;
        const float *src = pcm + off;
        if (stride != m && m > 0) {
            float *nt = realloc(tmp, (size_t)s->C * (size_t)m * sizeof(float));
            if (!nt) { free(tmp); return sn_fail(SONO_E_NOMEM, "out of memory"); }
            tmp = nt;
            for (int c = 0; c < s->C; c++) memcpy(tmp + (size_t)c * m, pcm + (size_t)c * stride + off, (size_t)m * sizeof(float));
            src = tmp;
        }
        const float *lat;
        int64_t nl;
        int rc = sn_seanet_run_push(s->run, src, m, is_last, &lat, &nl);
        if (!rc) rc = append_codes(s, lat, nl);
        if (rc) { free(tmp); return rc; }
        off += m;
    } while (off < n);
    free(tmp);
    return 0;
}

static int encode_segment(sono_codec_stream *s, int64_t len) {
    const codec_config *cfg = &s->c->cfg;
    int64_t seg_len = sn_codec_config_segment_length(cfg);
    float scale = 1.0f;
    float *x = s->seg;
    float *norm = NULL;
    if (cfg->normalize) {
        double acc = 0;
        for (int64_t i = 0; i < len; i++) {
            float m = 0;
            for (int c = 0; c < s->C; c++) m += x[(size_t)c * seg_len + i];
            m /= (float)s->C;
            acc += (double)m * m;
        }
        scale = (float)(1e-8 + (float)sqrt(acc / (double)len));
        norm = malloc((size_t)s->C * (size_t)len * sizeof(float));
        if (!norm) return sn_fail(SONO_E_NOMEM, "out of memory");
        for (int c = 0; c < s->C; c++)
            for (int64_t i = 0; i < len; i++) norm[(size_t)c * len + i] = x[(size_t)c * seg_len + i] / scale;
    }
    if (s->n_seg == s->cap_seg) {
        int cap = s->cap_seg ? s->cap_seg * 2 : 64;
        float *ns = realloc(s->scales, (size_t)cap * sizeof(float));
        if (!ns) { free(norm); return sn_fail(SONO_E_NOMEM, "out of memory"); }
        s->scales = ns;
        s->cap_seg = cap;
    }
    s->scales[s->n_seg++] = scale;
    sn_seanet_run_reset(s->run);
    int rc = norm ? encode_piece(s, norm, len, len, 1) : encode_piece(s, x, len, seg_len, 1);
    free(norm);
    return rc;
}

sono_codec_stream *sono_codec_encoder_stream(const sono_codec *c, int n_q, int *err) {
    int rc = 0;
    sono_codec_stream *s = NULL;
    if (n_q < 1 || n_q > c->cfg.n_q) {
        rc = sn_fail(SONO_E_RANGE, "%d codebooks requested, model %s has 1 to %d", n_q, c->cfg.name, c->cfg.n_q);
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (!s) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto out; }
    s->c = c;
    s->n_q = n_q;
    s->C = c->cfg.channels;
    s->rvq_scratch = malloc(sn_rvq_scratch_floats(c) * sizeof(float));
    int64_t seg = sn_codec_config_segment_length(&c->cfg);
    if (seg) s->seg = malloc((size_t)s->C * (size_t)seg * sizeof(float));
    if (!s->rvq_scratch || (seg && !s->seg)) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto out; }
    s->run = sn_seanet_run_new(c, 0, &rc);
out:
    if (rc) { sono_codec_stream_free(s); s = NULL; }
    if (err) *err = rc;
    return s;
}

int sono_codec_encoder_push(sono_codec_stream *s, const float *pcm, int64_t n) {
    if (!s || s->decoder || s->done) return sn_fail(SONO_E_ARG, "not an open encoder stream");
    if (n <= 0) return 0;
    sn_kern_set_threads(s->c->n_threads);
    int64_t seg_len = sn_codec_config_segment_length(&s->c->cfg);
    if (!seg_len) {
        s->n_in += n;
        return encode_piece(s, pcm, n, n, 0);
    }
    int64_t seg_st = sn_codec_config_segment_stride(&s->c->cfg);
    int64_t off = 0;
    while (off < n) {
        int64_t m = SONO_MIN(seg_len - s->seg_fill, n - off);
        for (int c = 0; c < s->C; c++)
            memcpy(s->seg + (size_t)c * seg_len + s->seg_fill, pcm + (size_t)c * n + off, (size_t)m * sizeof(float));
        s->seg_fill += m;
        off += m;
        s->n_in += m;
        if (s->seg_fill == seg_len && off < n) {
            /* full segment and more input follows: a later segment exists */
            int rc = encode_segment(s, seg_len);
            if (rc) return rc;
            int64_t keep = seg_len - seg_st;
            for (int c = 0; c < s->C; c++)
                memmove(s->seg + (size_t)c * seg_len, s->seg + (size_t)c * seg_len + seg_st, (size_t)keep * sizeof(float));
            s->seg_fill = keep;
        }
    }
    return 0;
}

/* Run the encoder over what is still buffered (the last samples, the
 * remaining segments). */
static int encoder_flush(sono_codec_stream *s) {
    if (!s || s->decoder || s->done) return sn_fail(SONO_E_ARG, "not an open encoder stream");
    s->done = 1;
    if (s->n_in == 0) return sn_fail(SONO_E_EMPTY, "no audio samples to encode");
    sn_kern_set_threads(s->c->n_threads);
    const codec_config *cfg = &s->c->cfg;
    int64_t seg_len = sn_codec_config_segment_length(cfg);
    int rc;
    if (!seg_len) {
        rc = encode_piece(s, NULL, 0, 0, 1);
    } else {
        /* the buffer starts at the next segment offset; emit the remaining (partial) segments */
        int64_t seg_st = sn_codec_config_segment_stride(cfg);
        rc = 0;
        while (!rc && s->seg_fill > 0) {
            rc = encode_segment(s, s->seg_fill);
            if (s->seg_fill <= seg_st) break;
            int64_t keep = s->seg_fill - seg_st;
            for (int c = 0; c < s->C; c++)
                memmove(s->seg + (size_t)c * seg_len, s->seg + (size_t)c * seg_len + seg_st, (size_t)keep * sizeof(float));
            s->seg_fill = keep;
        }
    }
    if (rc) return rc;
    int64_t want = frames_for(cfg, s->n_in, NULL);
    if (want != s->n_frames)
        return sn_fail(SONO_E_ARG, "internal: %lld frames for %lld samples, expected %lld", (long long)s->n_frames,
                       (long long)s->n_in, (long long)want);
    return 0;
}

int sono_codec_encoder_finish(sono_codec_stream *s, sono_tokens **out) {
    *out = NULL;
    int rc = encoder_flush(s);
    if (rc) return rc;
    const codec_config *cfg = &s->c->cfg;
    int64_t seg_len = sn_codec_config_segment_length(cfg);
    int n_seg = seg_len ? s->n_seg : 1;
    sono_tokens *t = sono_tokens_alloc(s->n_q, s->n_frames, n_seg, cfg->normalize);
    if (!t) return sn_fail(SONO_E_NOMEM, "out of memory");
    fill_header(s->c, t, s->n_q);
    t->n_samples = s->n_in;
    t->n_segments = n_seg;
    if (t->scales) memcpy(t->scales, s->scales, (size_t)n_seg * sizeof(float));
    for (int q = 0; q < s->n_q; q++)
        for (int64_t f = 0; f < s->n_frames; f++) t->codes[(size_t)q * s->n_frames + f] = s->codes[(size_t)f * s->n_q + q];
    *out = t;
    return 0;
}

int sono_codec_encode(const sono_codec *c, const float *pcm, int64_t n_samples, int n_q, sono_tokens **out) {
    *out = NULL;
    if (n_samples <= 0) return sn_fail(SONO_E_EMPTY, "no audio samples to encode");
    int rc;
    sono_codec_stream *s = sono_codec_encoder_stream(c, n_q, &rc);
    if (!s) return rc;
    rc = sono_codec_encoder_push(s, pcm, n_samples);
    if (!rc) rc = sono_codec_encoder_finish(s, out);
    sono_codec_stream_free(s);
    return rc;
}

int sono_codec_latent_dim(const sono_codec *c) { return c->cfg.dimension; }

int sono_codec_encode_latents(const sono_codec *c, const float *pcm, int64_t n_samples, float **latents,
                              int64_t *n_frames) {
    *latents = NULL;
    *n_frames = 0;
    if (n_samples <= 0) return sn_fail(SONO_E_EMPTY, "no audio samples to encode");
    int rc;
    sono_codec_stream *s = sono_codec_encoder_stream(c, 1, &rc);
    if (!s) return rc;
    s->latents_only = 1;
    rc = sono_codec_encoder_push(s, pcm, n_samples);
    if (!rc) rc = encoder_flush(s);
    const int D = c->cfg.dimension;
    float *out = NULL;
    if (!rc && !(out = malloc((size_t)D * (size_t)SONO_MAX(s->n_frames, 1) * sizeof(float))))
        rc = sn_fail(SONO_E_NOMEM, "out of memory for latents");
    if (!rc) {
        for (int d = 0; d < D; d++)
            for (int64_t f = 0; f < s->n_frames; f++) out[(size_t)d * s->n_frames + f] = s->lat_keep[(size_t)f * D + d];
        *latents = out;
        *n_frames = s->n_frames;
    }
    sono_codec_stream_free(s);
    return rc;
}

/* ---- decoding ---- */

static int queue_append(sono_codec_stream *s, const float *x, int64_t n, int64_t stride) {
    if (n <= 0) return 0;
    if (s->q_n + n > s->q_cap) {
        int64_t cap = s->q_cap ? s->q_cap : 4096;
        while (cap < s->q_n + n) cap *= 2;
        float *nq = malloc((size_t)s->C * (size_t)cap * sizeof(float));
        if (!nq) return sn_fail(SONO_E_NOMEM, "out of memory");
        if (s->q_n > 0)
            for (int c = 0; c < s->C; c++) memcpy(nq + (size_t)c * cap, s->q + (size_t)c * s->q_cap, (size_t)s->q_n * sizeof(float));
        free(s->q);
        s->q = nq;
        s->q_cap = cap;
    }
    for (int c = 0; c < s->C; c++) memcpy(s->q + (size_t)c * s->q_cap + s->q_n, x + (size_t)c * stride, (size_t)n * sizeof(float));
    s->q_n += n;
    return 0;
}

/* Decode frames [f0, f0+n) of the tokens through the decoder run. */
static int decode_frames(sono_codec_stream *s, int64_t f0, int64_t n, int last, const float **pcm, int64_t *n_pcm) {
    const sono_tokens *t = s->t;
    int rc = sn_rvq_decode(s->c, t->codes + f0, t->n_frames, n, t->n_q, s->lat);
    if (rc) return rc;
    return sn_seanet_run_push(s->run, s->lat, n, last, pcm, n_pcm);
}

/* Decode one whole segment into acc via overlap-add; make final samples available. */
static int decode_segment(sono_codec_stream *s) {
    const sono_tokens *t = s->t;
    const codec_config *cfg = &s->c->cfg;
    int64_t seg_st = sn_codec_config_segment_stride(cfg);
    int64_t f0 = (int64_t)s->seg_i * t->segment_frames;
    int64_t nf = SONO_MIN(t->segment_frames, t->n_frames - f0);
    int last_seg = s->seg_i == t->n_segments - 1;
    sn_seanet_run_reset(s->run);
    /* decode the segment into a temporary [C][len] (one-shot: group norm needs all of it) */
    float *seg = NULL;
    int64_t len = 0;
    for (int64_t f = 0; f < nf; f += DEC_CHUNK) {
        int64_t m = SONO_MIN((int64_t)DEC_CHUNK, nf - f);
        const float *pcm;
        int64_t np;
        int rc = decode_frames(s, f0 + f, m, f + m >= nf, &pcm, &np);
        if (rc) { free(seg); return rc; }
        if (np > 0) {
            float *ns = malloc((size_t)s->C * (size_t)(len + np) * sizeof(float));
            if (!ns) { free(seg); return sn_fail(SONO_E_NOMEM, "out of memory"); }
            for (int c = 0; c < s->C; c++) {
                memcpy(ns + (size_t)c * (len + np), seg ? seg + (size_t)c * len : ns, (size_t)len * sizeof(float));
                memcpy(ns + (size_t)c * (len + np) + len, pcm + (size_t)c * np, (size_t)np * sizeof(float));
            }
            free(seg);
            seg = ns;
            len += np;
        }
    }
    float scale = t->scales ? t->scales[s->seg_i] : 1.0f;
    if (s->seg_i == 0) {
        /* EnCodec's triangle over the first frame's length: t = linspace(0, 1, L + 2)[1:-1] */
        s->tri_n = len;
        s->tri = malloc((size_t)(len > 0 ? len : 1) * sizeof(float));
        s->acc_cap = len + seg_st + 1;
        s->acc = calloc((size_t)s->C * (size_t)s->acc_cap, sizeof(float));
        s->wsum = calloc((size_t)s->acc_cap, sizeof(float));
        if (!s->tri || !s->acc || !s->wsum) { free(seg); return sn_fail(SONO_E_NOMEM, "out of memory"); }
        for (int64_t i = 0; i < len; i++) {
            float tt = (float)((double)(i + 1) / (double)(len + 1));
            s->tri[i] = 0.5f - fabsf(tt - 0.5f);
        }
        s->acc_off = 0;
        s->acc_n = 0;
    }
    if (len > s->tri_n) { free(seg); return sn_fail(SONO_E_FORMAT, "segment %d decodes longer than the first", s->seg_i); }
    int64_t start = (int64_t)s->seg_i * seg_st - s->acc_off; /* position in acc */
    if (start < 0 || start + len > s->acc_cap) { free(seg); return sn_fail(SONO_E_ARG, "internal: overlap-add window"); }
    for (int c = 0; c < s->C; c++) {
        float *a = s->acc + (size_t)c * s->acc_cap + start;
        const float *x = seg + (size_t)c * len;
        for (int64_t i = 0; i < len; i++) a[i] += s->tri[i] * (x[i] * scale);
    }
    for (int64_t i = 0; i < len; i++) s->wsum[start + i] += s->tri[i];
    if (start + len > s->acc_n) s->acc_n = start + len;
    free(seg);
    /* samples before the next segment's start are final */
    int64_t final_n = last_seg ? s->acc_n : SONO_MIN(s->acc_n, start + seg_st);
    float *outb = malloc((size_t)s->C * (size_t)(final_n > 0 ? final_n : 1) * sizeof(float));
    if (!outb) return sn_fail(SONO_E_NOMEM, "out of memory");
    for (int c = 0; c < s->C; c++)
        for (int64_t i = 0; i < final_n; i++)
            outb[(size_t)c * final_n + i] = s->acc[(size_t)c * s->acc_cap + i] / s->wsum[i];
    int rc = queue_append(s, outb, final_n, final_n);
    free(outb);
    if (rc) return rc;
    /* shift the accumulator */
    int64_t rest = s->acc_n - final_n;
    for (int c = 0; c < s->C; c++) {
        float *a = s->acc + (size_t)c * s->acc_cap;
        memmove(a, a + final_n, (size_t)rest * sizeof(float));
        memset(a + rest, 0, (size_t)(s->acc_cap - rest) * sizeof(float));
    }
    memmove(s->wsum, s->wsum + final_n, (size_t)rest * sizeof(float));
    memset(s->wsum + rest, 0, (size_t)(s->acc_cap - rest) * sizeof(float));
    s->acc_off += final_n;
    s->acc_n = rest;
    s->seg_i++;
    return 0;
}

sono_codec_stream *sono_codec_decoder_stream(const sono_codec *c, const sono_tokens *t, int *err) {
    int rc = sono_codec_check_tokens(c, t);
    sono_codec_stream *s = NULL;
    if (rc) goto out;
    s = calloc(1, sizeof *s);
    if (!s) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto out; }
    s->c = c;
    s->decoder = 1;
    s->t = t;
    s->C = c->cfg.channels;
    s->lat = malloc((size_t)c->cfg.dimension * DEC_CHUNK * sizeof(float));
    if (!s->lat) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto out; }
    s->run = sn_seanet_run_new(c, 1, &rc);
out:
    if (rc) { sono_codec_stream_free(s); s = NULL; }
    if (err) *err = rc;
    return s;
}

sono_codec_stream *sono_codec_decoder_live(const sono_codec *c, int n_q, int *err) {
    int rc = 0;
    sono_codec_stream *s = NULL;
    if (n_q < 1 || n_q > c->cfg.n_q) {
        rc = sn_fail(SONO_E_RANGE, "%d codebooks, model %s has 1 to %d", n_q, c->cfg.name, c->cfg.n_q);
        goto out;
    }
    if (sn_codec_config_segment_length(&c->cfg) > 0) {
        rc = sn_fail(SONO_E_UNSUPPORTED, "model %s decodes whole segments: no live decoding", c->cfg.name);
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (!s) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto out; }
    s->c = c;
    s->decoder = 1;
    s->live = 1;
    s->n_q = n_q;
    s->C = c->cfg.channels;
    s->lat = malloc((size_t)c->cfg.dimension * DEC_CHUNK * sizeof(float));
    s->live_codes = malloc((size_t)n_q * DEC_CHUNK * sizeof(int32_t));
    if (!s->lat || !s->live_codes) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto out; }
    s->run = sn_seanet_run_new(c, 1, &rc);
out:
    if (rc) { sono_codec_stream_free(s); s = NULL; }
    if (err) *err = rc;
    return s;
}

/* Decode the buffered frames of a live stream into the output queue. */
static int live_flush(sono_codec_stream *s, int last) {
    sn_kern_set_threads(s->c->n_threads);
    int rc = s->live_n ? sn_rvq_decode(s->c, s->live_codes, DEC_CHUNK, s->live_n, s->n_q, s->lat) : 0;
    const float *out;
    int64_t n_out = 0;
    if (!rc) rc = sn_seanet_run_push(s->run, s->live_n ? s->lat : NULL, s->live_n, last, &out, &n_out);
    if (!rc) rc = queue_append(s, out, n_out, n_out);
    s->live_n = 0;
    return rc;
}

int sono_codec_decoder_push(sono_codec_stream *s, const int32_t *codes, int64_t stride, int64_t n_frames) {
    if (!s || !s->live || s->done) return sn_fail(SONO_E_ARG, "not an open live decoder stream");
    const int cb = s->c->cfg.codebook_size;
    for (int q = 0; q < s->n_q; q++)
        for (int64_t f = 0; f < n_frames; f++) {
            int32_t v = codes[(size_t)q * stride + f];
            if (v < 0 || v >= cb)
                return sn_fail(SONO_E_RANGE, "code %d at codebook %d frame %lld is outside [0, %d)", v, q, (long long)f, cb);
        }
    for (int64_t f = 0; f < n_frames; f++) {
        for (int q = 0; q < s->n_q; q++) s->live_codes[(size_t)q * DEC_CHUNK + s->live_n] = codes[(size_t)q * stride + f];
        s->n_frames++;
        if (++s->live_n == DEC_CHUNK) {
            int rc = live_flush(s, 0);
            if (rc) return rc;
        }
    }
    return 0;
}

int sono_codec_decoder_end(sono_codec_stream *s) {
    if (!s || !s->live || s->done) return sn_fail(SONO_E_ARG, "not an open live decoder stream");
    s->done = 1;
    return live_flush(s, 1);
}

int64_t sono_codec_decoder_pull(sono_codec_stream *s, float *pcm, int64_t max_samples) {
    if (!s || !s->decoder) return sn_fail(SONO_E_ARG, "not a decoder stream");
    const sono_tokens *t = s->t;
    sn_kern_set_threads(s->c->n_threads);
    /* a live stream decodes as frames are pushed: n frames make n * hop samples in all */
    int64_t want = SONO_MIN(max_samples, s->live ? s->n_frames * sn_codec_config_hop(&s->c->cfg) - s->emitted
                                                 : t->n_samples - s->emitted);
    int segmented = sn_codec_config_segment_length(&s->c->cfg) > 0;
    while (!s->live && s->q_n < want && !s->done) {
        int rc;
        if (segmented) {
            rc = decode_segment(s);
            if (s->seg_i >= t->n_segments) s->done = 1;
        } else {
            int64_t m = SONO_MIN((int64_t)DEC_CHUNK, t->n_frames - s->frame_i);
            int last = s->frame_i + m >= t->n_frames;
            const float *out;
            int64_t n_out;
            rc = decode_frames(s, s->frame_i, m, last, &out, &n_out);
            if (!rc) rc = queue_append(s, out, n_out, n_out);
            s->frame_i += m;
            if (last) s->done = 1;
        }
        if (rc) return rc;
    }
    int64_t n = SONO_MIN(want, s->q_n);
    if (n <= 0) return 0;
    for (int c = 0; c < s->C; c++) {
        float *row = s->q + (size_t)c * s->q_cap;
        memcpy(pcm + (size_t)c * n, row, (size_t)n * sizeof(float));
        memmove(row, row + n, (size_t)(s->q_n - n) * sizeof(float));
    }
    s->q_n -= n;
    s->emitted += n;
    return n;
}

int sono_codec_decode(const sono_codec *c, const sono_tokens *t, float **pcm, int64_t *n_samples) {
    *pcm = NULL;
    *n_samples = 0;
    int rc;
    sono_codec_stream *s = sono_codec_decoder_stream(c, t, &rc);
    if (!s) return rc;
    int C = c->cfg.channels;
    int64_t n = t->n_samples;
    float *out = malloc((size_t)C * (size_t)n * sizeof(float));
    float *blk = malloc((size_t)C * 32768 * sizeof(float));
    if (!out || !blk) { rc = sn_fail(SONO_E_NOMEM, "out of memory"); goto done; }
    int64_t got = 0;
    for (;;) {
        int64_t m = sono_codec_decoder_pull(s, blk, 32768);
        if (m < 0) { rc = (int)m; goto done; }
        if (m == 0) break;
        for (int ch = 0; ch < C; ch++) memcpy(out + (size_t)ch * n + got, blk + (size_t)ch * m, (size_t)m * sizeof(float));
        got += m;
    }
    if (got != n) { rc = sn_fail(SONO_E_ARG, "internal: decoded %lld of %lld samples", (long long)got, (long long)n); goto done; }
    *pcm = out;
    out = NULL;
    *n_samples = n;
done:
    free(out);
    free(blk);
    sono_codec_stream_free(s);
    return rc;
}

void sono_codec_stream_free(sono_codec_stream *s) {
    if (!s) return;
    sn_seanet_run_free(s->run);
    free(s->codes);
    free(s->live_codes);
    free(s->lat_keep);
    free(s->seg);
    free(s->scales);
    free(s->rvq_scratch);
    free(s->lat);
    free(s->q);
    free(s->acc);
    free(s->wsum);
    free(s->tri);
    free(s);
}
