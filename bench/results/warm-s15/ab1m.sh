#!/usr/bin/env bash
# Alternating million-component runs with the default limits, each under the shared lock: ab1m.sh OUTDIR LABEL:TREE ...
# (a LABEL ending in -tail0 runs with the silo's --eviction-tail 0 through BENCH_SILO_MIDDLEWARE_EVICTION_TAIL=0).
out=$1; shift
for spec in "$@"; do
  label=${spec%%:*}; tree=${spec#*:}
  case $label in *-tail0) export BENCH_SILO_MIDDLEWARE_EVICTION_TAIL=0;; *) unset BENCH_SILO_MIDDLEWARE_EVICTION_TAIL;; esac
  flock /tmp/s15-box.lock /work/wt-w/bench/results/warm-s15/run1.sh $label $tree 1000000 $out default
done
