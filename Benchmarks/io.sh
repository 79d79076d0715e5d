#!/usr/bin/env bash
# Parse + tokenise throughput (two-pass and fused) against zlib inflate alone and `seqkit stats -j 1`, on DB.fasta.gz
# (Debian mmseqs2-examples: 20,000 UniProt proteins) concatenated 1x and 20x, gzipped and plain.
# Usage: Benchmarks/io.sh [WORKDIR]   (WORKDIR defaults to /tmp/protein-performer-io; needs ~2.5 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh seqkit mmseqs2-examples time
log=$(mktemp)
swift build -c release --product protein-tool >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
rm -f "$log"
tool=$PWD/.build/release/protein-tool
work=${1:-/tmp/protein-performer-io}
mkdir -p "$work"
src=/usr/share/doc/mmseqs2/example-data/DB.fasta.gz
cp "$src" "$work/db1.fasta.gz"
[ -f "$work/db20.fasta.gz" ] || for i in $(seq 20); do cat "$src"; done > "$work/db20.fasta.gz"
[ -f "$work/db1.fasta" ] || zcat "$src" > "$work/db1.fasta"
[ -f "$work/db20.fasta" ] || zcat "$work/db20.fasta.gz" > "$work/db20.fasta"

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) $(nproc) cores"
for f in db1.fasta.gz db20.fasta.gz db1.fasta db20.fasta; do
  echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "## protein-tool bench io $f --repeats 7"
  "$tool" bench io "$work/$f" --repeats 7
  echo "## seqkit stats -j 1 $f (wall seconds, peak RSS KB; best of 3)"
  best=""
  for r in 1 2 3; do
    out=$( { /usr/bin/time -f '%e %M' seqkit stats -j 1 "$work/$f" >/dev/null; } 2>&1 | tail -1)
    secs=${out% *}
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < ${best% *})}"; then best=$out; fi
  done
  echo "seqkit $best"
  echo "## protein-tool stats $f (wall seconds, peak RSS KB)"
  /usr/bin/time -f 'protein-tool-stats %e %M' "$tool" stats "$work/$f" >/dev/null
done
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
