#!/usr/bin/env bash
# Is `postload compare` quiet on unchanged code and loud on a regression? (docs/gates.md, "How
# reliable compare is"). Runs the example service's service gate scenarios PAIRS times per
# variant with a release build, then compares each baseline run with the same round's unchanged
# run and with each injected regression, and prints how many pairs reported a regression.
#
#   cargo build --release
#   scripts/compare-noise.sh collect   # PAIRS × 7 runs (about 10 s each), results under $OUT
#   scripts/compare-noise.sh judge     # the table (re-run it after changing compare: no new runs)
#
# PAIRS (20), OUT (target/compare-noise), BIN (target/release/postload), TOLERANCE (compare's
# default when unset), PORT (28400: the service on PORT, the stub on PORT + 1) and NICE (the
# runs' niceness, e.g. -10 to put them ahead of other work on a shared machine, as a CI runner
# that runs only this job would; needs root), REPEAT (1: each run's --repeat; a service's
# timings need 4 runs a side, so REPEAT=4 to judge them) and VARIANTS (all: e.g. "base
# unchanged memory-ms"). The judge step needs no new runs, nor a release build: BIN may be
# target/debug/postload.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-20}
OUT=${OUT:-target/compare-noise}
BIN=${BIN:-target/release/postload}
PORT=${PORT:-28400}
NICE=${NICE:-0}
REPEAT=${REPEAT:-1}
read -r -a VARIANTS <<<"${VARIANTS:-base unchanged extra-call prompt-scale memory-ms status-on-429 retry-none}"

flags() {
    case $1 in
    base | unchanged) ;;
    extra-call) echo --extra-call ;;
    prompt-scale) echo --prompt-scale 1.3 ;;
    memory-ms) echo --memory-ms 70 ;;
    status-on-429) echo --status-on-429 500 ;;
    retry-none) echo --retry none ;;
    esac
}

collect() {
    local i v dir pid rc
    for i in $(seq 1 "$PAIRS"); do
        for v in "${VARIANTS[@]}"; do
            dir=$OUT/$v/$i
            [ -f "$dir"/*/result.json ] 2>/dev/null && continue
            rm -rf "$dir" && mkdir -p "$dir"
            # shellcheck disable=SC2046
            nice -n "$NICE" "$BIN" example-service --port "$PORT" \
                --base-url "http://127.0.0.1:$((PORT + 1))/v1" $(flags "$v") \
                >"$dir.service.log" 2>&1 &
            pid=$!
            rc=0
            nice -n "$NICE" "$BIN" run --target "http://127.0.0.1:$PORT" --with-stub $((PORT + 1)) \
                --wait-for-target 30 --latency-ms 50 --quiet --gate gates/service.toml \
                --repeat "$REPEAT" \
                --scenario scenarios/service-check.toml --scenario scenarios/service-429.toml \
                --report-dir "$dir" >"$dir.log" 2>&1 || rc=$?
            echo "$rc" >"$dir.rc"
            kill "$pid" && wait "$pid" 2>/dev/null || true
            echo "$(date -u +%H:%M:%S) pair $i $v: gate exit $rc, $(ls "$dir"/*/result.json 2>/dev/null || echo 'no result')"
        done
    done
}

judge() {
    local v i n flagged metrics tol=()
    [ -n "${TOLERANCE:-}" ] && tol=(--tolerance "$TOLERANCE")
    gate_failed() { cat "$OUT/$1"/*.rc 2>/dev/null | grep -vc '^0$' || true; }
    echo "baseline runs: $(find "$OUT/base" -name result.json | wc -l), the shipped gate failed $(gate_failed base)"
    echo
    echo "| new run | pairs | compare reported a regression | metrics reported (pairs) | shipped gate failed (runs) |"
    echo "| --- | ---: | ---: | --- | ---: |"
    for v in "${VARIANTS[@]:1}"; do
        n=0 flagged=0 metrics=""
        for i in $(seq 1 "$PAIRS"); do
            local b=("$OUT"/base/"$i"/*/result.json) r=("$OUT/$v/$i"/*/result.json)
            [ -f "${b[0]}" ] && [ -f "${r[0]}" ] || continue
            n=$((n + 1))
            if ! "$BIN" compare "${tol[@]}" "${b[0]}" "${r[0]}" --json "$OUT/$v/$i.deltas.json" \
                >"$OUT/$v/$i.compare.md"; then
                flagged=$((flagged + 1))
            fi
            metrics+=$(jq -r '.deltas[] | select(.verdict == "regression") | "\(.case): \(.metric)"' \
                "$OUT/$v/$i.deltas.json")$'\n'
        done
        echo "| $v | $n | $flagged | $(printf '%s' "$metrics" | sed '/^$/d' | sort | uniq -c |
            sort -rn | awk '{c=$1; $1=""; printf "%s%s (%d)", (NR>1?", ":""), substr($0,2), c}') | $(gate_failed "$v") |"
    done
}

case ${1:-} in
collect) collect ;;
judge) judge ;;
*) echo "usage: $0 collect|judge" >&2 && exit 2 ;;
esac
