#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 20) on the stable toolchain,
# starting from the seed corpora in fuzz/seeds/. A crash stops the run with the target's
# artifact under fuzz/artifacts/ and a non-zero exit.
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-20}"
shift || true

if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked cargo-fuzz
fi
# cargo-fuzz passes a few -Z flags; RUSTC_BOOTSTRAP lets the stable compiler take them. No
# sanitizer: the crate forbids unsafe code, and the coverage-guided search is what matters.
export RUSTC_BOOTSTRAP=1
FUZZ=(cargo fuzz run --sanitizer none --release --debug-assertions)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build --sanitizer none --release --debug-assertions

for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"   # grows across runs; ignored by git
    mkdir -p "$corpus"
    log="$(mktemp)"
    # The seeds are read-only input: new inputs go to the working corpus.
    if ! "${FUZZ[@]}" "$target" "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target failed" >&2
        exit 1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
    echo "$target: ${runs:-?} executions in ${SECONDS_EACH}s, coverage ${cov:-?}, no crash"
    rm -f "$log"
done
