using Middleware.Recovery.Log;

namespace Middleware.Recovery.Storage;

/// <summary>
/// The base of every store that keeps a log and cluster tables (<see cref="ILogStore"/> and <see cref="IClusterStore"/>):
/// the memory, SQLite, PostgreSQL and SQL Server stores derive from it, and so may a third party's. It does once what
/// every store must do the same way:
/// <list type="bullet">
/// <item>applies the argument rules (<see cref="ClusterRules"/>, <see cref="ClusterRules.CheckClaim"/>), so every store
/// refuses the same inputs with the same exceptions and words;</item>
/// <item>refuses calls after <see cref="DisposeAsync"/> with <see cref="ObjectDisposedException"/> (unless
/// <see cref="ServesAfterDispose"/>);</item>
/// <item>turns a failure of the provider's driver into a <see cref="StoreUnavailableException"/> naming the store, the
/// operation and the fix (rule 9 of <see cref="ILogStore"/>), through <see cref="DescribeFailure"/>; argument errors and
/// the contract's own refusals (<see cref="StoreContractException"/>, a closed or unknown session) pass through;</item>
/// <item>returns every failure as a faulted task, never as an exception thrown by the call itself.</item>
/// </list>
/// A provider implements the protected <c>…CoreAsync</c> methods, which receive checked arguments and may let their
/// driver's exceptions escape, plus <see cref="Name"/>, <see cref="DescribeFailure"/> and, when it holds resources,
/// <see cref="DisposeCoreAsync"/>. A core method that completes synchronously (a store on one writer thread) pays no
/// extra allocation for the wrapping. A store that keeps no cluster tables implements <see cref="ILogStore"/> directly.
/// </summary>
public abstract partial class LogStoreBase : IClusterStore
{
    private int _disposed;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public virtual int MaxConcurrentAppends => 1;

    /// <summary>True once <see cref="DisposeAsync"/> was called.</summary>
    protected bool IsDisposed => Volatile.Read(ref _disposed) == 1;

    /// <summary>
    /// False (the default): calls after <see cref="DisposeAsync"/> throw <see cref="ObjectDisposedException"/>. A store
    /// that holds nothing to release may say true and keep serving (the memory store: a test "reopens" it by using the
    /// same object again).
    /// </summary>
    protected virtual bool ServesAfterDispose => false;

    /// <inheritdoc />
    public Task<ComponentHead?> GetHeadAsync(string componentId, CancellationToken cancellationToken = default) =>
        Run("reading the head of", componentId, false, () => GetHeadCoreAsync(componentId, cancellationToken));

    /// <inheritdoc />
    public Task<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) =>
        Run("claiming", request is { RespectsLiveSilo: true } ? $"{request.ComponentId} for silo {request.Owner}" : request?.ComponentId, true, () =>
        {
            ClusterRules.CheckClaim(request!);
            return ClaimCoreAsync(request!, cancellationToken);
        });

    /// <inheritdoc />
    /// <remarks>Every payload, dedup reply and checkpoint state is sealed with its checksum (<see cref="RecordChecksum"/>) before the provider sees it.</remarks>
    public Task<IReadOnlyList<AppendStatus>> AppendAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default) =>
        Run("appending", null, true, () =>
        {
            ClaimInAppendRules.RefuseClaims(groups);
            GroupDependencyRules.Check(groups, SupportsGroupDependencies, Name);
            return AppendCoreAsync(Checksums.Seal(groups), cancellationToken);
        });

    /// <inheritdoc />
    public virtual bool SupportsClaimInAppend => false;

    /// <inheritdoc />
    public virtual bool SupportsGroupDependencies => false;

    /// <inheritdoc />
    /// <remarks>Sealed as <see cref="AppendAsync"/> seals; the claims checked by <see cref="ClaimInAppendRules.Check"/>.</remarks>
    public Task<ClaimingAppendResult> AppendClaimingAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken = default) =>
        Run("appending", null, true, () =>
        {
            if (!SupportsClaimInAppend)
                throw new NotSupportedException($"The store {Name} cannot claim inside an append (SupportsClaimInAppend is false): claim with ClaimAsync first.");
            ClaimInAppendRules.Check(groups);
            GroupDependencyRules.Check(groups, SupportsGroupDependencies, Name);
            return AppendClaimingCoreAsync(Checksums.Seal(groups), cancellationToken);
        });

    /// <summary>
    /// The claiming append of <see cref="ILogStore.AppendClaimingAsync"/> (only when <see cref="SupportsClaimInAppend"/>);
    /// the claims passed <see cref="ClaimInAppendRules.Check"/>. The default refuses.
    /// </summary>
    protected virtual Task<ClaimingAppendResult> AppendClaimingCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"The store {Name} cannot claim inside an append.");

    /// <inheritdoc />
    /// <exception cref="CorruptRecordException">(in the task) A record does not match its checksum.</exception>
    public Task<IReadOnlyList<LogRecord>> ReadAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        Then(ReadCheckedAsync(componentId, fromSeq, toSeq, cancellationToken), records => Checksums.Refuse(Name, componentId, records));

    /// <inheritdoc />
    public Task<IReadOnlyList<LogRecord>> ReadCheckedAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken = default) =>
        Then(Run("reading the log of", componentId, false, () => ReadCoreAsync(componentId, fromSeq, toSeq, cancellationToken)),
            records => Checksums.Open(componentId, records));

    /// <inheritdoc />
    /// <exception cref="CorruptRecordException">(in the task) The checkpoint does not match its checksum.</exception>
    public Task<CheckpointRecord?> GetCheckpointAsync(string componentId, long atOrBeforeSeq = long.MaxValue, CancellationToken cancellationToken = default) =>
        Then(Run("reading a checkpoint of", componentId, false, () => GetCheckpointCoreAsync(componentId, atOrBeforeSeq, cancellationToken)),
            checkpoint => Checksums.Open(Name, componentId, checkpoint));

    /// <inheritdoc />
    /// <exception cref="CorruptRecordException">(in the task) The entry does not match its checksum: its reply is never served.</exception>
    public Task<DedupEntry?> FindRequestAsync(string componentId, string requestId, CancellationToken cancellationToken = default) =>
        Then(Run("looking up a request of", componentId, false, () => FindRequestCoreAsync(componentId, requestId, cancellationToken)),
            entry => entry is null ? null : Checksums.Refuse(Name, componentId, Checksums.Open(componentId, entry)));

    /// <inheritdoc />
    public Task<IReadOnlyList<DedupEntry>> ListDedupAsync(string componentId, CancellationToken cancellationToken = default) =>
        Then(Run("listing the dedup entries of", componentId, false, () => ListDedupCoreAsync(componentId, cancellationToken)),
            entries => (IReadOnlyList<DedupEntry>)entries.Select(e => Checksums.Open(componentId, e)).ToList());

    /// <inheritdoc />
    public Task<IReadOnlyList<string>?> ListRequestIdsAsync(string componentId, int limit, CancellationToken cancellationToken = default) =>
        Run("listing the request ids of", componentId, false, () => ListRequestIdsCoreAsync(componentId, limit, cancellationToken));

    /// <inheritdoc />
    public Task<long> TruncateAsync(string componentId, long beforeSeq, CancellationToken cancellationToken = default) =>
        Run("truncating", componentId, true, () => TruncateCoreAsync(componentId, beforeSeq, cancellationToken));

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListComponentsAsync(CancellationToken cancellationToken = default) =>
        Run("listing components", null, false, () => ListComponentsCoreAsync(cancellationToken));

    /// <inheritdoc />
    public Task<IReadOnlyList<ComponentHead>> ListInDoubtAsync(CancellationToken cancellationToken = default) =>
        Run("listing turns in doubt", null, false, () => ListInDoubtCoreAsync(cancellationToken));

    /// <summary>Closes the store once (<see cref="DisposeCoreAsync"/>); later calls of any operation throw <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await DisposeCoreAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>The head of a component, or null (<see cref="ILogStore.GetHeadAsync"/>).</summary>
    protected abstract Task<ComponentHead?> GetHeadCoreAsync(string componentId, CancellationToken cancellationToken);

    /// <summary>The claim of rule 5 (<see cref="ILogStore.ClaimAsync"/>); the request passed <see cref="ClusterRules.CheckClaim"/>.</summary>
    protected abstract Task<ClaimResult> ClaimCoreAsync(ClaimRequest request, CancellationToken cancellationToken);

    /// <summary>An atomic, fenced append of rules 1 to 4 (<see cref="ILogStore.AppendAsync"/>).</summary>
    protected abstract Task<IReadOnlyList<AppendStatus>> AppendCoreAsync(IReadOnlyList<AppendGroup> groups, CancellationToken cancellationToken);

    /// <summary>A range of records in seq order (<see cref="ILogStore.ReadAsync"/>).</summary>
    protected abstract Task<IReadOnlyList<LogRecord>> ReadCoreAsync(string componentId, long fromSeq, long toSeq, CancellationToken cancellationToken);

    /// <summary>The latest checkpoint at or before a seq (<see cref="ILogStore.GetCheckpointAsync"/>).</summary>
    protected abstract Task<CheckpointRecord?> GetCheckpointCoreAsync(string componentId, long atOrBeforeSeq, CancellationToken cancellationToken);

    /// <summary>A dedup entry (<see cref="ILogStore.FindRequestAsync"/>).</summary>
    protected abstract Task<DedupEntry?> FindRequestCoreAsync(string componentId, string requestId, CancellationToken cancellationToken);

    /// <summary>
    /// Every dedup entry of a component in request id order, as stored (<see cref="ILogStore.ListDedupAsync"/>). The
    /// default lists none: a store that cannot list them leaves the audit's cross-check of dedup entries out.
    /// </summary>
    protected virtual Task<IReadOnlyList<DedupEntry>> ListDedupCoreAsync(string componentId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DedupEntry>>([]);

    /// <summary>
    /// Every dedup entry's request id of a component, or null when there are more than <paramref name="limit"/>
    /// (<see cref="ILogStore.ListRequestIdsAsync"/>). The default answers null: a store must never give an incomplete list.
    /// </summary>
    protected virtual Task<IReadOnlyList<string>?> ListRequestIdsCoreAsync(string componentId, int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>?>(null);

    /// <summary><paramref name="ids"/>, or null when there are more than <paramref name="limit"/>.</summary>
    protected static IReadOnlyList<string>? WithinLimit(List<string> ids, int limit) => ids.Count > limit ? null : ids;

    /// <summary>Truncation under rule 7 (<see cref="ILogStore.TruncateAsync"/>); a refusal is a <see cref="StoreContractException"/>.</summary>
    protected abstract Task<long> TruncateCoreAsync(string componentId, long beforeSeq, CancellationToken cancellationToken);

    /// <summary>Every component's head in id order (<see cref="ILogStore.ListComponentsAsync"/>).</summary>
    protected abstract Task<IReadOnlyList<ComponentHead>> ListComponentsCoreAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The components whose last record is a partial turn, in id order (<see cref="ILogStore.ListInDoubtAsync"/>). The
    /// default reads every component's last record; a store answers it with one query.
    /// </summary>
    protected virtual async Task<IReadOnlyList<ComponentHead>> ListInDoubtCoreAsync(CancellationToken cancellationToken)
    {
        var found = new List<ComponentHead>();
        foreach (var head in await ListComponentsCoreAsync(cancellationToken).ConfigureAwait(false))
        {
            if (head.LastSeq == 0) continue;
            var last = await ReadCoreAsync(head.ComponentId, head.LastSeq, head.LastSeq, cancellationToken).ConfigureAwait(false);
            if (last.Count == 1 && last[0].Kind == RecordKind.PartialTurn) found.Add(head);
        }

        return found;
    }

    /// <summary>
    /// The <see cref="StoreUnavailableException"/> for a failure of this store's driver while <paramref name="operation"/>
    /// ran (e.g. "appending", "claiming Account/1"): it names the store and what to fix, and for a
    /// <paramref name="write"/> says that nothing was acknowledged. Null when <paramref name="exception"/> is not a store
    /// failure (an argument error, a contract refusal, a bug), which then reaches the caller unchanged.
    /// </summary>
    protected abstract StoreUnavailableException? DescribeFailure(Exception exception, string operation, bool write);

    /// <summary>Releases what the store holds (connections, files), once, after the first <see cref="DisposeAsync"/>.</summary>
    protected virtual ValueTask DisposeCoreAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Runs <paramref name="work"/> (argument checks, then the core method) and returns its task, with every failure in
    /// the task: a store failure as <see cref="DescribeFailure"/> words it, anything else unchanged. A task already
    /// completed comes back as it is.
    /// </summary>
    private Task<T> Run<T>(string operation, string? subject, bool write, Func<Task<T>> work)
    {
        Task<T> task;
        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed && !ServesAfterDispose, this);
            task = work();
        }
        catch (OperationCanceledException e) when (e.CancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(e.CancellationToken);
        }
        catch (Exception e)
        {
            return Task.FromException<T>(Describe(e, operation, subject, write) ?? e);
        }

        return task.IsCompletedSuccessfully ? task : Watch(task, operation, subject, write);
    }

    private async Task<T> Watch<T>(Task<T> task, string operation, string? subject, bool write)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        catch (Exception e) when (Describe(e, operation, subject, write) is { } unavailable)
        {
            throw unavailable;
        }
    }

    private StoreUnavailableException? Describe(Exception e, string operation, string? subject, bool write) =>
        e is StoreUnavailableException ? null : DescribeFailure(e, subject is null ? operation : operation + " " + subject, write);

    /// <summary>
    /// <paramref name="task"/>'s result passed through <paramref name="then"/>, whose exception faults the returned task;
    /// a task completed successfully costs no state machine.
    /// </summary>
    private static Task<TResult> Then<T, TResult>(Task<T> task, Func<T, TResult> then)
    {
        if (!task.IsCompletedSuccessfully) return Await(task, then);
        try
        {
            return Task.FromResult(then(task.Result));
        }
        catch (Exception e)
        {
            return Task.FromException<TResult>(e);
        }

        static async Task<TResult> Await(Task<T> task, Func<T, TResult> then) => then(await task.ConfigureAwait(false));
    }

    /// <summary>Adapts an operation without a result to <see cref="Run{T}"/>.</summary>
    private static async Task<bool> Done(Task task)
    {
        await task.ConfigureAwait(false);
        return true;
    }
}
