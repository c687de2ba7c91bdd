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
	# ThreadSanitizer on the pager's threads, both engines.
	for eng in uffd signal; do
		TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./build/tsan/tests/stress_pager "$eng" 10
	done
	# ASan/UBSan on the whole suite.  The signal engine's tests need the
	# SIGSEGV handler to themselves.
	ASAN_OPTIONS="handle_segv=0:detect_leaks=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		exec ./build/asan/tests/faultline-tests --jobs "$jobs" --timeout 900
	;;
*)
	echo "usage: $0 quick|slow" >&2
	exit 2
	;;
esac
