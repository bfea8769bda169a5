#!/bin/sh
# gate-power.sh RUNS METHOD=DELAY: runs `make gate` RUNS times with the
# delay injected and RUNS times unchanged, alternating, and prints how
# often each failed. A gate run exits 0 (pass), 1 (a regression) or 2
# (could not compare: counted apart, as an error). Logs go to
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
		make -s gate GATE_FLAGS="$flags" >"$dir/$kind-$i.log" 2>&1
		code=$?
		case "$kind/$code" in
		slow/0) slow_pass=$((slow_pass + 1)) ;;
		slow/1) slow_fail=$((slow_fail + 1)) ;;
		slow/*) slow_err=$((slow_err + 1)) ;;
		same/0) same_pass=$((same_pass + 1)) ;;
		same/1) same_fail=$((same_fail + 1)) ;;
		same/*) same_err=$((same_err + 1)) ;;
		esac
		echo "run $i, $kind: exit $code ($(grep -c '^REGRESSION' "$dir/$kind-$i.log") regressions)"
	done
	i=$((i + 1))
done
echo
echo "| build | gate failed | gate passed | error |"
echo "| --- | ---: | ---: | ---: |"
echo "| $delay injected | $slow_fail of $runs | $slow_pass | $slow_err |"
echo "| unchanged | $same_fail of $runs | $same_pass | $same_err |"
echo "logs: $dir"
