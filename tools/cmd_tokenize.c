/* sonotok tokenize: audio file -> token file (.tok, .npy or EnCodec's
 * .ecdc), or a whole folder tree -> one archive. Audio is streamed through
 * the encoder in one-second blocks, so memory stays bounded on long inputs.
 * --shard K/N takes a stable 1/N of a tree's files (by a hash of the
 * relative path), so a job array can split a corpus and merge the archives
 * afterwards. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"

enum { OPT_SHARD = CLI_OPT_LONG, OPT_DRY_RUN, OPT_KEEP_GOING, OPT_CODER };

static const cli_opt tokenize_opts[] = {
    CLI_COMMON_OPTS,
    {'m', "model", "MODEL", "codec model: path or name (default: \"default\")"},
    {'b', "bandwidth", "KBPS", "target bandwidth (default: 6 if offered, else the lowest)"},
    {'f', "format", "FMT", "tok (default), npy ([n_q, n_frames] int64) or ecdc (EnCodec's); also by OUTPUT's .npy/.ecdc"},
    {'o', "output", "OUTPUT", "output file, archive for a folder, or - for stdout"},
    {OPT_CODER, "coder", "CODER", "token-file coder: auto (default: the smallest), model, range, zstd or packed"},
    {OPT_SHARD, "shard", "K/N", "folder mode: only the K-th of N shards (1 <= K <= N)"},
    {OPT_DRY_RUN, "dry-run", NULL, "folder mode: print the files that would be packed, write nothing"},
    {OPT_KEEP_GOING, "keep-going", NULL, "folder mode: on a failing file, go on; write the rest, exit 2"},
    {0, NULL, NULL, NULL},
};

static int run_tokenize(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_tokenize = {
    .name = "tokenize",
    .summary = "Turn audio into codec tokens (a file, or a folder into an archive).",
    .usage = "[options] INPUT -o OUTPUT\n"
             "       sonotok tokenize [options] DIR -o ARCHIVE [--shard K/N]",
    .details =
        "INPUT is any file libsndfile reads (WAV, FLAC, Ogg, Opus, MP3, ...) or - for\n"
        "stdin; it is resampled to the model's rate and channel count.\n"
        "\n"
        "When INPUT is a folder, every audio file below it (recursively, in sorted\n"
        "order; symbolic links are followed, except back into a folder above them)\n"
        "becomes one archive entry named by its relative path, extension kept\n"
        "(DIR/a/b.wav -> \"a/b.wav\"). Files that are not audio are listed as\n"
        "\"skipped: PATH (reason)\" and do not fail the run.\n"
        "\n"
        "Sharding: --shard K/N keeps the files whose relative path hashes to shard K,\n"
        "independent of file order, so N jobs cover every file exactly once:\n"
        "    for k in 1 2 3 4; do sonotok tokenize corpus -o part$k.sta --shard $k/4 & done\n"
        "    sonotok archive-merge all.sta part1.sta part2.sta part3.sta part4.sta\n"
        "\n"
        "--coder picks how a token file stores its codes: packed (fixed-width), zstd,\n"
        "range (an adaptive binary range coder), model (a range coder driven by the\n"
        "codec's coder model, NAME.coder beside the codec: `sonotok train-coder` makes\n"
        "one; no such model: exit 4) or auto, the smallest of those that apply (the\n"
        "model coder when the codec has one). The summary line gives the kbps on disk\n"
        "next to the nominal rate (codebooks x bits per code x frame rate).\n"
        "\n"
        "--format ecdc (or an OUTPUT ending in .ecdc) writes EnCodec's .ecdc\n"
        "(facebookresearch/encodec) without its entropy-coded LM, byte for byte as its\n"
        "compress(..., use_lm=False) writes the same codes. The file names the model:\n"
        "the reference reads those of encodec_24khz and encodec_48khz; one made with\n"
        "another model (sonotok-24k, say) carries that name, and only sonotok reads it.\n"
        "\n"
        "OUTPUT is written under a temporary name beside it and renamed when\n"
        "complete, so a failed or interrupted run leaves nothing behind; a symbolic\n"
        "link is written through (it stays a link). A device (/dev/null), a FIFO or\n"
        "- (stdout) is written directly. An OUTPUT that is the input (also through a\n"
        "link), or an audio file in the input folder, is refused (exit 2).\n",
    .opts = tokenize_opts,
    .run = run_tokenize,
};

/* ---- encoding one reader ---- */

typedef struct {
    cli_progress *progress;
    double done_before;   /* progress fraction of earlier files */
    double share;         /* fraction this file contributes */
    const char *label;
} progress_ctx;

/* Stream r through an encoder. *out receives the tokens. Returns a negative
 * sono_error on failure (detail set), 0 on success. */
static int encode_reader(const sono_codec *codec, sono_audio_reader *r, int n_q,
                         const progress_ctx *pc, sono_tokens **out) {
    int rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec);
    int64_t block = rate > 0 ? rate : 24000;
    int64_t total = sono_audio_length(r);
    float *buf = malloc((size_t)block * (size_t)ch * sizeof *buf);
    if (!buf) return SONO_E_NOMEM;
    int err = 0;
    sono_codec_stream *s = sono_codec_encoder_stream(codec, n_q, &err);
    if (!s) {
        free(buf);
        return err ? err : SONO_E_ARG;
    }
    int64_t done = 0;
    int rc = 0;
    for (;;) {
        int64_t n = sono_audio_read(r, buf, block);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        if (n == 0) break;
        int prc = sono_codec_encoder_push(s, buf, n);
        if (prc < 0) {
            rc = prc;
            break;
        }
        done += n;
        if (pc && pc->progress->enabled) {
            double f = total > 0 ? (double)done / (double)total : 0;
            if (f > 1) f = 1;
            /* Unknown length (a pipe): a lone file shows elapsed time instead. */
            double frac = total > 0 || pc->share < 1 ? pc->done_before + pc->share * f : -1;
            char extra[160];
            snprintf(extra, sizeof extra, "%.0f s %s", (double)done / rate, pc->label ? pc->label : "");
            cli_progress_update(pc->progress, frac, extra);
        }
    }
    if (rc == 0) {
        rc = sono_codec_encoder_finish(s, out);
        if (rc > 0) rc = 0;
    }
    sono_codec_stream_free(s);
    free(buf);
    return rc;
}

enum { FMT_TOK, FMT_NPY, FMT_ECDC };

/* Serialise tokens as a token file (through tp: coder and coder model), .npy or .ecdc. */
static int serialise(const sono_codec *codec, const sono_tokens *t, int format, const sono_tokens_encode_params *tp,
                     uint8_t **buf, size_t *n) {
    if (format == FMT_NPY) return sono_npy_encode(t->codes, t->n_q, t->n_frames, buf, n);
    if (format == FMT_ECDC) return sono_codec_ecdc_encode(codec, t, buf, n);
    return sono_tokens_encode_ex(t, tp, buf, n);
}

static void add_stats(cli_stats *st, const sono_tokens *t, size_t n_bytes) {
    st->files++;
    if (t->sample_rate > 0) st->audio_seconds += (double)t->n_samples / t->sample_rate;
    st->token_bytes += n_bytes;
    st->tokens += (uint64_t)t->n_q * (uint64_t)t->n_frames;
    int bits = 0;
    while (bits < 31 && ((int64_t)1 << bits) < t->codebook_size) bits++;
    st->nominal_bits += (double)t->n_q * (double)t->n_frames * bits;
}

/* ---- folder walking ---- */

typedef struct {
    char **paths;   /* relative paths, '/'-separated */
    size_t n, cap;
    dev_t skip_dev; /* the output, if it already exists in the tree and is not audio */
    ino_t skip_ino;
    int have_skip;
    const cli_common *common;
} walk_state;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push_path(walk_state *w, const char *rel) {
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        char **np = realloc(w->paths, nc * sizeof *np);
        if (!np) return -1;
        w->paths = np;
        w->cap = nc;
    }
    if (!(w->paths[w->n] = strdup(rel))) return -1;
    w->n++;
    return 0;
}

/* cli_walk_tree's callback: keep the regular files, except the output archive. */
static int walk_file(const char *rel, const char *path, const struct stat *st, void *user) {
    walk_state *w = user;
    if (!st) {
        cli_note(w->common, 1, "skipped: %s (%s)", rel, errno == ENOENT ? "broken link" : strerror(errno));
        return 0;
    }
    if (!S_ISREG(st->st_mode)) {
        cli_note(w->common, 1, "skipped: %s (not a regular file)", rel);
        return 0;
    }
    if (w->have_skip && st->st_dev == w->skip_dev && st->st_ino == w->skip_ino) {
        cli_note(w->common, 2, "skipped: %s (the output archive)", rel);
        return 0;
    }
    if (push_path(w, rel)) return cli_fail(CLI_EXIT_IO, rel, "out of memory");
    return cli_protect_inputs((const char *const[]){path}, 1);
}

static void walk_free(walk_state *w) {
    for (size_t i = 0; i < w->n; i++) free(w->paths[i]);
    free(w->paths);
}

/* Stable shard of a relative path: FNV-1a, then a 64-bit finaliser so the
 * low bits used by the modulo are well mixed. */
static unsigned shard_of(const char *rel, unsigned n_shards) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (unsigned)(h % n_shards);
}

/* Is err from sono_audio_open a reason to skip the file, not to fail? */
static const char *skip_reason(int err) {
    if (err == SONO_E_FORMAT || err == SONO_E_UNSUPPORTED) return "not audio";
    if (err == SONO_E_EMPTY) return "empty audio";
    return NULL;
}

typedef struct {
    cli_common common;
    const char *model;
    double kbps;
    int coder;      /* enum sono_token_coder */
    int format;     /* FMT_* */
    const char *output;
    unsigned shard_k, shard_n;
    int dry_run;
    int keep_going;
} tok_opts;

/* The token-file settings for codec: the coder, and its coder model when
 * the coder may use one. *model gets the model (the caller frees it). 0, or
 * an exit code (printed): the model coder asked for and none usable. */
static int pick_coder(const tok_opts *o, const sono_codec *codec, sono_tokens_encode_params *tp, sono_coder **model) {
    *tp = sono_tokens_encode_default_params();
    tp->coder = o->coder;
    tp->n_threads = o->common.n_threads > 0 ? o->common.n_threads : 1;
    *model = NULL;
    if (o->format != FMT_TOK || (o->coder != SONO_CODER_AUTO && o->coder != SONO_CODER_MODEL)) return 0;
    const char *name = sono_codec_name(codec);
    int err = 0;
    char path[4096];
    sono_clear_error();
    if (sono_coder_resolve(name, path, sizeof path) < 0) {
        if (o->coder == SONO_CODER_MODEL)
            return cli_fail(CLI_EXIT_MODEL, "--coder model", "codec %s has no coder model (%s)", name, sono_last_error());
        cli_note(&o->common, 2, "codec %s has no coder model: coders 0-2 only", name);
        return 0;
    }
    sono_coder *m = sono_coder_load(path, &err);
    if (!m) return cli_fail_detail(path, SONO_E_MODEL_MISSING, sono_last_error());
    /* made for the codec's codes hash, or (models made before it) its full hash */
    uint8_t codes[16], full[16], got[16];
    sono_codec_codes_hash(codec, codes);
    sono_codec_hash(codec, full);
    sono_coder_codec_hash(m, got);
    if ((memcmp(codes, got, 16) && memcmp(full, got, 16)) || strcmp(sono_coder_codec_name(m), name)) {
        sono_coder_free(m);
        if (o->coder == SONO_CODER_MODEL)
            return cli_fail(CLI_EXIT_MODEL, path, "made for other weights of codec %s: retrain it (train-coder)", name);
        cli_note(&o->common, 1, "%s: made for other weights of codec %s, not used", path, name);
        return 0;
    }
    cli_note(&o->common, 2, "coder model %s", path);
    tp->model = *model = m;
    return 0;
}

static int tokenize_tree(const tok_opts *o, const char *root) {
    const cli_common *c = &o->common;
    walk_state w;
    memset(&w, 0, sizeof w);
    w.common = c;
    struct stat st;
    /* An archive from an earlier run may sit in the tree: it is the output,
     * not an input. An audio file there is an input, protected by the walk. */
    int err = 0;
    sono_audio_reader *prev = NULL;
    if (o->output && strcmp(o->output, "-") && stat(o->output, &st) == 0 && S_ISREG(st.st_mode) &&
        !(prev = sono_audio_open(o->output, 0, 0, &err))) {
        w.have_skip = 1;
        w.skip_dev = st.st_dev;
        w.skip_ino = st.st_ino;
    }
    sono_audio_close(prev);
    int rc = cli_walk_tree(c, root, 0, walk_file, &w);
    if (!rc && o->output && !o->dry_run) rc = cli_check_output(o->output);
    if (rc) {
        walk_free(&w);
        return rc;
    }
    qsort(w.paths, w.n, sizeof *w.paths, cmp_str);

    /* Keep this shard's files. */
    size_t n_sel = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (o->shard_n > 1 && shard_of(w.paths[i], o->shard_n) != o->shard_k - 1) {
            free(w.paths[i]);
            continue;
        }
        w.paths[n_sel++] = w.paths[i];
    }
    w.n = n_sel;
    if (o->shard_n > 1)
        cli_note(c, 2, "shard %u/%u: %zu file(s)", o->shard_k, o->shard_n, w.n);

    if (o->dry_run) {
        /* Probe each file as the real run would (header only, no model). */
        for (size_t i = 0; i < w.n; i++) {
            char path[16384];
            snprintf(path, sizeof path, "%s/%s", root, w.paths[i]);
            sono_clear_error();
            sono_audio_reader *r = sono_audio_open(path, 0, 0, &err);
            if (!r) {
                const char *why = skip_reason(err);
                if (why) cli_note(c, 1, "skipped: %s (%s)", w.paths[i], why);
                else rc = rc ? rc : cli_fail_sono(w.paths[i], err);
                continue;
            }
            sono_audio_close(r);
            printf("%s\n", w.paths[i]);
        }
        walk_free(&w);
        if (fflush(stdout) != 0) return cli_fail_errno("<stdout>", errno);
        return rc;
    }
    if (w.n == 0 && o->shard_n <= 1) {
        walk_free(&w);
        return cli_fail(CLI_EXIT_DATA, root, "no files to tokenize");
    }

    int exit_code = 0;
    sono_codec *codec = cli_load_codec(c, o->model, &exit_code);
    if (!codec) {
        walk_free(&w);
        return exit_code;
    }
    double kbps = 0;
    int n_q = cli_pick_n_q(codec, o->kbps, &kbps, &exit_code);
    if (n_q < 0) {
        sono_codec_free(codec);
        walk_free(&w);
        return exit_code;
    }
    cli_note(c, 2, "%g kbps: %d codebooks", kbps, n_q);
    int rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec);
    sono_tokens_encode_params tp;
    sono_coder *cmodel = NULL;
    if ((rc = pick_coder(o, codec, &tp, &cmodel)) != 0) {
        sono_codec_free(codec);
        walk_free(&w);
        return rc;
    }

    sono_clear_error();
    sono_archive_writer *aw = sono_archive_create(o->output, &err);
    if (!aw) rc = cli_fail_sono(o->output, err ? err : SONO_E_IO);

    cli_stats stats;
    cli_stats_init(&stats);
    cli_progress prog;
    cli_progress_init(&prog, c, "tokenize");
    size_t n_added = 0, n_skipped = 0, n_failed = 0;
    for (size_t i = 0; i < w.n && !rc; i++) {
        char path[16384];
        snprintf(path, sizeof path, "%s/%s", root, w.paths[i]);
        sono_clear_error();
        sono_audio_reader *r = sono_audio_open(path, rate, ch, &err);
        if (!r) {
            const char *why = skip_reason(err);
            cli_progress_clear(&prog);
            if (why) {
                cli_note(c, 1, "skipped: %s (%s)", w.paths[i], why);
                n_skipped++;
                continue;
            }
            int e = cli_fail_sono(w.paths[i], err);
            n_failed++;
            if (!o->keep_going) rc = e;
            continue;
        }
        progress_ctx pc = {&prog, (double)i / (double)w.n, 1.0 / (double)w.n, w.paths[i]};
        sono_tokens *t = NULL;
        int erc = encode_reader(codec, r, n_q, &pc, &t);
        sono_audio_close(r);
        uint8_t *buf = NULL;
        size_t nb = 0;
        int add_failed = 0;
        if (erc == 0) erc = serialise(codec, t, FMT_TOK, &tp, &buf, &nb);
        if (erc == 0) {
            sono_clear_error();
            erc = sono_archive_add(aw, w.paths[i], buf, nb);
            /* SONO_E_ARG: the name was refused (e.g. not UTF-8) before
             * anything was written; the writer is still good. */
            add_failed = erc < 0 && erc != SONO_E_ARG;
        }
        if (erc < 0) {
            cli_progress_clear(&prog);
            int e = cli_fail_sono(w.paths[i], erc);
            n_failed++;
            /* A failed add may leave the writer unusable: always stop then. */
            if (!o->keep_going || add_failed) rc = e;
        } else {
            n_added++;
            add_stats(&stats, t, nb);
            if (c->verbosity >= 2) {
                cli_progress_clear(&prog);
                cli_note(c, 2, "%s: %.2f s, %lld frames x %d codebooks, %zu bytes", w.paths[i],
                         t->sample_rate > 0 ? (double)t->n_samples / t->sample_rate : 0.0,
                         (long long)t->n_frames, t->n_q, nb);
            }
        }
        free(buf);
        sono_tokens_free(t);
    }
    cli_progress_clear(&prog);

    if (!rc && n_added == 0 && o->shard_n <= 1)
        rc = cli_fail(CLI_EXIT_DATA, root, "no audio files found (%zu skipped)", n_skipped);
    if (!rc) {
        sono_clear_error();
        int crc = sono_archive_commit(aw);
        aw = NULL;
        if (crc < 0) rc = cli_fail_sono(o->output, crc);
    }
    if (rc) {
        sono_archive_abort(aw);
    } else {
        struct stat ost;
        if (strcmp(o->output, "-") && stat(o->output, &ost) == 0) stats.token_bytes = (uint64_t)ost.st_size;
        cli_print_summary(c, &stats, "tokenized");
        if (n_skipped) cli_note(c, 1, "%zu file%s skipped", n_skipped, n_skipped == 1 ? "" : "s");
        if (n_failed) {
            cli_fail(0, NULL, "%zu file%s failed and %s not in the archive", n_failed,
                     n_failed == 1 ? "" : "s", n_failed == 1 ? "is" : "are");
            rc = CLI_EXIT_DATA;
        }
    }
    sono_coder_free(cmodel);
    sono_codec_free(codec);
    walk_free(&w);
    return rc;
}


/* A reader error on input, naming standard input "-" rather than the path
 * it was opened by. */
static int fail_input(const char *input, const char *path, int err) {
    const char *d = sono_last_error();
    size_t n = strlen(path);
    if (strcmp(input, path) && !strncmp(d, path, n) && d[n] == ':' && d[n + 1] == ' ') d += n + 2;
    return cli_fail_detail(input, err ? err : SONO_E_FORMAT, d);
}

static int tokenize_file(const tok_opts *o, const char *input) {
    const cli_common *c = &o->common;
    int is_stdin = strcmp(input, "-") == 0, spool_fd = -1;
    char in_path[64];
    int rc = 0;
    if (is_stdin && (rc = cli_spool(input, in_path, sizeof in_path, &spool_fd)) != 0) return rc;
    const char *path = is_stdin ? in_path : input;
    sono_coder *cmodel = NULL; /* before the first goto: done_codec frees it */

    /* Check the input and output before spending time on the model. */
    if ((rc = cli_protect_inputs(&input, 1)) != 0 || (o->output && (rc = cli_check_output(o->output)) != 0))
        goto done_input;
    int err = 0;
    sono_clear_error();
    sono_audio_reader *r = sono_audio_open(path, 0, 0, &err);
    if (!r) {
        rc = fail_input(input, path, err);
        goto done_input;
    }
    sono_audio_close(r);
    if (o->dry_run) {
        printf("%s\n", input);
        rc = fflush(stdout) == 0 ? 0 : cli_fail_errno("<stdout>", errno);
        goto done_input;
    }

    sono_codec *codec = cli_load_codec(c, o->model, &rc);
    if (!codec) goto done_input;
    double kbps = 0;
    int n_q = cli_pick_n_q(codec, o->kbps, &kbps, &rc);
    if (n_q < 0) goto done_codec;
    cli_note(c, 2, "%g kbps: %d codebooks", kbps, n_q);
    sono_tokens_encode_params tp;
    if ((rc = pick_coder(o, codec, &tp, &cmodel)) != 0) goto done_codec;

    sono_clear_error();
    int rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec);
    r = sono_audio_open(path, rate, ch, &err);
    if (!r) {
        rc = fail_input(input, path, err);
        goto done_codec;
    }
    cli_stats stats;
    cli_stats_init(&stats);
    cli_progress prog;
    cli_progress_init(&prog, c, "tokenize");
    progress_ctx pc = {&prog, 0, 1, NULL};
    sono_tokens *t = NULL;
    int erc = encode_reader(codec, r, n_q, &pc, &t);
    cli_progress_clear(&prog);
    sono_audio_close(r);
    if (erc < 0) {
        rc = cli_fail_sono(input, erc);
        goto done_codec;
    }
    uint8_t *buf = NULL;
    size_t nb = 0;
    sono_clear_error();
    erc = serialise(codec, t, o->format, &tp, &buf, &nb);
    if (erc < 0) {
        rc = cli_fail_sono(o->output, erc);
        goto done_tokens;
    }
    sono_clear_error();
    erc = sono_output_save(o->output, buf, nb);
    if (erc < 0) rc = cli_fail_sono(o->output, erc);
    free(buf);
    if (!rc) {
        add_stats(&stats, t, nb);
        cli_print_summary(c, &stats, "tokenized");
    }
done_tokens:
    sono_tokens_free(t);
done_codec:
    sono_coder_free(cmodel);
    sono_codec_free(codec);
done_input:
    if (spool_fd >= 0) close(spool_fd);
    return rc;
}

static int parse_shard(const char *s, unsigned *k, unsigned *n) {
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash) return -1;
    char a[32];
    size_t la = (size_t)(slash - s);
    if (la == 0 || la >= sizeof a) return -1;
    memcpy(a, s, la);
    a[la] = 0;
    long kk, nn;
    if (cli_parse_int(a, 1, 1000000, &kk) || cli_parse_int(slash + 1, 1, 1000000, &nn) || kk > nn) return -1;
    *k = (unsigned)kk;
    *n = (unsigned)nn;
    return 0;
}

static int run_tokenize(const cli_cmd *cmd, int argc, char **argv) {
    tok_opts o;
    memset(&o, 0, sizeof o);
    cli_common_init(&o.common);
    o.model = "default";
    o.coder = SONO_CODER_AUTO;
    const char *format = NULL, *coder = NULL;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&o.common, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': o.model = arg; break;
        case 'b':
            if (cli_parse_double(arg, 0.01, 10000, &o.kbps))
                rc = cli_usage_error(cmd, "--bandwidth wants a positive number of kbps, not '%s'", arg);
            break;
        case 'f': format = arg; break;
        case 'o': o.output = arg; break;
        case OPT_SHARD:
            if (parse_shard(arg, &o.shard_k, &o.shard_n))
                rc = cli_usage_error(cmd, "--shard wants K/N with 1 <= K <= N, not '%s'", arg);
            break;
        case OPT_DRY_RUN: o.dry_run = 1; break;
        case OPT_KEEP_GOING: o.keep_going = 1; break;
        case OPT_CODER: coder = arg; break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (argc - first != 1)
        return cli_usage_error(cmd, argc - first == 0 ? "no INPUT given" : "one INPUT only (a file or a folder)");
    const char *input = argv[first];
    if (format && strcmp(format, "tok") && strcmp(format, "npy") && strcmp(format, "ecdc"))
        return cli_usage_error(cmd, "--format is tok, npy or ecdc, not '%s'", format);
    if (!o.output && !o.dry_run) return cli_usage_error(cmd, "no OUTPUT given (-o FILE, or -o - for stdout)");
    const char *fmt_name = format ? format : o.output ? cli_path_ext(o.output) : "";
    o.format = !strcmp(fmt_name, "npy") ? FMT_NPY : !strcmp(fmt_name, "ecdc") ? FMT_ECDC : FMT_TOK;
    if (coder) {
        static const char *const names[] = {"packed", "zstd", "range", "model"};
        o.coder = -2;
        if (!strcmp(coder, "auto")) o.coder = SONO_CODER_AUTO;
        for (int i = 0; i < 4; i++)
            if (!strcmp(coder, names[i])) o.coder = i;
        if (o.coder == -2) return cli_usage_error(cmd, "--coder is auto, model, range, zstd or packed, not '%s'", coder);
        if (o.format != FMT_TOK) return cli_usage_error(cmd, "--coder is for token files, not --format npy or ecdc");
    }

    cli_install_log(&o.common);
    struct stat st;
    int is_dir = 0;
    if (strcmp(input, "-") != 0) {
        if (stat(input, &st) != 0) return cli_fail_errno(input, errno);
        is_dir = S_ISDIR(st.st_mode);
    }
    if (is_dir) {
        if (o.format != FMT_TOK)
            return cli_usage_error(cmd, "a folder becomes an archive; --format npy and ecdc are for single files");
        return tokenize_tree(&o, input);
    }
    if (o.shard_n) return cli_usage_error(cmd, "--shard is for folder input");
    return tokenize_file(&o, input);
}
