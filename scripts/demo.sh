#!/bin/sh
# The README's main command: install what is needed, build, and run the
# demo workload under the pager with a budget, ending in a report.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
make -j"$(nproc)" all
./build/bin/faultline-demo "$@"
