#!/usr/bin/env bash
# Installs the system libraries protein-performer links against (OpenBLAS, zlib) and pkg-config,
# when they are missing. Debian/Ubuntu only. Safe to run repeatedly: does nothing when all are present.
#
#   scripts/install-deps.sh            # the default build
#   scripts/install-deps.sh --mpi      # also Open MPI (libopenmpi-dev, openmpi-bin) for
#                                      # PROTEIN_PERFORMER_MPI=1 builds (docs/distributed.md)
#   scripts/install-deps.sh PKG...     # also these Debian packages
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
  if [ "$pkg" = --mpi ]; then
    { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists ompi-c; } || need+=(libopenmpi-dev)
    command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
    continue
  fi
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
