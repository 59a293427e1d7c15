SET plan_cache_mode = force_generic_plan;
SET random_page_cost = 1.1;
PREPARE a(text[], bigint[], bigint[], bigint[], bigint[], text[], bigint[], bigint[], smallint[], bytea[]) AS
WITH g AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS g(id, e, x, l, cp)), ok AS (UPDATE components AS c SET last_seq = g.l, checkpoint_seq = GREATEST(c.checkpoint_seq, g.cp), updated_at = now() FROM g WHERE c.id = g.id AND c.epoch = g.e AND c.last_seq = g.x RETURNING c.id), lg AS (INSERT INTO log(component, seq, epoch, kind, committed_at, payload) SELECT r.c, r.s, r.e, r.k, now(), r.p FROM unnest($6::text[], $7::bigint[], $8::bigint[], $9::smallint[], $10::bytea[]) AS r(c, s, e, k, p) WHERE r.c IN (SELECT id FROM ok)) SELECT g.id, c.epoch, c.last_seq FROM g LEFT JOIN components c ON c.id = g.id WHERE g.id NOT IN (SELECT id FROM ok);
CREATE TEMP TABLE pick AS SELECT id, epoch, last_seq FROM components ORDER BY random() LIMIT 30;
SELECT array_agg(id ORDER BY id) a1, array_agg(epoch ORDER BY id) a2, array_agg(last_seq ORDER BY id) a3, array_agg(last_seq+1 ORDER BY id) a4, array_agg(0::bigint ORDER BY id) a5, array_agg(1::smallint) a9, array_agg(decode(repeat('ab',110),'hex')) a10 FROM pick \gset
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) EXECUTE a(:'a1',:'a2',:'a3',:'a4',:'a5',:'a1',:'a4',:'a2',:'a9',:'a10');
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) EXECUTE a(:'a1',:'a2',:'a3',:'a4',:'a5',:'a1',:'a4',:'a2',:'a9',:'a10');
ROLLBACK;
