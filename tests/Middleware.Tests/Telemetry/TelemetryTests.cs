using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Bank;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Middleware.Client;
using Middleware.Protocol;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;
using Middleware.Silo;
using Middleware.Tests.Admin;
using Middleware.Tests.Silo;

namespace Middleware.Tests.Telemetry;

/// <summary>
/// Metrics, traces and logs as an operator sees them: a real silo's <c>/metrics</c> under load, one trace from a client
/// call through the silo's turn, its component call and its commit, nothing traced by replay, and the event ids of the
/// log lines an operator must act on.
/// </summary>
[Collection(TelemetryCollection.Name)]
public sealed class TelemetryTests
{
    private static readonly Regex TurnCount = new(@"(?m)^middleware_engine_turn_duration_seconds_count\{component_type=""Account"",method=""Deposit"",outcome=""ok""\} (\d+)$");

    private static async Task<long> DepositTurnsAsync(HttpClient http)
    {
        var metrics = await http.GetStringAsync("/metrics");
        var match = TurnCount.Match(metrics);
        Assert.True(match.Success, "no turn latency series for Account.Deposit in /metrics:\n" + metrics);
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_real_silo_under_load_serves_labelled_series_and_the_turn_histogram_counts_every_turn()
    {
        var directory = Directory.CreateTempSubdirectory("mw-telemetry-").FullName;
        try
        {
            await using var silo = await SiloProcess.StartAsync($"sqlite:{Path.Combine(directory, "middleware.db")}");
            using var http = new HttpClient { BaseAddress = new Uri($"http://{silo.Http}") };
            await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [silo.Address], ClientName = "telemetry-test" });

            async Task LoadAsync(int calls) => await Task.WhenAll(Enumerable.Range(0, calls).Select(i => client.GetComponent<IAccount>($"acct-{i % 8}").Deposit(1)));
            await LoadAsync(40);
            var before = await DepositTurnsAsync(http);
            Assert.True(before >= 40, $"40 deposits, {before} counted");
            await LoadAsync(60);
            await client.GetComponent<ITeller>("teller-1").Transfer("acct-1", "acct-2", 1);
            var after = await DepositTurnsAsync(http);
            Assert.True(after >= before + 60, $"60 more deposits, the count went from {before} to {after}");

            var metrics = await http.GetStringAsync("/metrics");
            // Per-method labels, a histogram's buckets, the store's commits, the transport, and the built-in series as before.
            Assert.Matches(@"(?m)^middleware_engine_turn_duration_seconds_bucket\{component_type=""Teller"",method=""Transfer"",outcome=""ok"",le=""\+Inf""\} 1$", metrics);
            Assert.Matches(@"(?m)^middleware_engine_turn_duration_seconds_bucket\{component_type=""Account"",method=""Debit"",outcome=""ok"",le=""0.001""\} \d+$", metrics);
            Assert.Contains("# TYPE middleware_engine_turn_duration_seconds histogram", metrics);
            Assert.Matches(@"(?m)^middleware_engine_commit_duration_seconds_count\{component_type=""Account""\} [1-9]\d*$", metrics);
            Assert.Matches(@"(?m)^middleware_engine_commit_batch_size_count\{store=""sqlite""\} [1-9]\d*$", metrics);
            Assert.Matches(@"(?m)^middleware_engine_store_duration_seconds_count\{store=""sqlite"",operation=""append""\} [1-9]\d*$", metrics);
            Assert.Matches(@"(?m)^middleware_engine_activations_total\{component_type=""Account""\} 8$", metrics);
            Assert.Matches(@"(?m)^middleware_engine_claims_total\{outcome=""claimed""\} [1-9]\d*$", metrics);
            Assert.Matches($@"(?m)^middleware_silo_transport_bytes_total\{{silo=""{Regex.Escape(silo.SiloId)}"",direction=""in""\}} [1-9]\d*$", metrics);
            Assert.Matches($@"(?m)^middleware_silo_requests_served_total\{{silo=""{Regex.Escape(silo.SiloId)}""\}} [1-9]\d*$", metrics);
            Assert.Matches(@"(?m)^middleware_silo_sessions_total\{operation=""open""\} 1$", metrics);
            Assert.Matches(@"(?m)^middleware_writer_records_total [1-9]\d*$", metrics);
            Assert.Matches(@"(?m)^middleware_requests_served_total [1-9]\d*$", metrics);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task One_trace_spans_the_client_call_the_silo_turn_its_component_call_and_the_commits_with_their_ids()
    {
        var directory = Directory.CreateTempSubdirectory("mw-trace-").FullName;
        using var spans = new SpanRecorder();
        try
        {
            var ledger = Path.Combine(directory, "ledger.db");
            await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={ledger};Pooling=False"))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = Ledger.CreateTableSql;
                await command.ExecuteNonQueryAsync();
            }

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.AddMiddlewareSilo(new SiloOptions
            {
                Store = $"sqlite:{Path.Combine(directory, "middleware.db")}",
                Port = 0,
                HttpPort = 0,
                Components = [SiloProcess.BankAssembly],
                Backends = { ["ledger"] = $"sqlite:{ledger}" },
            });
            await using var app = builder.Build();
            await app.StartAsync();
            var address = app.Services.GetRequiredService<SiloEndpoints>().ProtocolEndPoint;
            await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = [$"127.0.0.1:{address.Port}"], ClientName = "trace-test" });
            await client.GetComponent<IAccount>("a").Deposit(100);
            spans.Clear();

            var requestId = client.NextRequestId();
            await client.Call<ITeller>("t", requestId).Transfer("a", "b", 30);
            var call = spans.Single(s => s.Source.Name == ClientTelemetry.Name && s.DisplayName == "Teller.Transfer");
            var trace = spans.Where(s => s.TraceId == call.TraceId).ToList();
            Assert.Equal(requestId, call.GetTagItem("middleware.request_id"));
            Assert.Equal("Teller/t", call.GetTagItem("middleware.component_id"));

            // The silo continued the client's trace from the Invoke's trace context.
            var request = Assert.Single(trace, s => s.Source.Name == SiloTelemetry.Name && s.DisplayName == "Teller.Transfer");
            Assert.Equal(ActivityKind.Server, request.Kind);
            Assert.Equal(call.SpanId, request.ParentSpanId);
            var turn = Assert.Single(trace, s => s.Source.Name == EngineTelemetry.Name && s.DisplayName == "Teller.Transfer");
            Assert.Equal(request.SpanId, turn.ParentSpanId);
            Assert.Equal(requestId, turn.GetTagItem(EngineTelemetry.RequestIdAttribute));
            Assert.Equal("Teller/t", turn.GetTagItem(EngineTelemetry.ComponentIdAttribute));

            // The component call it made, under its deterministic id (Teller/t:seq:ordinal), and the callee's turn under it.
            var debit = Assert.Single(trace, s => s.Kind == ActivityKind.Client && s.DisplayName == "Account.Debit");
            Assert.Equal(turn.SpanId, debit.ParentSpanId);
            var debitId = Assert.IsType<string>(debit.GetTagItem(EngineTelemetry.RequestIdAttribute));
            Assert.Matches(@"^Teller/t:\d+:1$", debitId);
            Assert.Equal("Account/a", debit.GetTagItem(EngineTelemetry.ComponentIdAttribute));
            var debitTurn = Assert.Single(trace, s => s.Source.Name == EngineTelemetry.Name && s.Kind == ActivityKind.Internal && s.DisplayName == "Account.Debit");
            Assert.True(IsUnder(debitTurn, debit, trace), "the callee's turn is not inside the call's span");
            Assert.Equal(debitId, debitTurn.GetTagItem(EngineTelemetry.RequestIdAttribute));
            var credit = Assert.Single(trace, s => s.Kind == ActivityKind.Client && s.DisplayName == "Account.Deposit");
            Assert.Matches(@"^Teller/t:\d+:2$", Assert.IsType<string>(credit.GetTagItem(EngineTelemetry.RequestIdAttribute)));

            // Durable commits: the teller's turn, and the callee's, each a child of its turn.
            Assert.Contains(trace, s => s.DisplayName == "commit" && s.ParentSpanId == turn.SpanId && Equals(s.GetTagItem(EngineTelemetry.RequestIdAttribute), requestId));
            Assert.Contains(trace, s => s.DisplayName == "commit" && s.ParentSpanId == debitTurn.SpanId);

            // A back-end procedure is a span of the turn that runs it, with the procedure's deterministic id.
            spans.Clear();
            await client.GetComponent<IAccount>("a").Withdraw(5);
            var withdraw = spans.Single(s => s.Source.Name == EngineTelemetry.Name && s.DisplayName == "Account.Withdraw");
            var procedure = spans.Single(s => s.DisplayName == "ledger.post-withdrawal");
            Assert.Equal(withdraw.SpanId, procedure.ParentSpanId);
            Assert.Matches(@"^Account/a:\d+:1$", Assert.IsType<string>(procedure.GetTagItem(EngineTelemetry.RequestIdAttribute)));
            await app.StopAsync();
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Replay_traces_nothing_only_the_new_turn_is_a_span()
    {
        var store = new MemoryLogStore();
        await using (var first = new LocalRuntime(store, new ComponentRegistry().Add<ITill, Till>()))
        {
            for (var i = 1; i <= 5; i++) await first.Call<ITill>("t1", $"pay-{i}").Pay(10);
        }

        using var spans = new SpanRecorder();
        long replayed = 0;
        using var meters = new System.Diagnostics.Metrics.MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == EngineTelemetry.Name && instrument.Name == "middleware.engine.replays") listener.EnableMeasurementEvents(instrument);
        };
        meters.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref replayed, value));
        meters.Start();
        await using var second = new LocalRuntime(store, new ComponentRegistry().Add<ITill, Till>());
        Assert.Equal(60, await second.Call<ITill>("t1", "pay-6").Pay(10));
        Assert.Equal(5, Interlocked.Read(ref replayed)); // the five turns were replayed, and traced nothing
        var engine = spans.Where(s => s.Source.Name == EngineTelemetry.Name).ToList();
        Assert.Equal(["pay-6"], engine.Where(s => s.DisplayName == "Till.Pay").Select(s => s.GetTagItem(EngineTelemetry.RequestIdAttribute)));
        Assert.Equal(["pay-6"], engine.Where(s => s.DisplayName == "commit").Select(s => s.GetTagItem(EngineTelemetry.RequestIdAttribute)));
        Assert.DoesNotContain(engine, s => s.DisplayName != "Till.Pay" && s.DisplayName != "commit");
    }

    [Fact]
    public async Task A_quarantine_and_a_takeover_are_logged_once_with_their_event_ids_and_a_healthy_runtime_stays_quiet()
    {
        var store = new MemoryLogStore();
        var healthy = new EventLogger();
        await using (var first = new LocalRuntime(store, new ComponentRegistry().Add<ITill, Till>(), environment: new RuntimeEnvironment { Logger = healthy }))
        {
            for (var i = 1; i <= 3; i++) await first.Call<ITill>("t1", $"pay-{i}").Pay(10);
        }

        // A fresh claim is Debug: nothing at Information or above from a healthy runtime.
        Assert.Single(healthy.Entries, e => e.Id == EngineLog.ClaimId.Id && e.Level == LogLevel.Debug);
        Assert.DoesNotContain(healthy.Entries, e => e.Level >= LogLevel.Information);

        var log = new EventLogger();
        await using (var next = new LocalRuntime(store, new ComponentRegistry().Add<ITill, TillWithFee>(), environment: new RuntimeEnvironment { Logger = log }))
        {
            await Assert.ThrowsAsync<ComponentQuarantinedException>(() => next.Call<ITill>("t1", "pay-4").Pay(10));
            await Assert.ThrowsAsync<ComponentQuarantinedException>(() => next.Call<ITill>("t1", "pay-5").Pay(10));
        }

        var takeover = Assert.Single(log.Entries, e => e.Id == EngineLog.TakeoverId.Id);
        Assert.Equal(LogLevel.Information, takeover.Level);
        Assert.Contains("Till/t1", takeover.Message);
        var quarantine = Assert.Single(log.Entries, e => e.Id == EngineLog.QuarantineId.Id);
        Assert.Equal(LogLevel.Error, quarantine.Level);
        Assert.Equal("ComponentQuarantined", quarantine.Name);
        var divergence = Assert.Single(log.Entries, e => e.Id == EngineLog.DivergenceId.Id);
        Assert.Equal(LogLevel.Error, divergence.Level);
    }

    [Fact]
    public void The_trace_context_rides_in_a_version_4_Invoke_and_an_Invoke_without_one_is_encoded_as_before()
    {
        const string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var plain = new InvokeMessage("Account", "a", "Deposit", "s:1", "s", null, "[1]"u8.ToArray());
        var traced = plain with { TraceParent = parent, TraceState = "vendor=1" };
        var plainBytes = FrameWriter.ToArray(7, plain);
        var tracedBytes = FrameWriter.ToArray(7, traced);
        Assert.Equal(plain, Decode(plainBytes));
        var decoded = Assert.IsType<InvokeMessage>(Decode(tracedBytes));
        Assert.Equal(parent, decoded.TraceParent);
        Assert.Equal("vendor=1", decoded.TraceState);
        Assert.Equal(InvokeFlags.None, decoded.Flags);
        // Without a trace context the payload ends at the flags, byte for byte as in version 3.
        Assert.Equal(0, plainBytes[^1]);
        Assert.Equal(4, ProtocolConstants.TraceContextVersion);
    }

    private static ProtocolMessage? Decode(byte[] frameBytes)
    {
        var buffer = new System.Buffers.ReadOnlySequence<byte>(frameBytes);
        Assert.Equal(FrameParseStatus.Frame, FrameParser.TryRead(ref buffer, ProtocolConstants.DefaultMaxFrameSize, out var frame, out _));
        Assert.True(MessageCodec.TryDecode(frame, out var message, out var error), error?.ToString());
        return message;
    }

    private static bool IsUnder(Activity span, Activity ancestor, IReadOnlyList<Activity> trace)
    {
        for (var current = span; current is not null; current = trace.FirstOrDefault(s => s.SpanId == current.ParentSpanId))
        {
            if (current.ParentSpanId == ancestor.SpanId) return true;
        }

        return false;
    }

    /// <summary>Every span of the Middleware sources that ended while it listened.</summary>
    private sealed class SpanRecorder : IDisposable
    {
        private readonly ConcurrentQueue<Activity> _spans = new();
        private readonly ActivityListener _listener;

        public SpanRecorder()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name.StartsWith("Middleware.", StringComparison.Ordinal),
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = _spans.Enqueue,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public IEnumerable<Activity> Where(Func<Activity, bool> predicate) => _spans.ToArray().Where(predicate);

        public Activity Single(Func<Activity, bool> predicate) => Assert.Single(_spans.ToArray(), s => predicate(s));

        public void Clear() => _spans.Clear();

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>Every entry at Debug or above, with its event id.</summary>
    private sealed class EventLogger : ILogger
    {
        public ConcurrentQueue<(int Id, string? Name, LogLevel Level, string Message)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((eventId.Id, eventId.Name, logLevel, formatter(state, exception)));
    }
}

/// <summary>The telemetry tests listen to process-wide sources: they do not run beside each other.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "telemetry";
}
