/* The public training API (include/sonotok/train.h): codec configs as
 * values, set and read by their JSON keys, and thin wrappers over the
 * trainer (trainer.h). */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sono_internal.h"
#include "tensors.h"
#include "trainer.h"

_Static_assert(SONO_CODEC_MAX_RATIOS == CODEC_MAX_RATIOS, "train.h and codec_internal.h agree on strides");
_Static_assert(SONO_CODEC_MAX_BW == CODEC_MAX_BW, "train.h and codec_internal.h agree on bandwidths");

/* The public config is the internal one; a trainer's config is handed out
 * by pointer to its first member. */
struct sono_codec_config {
    codec_config c;
};

static sono_codec_config *config_new(int *err) {
    sono_codec_config *cfg = calloc(1, sizeof *cfg);
    if (err) *err = cfg ? 0 : sn_fail(SONO_E_NOMEM, "out of memory");
    return cfg;
}

sono_codec_config *sono_codec_config_default(int *err) {
    sono_codec_config *cfg = config_new(err);
    if (!cfg) return NULL;
    codec_config *c = &cfg->c;
    sn_codec_config_preset("encodec_24khz", c);
    snprintf(c->name, sizeof c->name, "sonotok-codec");
    c->causal = 0;
    c->n_filters = 16;
    c->lstm_layers = 0;
    c->n_q = 8;
    c->n_bandwidths = 3;
    c->bandwidths[0] = 1.5; c->bandwidths[1] = 3; c->bandwidths[2] = 6;
    return cfg;
}

sono_codec_config *sono_codec_config_from_json(const char *json, int *err) {
    sono_codec_config *cfg = config_new(err);
    int rc = cfg ? sn_codec_config_from_json(json, &cfg->c) : SONO_E_NOMEM;
    if (rc) {
        free(cfg);
        cfg = NULL;
    }
    if (err) *err = rc;
    return cfg;
}

sono_codec_config *sono_codec_config_load(const char *path, int *err) {
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = sn_read_file(path, 1 << 20, &buf, &n);
    sono_codec_config *cfg = rc ? NULL : sono_codec_config_from_json((const char *)buf, &rc);
    free(buf);
    if (rc) sn_error_prefix("%s", path);
    if (err) *err = rc;
    return cfg;
}

void sono_codec_config_free(sono_codec_config *cfg) { free(cfg); }

char *sono_codec_config_to_json(const sono_codec_config *cfg) { return sn_codec_config_to_json(&cfg->c); }

int sono_codec_config_check(const sono_codec_config *cfg) { return sn_codec_config_check(&cfg->c); }

/* The config as a json-c object, keyed as the native config is. */
static json_object *config_object(const codec_config *c) {
    char *s = sn_codec_config_to_json(c);
    json_object *o = s ? json_tokener_parse(s) : NULL;
    free(s);
    return o;
}

static json_object *json_number(double v) {
    if (v == floor(v) && fabs(v) < 9e15) return json_object_new_int64((int64_t)v);
    return json_object_new_double(v);
}

int sono_codec_config_set(sono_codec_config *cfg, const char *key, const double *values, int n_values) {
    json_object *o = config_object(&cfg->c), *old;
    if (!o) return sn_fail(SONO_E_NOMEM, "out of memory");
    int rc = 0;
    if (!json_object_object_get_ex(o, key, &old) || !strcmp(key, "format")) {
        rc = sn_fail(SONO_E_NOT_FOUND, "codec config: no field \"%s\"", key);
    } else if (json_object_is_type(old, json_type_string)) {
        rc = sn_fail(SONO_E_ARG, "codec config: \"%s\" is not a number", key);
    } else if (!json_object_is_type(old, json_type_array) && n_values != 1) {
        rc = sn_fail(SONO_E_ARG, "codec config: \"%s\" takes one number, not %d", key, n_values);
    } else if (n_values < 1) {
        rc = sn_fail(SONO_E_ARG, "codec config: \"%s\" needs at least one number", key);
    }
    json_object *patch = rc ? NULL : json_object_new_object();
    if (!rc && patch) {
        json_object *v;
        if (json_object_is_type(old, json_type_array)) {
            v = json_object_new_array();
            for (int i = 0; v && i < n_values; i++) json_object_array_add(v, json_number(values[i]));
        } else {
            v = json_number(values[0]);
        }
        json_object_object_add(patch, key, v);
        codec_config c = cfg->c;
        rc = sn_codec_config_apply_json(json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), &c);
        if (rc == SONO_E_FORMAT) rc = sn_fail(SONO_E_ARG, "codec config: bad value for \"%s\"", key);
        if (!rc) cfg->c = c;
    } else if (!rc) {
        rc = sn_fail(SONO_E_NOMEM, "out of memory");
    }
    json_object_put(patch);
    json_object_put(o);
    return rc;
}

int sono_codec_config_get(const sono_codec_config *cfg, const char *key, double *values, int max_values) {
    const int hop = !strcmp(key, "hop");
    if (hop || !strcmp(key, "frame_rate")) {
        if (max_values > 0) values[0] = hop ? sn_codec_config_hop(&cfg->c) : sn_codec_config_frame_rate(&cfg->c);
        return 1;
    }
    json_object *o = config_object(&cfg->c), *v;
    if (!o) return sn_fail(SONO_E_NOMEM, "out of memory");
    int n;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_string)) {
        n = sn_fail(SONO_E_NOT_FOUND, "codec config: no numeric field \"%s\"", key);
    } else if (json_object_is_type(v, json_type_array)) {
        n = (int)json_object_array_length(v);
        for (int i = 0; i < n && i < max_values; i++)
            values[i] = json_object_get_double(json_object_array_get_idx(v, (size_t)i));
    } else {
        n = 1;
        if (max_values > 0) values[0] = json_object_get_double(v);
    }
    json_object_put(o);
    return n;
}

/* ---- the trainer ---- */

struct sono_codec_trainer {
    trainer *t;
};

static sono_codec_trainer *wrap(trainer *t, int *err) {
    if (!t) return NULL;
    sono_codec_trainer *w = malloc(sizeof *w);
    if (!w) {
        sn_trainer_free(t);
        if (err) *err = sn_fail(SONO_E_NOMEM, "out of memory");
        return NULL;
    }
    w->t = t;
    return w;
}

sono_codec_train_params sono_codec_train_default_params(void) { return sn_trainer_default_params(); }

sono_codec_trainer *sono_codec_trainer_new(const sono_codec_config *cfg, const sono_codec_train_params *p, int *err) {
    return wrap(sn_trainer_new(&cfg->c, p, err), err);
}

sono_codec_trainer *sono_codec_trainer_resume(const char *checkpoint, const sono_codec_train_params *p, int *err) {
    return wrap(sn_trainer_resume(checkpoint, p, err), err);
}

void sono_codec_trainer_free(sono_codec_trainer *t) {
    if (!t) return;
    sn_trainer_free(t->t);
    free(t);
}

int sono_codec_trainer_step(sono_codec_trainer *t) { return sn_trainer_step(t->t); }
int64_t sono_codec_trainer_steps_done(const sono_codec_trainer *t) { return sn_trainer_steps_done(t->t); }
const sono_codec_train_stats *sono_codec_trainer_last_stats(const sono_codec_trainer *t) {
    return sn_trainer_last_stats(t->t);
}
const sono_codec_train_params *sono_codec_trainer_params(const sono_codec_trainer *t) {
    return sn_trainer_get_params(t->t);
}
const sono_codec_config *sono_codec_trainer_config(const sono_codec_trainer *t) {
    return (const sono_codec_config *)sn_trainer_config(t->t);
}
double sono_codec_trainer_audio_per_step(const sono_codec_trainer *t) { return sn_trainer_audio_per_step(t->t); }
int sono_codec_trainer_save_checkpoint(sono_codec_trainer *t, const char *path) {
    return sn_trainer_save_checkpoint(t->t, path);
}
int sono_codec_trainer_export(sono_codec_trainer *t, const char *path, int f16) {
    return sn_trainer_export_model(t->t, path, f16);
}
int sono_codec_trainer_eval(sono_codec_trainer *t, int max_clips, double max_seconds, FILE *f, FILE *csv) {
    return sn_trainer_eval(t->t, max_clips, max_seconds, f, csv);
}
