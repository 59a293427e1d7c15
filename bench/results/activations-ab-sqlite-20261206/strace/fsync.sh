#!/usr/bin/env bash
# fsyncs per cold activation: strace -c on the silo for 20 s of the "again" pass
which=$1; N=${N:-40000}; MAX=${MAX:-10000}; OUT=/tmp/h2/fs; mkdir -p $OUT
if [ $which = base ]; then root=/tmp/h2-base; else root=/work/wt-h2-activation; fi
rm -f /tmp/h2/f.db*
echo "== $which $(date -u +%T) $(uptime)" >> $OUT/uptime.txt
dotnet $root/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll activations --store sqlite:/tmp/h2/f.db \
  --components $N --max-activations $MAX --duration 3 --json $OUT/$which.json >> $OUT/summary.txt 2> $OUT/$which.log &
bench=$!
until grep -q "  again: " $OUT/$which.log 2>/dev/null; do sleep 1; done
silo=$(pgrep -f "Middleware.Silo.dll --store sqlite:/tmp/h2/f.db")
a=$(grep "  again: " $OUT/$which.log | tail -1)
timeout 20 strace -f -c -e trace=fsync,fdatasync -p $silo -o $OUT/$which.strace
b=$(grep "  again: " $OUT/$which.log | tail -1)
echo "$which start: $a" >> $OUT/counts.txt; echo "$which end: $b" >> $OUT/counts.txt
wait $bench
