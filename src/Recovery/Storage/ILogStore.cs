using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// The storage contract every provider implements. It is small on purpose; each rule below is checked by
/// the shared contract test suite (<c>LogStoreContract</c> in Middleware.Recovery.TestKit) that every store runs;
/// <see cref="LogStoreBase"/> applies the argument rules and the wrapping of rule 9 for the stores that derive from it.
/// <list type="number">
/// <item>Append is atomic per call: the groups that pass their fence are written in one transaction and are
/// durable (fsync'd) when the returned task completes; a group that fails its fence writes nothing and is
/// reported, without affecting the others.</item>
/// <item>A group is fenced by epoch in the same transaction: it is written only if the stored epoch equals
/// the group's epoch, so an activation that lost ownership can never write again.</item>
/// <item>Seqs are gapless and the highest seq never decreases: a group must start at stored last seq + 1.</item>
/// <item>An uncertain write is a failure: if the store cannot tell whether a commit happened it throws, and
/// the caller must treat the records as not acknowledged (a later read tells what happened).</item>
/// <item>Claiming ownership is a conditional epoch bump, the one way ownership is taken: it succeeds only if the
/// stored epoch still equals the expected one (0: the component is new and is created at epoch 1), the new epoch is
/// the old one plus one, and the claimer is recorded as owner. In <see cref="ClaimMode.RespectLiveSilo"/> it is also
/// refused while the owner is an active silo other than the claimer, in one transaction with the bump and in this
/// order: every active silo that rule 2 of <see cref="IClusterStore"/> condemns is marked dead; an owner that is still
/// an active silo (live, or a suspect nobody can vouch against) is reported with its address, whatever the expected
/// epoch, since that is where requests must go; then the epoch is checked. An owner name that is no silo (a local
/// runtime, a tool) counts as not live, and a store without cluster tables has no silos, so there both modes agree.</item>
/// <item>Reads see every acknowledged append; a range read returns records in seq order.</item>
/// <item>The latest checkpoint is the one with the highest seq; truncation never removes it or anything after it.</item>
/// <item>Dedup lookup finds every request id recorded with a checkpoint, even after its turn was truncated.</item>
/// <item>A failure to reach the store is a <see cref="StoreUnavailableException"/> naming the store and the fix.</item>
/// <item>What is read is what was written: a record, checkpoint or dedup entry whose bytes or identity changed since is
/// refused with <see cref="CorruptRecordException"/> (<see cref="LogStoreBase"/> checks the checksums of
/// <see cref="RecordChecksum"/>), never returned as if it were intact.</item>
/// </list>
/// </summary>
public interface ILogStore : IAsyncDisposable
{
    /// <summary>A short description for messages and metrics, e.g. <c>sqlite:./data/x.db</c>.</summary>
    string Name { get; }

    /// <summary>
    /// How many <see cref="AppendAsync"/> calls the group-commit writer may keep in flight at once. 1 (the
    /// default) for stores with a single writer (SQLite); a server database that commits several transactions
    /// in parallel (PostgreSQL) says more. A store that says more must accept concurrent calls; the writer never
    /// puts a component in a new call while an earlier call with that component is still in flight.
    /// </summary>
    int MaxConcurrentAppends => 1;

    /// <summary>The component's epoch, owner, last seq and latest checkpoint seq, or null if never claimed.</summary>
    Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Claims a component (rule 5): raises the epoch from <see cref="ClaimRequest.ExpectedEpoch"/> by one and records
    /// <see cref="ClaimRequest.Owner"/>, under the condition of <see cref="ClaimRequest.Mode"/>. Returns the new head
    /// (<see cref="ClaimResult.Claimed"/>), the live silo that refused it (<see cref="ClaimResult.LiveOwner"/>, only in
    /// <see cref="ClaimMode.RespectLiveSilo"/>), or a conflict (<see cref="ClaimResult.IsConflict"/>: someone else
    /// claimed first; nothing changed).
    /// </summary>
    /// <exception cref="ArgumentException">An empty component id, a blank owner, or no mode (<see cref="ClusterRules.CheckClaim"/>).</exception>
    Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default);

    /// <summary>Appends groups of records atomically (see the rules above); one status per group, in order.</summary>
    Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default);

    /// <summary>
    /// True when the store can decide a claim inside an append (<see cref="AppendClaimingAsync"/>): an activation's claim
    /// then rides in the transaction of its first write, so a cold request is one commit. False (the default): the
    /// activation claims with <see cref="ClaimAsync"/> first, as always.
    /// </summary>
    bool SupportsClaimInAppend => false;

    /// <summary>
    /// As <see cref="AppendAsync"/>, where a group may carry a claim (<see cref="AppendGroup.Claim"/>): in the one transaction,
    /// each group's claim is decided first, exactly as <see cref="ClaimAsync"/> would decide it at that point (rule 5; and a
    /// conflict when the last seq is no longer <see cref="AppendClaim.LastSeq"/>), and the group is written only when the
    /// claim succeeded (otherwise it is <see cref="AppendStatus.Fenced"/> and nothing of it is written; the claim's answer
    /// tells why). A claim that succeeded stands even when its group then fails its seq check. Only where
    /// <see cref="SupportsClaimInAppend"/>; the default refuses.
    /// </summary>
    Task<ClaimingAppendResult> AppendClaimingAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default) =>
        Task.FromException<ClaimingAppendResult>(new NotSupportedException(
            $"The store {Name} cannot claim inside an append (SupportsClaimInAppend is false): claim with ClaimAsync first."));

    /// <summary>
    /// True when the store honours <see cref="AppendGroup.DependsOn"/> in <see cref="AppendAsync"/> and
    /// <see cref="AppendClaimingAsync"/>: groups are decided in order inside the one transaction, and a group whose
    /// dependency was not written is refused (<see cref="AppendStatus.Fenced"/>, its claim undecided) without touching the
    /// others. The group-commit writer then lets a turn's call to a component of the same runtime leave before the caller's
    /// partial record is durable (the callee's record commits only with or after it). False (the default): a group with
    /// dependencies is refused as an argument error, and callers wait for their partial record before a call leaves.
    /// </summary>
    bool SupportsGroupDependencies => false;

    /// <summary>Records with <paramref name="fromSeq"/> &lt;= seq &lt;= <paramref name="toSeq"/>, in seq order.</summary>
    Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="ReadAsync"/>, but a record that does not match its checksum is returned (marked
    /// <see cref="ChecksumStatus.Corrupt"/>, its payload as stored) instead of failing the read: for tools that show or
    /// audit a log (<c>mw log</c>, <c>mw audit</c>). The default reads with <see cref="ReadAsync"/>.
    /// </summary>
    Task<IReadOnlyList<LogRecord>> ReadCheckedAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        ReadAsync(componentId, fromSeq, toSeq, cancellationToken);

    /// <summary>The checkpoint with the highest seq not after <paramref name="atOrBeforeSeq"/>, or null.</summary>
    Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default);

    /// <summary>
    /// The head, the latest checkpoint at or before its last seq and the records after that checkpoint up to the last seq,
    /// in one read where the store can (an activation's whole load: one indexed read instead of three). Records and the
    /// checkpoint are checked as <see cref="ReadAsync"/> and <see cref="GetCheckpointAsync"/> check them. The default
    /// composes those calls (<see cref="ActivationRead.ComposeAsync"/>); its parts may then come from different moments,
    /// which <see cref="ActivationRead.IsComplete"/> tells.
    /// </summary>
    Task<ActivationRead> ReadForActivationAsync(string componentId, CancellationToken cancellationToken = default) =>
        ActivationRead.ComposeAsync(this, componentId, cancellationToken);

    /// <summary>
    /// As <see cref="ReadForActivationAsync(string, CancellationToken)"/>, and also whether the store's dedup table holds
    /// <paramref name="requestId"/> (the request that triggers the activation): when it does not, at the read's snapshot or
    /// later, <see cref="ActivationRead.RequestNotRecorded"/> names it, so the activation's first turn needs no
    /// <see cref="FindRequestAsync"/> of its own. The default reads without that look-up (the activation then looks it up
    /// as before); a store answers both in one read where it can.
    /// </summary>
    Task<ActivationRead> ReadForActivationAsync(string componentId, string? requestId, CancellationToken cancellationToken = default) =>
        ReadForActivationAsync(componentId, cancellationToken);

    /// <summary>The dedup entry of a request id on a component (recorded with a checkpoint), or null.</summary>
    Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every dedup entry of a component, in request id order, each marked with its <see cref="DedupEntry.Checksum"/> (a
    /// corrupt one is returned, not refused): for the audit's cross-check of dedup entries against the log. The default
    /// lists none.
    /// </summary>
    Task<IReadOnlyList<DedupEntry>> ListDedupAsync(string componentId, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<DedupEntry>>([]);

    /// <summary>
    /// The request ids of every dedup entry of a component, in any order, or null when there are more than
    /// <paramref name="limit"/> or the store cannot list them all. An activation past its checkpoint reads it once, so that
    /// it can tell a new request id from a recorded one without a read per request. The default answers null (the
    /// activation then asks <see cref="FindRequestAsync"/> per request, as before): never an incomplete list.
    /// </summary>
    Task<IReadOnlyList<string>?> ListRequestIdsAsync(string componentId, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<string>?>(null);

    /// <summary>
    /// Deletes records with seq &lt; <paramref name="beforeSeq"/>. Refused (throws) unless a checkpoint at
    /// seq &gt;= <paramref name="beforeSeq"/> - 1 exists. Returns the number of records deleted.
    /// </summary>
    Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default);

    /// <summary>Ids of all components the store knows, in id order (for audits and admin listings).</summary>
    Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// The components whose last record is a partial turn record (<see cref="RecordKind.PartialTurn"/>): a turn in doubt
    /// that its next activation completes before anything else. In id order. Silos use it to find the turns in doubt
    /// that a dead silo left behind and complete them without waiting for a client's retry. The default reads every
    /// component's last record; stores answer it with one query.
    /// </summary>
    async Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(CancellationToken cancellationToken = default)
    {
        var found = new List<ComponentHead>();
        foreach (var head in await ListComponentsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (head.LastSeq == 0) continue;
            var last = await ReadAsync(head.ComponentId, head.LastSeq, head.LastSeq, cancellationToken).ConfigureAwait(false);
            if (last.Count == 1 && last[0].Kind == RecordKind.PartialTurn) found.Add(head);
        }

        return found;
    }
}
