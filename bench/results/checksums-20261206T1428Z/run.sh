#!/usr/bin/env bash
# Alternating before (main at 6955133; after = d1a0826 (allocation-free CRC)) / after (issue13-checksums2) durable append runs; see bench/README.md.
set -u
out=bench/results/checksums-20261206T1428Z
before=/tmp/crc-before/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll
after=/work/wt-crc/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll
for round in 1 2 3 4; do
  if [ $((round % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for which in $order; do
    dll=$before; [ $which = after ] && dll=$after
    db=$(mktemp -d /tmp/crc-bench-XXXX)/append.db
    echo "round $round $which sqlite" >> $out/console.txt
    dotnet $dll append --store sqlite --db $db --batch 32 --components 1000 --duration 5 --json $out/sqlite-$which-$round.json >> $out/console.txt 2>&1
    rm -rf $(dirname $db)
    echo "round $round $which memory" >> $out/console.txt
    dotnet $dll append --store memory --batch 32 --components 1000 --duration 3 --json $out/memory-$which-$round.json >> $out/console.txt 2>&1
  done
done
echo finished >> $out/console.txt
