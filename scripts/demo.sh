#!/usr/bin/env bash
# The main job on the bundled data: builds the tool in release mode and runs it on data/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product protein-tool
tool=.build/release/protein-tool
$tool stats data/uniprot_sample.fasta.gz data/swissprot_sample.dat
