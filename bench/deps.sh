#!/bin/sh
# bench/deps.sh - what `make bench` needs besides ./mcpmux and bench/node_modules:
# gnuplot for bench/latency.png. As root on Debian/Ubuntu it installs
# gnuplot-nox; otherwise it prints the command. Never fails: without gnuplot
# the benchmark still runs and writes bench/RESULTS.md, only the chart is missing.
command -v gnuplot >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "bench: installing gnuplot-nox (draws bench/latency.png)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null; } ||
		echo "bench: could not install gnuplot-nox; going on without the chart"
else
	echo "bench: gnuplot is missing, so no chart; to get one: sudo apt-get install -y gnuplot-nox"
fi
exit 0
