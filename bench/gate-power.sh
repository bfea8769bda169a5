#!/bin/sh
# gate-power.sh RUNS METHOD=DELAY: runs `make gate` RUNS times with the
# delay injected and RUNS times unchanged, alternating, and prints how
# often each failed. A run counts as failed when the gate reported a
# regression ("gate failed"), passed when make exited 0, and as an error
# otherwise (it could not compare, or the benchmark broke). Logs go to
# $TMPDIR/gate-power-*/.
set -u
runs=${1:-10}
delay=${2:-aes128-ctr=90ns}
dir=$(mktemp -d "${TMPDIR:-/tmp}/gate-power-XXXXXX")
slow_fail=0 slow_pass=0 slow_err=0 same_fail=0 same_pass=0 same_err=0
i=1
while [ "$i" -le "$runs" ]; do
	for kind in slow same; do
		if [ "$kind" = slow ]; then flags="--inject-delay $delay"; else flags=; fi
		start=$(date +%s)
		make -s gate GATE_FLAGS="$flags" >"$dir/$kind-$i.log" 2>&1
		code=$?
		if [ "$code" -eq 0 ]; then
			verdict=pass
		elif grep -q '^tdebench: gate failed' "$dir/$kind-$i.log"; then
			verdict=fail
		else
			verdict=error
		fi
		case "$kind/$verdict" in
		slow/pass) slow_pass=$((slow_pass + 1)) ;;
		slow/fail) slow_fail=$((slow_fail + 1)) ;;
		slow/error) slow_err=$((slow_err + 1)) ;;
		same/pass) same_pass=$((same_pass + 1)) ;;
		same/fail) same_fail=$((same_fail + 1)) ;;
		same/error) same_err=$((same_err + 1)) ;;
		esac
		echo "run $i, $kind: $verdict in $(($(date +%s) - start)) s: $(grep '^REGRESSION' "$dir/$kind-$i.log" | cut -d: -f2 | tr '\n' ';')"
	done
	i=$((i + 1))
done
echo
echo "| build | gate failed | gate passed | error |"
echo "| --- | ---: | ---: | ---: |"
echo "| $delay injected | $slow_fail of $runs | $slow_pass | $slow_err |"
echo "| unchanged | $same_fail of $runs | $same_pass | $same_err |"
echo "logs: $dir"
