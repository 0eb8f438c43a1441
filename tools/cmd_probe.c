/* sonotok train-probe and sonotok probe: the linear probe on pooled codec
 * encoder latents (sonotok/probe.h), the project's yardstick for generated
 * audio. train-probe learns it from corpus manifests; probe classifies files
 * and, where the truth is known (a manifest, or folders named after the
 * classes), reports accuracy and a confusion matrix. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "train_cli.h"
#include "probe_data.h"

enum { OPT_LABELS = CLI_OPT_LONG, OPT_FEATURES, OPT_MAX_PER_CLASS, OPT_MAX_SECONDS, OPT_MIN_CLASS, OPT_HELDOUT,
       OPT_STEPS, OPT_L2, OPT_LR, OPT_CSV, OPT_MANIFEST, OPT_SKIP_BAD };

#define DEFAULT_MAX_SECONDS 10.0

/* ---- shared ---- */

static int class_index(const sono_probe *p, const char *name) {
    for (int k = 0; k < sono_probe_n_classes(p); k++)
        if (!strcmp(sono_probe_class_name(p, k), name)) return k;
    return -1;
}

/* The probe's class for a truth label: itself, else "other" when the probe
 * has it (classes merged at training), else -1 (not scored). */
static int truth_index(const sono_probe *p, const char *label) {
    if (!label) return -1;
    int k = class_index(p, label);
    return k >= 0 ? k : class_index(p, "other");
}

/* Accuracy, mean per-class recall and the confusion matrix (rows: truth,
 * columns: predicted) of the n scored clips. */
static void print_report(FILE *f, const sono_probe *p, const int *truth, const int *pred, int64_t n, int64_t unscored) {
    int K = sono_probe_n_classes(p);
    int64_t *cm = calloc((size_t)K * K, sizeof(int64_t));
    if (!cm) return;
    int64_t right = 0, scored = 0;
    for (int64_t i = 0; i < n; i++) {
        if (truth[i] < 0) continue;
        cm[(size_t)truth[i] * K + pred[i]]++;
        right += truth[i] == pred[i];
        scored++;
    }
    double recall_sum = 0;
    int present = 0;
    for (int t = 0; t < K; t++) {
        int64_t row = 0;
        for (int q = 0; q < K; q++) row += cm[(size_t)t * K + q];
        if (row) { recall_sum += (double)cm[(size_t)t * K + t] / (double)row; present++; }
    }
    fprintf(f, "accuracy %.4f (%lld of %lld), balanced accuracy %.4f over %d classes", scored ? (double)right / (double)scored : 0.0,
            (long long)right, (long long)scored, present ? recall_sum / present : 0.0, present);
    if (unscored) fprintf(f, "; %lld files not scored (no known class, or unreadable)", (long long)unscored);
    fprintf(f, "\nconfusion (rows: truth, columns: predicted)\n%-12s", "");
    for (int q = 0; q < K; q++) fprintf(f, " %10.10s", sono_probe_class_name(p, q));
    fprintf(f, "\n");
    for (int t = 0; t < K; t++) {
        fprintf(f, "%-12.12s", sono_probe_class_name(p, t));
        for (int q = 0; q < K; q++) fprintf(f, " %10lld", (long long)cm[(size_t)t * K + q]);
        fprintf(f, "\n");
    }
    free(cm);
}

static int parse_max_seconds(const cli_cmd *cmd, const char *arg, double *out) {
    if (cli_parse_double(arg, 0, 1e6, out)) return cli_usage_error(cmd, "--max-seconds wants seconds >= 0, not '%s'", arg);
    return -1;
}

/* ---- train-probe ---- */

static const cli_opt train_probe_opts[] = {
    CLI_COMMON_OPTS,
    {'m', "model", "MODEL", "the codec whose encoder latents are the features (default: default)"},
    {'o', "output", "FILE", "the probe file to write (required)"},
    {OPT_LABELS, "labels", "KIND", "category (speech/music/effects, default) or class (finer classes, see below)"},
    {OPT_FEATURES, "features", "KIND", "mean_std (default: mean and deviation over frames) or mean"},
    {OPT_MAX_PER_CLASS, "max-per-class", "N", "train on at most N clips of each class, spread evenly over the manifest (default: all)"},
    {OPT_MAX_SECONDS, "max-seconds", "S", "use at most the first S seconds of each clip (default 10; 0: all)"},
    {OPT_MIN_CLASS, "min-class", "N", "classes with fewer clips merge into \"other\", dropped if that is still fewer (default 10)"},
    {OPT_HELDOUT, "heldout", "MANIFEST", "report accuracy and confusion on this manifest after training"},
    {OPT_SKIP_BAD, "skip-bad", NULL, "skip clips that cannot be read (missing, not audio), each with a note, instead of stopping"},
    {OPT_STEPS, "steps", "N", "full-batch Adam steps (default 400)"},
    {OPT_L2, "l2", "X", "L2 penalty on the weights (default 0.001)"},
    {OPT_LR, "lr", "X", "Adam learning rate (default 0.05)"},
    {0, NULL, NULL, NULL},
};

static int run_train_probe(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_train_probe = {
    .name = "train-probe",
    .summary = "Train a linear probe (audio class from codec encoder latents) on corpus manifests.",
    .usage = "[options] -o PROBE MANIFEST...",
    .details =
        "A multinomial logistic regression on each clip's encoder latents (the codec's\n"
        "continuous output before quantisation), pooled over frames and standardised.\n"
        "MANIFEST is a corpus manifest (JSON lines with \"path\" relative to its folder,\n"
        "\"category\", and \"text\" or \"caption\"). --labels class keeps speech and music\n"
        "and splits the other clips by keywords of their text and path into instrument,\n"
        "vehicle, animal or other. Each class weighs the same in the loss, whatever its\n"
        "size. Training is deterministic: the same inputs give the same file.\n"
        "Use the file with sonotok probe -p PROBE.\n",
    .opts = train_probe_opts,
    .run = run_train_probe,
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Merge labels with fewer than min_class clips into "other"; drop "other"
 * when it is still smaller. Then the sorted class names. */
static int settle_classes(const cli_common *c, pd_list *all, int min_class, char ***names_out, int *n_out) {
    char **names = NULL;
    int64_t *count = NULL;
    int K = 0, rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        K = 0;
        free(names);
        free(count);
        names = calloc((size_t)all->n + 1, sizeof *names);
        count = calloc((size_t)all->n + 1, sizeof *count);
        if (!names || !count) { rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory"); break; }
        for (int64_t i = 0; i < all->n; i++) {
            int k = 0;
            while (k < K && strcmp(names[k], all->clips[i].label)) k++;
            if (k == K) names[K++] = all->clips[i].label;
            count[k]++;
        }
        for (int k = 0; k < K && pass == 0; k++) {
            if (count[k] >= min_class || !strcmp(names[k], "other")) continue;
            cli_note(c, 1, "class %s: %lld clips, fewer than %d: merged into other", names[k], (long long)count[k], min_class);
            char *gone = names[k];
            for (int64_t i = 0; i < all->n; i++)
                if (all->clips[i].label == gone || !strcmp(all->clips[i].label, gone)) {
                    char *o = strdup("other");
                    if (!o) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
                    if (all->clips[i].label != gone) free(all->clips[i].label);
                    all->clips[i].label = o;
                }
            free(gone);
            names[k] = NULL;
        }
    }
    if (!rc) {
        int k = 0;
        while (k < K && strcmp(names[k], "other")) k++;
        if (k < K && count[k] < min_class) {
            cli_note(c, 1, "class other: %lld clips, fewer than %d: dropped", (long long)count[k], min_class);
            int64_t w = 0;
            for (int64_t i = 0; i < all->n; i++) {
                if (!strcmp(all->clips[i].label, "other")) { free(all->clips[i].path); free(all->clips[i].label); }
                else all->clips[w++] = all->clips[i];
            }
            all->n = w;
            names[k] = names[--K];
        }
    }
    if (!rc) {
        for (int k = 0; k < K && !rc; k++)
            if (!(names[k] = strdup(names[k]))) rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        qsort(names, (size_t)K, sizeof *names, cmp_str);
    }
    free(count);
    *names_out = names;
    *n_out = K;
    return rc;
}

/* Features of the clips of list, with a progress bar. feat [n][F]. With
 * skip_bad a clip that fails to read or encode (its error printed) is taken
 * out of list and the rest move up; *n_skipped counts them. */
static int list_features(const cli_common *c, const sono_codec *codec, pd_list *list, double max_seconds, int kind,
                         int F, float *feat, const char *label, int skip_bad, int64_t *n_skipped) {
    cli_progress pr;
    cli_progress_init(&pr, c, label);
    int rc = 0;
    int64_t w = 0, n = list->n;
    *n_skipped = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        if (w != i) list->clips[w] = list->clips[i];
        rc = pd_clip_features(codec, list->clips[w].path, max_seconds, kind, feat + (size_t)w * F);
        if (rc && skip_bad && rc != CLI_EXIT_IO) {
            cli_progress_clear(&pr);
            free(list->clips[w].path);
            free(list->clips[w].label);
            (*n_skipped)++;
            rc = 0;
        } else {
            w++;
        }
        char extra[64];
        snprintf(extra, sizeof extra, "%lld/%lld clips", (long long)i + 1, (long long)n);
        cli_progress_update(&pr, (double)(i + 1) / (double)n, extra);
    }
    cli_progress_clear(&pr);
    list->n = rc ? list->n : w;
    return rc;
}

/* Classify the clips of list; truth from their labels. Prints the report. */
static int evaluate_list(const cli_common *c, const sono_codec *codec, const sono_probe *p, const pd_list *list,
                         double max_seconds, int skip_bad, FILE *out) {
    int F = sono_probe_feature_dim(sono_probe_feature_kind(p), sono_probe_latent_dim(p)), K = sono_probe_n_classes(p);
    float *feat = malloc((size_t)F * sizeof(float)), *prob = malloc((size_t)K * sizeof(float));
    int *truth = malloc((size_t)(list->n + 1) * sizeof(int)), *pred = malloc((size_t)(list->n + 1) * sizeof(int));
    int rc = (!feat || !prob || !truth || !pred) ? cli_fail(CLI_EXIT_IO, NULL, "out of memory") : 0;
    int64_t unscored = 0;
    cli_progress pr;
    cli_progress_init(&pr, c, "held-out");
    for (int64_t i = 0; i < list->n && !rc; i++) {
        rc = pd_clip_features(codec, list->clips[i].path, max_seconds, sono_probe_feature_kind(p), feat);
        if (rc && skip_bad && rc != CLI_EXIT_IO) {   /* not scored */
            truth[i] = -1;
            pred[i] = 0;
            unscored++;
            rc = 0;
            continue;
        }
        if (rc) break;
        pred[i] = sono_probe_predict(p, feat, prob);
        truth[i] = truth_index(p, list->clips[i].label);
        unscored += truth[i] < 0;
        cli_progress_update(&pr, (double)(i + 1) / (double)list->n, NULL);
    }
    cli_progress_clear(&pr);
    if (!rc) print_report(out, p, truth, pred, list->n, unscored);
    free(feat);
    free(prob);
    free(truth);
    free(pred);
    return rc;
}

static int run_train_probe(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *model = "default", *out_path = NULL, *heldout = NULL;
    int label_kind = PD_LABEL_CATEGORY, kind = SONO_PROBE_MEAN_STD, skip_bad = 0;
    long max_per_class = 0, min_class = 10;
    double max_seconds = DEFAULT_MAX_SECONDS, x;
    sono_probe_train_params tp = sono_probe_train_default_params();
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    long v;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': model = arg; break;
        case 'o': out_path = arg; break;
        case OPT_LABELS:
            if (!strcmp(arg, "category")) label_kind = PD_LABEL_CATEGORY;
            else if (!strcmp(arg, "class")) label_kind = PD_LABEL_CLASS;
            else rc = cli_usage_error(cmd, "--labels wants category or class, not '%s'", arg);
            break;
        case OPT_FEATURES:
            if (!strcmp(arg, "mean")) kind = SONO_PROBE_MEAN;
            else if (!strcmp(arg, "mean_std")) kind = SONO_PROBE_MEAN_STD;
            else rc = cli_usage_error(cmd, "--features wants mean or mean_std, not '%s'", arg);
            break;
        case OPT_MAX_PER_CLASS:
            if (cli_parse_int(arg, 1, 1L << 40, &max_per_class)) rc = cli_usage_error(cmd, "--max-per-class wants a count >= 1, not '%s'", arg);
            break;
        case OPT_MAX_SECONDS: rc = parse_max_seconds(cmd, arg, &max_seconds); break;
        case OPT_MIN_CLASS:
            if (cli_parse_int(arg, 1, 1L << 40, &min_class)) rc = cli_usage_error(cmd, "--min-class wants a count >= 1, not '%s'", arg);
            break;
        case OPT_HELDOUT: heldout = arg; break;
        case OPT_SKIP_BAD: skip_bad = 1; break;
        case OPT_STEPS:
            if (cli_parse_int(arg, 1, 1000000, &v)) rc = cli_usage_error(cmd, "--steps wants 1 to 1000000, not '%s'", arg);
            else tp.steps = (int)v;
            break;
        case OPT_L2:
            if (cli_parse_double(arg, 0, 1e6, &x)) rc = cli_usage_error(cmd, "--l2 wants a number >= 0, not '%s'", arg);
            else tp.l2 = x;
            break;
        case OPT_LR:
            if (cli_parse_double(arg, 1e-9, 10, &x)) rc = cli_usage_error(cmd, "--lr wants a number in (0, 10], not '%s'", arg);
            else tp.lr = x;
            break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (first >= argc) return cli_usage_error(cmd, "no MANIFEST given");
    if (!out_path) return cli_usage_error(cmd, "no output: give -o PROBE");
    const char *const *inputs = (const char *const *)(argv + first);
    int n_in = argc - first;
    if ((rc = cli_protect_inputs(inputs, n_in)) != 0 || (rc = cli_check_output(out_path)) != 0) return rc;
    if (heldout && (rc = cli_protect_inputs(&heldout, 1)) != 0) return rc;
    cli_install_log(&c);
    double t0 = cli_now();

    pd_list all = {0}, pick = {0}, held = {0};
    for (int i = 0; i < n_in && !rc; i++) rc = pd_read_manifest(inputs[i], label_kind, &all);
    if (!rc && heldout) rc = pd_read_manifest(heldout, label_kind, &held);
    if (!rc && all.n == 0) rc = cli_fail(CLI_EXIT_DATA, NULL, "the manifests list no clips");
    char **names = NULL;
    int K = 0;
    if (!rc) rc = settle_classes(&c, &all, (int)min_class, &names, &K);
    if (!rc && K < 2) rc = cli_fail(CLI_EXIT_DATA, NULL, "%d class%s with at least %ld clips; a probe needs 2", K, K == 1 ? "" : "es", min_class);
    /* at most max_per_class clips per class, spread evenly: clip j of a class
     * of m is kept when floor((j+1) N/m) > floor(j N/m) */
    int64_t *count = rc ? NULL : calloc((size_t)K, sizeof(int64_t)), *seen = rc ? NULL : calloc((size_t)K, sizeof(int64_t));
    int32_t *y = NULL;
    if (!rc && (!count || !seen)) rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    for (int64_t i = 0; !rc && i < all.n; i++) {
        int k = 0;
        while (strcmp(names[k], all.clips[i].label)) k++;
        count[k]++;
    }
    for (int64_t i = 0; !rc && i < all.n; i++) {
        int k = 0;
        while (strcmp(names[k], all.clips[i].label)) k++;
        int64_t j = seen[k]++, m = count[k];
        int keep = !max_per_class || m <= max_per_class || (j + 1) * max_per_class / m > j * max_per_class / m;
        if (keep) rc = pd_list_add(&pick, all.clips[i].path, all.clips[i].label);
    }
    if (!rc && c.verbosity >= 1) {
        fprintf(stderr, "sonotok: %lld training clips:", (long long)pick.n);
        for (int k = 0; k < K; k++) {
            int64_t kept = max_per_class && count[k] > max_per_class ? max_per_class : count[k];
            fprintf(stderr, " %s %lld", names[k], (long long)kept);
        }
        fprintf(stderr, "\n");
    }
    sono_codec *codec = rc ? NULL : cli_load_codec(&c, model, &rc);
    int F = codec ? sono_probe_feature_dim(kind, sono_codec_latent_dim(codec)) : 0;
    float *feat = NULL;
    if (codec && !(feat = malloc((size_t)pick.n * (size_t)F * sizeof(float))) ) rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int64_t n_skipped = 0;
    if (!rc) rc = list_features(&c, codec, &pick, max_seconds, kind, F, feat, "encoding", skip_bad, &n_skipped);
    if (!rc && n_skipped) cli_note(&c, 1, "%lld clips skipped (above), %lld used", (long long)n_skipped, (long long)pick.n);
    if (!rc && pick.n == 0) rc = cli_fail(CLI_EXIT_DATA, NULL, "no clip could be read");
    if (!rc && !(y = malloc((size_t)pick.n * sizeof(int32_t)))) rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    for (int64_t i = 0; !rc && i < pick.n; i++) {
        int k = 0;
        while (strcmp(names[k], pick.clips[i].label)) k++;
        y[i] = k;
    }
    double t_enc = cli_now() - t0, loss = 0;
    sono_probe *probe = NULL;
    if (!rc) {
        sono_probe_info info = {.codec_name = sono_codec_name(codec), .feature_kind = kind,
                                .latent_dim = sono_codec_latent_dim(codec), .n_classes = K,
                                .class_names = (const char *const *)names,
                                .labels = label_kind == PD_LABEL_CLASS ? "class" : "category"};
        sono_codec_hash(codec, info.codec_hash);
        int err;
        probe = sono_probe_train(&info, feat, y, pick.n, &tp, &loss, &err);
        if (!probe) rc = cli_fail_sono("train-probe", err);
    }
    if (!rc) {
        int err = sono_probe_save(probe, out_path);
        if (err) rc = cli_fail_sono(out_path, err);
    }
    if (!rc && c.verbosity >= 1) {
        int64_t right = 0;
        float *prob = malloc((size_t)K * sizeof(float));
        for (int64_t i = 0; prob && i < pick.n; i++) right += sono_probe_predict(probe, feat + (size_t)i * F, prob) == y[i];
        free(prob);
        fprintf(stderr, "sonotok: %d classes, %d features (%s), training loss %.4f, training accuracy %.4f; encoding %.1f s, in all %.1f s\n",
                K, F, kind == SONO_PROBE_MEAN_STD ? "mean_std" : "mean", loss, pick.n ? (double)right / (double)pick.n : 0.0,
                t_enc, cli_now() - t0);
    }
    if (!rc && heldout) {
        fprintf(stdout, "held-out %s:\n", heldout);
        rc = evaluate_list(&c, codec, probe, &held, max_seconds, skip_bad, stdout);
        if (!rc && fflush(stdout)) rc = cli_fail_errno("standard output", errno);
    }
    sono_probe_free(probe);
    sono_codec_free(codec);
    free(feat);
    free(y);
    free(count);
    free(seen);
    for (int k = 0; names && k < K; k++) free(names[k]);
    free(names);
    pd_list_free(&all);
    pd_list_free(&pick);
    pd_list_free(&held);
    return rc;
}

/* ---- probe ---- */

static const cli_opt probe_opts[] = {
    CLI_COMMON_OPTS,
    {'p', "probe", "FILE", "the probe file from train-probe (required)"},
    {'m', "model", "MODEL", "the codec (default: the one the probe was trained on, by its name)"},
    {OPT_MANIFEST, "manifest", "FILE", "classify the clips of this corpus manifest, their labels the truth"},
    {OPT_CSV, "csv", NULL, "print CSV: path, truth, top class, then every class's probability"},
    {OPT_MAX_SECONDS, "max-seconds", "S", "use at most the first S seconds of each file (default 10; 0: all)"},
    {0, NULL, NULL, NULL},
};

static int run_probe(const cli_cmd *cmd, int argc, char **argv);

const cli_cmd cmd_probe = {
    .name = "probe",
    .summary = "Classify audio files with a linear probe; accuracy and confusion where the truth is known.",
    .usage = "[options] -p PROBE [--manifest FILE] [FILE|FOLDER...]",
    .details =
        "Prints, per file, its path, its top class and that class's probability (with\n"
        "--csv, every class's). The truth of a file is known from a manifest (its\n"
        "category, or its keyword class for a probe trained with --labels class) or,\n"
        "for a FOLDER, from the name of the sub-folder it sits in directly below\n"
        "FOLDER when that names a class (FOLDER/music/a.wav is music); then accuracy,\n"
        "balanced accuracy (mean recall over classes) and the confusion matrix follow\n"
        "(on standard error with --csv). A class the probe does not have counts as\n"
        "\"other\" where the probe has one, else is not scored. A probe refuses a codec\n"
        "other than its own.\n",
    .opts = probe_opts,
    .run = run_probe,
};

typedef struct {
    pd_list *list;
    const sono_probe *probe;
} walk_ctx;

static int audio_ext(const char *path) {
    static const char *const ext[] = {"wav", "flac", "ogg", "opus", "mp3", "aiff", "aif", "au", "w64", "caf", NULL};
    const char *e = cli_path_ext(path);
    for (int i = 0; ext[i]; i++)
        if (!strcasecmp(e, ext[i])) return 1;
    return 0;
}

static int walk_audio(const char *rel, const char *path, const struct stat *st, void *user) {
    walk_ctx *w = user;
    if (!st || !S_ISREG(st->st_mode) || !audio_ext(path)) return 0;
    char top[256] = "";
    const char *slash = strchr(rel, '/');
    if (slash && (size_t)(slash - rel) < sizeof top) snprintf(top, sizeof top, "%.*s", (int)(slash - rel), rel);
    return pd_list_add(w->list, path, top[0] && class_index(w->probe, top) >= 0 ? top : NULL);
}

/* A CSV field in double quotes, its quotes doubled (RFC 4180). */
static void csv_quoted(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static int run_probe(const cli_cmd *cmd, int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *model = NULL, *probe_path = NULL, *manifest = NULL;
    int csv = 0;
    double max_seconds = DEFAULT_MAX_SECONDS;
    cli_parser p;
    if (cli_parse_init(&p, cmd, argc, argv) != 0) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    int key, rc = -1;
    const char *arg;
    while (rc < 0 && (key = cli_parse_next(&p, &arg)) != -1) {
        if (cli_common_opt(&c, cmd, key, arg, &rc)) continue;
        switch (key) {
        case 'm': model = arg; break;
        case 'p': probe_path = arg; break;
        case OPT_MANIFEST: manifest = arg; break;
        case OPT_CSV: csv = 1; break;
        case OPT_MAX_SECONDS: rc = parse_max_seconds(cmd, arg, &max_seconds); break;
        default: rc = CLI_EXIT_USAGE; break;
        }
    }
    int first = cli_parse_operands(&p);
    cli_parse_free(&p);
    if (rc >= 0) return rc;
    if (!probe_path) return cli_usage_error(cmd, "no probe: give -p PROBE");
    if (first >= argc && !manifest) return cli_usage_error(cmd, "no FILE, FOLDER or --manifest given");
    cli_install_log(&c);
    rc = 0;

    int err;
    sono_probe *probe = sono_probe_load(probe_path, &err);
    if (!probe) return cli_fail_sono(probe_path, err) == CLI_EXIT_DATA ? CLI_EXIT_MODEL : cli_exit_for(err);
    sono_codec *codec = cli_load_codec(&c, model ? model : sono_probe_codec_name(probe), &rc);
    if (codec) {
        uint8_t h[16];
        sono_codec_hash(codec, h);
        if ((err = sono_probe_check_codec(probe, sono_codec_name(codec), h)) != 0) {
            cli_fail_sono(probe_path, err);
            rc = CLI_EXIT_MODEL;
        }
    }
    pd_list list = {0};
    int label_kind = !strcmp(sono_probe_labels(probe), "class") ? PD_LABEL_CLASS : PD_LABEL_CATEGORY;
    if (!rc && manifest) rc = pd_read_manifest(manifest, label_kind, &list);
    for (int i = first; i < argc && !rc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) rc = cli_fail_errno(argv[i], errno);
        else if (S_ISDIR(st.st_mode)) {
            walk_ctx w = {&list, probe};
            rc = cli_walk_tree(&c, argv[i], 1, walk_audio, &w);
        } else rc = pd_list_add(&list, argv[i], NULL);
    }
    if (!rc && list.n == 0) rc = cli_fail(CLI_EXIT_DATA, NULL, "no audio files to classify");
    int K = sono_probe_n_classes(probe), F = sono_probe_feature_dim(sono_probe_feature_kind(probe), sono_probe_latent_dim(probe));
    float *feat = malloc((size_t)F * sizeof(float)), *prob = malloc((size_t)K * sizeof(float));
    int *truth = malloc((size_t)(list.n + 1) * sizeof(int)), *pred = malloc((size_t)(list.n + 1) * sizeof(int));
    if (!rc && (!feat || !prob || !truth || !pred)) rc = cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    if (!rc && csv) {
        printf("path,truth,class");
        for (int k = 0; k < K; k++) printf(",p_%s", sono_probe_class_name(probe, k));
        printf("\n");
    }
    int64_t with_truth = 0, unscored = 0;
    for (int64_t i = 0; i < list.n && !rc; i++) {
        rc = pd_clip_features(codec, list.clips[i].path, max_seconds, sono_probe_feature_kind(probe), feat);
        if (rc) break;
        pred[i] = sono_probe_predict(probe, feat, prob);
        truth[i] = truth_index(probe, list.clips[i].label);
        if (list.clips[i].label) { with_truth++; unscored += truth[i] < 0; }
        if (csv) {
            csv_quoted(list.clips[i].path);
            printf(",%s,%s", list.clips[i].label ? list.clips[i].label : "", sono_probe_class_name(probe, pred[i]));
            for (int k = 0; k < K; k++) printf(",%.5f", (double)prob[k]);
            printf("\n");
        } else {
            printf("%s\t%s\t%.4f\n", list.clips[i].path, sono_probe_class_name(probe, pred[i]), (double)prob[pred[i]]);
        }
    }
    if (!rc && with_truth) print_report(csv ? stderr : stdout, probe, truth, pred, list.n, unscored);
    if (!rc && fflush(stdout)) rc = cli_fail_errno("standard output", errno);
    free(feat);
    free(prob);
    free(truth);
    free(pred);
    pd_list_free(&list);
    sono_codec_free(codec);
    sono_probe_free(probe);
    return rc;
}
