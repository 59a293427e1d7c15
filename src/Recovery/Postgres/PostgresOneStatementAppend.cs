using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The common append in ONE statement and one round trip, without BEGIN or COMMIT: a statement sent alone is its own
/// transaction, committed (and, with <c>synchronous_commit=on</c>, flushed) when it ends. It fits a call whose groups
/// each name a different component and are self-consistent (<see cref="AppendRules.IsSelfConsistent"/>: records with
/// consecutive seqs, a checkpoint no later than the last one): then a group is accepted exactly when its component's
/// head has the group's epoch and the seq just before its first record, which one conditional UPDATE decides. Every other
/// shape goes through <see cref="PostgresAppend"/>'s two round trips and <see cref="AppendPlan"/>.
/// <para>
/// Inside the statement: one conditional UPDATE of the heads is the fence, the seq check and the head pointer at once
/// (like the SQLite store's), and the inserts take only the components it changed. The UPDATE's row locks are the
/// transaction's; the groups are sent sorted by id so that two appends sharing components (only ever an old and a new
/// owner in two processes) lock in the same order as a rule (the plan the store's sessions get is a nested loop of
/// primary-key look-ups over the groups in array order: see the random_page_cost note in PostgresLogStore), and a
/// deadlock, should the plan differ, is broken by the server by failing one of them, which its caller treats as not
/// durable. No row is locked twice (no SELECT ... FOR UPDATE before the UPDATE), which saves a lock record in the WAL per
/// component. The statement returns only the refused groups with the head as of its snapshot, and the caller classifies
/// them as the reference store does: no row or another epoch is <see cref="AppendStatus.Fenced"/>, the same epoch with
/// another last seq <see cref="AppendStatus.SeqConflict"/>; a head that matched in the snapshot but not when the UPDATE reached it was
/// changed by a claim in between (nothing else changes a head of this epoch while its owner's append is in flight), so
/// it is fenced.
/// </para>
/// </summary>
internal static class PostgresOneStatementAppend
{
    private const string Fence =
        "WITH g AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS g(id, e, x, l, cp)), " +
        // The fence: a row changes exactly when its epoch and last seq are what the group expects. Under READ COMMITTED
        // an UPDATE that meets a row another transaction is changing waits for it and re-checks the WHERE on the newest
        // version, so a claim that committed first fences the group and one that comes later waits for this commit.
        "ok AS (UPDATE components AS c SET last_seq = g.l, checkpoint_seq = GREATEST(c.checkpoint_seq, g.cp), updated_at = now() " +
        "FROM g WHERE c.id = g.id AND c.epoch = g.e AND c.last_seq = g.x RETURNING c.id), " +
        // now() is the transaction's start time: one commit time for the whole call, from the server's clock.
        "lg AS (INSERT INTO log(component, seq, epoch, kind, committed_at, payload) " +
        "SELECT r.c, r.s, r.e, r.k, now(), r.p FROM unnest($6::text[], $7::bigint[], $8::bigint[], $9::smallint[], $10::bytea[]) AS r(c, s, e, k, p) " +
        "WHERE r.c IN (SELECT id FROM ok))";

    private const string Checkpoints =
        ", ck AS (INSERT INTO checkpoints(component, seq, epoch, state, state_hash, created_at) " +
        "SELECT k.c, k.s, k.e, k.st, k.h, now() FROM unnest($11::text[], $12::bigint[], $13::bigint[], $14::bytea[], $15::text[]) AS k(c, s, e, st, h) " +
        "WHERE k.c IN (SELECT id FROM ok) " +
        "ON CONFLICT (component, seq) DO UPDATE SET epoch = excluded.epoch, state = excluded.state, state_hash = excluded.state_hash, created_at = excluded.created_at), " +
        "dd AS (INSERT INTO dedup(component, request_id, seq, args_hash, reply, created_at) " +
        "SELECT d.c, d.r, d.s, d.a, d.p, now() FROM unnest($16::text[], $17::text[], $18::bigint[], $19::bigint[], $20::bytea[]) AS d(c, r, s, a, p) " +
        "WHERE d.c IN (SELECT id FROM ok) " +
        "ON CONFLICT (component, request_id) DO UPDATE SET seq = excluded.seq, args_hash = excluded.args_hash, reply = excluded.reply, created_at = excluded.created_at)";

    // The refused groups with the head as of the statement's snapshot (no row: never claimed).
    private const string Refused = " SELECT g.id, c.epoch, c.last_seq FROM g LEFT JOIN components c ON c.id = g.id WHERE g.id NOT IN (SELECT id FROM ok)";

    private const string WithoutCheckpoints = Fence + Refused;

    private const string WithCheckpoints = Fence + Checkpoints + Refused;

    /// <summary>True when every group is self-consistent and names a component no other group of the call names.</summary>
    public static bool Fits(IReadOnlyList<AppendGroup> groups)
    {
        if (groups.Count == 1) return AppendRules.IsSelfConsistent(groups[0]);
        var seen = new HashSet<string>(groups.Count, StringComparer.Ordinal);
        foreach (var g in groups)
        {
            if (!AppendRules.IsSelfConsistent(g) || !seen.Add(g.ComponentId)) return false;
        }

        return true;
    }

    /// <summary>Runs the append as one statement; a failure is uncertain (the commit may or may not have happened) and rethrown.</summary>
    public static async Task<AppendStatus[]> RunAsync(NpgsqlConnection connection, IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken)
    {
        var anyCheckpoint = false;
        var recordCount = 0;
        foreach (var g in groups)
        {
            anyCheckpoint |= g.Checkpoint is not null;
            recordCount += g.Records.Count;
        }

        await using var command = new NpgsqlCommand(anyCheckpoint ? WithCheckpoints : WithoutCheckpoints, connection);
        AddGroups(command.Parameters, groups);
        AddRecords(command.Parameters, groups, recordCount);
        if (anyCheckpoint) AddCheckpoints(command.Parameters, groups);

        var statuses = new AppendStatus[groups.Count];
        Dictionary<string, StoredHead?>? refused = null;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                (refused ??= new Dictionary<string, StoredHead?>(StringComparer.Ordinal))[reader.GetString(0)] =
                    reader.IsDBNull(1) ? null : new StoredHead(reader.GetInt64(1), reader.GetInt64(2), 0);
            }
        }

        for (var i = 0; i < groups.Count; i++)
        {
            var g = groups[i];
            statuses[i] = refused is null || !refused.TryGetValue(g.ComponentId, out var head) ? AppendStatus.Ok
                : head is { } h && h.Epoch == g.Epoch && h.LastSeq != g.Records[0].Seq - 1 ? AppendStatus.SeqConflict
                : AppendStatus.Fenced;
        }

        return statuses;
    }

    private static void AddGroups(NpgsqlParameterCollection parameters, IReadOnlyList<AppendGroup> groups)
    {
        var n = groups.Count;
        var (ids, epochs, expected, last, checkpoint) = (new string[n], new long[n], new long[n], new long[n], new long[n]);
        var byId = new AppendGroup[n];
        for (var i = 0; i < n; i++) byId[i] = groups[i];
        if (n > 1) Array.Sort(byId, static (a, b) => string.CompareOrdinal(a.ComponentId, b.ComponentId));
        for (var i = 0; i < n; i++)
        {
            var g = byId[i];
            (ids[i], epochs[i], expected[i], last[i], checkpoint[i]) = (g.ComponentId, g.Epoch, g.Records[0].Seq - 1, g.Records[^1].Seq, g.Checkpoint?.Seq ?? 0);
        }

        parameters.Add(Texts(ids));
        parameters.Add(Longs(epochs));
        parameters.Add(Longs(expected));
        parameters.Add(Longs(last));
        parameters.Add(Longs(checkpoint));
    }

    private static void AddRecords(NpgsqlParameterCollection parameters, IReadOnlyList<AppendGroup> groups, int n)
    {
        var (ids, seqs, epochs, kinds, payloads) = (new string[n], new long[n], new long[n], new short[n], new byte[n][]);
        var at = 0;
        foreach (var g in groups)
        {
            foreach (var r in g.Records)
            {
                (ids[at], seqs[at], epochs[at], kinds[at], payloads[at]) = (g.ComponentId, r.Seq, r.Epoch, (short)r.Kind, AppendPlan.ToArray(r.Payload));
                at++;
            }
        }

        parameters.Add(Texts(ids));
        parameters.Add(Longs(seqs));
        parameters.Add(Longs(epochs));
        parameters.Add(new NpgsqlParameter<short[]> { TypedValue = kinds });
        parameters.Add(Blobs(payloads));
    }

    /// <summary>
    /// The checkpoints (one per group at most, and one group per component, so no two share a key) and their dedup
    /// entries; a request id listed twice in one checkpoint keeps its last entry, as the reference store does.
    /// </summary>
    private static void AddCheckpoints(NpgsqlParameterCollection parameters, IReadOnlyList<AppendGroup> groups)
    {
        var checkpoints = new List<(string ComponentId, CheckpointRecord Checkpoint)>();
        var dedup = new List<(string ComponentId, DedupEntry Entry)>();
        foreach (var g in groups)
        {
            if (g.Checkpoint is not { } c) continue;
            checkpoints.Add((g.ComponentId, c));
            var at = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var d in c.Dedup)
            {
                if (at.TryGetValue(d.RequestId, out var i)) dedup[i] = (g.ComponentId, d);
                else
                {
                    at[d.RequestId] = dedup.Count;
                    dedup.Add((g.ComponentId, d));
                }
            }
        }

        parameters.Add(Texts(checkpoints.Select(c => c.ComponentId).ToArray()));
        parameters.Add(Longs(checkpoints.Select(c => c.Checkpoint.Seq).ToArray()));
        parameters.Add(Longs(checkpoints.Select(c => c.Checkpoint.Epoch).ToArray()));
        parameters.Add(Blobs(checkpoints.Select(c => AppendPlan.ToArray(c.Checkpoint.State)).ToArray()));
        parameters.Add(Texts(checkpoints.Select(c => c.Checkpoint.StateHash).ToArray()));
        parameters.Add(Texts(dedup.Select(d => d.ComponentId).ToArray()));
        parameters.Add(Texts(dedup.Select(d => d.Entry.RequestId).ToArray()));
        parameters.Add(Longs(dedup.Select(d => d.Entry.Seq).ToArray()));
        parameters.Add(Longs(dedup.Select(d => d.Entry.ArgsHash).ToArray()));
        parameters.Add(Blobs(dedup.Select(d => AppendPlan.ToArray(d.Entry.Reply)).ToArray()));
    }

    private static NpgsqlParameter<string[]> Texts(string[] values) => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private static NpgsqlParameter<long[]> Longs(long[] values) => new() { TypedValue = values };

    private static NpgsqlParameter<byte[][]> Blobs(byte[][] values) => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea };
}
