/* The text front end (phonemes.h): espeak-ng behind one process-wide lock
 * turns text into its phoneme sequence, taken from the synthesiser's own
 * phoneme events (so the sequence is the one it speaks, with exact spans),
 * with the stress of each vowel from espeak_TextToPhonemes; the phoneme
 * inventory; and the sentence splitter. */
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "sono_internal.h"
#include "sonotok/phonemes.h"

/* ---------------------------------------------------------------- inventory */

typedef struct {
    const char *name;
    int vowel;
} pht_entry;

static const pht_entry pht_table[] = {
#include "phoneme_table.inc"
};
#define PHT_N_NAMES ((int32_t)(sizeof pht_table / sizeof pht_table[0]))

static const char *const pht_special_names[SONO_PHT_N_SPECIAL] = {
    "<ph:unk>", "<ph:pause-short>", "<ph:pause>", "<ph:word>",
    "<ph:reserved:4>", "<ph:reserved:5>", "<ph:reserved:6>", "<ph:reserved:7>",
};

/* First token of each name, and the name of each token (built once). */
static int32_t pht_first[sizeof pht_table / sizeof pht_table[0]];
static int32_t *pht_owner; /* token -> table index, -1 for specials */
static int32_t pht_n_tokens;
static uint64_t pht_hash;
static pthread_once_t pht_once = PTHREAD_ONCE_INIT;

static void pht_build(void) {
    int32_t t = SONO_PHT_N_SPECIAL;
    for (int32_t i = 0; i < PHT_N_NAMES; i++) {
        pht_first[i] = t;
        t += pht_table[i].vowel ? 3 : 1;
    }
    pht_n_tokens = t;
    pht_owner = malloc((size_t)t * sizeof *pht_owner);
    XXH64_state_t *h = XXH64_createState();
    if (h) XXH64_reset(h, 0);
    char head[32];
    int n = snprintf(head, sizeof head, "sonotok phonemes %d\n", SONO_PHONEME_INVENTORY_VERSION);
    if (h) XXH64_update(h, head, (size_t)n);
    for (int32_t i = 0; i < SONO_PHT_N_SPECIAL; i++) {
        if (pht_owner) pht_owner[i] = -1;
        if (h) XXH64_update(h, pht_special_names[i], strlen(pht_special_names[i]) + 1);
    }
    for (int32_t i = 0; i < PHT_N_NAMES; i++) {
        for (int k = 0; k < (pht_table[i].vowel ? 3 : 1); k++)
            if (pht_owner) pht_owner[pht_first[i] + k] = i;
        if (h) {
            XXH64_update(h, pht_table[i].name, strlen(pht_table[i].name) + 1);
            XXH64_update(h, pht_table[i].vowel ? "v" : "c", 1);
        }
    }
    pht_hash = h ? XXH64_digest(h) : 0;
    XXH64_freeState(h);
}

static void pht_init(void) { pthread_once(&pht_once, pht_build); }

int32_t sono_phoneme_n_tokens(void) {
    pht_init();
    return pht_n_tokens;
}

uint64_t sono_phoneme_inventory_hash(void) {
    pht_init();
    return pht_hash;
}

/* Index of an exact name in the table, or -1 (a linear scan: 549 short names). */
static int32_t pht_find(const char *name, size_t n) {
    for (int32_t i = 0; i < PHT_N_NAMES; i++)
        if (strlen(pht_table[i].name) == n && memcmp(pht_table[i].name, name, n) == 0) return i;
    return -1;
}

int32_t sono_phoneme_token(const char *name, int stress) {
    pht_init();
    if (!name) return SONO_PHT_UNK;
    for (size_t n = strlen(name); n > 0; n--) {
        int32_t i = pht_find(name, n);
        if (i < 0) continue;
        if (!pht_table[i].vowel || stress < 1 || stress > 2) return pht_first[i];
        return pht_first[i] + stress;
    }
    return SONO_PHT_UNK;
}

int sono_phoneme_token_text(int32_t token, char *buf, size_t n_bytes) {
    pht_init();
    if (token < 0 || token >= pht_n_tokens || !pht_owner)
        return sn_fail(SONO_E_RANGE, "phoneme token %d is not in [0, %d)", (int)token, (int)pht_n_tokens);
    int n;
    if (token < SONO_PHT_N_SPECIAL) {
        n = snprintf(buf, buf ? n_bytes : 0, "%s", pht_special_names[token]);
    } else {
        int32_t i = pht_owner[token];
        int stress = (int)(token - pht_first[i]);
        n = snprintf(buf, buf ? n_bytes : 0, "%s%s", stress == 1 ? "'" : stress == 2 ? "," : "", pht_table[i].name);
    }
    return n;
}

int sono_phoneme_inventory_to_json(char *buf, size_t n_bytes) {
    if (!buf) return sn_fail(SONO_E_ARG, "phoneme inventory: NULL buffer");
    int n = snprintf(buf, n_bytes, "{\"version\":%d,\"n_tokens\":%d,\"hash\":\"%016llx\",\"espeak_ng\":\"1.51\"}",
                     SONO_PHONEME_INVENTORY_VERSION, (int)sono_phoneme_n_tokens(),
                     (unsigned long long)sono_phoneme_inventory_hash());
    if (n < 0 || (size_t)n >= n_bytes) return sn_fail(SONO_E_LIMIT, "phoneme inventory: buffer of %zu bytes too small", n_bytes);
    return n;
}

int sono_phoneme_inventory_check(const char *json) {
    if (!json) return sn_fail(SONO_E_ARG, "phoneme inventory: NULL");
    json_object *o = json_tokener_parse(json), *v, *n, *h;
    int rc = 0;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "version", &v) ||
        !json_object_object_get_ex(o, "n_tokens", &n) || !json_object_object_get_ex(o, "hash", &h) ||
        !json_object_is_type(v, json_type_int) || !json_object_is_type(n, json_type_int) ||
        !json_object_is_type(h, json_type_string)) {
        rc = sn_fail(SONO_E_FORMAT, "phoneme inventory: not an inventory object");
    } else {
        char mine[24];
        snprintf(mine, sizeof mine, "%016llx", (unsigned long long)sono_phoneme_inventory_hash());
        if (json_object_get_int64(v) != SONO_PHONEME_INVENTORY_VERSION ||
            json_object_get_int64(n) != sono_phoneme_n_tokens() || strcmp(json_object_get_string(h), mine) != 0)
            rc = sn_fail(SONO_E_MODEL_MISMATCH,
                         "phoneme inventory: the model's (version %lld, %lld tokens, hash %.20s) is not this build's "
                         "(version %d, %d tokens, hash %s)",
                         (long long)json_object_get_int64(v), (long long)json_object_get_int64(n),
                         json_object_get_string(h), SONO_PHONEME_INVENTORY_VERSION, (int)sono_phoneme_n_tokens(), mine);
    }
    json_object_put(o);
    return rc;
}

/* ---------------------------------------------------------------- splitting */

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_closer(unsigned char c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}'; }

/* Words that end with a period without ending a sentence (compared without
 * case, the period left out). */
static const char *const split_abbrev[] = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "fig", "vol", "mt", "approx",
    "dept", "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
};

/* Does the word ending at text[end] (the byte before the period) keep its sentence going? */
static int split_no_break(const char *t, size_t start, size_t end) {
    size_t b = end;
    while (b > start && !is_space((unsigned char)t[b - 1]) && t[b - 1] != '(' && t[b - 1] != '"') b--;
    size_t n = end - b;
    if (n == 1 && ((t[b] >= 'A' && t[b] <= 'Z') || (t[b] >= 'a' && t[b] <= 'z'))) return 1; /* an initial */
    for (size_t i = 0; i < sizeof split_abbrev / sizeof split_abbrev[0]; i++)
        if (strlen(split_abbrev[i]) == n && strncasecmp(t + b, split_abbrev[i], n) == 0) return 1;
    return 0;
}

/* Emit [a, b) trimmed, cut to max bytes; returns the new count. */
static int64_t split_emit(const char *t, size_t a, size_t b, size_t max, sono_text_piece *out, int64_t cap, int64_t k) {
    for (;;) {
        while (a < b && is_space((unsigned char)t[a])) a++;
        while (b > a && is_space((unsigned char)t[b - 1])) b--;
        if (a == b) return k;
        size_t cut = b;
        if (b - a > max) {
            size_t lim = a + max, best = 0;
            for (size_t i = a + 1; i < lim; i++)
                if (strchr(",;:", t[i - 1]) && is_space((unsigned char)t[i])) best = i;
            if (!best)
                for (size_t i = a + 1; i < lim; i++)
                    if (is_space((unsigned char)t[i])) best = i;
            if (!best) {
                best = lim;
                while (best > a + 1 && ((unsigned char)t[best] & 0xC0) == 0x80) best--;
            }
            cut = best;
        }
        size_t e = cut;
        while (e > a && is_space((unsigned char)t[e - 1])) e--;
        if (k < cap) out[k] = (sono_text_piece){(int64_t)a, (int64_t)(e - a)};
        k++;
        if (cut == b) return k;
        a = cut;
    }
}

int64_t sono_text_split(const char *text, size_t n_bytes, size_t max_piece_bytes, sono_text_piece *pieces,
                        int64_t max_pieces) {
    if ((!text && n_bytes) || max_piece_bytes < 16 || max_pieces < 0 || (!pieces && max_pieces > 0))
        return sn_fail(SONO_E_ARG, "text split: bad argument");
    if (n_bytes > SONO_TEXT_MAX_BYTES)
        return sn_fail(SONO_E_LIMIT, "text split: %zu bytes of text, more than %zu", n_bytes, SONO_TEXT_MAX_BYTES);
    int64_t k = 0;
    size_t start = 0;
    for (size_t i = 0; i < n_bytes; i++) {
        unsigned char c = (unsigned char)text[i];
        size_t end = 0;
        if (c == '\n') { /* a blank line ends a piece */
            size_t j = i + 1;
            while (j < n_bytes && is_space((unsigned char)text[j]) && text[j] != '\n') j++;
            if (j < n_bytes && text[j] == '\n') end = j + 1;
        } else if (c == '.' || c == '!' || c == '?') {
            size_t j = i + 1;
            while (j < n_bytes && (text[j] == '.' || text[j] == '!' || text[j] == '?' || is_closer((unsigned char)text[j])))
                j++;
            size_t nx = j;
            while (nx < n_bytes && is_space((unsigned char)text[nx])) nx++;
            /* a sentence goes on after "..." or an abbreviation followed by a small letter */
            if (j == n_bytes || (is_space((unsigned char)text[j]) && !(text[nx] >= 'a' && text[nx] <= 'z'))) {
                if (!(c == '.' && j == i + 1 && split_no_break(text, start, i))) end = j;
            }
            if (!end) i = j - 1;
        }
        if (end) {
            k = split_emit(text, start, end, max_piece_bytes, pieces, max_pieces, k);
            start = end;
            i = end - 1;
        }
    }
    return split_emit(text, start, n_bytes, max_piece_bytes, pieces, max_pieces, k);
}

/* ---------------------------------------------------------------- espeak-ng */

struct sono_phonemizer {
    char voice[96]; /* "en" or "en+m3", as espeak_SetVoiceByName takes it */
    int rate_wpm, pitch;
};

static pthread_mutex_t esp_lock = PTHREAD_MUTEX_INITIALIZER;
static int esp_state;        /* 0 not yet, 1 ready, < 0 the error it failed with */
static int esp_rate;         /* espeak-ng's sample rate */
static char esp_voice[96];   /* the voice set last ("" none) */

/* One synthesis's events, collected by the callback (under esp_lock). */
typedef struct {
    int type;
    int text_position; /* 1-based character */
    int length;        /* characters (word events) */
    int64_t sample;
    char name[8];
} esp_event;

typedef struct {
    esp_event *ev;
    int64_t n_ev, cap_ev;
    int16_t *pcm;
    int64_t n_pcm, cap_pcm;
    int keep_audio, failed;
} esp_collect;

static esp_collect *esp_cur;

static int esp_grow(void **p, int64_t *cap, int64_t need, size_t size) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int esp_callback(short *wav, int n, espeak_EVENT *events) {
    esp_collect *c = esp_cur;
    if (!c || c->failed) return 1;
    if (wav && n > 0) {
        if (c->keep_audio) {
            if (esp_grow((void **)&c->pcm, &c->cap_pcm, c->n_pcm + n, sizeof *c->pcm)) return c->failed = 1;
            memcpy(c->pcm + c->n_pcm, wav, (size_t)n * sizeof *wav);
        }
        c->n_pcm += n;
    }
    for (espeak_EVENT *e = events; e && e->type != espeakEVENT_LIST_TERMINATED; e++) {
        if (e->type != espeakEVENT_WORD && e->type != espeakEVENT_PHONEME && e->type != espeakEVENT_END) continue;
        if (esp_grow((void **)&c->ev, &c->cap_ev, c->n_ev + 1, sizeof *c->ev)) return c->failed = 1;
        esp_event *o = &c->ev[c->n_ev++];
        memset(o, 0, sizeof *o);
        o->type = e->type;
        o->text_position = e->text_position;
        o->length = e->length;
        o->sample = e->sample;
        if (e->type == espeakEVENT_PHONEME) {
            memcpy(o->name, e->id.string, sizeof e->id.string < 7 ? sizeof e->id.string : 7);
            o->name[7] = 0;
        }
    }
    return 0;
}

/* Initialise espeak-ng once (under esp_lock): 0 or a negative code. */
static int esp_init(void) {
    if (esp_state) return esp_state < 0 ? sn_fail(esp_state, "espeak-ng: its data was not found (package espeak-ng-data)") : 0;
    /* espeak_Initialize prints and may exit when its data is missing: look first. */
    const char *path = NULL;
    espeak_ng_InitializePath(NULL);
    espeak_Info(&path);
    if (!path) path = "";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/phontab", path);
    if (access(probe, R_OK) != 0) {
        esp_state = SONO_E_NOT_FOUND;
        return sn_fail(SONO_E_NOT_FOUND, "espeak-ng: no data in '%s' (package espeak-ng-data)", path);
    }
    esp_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL,
                                 espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_DONT_EXIT);
    if (esp_rate <= 0) {
        esp_state = SONO_E_NOT_FOUND;
        return sn_fail(SONO_E_NOT_FOUND, "espeak-ng: initialisation failed (data in '%s')", path);
    }
    espeak_SetSynthCallback(esp_callback);
    esp_state = 1;
    return 0;
}

/* Select ph's voice and settings (under esp_lock). */
static int esp_select(const sono_phonemizer *ph) {
    if (strcmp(esp_voice, ph->voice) != 0) {
        esp_voice[0] = 0;
        if (espeak_SetVoiceByName(ph->voice) != EE_OK)
            return sn_fail(SONO_E_UNSUPPORTED, "espeak-ng: unknown language or voice '%s'", ph->voice);
        snprintf(esp_voice, sizeof esp_voice, "%s", ph->voice);
    }
    if (espeak_SetParameter(espeakRATE, ph->rate_wpm, 0) != EE_OK || espeak_SetParameter(espeakPITCH, ph->pitch, 0) != EE_OK)
        return sn_fail(SONO_E_IO, "espeak-ng: could not set rate %d, pitch %d", ph->rate_wpm, ph->pitch);
    return 0;
}

sono_phonemizer_params sono_phonemizer_default_params(void) {
    return (sono_phonemizer_params){.language = "en", .variant = NULL, .rate_wpm = 175, .pitch = 50};
}

static int name_ok(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

sono_phonemizer *sono_phonemizer_new(const sono_phonemizer_params *p, int *err) {
    int e = 0;
    sono_phonemizer_params d = sono_phonemizer_default_params();
    if (!p) p = &d;
    sono_phonemizer *ph = NULL;
    const char *lang = p->language ? p->language : "en";
    if (!name_ok(lang, 40)) {
        e = sn_fail(SONO_E_UNSUPPORTED, "espeak-ng: unknown language '%.40s'", lang);
    } else if (p->variant && !name_ok(p->variant, 40)) {
        e = sn_fail(SONO_E_UNSUPPORTED, "espeak-ng: unknown voice variant '%.40s'", p->variant);
    } else if (p->rate_wpm < 80 || p->rate_wpm > 450 || p->pitch < 0 || p->pitch > 100) {
        e = sn_fail(SONO_E_RANGE, "espeak-ng: rate %d wpm (80 to 450) or pitch %d (0 to 100) out of range",
                    p->rate_wpm, p->pitch);
    } else if (!(ph = calloc(1, sizeof *ph))) {
        e = sn_fail(SONO_E_NOMEM, "phonemizer: out of memory");
    } else {
        snprintf(ph->voice, sizeof ph->voice, "%s%s%s", lang, p->variant ? "+" : "", p->variant ? p->variant : "");
        ph->rate_wpm = p->rate_wpm;
        ph->pitch = p->pitch;
        pthread_mutex_lock(&esp_lock);
        if (!(e = esp_init()) && p->variant) {
            /* espeak-ng takes an unknown variant silently: look for its file. */
            const char *path = NULL;
            espeak_Info(&path);
            char f[4096];
            snprintf(f, sizeof f, "%s/voices/!v/%s", path ? path : "", p->variant);
            if (access(f, R_OK) != 0) e = sn_fail(SONO_E_UNSUPPORTED, "espeak-ng: unknown voice variant '%s'", p->variant);
        }
        if (!e) {
            /* espeak-ng takes "en+m3" for an unknown language too: try the language alone. */
            sono_phonemizer probe = *ph;
            snprintf(probe.voice, sizeof probe.voice, "%s", lang);
            e = esp_select(&probe);
            if (!e) e = esp_select(ph);
            if (e == SONO_E_UNSUPPORTED && !strchr(sono_last_error(), '+'))
                e = sn_fail(SONO_E_UNSUPPORTED, "espeak-ng: unknown language '%s'", lang);
        }
        pthread_mutex_unlock(&esp_lock);
        if (e) {
            free(ph);
            ph = NULL;
        }
    }
    if (err) *err = e;
    return ph;
}

void sono_phonemizer_free(sono_phonemizer *ph) { free(ph); }

void sono_phoneme_seq_free(sono_phoneme_seq *s) {
    if (!s) return;
    free(s->phonemes);
    free(s->pcm);
    memset(s, 0, sizeof *s);
}

/* Byte length of the UTF-8 sequence at t (n bytes left), 0 when invalid. */
static int utf8_len(const unsigned char *t, size_t n) {
    unsigned char c = t[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || (size_t)len > n || (c < 0x80 && c == 0)) return 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (int i = 1; i < len; i++) {
        if ((t[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (t[i] & 0x3Fu);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Stress of each phoneme of espeak_TextToPhonemes's output, in order (names
 * without stress marks and pauses left out): a malloc'd array of (name,
 * stress) pairs in *out, their count, or -1 (no memory). */
typedef struct {
    char name[8];
    int stress;
} esp_stressed;

static int64_t esp_stresses(const char *text, esp_stressed **out) {
    int64_t n = 0, cap = 0;
    esp_stressed *v = NULL;
    const void *p = text;
    while (p) {
        const char *s = espeak_TextToPhonemes(&p, espeakCHARS_UTF8, '\t' << 8);
        if (!s) break;
        while (*s) {
            while (*s == '\t' || *s == ' ' || *s == '\n') s++;
            int stress = 0;
            while (*s && strchr("'%,=", *s)) {
                if (*s == '\'') stress = 1;
                else if (*s == ',' && stress == 0) stress = 2;
                s++;
            }
            size_t k = strcspn(s, "\t \n");
            if (k > 0 && s[0] != '_') {
                if (esp_grow((void **)&v, &cap, n + 1, sizeof *v)) {
                    free(v);
                    return -1;
                }
                snprintf(v[n].name, sizeof v[n].name, "%.*s", (int)(k < 7 ? k : 7), s);
                v[n++].stress = stress;
            }
            s += k;
        }
    }
    *out = v;
    return n;
}

/* Is the clause whose end event espeak-ng puts at character `pos` (1-based:
 * its last character, or the one after its punctuation) the end of a
 * sentence: nothing but punctuation after it, or . ! ? ending it? */
static int clause_is_sentence(const char *t, size_t n, const size_t *char_byte, int64_t n_chars, int64_t pos) {
    size_t b = char_byte[pos < 0 ? 0 : pos > n_chars ? n_chars : pos];
    int rest = 1;
    for (size_t i = b; i < n && rest; i++)
        if (((unsigned char)t[i] >= 0x80) || (t[i] >= '0' && t[i] <= '9') || (t[i] >= 'A' && t[i] <= 'Z') ||
            (t[i] >= 'a' && t[i] <= 'z'))
            rest = 0;
    if (rest) return 1;
    size_t i = b;
    while (i > 0 && (is_space((unsigned char)t[i - 1]) || is_closer((unsigned char)t[i - 1]))) i--;
    return i > 0 && (t[i - 1] == '.' || t[i - 1] == '!' || t[i - 1] == '?');
}

int sono_phonemize(sono_phonemizer *ph, const char *text, size_t n_bytes, int flags, sono_phoneme_seq *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!ph || !out || (!text && n_bytes)) return sn_fail(SONO_E_ARG, "phonemize: NULL argument");
    if (n_bytes > SONO_PHONEMIZE_MAX_BYTES)
        return sn_fail(SONO_E_LIMIT, "phonemize: %zu bytes of text, more than %d: split it into sentences first",
                       n_bytes, SONO_PHONEMIZE_MAX_BYTES);
    /* UTF-8 check and the byte offset of every character (espeak-ng counts characters). */
    size_t *char_byte = malloc((n_bytes + 1) * sizeof *char_byte);
    char *z = malloc(n_bytes + 2);
    if (!char_byte || !z) {
        free(char_byte);
        free(z);
        return sn_fail(SONO_E_NOMEM, "phonemize: out of memory");
    }
    int64_t n_chars = 0;
    int blank = 1;
    for (size_t i = 0; i < n_bytes;) {
        int len = utf8_len((const unsigned char *)text + i, n_bytes - i);
        if (!len) {
            free(char_byte);
            free(z);
            return sn_fail(SONO_E_FORMAT, "phonemize: the text is not valid UTF-8 (byte %zu)", i);
        }
        if (!is_space((unsigned char)text[i])) blank = 0;
        char_byte[n_chars++] = i;
        i += (size_t)len;
    }
    char_byte[n_chars] = n_bytes;
    if (blank) {
        free(char_byte);
        free(z);
        return sn_fail(SONO_E_EMPTY, "phonemize: empty text");
    }
    memcpy(z, text, n_bytes);
    z[n_bytes] = 0;

    esp_collect c = {.keep_audio = (flags & SONO_PHONEMIZE_AUDIO) != 0};
    esp_stressed *st = NULL;
    int64_t n_st = 0;
    int rc;
    pthread_mutex_lock(&esp_lock);
    if (!(rc = esp_init()) && !(rc = esp_select(ph))) {
        esp_cur = &c;
        espeak_ERROR se = espeak_Synth(z, n_bytes + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL);
        esp_cur = NULL;
        if (c.failed) rc = sn_fail(SONO_E_NOMEM, "phonemize: out of memory");
        else if (se != EE_OK) rc = sn_fail(SONO_E_IO, "espeak-ng: synthesis failed (%d)", (int)se);
        else if ((n_st = esp_stresses(z, &st)) < 0) rc = sn_fail(SONO_E_NOMEM, "phonemize: out of memory");
    }
    int rate = esp_rate;
    pthread_mutex_unlock(&esp_lock);

    sono_phoneme *v = NULL;
    int64_t n = 0, n_phones = 0;
    int32_t word = -1;
    int64_t w_off = -1, w_len = 0;
    int word_start = 0;
    if (!rc && !(v = malloc((size_t)(c.n_ev + 1) * sizeof *v))) rc = sn_fail(SONO_E_NOMEM, "phonemize: out of memory");
    int64_t j_st = 0;
    for (int64_t i = 0; !rc && i < c.n_ev; i++) {
        const esp_event *e = &c.ev[i];
        if (e->type == espeakEVENT_WORD) {
            int64_t a = e->text_position - 1, b = a + e->length;
            a = a < 0 ? 0 : a > n_chars ? n_chars : a;
            b = b < a ? a : b > n_chars ? n_chars : b;
            w_off = (int64_t)char_byte[a]; /* counted at its first phoneme: some word events have none */
            w_len = (int64_t)(char_byte[b] - char_byte[a]);
            word_start = 1;
        } else if (e->type == espeakEVENT_END) {
            /* the clause's pause: a sentence's or a short one */
            if (n > 0 && v[n - 1].kind != SONO_PH_PHONE)
                v[n - 1].kind = clause_is_sentence(z, n_bytes, char_byte, n_chars, e->text_position)
                                    ? SONO_PH_PAUSE : SONO_PH_PAUSE_SHORT;
        } else if (e->name[0] == '_') {
            if (n > 0 && v[n - 1].kind != SONO_PH_PHONE) continue; /* one pause however many events */
            sono_phoneme *p = &v[n++];
            memset(p, 0, sizeof *p);
            strcpy(p->name, "_");
            p->kind = SONO_PH_PAUSE_SHORT;
            p->word = -1;
            p->text_offset = -1;
            p->start_sample = e->sample;
        } else if (e->name[0]) {
            sono_phoneme *p = &v[n++];
            memset(p, 0, sizeof *p);
            memcpy(p->name, e->name, sizeof p->name);
            p->kind = SONO_PH_PHONE;
            /* stress: the next phoneme of the same name in espeak_TextToPhonemes's output (a few ahead at most) */
            for (int64_t k = j_st; k < n_st && k < j_st + 6; k++)
                if (strcmp(st[k].name, p->name) == 0) {
                    p->stress = (int8_t)st[k].stress;
                    j_st = k + 1;
                    break;
                }
            int first = word_start || word < 0;
            if (first) word++;
            p->word = word;
            p->word_start = (int8_t)first;
            word_start = 0;
            p->text_offset = w_off < 0 ? 0 : w_off;
            p->text_bytes = w_len;
            p->start_sample = e->sample;
            n_phones++;
        }
    }
    if (!rc && n_phones == 0) rc = sn_fail(SONO_E_EMPTY, "phonemize: no pronounceable content in the text");
    if (!rc) {
        /* Spans: contiguous from 0 to the end of the speech; pauses that last no time are dropped. */
        int64_t total = c.n_pcm, m = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t s = i == 0 ? 0 : v[i].start_sample, e = i + 1 < n ? v[i + 1].start_sample : total;
            if (s > total) s = total;
            if (e > total) e = total;
            if (e < s) e = s;
            if (v[i].kind != SONO_PH_PHONE && e == s && i > 0) continue;
            v[m] = v[i];
            v[m].start_sample = m == 0 ? 0 : v[m - 1].end_sample;
            v[m].end_sample = e;
            v[m].token = v[m].kind == SONO_PH_PAUSE       ? SONO_PHT_PAUSE
                         : v[m].kind == SONO_PH_PAUSE_SHORT ? SONO_PHT_PAUSE_SHORT
                                                           : sono_phoneme_token(v[m].name, v[m].stress);
            m++;
        }
        if (m > 0) v[m - 1].end_sample = total;
        out->phonemes = v;
        out->n_phonemes = m;
        out->n_words = word + 1;
        out->sample_rate = rate;
        out->n_samples = total;
        v = NULL;
        if (c.keep_audio) {
            if (!(out->pcm = malloc((size_t)(total > 0 ? total : 1) * sizeof *out->pcm))) {
                sono_phoneme_seq_free(out);
                rc = sn_fail(SONO_E_NOMEM, "phonemize: out of memory");
            } else {
                for (int64_t i = 0; i < total; i++) out->pcm[i] = (float)c.pcm[i] / 32768.0f;
            }
        }
    }
    free(v);
    free(st);
    free(c.ev);
    free(c.pcm);
    free(char_byte);
    free(z);
    return rc;
}
