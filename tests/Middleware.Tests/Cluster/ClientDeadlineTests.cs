using System.Text;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.TestComponents;
using Middleware.Tests.Silo;
using Xunit;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// A client call's deadline settles the request through the outcome protocol, as a component call's does: past the
/// deadline the client gets the real reply of a request that committed (or was running and then committed), and a
/// request that had not started is fenced for good (it never runs) with <see cref="CallTimeoutException"/>. Real silo
/// process, real sockets.
/// </summary>
public sealed class ClientDeadlineTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(40);

    private static string[] Components => ["--components", $"{SiloProcess.BankAssembly};{typeof(Peer).Assembly.Location}", "--call-timeout-ms", "60000"];

    private static Task<MiddlewareClient> ConnectAsync(ClusterFixture cluster, TimeSpan requestTimeout) =>
        MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = [cluster.Silos[0].Address],
            AttemptTimeout = TimeSpan.FromSeconds(10),
            RequestTimeout = requestTimeout,
        });

    [Fact]
    public async Task A_deadline_that_passes_while_the_request_runs_gives_the_real_reply()
    {
        await using var cluster = await ClusterFixture.StartAsync(1, null, Components);
        await using var client = await ConnectAsync(cluster, TimeSpan.FromSeconds(60));
        var (a, b) = ($"a-{Guid.NewGuid():N}"[..12], $"b-{Guid.NewGuid():N}"[..12]);
        await client.GetComponent<IPeer>(a).Work(""); // activated, so the slow turn below is slow for its own reason

        // The turn waits 2.5 s before its call; the client's deadline for it is 1 s.
        var started = System.Diagnostics.Stopwatch.StartNew();
        var reply = await client.GetComponent<IPeer>(a, TimeSpan.FromSeconds(1)).CallPeer(b, 2500, "", "", 0).WaitAsync(Patience);
        output.WriteLine($"answered after {started.ElapsedMilliseconds} ms: {reply}");

        Assert.Equal("reply:1", reply);
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(2), "the reply is the turn's own, so it comes when the turn is done");
        Assert.Equal(["reply:1"], (await client.GetComponent<IPeer>(a).Read()).Outcomes);
    }

    [Fact]
    public async Task A_deadline_on_a_request_that_never_started_fences_it_and_throws_CallTimeoutException()
    {
        await using var cluster = await ClusterFixture.StartAsync(1, null, Components);
        await using var patient = await ConnectAsync(cluster, TimeSpan.FromSeconds(60));
        await using var hasty = await ConnectAsync(cluster, TimeSpan.FromSeconds(60));
        var (a, b) = ($"a-{Guid.NewGuid():N}"[..12], $"b-{Guid.NewGuid():N}"[..12]);

        // b is busy for 4 s; a's turn calls b, so a waits on that call (parked in it) for about 4 s. Both are live and
        // both requests go over one connection in this order: b's turn takes b's lock on arrival, before a's turn calls b.
        await patient.GetComponent<IPeer>(a).Read();
        await patient.GetComponent<IPeer>(b).Read();
        var busyB = patient.GetComponent<IPeer>(b).CallPeer($"c-{Guid.NewGuid():N}"[..12], 4000, "", "", 0);
        var aWaits = patient.GetComponent<IPeer>(a).CallPeer(b, 0, "", "", 0);
        await cluster.Silos[0].WaitForMetricAsync("middleware_silo_calls_waiting", 1, Patience); // a's turn is parked in its call to b

        // A request for a queues behind that turn; its deadline (1 s) passes first.
        var requestId = hasty.NextRequestId();
        var work = new Invocation(new ComponentId("Peer", a), requestId, nameof(IPeer.Work), Encoding.UTF8.GetBytes("[\"\"]"), hasty.SessionId) { Timeout = TimeSpan.FromSeconds(1) };
        var timedOut = await Assert.ThrowsAsync<CallTimeoutException>(() => hasty.InvokeAsync(work).WaitAsync(Patience));
        output.WriteLine(timedOut.Message);
        Assert.Contains(requestId, timedOut.Message);
        Assert.Contains("fenced", timedOut.Message);

        // The turns it queued behind finish; the fenced request never runs, not even when it is sent again.
        Assert.Equal("reply:1", await aWaits.WaitAsync(Patience));
        await busyB.WaitAsync(Patience);
        var again = await hasty.InvokeAsync(work with { Timeout = null }).WaitAsync(Patience);
        Assert.True(again.IsError, "a resent fenced request must not run");
        Assert.Equal(RequestOutcome.FencedErrorType, again.ErrorType);
        var state = await patient.GetComponent<IPeer>(a).Read();
        Assert.Equal(0, state.Worked);
        Assert.False((await patient.GetOutcomeAsync(new ComponentId("Peer", a), requestId)).Committed);
    }
}
