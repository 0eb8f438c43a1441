/* sonotok archive-merge: merge archives (typically the shards of one
 * `tokenize --shard K/N` run) into one. Entry names must be unique across
 * the inputs unless the entries are identical. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"

static const cli_opt merge_opts[] = {
    {'h', "help", NULL, "show this help and exit"},
    {'v', "verbose", NULL, "more messages"},
    {'q', "quiet", NULL, "errors only"},
    {'o', "output", "OUT", "the merged archive (else the first operand is OUT)"},
    {0, NULL, NULL, NULL},
};

static int run_merge(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_archive_merge = {
    .name = "archive-merge",
    .summary = "Merge token archives (e.g. the shards of tokenize --shard) into one.",
    .usage = "[options] OUT IN...\n"
             "       sonotok archive-merge [options] -o OUT IN...",
    .details =
        "Every entry of every IN goes into OUT, which is written under a temporary\n"
        "name and renamed when complete. The same entry name in two inputs is an\n"
        "error (exit 2) unless both entries are identical. An OUT that is one of\n"
        "the inputs (also through a link) is refused (exit 2).\n",
    .opts = merge_opts,
    .run = run_merge,
};

static int run_merge(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *out_path = NULL;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        if (key == 'o') out_path = arg;
        else rc = CLI_EXIT_USAGE;
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (!out_path && first < argc) out_path = argv[first++];
    if (!out_path) return cli_usage_error(cmd, "no OUT given");
    if (first >= argc) return cli_usage_error(cmd, "no input archives given");
    if (!strcmp(out_path, "-")) return cli_usage_error(cmd, "OUT must be a file");
    const char *const *inputs = (const char *const *)(argv + first);
    int n_in = argc - first;
    for (int i = 0; i < n_in; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0) return cli_fail_errno(inputs[i], errno);
    }
    if ((rc = cli_protect_inputs(inputs, n_in)) != 0 || (rc = cli_check_output(out_path)) != 0) return rc;
    cli_install_log(&c);
    double t0 = cli_now();

    sono_clear_error();
    int mrc = sono_archive_merge(out_path, inputs, n_in);
    if (mrc < 0) return cli_fail_sono(out_path, mrc);

    if (c.verbosity >= 1) {
        int err = 0;
        sono_archive *a = sono_archive_open(out_path, &err);
        int count = a ? sono_archive_count(a) : -1;
        sono_archive_close(a);
        struct stat st;
        long long bytes = stat(out_path, &st) == 0 ? (long long)st.st_size : -1;
        fprintf(stderr, "sonotok: merged %d archive%s into %s: %d entries, %lld bytes in %.2f s\n", n_in,
                n_in == 1 ? "" : "s", out_path, count, bytes, cli_now() - t0);
    }
    return 0;
}
