/* ELLA-V sequences for text-to-speech training (lm_tts_seq.h). */
#include <stdlib.h>
#include <string.h>

#include "lm_delay.h"
#include "lm_tts_seq.h"
#include "sonotok/tokenizer.h"

int sn_lm_tts_frames(const int32_t *start, const int32_t *end, int n, int F, int32_t *first) {
    if (n < 1 || F < n || start[0] != 0) return -1;
    int32_t *dur = malloc(sizeof(int32_t) * (size_t)n);
    if (!dur) return -1;
    int ok = 1;
    for (int j = 0; ok && j < n; j++) {
        dur[j] = end[j] - start[j];
        ok = dur[j] >= 0 && (j == 0 || start[j] == end[j - 1]);
    }
    int64_t diff = ok ? (int64_t)F - end[n - 1] : 0;
    ok = ok && diff >= -2 && diff <= 2;
    /* the codec's count: the difference to the last phonemes (more: the last; fewer: from the end back) */
    if (ok && diff > 0) dur[n - 1] += (int32_t)diff;
    for (int j = n - 1; ok && diff < 0 && j >= 0; j--)
        while (diff < 0 && dur[j] > 1) dur[j]--, diff++;
    ok = ok && diff >= 0;
    for (int j = 0; ok && j < n; j++) {
        if (dur[j] > 0) continue;
        int l = j > 0 ? dur[j - 1] : 0, r = j + 1 < n ? dur[j + 1] : 0;
        if (l < 2 && r < 2) ok = 0;
        else if (r > l) dur[j + 1]--, dur[j] = 1;
        else dur[j - 1]--, dur[j] = 1;
    }
    if (ok) {
        first[0] = 0;
        for (int j = 0; j < n; j++) first[j + 1] = first[j] + dur[j];
    }
    free(dur);
    return ok ? 0 : -1;
}

void sn_lm_tts_seq(const int16_t *codes, int F, int K, int cb, const int32_t *ids, int n, const int32_t *first,
                   int32_t lang_id, int32_t voice_id, int T, int32_t *text, int32_t *audio, int32_t *targets) {
    for (int t = 0; t < T; t++) text[t] = SONO_TOK_PAD;
    memset(audio, 0, sizeof(int32_t) * (size_t)T * K);
    for (size_t i = 0; i < (size_t)T * K; i++) targets[i] = -1;
    int P = 0;
    text[P++] = SONO_TOK_TASK_TTS;
    text[P++] = lang_id;
    text[P++] = voice_id;
    for (int j = 0; j < n; j++) text[P++] = ids[j];
    text[P++] = SONO_TOK_SEP;
    const int S = sn_lm_delay_steps(F, K);
    for (int s = 0, j = 0; s < S; s++) {
        if (j < n && s == first[j]) { /* the phoneme's token: it predicts step s */
            text[P] = ids[j++];
            for (int k = 0; k < K; k++) {
                int32_t g = sn_lm_grid_at16(codes, F, K, cb, s, k);
                targets[(size_t)P * K + k] = g == cb ? -1 : g;
            }
            P++;
        }
        text[P] = -1;
        for (int k = 0; k < K; k++) audio[(size_t)P * K + k] = sn_lm_grid_at16(codes, F, K, cb, s, k);
        int next_token = j < n && s + 1 == first[j];
        for (int k = 0; s + 1 < S && k < K; k++) {
            int32_t g = sn_lm_grid_at16(codes, F, K, cb, s + 1, k);
            if (next_token) g = k == 0 ? cb + 1 : cb; /* end of phoneme; the rest at the token */
            targets[(size_t)P * K + k] = g == cb ? -1 : g;
        }
        P++;
    }
}
