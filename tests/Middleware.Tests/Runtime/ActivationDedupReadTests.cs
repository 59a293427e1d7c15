using System.Collections.Concurrent;
using System.Reflection;
using Bank;
using Microsoft.Data.Sqlite;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Runtime;

/// <summary>
/// The request that activates a component with a checkpoint is looked up in the store's dedup table by the activation
/// read itself (<see cref="ILogStore.ReadForActivationAsync(string, string?, CancellationToken)"/>): its turn needs no
/// look-up of its own, and nothing else changes: a request recorded with a checkpoint is still answered from it, and later
/// requests of the same activation are looked up as before.
/// </summary>
public sealed class ActivationDedupReadTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-dedupread-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task The_activating_request_is_looked_up_with_the_activation_read_and_a_recorded_one_still_gets_its_reply()
    {
        await using var sqlite = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));
        var calls = new ConcurrentDictionary<string, int>();
        var store = CountingStore.Wrap(sqlite, calls);
        var environment = TestLedger.Register(new RuntimeEnvironment(), _dir);
        await using var rt = new LocalRuntime(store, new ComponentRegistry().Add<IAccount, Account>(), new RuntimeOptions { MaxActivations = 0 }, environment);
        var id = new ComponentId("Account", "a");

        Assert.Equal(10, await rt.Call<IAccount>("a", "d1").Deposit(10));
        await rt.DeactivateAsync(id); // checkpoint at seq 1, request d1 in the dedup table
        calls.Clear();

        // Cold from the checkpoint: one activation read that also says d2 is not recorded; no separate look-up.
        Assert.Equal(15, await rt.Call<IAccount>("a", "d2").Deposit(5));
        Assert.Equal(1, calls.GetValueOrDefault("ReadForActivationAsync"));
        Assert.Equal(0, calls.GetValueOrDefault("FindRequestAsync"));

        // The next new request of the same activation is looked up as before (the answer of the read is used once); an id
        // without trailing digits, which the activation's knowledge of recorded ids can never prove new.
        Assert.Equal(16, await rt.Call<IAccount>("a", "dthree").Deposit(1));
        Assert.Equal(1, calls.GetValueOrDefault("FindRequestAsync"));

        // A retry of a request recorded with a checkpoint, arriving on a new activation, gets its recorded reply and runs
        // nothing (the read found it, so the turn looks it up and answers from it).
        await rt.DeactivateAsync(id);
        calls.Clear();
        Assert.Equal(10, await rt.Call<IAccount>("a", "d1").Deposit(10));
        Assert.Equal(1, calls.GetValueOrDefault("FindRequestAsync"));
        Assert.Equal(16, await rt.Call<IAccount>("a", "read").Balance());
        Assert.Equal(3, (await sqlite.GetHeadAsync("Account/a"))!.LastSeq);
    }

    /// <summary>Forwards every call of <see cref="ILogStore"/> to a store and counts them by method name.</summary>
    public class CountingStore : DispatchProxy
    {
        private ILogStore _inner = null!;
        private ConcurrentDictionary<string, int> _calls = null!;

        public static ILogStore Wrap(ILogStore inner, ConcurrentDictionary<string, int> calls)
        {
            var proxy = Create<ILogStore, CountingStore>();
            var counting = (CountingStore)(object)proxy;
            counting._inner = inner;
            counting._calls = calls;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            _calls.AddOrUpdate(targetMethod.Name, 1, (_, n) => n + 1);
            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }
}
