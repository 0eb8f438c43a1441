/* Flat parameter tables (common/params.h). */
#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sono_internal.h"

int sn_params_add(sn_param_table *t, const char *name, const char *suffix, int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > 3) return sn_fail(SONO_E_ARG, "parameter %s%s: %d dimensions", name, suffix, ndim);
    if (t->n == t->cap) {
        int nc = t->cap ? t->cap * 2 : 32;
        sn_param *np = realloc(t->p, (size_t)nc * sizeof *np);
        if (!np) return sn_fail(SONO_E_NOMEM, "out of memory");
        t->p = np;
        t->cap = nc;
    }
    sn_param *p = &t->p[t->n];
    memset(p, 0, sizeof *p);
    if (snprintf(p->name, sizeof p->name, "%s%s", name, suffix) >= (int)sizeof p->name)
        return sn_fail(SONO_E_ARG, "parameter name too long: %s%s", name, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int k = 0; k < ndim; k++) {
        p->shape[k] = shape[k];
        p->numel *= (size_t)shape[k];
    }
    p->offset = t->n_floats;
    t->n_floats += p->numel;
    return t->n++;
}

void sn_params_free(sn_param_table *t) {
    free(t->p);
    memset(t, 0, sizeof *t);
}
