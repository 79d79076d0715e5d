#!/usr/bin/env bash
# Training benchmark: tokens/s, peak RSS and FLOP utilisation of one training step for each kernel ×
# objective at L = 1024 (batch 8) and L = 8192 (batch 1), `small` preset (dim 256, 4 layers,
# 4 heads, m = 128), then — if torch and performer-pytorch are importable — performer-pytorch's
# PerformerLM with the same shapes on the same CPU, in the same run, interleaved per shape so both
# see the same machine load. Extra: L = 32768 (favor-relu, MLM, batch 1).
#
#   Benchmarks/train.sh
#   STEPS=2 SHAPES=1024x8 Benchmarks/train.sh
#
# Results: $OUT/train.txt (text) and $OUT/train.json (Swift), $OUT/train-pytorch.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-Benchmarks/results}
STEPS=${STEPS:-3}
SHAPES=${SHAPES:-1024x8 8192x1}
PYTORCH=${PYTORCH:-auto}
mkdir -p "$OUT"

swift build -c release --product protein-tool
BIN="$(swift build -c release --show-bin-path)/protein-tool"
if [ "$PYTORCH" = auto ]; then
  if python3 -c 'import torch, performer_pytorch' 2>/dev/null; then PYTORCH=1; else PYTORCH=0; fi
fi

{
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores," \
       "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/train.txt"
: > "$OUT/train-pytorch.jsonl"
echo "[" > "$OUT/train.json"
first=1
for shape in $SHAPES; do
  length=${shape%x*}; batch=${shape#*x}
  json=$("$BIN" bench train --shapes "$shape" --steps "$STEPS" --format json)
  [ $first = 1 ] || echo "," >> "$OUT/train.json"; first=0
  echo "$json" | sed 's/^\[//; s/\]$//' >> "$OUT/train.json"
  echo "$json" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if "error" in r: print("swift", r["kernel"], r["objective"], r["length"], r["batch"], "FAILED", r["error"]); continue
    print("swift\t%s\t%s\tL=%d\tB=%d\t%.3f s/step\t%.0f tokens/s\t%.0f MB\tutil %.2f" % (r["kernel"], r["objective"], r["length"], r["batch"], r["seconds_per_step"], r["tokens_per_s"], r["peak_rss_bytes"]/1e6, r["utilisation"]))
' | tee -a "$OUT/train.txt"
  if [ "$PYTORCH" = 1 ]; then
    for attention in favor-relu favor-softmax; do
      for objective in mlm causal; do
        line=$(python3 Benchmarks/train_pytorch.py --attention $attention --objective $objective --length "$length" \
                 --batch "$batch" --steps "$STEPS" 2>/dev/null | grep '^{' | tail -n 1 || true)
        # performer-pytorch prints a notice on stdout for causal models; only the JSON line counts.
        [ -n "$line" ] || line='{"error": "failed"}'
        echo "$line" >> "$OUT/train-pytorch.jsonl"
        echo "$line" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
if "error" in r: print("pytorch FAILED"); raise SystemExit
print("pytorch\t%s\t%s\tL=%d\tB=%d\t%.3f s/step\t%.0f tokens/s\t%.0f MB" % (r["attention"], r["objective"], r["length"], r["batch"], r["seconds_per_step"], r["tokens_per_s"], r["peak_rss_bytes"]/1e6))
' | tee -a "$OUT/train.txt"
      done
    done
  fi
done
echo "]" >> "$OUT/train.json"
"$BIN" bench train --shapes 32768x1 --kernels favor-relu --objectives mlm --steps 1 --warmup 0 | sed 's/^/# L=32768: /' | tee -a "$OUT/train.txt"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/train.txt"
