// A C++17 program built against the installed library with pkg-config
// alone: each public header included on its own (so each must give its
// functions C linkage), a codec held by std::unique_ptr, a generated sine
// tokenized and decoded.
// usage: consumer-cxx MODEL; prints "sonotok VERSION" and exits 0 when every
// check holds.
#include <sonotok/error.h>
#include <sonotok/audio.h>
#include <sonotok/tokens.h>
#include <sonotok/codec.h>
#include <sonotok/metrics.h>
#include <sonotok/sonotok.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

struct codec_free { void operator()(sono_codec *c) const { sono_codec_free(c); } };
struct tokens_free { void operator()(sono_tokens *t) const { sono_tokens_free(t); } };
struct pcm_free { void operator()(float *p) const { std::free(p); } };

int failures = 0;
void check(bool ok, const char *what) {
    if (!ok) {
        ++failures;
        std::fprintf(stderr, "FAIL %s (%s)\n", what, sono_last_error());
    }
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: consumer-cxx MODEL\n");
        return 1;
    }
    check(std::strlen(sono_strerror(SONO_E_FORMAT)) > 0, "sono_strerror");
    check(sono_audio_can_write("wav") != 0, "sono_audio_can_write");
    check(sono_metrics_resample_len(100, 8000, 16000) == 200, "sono_metrics_resample_len");

    sono_codec_params p = sono_codec_default_params();
    int err = 0;
    std::unique_ptr<sono_codec, codec_free> c(sono_codec_load(argv[1], &p, &err));
    if (!c) {
        std::fprintf(stderr, "consumer-cxx: %s: %s\n", argv[1], sono_last_error());
        return 1;
    }
    const int rate = sono_codec_sample_rate(c.get()), channels = sono_codec_channels(c.get());
    const int n_q = sono_codec_max_codebooks(c.get());
    const int64_t n = rate / 4;
    std::vector<float> x(static_cast<size_t>(n * channels));
    for (size_t i = 0; i < x.size(); i++)
        x[i] = 0.25f * std::sin(6.2831853f * 220.0f * static_cast<float>(i % static_cast<size_t>(n)) / rate);

    sono_tokens *raw = nullptr;
    check(sono_codec_encode(c.get(), x.data(), n, n_q, &raw) == SONO_OK, "sono_codec_encode");
    std::unique_ptr<sono_tokens, tokens_free> t(raw);
    if (t) {
        check(t->n_q == n_q && t->n_frames > 0, "token shape");
        check(sono_codec_check_tokens(c.get(), t.get()) == SONO_OK, "sono_codec_check_tokens");
        float *pcm = nullptr;
        int64_t n_out = 0;
        check(sono_codec_decode(c.get(), t.get(), &pcm, &n_out) == SONO_OK && n_out == n, "sono_codec_decode");
        std::unique_ptr<float, pcm_free> y(pcm);
        if (y && n_out == n) check(std::isfinite(y.get()[n / 2]), "decoded sample");
    }
    if (failures) return 1;
    std::printf("sonotok %s\n", SONOTOK_VERSION);
    return 0;
}
