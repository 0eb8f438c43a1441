/* Shared plumbing for the sonotok subcommands: option tables on top of
 * getopt_long (which also print the help text), exit codes and one-line error
 * messages, a progress bar for terminals, the end-of-run summary line, and
 * the signal handler that removes the output writer's temporary files.
 *
 *   static const cli_opt opts[] = { CLI_COMMON_OPTS, {'o', "output", "FILE", "write here"}, {0} };
 *   cli_parser p; cli_parse_init(&p, opts, argc, argv);
 *   int c; const char *arg;
 *   while ((c = cli_parse_next(&p, &arg)) != -1) {
 *       if (cli_common_opt(&common, cmd, c, arg, &rc)) { if (rc >= 0) return rc; continue; }
 *       ...
 *   }
 *
 * Uses the public sonotok API only. */
#ifndef SONOTOK_CLI_UTIL_H
#define SONOTOK_CLI_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include "sonotok/sonotok.h"

/* Documented exit codes (see `sonotok help`). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 1,   /* bad command line */
    CLI_EXIT_DATA = 2,    /* bad input or data: format, checksum, range, mismatch, empty */
    CLI_EXIT_IO = 3,      /* I/O or system error */
    CLI_EXIT_MODEL = 4,   /* model not found or unusable */
};

/* ---- options ---- */

/* One option. key is the short letter (also returned by cli_parse_next), or a
 * value >= 256 for a long-only option. metavar NULL: takes no argument. */
typedef struct {
    int key;
    const char *name;     /* long name without "--" */
    const char *metavar;  /* argument name for the help text, NULL for a flag */
    const char *help;
} cli_opt;

enum { CLI_OPT_LONG = 256 };   /* first key for long-only options */

#define CLI_COMMON_OPTS \
    {'h', "help", NULL, "show this help and exit"}, \
    {'v', "verbose", NULL, "more messages (repeat for more)"}, \
    {'q', "quiet", NULL, "no progress bar, summary or notes; errors only"}, \
    {'t', "threads", "N", "threads for the codec (default: online CPUs)"}

/* One subcommand. */
typedef struct cli_cmd {
    const char *name;
    const char *summary;   /* one line for `sonotok help` */
    const char *usage;     /* "[options] INPUT -o OUTPUT", after "sonotok NAME " */
    const char *details;   /* paragraphs after the option list, or NULL */
    const cli_opt *opts;   /* terminated by a {0} row */
    int (*run)(const struct cli_cmd *cmd, int argc, char **argv);
} cli_cmd;

typedef struct {
    const cli_opt *opts;
    int argc;
    char **argv;
    char shortopts[128];
    void *longopts;        /* struct option[], owned */
    const char *cmd_name;
} cli_parser;

/* Prepare to parse argv (argv[0] is the command name). Returns 0, or -1 when
 * out of memory. Options may come before or after operands. */
int cli_parse_init(cli_parser *p, const cli_cmd *cmd, int argc, char **argv);
/* Next option key; -1 at the end (operands are then argv[*optind..argc));
 * '?' after printing a usage error for an unknown option or missing argument. */
int cli_parse_next(cli_parser *p, const char **arg);
/* Index of the first operand once cli_parse_next returned -1. */
int cli_parse_operands(const cli_parser *p);
void cli_parse_free(cli_parser *p);

/* Settings every command shares. */
typedef struct {
    int verbosity;   /* 0 quiet, 1 normal, 2+ verbose */
    int n_threads;
} cli_common;

void cli_common_init(cli_common *c);
/* Handle -h/-v/-q/-t. Returns 1 if key was one of them; then *exit_code is
 * -1 to carry on, or the code to return (help printed, bad value). */
int cli_common_opt(cli_common *c, const cli_cmd *cmd, int key, const char *arg, int *exit_code);

void cli_print_help(const cli_cmd *cmd, FILE *f);
/* "sonotok CMD: message" + a hint line on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse numbers from option values; 0 on success, -1 if malformed or out of [lo, hi]. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);

/* ---- errors ---- */

/* Exit code for a negative sono_error from a data call. */
int cli_exit_for(int sono_err);
/* Print "sonotok: <what>: <detail>" where detail is sono_last_error() (with a
 * leading "<what>: " removed) or sono_strerror(err). Returns cli_exit_for(err). */
int cli_fail_sono(const char *what, int sono_err);
/* Same with a detail line saved earlier (NULL or "": sono_strerror(err)). */
int cli_fail_detail(const char *what, int err, const char *detail);
/* Print "sonotok: <what>: <message>" and return code. what may be NULL. */
int cli_fail(int code, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same for an errno value; returns CLI_EXIT_IO. */
int cli_fail_errno(const char *what, int errnum);
/* Message to stderr when verbosity >= level ("sonotok: ..."). */
void cli_note(const cli_common *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Route the library's log callback to stderr according to verbosity. */
void cli_install_log(const cli_common *c);

/* ---- model ---- */

/* Load a codec with c->n_threads; prints the error and sets *exit_code
 * (CLI_EXIT_MODEL, or CLI_EXIT_IO when out of memory) on failure. */
sono_codec *cli_load_codec(const cli_common *c, const char *model, int *exit_code);
/* Load an LM file: model is a path, else a name looked up as codecs are
 * (sono_codec_resolve); path (size bytes) gets the file, registered as an
 * input. Prints the error and sets *exit_code (CLI_EXIT_MODEL, CLI_EXIT_IO
 * when out of memory or unreadable) on failure. */
sono_lm *cli_load_lm(const char *model, char *path, size_t size, int *exit_code);
/* 0 when codec is the one lm was made for; else the LM's line naming both
 * codecs is printed and CLI_EXIT_MODEL returned. */
int cli_check_lm_codec(const sono_lm *lm, const char *lm_path, const sono_codec *codec);
/* Decode codes [K][F] (rows stride frames apart) with codec and write the
 * audio to w, block samples at a time through buf [channels][block]. 0 or
 * a negative error. */
int cli_render_codes(const sono_codec *codec, const int32_t *codes, int K, int64_t stride, int64_t F,
                     sono_audio_writer *w, float *buf, int64_t block);
/* Codebooks for kbps (kbps <= 0: 6 kbps if offered, else the lowest).
 * On error prints and returns a negative value with *exit_code set. */
int cli_pick_n_q(const sono_codec *codec, double kbps, double *chosen_kbps, int *exit_code);

/* ---- time, progress, summary ---- */

double cli_now(void);   /* monotonic seconds */

typedef struct {
    int enabled;         /* stderr is a terminal and not quiet */
    int drawn;           /* something is on the line */
    double last;         /* time of the last redraw */
    double start;
    char label[64];
} cli_progress;

void cli_progress_init(cli_progress *p, const cli_common *c, const char *label);
/* fraction in [0,1], or < 0 when unknown; extra is shown after the bar.
 * Redraws at most about 6 times a second. */
void cli_progress_update(cli_progress *p, double fraction, const char *extra);
void cli_progress_clear(cli_progress *p);

/* Totals for the summary line. */
typedef struct {
    int64_t files;
    double audio_seconds;
    uint64_t token_bytes;   /* token data on disk */
    uint64_t tokens;        /* codes: n_q * n_frames summed */
    double nominal_bits;    /* the codes at ceil(log2(codebook size)) bits each (0: not shown) */
    double t_start;
} cli_stats;

void cli_stats_init(cli_stats *s);
/* "sonotok: N files, A s audio in W s (X x realtime), K kbps on disk (N nominal), T tokens/s" */
void cli_print_summary(const cli_common *c, const cli_stats *s, const char *verb);

/* ---- signals and outputs ---- */

/* Every output goes through the library's writer (sonotok/output.h). Install
 * the SIGINT/SIGTERM/SIGHUP handler, which removes the writer's temporary
 * files and dies of the signal, and ignore SIGPIPE. Call once at start. */
void cli_signals_install(void);
/* Register the n paths as inputs no output may overwrite ("-" ignored);
 * 0, or prints the error and returns its exit code. */
int cli_protect_inputs(const char *const *paths, int n);
/* Refuse an output that is a protected input before any work starts:
 * 0, or one line printed and CLI_EXIT_DATA. */
int cli_check_output(const char *path);

/* Audio format of an output: fmt_opt (--format) when given, else the
 * path's extension when it is one we write, wav for "-" or no extension;
 * NULL when the extension names no format we write. */
const char *cli_audio_format(const char *fmt_opt, const char *path);

/* Read a whole file ("-" is stdin) into a malloc'd buffer; 0 or CLI_EXIT_IO (printed). */
int cli_read_file(const char *path, uint8_t **buf, size_t *n);

/* A path the audio reader can open more than once for path ("-" is stdin),
 * which may be a pipe: standard input itself when it is a regular file at
 * its start, else a copy in a temporary file, unlinked at once (so nothing
 * is left behind, whatever happens), that *spool_fd keeps open (-1 when
 * none; the caller closes it). Reading a pipe into memory instead held the
 * whole stream (705 MB for an hour). 0 or an exit code (printed). */
int cli_spool(const char *path, char *out, size_t size, int *spool_fd);

/* ---- paths ---- */

/* Extension of the last path component without the dot, or "" (never NULL). */
const char *cli_path_ext(const char *path);
/* Create the parent directories of path (not path itself). 0 or errno. */
int cli_mkdir_parents(const char *path);

int cli_online_cpus(void);

/* ---- folders (cli_walk.c) ---- */

/* Called for every entry of a walked tree that is not a folder: rel is
 * root-relative and '/'-separated, path is root/rel, st its stat (links
 * followed), or NULL when stat failed (errno says why: ENOENT for a broken
 * link). A non-zero return (an exit code, printed) stops the walk. */
struct stat;
typedef int (*cli_walk_fn)(const char *rel, const char *path, const struct stat *st, void *user);
/* Walk the folder root depth first, each folder's entries in byte order of
 * their names ("." and ".." skipped, and every name starting with '.' when
 * skip_dot), following links to folders except one that leads back to a
 * folder above it (noted at -v level 1 and skipped, so a link loop ends).
 * Returns 0 or an exit code (printed). */
int cli_walk_tree(const cli_common *c, const char *root, int skip_dot, cli_walk_fn fn, void *user);

#endif
