#!/usr/bin/env bash
# Fuzz smoke test for CI: build every fuzz target, then run each one for FUZZ_SECONDS
# (default 20) over a temporary copy of its committed seeds. Fails on any crash, leak,
# timeout or out-of-memory. Needs only the stable toolchain: cargo-fuzz's nightly flags are
# unlocked with RUSTC_BOOTSTRAP=1.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
seconds="${FUZZ_SECONDS:-20}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mapfile -t targets < <(cargo fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
    echo "smoke.sh: no fuzz targets found" >&2
    exit 1
fi

failed=()
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    mkdir -p "$corpus" "$work/artifacts/$target"
    if [ -d "seeds/$target" ]; then
        cp -R "seeds/$target/." "$corpus/"
    fi
    echo "=== $target: ${seconds}s over $(find "$corpus" -type f | wc -l) seeds"
    if ! cargo fuzz run "$target" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1; then
        failed+=("$target")
        for artifact in "$work/artifacts/$target"/*; do
            [ -e "$artifact" ] || continue
            echo "--- $target crashed on $(basename "$artifact") (base64):"
            base64 "$artifact"
        done
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "smoke.sh: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "smoke.sh: ${#targets[@]} targets, ${seconds}s each, no crash"
