/* CPU dispatch (include/sonotok/cpu.h): the one place that looks at the CPU's
 * features. kernels.c, kernels_grad.c, stft.c and the discriminator's conv2d
 * kernels all ask sono_cpu_level(), so one cap reaches every kernel family. */
#include "sonotok/cpu.h"

static int g_cpu_cap = SONO_CPU_AVX512; /* lowered by sono_set_cpu_level() only */

static int cpu_detected(void) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    /* libgcc fills the feature bits in a constructor; reading them is a load */
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return SONO_CPU_PLAIN;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return SONO_CPU_AVX512;
    return SONO_CPU_AVX2;
#else
    return SONO_CPU_PLAIN;
#endif
}

int sono_cpu_level(void) {
    int l = cpu_detected();
    return l < g_cpu_cap ? l : g_cpu_cap;
}

int sono_set_cpu_level(int level) {
    g_cpu_cap = level < SONO_CPU_PLAIN ? SONO_CPU_PLAIN : level > SONO_CPU_AVX512 ? SONO_CPU_AVX512 : level;
    return sono_cpu_level();
}

const char *sono_cpu_level_name(int level) {
    switch (level) {
    case SONO_CPU_PLAIN: return "plain";
    case SONO_CPU_AVX2: return "avx2";
    case SONO_CPU_AVX512: return "avx512";
    default: return "?";
    }
}
