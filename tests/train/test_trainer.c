/* The codec training loop (codec/train/trainer.c) on a tiny model and tiny
 * generated clips (written to a temporary folder with a manifest).
 *
 * 1. Resume is bit-identical: 6 steps in one go equal 3 steps, a checkpoint,
 *    a fresh trainer resumed from it, and 3 more steps: parameters,
 *    codebooks (and the discriminator, switched on at step 2) compared
 *    byte for byte. Same with 2 threads (the batch split over 2 graphs).
 * 2. Learning: 200 steps on one clip (a chirp plus harmonics and a little
 *    noise) drive the reconstruction loss (0.1 * L1 + mel) down by at least
 *    LEARN_FACTOR (mean of the last 20 steps against the first 5).
 * 3. Bad input: a missing manifest, a manifest without usable entries and a
 *    checkpoint that is not one fail with the right codes.
 * 4. A checkpoint write killed (SIGKILL, from the output writer's test hook)
 *    after the new file is complete and before it replaces the old one leaves
 *    the old checkpoint byte for byte, and it resumes, trains and exports.
 * 5. A frozen encoder (freeze_encoder on resume), SEANet and Vocos decoders:
 *    after frozen steps the encoder's weights, their AdamW moments and the
 *    codebooks are bit-identical to the checkpoint at the freeze, the decoder
 *    and the discriminator have changed, the encoder got no gradient; a
 *    resume without the flag stays frozen; exports at the freeze and after
 *    give a test clip the same codes, byte for byte; a new run refuses it.
 * 6. The log-spectrum loss (w_spec): it is reported and changes the
 *    gradient; a checkpoint records it (and one without it has no trace of
 *    it) and a resume keeps it bit for bit; a resume may switch it off or
 *    on, also with a frozen encoder; bad settings are refused. */
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test_util.h"
#include "outfile.h"
#include "sono_internal.h"
#include "sonotok/audio.h"
#include "sonotok/codec.h"
#include "sonotok/error.h"
#include "checkpoint.h"
#include "tensors.h"
#include "trainer.h"

#define LEARN_FACTOR 2.0

static char g_dir[256];

static void tiny_config(codec_config *c) {
    sn_codec_config_preset("encodec_24khz", c);
    snprintf(c->name, sizeof c->name, "tiny-train");
    c->sample_rate = 8000;
    c->causal = 0;
    c->n_filters = 4;
    c->dimension = 8;
    c->n_ratios = 2;
    c->ratios[0] = 4; c->ratios[1] = 2;
    c->lstm_layers = 0;
    c->codebook_size = 32;
    c->n_q = 4;
    /* 1000 frames/s x 5 bits: 5 kbps per codebook */
    c->n_bandwidths = 3;
    c->bandwidths[0] = 5; c->bandwidths[1] = 10; c->bandwidths[2] = 20;
}

static int write_clip(const char *path, int n, int kind) {
    float *x = malloc((size_t)n * sizeof(float));
    double ph = 0;
    for (int i = 0; i < n; i++) {
        double t = (double)i / 8000.0, f = kind == 0 ? 200 + 1500 * t / (n / 8000.0) : 330 + 100 * kind;
        ph += 2 * M_PI * f / 8000.0;
        x[i] = (float)(0.3 * sin(ph) + 0.1 * sin(2 * ph + 0.5) + 0.05 * sin(3 * ph)) + tu_uniform(-0.01f, 0.01f);
    }
    int err = 0;
    sono_audio_writer *w = sono_audio_create(path, "wav", 8000, 8000, 1, &err);
    if (!w) { free(x); return err; }
    err = sono_audio_write(w, x, n);
    int e2 = sono_audio_writer_close(w);
    free(x);
    return err ? err : e2;
}

static void write_manifest(const char *name, int n_clips) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < n_clips; i++)
        fprintf(f, "{\"path\":\"clip%d.wav\",\"category\":\"%s\",\"duration\":1.0}\n", i, i % 2 ? "music" : "speech");
    fclose(f);
}

static trainer_params base_params(const char *manifest, int threads) {
    static char mpath[512];
    snprintf(mpath, sizeof mpath, "%s/%s", g_dir, manifest);
    trainer_params p = sn_trainer_default_params();
    p.manifest = mpath;
    p.batch = 2;
    p.crop_seconds = 0.1;
    p.n_threads = threads;
    p.steps = 400;
    p.warmup = 10;
    p.lr = 2e-3f;
    p.mel_log2_min = 5;
    p.mel_log2_max = 8;
    p.n_mels = 16;
    p.disc_filters = 4;
    return p;
}

static int same_state(trainer *a, trainer *b) {
    size_t na, nb;
    const float *pa = sn_trainer_params_data(a, &na), *pb = sn_trainer_params_data(b, &nb);
    int ok = na == nb && !memcmp(pa, pb, na * sizeof(float));
    pa = sn_trainer_codebooks_data(a, &na);
    pb = sn_trainer_codebooks_data(b, &nb);
    return ok && na == nb && !memcmp(pa, pb, na * sizeof(float));
}

static void test_resume(int threads, int adv_start, int mpd_filters) {
    codec_config cfg;
    tiny_config(&cfg);
    trainer_params p = base_params("train.jsonl", threads);
    p.adv_start = adv_start;
    p.mpd_filters = mpd_filters;
    int err = 0;
    trainer *a = sn_trainer_new(&cfg, &p, &err);
    CHECK_MSG(a != NULL, "sn_trainer_new: %s", sono_last_error());
    if (!a) return;
    for (int i = 0; i < 6; i++) CHECK(sn_trainer_step(a) == 0);
    trainer *b = sn_trainer_new(&cfg, &p, &err);
    CHECK(b != NULL);
    if (!b) { sn_trainer_free(a); return; }
    for (int i = 0; i < 3; i++) CHECK(sn_trainer_step(b) == 0);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/ckpt.safetensors", g_dir);
    CHECK(sn_trainer_save_checkpoint(b, ck) == 0);
    sn_trainer_free(b);
    b = sn_trainer_resume(ck, &p, &err);
    CHECK_MSG(b != NULL, "sn_trainer_resume: %s", sono_last_error());
    if (b) {
        CHECK(sn_trainer_steps_done(b) == 3);
        CHECK(!same_state(a, b));   /* a is 3 steps ahead */
        for (int i = 0; i < 3; i++) CHECK(sn_trainer_step(b) == 0);
        int same = same_state(a, b);
        printf("  resume, %d thread(s), discriminator from step %d%s: %s\n", threads, adv_start,
               mpd_filters ? " with a multi-period one" : "", same ? "bit-identical" : "DIFFERENT");
        CHECK(same);
        if (mpd_filters) {
            size_t na = 0, nb = 0;
            const float *ma = sn_trainer_mpd_params_data(a, &na), *mb = sn_trainer_mpd_params_data(b, &nb);
            CHECK(ma && na > 0 && na == nb && !memcmp(ma, mb, na * sizeof(float)));
            CHECK(sn_trainer_last_stats(b)->mpd_disc > 0 && isfinite(sn_trainer_last_stats(b)->mpd_disc));
            CHECK(sn_trainer_last_stats(b)->mpd_feat > 0);
        } else {
            CHECK(sn_trainer_mpd_params_data(b, NULL) == NULL && sn_trainer_last_stats(b)->mpd_disc == 0);
        }
        CHECK(fabs(sn_trainer_last_stats(a)->mel - sn_trainer_last_stats(b)->mel) == 0);
    }
    sn_trainer_free(a);
    sn_trainer_free(b);
}

/* p for a resume that keeps every phase setting of the checkpoint. */
static trainer_params keep_phase(trainer_params p) {
    p.n_mels = -1;
    p.w_l1 = -1;
    p.mix[0] = -1;
    p.n_bw_mix = -1;
    p.disc_filters = 0;
    p.w_spec = -1;
    return p;
}

/* A tiny run of one step, saved as g_dir/name (its path in ck). 0 or -1. */
static int one_step_checkpoint(const trainer_params *p, const char *name, char *ck, size_t n) {
    codec_config cfg;
    tiny_config(&cfg);
    int err = 0;
    trainer *t = sn_trainer_new(&cfg, p, &err);
    CHECK_MSG(t != NULL, "sn_trainer_new: %s", sono_last_error());
    if (!t) return -1;
    int ok = sn_trainer_step(t) == 0;
    snprintf(ck, n, "%s/%s", g_dir, name);
    ok = ok && sn_trainer_save_checkpoint(t, ck) == 0;
    CHECK(ok);
    sn_trainer_free(t);
    return ok ? 0 : -1;
}

/* Save t to ck, free it, and resume from ck keeping every phase setting
 * (the other fields from p). NULL (a failed check) if that fails. */
static trainer *save_and_resume(trainer *t, const char *ck, const trainer_params *p) {
    CHECK(sn_trainer_save_checkpoint(t, ck) == 0);
    sn_trainer_free(t);
    trainer_params keep = keep_phase(*p);
    int err = 0;
    t = sn_trainer_resume(ck, &keep, &err);
    CHECK_MSG(t != NULL, "resume: %s", sono_last_error());
    return t;
}

/* Another discriminator width on resume: a new discriminator of that width,
 * which trains and is kept by the next checkpoint; the same width keeps the
 * trained one (bit-identical resume is tested above). */
static void test_disc_width(void) {
    trainer_params p = base_params("train.jsonl", 1);
    p.adv_start = 0;
    char ck[512];
    if (one_step_checkpoint(&p, "dwidth.safetensors", ck, sizeof ck)) return;
    int err = 0;
    trainer *t;
    trainer_params wide = keep_phase(p);
    wide.disc_filters = 6;
    t = sn_trainer_resume(ck, &wide, &err);
    CHECK_MSG(t != NULL, "resume with 6 discriminator filters: %s", sono_last_error());
    if (!t) return;
    CHECK(sn_trainer_get_params(t)->disc_filters == 6);
    CHECK(sn_trainer_step(t) == 0);
    CHECK(isfinite(sn_trainer_last_stats(t)->disc) && sn_trainer_last_stats(t)->disc > 0);
    t = save_and_resume(t, ck, &p);
    if (t) {
        CHECK(sn_trainer_get_params(t)->disc_filters == 6);
        CHECK(sn_trainer_step(t) == 0);
        sn_trainer_free(t);
    }
    printf("  discriminator 4 -> 6 filters on resume: a new one trains, kept by the next checkpoint\n");
}

/* --disc-reset on resume: the discriminator starts again from the weights
 * a new run gives it (its trained ones are dropped), trains, and the next
 * checkpoint keeps the new one; without the flag the trained one is kept. */
static void test_disc_reset(void) {
    trainer_params p = base_params("train.jsonl", 1);
    p.adv_start = 0;
    codec_config cfg;
    tiny_config(&cfg);
    int err = 0;
    /* a new run's discriminator weights, before any step */
    trainer *t = sn_trainer_new(&cfg, &p, &err);
    CHECK_MSG(t != NULL, "sn_trainer_new: %s", sono_last_error());
    if (!t) return;
    size_t n = 0;
    const float *d = sn_trainer_disc_params_data(t, &n);
    float *init = d && n ? malloc(n * sizeof *init) : NULL;
    CHECK(init != NULL);
    if (init) memcpy(init, d, n * sizeof *init);
    sn_trainer_free(t);
    char ck[512];
    if (!init || one_step_checkpoint(&p, "dreset.safetensors", ck, sizeof ck)) { free(init); return; }
    trainer_params keep = keep_phase(p), reset = keep_phase(p);
    reset.disc_reset = 1;
    t = sn_trainer_resume(ck, &keep, &err);
    CHECK(t != NULL);
    if (t) {
        size_t m = 0;
        d = sn_trainer_disc_params_data(t, &m);
        CHECK(m == n && d && memcmp(d, init, n * sizeof *init) != 0);
        sn_trainer_free(t);
    }
    t = sn_trainer_resume(ck, &reset, &err);
    CHECK_MSG(t != NULL, "resume with a discriminator reset: %s", sono_last_error());
    if (t) {
        size_t m = 0;
        d = sn_trainer_disc_params_data(t, &m);
        CHECK(m == n && d && memcmp(d, init, n * sizeof *init) == 0);
        CHECK(sn_trainer_get_params(t)->disc_filters == p.disc_filters);
        CHECK(sn_trainer_step(t) == 0);
        CHECK(isfinite(sn_trainer_last_stats(t)->disc) && sn_trainer_last_stats(t)->disc > 0);
        t = save_and_resume(t, ck, &p);
        if (t) {
            d = sn_trainer_disc_params_data(t, &m);
            CHECK(m == n && d && memcmp(d, init, n * sizeof *init) != 0);
            sn_trainer_free(t);
        }
    }
    free(init);
    printf("  --disc-reset on resume: the discriminator restarts from a new run's weights, trains, is kept\n");
}

/* The multi-period discriminator: it changes what the codec learns (the
 * same run without it ends elsewhere), it trains (its weights move), and on
 * resume another width starts a new one, -1 drops it, 0 keeps it. */
static void test_mpd(void) {
    codec_config cfg;
    tiny_config(&cfg);
    trainer_params p = base_params("train.jsonl", 1), q;
    p.adv_start = 0;
    q = p;
    p.mpd_filters = 2;
    int err = 0;
    trainer *a = sn_trainer_new(&cfg, &p, &err), *b = sn_trainer_new(&cfg, &q, &err);
    CHECK_MSG(a && b, "sn_trainer_new: %s", sono_last_error());
    if (!a || !b) { sn_trainer_free(a); sn_trainer_free(b); return; }
    size_t n = 0;
    const float *m0 = sn_trainer_mpd_params_data(a, &n);
    float *init = m0 && n ? malloc(n * sizeof *init) : NULL;
    CHECK(init != NULL);
    if (init) memcpy(init, m0, n * sizeof *init);
    for (int i = 0; i < 3; i++) CHECK(sn_trainer_step(a) == 0 && sn_trainer_step(b) == 0);
    CHECK(!same_state(a, b));
    const float *m1 = sn_trainer_mpd_params_data(a, NULL);
    CHECK(init && m1 && memcmp(init, m1, n * sizeof *init) != 0);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/mpd.safetensors", g_dir);
    CHECK(sn_trainer_save_checkpoint(a, ck) == 0);
    sn_trainer_free(b);
    trainer_params keep = keep_phase(p), wide = keep, drop = keep;
    keep.mpd_filters = 0;
    wide.mpd_filters = 3;
    drop.mpd_filters = -1;
    b = sn_trainer_resume(ck, &keep, &err);
    CHECK_MSG(b != NULL, "resume keeping the MPD: %s", sono_last_error());
    if (b) {
        size_t nb = 0;
        const float *mb = sn_trainer_mpd_params_data(b, &nb);
        CHECK(mb && nb == n && !memcmp(mb, m1, n * sizeof *init));
        sn_trainer_free(b);
    }
    b = sn_trainer_resume(ck, &wide, &err);
    CHECK_MSG(b != NULL, "resume with a wider MPD: %s", sono_last_error());
    if (b) {
        size_t nb = 0;
        CHECK(sn_trainer_mpd_params_data(b, &nb) && nb > n && sn_trainer_get_params(b)->mpd_filters == 3);
        CHECK(sn_trainer_step(b) == 0 && sn_trainer_last_stats(b)->mpd_disc > 0);
        sn_trainer_free(b);
    }
    b = sn_trainer_resume(ck, &drop, &err);
    CHECK_MSG(b != NULL, "resume dropping the MPD: %s", sono_last_error());
    if (b) {
        CHECK(sn_trainer_mpd_params_data(b, NULL) == NULL && sn_trainer_get_params(b)->mpd_filters == 0);
        CHECK(sn_trainer_step(b) == 0 && sn_trainer_last_stats(b)->mpd_disc == 0);
        sn_trainer_free(b);
    }
    sn_trainer_free(a);
    free(init);
    printf("  multi-period discriminator: trains, changes the codec's training, kept / replaced / dropped on resume\n");
}

/* The PCM cache: a run that builds it (and then trains from the file it
 * wrote), a run that maps it, and a run without one train bit-identically;
 * a cache from another manifest is refused. */
static void test_cache(void) {
    codec_config cfg;
    tiny_config(&cfg);
    trainer_params p = base_params("train.jsonl", 1);
    char cache[512];
    snprintf(cache, sizeof cache, "%s/pcm.cache", g_dir);
    trainer *t[3] = {NULL, NULL, NULL};
    int err = 0;
    for (int i = 0; i < 3; i++) {
        trainer_params q = p;
        q.cache = i < 2 ? cache : NULL;
        t[i] = sn_trainer_new(&cfg, &q, &err);
        CHECK_MSG(t[i] != NULL, "sn_trainer_new: %s", sono_last_error());
        for (int k = 0; t[i] && k < 3; k++) CHECK(sn_trainer_step(t[i]) == 0);
        if (i == 0) {
            struct stat st;
            CHECK(stat(cache, &st) == 0 && st.st_size > 0);
        }
    }
    if (t[0] && t[1] && t[2]) CHECK(same_state(t[0], t[1]) && same_state(t[0], t[2]));
    for (int i = 0; i < 3; i++) sn_trainer_free(t[i]);
    trainer_params other = base_params("one.jsonl", 1);
    other.cache = cache;
    trainer *o = sn_trainer_new(&cfg, &other, &err);   /* a fresh run samples its first batch at once */
    CHECK(o == NULL && err == SONO_E_MODEL_MISMATCH);
    sn_trainer_free(o);
    printf("  PCM cache: building it, mapping it and no cache train alike; another manifest's is refused\n");
}

/* A later phase: resuming may change the mel bands, loss weights and mix,
 * and keeps the checkpoint's when the caller passes -1; a changed mix is
 * saved with the next checkpoint. */
static void test_phase_change(void) {
    trainer_params p = base_params("train.jsonl", 1);
    char ck[512];
    if (one_step_checkpoint(&p, "phase.safetensors", ck, sizeof ck)) return;
    int err = 0;
    trainer_params keep = keep_phase(p);
    trainer *b = sn_trainer_resume(ck, &keep, &err);
    CHECK(b != NULL);
    if (b) {
        const trainer_params *q = sn_trainer_get_params(b);
        CHECK(q->n_mels == p.n_mels && q->w_l1 == p.w_l1 && q->w_mel == p.w_mel);
        CHECK(q->mix[0] == p.mix[0] && q->mix[1] == p.mix[1] && q->mix[2] == p.mix[2]);
        sn_trainer_free(b);
    }
    trainer_params change = p;
    change.n_mels = 0;
    change.w_l1 = 0.5f; change.w_mel = 2.0f; change.w_commit = 0.5f; change.w_adv = 3.0f; change.w_feat = 3.0f;
    change.mix[0] = 0.25; change.mix[1] = 0.75; change.mix[2] = 0;
    b = sn_trainer_resume(ck, &change, &err);
    CHECK(b != NULL);
    if (b) {
        const trainer_params *q = sn_trainer_get_params(b);
        CHECK(q->n_mels == 0 && q->w_l1 == 0.5f && q->w_mel == 2.0f && q->w_commit == 0.5f && q->w_adv == 3.0f &&
              q->w_feat == 3.0f);
        CHECK(q->mix[0] == 0.25 && q->mix[1] == 0.75 && q->mix[2] == 0);
        CHECK(sn_trainer_step(b) == 0);
        CHECK(sn_trainer_last_stats(b)->mel > 0);
        b = save_and_resume(b, ck, &p);
        if (b) CHECK(sn_trainer_get_params(b)->mix[1] == 0.75 && sn_trainer_get_params(b)->mix[2] == 0);
        printf("  phase change on resume: mel bands 0 (per scale), loss weights 0.5,2,0.5,3,3, mix 0.25,0.75,0: "
               "step ok, kept by the next checkpoint\n");
    }
    sn_trainer_free(b);
}

/* Codebooks used by the micro-batches of n steps: lowest and highest. */
static void active_range(trainer *t, int n, int *lo, int *hi) {
    *lo = 1 << 30, *hi = 0;
    for (int i = 0; i < n; i++) {
        CHECK(sn_trainer_step(t) == 0);
        const trainer_stats *s = sn_trainer_last_stats(t);
        if (s->n_active_min < *lo) *lo = s->n_active_min;
        if (s->n_active_max > *hi) *hi = s->n_active_max;
    }
}

/* Quantizer dropout by weights: a weight of 1 on one bandwidth (of 5, 10,
 * 20 kbps: 1, 2, 4 codebooks) uses only its codebooks; the weights survive
 * a checkpoint, a resume may change them, and a wrong count is refused. */
static void test_bandwidth_mix(void) {
    codec_config cfg;
    tiny_config(&cfg);
    trainer_params p = base_params("train.jsonl", 2);
    p.adv_start = -1;
    int err = 0, lo, hi;
    trainer *t = sn_trainer_new(&cfg, &p, &err);
    CHECK_MSG(t != NULL, "sn_trainer_new: %s", sono_last_error());
    if (!t) return;
    active_range(t, 12, &lo, &hi);
    CHECK_MSG(lo == 1 && hi == 4, "equal odds: codebooks %d..%d over 12 steps (want 1..4)", lo, hi);
    sn_trainer_free(t);
    p.n_bw_mix = 3;
    p.bw_mix[0] = 0; p.bw_mix[1] = 0; p.bw_mix[2] = 1;
    t = sn_trainer_new(&cfg, &p, &err);
    CHECK(t != NULL);
    if (!t) return;
    active_range(t, 12, &lo, &hi);
    CHECK_MSG(lo == 4 && hi == 4, "weights 0,0,1: codebooks %d..%d (want 4)", lo, hi);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/bwmix.safetensors", g_dir);
    trainer_params keep = keep_phase(p);
    t = save_and_resume(t, ck, &p);
    if (t) {
        CHECK(sn_trainer_get_params(t)->n_bw_mix == 3 && sn_trainer_get_params(t)->bw_mix[2] == 1);
        active_range(t, 4, &lo, &hi);
        CHECK(lo == 4 && hi == 4);
        sn_trainer_free(t);
    }
    trainer_params low = keep;
    low.n_bw_mix = 3;
    low.bw_mix[0] = 1; low.bw_mix[1] = 0; low.bw_mix[2] = 0;
    t = sn_trainer_resume(ck, &low, &err);
    CHECK(t != NULL);
    if (t) {
        active_range(t, 4, &lo, &hi);
        CHECK_MSG(lo == 1 && hi == 1, "resumed with weights 1,0,0: codebooks %d..%d (want 1)", lo, hi);
        sn_trainer_free(t);
    }
    p.n_bw_mix = 2;
    t = sn_trainer_new(&cfg, &p, &err);
    CHECK(t == NULL && err == SONO_E_ARG);
    sn_trainer_free(t);
    printf("  bandwidth mix: equal odds use 1..4 codebooks, weights 0,0,1 only 4, kept by a checkpoint, "
           "1,0,0 on resume only 1; 2 weights for 3 bandwidths refused\n");
}

static void test_learning(void) {
    codec_config cfg;
    tiny_config(&cfg);
    trainer_params p = base_params("one.jsonl", 1);
    p.quantizer_dropout = 0;
    p.gain_db_min = p.gain_db_max = 0;
    int err = 0;
    trainer *t = sn_trainer_new(&cfg, &p, &err);
    CHECK_MSG(t != NULL, "sn_trainer_new: %s", sono_last_error());
    if (!t) return;
    double first = 0, last = 0;
    for (int i = 0; i < 200; i++) {
        CHECK(sn_trainer_step(t) == 0);
        const trainer_stats *s = sn_trainer_last_stats(t);
        double rec = p.w_l1 * s->l1 + p.w_mel * s->mel;
        if (i < 5) first += rec / 5;
        if (i >= 180) last += rec / 20;
    }
    printf("  200 steps on one clip: reconstruction loss %.4f -> %.4f (%.2fx lower; required %.1fx)\n", first, last,
           first / last, LEARN_FACTOR);
    CHECK(last * LEARN_FACTOR < first);
    sn_trainer_free(t);
}

static void test_bad_input(void) {
    codec_config cfg;
    tiny_config(&cfg);
    trainer_params p = base_params("missing.jsonl", 1);
    int err = 0;
    CHECK(sn_trainer_new(&cfg, &p, &err) == NULL && err == SONO_E_NOT_FOUND);
    char path[512];
    snprintf(path, sizeof path, "%s/nocat.jsonl", g_dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"path\":\"clip0.wav\",\"category\":\"other\"}\n");
    fclose(f);
    p = base_params("nocat.jsonl", 1);
    CHECK(sn_trainer_new(&cfg, &p, &err) == NULL && err == SONO_E_EMPTY);
    snprintf(path, sizeof path, "%s/junk.jsonl", g_dir);
    f = fopen(path, "w");
    fprintf(f, "not json\n");
    fclose(f);
    p = base_params("junk.jsonl", 1);
    CHECK(sn_trainer_new(&cfg, &p, &err) == NULL && err == SONO_E_FORMAT);
    p = base_params("train.jsonl", 1);
    snprintf(path, sizeof path, "%s/clip0.wav", g_dir);
    CHECK(sn_trainer_resume(path, &p, &err) == NULL && err < 0);
}

static void kill_self(const char *tmp_path) {
    (void)tmp_path;
    raise(SIGKILL);
}

static void test_killed_checkpoint(void) {
    trainer_params p = base_params("train.jsonl", 1);
    char ck[512], exp[512];
    if (one_step_checkpoint(&p, "killed.safetensors", ck, sizeof ck)) return;
    uint8_t *before = NULL, *after = NULL;
    size_t n_before = 0, n_after = 0;
    CHECK(sn_read_file(ck, (size_t)1 << 30, &before, &n_before) == 0);
    int files = tu_count_files(g_dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        trainer_params keep = keep_phase(p);
        int err = 0;
        trainer *t = sn_trainer_resume(ck, &keep, &err);
        if (!t || sn_trainer_step(t)) _exit(2);
        sn_outfile_test_hook = kill_self;
        sn_trainer_save_checkpoint(t, ck);
        _exit(3); /* the hook did not run: the checkpoint bypassed the writer */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x", status);
    /* the complete new checkpoint is left under its temporary name, beside the old one */
    CHECK(tu_count_files(g_dir) == files + 1);
    CHECK(sn_read_file(ck, (size_t)1 << 30, &after, &n_after) == 0);
    CHECK_MSG(n_after == n_before && before && after && !memcmp(before, after, n_before),
              "the old checkpoint changed (%zu -> %zu bytes)", n_before, n_after);
    free(before);
    free(after);
    trainer_params keep = keep_phase(p);
    int err = 0;
    trainer *t = sn_trainer_resume(ck, &keep, &err);
    CHECK_MSG(t != NULL, "resume after the kill: %s", sono_last_error());
    if (!t) return;
    CHECK(sn_trainer_steps_done(t) == 1 && sn_trainer_step(t) == 0);
    snprintf(exp, sizeof exp, "%s/killed-export.safetensors", g_dir);
    CHECK(sn_trainer_export_model(t, exp, 0) == 0);
    sn_trainer_free(t);
    sono_codec *c = sono_codec_load(exp, NULL, &err);
    CHECK_MSG(c != NULL, "the export loads: %s", sono_last_error());
    sono_codec_free(c);
    printf("  checkpoint write killed before its rename: old checkpoint intact, resumed and exported\n");
}

/* The float buffer name of checkpoint ck ([n] floats, malloc'd), NULL on failure. */
static float *ckpt_floats(const char *ck, const char *name, size_t n) {
    sn_ckpt *c = NULL;
    float *v = malloc(n * sizeof *v);
    int ok = v && !sn_ckpt_open(ck, "sonotok-train-checkpoint", &c) && !sn_ckpt_take(c, name, v, n);
    sn_ckpt_close(c);
    CHECK_MSG(ok, "%s in %s: %s", name, ck, sono_last_error());
    if (!ok) { free(v); return NULL; }
    return v;
}

/* The codes of a 0.5 s clip (not a training clip) through an exported model. */
static sono_tokens *export_codes(const char *model) {
    int err = 0;
    sono_codec *c = sono_codec_load(model, NULL, &err);
    CHECK_MSG(c != NULL, "%s: %s", model, sono_last_error());
    if (!c) return NULL;
    enum { N = 4000 };
    float x[N];
    double ph = 0;
    for (int i = 0; i < N; i++) {
        ph += 2 * M_PI * (150.0 + 0.2 * i) / 8000.0;
        x[i] = (float)(0.4 * sin(ph) + 0.1 * sin(5 * ph));
    }
    sono_tokens *tk = NULL;
    CHECK(sono_codec_encode(c, x, N, sono_codec_max_codebooks(c), &tk) == 0);
    sono_codec_free(c);
    return tk;
}

/* The codes hash across a frozen phase: the exports at the freeze (before,
 * f16, and before32, f32) and 5 frozen steps later (after) and one a step
 * before the freeze (step1, another encoder). Tokens made with before decode
 * with after; step1 refuses them. */
static void check_codes_hash(const char *before, const char *before32, const char *after, const char *step1) {
    int err = 0;
    sono_codec *b = sono_codec_load(before, NULL, &err), *b32 = sono_codec_load(before32, NULL, &err),
               *a = sono_codec_load(after, NULL, &err), *s1 = sono_codec_load(step1, NULL, &err);
    CHECK_MSG(b && b32 && a && s1, "loading the exports: %s", sono_last_error());
    if (b && b32 && a && s1) {
        uint8_t hb[16], ha[16], cb[16], ca[16], c32[16], cs1[16];
        sono_codec_hash(b, hb);
        sono_codec_hash(a, ha);
        sono_codec_codes_hash(b, cb);
        sono_codec_codes_hash(a, ca);
        sono_codec_codes_hash(b32, c32);
        sono_codec_codes_hash(s1, cs1);
        CHECK_MSG(memcmp(hb, ha, 16) != 0, "the full hash changes with the decoder");
        CHECK_MSG(!memcmp(cb, ca, 16), "the codes hash is the same at the freeze and 5 frozen steps later");
        CHECK_MSG(memcmp(cb, cs1, 16) != 0, "an unfrozen step changes the codes hash");
        CHECK_MSG(memcmp(cb, c32, 16) != 0, "f16 and f32 exports: other encoder numbers, other codes hashes");
        CHECK_MSG(memcmp(cb, hb, 16) != 0, "the codes hash is not the full hash");
        sono_tokens *t = NULL;
        float x[800];
        for (int i = 0; i < 800; i++) x[i] = (float)(0.3 * sin(0.05 * i));
        CHECK(sono_codec_encode(b, x, 800, sono_codec_max_codebooks(b), &t) == 0);
        if (t) {
            CHECK_MSG(!memcmp(t->model_hash, cb, 16), "tokens record the codes hash");
            CHECK_MSG(sono_codec_check_tokens(a, t) == 0, "tokens at the freeze fit the later export: %s",
                      sono_last_error());
            float *pcm = NULL;
            int64_t n = 0;
            CHECK_MSG(sono_codec_decode(a, t, &pcm, &n) == 0 && n > 0, "and decode with it: %s", sono_last_error());
            free(pcm);
            CHECK_MSG(sono_codec_check_tokens(s1, t) == SONO_E_MODEL_MISMATCH, "another encoder refuses them");
            memcpy(t->model_hash, hb, 16); /* a file written before the codes hash */
            CHECK_MSG(sono_codec_check_tokens(b, t) == 0, "a token file with the full hash still fits its codec");
            CHECK_MSG(sono_codec_check_tokens(a, t) == SONO_E_MODEL_MISMATCH,
                      "a full hash names one export only");
        }
        sono_tokens_free(t);
    }
    sono_codec_free(b);
    sono_codec_free(b32);
    sono_codec_free(a);
    sono_codec_free(s1);
}

/* After the freeze at step 2, the encoder's part of the parameters, of the
 * AdamW moments, and the codebooks stay the freeze checkpoint's bit for bit,
 * across a resume without the flag; the decoder and discriminator train. */
static void test_freeze(int vocos, int threads) {
    codec_config cfg;
    tiny_config(&cfg);
    if (vocos) {
        cfg.decoder = DECODER_VOCOS;
        cfg.vocos_dim = 16; cfg.vocos_intermediate = 24; cfg.vocos_layers = 2; cfg.vocos_kernel = 7;
        cfg.vocos_n_fft = 32;
    }
    trainer_params p = base_params("train.jsonl", threads), fz;
    p.adv_start = 0;
    int err = 0;
    fz = p;
    fz.freeze_encoder = 1;
    trainer *t = sn_trainer_new(&cfg, &fz, &err);
    CHECK_MSG(t == NULL && err == SONO_E_ARG, "a new run with a frozen encoder: refused (got %d)", err);
    sn_trainer_free(t);
    t = sn_trainer_new(&cfg, &p, &err);
    CHECK_MSG(t != NULL, "sn_trainer_new: %s", sono_last_error());
    if (!t) return;
    char ck[512], ck2[512], before[512], after[512], before32[512], step1[512];
    snprintf(step1, sizeof step1, "%s/step1.safetensors", g_dir);
    snprintf(before32, sizeof before32, "%s/before32.safetensors", g_dir);
    CHECK(sn_trainer_step(t) == 0);
    CHECK(sn_trainer_export_model(t, step1, 1) == 0);
    CHECK(sn_trainer_step(t) == 0);
    snprintf(ck, sizeof ck, "%s/freeze.safetensors", g_dir);
    snprintf(ck2, sizeof ck2, "%s/frozen.safetensors", g_dir);
    snprintf(before, sizeof before, "%s/before.safetensors", g_dir);
    snprintf(after, sizeof after, "%s/after.safetensors", g_dir);
    CHECK(sn_trainer_save_checkpoint(t, ck) == 0);
    CHECK(sn_trainer_export_model(t, before, 1) == 0);
    CHECK(sn_trainer_export_model(t, before32, 0) == 0);
    CHECK(sn_trainer_get_params(t)->freeze_encoder == 0 && sn_trainer_get_params(t)->frozen_at == -1);
    sn_trainer_free(t);
    fz = keep_phase(p);
    fz.freeze_encoder = 1;
    t = sn_trainer_resume(ck, &fz, &err);
    CHECK_MSG(t != NULL, "resume with a frozen encoder: %s", sono_last_error());
    if (!t) return;
    CHECK(sn_trainer_get_params(t)->freeze_encoder == 1 && sn_trainer_get_params(t)->frozen_at == 2);
    size_t n_pf = 0, n_cb = 0, n_d = 0;
    const float *w = sn_trainer_params_data(t, &n_pf);
    const float *cb = sn_trainer_codebooks_data(t, &n_cb);
    const float *d = sn_trainer_disc_params_data(t, &n_d);
    /* the encoder's floats: the parameters before the first decoder.* one */
    int n_tab = 0;
    const train_param *tab = sn_trainer_param_table(t, &n_tab);
    size_t n_enc = n_pf;
    for (int i = 0; i < n_tab; i++)
        if (!strncmp(tab[i].name, "decoder.", 8) && tab[i].offset < n_enc) n_enc = tab[i].offset;
    for (int i = 0; i < n_tab; i++)
        CHECK_MSG(!strncmp(tab[i].name, "encoder.", 8) == (tab[i].offset < n_enc), "%s at %zu (encoder: %zu floats)",
                  tab[i].name, tab[i].offset, n_enc);
    CHECK(n_enc > 0 && n_enc < n_pf && n_cb > 0 && n_d > 0);
    float *w0 = malloc(n_pf * sizeof *w0), *cb0 = malloc(n_cb * sizeof *cb0), *d0 = malloc(n_d * sizeof *d0);
    if (!w0 || !cb0 || !d0) { CHECK(0); free(w0); free(cb0); free(d0); sn_trainer_free(t); return; }
    memcpy(w0, w, n_pf * sizeof *w0);
    memcpy(cb0, cb, n_cb * sizeof *cb0);
    memcpy(d0, d, n_d * sizeof *d0);
    int grads_ok = 1;
    for (int i = 0; i < 3; i++) {
        CHECK(sn_trainer_step(t) == 0);
        CHECK(sn_trainer_last_stats(t)->replaced == 0);
        const float *g = sn_trainer_grads_data(t, NULL);
        int enc_zero = 1, dec_nonzero = 0;
        for (size_t k = 0; k < n_pf; k++) {
            if (k < n_enc) enc_zero &= g[k] == 0.0f;
            else dec_nonzero |= g[k] != 0.0f;
        }
        grads_ok &= enc_zero && dec_nonzero;
    }
    CHECK_MSG(grads_ok, "frozen steps: no gradient into the encoder, some into the decoder");
    t = save_and_resume(t, ck2, &p);   /* without the flag */
    if (t) {
        CHECK_MSG(sn_trainer_get_params(t)->freeze_encoder == 1 && sn_trainer_get_params(t)->frozen_at == 2,
                  "a resume without the flag stays frozen since step 2");
        for (int i = 0; i < 2; i++) CHECK(sn_trainer_step(t) == 0);
        w = sn_trainer_params_data(t, NULL);
        cb = sn_trainer_codebooks_data(t, NULL);
        d = sn_trainer_disc_params_data(t, NULL);
        int enc_same = !memcmp(w, w0, n_enc * sizeof *w0), cb_same = !memcmp(cb, cb0, n_cb * sizeof *cb0);
        int dec_changed = memcmp(w + n_enc, w0 + n_enc, (n_pf - n_enc) * sizeof *w0) != 0;
        int disc_changed = memcmp(d, d0, n_d * sizeof *d0) != 0;
        CHECK_MSG(enc_same, "encoder weights bit-identical to the freeze checkpoint's after 5 frozen steps");
        CHECK_MSG(cb_same, "codebooks bit-identical to the freeze checkpoint's after 5 frozen steps");
        CHECK_MSG(dec_changed && disc_changed, "the decoder (%d) and the discriminator (%d) train", dec_changed,
                  disc_changed);
        CHECK(sn_trainer_save_checkpoint(t, ck2) == 0);
        CHECK(sn_trainer_export_model(t, after, 1) == 0);
        sn_trainer_free(t);
        /* the encoder's AdamW moments: untouched since the freeze; the decoder's moved */
        const char *mom[2] = {"adam.m", "adam.v"};
        for (int k = 0; k < 2; k++) {
            float *a = ckpt_floats(ck, mom[k], n_pf), *b = ckpt_floats(ck2, mom[k], n_pf);
            if (a && b) {
                CHECK_MSG(!memcmp(a, b, n_enc * sizeof *a), "encoder's %s kept", mom[k]);
                CHECK_MSG(memcmp(a + n_enc, b + n_enc, (n_pf - n_enc) * sizeof *a) != 0, "decoder's %s moved", mom[k]);
            }
            free(a);
            free(b);
        }
        sono_tokens *ta = export_codes(before), *tb = export_codes(after);
        if (ta && tb) {
            CHECK(ta->n_q == tb->n_q && ta->n_frames == tb->n_frames && ta->n_frames > 0);
            CHECK_MSG(ta->n_q == tb->n_q && ta->n_frames == tb->n_frames &&
                          !memcmp(ta->codes, tb->codes, (size_t)ta->n_q * ta->n_frames * sizeof *ta->codes),
                      "a clip's codes through the exports at the freeze and 5 frozen steps later: byte-identical");
        }
        sono_tokens_free(ta);
        sono_tokens_free(tb);
        check_codes_hash(before, before32, after, step1);
    }
    free(w0);
    free(cb0);
    free(d0);
    printf("  frozen encoder (%s decoder, %d thread(s)): encoder, its moments and codebooks unchanged over 5 steps "
           "and a resume without the flag, decoder and discriminator trained, exports code a clip alike and share the "
           "codes hash; refused on a new run\n", vocos ? "Vocos" : "SEANet", threads);
}

/* Whether the checkpoint file's header mentions word. */
static int ckpt_mentions(const char *ck, const char *word) {
    FILE *f = fopen(ck, "rb");
    char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    for (size_t i = 0; i + strlen(word) <= n; i++)
        if (!memcmp(buf + i, word, strlen(word))) return 1;
    return 0;
}

static void test_spec_loss(void) {
    codec_config cfg;
    tiny_config(&cfg);
    trainer_params p0 = base_params("train.jsonl", 1), p = p0;
    p.w_spec = 1.0f;
    p.spec_log2_min = p.spec_log2_max = 8; /* the crop is 800 samples */
    p.spec_top_hz = 2000.0f;
    int err = 0;
    trainer *a = sn_trainer_new(&cfg, &p, &err), *b = sn_trainer_new(&cfg, &p0, &err);
    CHECK_MSG(a && b, "sn_trainer_new: %s", sono_last_error());
    if (!a || !b) { sn_trainer_free(a); sn_trainer_free(b); return; }
    CHECK(sn_trainer_step(a) == 0 && sn_trainer_step(b) == 0);
    const double spec = sn_trainer_last_stats(a)->spec;
    CHECK_MSG(spec > 0 && isfinite(spec) && sn_trainer_last_stats(b)->spec == 0, "spec loss %g, off: %g", spec,
              sn_trainer_last_stats(b)->spec);
    /* the same batch and losses otherwise: only the gradient differs */
    CHECK(sn_trainer_last_stats(a)->mel == sn_trainer_last_stats(b)->mel);
    size_t na, nb;
    const float *ga = sn_trainer_grads_data(a, &na), *gb = sn_trainer_grads_data(b, &nb);
    CHECK_MSG(na == nb && memcmp(ga, gb, na * sizeof(float)), "the log-spectrum loss left the gradient as it was");
    char ck[512], ck0[512];
    snprintf(ck, sizeof ck, "%s/spec.safetensors", g_dir);
    snprintf(ck0, sizeof ck0, "%s/nospec.safetensors", g_dir);
    CHECK(sn_trainer_save_checkpoint(a, ck) == 0 && sn_trainer_save_checkpoint(b, ck0) == 0);
    CHECK_MSG(ckpt_mentions(ck, "spec_top_hz") && !ckpt_mentions(ck0, "w_spec"),
              "checkpoint metadata: the log-spectrum settings only where the loss is on");
    for (int i = 0; i < 2; i++) CHECK(sn_trainer_step(a) == 0);
    /* a resume keeps it, bit for bit */
    trainer_params keep = keep_phase(p0);
    trainer *c = sn_trainer_resume(ck, &keep, &err);
    CHECK_MSG(c != NULL, "resume: %s", sono_last_error());
    if (c) {
        const trainer_params *q = sn_trainer_get_params(c);
        CHECK(q->w_spec == 1.0f && q->spec_log2_min == 8 && q->spec_log2_max == 8 && q->spec_top_hz == 2000.0f);
        for (int i = 0; i < 2; i++) CHECK(sn_trainer_step(c) == 0);
        CHECK_MSG(same_state(a, c) && sn_trainer_last_stats(c)->spec == sn_trainer_last_stats(a)->spec,
                  "resume with the log-spectrum loss not bit-identical");
        sn_trainer_free(c);
    }
    /* switched off on resume; switched on, with a frozen encoder */
    trainer_params off = keep;
    off.w_spec = 0;
    c = sn_trainer_resume(ck, &off, &err);
    CHECK(c && sn_trainer_get_params(c)->w_spec == 0 && sn_trainer_step(c) == 0 && sn_trainer_last_stats(c)->spec == 0);
    sn_trainer_free(c);
    trainer_params on = keep;
    on.w_spec = 0.5f;
    on.spec_log2_min = 7; on.spec_log2_max = 9;
    on.spec_top_hz = 3000.0f;
    on.freeze_encoder = 1;
    c = sn_trainer_resume(ck0, &on, &err);
    CHECK_MSG(c != NULL, "resume frozen: %s", sono_last_error());
    if (c) {
        const trainer_params *q = sn_trainer_get_params(c);
        CHECK(q->w_spec == 0.5f && q->spec_log2_min == 7 && q->spec_log2_max == 9 && q->frozen_at == 1);
        CHECK(sn_trainer_step(c) == 0 && sn_trainer_last_stats(c)->spec > 0);
        sn_trainer_free(c);
    }
    /* bad settings */
    trainer_params bad = p;
    bad.spec_log2_min = bad.spec_log2_max = 11; /* 2048 > 800 samples */
    CHECK(sn_trainer_new(&cfg, &bad, &err) == NULL && err == SONO_E_ARG);
    bad = p;
    bad.w_spec = -1;
    CHECK(sn_trainer_new(&cfg, &bad, &err) == NULL && err == SONO_E_ARG);
    bad = p;
    bad.spec_top_hz = 0;
    CHECK(sn_trainer_new(&cfg, &bad, &err) == NULL && err == SONO_E_ARG);
    sn_trainer_free(a);
    sn_trainer_free(b);
    printf("  log-spectrum loss: %.4f at step 1, changes the gradient, recorded and resumed bit for bit, "
           "switched off and on (frozen) on resume\n", spec);
}

int main(void) {
    tu_seed(7);
    snprintf(g_dir, sizeof g_dir, "/tmp/sono-test-trainer-XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    for (int i = 0; i < 4; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/clip%d.wav", g_dir, i);
        if (write_clip(p, 8000 + 1000 * i, i)) { fprintf(stderr, "cannot write %s\n", p); return 1; }
    }
    write_manifest("train.jsonl", 4);
    write_manifest("one.jsonl", 1);
    test_killed_checkpoint(); /* first: it forks, before any thread pool exists */
    test_resume(1, -1, 0);
    test_resume(1, 2, 2);
    test_phase_change();
    test_bandwidth_mix();
    test_disc_width();
    test_disc_reset();
    test_resume(2, 2, 0);
    test_resume(2, 2, 2);
    test_mpd();
    test_freeze(0, 1);
    test_freeze(1, 2);
    test_spec_loss();
    test_cache();
    test_learning();
    test_bad_input();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    return tu_finish("trainer");
}
