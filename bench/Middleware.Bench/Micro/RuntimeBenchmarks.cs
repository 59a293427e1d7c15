using System.Globalization;
using Bank;
using BenchmarkDotNet.Attributes;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Bench.Micro;

/// <summary>
/// One Deposit turn at a time on the memory store: the runtime's own cost per turn (dispatch, record,
/// hand-off to the group-commit thread and back), without disk. Raw InvokeAsync versus the typed proxy.
/// </summary>
[MemoryDiagnoser]
public class InvokeBenchmarks
{
    private LocalRuntime _runtime = null!;
    private ReadOnlyMemory<byte> _args;
    private string _typeName = "";
    private long _n;

    [GlobalSetup]
    public void Setup()
    {
        var registry = BankComponents.Registry();
        var type = registry.Get(typeof(IAccount));
        _typeName = type.Name;
        _args = type.Methods[nameof(IAccount.Deposit)].EncodeArgs([1L], registry.Json);
        // Checkpoints at the default rate, as in production: they are part of the steady-state cost.
        _runtime = new LocalRuntime(new MemoryLogStore(), registry);
        _runtime.Call<IAccount>("acct-micro", "warm").Deposit(1).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _runtime.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true)]
    public async Task<Middleware.Core.ComponentReply> InvokeRaw() =>
        await _runtime.InvokeAsync(new Invocation(new ComponentId(_typeName, "acct-micro"), NextId(), nameof(IAccount.Deposit), _args)).ConfigureAwait(false);

    [Benchmark]
    public async Task<long> InvokeProxy() =>
        await _runtime.Call<IAccount>("acct-micro", NextId()).Deposit(1).ConfigureAwait(false);

    private string NextId() => "m-" + (++_n).ToString(CultureInfo.InvariantCulture);
}

/// <summary>Replay throughput: <see cref="Replayer.LoadAsync"/> of one component with N logged turns and no checkpoint.</summary>
[MemoryDiagnoser]
public class ReplayBenchmarks
{
    private MemoryLogStore _store = null!;
    private ComponentRegistry _registry = null!;
    private ComponentTypeInfo _type = null!;
    private ComponentId _id;

    [Params(1_000, 10_000)]
    public int Turns { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _registry = BankComponents.Registry();
        _type = _registry.Get(typeof(IAccount));
        _store = new MemoryLogStore();
        _id = new ComponentId(_type.Name, "acct-replay");
        var options = new RuntimeOptions { CheckpointEveryTurns = int.MaxValue, CheckpointInterval = TimeSpan.FromDays(3650) };
        var runtime = new LocalRuntime(_store, _registry, options);
        // 64 in flight so the setup is group-committed and quick; the turns still run one at a time.
        var next = -1L;
        Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            long n;
            while ((n = Interlocked.Increment(ref next)) < Turns)
                await runtime.Call<IAccount>(_id.Key, "r-" + n.ToString(CultureInfo.InvariantCulture)).Deposit(1).ConfigureAwait(false);
        }))).GetAwaiter().GetResult();
        runtime.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark]
    public async Task<long> LoadAsync()
    {
        var loaded = await Replayer.LoadAsync(_store, _type, _id, Turns, _registry.Json).ConfigureAwait(false);
        return loaded.LastSeq;
    }
}
