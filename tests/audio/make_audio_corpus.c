/* Writes the seed corpus and the known-bad files for the audio fuzz target:
 *
 *   ninja -C build make-audio-corpus
 *   build/tests/audio/make-audio-corpus tests/fuzz/corpus/audio tests/fuzz/bad/audio
 *
 * Seeds are tiny valid files (each under 4 KB) in the formats libsndfile
 * reads, including edge cases that must still work (1 Hz, 768 kHz, 64
 * channels). Known-bad files are named CODE_description and must fail with
 * that code (see tests/fuzz/replay.c). Vorbis, Opus and MP3 output depends on
 * the encoder versions, so rerunning may change those bytes; that is fine. */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_dir;
static int g_fail;

static const char *in_dir(const char *dir, const char *name) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* n frames of a chirp-ish tone at amplitude 0.5 on every channel, with
 * libsndfile; prints the size and flags files of 4 KB or more. */
static void make(const char *name, int format, int rate, int ch, int n) {
    const char *path = in_dir(g_dir, name);
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = ch;
    info.format = format;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) { fprintf(stderr, "%s: %s\n", path, sf_strerror(NULL)); g_fail = 1; return; }
    float *x = calloc((size_t)n * (size_t)ch, sizeof(float));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < ch; c++) x[i * ch + c] = (float)(0.5 * sin(0.05 * i * (1 + 0.01 * i) + c));
    if (n && sf_writef_float(sf, x, n) != n) { fprintf(stderr, "%s: %s\n", path, sf_strerror(sf)); g_fail = 1; }
    sf_close(sf);
    free(x);
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f) { fseek(f, 0, SEEK_END); size = ftell(f); fclose(f); }
    printf("%-40s %6ld bytes\n", path, size);
    if (size >= 4096) { fprintf(stderr, "%s: %ld bytes, over 4 KB\n", path, size); g_fail = 1; }
}

static void put(const char *name, const void *data, size_t n) {
    const char *path = in_dir(g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) { fprintf(stderr, "cannot write %s\n", path); g_fail = 1; }
    if (f) fclose(f);
    printf("%-40s %6zu bytes\n", path, n);
}

static void le16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *p, unsigned long v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A canonical 44-byte PCM WAV header followed by data_bytes of a ramp. */
static size_t wav(unsigned char *buf, unsigned ch, unsigned long rate, unsigned bits, unsigned long data_bytes) {
    memcpy(buf, "RIFF", 4);
    le32(buf + 4, 36 + data_bytes);
    memcpy(buf + 8, "WAVEfmt ", 8);
    le32(buf + 16, 16);
    le16(buf + 20, 1);
    le16(buf + 22, ch);
    le32(buf + 24, rate);
    le32(buf + 28, rate * ch * bits / 8);
    le16(buf + 32, ch * bits / 8);
    le16(buf + 34, bits);
    memcpy(buf + 36, "data", 4);
    le32(buf + 40, data_bytes);
    for (unsigned long i = 0; i < data_bytes; i++) buf[44 + i] = (unsigned char)(i * 7);
    return 44 + data_bytes;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CORPUS_DIR BAD_DIR\n", argv[0]);
        return 1;
    }
    g_dir = argv[1];
    make("pcm16_mono_24k.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24000, 1, 300);
    make("u8_stereo_8k.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8000, 2, 500);
    make("float_mono_48k.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, 400);
    make("pcm24_stereo_44k.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_24, 44100, 2, 300);
    make("ima_adpcm_16k.wav", SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM, 16000, 1, 1000);
    make("pcm24_stereo_44k.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 44100, 2, 300);
    make("ulaw_8k.au", SF_FORMAT_AU | SF_FORMAT_ULAW, 8000, 1, 1000);
    make("float_3ch_32k.aiff", SF_FORMAT_AIFF | SF_FORMAT_FLOAT, 32000, 3, 100);
    make("double_mono_22k.w64", SF_FORMAT_W64 | SF_FORMAT_DOUBLE, 22050, 1, 200);
    make("pcm16_mono_16k.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, 1500);
    make("pcm24_stereo_44k.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 44100, 2, 500);
    make("vorbis_mono_24k.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 24000, 1, 500);
    make("opus_mono_48k.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 1, 2000);
    make("opus_stereo_16k.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 16000, 2, 800);
    make("mp3_mono_24k.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 24000, 1, 1500);
    make("pcm16_mono_1hz.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 1, 20);
    make("pcm16_mono_768k.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 768000, 1, 1000);
    make("pcm16_64ch_24k.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24000, 64, 20);
    make("one_frame.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 1);
    make("alac_mono_44k.caf", SF_FORMAT_CAF | SF_FORMAT_ALAC_16, 44100, 1, 600);
    make("pcm16_stereo_48k.rf64", SF_FORMAT_RF64 | SF_FORMAT_PCM_16, 48000, 2, 200);
    make("gsm_8k.wav", SF_FORMAT_WAV | SF_FORMAT_GSM610, 8000, 1, 800);
    make("ms_adpcm_stereo_22k.wav", SF_FORMAT_WAV | SF_FORMAT_MS_ADPCM, 22050, 2, 600);
    make("g721_8k.au", SF_FORMAT_AU | SF_FORMAT_G721_32, 8000, 1, 1000);
    make("dwvw16_16k.aiff", SF_FORMAT_AIFF | SF_FORMAT_DWVW_16, 16000, 1, 600);
    make("pcm16_16k.nist", SF_FORMAT_NIST | SF_FORMAT_PCM_16, 16000, 1, 300);
    make("u8_8k.voc", SF_FORMAT_VOC | SF_FORMAT_PCM_U8, 8000, 1, 600);
    unsigned char buf[4096];
    /* header claims more data than the file holds: libsndfile reads what is there */
    size_t n = wav(buf, 1, 24000, 16, 400);
    le32(buf + 40, 100000);
    put("data_size_too_big.wav", buf, n);
    /* 13-bit samples in 16-bit containers: legal, libsndfile reads them */
    n = wav(buf, 1, 24000, 13, 200);
    put("pcm13_mono_24k.wav", buf, n);

    g_dir = argv[2];
    const char *text = "This is a text file, not audio.\n";
    put("FORMAT_text.wav", text, strlen(text));
    make("EMPTY_zero_frames.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24000, 1, 0);
    make("EMPTY_zero_frames.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 24000, 1, 0);
    put("EMPTY_zero_bytes.wav", "", 0);
    n = wav(buf, 1, 24000, 16, 200);
    put("FORMAT_truncated_header.wav", buf, 20);
    put("FORMAT_truncated_fmt_chunk.wav", buf, 30);
    n = wav(buf, 100, 24000, 16, 2000);
    put("LIMIT_channels_100.wav", buf, n);
    n = wav(buf, 1, 1000000, 16, 200);
    put("LIMIT_rate_1000000.wav", buf, n);
    n = wav(buf, 1, 0, 16, 200);
    put("FORMAT_rate_zero.wav", buf, n);
    n = wav(buf, 0, 24000, 16, 200);
    put("FORMAT_channels_zero.wav", buf, n);
    unsigned long s = 12345;
    for (size_t i = 0; i < 2000; i++) { s = s * 6364136223846793005ul + 1442695040888963407ul; buf[i] = (unsigned char)(s >> 56); }
    put("FORMAT_random_bytes.bin", buf, 2000);
    /* a good FLAC cut short: the decoder loses sync part way */
    FILE *f = fopen(in_dir(argv[1], "pcm16_mono_16k.flac"), "rb");
    n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    if (n) put("FORMAT_flac_cut_short.flac", buf, n * 6 / 10);
    else { fprintf(stderr, "cannot read back pcm16_mono_16k.flac\n"); g_fail = 1; }
    s = 12345;
    for (size_t i = 0; i < 2000; i++) { s = s * 6364136223846793005ul + 1442695040888963407ul; buf[i] = (unsigned char)(s >> 56); }
    memcpy(buf, "fLaC", 4);
    put("FORMAT_flac_magic_then_noise.flac", buf, 600);
    memcpy(buf, "OggS", 4);
    put("FORMAT_ogg_magic_then_noise.ogg", buf, 600);
    return g_fail;
}
