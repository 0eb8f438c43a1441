/* sonotok phonemize: text to espeak-ng phonemes and phoneme-inventory token
 * ids (phonemes.h), one line per sentence; optionally espeak-ng's speech of
 * the text with every phoneme's span (the synthetic TTS corpus uses this). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

enum { OPT_LANG = CLI_OPT_LONG, OPT_VARIANT, OPT_RATE, OPT_PITCH, OPT_FORMAT, OPT_SPEAK, OPT_FRAME_RATE, OPT_NO_SPLIT,
       OPT_INVENTORY };

static const cli_opt phonemize_opts[] = {
    {'h', "help", NULL, "show this help and exit"},
    {'v', "verbose", NULL, "more messages"},
    {'q', "quiet", NULL, "errors only"},
    {'f', "file", "FILE", "read the text from FILE ('-': standard input) instead of the operands"},
    {'o', "output", "FILE", "write here (default: standard output)"},
    {OPT_LANG, "lang", "L", "language, an espeak-ng name (en, en-us, fr, ru, ...; default en)"},
    {OPT_FORMAT, "format", "F", "text (default: phonemes, stress marks, '|' and '||' pauses), ids, or json"},
    {OPT_NO_SPLIT, "no-split", NULL, "phonemize the text as one piece (at most 4096 bytes) instead of sentence by sentence"},
    {OPT_SPEAK, "speak", "WAV", "also write espeak-ng's speech of the text (24 kHz, or --rate-hz)"},
    {OPT_VARIANT, "variant", "V", "with --speak: espeak-ng voice variant (m3, f2, ...)"},
    {OPT_RATE, "rate", "WPM", "with --speak: speaking rate, 80 to 450 words a minute (default 175)"},
    {OPT_PITCH, "pitch", "P", "with --speak: base pitch, 0 to 100 (default 50)"},
    {OPT_FRAME_RATE, "frame-rate", "HZ", "json: phoneme spans also in frames of HZ (default 75, the codec's)"},
    {OPT_INVENTORY, "inventory", NULL, "print the phoneme inventory (token, text) and its JSON line instead"},
    {0, NULL, NULL, NULL},
};

static int run_phonemize(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_phonemize = {
    .name = "phonemize",
    .summary = "Text to phonemes and phoneme token ids (espeak-ng), with its speech and spans.",
    .usage = "[--lang L] [--format text|ids|json] [--speak WAV] [-o OUT] (TEXT... | -f FILE)",
    .details =
        "The text is cut into sentences (and long sentences at commas) and each\n"
        "is phonemized by espeak-ng: numbers, abbreviations and punctuation are\n"
        "its. text: one line per sentence, phonemes joined by '_' and words by\n"
        "spaces as `espeak-ng -x --sep=_` writes them, \"'\" and \",\" marking\n"
        "primary and secondary stress, '|' a pause inside the sentence and '||'\n"
        "the pause after it. ids: the phoneme-inventory token ids, one line per\n"
        "sentence. json: one object per sentence with text, lang, phonemes,\n"
        "tokens, words (each phoneme's word, -1 for a pause), the speech's\n"
        "sample_rate and n_samples, and each phoneme's span in samples (start,\n"
        "end) and in frames at --frame-rate (start_frame, end_frame; contiguous,\n"
        "from 0 to the rounded length). --speak writes the sentences' speech one\n"
        "after the other, and json spans then count from the start of that file.\n"
        "Exit 2 for empty text, text with nothing to pronounce, invalid UTF-8 or\n"
        "an unknown language; 4 when espeak-ng's data is missing.\n",
    .opts = phonemize_opts,
    .run = run_phonemize,
};

/* Append formatted text to a growing buffer; 0 or -1 (no memory). */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_add(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return -1;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return 0;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->n + (size_t)k) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
}

/* A JSON string (the text may hold quotes, controls and UTF-8). */
static int sb_json_str(sbuf *b, const char *s, size_t n) {
    int rc = sb_add(b, "\"");
    for (size_t i = 0; !rc && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') rc = sb_add(b, "\\%c", c);
        else if (c < 0x20) rc = sb_add(b, "\\u%04x", c);
        else rc = sb_add(b, "%c", c);
    }
    return rc ? rc : sb_add(b, "\"");
}

static int piece_line(sbuf *b, int format, const char *lang, const char *text, size_t n_text, const sono_phoneme_seq *s,
                      int64_t offset, double frame_rate) {
    const sono_phoneme *ph = s->phonemes;
    int rc = 0;
    char t[32];
    if (format == 0) {
        for (int64_t i = 0; !rc && i < s->n_phonemes; i++) {
            const char *sep = i == 0 ? "" : (ph[i].word_start || ph[i].kind || ph[i - 1].kind) ? " " : "_";
            if (ph[i].kind == SONO_PH_PHONE) {
                sono_phoneme_token_text(ph[i].token, t, sizeof t);
                rc = sb_add(b, "%s%s", sep, t);
            } else {
                rc = sb_add(b, "%s%s", sep, ph[i].kind == SONO_PH_PAUSE ? "||" : "|");
            }
        }
        return rc ? rc : sb_add(b, "\n");
    }
    if (format == 1) {
        for (int64_t i = 0; !rc && i < s->n_phonemes; i++) rc = sb_add(b, i ? " %d" : "%d", (int)ph[i].token);
        return rc ? rc : sb_add(b, "\n");
    }
    rc = sb_add(b, "{\"text\":");
    if (!rc) rc = sb_json_str(b, text, n_text);
    if (!rc) rc = sb_add(b, ",\"lang\":");
    if (!rc) rc = sb_json_str(b, lang, strlen(lang));
    if (!rc) rc = sb_add(b, ",\"sample_rate\":%d,\"n_samples\":%lld,\"frame_rate\":%g,\"phonemes\":[", s->sample_rate,
                         (long long)s->n_samples, frame_rate);
    for (int64_t i = 0; !rc && i < s->n_phonemes; i++) {
        sono_phoneme_token_text(ph[i].token, t, sizeof t);
        rc = sb_add(b, i ? "," : "");
        if (!rc) rc = sb_json_str(b, ph[i].kind == SONO_PH_PHONE ? t : ph[i].kind == SONO_PH_PAUSE ? "||" : "|", strlen(
                                         ph[i].kind == SONO_PH_PHONE ? t : ph[i].kind == SONO_PH_PAUSE ? "||" : "|"));
    }
    const char *keys[6] = {"tokens", "words", "start", "end", "start_frame", "end_frame"};
    for (int k = 0; k < 6 && !rc; k++) {
        rc = sb_add(b, "],\"%s\":[", keys[k]);
        for (int64_t i = 0; !rc && i < s->n_phonemes; i++) {
            int64_t a = offset + ph[i].start_sample, e = offset + ph[i].end_sample;
            long long v = k == 0   ? ph[i].token
                          : k == 1 ? ph[i].word
                          : k == 2 ? a
                          : k == 3 ? e
                          : (long long)llround((double)(k == 4 ? a : e) * frame_rate / s->sample_rate);
            rc = sb_add(b, i ? ",%lld" : "%lld", v);
        }
    }
    return rc ? rc : sb_add(b, "]}\n");
}

static int print_inventory(const char *out_path) {
    sbuf b = {0};
    char t[32], json[SONO_PHONEME_JSON_MAX];
    int rc = 0;
    for (int32_t i = 0; !rc && i < sono_phoneme_n_tokens(); i++) {
        sono_phoneme_token_text(i, t, sizeof t);
        rc = sb_add(&b, "%d\t%s\n", (int)i, t);
    }
    sono_phoneme_inventory_to_json(json, sizeof json);
    if (!rc) rc = sb_add(&b, "%s\n", json);
    if (rc) {
        free(b.p);
        return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    }
    int err = sono_output_save(out_path, b.p, b.n);
    free(b.p);
    return err ? cli_fail_sono(out_path, err) : 0;
}

static int run_phonemize(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *out_path = "-", *file = NULL, *speak = NULL, *format_s = "text";
    sono_phonemizer_params pp = sono_phonemizer_default_params();
    double frame_rate = 75;
    int no_split = 0, inventory = 0, voice_opts = 0;
    long v;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'f': file = arg; break;
        case 'o': out_path = arg; break;
        case OPT_LANG: pp.language = arg; break;
        case OPT_VARIANT: pp.variant = arg; voice_opts = 1; break;
        case OPT_FORMAT: format_s = arg; break;
        case OPT_SPEAK: speak = arg; break;
        case OPT_NO_SPLIT: no_split = 1; break;
        case OPT_INVENTORY: inventory = 1; break;
        case OPT_RATE:
            if (cli_parse_int(arg, 80, 450, &v)) rc = cli_usage_error(cmd, "--rate: not a rate in 80..450: '%s'", arg);
            pp.rate_wpm = (int)v;
            voice_opts = 1;
            break;
        case OPT_PITCH:
            if (cli_parse_int(arg, 0, 100, &v)) rc = cli_usage_error(cmd, "--pitch: not a pitch in 0..100: '%s'", arg);
            pp.pitch = (int)v;
            voice_opts = 1;
            break;
        case OPT_FRAME_RATE:
            if (cli_parse_double(arg, 1, 1000, &frame_rate))
                rc = cli_usage_error(cmd, "--frame-rate: not a rate in 1..1000 Hz: '%s'", arg);
            break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    int format = !strcmp(format_s, "text") ? 0 : !strcmp(format_s, "ids") ? 1 : !strcmp(format_s, "json") ? 2 : -1;
    if (format < 0) return cli_usage_error(cmd, "--format: text, ids or json, not '%s'", format_s);
    if (inventory) return first < argc || file ? cli_usage_error(cmd, "--inventory takes no text") : print_inventory(out_path);
    if (file && first < argc) return cli_usage_error(cmd, "text given both as operands and with -f");
    if (!file && first == argc) return cli_usage_error(cmd, "no text (give it as operands or with -f FILE)");
    if (voice_opts && !speak) return cli_usage_error(cmd, "--variant, --rate and --pitch go with --speak");
    cli_install_log(&c);
    if (file) {
        const char *ins[1] = {file};
        if ((rc = cli_protect_inputs(ins, 1)) != 0) return rc;
    }
    if ((rc = cli_check_output(out_path)) != 0 || (speak && (rc = cli_check_output(speak)) != 0)) return rc;
    if (speak && strcmp(out_path, "-") && !strcmp(out_path, speak))
        return cli_usage_error(cmd, "-o and --speak name the same file");

    uint8_t *text = NULL;
    size_t n_text = 0;
    if (file) {
        if ((rc = cli_read_file(file, &text, &n_text)) != 0) return rc;
    } else {
        for (int i = first; i < argc; i++) n_text += strlen(argv[i]) + 1;
        if (!(text = malloc(n_text + 1))) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        n_text = 0;
        for (int i = first; i < argc; i++) {
            size_t k = strlen(argv[i]);
            memcpy(text + n_text, argv[i], k);
            n_text += k;
            text[n_text++] = ' ';
        }
        n_text--;
    }
    const char *what = file ? (strcmp(file, "-") ? file : "<stdin>") : "text";
    int err = 0;
    sono_phonemizer *ph = sono_phonemizer_new(&pp, &err);
    sono_text_piece *pieces = NULL;
    int64_t n_pieces = 0;
    sbuf b = {0};
    sono_audio_writer *w = NULL;
    if (!ph) {
        rc = cli_fail_sono(err == SONO_E_NOT_FOUND ? "espeak-ng" : "--lang", err);
        if (err == SONO_E_NOT_FOUND) rc = CLI_EXIT_MODEL;
        goto done;
    }
    if (no_split) {
        if (!(pieces = malloc(sizeof *pieces))) goto oom;
        pieces[0] = (sono_text_piece){0, (int64_t)n_text};
        n_pieces = 1;
    } else {
        n_pieces = sono_text_split((const char *)text, n_text, 400, NULL, 0);
        if (n_pieces < 0) {
            rc = cli_fail_sono(what, (int)n_pieces);
            goto done;
        }
        if (n_pieces == 0) {
            rc = cli_fail(CLI_EXIT_DATA, what, "empty text");
            goto done;
        }
        if (!(pieces = malloc((size_t)n_pieces * sizeof *pieces))) goto oom;
        sono_text_split((const char *)text, n_text, 400, pieces, n_pieces);
    }
    int64_t offset = 0, n_phonemes = 0, n_spoken = 0;
    for (int64_t i = 0; i < n_pieces; i++) {
        sono_phoneme_seq s;
        const char *pt = (const char *)text + pieces[i].offset;
        err = sono_phonemize(ph, pt, (size_t)pieces[i].n_bytes, speak ? SONO_PHONEMIZE_AUDIO : 0, &s);
        if (err == SONO_E_EMPTY && n_pieces > 1) { /* a piece of punctuation alone: nothing to say */
            cli_note(&c, 2, "sentence %lld has nothing to pronounce; left out", (long long)i + 1);
            continue;
        }
        if (err) {
            rc = cli_fail_sono(what, err);
            goto done;
        }
        if (speak && !w && !(w = sono_audio_create(speak, NULL, s.sample_rate, 24000, 1, &err))) {
            sono_phoneme_seq_free(&s);
            rc = cli_fail_sono(speak, err);
            goto done;
        }
        if (w && (err = sono_audio_write(w, s.pcm, s.n_samples)) != 0) {
            sono_phoneme_seq_free(&s);
            rc = cli_fail_sono(speak, err);
            goto done;
        }
        int brc = piece_line(&b, format, pp.language, pt, (size_t)pieces[i].n_bytes, &s, offset, frame_rate);
        offset += s.n_samples;
        n_phonemes += s.n_phonemes;
        n_spoken++;
        sono_phoneme_seq_free(&s);
        if (brc) goto oom;
    }
    if (n_spoken == 0) {
        rc = cli_fail(CLI_EXIT_DATA, what, "no pronounceable content in the text");
        goto done;
    }
    if ((err = sono_output_save(out_path, b.p, b.n)) != 0) {
        rc = cli_fail_sono(out_path, err);
        goto done;
    }
    if (w) {
        err = sono_audio_writer_close(w);
        w = NULL;
        if (err) {
            rc = cli_fail_sono(speak, err);
            goto done;
        }
    }
    cli_note(&c, 2, "%lld sentences, %lld phonemes", (long long)n_spoken, (long long)n_phonemes);
    rc = 0;
    goto done;
oom:
    rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
done:
    sono_audio_writer_abort(w);
    free(b.p);
    free(pieces);
    free(text);
    sono_phonemizer_free(ph);
    return rc;
}
