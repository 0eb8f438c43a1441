/* Fuzz target: EnCodec .ecdc files (sn_ecdc_decode), with the layout of the
 * model the file names: encodec_24khz or encodec_48khz, else a small
 * segmented, scaled one (tiny48's: 400-sample segments every 396, hop 10,
 * 64 codes, 6 codebooks) so short inputs reach many segments. A file that
 * reads must write back to the same codes bytes after its metadata (the
 * reader accepts only what the reference's packer writes) and read again the
 * same. */
#include <stdlib.h>
#include <string.h>
#include "codec_internal.h"
#include "fuzz_target.h"
#include "tokdata.h"

int sono_fuzz_parse(const uint8_t *data, size_t n) {
    sono_ecdc_info info;
    int rc = sono_ecdc_probe(data, n, &info);
    if (rc != 0) return rc;
    ecdc_layout g = {8000, 2, 10, 64, 6, 400, 396, 1};
    codec_config cfg;
    if (!sn_codec_config_preset(info.model_name, &cfg)) sn_codec_config_ecdc_layout(&cfg, &g);
    sono_tokens *t = NULL, *back = NULL;
    rc = sn_ecdc_decode(data, n, &g, &t);
    if (rc != 0) {
        if (t) abort();
        return rc;
    }
    uint8_t *buf = NULL;
    size_t bn = 0;
    sono_ecdc_info info2;
    size_t codes_n = n - info.header_bytes;
    if (sn_ecdc_encode(t, &g, &buf, &bn) != 0 || sono_ecdc_probe(buf, bn, &info2) != 0 ||
        strcmp(info.model_name, info2.model_name) || info.n_samples != info2.n_samples || info.n_q != info2.n_q ||
        bn - info2.header_bytes != codes_n || memcmp(buf + info2.header_bytes, data + info.header_bytes, codes_n) ||
        sn_ecdc_decode(buf, bn, &g, &back) != 0 || back->n_frames != t->n_frames ||
        memcmp(back->codes, t->codes, (size_t)t->n_q * (size_t)t->n_frames * sizeof *t->codes))
        abort();
    free(buf);
    sono_tokens_free(back);
    sono_tokens_free(t);
    return 0;
}

SONO_FUZZ_ENTRY
