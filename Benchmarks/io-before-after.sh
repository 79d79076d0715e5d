#!/usr/bin/env bash
# Old binary (commit c62d2fd, before the fused path) and new binary, alternated on the same files.
set -euo pipefail
# Usage: Benchmarks/io-before-after.sh OLD_BINARY [WORKDIR]  (OLD_BINARY: a release protein-tool built at c62d2fd)
old=${1:?old protein-tool binary}
cd "$(dirname "$0")/.."
new=$PWD/.build/release/protein-tool
work=${2:-/tmp/protein-performer-io}
echo "# $(date -u +%Y-%m-%dT%H:%MZ) old = c62d2fd (before), new = $(git rev-parse --short HEAD)"
for round in 1 2; do
  for f in db20.fasta db20.fasta.gz; do
    for which in old new; do
      bin=$old; [ $which = new ] && bin=$new
      echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
      echo "## round $round $which: protein-tool bench io $f --repeats 7"
      "$bin" bench io "$work/$f" --repeats 7
    done
  done
done
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
