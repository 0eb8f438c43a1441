/* Shared plumbing for the sonotok subcommands: option parsing and help,
 * exit codes and error lines, progress bar, summary line, and the signal
 * handler that keeps an interrupted run from leaving temporary files. */
#include "cli_util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- options ---- */

static int opt_count(const cli_opt *o) {
    int n = 0;
    while (o[n].name) n++;
    return n;
}

int cli_parse_init(cli_parser *p, const cli_cmd *cmd, int argc, char **argv) {
    memset(p, 0, sizeof *p);
    p->opts = cmd->opts;
    p->argc = argc;
    p->argv = argv;
    p->cmd_name = cmd->name;
    int n = opt_count(cmd->opts);
    struct option *lo = calloc((size_t)n + 1, sizeof *lo);
    if (!lo) return -1;
    /* Leading ':' so a missing argument returns ':' and we word the message. */
    size_t k = 0;
    p->shortopts[k++] = ':';
    for (int i = 0; i < n; i++) {
        const cli_opt *o = &cmd->opts[i];
        lo[i].name = o->name;
        lo[i].has_arg = o->metavar ? required_argument : no_argument;
        lo[i].flag = NULL;
        lo[i].val = o->key;
        if (o->key > 0 && o->key < CLI_OPT_LONG && k + 3 < sizeof p->shortopts) {
            p->shortopts[k++] = (char)o->key;
            if (o->metavar) p->shortopts[k++] = ':';
        }
    }
    p->shortopts[k] = 0;
    p->longopts = lo;
    optind = 1;
    opterr = 0;
    return 0;
}

int cli_parse_next(cli_parser *p, const char **arg) {
    const struct option *lo = p->longopts;
    int c = getopt_long(p->argc, p->argv, p->shortopts, lo, NULL);
    *arg = optarg;
    if (c == '?' || c == ':') {
        /* getopt sets optopt to 0 for an unknown long option, which optind
         * has moved past; inside a cluster of short ones ("-xq") optind may
         * not have moved, so those are named by optopt. A missing value is
         * always at the end of argv. */
        const char *prev = optind > 1 ? p->argv[optind - 1] : "";
        int is_long = strncmp(prev, "--", 2) == 0;
        if (c == ':') {
            if (is_long) fprintf(stderr, "sonotok %s: option '%s' needs a value\n", p->cmd_name, prev);
            else fprintf(stderr, "sonotok %s: option '-%c' needs a value\n", p->cmd_name, optopt);
        } else if (optopt > 0 && optopt < CLI_OPT_LONG && !(is_long && strchr(prev, '='))) {
            fprintf(stderr, "sonotok %s: unknown option '-%c'\n", p->cmd_name, optopt);
        } else {
            fprintf(stderr, "sonotok %s: unknown option '%s'\n", p->cmd_name, prev);
        }
        fprintf(stderr, "Try 'sonotok %s --help'.\n", p->cmd_name);
        return '?';
    }
    return c;
}

int cli_parse_operands(const cli_parser *p) { return optind; }

void cli_parse_free(cli_parser *p) {
    free(p->longopts);
    p->longopts = NULL;
}

void cli_common_init(cli_common *c) {
    c->verbosity = 1;
    c->n_threads = cli_online_cpus();
}

int cli_common_opt(cli_common *c, const cli_cmd *cmd, int key, const char *arg, int *exit_code) {
    long v;
    *exit_code = -1;
    switch (key) {
    case 'h':
        cli_print_help(cmd, stdout);
        *exit_code = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
        return 1;
    case 'v':
        c->verbosity = c->verbosity < 1 ? 2 : c->verbosity + 1;
        return 1;
    case 'q':
        c->verbosity = 0;
        return 1;
    case 't':
        if (cli_parse_int(arg, 1, 4096, &v) != 0)
            *exit_code = cli_usage_error(cmd, "--threads wants a number from 1 to 4096, not '%s'", arg);
        else
            c->n_threads = (int)v;
        return 1;
    default:
        return 0;
    }
}

void cli_print_help(const cli_cmd *cmd, FILE *f) {
    fprintf(f, "Usage: sonotok %s %s\n", cmd->name, cmd->usage);
    fprintf(f, "%s\n\nOptions:\n", cmd->summary);
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        char left[64];
        if (o->key > 0 && o->key < CLI_OPT_LONG)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->key, o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        if (strlen(left) > 24)
            fprintf(f, "  %s\n  %-24s  %s\n", left, "", o->help);
        else
            fprintf(f, "  %-24s  %s\n", left, o->help);
    }
    if (cmd->details) fprintf(f, "\n%s", cmd->details);
    fprintf(f, "\nExit status: 0 ok, 1 usage error, 2 bad input or data, 3 I/O or system error,\n"
               "4 model not found or unusable.\n");
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "sonotok %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'sonotok %s --help'.\n", cmd->name);
    return CLI_EXIT_USAGE;
}

int cli_parse_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- errors ---- */

int cli_exit_for(int err) {
    switch (err) {
    case SONO_OK: return CLI_EXIT_OK;
    case SONO_E_NOMEM:
    case SONO_E_IO: return CLI_EXIT_IO;
    case SONO_E_NOT_FOUND: return CLI_EXIT_DATA;  /* entry/tensor; missing files are checked before */
    case SONO_E_MODEL_MISSING: return CLI_EXIT_MODEL;
    default: return CLI_EXIT_DATA;
    }
}

static void vfail(const char *what, const char *fmt, va_list ap) {
    fflush(stdout);
    fputs("sonotok: ", stderr);
    if (what) fprintf(stderr, "%s: ", what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(int code, const char *what, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(what, fmt, ap);
    va_end(ap);
    return code;
}

int cli_fail_detail(const char *what, int err, const char *d) {
    char buf[2048];
    size_t wl = what ? strlen(what) : 0;
    /* The library often names the file too ("archive: a.sta: entry 2 ...");
     * drop that "a.sta: " so the line reads "sonotok: a.sta: archive: entry 2 ...". */
    const char *hit = wl && d ? strstr(d, what) : NULL;
    if (hit && hit - d <= 40 && hit[wl] == ':' && hit[wl + 1] == ' ' && (hit == d || hit[-1] == ' ')) {
        snprintf(buf, sizeof buf, "%.*s%s", (int)(hit - d), d, hit + wl + 2);
        d = buf;
    }
    if (!d || !*d) d = sono_strerror(err);
    cli_fail(0, what, "%s", d);
    return cli_exit_for(err);
}

int cli_fail_sono(const char *what, int err) { return cli_fail_detail(what, err, sono_last_error()); }

int cli_fail_errno(const char *what, int errnum) {
    return cli_fail(CLI_EXIT_IO, what, "%s", strerror(errnum));
}

void cli_note(const cli_common *c, int level, const char *fmt, ...) {
    if (c->verbosity < level) return;
    va_list ap;
    fputs("sonotok: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void log_to_stderr(int level, const char *msg, void *user) {
    const cli_common *c = user;
    /* warnings at normal verbosity, info with -v, debug with -vv */
    int need = level <= SONO_LOG_WARN ? 1 : level == SONO_LOG_INFO ? 2 : 3;
    if (c->verbosity < need) return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "sonotok: %s: %s\n", names[level >= 0 && level <= 3 ? level : 3], msg);
}

void cli_install_log(const cli_common *c) { sono_set_log(log_to_stderr, (void *)c); }

/* ---- model ---- */

sono_codec *cli_load_codec(const cli_common *c, const char *model, int *exit_code) {
    sono_codec_params p = sono_codec_default_params();
    p.n_threads = c->n_threads;
    int err = 0;
    sono_clear_error();
    sono_codec *codec = sono_codec_load(model, &p, &err);
    if (!codec) {
        if (err == 0) err = SONO_E_NOT_FOUND;
        cli_fail_sono(model, err);
        *exit_code = err == SONO_E_NOMEM ? CLI_EXIT_IO : CLI_EXIT_MODEL;
        return NULL;
    }
    cli_note(c, 2, "model %s: %s, %d Hz, %d channel(s), %.2f frames/s, %d codebooks of %d",
             model, sono_codec_name(codec), sono_codec_sample_rate(codec), sono_codec_channels(codec),
             sono_codec_frame_rate(codec), sono_codec_max_codebooks(codec),
             sono_codec_codebook_size(codec));
    return codec;
}

sono_lm *cli_load_lm(const char *model, char *path, size_t size, int *exit_code) {
    struct stat st;
    sono_clear_error();
    if (stat(model, &st) == 0) snprintf(path, size, "%s", model);
    else if (sono_codec_resolve(model, path, size)) {
        *exit_code = cli_fail(CLI_EXIT_MODEL, model, "no such LM file or model name");
        return NULL;
    }
    if ((*exit_code = cli_protect_inputs((const char *const[]){path}, 1))) return NULL;
    int err = 0;
    sono_clear_error();
    sono_lm *lm = sono_lm_load(path, &err);
    if (!lm) {
        cli_fail_sono(path, err);
        *exit_code = err == SONO_E_NOMEM || err == SONO_E_IO ? CLI_EXIT_IO : CLI_EXIT_MODEL;
    }
    return lm;
}

int cli_check_lm_codec(const sono_lm *lm, const char *lm_path, const sono_codec *codec) {
    uint8_t codes[16], hash[16];
    sono_codec_codes_hash(codec, codes);
    sono_codec_hash(codec, hash);
    sono_clear_error();
    int err = sono_lm_check_codec_hashes(lm, sono_codec_name(codec), codes, hash);
    if (!err) return 0;
    cli_fail_sono(lm_path, err);
    return CLI_EXIT_MODEL;
}

int cli_render_codes(const sono_codec *codec, const int32_t *codes, int K, int64_t stride, int64_t F,
                     sono_audio_writer *w, float *buf, int64_t block) {
    if (F == 0) return 0;
    int32_t *c = malloc(sizeof(int32_t) * (size_t)K * (size_t)F);
    if (!c) return SONO_E_NOMEM;
    for (int k = 0; k < K; k++) memcpy(c + (size_t)k * F, codes + (size_t)k * stride, sizeof(int32_t) * (size_t)F);
    sono_tokens *t = NULL;
    int rc = sono_codec_tokens_from_codes(codec, c, K, F, &t);
    free(c);
    sono_codec_stream *s = rc ? NULL : sono_codec_decoder_stream(codec, t, &rc);
    int64_t n = 0;
    while (s && (n = sono_codec_decoder_pull(s, buf, block)) > 0)
        if ((rc = sono_audio_write(w, buf, n))) break;
    if (s && !rc && n < 0) rc = (int)n;
    sono_codec_stream_free(s);
    sono_tokens_free(t);
    return rc;
}

int cli_pick_n_q(const sono_codec *codec, double kbps, double *chosen, int *exit_code) {
    int nb = sono_codec_n_bandwidths(codec);
    if (kbps <= 0) {
        if (nb <= 0) {
            *chosen = 0;
            return sono_codec_max_codebooks(codec);
        }
        double lowest = sono_codec_bandwidth(codec, 0);
        kbps = -1;
        for (int i = 0; i < nb; i++) {
            double b = sono_codec_bandwidth(codec, i);
            if (fabs(b - 6.0) < 1e-6) kbps = b;
            if (b < lowest) lowest = b;
        }
        if (kbps < 0) kbps = lowest;
    }
    sono_clear_error();
    int n_q = sono_codec_n_q_for_bandwidth(codec, kbps);
    if (n_q <= 0) {
        char list[256] = "";
        size_t k = 0;
        for (int i = 0; i < nb && k + 16 < sizeof list; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%g", i ? ", " : "",
                                  sono_codec_bandwidth(codec, i));
        cli_fail(0, NULL, "model %s does not offer %g kbps (choose one of: %s)",
                 sono_codec_name(codec), kbps, nb > 0 ? list : "none listed");
        *exit_code = CLI_EXIT_USAGE;
        return n_q < 0 ? n_q : SONO_E_RANGE;
    }
    *chosen = kbps;
    return n_q;
}

/* ---- time, progress, summary ---- */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const cli_common *c, const char *label) {
    memset(p, 0, sizeof *p);
    p->enabled = c->verbosity > 0 && isatty(STDERR_FILENO);
    p->start = cli_now();
    p->last = -1;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
}

void cli_progress_update(cli_progress *p, double fraction, const char *extra) {
    if (!p->enabled) return;
    double t = cli_now();
    if (p->last >= 0 && t - p->last < 1.0 / 6.0) return;
    p->last = t;
    char bar[32];
    int width = (int)sizeof bar - 1;
    if (fraction >= 0) {
        if (fraction > 1) fraction = 1;
        int full = (int)(fraction * width + 0.5);
        for (int i = 0; i < width; i++) bar[i] = i < full ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[K%s [%s] %3d%% %s", p->label, bar, (int)(fraction * 100), extra ? extra : "");
    } else {
        fprintf(stderr, "\r\033[K%s %.1fs %s", p->label, t - p->start, extra ? extra : "");
    }
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_clear(cli_progress *p) {
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}

void cli_stats_init(cli_stats *s) {
    memset(s, 0, sizeof *s);
    s->t_start = cli_now();
}

void cli_print_summary(const cli_common *c, const cli_stats *s, const char *verb) {
    if (c->verbosity < 1) return;
    double wall = cli_now() - s->t_start;
    double rt = wall > 0 ? s->audio_seconds / wall : 0;
    double kbps = s->audio_seconds > 0 ? (double)s->token_bytes * 8.0 / s->audio_seconds / 1000.0 : 0;
    double tps = wall > 0 ? (double)s->tokens / wall : 0;
    char nominal[48] = "";
    if (s->nominal_bits > 0 && s->audio_seconds > 0)
        snprintf(nominal, sizeof nominal, " (%.2f nominal)", s->nominal_bits / s->audio_seconds / 1000.0);
    fprintf(stderr, "sonotok: %s %lld file%s, %.2f s audio in %.2f s (%.1fx realtime), "
                    "%.2f kbps on disk%s, %.0f tokens/s\n",
            verb, (long long)s->files, s->files == 1 ? "" : "s", s->audio_seconds, wall, rt, kbps, nominal, tps);
}

/* ---- signals ---- */

/* Every temporary file lives in the library's table (sonotok/output.h):
 * remove them all, then die of the signal. The three signals are blocked
 * while this runs, so a second one (a second Ctrl-C) waits until the files
 * are gone and then ends the process. */
static void on_signal(int sig) {
    sono_output_remove_temporaries();
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise(sig);
    _exit(128 + sig);
}

void cli_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A closed pipe on stdout becomes an EPIPE write error we clean up after. */
    signal(SIGPIPE, SIG_IGN);
}

int cli_protect_inputs(const char *const *paths, int n) {
    for (int i = 0; i < n; i++) {
        sono_clear_error();
        int e = sono_output_protect(paths[i]);
        if (e) return cli_fail_sono(paths[i], e);
    }
    return 0;
}

const char *cli_audio_format(const char *fmt_opt, const char *path) {
    if (fmt_opt) return fmt_opt;
    if (!strcmp(path, "-")) return "wav";
    const char *ext = cli_path_ext(path);
    if (!*ext) return "wav";
    return sono_audio_can_write(ext) ? ext : NULL;
}

int cli_check_output(const char *path) {
    sono_clear_error();
    int e = sono_output_check(path);
    return e ? cli_fail_sono(path, e) : 0;
}

int cli_spool(const char *path, char *out, size_t size, int *spool_fd) {
    struct stat st;
    *spool_fd = -1;
    const int is_stdin = strcmp(path, "-") == 0;
    if (is_stdin && fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) && lseek(STDIN_FILENO, 0, SEEK_CUR) == 0) {
        snprintf(out, size, "/dev/fd/%d", STDIN_FILENO);
        return 0;
    }
    const int in = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return cli_fail_errno(path, errno);
    const char *dir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/sonotok-spool.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        int e = errno;
        if (!is_stdin) close(in);
        return cli_fail(CLI_EXIT_IO, path, "cannot make a temporary file in %s: %s", dir && *dir ? dir : "/tmp",
                        strerror(e));
    }
    unlink(tmpl);
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0 && errno == EINTR) continue;
        int e = errno;
        for (ssize_t w = 0, k; n > 0 && w < n; w += k)
            if ((k = write(fd, buf + w, (size_t)(n - w))) < 0) {
                if (errno == EINTR) {
                    k = 0;
                    continue;
                }
                e = errno;
                n = -2;
                break;
            }
        if (n < 0) {
            close(fd);
            if (!is_stdin) close(in);
            return n == -1 ? cli_fail_errno(path, e)
                           : cli_fail(CLI_EXIT_IO, path, "cannot copy %s to a temporary file: %s",
                                      is_stdin ? "standard input" : "the input", strerror(e));
        }
    }
    if (!is_stdin) close(in);
    *spool_fd = fd;
    snprintf(out, size, "/dev/fd/%d", fd);
    return 0;
}

int cli_read_file(const char *path, uint8_t **out, size_t *n_out) {
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return cli_fail_errno(path, errno);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (n == cap) {
            uint8_t *nb = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (!buf) rc = cli_fail(CLI_EXIT_IO, path, "out of memory");
    else if (ferror(f)) rc = cli_fail_errno(path, errno ? errno : EIO);
    if (!is_stdin) fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *n_out = n;
    return 0;
}

/* ---- paths ---- */

const char *cli_path_ext(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : "";
}

int cli_mkdir_parents(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ENAMETOOLONG;
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return 0;
    *slash = 0;
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char keep = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
            struct stat st;
            if (stat(buf, &st) != 0) return errno;
            if (!S_ISDIR(st.st_mode)) return ENOTDIR;
            *p = keep;
            if (keep == 0) break;
        }
    }
    return 0;
}

int cli_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 4096 ? 4096 : n) : 1;
}
