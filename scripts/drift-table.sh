#!/usr/bin/env bash
# Does `postload calibrate` cry wolf against a live stub? (docs/calibrate.md, "Does it cry wolf?
# Measured"). Calibrates a release `postload stub` on loopback, one fresh stub per calibration
# (its own seed, full buckets), with calibrate's default calls and models:
#   shipped   the shipped profiles, at --time-scale K            (RUNS calibrations)
#   slower    a copy of mocks/ whose gpt-4o and gpt-4o-mini TTFT p50 are × 1.2 (p95 and the tail
#             as shipped), at --time-scale K                     (RUNS calibrations)
#   shipped-1 the shipped profiles at --time-scale 1             (RUNS_K1 calibrations)
# then tallies each model's verdict against the shipped profile.
#
#   cargo build --release
#   scripts/drift-table.sh collect   # the calibrations, under $OUT (resumable: done ones are kept)
#   scripts/drift-table.sh judge     # the table (no new calibrations)
#   scripts/drift-table.sh overhead  # what this machine adds to a call at K (no calibration)
#
# K (2, the largest docs/calibrate.md allows for a verdict; 5 showed false drift on a busy
# machine), RUNS (20), RUNS_K1 (3), FROM (1: the first calibration's number, so that shards on
# other PORTs can share OUT), TIER (5: the stub's tier; its limits are far above what calibrate
# paces to, so concurrency alone holds calls back and a calibration takes about 3 min / K),
# OUT (target/drift-table), BIN (target/release/postload), PORT (28626), NICE (0: the runs' niceness, e.g. -10 on a shared machine; needs root) and
# VARIANTS (all: e.g. "shipped slower"). Everything goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${K:-2}
RUNS=${RUNS:-20}
RUNS_K1=${RUNS_K1:-3}
FROM=${FROM:-1}
TIER=${TIER:-5}
OUT=${OUT:-target/drift-table}
BIN=${BIN:-target/release/postload}
PORT=${PORT:-28626}
NICE=${NICE:-0}
read -r -a VARIANTS <<<"${VARIANTS:-shipped slower shipped-1}"

# mocks/ with the two calibrated models' TTFT p50 × 1.2, everything else as shipped.
slower_mocks() {
    # Shards start together: each file is written beside and renamed into place, so a stub never
    # reads a half-written or a shipped latency.toml.
    local dir=$OUT/slower-mocks tmp f
    mkdir -p "$dir"
    tmp=$(mktemp -d "$OUT/slower-mocks.XXXXXX")
    cp mocks/*.toml "$tmp"/
    awk '
        /^\[profiles\./ { inside = ($0 == "[profiles.gpt-4o]" || $0 == "[profiles.gpt-4o-mini]") }
        inside && /^ttft_ms = / {
            match($0, /p50 = [0-9.]+/)
            p50 = substr($0, RSTART + 6, RLENGTH - 6)
            $0 = substr($0, 1, RSTART - 1) sprintf("p50 = %.1f", p50 * 1.2) substr($0, RSTART + RLENGTH)
        }
        { print }
    ' mocks/latency.toml >"$tmp/latency.toml"
    for f in "$tmp"/*.toml; do mv -f "$f" "$dir/"; done
    rmdir "$tmp"
    echo "$dir"
}

runs_of() { [ "$1" = shipped-1 ] && echo "$RUNS_K1" || echo "$RUNS"; }
scale_of() { [ "$1" = shipped-1 ] && echo 1 || echo "$K"; }

collect() {
    local v i dir pid rc k mocks=() seed
    for v in "${VARIANTS[@]}"; do
        k=$(scale_of "$v")
        mocks=()
        [ "$v" = slower ] && mocks=(--mocks "$(slower_mocks)")
        for i in $(seq "$FROM" "$(runs_of "$v")"); do
            dir=$OUT/$v/$i
            [ -f "$dir/calibration.json" ] && continue
            rm -rf "$dir" && mkdir -p "$dir"
            seed=$((2600 + i))
            nice -n "$NICE" "$BIN" stub --port "$PORT" --tier "$TIER" --seed "$seed" \
                --time-scale "$k" "${mocks[@]}" >"$dir.stub.log" 2>&1 &
            pid=$!
            for _ in $(seq 1 100); do
                curl -sf "http://127.0.0.1:$PORT/__postload/stats" >/dev/null && break
                sleep 0.1
            done
            rc=0
            nice -n "$NICE" "$BIN" calibrate --base-url "http://127.0.0.1:$PORT/v1" \
                --time-scale "$k" --seed "$seed" --out "$dir" --quiet >"$dir.log" 2>&1 || rc=$?
            echo "$rc" >"$dir.rc"
            kill "$pid" && wait "$pid" 2>/dev/null || true
            echo "$(date -u +%H:%M:%S) $v $i (K = $k, seed $seed): exit $rc, load $(cut -d' ' -f1 /proc/loadavg)"
        done
    done
}

# One line per model of each calibration: variant, K, model, method, verdict, the deciding rows.
verdicts() {
    local v f
    for v in "${VARIANTS[@]}"; do
        for f in "$OUT/$v"/*/calibration.json; do
            [ -f "$f" ] || continue
            jq -r --arg v "$v" '
                .time_scale as $k | .models[] |
                [$v, $k, .model, (.fit.method // "none"),
                 (if .drift == null then "no fit"
                  elif (.drift.fair | not) then "drifted"
                  elif ([.drift.rows[:4][] | .within] | all) then "fits"
                  else "within noise" end),
                 ([.drift.rows[:4][]? | "\(.figure | split(" (")[0]) \(.difference * 1000 | round / 10)%\(if .drifted then "!" elif .within then "" else "~" end)"] | join(", ")),
                 (.drift.rows[0].difference // "nan"), input_filename]
                | @tsv' "$f"
        done
    done
}

judge() {
    echo "| stub serves | K | method | calibrations | fits | within noise | drifted | no fit | TTFT p50 fitted / served − 1, mean |"
    echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    verdicts | awk -F'\t' '
        { key = $1 FS $2 FS $3 FS $4; n[key]++; c[key, $5]++; if (!(key in seen)) { seen[key] = 1; order[++m] = key }
          # the slower stub serves 1.2 × the shipped p50 the difference is taken from
          d[key] += ($1 == "slower" ? (1 + $7) / 1.2 - 1 : $7) }
        END {
            for (j = 1; j <= m; j++) {
                split(order[j], a, FS)
                serves = a[1] == "slower" ? a[3] ", TTFT p50 × 1.2" : a[3] " as shipped"
                printf "| %s | %s | %s | %d | %d | %d | %d | %d | %+.1f %% |\n", serves, a[2], a[4], n[order[j]],
                    c[order[j], "fits"], c[order[j], "within noise"], c[order[j], "drifted"], c[order[j], "no fit"],
                    100 * d[order[j]] / n[order[j]]
            }
        }'
    echo
    verdicts | awk -F'\t' '
        { key = $1 " at K = " $2; cal = key FS $8; if (!(cal in seen)) { seen[cal] = 1; n[key]++ }
          if ($5 == "drifted" && !(cal in hit)) { hit[cal] = 1; h[key]++ }
          if (!(key in k)) { k[key] = 1; order[++m] = key } }
        END { for (j = 1; j <= m; j++) printf "%s: a drift verdict in %d of %d calibrations (either model)\n", order[j], h[order[j]], n[order[j]] }'
    echo
    echo "Each calibration (difference of TTFT p50, p95, speed min, max from the shipped figure;"
    echo "! drifted, ~ outside the 95 % interval only):"
    echo
    verdicts | awk -F'\t' '{ printf "    %s K=%s %-12s %-10s %-13s %s\n", $1, $2, $3, $4, $5, $6 }'
}

# What the client, loopback and the stub's request reading add to a call, in modelled ms: PROBES
# streamed one-token calls to a stub at --time-scale K, each timed to its first byte by curl and
# set against the stub's own modelled time to first token (its x-stub-ttft-ms header) / K. The
# calibration reads this overhead × K as latency: keep it well under 10 % of a TTFT p50.
overhead() {
    local pid i t ttft
    nice -n "$NICE" "$BIN" stub --port "$PORT" --tier "$TIER" --seed 1 --time-scale "$K" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$PORT/__postload/stats" >/dev/null && break
        sleep 0.1
    done
    for i in $(seq 1 "${PROBES:-40}"); do
        t=$(nice -n "$NICE" curl -s -o /dev/null -D "$OUT.headers" -w '%{time_starttransfer}' \
            -H 'authorization: Bearer sk-postload-stub' -H 'content-type: application/json' \
            -d '{"model":"gpt-4o-mini","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"Say hi."}]}' \
            "http://127.0.0.1:$PORT/v1/chat/completions")
        ttft=$(tr -d '\r' <"$OUT.headers" | awk -F': ' 'tolower($1) == "x-stub-ttft-ms" { print $2 }')
        # The first call also opens the connection and warms the stub: not counted.
        [ "$i" -gt 1 ] && awk -v t="$t" -v m="$ttft" -v k="$K" 'BEGIN { printf "%.1f\n", (t * 1000 - m / k) * k }'
    done | sort -n | awk -v k="$K" '{ v[NR] = $1 } END {
        printf "K = %s: %d calls; overhead in modelled ms: median %.1f, p90 %.1f, max %.1f\n",
            k, NR, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR] }'
    kill "$pid" && wait "$pid" 2>/dev/null || true
}

case ${1:-} in
collect) collect ;;
judge) judge ;;
overhead) mkdir -p "$(dirname "$OUT")" && overhead ;;
*) echo "usage: $0 collect|judge|overhead" >&2 && exit 2 ;;
esac
