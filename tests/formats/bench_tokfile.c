/* Measures token-file payload size (bits per code) for each coder on
 * synthetic codes, next to log2(codebook_size) and the data's own order-0
 * entropy. Not a pass/fail test (registered in the 'slow' suite); the numbers
 * go into codec/FORMATS.md. The generators:
 *   uniform  every code uniform in [0, K)
 *   zipf     per codebook q an independent Zipf(s_q) over a random permutation
 *            of [0, K), s_q = 0.9 - 0.1 q (min 0.2): no temporal structure
 *   skewed   zipf plus time structure: a two-state chain (enter "silence" with
 *            p 0.02 per frame, leave with p 0.05) in which codebook q sends its
 *            own silence code with p 0.9; in active frames codebook q repeats
 *            its previous code with p 0.15 - 0.015 q
 *   looped   the first 4 s of a skewed sequence repeated (exact repeats, as in
 *            looped music or copied audio: the case an LZ coder exploits). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tokdata.h"
#include "sonotok/tokens.h"
#include "test_util.h"

static double zipf_s(int q) { return fmax(0.2, 0.9 - 0.1 * q); }

static void gen(int kind, int32_t *codes, int n_q, int64_t F, int K) {
    if (kind == 3) {
        int64_t P = F < 300 ? F : 300;
        int32_t *one = malloc((size_t)n_q * (size_t)P * sizeof *one);
        gen(2, one, n_q, P, K);
        for (int q = 0; q < n_q; q++)
            for (int64_t t = 0; t < F; t++) codes[(size_t)q * (size_t)F + (size_t)t] = one[(size_t)q * (size_t)P + (size_t)(t % P)];
        free(one);
        return;
    }
    int32_t *perm = malloc((size_t)K * sizeof *perm);
    double *cdf = malloc((size_t)K * sizeof *cdf);
    int silence = 0;
    uint8_t *sil = malloc((size_t)F);
    for (int64_t t = 0; t < F; t++) {
        if (silence) silence = tu_uniform(0, 1) >= 0.05f;
        else silence = tu_uniform(0, 1) < 0.02f;
        sil[t] = (uint8_t)silence;
    }
    for (int q = 0; q < n_q; q++) {
        int32_t *x = codes + (size_t)q * (size_t)F;
        if (kind == 0) {
            for (int64_t t = 0; t < F; t++) x[t] = (int32_t)(tu_rand() % (uint64_t)K);
            continue;
        }
        for (int k = 0; k < K; k++) perm[k] = k;
        for (int k = K - 1; k > 0; k--) {
            int j = (int)(tu_rand() % (uint64_t)(k + 1)), tmp = perm[k];
            perm[k] = perm[j];
            perm[j] = tmp;
        }
        double z = 0;
        for (int k = 0; k < K; k++) cdf[k] = (z += pow(k + 1, -zipf_s(q)));
        int32_t silence_code = perm[(int)(tu_rand() % 8)];
        double rep = 0.15 - 0.015 * q;
        for (int64_t t = 0; t < F; t++) {
            double u = tu_uniform(0, 1) * z;
            int lo = 0, hi = K - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (cdf[mid] < u) lo = mid + 1;
                else hi = mid;
            }
            x[t] = perm[lo];
            if (kind == 2) {
                if (sil[t] && tu_uniform(0, 1) < 0.9f) x[t] = silence_code;
                else if (!sil[t] && t > 0 && tu_uniform(0, 1) < rep) x[t] = x[t - 1];
            }
        }
    }
    free(perm);
    free(cdf);
    free(sil);
}

static double entropy0(const int32_t *codes, int n_q, int64_t F, int K) {
    double bits = 0;
    uint32_t *h = malloc((size_t)K * sizeof *h);
    for (int q = 0; q < n_q; q++) {
        memset(h, 0, (size_t)K * sizeof *h);
        for (int64_t t = 0; t < F; t++) h[codes[(size_t)q * (size_t)F + (size_t)t]]++;
        for (int k = 0; k < K; k++)
            if (h[k]) bits -= h[k] * log2((double)h[k] / (double)F);
    }
    free(h);
    return bits / ((double)n_q * (double)F);
}

int main(int argc, char **argv) {
    tu_seed(12345);
    static const char *kinds[] = {"uniform", "zipf", "skewed", "looped"};
    static const int secs[] = {10, 60, 600};
    static const int nqs[] = {2, 8, 32};
    int K = argc > 1 ? atoi(argv[1]) : 1024;
    printf("bits per code (payload only; each file adds 112 bytes + the model name), K=%d, log2 K = %.2f, "
           "75 frames/s\n", K, log2(K));
    printf("%-8s %4s %5s %8s | %7s %7s %7s %7s | %s\n", "data", "n_q", "sec", "H0", "packed", "zstd19", "range",
           "auto", "range enc+dec ms");
    for (int k = 0; k < 4; k++)
        for (int ni = 0; ni < 3; ni++)
            for (int si = 0; si < 3; si++) {
                int n_q = nqs[ni];
                int64_t F = 75 * (int64_t)secs[si];
                if (n_q == 32 && secs[si] == 600) continue;
                sono_tokens *t = sono_tokens_alloc(n_q, F, 1, 0);
                strcpy(t->model_name, "bench");
                t->sample_rate = 24000;
                t->channels = 1;
                t->hop = 320;
                t->codebook_size = K;
                t->n_samples = F * 320;
                gen(k, t->codes, n_q, F, K);
                double h0 = entropy0(t->codes, n_q, F, K);
                double bpc[4], ms = 0;
                for (int c = -1; c <= 2; c++) {
                    tokfile_opts o = {.coder = c, .zstd_level = 19};
                    uint8_t *buf;
                    size_t n;
                    clock_t c0 = clock();
                    if (sn_tokfile_encode_opts(t, &o, &buf, &n)) {
                        printf("encode failed: %s\n", sono_last_error());
                        return 1;
                    }
                    sono_tokens *back;
                    int rc = sono_tokens_decode(buf, n, &back);
                    if (c == 2) ms = 1000.0 * (double)(clock() - c0) / CLOCKS_PER_SEC;
                    if (rc || memcmp(back->codes, t->codes, (size_t)n_q * (size_t)F * 4)) {
                        printf("round trip failed: %s\n", sono_last_error());
                        return 1;
                    }
                    tokfile_info info;
                    sn_tokfile_probe(buf, n, &info);
                    bpc[c + 1] = 8.0 * (double)info.payload_bytes / ((double)n_q * (double)F);
                    sono_tokens_free(back);
                    free(buf);
                }
                printf("%-8s %4d %5d %8.3f | %7.3f %7.3f %7.3f %7.3f | %.1f\n", kinds[k], n_q, secs[si], h0, bpc[1],
                       bpc[2], bpc[3], bpc[0], ms);
                sono_tokens_free(t);
            }
    return 0;
}
