using System.Runtime.InteropServices;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// The decision part of an append for the server stores (PostgreSQL, SQL Server): given the heads of the
/// components as locked inside the append's transaction, it applies the contract's rules to the groups in
/// order, exactly as <see cref="MemoryLogStore"/> does, and collects the rows to write. Deciding in code
/// over locked heads keeps every shape of group (several groups of one component in one call, checkpoint-only
/// groups, gaps) right with two round trips per call, whatever the SQL dialect.
/// </summary>
/// <remarks>This file is compiled into both server providers (linked), so the two cannot drift apart.</remarks>
internal sealed class AppendPlan
{
    private AppendPlan(AppendStatus[] statuses) => Statuses = statuses;

    /// <summary>One status per group, in order.</summary>
    public AppendStatus[] Statuses { get; }

    /// <summary>The final head of every component that had an accepted group: one row each.</summary>
    public List<HeadUpdate> Heads { get; } = [];

    /// <summary>Records of the accepted groups, with their component id.</summary>
    public List<(string ComponentId, LogRecord Record)> Records { get; } = [];

    /// <summary>Checkpoints of the accepted groups; a later one with the same seq replaces an earlier one.</summary>
    public List<(string ComponentId, CheckpointRecord Checkpoint)> Checkpoints { get; } = [];

    /// <summary>Dedup entries of the accepted checkpoints; a later one with the same request id replaces an earlier one.</summary>
    public List<(string ComponentId, DedupEntry Entry)> Dedup { get; } = [];

    /// <summary>The distinct component ids of the groups in ordinal order: the order their rows are locked in, so
    /// two concurrent appends that share components cannot deadlock.</summary>
    public static string[] ComponentIds(IReadOnlyList<AppendGroup> groups)
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var g in groups) ids.Add(g.ComponentId);
        return [.. ids];
    }

    /// <summary>Applies the rules to <paramref name="groups"/> over the locked <paramref name="heads"/> (absent: never claimed).</summary>
    public static AppendPlan Make(IReadOnlyList<AppendGroup> groups, IReadOnlyDictionary<string, StoredHead> heads)
    {
        var plan = new AppendPlan(new AppendStatus[groups.Count]);
        var current = new Dictionary<string, StoredHead>(StringComparer.Ordinal);
        var checkpointAt = new Dictionary<(string, long), int>();
        var dedupAt = new Dictionary<(string, string), int>();
        for (var i = 0; i < groups.Count; i++)
        {
            var g = groups[i];
            if ((!current.TryGetValue(g.ComponentId, out var head) && !heads.TryGetValue(g.ComponentId, out head)) || head.Epoch != g.Epoch)
            {
                plan.Statuses[i] = AppendStatus.Fenced;
                continue;
            }

            if (!AppendRules.Follow(head.LastSeq, g))
            {
                plan.Statuses[i] = AppendStatus.SeqConflict;
                continue;
            }

            plan.Statuses[i] = AppendStatus.Ok;
            foreach (var r in g.Records) plan.Records.Add((g.ComponentId, r));
            var lastSeq = g.Records.Count == 0 ? head.LastSeq : g.Records[^1].Seq;
            var checkpointSeq = head.CheckpointSeq;
            if (g.Checkpoint is { } c)
            {
                checkpointSeq = Math.Max(checkpointSeq, c.Seq);
                Upsert(plan.Checkpoints, checkpointAt, (g.ComponentId, c.Seq), (g.ComponentId, c));
                foreach (var d in c.Dedup) Upsert(plan.Dedup, dedupAt, (g.ComponentId, d.RequestId), (g.ComponentId, d));
            }

            current[g.ComponentId] = head with { LastSeq = lastSeq, CheckpointSeq = checkpointSeq };
        }

        foreach (var (id, head) in current) plan.Heads.Add(new HeadUpdate(id, head.LastSeq, head.CheckpointSeq));
        return plan;
    }

    /// <summary>The bytes of <paramref name="memory"/> as an array, without a copy when it already is a whole array.</summary>
    public static byte[] ToArray(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetArray(memory, out var segment) && segment.Array is { } array && segment.Offset == 0 && segment.Count == array.Length
            ? array
            : memory.ToArray();

    /// <summary>Adds or replaces by key: two rows with one key in one multi-row upsert would be refused by the server.</summary>
    private static void Upsert<TKey, TRow>(List<TRow> rows, Dictionary<TKey, int> index, TKey key, TRow row)
        where TKey : notnull
    {
        if (index.TryGetValue(key, out var at))
        {
            rows[at] = row;
            return;
        }

        index[key] = rows.Count;
        rows.Add(row);
    }
}

/// <summary>The fence-relevant columns of a components row, as locked by the append.</summary>
internal readonly record struct StoredHead(long Epoch, long LastSeq, long CheckpointSeq);

/// <summary>The new head values of one component after an append.</summary>
internal readonly record struct HeadUpdate(string ComponentId, long LastSeq, long CheckpointSeq);
