/* The reference kernels on tiny cases worked out by hand (the arithmetic is in
 * the comments), so the oracle the other tests trust is itself checked. Each
 * case also runs the fast kernel on the default back end. */
#include "kernel_check.h"

#define TOL 1e-6

static void expect(const char *what, const float *got, const double *want, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]) / (fabs(want[i]) > 1 ? fabs(want[i]) : 1.0);
        if (!(d <= worst)) worst = d;
    }
    printf("  %-44s max error %.3g\n", what, worst);
    CHECK_MSG(worst <= TOL, "%s: error %.3g", what, worst);
    if (worst > TOL)
        for (int i = 0; i < n; i++) fprintf(stderr, "    [%d] got %.9g want %.9g\n", i, got[i], want[i]);
}

static float g_scratch[4096];

static void conv_cases(int fast) {
    const char *tag = fast ? "fast" : "ref";
    char name[96];
    void (*conv)(float *, const float *, const float *, const float *, int, int, int, int, int, int,
                 float *, int) = fast ? sn_conv1d_forward : sn_conv1d_forward_ref;
    float out[8];
    {
        /* in [1][5] = 1 2 3 4 5, w [1][1][3] = 1 2 -1, b = 0.5, stride 1, dil 1:
         * out[t] = in[t] + 2 in[t+1] - in[t+2] + 0.5
         *   t=0: 1 + 4 - 3 + .5 = 2.5;  t=1: 2 + 6 - 4 + .5 = 4.5;  t=2: 3 + 8 - 5 + .5 = 6.5 */
        const float in[] = {1, 2, 3, 4, 5}, w[] = {1, 2, -1}, b[] = {0.5f};
        const double want[] = {2.5, 4.5, 6.5};
        conv(out, in, w, b, 1, 1, 5, 3, 1, 1, g_scratch, 1);
        snprintf(name, sizeof name, "conv1d k3 (%s)", tag);
        expect(name, out, want, 3);
    }
    {
        /* C_in 2, C_out 1, K 2, dil 2, stride 2, T_in 7: T_out = (7 - 3)/2 + 1 = 3
         * in0 = 1 2 3 4 5 6 7, in1 = 1 0 2 0 3 0 4, w[0][0] = 1 1, w[0][1] = 2 -1
         * out[t] = in0[2t] + in0[2t+2] + 2 in1[2t] - in1[2t+2]
         *   t=0: 1 + 3 + 2 - 2 = 4;  t=1: 3 + 5 + 4 - 3 = 9;  t=2: 5 + 7 + 6 - 4 = 14 */
        const float in[] = {1, 2, 3, 4, 5, 6, 7, 1, 0, 2, 0, 3, 0, 4}, w[] = {1, 1, 2, -1};
        const double want[] = {4, 9, 14};
        CHECK(conv1d_out_len(7, 2, 2, 2) == 3);
        conv(out, in, w, NULL, 2, 1, 7, 2, 2, 2, g_scratch, 1);
        snprintf(name, sizeof name, "conv1d 2->1 k2 s2 d2 (%s)", tag);
        expect(name, out, want, 3);
    }
    {
        /* C_out 2 from one input row, K 1: out[co][t] = w[co] in[t] + b[co]
         * w = 2, -1; b = 0, 1; in = 3 4 -> out0 = 6 8, out1 = -3+1 -4+1 = -2 -3 */
        const float in[] = {3, 4}, w[] = {2, -1}, b[] = {0, 1};
        const double want[] = {6, 8, -2, -3};
        conv(out, in, w, b, 1, 2, 2, 1, 1, 1, g_scratch, 1);
        snprintf(name, sizeof name, "conv1d 1x1 1->2 (%s)", tag);
        expect(name, out, want, 4);
    }
}

static void convtr_cases(int fast) {
    const char *tag = fast ? "fast" : "ref";
    char name[96];
    void (*convtr)(float *, const float *, const float *, const float *, int, int, int, int, int,
                   float *, int) = fast ? sn_convtr1d_forward : sn_convtr1d_forward_ref;
    float out[8];
    {
        /* in = 1 2, w = 1 10 100, stride 2, b = 0.5: T_out = (2-1)*2 + 3 = 5
         * out[0..2] += 1 * (1 10 100), out[2..4] += 2 * (1 10 100)
         * -> 1 10 102 20 200, plus 0.5 */
        const float in[] = {1, 2}, w[] = {1, 10, 100}, b[] = {0.5f};
        const double want[] = {1.5, 10.5, 102.5, 20.5, 200.5};
        convtr(out, in, w, b, 1, 1, 2, 3, 2, g_scratch, 1);
        snprintf(name, sizeof name, "convtr1d k3 s2 (%s)", tag);
        expect(name, out, want, 5);
    }
    {
        /* weight layout [C_in][C_out][K] (not conv's [C_out][C_in][K]):
         * w[0][0] = 1 2, w[0][1] = 3 4, w[1][0] = 5 6, w[1][1] = 7 8; in0 = 1, in1 = 2
         * out[0] = 1*(1 2) + 2*(5 6) = 11 14;  out[1] = 1*(3 4) + 2*(7 8) = 17 20 */
        const float in[] = {1, 2}, w[] = {1, 2, 3, 4, 5, 6, 7, 8};
        const double want[] = {11, 14, 17, 20};
        convtr(out, in, w, NULL, 2, 2, 1, 2, 1, g_scratch, 1);
        snprintf(name, sizeof name, "convtr1d 2->2 layout (%s)", tag);
        expect(name, out, want, 4);
    }
    {
        /* stride > K leaves gaps: in = 1 2, w = 3, stride 3, K 1: T_out = 4 -> 3 0 0 6 */
        const float in[] = {1, 2}, w[] = {3};
        const double want[] = {3, 0, 0, 6};
        convtr(out, in, w, NULL, 1, 1, 2, 1, 3, g_scratch, 1);
        snprintf(name, sizeof name, "convtr1d gaps (%s)", tag);
        expect(name, out, want, 4);
    }
}

static void lstm_cases(int fast) {
    const char *tag = fast ? "fast" : "ref";
    char name[96];
    void (*lstm)(float *, const float *, const float *, const float *, const float *, const float *,
                 float *, float *, int, int, int, float *, int) = fast ? sn_lstm_forward : sn_lstm_forward_ref;
    {
        /* C = H = 1, two steps, x = 0.5, -1; w_ih = 1 2 3 4, w_hh = .5 -.5 .25 1, no bias,
         * h0 = c0 = 0. Step 1: z = (0.5, 1, 1.5, 2):
         *   i = sig(.5) = .6224593312, f = sig(1) = .7310585786, g = tanh(1.5) = .9051482536,
         *   o = sig(2) = .8807970780; c1 = i g = .5634179766; h1 = o tanh(c1) = .4496548582
         * Step 2: z = (-1 + .5 h1, -2 - .5 h1, -3 + .25 h1, -4 + h1)
         *   c2 = f c1 + i g = -.2584522514; h2 = o tanh(c2) = -.0070577791 */
        const float x[] = {0.5f, -1.0f}, wi[] = {1, 2, 3, 4}, wh[] = {0.5f, -0.5f, 0.25f, 1};
        float h = 0, c = 0, out[2];
        const double want[] = {0.4496548582, -0.0070577791};
        lstm(out, x, wi, wh, NULL, NULL, &h, &c, 1, 1, 2, g_scratch, 1);
        snprintf(name, sizeof name, "lstm 2 steps (%s)", tag);
        expect(name, out, want, 2);
        const double wc[] = {-0.2584522514}, wh2[] = {-0.0070577791};
        snprintf(name, sizeof name, "lstm final c (%s)", tag);
        expect(name, &c, wc, 1);
        snprintf(name, sizeof name, "lstm final h (%s)", tag);
        expect(name, &h, wh2, 1);
    }
    {
        /* gate order i, f, g, o: only the g row sees x = 1; biases b_ih = (100, -100, 0, 100)
         * saturate i = 1, f = 0, o = 1; c0 = 5 must be forgotten:
         * c = tanh(1) = .7615941560, h = tanh(c) = .6420149920.
         * (With i and f swapped c would stay 5; with g and o swapped c = sig(..).) */
        const float x[] = {1}, wi[] = {0, 0, 1, 0}, wh[] = {0, 0, 0, 0};
        const float bi[] = {100, -100, 0, 100}, bh[] = {0, 0, 0, 0};
        float h = 0.3f, c = 5, out[1];
        const double want[] = {0.6420149920}, wc[] = {0.7615941560};
        lstm(out, x, wi, wh, bi, bh, &h, &c, 1, 1, 1, g_scratch, 1);
        snprintf(name, sizeof name, "lstm gate order (%s)", tag);
        expect(name, out, want, 1);
        expect(name, &c, wc, 1);
    }
}

static void pointwise_cases(int fast) {
    const char *tag = fast ? "fast" : "ref";
    char name[96];
    float out[4];
    {
        /* ELU: x > 0 ? x : alpha (e^x - 1); e^-1 - 1 = -.6321205588 */
        const float x[] = {-1, 0, 2};
        const double w1[] = {-0.6321205588, 0, 2}, w5[] = {-0.3160602794, 0, 2};
        (fast ? sn_elu_forward : sn_elu_forward_ref)(out, x, 3, 1.0f, 1);
        snprintf(name, sizeof name, "elu alpha 1 (%s)", tag);
        expect(name, out, w1, 3);
        (fast ? sn_elu_forward : sn_elu_forward_ref)(out, x, 3, 0.5f, 1);
        snprintf(name, sizeof name, "elu alpha .5 (%s)", tag);
        expect(name, out, w5, 3);
    }
    {
        /* GroupNorm(1, 2) over [[1 2] [3 4]], eps 0: mean 2.5, biased var
         * (2.25 + .25 + .25 + 2.25)/4 = 1.25, 1/sqrt(1.25) = .8944271910
         * normalised -1.3416407865 -.4472135955 .4472135955 1.3416407865;
         * gamma = 1 2, beta = 0 1 -> -1.3416407865 -.4472135955 1.8944271910 3.6832815730 */
        const float x[] = {1, 2, 3, 4}, g[] = {1, 2}, b[] = {0, 1};
        const double want[] = {-1.3416407865, -0.4472135955, 1.8944271910, 3.6832815730};
        (fast ? sn_groupnorm1_forward : sn_groupnorm1_forward_ref)(out, x, g, b, 2, 2, 0.0f, 1);
        snprintf(name, sizeof name, "groupnorm1 (%s)", tag);
        expect(name, out, want, 4);
    }
    {
        /* linear: in [1][2] = 1 2, w [3][2] = (1 0) (0 1) (1 1), b = 0 0 1 -> 1 2 4 */
        const float x[] = {1, 2}, w[] = {1, 0, 0, 1, 1, 1}, b[] = {0, 0, 1};
        const double want[] = {1, 2, 4};
        (fast ? sn_linear_forward : sn_linear_forward_ref)(out, x, w, b, 1, 2, 3, 1);
        snprintf(name, sizeof name, "linear (%s)", tag);
        expect(name, out, want, 3);
    }
}

int main(void) {
    for (int fast = 0; fast <= 1; fast++) {
        conv_cases(fast);
        convtr_cases(fast);
        lstm_cases(fast);
        pointwise_cases(fast);
    }
    CHECK(conv1d_out_len(6, 7, 1, 1) == 0);
    CHECK(conv1d_out_len(16, 16, 8, 1) == 1);
    return tu_finish("test_kernels_ref");
}
