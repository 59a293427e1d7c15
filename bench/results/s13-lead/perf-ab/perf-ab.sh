#!/usr/bin/env bash
# perf of the silo under the deposit workload, old and new builds alternating
set -u
cd /work/main
OUT=${OUT:-/work/s13/perf-$(date -u +%H%M%S)}; mkdir -p $OUT
B=bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll
for round in 1 2; do
 for v in old new; do
  if [ $v = old ]; then T=/tmp/s12-base; else T=/tmp/s12-new; fi
  if [ $round = 2 ]; then if [ $v = old ]; then T=/tmp/s12-new; v=new; else T=/tmp/s12-base; v=old; fi; fi
  cd $T
  DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet $B cluster --silos 1 --store sqlite --workload deposit --concurrency 64 --keys 1000 --duration 20 --warmup 4 --echo-duration 0 --json $OUT/$v-$round.json > $OUT/$v-$round.log 2>&1 &
  BP=$!
  sleep 9
  SP=$(pgrep -f Middleware.Silo.dll | head -1)
  C0=$(awk '{print $14+$15}' /proc/$SP/stat); P0=$(awk '{print $14+$15}' /proc/$BP/stat)
  perf record -F 999 -g -p $SP -o $OUT/$v-$round.data -- sleep 8 2>/dev/null >/dev/null
  C1=$(awk '{print $14+$15}' /proc/$SP/stat); P1=$(awk '{print $14+$15}' /proc/$BP/stat)
  echo "$v-$round silo ticks $((C1-C0)) client ticks $((P1-P0)) over 8s" | tee -a $OUT/index.txt
  wait $BP
  grep -E 'req/s|turns/s|deposits' $OUT/$v-$round.log | head -3 | tee -a $OUT/index.txt
  perf report -i $OUT/$v-$round.data --no-children --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -80 > $OUT/$v-$round.top.txt
  cd /work/main
 done
done
