#!/usr/bin/env bash
# scripts/test.sh: build sealvault and run every test. THE test command.
#
#   sudo scripts/test.sh
#
# On a fresh Debian 12 machine as root it installs what the build and the
# tests need (apt-get; skipped when not root or with SEALVAULT_NO_APT=1),
# then runs three builds:
#   build/       -DSEALVAULT_WERROR=ON; ctest, every label
#   build-asan/  ASan+UBSan; ctest -L 'unit|protocol|fuzz'
#   build-fuzz/  clang, libFuzzer + ASan; ctest -L fuzz (when clang exists)
# As root no test may be skipped: a test that exits 77 fails the run.
# Exit status: 0 when everything passed, 1 otherwise.
#
# Environment: SEALVAULT_NO_APT=1, SEALVAULT_JOBS (default 2),
# SEALVAULT_SKIP_ASAN=1 / SEALVAULT_SKIP_FUZZ=1 (local shortcuts; CI sets neither).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/lib/deps.sh
source "$repo/scripts/lib/deps.sh"

jobs=${SEALVAULT_JOBS:-2}
started=$SECONDS
results=()    # "STATUS|stage|detail"
failed=0

say() { printf '\n==== %s\n' "$*"; }

# record STATUS STAGE [DETAIL]
record() {
	results+=("$1|$2|${3:-}")
	if [[ $1 == FAIL ]]; then
		failed=1
	fi
}

elapsed() {
	local s=$((SECONDS - $1))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

# ---------------------------------------------------------------- dependencies
if [[ $EUID -eq 0 && ${SEALVAULT_NO_APT:-0} != 1 ]]; then
	say "installing build and test dependencies (apt-get)"
	t0=$SECONDS
	if sealvault_apt_install "${SEALVAULT_BUILD_DEPS[@]}" "${SEALVAULT_RUN_DEPS[@]}" \
		"${SEALVAULT_TEST_DEPS[@]}"; then
		record PASS "apt-get install" "$(elapsed "$t0")"
	else
		record FAIL "apt-get install" "see the apt-get output above"
	fi
elif [[ $EUID -ne 0 ]]; then
	echo "note: not root: apt step skipped, and tests that need root will be skipped" >&2
fi

# ---------------------------------------------------------------- helpers

# configure_build STAGE DIR CMAKE_ARGS...: configure and build; 0 on success.
configure_build() {
	local stage=$1 dir=$2 t0=$SECONDS
	shift 2
	say "$stage: configure $dir ($*)"
	if ! cmake -S "$repo" -B "$dir" -DBUILD_TESTING=ON "$@"; then
		record FAIL "$stage: configure" "cmake failed"
		return 1
	fi
	say "$stage: build $dir"
	if ! cmake --build "$dir" -j "$jobs"; then
		record FAIL "$stage: build" "compilation failed"
		return 1
	fi
	record PASS "$stage: build" "$(elapsed "$t0")"
}

# skipped_tests LOG: names of tests ctest reported as skipped (exit 77).
skipped_tests() {
	sed -n 's/^[[:space:]]*[0-9]\{1,\} - \(.*\) (Skipped)[[:space:]]*$/\1/p' "$1"
}

# skip_reason DIR TEST: the test's own "SKIP: ..." line, from ctest's log.
skip_reason() {
	awk -v t="$2" '
		$0 ~ "^[0-9]+/[0-9]+ Test: " t "$" { on = 1; next }
		on && /^SKIP: / { print; exit }
		on && /^<end of output>/ { exit }
	' "$1/Testing/Temporary/LastTest.log" 2>/dev/null | head -1
}

# run_ctest STAGE DIR CTEST_ARGS...: runs ctest, fails the stage on any
# failure, and as root on any skipped test.
run_ctest() {
	local stage=$1 dir=$2 log rc=0 t0=$SECONDS name reason
	local -a skipped=()
	shift 2
	log="$dir/ctest-summary.log"
	say "$stage: ctest $*"
	ctest --test-dir "$dir" --output-on-failure -j "$jobs" --no-tests=error "$@" </dev/null 2>&1 |
		tee "$log" || rc=${PIPESTATUS[0]}
	if [[ $rc -ne 0 ]]; then
		record FAIL "$stage: ctest" "$(grep -E '^[0-9]+% tests passed' "$log" | tail -1 || echo "ctest exited $rc")"
	else
		record PASS "$stage: ctest" "$(grep -E '^[0-9]+% tests passed' "$log" | tail -1), $(elapsed "$t0")"
	fi
	mapfile -t skipped < <(skipped_tests "$log")
	if [[ ${#skipped[@]} -gt 0 ]]; then
		for name in "${skipped[@]}"; do
			reason=$(skip_reason "$dir" "$name")
			if [[ $EUID -eq 0 ]]; then
				record FAIL "$stage: skipped as root" "$name${reason:+ ($reason)}"
			else
				record SKIP "$stage: skipped (not root)" "$name${reason:+ ($reason)}"
			fi
		done
	fi
	return 0
}

# count_tests DIR CTEST_ARGS...: how many tests match.
count_tests() {
	local dir=$1
	shift
	ctest --test-dir "$dir" -N "$@" 2>/dev/null | sed -n 's/^Total Tests: \([0-9]*\)$/\1/p'
}

# ---------------------------------------------------------------- 1. build/
if configure_build "main" build -DSEALVAULT_WERROR=ON; then
	run_ctest "main" build
fi

# ---------------------------------------------------------------- 2. build-asan/
if [[ ${SEALVAULT_SKIP_ASAN:-0} == 1 ]]; then
	record SKIP "asan" "SEALVAULT_SKIP_ASAN=1"
elif configure_build "asan" build-asan -DSEALVAULT_SANITIZE=ON -DSEALVAULT_WERROR=ON; then
	run_ctest "asan" build-asan -L 'unit|protocol|fuzz'
fi

# ---------------------------------------------------------------- 3. build-fuzz/
if [[ ${SEALVAULT_SKIP_FUZZ:-0} == 1 ]]; then
	record SKIP "fuzz" "SEALVAULT_SKIP_FUZZ=1"
elif ! command -v clang >/dev/null 2>&1; then
	if [[ $EUID -eq 0 && ${SEALVAULT_NO_APT:-0} != 1 ]]; then
		record FAIL "fuzz" "clang missing after apt-get install"
	else
		record SKIP "fuzz" "clang not installed"
	fi
else
	# The compiler of a build dir is fixed at its first configure.
	if [[ -f build-fuzz/CMakeCache.txt ]] &&
		! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang' build-fuzz/CMakeCache.txt; then
		rm -rf build-fuzz
	fi
	if CC=clang configure_build "fuzz" build-fuzz -DCMAKE_C_COMPILER=clang \
		-DSEALVAULT_FUZZ=ON -DSEALVAULT_SANITIZE=ON; then
		n=$(count_tests build-fuzz -L fuzz)
		if [[ ${n:-0} -eq 0 ]]; then
			record NOTE "fuzz: ctest -L fuzz" "no fuzz targets registered yet (tests/fuzz/CMakeLists.txt)"
		else
			run_ctest "fuzz" build-fuzz -L fuzz
		fi
	fi
fi

# ---------------------------------------------------------------- summary
say "summary ($(elapsed "$started") total)"
for r in "${results[@]}"; do
	IFS='|' read -r status stage detail <<<"$r"
	printf '  %-5s %-32s %s\n' "$status" "$stage" "$detail"
done
if [[ $failed -ne 0 ]]; then
	printf '\nRESULT: FAILED\n'
	exit 1
fi
printf '\nRESULT: all passed\n'
