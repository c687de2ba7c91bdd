#!/bin/sh
# Run faultline's tests.  quick: the Criterion suite (every commit).
# slow: the same suite built with sanitizers (see Makefile's check-slow).
# The last line printed is Criterion's summary, which CI reads.
set -eu
tier=${1:-quick}
cd "$(dirname "$0")/.."

jobs=${FL_TEST_JOBS:-2}
case "$tier" in
quick)
	exec ./build/tests/faultline-tests --jobs "$jobs" --timeout 300
	;;
slow)
	exec ./build/tests/faultline-tests --jobs "$jobs" --timeout 900
	;;
*)
	echo "usage: $0 quick|slow" >&2
	exit 2
	;;
esac
