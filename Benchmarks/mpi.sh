#!/usr/bin/env bash
# Data-parallel scaling on this machine (MPI over loopback / shared memory): `train --distributed`
# with 1 and 2 ranks, one core each (OPENBLAS_NUM_THREADS=1, each rank bound to its own core by
# mpirun), `small` preset (dim 256, 4 layers, 4 heads, m 128), favor-relu MLM, L = 1024, batch
# $BATCH windows per rank (so 2 ranks train on twice the tokens per step: weak scaling). From rank
# 0's metrics.jsonl (one line per step): tokens/s and the gradient all-reduce seconds per step
# (`allreduce_s`, waiting for the slower rank included), medians over steps 2..$STEPS. Then
# `bench allreduce` times the all-reduce alone (after a barrier) for the presets' gradient sizes.
# The 1- and 2-rank runs alternate for $ROUNDS rounds, so that both see the same machine load;
# the speed-up is reported per round (paired) and as the median.
#
#   Benchmarks/mpi.sh
#   STEPS=4 BATCH=4 ROUNDS=1 Benchmarks/mpi.sh
#
# Results: $OUT/mpi.txt (summary), $OUT/mpi-N-ranks-rR.jsonl (metrics of each run).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-Benchmarks/results}
STEPS=${STEPS:-6}
BATCH=${BATCH:-8}
ROUNDS=${ROUNDS:-3}
LENGTH=${LENGTH:-1024}
CORPUS=${CORPUS:-data/uniprot_sample.fasta.gz}
mkdir -p "$OUT"

scripts/install-deps.sh --mpi
export PROTEIN_PERFORMER_MPI=1 OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
swift build -c release --product protein-tool
BIN="$(swift build -c release --show-bin-path)/protein-tool"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

{
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
  echo "# $(mpirun --version | head -1); small preset, favor-relu MLM, L=$LENGTH, batch $BATCH per rank, $STEPS steps, OPENBLAS_NUM_THREADS=1, --bind-to core"
} | tee "$OUT/mpi.txt"

summary() {  # ranks, metrics file → one line: median tokens/s, step s, allreduce s, share
  python3 - "$1" "$2" "$BATCH" "$LENGTH" <<'EOF'
import json, statistics, sys
ranks, path, batch, length = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(path) if l.strip()]
rows = [r for r in rows if r["step"] >= 2] or rows        # step 1 includes the warm-up
tps = statistics.median(r["tokens_per_s"] for r in rows)
step = ranks * batch * length / tps
ar = statistics.median(r.get("allreduce_s", 0.0) for r in rows)
print(f"ranks={ranks}\ttokens/s={tps:.0f}\tstep_s={step:.3f}\tallreduce_s={ar:.4f}\tallreduce_share={100 * ar / step:.2f}%"
      f"\tper-step tokens/s: {[round(r['tokens_per_s']) for r in rows]}")
EOF
}

for round in $(seq "$ROUNDS"); do
for ranks in 1 2; do
  echo "# round $round, load average before $ranks rank(s): $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/mpi.txt"
  rm -rf "$scratch/run$ranks"
  # bash's `time` counts the CPU seconds of every rank (mpirun waits for them): with the wall
  # time it shows how much of a core each rank really got on a shared machine.
  TIMEFORMAT="%U %S %R"
  { time mpirun --bind-to core --map-by core -np "$ranks" "$BIN" train --corpus "$CORPUS" --out "$scratch/run$ranks" \
      --preset small --attention favor-relu --objective mlm --seq-len "$LENGTH" --batch "$BATCH" --steps "$STEPS" \
      --log-every 1 --eval-every 0 --eval-windows 1 --checkpoint-every 0 --distributed --quiet ; } 2> "$scratch/time$ranks"
  cp "$scratch/run$ranks/metrics.jsonl" "$OUT/mpi-$ranks-ranks-r$round.jsonl"
  summary "$ranks" "$scratch/run$ranks/metrics.jsonl" | tee -a "$OUT/mpi.txt"
  read -r user sys real < <(tail -1 "$scratch/time$ranks")
  tokens=$((STEPS * BATCH * LENGTH * ranks))
  echo "# $ranks rank(s): wall $real s, CPU $user s user + $sys s system = $(python3 -c "print(f'{($user + $sys) / ($real * $ranks):.2f} of a core per rank, {$tokens / ($user + $sys):.0f} tokens per CPU second')")" | tee -a "$OUT/mpi.txt"
done
done
python3 - "$OUT/mpi.txt" <<'EOF' | tee -a "$OUT/mpi.txt"
import re, statistics, sys
runs = re.findall(r"ranks=(\d)\ttokens/s=(\d+)", open(sys.argv[1]).read())
one = [float(t) for r, t in runs if r == "1"]
two = [float(t) for r, t in runs if r == "2"]
ratios = [b / a for a, b in zip(one, two)]
print("# speed-up 2 ranks / 1 rank per round: " + ", ".join(f"{x:.2f}x" for x in ratios)
      + f"; median {statistics.median(ratios):.2f}x (target ≥ 1.7x)")
EOF
echo "# bench allreduce (each call after a barrier), 2 ranks:" | tee -a "$OUT/mpi.txt"
mpirun --bind-to core --map-by core -np 2 "$BIN" bench allreduce --repeats 20 | tee -a "$OUT/mpi.txt"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/mpi.txt"
