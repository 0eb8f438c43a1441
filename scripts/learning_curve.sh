#!/usr/bin/env bash
# Learning curve of a train-codec run: held-out metrics against steps and CPU
# hours, as a Markdown table (one row per evaluation).
#
#   scripts/learning_curve.sh RUN_DIR [KBPS]      # KBPS: 6 unless told (1.5, 3, 6, ...)
#
# Reads RUN_DIR/eval.csv (step,kbps,category,n,mel,stoi,si_snr: written by
# --eval-every / --eval-only) and RUN_DIR/train.csv (its cpu_hours column at
# the logged step nearest below each evaluated step). Mel distance: lower is
# better; STOI: higher is better. Exit status: 0 ok, 1 usage or missing files.
set -euo pipefail
if [[ $# -lt 1 || $# -gt 2 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 1
fi
run=$1 kbps=${2:-6}
for f in eval.csv train.csv; do
    [[ -r "$run/$f" ]] || { echo "learning_curve: $run/$f: missing or unreadable" >&2; exit 1; }
done
awk -F, -v kbps="$kbps" '
    FNR == 1 { next }                                   # headers
    FILENAME ~ /train\.csv$/ { cpu[$1 + 0] = $NF; steps[++ns] = $1 + 0; next }
    $2 + 0 == kbps + 0 {
        s = $1 + 0
        if (!(s in seen)) { seen[s] = 1; order[++ne] = s }
        mel[s, $3] = $5; stoi[s, $3] = $6; n[s, $3] = $4
    }
    END {
        if (!ne) { printf "learning_curve: no evaluation at %s kbps\n", kbps > "/dev/stderr"; exit 1 }
        printf "| step | CPU h | speech mel | speech STOI | music mel | music STOI | effects mel | effects STOI | clips (s/m/e) |\n"
        printf "|---|---|---|---|---|---|---|---|---|\n"
        for (i = 1; i <= ne; i++) {
            s = order[i]; h = "-"
            for (j = 1; j <= ns; j++) if (steps[j] <= s) h = sprintf("%.2f", cpu[steps[j]])
            printf "| %d | %s", s, h
            split("speech music effects", cats, " ")
            for (c = 1; c <= 3; c++) {
                k = cats[c]
                if ((s, k) in mel) printf " | %.3f | %.3f", mel[s, k], stoi[s, k]
                else printf " | - | -"
            }
            printf " | %s/%s/%s |\n", ((s, "speech") in n) ? n[s, "speech"] : 0, ((s, "music") in n) ? n[s, "music"] : 0,
                   ((s, "effects") in n) ? n[s, "effects"] : 0
        }
    }' "$run/train.csv" "$run/eval.csv"
