/* sonotok detokenize: token file, .npy code array, EnCodec .ecdc or archive
 * -> audio. A token file (and a .ecdc) names the model that made it, so -m
 * is optional for them and for archives; the codec refuses tokens from
 * another model. Audio is pulled from the decoder in one-second blocks and
 * written as it comes. Archives can also be listed, verified, or have one
 * entry extracted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"

enum { OPT_LIST = CLI_OPT_LONG, OPT_ENTRY, OPT_VERIFY };

static const cli_opt detokenize_opts[] = {
    CLI_COMMON_OPTS,
    {'m', "model", "MODEL", "codec model (default: the one named in the token or .ecdc file; required for .npy)"},
    {'r', "rate", "HZ", "output sample rate (default: the model's)"},
    {'f', "format", "FMT", "output format: wav, flac, ogg or opus (default: from OUTPUT's extension)"},
    {'o', "output", "OUTPUT", "audio file, - for stdout (WAV), or a folder for an archive's entries"},
    {'l', "list", NULL, "archive: print one line per entry: name, frames, seconds, codebooks, bytes"},
    {OPT_ENTRY, "entry", "NAME", "archive: decode only this entry to OUTPUT"},
    {OPT_VERIFY, "verify", NULL, "archive or token file: check every checksum and entry, decode no audio"},
    {0, NULL, NULL, NULL},
};

static int run_detokenize(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_detokenize = {
    .name = "detokenize",
    .summary = "Turn codec tokens back into audio (a token file, a .npy, a .ecdc, or an archive).",
    .usage = "[options] INPUT -o OUTPUT\n"
             "       sonotok detokenize [options] ARCHIVE -o DIR\n"
             "       sonotok detokenize ARCHIVE --entry NAME -o OUTPUT\n"
             "       sonotok detokenize --list ARCHIVE\n"
             "       sonotok detokenize --verify ARCHIVE",
    .details =
        "INPUT is a token file (the model is the one named in it unless -m says\n"
        "otherwise; a token file from another model is refused), a .npy array\n"
        "[n_q, n_frames] of codes (needs -m), an EnCodec .ecdc without its LM\n"
        "(recognised by its magic; the model is the one it names, encodec_24khz or\n"
        "encodec_48khz for the reference's files, unless -m says otherwise; a file\n"
        "coded with EnCodec's LM is refused, exit 2), or an archive made by tokenize.\n"
        "\n"
        "An archive is restored into the folder DIR: entry a/b.wav becomes\n"
        "DIR/a/b.wav, written in the format its extension names when it is one of\n"
        "wav, flac, ogg, opus (else .wav is appended: a/c.mp3 -> DIR/a/c.mp3.wav).\n"
        "Nothing is written outside DIR. A damaged entry is reported and skipped,\n"
        "the others are still restored, and the exit status is 2. An OUTPUT that\n"
        "names one file (an existing folder excepted): an audio file name such as\n"
        "x.wav, - (stdout), a device or a FIFO, gets the entry of a one-entry\n"
        "archive; for an archive of several entries it is a usage error (exit 1):\n"
        "give --entry NAME, or a folder.\n"
        "\n"
        "OUTPUT is written under a temporary name beside it and renamed when\n"
        "complete; a symbolic link is written through (it stays a link); a device,\n"
        "a FIFO or - (stdout) is written directly. An OUTPUT that is the INPUT (also\n"
        "through a link) is refused (exit 2).\n"
        "\n"
        "--list prints NAME<TAB>FRAMES<TAB>SECONDS<TAB>CODEBOOKS<TAB>BYTES per entry\n"
        "(with -v, a header line first). --verify prints a summary and exits with 2\n"
        "if any entry is damaged.\n",
    .opts = detokenize_opts,
    .run = run_detokenize,
};

typedef struct {
    cli_common common;
    const char *model;
    int rate;
    const char *format;
    const char *output;
    int list, verify;
    const char *entry;
} detok_opts;

/* Loaded codecs by model argument, so an archive loads each model once. */
#define MAX_CODECS 8
typedef struct {
    const detok_opts *o;
    char names[MAX_CODECS][SONO_MODEL_NAME_MAX + 1];
    sono_codec *codecs[MAX_CODECS];
    int n;
    sono_coder *coder;     /* the coder model of the first entry's codec, when it has one */
    int coder_tried;
    cli_stats stats;
    cli_progress prog;
} detok_ctx;

static sono_codec *get_codec(detok_ctx *x, const char *model, int *exit_code) {
    for (int i = 0; i < x->n; i++)
        if (!strcmp(x->names[i], model)) return x->codecs[i];
    sono_codec *c = cli_load_codec(&x->o->common, model, exit_code);
    if (!c) return NULL;
    if (x->n == MAX_CODECS) {
        sono_codec_free(x->codecs[0]);
        memmove(&x->codecs[0], &x->codecs[1], (MAX_CODECS - 1) * sizeof x->codecs[0]);
        memmove(&x->names[0], &x->names[1], (MAX_CODECS - 1) * sizeof x->names[0]);
        x->n--;
    }
    snprintf(x->names[x->n], sizeof x->names[x->n], "%s", model);
    x->codecs[x->n++] = c;
    return c;
}

static void ctx_free(detok_ctx *x) {
    for (int i = 0; i < x->n; i++) sono_codec_free(x->codecs[i]);
    x->n = 0;
    sono_coder_free(x->coder);
    x->coder = NULL;
}

static double tokens_seconds(const sono_tokens *t) {
    return t->sample_rate > 0 ? (double)t->n_samples / t->sample_rate : 0;
}

/* Decode t with codec into the audio file final (via a temporary name).
 * what names the input in messages. Returns 0 or an exit code (printed). */
static int decode_to_file(detok_ctx *x, const sono_codec *codec, const sono_tokens *t, const char *final,
                          const char *fmt, const char *what, double frac_before, double share) {
    const detok_opts *o = x->o;
    sono_clear_error();
    int crc = sono_codec_check_tokens(codec, t);
    if (crc < 0) return cli_fail_sono(what, crc);
    int rate = sono_codec_sample_rate(codec), ch = sono_codec_channels(codec);
    int64_t block = rate > 0 ? rate : 24000;
    float *buf = malloc((size_t)block * (size_t)ch * sizeof *buf);
    if (!buf) return cli_fail(CLI_EXIT_IO, what, "out of memory");
    int err = 0;
    sono_codec_stream *s = sono_codec_decoder_stream(codec, t, &err);
    if (!s) {
        free(buf);
        return cli_fail_sono(what, err ? err : SONO_E_ARG);
    }
    int rc = 0;
    sono_clear_error();
    sono_audio_writer *w = sono_audio_create(final, fmt, rate, o->rate > 0 ? o->rate : rate, ch, &err);
    if (!w) rc = cli_fail_sono(final, err ? err : SONO_E_IO);
    int64_t done = 0;
    while (!rc && done < t->n_samples) {
        /* Ask for no more than what is left, so every pull is a full one and
         * the planar block is packed whichever stride the stream uses. */
        int64_t want = t->n_samples - done < block ? t->n_samples - done : block;
        int64_t n = sono_codec_decoder_pull(s, buf, want);
        if (n < 0) {
            rc = cli_fail_sono(what, (int)n);
            break;
        }
        if (n == 0) break;
        int wrc = sono_audio_write(w, buf, n);
        if (wrc < 0) {
            rc = cli_fail_sono(final, wrc);
            break;
        }
        done += n;
        if (x->prog.enabled) {
            char extra[160];
            double f = t->n_samples > 0 ? (double)done / (double)t->n_samples : 0;
            snprintf(extra, sizeof extra, "%.0f s %s", (double)done / rate, what);
            cli_progress_update(&x->prog, frac_before + share * (f > 1 ? 1 : f), extra);
        }
    }
    if (rc) {
        sono_audio_writer_abort(w);
    } else {
        cli_progress_clear(&x->prog);
        sono_clear_error();
        int wrc = sono_audio_writer_close(w);
        if (wrc < 0) rc = cli_fail_sono(final, wrc);
    }
    sono_codec_stream_free(s);
    free(buf);
    if (!rc) {
        x->stats.files++;
        x->stats.audio_seconds += tokens_seconds(t);
        x->stats.tokens += (uint64_t)t->n_q * (uint64_t)t->n_frames;
    }
    return rc;
}

/* Pick the codec for t: -m, else the model named in t. */
static sono_codec *codec_for_tokens(detok_ctx *x, const sono_tokens *t, int *exit_code) {
    const char *model = x->o->model;
    char name[SONO_MODEL_NAME_MAX + 1];
    if (!model) {
        memcpy(name, t->model_name, SONO_MODEL_NAME_MAX);
        name[SONO_MODEL_NAME_MAX] = 0;
        if (!name[0]) {
            *exit_code = cli_fail(CLI_EXIT_MODEL, NULL, "the tokens name no model; give one with -m");
            return NULL;
        }
        model = name;
    }
    return get_codec(x, model, exit_code);
}

/* ---- single token file / .npy ---- */

static int is_npy(const uint8_t *buf, size_t n) {
    return n >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0;
}

static int detok_npy(detok_ctx *x, const char *input, const uint8_t *data, size_t n, const char *fmt) {
    const detok_opts *o = x->o;
    int32_t *codes = NULL;
    int n_q = 0;
    int64_t n_frames = 0;
    sono_clear_error();
    /* Check the array first (dtype, shape) so bad data fails before the model loads. */
    int rc = sono_npy_decode(data, n, 0, &codes, &n_q, &n_frames);
    if (rc < 0) return cli_fail_sono(input, rc);
    if (n_q <= 0 || n_frames <= 0) {
        free(codes);
        return cli_fail(CLI_EXIT_DATA, input, "empty code array [%d, %lld]", n_q, (long long)n_frames);
    }
    int exit_code = 0;
    sono_codec *codec = get_codec(x, o->model, &exit_code);
    if (!codec) {
        free(codes);
        return exit_code;
    }
    /* The codec fills in its identity, the sample count the frames decode
     * to and unit segment scales, and range-checks the codes. */
    sono_tokens *t = NULL;
    sono_clear_error();
    rc = sono_codec_tokens_from_codes(codec, codes, n_q, n_frames, &t);
    free(codes);
    if (rc < 0) return cli_fail_sono(input, rc);
    x->stats.token_bytes += n;
    rc = decode_to_file(x, codec, t, o->output, fmt, input, 0, 1);
    sono_tokens_free(t);
    return rc;
}

static int is_ecdc(const uint8_t *buf, size_t n) {
    return n >= 4 && memcmp(buf, "ECDC", 4) == 0;
}

/* A name the model lookup takes as a name, not a path: a .ecdc comes from
 * anywhere, and its "m" must not reach files outside the model folders. */
static int plain_model_name(const char *s) {
    if (!*s || *s == '.') return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7F) return 0;
    return 1;
}

static int detok_ecdc(detok_ctx *x, const char *input, const uint8_t *data, size_t n, const char *fmt) {
    const detok_opts *o = x->o;
    sono_ecdc_info info;
    sono_clear_error();
    /* The header first (the LM variant, bad metadata), so bad data fails before the model loads. */
    int rc = sono_ecdc_probe(data, n, &info);
    if (rc < 0) return cli_fail_sono(input, rc);
    const char *model = o->model;
    if (!model) {
        char path[4096];
        sono_clear_error();
        if (!plain_model_name(info.model_name))
            return cli_fail(CLI_EXIT_MODEL, input, "made with model \"%s\", which is not a model name: give the model with -m",
                            info.model_name);
        if (sono_codec_resolve(info.model_name, path, sizeof path) < 0)
            return cli_fail(CLI_EXIT_MODEL, input, "made with model \"%s\", which sonotok cannot find (%s): give it with -m",
                            info.model_name, sono_last_error());
        model = info.model_name;
    }
    int exit_code = 0;
    sono_codec *codec = get_codec(x, model, &exit_code);
    if (!codec) return exit_code;
    /* A .ecdc has no model hash: -m is trusted, but say so when the names differ. */
    if (strcmp(sono_codec_name(codec), info.model_name))
        cli_note(&o->common, 1, "%s: made with model \"%s\", decoded with \"%s\" (-m)", input, info.model_name,
                 sono_codec_name(codec));
    sono_tokens *t = NULL;
    sono_clear_error();
    rc = sono_codec_ecdc_decode(codec, data, n, &t);
    if (rc < 0) return cli_fail_sono(input, rc);
    x->stats.token_bytes += n;
    rc = decode_to_file(x, codec, t, o->output, fmt, input, 0, 1);
    sono_tokens_free(t);
    return rc;
}

static void print_list_line(const char *name, const sono_tokens *t, uint64_t bytes) {
    if (t)
        printf("%s\t%lld\t%.3f\t%d\t%llu\n", name, (long long)t->n_frames, tokens_seconds(t), t->n_q,
               (unsigned long long)bytes);
    else
        printf("%s\t-\t-\t-\t%llu\n", name, (unsigned long long)bytes);
}

/* t: parsed from n bytes of input; freed here. */
static int detok_tokens(detok_ctx *x, const char *input, sono_tokens *t, size_t n, const char *fmt) {
    const detok_opts *o = x->o;
    int rc;
    if (o->list || o->verify) {
        if (o->list) {
            if (o->common.verbosity >= 2) printf("# name\tframes\tseconds\tcodebooks\tbytes\n");
            print_list_line(input, t, n);
        } else {
            cli_note(&o->common, 1, "verified %s: ok", input);
        }
        sono_tokens_free(t);
        return fflush(stdout) == 0 ? 0 : cli_fail_errno("<stdout>", errno);
    }
    int exit_code = 0;
    sono_codec *codec = codec_for_tokens(x, t, &exit_code);
    if (!codec) {
        sono_tokens_free(t);
        return exit_code;
    }
    x->stats.token_bytes += n;
    rc = decode_to_file(x, codec, t, o->output, fmt, input, 0, 1);
    sono_tokens_free(t);
    return rc;
}

/* ---- archives ---- */

/* Read and parse entry i. Returns 0 or an exit code (printed). */
static int read_entry(detok_ctx *x, sono_archive *a, int i, const char *archive, sono_tokens **t, size_t *n_bytes) {
    uint8_t *data = NULL;
    size_t n = 0;
    const char *name = sono_archive_name(a, i);
    char what[8192];
    snprintf(what, sizeof what, "%s: %s", archive, name ? name : "?");
    sono_clear_error();
    int rc = sono_archive_read(a, i, &data, &n);
    if (rc < 0) return cli_fail_sono(archive, rc); /* the detail names the entry */
    sono_clear_error();
    /* an archive's entries share their codec: its coder model (if any) is
     * loaded once, after the first entry, instead of once per entry */
    rc = sono_tokens_decode_ex(data, n, x->coder, t);
    free(data);
    if (rc < 0) return cli_fail_sono(what, rc);
    if (!x->coder_tried) {
        x->coder_tried = 1;
        x->coder = sono_coder_for_codec((*t)->model_name, NULL);
    }
    *n_bytes = n;
    return 0;
}

static int archive_list(detok_ctx *x, sono_archive *a, const char *archive) {
    int n = sono_archive_count(a), worst = 0;
    if (x->o->common.verbosity >= 2) printf("# name\tframes\tseconds\tcodebooks\tbytes\n");
    for (int i = 0; i < n; i++) {
        sono_tokens *t = NULL;
        size_t nb = 0;
        fflush(stdout);
        int rc = read_entry(x, a, i, archive, &t, &nb);
        if (rc && rc > worst) worst = rc;
        print_list_line(sono_archive_name(a, i), t, sono_archive_size(a, i));
        sono_tokens_free(t);
    }
    if (fflush(stdout) != 0) return cli_fail_errno("<stdout>", errno);
    return worst;
}

static int archive_verify(detok_ctx *x, sono_archive *a, const char *archive) {
    int n = sono_archive_count(a), bad = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        sono_tokens *t = NULL;
        size_t nb = 0;
        int rc = read_entry(x, a, i, archive, &t, &nb);
        if (rc) {
            bad++;
            if (rc > worst) worst = rc;
        } else {
            cli_note(&x->o->common, 2, "ok: %s", sono_archive_name(a, i));
        }
        sono_tokens_free(t);
    }
    if (bad)
        cli_fail(0, archive, "damaged entries: %d of %d", bad, n);
    else
        cli_note(&x->o->common, 1, "%s: all %d entr%s ok", archive, n, n == 1 ? "y" : "ies");
    return worst;
}

/* Is an archive entry name a safe relative path (no "..", no absolute path,
 * no empty or "." components)? */
static int safe_entry_name(const char *name) {
    if (!name || !*name || name[0] == '/') return 0;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) return 0;
        if (!e) break;
        p = e + 1;
        if (!*p) return 0; /* trailing slash */
    }
    return 1;
}

/* Create the folders between dir and dir/rel's last component, refusing to
 * pass through a symbolic link (which could lead outside dir). 0 or errno. */
static int make_parents_inside(const char *dir, const char *rel) {
    char path[16384];
    size_t dl = strlen(dir);
    if (dl + strlen(rel) + 2 >= sizeof path) return ENAMETOOLONG;
    memcpy(path, dir, dl);
    path[dl] = 0;
    const char *p = rel;
    for (;;) {
        const char *e = strchr(p, '/');
        if (!e) return 0;
        size_t k = strlen(path);
        path[k] = '/';
        memcpy(path + k + 1, p, (size_t)(e - p));
        path[k + 1 + (e - p)] = 0;
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (S_ISLNK(st.st_mode)) return ELOOP;
            if (!S_ISDIR(st.st_mode)) return ENOTDIR;
        } else if (errno != ENOENT || mkdir(path, 0777) != 0) {
            return errno;
        }
        p = e + 1;
    }
}

static int archive_extract_all(detok_ctx *x, sono_archive *a, const char *archive) {
    const detok_opts *o = x->o;
    const char *dir = o->output;
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return cli_fail(CLI_EXIT_IO, dir, "not a folder (an archive is restored into a folder)");
    } else {
        char probe[8192];
        snprintf(probe, sizeof probe, "%s/x", dir);
        int e = cli_mkdir_parents(probe);
        if (e) return cli_fail_errno(dir, e);
    }
    int n = sono_archive_count(a), worst = 0, n_bad = 0;
    for (int i = 0; i < n; i++) {
        const char *name = sono_archive_name(a, i);
        char what[8192];
        snprintf(what, sizeof what, "%s: %s", archive, name ? name : "?");
        if (!safe_entry_name(name)) {
            cli_progress_clear(&x->prog);
            cli_fail(0, what, "unsafe entry name (absolute or with '..'); skipped");
            worst = worst > CLI_EXIT_DATA ? worst : CLI_EXIT_DATA;
            n_bad++;
            continue;
        }
        sono_tokens *t = NULL;
        size_t nb = 0;
        int rc = read_entry(x, a, i, archive, &t, &nb);
        if (rc) {
            cli_progress_clear(&x->prog);
            if (rc > worst) worst = rc;
            n_bad++;
            continue;
        }
        /* Keep the entry's extension when it is a format we write (and the
         * one asked for); else append the format's: a/c.mp3 -> a/c.mp3.wav. */
        const char *ext = cli_path_ext(name);
        const char *fmt = o->format ? o->format : (*ext && sono_audio_can_write(ext) ? ext : "wav");
        int append = strcmp(ext, fmt) != 0;
        char final[16384];
        snprintf(final, sizeof final, "%s/%s%s%s", dir, name, append ? "." : "", append ? fmt : "");
        int e = make_parents_inside(dir, name);
        if (e) {
            cli_progress_clear(&x->prog);
            cli_fail(0, final, "%s", e == ELOOP ? "a folder on the way is a symbolic link; not writing through it"
                                                 : strerror(e));
            worst = worst > CLI_EXIT_IO ? worst : CLI_EXIT_IO;
            n_bad++;
            sono_tokens_free(t);
            continue;
        }
        int exit_code = 0;
        sono_codec *codec = codec_for_tokens(x, t, &exit_code);
        if (!codec) {
            /* Without the model nothing else will decode either. */
            sono_tokens_free(t);
            return exit_code;
        }
        x->stats.token_bytes += nb;
        rc = decode_to_file(x, codec, t, final, fmt, what, (double)i / n, 1.0 / n);
        if (rc) {
            if (rc > worst) worst = rc;
            n_bad++;
        } else {
            cli_note(&o->common, 2, "%s -> %s", name, final);
        }
        sono_tokens_free(t);
    }
    cli_progress_clear(&x->prog);
    if (n_bad) cli_fail(0, archive, "entries not restored: %d of %d", n_bad, n);
    return worst;
}

/* Decode entry i into OUTPUT. */
static int archive_entry_at(detok_ctx *x, sono_archive *a, const char *archive, int i) {
    const detok_opts *o = x->o;
    const char *fmt = cli_audio_format(o->format, o->output);
    if (!fmt)
        return cli_fail(CLI_EXIT_USAGE, NULL, "cannot write '%s': use .wav, .flac, .ogg, .opus or --format", o->output);
    sono_tokens *t = NULL;
    size_t nb = 0;
    int rc = read_entry(x, a, i, archive, &t, &nb);
    if (rc) return rc;
    char what[8192];
    snprintf(what, sizeof what, "%s: %s", archive, sono_archive_name(a, i));
    int exit_code = 0;
    sono_codec *codec = codec_for_tokens(x, t, &exit_code);
    if (!codec) rc = exit_code;
    if (!rc) {
        x->stats.token_bytes += nb;
        rc = decode_to_file(x, codec, t, o->output, fmt, what, 0, 1);
    }
    sono_tokens_free(t);
    return rc;
}

static int archive_entry(detok_ctx *x, sono_archive *a, const char *archive) {
    int i = sono_archive_find(a, x->o->entry);
    if (i < 0) return cli_fail(CLI_EXIT_DATA, archive, "no entry '%s' (see --list)", x->o->entry);
    return archive_entry_at(x, a, archive, i);
}

/* -o without --entry: a folder gets every entry. An OUTPUT that names one
 * file (an audio file name, "-", a device or FIFO) gets the only entry of a
 * one-entry archive; with more entries it is a usage error, as it would
 * otherwise become a folder named like a file. */
static int archive_restore(detok_ctx *x, sono_archive *a, const char *archive) {
    const char *out = x->o->output;
    int is_stdout = !strcmp(out, "-");
    struct stat st;
    int exists = !is_stdout && stat(out, &st) == 0;
    const char *ext = cli_path_ext(out);
    int one_file = is_stdout || (exists && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) ||
                   (!(exists && S_ISDIR(st.st_mode)) && sono_audio_can_write(ext));
    if (!one_file) return archive_extract_all(x, a, archive);
    int n = sono_archive_count(a);
    if (n != 1)
        return cli_fail(CLI_EXIT_USAGE, archive,
                        "holds %d entries and %s takes one: use --entry NAME for one, or -o FOLDER for all", n,
                        is_stdout ? "stdout" : out);
    return archive_entry_at(x, a, archive, 0);
}

/* ---- entry point ---- */

static int run_detokenize(const cli_cmd *cmd, int argc, char **argv) {
    detok_opts o;
    memset(&o, 0, sizeof o);
    cli_common_init(&o.common);
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    long v = 0;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&o.common, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': o.model = arg; break;
        case 'r':
            if (cli_parse_int(arg, 1000, 768000, &v))
                rc = cli_usage_error(cmd, "--rate wants a sample rate in Hz (1000 to 768000), not '%s'", arg);
            o.rate = (int)v;
            break;
        case 'f': o.format = arg; break;
        case 'o': o.output = arg; break;
        case 'l': o.list = 1; break;
        case OPT_ENTRY: o.entry = arg; break;
        case OPT_VERIFY: o.verify = 1; break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (argc - first != 1) return cli_usage_error(cmd, argc - first == 0 ? "no INPUT given" : "one INPUT only");
    const char *input = argv[first];
    if (o.list + o.verify + (o.entry != NULL) > 1)
        return cli_usage_error(cmd, "--list, --verify and --entry do not go together");
    if ((o.list || o.verify) && o.output) return cli_usage_error(cmd, "--list and --verify write no OUTPUT");
    if (!o.list && !o.verify && !o.output) return cli_usage_error(cmd, "no OUTPUT given (-o)");
    if (o.format && !sono_audio_can_write(o.format))
        return cli_usage_error(cmd, "cannot write format '%s' (use wav, flac, ogg or opus)", o.format);

    cli_install_log(&o.common);
    detok_ctx x;
    memset(&x, 0, sizeof x);
    x.o = &o;
    cli_stats_init(&x.stats);
    cli_progress_init(&x.prog, &o.common, "detokenize");
    int is_stdin = !strcmp(input, "-");
    struct stat st;
    if (!is_stdin && stat(input, &st) != 0) return cli_fail_errno(input, errno);
    if (!is_stdin && S_ISDIR(st.st_mode)) return cli_fail(CLI_EXIT_DATA, input, "is a folder, not tokens");
    if ((rc = cli_protect_inputs(&input, 1)) != 0) return rc;
    if (o.output && (rc = cli_check_output(o.output)) != 0) return rc;

    /* Archive? (opening reads only the index) */
    sono_archive *a = NULL;
    int aerr = 0;
    char archive_detail[1024] = "";
    if (!is_stdin && strcmp(cli_path_ext(input), "npy")) {
        sono_clear_error();
        a = sono_archive_open(input, &aerr);
        if (!a) snprintf(archive_detail, sizeof archive_detail, "%s", sono_last_error());
    }
    if (a) {
        const char *verb = "detokenized";
        if (o.list) rc = archive_list(&x, a, input), verb = NULL;
        else if (o.verify) rc = archive_verify(&x, a, input), verb = NULL;
        else if (o.entry) rc = archive_entry(&x, a, input);
        else rc = archive_restore(&x, a, input);
        if (verb && x.stats.files) cli_print_summary(&o.common, &x.stats, verb);
        sono_archive_close(a);
        ctx_free(&x);
        return rc;
    }
    if (o.entry) {
        if (aerr && aerr != SONO_E_FORMAT) {
            return cli_fail_detail(input, aerr, archive_detail);
        }
        return cli_fail(CLI_EXIT_DATA, input, "not an archive (--entry needs one)");
    }

    const char *fmt = NULL;
    if (o.output && !(fmt = cli_audio_format(o.format, o.output)))
        return cli_usage_error(cmd, "cannot write '%s': use .wav, .flac, .ogg, .opus or --format", o.output);
    uint8_t *data = NULL;
    size_t n = 0;
    if ((rc = cli_read_file(input, &data, &n)) != 0) return rc;
    if (is_npy(data, n) || !strcmp(cli_path_ext(input), "npy")) {
        if (o.list || o.verify) rc = cli_usage_error(cmd, "--list and --verify are for token files and archives");
        else if (!o.model) rc = cli_usage_error(cmd, "a .npy holds no model name: give the model with -m");
        else rc = detok_npy(&x, input, data, n, fmt);
    } else if (is_ecdc(data, n) || !strcmp(cli_path_ext(input), "ecdc")) {
        if (o.list || o.verify) rc = cli_usage_error(cmd, "--list and --verify are for token files and archives");
        else rc = detok_ecdc(&x, input, data, n, fmt);
    } else {
        sono_tokens *t = NULL;
        sono_clear_error();
        int terr = sono_tokens_decode(data, n, &t);
        if (terr >= 0) {
            rc = detok_tokens(&x, input, t, n, fmt);
        } else if (aerr && aerr != SONO_E_FORMAT && aerr != SONO_E_NOT_FOUND) {
            /* The archive reader knew it for an archive (it says "not an
             * archive" with SONO_E_FORMAT only): a damaged archive. */
            rc = cli_fail_detail(input, aerr, archive_detail);
        } else {
            rc = cli_fail_sono(input, terr);
        }
    }
    free(data);
    if (!rc && x.stats.files) cli_print_summary(&o.common, &x.stats, "detokenized");
    ctx_free(&x);
    return rc;
}
