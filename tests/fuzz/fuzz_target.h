/* Contract of a fuzz target. Each fuzz_*.c defines sono_fuzz_parse(), which
 * runs one parser over the bytes and returns 0 or its negative sono_error code,
 * and the libFuzzer entry point, which calls it. replay.c replays a corpus
 * under `meson test` and checks the known-bad files: a file in bad/<target>/
 * named CODE_description (CODE one of FORMAT, TRUNCATED, CHECKSUM, RANGE,
 * LIMIT, UNSUPPORTED, EMPTY, MODEL_MISMATCH) must fail with that code. */
#ifndef SONO_FUZZ_TARGET_H
#define SONO_FUZZ_TARGET_H
#include <stddef.h>
#include <stdint.h>

int sono_fuzz_parse(const uint8_t *data, size_t n);

#define SONO_FUZZ_ENTRY \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n); \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) { (void)sono_fuzz_parse(data, n); return 0; }
#endif
