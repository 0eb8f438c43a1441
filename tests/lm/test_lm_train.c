/* LM training (lm/train/) and the LM file (lm/lm_file.c) on a tiny codec
 * and a few generated clips (written with a manifest to a temporary folder):
 *
 *   file     save/load round trip (every parameter bit for bit, config,
 *            tokenizer bytes, layout, codec identity); another codec
 *            refused naming both; truncated, corrupt, wrong-format and
 *            inconsistent files refused
 *   shards   built once, reused, rebuilt when the manifest, the codebook
 *            count or the codec change; codes equal the codec's own
 *            encoding of each clip; corrupt shard files refused by the
 *            reader and rebuilt by the opener
 *   learn    LEARN_STEPS steps lower the training loss by LEARN_FACTOR
 *            (mean of the last 10 steps against the first 5)
 *   resume   8 steps equal 4 steps, a checkpoint, a resumed trainer and 4
 *            more (parameters and both Adam moments bit for bit), and equal
 *            the same run on 2 threads; resuming with another codec fails
 *   tts-seq  the ELLA-V sequence and targets of a hand-built 3-phoneme
 *            clip (written out by hand here), and the span fixes
 *   tts-file an LM file with phonemes and conditions: round trip, another
 *            phoneme inventory or a broken condition list refused
 *   tts-train a manifest with TTS records: parsed (broken records refused
 *            naming the line), shards round-trip, the run's conditions,
 *            a few steps, export and resume keep them
 *   seeds DIR  write the fuzz corpus and known-bad files of fuzz-lmfile
 *
 *   test-lm-train MODE */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test_util.h"
#include "checkpoint.h"
#include "lm_file.h"
#include "lm_shards.h"
#include "lm_tts_seq.h"
#include "sonotok/phonemes.h"
#include "sono_internal.h"
#include "sonotok/audio.h"
#include "sonotok/codec.h"
#include "sonotok/output.h"
#include "tensors.h"
#define SONOTOK_TRAIN_UNSTABLE
#include "sonotok/train.h"

#define LEARN_STEPS 120
#define LEARN_FACTOR 2.0

static char g_dir[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

static int write_clip(const char *name, double seconds, double freq) {
    char p[512];
    path_in(p, sizeof p, name);
    int n = (int)(seconds * 8000);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        double ph = 2 * M_PI * freq * i / 8000.0;
        x[i] = (float)(0.3 * sin(ph) + 0.1 * sin(2 * ph + 0.5)) + tu_uniform(-0.01f, 0.01f);
    }
    int err = 0;
    sono_audio_writer *w = sono_audio_create(p, "wav", 8000, 8000, 1, &err);
    if (w) err = sono_audio_write(w, x, n);
    int e2 = w ? sono_audio_writer_close(w) : 0;
    free(x);
    return err ? err : e2;
}

static const char *manifest_lines[] = {
    "{\"path\":\"c0.wav\",\"category\":\"speech\",\"duration\":1.0,\"text\":\"hello there\"}",
    "{\"path\":\"c1.wav\",\"category\":\"music\",\"duration\":1.0,\"text\":\"a low tone on a piano\"}",
    "{\"path\":\"c2.wav\",\"category\":\"effects\",\"duration\":1.0,\"caption\":\"a high beep\"}",
    "{\"path\":\"c3.wav\",\"category\":\"music\",\"duration\":1.0}",
    "{\"path\":\"c4.wav\",\"category\":\"effects\",\"duration\":0.5,\"caption\":\"a short whistle\"}",
};

static void write_manifest(const char *name, int n_lines) {
    char p[512];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < n_lines; i++) fprintf(f, "%s\n", manifest_lines[i]);
    fclose(f);
}

/* A tiny codec (8 kHz, hop 8, 4 codebooks of 32) initialised from the clips
 * by the codec trainer, exported as name; seed changes its weights. */
static int make_codec(const char *name, uint64_t seed) {
    int err = 0;
    sono_codec_config *cfg = sono_codec_config_default(&err);
    if (!cfg) return err;
    double v, r[2] = {4, 2}, bw[3] = {5, 10, 20};
    v = 8000; sono_codec_config_set(cfg, "sample_rate", &v, 1);
    v = 2; sono_codec_config_set(cfg, "n_filters", &v, 1);
    v = 8; sono_codec_config_set(cfg, "dimension", &v, 1);
    v = 4; sono_codec_config_set(cfg, "n_q", &v, 1);
    v = 32; sono_codec_config_set(cfg, "codebook_size", &v, 1);
    sono_codec_config_set(cfg, "ratios", r, 2);
    sono_codec_config_set(cfg, "bandwidths", bw, 3);
    char man[512], out[512];
    path_in(man, sizeof man, "m4.jsonl");
    path_in(out, sizeof out, name);
    sono_codec_train_params p = sono_codec_train_default_params();
    p.manifest = man;
    p.n_threads = 1;
    p.batch = 2;
    p.seed = seed;
    sono_codec_trainer *t = sono_codec_trainer_new(cfg, &p, &err);
    if (t) err = sono_codec_trainer_export(t, out, 0);
    sono_codec_trainer_free(t);
    sono_codec_config_free(cfg);
    return err;
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "%s/sonotok-lmtrain-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); exit(1); }
    const double f[5] = {220, 330, 1200, 440, 2000}, s[5] = {1, 1, 1, 1, 0.5};
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "c%d.wav", i);
        if (write_clip(name, s[i], f[i])) { fprintf(stderr, "cannot write %s\n", name); exit(1); }
    }
    write_manifest("m4.jsonl", 4);
    write_manifest("m5.jsonl", 5);
    if (make_codec("codec.safetensors", 1) || make_codec("codec2.safetensors", 2)) {
        fprintf(stderr, "cannot make the test codec: %s\n", sono_last_error());
        exit(1);
    }
}

static void teardown(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", g_dir);
}

static sono_lm_train_params tiny_params(const char *run) {
    static char man[512], shards[512], codec[512];
    path_in(man, sizeof man, "m4.jsonl");
    path_in(codec, sizeof codec, "codec.safetensors");
    snprintf(shards, sizeof shards, "%s/%s.shard", g_dir, run);
    sono_lm_train_params p = sono_lm_train_default_params();
    p.manifest = man;
    p.shards = shards;
    p.codec = codec;
    p.tokenizer_vocab = 300;
    p.n_layer = 2; p.width = 32; p.n_head = 2; p.context = 64;
    p.batch = 4;
    p.n_threads = 1;   /* one thread: a busy or sanitizer build spins no waiting OpenMP worker */
    p.steps = 200;
    p.warmup = 10;
    p.lr = 3e-3f; p.lr_min = 3e-4f;
    p.seed = 7;
    return p;
}

/* ---- LM file ---- */

static sono_tokenizer *small_tokenizer(void) {
    sono_bpe_train_params bp = sono_bpe_train_default_params();
    bp.n_vocab = 290;
    int err;
    sono_bpe_trainer *bt = sono_bpe_trainer_new(&bp, &err);
    const char *txt = "a dog barks a dog barks a cat a cat meows the the the";
    sono_bpe_trainer_add_text(bt, txt, strlen(txt));
    sono_tokenizer *tok = sono_bpe_trainer_finish(bt, &err);
    sono_bpe_trainer_free(bt);
    return tok;
}

static sn_lm *small_model(const sono_tokenizer *tok, int K, int cb, int C, int T) {
    sn_lm_config c = sn_lm_config_default();
    c.V_text = sono_tokenizer_n_vocab(tok);
    c.K = K; c.codebook_size = cb; c.C = C; c.n_layer = 1; c.n_head = 2; c.T_max = T;
    sn_lm *m = NULL;
    if (sn_lm_new(&c, &m)) return NULL;
    sn_lm_init_params(m, 3);
    return m;
}

static int read_bytes(const char *path, uint8_t **buf, size_t *n) { return sn_read_file(path, 1 << 30, buf, n); }

static int load_mem(const uint8_t *b, size_t n) {
    int err = 0;
    sono_lm *lm = sono_lm_from_bytes(b, n, &err);
    sono_lm_free(lm);
    return lm ? 0 : err;
}

static int test_file(void) {
    sono_tokenizer *tok = small_tokenizer();
    sn_lm *m = tok ? small_model(tok, 3, 16, 16, 32) : NULL;
    CHECK(m != NULL);
    if (!m) return 1;
    sn_lm_codec_id id = {.name = "tiny-codec", .frame_rate = 75.0};
    for (int i = 0; i < 16; i++) id.hash[i] = (uint8_t)(i * 17 + 1);
    char path[512];
    path_in(path, sizeof path, "lm.safetensors");
    CHECK(sn_lm_file_save(path, "lm", m, tok, &id) == 0);
    int err = 0;
    sono_lm *lm = sono_lm_load(path, &err);
    CHECK_MSG(lm != NULL, "load: %s", sono_last_error());
    if (lm) {
        CHECK(!strcmp(sono_lm_name(lm), "lm") && !strcmp(sono_lm_codec_name(lm), "tiny-codec"));
        CHECK(sono_lm_n_codebooks(lm) == 3 && sono_lm_codebook_size(lm) == 16 && sono_lm_context(lm) == 32);
        CHECK(sono_lm_width(lm) == 16 && sono_lm_n_layers(lm) == 1 && sono_lm_n_heads(lm) == 2);
        CHECK(sono_lm_n_params(lm) == (int64_t)m->n_params);
        CHECK(sono_lm_frame_rate(lm) == 75.0);
        CHECK(!memcmp(lm->m->params, m->params, sizeof(float) * m->n_params));
        sono_vocab_layout l;
        sono_lm_vocab_layout(lm, &l);
        CHECK(l.n_codebooks == 3 && l.codebook_size == 16 && l.n_special + l.n_text == sono_tokenizer_n_vocab(tok));
        CHECK(sono_tokenizer_hash(sono_lm_tokenizer(lm)) == sono_tokenizer_hash(tok));
        uint8_t h[16];
        sono_lm_codec_hash(lm, h);
        CHECK(!memcmp(h, id.hash, 16));
        CHECK(sono_lm_check_codec(lm, "tiny-codec", id.hash) == 0);
        h[5] ^= 1;
        CHECK(sono_lm_check_codec(lm, "tiny-codec", h) == SONO_E_MODEL_MISMATCH);
        CHECK(sono_lm_check_codec(lm, "other-codec", id.hash) == SONO_E_MODEL_MISMATCH);
        const char *msg = sono_last_error();
        CHECK_MSG(strstr(msg, "tiny-codec") && strstr(msg, "other-codec") && !strchr(msg, '\n'), "message: %s", msg);
        /* a codec by its two hashes: the LM may record either (its codes hash,
         * or the full hash LM files made before the codes hash record) */
        CHECK(sono_lm_check_codec_hashes(lm, "tiny-codec", id.hash, h) == 0);
        CHECK(sono_lm_check_codec_hashes(lm, "tiny-codec", h, id.hash) == 0);
        CHECK(sono_lm_check_codec_hashes(lm, "tiny-codec", h, h) == SONO_E_MODEL_MISMATCH);
        CHECK(sono_lm_check_codec_hashes(lm, "other-codec", id.hash, id.hash) == SONO_E_MODEL_MISMATCH);
        msg = sono_last_error();
        CHECK_MSG(strstr(msg, "tiny-codec") && strstr(msg, "other-codec") && !strchr(msg, '\n'), "message: %s", msg);
        sono_lm_free(lm);
    }
    sono_lm_free(NULL);
    /* damaged copies */
    uint8_t *b = NULL;
    size_t n = 0;
    CHECK(read_bytes(path, &b, &n) == 0);
    CHECK(load_mem(b, n) == 0);
    const size_t cuts[] = {0, 7, 8, 100, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) CHECK_MSG(load_mem(b, cuts[i]) < 0, "cut at %zu loads", cuts[i]);
    uint8_t *c = malloc(n);
    const char *keys[] = {"sonotok-lm", "\"vocab\"", "\"config\"", "\"tokenizer\"", "\"codec_hash\"", "\"frame_rate\"",
                          "\\\"K\\\""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        memcpy(c, b, n);
        uint8_t *at = memmem(c, n, keys[i], strlen(keys[i]));
        CHECK_MSG(at != NULL, "key %s not in the file", keys[i]);
        if (!at) continue;
        at[2] ^= 0x20; /* renames the key (or the format) */
        err = load_mem(c, n);
        CHECK_MSG(err == SONO_E_FORMAT, "damaged %s: %d (%s)", keys[i], err, sono_last_error());
    }
    /* a tokenizer byte changed: the embedded tokenizer's checksum fails */
    memcpy(c, b, n);
    uint8_t *tk = memmem(c, n, "\"tokenizer\":\"", 13);
    if (tk) tk[13 + 40] = tk[13 + 40] == 'A' ? 'B' : 'A';
    CHECK(tk && load_mem(c, n) < 0);
    /* a parameter non-finite */
    memcpy(c, b, n);
    memset(c + n - 4, 0xff, 4);
    CHECK(load_mem(c, n) == SONO_E_FORMAT);
    free(c);
    free(b);
    /* a codec file is not an LM file; nor is a missing one */
    char cpath[512];
    path_in(cpath, sizeof cpath, "codec.safetensors");
    lm = sono_lm_load(cpath, &err);
    CHECK(!lm && err == SONO_E_FORMAT && strstr(sono_last_error(), "not an LM file"));
    path_in(cpath, sizeof cpath, "missing.safetensors");
    lm = sono_lm_load(cpath, &err);
    CHECK(!lm && err == SONO_E_NOT_FOUND);
    /* a tensor missing: the same metadata over one tensor fewer */
    sono_tensors *ts = NULL;
    CHECK(sn_safetensors_load(path, &ts) == 0);
    if (ts) {
        ts->n--;
        char p2[512];
        path_in(p2, sizeof p2, "lm-short.safetensors");
        CHECK(sn_safetensors_save(p2, ts, ts->metadata, 0) == 0);
        ts->n++;
        lm = sono_lm_load(p2, &err);
        CHECK(!lm && err == SONO_E_FORMAT);
        sn_tensors_free(ts);
    }
    sn_lm_free(m);
    sono_tokenizer_free(tok);
    return tu_finish("lm-file");
}

/* ---- shards ---- */

static int test_shards(void) {
    int err = 0;
    char codec_path[512], codec2_path[512], sh[512], m4[512], m5[512];
    path_in(codec_path, sizeof codec_path, "codec.safetensors");
    path_in(codec2_path, sizeof codec2_path, "codec2.safetensors");
    path_in(sh, sizeof sh, "t.shard");
    path_in(m4, sizeof m4, "m4.jsonl");
    path_in(m5, sizeof m5, "m5.jsonl");
    sono_codec *codec = sono_codec_load(codec_path, NULL, &err), *codec2 = sono_codec_load(codec2_path, NULL, &err);
    CHECK(codec && codec2);
    if (!codec || !codec2) return tu_finish("lm-shards");
    sn_lm_manifest *man4 = NULL, *man5 = NULL;
    CHECK(sn_lm_manifest_read(m4, &man4) == 0 && sn_lm_manifest_read(m5, &man5) == 0);
    CHECK(man4->n == 4 && man5->n == 5);
    CHECK(man4->caption[0] == NULL);                             /* speech text is a transcript, not a caption */
    CHECK(man4->caption[1] && !strcmp(man4->caption[1], "a low tone on a piano"));
    CHECK(man4->caption[2] && !strcmp(man4->caption[2], "a high beep") && man4->caption[3] == NULL);
    sn_lm_shards *s = NULL;
    int built = -1;
    CHECK(sn_lm_shards_open(&s, sh, man4, codec, 4, 1, &built) == 0 && built == 1);
    if (s) {
        CHECK(s->K == 4 && s->n_entries == 4 && s->codebook_size == 32);
        /* the codes are the codec's encoding of each clip */
        for (int i = 0; i < 4; i++) {
            sono_audio_reader *r = sono_audio_open(man4->path[i], 8000, 1, &err);
            float *pcm = NULL;
            int64_t n = 0;
            if (r) sono_audio_read_all(r, &pcm, &n);
            sono_audio_close(r);
            sono_tokens *t = NULL;
            CHECK(pcm && sono_codec_encode(codec, pcm, n, 4, &t) == 0);
            CHECK(t && s->entries[i].n_frames == (uint32_t)t->n_frames);
            int same = t != NULL;
            for (int64_t j = 0; same && j < 4 * t->n_frames; j++) same = s->codes[s->entries[i].offset + j] == t->codes[j];
            CHECK_MSG(same, "clip %d: shard codes differ from the codec's", i);
            CHECK((int)s->entries[i].category == man4->category[i]);
            sono_tokens_free(t);
            free(pcm);
        }
    }
    sn_lm_shards_close(s);
    struct stat st0, st1;
    stat(sh, &st0);
    CHECK(sn_lm_shards_open(&s, sh, man4, codec, 4, 1, &built) == 0 && built == 0);   /* reused */
    sn_lm_shards_close(s);
    stat(sh, &st1);
    CHECK(st0.st_ino == st1.st_ino && st0.st_mtime == st1.st_mtime);
    CHECK(sn_lm_shards_open(&s, sh, man5, codec, 4, 1, &built) == 0 && built == 1);   /* manifest changed */
    CHECK(s && s->n_entries == 5);
    sn_lm_shards_close(s);
    CHECK(sn_lm_shards_open(&s, sh, man5, codec, 2, 1, &built) == 0 && built == 1);   /* other K */
    CHECK(s && s->K == 2);
    sn_lm_shards_close(s);
    CHECK(sn_lm_shards_open(&s, sh, man5, codec2, 2, 1, &built) == 0 && built == 1);  /* other codec */
    sn_lm_shards_close(s);
    CHECK(sn_lm_shards_open(&s, sh, man5, codec2, 2, 1, &built) == 0 && built == 0);
    sn_lm_shards_close(s);
    /* damaged files: the reader refuses them, the opener rebuilds */
    uint8_t *b = NULL;
    size_t n = 0;
    CHECK(read_bytes(sh, &b, &n) == 0);
    char bad[512];
    path_in(bad, sizeof bad, "bad.shard");
    struct { size_t len; size_t flip; int code; } cases[] = {
        {n - 2, 0, SONO_E_TRUNCATED}, {100, 0, SONO_E_TRUNCATED}, {n, 1, SONO_E_FORMAT},
        {n, 140, SONO_E_CHECKSUM}, {n, n - 1, SONO_E_RANGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        if (cases[i].flip) c[cases[i].flip] ^= 0x40;
        CHECK(sono_output_save(bad, c, cases[i].len) == 0);
        free(c);
        err = sn_lm_shards_map(&s, bad);
        CHECK_MSG(err == cases[i].code, "case %zu: %d, expected %d (%s)", i, err, cases[i].code, sono_last_error());
        CHECK(sn_lm_shards_open(&s, bad, man5, codec2, 2, 1, &built) == 0 && built == 1);
        sn_lm_shards_close(s);
    }
    free(b);
    sn_lm_manifest_free(man4);
    sn_lm_manifest_free(man5);
    sono_codec_free(codec);
    sono_codec_free(codec2);
    return tu_finish("lm-shards");
}

/* ---- training ---- */

static int test_learn(void) {
    sono_lm_train_params p = tiny_params("learn");
    int err = 0;
    sono_lm_trainer *t = sono_lm_trainer_new(&p, &err);
    CHECK_MSG(t != NULL, "trainer: %s", sono_last_error());
    if (!t) return tu_finish("lm-learn");
    double first = 0, last = 0;
    for (int s = 0; s < LEARN_STEPS; s++) {
        int rc = sono_lm_trainer_step(t);
        CHECK_MSG(rc == 0, "step %d: %s", s, sono_last_error());
        if (rc) break;
        double l = sono_lm_trainer_last_stats(t)->loss;
        if (s < 5) first += l / 5;
        if (s >= LEARN_STEPS - 10) last += l / 10;
    }
    printf("loss: first 5 steps %.4f, last 10 %.4f (%.2fx; need %.1fx)\n", first, last, first / last, LEARN_FACTOR);
    CHECK(first / last >= LEARN_FACTOR);
    /* export: the file loads and names the codec */
    char path[512];
    path_in(path, sizeof path, "learned.safetensors");
    CHECK(sono_lm_trainer_export(t, path) == 0);
    sono_lm *lm = sono_lm_load(path, &err);
    CHECK(lm && !strcmp(sono_lm_name(lm), "learned") && sono_lm_n_codebooks(lm) == 4);
    sono_lm_free(lm);
    sono_lm_trainer_free(t);
    return tu_finish("lm-learn");
}

/* Parameters and both moments of a saved checkpoint, concatenated. */
static float *state_of(sono_lm_trainer *t, const char *name, size_t *n_out) {
    char path[512];
    path_in(path, sizeof path, name);
    if (sono_lm_trainer_save_checkpoint(t, path)) return NULL;
    size_t n = (size_t)sono_lm_trainer_n_params(t);
    float *s = malloc(sizeof(float) * 3 * n);
    sn_ckpt *c = NULL;
    int ok = sn_ckpt_open(path, "sonotok-lm-checkpoint", &c) == 0 && sn_ckpt_take(c, "params", s, n) == 0 &&
             sn_ckpt_take(c, "adam.m", s + n, n) == 0 && sn_ckpt_take(c, "adam.v", s + 2 * n, n) == 0;
    sn_ckpt_close(c);
    if (!ok) { free(s); return NULL; }
    *n_out = 3 * n;
    return s;
}

static int test_resume(void) {
    int err = 0;
    sono_lm_train_params p = tiny_params("resume");
    sono_lm_trainer *a = sono_lm_trainer_new(&p, &err);
    CHECK_MSG(a != NULL, "trainer: %s", sono_last_error());
    if (!a) return tu_finish("lm-resume");
    for (int s = 0; s < 8; s++) CHECK(sono_lm_trainer_step(a) == 0);
    size_t n = 0, n2 = 0, n3 = 0;
    float *sa = state_of(a, "a.ckpt", &n);
    sono_lm_trainer_free(a);
    sono_lm_trainer *b = sono_lm_trainer_new(&p, &err);
    for (int s = 0; b && s < 4; s++) CHECK(sono_lm_trainer_step(b) == 0);
    char ck[512];
    path_in(ck, sizeof ck, "b.ckpt");
    CHECK(b && sono_lm_trainer_save_checkpoint(b, ck) == 0);
    sono_lm_trainer_free(b);
    sono_lm_train_params q = p;
    q.steps = 0;
    b = sono_lm_trainer_resume(ck, &q, &err);
    CHECK_MSG(b != NULL, "resume: %s", sono_last_error());
    CHECK(b && sono_lm_trainer_steps_done(b) == 4);
    for (int s = 0; b && s < 4; s++) CHECK(sono_lm_trainer_step(b) == 0);
    float *sb = b ? state_of(b, "b8.ckpt", &n2) : NULL;
    sono_lm_trainer_free(b);
    CHECK(sa && sb && n == n2 && !memcmp(sa, sb, sizeof(float) * n));
    /* two threads: the same bits */
    p.n_threads = 2;
    sono_lm_trainer *c = sono_lm_trainer_new(&p, &err);
    for (int s = 0; c && s < 8; s++) CHECK(sono_lm_trainer_step(c) == 0);
    float *sc = c ? state_of(c, "c.ckpt", &n3) : NULL;
    sono_lm_trainer_free(c);
    CHECK(sa && sc && n == n3 && !memcmp(sa, sc, sizeof(float) * n));
    /* the run's tokens come from its codec: another one is refused, naming both */
    char c2[512];
    path_in(c2, sizeof c2, "codec2.safetensors");
    q.codec = c2;
    b = sono_lm_trainer_resume(ck, &q, &err);
    CHECK(!b && err == SONO_E_MODEL_MISMATCH);
    CHECK_MSG(strstr(sono_last_error(), "codec") != NULL, "message: %s", sono_last_error());
    sono_lm_trainer_free(b);
    free(sa);
    free(sb);
    free(sc);
    return tu_finish("lm-resume");
}

/* ---- text-to-speech ---- */

static int test_tts_seq(void) {
    /* spans: 3 phonemes over 2 + 0 + 2 frames; the codec gives 5 frames:
     * the last takes the extra frame, the empty one a frame of its longer
     * (right) neighbour: frames 0-1, 2, 3-4 */
    const int32_t start[3] = {0, 2, 2}, end[3] = {2, 2, 4};
    int32_t first[4] = {-1, -1, -1, -1};
    CHECK(sn_lm_tts_frames(start, end, 3, 5, first) == 0);
    CHECK_MSG(first[0] == 0 && first[1] == 2 && first[2] == 3 && first[3] == 5, "first %d %d %d %d", first[0], first[1],
              first[2], first[3]);
    const int32_t s_bad[3] = {0, 1, 2}, e_gap[3] = {2, 2, 4}, e_ok[3] = {1, 2, 4};
    CHECK(sn_lm_tts_frames(s_bad, e_gap, 3, 5, first) == -1);      /* not contiguous */
    CHECK(sn_lm_tts_frames(s_bad, e_ok, 3, 8, first) == -1);       /* 4 frames of spans for 8 codec frames */
    CHECK(sn_lm_tts_frames(s_bad, e_ok, 3, 3, first) == 0 && first[1] == 1 && first[2] == 2 && first[3] == 3);
    const int32_t s_z[3] = {0, 1, 1}, e_z[3] = {1, 1, 2};
    CHECK(sn_lm_tts_frames(s_z, e_z, 3, 2, first) == -1);          /* 0 frames between two 1-frame phonemes */
    /* K = 2 codebooks of 16 codes (EMPTY 16, END 17), 5 frames */
    const int16_t codes[2 * 5] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const int32_t ids[3] = {172, 255, 102};
    const int32_t first_ok[4] = {0, 2, 3, 5};
    enum { T = 20, K = 2, E = 16, N = 17, M = -1 };
    CHECK(sn_lm_tts_seq_len(3, 5, K) == 17);
    int32_t text[T], audio[T * K], tg[T * K];
    sn_lm_tts_seq(codes, 5, K, 16, ids, 3, first_ok, 1400, 1401, T, text, audio, tg);
    const int32_t want_text[T] = {SONO_TOK_TASK_TTS, 1400, 1401, 172, 255, 102, SONO_TOK_SEP,
                                  172, -1, -1, 255, -1, 102, -1, -1, -1, -1, 0, 0, 0};
    /* audio rows of the steps: (frame s of codebook 0, frame s - 1 of codebook 1) */
    const int32_t want_audio[T * K] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 1, E, 2, 6, 0, 0, 3, 7, 0, 0, 4, 8, 5, 9, N, 10, E, N, 0, 0, 0, 0, 0, 0};
    /* targets: the prefix and <sep> none; P1 -> step 0; s0 -> step 1; s1 -> end of
     * phoneme; P2 -> step 2; s2 -> end of phoneme; P3 -> step 3; s3 -> s4;
     * s4 -> step 5 (<end-audio>, frame 4 of codebook 1); s5 -> step 6; s6 none */
    const int32_t want_tg[T * K] = {M, M, M, M, M, M, M, M, M, M, M, M, M, M,
                                    1, M, 2, 6, N, M, 3, 7, N, M, 4, 8, 5, 9, N, 10, M, N, M, M, M, M, M, M, M, M};
    CHECK(!memcmp(text, want_text, sizeof text));
    CHECK(!memcmp(audio, want_audio, sizeof audio));
    int bad = 0;
    for (int i = 0; i < T * K; i++)
        if (tg[i] != want_tg[i]) {
            if (bad++ < 4) fprintf(stderr, "  target at position %d codebook %d: %d, want %d\n", i / K, i % K, tg[i], want_tg[i]);
        }
    CHECK_MSG(bad == 0, "%d targets differ", bad);
    return tu_finish("lm-tts-seq");
}

static int test_tts_file(void) {
    sono_tokenizer *tok = small_tokenizer();
    const char *cond[3] = {"lang:en", "voice:espeak/en+m1", "voice:flite/rms"};
    sn_lm_config c = sn_lm_config_default();
    c.V_text = sn_lm_v_text_for(tok, 1, 3);
    CHECK(c.V_text == sono_tokenizer_n_vocab(tok) + 1239 + 3);
    c.K = 2; c.codebook_size = 8; c.C = 4; c.n_layer = 1; c.n_head = 2; c.T_max = 8;
    sn_lm *m = NULL;
    CHECK(sn_lm_new(&c, &m) == 0);
    if (!m) return tu_finish("lm-tts-file");
    sn_lm_init_params(m, 3);
    sn_lm_codec_id id = {.name = "tiny-codec", .frame_rate = 75.0};
    char path[512], plain[512];
    path_in(path, sizeof path, "tts.safetensors");
    path_in(plain, sizeof plain, "plain.safetensors");
    CHECK(sn_lm_file_save_tts(path, "tts", m, tok, &id, 1, cond, 3) == 0);
    CHECK(sn_lm_file_save(plain, "tts", m, tok, &id) == SONO_E_ARG); /* the table has phoneme rows */
    const char *bad_cond[1] = {"speaker:x"};
    CHECK(sn_lm_file_save_tts(path, "tts", m, tok, &id, 1, bad_cond, 1) == SONO_E_ARG);
    int err = 0;
    sono_lm *lm = sono_lm_load(path, &err);
    CHECK_MSG(lm != NULL, "load: %s", sono_last_error());
    if (lm) {
        sono_vocab_layout l;
        sono_lm_vocab_layout(lm, &l);
        CHECK(l.n_phoneme == 1239 && l.n_cond == 3 && l.n_special + l.n_text == sono_tokenizer_n_vocab(tok));
        CHECK(sono_lm_n_conditions(lm) == 3 && sono_lm_condition(lm, 3) == NULL && sono_lm_condition(lm, -1) == NULL);
        for (int i = 0; i < 3; i++) CHECK(sono_lm_condition(lm, i) && !strcmp(sono_lm_condition(lm, i), cond[i]));
        CHECK(!memcmp(lm->m->params, m->params, sizeof(float) * m->n_params));
        sono_lm_free(lm);
    }
    uint8_t *b = NULL;
    size_t n = 0;
    CHECK(read_bytes(path, &b, &n) == 0);
    uint8_t *cp = malloc(n);
    /* another phoneme inventory (its hash): refused with one line naming it */
    memcpy(cp, b, n);
    uint8_t *at = memmem(cp, n, "\\\"hash\\\":\\\"", 11);
    CHECK(at != NULL);
    if (at) at[11] = at[11] == '0' ? '1' : '0';
    err = load_mem(cp, n);
    CHECK_MSG(err == SONO_E_MODEL_MISMATCH && strstr(sono_last_error(), "phoneme") && !strchr(sono_last_error(), '\n'),
              "inventory: %d %s", err, sono_last_error());
    /* a condition renamed to a bad name, or a duplicate */
    memcpy(cp, b, n);
    at = memmem(cp, n, "lang:en", 7);
    CHECK(at != NULL);
    if (at) at[4] = '_';
    CHECK(load_mem(cp, n) == SONO_E_FORMAT);
    memcpy(cp, b, n);
    at = memmem(cp, n, "voice:flite/rms", 15);
    if (at) memcpy(at, "voice:espeak/en", 15); /* "voice:espeak/en" is a new name: loads */
    err = at ? load_mem(cp, n) : -1;
    CHECK_MSG(err == 0, "renamed condition: %d %s", err, sono_last_error());
    /* a file without TTS has no phoneme fields (files as before) */
    sono_tokenizer *tok2 = small_tokenizer();
    sn_lm *m2 = small_model(tok2, 2, 8, 4, 8);
    CHECK(sn_lm_file_save(plain, "plain", m2, tok2, &id) == 0);
    uint8_t *pb = NULL;
    size_t pn = 0;
    CHECK(read_bytes(plain, &pb, &pn) == 0 && !memmem(pb, pn, "phonemes", 8) && !memmem(pb, pn, "conditions", 10) &&
          memmem(pb, pn, "\\\"version\\\":1,", 14));
    free(pb);
    free(cp);
    free(b);
    sn_lm_free(m);
    sn_lm_free(m2);
    sono_tokenizer_free(tok);
    sono_tokenizer_free(tok2);
    return tu_finish("lm-tts-file");
}

static int test_tts_train(void) {
    /* two short clips (hop 8 at 8 kHz: 30 and 25 frames), speech with a transcript */
    if (write_clip("t0.wav", 0.030, 300) || write_clip("t1.wav", 0.025, 500)) return 1;
    char p[512];
    path_in(p, sizeof p, "mt.jsonl");
    FILE *f = fopen(p, "w");
    fprintf(f, "%s\n", manifest_lines[0]);
    fprintf(f, "{\"path\":\"t0.wav\",\"text\":\"Hi.\",\"lang\":\"en\",\"voice\":\"flite/rms\",\"tokens\":[72,155,2],"
               "\"start_frame\":[0,10,20],\"end_frame\":[10,20,30]}\n");
    fprintf(f, "{\"path\":\"t1.wav\",\"text\":\"Bob.\",\"lang\":\"en\",\"voice\":\"espeak/en+m1\",\"tokens\":[79,200,79,2],"
               "\"start_frame\":[0,5,5,15],\"end_frame\":[5,5,15,24]}\n");
    fclose(f);
    sn_lm_manifest *man = NULL;
    CHECK(sn_lm_manifest_read(p, &man) == 0);
    if (!man) return tu_finish("lm-tts-train");
    CHECK(man->n == 3 && man->tts[0] == NULL && man->tts[1] && man->tts[2]);
    if (man->tts[1] && man->tts[2]) {
        const sn_lm_tts_rec *r = man->tts[2];
        CHECK(r->n == 4 && r->token[1] == 200 && r->start[3] == 15 && r->end[3] == 24 && !strcmp(r->voice, "espeak/en+m1") &&
              !strcmp(r->lang, "en"));
        CHECK(man->category[1] == SN_LM_CAT_SPEECH && man->caption[1] == NULL); /* its text is no caption */
    }
    /* shards of the TTS manifest round-trip */
    char sh[512], codec_path[512];
    path_in(sh, sizeof sh, "tts.shard");
    path_in(codec_path, sizeof codec_path, "codec.safetensors");
    int err = 0, built = 0;
    sono_codec *codec = sono_codec_load(codec_path, NULL, &err);
    sn_lm_shards *s = NULL, *s2 = NULL;
    CHECK(codec && sn_lm_shards_open(&s, sh, man, codec, 4, 1, &built) == 0 && built == 1);
    CHECK(sn_lm_shards_map(&s2, sh) == 0);
    if (s && s2) {
        CHECK(s->entries[1].n_frames == 30 && s->entries[2].n_frames == 25);
        CHECK(s2->n_entries == 3 && !memcmp(s->entries, s2->entries, sizeof *s->entries * 3) &&
              !memcmp(s->codes, s2->codes, sizeof(int16_t) * (size_t)s->n_frames_total * 4));
    }
    sn_lm_shards_close(s);
    sn_lm_shards_close(s2);
    sono_codec_free(codec);
    sn_lm_manifest_free(man);
    /* broken TTS records: refused naming the line */
    const char *broken[] = {
        "{\"path\":\"t0.wav\",\"lang\":\"en\",\"voice\":\"v\",\"tokens\":[1,2],\"start_frame\":[0],\"end_frame\":[1,2]}",
        "{\"path\":\"t0.wav\",\"lang\":\"en\",\"tokens\":[1],\"start_frame\":[0],\"end_frame\":[1]}",
        "{\"path\":\"t0.wav\",\"lang\":\"en\",\"voice\":\"v\",\"tokens\":[1],\"start_frame\":[-1],\"end_frame\":[1]}",
        "{\"path\":\"t0.wav\",\"lang\":\"en\",\"voice\":\"v\",\"tokens\":\"1\",\"start_frame\":[0],\"end_frame\":[1]}",
    };
    char pb[512];
    path_in(pb, sizeof pb, "broken.jsonl");
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        f = fopen(pb, "w");
        fprintf(f, "%s\n%s\n", manifest_lines[0], broken[i]);
        fclose(f);
        sn_lm_manifest *mb = NULL;
        err = sn_lm_manifest_read(pb, &mb);
        CHECK_MSG(err == SONO_E_FORMAT && strstr(sono_last_error(), "broken.jsonl:2:"), "broken %zu: %d %s", i, err,
                  sono_last_error());
        sn_lm_manifest_free(mb);
    }
    /* a run: conditions from the records, sorted; TTS sequences in its batches */
    sono_lm_train_params tp = tiny_params("tts");
    tp.manifest = p;
    tp.w_continue = 0; tp.w_tta = 0; tp.w_tts = 1;
    tp.context = 48; /* a crop of continue is then 48, 36 or 31 positions: no 4 of them add up as 4 TTS sequences do */
    sono_lm_trainer *t = sono_lm_trainer_new(&tp, &err);
    CHECK_MSG(t != NULL, "trainer: %s", sono_last_error());
    if (!t) return tu_finish("lm-tts-train");
    const sono_lm *v = sono_lm_trainer_lm(t);
    const char *want[3] = {"lang:en", "voice:espeak/en+m1", "voice:flite/rms"};
    CHECK(sono_lm_n_conditions(v) == 3);
    for (int i = 0; i < 3 && sono_lm_n_conditions(v) == 3; i++) CHECK(!strcmp(sono_lm_condition(v, i), want[i]));
    for (int i = 0; i < 3; i++) CHECK(sono_lm_trainer_step(t) == 0);
    const sono_lm_train_stats *st = sono_lm_trainer_last_stats(t);
    CHECK(isfinite(st->loss) && st->loss > 0);
    /* every sequence of a TTS-only batch is 4 + 2n + F + K positions: 44 (t0) or 41 (t1) */
    CHECK_MSG(st->n_positions >= 4 * 41 && st->n_positions <= 4 * 44 && (st->n_positions - 4 * 41) % 3 == 0,
              "positions %lld", (long long)st->n_positions);
    char lmp[512], ck[512];
    path_in(lmp, sizeof lmp, "tts-lm.safetensors");
    path_in(ck, sizeof ck, "tts-ck.safetensors");
    CHECK(sono_lm_trainer_export(t, lmp) == 0 && sono_lm_trainer_save_checkpoint(t, ck) == 0);
    sono_lm *lm = sono_lm_load(lmp, &err);
    CHECK_MSG(lm && sono_lm_n_conditions(lm) == 3 && !strcmp(sono_lm_condition(lm, 2), "voice:flite/rms"), "export: %s",
              lm ? "conditions" : sono_last_error());
    sono_lm_free(lm);
    sono_lm_trainer *r = sono_lm_trainer_resume(ck, &tp, &err);
    CHECK_MSG(r && sono_lm_n_conditions(sono_lm_trainer_lm(r)) == 3 && sono_lm_trainer_params(r)->w_tts == 1,
              "resume: %s", r ? "conditions" : sono_last_error());
    if (r) {
        CHECK(sono_lm_trainer_step(r) == 0 && sono_lm_trainer_step(t) == 0);
        const sn_lm *ma = sono_lm_trainer_lm(r)->m, *mb = sono_lm_trainer_lm(t)->m;
        CHECK(!memcmp(ma->params, mb->params, sizeof(float) * ma->n_params));
    }
    sono_lm_trainer_free(r);
    sono_lm_trainer_free(t);
    return tu_finish("lm-tts-train");
}

/* ---- fuzz seeds ---- */

static int save_bytes(const char *dir, const char *name, const uint8_t *b, size_t n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return sono_output_save(p, b, n);
}

static int write_seeds(const char *corpus, const char *bad) {
    sono_tokenizer *tok = small_tokenizer();
    sn_lm *m = tok ? small_model(tok, 2, 8, 4, 8) : NULL;
    if (!m) return 1;
    sn_lm_codec_id id = {.name = "seed-codec", .frame_rate = 50.0};
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny.safetensors", corpus);
    int rc = sn_lm_file_save(path, "tiny", m, tok, &id);
    uint8_t *b = NULL;
    size_t n = 0;
    if (!rc) rc = read_bytes(path, &b, &n);
    if (!rc) rc = save_bytes(bad, "TRUNCATED_half.safetensors", b, n / 2);
    if (!rc) {
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        uint8_t *at = memmem(c, n, "sonotok-lm", 10);
        if (at) at[8] = 'x';
        rc = at ? save_bytes(bad, "FORMAT_format_tag.safetensors", c, n) : 1;
        memcpy(c, b, n);
        at = memmem(c, n, "\"version\":\"1\"", 13);
        if (at) at[11] = '2';
        if (!rc) rc = at ? save_bytes(bad, "UNSUPPORTED_version.safetensors", c, n) : 1;
        memcpy(c, b, n);
        at = memmem(c, n, "\\\"K\\\":2", 7);
        if (at) at[6] = '3';
        if (!rc) rc = at ? save_bytes(bad, "FORMAT_config_k.safetensors", c, n) : 1;
        memcpy(c, b, n);
        at = memmem(c, n, "\\\"n_layer\\\":1", 13);
        if (at) at[12] = '9';
        if (!rc) rc = at ? save_bytes(bad, "FORMAT_config_layers.safetensors", c, n) : 1;
        free(c);
    }
    free(b);
    sn_lm_free(m);
    sono_tokenizer_free(tok);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: test-lm-train file|shards|learn|resume|seeds CORPUS BAD\n"); return 2; }
    tu_seed(1);
    if (!strcmp(argv[1], "seeds")) return argc == 4 ? write_seeds(argv[2], argv[3]) : 2;
    setup();
    int rc;
    if (!strcmp(argv[1], "file")) rc = test_file();
    else if (!strcmp(argv[1], "shards")) rc = test_shards();
    else if (!strcmp(argv[1], "learn")) rc = test_learn();
    else if (!strcmp(argv[1], "resume")) rc = test_resume();
    else if (!strcmp(argv[1], "tts-seq")) rc = test_tts_seq();
    else if (!strcmp(argv[1], "tts-file")) rc = test_tts_file();
    else if (!strcmp(argv[1], "tts-train")) rc = test_tts_train();
    else { fprintf(stderr, "unknown mode %s\n", argv[1]); rc = 2; }
    teardown();
    return rc;
}
