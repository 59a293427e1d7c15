#!/usr/bin/env bash
# run1.sh LABEL TREE N OUTDIR [max-activations|default]  (env passes through: BENCH_SILO_*)
set -u
label=$1; tree=$2; n=$3; out=$4; maxa=${5:-0}
mkdir -p $out
db=/tmp/s15w-$label-$$.db; rm -f $db*
cd $tree
args=(activations --store sqlite:$db --components $n --json $out/$label.json)
[ "$maxa" != "default" ] && args+=(--max-activations $maxa)
dotnet bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll "${args[@]}" > $out/$label.log 2>&1 &
bp=$!
waitfor() { while kill -0 $bp 2>/dev/null; do grep -q "$1" $out/$label.log && return 0; sleep 0.3; done; return 1; }
waitfor "^  1000 keys: .* after 2 s"
sp=$(pgrep -f "Middleware.Silo.dll" | while read p; do tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q "middleware-bench-ledger-$bp" && echo $p; done | head -1)
echo "silo pid $sp load $(cat /proc/loadavg)" > $out/$label.small
python3 /work/wt-w/bench/results/warm-1m-s13/snap.py $sp 6 >> $out/$label.small 2>&1
waitfor "^  $n keys: .* after 1 s"
echo "silo pid $sp load $(cat /proc/loadavg)" > $out/$label.win
~/.dotnet/tools/dotnet-counters collect -p $sp --counters 'System.Runtime[dotnet.gc.collections,dotnet.gc.heap.total_allocated,dotnet.gc.pause.time]' --refresh-interval 6 --duration 00:00:00:07 -o $out/$label.counters.csv > /dev/null 2>&1 &
python3 /work/wt-w/bench/results/warm-1m-s13/snap.py $sp 6 >> $out/$label.win 2>&1
wait $bp
wait
rm -f $db*
