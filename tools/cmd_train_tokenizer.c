/* sonotok train-tokenizer: learn a byte-level BPE tokenizer (the LM's text
 * vocabulary) from text files or corpus manifests, and write its file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "train_cli.h"

enum { OPT_VOCAB = CLI_OPT_LONG, OPT_MIN_COUNT };

static const cli_opt train_tok_opts[] = {
    {'h', "help", NULL, "show this help and exit"},
    {'v', "verbose", NULL, "more messages"},
    {'q', "quiet", NULL, "errors only"},
    {'o', "output", "FILE", "the tokenizer file (default: standard output, unless a terminal)"},
    {OPT_VOCAB, "vocab", "N", "ids in all: 16 specials + 256 bytes + merges (default 2048)"},
    {OPT_MIN_COUNT, "min-count", "N", "never merge a pair seen fewer times (default 2)"},
    {0, NULL, NULL, NULL},
};

static int run_train_tokenizer(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_train_tokenizer = {
    .name = "train-tokenizer",
    .summary = "Learn a byte-level BPE text tokenizer from text files or corpus manifests.",
    .usage = "[options] [-o FILE] INPUT...",
    .details =
        "Each INPUT is a text file (all of it one text; '-' is standard input) or a\n"
        "corpus manifest (a name ending in .jsonl, as tools/build-corpus.sh writes):\n"
        "then the \"text\", \"caption\" and \"transcript\" strings of its lines are the\n"
        "texts. Texts are cut into chunks of letters, digits, other symbols (each with\n"
        "at most one leading space) and white space, and merges never cross a chunk.\n"
        "The same texts always give the same file, whatever their order. The\n"
        "vocabulary stops short of --vocab when no pair is seen --min-count times.\n"
        "Use the file with tokenize-text -m FILE.\n",
    .opts = train_tok_opts,
    .run = run_train_tokenizer,
};

static int run_train_tokenizer(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *out_path = NULL;
    sono_bpe_train_params tp = sono_bpe_train_default_params();
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    long v;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'o': out_path = arg; break;
        case OPT_VOCAB:
            if (cli_parse_int(arg, tp.n_special + 256, tp.n_special + 256 + (1 << 20), &v))
                rc = cli_usage_error(cmd, "--vocab wants %d to %d, not '%s'", tp.n_special + 256,
                                     tp.n_special + 256 + (1 << 20), arg);
            else tp.n_vocab = (int32_t)v;
            break;
        case OPT_MIN_COUNT:
            if (cli_parse_int(arg, 1, 1L << 30, &v)) rc = cli_usage_error(cmd, "--min-count wants a count >= 1, not '%s'", arg);
            else tp.min_count = (int32_t)v;
            break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (first >= argc) return cli_usage_error(cmd, "no INPUT given");
    if (!out_path) {
        if (isatty(STDOUT_FILENO)) return cli_usage_error(cmd, "standard output is a terminal: give -o FILE");
        out_path = "-";
    }
    const char *const *inputs = (const char *const *)(argv + first);
    int n_in = argc - first, n_stdin = 0;
    for (int i = 0; i < n_in; i++) {
        struct stat st;
        if (!strcmp(inputs[i], "-")) {
            if (n_stdin++) return cli_usage_error(cmd, "standard input ('-') given twice");
            continue;
        }
        if (stat(inputs[i], &st) != 0) return cli_fail_errno(inputs[i], errno);
        if (S_ISDIR(st.st_mode)) return cli_fail(CLI_EXIT_DATA, inputs[i], "is a folder, not a text file or manifest");
    }
    if ((rc = cli_protect_inputs(inputs, n_in)) != 0 || (rc = cli_check_output(out_path)) != 0) return rc;
    cli_install_log(&c);
    double t0 = cli_now();

    int err = 0;
    sono_bpe_trainer *bt = sono_bpe_trainer_new(&tp, &err);
    if (!bt) return cli_fail_sono("train-tokenizer", err);
    for (int i = 0; i < n_in && !rc; i++) {
        int64_t added;
        if (!strcmp(inputs[i], "-")) {
            uint8_t *buf = NULL;
            size_t n = 0;
            if ((rc = cli_read_file("-", &buf, &n)) != 0) break;
            added = sono_bpe_trainer_add_text(bt, buf, n);
            free(buf);
        } else {
            added = sono_bpe_trainer_add_file(bt, inputs[i]);
        }
        if (added < 0) rc = cli_fail_sono(inputs[i], (int)added);
        else cli_note(&c, 2, "%s: %lld texts", inputs[i], (long long)added);
    }
    int64_t n_texts = 0, n_bytes = 0, n_chunks = 0;
    sono_bpe_trainer_stats(bt, &n_texts, &n_bytes, &n_chunks);
    if (!rc && n_bytes == 0) rc = cli_fail(CLI_EXIT_DATA, NULL, "no text in the inputs (%lld texts, all empty)", (long long)n_texts);
    sono_tokenizer *tok = rc ? NULL : sono_bpe_trainer_finish(bt, &err);
    sono_bpe_trainer_free(bt);
    if (!rc && !tok) rc = cli_fail_sono("train-tokenizer", err);
    if (!rc && (err = sono_tokenizer_save(tok, out_path)) < 0) rc = cli_fail_sono(out_path, err);
    if (!rc && c.verbosity >= 1) {
        int32_t n_vocab = sono_tokenizer_n_vocab(tok);
        fprintf(stderr, "sonotok: %lld texts, %.2f MB (%lld distinct chunks) -> %d ids (%d merges%s) in %.2f s\n",
                (long long)n_texts, (double)n_bytes / 1e6, (long long)n_chunks, (int)n_vocab,
                (int)(sono_tokenizer_n_text(tok) - 256), n_vocab < tp.n_vocab ? ", no pair left to merge" : "",
                cli_now() - t0);
    }
    sono_tokenizer_free(tok);
    return rc;
}
