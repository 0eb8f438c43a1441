/* The program's one folder walker (cli_util.h, cli_walk_tree): tokenize's
 * corpus folders and eval's reference/estimate trees. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"

typedef struct {
    const cli_common *common;
    int skip_dot;
    cli_walk_fn fn;
    void *user;
    dev_t *vis_dev; /* the folders on the current path (loop guard) */
    ino_t *vis_ino;
    size_t n_vis, cap_vis;
} walker;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Enter a folder unless it is one of its own ancestors (a link loop).
 * Returns 1 when entered (n_vis-- after), 0 for a loop, -1 out of memory. */
static int enter_dir(walker *w, const struct stat *st) {
    for (size_t i = 0; i < w->n_vis; i++)
        if (w->vis_dev[i] == st->st_dev && w->vis_ino[i] == st->st_ino) return 0;
    if (w->n_vis == w->cap_vis) {
        size_t nc = w->cap_vis ? w->cap_vis * 2 : 32;
        dev_t *nd = realloc(w->vis_dev, nc * sizeof *nd);
        if (nd) w->vis_dev = nd;
        ino_t *ni = realloc(w->vis_ino, nc * sizeof *ni);
        if (ni) w->vis_ino = ni;
        if (!nd || !ni) return -1;
        w->cap_vis = nc;
    }
    w->vis_dev[w->n_vis] = st->st_dev;
    w->vis_ino[w->n_vis] = st->st_ino;
    w->n_vis++;
    return 1;
}

/* The sorted names in dpath (without "." and ".."; without dot files when
 * skip_dot). Returns 0 or an exit code (printed). */
static int list_dir(const char *dpath, int skip_dot, char ***names_out, size_t *n_out) {
    DIR *d = opendir(dpath);
    if (!d) return cli_fail_errno(dpath, errno);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || (skip_dot && de->d_name[0] == '.')) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = cli_fail(CLI_EXIT_IO, dpath, "out of memory");
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = cli_fail(CLI_EXIT_IO, dpath, "out of memory");
            break;
        }
        n++;
        errno = 0;
    }
    if (!rc && errno) rc = cli_fail_errno(dpath, errno);
    closedir(d);
    if (!rc) qsort(names, n, sizeof *names, cmp_str);
    *names_out = names;
    *n_out = n;
    return rc;
}

/* Walk root/rel (rel "" for the root). Returns 0 or an exit code. */
static int walk(walker *w, const char *root, const char *rel) {
    char dpath[8192];
    if (snprintf(dpath, sizeof dpath, "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof dpath)
        return cli_fail(CLI_EXIT_IO, rel, "path too long");
    char **names = NULL;
    size_t n = 0;
    int rc = list_dir(dpath, w->skip_dot, &names, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        char crel[8192], cpath[8192 + 8];
        if (snprintf(crel, sizeof crel, "%s%s%s", rel, *rel ? "/" : "", names[i]) >= (int)sizeof crel) {
            rc = cli_fail(CLI_EXIT_IO, names[i], "path too long");
            break;
        }
        snprintf(cpath, sizeof cpath, "%s/%s", root, crel);
        struct stat st;
        if (stat(cpath, &st) != 0) {
            rc = w->fn(crel, cpath, NULL, w->user);   /* errno still stat's */
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc = w->fn(crel, cpath, &st, w->user);
            continue;
        }
        int v = enter_dir(w, &st);
        if (v < 0) rc = cli_fail(CLI_EXIT_IO, crel, "out of memory");
        else if (v == 0) cli_note(w->common, 1, "skipped: %s (link back to a folder above it)", crel);
        else {
            rc = walk(w, root, crel);
            w->n_vis--;
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int cli_walk_tree(const cli_common *c, const char *root, int skip_dot, cli_walk_fn fn, void *user) {
    walker w;
    memset(&w, 0, sizeof w);
    w.common = c;
    w.skip_dot = skip_dot;
    w.fn = fn;
    w.user = user;
    struct stat st;
    int rc = stat(root, &st) == 0 && enter_dir(&w, &st) < 0 ? cli_fail(CLI_EXIT_IO, root, "out of memory")
                                                              : walk(&w, root, "");
    free(w.vis_dev);
    free(w.vis_ino);
    return rc;
}
