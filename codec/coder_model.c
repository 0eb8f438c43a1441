/* Learned coder models (coder_model.h): the .coder file (parse, serialise,
 * find beside a codec), the integer inference with plain, AVX2 and AVX-512
 * kernels that agree bit for bit (every sum modulo 2^32), the integer
 * softmax that turns logits into a frequency table, and token-file coder 3
 * (the range coder driven by those tables). Format: codec/FORMATS.md,
 * "Coder models". */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(SONO_REF_KERNELS)
#define CM_X86 1
#include <immintrin.h>
#endif

#include "sonotok/cpu.h"
#include "codec_internal.h"
#include "coder_model.h"
#include "rangecoder.h"
#include "sono_internal.h"

#define CM_TOTAL ((uint32_t)1 << SN_CM_TOTAL_BITS)
#define CM_MAX_FILE ((uint64_t)1 << 30)

/* ------------------------------------------------------------------------- */
/* Integer exp table                                                          */
/*
 * EXP[i] = round(2^20 exp(-i / 128)), computed by an integer recurrence from
 * one constant (round(2^30 exp(-1/128))) so that no libm enters the stream:
 * e_0 = 2^30, e_{i+1} = (e_i * CM_EXP_STEP) >> 30, EXP[i] = (e_i + 2^9) >> 10,
 * up to the first entry that is 0 (i = 1848); beyond it the table is 0.
 */
#define CM_EXP_STEP 1065385899ull
#define CM_EXP_CAP 2048
static uint32_t g_exp[CM_EXP_CAP];
static int g_exp_n;
static pthread_once_t g_exp_once = PTHREAD_ONCE_INIT;

static void exp_init(void) {
    uint64_t e = (uint64_t)1 << 30;
    int n = 0;
    while (n < CM_EXP_CAP) {
        uint32_t v = (uint32_t)((e + (1u << 9)) >> 10);
        if (!v) break;
        g_exp[n++] = v;
        e = (e * CM_EXP_STEP) >> 30;
    }
    g_exp_n = n;
}

void sn_cm_freqs(uint32_t *freq, const uint32_t *logits, int V, int logit_shift) {
    pthread_once(&g_exp_once, exp_init);
    /* the largest logit (as int32; first on ties) takes the rounding remainder */
    int32_t mx = (int32_t)logits[0];
    int am = 0;
    for (int i = 1; i < V; i++) {
        int32_t v = (int32_t)logits[i];
        if (v > mx) {
            mx = v;
            am = i;
        }
    }
    uint64_t S = 0;
    for (int i = 0; i < V; i++) {
        uint32_t k = ((uint32_t)mx - logits[i]) >> logit_shift; /* mx >= logit: exact in uint32 */
        uint32_t p = k < (uint32_t)g_exp_n ? g_exp[k] : 0;
        freq[i] = p;
        S += p;
    }
    /* each symbol gets 1 + floor(p * R / S) (computed as p * M >> 32 with
     * M = floor(R * 2^32 / S), never above it), R = 2^16 - V; the sum stays <= 2^16 */
    uint32_t R = CM_TOTAL - (uint32_t)V;
    uint64_t M = ((uint64_t)R << 32) / S; /* S >= 2^20: the largest has p = EXP[0] */
    uint32_t used = 0;
    for (int i = 0; i < V; i++) {
        uint32_t f = (uint32_t)(((uint64_t)freq[i] * M) >> 32);
        freq[i] = 1 + f;
        used += f;
    }
    freq[am] += R - used;
}

/* ------------------------------------------------------------------------- */
/* Kernels: out[r] = (acc ? out[r] : 0) + bias[r] + W[r] . x, modulo 2^32      */

static void matvec_plain(uint32_t *out, const int16_t *W, const int16_t *x, const int32_t *bias, int rows, int n,
                         int acc) {
    for (int r = 0; r < rows; r++) {
        const int16_t *w = W + (size_t)r * (size_t)n;
        uint32_t s = acc ? out[r] : 0;
        if (bias) s += (uint32_t)bias[r];
        for (int i = 0; i < n; i++) s += (uint32_t)((int32_t)w[i] * (int32_t)x[i]);
        out[r] = s;
    }
}

#ifdef CM_X86
#define CM_TGT256 __attribute__((target("avx2")))
#define CM_TGT512 __attribute__((target("avx512f,avx512bw,avx2")))

/* _mm256_madd_epi16 adds two int16 products into an int32 lane, wrapping in
 * its one overflow case (all four -32768), so it is exact modulo 2^32. */
CM_TGT256 static void matvec_avx2(uint32_t *out, const int16_t *W, const int16_t *x, const int32_t *bias, int rows,
                                  int n, int acc) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const int16_t *w0 = W + (size_t)r * (size_t)n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n; i += 16) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + i));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w0 + i)), xv));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w1 + i)), xv));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w2 + i)), xv));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w3 + i)), xv));
        }
        __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        __m128i v = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)); /* rows r..r+3 */
        if (bias) v = _mm_add_epi32(v, _mm_loadu_si128((const __m128i *)(bias + r)));
        if (acc) v = _mm_add_epi32(v, _mm_loadu_si128((const __m128i *)(out + r)));
        _mm_storeu_si128((__m128i *)(out + r), v);
    }
    if (r < rows) matvec_plain(out + r, W + (size_t)r * (size_t)n, x, bias ? bias + r : NULL, rows - r, n, acc);
}

CM_TGT512 static void matvec_avx512(uint32_t *out, const int16_t *W, const int16_t *x, const int32_t *bias, int rows,
                                    int n, int acc) {
    if (n % 32) { /* 16-wide rows: the AVX2 kernel does them as well */
        matvec_avx2(out, W, x, bias, rows, n, acc);
        return;
    }
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const int16_t *w0 = W + (size_t)r * (size_t)n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n; i += 32) {
            __m512i xv = _mm512_loadu_si512((const void *)(x + i));
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w0 + i)), xv));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w1 + i)), xv));
            a2 = _mm512_add_epi32(a2, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w2 + i)), xv));
            a3 = _mm512_add_epi32(a3, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w3 + i)), xv));
        }
        /* fold to 256 bits and reduce with vector adds, which wrap (GCC's
         * _mm512_reduce_add_epi32 adds as signed int: undefined on overflow) */
#define CM_FOLD(a) _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1))
        __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(CM_FOLD(a0), CM_FOLD(a1)),
                                      _mm256_hadd_epi32(CM_FOLD(a2), CM_FOLD(a3)));
#undef CM_FOLD
        __m128i v = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)); /* rows r..r+3 */
        if (bias) v = _mm_add_epi32(v, _mm_loadu_si128((const __m128i *)(bias + r)));
        if (acc) v = _mm_add_epi32(v, _mm_loadu_si128((const __m128i *)(out + r)));
        _mm_storeu_si128((__m128i *)(out + r), v);
    }
    if (r < rows) matvec_plain(out + r, W + (size_t)r * (size_t)n, x, bias ? bias + r : NULL, rows - r, n, acc);
}
#endif

/* The kernel family for a level (sono_cpu_level values). */
typedef void (*cm_matvec_fn)(uint32_t *, const int16_t *, const int16_t *, const int32_t *, int, int, int);

static cm_matvec_fn matvec_for(int level) {
#ifdef CM_X86
    if (level >= SONO_CPU_AVX512 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return matvec_avx512;
    if (level >= SONO_CPU_AVX2 && __builtin_cpu_supports("avx2")) return matvec_avx2;
#else
    (void)level;
#endif
    return matvec_plain;
}

void sn_cm_matvec(uint32_t *out, const int16_t *W, const int16_t *x, const int32_t *bias, int rows, int n, int acc,
                  int level) {
    matvec_for(level)(out, W, x, bias, rows, n, acc);
}

/* ------------------------------------------------------------------------- */
/* File format                                                                */

static int dim_ok(int v) { return v >= 16 && v <= SN_CM_DIM_MAX && v % 16 == 0; }

int sn_cm_check_dims(const sn_cm_dims *d) {
    if (d->V < SN_CM_V_MIN || d->V > SN_CM_V_MAX)
        return sn_fail(d->V > SN_CM_V_MAX ? SONO_E_LIMIT : SONO_E_FORMAT, "coder model: codebook size %d outside [%d, %d]",
                       d->V, SN_CM_V_MIN, SN_CM_V_MAX);
    if (d->K < 1 || d->K > SN_CM_K_MAX)
        return sn_fail(d->K > SN_CM_K_MAX ? SONO_E_LIMIT : SONO_E_FORMAT, "coder model: %d codebooks outside [1, %d]",
                       d->K, SN_CM_K_MAX);
    if (d->P < 1 || d->P > SN_CM_P_MAX)
        return sn_fail(SONO_E_FORMAT, "coder model: %d past frames outside [1, %d]", d->P, SN_CM_P_MAX);
    if (!dim_ok(d->D) || !dim_ok(d->H) || !dim_ok(d->G))
        return sn_fail(SONO_E_FORMAT, "coder model: widths %d, %d, %d must be multiples of 16 in [16, %d]", d->D, d->H,
                       d->G, SN_CM_DIM_MAX);
    if (d->s1 < 1 || d->s1 > 31 || d->s2 < 1 || d->s2 > 31 || d->logit_shift < 0 || d->logit_shift > 24)
        return sn_fail(SONO_E_FORMAT, "coder model: shifts %d, %d, %d out of range", d->s1, d->s2, d->logit_shift);
    return 0;
}

/* Tensor sizes in elements, in file order (int16 tensors, then their int32 biases interleaved as listed). */
typedef struct {
    size_t emb, U, C, b1, W2, b2, Wo, bo;
} cm_sizes;

static cm_sizes cm_sizes_of(const sn_cm_dims *d) {
    size_t K = (size_t)d->K, V = (size_t)d->V, D = (size_t)d->D, H = (size_t)d->H, G = (size_t)d->G;
    return (cm_sizes){K * (V + 1) * D, K * (size_t)d->P * H * D, K * H * D, K * H, K * G * H, K * G, K * V * G, K * V};
}

static size_t cm_tensor_bytes(const cm_sizes *s) {
    return 2 * (s->emb + s->U + s->C + s->W2 + s->Wo) + 4 * (s->b1 + s->b2 + s->bo);
}

size_t sn_cm_file_bytes(const sn_cm_dims *d) {
    if (sn_cm_check_dims(d)) return 0;
    cm_sizes s = cm_sizes_of(d);
    return SN_CM_HEADER + cm_tensor_bytes(&s) + 8;
}

static uint8_t *put_i16(uint8_t *p, const int16_t *v, size_t n) {
    for (size_t i = 0; i < n; i++, p += 2) sn_wr16(p, (uint16_t)v[i]);
    return p;
}

static uint8_t *put_i32(uint8_t *p, const int32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++, p += 4) sn_wr32(p, (uint32_t)v[i]);
    return p;
}

int sn_cm_serialize(const sn_cm_dims *d, const char *codec_name, const uint8_t codec_hash[16], const sn_cm_tensors *w,
                    uint8_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    int rc = sn_cm_check_dims(d);
    if (rc) return rc;
    size_t name_len = codec_name ? strlen(codec_name) : 0;
    if (name_len >= SONO_MODEL_NAME_MAX)
        return sn_fail(SONO_E_ARG, "coder model: codec name of %zu bytes (at most %d)", name_len,
                       SONO_MODEL_NAME_MAX - 1);
    size_t n = sn_cm_file_bytes(d);
    uint8_t *b = calloc(1, n);
    if (!b) return sn_fail(SONO_E_NOMEM, "coder model: no memory for %zu bytes", n);
    memcpy(b, SN_CM_MAGIC, 4);
    sn_wr16(b + 4, SN_CM_MAJOR);
    sn_wr16(b + 6, SN_CM_MINOR);
    sn_wr32(b + 8, SN_CM_HEADER);
    sn_wr32(b + 12, (uint32_t)XXH3_64bits(b, 12));
    sn_wr64(b + 16, (uint64_t)n);
    sn_wr32(b + 24, 1); /* architecture 1: the model of coder_model.h */
    const int dims[6] = {d->V, d->K, d->P, d->D, d->H, d->G};
    for (int i = 0; i < 6; i++) sn_wr32(b + 28 + 4 * i, (uint32_t)dims[i]);
    b[52] = (uint8_t)d->s1;
    b[53] = (uint8_t)d->s2;
    b[54] = (uint8_t)d->logit_shift;
    b[55] = (uint8_t)name_len;
    if (codec_hash) memcpy(b + 56, codec_hash, 16);
    if (name_len) memcpy(b + 72, codec_name, name_len);
    sn_wr64(b + SN_CM_HEADER - 8, XXH3_64bits(b, SN_CM_HEADER - 8));
    cm_sizes s = cm_sizes_of(d);
    uint8_t *p = b + SN_CM_HEADER;
    p = put_i16(p, w->emb, s.emb);
    p = put_i16(p, w->U, s.U);
    p = put_i16(p, w->C, s.C);
    p = put_i32(p, w->b1, s.b1);
    p = put_i16(p, w->W2, s.W2);
    p = put_i32(p, w->b2, s.b2);
    p = put_i16(p, w->Wo, s.Wo);
    p = put_i32(p, w->bo, s.bo);
    sn_wr64(p, XXH3_64bits(b, n - 8));
    *out = b;
    *n_out = n;
    return 0;
}

static const uint8_t *get_i16(int16_t *v, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++, p += 2) v[i] = (int16_t)sn_rd16(p);
    return p;
}

static const uint8_t *get_i32(int32_t *v, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++, p += 4) v[i] = (int32_t)sn_rd32(p);
    return p;
}

/* Order of checks (FORMATS.md): magic, preamble check, version, header
 * size, header checksum, fields, file size, file checksum. */
sono_coder *sono_coder_load_mem(const uint8_t *buf, size_t n, int *err) {
    int e = 0;
    sono_coder *m = NULL;
    if (!err) err = &e;
    *err = 0;
    if (!buf && n) {
        *err = sn_fail(SONO_E_ARG, "coder model: NULL buffer");
        return NULL;
    }
    if (n < 4 || memcmp(buf, SN_CM_MAGIC, 4)) {
        if (n < 4 && (n == 0 || !memcmp(buf, SN_CM_MAGIC, n)))
            *err = sn_fail(SONO_E_TRUNCATED, "coder model: %zu bytes: file is truncated", n);
        else
            *err = sn_fail(SONO_E_FORMAT, "coder model: not a coder model (magic is not \"SNCM\")");
        return NULL;
    }
    if (n < 16) {
        *err = sn_fail(SONO_E_TRUNCATED, "coder model: %zu bytes: file is truncated", n);
        return NULL;
    }
    uint32_t ps = sn_rd32(buf + 12), pc = (uint32_t)XXH3_64bits(buf, 12);
    if (ps != pc) {
        *err = sn_fail(SONO_E_CHECKSUM, "coder model: preamble checksum mismatch (stored %08x, computed %08x)", ps, pc);
        return NULL;
    }
    int major = sn_rd16(buf + 4), minor = sn_rd16(buf + 6);
    if (major == 0 || major > SN_CM_MAJOR) {
        *err = sn_fail(major ? SONO_E_UNSUPPORTED : SONO_E_FORMAT, "coder model: version %d.%d %s", major, minor,
                       major ? "is newer than this reader (1.x)" : "is not a valid version");
        return NULL;
    }
    uint32_t hsize = sn_rd32(buf + 8);
    if (hsize < SN_CM_HEADER || (minor == 0 && hsize != SN_CM_HEADER) || hsize > (1u << 20)) {
        *err = sn_fail(SONO_E_FORMAT, "coder model: header size %u (expected %d)", hsize, SN_CM_HEADER);
        return NULL;
    }
    if (n < hsize) {
        *err = sn_fail(SONO_E_TRUNCATED, "coder model: %zu bytes, the header needs %u: file is truncated", n, hsize);
        return NULL;
    }
    uint64_t hs = sn_rd64(buf + hsize - 8), hc = XXH3_64bits(buf, hsize - 8);
    if (hs != hc) {
        *err = sn_fail(SONO_E_CHECKSUM, "coder model: header checksum mismatch (stored %016llx, computed %016llx)",
                       (unsigned long long)hs, (unsigned long long)hc);
        return NULL;
    }
    uint32_t arch = sn_rd32(buf + 24);
    if (arch != 1) {
        *err = sn_fail(SONO_E_UNSUPPORTED, "coder model: unknown architecture %u", arch);
        return NULL;
    }
    sn_cm_dims d = {(int)sn_rd32(buf + 28), (int)sn_rd32(buf + 32), (int)sn_rd32(buf + 36), (int)sn_rd32(buf + 40),
                    (int)sn_rd32(buf + 44), (int)sn_rd32(buf + 48), buf[52], buf[53], buf[54]};
    int name_len = buf[55];
    if ((*err = sn_cm_check_dims(&d))) return NULL;
    if (name_len >= SONO_MODEL_NAME_MAX || memchr(buf + 72, 0, (size_t)name_len)) {
        *err = sn_fail(SONO_E_FORMAT, "coder model: bad codec name (%d bytes)", name_len);
        return NULL;
    }
    for (int i = 72 + name_len; i < SN_CM_HEADER - 8; i++)
        if (buf[i]) {
            *err = sn_fail(SONO_E_FORMAT, "coder model: padding after the codec name is not zero");
            return NULL;
        }
    cm_sizes s = cm_sizes_of(&d);
    uint64_t want = (uint64_t)hsize + cm_tensor_bytes(&s) + 8, stated = sn_rd64(buf + 16);
    if (stated != want) {
        *err = sn_fail(SONO_E_FORMAT, "coder model: file size %llu does not match its sizes (%llu)",
                       (unsigned long long)stated, (unsigned long long)want);
        return NULL;
    }
    if (want > CM_MAX_FILE) {
        *err = sn_fail(SONO_E_LIMIT, "coder model: %llu bytes beyond the limit", (unsigned long long)want);
        return NULL;
    }
    if (n != want) {
        *err = sn_fail(n < want ? SONO_E_TRUNCATED : SONO_E_FORMAT, "coder model: %zu bytes, expected %llu%s", n,
                       (unsigned long long)want, n < want ? ": file is truncated" : "");
        return NULL;
    }
    uint64_t fs = sn_rd64(buf + n - 8), fc = XXH3_64bits(buf, n - 8);
    if (fs != fc) {
        *err = sn_fail(SONO_E_CHECKSUM, "coder model: checksum mismatch (stored %016llx, computed %016llx)",
                       (unsigned long long)fs, (unsigned long long)fc);
        return NULL;
    }

    m = calloc(1, sizeof *m);
    size_t n16 = s.emb + s.U + s.C + s.W2 + s.Wo, n32 = s.b1 + s.b2 + s.bo;
    void *blk = NULL;
    if (!m || posix_memalign(&blk, 64, n32 * 4 + n16 * 2 + 64)) {
        free(m);
        *err = sn_fail(SONO_E_NOMEM, "coder model: no memory for %zu weights", n16 + n32);
        return NULL;
    }
    m->block = blk;
    m->d = d;
    memcpy(m->codec_hash, buf + 56, 16);
    memcpy(m->codec_name, buf + 72, (size_t)name_len);
    XXH128_hash_t h = XXH3_128bits(buf, n);
    sn_wr64(m->hash, h.low64);
    sn_wr64(m->hash + 8, h.high64);
    int32_t *b1 = blk, *b2 = b1 + s.b1, *bo = b2 + s.b2;
    int16_t *emb = (int16_t *)(bo + s.bo), *U = emb + s.emb, *C = U + s.U, *W2 = C + s.C, *Wo = W2 + s.W2;
    const uint8_t *p = buf + hsize;
    p = get_i16(emb, p, s.emb);
    p = get_i16(U, p, s.U);
    p = get_i16(C, p, s.C);
    p = get_i32(b1, p, s.b1);
    p = get_i16(W2, p, s.W2);
    p = get_i32(b2, p, s.b2);
    p = get_i16(Wo, p, s.Wo);
    get_i32(bo, p, s.bo);
    m->emb = emb, m->U = U, m->C = C, m->W2 = W2, m->Wo = Wo, m->b1 = b1, m->b2 = b2, m->bo = bo;
    return m;
}

sono_coder *sono_coder_load(const char *path, int *err) {
    int e = 0;
    if (!err) err = &e;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (!path) {
        *err = sn_fail(SONO_E_ARG, "coder model: NULL path");
        return NULL;
    }
    *err = sn_read_file(path, CM_MAX_FILE, &buf, &n);
    if (*err) return NULL;
    sono_coder *m = sono_coder_load_mem(buf, n, err);
    free(buf);
    if (!m) sn_error_prefix("%s", path);
    return m;
}

void sono_coder_free(sono_coder *m) {
    if (!m) return;
    free(m->block);
    free(m);
}

void sono_coder_hash(const sono_coder *m, uint8_t out[16]) { memcpy(out, m->hash, 16); }
const char *sono_coder_codec_name(const sono_coder *m) { return m->codec_name; }
void sono_coder_codec_hash(const sono_coder *m, uint8_t out[16]) { memcpy(out, m->codec_hash, 16); }
int sono_coder_codebook_size(const sono_coder *m) { return m->d.V; }
int sono_coder_max_codebooks(const sono_coder *m) { return m->d.K; }

/* A codec name that names a file in a models folder and nothing else. */
static int plain_name(const char *s) {
    if (!s || !*s || *s == '.') return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7F) return 0;
    return 1;
}

int sono_coder_resolve(const char *codec_name, char *out, size_t n) {
    if (!plain_name(codec_name) || strlen(codec_name) >= SONO_MODEL_NAME_MAX)
        return sn_fail(SONO_E_ARG, "coder model: \"%s\" is not a model name", codec_name ? codec_name : "");
    char file[SONO_MODEL_NAME_MAX + 8];
    snprintf(file, sizeof file, "%s.coder", codec_name);
    return sn_models_find(file, out, n);
}

sono_coder *sono_coder_for_codec(const char *codec_name, int *err) {
    int e = 0;
    if (!err) err = &e;
    char path[4096];
    *err = sono_coder_resolve(codec_name, path, sizeof path);
    return *err ? NULL : sono_coder_load(path, err);
}

/* ------------------------------------------------------------------------- */
/* Inference                                                                  */

typedef struct {
    cm_matvec_fn mv;
    uint32_t *R;     /* [SN_CM_BLOCK][H]: the coarser codebooks' sum per frame of the block */
    uint32_t *z;     /* [H] */
    uint32_t *acc;   /* [G] */
    int16_t *h, *g;  /* [H], [G] */
    int16_t *xl;     /* [P][D]: the embeddings of the code's own past */
    uint32_t *lg;    /* [V] logits */
    uint32_t *fr;    /* [V] frequencies */
    void *mem;
} cm_work;

static int work_init(cm_work *w, const sn_cm_dims *d, int level) {
    size_t H = (size_t)d->H, G = (size_t)d->G, V = (size_t)d->V;
    size_t n32 = SN_CM_BLOCK * H + H + G + 2 * V, n16 = H + G + (size_t)d->P * (size_t)d->D;
    memset(w, 0, sizeof *w);
    w->mem = malloc(n32 * 4 + n16 * 2);
    if (!w->mem) return SONO_E_NOMEM;
    w->mv = matvec_for(level);
    w->R = w->mem;
    w->z = w->R + SN_CM_BLOCK * H;
    w->acc = w->z + H;
    w->lg = w->acc + G;
    w->fr = w->lg + V;
    w->h = (int16_t *)(w->fr + V);
    w->g = w->h + H;
    w->xl = w->g + G;
    return 0;
}

static inline int16_t requant(uint32_t z, int s) {
    if (z >= 0x80000000u) return 0; /* negative as int32: ReLU */
    uint32_t v = z >> s;
    return (int16_t)(v > 32767 ? 32767 : v);
}

/* Frequencies of x[q][t] (tb = t - the block's first frame) into w->fr; w->z keeps
 * the first layer's sum for cm_update. xq: codebook q's codes (known before t). */
static void cm_predict(const sono_coder *m, cm_work *w, const int32_t *xq, int q, int64_t t, int tb) {
    const sn_cm_dims *d = &m->d;
    int H = d->H, G = d->G, V = d->V, D = d->D, P = d->P;
    const uint32_t *R = w->R + (size_t)tb * (size_t)H;
    const int32_t *b1 = m->b1 + (size_t)q * (size_t)H;
    for (int i = 0; i < H; i++) w->z[i] = R[i] + (uint32_t)b1[i];
    const int16_t *E = m->emb + (size_t)q * (size_t)(V + 1) * (size_t)D;
    for (int l = 1; l <= P; l++) {
        int32_t c = t - l >= 0 ? xq[t - l] : V;
        memcpy(w->xl + (size_t)(l - 1) * (size_t)D, E + (size_t)c * (size_t)D, (size_t)D * sizeof *w->xl);
    }
    w->mv(w->z, m->U + (size_t)q * (size_t)H * (size_t)P * (size_t)D, w->xl, NULL, H, P * D, 1);
    for (int i = 0; i < H; i++) w->h[i] = requant(w->z[i], d->s1);
    w->mv(w->acc, m->W2 + (size_t)q * (size_t)G * (size_t)H, w->h, m->b2 + (size_t)q * (size_t)G, G, H, 0);
    for (int i = 0; i < G; i++) w->g[i] = requant(w->acc[i], d->s2);
    w->mv(w->lg, m->Wo + (size_t)q * (size_t)V * (size_t)G, w->g, m->bo + (size_t)q * (size_t)V, V, G, 0);
    sn_cm_freqs(w->fr, w->lg, V, d->logit_shift);
}

/* After coding x[q][t] = c: the frame's sum for codebook q + 1. */
static void cm_update(const sono_coder *m, cm_work *w, int q, int tb, int32_t c) {
    const sn_cm_dims *d = &m->d;
    int H = d->H, D = d->D;
    uint32_t *R = w->R + (size_t)tb * (size_t)H;
    const int32_t *b1 = m->b1 + (size_t)q * (size_t)H;
    for (int i = 0; i < H; i++) R[i] = w->z[i] - (uint32_t)b1[i];
    w->mv(R, m->C + (size_t)q * (size_t)H * (size_t)D, m->emb + ((size_t)q * (size_t)(d->V + 1) + (size_t)c) * (size_t)D,
          NULL, H, D, 1);
}

/* (cum << 16 | freq) of every code, codebook-major [n_q][n_frames] (freq < 2^16:
 * at most 2^16 - V + 1). One block per task; blocks are independent. */
static int cm_intervals(const sono_coder *m, const int32_t *codes, int n_q, int64_t F, int n_threads, int level,
                        uint32_t *cf) {
    int64_t n_blocks = (F + SN_CM_BLOCK - 1) / SN_CM_BLOCK;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > n_blocks) nt = (int)n_blocks;
    int failed = 0;
#pragma omp parallel num_threads(nt)
    {
        cm_work w;
        int ok = work_init(&w, &m->d, level) == 0;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < n_blocks; b++) {
            if (!ok) continue;
            int64_t t0 = b * SN_CM_BLOCK, t1 = t0 + SN_CM_BLOCK < F ? t0 + SN_CM_BLOCK : F;
            memset(w.R, 0, (size_t)SN_CM_BLOCK * (size_t)m->d.H * sizeof *w.R);
            for (int q = 0; q < n_q; q++) {
                const int32_t *xq = codes + (size_t)q * (size_t)F;
                for (int64_t t = t0; t < t1; t++) {
                    cm_predict(m, &w, xq, q, t, (int)(t - t0));
                    int32_t c = xq[t];
                    uint32_t cum = 0;
                    for (int32_t j = 0; j < c; j++) cum += w.fr[j];
                    cf[(size_t)q * (size_t)F + (size_t)t] = cum << 16 | w.fr[c];
                    if (q + 1 < n_q) cm_update(m, &w, q, (int)(t - t0), c);
                }
            }
        }
        free(w.mem);
    }
    return failed ? sn_fail(SONO_E_NOMEM, "token file: no memory for the coder model's state") : 0;
}

static int cm_check_call(const sono_coder *m, int n_q, int64_t F) {
    if (!m) return sn_fail(SONO_E_ARG, "token file: no coder model");
    if (n_q < 1 || n_q > m->d.K)
        return sn_fail(SONO_E_ARG, "token file: %d codebooks, the coder model knows %d", n_q, m->d.K);
    if (F < 1) return sn_fail(SONO_E_EMPTY, "token file: no frames");
    return 0;
}

int sn_cm_encode(const sono_coder *m, const int32_t *codes, int n_q, int64_t F, int n_threads, int level,
                 uint8_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    int rc = cm_check_call(m, n_q, F);
    if (rc) return rc;
    size_t n = (size_t)n_q * (size_t)F;
    for (size_t i = 0; i < n; i++)
        if (codes[i] < 0 || codes[i] >= m->d.V)
            return sn_fail(SONO_E_RANGE, "token file: code %d outside the coder model's [0, %d)", codes[i], m->d.V);
    uint32_t *cf = malloc(n * sizeof *cf);
    if (!cf) return sn_fail(SONO_E_NOMEM, "token file: no memory for %zu code intervals", n);
    rc = cm_intervals(m, codes, n_q, F, n_threads, level, cf);
    if (rc) {
        free(cf);
        return rc;
    }
    sn_rc_enc e;
    sn_rc_enc_init(&e);
    for (int64_t t0 = 0; t0 < F; t0 += SN_CM_BLOCK) {
        int64_t t1 = t0 + SN_CM_BLOCK < F ? t0 + SN_CM_BLOCK : F;
        for (int q = 0; q < n_q; q++)
            for (int64_t t = t0; t < t1; t++) {
                uint32_t v = cf[(size_t)q * (size_t)F + (size_t)t];
                sn_rc_enc_sym(&e, v >> 16, v & 0xFFFFu, CM_TOTAL);
            }
    }
    free(cf);
    rc = sn_rc_enc_finish(&e, out, n_out);
    if (rc == SONO_E_NOMEM) return sn_fail(rc, "token file: no memory for the coded payload");
    if (rc) return sn_fail(rc, "token file: the range coder refused a frequency");
    return 0;
}

double sn_cm_code_length(const sono_coder *m, const int32_t *codes, int n_q, int64_t F, int level, double *bits_q) {
    if (cm_check_call(m, n_q, F)) return -1;
    size_t n = (size_t)n_q * (size_t)F;
    uint32_t *cf = malloc(n * sizeof *cf);
    if (!cf || cm_intervals(m, codes, n_q, F, 1, level, cf)) {
        free(cf);
        return -1;
    }
    double total = 0;
    for (int q = 0; q < n_q; q++) {
        double s = 0;
        for (int64_t t = 0; t < F; t++) s -= log2((double)(cf[(size_t)q * (size_t)F + (size_t)t] & 0xFFFFu) / CM_TOTAL);
        if (bits_q) bits_q[q] = s;
        total += s;
    }
    free(cf);
    return total;
}

int sn_cm_decode(const sono_coder *m, const uint8_t *in, size_t n_in, int n_q, int64_t F, int level, int32_t *codes) {
    int rc = cm_check_call(m, n_q, F);
    if (rc) return rc;
    /* No bound on the frame count from the payload's length, unlike coder 2:
     * the final value the encoder picks may sit on a short binary fraction
     * inside a tiny interval (a long run of confidently predicted codes can
     * cost no byte at all), so any bound would refuse some valid file. The
     * work is that of decoding a real file of the length the header claims. */
    cm_work w;
    if (work_init(&w, &m->d, level)) return sn_fail(SONO_E_NOMEM, "token file: no memory for the coder model's state");
    sn_rc_dec d;
    sn_rc_dec_init(&d, in, n_in);
    int V = m->d.V;
    for (int64_t t0 = 0; t0 < F; t0 += SN_CM_BLOCK) {
        int64_t t1 = t0 + SN_CM_BLOCK < F ? t0 + SN_CM_BLOCK : F;
        memset(w.R, 0, (size_t)SN_CM_BLOCK * (size_t)m->d.H * sizeof *w.R);
        for (int q = 0; q < n_q; q++) {
            int32_t *xq = codes + (size_t)q * (size_t)F;
            for (int64_t t = t0; t < t1; t++) {
                cm_predict(m, &w, xq, q, t, (int)(t - t0));
                uint32_t v = sn_rc_dec_target(&d, CM_TOTAL), cum = 0;
                int32_t c = 0;
                while (c < V - 1 && cum + w.fr[c] <= v) cum += w.fr[c++];
                sn_rc_dec_sym(&d, cum, w.fr[c]);
                xq[t] = c;
                if (q + 1 < n_q) cm_update(m, &w, q, (int)(t - t0), c);
            }
        }
    }
    free(w.mem);
    int st = sn_rc_dec_end(&d);
    if (st == SN_RC_UNUSED)
        return sn_fail(SONO_E_FORMAT, "token file: model-coded payload has %zu unused bytes", sn_rc_dec_unused(&d));
    if (st != SN_RC_OK)
        return sn_fail(SONO_E_FORMAT, "token file: model-coded payload is not what the encoder writes for its codes");
    return 0;
}
