/* Range-coder engine (rangecoder.h, where the stream is defined): the
 * encoder's byte output with carry propagation and its flush, symbols under
 * integer frequencies, raw bits, and the decoder's end-of-stream checks. The
 * binary decisions, the hot path of the token-file coder, are inline in the
 * header. */
#include <stdlib.h>
#include "rangecoder.h"

/* ---- encoder ---- */

void sn_rc_enc_init(sn_rc_enc *e) {
    *e = (sn_rc_enc){0};
    e->range = 0xFFFFFFFFu;
}

void sn_rc_enc_grow(sn_rc_enc *e) {
    if (e->err == SONO_E_NOMEM) return;
    size_t cap = e->cap ? e->cap * 2 : 4096;
    uint8_t *nb = realloc(e->buf, cap);
    if (!nb) {
        e->err = SONO_E_NOMEM;
        return;
    }
    e->buf = nb;
    e->cap = cap;
}

static void enc_arg_error(sn_rc_enc *e) {
    if (!e->err) e->err = SONO_E_ARG;
}

void sn_rc_enc_sym(sn_rc_enc *e, uint32_t cum, uint32_t freq, uint32_t total) {
    if (total > SN_RC_TOTAL_MAX || cum >= total || freq == 0 || freq > total - cum) {
        enc_arg_error(e);
        return;
    }
    uint32_t r = e->range / total;
    e->low += (uint64_t)r * cum;
    if (cum + freq < total) e->range = r * freq;
    else e->range -= r * cum;
    while (e->range < SN_RC_TOP) {
        e->range <<= 8;
        sn_rc_enc_shift(e);
    }
}

void sn_rc_enc_cdf(sn_rc_enc *e, const uint32_t *cdf, int n_sym, int sym) {
    if (!cdf || sym < 0 || sym >= n_sym) {
        enc_arg_error(e);
        return;
    }
    /* a decreasing CDF gives a huge freq, which sn_rc_enc_sym refuses */
    sn_rc_enc_sym(e, cdf[sym], cdf[sym + 1] - cdf[sym], cdf[n_sym]);
}

void sn_rc_enc_bits(sn_rc_enc *e, uint32_t value, int n_bits) {
    if (n_bits < 0 || n_bits > 16) {
        enc_arg_error(e);
        return;
    }
    sn_rc_enc_sym(e, value, 1, (uint32_t)1 << n_bits);
}

int sn_rc_enc_finish(sn_rc_enc *e, uint8_t **out, size_t *n_bytes) {
    *out = NULL;
    *n_bytes = 0;
    if (!e->err) {
        /* Any value in [low, low + range) decodes the same; take the one whose
         * low 24 bits are zero (range >= 2^24 makes that possible), then drop
         * trailing zero bytes: the decoder reads zeros past the end. */
        e->low = (e->low + 0xFFFFFFu) & ~(uint64_t)0xFFFFFFu;
        for (int i = 0; i < 5; i++) sn_rc_enc_shift(e);
        while (e->n_bytes > 0 && e->buf[e->n_bytes - 1] == 0) e->n_bytes--;
        if (!e->err && !e->buf && !(e->buf = malloc(1))) e->err = SONO_E_NOMEM;
    }
    int rc = e->err;
    if (rc) {
        free(e->buf);
    } else {
        *out = e->buf;
        *n_bytes = e->n_bytes;
    }
    *e = (sn_rc_enc){0};
    return rc;
}

void sn_rc_enc_free(sn_rc_enc *e) {
    if (!e) return;
    free(e->buf);
    *e = (sn_rc_enc){0};
}

/* ---- decoder ---- */

uint32_t sn_rc_dec_target(sn_rc_dec *d, uint32_t total) {
    if (total - 1u >= SN_RC_TOTAL_MAX) {
        d->err = 1;
        d->total = 0;
        return 0;
    }
    d->r = d->range / total; /* >= 2^24 / 2^16 */
    d->total = total;
    uint32_t v = d->code / d->r;
    d->target = v < total ? v : total - 1; /* the last symbol owns the remainder */
    return d->target;
}

void sn_rc_dec_sym(sn_rc_dec *d, uint32_t cum, uint32_t freq) {
    uint32_t total = d->total;
    d->total = 0; /* one sn_rc_dec_target per symbol */
    if (total == 0 || cum > d->target || freq == 0 || freq > total - cum || d->target - cum >= freq) {
        d->err = 1;
        return;
    }
    d->code -= d->r * cum;
    if (cum + freq < total) d->range = d->r * freq;
    else d->range -= d->r * cum;
    while (d->range < SN_RC_TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | sn_rc_dec_byte(d);
    }
}

int sn_rc_dec_cdf(sn_rc_dec *d, const uint32_t *cdf, int n_sym) {
    if (!cdf || n_sym < 1) {
        d->err = 1;
        return 0;
    }
    uint32_t v = sn_rc_dec_target(d, cdf[n_sym]);
    int lo = 0, hi = n_sym - 1; /* the first symbol whose interval ends above v */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cdf[mid + 1] <= v) lo = mid + 1;
        else hi = mid;
    }
    sn_rc_dec_sym(d, cdf[lo], cdf[lo + 1] - cdf[lo]);
    return lo;
}

uint32_t sn_rc_dec_bits(sn_rc_dec *d, int n_bits) {
    if (n_bits < 0 || n_bits > 16) {
        d->err = 1;
        return 0;
    }
    uint32_t v = sn_rc_dec_target(d, (uint32_t)1 << n_bits);
    sn_rc_dec_sym(d, v, 1);
    return v;
}
