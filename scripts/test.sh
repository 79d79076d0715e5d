#!/usr/bin/env bash
# The test command: installs missing system libraries, then runs every test suite in a release
# build (numeric tests are 10-100x slower in debug). Extra arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift test -c release -Xswiftc -enable-testing "$@"
