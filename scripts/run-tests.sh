#!/bin/bash
# Run faultline's tests.  quick: the wire fuzz corpus replayed, then the
# Criterion suite (every commit).  slow: a stress program under
# ThreadSanitizer, the fuzz corpus under ASan/UBSan and 60 s of libFuzzer,
# then the suite under ASan/UBSan.  The last line printed is Criterion's
# summary, repeated at the end so that warnings the tested code writes to stderr while the
# runner finishes cannot come after it (CI reads the closing line).
set -uo pipefail
tier=${1:-quick}
cd "$(dirname "$0")/.."

jobs=${FL_TEST_JOBS:-2}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A whole run may take this long before it counts as hung (Criterion's
# per-test timeout did not stop a test stuck in a userfaultfd wait once).
suite_limit=${FL_SUITE_LIMIT:-2400}

suite() {
	local bin=$1 timeout=$2
	timeout --kill-after=10 "$suite_limit" "$bin" --jobs "$jobs" --timeout "$timeout" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local summary
	summary=$(grep -a 'Synthesis:' "$log" | tail -n 1)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "run-tests: $bin did not finish within $suite_limit s: a test hung; stopped"
		pkill -KILL -f boxfort-worker 2>/dev/null
		echo "0 passed, 1 failed"
		return 1
	fi
	[ -n "$summary" ] && echo "$summary"
	return "$rc"
}

# The wire protocol's fuzz corpus through the daemon's decoder and
# connection checks (tests/fuzz/replay.c): a crash names its input.
replay() {
	local bin=$1
	if [ ! -x "$bin" ]; then
		echo "run-tests: $bin is not built"
		return 1
	fi
	"$bin" tests/fuzz/corpus/wire 2>&1 || {
		echo "run-tests: FAILED: $bin tests/fuzz/corpus/wire"
		return 1
	}
}

case "$tier" in
quick)
	replay ./build/tests/fuzz_replay
	replay_rc=$?
	suite ./build/tests/faultline-tests 300
	rc=$?
	[ "$replay_rc" = 0 ] || rc=1
	exit "$rc"
	;;
slow)
	# ThreadSanitizer on the pager's threads, both engines.
	for eng in uffd signal; do
		TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./build/tsan/tests/stress_pager "$eng" 10 || exit 1
	done
	# The fuzz corpus under ASan/UBSan, then 60 s of libFuzzer on a copy
	# of it; a crash fails the tier and leaves its input in build/fuzz/.
	ASAN_OPTIONS="detect_leaks=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		replay ./build/asan/tests/fuzz_replay || exit 1
	corpus=$(mktemp -d)
	cp tests/fuzz/corpus/wire/* "$corpus"/
	ASAN_OPTIONS="detect_leaks=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		./build/fuzz/fuzz_wire -artifact_prefix=build/fuzz/ -max_total_time=60 -print_final_stats=1 \
		"$corpus" >"$log" 2>&1
	fuzz_rc=$?
	rm -rf "$corpus"
	if [ "$fuzz_rc" != 0 ]; then
		tail -n 60 "$log"
		echo "run-tests: FAILED: the wire fuzzer stopped with status $fuzz_rc (a crash input is in build/fuzz/)"
		exit 1
	fi
	echo "fuzz_wire: $(grep -a 'Done .* runs' "$log" | tail -n 1), no crash"
	# ASan/UBSan on the whole suite.  The signal engine's tests need the
	# SIGSEGV handler to themselves.
	# The real-program tests skip themselves here (FL_TEST_TIER): they
	# ran in the quick tier, and the programs are not instrumented.
	FL_TEST_TIER=slow FL_BIN_DIR=build/asan/bin ASAN_OPTIONS="handle_segv=0:detect_leaks=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		suite ./build/asan/tests/faultline-tests 900
	;;
*)
	echo "usage: $0 quick|slow" >&2
	exit 2
	;;
esac
