#!/usr/bin/env bash
# The data-parallel (MPI) checks: installs Open MPI when missing, builds protein-tool with MPI
# (PROTEIN_PERFORMER_MPI=1) and runs, in a release build:
#   DistributedCLITests      mpirun -np 2 on loopback: 2 ranks × batch B == 1 process × batch 2B,
#                            a dying rank ends the job and its last checkpoint resumes exactly,
#                            resuming with another rank count fails, mpirun without --distributed fails;
#   DistributedTrainerTests  the same logic with in-process ranks (also part of scripts/test.sh);
#   BatchStreamShardTests    shards are disjoint and cover the corpus.
# Exits non-zero when any check fails. Extra arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --mpi
export PROTEIN_PERFORMER_MPI=1
if [ "$(id -u)" -eq 0 ]; then
  # Open MPI refuses to start as root unless told (CI containers run as root).
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
swift build -c release -Xswiftc -enable-testing --build-tests
# The suite skips itself without PROTEIN_PERFORMER_MPI=1; make sure it really ran.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test -c release -Xswiftc -enable-testing --skip-build \
  --filter 'DistributedCLITests|DistributedTrainerTests|BatchStreamShardTests' "$@" 2>&1 | tee "$log"
if grep -q 'skipped: "needs an MPI build' "$log"; then
  echo "test-mpi.sh: the MPI suite was skipped" >&2
  exit 1
fi
