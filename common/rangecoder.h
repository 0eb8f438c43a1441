/* Range-coder engine: an encoder and a decoder over byte buffers for
 * (a) symbols under integer cumulative frequencies (any total up to 2^16),
 * (b) binary decisions with a 16-bit probability, fixed or adaptive, and
 * (c) raw bits. It knows nothing of what is coded: a caller (the token-file
 * coder in codec/tokfile.c, a model-driven coder later) supplies the
 * probabilities, and the decoder must make the same calls in the same order
 * with the same probabilities as the encoder. Internal; not installed.
 *
 *   sn_rc_enc e;
 *   sn_rc_enc_init(&e);
 *   sn_rc_enc_cdf(&e, cdf, n_sym, sym);     // cdf[0] = 0 <= ... <= cdf[n_sym] = total <= 2^16
 *   sn_rc_enc_bit(&e, p1, bit);             // P(bit = 1) = p1 / 65536, p1 in [1, 65535]
 *   sn_rc_prob m = sn_rc_prob_make(32768, 0);
 *   sn_rc_enc_adaptive(&e, &m, bit, 60);    // codes with m, then moves m towards bit
 *   sn_rc_enc_bits(&e, value, 12);          // value < 2^12, each bit at 1/2
 *   uint8_t *buf; size_t n;
 *   if (sn_rc_enc_finish(&e, &buf, &n)) ...  // SONO_E_NOMEM, or SONO_E_ARG for a bad call
 *
 *   sn_rc_dec d;
 *   sn_rc_dec_init(&d, buf, n);             // buf is borrowed until the last call
 *   int sym = sn_rc_dec_cdf(&d, cdf, n_sym);
 *   int bit = sn_rc_dec_bit(&d, p1);
 *   ...
 *   if (sn_rc_dec_end(&d) != SN_RC_OK) ...  // the caller reports SONO_E_FORMAT
 *
 * With a CDF that is not stored as an array (a model that computes one
 * symbol's interval on demand), code a symbol as sn_rc_enc_sym(&e, cum, freq,
 * total) and decode it in two steps: v = sn_rc_dec_target(&d, total), find the
 * symbol whose [cum, cum + freq) holds v, then sn_rc_dec_sym(&d, cum, freq).
 *
 * The stream (token-file coder 2 is built on it, so none of this may change):
 * state range (u32) and, in the decoder, code (u32) = the first 4 bytes,
 * big-endian; bytes past the end of the input read as 0.
 *   decision, P(1) = p/65536: bound = (range >> 16) * (65536 - p); 0 if
 *     code < bound (range = bound), else 1 (code -= bound, range -= bound).
 *   symbol [cum, cum + freq) of total: r = range / total; target =
 *     min(code / r, total - 1); code -= r * cum; range = r * freq, except for
 *     the last symbol (cum + freq == total), which keeps range - r * cum.
 *   raw bits: value v in n bits is the symbol [v, v + 1) of total 2^n.
 *   after each: while range < 2^24: range <<= 8, code = (code << 8) | next byte.
 * The encoder is the matching carry-propagating (LZMA-style) one; it does not
 * store its first byte (always 0), ends by rounding low up to a multiple of
 * 2^24 inside the final interval, and drops trailing zero bytes.
 *
 * Precision: totals up to SN_RC_TOTAL_MAX = 2^16 (r >= 256, so every symbol
 * of frequency >= 1 is decodable); frequencies >= 1. The remainder of
 * range / total goes to the last symbol, so the others cost at most
 * -log2(1 - total / 2^24) bits more than -log2(freq / total) (0.0056 bits at
 * total 2^16, 0.00009 at 2^10), less on average; the last symbol gains as
 * much. Measured (test_rangecoder.c): random mixes of all kinds of calls
 * come out about 0.05 % over their ideal size, flush included. Decisions: p in [1, 65535], the same remainder going to the 1 branch.
 * Larger alphabets go through two steps (a bucket, then a symbol in it).
 *
 * Safety: the decoder never reads outside its input and every call does a
 * bounded amount of work, whatever the bytes (adaptive decisions: given
 * valid models); the caller bounds how many calls it makes. It accepts exactly what the encoder writes: sn_rc_dec_end
 * reports input left unread, a stream the encoder cannot have written (a
 * first word of 0xFFFFFFFF, a final state that is not the encoder's rounded
 * end, a last byte of 0, or fewer than 3 bytes read past the end), and calls
 * that broke their preconditions. A truncated or damaged stream usually
 * fails one of these (in the tests about 80 % of truncations and 90 % of
 * single-bit flips), but there is no checksum: containers carry their own
 * length and checksum.
 *
 * Threads: an encoder or decoder is used by one thread at a time; separate
 * ones are independent. */
#ifndef SONO_RANGECODER_H
#define SONO_RANGECODER_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include "sonotok/error.h"

#define SN_RC_PROB_ONE 65536u          /* probabilities are in units of 2^-16 */
#define SN_RC_TOTAL_MAX ((uint32_t)1 << 16)
#define SN_RC_TOP ((uint32_t)1 << 24) /* range is renormalised to at least this */

/* Adaptive binary model (part of the stream definition of coders that use it,
 * so its rule never changes): p = P(bit = 1) in units of 2^-16, n a count of
 * the bits seen so far, saturating at the caller's limit. After bit v:
 * r = 32768 / (n + 2); p += ((65536 - p) * r) >> 15 if v, else p -= (p * r) >> 15;
 * p clamped to [SN_RC_PROB_MIN, 65536 - SN_RC_PROB_MIN]; n += 1 below the
 * limit. So it starts as a count-based estimate (step 1 / (n + 2)) and
 * settles to a fixed rate 1 / (limit + 2). */
#define SN_RC_PROB_MIN 64u
typedef struct sn_rc_prob {
    uint16_t p; /* P(bit = 1) * 65536, in [SN_RC_PROB_MIN, 65536 - SN_RC_PROB_MIN] */
    uint16_t n; /* observations, <= the limit passed to the update (at most 65535) */
} sn_rc_prob;

/* A model starting at p (clamped into its range) with count n. */
static inline sn_rc_prob sn_rc_prob_make(uint32_t p, uint16_t n) {
    if (p < SN_RC_PROB_MIN) p = SN_RC_PROB_MIN;
    if (p > SN_RC_PROB_ONE - SN_RC_PROB_MIN) p = SN_RC_PROB_ONE - SN_RC_PROB_MIN;
    return (sn_rc_prob){(uint16_t)p, n};
}

static inline void sn_rc_prob_update(sn_rc_prob *m, int bit, int limit) {
    uint32_t r = 32768u / (uint32_t)(m->n + 2), p = m->p;
    if (bit) p += ((SN_RC_PROB_ONE - p) * r) >> 15;
    else p -= (p * r) >> 15;
    if (p < SN_RC_PROB_MIN) p = SN_RC_PROB_MIN;
    if (p > SN_RC_PROB_ONE - SN_RC_PROB_MIN) p = SN_RC_PROB_ONE - SN_RC_PROB_MIN;
    m->p = (uint16_t)p;
    if (m->n < limit) m->n++;
}

/* ------------------------------------------------------------------------- */
/* Encoder                                                                   */

typedef struct sn_rc_enc {
    uint64_t low;     /* bottom of the interval; a carry lands in bit 32 */
    uint32_t range;
    uint8_t cache;    /* last byte out of low, held until its carry is known */
    int started;      /* 0 until the first (always 0, unstored) byte passed */
    uint64_t pending; /* 0xFF bytes held behind cache, waiting for a carry */
    uint8_t *buf;     /* output so far (malloc'd, grows) */
    size_t n_bytes, cap;
    int err;          /* sticky: 0, SONO_E_NOMEM or SONO_E_ARG */
} sn_rc_enc;

void sn_rc_enc_init(sn_rc_enc *e);

/* Make room for one more output byte (or set err to SONO_E_NOMEM). */
void sn_rc_enc_grow(sn_rc_enc *e);

static inline void sn_rc_enc_put(sn_rc_enc *e, uint8_t b) {
    if (e->n_bytes == e->cap) {
        sn_rc_enc_grow(e);
        if (e->n_bytes == e->cap) return;
    }
    e->buf[e->n_bytes++] = b;
}

/* Move the top byte of low to the output (the encoder's renormalisation).
 * Bytes of 0xFF wait (pending) until the carry is settled; the very first
 * byte (the integer part of the code value) is always 0 and is not stored. */
static inline void sn_rc_enc_shift(sn_rc_enc *e) {
    if (e->low < 0xFF000000u || e->low >= ((uint64_t)1 << 32)) {
        uint8_t carry = (uint8_t)(e->low >> 32);
        if (e->started) sn_rc_enc_put(e, (uint8_t)(e->cache + carry));
        e->started = 1;
        for (; e->pending; e->pending--) sn_rc_enc_put(e, (uint8_t)(0xFF + carry));
        e->cache = (uint8_t)(e->low >> 24);
    } else {
        e->pending++;
    }
    e->low = (e->low & 0x00FFFFFFu) << 8;
}

/* A decision with P(bit = 1) = p1 / 65536, p1 in [1, 65535] unchecked (so
 * the caller's promise: outside it the encoder may never return). */
static inline void sn_rc_enc_bit_unchecked(sn_rc_enc *e, uint32_t p1, int bit) {
    uint32_t bound = (e->range >> 16) * (SN_RC_PROB_ONE - p1);
    if (!bit) {
        e->range = bound;
    } else {
        e->low += bound;
        e->range -= bound;
    }
    while (e->range < SN_RC_TOP) {
        e->range <<= 8;
        sn_rc_enc_shift(e);
    }
}

/* A decision with P(bit = 1) = p1 / 65536. p1 outside [1, 65535] codes
 * nothing and makes sn_rc_enc_finish fail with SONO_E_ARG. */
static inline void sn_rc_enc_bit(sn_rc_enc *e, uint32_t p1, int bit) {
    if (p1 - 1u >= SN_RC_PROB_ONE - 1u) {
        if (!e->err) e->err = SONO_E_ARG;
        return;
    }
    sn_rc_enc_bit_unchecked(e, p1, bit);
}

/* A decision with P(1) = m->p, then m updated with count limit `limit`. m
 * must hold a valid state (from sn_rc_prob_make and updates: a zeroed one is
 * not), which is asserted, not checked, on this hot path. */
static inline void sn_rc_enc_adaptive(sn_rc_enc *e, sn_rc_prob *m, int bit, int limit) {
    assert(m->p >= SN_RC_PROB_MIN && m->p <= SN_RC_PROB_ONE - SN_RC_PROB_MIN);
    sn_rc_enc_bit_unchecked(e, m->p, bit);
    sn_rc_prob_update(m, bit, limit);
}

/* The symbol with interval [cum, cum + freq) of total: freq >= 1,
 * cum + freq <= total <= SN_RC_TOTAL_MAX (else SONO_E_ARG at finish). */
void sn_rc_enc_sym(sn_rc_enc *e, uint32_t cum, uint32_t freq, uint32_t total);

/* Symbol sym of a CDF with n_sym symbols: cdf[0] = 0, non-decreasing,
 * cdf[n_sym] = total <= SN_RC_TOTAL_MAX; sym must have frequency >= 1. */
void sn_rc_enc_cdf(sn_rc_enc *e, const uint32_t *cdf, int n_sym, int sym);

/* value in n_bits raw bits, 0 <= n_bits <= 16, value < 2^n_bits. */
void sn_rc_enc_bits(sn_rc_enc *e, uint32_t value, int n_bits);

/* Flush and hand over the stream: *out is malloc'd (at least 1 byte, the
 * caller frees it), *n_bytes its length (0 is possible). Returns 0, or
 * SONO_E_NOMEM / SONO_E_ARG (a call broke its preconditions) with nothing
 * handed over. Sets no error message (the caller says what it was coding).
 * Either way the encoder is left empty: sn_rc_enc_init before reusing it. */
int sn_rc_enc_finish(sn_rc_enc *e, uint8_t **out, size_t *n_bytes);

/* Drop an encoder without finishing it. NULL-safe. */
void sn_rc_enc_free(sn_rc_enc *e);

/* ------------------------------------------------------------------------- */
/* Decoder                                                                   */

typedef struct sn_rc_dec {
    const uint8_t *in;  /* borrowed */
    size_t n_in;
    size_t pos;         /* bytes consumed, counting the zeros read past the end */
    uint32_t range, code;
    uint32_t r, total;  /* set by sn_rc_dec_target for sn_rc_dec_sym */
    uint32_t target;
    int err;            /* sticky: the input or a call broke the rules */
} sn_rc_dec;

/* What sn_rc_dec_end found. */
enum sn_rc_status {
    SN_RC_OK = 0,
    SN_RC_CORRUPT = 1, /* not a stream the encoder writes for these calls (or a call broke its preconditions) */
    SN_RC_UNUSED = 2,  /* the calls ended before the input did: sn_rc_dec_unused() bytes left */
};

static inline uint8_t sn_rc_dec_byte(sn_rc_dec *d) {
    uint8_t b = d->pos < d->n_in ? d->in[d->pos] : 0;
    d->pos++;
    return b;
}

/* Start decoding in[0 .. n_in). Inline, as is sn_rc_dec_end, so that a
 * caller's decoder can live in registers: once its address goes to a
 * function the compiler cannot see, any store through an int32_t pointer in
 * the caller's loop (the decoded codes) might alias its fields. */
static inline void sn_rc_dec_init(sn_rc_dec *d, const uint8_t *in, size_t n_in) {
    *d = (sn_rc_dec){0};
    d->in = in;
    d->n_in = in ? n_in : 0;
    d->range = 0xFFFFFFFFu;
    for (int i = 0; i < 4; i++) d->code = (d->code << 8) | sn_rc_dec_byte(d);
    /* the encoder's value lies below its range: only 0xFFFFFFFF is above */
    d->err = d->code >= d->range;
}

/* The decision coded with P(1) = p1 / 65536, p1 in [1, 65535] unchecked. */
static inline int sn_rc_dec_bit_unchecked(sn_rc_dec *d, uint32_t p1) {
    uint32_t bound = (d->range >> 16) * (SN_RC_PROB_ONE - p1);
    int bit;
    if (d->code < bound) {
        d->range = bound;
        bit = 0;
    } else {
        d->code -= bound;
        d->range -= bound;
        bit = 1;
    }
    while (d->range < SN_RC_TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | sn_rc_dec_byte(d);
    }
    return bit;
}

/* The decision coded with P(1) = p1 / 65536 (p1 outside [1, 65535] returns 0
 * and marks the decoder corrupt). */
static inline int sn_rc_dec_bit(sn_rc_dec *d, uint32_t p1) {
    if (p1 - 1u >= SN_RC_PROB_ONE - 1u) {
        d->err = 1;
        return 0;
    }
    return sn_rc_dec_bit_unchecked(d, p1);
}

/* As sn_rc_enc_adaptive, for the decoder (m must be valid: asserted). */
static inline int sn_rc_dec_adaptive(sn_rc_dec *d, sn_rc_prob *m, int limit) {
    assert(m->p >= SN_RC_PROB_MIN && m->p <= SN_RC_PROB_ONE - SN_RC_PROB_MIN);
    int bit = sn_rc_dec_bit_unchecked(d, m->p);
    sn_rc_prob_update(m, bit, limit);
    return bit;
}

/* First step of decoding a symbol of total (1..SN_RC_TOTAL_MAX): a value in
 * [0, total) that lies in the coded symbol's interval. Outside that range of
 * totals, returns 0 and marks the decoder corrupt. */
uint32_t sn_rc_dec_target(sn_rc_dec *d, uint32_t total);

/* Second step: consume the symbol [cum, cum + freq) that holds the target
 * (of the total given to sn_rc_dec_target just before). An interval that
 * does not hold it marks the decoder corrupt and consumes nothing. */
void sn_rc_dec_sym(sn_rc_dec *d, uint32_t cum, uint32_t freq);

/* The symbol coded with sn_rc_enc_cdf under the same CDF (binary search). */
int sn_rc_dec_cdf(sn_rc_dec *d, const uint32_t *cdf, int n_sym);

/* n_bits raw bits, 0 <= n_bits <= 16. */
uint32_t sn_rc_dec_bits(sn_rc_dec *d, int n_bits);

/* After the last call: SN_RC_OK when the input is exactly what the encoder
 * wrote for the calls made, else SN_RC_UNUSED or SN_RC_CORRUPT.
 * Why these checks suffice: the encoder writes N + 4 bytes for the N
 * renormalisations the decoder also makes, of which the last 3 are zeros of
 * the rounded end value, dropped with any other trailing zeros; the decoder
 * reads 4 + N. So its own output leaves the decoder at least 3 bytes past
 * the end, never on a 0 byte, with code = (rounded end value) - low < 2^24;
 * and with those holding, the stream is the one the encoder writes. */
static inline int sn_rc_dec_end(const sn_rc_dec *d) {
    if (d->pos < d->n_in) return SN_RC_UNUSED;
    if (d->err || d->pos - d->n_in < 3 || d->code >= SN_RC_TOP || (d->n_in > 0 && d->in[d->n_in - 1] == 0))
        return SN_RC_CORRUPT;
    return SN_RC_OK;
}

/* Input bytes the calls did not reach (for SN_RC_UNUSED messages). */
static inline size_t sn_rc_dec_unused(const sn_rc_dec *d) { return d->pos < d->n_in ? d->n_in - d->pos : 0; }

#endif
