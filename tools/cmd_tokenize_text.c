/* sonotok tokenize-text: text to BPE ids and back with a tokenizer file
 * (train-tokenizer's). Encoding writes the ids of the whole input on one
 * line; decoding reads ids separated by white space and writes the bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

enum { OPT_DECODE = CLI_OPT_LONG, OPT_SPECIALS };

static const cli_opt tok_text_opts[] = {
    {'h', "help", NULL, "show this help and exit"},
    {'v', "verbose", NULL, "more messages"},
    {'q', "quiet", NULL, "errors only"},
    {'m', "model", "FILE", "the tokenizer file (train-tokenizer's); required"},
    {'o', "output", "FILE", "write here (default: standard output)"},
    {OPT_DECODE, "decode", NULL, "ids to text instead"},
    {OPT_SPECIALS, "specials", NULL, "with --decode: write special tokens as their names (\"<end>\"); default: leave them out"},
    {0, NULL, NULL, NULL},
};

static int run_tokenize_text(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_tokenize_text = {
    .name = "tokenize-text",
    .summary = "Text to BPE token ids and back (--decode) with a tokenizer file.",
    .usage = "-m FILE [--decode [--specials]] [INPUT] [-o OUTPUT]",
    .details =
        "Reads INPUT (default: standard input) whole. Encoding writes its ids in\n"
        "decimal, separated by spaces, on one line; every byte string encodes (no\n"
        "unknown token) and never to a special token. --decode reads ids separated\n"
        "by white space and writes the bytes they stand for, so\n"
        "  sonotok tokenize-text -m tok.sntok < a.txt | sonotok tokenize-text -m tok.sntok --decode\n"
        "gives a.txt back exactly. An id that is not a number or not in the\n"
        "vocabulary is an error (exit 2); a tokenizer file that cannot be read,\n"
        "exit 4.\n",
    .opts = tok_text_opts,
    .run = run_tokenize_text,
};

/* Parse white-space-separated ids: a malloc'd array in *ids; 0 or an exit code (printed). */
static int parse_ids(const char *what, const uint8_t *buf, size_t n, int32_t **ids, int64_t *n_ids) {
    int64_t k = 0, cap = 1024;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    for (size_t i = 0; v && i < n;) {
        if (strchr(" \t\n\r\v\f", buf[i]) && buf[i]) {
            i++;
            continue;
        }
        size_t j = i;
        int64_t x = 0;
        while (j < n && buf[j] >= '0' && buf[j] <= '9' && x <= INT32_MAX) x = x * 10 + (buf[j++] - '0');
        if (j == i || x > INT32_MAX || (j < n && buf[j] && !strchr(" \t\n\r\v\f", buf[j]))) {
            size_t e = j;
            while (e < n && e - i < 20 && buf[e] && !strchr(" \t\n\r\v\f", buf[e])) e++;
            free(v);
            return cli_fail(CLI_EXIT_DATA, what, "'%.*s' at byte %zu is not a token id", (int)(e > i ? e - i : 1),
                            (const char *)buf + i, i);
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) free(v);
            v = nv;
            if (!v) break;
        }
        v[k++] = (int32_t)x;
        i = j;
    }
    if (!v) return cli_fail(CLI_EXIT_IO, what, "out of memory");
    *ids = v;
    *n_ids = k;
    return 0;
}

static int run_tokenize_text(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *model = NULL, *out_path = "-";
    int decode = 0, specials = 0;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': model = arg; break;
        case 'o': out_path = arg; break;
        case OPT_DECODE: decode = 1; break;
        case OPT_SPECIALS: specials = 1; break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (!model) return cli_usage_error(cmd, "no tokenizer given (-m FILE)");
    if (specials && !decode) return cli_usage_error(cmd, "--specials goes with --decode");
    if (argc - first > 1) return cli_usage_error(cmd, "unexpected argument '%s'", argv[first + 1]);
    const char *input = first < argc ? argv[first] : "-";
    const char *in_name = strcmp(input, "-") ? input : "<stdin>";
    const char *const ins[2] = {input, model};
    cli_install_log(&c);
    int err = 0;
    sono_tokenizer *tok = sono_tokenizer_load(model, &err);
    if (!tok) {
        cli_fail_sono(model, err);
        return err == SONO_E_NOMEM || err == SONO_E_IO ? CLI_EXIT_IO : CLI_EXIT_MODEL;
    }
    if ((rc = cli_protect_inputs(ins, 2)) != 0 || (rc = cli_check_output(out_path)) != 0) {
        sono_tokenizer_free(tok);
        return rc;
    }
    uint8_t *in = NULL, *text = NULL;
    size_t n_in = 0;
    int32_t *ids = NULL;
    int64_t n_ids = 0, n_bytes = 0;
    sono_output *o;
    double t0 = cli_now();
    if ((rc = cli_read_file(input, &in, &n_in)) != 0) goto done;
    if (decode) {
        if ((rc = parse_ids(in_name, in, n_in, &ids, &n_ids)) != 0) goto done;
        int flags = specials ? SONO_TOK_DECODE_SPECIALS : 0;
        n_bytes = sono_tokenizer_decode(tok, ids, n_ids, flags, NULL, 0);
        if (n_bytes < 0) {
            rc = cli_fail_sono(in_name, (int)n_bytes);
            goto done;
        }
        if (!(text = malloc((size_t)n_bytes + 1))) {
            rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
            goto done;
        }
        sono_tokenizer_decode(tok, ids, n_ids, flags, text, (size_t)n_bytes);
    } else {
        n_bytes = (int64_t)n_in;
        if (!(ids = malloc((n_in + 1) * sizeof *ids))) {
            rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
            goto done;
        }
        n_ids = sono_tokenizer_encode(tok, in, n_in, ids, (int64_t)n_in);
        /* ids as text: at most 11 bytes each */
        if (!(text = malloc((size_t)n_ids * 11 + 2))) {
            rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
            goto done;
        }
        size_t k = 0;
        for (int64_t i = 0; i < n_ids; i++) k += (size_t)sprintf((char *)text + k, i ? " %d" : "%d", (int)ids[i]);
        text[k++] = '\n';
        n_bytes = (int64_t)k;
    }
    if (!(o = sono_output_open(out_path, 0, &err))) {
        rc = cli_fail_sono(out_path, err);
        goto done;
    }
    if ((err = sono_output_write(o, text, (size_t)n_bytes)) != 0) {
        sono_output_abort(o);
        rc = cli_fail_sono(out_path, err);
        goto done;
    }
    if ((err = sono_output_commit(o)) != 0) {
        rc = cli_fail_sono(out_path, err);
        goto done;
    }
    if (c.verbosity >= 2)
        fprintf(stderr, "sonotok: %lld bytes <-> %lld ids in %.3f s\n", (long long)(decode ? n_bytes : (int64_t)n_in),
                (long long)n_ids, cli_now() - t0);
done:
    free(in);
    free(text);
    free(ids);
    sono_tokenizer_free(tok);
    return rc;
}
