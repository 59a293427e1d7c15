using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// How <see cref="LogStoreBase"/> applies <see cref="RecordChecksum"/>: every payload, dedup reply and checkpoint state
/// is sealed on its way into a store and opened (checked and stripped) on its way out, so a provider stores and returns
/// opaque bytes and never deals with checksums.
/// </summary>
internal static class Checksums
{
    /// <summary>The groups with every payload, checkpoint state and dedup reply sealed.</summary>
    public static IReadOnlyList<AppendGroup> Seal(IReadOnlyList<AppendGroup> groups)
    {
        if (groups is null) return groups!; // the provider refuses it with its own words
        var sealedGroups = new AppendGroup[groups.Count];
        for (var i = 0; i < groups.Count; i++)
        {
            var g = groups[i];
            if (g?.Records is null)
            {
                sealedGroups[i] = g!;
                continue;
            }

            var records = new LogRecord[g.Records.Count];
            for (var j = 0; j < records.Length; j++)
            {
                var r = g.Records[j];
                records[j] = r with { Payload = RecordChecksum.SealRecord(g.ComponentId, r), SealRoom = null };
            }

            var checkpoint = g.Checkpoint;
            if (checkpoint is not null)
            {
                checkpoint = checkpoint with
                {
                    State = RecordChecksum.SealCheckpoint(g.ComponentId, checkpoint),
                    Dedup = checkpoint.Dedup.Count == 0 ? checkpoint.Dedup : SealDedup(g.ComponentId, checkpoint.Dedup),
                };
            }

            sealedGroups[i] = g with { Records = records, Checkpoint = checkpoint };
        }

        return sealedGroups;
    }

    // Apart from Seal so the lambda's closure is made for a checkpoint's entries only, not for every group of every batch.
    private static List<DedupEntry> SealDedup(string componentId, IReadOnlyList<DedupEntry> entries) =>
        entries.Select(d => d with { Reply = RecordChecksum.SealDedup(componentId, d) }).ToList();

    /// <summary>Records as stored, opened: payloads stripped of their seal, each with its <see cref="LogRecord.Checksum"/>.</summary>
    public static IReadOnlyList<LogRecord> Open(string componentId, IReadOnlyList<LogRecord> stored)
    {
        if (stored.Count == 0) return stored;
        var opened = new LogRecord[stored.Count];
        for (var i = 0; i < opened.Length; i++)
        {
            var r = stored[i];
            var (payload, status) = RecordChecksum.OpenRecord(componentId, r);
            // A corrupt record keeps its bytes as stored, so a tool can show them.
            opened[i] = status == ChecksumStatus.Corrupt ? r with { Checksum = status } : r with { Payload = payload, Checksum = status };
        }

        return opened;
    }

    /// <summary>The records, or <see cref="CorruptRecordException"/> for the first corrupt one.</summary>
    public static IReadOnlyList<LogRecord> Refuse(string store, string componentId, IReadOnlyList<LogRecord> records)
    {
        foreach (var r in records)
        {
            if (r.Checksum == ChecksumStatus.Corrupt)
                throw new CorruptRecordException(store, componentId, r.Seq, "log record", $"its checksum does not match its bytes and identity (epoch {r.Epoch}, kind {r.Kind}, {r.Payload.Length} bytes)");
        }

        return records;
    }

    /// <summary>A checkpoint as stored, opened; <see cref="CorruptRecordException"/> when it does not match its checksum.</summary>
    public static CheckpointRecord? Open(string store, string componentId, CheckpointRecord? stored)
    {
        if (stored is null) return null;
        var (state, status) = RecordChecksum.OpenCheckpoint(componentId, stored);
        if (status == ChecksumStatus.Corrupt)
            throw new CorruptRecordException(store, componentId, stored.Seq, "checkpoint", $"its checksum does not match its state bytes and identity (epoch {stored.Epoch}, state hash {stored.StateHash})");
        return stored with { State = state, Checksum = status };
    }

    /// <summary>A dedup entry as stored, opened (a corrupt one keeps its reply as stored).</summary>
    public static DedupEntry Open(string componentId, DedupEntry stored)
    {
        var (reply, status) = RecordChecksum.OpenDedup(componentId, stored);
        return status == ChecksumStatus.Corrupt ? stored with { Checksum = status } : stored with { Reply = reply, Checksum = status };
    }

    /// <summary>The entry, or <see cref="CorruptRecordException"/> when it is corrupt: its reply is never served.</summary>
    public static DedupEntry Refuse(string store, string componentId, DedupEntry entry) =>
        entry.Checksum != ChecksumStatus.Corrupt
            ? entry
            : throw new CorruptRecordException(store, componentId, entry.Seq, $"dedup entry of request '{entry.RequestId}'",
                "its checksum does not match its reply, request id, seq and arguments hash; the request is not run again either");
}
