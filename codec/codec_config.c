/* Codec configuration: presets for the official EnCodec models, our JSON
 * form (stored in native model files), and Hugging Face's config.json. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "codec_internal.h"
#include "sono_internal.h"

static void config_seanet_defaults(codec_config *c) {
    memset(c, 0, sizeof *c);
    c->n_filters = 32;
    c->dimension = 128;
    c->n_ratios = 4;
    c->ratios[0] = 8; c->ratios[1] = 5; c->ratios[2] = 4; c->ratios[3] = 2;
    c->kernel_size = 7;
    c->last_kernel_size = 7;
    c->residual_kernel_size = 3;
    c->n_residual_layers = 1;
    c->dilation_base = 2;
    c->compress = 2;
    c->lstm_layers = 2;
    c->true_skip = 0;
    c->trim_right_ratio = 1.0;
    c->pad_mode = PAD_REFLECT;
    c->codebook_size = 1024;
    c->overlap = 0.01;
    c->decoder = DECODER_SEANET;
    c->vocos_dim = 384;
    c->vocos_intermediate = 1152;
    c->vocos_layers = 8;
    c->vocos_kernel = 7;
    c->vocos_n_fft = 0;       /* 0: 4 x hop */
}

int sn_codec_config_preset(const char *name, codec_config *c) {
    config_seanet_defaults(c);
    if (!strcmp(name, "encodec_24khz")) {
        c->sample_rate = 24000; c->channels = 1; c->causal = 1; c->norm = NORM_WEIGHT;
        c->n_q = 32;
        double bw[] = {1.5, 3, 6, 12, 24};
        c->n_bandwidths = 5; memcpy(c->bandwidths, bw, sizeof bw);
    } else if (!strcmp(name, "encodec_48khz")) {
        c->sample_rate = 48000; c->channels = 2; c->causal = 0; c->norm = NORM_TIME_GROUP;
        c->n_q = 16; c->normalize = 1; c->segment = 1.0;
        double bw[] = {3, 6, 12, 24};
        c->n_bandwidths = 4; memcpy(c->bandwidths, bw, sizeof bw);
    } else {
        return SONO_E_NOT_FOUND;
    }
    snprintf(c->name, sizeof c->name, "%s", name);
    return 0;
}

int sn_codec_config_hop(const codec_config *c) {
    int hop = 1;
    for (int i = 0; i < c->n_ratios; i++) hop *= c->ratios[i];
    return hop;
}

int sn_codec_config_frame_rate(const codec_config *c) {
    int hop = sn_codec_config_hop(c);
    return (c->sample_rate + hop - 1) / hop;
}

int64_t sn_codec_config_segment_length(const codec_config *c) {
    return c->segment > 0 ? (int64_t)(c->segment * c->sample_rate) : 0;
}

int64_t sn_codec_config_segment_stride(const codec_config *c) {
    int64_t len = sn_codec_config_segment_length(c);
    if (!len) return 0;
    int64_t s = (int64_t)((1.0 - c->overlap) * (double)len);
    return s < 1 ? 1 : s;
}

int sn_codec_config_check(const codec_config *c) {
#define REQ(cond, ...) do { if (!(cond)) return sn_fail(SONO_E_FORMAT, "codec config: " __VA_ARGS__); } while (0)
    REQ(c->sample_rate >= 1000 && c->sample_rate <= 384000, "sample_rate %d out of range", c->sample_rate);
    REQ(c->channels >= 1 && c->channels <= 8, "channels %d out of range", c->channels);
    REQ(c->norm >= NORM_NONE && c->norm <= NORM_TIME_GROUP, "unknown norm");
    REQ(!(c->causal && c->norm == NORM_TIME_GROUP), "time_group_norm cannot be causal");
    REQ(c->n_filters >= 1 && c->n_filters <= 1024, "n_filters %d out of range", c->n_filters);
    REQ(c->dimension >= 1 && c->dimension <= 4096, "dimension %d out of range", c->dimension);
    REQ(c->n_ratios >= 0 && c->n_ratios <= CODEC_MAX_RATIOS, "%d ratios (at most %d)", c->n_ratios, CODEC_MAX_RATIOS);
    for (int i = 0; i < c->n_ratios; i++) REQ(c->ratios[i] >= 1 && c->ratios[i] <= 64, "ratio %d out of range", c->ratios[i]);
    REQ((int64_t)c->n_filters << c->n_ratios <= 8192, "too wide");
    REQ(c->kernel_size >= 1 && c->kernel_size <= 63, "kernel_size out of range");
    REQ(c->last_kernel_size >= 1 && c->last_kernel_size <= 63, "last_kernel_size out of range");
    REQ(c->residual_kernel_size >= 1 && c->residual_kernel_size <= 63, "residual_kernel_size out of range");
    REQ(c->n_residual_layers >= 0 && c->n_residual_layers <= 4, "n_residual_layers out of range");
    REQ(c->dilation_base >= 1 && c->dilation_base <= 8, "dilation_base out of range");
    REQ(c->compress >= 1 && c->n_filters % c->compress == 0, "compress must divide n_filters");
    REQ(c->lstm_layers >= 0 && c->lstm_layers <= 4, "lstm layers out of range");
    REQ(c->trim_right_ratio >= 0 && c->trim_right_ratio <= 1, "trim_right_ratio out of [0,1]");
    REQ(c->causal || c->trim_right_ratio == 1.0, "trim_right_ratio != 1 needs a causal model");
    REQ(c->codebook_size >= 2 && c->codebook_size <= 65536, "codebook_size out of range");
    REQ(c->n_q >= 1 && c->n_q <= 256, "n_q out of range");
    REQ(c->n_bandwidths >= 1 && c->n_bandwidths <= CODEC_MAX_BW, "need 1..%d bandwidths", CODEC_MAX_BW);
    REQ(c->segment >= 0 && c->segment <= 3600, "segment out of range");
    REQ(c->overlap >= 0 && c->overlap < 1, "overlap out of range");
    REQ(c->norm != NORM_TIME_GROUP || c->segment > 0,
        "time_group_norm needs segments (group norm sees the whole segment)");
    for (int i = 0; i < c->n_bandwidths; i++) REQ(c->bandwidths[i] > 0 && c->bandwidths[i] < 10000, "bad bandwidth");
    REQ(c->decoder == DECODER_SEANET || c->decoder == DECODER_VOCOS, "unknown decoder");
    if (c->decoder == DECODER_VOCOS) {
        int hop = sn_codec_config_hop(c);
        REQ(c->vocos_dim >= 1 && c->vocos_dim <= 4096, "vocos_dim %d out of range", c->vocos_dim);
        REQ(c->vocos_intermediate >= 1 && c->vocos_intermediate <= 16384, "vocos_intermediate %d out of range",
            c->vocos_intermediate);
        REQ(c->vocos_layers >= 0 && c->vocos_layers <= 64, "vocos_layers %d out of range", c->vocos_layers);
        REQ(c->vocos_kernel >= 1 && c->vocos_kernel <= 63 && c->vocos_kernel % 2 == 1,
            "vocos_kernel must be odd, 1..63");
        REQ(c->vocos_n_fft >= hop && c->vocos_n_fft <= 16384 && c->vocos_n_fft % 2 == 0
            && (c->vocos_n_fft - hop) % 2 == 0, "vocos_n_fft %d must be even, >= the hop %d, and differ from it "
            "by an even number", c->vocos_n_fft, hop);
        REQ(c->channels == 1, "a vocos decoder is mono");
    }
#undef REQ
    return 0;
}

/* ---- JSON helpers ---- */

static int jint(json_object *o, const char *k, int *v) {
    json_object *x;
    if (!json_object_object_get_ex(o, k, &x)) return 0;
    if (!json_object_is_type(x, json_type_int) && !json_object_is_type(x, json_type_boolean)) return -1;
    int64_t i = json_object_get_int64(x);
    if (i < -1000000000 || i > 1000000000) return -1;
    *v = (int)i;
    return 1;
}

static int jdbl(json_object *o, const char *k, double *v) {
    json_object *x;
    if (!json_object_object_get_ex(o, k, &x)) return 0;
    if (json_object_is_type(x, json_type_null)) { *v = 0; return 1; }
    if (!json_object_is_type(x, json_type_int) && !json_object_is_type(x, json_type_double)) return -1;
    *v = json_object_get_double(x);
    return isfinite(*v) ? 1 : -1;
}

/* The array under key k: 0 absent, -1 not an array or longer than max, 1 found. */
static int jarray(json_object *o, const char *k, int max, json_object **arr, size_t *len) {
    if (!json_object_object_get_ex(o, k, arr)) return 0;
    if (!json_object_is_type(*arr, json_type_array)) return -1;
    *len = json_object_array_length(*arr);
    return *len > (size_t)max ? -1 : 1;
}

static int jintarr(json_object *o, const char *k, int *v, int max, int *n) {
    json_object *x;
    size_t len;
    int r = jarray(o, k, max, &x, &len);
    if (r <= 0) return r;
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(x, i);
        if (!json_object_is_type(e, json_type_int)) return -1;
        int64_t iv = json_object_get_int64(e);
        if (iv < 0 || iv > 1000000) return -1;
        v[i] = (int)iv;
    }
    *n = (int)len;
    return 1;
}

static int jdblarr(json_object *o, const char *k, double *v, int max, int *n) {
    json_object *x;
    size_t len;
    int r = jarray(o, k, max, &x, &len);
    if (r <= 0) return r;
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(x, i);
        if (!json_object_is_type(e, json_type_int) && !json_object_is_type(e, json_type_double)) return -1;
        v[i] = json_object_get_double(e);
    }
    *n = (int)len;
    return 1;
}

static int jstr(json_object *o, const char *k, const char **s) {
    json_object *x;
    if (!json_object_object_get_ex(o, k, &x)) return 0;
    if (!json_object_is_type(x, json_type_string)) return -1;
    *s = json_object_get_string(x);
    return 1;
}

static json_object *parse_object(const char *json, const char *what) {
    json_tokener *tok = json_tokener_new();
    if (!tok) return NULL;
    json_object *o = json_tokener_parse_ex(tok, json, (int)strlen(json));
    enum json_tokener_error e = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (e != json_tokener_success || !o || !json_object_is_type(o, json_type_object)) {
        if (o) json_object_put(o);
        sn_fail(SONO_E_FORMAT, "%s: not a JSON object", what);
        return NULL;
    }
    return o;
}

#define BAD(key) do { json_object_put(o); return sn_fail(SONO_E_FORMAT, "%s: bad value for \"%s\"", what, key); } while (0)

int sn_codec_config_from_json(const char *json, codec_config *c) {
    config_seanet_defaults(c);
    int rc = sn_codec_config_apply_json(json, c);
    if (!rc && c->decoder == DECODER_VOCOS && c->vocos_n_fft == 0) c->vocos_n_fft = 4 * sn_codec_config_hop(c);
    return rc ? rc : sn_codec_config_check(c);
}

int sn_codec_config_apply_json(const char *json, codec_config *c) {
    const char *what = "codec config";
    json_object *o = parse_object(json, what);
    if (!o) return SONO_E_FORMAT;
    const char *s;
    int r;
    if ((r = jstr(o, "name", &s)) < 0) BAD("name");
    if (r) snprintf(c->name, sizeof c->name, "%s", s);
    if ((r = jstr(o, "norm", &s)) < 0) BAD("norm");
    if (r) {
        if (!strcmp(s, "weight_norm")) c->norm = NORM_WEIGHT;
        else if (!strcmp(s, "time_group_norm")) c->norm = NORM_TIME_GROUP;
        else if (!strcmp(s, "none")) c->norm = NORM_NONE;
        else BAD("norm");
    }
    if ((r = jstr(o, "decoder", &s)) < 0) BAD("decoder");
    if (r) {
        if (!strcmp(s, "seanet")) c->decoder = DECODER_SEANET;
        else if (!strcmp(s, "vocos")) c->decoder = DECODER_VOCOS;
        else BAD("decoder");
    }
    if ((r = jstr(o, "pad_mode", &s)) < 0) BAD("pad_mode");
    if (r) {
        if (!strcmp(s, "reflect")) c->pad_mode = PAD_REFLECT;
        else if (!strcmp(s, "constant") || !strcmp(s, "zero")) c->pad_mode = PAD_ZERO;
        else BAD("pad_mode");
    }
    struct { const char *k; int *v; } ints[] = {
        {"sample_rate", &c->sample_rate}, {"channels", &c->channels}, {"causal", &c->causal},
        {"n_filters", &c->n_filters}, {"dimension", &c->dimension}, {"kernel_size", &c->kernel_size},
        {"last_kernel_size", &c->last_kernel_size}, {"residual_kernel_size", &c->residual_kernel_size},
        {"n_residual_layers", &c->n_residual_layers}, {"dilation_base", &c->dilation_base},
        {"compress", &c->compress}, {"lstm", &c->lstm_layers}, {"true_skip", &c->true_skip},
        {"codebook_size", &c->codebook_size}, {"n_q", &c->n_q}, {"normalize", &c->normalize},
        {"vocos_dim", &c->vocos_dim}, {"vocos_intermediate", &c->vocos_intermediate},
        {"vocos_layers", &c->vocos_layers}, {"vocos_kernel", &c->vocos_kernel}, {"vocos_n_fft", &c->vocos_n_fft},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (jint(o, ints[i].k, ints[i].v) < 0) BAD(ints[i].k);
    if (jdbl(o, "trim_right_ratio", &c->trim_right_ratio) < 0) BAD("trim_right_ratio");
    if (jdbl(o, "segment", &c->segment) < 0) BAD("segment");
    if (jdbl(o, "overlap", &c->overlap) < 0) BAD("overlap");
    if (jintarr(o, "ratios", c->ratios, CODEC_MAX_RATIOS, &c->n_ratios) < 0) BAD("ratios");
    if (jdblarr(o, "bandwidths", c->bandwidths, CODEC_MAX_BW, &c->n_bandwidths) < 0) BAD("bandwidths");
    json_object_put(o);
    return 0;
}

int sn_codec_config_from_hf_json(const char *json, codec_config *c) {
    const char *what = "config.json";
    json_object *o = parse_object(json, what);
    if (!o) return SONO_E_FORMAT;
    config_seanet_defaults(c);
    const char *s;
    int r;
    c->sample_rate = 24000;
    c->channels = 1;
    c->causal = 1;
    c->norm = NORM_WEIGHT;
    c->n_q = 0;
    struct { const char *k; int *v; } ints[] = {
        {"sampling_rate", &c->sample_rate}, {"audio_channels", &c->channels},
        {"use_causal_conv", &c->causal}, {"num_filters", &c->n_filters},
        {"hidden_size", &c->dimension}, {"kernel_size", &c->kernel_size},
        {"last_kernel_size", &c->last_kernel_size}, {"residual_kernel_size", &c->residual_kernel_size},
        {"num_residual_layers", &c->n_residual_layers}, {"dilation_growth_rate", &c->dilation_base},
        {"compress", &c->compress}, {"num_lstm_layers", &c->lstm_layers},
        {"codebook_size", &c->codebook_size}, {"normalize", &c->normalize},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (jint(o, ints[i].k, ints[i].v) < 0) BAD(ints[i].k);
    int use_conv_shortcut = 1;
    if (jint(o, "use_conv_shortcut", &use_conv_shortcut) < 0) BAD("use_conv_shortcut");
    c->true_skip = !use_conv_shortcut;
    if ((r = jstr(o, "norm_type", &s)) < 0) BAD("norm_type");
    if (r) {
        if (!strcmp(s, "weight_norm")) c->norm = NORM_WEIGHT;
        else if (!strcmp(s, "time_group_norm")) c->norm = NORM_TIME_GROUP;
        else BAD("norm_type");
    }
    if ((r = jstr(o, "pad_mode", &s)) < 0) BAD("pad_mode");
    if (r && strcmp(s, "reflect")) {
        if (!strcmp(s, "constant")) c->pad_mode = PAD_ZERO; else BAD("pad_mode");
    }
    if (jdbl(o, "trim_right_ratio", &c->trim_right_ratio) < 0) BAD("trim_right_ratio");
    if (jdbl(o, "chunk_length_s", &c->segment) < 0) BAD("chunk_length_s");
    double ov = 0;
    if ((r = jdbl(o, "overlap", &ov)) < 0) BAD("overlap");
    c->overlap = r ? ov : 0.01;
    if (jintarr(o, "upsampling_ratios", c->ratios, CODEC_MAX_RATIOS, &c->n_ratios) < 0) BAD("upsampling_ratios");
    if (jdblarr(o, "target_bandwidths", c->bandwidths, CODEC_MAX_BW, &c->n_bandwidths) < 0) BAD("target_bandwidths");
    int cdim = c->dimension;
    if (jint(o, "codebook_dim", &cdim) < 0) BAD("codebook_dim");
    json_object_put(o);
    if (cdim != c->dimension)
        return sn_fail(SONO_E_UNSUPPORTED, "%s: codebook_dim %d != hidden_size %d (projections) is not supported",
                         what, cdim, c->dimension);
    /* n_q as EnCodec derives it from the largest bandwidth. */
    if (c->n_bandwidths > 0) {
        int fr = sn_codec_config_frame_rate(c);
        c->n_q = (int)(1000 * c->bandwidths[c->n_bandwidths - 1] / (fr * 10));
    }
    /* Name official configurations as the original checkpoints are named. */
    codec_config ref;
    const char *names[] = {"encodec_24khz", "encodec_48khz"};
    for (int i = 0; i < 2; i++) {
        sn_codec_config_preset(names[i], &ref);
        snprintf(c->name, sizeof c->name, "%s", names[i]);
        if (!memcmp(&ref, c, sizeof ref)) break;
        c->name[0] = 0;
    }
    return sn_codec_config_check(c);
}
#undef BAD

char *sn_codec_config_to_json(const codec_config *c) {
    json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "format", json_object_new_string("sonotok-codec"));
    json_object_object_add(o, "name", json_object_new_string(c->name));
    json_object_object_add(o, "sample_rate", json_object_new_int(c->sample_rate));
    json_object_object_add(o, "channels", json_object_new_int(c->channels));
    json_object_object_add(o, "causal", json_object_new_int(c->causal));
    json_object_object_add(o, "norm", json_object_new_string(
        c->norm == NORM_WEIGHT ? "weight_norm" : c->norm == NORM_TIME_GROUP ? "time_group_norm" : "none"));
    json_object_object_add(o, "pad_mode", json_object_new_string(c->pad_mode == PAD_ZERO ? "constant" : "reflect"));
    json_object_object_add(o, "n_filters", json_object_new_int(c->n_filters));
    json_object_object_add(o, "dimension", json_object_new_int(c->dimension));
    json_object *r = json_object_new_array();
    for (int i = 0; i < c->n_ratios; i++) json_object_array_add(r, json_object_new_int(c->ratios[i]));
    json_object_object_add(o, "ratios", r);
    json_object_object_add(o, "kernel_size", json_object_new_int(c->kernel_size));
    json_object_object_add(o, "last_kernel_size", json_object_new_int(c->last_kernel_size));
    json_object_object_add(o, "residual_kernel_size", json_object_new_int(c->residual_kernel_size));
    json_object_object_add(o, "n_residual_layers", json_object_new_int(c->n_residual_layers));
    json_object_object_add(o, "dilation_base", json_object_new_int(c->dilation_base));
    json_object_object_add(o, "compress", json_object_new_int(c->compress));
    json_object_object_add(o, "lstm", json_object_new_int(c->lstm_layers));
    json_object_object_add(o, "true_skip", json_object_new_int(c->true_skip));
    json_object_object_add(o, "trim_right_ratio", json_object_new_double(c->trim_right_ratio));
    json_object_object_add(o, "codebook_size", json_object_new_int(c->codebook_size));
    json_object_object_add(o, "n_q", json_object_new_int(c->n_q));
    json_object *b = json_object_new_array();
    for (int i = 0; i < c->n_bandwidths; i++) json_object_array_add(b, json_object_new_double(c->bandwidths[i]));
    json_object_object_add(o, "bandwidths", b);
    json_object_object_add(o, "normalize", json_object_new_int(c->normalize));
    json_object_object_add(o, "segment", json_object_new_double(c->segment));
    json_object_object_add(o, "overlap", json_object_new_double(c->overlap));
    if (c->decoder == DECODER_VOCOS) { /* SEANet-decoder configs keep their old JSON (and model hashes) */
        json_object_object_add(o, "decoder", json_object_new_string("vocos"));
        json_object_object_add(o, "vocos_dim", json_object_new_int(c->vocos_dim));
        json_object_object_add(o, "vocos_intermediate", json_object_new_int(c->vocos_intermediate));
        json_object_object_add(o, "vocos_layers", json_object_new_int(c->vocos_layers));
        json_object_object_add(o, "vocos_kernel", json_object_new_int(c->vocos_kernel));
        json_object_object_add(o, "vocos_n_fft", json_object_new_int(c->vocos_n_fft));
    }
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *out = s ? strdup(s) : NULL;
    json_object_put(o);
    return out;
}
