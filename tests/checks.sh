# shellcheck shell=bash
# The checks of the shell test scripts (sourced, not run): each check prints
# one PASS or FAIL line and counts it in PASSED or FAILED, which the script
# sets to 0 and sums up at its end.

# check NAME COMMAND...: runs COMMAND; PASS when it succeeds.
check() {
	local name=$1
	shift
	if "$@"; then
		echo "PASS: $name"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL: $name"
		FAILED=$((FAILED + 1))
	fi
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds
# (0) or SECONDS have passed (1).
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
