#!/usr/bin/env bash
# Attention benchmark: forward+backward time and peak memory of every kernel × length × direction
# (release build, one child process per configuration), then — if torch and performer-pytorch are
# importable — performer-pytorch's FastAttention on the same shapes, side by side.
#
#   Benchmarks/attention.sh                 # defaults below
#   REPEATS=3 LENGTHS=512,1024 Benchmarks/attention.sh
#
# Results go to $OUT (default Benchmarks/results): attention.txt / attention.json (Swift),
# performer-pytorch.json and comparison.txt. performer-pytorch is NOT a project dependency:
# `pip install torch performer-pytorch` to enable the comparison, PYTORCH=0 to skip it.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-Benchmarks/results}
REPEATS=${REPEATS:-5}
LENGTHS=${LENGTHS:-512,1024,2048,4096,8192,16384,32768}
HEADS=${HEADS:-4}
HEAD_DIM=${HEAD_DIM:-64}
FEATURES=${FEATURES:-256}
PYTORCH=${PYTORCH:-auto}
mkdir -p "$OUT"

swift build -c release --product protein-tool
BIN="$(swift build -c release --show-bin-path)/protein-tool"

{
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores," \
       "$(grep -o -w -m1 avx2 /proc/cpuinfo || echo no-avx2)," \
       "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# sgemm reference:"
  "$BIN" bench sgemm --sizes 1024 --repeats 5 | sed 's/^/#   /'
} | tee "$OUT/attention.txt"

"$BIN" bench attention --both-directions --lengths "$LENGTHS" --heads "$HEADS" --head-dim "$HEAD_DIM" \
  --features "$FEATURES" --repeats "$REPEATS" --json-output "$OUT/attention.json" | tee -a "$OUT/attention.txt"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/attention.txt"

if [ "$PYTORCH" = 0 ]; then exit 0; fi
if ! python3 -c 'import torch, performer_pytorch' 2>/dev/null; then
  echo "performer-pytorch comparison skipped: pip install torch performer-pytorch (or PYTORCH=0 to silence)" >&2
  exit 0
fi
python3 Benchmarks/performer_pytorch_attention.py --both-directions --lengths "$LENGTHS" --heads "$HEADS" \
  --head-dim "$HEAD_DIM" --features "$FEATURES" --repeats "$REPEATS" --threads 2 \
  --output "$OUT/performer-pytorch.json" --compare "$OUT/attention.json" | tee "$OUT/comparison.txt"
echo "# load average after performer-pytorch: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/comparison.txt"
