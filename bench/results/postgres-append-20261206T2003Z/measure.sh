#!/usr/bin/env bash
B=$1; BATCH=$2; PORT=47567; DB=${3:-bench}
q(){ psql -h 127.0.0.1 -p $PORT -U postgres -d $DB -Atc "$1"; }
q "select pg_stat_statements_reset()" >/dev/null
line=$(dotnet /tmp/g-$B/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll append --store "postgres:Host=127.0.0.1;Port=$PORT;Username=postgres;Database=$DB" --batch $BATCH --duration 5 2>&1 | tail -1)
echo "$B batch=$BATCH ${line#*:}"
q "select 'rows appended', sum(rows) filter (where query like 'INSERT INTO log%' or query like 'WITH g AS%') from pg_stat_statements"
q "select sum(calls) filter (where query like 'INSERT INTO log%' or query like 'WITH g AS%') as commits, round(sum(total_exec_time + total_plan_time) filter (where query ~ '^(SELECT id, epoch|INSERT INTO log|UPDATE components AS c|WITH g AS|BEGIN|COMMIT)')::numeric,0) as exec_plus_plan_ms, sum(wal_records) filter (where query ~ '^(SELECT id, epoch|INSERT INTO log|UPDATE components AS c|WITH g AS)') wal_records, sum(wal_bytes) filter (where query ~ '^(SELECT id, epoch|INSERT INTO log|UPDATE components AS c|WITH g AS)') wal_bytes, sum(calls) filter (where query ~ '^(SELECT id, epoch|INSERT INTO log|UPDATE components AS c|WITH g AS|BEGIN|COMMIT)') statements from pg_stat_statements"
