/* The linear probe's data side for train-probe and probe: corpus manifests
 * (JSON lines: path relative to the manifest's folder, category, text or
 * caption), the labels drawn from them (the category, or a finer class from
 * a keyword table), and a clip's pooled encoder latents. */
#ifndef SONOTOK_PROBE_DATA_H
#define SONOTOK_PROBE_DATA_H

#include <stdint.h>
#include "cli_util.h"

typedef struct {
    char *path;        /* resolved: the manifest's folder joined with its path */
    char *label;       /* category, or class (see pd_class_label) */
} pd_clip;

typedef struct {
    pd_clip *clips;
    int64_t n, cap;
} pd_list;

enum { PD_LABEL_CATEGORY = 0, PD_LABEL_CLASS = 1 };

/* Read a manifest into list (appending); labels of kind PD_LABEL_*.
 * 0 or an exit code (the one-line error printed). */
int pd_read_manifest(const char *manifest, int label_kind, pd_list *list);
int pd_list_add(pd_list *list, const char *path, const char *label);
void pd_list_free(pd_list *list);

/* The finer class of a clip: "speech" and "music" for those categories; for
 * anything else the first keyword class (instrument, vehicle, animal) whose
 * word occurs in the clip's text or in the folder and file names of its
 * path, else "other". Returns a static string. */
const char *pd_class_label(const char *category, const char *text, const char *path);

/* Pooled latents (sonotok/probe.h, kind) of at most max_seconds (<= 0: all)
 * of the file at path into feat. 0 or an exit code (printed). */
int pd_clip_features(const sono_codec *codec, const char *path, double max_seconds, int kind, float *feat);

#endif
