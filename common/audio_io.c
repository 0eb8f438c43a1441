/* Audio file input and output (contract: include/sonotok/audio.h).
 *
 * Reading: anything libsndfile decodes (WAV, FLAC, Ogg Vorbis/Opus, MP3, AIFF,
 * CAF, ...), from a path or from memory through libsndfile's virtual I/O. The
 * file is decoded AUDIO_BLOCK frames at a time, mapped to the wanted channel
 * count, then resampled by a streaming libsoxr resampler (SOXR_HQ, float32
 * interleaved). Every buffer is sized at open from the channel counts alone,
 * so memory does not grow with the length of the file.
 *
 * Writing: WAV and FLAC as 16-bit PCM (clipped to [-1, 1]), Ogg Vorbis and Ogg
 * Opus, resampled the same way when the input and output rates differ.
 *
 * Output length: resampling n frames from rate a to rate b gives exactly
 * round(n * b / a) frames, halves rounded up, i.e. floor((2*n*b + a) / (2*a)),
 * computed in integers (audio_out_len). soxr 0.1.3's flush at the end of the
 * input delivers exactly that count for every rate pair and length we tried;
 * we still enforce it, dropping any excess and padding a shortfall with zeros,
 * so the length never depends on the resampler's version. When a == b no
 * resampler is made and the samples are libsndfile's float conversion, bit
 * for bit.
 *
 * Threads: readers and writers hold no shared state, so separate ones may be
 * used from separate threads. One caveat lies in libsndfile: when sf_open
 * fails, its error text comes from a process-wide variable, so the detail
 * line (not the error code) may be garbled if two opens fail at once. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sndfile.h>
#include <soxr.h>
#include "sonotok/audio.h"
#include "sono_internal.h"

/* Frames decoded, resampled or encoded per step. */
#define AUDIO_BLOCK 4096
/* Sane bounds on what a file header may claim and a caller may ask for. */
#define AUDIO_MAX_CHANNELS 64
#define AUDIO_MAX_RATE 768000

/* ---- shared helpers ---------------------------------------------------- */

/* round(n * b / a), halves up, for n >= 0 and 1 <= a, b <= AUDIO_MAX_RATE;
 * -1 if the result does not fit in int64. Split as n = q*a + r so that no
 * intermediate product can overflow. */
static int64_t audio_out_len(int64_t n, int a, int b) {
    int64_t q = n / a, r = n % a;
    if (q > (INT64_MAX - b) / b) return -1;
    return q * b + (2 * r * b + a) / (2 * (int64_t)a);
}

/* Copy a name for error messages, keeping the end of long paths (the file
 * name is the useful part). */
static void audio_set_name(char *dst, size_t cap, const char *name) {
    size_t n = strlen(name);
    if (n < cap) { memcpy(dst, name, n + 1); return; }
    snprintf(dst, cap, "...%s", name + n - (cap - 4));
}

static soxr_t audio_make_soxr(int in_rate, int out_rate, int channels, const char *name, int *err) {
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1); /* no threads of its own */
    soxr_t s = soxr_create(in_rate, out_rate, (unsigned)channels, &e, &io, &q, &rt);
    if (!s || e) {
        soxr_delete(s);
        *err = sn_fail(SONO_E_UNSUPPORTED, "%s: cannot resample %d Hz to %d Hz: soxr: %s",
                         name, in_rate, out_rate, e ? e : "unknown error");
        return NULL;
    }
    return s;
}

/* Lower-case copy of a bare extension ("WAV", ".wav") into ext[cap]; "" when
 * it is too long to be one we know. */
static void audio_lower_ext(const char *e, char *ext, size_t cap) {
    if (e[0] == '.') e++;
    size_t i = 0;
    for (; e[i] && i + 1 < cap; i++) ext[i] = (char)tolower((unsigned char)e[i]);
    ext[i] = 0;
    if (e[i]) ext[0] = 0;
}

/* Extension of a path's file name, lower-cased ("" when none). */
static void audio_path_ext(const char *path, char *ext, size_t cap) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    audio_lower_ext(dot ? dot + 1 : "", ext, cap);
}

/* ---- reader ------------------------------------------------------------ */

/* libsndfile virtual I/O over a caller's buffer. */
typedef struct {
    const unsigned char *data;
    sf_count_t n_bytes, pos;
} audio_mem;

static sf_count_t mem_len(void *u) { return ((audio_mem *)u)->n_bytes; }
static sf_count_t mem_tell(void *u) { return ((audio_mem *)u)->pos; }
static sf_count_t mem_seek(sf_count_t off, int whence, void *u) {
    audio_mem *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->n_bytes;
    if ((off > 0 && base > INT64_MAX - off) || base + off < 0) return -1;
    m->pos = SONO_MIN(base + off, m->n_bytes); /* beyond the end reads as EOF */
    return m->pos;
}
static sf_count_t mem_read(void *ptr, sf_count_t n, void *u) {
    audio_mem *m = u;
    if (n <= 0 || m->pos >= m->n_bytes) return 0;
    sf_count_t k = SONO_MIN(n, m->n_bytes - m->pos);
    memcpy(ptr, m->data + m->pos, (size_t)k);
    m->pos += k;
    return k;
}
static sf_count_t mem_write(const void *ptr, sf_count_t n, void *u) {
    (void)ptr; (void)n; (void)u;
    return 0; /* read-only */
}

struct sono_audio_reader {
    SNDFILE *sf;
    SF_INFO info;          /* the file's own rate, channels, frame count */
    audio_mem mem;         /* virtual I/O state (open_mem only) */
    soxr_t soxr;           /* NULL when no rate change */
    int rate, channels;    /* output */
    float *in_buf;         /* [AUDIO_BLOCK * info.channels] interleaved, decoded */
    float *mix_buf;        /* [AUDIO_BLOCK * channels] interleaved, channel-mapped;
                              aliases in_buf when no mapping is needed */
    float *out_buf;        /* [AUDIO_BLOCK * channels] interleaved, resampled */
    const float *pend;     /* output not yet handed to the caller ... */
    int64_t n_pend;        /* ... and its length in frames */
    int64_t mix_pos, mix_len; /* resampler input not yet consumed */
    int64_t n_in;          /* frames decoded so far */
    int64_t n_out;         /* frames produced so far (handed out or pending) */
    int64_t target;        /* total output frames, known once eof is set */
    int eof;               /* decoder exhausted */
    int done;              /* no more output */
    int decode_failed;     /* libsndfile reported an error; nothing more to decode */
    int err;               /* sticky error, 0 if none */
    char name[256];        /* path or "<memory>", for messages */
};

static const char *audio_sf_message(SNDFILE *sf) {
    const char *s = sf_strerror(sf);
    return s && *s ? s : "unknown error";
}

/* Map an sf_open failure to a code and detail. */
static int audio_open_fail(const char *name, int from_file) {
    int e = sf_error(NULL);
    const char *msg = audio_sf_message(NULL);
    if (e == SF_ERR_SYSTEM && from_file) return sn_fail(SONO_E_IO, "%s: cannot open: %s", name, msg);
    if (e == SF_ERR_UNRECOGNISED_FORMAT)
        return sn_fail(SONO_E_FORMAT, "%s: not an audio file libsndfile can read", name);
    return sn_fail(SONO_E_FORMAT, "%s: not an audio file libsndfile can read (%s)", name, msg);
}

/* Second half of both opens: check the header, set up buffers and resampler. */
static sono_audio_reader *reader_setup(sono_audio_reader *r, int rate, int channels, int *err) {
    SF_INFO *in = &r->info;
    if (in->channels <= 0) {
        *err = sn_fail(SONO_E_FORMAT, "%s: header gives %d channels", r->name, in->channels);
    } else if (in->channels > AUDIO_MAX_CHANNELS) {
        *err = sn_fail(SONO_E_LIMIT, "%s: %d channels (at most %d supported)", r->name,
                         in->channels, AUDIO_MAX_CHANNELS);
    } else if (in->samplerate <= 0) {
        *err = sn_fail(SONO_E_FORMAT, "%s: header gives a sample rate of %d Hz", r->name,
                         in->samplerate);
    } else if (in->samplerate > AUDIO_MAX_RATE) {
        *err = sn_fail(SONO_E_LIMIT, "%s: sample rate %d Hz (at most %d supported)", r->name,
                         in->samplerate, AUDIO_MAX_RATE);
    } else if (in->frames == 0) {
        *err = sn_fail(SONO_E_EMPTY, "%s: no audio (0 frames)", r->name);
    } else {
        *err = 0;
    }
    if (*err) { sono_audio_close(r); return NULL; }

    r->rate = rate ? rate : in->samplerate;
    r->channels = channels ? channels : in->channels;
    /* Integer files come out scaled to [-1, 1); float files come out as
     * stored, values beyond [-1, 1] included: nothing is clamped. (The
     * SFC_SET_SCALE_FLOAT_INT_READ command only matters when reading float
     * data as integers, which we never do.) */
    sf_command(r->sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);

    size_t n_in = (size_t)AUDIO_BLOCK * (size_t)in->channels;
    size_t n_out = (size_t)AUDIO_BLOCK * (size_t)r->channels;
    r->in_buf = malloc(n_in * sizeof(float));
    r->mix_buf = r->channels == in->channels ? r->in_buf : malloc(n_out * sizeof(float));
    if (r->rate != in->samplerate) r->out_buf = malloc(n_out * sizeof(float));
    if (!r->in_buf || !r->mix_buf || (r->rate != in->samplerate && !r->out_buf)) {
        *err = sn_fail(SONO_E_NOMEM, "%s: out of memory for audio buffers", r->name);
        sono_audio_close(r);
        return NULL;
    }
    if (r->rate != in->samplerate) {
        r->soxr = audio_make_soxr(in->samplerate, r->rate, r->channels, r->name, err);
        if (!r->soxr) { sono_audio_close(r); return NULL; }
    }
    return r;
}

static sono_audio_reader *reader_new(const char *name, int rate, int channels, int *err) {
    if (rate < 0 || rate > AUDIO_MAX_RATE) {
        *err = sn_fail(SONO_E_ARG, "%s: output rate %d Hz out of range (0 or 1..%d)", name, rate,
                         AUDIO_MAX_RATE);
        return NULL;
    }
    if (channels < 0 || channels > AUDIO_MAX_CHANNELS) {
        *err = sn_fail(SONO_E_ARG, "%s: %d output channels out of range (0 or 1..%d)", name,
                         channels, AUDIO_MAX_CHANNELS);
        return NULL;
    }
    sono_audio_reader *r = calloc(1, sizeof *r);
    if (!r) { *err = sn_fail(SONO_E_NOMEM, "%s: out of memory", name); return NULL; }
    audio_set_name(r->name, sizeof r->name, name);
    return r;
}

sono_audio_reader *sono_audio_open(const char *path, int rate, int channels, int *err) {
    int dummy;
    if (!err) err = &dummy;
    if (!path) { *err = sn_fail(SONO_E_ARG, "audio: NULL path"); return NULL; }
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        *err = e == ENOENT || e == ENOTDIR
            ? sn_fail(SONO_E_NOT_FOUND, "%s: no such file", path)
            : sn_fail(SONO_E_IO, "%s: %s", path, strerror(e));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) { *err = sn_fail(SONO_E_IO, "%s: is a directory", path); return NULL; }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        *err = sn_fail(SONO_E_EMPTY, "%s: empty file (0 bytes)", path);
        return NULL;
    }
    sono_audio_reader *r = reader_new(path, rate, channels, err);
    if (!r) return NULL;
    r->sf = sf_open(path, SFM_READ, &r->info);
    if (!r->sf) { *err = audio_open_fail(r->name, 1); sono_audio_close(r); return NULL; }
    return reader_setup(r, rate, channels, err);
}

sono_audio_reader *sono_audio_open_mem(const void *data, int64_t n_bytes, int rate, int channels,
                                       int *err) {
    int dummy;
    if (!err) err = &dummy;
    if (n_bytes < 0 || (!data && n_bytes > 0)) {
        *err = sn_fail(SONO_E_ARG, "<memory>: bad buffer (%lld bytes at %p)", (long long)n_bytes, data);
        return NULL;
    }
    if (n_bytes == 0) { *err = sn_fail(SONO_E_EMPTY, "<memory>: empty buffer"); return NULL; }
    sono_audio_reader *r = reader_new("<memory>", rate, channels, err);
    if (!r) return NULL;
    r->mem.data = data;
    r->mem.n_bytes = n_bytes;
    SF_VIRTUAL_IO vio = {mem_len, mem_seek, mem_read, mem_write, mem_tell};
    r->sf = sf_open_virtual(&vio, SFM_READ, &r->info, &r->mem);
    if (!r->sf) { *err = audio_open_fail(r->name, 0); sono_audio_close(r); return NULL; }
    return reader_setup(r, rate, channels, err);
}

int sono_audio_rate(const sono_audio_reader *r) { return r ? r->rate : 0; }
int sono_audio_channels(const sono_audio_reader *r) { return r ? r->channels : 0; }
int sono_audio_file_rate(const sono_audio_reader *r) { return r ? r->info.samplerate : 0; }
int sono_audio_file_channels(const sono_audio_reader *r) { return r ? r->info.channels : 0; }

/* From the header's frame count, which for MP3 is libsndfile's own estimate. */
int64_t sono_audio_length(const sono_audio_reader *r) {
    if (!r || r->info.frames <= 0 || r->info.frames == SF_COUNT_MAX) return -1;
    return audio_out_len(r->info.frames, r->info.samplerate, r->rate);
}

/* Map n interleaved frames of in (in_ch channels) to out (out_ch channels). */
static void audio_map_channels(float *out, int out_ch, const float *in, int in_ch, int64_t n) {
    if (out_ch == 1) {
        for (int64_t i = 0; i < n; i++) {
            float s = 0;
            for (int c = 0; c < in_ch; c++) s += in[i * in_ch + c];
            out[i] = s / (float)in_ch;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < out_ch; c++) out[i * out_ch + c] = in[i * in_ch + SONO_MIN(c, in_ch - 1)];
}

/* Decode one block into mix_buf. Returns frames (0 at the end) or an error.
 * A decoder error (corrupt or cut-off FLAC, Ogg, MP3 ...) is reported on the
 * call after the one that returns the frames decoded before it. */
static int64_t reader_decode(sono_audio_reader *r) {
    if (r->decode_failed)
        return sn_fail(SONO_E_FORMAT, "%s: decoding failed after %lld frames: %s", r->name,
                         (long long)r->n_in, audio_sf_message(r->sf));
    sf_count_t got = sf_readf_float(r->sf, r->in_buf, AUDIO_BLOCK);
    if (got < AUDIO_BLOCK && sf_error(r->sf) != SF_ERR_NO_ERROR) {
        r->decode_failed = 1;
        if (got <= 0) return reader_decode(r);
    }
    if (got <= 0) return 0;
    if (r->mix_buf != r->in_buf) audio_map_channels(r->mix_buf, r->channels, r->in_buf, r->info.channels, got);
    r->n_in += got;
    return got;
}

/* Make output pending, or set done. Returns 0 or an error. */
static int reader_refill(sono_audio_reader *r) {
    int64_t got;
    if (!r->soxr) {
        if ((got = reader_decode(r)) < 0) return (int)got;
        if (got == 0) { r->done = 1; return 0; }
        r->pend = r->mix_buf;
        r->n_pend = got;
        r->n_out += got;
        return 0;
    }
    for (;;) {
        if (!r->eof && r->mix_pos == r->mix_len) {
            if ((got = reader_decode(r)) < 0) return (int)got;
            r->mix_pos = 0;
            r->mix_len = got;
            if (got == 0) {
                r->eof = 1;
                r->target = audio_out_len(r->n_in, r->info.samplerate, r->rate);
                if (r->target < 0) return sn_fail(SONO_E_LIMIT, "%s: too long to resample", r->name);
            }
        }
        size_t idone = 0, odone = 0;
        soxr_error_t e;
        if (!r->eof)
            e = soxr_process(r->soxr, r->mix_buf + r->mix_pos * r->channels, (size_t)(r->mix_len - r->mix_pos),
                             &idone, r->out_buf, AUDIO_BLOCK, &odone);
        else
            e = soxr_process(r->soxr, NULL, 0, NULL, r->out_buf, AUDIO_BLOCK, &odone);
        if (e) return sn_fail(SONO_E_UNSUPPORTED, "%s: resampling failed: soxr: %s", r->name, e);
        if (!r->eof && idone == 0 && odone == 0)
            return sn_fail(SONO_E_UNSUPPORTED, "%s: resampler made no progress", r->name);
        r->mix_pos += (int64_t)idone;
        int64_t n = (int64_t)odone;
        if (r->eof) {
            int64_t left = SONO_MAX(r->target - r->n_out, 0);
            if (n > left) n = left;
            if (n == 0 && left > 0) { /* flush came up short: pad with silence */
                n = SONO_MIN(left, AUDIO_BLOCK);
                memset(r->out_buf, 0, (size_t)n * (size_t)r->channels * sizeof(float));
            }
            if (n == 0) { r->done = 1; return 0; }
        }
        if (n > 0) {
            r->pend = r->out_buf;
            r->n_pend = n;
            r->n_out += n;
            return 0;
        }
    }
}

int64_t sono_audio_read(sono_audio_reader *r, float *out, int64_t max_samples) {
    if (!r || (!out && max_samples > 0) || max_samples < 0)
        return sn_fail(SONO_E_ARG, "audio read: bad arguments (reader %p, out %p, max %lld)",
                         (void *)r, (void *)out, (long long)max_samples);
    if (r->err) return r->err;
    const int ch = r->channels;
    int64_t filled = 0;
    /* Fill the whole request unless the stream ends; pending frames are
     * de-interleaved straight into the caller's planar layout, channel c at
     * out[c * n + i] where n is the count returned. Since n is only known at
     * the end, frames go first at stride max_samples and are packed after. */
    while (filled < max_samples) {
        if (r->n_pend == 0) {
            if (r->done) break;
            int rc = reader_refill(r);
            if (rc < 0) {
                /* Hand out what this call already has; the error comes next time. */
                r->err = rc;
                if (filled == 0) return rc;
                break;
            }
            continue;
        }
        int64_t k = SONO_MIN(r->n_pend, max_samples - filled);
        for (int c = 0; c < ch; c++) {
            float *dst = out + (int64_t)c * max_samples + filled;
            const float *src = r->pend + c;
            for (int64_t i = 0; i < k; i++) dst[i] = src[i * ch];
        }
        r->pend += k * ch;
        r->n_pend -= k;
        filled += k;
    }
    if (filled < max_samples)
        for (int c = 1; c < ch; c++)
            memmove(out + (int64_t)c * filled, out + (int64_t)c * max_samples, (size_t)filled * sizeof(float));
    return filled;
}

int sono_audio_read_all(sono_audio_reader *r, float **out, int64_t *n_samples) {
    if (!r || !out || !n_samples)
        return sn_fail(SONO_E_ARG, "audio read_all: NULL argument");
    *out = NULL;
    *n_samples = 0;
    const size_t ch = (size_t)r->channels;
    /* Planar growth: buf holds ch channels of cap frames; after a grow the
     * channels are moved out to the new stride, last first. The header's
     * length sizes the first buffer, but only up to 64 MB: a header may lie. */
    int64_t guess = sono_audio_length(r);
    size_t cap = guess > 0 ? (size_t)SONO_MIN(guess + 1, ((int64_t)1 << 24) / (int64_t)ch) : (size_t)1 << 16;
    size_t n = 0;
    float *buf = NULL, *blk = malloc((size_t)AUDIO_BLOCK * ch * sizeof(float));
    size_t bytes;
    if (!blk || !sn_mul_ok(cap * ch, sizeof(float), &bytes) || !(buf = malloc(bytes))) {
        free(blk);
        return sn_fail(SONO_E_NOMEM, "%s: out of memory reading audio", r->name);
    }
    int64_t got;
    while ((got = sono_audio_read(r, blk, AUDIO_BLOCK)) > 0) {
        if (n + (size_t)got > cap) {
            size_t ncap = cap * 2;
            if (!sn_mul_ok(ncap * ch, sizeof(float), &bytes) || bytes > SONO_MAX_ALLOC) {
                free(buf); free(blk);
                return sn_fail(SONO_E_LIMIT, "%s: decoded audio beyond %zu bytes", r->name,
                                 (size_t)SONO_MAX_ALLOC);
            }
            float *nb = realloc(buf, bytes);
            if (!nb) {
                free(buf); free(blk);
                return sn_fail(SONO_E_NOMEM, "%s: out of memory reading audio", r->name);
            }
            buf = nb;
            for (size_t c = ch; c-- > 1;) memmove(buf + c * ncap, buf + c * cap, n * sizeof(float));
            cap = ncap;
        }
        for (size_t c = 0; c < ch; c++)
            memcpy(buf + c * cap + n, blk + c * (size_t)got, (size_t)got * sizeof(float));
        n += (size_t)got;
    }
    free(blk);
    if (got < 0) { free(buf); return (int)got; }
    if (n == 0) { free(buf); return sn_fail(SONO_E_EMPTY, "%s: no audio samples", r->name); }
    for (size_t c = 1; c < ch; c++) memmove(buf + c * n, buf + c * cap, n * sizeof(float));
    float *shrunk = realloc(buf, n * ch * sizeof(float));
    *out = shrunk ? shrunk : buf;
    *n_samples = (int64_t)n;
    return 0;
}

void sono_audio_close(sono_audio_reader *r) {
    if (!r) return;
    if (r->sf) sf_close(r->sf);
    soxr_delete(r->soxr);
    if (r->mix_buf != r->in_buf) free(r->mix_buf);
    free(r->in_buf);
    free(r->out_buf);
    free(r);
}

/* ---- writer ------------------------------------------------------------ */

struct sono_audio_writer {
    SNDFILE *sf;
    soxr_t soxr;           /* NULL when in_rate == out_rate */
    int in_rate, out_rate, channels;
    float *in_buf;         /* [AUDIO_BLOCK * channels] interleaved input */
    float *out_buf;        /* [AUDIO_BLOCK * channels] interleaved resampled */
    int64_t n_in, n_out;   /* frames given, frames written */
    int err;               /* sticky error, 0 if none */
    char name[256];
};

static const struct {
    const char *ext;
    int format;
    int clip; /* integer PCM: clip on the float -> int conversion */
} audio_write_formats[] = {
    {"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1},
    {"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1},
    {"ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0},
    {"opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 0},
};

static int audio_write_format(const char *ext) {
    for (size_t i = 0; i < sizeof audio_write_formats / sizeof audio_write_formats[0]; i++)
        if (!strcmp(ext, audio_write_formats[i].ext)) return (int)i;
    return -1;
}

int sono_audio_can_write(const char *ext) {
    if (!ext) return 0;
    char e[16];
    audio_lower_ext(ext, e, sizeof e);
    return audio_write_format(e) >= 0;
}

sono_audio_writer *sono_audio_create(const char *path, const char *format_ext, int in_rate,
                                     int out_rate, int channels, int *err) {
    int dummy;
    if (!err) err = &dummy;
    if (!path) { *err = sn_fail(SONO_E_ARG, "audio: NULL output path"); return NULL; }
    char ext[16];
    if (format_ext) audio_lower_ext(format_ext, ext, sizeof ext);
    else audio_path_ext(path, ext, sizeof ext);
    int fi = audio_write_format(ext);
    if (fi < 0) {
        const char *shown = format_ext ? (format_ext[0] == '.' ? format_ext + 1 : format_ext) : ext;
        *err = shown[0] ? sn_fail(SONO_E_ARG, "%s: cannot write .%s: use wav, flac, ogg or opus", path, shown)
                        : sn_fail(SONO_E_ARG, "%s: no file extension: use wav, flac, ogg or opus", path);
        return NULL;
    }
    if (channels < 1 || channels > AUDIO_MAX_CHANNELS) {
        *err = sn_fail(SONO_E_ARG, "%s: %d channels out of range (1..%d)", path, channels, AUDIO_MAX_CHANNELS);
        return NULL;
    }
    if (in_rate < 1 || in_rate > AUDIO_MAX_RATE || out_rate < 1 || out_rate > AUDIO_MAX_RATE) {
        *err = sn_fail(SONO_E_ARG, "%s: sample rates %d -> %d Hz out of range (1..%d)", path, in_rate,
                         out_rate, AUDIO_MAX_RATE);
        return NULL;
    }
    if (!strcmp(ext, "opus") && out_rate != 8000 && out_rate != 12000 && out_rate != 16000 &&
        out_rate != 24000 && out_rate != 48000) {
        *err = sn_fail(SONO_E_ARG, "%s: Opus cannot store %d Hz: use 8000, 12000, 16000, 24000 or 48000",
                         path, out_rate);
        return NULL;
    }
    SF_INFO info = {0};
    info.samplerate = out_rate;
    info.channels = channels;
    info.format = audio_write_formats[fi].format;
    if (!sf_format_check(&info)) {
        *err = sn_fail(SONO_E_ARG, "%s: .%s cannot hold %d channels at %d Hz", path, ext, channels, out_rate);
        return NULL;
    }

    sono_audio_writer *w = calloc(1, sizeof *w);
    if (!w) { *err = sn_fail(SONO_E_NOMEM, "%s: out of memory", path); return NULL; }
    audio_set_name(w->name, sizeof w->name, path);
    w->in_rate = in_rate;
    w->out_rate = out_rate;
    w->channels = channels;
    size_t nb = (size_t)AUDIO_BLOCK * (size_t)channels * sizeof(float);
    w->in_buf = malloc(nb);
    if (in_rate != out_rate) w->out_buf = malloc(nb);
    if (!w->in_buf || (in_rate != out_rate && !w->out_buf)) {
        *err = sn_fail(SONO_E_NOMEM, "%s: out of memory for audio buffers", path);
        sono_audio_writer_close(w);
        return NULL;
    }
    if (in_rate != out_rate && !(w->soxr = audio_make_soxr(in_rate, out_rate, channels, w->name, err))) {
        sono_audio_writer_close(w);
        return NULL;
    }
    w->sf = sf_open(path, SFM_WRITE, &info);
    if (!w->sf) {
        *err = sn_fail(SONO_E_IO, "%s: cannot create: %s", path, audio_sf_message(NULL));
        sono_audio_writer_close(w);
        return NULL;
    }
    if (audio_write_formats[fi].clip) sf_command(w->sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    *err = 0;
    return w;
}

static int writer_put(sono_audio_writer *w, const float *frames, int64_t n) {
    if (n <= 0) return 0;
    sf_count_t put = sf_writef_float(w->sf, frames, n);
    if (put != n)
        return sn_fail(SONO_E_IO, "%s: write failed after %lld frames: %s", w->name,
                         (long long)(w->n_out + (put > 0 ? put : 0)), audio_sf_message(w->sf));
    w->n_out += n;
    return 0;
}

/* Resample n interleaved frames (in == NULL: flush) and write the output,
 * never past the exact total once flushing. */
static int writer_resample(sono_audio_writer *w, const float *in, int64_t n) {
    int64_t target = -1;
    if (!in) {
        target = audio_out_len(w->n_in, w->in_rate, w->out_rate);
        if (target < 0) return sn_fail(SONO_E_LIMIT, "%s: too long to resample", w->name);
    }
    int64_t used = 0;
    for (;;) {
        size_t idone = 0, odone = 0;
        soxr_error_t e = in
            ? soxr_process(w->soxr, in + used * w->channels, (size_t)(n - used), &idone, w->out_buf, AUDIO_BLOCK, &odone)
            : soxr_process(w->soxr, NULL, 0, NULL, w->out_buf, AUDIO_BLOCK, &odone);
        if (e) return sn_fail(SONO_E_UNSUPPORTED, "%s: resampling failed: soxr: %s", w->name, e);
        used += (int64_t)idone;
        int64_t k = (int64_t)odone;
        if (!in) k = SONO_MIN(k, SONO_MAX(target - w->n_out, 0));
        int rc = writer_put(w, w->out_buf, k);
        if (rc) return rc;
        /* Input taken and soxr's output drained (a short block says so). */
        if (in && used == n && odone < AUDIO_BLOCK) return 0;
        if (in && idone == 0 && odone == 0)
            return sn_fail(SONO_E_UNSUPPORTED, "%s: resampler made no progress", w->name);
        if (!in && k == 0) break;
    }
    /* The flush came up short: pad with silence to the exact length. */
    memset(w->out_buf, 0, (size_t)AUDIO_BLOCK * (size_t)w->channels * sizeof(float));
    while (w->n_out < target) {
        int rc = writer_put(w, w->out_buf, SONO_MIN(target - w->n_out, AUDIO_BLOCK));
        if (rc) return rc;
    }
    return 0;
}

int sono_audio_write(sono_audio_writer *w, const float *planar, int64_t n_samples) {
    if (!w || (!planar && n_samples > 0) || n_samples < 0)
        return sn_fail(SONO_E_ARG, "audio write: bad arguments (writer %p, samples %p, n %lld)",
                         (void *)w, (const void *)planar, (long long)n_samples);
    if (w->err) return w->err;
    const int ch = w->channels;
    for (int64_t done = 0; done < n_samples;) {
        int64_t k = SONO_MIN(n_samples - done, AUDIO_BLOCK);
        for (int c = 0; c < ch; c++) {
            const float *src = planar + (int64_t)c * n_samples + done;
            for (int64_t i = 0; i < k; i++) w->in_buf[i * ch + c] = src[i];
        }
        int rc = w->soxr ? writer_resample(w, w->in_buf, k) : writer_put(w, w->in_buf, k);
        if (rc) { w->err = rc; return rc; }
        w->n_in += k;
        done += k;
    }
    return 0;
}

int sono_audio_writer_close(sono_audio_writer *w) {
    if (!w) return 0;
    int rc = w->err;
    if (!rc && w->soxr && w->sf) rc = writer_resample(w, NULL, 0);
    if (w->sf) {
        int e = sf_close(w->sf);
        if (e && !rc) rc = sn_fail(SONO_E_IO, "%s: finishing the file failed: %s", w->name, sf_error_number(e));
    }
    soxr_delete(w->soxr);
    free(w->in_buf);
    free(w->out_buf);
    free(w);
    return rc;
}
