#!/bin/sh
# CLI test of sonotok generate, with tiny LMs made by train-lm (random
# weights, --run-steps 0) for the tiny test codecs: rendered length, thread
# and -n determinism, the summary line, a codec without a live decoder
# (rendered at the end), and every bad input: one line, the documented exit
# code, no output and no temporary file left, inputs unchanged.
#
#   test_generate.sh SONOTOK FIXTURE SOURCE_ROOT
TEST_NAME=cli-generate
. "$(dirname "$0")/../sh_common.sh"
SONOTOK=$(abs "$1")
FIX=$(abs "$2")
SRC=$(abs "$3")
C24=$SRC/tests/codec/data/tiny24.th   # 8 kHz mono, hop 8: 1000 frames/s, causal
C48=$SRC/tests/codec/data/tiny48.th   # 8 kHz stereo, segmented: no live decoder

absent() { [ ! -e "$1" ]; }
present() { [ -s "$1" ]; }
err_has() { grep -q -- "$1" "$W/err"; }
no_temps() { [ -z "$(find "$1" -name '*.sonotok-*' 2>/dev/null)" ]; }
# duration in whole milliseconds, rate, channels
audio_info() { "$FIX" samples "$1" | { read -r n r c && echo "$((n * 1000 / r)) $r $c"; }; }
info_is() { [ "$(audio_info "$1")" = "$2" ]; }
F() { "$FIX" "$@" || { echo "fixture failed: $*"; exit 1; }; }

cd "$W" || exit 1
F wav a.wav 1 8000 1 300
F wav b.wav 1.5 8000 1 500
F wav c.wav 1 8000 1 900
F wav p.wav 0.0125 8000 1 440   # 100 samples: 12 whole frames
F wav short.wav 0.0005 8000 1 440
echo "just some text" >notes.txt
printf '{"path":"a.wav","category":"speech","duration":1,"text":"one two"}\n{"path":"b.wav","category":"music","duration":1.5,"caption":"a low hum"}\n{"path":"c.wav","category":"effects","duration":1,"caption":"a beep"}\n' >m.jsonl
L="$SONOTOK train-lm -q --manifest m.jsonl -t 1 --vocab 300 --layers 1 --width 16 --heads 2 --context 64 --batch 2 --run-steps 0"
run 0 "an LM for tiny24" $L -o r24 --codec "$C24" --codebooks 3 --export lm.safetensors || exit 1
run 0 "an LM for tiny48" $L -o r48 --codec "$C48" --codebooks 2 --export lm48.safetensors || exit 1
cp lm.safetensors lm.keep
cp p.wav p.keep

G="$SONOTOK generate -m lm.safetensors --codec $C24"
# 20 frames of 8 samples at 8 kHz: 20 ms, whatever the LM draws
run 0 "continue a prompt" $G --task continue --prompt p.wav -d 0.02 --min-duration 0.02 -t 1 -o c1.wav
expect "continue: frames x hop samples" info_is c1.wav "20 8000 1"
expect "continue: the summary line" err_has "frames/s, .*x realtime"
run 0 "the same on 2 threads" $G --task continue --prompt p.wav -d 0.02 --min-duration 0.02 -t 2 -o c2.wav
expect "2 threads: the same audio" cmp -s c1.wav c2.wav
run 0 "-n 3" $G --task continue --prompt p.wav -d 0.02 --min-duration 0.02 -t 1 -n 3 -o c3.wav
expect "-n 3: three files" present c3-2.wav
expect "-n 3: no OUT itself" absent c3.wav
expect "-n 3: the first is -n 1's" cmp -s c3-0.wav c1.wav
expect "-n 3: candidates differ" sh -c '! cmp -s c3-0.wav c3-1.wav'
run 0 "--f16" $G --f16 --task continue --prompt p.wav -d 0.02 --min-duration 0.02 -t 1 -o h1.wav
expect "--f16: frames x hop samples" info_is h1.wav "20 8000 1"
run 0 "--f16 on 2 threads, -n 2" $G --f16 --task continue --prompt p.wav -d 0.02 --min-duration 0.02 -t 2 -n 2 -o h2.wav
expect "--f16: the same audio on 2 threads and as output 0 of 2" cmp -s h1.wav h2-0.wav
run 0 "another seed" $G --task continue --prompt p.wav -d 0.02 --min-duration 0.02 --seed 9 -o c4.wav
expect "another seed, other audio" sh -c '! cmp -s c4.wav c1.wav'
run 0 "-q" $G -q --task continue -d 0.01 -o q.wav
expect "-q: nothing on stderr" [ ! -s "$W/err" ]
run 0 "from nothing, to the context's end or the end token" $G --task continue -o n.wav
run 0 "tta with guidance" $G --task tta "a low hum" -d 0.02 --min-duration 0.02 -o t1.wav
expect "tta: frames x hop samples" info_is t1.wav "20 8000 1"
run 0 "tta, cfg 1 (the caption alone)" $G --task tta "a low hum" -d 0.02 --min-duration 0.02 --cfg 1 -o t2.wav
expect "cfg 1 is not cfg 3" sh -c '! cmp -s t1.wav t2.wav'
run 0 "tta with a prompt, greedy" $G --task tta "a beep" --prompt p.wav -d 0.02 --temperature 0 -o t3.wav
run 0 "flac by extension" $G --task continue -d 0.02 --min-duration 0.02 -o f.flac
expect "flac: 20 ms" info_is f.flac "20 8000 1"
run 0 "stdout" sh -c "$G -q --task continue -d 0.02 --min-duration 0.02 -o - > s.wav"
expect "stdout: the audio of a file" cmp -s s.wav "$( $G -q --task continue -d 0.02 --min-duration 0.02 -o s2.wav && echo s2.wav)"
run 0 "a codec without a live decoder: rendered at the end" "$SONOTOK" generate -m lm48.safetensors --codec "$C48" \
    --task continue -d 0.02 --min-duration 0.02 -o seg.wav
expect "segmented codec: 16 frames of 10 samples, stereo" info_is seg.wav "20 8000 2"

# bad command lines: exit 1, one message (then the usage hint), nothing written
one_message() { [ "$(grep -c '^sonotok' "$W/err")" -eq 1 ]; }
for a in "--task sing" "--task tts" "--task tta" "--task continue hello" "-d 0" "-d -1" "-d nan" "-d inf" \
    "-d 601" "-d abc" "--min-duration -1" "-n 0" "-n 9" "-n x" "--top-p 0" "--top-p 1.5" "--temperature -1" \
    "--top-k -5" "--cfg nan" "--seed -3" "-f mp3" "-d 0.01 --min-duration 0.02"; do
    case $a in --task*) t= ;; *) t="--task continue" ;; esac
    run 1 "bad: $a" $G $t $a -o x.wav
    expect "bad: $a: one message" one_message
done
run 1 "no --task" $G -o x.wav
run 1 "tta with an empty caption" $G --task tta "" -o x.wav
expect "empty caption: named" err_has "needs a caption"
run 1 "two TEXT operands" $G --task tta "a" "b" -o x.wav
run 1 "no -o" $G --task continue
run 1 "-n 2 to stdout" $G --task continue -n 2 -o -
run 1 "an OUT of no audio format" $G --task continue -o x.mp3
expect "bad command lines: nothing written" absent x.wav

# bad data: exit 2
run 2 "a prompt that is not audio" $G --task continue --prompt notes.txt -o x.wav
expect "not audio: one line" one_line_err
run 2 "a prompt shorter than one frame" $G --task continue --prompt short.wav -o x.wav
expect "short prompt: one line, says so" err_has "shorter than one codec frame"
run 2 "a prompt longer than the context" $G --task continue --prompt a.wav -o x.wav
expect "long prompt: one line" one_line_err
run 2 "-d beyond the context" $G --task continue --prompt p.wav -d 0.1 -o x.wav
expect "-d beyond the context: says what fits" err_has "it holds 0.049 s"
run 2 "a caption over half the context" $G --task tta "$(printf 'zq%.0s' 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18)" -o x.wav
expect "long caption: one line" one_line_err
run 2 "OUT is the prompt" $G --task continue --prompt p.wav -o p.wav
expect "OUT is the prompt: unchanged" cmp -s p.wav p.keep
run 2 "OUT is the LM" $G --task continue -f wav -o lm.safetensors
expect "OUT is the LM: unchanged" cmp -s lm.safetensors lm.keep

# models: exit 4
run 4 "no default LM" "$SONOTOK" generate --task continue -o x.wav
expect "no default LM: says so" err_has "no default LM installed"
run 4 "an LM file that is not there" "$SONOTOK" generate -m nothere.safetensors --task continue -o x.wav
run 4 "an LM for another codec" "$SONOTOK" generate -m lm.safetensors --codec "$C48" --task continue -o x.wav
expect "another codec: one line" one_line_err
expect "another codec: names both" err_has "trained for codec \"tiny24\""
run 4 "the LM's codec not installed" "$SONOTOK" generate -m lm.safetensors --task continue -o x.wav
expect "codec not installed: --codec suggested" err_has "give it with --codec"
head -c 2000 lm.safetensors >trunc.safetensors
run 4 "a truncated LM file" "$SONOTOK" generate -m trunc.safetensors --codec "$C24" --task continue -o x.wav
expect "truncated: one line" one_line_err
cp lm.safetensors bad.safetensors
printf 'XXXXXXXX' | dd of=bad.safetensors bs=1 seek=12 conv=notrunc 2>/dev/null
run 4 "a corrupt LM file" "$SONOTOK" generate -m bad.safetensors --codec "$C24" --task continue -o x.wav
expect "corrupt: one line" one_line_err
run 4 "a codec file as the LM" "$SONOTOK" generate -m "$C24" --codec "$C24" --task continue -o x.wav
expect "failures: no output" absent x.wav
expect "inputs unchanged" cmp -s lm.safetensors lm.keep
expect "no temporary files" no_temps "$W"
# text to speech: an LM with phonemes (train-lm on TTS records, random weights)
F wav s1.wav 0.03 8000 1 300    # 30 frames
F wav s2.wav 0.025 8000 1 500   # 25 frames
printf '%s\n' '{"path":"s1.wav","text":"Hi.","lang":"en","voice":"flite/rms","tokens":[72,155,2],"start_frame":[0,10,20],"end_frame":[10,20,30]}' \
    '{"path":"s2.wav","text":"Bob.","lang":"en","voice":"espeak/en+m1","tokens":[79,200,79,2],"start_frame":[0,5,5,15],"end_frame":[5,5,15,24]}' >tts.jsonl
run 0 "a TTS LM for tiny24" $L --manifest tts.jsonl -o rtts --codec "$C24" --codebooks 3 --context 256 --export tts.safetensors || exit 1
cp tts.safetensors tts.keep
S="$SONOTOK generate -m tts.safetensors --codec $C24 --task tts"
run 0 "tts" $S "Hi, Bob." -t 1 -o s-1.wav
expect "tts: audio of whole frames" sh -c "n=\$('$FIX' samples s-1.wav | cut -d' ' -f1); [ \$n -gt 0 ] && [ \$((n % 8)) -eq 0 ]"
run 0 "tts on 2 threads, the other voice named" $S "Hi, Bob." --voice espeak/en+m1 --lang en -t 2 -o s-2.wav
expect "tts: the first voice is the default" cmp -s s-1.wav s-2.wav
run 0 "tts, voice flite/rms" $S "Hi, Bob." --voice flite/rms -o s-3.wav
expect "tts: another voice, other audio" sh -c '! cmp -s s-1.wav s-3.wav'
run 0 "tts, two sentences" $S "Hi, Bob. See you." -o s-4.wav
run 2 "tts: empty text" $S "" -o x.wav
expect "empty text: one line" one_line_err
expect "empty text: says so" err_has "empty text"
run 2 "tts: nothing to pronounce" $S "... ???" -o x.wav
expect "nothing to pronounce: says so" err_has "no pronounceable content"
run 2 "tts: unknown language" $S "Hi." --lang xx -o x.wav
expect "unknown language: one line" one_line_err
expect "unknown language: lists the LM's" err_has 'unknown language "xx"; LM "tts" knows: en'
run 2 "tts: unknown voice" $S "Hi." --voice nobody -o x.wav
expect "unknown voice: lists the LM's" err_has 'knows: espeak/en+m1, flite/rms'
run 2 "tts: overlong text" $S "$(head -c 17000 /dev/zero | tr '\0' 'a')" -o x.wav
expect "overlong text: one line" one_line_err
run 4 "tts: an LM without phonemes" $G --task tts "Hi." -o x.wav
expect "no phonemes: one line" one_line_err
expect "no phonemes: says so" err_has "not trained for text to speech"
for a in "--task tts" "--task tts -d 1 Hi" "--task tts --prompt p.wav Hi" "--task tts --cfg 2 Hi" "--task tta hum --voice a" \
    "--task continue --lang en"; do
    run 1 "bad: $a" $G $a -o x.wav
    expect "bad: $a: one message" one_message
done
expect "tts failures: no output" absent x.wav
expect "tts: the LM unchanged" cmp -s tts.safetensors tts.keep
# interrupted while it writes: nothing left behind
mkdir -p sig
run 0 "a longer LM" $L -o rbig --codec "$C24" --codebooks 3 --layers 2 --width 128 --context 4096 --export big.safetensors
"$SONOTOK" generate -q -m big.safetensors --codec "$C24" --task continue -d 4 --min-duration 4 -t 1 -o sig/x.wav 2>/dev/null &
pid=$!
n=0
while [ $n -lt 200 ] && [ -z "$(ls -A sig)" ]; do sleep 0.05; n=$((n + 1)); done
kill -INT $pid
wait $pid
rc=$?
CHECKS=$((CHECKS + 1))
[ $rc -gt 128 ] || fail "SIGINT: generate was not cut short (exit $rc)"
expect "SIGINT: nothing left in the output folder" [ -z "$(ls -A sig)" ]

# bench --generate: a random LM of a given size, or an LM file
run 0 "bench --generate, a random LM" "$SONOTOK" bench --generate --lm-config 32x1x2x256 --codec "$C24" -s 0.1 -t 1
expect "bench --generate: both rates" sh -c "grep -q 'no CFG (batch 1): *100 frames' '$W/out' && grep -q 'CFG (batch 2): *100 frames' '$W/out'"
expect "bench --generate: the sgemm yardstick" grep -q '^sgemm ' "$W/out"
run 0 "bench --generate -m LM --json" "$SONOTOK" bench --generate -m lm.safetensors --codec "$C24" -s 0.1 -t 1 --json
expect "bench --generate --json: one object" grep -q '^{"mode": "generate", "lm": "lm", "random": false' "$W/out"
run 1 "bench --generate, both -m and --lm-config" "$SONOTOK" bench --generate -m lm.safetensors --lm-config 32x1
run 1 "bench --generate, a bad --lm-config" "$SONOTOK" bench --generate --lm-config 32
run 1 "bench --lm-config without --generate" "$SONOTOK" bench --lm-config 32x1
echo "cli generate: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
