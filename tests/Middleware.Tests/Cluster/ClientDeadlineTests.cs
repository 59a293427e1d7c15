using System.Diagnostics.Metrics;
using System.Text;
using Middleware.Client;
using Middleware.Core;
using Middleware.Grains;
using Middleware.TestComponents;
using Middleware.Tests.Silo;
using Middleware.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Middleware.Tests.Cluster;

/// <summary>
/// A client call's deadline settles the request through the outcome protocol, as a component call's does: past the
/// deadline the client gets the real reply of a request that committed (or was running and then committed), and a
/// request that had not started is fenced for good (it never runs) with <see cref="CallTimeoutException"/>. Real silo
/// process, real sockets. The slow turns wait at a gate the test opens once it saw the deadline pass, so the order holds
/// however slow the box is.
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
            // Settling waits for the turn the test holds until it saw the settling begin; the default 5 s is a bound this
            // test does not measure, and a loaded box may need more of it.
            SettleTimeout = Patience,
        });

    [Fact]
    public async Task A_deadline_that_passes_while_the_request_runs_gives_the_real_reply()
    {
        using var gate = new SiloGate(); // disposed after the cluster
        await using var cluster = await ClusterFixture.StartAsync(1, null, Components);
        await using var client = await ConnectAsync(cluster, TimeSpan.FromSeconds(60));
        var (a, b) = ($"a-{Guid.NewGuid():N}"[..12], $"b-{Guid.NewGuid():N}"[..12]);
        await client.GetComponent<IPeer>(a).Work(""); // activated, so the slow turn below is slow for its own reason

        // The turn waits at the gate before its call; the client's deadline for it is 1 s. The gate opens only once the
        // client, past the deadline, asks a's owner for the call's outcome.
        using var settling = new SettleWatch();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var call = settling.Watch(() => client.GetComponent<IPeer>(a, TimeSpan.FromSeconds(1)).CallPeer(b, 0, gate.Name, "", 0));
        await settling.Seen.WaitAsync(Patience);
        Assert.False(call.IsCompleted, "the call was answered before the turn it waits for went on");
        gate.Open();
        var reply = await call.WaitAsync(Patience);
        output.WriteLine($"answered after {started.ElapsedMilliseconds} ms: {reply}");

        Assert.Equal("reply:1", reply); // the turn's own reply, which exists only once the turn went on after the deadline
        Assert.Equal(["reply:1"], (await client.GetComponent<IPeer>(a).Read()).Outcomes);
    }

    [Fact]
    public async Task A_deadline_on_a_request_that_never_started_fences_it_and_throws_CallTimeoutException()
    {
        using var gate = new SiloGate();
        await using var cluster = await ClusterFixture.StartAsync(1, null, Components);
        await using var patient = await ConnectAsync(cluster, TimeSpan.FromSeconds(60));
        await using var hasty = await ConnectAsync(cluster, TimeSpan.FromSeconds(60));
        var (a, b) = ($"a-{Guid.NewGuid():N}"[..12], $"b-{Guid.NewGuid():N}"[..12]);

        // b is busy (its turn waits at the gate); a's turn calls b, so a waits on that call (parked in it) until the gate
        // opens, which is after the request below passed its deadline.
        await patient.GetComponent<IPeer>(a).Read();
        await patient.GetComponent<IPeer>(b).Read();
        var busyB = patient.GetComponent<IPeer>(b).CallPeer($"c-{Guid.NewGuid():N}"[..12], 0, gate.Name, "", 0);
        await gate.WaitArrivedAsync(1, $"b's turn to hold Peer/{b}", Patience);
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
        gate.Open();
        Assert.Equal("reply:1", await aWaits.WaitAsync(Patience));
        await busyB.WaitAsync(Patience);
        var again = await hasty.InvokeAsync(work with { Timeout = null }).WaitAsync(Patience);
        Assert.True(again.IsError, "a resent fenced request must not run");
        Assert.Equal(RequestOutcome.FencedErrorType, again.ErrorType);
        var state = await patient.GetComponent<IPeer>(a).Read();
        Assert.Equal(0, state.Worked);
        Assert.False((await patient.GetOutcomeAsync(new ComponentId("Peer", a), requestId)).Committed);
    }

    /// <summary>
    /// Sees the client begin to settle a call past its deadline: the client counts <c>middleware.client.retries</c> with
    /// reason "settle" when it asks the component's owner for the outcome. Only the call started in <see cref="Watch{T}"/>
    /// counts: the count is made on that call's async path, which carries this watch in an <see cref="AsyncLocal{T}"/>,
    /// so other tests' clients in this process are not mistaken for it.
    /// </summary>
    private sealed class SettleWatch : IDisposable
    {
        private static readonly AsyncLocal<SettleWatch?> Current = new();
        private readonly MeterListener _listener = new();
        private readonly TaskCompletionSource _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public SettleWatch()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == ClientTelemetry.Name && instrument.Name == "middleware.client.retries") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
            {
                if (Current.Value != this) return;
                foreach (var tag in tags)
                {
                    if (tag is { Key: "reason", Value: "settle" }) _seen.TrySetResult();
                }
            });
            _listener.Start();
        }

        /// <summary>Completes when the watched call began to settle.</summary>
        public Task Seen => _seen.Task;

        /// <summary>Starts the call to watch.</summary>
        public T Watch<T>(Func<T> start)
        {
            Current.Value = this;
            try
            {
                return start();
            }
            finally
            {
                Current.Value = null;
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
