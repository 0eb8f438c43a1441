/* sonotok CPU dispatch: which SIMD kernels the library runs.
 *
 *   sono_set_cpu_level(SONO_CPU_AVX2);   // before any other sonotok call
 *   printf("%s\n", sono_cpu_level_name(sono_cpu_level()));
 *
 * Every kernel family of the library (inference and training: convs, LSTM,
 * backward passes, FFT, discriminator) asks this one place which level to run
 * at: the highest the CPU has, lowered by the cap set here. Results are
 * bit-identical to those of a CPU that has only the capped level, so a cap
 * reproduces another machine's outputs (or those of a plain build) and helps
 * to tell a kernel bug from a model bug. Float results differ between levels
 * (different summation orders); codes and tokens usually, not always, agree. */
#ifndef SONOTOK_CPU_H
#define SONOTOK_CPU_H

#include "sonotok/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel levels, lowest first. Values never change. */
enum sono_cpu_level {
    SONO_CPU_PLAIN = 0,   /* portable C loops and OpenBLAS */
    SONO_CPU_AVX2 = 1,    /* x86 AVX2 + FMA */
    SONO_CPU_AVX512 = 2,  /* x86 AVX-512 F + DQ (with AVX2 + FMA) */
};

/* The level the kernels run at now: the CPU's, capped by sono_set_cpu_level. */
SONO_API int sono_cpu_level(void);

/* Cap the kernel level for the whole process (SONO_CPU_AVX512 or higher: no
 * cap; below SONO_CPU_PLAIN counts as SONO_CPU_PLAIN). Returns the level now in
 * effect, lower than level when the CPU lacks it. Not thread-safe: call it
 * first, before making any codec, stream or trainer (those size their buffers
 * for the level in effect when they are made). */
SONO_API int sono_set_cpu_level(int level);

/* "plain", "avx2" or "avx512" for a level; "?" for anything else. */
SONO_API const char *sono_cpu_level_name(int level);

#ifdef __cplusplus
}
#endif
#endif
