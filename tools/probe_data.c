/* Manifests, labels and features for the linear probe's commands. */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_data.h"

/* The finer classes and their words, checked in this order (so "bass drum"
 * is an instrument before anything else sees "bass"). Words are matched
 * whole against the lower-case words of the text and of the path's folder
 * and file names (split at anything not a letter); a trailing "s" is also
 * tried. Chosen from what the corpus's effects say (qabcs-data names the
 * object sounding, tuxpaint-stamps files sit in animals/, hobbies/music/,
 * vehicles/ folders); everything else is "other". */
static const struct {
    const char *cls;
    const char *words;
} class_table[] = {
    {"instrument",
     " instrument music accordion bagpipe bagpipes drum drums drumkit tomtom cymbal timpani cello violin viola "
     "guitar piano keyboard organ flute clarinet oboe bassoon saxophone trumpet trombone tuba horn harmonica harp "
     "kazoo lute maracas recorder ukulele xylophone zither erhu banjo mandolin tambourine quena ney zurna xun "
     "yangqin yueqin dulzaina cuica rabel gamba squeezebox topshuur washint zhaleyka rozhok aeoline hang "},
    {"vehicle",
     " vehicle vehicles airplane plane helicopter copter car truck lorry train locomotive tractor bicycle bike "
     "motorbike tricycle unicycle bus ship boat tugboat rocket excavator quadrocopter wagon skateboard lander "
     "firetruck engine submarine bathyscape "},
    {"animal",
     " animal animals bird birds insect insects mammal mammals dog cat cow bull calf ox goose gander duck drake horse "
     "foal pig sheep lamb ram goat lion tiger bear wolf monkey monkeys chimpanzee chimp gorilla elephant frog owl "
     "crow rooster hen chicken donkey zebra giraffe whale dolphin orca seal bee hornet mosquito grasshopper snake "
     "python iguana turtle mouse rat squirrel rabbit hamster ferret otter raccoon deer doe moose caribou camel "
     "dromedary bison yak koala wallaby panda hyena jaguar lynx fox badger beaver hedgehog porcupine bat penguin "
     "seagull eagle heron stork pelican flamingo sparrow parrot toucan tucan turkey quail pheasant vulture albatross "
     "lark cuckoo blackbird rhea nandou emu chinchilla newt ladybug spider beetle moth snail weevil fish hippopotamus "
     "rhinoceros wombat jerboa booby crane quetzal magpie pigeon ostrich peacock "},
};

static int word_in_table(const char *table, const char *w, size_t n) {
    if (n == 0 || n > 40) return 0;
    char key[44];
    key[0] = ' ';
    memcpy(key + 1, w, n);
    key[n + 1] = ' ';
    key[n + 2] = 0;
    if (strstr(table, key)) return 1;
    if (n > 3 && w[n - 1] == 's') {
        key[n] = ' ';
        key[n + 1] = 0;
        return strstr(table, key) != NULL;
    }
    return 0;
}

/* Does any word of s (lower-cased, split at non-letters) appear in table? */
static int any_word(const char *table, const char *s) {
    char w[41];
    size_t n = 0;
    for (const char *p = s;; p++) {
        if (*p && isalpha((unsigned char)*p)) {
            if (n < sizeof w - 1) w[n] = (char)tolower((unsigned char)*p);
            n++;
            continue;
        }
        if (n && n < sizeof w && word_in_table(table, w, n)) return 1;
        n = 0;
        if (!*p) return 0;
    }
}

const char *pd_class_label(const char *category, const char *text, const char *path) {
    if (!strcmp(category, "speech") || !strcmp(category, "music")) return category;
    /* the path below audio/CATEGORY/SOURCE/, or all of it */
    const char *rel = path;
    const char *a = strstr(path, "audio/");
    if (a) {
        const char *s = strchr(a + 6, '/');
        if (s && (s = strchr(s + 1, '/'))) rel = s + 1;
    }
    for (size_t i = 0; i < sizeof class_table / sizeof class_table[0]; i++)
        if ((text && any_word(class_table[i].words, text)) || any_word(class_table[i].words, rel)) return class_table[i].cls;
    return "other";
}

int pd_list_add(pd_list *list, const char *path, const char *label) {
    if (list->n == list->cap) {
        int64_t cap = list->cap ? list->cap * 2 : 256;
        pd_clip *nc = realloc(list->clips, (size_t)cap * sizeof *nc);
        if (!nc) return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
        list->clips = nc;
        list->cap = cap;
    }
    pd_clip *c = &list->clips[list->n];
    c->path = strdup(path);
    c->label = label ? strdup(label) : NULL;
    if (!c->path || (label && !c->label)) {
        free(c->path);
        free(c->label);
        return cli_fail(CLI_EXIT_IO, NULL, "out of memory");
    }
    list->n++;
    return 0;
}

void pd_list_free(pd_list *list) {
    for (int64_t i = 0; i < list->n; i++) {
        free(list->clips[i].path);
        free(list->clips[i].label);
    }
    free(list->clips);
    memset(list, 0, sizeof *list);
}

static const char *json_str(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

int pd_read_manifest(const char *manifest, int label_kind, pd_list *list) {
    FILE *f = fopen(manifest, "r");
    if (!f) return cli_fail_errno(manifest, errno);
    char dir[4096];
    const char *slash = strrchr(manifest, '/');
    int dn = slash ? (int)(slash - manifest) : 1;
    snprintf(dir, sizeof dir, "%.*s", dn, slash ? manifest : ".");
    char *line = NULL, path[8192];
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    ssize_t got;
    while (!rc && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *p = line;
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        json_object *o = json_tokener_parse(p);
        const char *rel = o ? json_str(o, "path") : NULL, *cat = o ? json_str(o, "category") : NULL;
        if (!o || !json_object_is_type(o, json_type_object) || !rel || !*rel || !cat || !*cat) {
            rc = cli_fail(CLI_EXIT_DATA, manifest, "line %ld: not a JSON object with \"path\" and \"category\" strings", lineno);
        } else {
            const char *text = json_str(o, "caption");
            if (!text) text = json_str(o, "text");
            if (rel[0] == '/') snprintf(path, sizeof path, "%s", rel);
            else snprintf(path, sizeof path, "%s/%s", dir, rel);
            rc = pd_list_add(list, path, label_kind == PD_LABEL_CLASS ? pd_class_label(cat, text, rel) : cat);
        }
        json_object_put(o);
    }
    if (!rc && ferror(f)) rc = cli_fail_errno(manifest, errno);
    free(line);
    fclose(f);
    return rc;
}

int pd_clip_features(const sono_codec *codec, const char *path, double max_seconds, int kind, float *feat) {
    int err, rate = sono_codec_sample_rate(codec), C = sono_codec_channels(codec);
    sono_audio_reader *r = sono_audio_open(path, rate, C, &err);
    if (!r) return cli_fail_sono(path, err);
    int64_t max_n = max_seconds > 0 ? (int64_t)(max_seconds * rate) : INT64_MAX;
    int64_t cap = 0, n = 0;
    float *pcm = NULL;
    int rc = 0;
    /* read planar blocks, keep at most max_n samples per channel */
    enum { BLOCK = 16384 };
    float *blk = malloc((size_t)C * BLOCK * sizeof(float));
    if (!blk) rc = cli_fail(CLI_EXIT_IO, path, "out of memory");
    while (!rc && n < max_n) {
        int64_t want = max_n - n < BLOCK ? max_n - n : BLOCK;
        int64_t got = sono_audio_read(r, blk, want);
        if (got < 0) { rc = cli_fail_sono(path, (int)got); break; }
        if (got == 0) break;
        if (n + got > cap) {
            int64_t nc = cap ? cap * 2 : 4 * BLOCK;
            while (nc < n + got) nc *= 2;
            float *np = malloc((size_t)C * (size_t)nc * sizeof(float));
            if (!np) { rc = cli_fail(CLI_EXIT_IO, path, "out of memory"); break; }
            for (int c = 0; c < C; c++) if (n) memcpy(np + (size_t)c * nc, pcm + (size_t)c * cap, (size_t)n * sizeof(float));
            free(pcm);
            pcm = np;
            cap = nc;
        }
        for (int c = 0; c < C; c++) memcpy(pcm + (size_t)c * cap + n, blk + (size_t)c * got, (size_t)got * sizeof(float));
        n += got;
    }
    free(blk);
    sono_audio_close(r);
    if (!rc && n == 0) rc = cli_fail(CLI_EXIT_DATA, path, "no audio samples");
    if (!rc && C > 1 && cap != n) /* pack the channels: the encoder reads planar [C][n] */
        for (int c = 1; c < C; c++) memmove(pcm + (size_t)c * n, pcm + (size_t)c * cap, (size_t)n * sizeof(float));
    float *lat = NULL;
    int64_t nf = 0;
    if (!rc && (err = sono_codec_encode_latents(codec, pcm, n, &lat, &nf)) < 0) rc = cli_fail_sono(path, err);
    if (!rc && (err = sono_probe_features(kind, lat, sono_codec_latent_dim(codec), nf, feat)) < 0) rc = cli_fail_sono(path, err);
    free(lat);
    free(pcm);
    return rc;
}
