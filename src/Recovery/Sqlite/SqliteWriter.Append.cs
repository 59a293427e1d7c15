using Middleware.Recovery.Storage;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Sqlite;

/// <summary>The append path of the writer: one transaction per call, one fence UPDATE per group.</summary>
internal sealed partial class SqliteWriter
{
    private readonly SqliteStatement _insertFirst;
    private readonly SqliteStatement _insertNext;
    private readonly SqliteStatement _fence;
    private readonly SqliteStatement _undoFrom;
    private readonly SqliteStatement _insertCheckpoint;
    private readonly SqliteStatement _insertDedup;

    private static (SqliteStatement, SqliteStatement, SqliteStatement, SqliteStatement, SqliteStatement, SqliteStatement) PrepareAppend(SqliteDb db) =>
    (
        // The first record of a group chains to the stored head; reading it in the INSERT saves a round trip.
        db.Prepare("INSERT INTO log(cid, seq, epoch, kind, prev_pos, committed_at, payload) " +
                   "VALUES (?1, ?2, ?3, ?4, coalesce((SELECT last_pos FROM heads WHERE cid = ?1), 0), ?5, ?6)"),
        db.Prepare("INSERT INTO log(cid, seq, epoch, kind, prev_pos, committed_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        // The fence and the head pointer in one statement: it changes one row exactly when the epoch and the
        // last seq are what the group expects.
        db.Prepare("UPDATE heads SET last_seq = ?1, last_pos = ?2, checkpoint_seq = max(checkpoint_seq, ?3) " +
                   "WHERE cid = ?4 AND epoch = ?5 AND last_seq = ?6"),
        db.Prepare("DELETE FROM log WHERE pos >= ?1"),
        db.Prepare("INSERT OR REPLACE INTO checkpoints(cid, seq, epoch, pos, state, state_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        db.Prepare("INSERT OR REPLACE INTO dedup(cid, request_id, seq, args_hash, reply, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
    );

    /// <summary>
    /// Appends every group in one transaction (rule 1). Groups that fail their fence leave no rows; the
    /// others commit together and are fsync'd (synchronous=FULL) before this returns. Claims waiting in
    /// <paramref name="claims"/> run first in the same transaction, each decided as it would be in a transaction of its own
    /// just before (a claim fences the appends after it; an append of the claimer cannot be in this batch, since it needs the
    /// claimed epoch): one fsync for both. Hand-overs waiting there follow the claims (<see cref="HandOverAll"/>). They are
    /// answered after the commit; a failure fails them with the appends.
    /// </summary>
    public AppendStatus[] Append(IReadOnlyList<AppendGroup> groups, long nowTicks, ClaimCombiner? claims = null)
    {
        lock (_gate)
        {
            var batch = claims?.Take();
            var handOvers = claims?.TakeHandOvers();
            if (batch is null && handOvers is null) return AppendBatchOrGroups(groups, nowTicks);
            var created = new List<(string Id, long Cid)>();
            ClaimResult[]? decided = null;
            bool[]? moved = null;
            AppendStatus[] result;
            try
            {
                result = InTransaction(() =>
                {
                    if (batch is not null) decided = ClaimAllInTransaction(batch.ConvertAll(p => p.Request), nowTicks, created);
                    moved = HandOverAll(handOvers);
                    return AppendAll(groups, nowTicks);
                });
            }
            catch (Exception e)
            {
                if (batch is not null) ClaimQueue.Fail(batch, e);
                ClaimCombiner.Fail(handOvers, e);
                throw;
            }

            foreach (var (id, cid) in created) RememberCid(id, cid);
            if (batch is not null) ClaimQueue.Complete(batch, decided!);
            ClaimCombiner.Complete(handOvers, moved);
            return result;
        }
    }

    private AppendStatus[] AppendAll(IReadOnlyList<AppendGroup> groups, long nowTicks)
    {
        var result = new AppendStatus[groups.Count];
        for (var i = 0; i < groups.Count; i++)
        {
            var group = groups[i];
            // A group whose dependency (an earlier group of this transaction) was refused is refused too, before any row of it.
            if (group.DependsOn is not null && GroupDependencyRules.DependencyRefused(group, result))
            {
                result[i] = AppendStatus.Fenced;
                continue;
            }

            // A component that was never claimed has no head to pass: fenced, like a stale epoch.
            result[i] = CidOf(group.ComponentId) is not { } cid ? AppendStatus.Fenced
                : AppendRules.IsSelfConsistent(group) ? AppendFenced(cid, group, nowTicks)
                : AppendChecked(cid, group, nowTicks);
        }

        return result;
    }

    /// <summary>
    /// The common path: insert the records, then let the fence UPDATE decide. When it refuses, the group's
    /// rows (the highest positions, since the write lock is held) are deleted again and a SELECT says why.
    /// </summary>
    private AppendStatus AppendFenced(long cid, AppendGroup group, long nowTicks)
    {
        var records = group.Records;
        var checkpoint = group.Checkpoint;
        var first = records[0];
        _insertFirst.Bind(1, cid).Bind(2, first.Seq).Bind(3, first.Epoch).Bind(4, (long)first.Kind)
            .Bind(5, nowTicks).Bind(6, first.Payload.Span).Run();
        var firstPos = _db.LastInsertRowId();
        var pos = firstPos;
        var checkpointPos = checkpoint is not null && checkpoint.Seq == first.Seq ? pos : 0;
        for (var i = 1; i < records.Count; i++)
        {
            var r = records[i];
            _insertNext.Bind(1, cid).Bind(2, r.Seq).Bind(3, r.Epoch).Bind(4, (long)r.Kind)
                .Bind(5, pos).Bind(6, nowTicks).Bind(7, r.Payload.Span).Run();
            pos = _db.LastInsertRowId();
            if (checkpoint is not null && checkpoint.Seq == r.Seq) checkpointPos = pos;
        }

        _fence.Bind(1, records[^1].Seq).Bind(2, pos).Bind(3, checkpoint?.Seq ?? 0)
            .Bind(4, cid).Bind(5, group.Epoch).Bind(6, first.Seq - 1).Run();
        if (_db.Changes() != 1)
        {
            _undoFrom.Bind(1, firstPos).Run();
            return Classify(cid, group);
        }

        if (checkpoint is not null)
        {
            // A checkpoint before this group's first record points at an older record: find it on the chain.
            if (checkpointPos == 0) checkpointPos = FindPos(cid, firstPos, first.Seq, checkpoint.Seq);
            WriteCheckpoint(cid, checkpoint, checkpointPos, nowTicks);
        }

        return AppendStatus.Ok;
    }

    /// <summary>
    /// The unusual shapes (no records, seqs not consecutive, a checkpoint past the last record): read the head
    /// first and apply the same rules as the reference store, in the same order (fence before seqs).
    /// </summary>
    private AppendStatus AppendChecked(long cid, AppendGroup group, long nowTicks)
    {
        if (ReadHead(cid) is not { } head || head.Epoch != group.Epoch) return AppendStatus.Fenced;
        if (!AppendRules.Follow(head.LastSeq, group)) return AppendStatus.SeqConflict;

        // Only a group without records gets here now; with a checkpoint it records that checkpoint.
        if (group.Checkpoint is not { } checkpoint) return AppendStatus.Ok;
        _fence.Bind(1, head.LastSeq).Bind(2, head.LastPos).Bind(3, checkpoint.Seq)
            .Bind(4, cid).Bind(5, group.Epoch).Bind(6, head.LastSeq).Run();
        var checkpointPos = FindPos(cid, head.LastPos, head.LastSeq, checkpoint.Seq);
        WriteCheckpoint(cid, checkpoint, checkpointPos, nowTicks);
        return AppendStatus.Ok;
    }

    /// <summary>Why a fence UPDATE changed nothing: the component is absent or owned by another epoch, or its seq moved.</summary>
    private AppendStatus Classify(long cid, AppendGroup group) =>
        ReadHead(cid) is { } head && head.Epoch == group.Epoch ? AppendStatus.SeqConflict : AppendStatus.Fenced;

    /// <summary>
    /// A checkpoint's dedup entries in the order of the table's key (request id; the cid is the same for all), so each insert
    /// lands next to the previous one in the B-tree instead of at a random leaf: the same rows, fewer page-cache misses and
    /// cheaper seeks (bench/README.md, "The SQLite writer in steady state (session 11)"). The sort is stable, so of two
    /// entries with one request id the later one still replaces the earlier. Ordinal UTF-16 order is SQLite's BINARY
    /// (UTF-8 byte) order except around surrogate pairs, which only costs locality, never a row.
    /// </summary>
    private static IEnumerable<DedupEntry> InKeyOrder(IReadOnlyList<DedupEntry> entries) =>
        entries.Count < 2 ? entries : entries.OrderBy(d => d.RequestId, StringComparer.Ordinal);

    private void WriteCheckpoint(long cid, CheckpointRecord checkpoint, long pos, long nowTicks)
    {
        _insertCheckpoint.Bind(1, cid).Bind(2, checkpoint.Seq).Bind(3, checkpoint.Epoch).Bind(4, pos)
            .Bind(5, checkpoint.State.Span).Bind(6, checkpoint.StateHash).Bind(7, nowTicks).Run();
        foreach (var d in InKeyOrder(checkpoint.Dedup))
        {
            _insertDedup.Bind(1, cid).Bind(2, d.RequestId).Bind(3, d.Seq).Bind(4, d.ArgsHash)
                .Bind(5, d.Reply.Span).Bind(6, nowTicks).Run();
        }
    }
}
