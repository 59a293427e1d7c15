#!/usr/bin/env bash
# Quiet-box sequence for session 13: OLD=/tmp/s13-base NEW=<Release copy of merged main>
set -u
cd /work/main
OLD=${OLD:-/tmp/s13-base}; NEW=${NEW:?}
B=bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll S=src/Silo/bin/Release/net10.0/Middleware.Silo.dll
STAMP=$(date -u +%Y%m%dT%H%M%SZ); R=bench/results/s13-quiet-$STAMP; mkdir -p $R
cp "$0" $R/sequence.sh
echo "start $(date -u +%T) $(uptime)" | tee $R/index.txt
echo "deposits $(date -u +%T) $(uptime)" | tee -a $R/index.txt
OUT=$R/deposits ROUNDS=3 DURATION=20 bench/run-hotpath.sh old:$OLD/$B:$OLD/$S new:$NEW/$B:$NEW/$S > $R/deposits.log 2>&1; tail -4 $R/deposits.log | tee -a $R/index.txt
for part in ${PARTS:-postgres million}; do
 echo "$part $(date -u +%T) $(uptime)" | tee -a $R/index.txt
 case $part in
  postgres) OUT=$R/postgres BUILDS="old=$OLD new=$NEW" ROUNDS=2 MODES=cluster STORES="postgres sqlite" bench/run-postgres.sh > $R/postgres.log 2>&1; tail -12 $R/postgres.log | tee -a $R/index.txt ;;
  million) for v in new old; do T=$OLD; [ $v = new ] && T=$NEW; rm -f /tmp/s13-m.db*; (cd $T && dotnet $B activations --store sqlite:/tmp/s13-m.db --components 1000000 --max-activations 0 --json /work/main/$R/million-nolimit-$v.json > /work/main/$R/million-nolimit-$v.log 2>&1); tail -1 $R/million-nolimit-$v.log | tee -a $R/index.txt; done; rm -f /tmp/s13-m.db* ;;
  cold) OUT=$R/cold OLD=$OLD NEW=$NEW COMPONENTS=100000 ROUNDS=2 bench/run-activations-ab.sh > $R/cold.log 2>&1; tail -12 $R/cold.log | tee -a $R/index.txt ;;
 esac
done
echo "end $(date -u +%T) $(uptime)" | tee -a $R/index.txt
