#!/usr/bin/env bash
# Quiet-box sequence for session 12: OLD=/tmp/s12-base NEW=<Release copy of merged main>
set -u
cd /work/main
OLD=${OLD:-/tmp/s12-base}; NEW=${NEW:?}
B=bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll S=src/Silo/bin/Release/net10.0/Middleware.Silo.dll
STAMP=$(date -u +%Y%m%dT%H%M%SZ); R=bench/results/s12-quiet-$STAMP; mkdir -p $R
echo "start $(date -u +%T) $(uptime)" | tee $R/index.txt
OUT=$R/steady ROUNDS=2 bench/run-sqlite-steady.sh old:$OLD/$B new:$NEW/$B > $R/steady.log 2>&1; tail -6 $R/steady.log | tee -a $R/index.txt
echo "deposits $(date -u +%T) $(uptime)" | tee -a $R/index.txt
OUT=$R/deposits ROUNDS=2 DURATION=30 bench/run-hotpath.sh old:$OLD/$B:$OLD/$S new:$NEW/$B:$NEW/$S > $R/deposits.log 2>&1; tail -6 $R/deposits.log | tee -a $R/index.txt
echo "cold $(date -u +%T) $(uptime)" | tee -a $R/index.txt
OUT=$R/cold OLD=$OLD NEW=$NEW COMPONENTS=100000 ROUNDS=2 bench/run-activations-ab.sh > $R/cold.log 2>&1; tail -12 $R/cold.log | tee -a $R/index.txt
echo "dedup-steady $(date -u +%T) $(uptime)" | tee -a $R/index.txt
OUT=$R/steady-cp100 ROUNDS=1 EXTRA="--checkpoint-every 100" bench/run-sqlite-steady.sh old:$OLD/$B new:$NEW/$B > $R/steady-cp100.log 2>&1; tail -6 $R/steady-cp100.log | tee -a $R/index.txt
echo "end $(date -u +%T) $(uptime)" | tee -a $R/index.txt
