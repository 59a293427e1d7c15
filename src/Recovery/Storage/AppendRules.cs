using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// The seq rule of the storage contract (rule 3), shared by every provider.
/// </summary>
public static class AppendRules
{
    /// <summary>True when the group's seqs start right after <paramref name="lastSeq"/> and are consecutive.</summary>
    public static bool Follow(long lastSeq, AppendGroup group) =>
        IsConsecutive(group) && (group.Records.Count == 0 || group.Records[0].Seq == lastSeq + 1) &&
        (group.Checkpoint is null || group.Checkpoint.Seq <= (group.Records.Count == 0 ? lastSeq : group.Records[^1].Seq));

    /// <summary>
    /// True when the group is well formed whatever the stored head is: consecutive seqs and a checkpoint no later
    /// than the last record. Such a group can be fenced by the single conditional UPDATE.
    /// </summary>
    public static bool IsSelfConsistent(AppendGroup group) =>
        group.Records.Count > 0 && IsConsecutive(group) &&
        (group.Checkpoint is null || group.Checkpoint.Seq <= group.Records[^1].Seq);

    private static bool IsConsecutive(AppendGroup group)
    {
        var records = group.Records;
        for (var i = 1; i < records.Count; i++)
        {
            if (records[i].Seq != records[0].Seq + i) return false;
        }

        return true;
    }
}
