using System.Text;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Recovery.TestKit;

/// <summary>
/// What both contract suites share: the store under test, made fresh for every test by a <typeparamref name="TStores"/>,
/// the second instances a test opens (all closed with it), and small builders of records, groups and claims. Subclass
/// <see cref="LogStoreContract{TStores}"/> and <see cref="ClusterStoreContract{TStores}"/>, not this class.
/// </summary>
/// <typeparam name="TStores">The store author's <see cref="StoreFactory"/>.</typeparam>
public abstract class StoreContract<TStores> : IAsyncLifetime
    where TStores : StoreFactory, new()
{
    private readonly List<ILogStore> _others = [];

    /// <summary>The factory of this test (one per test, like the test class itself).</summary>
    protected TStores Stores { get; } = new();

    /// <summary>The store under test; replaced by <see cref="ReopenIfPossibleAsync"/>.</summary>
    protected ILogStore Store { get; private set; } = null!;

    /// <summary>The store under test as a cluster store; a store without cluster tables fails the cluster suite here, saying so.</summary>
    protected IClusterStore Cluster => Store as IClusterStore
        ?? throw new InvalidOperationException($"{Store.Name} does not implement IClusterStore; run only LogStoreContract against it.");

    /// <inheritdoc />
    public async Task InitializeAsync() => Store = await Stores.CreateStoreAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        foreach (var other in _others) await other.DisposeAsync();
        await Store.DisposeAsync();
        await Stores.CleanupAsync();
    }

    /// <summary>
    /// Closes the store and opens it again when the factory says <see cref="StoreFactory.CanReopen"/>, so the assertions
    /// that follow also prove durability; false (the store left open) otherwise.
    /// </summary>
    protected async Task<bool> ReopenIfPossibleAsync()
    {
        if (!Stores.CanReopen) return false;
        await Store.DisposeAsync();
        Store = await Stores.OpenStoreAsync();
        return true;
    }

    /// <summary>
    /// A second instance on the same data (closed with the test) when the factory says
    /// <see cref="StoreFactory.IsSharedAcrossProcesses"/>, or null.
    /// </summary>
    protected async Task<ILogStore?> OpenSecondInstanceAsync()
    {
        if (!Stores.IsSharedAcrossProcesses) return null;
        var other = await Stores.OpenStoreAsync();
        _others.Add(other);
        return other;
    }

    /// <summary>The second instance, or the store under test itself when the store is not shared (races then run on one instance).</summary>
    protected async Task<IClusterStore> OtherAsync() => (IClusterStore)(await OpenSecondInstanceAsync() ?? Store);

    /// <summary>UTF-8 bytes of <paramref name="text"/>.</summary>
    protected static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>The UTF-8 text of <paramref name="bytes"/>.</summary>
    protected static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>A turn record at <paramref name="seq"/> whose payload is <paramref name="payload"/> (default <c>turn {seq}</c>).</summary>
    protected static LogRecord Rec(long seq, long epoch, string? payload = null) =>
        new(seq, epoch, RecordKind.Turn, Bytes(payload ?? $"turn {seq}"));

    /// <summary>A group of <paramref name="count"/> consecutive records from <paramref name="fromSeq"/>, payloads <c>{id} turn {seq}{tag}</c>.</summary>
    protected static AppendGroup Group(string id, long epoch, long fromSeq, int count, CheckpointRecord? checkpoint = null, string tag = "") =>
        new(id, epoch, Enumerable.Range(0, count).Select(i => Rec(fromSeq + i, epoch, $"{id} turn {fromSeq + i}{tag}")).ToList(), checkpoint);

    /// <summary>A checkpoint at <paramref name="seq"/> with state <c>{"state":seq}</c>, hash <c>hash-seq</c> and the given dedup entries.</summary>
    protected static CheckpointRecord Checkpoint(long seq, long epoch, params DedupEntry[] dedup) =>
        new(seq, epoch, Bytes($"{{\"state\":{seq}}}"), $"hash-{seq}") { Dedup = dedup };

    /// <summary>The seqs <paramref name="from"/>..<paramref name="toInclusive"/>.</summary>
    protected static List<long> Range(long from, long toInclusive) =>
        from > toInclusive ? [] : Enumerable.Range(0, (int)(toInclusive - from + 1)).Select(i => from + i).ToList();

    /// <summary>An epoch-only claim that must succeed; returns the new epoch.</summary>
    protected async Task<long> ClaimAsync(string id, long expectedEpoch = 0, string owner = "runtime-1")
    {
        var head = await TryClaimAsync(id, expectedEpoch, owner);
        Assert.NotNull(head);
        return head.Epoch;
    }

    /// <summary>An epoch-only claim (a local runtime, a tool) on <paramref name="store"/> (default: the store under test): the new head, or null on a conflict.</summary>
    protected async Task<ComponentHead?> TryClaimAsync(string id, long expectedEpoch, string owner, ILogStore? store = null)
    {
        var result = await (store ?? Store).ClaimAsync(new ClaimRequest(id, expectedEpoch, owner, ClaimMode.EpochOnly));
        Assert.Null(result.LiveOwner); // only a claim that respects live silos reports one
        return result.Claimed;
    }

    /// <summary>A claim for <paramref name="siloId"/> that respects live silos, on <paramref name="store"/> (default: the store under test).</summary>
    protected Task<ClaimResult> ClaimForSiloAsync(string id, long expectedEpoch, string siloId, ILogStore? store = null) =>
        (store ?? Store).ClaimAsync(new ClaimRequest(id, expectedEpoch, siloId, ClaimMode.RespectLiveSilo));

    /// <summary>Appends one group and returns its status.</summary>
    protected async Task<AppendStatus> AppendAsync(AppendGroup group) => Assert.Single(await Store.AppendAsync([group]));

    /// <summary>The seqs of the records of <paramref name="id"/> from <paramref name="from"/> to <paramref name="to"/>.</summary>
    protected async Task<List<long>> SeqsAsync(string id, long from = 1, long to = long.MaxValue) =>
        (await Store.ReadAsync(id, from, to)).Select(r => r.Seq).ToList();
}
