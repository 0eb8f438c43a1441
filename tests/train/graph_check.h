/* Checks shared by the training-graph tests (test_train_graph.c, test_vocos.c;
 * include after test_util.h): the fast kernels against the plain _ref ones on
 * one step, and two graphs stepped at the same time on two OpenMP threads (as
 * the trainer runs one graph per worker) against one after the other. */
#ifndef SONO_TEST_GRAPH_THREADS_H
#define SONO_TEST_GRAPH_THREADS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train_graph.h"

/* max|a - b| / max|b| (NaN propagates) */
static double norm_err(const float *a, const float *b, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d;
        mr = fmax(mr, fabs(b[i]));
    }
    return mr > 0 ? md / mr : md;
}

/* One step (L1 + commitment) of g on audio x [B][C][T] on the _ref kernels,
 * then on the fast ones: the same codes (n_q codebooks), output, loss and every
 * parameter tensor's gradient (each normalised by its own max) within tol. */
static void graph_fast_vs_ref(train_graph *g, const float *x, int n_q, int B, int C, const char *name, double tol) {
    size_t nf = sn_train_graph_n_floats(g);
    size_t no = (size_t)B * C * sn_train_graph_output_len(g), per_q = (size_t)B * sn_train_graph_frames(g);
    float *y_ref = malloc(no * sizeof *y_ref), *g_ref = malloc(nf * sizeof *g_ref);
    int32_t *c_ref = malloc(((size_t)n_q * per_q + 1) * sizeof *c_ref);
    if (!y_ref || !g_ref || !c_ref) { CHECK_MSG(0, "%s: out of memory", name); free(y_ref); free(g_ref); free(c_ref); return; }
    train_losses Lr, Lf;
    sn_train_graph_set_ref_kernels(g, 1);
    sn_train_graph_zero_grad(g);
    sn_train_graph_forward(g, x, 1.0f, 1.0f, &Lr);
    sn_train_graph_backward(g, NULL);
    memcpy(y_ref, sn_train_graph_output(g), no * sizeof *y_ref);
    memcpy(g_ref, sn_train_graph_grads(g), nf * sizeof *g_ref);
    for (int q = 0; q < n_q; q++) memcpy(c_ref + q * per_q, sn_train_graph_indices(g, q), per_q * sizeof *c_ref);
    sn_train_graph_set_ref_kernels(g, 0);
    sn_train_graph_zero_grad(g);
    sn_train_graph_forward(g, x, 1.0f, 1.0f, &Lf);
    sn_train_graph_backward(g, NULL);
    int codes = 1;
    for (int q = 0; q < n_q; q++) codes &= !memcmp(sn_train_graph_indices(g, q), c_ref + q * per_q, per_q * sizeof *c_ref);
    CHECK_MSG(codes, "%s: fast kernels chose other codes", name);
    double ey = norm_err(sn_train_graph_output(g), y_ref, no), eg = 0;
    int np;
    const train_param *tab = sn_train_graph_param_table(g, &np);
    const char *worst = "";
    for (int i = 0; i < np; i++) {
        double e = norm_err(sn_train_graph_grads(g) + tab[i].offset, g_ref + tab[i].offset, tab[i].numel);
        if (!(e <= eg)) { eg = e; worst = tab[i].name; }
    }
    double el = fabs(Lf.total - Lr.total) / fabs(Lr.total);
    printf("%s fast vs _ref kernels: output %.2g, gradients %.2g (worst: %s), loss rel %.2g (normalised)\n", name, ey,
           eg, worst, el);
    CHECK_MSG(ey <= tol && eg <= tol && el <= tol, "%s: fast vs ref kernels differ", name);
    free(y_ref); free(g_ref); free(c_ref);
}

/* One forward + backward of g[i] on x[i] each, one after the other, then reps
 * of them on two threads at once; 1 when the last gradients equal the first. */
static int graphs_same_on_threads(train_graph *g[2], float *const x[2], int reps) {
    size_t nf = sn_train_graph_n_floats(g[0]);
    float *seq[2];
    for (int i = 0; i < 2; i++) {
        sn_train_graph_zero_grad(g[i]);
        sn_train_graph_forward(g[i], x[i], 1.0f, 1.0f, NULL);
        sn_train_graph_backward(g[i], NULL);
        seq[i] = malloc(nf * sizeof(float));
        if (seq[i]) memcpy(seq[i], sn_train_graph_grads(g[i]), nf * sizeof(float));
    }
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int i = 0; i < 2; i++)
        for (int rep = 0; rep < reps; rep++) {
            sn_train_graph_zero_grad(g[i]);
            sn_train_graph_forward(g[i], x[i], 1.0f, 1.0f, NULL);
            sn_train_graph_backward(g[i], NULL);
        }
    int same = 1;
    for (int i = 0; i < 2; i++) {
        same &= seq[i] && !memcmp(seq[i], sn_train_graph_grads(g[i]), nf * sizeof(float));
        free(seq[i]);
    }
    return same;
}

#endif
