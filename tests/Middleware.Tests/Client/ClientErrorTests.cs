using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;
using Middleware.Tests.Support;

namespace Middleware.Tests.Client;

/// <summary>
/// Through the client SDK and a silo's router: the same exception types, with the same data, as in process; the router's
/// component calls (<c>ClusterRouter.InvokeAsync</c>) map replies the same way.
/// </summary>
public sealed class ClientErrorTests
{
    private static ComponentRegistry Vaults() => Registries.Default().Add<IVault, Vault>();

    private static Task<ClientTestSilo> StartAsync() => ClientTestSilo.StartAsync(registry: Vaults);

    private static Task<MiddlewareClient> ConnectAsync(ClientTestSilo silo) =>
        MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [silo.Address], ClientName = "client-error-tests" });

    [Fact]
    public async Task A_component_exception_arrives_with_its_data_properties()
    {
        await using var silo = await StartAsync();
        await using var client = await ConnectAsync(silo);
        var vault = client.GetComponent<IVault>("v");
        await vault.Deposit(10);

        var overdraft = await Assert.ThrowsAsync<OverdraftException>(() => vault.Withdraw(50));
        Assert.Equal(("v", 10L, 50L, "v holds 10; 50 was asked"), (overdraft.Account, overdraft.Balance, overdraft.Requested, overdraft.Message));
        Assert.Equal(["deposit first", "at most 10"], overdraft.Hints);

        var limit = await Assert.ThrowsAsync<LimitException>(() => vault.SetLimit(3.5m));
        Assert.Equal((3.5m, new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc), 1), (limit.Limit, limit.Until, limit.Counts["a"]));
    }

    [Fact]
    public async Task A_component_call_through_the_router_gets_the_callees_exception_with_its_data()
    {
        await using var silo = await StartAsync();
        await using var client = await ConnectAsync(silo);
        await client.GetComponent<IVault>("v").Deposit(10);

        Assert.Equal("OverdraftException v:10:50:deposit first,at most 10 | v holds 10; 50 was asked", await client.GetComponent<IVault>("caller").WithdrawFrom("v", 50));
    }

    [Fact]
    public async Task A_reused_request_id_is_a_RequestIdReuseException_through_the_client_and_the_router()
    {
        await using var silo = await StartAsync();
        await using var client = await ConnectAsync(silo);
        var once = client.Call<IVault>("v", "order-1");
        Assert.Equal(1, await once.Deposit(1));

        var e = await Assert.ThrowsAsync<RequestIdReuseException>(() => once.Deposit(2));
        Assert.Equal(("order-1", "Deposit", new ComponentId("Vault", "v")), (e.RequestId, e.Method, e.Component));

        // A component call carried by the silo's router maps the reply the same way.
        var target = new ComponentId("Vault", "v");
        await Assert.ThrowsAsync<RequestIdReuseException>(() => silo.Router.InvokeAsync(new Invocation(target, "order-1", "Deposit", "[3]"u8.ToArray()), CancellationToken.None));
        await Assert.ThrowsAsync<UnknownComponentException>(() => silo.Router.InvokeAsync(new Invocation(new ComponentId("Nope", "x"), "r", "Run", "[]"u8.ToArray()), CancellationToken.None));
        Assert.Equal(1, await client.GetComponent<IVault>("v").Deposit(0));
    }

    [Fact]
    public async Task A_fenced_request_id_is_a_RequestFencedException()
    {
        await using var silo = await StartAsync();
        await using var client = await ConnectAsync(silo);

        Assert.False((await client.GetOutcomeAsync(new ComponentId("Vault", "v"), "late-1")).Committed);
        var e = await Assert.ThrowsAsync<RequestFencedException>(() => client.Call<IVault>("v", "late-1").Deposit(5));
        Assert.Contains("late-1", e.Message);
    }
}
