#!/usr/bin/env bash
# Alternating runs at 200,000 components with the cap at 20,000 (a fifth of the default, as the million under the default):
# ab200k.sh OUTDIR LABEL:TREE ... ; each run under the shared lock.
out=$1; shift
for spec in "$@"; do
  label=${spec%%:*}; tree=${spec#*:}
  flock /tmp/s15-box.lock /work/wt-w/bench/results/warm-s15/run1.sh $label $tree 200000 $out 20000
done
