/* Token files (.tok): a checksummed header with the model identity and sizes,
 * the codes entropy coded, and a checksum over the whole file. Byte layout and
 * the rules readers enforce are in codec/FORMATS.md ("Token file"); keep the
 * two in step. Also: sono_tokens_alloc/free and the atomic file writer. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sonotok/cpu.h"
#include "sonotok/output.h"
#include "sonotok/tokens.h"
#include "coder_model.h"
#include "rangecoder.h"
#include "sono_internal.h"
#include "tokdata.h"

/* ---- layout (FORMATS.md) ---- */
#define TOK_MAGIC "SNTK"
#define TOK_MAJOR 1
#define TOK_MINOR 0              /* written for coders 0-2: their files are as before */
#define TOK_MINOR_MODEL 1        /* written for coder 3: appends the coder model's hash */
#define TOK_CODER_HASH 16
#define TOK_PREAMBLE 16          /* magic, major, minor, header_size, preamble check */
#define TOK_FIXED 96             /* preamble + fixed v1 fields; the model name follows */
#define TOK_TRAILER 8            /* file checksum */
#define TOK_FLAG_SCALES 1u
#define TOK_MAX_HEADER ((uint32_t)1 << 27)

/* Limits that readers enforce (SONO_E_LIMIT beyond them). */
#define TOK_MAX_NQ 1024
#define TOK_MAX_CODEBOOK 65536
#define TOK_MAX_FRAMES ((int64_t)1 << 32)
#define TOK_MAX_SEGMENTS ((int64_t)1 << 24)
#define TOK_MAX_RATE 1000000
#define TOK_MAX_CHANNELS 255
#define TOK_MAX_HOP (1 << 20)
#define TOK_MAX_SAMPLES ((int64_t)1 << 52)

static int tok_bits(int32_t codebook_size) {
    int b = 0;
    while (b < 31 && ((int64_t)1 << b) < codebook_size) b++;
    return b; /* bits to hold 0 .. codebook_size-1 */
}

/* ------------------------------------------------------------------------- */
/* sono_tokens                                                               */

sono_tokens *sono_tokens_alloc(int n_q, int64_t n_frames, int n_segments, int with_scales) {
    if (n_q <= 0 || n_frames < 0 || n_segments < 0) return NULL;
    size_t n;
    if (!sn_mul_ok((size_t)n_q, (size_t)n_frames, &n) || !sn_mul_ok(n, sizeof(int32_t), &n)) return NULL;
    sono_tokens *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_q = n_q;
    t->n_frames = n_frames;
    t->n_segments = n_segments;
    t->codes = calloc(n ? n : 1, 1);
    if (with_scales && n_segments > 0) t->scales = calloc((size_t)n_segments, sizeof(float));
    if (!t->codes || (with_scales && n_segments > 0 && !t->scales)) {
        sono_tokens_free(t);
        return NULL;
    }
    return t;
}

void sono_tokens_free(sono_tokens *t) {
    if (!t) return;
    free(t->scales);
    free(t->codes);
    free(t);
}

/* ------------------------------------------------------------------------- */
/* Coder 0: fixed-width packing, LSB first                                   */

static size_t packed_bytes(size_t n_codes, int bits) { return (n_codes * (size_t)bits + 7) / 8; }

static void packed_encode(const int32_t *codes, size_t n_codes, int bits, uint8_t *out) {
    sn_bitw w = {out, 0, 0, 0};
    if (bits == 0) return;
    for (size_t i = 0; i < n_codes; i++) sn_bitw_put(&w, (uint32_t)codes[i], bits);
    sn_bitw_end(&w);
}

static int packed_decode(const uint8_t *in, size_t n_in, int bits, int32_t *codes, size_t n_codes) {
    if (n_in != packed_bytes(n_codes, bits))
        return sn_fail(SONO_E_FORMAT, "token file: packed payload is %zu bytes, expected %zu", n_in,
                         packed_bytes(n_codes, bits));
    sn_bitr r = {in, 0, n_in, 0, 0};
    for (size_t i = 0; i < n_codes; i++) codes[i] = bits ? (int32_t)sn_bitr_get(&r, bits) : 0;
    if (r.acc != 0) return sn_fail(SONO_E_FORMAT, "token file: packed payload has non-zero padding bits");
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Coder 1: byte planes + zstd                                               */

/* Plane layout: the low 8 bits of every code (codebook-major), then the bits
 * above the 8th packed LSB first (only when codes need more than 8 bits). */
static size_t planes_bytes(size_t n_codes, int bits) {
    return n_codes + (bits > 8 ? packed_bytes(n_codes, bits - 8) : 0);
}

static void planes_build(const int32_t *codes, size_t n_codes, int bits, uint8_t *out) {
    for (size_t i = 0; i < n_codes; i++) out[i] = (uint8_t)codes[i];
    if (bits <= 8) return;
    sn_bitw w = {out + n_codes, 0, 0, 0};
    for (size_t i = 0; i < n_codes; i++) sn_bitw_put(&w, (uint32_t)codes[i] >> 8, bits - 8);
    sn_bitw_end(&w);
}

static int zstd_encode(const int32_t *codes, size_t n_codes, int bits, int level, uint8_t **out, size_t *n_out) {
    size_t raw_n = planes_bytes(n_codes, bits);
    uint8_t *raw = malloc(raw_n ? raw_n : 1);
    size_t cap = ZSTD_compressBound(raw_n);
    uint8_t *dst = malloc(cap);
    if (!raw || !dst) {
        free(raw);
        free(dst);
        return sn_fail(SONO_E_NOMEM, "token file: no memory for %zu plane bytes", raw_n);
    }
    planes_build(codes, n_codes, bits, raw);
    size_t z = ZSTD_compress(dst, cap, raw, raw_n, level);
    free(raw);
    if (ZSTD_isError(z)) {
        free(dst);
        return sn_fail(SONO_E_NOMEM, "token file: zstd: %s", ZSTD_getErrorName(z));
    }
    *out = dst;
    *n_out = z;
    return 0;
}

static int zstd_decode(const uint8_t *in, size_t n_in, int bits, int32_t *codes, size_t n_codes) {
    size_t raw_n = planes_bytes(n_codes, bits);
    unsigned long long content = ZSTD_getFrameContentSize(in, n_in);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
        return sn_fail(SONO_E_FORMAT, "token file: zstd payload has no valid frame header");
    if (content != raw_n)
        return sn_fail(SONO_E_FORMAT, "token file: zstd payload holds %llu bytes, expected %zu", content, raw_n);
    size_t frame = ZSTD_findFrameCompressedSize(in, n_in);
    if (ZSTD_isError(frame) || frame != n_in)
        return sn_fail(SONO_E_FORMAT, "token file: zstd payload is not exactly one frame");
    uint8_t *raw = malloc(raw_n ? raw_n : 1);
    if (!raw) return sn_fail(SONO_E_NOMEM, "token file: no memory for %zu plane bytes", raw_n);
    size_t got = ZSTD_decompress(raw, raw_n, in, n_in);
    if (ZSTD_isError(got) || got != raw_n) {
        free(raw);
        return sn_fail(SONO_E_FORMAT, "token file: zstd payload does not decompress to %zu bytes", raw_n);
    }
    for (size_t i = 0; i < n_codes; i++) codes[i] = raw[i];
    int rc = 0;
    if (bits > 8) {
        sn_bitr r = {raw + n_codes, 0, raw_n - n_codes, 0, 0};
        for (size_t i = 0; i < n_codes; i++) codes[i] |= (int32_t)(sn_bitr_get(&r, bits - 8) << 8);
        if (r.acc != 0) rc = sn_fail(SONO_E_FORMAT, "token file: zstd plane has non-zero padding bits");
    }
    free(raw);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Coder 2: adaptive binary range coder                                      */
/*
 * The context model over the range-coder engine (common/rangecoder.h), which
 * defines the stream and the adaptive probabilities. Per frame t of codebook
 * q (codebook-major order), for t > 0 one "repeat" bit says whether the code
 * equals the one at t-1; when it does not (and at t = 0) the code is sent MSB
 * first down a binary tree of adaptive probabilities, reset for each
 * codebook. The repeat bit's context is (was t-1 a repeat in this codebook) x
 * (did codebook q-1 repeat at t, or q == 0). Probabilities start at 1/2 and
 * follow a count-based estimate (step 1/(n+2)) until n reaches a limit, then
 * adapt at a fixed rate. All constants here are part of the format: changing
 * any of them needs a new coder id.
 */
#define RC_TREE_PRIOR 4   /* initial count of every tree node */
#define RC_TREE_LIMIT 255 /* count limit of tree nodes */
#define RC_REP_LIMIT 60   /* count limit of repeat contexts */
#define RC_REP_CTX 6

typedef struct {
    sn_rc_prob m;
    uint32_t epoch; /* the codebook that last set m (lazy reset) */
} rc_node_t;

/* Tree node for this codebook: nodes still holding an earlier codebook's
 * state start afresh, so a reset costs nothing however large the tree. */
static inline sn_rc_prob *rc_node(rc_node_t *tree, uint32_t node, uint32_t epoch) {
    rc_node_t *n = &tree[node];
    if (n->epoch != epoch) {
        n->m = sn_rc_prob_make(SN_RC_PROB_ONE / 2, RC_TREE_PRIOR);
        n->epoch = epoch;
    }
    return &n->m;
}

static void rc_rep_reset(sn_rc_prob *rep) {
    for (int i = 0; i < RC_REP_CTX; i++) rep[i] = sn_rc_prob_make(SN_RC_PROB_ONE / 2, 0);
}

static inline int rc_rep_ctx(const int32_t *codes, int q, int64_t F, int64_t t) {
    const int32_t *x = codes + (size_t)q * (size_t)F;
    int prev = t >= 2 && x[t - 1] == x[t - 2];
    int above = q == 0 ? 2 : (x[t - F] == x[t - 1 - F]);
    return prev * 3 + above;
}

static int range_encode(const int32_t *codes, int n_q, int64_t F, int bits, uint8_t **out, size_t *n_out) {
    rc_node_t *tree = calloc((size_t)1 << bits, sizeof *tree);
    sn_rc_prob rep[RC_REP_CTX];
    if (!tree) return sn_fail(SONO_E_NOMEM, "token file: no memory for the coder model");
    sn_rc_enc e;
    sn_rc_enc_init(&e);
    rc_rep_reset(rep);
    for (int q = 0; q < n_q; q++) {
        const int32_t *x = codes + (size_t)q * (size_t)F;
        uint32_t epoch = (uint32_t)q + 1;
        for (int64_t t = 0; t < F; t++) {
            if (t > 0) {
                int same = x[t] == x[t - 1];
                sn_rc_enc_adaptive(&e, &rep[rc_rep_ctx(codes, q, F, t)], same, RC_REP_LIMIT);
                if (same) continue;
            }
            uint32_t node = 1, c = (uint32_t)x[t];
            for (int i = bits - 1; i >= 0; i--) {
                int bit = (int)((c >> i) & 1);
                sn_rc_enc_adaptive(&e, rc_node(tree, node, epoch), bit, RC_TREE_LIMIT);
                node = node * 2 + (uint32_t)bit;
            }
        }
    }
    free(tree);
    int rc = sn_rc_enc_finish(&e, out, n_out);
    if (rc == SONO_E_NOMEM) return sn_fail(rc, "token file: no memory for the coded payload");
    if (rc) return sn_fail(rc, "token file: the range coder refused a probability");
    return 0;
}

static int range_decode(const uint8_t *in, size_t n_in, int n_q, int64_t F, int bits, int32_t *codes) {
    /* Each code costs at least one decision at probability <= 1 - SN_RC_PROB_MIN/2^16
     * (0.0014 bits), so a payload of n bytes holds well under 8192 (n + 8)
     * codes after the first frame: more means a forged size, refused before
     * spending time on it. */
    size_t n_later = (size_t)n_q * (size_t)(F - 1);
    if (n_later / 8192 > n_in + 8)
        return sn_fail(SONO_E_FORMAT, "token file: %zu-byte range-coded payload cannot hold %d x %lld codes", n_in,
                       n_q, (long long)F);
    rc_node_t *tree = calloc((size_t)1 << bits, sizeof *tree);
    sn_rc_prob rep[RC_REP_CTX];
    if (!tree) return sn_fail(SONO_E_NOMEM, "token file: no memory for the coder model");
    sn_rc_dec d;
    sn_rc_dec_init(&d, in, n_in);
    rc_rep_reset(rep);
    for (int q = 0; q < n_q; q++) {
        int32_t *x = codes + (size_t)q * (size_t)F;
        uint32_t epoch = (uint32_t)q + 1;
        for (int64_t t = 0; t < F; t++) {
            if (t > 0 && sn_rc_dec_adaptive(&d, &rep[rc_rep_ctx(codes, q, F, t)], RC_REP_LIMIT)) {
                x[t] = x[t - 1];
                continue;
            }
            uint32_t node = 1;
            for (int i = 0; i < bits; i++)
                node = node * 2 + (uint32_t)sn_rc_dec_adaptive(&d, rc_node(tree, node, epoch), RC_TREE_LIMIT);
            x[t] = (int32_t)(node - ((uint32_t)1 << bits));
        }
    }
    free(tree);
    /* The engine accepts exactly the encoder's output for the codes decoded. */
    int st = sn_rc_dec_end(&d);
    if (st == SN_RC_UNUSED)
        return sn_fail(SONO_E_FORMAT, "token file: range-coded payload has %zu unused bytes", sn_rc_dec_unused(&d));
    if (st != SN_RC_OK)
        return sn_fail(SONO_E_FORMAT, "token file: range-coded payload is not what the encoder writes for its codes");
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Header                                                                    */

typedef struct {
    tokfile_info info;
    uint32_t flags;
    int name_len;
    const uint8_t *name;
    const uint8_t *hash;
    int32_t channels, hop, n_segments;
    int64_t segment_frames;
    const uint8_t *scales; /* n_segments little-endian float32, when flagged */
} tok_header;

static void hex16(char out[33], const uint8_t h[16]) {
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int tok_fail_trunc(size_t have, size_t need, const char *what) {
    return sn_fail(SONO_E_TRUNCATED, "token file: %zu bytes, %s needs %zu: file is truncated", have, what, need);
}

/* Validate everything up to the payload: preamble, header, header checksum,
 * field values, total size, file checksum. Order matters: see FORMATS.md. */
static int tok_parse(const uint8_t *buf, size_t n, tok_header *h) {
    memset(h, 0, sizeof *h);
    if (!buf && n) return sn_fail(SONO_E_ARG, "token file: NULL buffer");
    if (n < 4) {
        if (n == 0 || !memcmp(buf, TOK_MAGIC, n))
            return tok_fail_trunc(n, TOK_PREAMBLE, "the preamble");
        return sn_fail(SONO_E_FORMAT, "token file: %zu bytes, not a token file", n);
    }
    if (memcmp(buf, TOK_MAGIC, 4))
        return sn_fail(SONO_E_FORMAT, "token file: bad magic %02x %02x %02x %02x (expected \"SNTK\"): not a token file",
                         buf[0], buf[1], buf[2], buf[3]);
    if (n < TOK_PREAMBLE) return tok_fail_trunc(n, TOK_PREAMBLE, "the preamble");
    uint32_t pre_stored = sn_rd32(buf + 12), pre_calc = (uint32_t)XXH3_64bits(buf, 12);
    if (pre_stored != pre_calc)
        return sn_fail(SONO_E_CHECKSUM, "token file: preamble checksum mismatch (stored %08x, computed %08x)",
                         pre_stored, pre_calc);
    int major = sn_rd16(buf + 4), minor = sn_rd16(buf + 6);
    if (major == 0) return sn_fail(SONO_E_FORMAT, "token file: version 0.%d is not a valid version", minor);
    if (major > TOK_MAJOR)
        return sn_fail(SONO_E_UNSUPPORTED, "token file: version %d.%d is newer than this reader (%d.x)", major,
                         minor, TOK_MAJOR);
    uint32_t hsize = sn_rd32(buf + 8);
    if (hsize < TOK_FIXED + 8)
        return sn_fail(SONO_E_FORMAT, "token file: header size %u is below the minimum %d", hsize, TOK_FIXED + 8);
    if (hsize > TOK_MAX_HEADER)
        return sn_fail(SONO_E_LIMIT, "token file: header size %u is beyond the limit %u", hsize, TOK_MAX_HEADER);
    if (n < hsize) return tok_fail_trunc(n, hsize, "the header");
    uint64_t hs_stored = sn_rd64(buf + hsize - 8), hs_calc = XXH3_64bits(buf, hsize - 8);
    if (hs_stored != hs_calc)
        return sn_fail(SONO_E_CHECKSUM, "token file: header checksum mismatch (stored %016llx, computed %016llx)",
                         (unsigned long long)hs_stored, (unsigned long long)hs_calc);

    tokfile_info *in = &h->info;
    in->version_major = major;
    in->version_minor = minor;
    h->flags = sn_rd32(buf + 16);
    in->coder = buf[20];
    h->name_len = buf[21];
    h->hash = buf + 24;
    in->sample_rate = (int32_t)sn_rd32(buf + 40);
    h->channels = (int32_t)sn_rd32(buf + 44);
    h->hop = (int32_t)sn_rd32(buf + 48);
    in->n_q = (int32_t)sn_rd32(buf + 52);
    in->codebook_size = (int32_t)sn_rd32(buf + 56);
    h->n_segments = (int32_t)sn_rd32(buf + 60);
    in->n_frames = (int64_t)sn_rd64(buf + 64);
    in->n_samples = (int64_t)sn_rd64(buf + 72);
    h->segment_frames = (int64_t)sn_rd64(buf + 80);
    uint64_t payload = sn_rd64(buf + 88);
    h->name = buf + TOK_FIXED;

    if (h->flags & ~TOK_FLAG_SCALES)
        return sn_fail(SONO_E_UNSUPPORTED, "token file: unknown flags 0x%x", h->flags & ~TOK_FLAG_SCALES);
    if (in->coder > TOKFILE_CODER_MODEL)
        return sn_fail(SONO_E_UNSUPPORTED, "token file: unknown coder %d", in->coder);
    if (sn_rd16(buf + 22) != 0) return sn_fail(SONO_E_FORMAT, "token file: reserved field is not zero");
    if (h->name_len >= SONO_MODEL_NAME_MAX)
        return sn_fail(SONO_E_FORMAT, "token file: model name of %d bytes (at most %d)", h->name_len,
                         SONO_MODEL_NAME_MAX - 1);
    /* the variable part (name, scales) must lie inside the header before it is read */
    if (h->n_segments < 0 || h->segment_frames < 0)
        return sn_fail(SONO_E_FORMAT, "token file: negative segment count or size");
    if (h->n_segments > TOK_MAX_SEGMENTS || h->segment_frames > TOK_MAX_FRAMES)
        return sn_fail(SONO_E_LIMIT, "token file: %d segments of %lld frames beyond limits", h->n_segments,
                         (long long)h->segment_frames);
    if ((h->flags & TOK_FLAG_SCALES) && h->n_segments == 0)
        return sn_fail(SONO_E_FORMAT, "token file: scales flagged but no segments");
    size_t fields = TOK_FIXED + (size_t)h->name_len + ((h->flags & TOK_FLAG_SCALES) ? 4 * (size_t)h->n_segments : 0);
    size_t need = fields + (minor >= TOK_MINOR_MODEL ? TOK_CODER_HASH : 0) + 8;
    if (minor <= TOK_MINOR_MODEL ? hsize != need : hsize < need)
        return sn_fail(SONO_E_FORMAT, "token file: header size %u does not match its fields (%zu)", hsize, need);
    if (minor >= TOK_MINOR_MODEL) {
        memcpy(in->coder_hash, buf + fields, TOK_CODER_HASH);
        static const uint8_t zero[TOK_CODER_HASH];
        if (in->coder != TOKFILE_CODER_MODEL && memcmp(in->coder_hash, zero, TOK_CODER_HASH))
            return sn_fail(SONO_E_FORMAT, "token file: a coder model hash with coder %d", in->coder);
    } else if (in->coder == TOKFILE_CODER_MODEL) {
        return sn_fail(SONO_E_FORMAT, "token file: coder 3 in a version 1.0 header (it needs 1.1)");
    }
    if (memchr(h->name, 0, (size_t)h->name_len)) return sn_fail(SONO_E_FORMAT, "token file: NUL byte in model name");
    if (in->sample_rate <= 0 || h->channels <= 0 || h->hop <= 0)
        return sn_fail(SONO_E_FORMAT, "token file: sample_rate %d, channels %d, hop %d must be positive",
                         in->sample_rate, h->channels, h->hop);
    if (in->sample_rate > TOK_MAX_RATE || h->channels > TOK_MAX_CHANNELS || h->hop > TOK_MAX_HOP)
        return sn_fail(SONO_E_LIMIT, "token file: sample_rate %d, channels %d or hop %d beyond limits",
                         in->sample_rate, h->channels, h->hop);
    if (in->n_q <= 0 || in->codebook_size <= 0)
        return sn_fail(SONO_E_FORMAT, "token file: n_q %d and codebook_size %d must be positive", in->n_q,
                         in->codebook_size);
    if (in->n_q > TOK_MAX_NQ || in->codebook_size > TOK_MAX_CODEBOOK)
        return sn_fail(SONO_E_LIMIT, "token file: n_q %d (max %d) or codebook_size %d (max %d) beyond limits",
                         in->n_q, TOK_MAX_NQ, in->codebook_size, TOK_MAX_CODEBOOK);
    if (in->n_frames < 0) return sn_fail(SONO_E_FORMAT, "token file: negative frame count");
    if (in->n_frames == 0) return sn_fail(SONO_E_EMPTY, "token file: no frames");
    if (in->n_frames > TOK_MAX_FRAMES)
        return sn_fail(SONO_E_LIMIT, "token file: %lld frames (max 2^32)", (long long)in->n_frames);
    size_t n_codes;
    if (!sn_mul_ok((size_t)in->n_q, (size_t)in->n_frames, &n_codes) || n_codes > SONO_MAX_ALLOC / sizeof(int32_t))
        return sn_fail(SONO_E_LIMIT, "token file: %d x %lld codes beyond the memory limit", in->n_q,
                         (long long)in->n_frames);
    if (in->n_samples < 0 || in->n_samples > TOK_MAX_SAMPLES)
        return sn_fail(SONO_E_FORMAT, "token file: sample count %lld out of range", (long long)in->n_samples);
    if (h->flags & TOK_FLAG_SCALES) {
        h->scales = buf + TOK_FIXED + h->name_len;
        for (int32_t s = 0; s < h->n_segments; s++) {
            uint32_t u = sn_rd32(h->scales + 4 * (size_t)s);
            float f;
            memcpy(&f, &u, 4);
            if (!isfinite(f)) return sn_fail(SONO_E_RANGE, "token file: scale of segment %d is not finite", s);
        }
    }
    in->header_bytes = hsize;
    if (payload > n - hsize || n - hsize - payload < TOK_TRAILER) {
        if (payload > (uint64_t)SIZE_MAX - hsize - TOK_TRAILER)
            return sn_fail(SONO_E_FORMAT, "token file: payload size %llu is impossible", (unsigned long long)payload);
        return tok_fail_trunc(n, hsize + (size_t)payload + TOK_TRAILER, "header, payload and checksum");
    }
    size_t total = hsize + (size_t)payload + TOK_TRAILER;
    if (n > total) return sn_fail(SONO_E_FORMAT, "token file: %zu unexpected bytes after the end", n - total);
    uint64_t fs_stored = sn_rd64(buf + total - 8), fs_calc = XXH3_64bits(buf, total - 8);
    if (fs_stored != fs_calc)
        return sn_fail(SONO_E_CHECKSUM, "token file: checksum mismatch (stored %016llx, computed %016llx)",
                         (unsigned long long)fs_stored, (unsigned long long)fs_calc);
    in->payload_bytes = (size_t)payload;
    return 0;
}

int sn_tokfile_probe(const uint8_t *buf, size_t n_bytes, tokfile_info *info) {
    tok_header h;
    int rc = tok_parse(buf, n_bytes, &h);
    if (rc == 0 && info) *info = h.info;
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Encode / decode                                                           */

static int tok_check(const sono_tokens *t, size_t *name_len) {
    if (!t) return sn_fail(SONO_E_ARG, "token file: NULL tokens");
    const void *nul = memchr(t->model_name, 0, SONO_MODEL_NAME_MAX);
    if (!nul) return sn_fail(SONO_E_ARG, "token file: model name is not NUL-terminated");
    *name_len = (size_t)((const char *)nul - t->model_name);
    if (t->n_frames == 0) return sn_fail(SONO_E_EMPTY, "token file: no frames to write");
    if (t->n_q <= 0 || t->n_q > TOK_MAX_NQ)
        return sn_fail(SONO_E_ARG, "token file: n_q %d outside [1, %d]", t->n_q, TOK_MAX_NQ);
    if (t->codebook_size <= 0 || t->codebook_size > TOK_MAX_CODEBOOK)
        return sn_fail(SONO_E_ARG, "token file: codebook_size %d outside [1, %d]", t->codebook_size,
                         TOK_MAX_CODEBOOK);
    if (t->n_frames < 0 || t->n_frames > TOK_MAX_FRAMES)
        return sn_fail(SONO_E_ARG, "token file: n_frames %lld outside [1, 2^32]", (long long)t->n_frames);
    size_t n_codes;
    if (!sn_mul_ok((size_t)t->n_q, (size_t)t->n_frames, &n_codes) || n_codes > SONO_MAX_ALLOC / sizeof(int32_t))
        return sn_fail(SONO_E_LIMIT, "token file: %d x %lld codes beyond the memory limit", t->n_q,
                         (long long)t->n_frames);
    if (t->sample_rate <= 0 || t->sample_rate > TOK_MAX_RATE || t->channels <= 0 || t->channels > TOK_MAX_CHANNELS ||
        t->hop <= 0 || t->hop > TOK_MAX_HOP)
        return sn_fail(SONO_E_ARG, "token file: sample_rate %d, channels %d or hop %d out of range",
                         t->sample_rate, t->channels, t->hop);
    if (t->n_samples < 0 || t->n_samples > TOK_MAX_SAMPLES)
        return sn_fail(SONO_E_ARG, "token file: n_samples %lld out of range", (long long)t->n_samples);
    if (t->n_segments < 0 || t->n_segments > TOK_MAX_SEGMENTS || t->segment_frames < 0 ||
        t->segment_frames > TOK_MAX_FRAMES)
        return sn_fail(SONO_E_ARG, "token file: %d segments of %lld frames out of range", t->n_segments,
                         (long long)t->segment_frames);
    if (t->scales && t->n_segments == 0) return sn_fail(SONO_E_ARG, "token file: scales given without segments");
    if (!t->codes) return sn_fail(SONO_E_ARG, "token file: NULL codes");
    for (int32_t s = 0; t->scales && s < t->n_segments; s++)
        if (!isfinite(t->scales[s])) return sn_fail(SONO_E_RANGE, "token file: scale of segment %d is not finite", s);
    for (int q = 0; q < t->n_q; q++)
        for (int64_t f = 0; f < t->n_frames; f++) {
            int32_t c = t->codes[(size_t)q * (size_t)t->n_frames + (size_t)f];
            if (c < 0 || c >= t->codebook_size)
                return sn_fail(SONO_E_RANGE, "token file: code %d at [q=%d, frame=%lld] is outside [0, %d)", c, q,
                                 (long long)f, t->codebook_size);
        }
    return 0;
}

int sn_tokfile_encode_opts(const sono_tokens *t, const tokfile_opts *o, uint8_t **buf, size_t *n_bytes) {
    if (!buf || !n_bytes) return sn_fail(SONO_E_ARG, "token file: NULL output");
    *buf = NULL;
    *n_bytes = 0;
    size_t name_len = 0;
    int rc = tok_check(t, &name_len);
    if (rc) return rc;
    int coder = o ? o->coder : TOKFILE_CODER_AUTO;
    int level = o && o->zstd_level ? o->zstd_level : 19;
    const sono_coder *model = o ? o->model : NULL;
    if (coder < TOKFILE_CODER_AUTO || coder > TOKFILE_CODER_MODEL)
        return sn_fail(SONO_E_ARG, "token file: unknown coder %d", coder);
    /* the model coder applies when the model can code these tokens */
    int model_fits = model && sono_coder_codebook_size(model) == t->codebook_size &&
                     t->n_q <= sono_coder_max_codebooks(model);
    if (coder == TOKFILE_CODER_MODEL && !model_fits) {
        if (!model) return sn_fail(SONO_E_ARG, "token file: the model coder needs a coder model");
        return sn_fail(SONO_E_ARG, "token file: the coder model (codebook size %d, %d codebooks) cannot code %d x %d codes",
                       sono_coder_codebook_size(model), sono_coder_max_codebooks(model), t->n_q, t->codebook_size);
    }
    int bits = tok_bits(t->codebook_size);
    size_t n_codes = (size_t)t->n_q * (size_t)t->n_frames;

    /* Candidate payloads; keep the smallest (ties go to the lower coder id). */
    uint8_t *payload = NULL;
    size_t payload_n = 0;
    int chosen = -1;
    for (int c = TOKFILE_CODER_PACKED; c <= TOKFILE_CODER_MODEL; c++) {
        if (coder != TOKFILE_CODER_AUTO && coder != c) continue;
        if (c == TOKFILE_CODER_MODEL && !model_fits) continue;
        uint8_t *p = NULL;
        size_t pn = 0;
        if (c == TOKFILE_CODER_PACKED) {
            pn = packed_bytes(n_codes, bits);
            if (chosen >= 0 && pn >= payload_n) continue;
            p = malloc(pn ? pn : 1);
            if (!p) rc = sn_fail(SONO_E_NOMEM, "token file: no memory for %zu payload bytes", pn);
            else packed_encode(t->codes, n_codes, bits, p);
        } else if (c == TOKFILE_CODER_ZSTD) {
            rc = zstd_encode(t->codes, n_codes, bits, level, &p, &pn);
        } else if (c == TOKFILE_CODER_RANGE) {
            rc = range_encode(t->codes, t->n_q, t->n_frames, bits, &p, &pn);
        } else {
            rc = sn_cm_encode(model, t->codes, t->n_q, t->n_frames, o->n_threads, sono_cpu_level(), &p, &pn);
        }
        if (rc) {
            free(payload);
            return rc;
        }
        if (chosen < 0 || pn < payload_n) {
            free(payload);
            payload = p;
            payload_n = pn;
            chosen = c;
        } else {
            free(p);
        }
    }

    size_t n_scales = t->scales ? (size_t)t->n_segments : 0;
    int minor = chosen == TOKFILE_CODER_MODEL ? TOK_MINOR_MODEL : TOK_MINOR;
    size_t fields = TOK_FIXED + name_len + 4 * n_scales;
    size_t hsize = fields + (minor >= TOK_MINOR_MODEL ? TOK_CODER_HASH : 0) + 8;
    size_t total = hsize + payload_n + TOK_TRAILER;
    uint8_t *b = calloc(1, total);
    if (!b) {
        free(payload);
        return sn_fail(SONO_E_NOMEM, "token file: no memory for %zu bytes", total);
    }
    memcpy(b, TOK_MAGIC, 4);
    sn_wr16(b + 4, TOK_MAJOR);
    sn_wr16(b + 6, (uint16_t)minor);
    sn_wr32(b + 8, (uint32_t)hsize);
    sn_wr32(b + 12, (uint32_t)XXH3_64bits(b, 12));
    sn_wr32(b + 16, t->scales ? TOK_FLAG_SCALES : 0);
    b[20] = (uint8_t)chosen;
    b[21] = (uint8_t)name_len;
    memcpy(b + 24, t->model_hash, 16);
    sn_wr32(b + 40, (uint32_t)t->sample_rate);
    sn_wr32(b + 44, (uint32_t)t->channels);
    sn_wr32(b + 48, (uint32_t)t->hop);
    sn_wr32(b + 52, (uint32_t)t->n_q);
    sn_wr32(b + 56, (uint32_t)t->codebook_size);
    sn_wr32(b + 60, (uint32_t)t->n_segments);
    sn_wr64(b + 64, (uint64_t)t->n_frames);
    sn_wr64(b + 72, (uint64_t)t->n_samples);
    sn_wr64(b + 80, (uint64_t)t->segment_frames);
    sn_wr64(b + 88, (uint64_t)payload_n);
    memcpy(b + TOK_FIXED, t->model_name, name_len);
    for (size_t s = 0; s < n_scales; s++) {
        uint32_t u;
        memcpy(&u, &t->scales[s], 4);
        sn_wr32(b + TOK_FIXED + name_len + 4 * s, u);
    }
    if (chosen == TOKFILE_CODER_MODEL) sono_coder_hash(model, b + fields);
    sn_wr64(b + hsize - 8, XXH3_64bits(b, hsize - 8));
    if (payload_n) memcpy(b + hsize, payload, payload_n);
    free(payload);
    sn_wr64(b + total - 8, XXH3_64bits(b, total - 8));
    *buf = b;
    *n_bytes = total;
    return 0;
}

int sono_tokens_encode(const sono_tokens *t, uint8_t **buf, size_t *n_bytes) {
    return sn_tokfile_encode_opts(t, NULL, buf, n_bytes);
}

sono_tokens_encode_params sono_tokens_encode_default_params(void) {
    return (sono_tokens_encode_params){.coder = SONO_CODER_AUTO, .model = NULL, .n_threads = 1};
}

int sono_tokens_encode_ex(const sono_tokens *t, const sono_tokens_encode_params *p, uint8_t **buf, size_t *n_bytes) {
    sono_tokens_encode_params d = sono_tokens_encode_default_params();
    if (!p) p = &d;
    tokfile_opts o = {.coder = p->coder, .zstd_level = 0, .model = p->model, .n_threads = p->n_threads};
    return sn_tokfile_encode_opts(t, &o, buf, n_bytes);
}

/* The coder model a coder-3 file needs: model when it is that one, else the
 * one beside the codec the file names (*owned: the caller frees it). */
static int tok_coder_model(const tok_header *h, const char *codec_name, const sono_coder *model,
                           const sono_coder **use, sono_coder **owned) {
    uint8_t got[16];
    *owned = NULL;
    if (model) {
        sono_coder_hash(model, got);
        if (!memcmp(got, h->info.coder_hash, 16)) {
            *use = model;
            return 0;
        }
    }
    char want_hex[33], got_hex[33], path[4096], why[512];
    hex16(want_hex, h->info.coder_hash);
    sono_clear_error();
    int rc = sono_coder_resolve(codec_name, path, sizeof path);
    if (rc) {
        snprintf(why, sizeof why, "%s", sono_last_error()); /* sn_fail writes the detail it would read */
        return sn_fail(SONO_E_MODEL_MISSING, "token file: coded with coder model %s of codec \"%s\", which is not present (%s)",
                       want_hex, codec_name, why);
    }
    int err = 0;
    sono_coder *m = sono_coder_load(path, &err);
    if (!m) {
        snprintf(why, sizeof why, "%s", sono_last_error());
        return sn_fail(SONO_E_MODEL_MISSING, "token file: coded with coder model %s of codec \"%s\", which does not load (%s)",
                       want_hex, codec_name, why);
    }
    sono_coder_hash(m, got);
    if (memcmp(got, h->info.coder_hash, 16)) {
        hex16(got_hex, got);
        sono_coder_free(m);
        return sn_fail(SONO_E_MODEL_MISSING, "token file: coded with coder model %s of codec \"%s\", not present (%s is %s)",
                       want_hex, codec_name, path, got_hex);
    }
    *use = *owned = m;
    return 0;
}

int sono_tokens_decode(const uint8_t *buf, size_t n_bytes, sono_tokens **out) {
    return sono_tokens_decode_ex(buf, n_bytes, NULL, out);
}

int sono_tokens_decode_ex(const uint8_t *buf, size_t n_bytes, const sono_coder *model, sono_tokens **out) {
    if (!out) return sn_fail(SONO_E_ARG, "token file: NULL output");
    *out = NULL;
    tok_header h;
    int rc = tok_parse(buf, n_bytes, &h);
    if (rc) return rc;
    const tokfile_info *in = &h.info;
    sono_tokens *t = sono_tokens_alloc(in->n_q, in->n_frames, h.n_segments, h.scales != NULL);
    if (!t) return sn_fail(SONO_E_NOMEM, "token file: no memory for %d x %lld codes", in->n_q, (long long)in->n_frames);
    memcpy(t->model_name, h.name, (size_t)h.name_len);
    memcpy(t->model_hash, h.hash, 16);
    t->sample_rate = in->sample_rate;
    t->channels = h.channels;
    t->hop = h.hop;
    t->codebook_size = in->codebook_size;
    t->n_samples = in->n_samples;
    t->segment_frames = h.segment_frames;
    for (int32_t s = 0; h.scales && s < h.n_segments; s++) {
        uint32_t u = sn_rd32(h.scales + 4 * (size_t)s);
        memcpy(&t->scales[s], &u, 4);
    }
    const uint8_t *payload = buf + in->header_bytes;
    size_t n_codes = (size_t)in->n_q * (size_t)in->n_frames;
    int bits = tok_bits(in->codebook_size);
    if (in->coder == TOKFILE_CODER_PACKED) {
        rc = packed_decode(payload, in->payload_bytes, bits, t->codes, n_codes);
    } else if (in->coder == TOKFILE_CODER_ZSTD) {
        rc = zstd_decode(payload, in->payload_bytes, bits, t->codes, n_codes);
    } else if (in->coder == TOKFILE_CODER_RANGE) {
        rc = range_decode(payload, in->payload_bytes, in->n_q, in->n_frames, bits, t->codes);
    } else {
        const sono_coder *use = NULL;
        sono_coder *owned = NULL;
        rc = tok_coder_model(&h, t->model_name, model, &use, &owned);
        if (!rc && (sono_coder_codebook_size(use) != in->codebook_size || in->n_q > sono_coder_max_codebooks(use)))
            rc = sn_fail(SONO_E_FORMAT, "token file: %d x %d codes, which its coder model cannot have coded", in->n_q,
                         in->codebook_size);
        if (!rc)
            rc = sn_cm_decode(use, payload, in->payload_bytes, in->n_q, in->n_frames, sono_cpu_level(), t->codes);
        sono_coder_free(owned);
    }
    for (size_t i = 0; !rc && i < n_codes; i++)
        if (t->codes[i] >= in->codebook_size)
            rc = sn_fail(SONO_E_RANGE, "token file: code %d at [q=%zu, frame=%zu] is outside [0, %d)", t->codes[i],
                           i / (size_t)in->n_frames, i % (size_t)in->n_frames, in->codebook_size);
    if (rc) {
        sono_tokens_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Files                                                                     */

int sono_tokens_save(const char *path, const sono_tokens *t) {
    uint8_t *buf;
    size_t n;
    int rc = sono_tokens_encode(t, &buf, &n);
    if (rc) return rc;
    rc = sono_output_save(path, buf, n);
    free(buf);
    return rc;
}

int sono_tokens_load(const char *path, sono_tokens **out) {
    if (!out) return sn_fail(SONO_E_ARG, "token file: NULL output");
    *out = NULL;
    uint8_t *buf;
    size_t n;
    int rc = sn_read_file(path, SONO_MAX_ALLOC, &buf, &n);
    if (rc) return rc;
    rc = sono_tokens_decode(buf, n, out);
    free(buf);
    if (rc) sn_error_prefix("%s", path);
    return rc;
}
