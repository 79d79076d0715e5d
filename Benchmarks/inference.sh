#!/usr/bin/env bash
# Inference throughput against the training forward (issue 5 targets), in one run on one corpus:
#   a. `bench train --forward-only` and the full training step at the model's shape and kernel,
#      SHAPE windows (default 1024x4: the bundled model's training window and batch) → tokens/s;
#      also the forward with every row's logits (`--all-logits`; training computes the logits of
#      its target rows only), for reference. Median of STEPS (default 40) timed steps each;
#   b. `similarity --model MODEL --corpus CORPUS` with the same window length and batch, timed
#      (/usr/bin/time) → tokens/s (windows × window length / wall seconds) and residues/s;
#   c. `score --method wt-marginal CORPUS` (masked LM; a causal model's one-pass log-likelihood
#      otherwise), timed → residues/s (sum of the length column) and tokens/s (+ <cls>, <sep>);
#   d. `bench generate` (default: small preset, L = 1k vs 16k) → µs per residue, flat for FAVOR.
# Targets: similarity and score at ≥ the training forward's tokens/s; generate ×first ≈ 1.
# Wall times of b and c include loading the model and reading the corpus.
#
# The model's shape and kernel are read from MODEL's safetensors header (__metadata__.config);
# DIM LAYERS HEADS FEATURES FFN_DIM override them. Every phase runs with the same OpenBLAS
# thread setting: THREADS=n sets OPENBLAS_NUM_THREADS=n; by default it is unset (all cores).
#
#   Benchmarks/inference.sh
#   CORPUS=data/uniprot_sample.fasta.gz GENERATE_ARGS="--positions 256,1024 --block 64" Benchmarks/inference.sh
#   THREADS=1 Benchmarks/inference.sh
#
# Results: $OUT/inference-YYYY-MM-DD.txt (OUT defaults to Benchmarks/results).
set -euo pipefail
cd "$(dirname "$0")/.."

DEFAULT_CORPUS=/usr/share/doc/mmseqs2/example-data/DB.fasta.gz
CORPUS=${CORPUS:-$DEFAULT_CORPUS}
MODEL=${MODEL:-data/model.safetensors}
OUT=${OUT:-Benchmarks/results}
SHAPE=${SHAPE:-1024x4}
STEPS=${STEPS:-40}
GENERATE_ARGS=${GENERATE_ARGS:-}
mkdir -p "$OUT"

deps=(time)
if [ ! -e "$CORPUS" ] && [ "$CORPUS" = "$DEFAULT_CORPUS" ]; then deps+=(mmseqs2-examples); fi
scripts/install-deps.sh "${deps[@]}"
[ -r "$CORPUS" ] || { echo "cannot read the corpus $CORPUS" >&2; exit 1; }
[ -r "$MODEL" ] || { echo "cannot read the model $MODEL" >&2; exit 1; }
if [ -n "${THREADS:-}" ]; then export OPENBLAS_NUM_THREADS=$THREADS; else unset OPENBLAS_NUM_THREADS; fi

log=$(mktemp)
swift build -c release --product protein-tool ${JOBS:+-j "$JOBS"} >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
rm -f "$log"
BIN="$(swift build -c release --show-bin-path)/protein-tool"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The model's configuration from the safetensors header: 8-byte little-endian length, then JSON.
read -r m_dim m_layers m_heads m_features m_ffn m_attention m_objective < <(python3 - "$MODEL" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
c = json.loads(header["__metadata__"]["config"])
print(c["dim"], c["layers"], c["heads"], c["features"], c["ffn_dim"], c["attention"], "causal" if c["causal"] else "mlm")
EOF
)
[ -n "${m_objective:-}" ] || { echo "cannot read the model configuration from $MODEL" >&2; exit 1; }
DIM=${DIM:-$m_dim} LAYERS=${LAYERS:-$m_layers} HEADS=${HEADS:-$m_heads}
FEATURES=${FEATURES:-$m_features} FFN_DIM=${FFN_DIM:-$m_ffn}
shape_flags=(--dim "$DIM" --layers "$LAYERS" --heads "$HEADS" --features "$FEATURES" --ffn-dim "$FFN_DIM")
length=${SHAPE%x*}; batch=${SHAPE#*x}

results="$OUT/inference-$(date +%F).txt"
note() { echo "$*" | tee -a "$results"; }
: > "$results"
note "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
note "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores," \
     "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
note "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (modified)')"
note "# model: $MODEL ($m_attention $m_objective; dim $DIM, $LAYERS layers, $HEADS heads, m $FEATURES, ffn $FFN_DIM)"
note "# corpus: $CORPUS; window ${length} tokens × batch $batch; OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}"
note "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# timed NAME COMMAND...: runs COMMAND with stdout to $scratch/NAME.out, stderr to $scratch/NAME.err
# and "wall user sys maxrss_kb" in $scratch/NAME.time.
timed() {
  local name=$1; shift
  note "## $*"
  note "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f '%e %U %S %M' -o "$scratch/$name.time" "$@" >"$scratch/$name.out" 2>"$scratch/$name.err" \
    || { cat "$scratch/$name.err" >&2; exit 1; }
  note "# wall, user, sys seconds, peak RSS KiB: $(cat "$scratch/$name.time")"
}

# a. training forward and full step
train=("$BIN" bench train --kernels "$m_attention" --objectives "$m_objective" --shapes "$SHAPE" --steps "$STEPS"
       "${shape_flags[@]}" --format json)
timed forward "${train[@]}" --forward-only
note "$(cat "$scratch/forward.out")"
timed forward_all "${train[@]}" --forward-only --all-logits
note "$(cat "$scratch/forward_all.out")"
timed step "${train[@]}"
note "$(cat "$scratch/step.out")"

# b. similarity
timed similarity "$BIN" similarity --model "$MODEL" --corpus "$CORPUS" --out "$scratch/similarity.tsv" \
  --seq-len "$length" --batch "$batch"
note "$(cat "$scratch/similarity.out")"

# c. score: wt-marginal for a masked LM, the one-pass log-likelihood for a causal LM
method=(--method wt-marginal)
[ "$m_objective" = causal ] && method=()
timed score "$BIN" score --model "$MODEL" "${method[@]}" "$CORPUS"
[ -s "$scratch/score.err" ] && note "# stderr: $(tr '\n' ' ' < "$scratch/score.err")"

# residues as stored in the corpus, for similarity's residues/s
"$BIN" stats --format json "$CORPUS" > "$scratch/stats.json"

# d. generation (GENERATE_ARGS is split into words on purpose)
# shellcheck disable=SC2086
timed generate "$BIN" bench generate --format json $GENERATE_ARGS
note "$(cat "$scratch/generate.out")"

note "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$scratch" "$m_objective" <<'EOF' | tee -a "$results"
import json, re, sys
scratch, objective = sys.argv[1], sys.argv[2]
def load(name): return open(f"{scratch}/{name}").read()
def wall(name): return float(load(f"{name}.time").split()[0])
forward = json.loads(load("forward.out"))[0]
step = json.loads(load("step.out"))[0]
if "error" in forward or "error" in step: sys.exit("bench train failed: " + str(forward.get("error") or step.get("error")))
fwd = forward["tokens_per_s"]
fwd_all = json.loads(load("forward_all.out"))[0].get("tokens_per_s", float("nan"))
print("# summary (tokens/s = tokens the model read per wall second; ratios to the training forward,")
print("# and in brackets to the forward computing every row's logits)")
print(f"training forward ({forward['kernel']} {forward['objective']}, {forward['length']}x{forward['batch']}): {fwd:.0f} tokens/s")
print(f"forward with every row's logits: {fwd_all:.0f} tokens/s ({fwd_all / fwd:.2f}x the training forward)")
print(f"training step (forward + backward + AdamW): {step['tokens_per_s']:.0f} tokens/s ({step['tokens_per_s'] / fwd:.2f}x the forward)")

m = re.search(r"(\d+) windows of (\d+) tokens, (\d+) proteins", load("similarity.out"))
windows, window, proteins = (int(x) for x in m.groups())
residues = sum(r["residues"] for r in json.loads(load("stats.json")))
t = wall("similarity")
print(f"similarity: {windows} windows x {window} = {windows * window} tokens ({proteins} proteins, {residues} residues) "
      f"in {t:.2f} s: {windows * window / t:.0f} tokens/s = {windows * window / t / fwd:.2f}x forward "
      f"({windows * window / t / fwd_all:.2f}x); "
      f"{residues / t:.0f} residues/s")

rows = [line.split("\t") for line in load("score.out").splitlines()]
header, rows = rows[0], rows[1:]
lengths = [int(r[header.index("length")]) for r in rows]
scored_residues, tokens = sum(lengths), sum(lengths) + 2 * len(lengths)
t = wall("score")
name = "score wt-marginal" if objective == "mlm" else "score (causal log-likelihood)"
print(f"{name}: {len(rows)} proteins, {scored_residues} residues ({tokens} tokens with <cls>, <sep>) in {t:.2f} s: "
      f"{scored_residues / t:.0f} residues/s = {scored_residues / t / fwd:.2f}x forward "
      f"({scored_residues / t / fwd_all:.2f}x); {tokens / t:.0f} tokens/s")

generate = json.loads(load("generate.out"))
for kernel in dict.fromkeys(r["kernel"] for r in generate):
    parts = []
    for r in (r for r in generate if r["kernel"] == kernel):
        if r["us_per_step"] is None: parts.append(f"L={r['position']} skipped")
        else: parts.append(f"L={r['position']} {r['us_per_step']:.0f} us ({r['ratio_to_first']:.2f}x, state {r['state_bytes'] / 1024:.0f} KiB)")
    print(f"generate {kernel}: " + "; ".join(parts))
EOF
echo "results: $results" >&2
