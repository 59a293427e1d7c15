using Bank;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Protocol;

namespace Middleware.Tests.Client;

/// <summary>How long a call keeps trying, what it says when it gives up, and how a caller or disposal ends it.</summary>
public sealed class ClientRetryTests
{
    /// <summary>The default retry rules, only faster, so a test needs no real outage length.</summary>
    private static MiddlewareClientOptions Fast(string gateway, TimeSpan? requestTimeout = null) => new()
    {
        Gateways = [gateway],
        ClientName = "client-retry-tests",
        RetryBaseDelay = TimeSpan.FromMilliseconds(2),
        RetryMaxDelay = TimeSpan.FromMilliseconds(20),
        RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(30),
    };

    private static Task<ClientTestSilo> HeldSilo(TaskCompletionSource? received = null) => ClientTestSilo.StartAsync(configure: h => h.Before = async (m, ct) =>
    {
        received?.TrySetResult();
        await Task.Delay(Timeout.Infinite, ct);
        return null;
    });

    [Fact]
    public async Task By_default_a_call_retries_until_its_deadline_not_a_fixed_count()
    {
        var refusals = 0;
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = (m, _) =>
            ValueTask.FromResult(Interlocked.Increment(ref refusals) <= 25 ? ReplyMessage.Unavailable("restarting") : null));
        await using var client = await MiddlewareClient.ConnectAsync(Fast(silo.Address));

        Assert.Null(new MiddlewareClientOptions().MaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(2), new MiddlewareClientOptions().RetryMaxDelay);
        Assert.Equal(5, await client.GetComponent<IAccount>("patient").Deposit(5));
        Assert.Equal(26, silo.Handler.Received.Count);
        Assert.Single(silo.Handler.Received.Select(m => m.RequestId).Distinct());
    }

    [Fact]
    public async Task Past_the_request_timeout_the_call_fails_with_the_last_cause()
    {
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = (m, _) =>
            ValueTask.FromResult<ReplyMessage?>(ReplyMessage.Unavailable("store unreachable")));
        await using var client = await MiddlewareClient.ConnectAsync(Fast(silo.Address, TimeSpan.FromMilliseconds(400)));

        var e = await Assert.ThrowsAsync<TimeoutException>(() => client.GetComponent<IAccount>("late").Deposit(1));
        Assert.Contains("RequestTimeout", e.Message);
        Assert.Contains("last cause", e.Message);
        Assert.Contains("store unreachable", e.Message);
        Assert.True(silo.Handler.Received.Count > 6, $"{silo.Handler.Received.Count} attempts");
    }

    [Fact]
    public async Task A_gateway_that_dies_under_a_call_is_left_for_another_at_once_without_the_backoff()
    {
        // The backoff is longer than the call's deadline: only a retry without it can answer in time.
        ClientTestSilo? dying = null;
        dying = await ClientTestSilo.StartAsync(configure: h => h.Before = async (m, ct) =>
        {
            _ = Task.Run(() => dying!.StopAsync(), CancellationToken.None);
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        });
        await using var stopLater = dying;
        await using var survivor = await ClientTestSilo.StartAsync();
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = [dying.Address, survivor.Address],
            ClientName = "client-retry-tests",
            RetryBaseDelay = TimeSpan.FromMinutes(10),
            RetryMaxDelay = TimeSpan.FromMinutes(10),
            RequestTimeout = TimeSpan.FromSeconds(20),
        });

        // Round robin: one of two calls starts at the dying gateway.
        Assert.Equal(1, await client.Call<IAccount>("leaver", "first").Deposit(1));
        Assert.Equal(2, await client.Call<IAccount>("leaver", "second").Deposit(1));
        var lost = Assert.Single(dying.Handler.Received);
        Assert.Contains(survivor.Handler.Received, m => m.RequestId == lost.RequestId);
    }

    [Fact]
    public async Task An_attempt_cap_ends_with_the_last_cause_too()
    {
        await using var silo = await ClientTestSilo.StartAsync(configure: h => h.Before = (m, _) =>
            ValueTask.FromResult<ReplyMessage?>(ReplyMessage.Unavailable("draining")));
        var options = Fast(silo.Address);
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = options.Gateways, MaxAttempts = 2, RetryBaseDelay = TimeSpan.FromMilliseconds(1) });

        var e = await Assert.ThrowsAsync<ClusterUnavailableException>(() => client.GetComponent<IAccount>("capped").Deposit(1));
        Assert.Equal(2, e.Attempts);
        Assert.Contains("draining", e.LastCause);
        Assert.Contains(silo.Address, e.LastCause);
    }

    [Fact]
    public async Task A_proxy_taken_with_a_token_is_canceled_by_it_and_the_component_interface_needs_none()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var silo = await HeldSilo(received);
        await using var client = await MiddlewareClient.ConnectAsync(Fast(silo.Address));
        using var cts = new CancellationTokenSource();

        var call = client.GetComponent<IAccount>("ned", cts.Token).Deposit(1);
        await received.Task;
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        // A token that already fired stops the next call before it is sent.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.Call<IAccount>("ned", "fixed-1", cts.Token).Deposit(1));
        Assert.Single(silo.Handler.Received);
    }

    [Fact]
    public async Task Disposing_the_client_fails_the_calls_in_flight_cleanly_and_does_not_throw()
    {
        var unobserved = new List<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> note = (_, e) =>
        {
            lock (unobserved) unobserved.Add(e.Exception);
        };
        TaskScheduler.UnobservedTaskException += note;
        try
        {
            for (var round = 0; round < 5; round++)
            {
                var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await using var silo = await HeldSilo(received);
                var client = await MiddlewareClient.ConnectAsync(Fast(silo.Address));
                // Many calls, large ones among them, so some are still being written to the socket when the client goes away.
                var big = new byte[200_000];
                var calls = Enumerable.Range(0, 100).Select(i => (Task)client.GetComponent<IAccount>($"a{i % 8}").Deposit(i))
                    .Concat(Enumerable.Range(0, 40).Select(i => (Task)client.InvokeAsync(new ComponentId("Account", $"b{i}"), "Deposit", big)))
                    .ToList();
                await received.Task;
                await client.DisposeAsync();

                foreach (var call in calls)
                {
                    var e = await Assert.ThrowsAnyAsync<Exception>(() => call);
                    Assert.True(e is ObjectDisposedException or OperationCanceledException, e.ToString());
                }

                await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetComponent<IAccount>("after").Deposit(1));
                await client.DisposeAsync();
            }

            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= note;
        }

        Assert.Empty(unobserved);
    }
}
