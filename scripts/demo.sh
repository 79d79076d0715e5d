#!/usr/bin/env bash
# The main job on the bundled data: builds the tool in release mode, summarises the bundled UniProt
# samples (FASTA.gz and a Swiss-Prot flat file) and converts a few entries to JSONL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product protein-tool
tool=.build/release/protein-tool
echo "== protein-tool stats data/uniprot_sample.fasta.gz data/swissprot_sample.dat"
$tool stats data/uniprot_sample.fasta.gz data/swissprot_sample.dat
echo "== protein-tool convert data/swissprot_sample.dat --to jsonl (first 2 entries, sequence shortened)"
$tool convert data/swissprot_sample.dat --to jsonl | head -2 | sed -E 's/"sequence":"([A-Z]{40})[A-Z]*"/"sequence":"\1…"/'
