#!/usr/bin/env bash
# Approximation error of FAVOR attention vs exact softmax attention: positive (FAVOR+) and
# trigonometric features × orthogonal and iid random matrices, m = 16…256, L = 1024, d = 16,
# 15 random matrices per cell (mean ± std). Two input scales: q, k ~ N(0, 1) (logits with std 1)
# and q, k ~ N(0, 0.5²) (logits with std 0.25). Results go to $OUT (default Benchmarks/results).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-Benchmarks/results}
SEEDS=${SEEDS:-15}
mkdir -p "$OUT"

swift build -c release --product protein-tool
BIN="$(swift build -c release --show-bin-path)/protein-tool"

: > "$OUT/approx.txt"
for std in 1 0.5; do
  "$BIN" bench approx --length 1024 --head-dim 16 --features 16,32,64,128,256 --seeds "$SEEDS" \
    --input-std "$std" | tee -a "$OUT/approx.txt"
  echo | tee -a "$OUT/approx.txt"
  "$BIN" bench approx --length 1024 --head-dim 16 --features 16,32,64,128,256 --seeds "$SEEDS" \
    --input-std "$std" --format json > "$OUT/approx-std$std.json"
done
