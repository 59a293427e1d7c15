using Microsoft.Data.Sqlite;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Sqlite;
using Middleware.Tests.Admin;

namespace Middleware.Tests.Runtime;

/// <summary>
/// SQLite binds text up to its first U+0000 (NUL), so on that store "pay\0a" and "pay\0b" would be one request id and
/// "Till/t\0x" the component "Till/t": a second payment would get the first one's reply and never run, or two components
/// would share one log. Ids with a NUL are refused with an error that says why, and nothing is written.
/// </summary>
public sealed class NulInIdsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mw-nul-ids-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Request_ids_and_component_keys_with_a_nul_are_refused_and_nothing_is_written()
    {
        await using var store = SqliteLogStore.Open(Path.Combine(_dir, "log.db"));
        await using var runtime = new LocalRuntime(store, new ComponentRegistry().Add<ITill, Till>());

        // Cold (no activation yet), then live: both refuse the id and name the problem.
        var cold = await Assert.ThrowsAnyAsync<ArgumentException>(() => runtime.Call<ITill>("t", "pay\0a").Pay(10));
        Assert.Contains("U+0000", cold.Message);
        Assert.Contains("pay\\0a", cold.Message);
        Assert.Equal(10, await runtime.Call<ITill>("t", "pay").Pay(10));
        var live = await Assert.ThrowsAnyAsync<ArgumentException>(() => runtime.Call<ITill>("t", "pay\0b").Pay(10));
        Assert.Contains("U+0000", live.Message);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => runtime.GetOutcomeAsync(new ComponentId("Till", "t"), "pay\0c"));

        // A key with a NUL is not a component id at all.
        var key = Assert.ThrowsAny<ArgumentException>(() => runtime.Call<ITill>("t\0x", "pay-x"));
        Assert.Contains("U+0000", key.Message);
        Assert.Throws<ArgumentException>(() => ComponentId.Parse("Till/t\0x"));

        // Only the one good payment was recorded, and its id still answers with its reply.
        Assert.Equal(1, (await store.GetHeadAsync("Till/t"))!.LastSeq);
        Assert.Equal(10, await runtime.Call<ITill>("t", "pay").Pay(10));
        Assert.Equal(20, await runtime.Call<ITill>("t", "pay-2").Pay(10));
    }
}
