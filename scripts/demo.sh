#!/usr/bin/env bash
# The main job on the bundled data, in a few minutes:
#   1. build the tool (release) and summarise the bundled UniProt sample;
#   2. train a tiny Performer-ReLU masked LM on it for 60 s (live progress line), evaluate it;
#   3. fill three masked residues of a sample protein with the bundled pretrained model;
#   4. read the amino-acid similarity matrix out of the bundled model's attention, draw it, and
#      correlate it with BLOSUM62.
# Outputs go to demo-output/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product protein-tool
tool=.build/release/protein-tool
out=demo-output
rm -rf "$out" && mkdir -p "$out"

echo "== protein-tool stats data/uniprot_sample.fasta.gz"
$tool stats data/uniprot_sample.fasta.gz | cut -f1-10

echo
echo "== protein-tool train (tiny favor-relu MLM, 60 s on data/uniprot_sample.fasta.gz)"
$tool train --corpus data/uniprot_sample.fasta.gz --out "$out/run" --preset tiny --seq-len 256 --batch 8 \
  --time-limit 60 --warmup 50 --lr 2e-3 --log-every 20 --eval-every 0 --eval-windows 64
echo "== protein-tool eval (held-out proteins of the sample)"
$tool eval --model "$out/run/model.safetensors" data/uniprot_sample.fasta.gz

echo
# The first 120 residues of the sample's first protein, with residues 20, 50 and 90 masked as '#'.
protein=$(gzip -dc data/uniprot_sample.fasta.gz | awk '/^>/ {n++; next} n == 1' | tr -d '\n' | cut -c1-120)
masked=$(echo "$protein" | sed -E 's/^(.{19})./\1#/; s/^(.{49})./\1#/; s/^(.{89})./\1#/')
echo "== protein-tool fill (bundled model data/model.safetensors); the true residues are" \
  "$(echo "$protein" | cut -c20) $(echo "$protein" | cut -c50) $(echo "$protein" | cut -c90)"
$tool fill "$masked" --top-k 3

echo
echo "== protein-tool similarity (bundled model, attention over data/uniprot_sample.fasta.gz)"
$tool similarity --corpus data/uniprot_sample.fasta.gz --out "$out/similarity.ncbi" --format ncbi \
  --heatmap "$out/similarity.svg"
echo "wrote $out/similarity.ncbi and $out/similarity.svg"
