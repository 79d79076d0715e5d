#!/usr/bin/env bash
# Installs the system libraries protein-performer links against (OpenBLAS, zlib) and pkg-config,
# when they are missing. Debian/Ubuntu only. Safe to run repeatedly: does nothing when all are present.
set -euo pipefail

need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if command -v pkg-config >/dev/null 2>&1; then
  pkg-config --exists openblas || need+=(libopenblas-dev)
  pkg-config --exists zlib || need+=(zlib1g-dev)
else
  need+=(libopenblas-dev zlib1g-dev)
fi
# Extra packages a caller asks for (e.g. benchmarks want seqkit and mmseqs2-examples).
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
