/* Makes the inputs the CLI test needs, so it runs with nothing but sh:
 *
 *   cli-fixture wav PATH SECONDS RATE CHANNELS [FREQ]  16-bit PCM WAV (SECONDS 0: no samples)
 *   cli-fixture npy PATH DESCR NQ NFRAMES MAXCODE [BAD] .npy of dtype DESCR ('<i8', '<f4', ...);
 *                                                     codes below MAXCODE, [0][0] = BAD if given
 *   cli-fixture tok PATH NFRAMES [SEED]                 token file of a fake model "cli-test-fake"
 *   cli-fixture archive PATH NAME...                    archive of fake token files, one per NAME
 *   cli-fixture flip PATH OFFSET                        invert one byte (OFFSET < 0: from the end)
 *   cli-fixture truncate PATH NBYTES                    drop the last NBYTES
 *   cli-fixture damage ARCHIVE NAME                     invert a byte inside entry NAME's data
 *   cli-fixture samples PATH                            print samples per channel, rate, channels
 *
 * Exit status 0 on success, 1 on failure (with a message). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonotok/sonotok.h"

static int die(const char *msg, const char *arg) {
    fprintf(stderr, "cli-fixture: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 1;
}

static void le16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static int write_all(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return die("cannot create", path);
    int ok = fwrite(buf, 1, n, f) == n;
    ok &= fclose(f) == 0;
    return ok ? 0 : die("cannot write", path);
}

static int read_all(const char *path, uint8_t **buf, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return die("cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(len > 0 ? (size_t)len : 1);
    *n = len > 0 ? (size_t)len : 0;
    int ok = *buf && fread(*buf, 1, *n, f) == *n;
    fclose(f);
    return ok ? 0 : die("cannot read", path);
}

static int cmd_wav(int argc, char **argv) {
    if (argc < 6) return die("usage: wav PATH SECONDS RATE CHANNELS [FREQ]", NULL);
    double secs = atof(argv[3]), freq = argc > 6 ? atof(argv[6]) : 440;
    int rate = atoi(argv[4]), ch = atoi(argv[5]);
    uint32_t frames = (uint32_t)llround(secs * rate);
    size_t data = (size_t)frames * (size_t)ch * 2;
    uint8_t *b = calloc(44 + data, 1);
    if (!b) return die("out of memory", NULL);
    memcpy(b, "RIFF", 4);
    le32(b + 4, (uint32_t)(36 + data));
    memcpy(b + 8, "WAVEfmt ", 8);
    le32(b + 16, 16);
    le16(b + 20, 1);
    le16(b + 22, (uint32_t)ch);
    le32(b + 24, (uint32_t)rate);
    le32(b + 28, (uint32_t)(rate * ch * 2));
    le16(b + 32, (uint32_t)(ch * 2));
    le16(b + 34, 16);
    memcpy(b + 36, "data", 4);
    le32(b + 40, (uint32_t)data);
    for (uint32_t i = 0; i < frames; i++)
        for (int c = 0; c < ch; c++) {
            double v = 0.3 * sin(6.283185307179586 * freq * (c + 1) * i / rate) + 0.1 * sin(0.001 * i * i / rate);
            le16(b + 44 + ((size_t)i * ch + c) * 2, (uint16_t)(int16_t)lrint(v * 32767));
        }
    int rc = write_all(argv[2], b, 44 + data);
    free(b);
    return rc;
}

static int cmd_npy(int argc, char **argv) {
    if (argc < 7) return die("usage: npy PATH DESCR NQ NFRAMES MAXCODE [BAD]", NULL);
    const char *descr = argv[3];
    int n_q = atoi(argv[4]);
    long n_frames = atol(argv[5]), maxcode = atol(argv[6]);
    int fl = descr[1] == 'f';
    int size = atoi(descr + 2);
    if (size != 1 && size != 2 && size != 4 && size != 8) return die("bad descr", descr);
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %ld), }", descr,
                      n_q, n_frames);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    size_t n = (size_t)n_q * (size_t)n_frames;
    size_t nbytes = (size_t)total + (size_t)pad + n * (size_t)size;
    uint8_t *b = calloc(nbytes, 1);
    if (!b) return die("out of memory", NULL);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    le16(b + 8, (uint32_t)(hl + pad + 1));
    memcpy(b + 10, hdr, (size_t)hl);
    memset(b + 10 + hl, ' ', (size_t)pad);
    b[10 + hl + pad] = '\n';
    uint8_t *d = b + total + pad;
    for (size_t i = 0; i < n; i++) {
        long v = maxcode > 0 ? (long)((i * 7 + i / (size_t)n_frames * 31) % (size_t)maxcode) : 0;
        if (i == 0 && argc > 7) v = atol(argv[7]);
        if (fl && size == 4) {
            float f = (float)v;
            memcpy(d + i * 4, &f, 4);
        } else if (fl && size == 8) {
            double f = (double)v;
            memcpy(d + i * 8, &f, 8);
        } else {
            for (int k = 0; k < size; k++) d[i * (size_t)size + (size_t)k] = (uint8_t)((uint64_t)v >> (8 * k));
        }
    }
    int rc = write_all(argv[2], b, nbytes);
    free(b);
    return rc;
}

/* A token set of the fake model: 24 kHz mono, hop 320, 4 codebooks of 1024. */
static sono_tokens *fake_tokens(int64_t n_frames, unsigned seed) {
    sono_tokens *t = sono_tokens_alloc(4, n_frames, 1, 0);
    if (!t) return NULL;
    snprintf(t->model_name, sizeof t->model_name, "%s", "cli-test-fake");
    for (int i = 0; i < 16; i++) t->model_hash[i] = (uint8_t)(0xA5 ^ i);
    t->sample_rate = 24000;
    t->channels = 1;
    t->hop = 320;
    t->n_q = 4;
    t->codebook_size = 1024;
    t->n_frames = n_frames;
    t->n_samples = n_frames * 320;
    t->n_segments = 1;
    t->segment_frames = 0;
    uint32_t s = seed * 2654435761u + 12345;
    for (int64_t i = 0; i < 4 * n_frames; i++) {
        s = s * 1664525u + 1013904223u;
        t->codes[i] = (int32_t)((s >> 8) % 1024);
    }
    return t;
}

static int encode_fake(int64_t n_frames, unsigned seed, uint8_t **buf, size_t *n) {
    sono_tokens *t = fake_tokens(n_frames, seed);
    if (!t) return die("out of memory", NULL);
    int rc = sono_tokens_encode(t, buf, n);
    sono_tokens_free(t);
    if (rc < 0) return die("sono_tokens_encode failed", sono_last_error());
    return 0;
}

static int cmd_tok(int argc, char **argv) {
    if (argc < 4) return die("usage: tok PATH NFRAMES [SEED]", NULL);
    uint8_t *buf;
    size_t n;
    if (encode_fake(atol(argv[3]), argc > 4 ? (unsigned)atoi(argv[4]) : 1, &buf, &n)) return 1;
    int rc = write_all(argv[2], buf, n);
    free(buf);
    return rc;
}

static int cmd_archive(int argc, char **argv) {
    if (argc < 4) return die("usage: archive PATH NAME...", NULL);
    int err = 0;
    sono_archive_writer *w = sono_archive_create(argv[2], &err);
    if (!w) return die("sono_archive_create failed", sono_last_error());
    for (int i = 3; i < argc; i++) {
        uint8_t *buf;
        size_t n;
        unsigned seed = 0;
        for (const char *p = argv[i]; *p; p++) seed = seed * 31 + (unsigned char)*p;
        if (encode_fake(20 + i * 3, seed, &buf, &n)) {
            sono_archive_abort(w);
            return 1;
        }
        int rc = sono_archive_add(w, argv[i], buf, n);
        free(buf);
        if (rc < 0) {
            sono_archive_abort(w);
            return die("sono_archive_add failed", sono_last_error());
        }
    }
    if (sono_archive_commit(w) < 0) return die("sono_archive_commit failed", sono_last_error());
    return 0;
}

static int cmd_flip(int argc, char **argv, int truncate) {
    if (argc < 4) return die("usage: flip|truncate PATH N", NULL);
    uint8_t *b;
    size_t n;
    if (read_all(argv[2], &b, &n)) return 1;
    long v = atol(argv[3]);
    int rc;
    if (truncate) {
        rc = (size_t)v > n ? die("file too short", argv[2]) : write_all(argv[2], b, n - (size_t)v);
    } else {
        long off = v < 0 ? (long)n + v : v;
        if (off < 0 || (size_t)off >= n) rc = die("offset outside the file", argv[3]);
        else {
            b[off] ^= 0xFF;
            rc = write_all(argv[2], b, n);
        }
    }
    free(b);
    return rc;
}

static int cmd_damage(int argc, char **argv) {
    if (argc < 4) return die("usage: damage ARCHIVE NAME", NULL);
    int err = 0;
    sono_archive *a = sono_archive_open(argv[2], &err);
    if (!a) return die("sono_archive_open failed", sono_last_error());
    int i = sono_archive_find(a, argv[3]);
    uint8_t *entry = NULL;
    size_t n_entry = 0;
    int rc = i < 0 ? -1 : sono_archive_read(a, i, &entry, &n_entry);
    sono_archive_close(a);
    if (rc < 0) return die("cannot read entry", argv[3]);
    uint8_t *b;
    size_t n;
    if (read_all(argv[2], &b, &n)) return 1;
    uint8_t *at = n_entry ? memmem(b, n, entry, n_entry) : NULL;
    if (!at) {
        free(b);
        free(entry);
        return die("entry bytes not stored verbatim; cannot damage", argv[3]);
    }
    at[n_entry / 2] ^= 0xFF;
    rc = write_all(argv[2], b, n);
    free(b);
    free(entry);
    return rc;
}

static int cmd_samples(int argc, char **argv) {
    if (argc < 3) return die("usage: samples PATH", NULL);
    int err = 0;
    sono_audio_reader *r = sono_audio_open(argv[2], 0, 0, &err);
    if (!r) return die("cannot open audio", sono_last_error());
    float *pcm;
    int64_t n;
    int rc = sono_audio_read_all(r, &pcm, &n);
    if (rc < 0) {
        sono_audio_close(r);
        return die("cannot read audio", sono_last_error());
    }
    printf("%lld %d %d\n", (long long)n, sono_audio_rate(r), sono_audio_channels(r));
    free(pcm);
    sono_audio_close(r);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return die("usage: cli-fixture wav|npy|tok|archive|flip|truncate|damage|samples ...", NULL);
    const char *c = argv[1];
    if (!strcmp(c, "wav")) return cmd_wav(argc, argv);
    if (!strcmp(c, "npy")) return cmd_npy(argc, argv);
    if (!strcmp(c, "tok")) return cmd_tok(argc, argv);
    if (!strcmp(c, "archive")) return cmd_archive(argc, argv);
    if (!strcmp(c, "flip")) return cmd_flip(argc, argv, 0);
    if (!strcmp(c, "truncate")) return cmd_flip(argc, argv, 1);
    if (!strcmp(c, "damage")) return cmd_damage(argc, argv);
    if (!strcmp(c, "samples")) return cmd_samples(argc, argv);
    return die("unknown command", c);
}
