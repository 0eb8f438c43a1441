/* sonotok wer: word error rate of hypothesis lines against reference lines
 * (line i of HYP is the transcript of line i of REF). Text is normalised
 * first: ASCII letters lowercased, every byte that is not a letter, a digit,
 * an apostrophe or a non-ASCII byte separates words, apostrophes at a word's
 * ends are dropped. Per line, the word-level Levenshtein alignment gives
 * substitutions S, deletions D and insertions I; the WER is (S + D + I) over
 * the reference words of all lines. tools/intelligibility.sh scores
 * pocketsphinx transcripts with it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static const cli_opt wer_opts[] = {
    {'h', "help", NULL, "show this help and exit"},
    {'l', "per-line", NULL, "also print one line per utterance: LINE ERRORS WORDS"},
    {0, NULL, NULL, NULL},
};

static int run_wer(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_wer = {
    .name = "wer",
    .summary = "Word error rate of transcripts against reference lines.",
    .usage = "[options] REF HYP",
    .details =
        "REF and HYP are text files (- is stdin for one of them) with one utterance\n"
        "per line; line i of HYP is the transcript of line i of REF, so both must\n"
        "have the same number of lines (an empty HYP line: nothing recognised).\n"
        "Words are compared after lowercasing; any byte other than a letter, a\n"
        "digit, an apostrophe or a non-ASCII byte separates words, and apostrophes\n"
        "at a word's ends are dropped. Each line is aligned by word-level Levenshtein\n"
        "distance; the output is one line\n"
        "    wer=W% sub=S del=D ins=I words=N lines=L\n"
        "with W = 100 (S + D + I) / N over all lines. A REF with no words is\n"
        "bad input (exit 2).\n",
    .opts = wer_opts,
    .run = run_wer,
};

typedef struct {
    const char *s;
    size_t n;
} wer_word;

typedef struct {
    int64_t sub, del, ins;
} wer_counts;

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

/* Lowercase line [s, s+n) in place and split it into words (pointers into
 * it). Returns the count, or -1 when out of memory; *w is grown as needed. */
static int64_t split_words(char *s, size_t n, wer_word **w, size_t *cap) {
    int64_t count = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
        if (!is_word_byte((unsigned char)s[i])) { i++; continue; }
        size_t b = i;
        while (i < n) {
            if (s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
            if (!is_word_byte((unsigned char)s[i])) break;
            i++;
        }
        size_t e = i;
        while (b < e && s[b] == '\'') b++;
        while (e > b && s[e - 1] == '\'') e--;
        if (b == e) continue;
        if ((size_t)count == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            wer_word *nw = realloc(*w, nc * sizeof *nw);
            if (!nw) return -1;
            *w = nw, *cap = nc;
        }
        (*w)[count++] = (wer_word){s + b, e - b};
    }
    return count;
}

static int same_word(wer_word a, wer_word b) { return a.n == b.n && memcmp(a.s, b.s, a.n) == 0; }

/* One cell of the alignment: the cost and the edits of the path that
 * reaches it. */
typedef struct {
    int64_t cost;
    wer_counts c;
} wer_cell;

/* Levenshtein alignment of hyp against ref, two rows of cells; on equal cost
 * a match or substitution is preferred, then a deletion. 0, or -1 when out
 * of memory. */
static int align(const wer_word *ref, int64_t nr, const wer_word *hyp, int64_t nh, wer_counts *out) {
    wer_cell *prev = malloc((size_t)(nh + 1) * sizeof *prev), *cur = malloc((size_t)(nh + 1) * sizeof *cur);
    if (!prev || !cur) {
        free(prev), free(cur);
        return -1;
    }
    for (int64_t j = 0; j <= nh; j++) prev[j] = (wer_cell){j, {0, 0, j}};
    for (int64_t i = 1; i <= nr; i++) {
        cur[0] = (wer_cell){i, {0, i, 0}};
        for (int64_t j = 1; j <= nh; j++) {
            int match = same_word(ref[i - 1], hyp[j - 1]);
            wer_cell best = prev[j - 1];
            best.cost += !match, best.c.sub += !match;
            if (prev[j].cost + 1 < best.cost) best = prev[j], best.cost++, best.c.del++;
            if (cur[j - 1].cost + 1 < best.cost) best = cur[j - 1], best.cost++, best.c.ins++;
            cur[j] = best;
        }
        wer_cell *t = prev;
        prev = cur, cur = t;
    }
    *out = prev[nh].c;
    free(prev), free(cur);
    return 0;
}

/* Split buf into lines (a trailing newline ends the last line; "\r\n" is a
 * newline). Returns the count; *lines[i] points into buf, *lens[i] its
 * length. -1 when out of memory. */
static int64_t split_lines(char *buf, size_t n, char ***lines, size_t **lens) {
    int64_t count = 0;
    for (size_t i = 0; i < n; i++) count += buf[i] == '\n';
    if (n > 0 && buf[n - 1] != '\n') count++;
    *lines = malloc((size_t)(count ? count : 1) * sizeof **lines);
    *lens = malloc((size_t)(count ? count : 1) * sizeof **lens);
    if (!*lines || !*lens) return -1;
    int64_t k = 0;
    size_t b = 0;
    for (size_t i = 0; i <= n && k < count; i++) {
        if (i < n && buf[i] != '\n') continue;
        size_t e = i;
        if (e > b && buf[e - 1] == '\r') e--;
        (*lines)[k] = buf + b, (*lens)[k] = e - b, k++;
        b = i + 1;
    }
    return count;
}

static int run_wer(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    int per_line = 0;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        if (key == 'l') per_line = 1;
        else rc = CLI_EXIT_USAGE;
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (argc - first != 2) return cli_usage_error(cmd, "need REF and HYP");
    const char *ref_path = argv[first], *hyp_path = argv[first + 1];
    if (!strcmp(ref_path, "-") && !strcmp(hyp_path, "-")) return cli_usage_error(cmd, "REF and HYP cannot both be stdin");

    uint8_t *rbuf = NULL, *hbuf = NULL;
    size_t rn = 0, hn = 0;
    char **rl = NULL, **hl = NULL;
    size_t *rlen = NULL, *hlen = NULL;
    wer_word *rw = NULL, *hw = NULL;
    size_t rcap = 0, hcap = 0;
    if ((rc = cli_read_file(ref_path, &rbuf, &rn)) != 0 || (rc = cli_read_file(hyp_path, &hbuf, &hn)) != 0) goto done;
    int64_t nlr = split_lines((char *)rbuf, rn, &rl, &rlen), nlh = split_lines((char *)hbuf, hn, &hl, &hlen);
    if (nlr < 0 || nlh < 0) {
        rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        goto done;
    }
    if (nlr != nlh) {
        rc = cli_fail(CLI_EXIT_DATA, hyp_path, "%lld lines, but %s has %lld", (long long)nlh, ref_path, (long long)nlr);
        goto done;
    }
    wer_counts tot = {0, 0, 0};
    int64_t words = 0;
    for (int64_t i = 0; i < nlr; i++) {
        int64_t nr = split_words(rl[i], rlen[i], &rw, &rcap), nh = split_words(hl[i], hlen[i], &hw, &hcap);
        wer_counts e;
        if (nr < 0 || nh < 0 || align(rw, nr, hw, nh, &e) != 0) {
            rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
            goto done;
        }
        tot.sub += e.sub, tot.del += e.del, tot.ins += e.ins, words += nr;
        if (per_line) printf("%lld %lld %lld\n", (long long)(i + 1), (long long)(e.sub + e.del + e.ins), (long long)nr);
    }
    if (words == 0) {
        rc = cli_fail(CLI_EXIT_DATA, ref_path, "no reference words");
        goto done;
    }
    printf("wer=%.2f%% sub=%lld del=%lld ins=%lld words=%lld lines=%lld\n",
           100.0 * (double)(tot.sub + tot.del + tot.ins) / (double)words, (long long)tot.sub, (long long)tot.del,
           (long long)tot.ins, (long long)words, (long long)nlr);
    rc = fflush(stdout) == 0 ? 0 : cli_fail(CLI_EXIT_IO, NULL, "cannot write the result");
done:
    free(rbuf), free(hbuf), free(rl), free(hl), free(rlen), free(hlen), free(rw), free(hw);
    return rc;
}
