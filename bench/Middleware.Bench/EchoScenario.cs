using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Middleware.Protocol;
using Middleware.Protocol.Tls;
using Middleware.Transport;
using Middleware.Transport.Tls;

namespace Middleware.Bench;

/// <summary>Settings of the <c>echo</c> transport scenario.</summary>
public sealed record EchoOptions(int Concurrency, double DurationSeconds, double WarmupSeconds, int PayloadBytes, string? JsonPath, bool Tls = false)
{
    private static readonly string[] Known = ["--concurrency", "--duration", "--warmup", "--payload", "--json", "--tls"];

    public static EchoOptions Parse(string[] args)
    {
        var f = new FlagReader(args, Known);
        var payload = f.PositiveInt("--payload", 16, allowZero: true);
        if (payload > 512 * 1024) throw new UsageException($"--payload is {payload}; it must be at most 524288 bytes (the frame limit is 1 MiB).");
        var tls = f.String("--tls") switch
        {
            null or "off" => false,
            "on" => true,
            var other => throw new UsageException($"--tls is '{other}'; use on or off."),
        };
        return new EchoOptions(f.PositiveInt("--concurrency", 64), f.PositiveSeconds("--duration", 10), f.PositiveSeconds("--warmup", 2, allowZero: true), payload, f.OutputFile("--json"), tls);
    }
}

/// <summary>
/// The <c>echo</c> scenario: the Kestrel transport in-process on loopback, ONE client connection, C closed loops each
/// sending an Echo and awaiting its reply. It measures the transport alone (framing, multiplexing, write batching),
/// the ceiling any request over this protocol can reach on this machine.
/// </summary>
internal static class EchoScenario
{
    public static async Task<int> RunAsync(EchoOptions o)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddMiddlewareTransport();
        builder.Services.AddSingleton<IFrameHandler>(new RefuseInvokes());
        ListenOptions? listen = null;
        using var certificate = o.Tls ? BenchCertificate.Create() : null;
        var serverTls = certificate is null ? null : new ServerTlsOptions { Certificate = certificate };
        var clientOptions = new ConnectionOptions
        {
            SenderId = "bench-echo-client",
            Tls = certificate is null ? null : new TlsClientOptions { TrustedAuthorities = [X509CertificateLoader.LoadCertificate(certificate.RawData)] },
        };
        builder.WebHost.UseKestrel(k => k.ListenMiddleware(IPAddress.Loopback, 0, new TransportOptions { SiloId = "bench-echo" }, serverTls, l => listen = l));
        await using var app = builder.Build();
        await app.StartAsync().ConfigureAwait(false);
        var metrics = app.Services.GetRequiredService<TransportMetrics>();
        var endpoint = (IPEndPoint)listen!.EndPoint;
        var connects = await MeasureConnectsAsync(endpoint, clientOptions).ConfigureAwait(false);
        await using var connection = await MiddlewareConnection.ConnectAsync(endpoint, clientOptions).ConfigureAwait(false);

        var payload = new byte[o.PayloadBytes];
        new Random(1).NextBytes(payload);
        var control = new RunControl();
        var workers = Enumerable.Range(0, o.Concurrency).Select(_ => new Worker()).ToArray();
        Console.Error.WriteLine($"echo: {endpoint} concurrency={o.Concurrency} payload={o.PayloadBytes}B warmup={o.WarmupSeconds}s duration={o.DurationSeconds}s tls={(o.Tls ? "on" : "off")} (one connection)");
        var tasks = workers.Select(w => Task.Run(() => w.RunAsync(connection, payload, control))).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(o.WarmupSeconds)).ConfigureAwait(false);
        var before = Snapshot.Take(metrics, connection);
        control.MeasureStart = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(o.DurationSeconds)).ConfigureAwait(false);
        control.Stop = true;
        await Task.WhenAll(tasks).ConfigureAwait(false);
        var end = Stopwatch.GetTimestamp();
        var after = Snapshot.Take(metrics, connection);
        await app.StopAsync().ConfigureAwait(false);

        var elapsed = (end - control.MeasureStart) / (double)Stopwatch.Frequency;
        var latency = new LatencySummary(workers.Select(w => w.Latencies));
        var requests = workers.Sum(w => w.MeasuredOk);
        var errors = workers.Sum(w => w.MeasuredErrors);
        var firstError = workers.Select(w => w.FirstError).FirstOrDefault(e => e is not null);
        var throughput = requests / elapsed;
        var cpu = (after.Cpu - before.Cpu).TotalSeconds / elapsed;
        var serverFrames = after.ServerFrames - before.ServerFrames;
        var serverFlushes = after.ServerFlushes - before.ServerFlushes;
        var clientFrames = after.ClientFrames - before.ClientFrames;
        var clientFlushes = after.ClientFlushes - before.ClientFlushes;
        var report = new JsonReport()
            .Add("scenario", "echo")
            .Add("store", "none")
            .Add("concurrency", o.Concurrency)
            .Add("keys", 0)
            .Add("duration_s", o.DurationSeconds)
            .Add("requests", requests)
            .Add("throughput_per_s", throughput)
            .Add("p50_ms", latency.PercentileMs(50))
            .Add("p99_ms", latency.PercentileMs(99))
            .Add("errors", errors)
            .Add("warmup_s", o.WarmupSeconds)
            .Add("elapsed_s", elapsed)
            .Add("payload_bytes", o.PayloadBytes)
            .Add("connections", 1)
            .Add("tls", o.Tls)
            .Add("connect_p50_ms", connects.PercentileMs(50))
            .Add("connect_p99_ms", connects.PercentileMs(99))
            .Add("p90_ms", latency.PercentileMs(90))
            .Add("p999_ms", latency.PercentileMs(99.9))
            .Add("max_ms", latency.MaxMs)
            .Add("mean_ms", latency.MeanMs)
            .Add("server_frames_per_flush", serverFlushes == 0 ? double.NaN : serverFrames / (double)serverFlushes)
            .Add("client_frames_per_flush", clientFlushes == 0 ? double.NaN : clientFrames / (double)clientFlushes)
            .Add("cpu_cores_used", cpu)
            .Add("host_cpu_cores_busy", HostCpu.CoresBusy(before.Host, after.Host, elapsed))
            .Add("other_cpu_cores", HostCpu.CoresBusy(before.Host, after.Host, elapsed) - cpu)
            .Add("host_steal_cores", HostCpu.CoresStolen(before.Host, after.Host, elapsed))
            .Add("cpu_us_per_request", requests == 0 ? double.NaN : (after.Cpu - before.Cpu).TotalMilliseconds * 1000 / requests)
            .Add("alloc_bytes_per_request", requests == 0 ? double.NaN : (after.Allocated - before.Allocated) / (double)requests)
            .Add("gc_gen0", after.Gen0 - before.Gen0)
            .Add("gc_gen1", after.Gen1 - before.Gen1)
            .Add("gc_gen2", after.Gen2 - before.Gen2)
            .Add("processors", Environment.ProcessorCount)
            .Add("first_error", firstError)
            .Add("utc", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        if (o.JsonPath is not null) report.WriteTo(o.JsonPath);

        Console.WriteLine(
            $"echo c={o.Concurrency} payload={o.PayloadBytes}B tls={(o.Tls ? "on" : "off")}: {throughput:F0} round trips/s, connect+handshake p50 {connects.PercentileMs(50):F2} ms, p50 {latency.PercentileMs(50):F3} ms, p99 {latency.PercentileMs(99):F3} ms, " +
            $"frames/flush server {(serverFlushes == 0 ? 0 : serverFrames / (double)serverFlushes):F1} client {(clientFlushes == 0 ? 0 : clientFrames / (double)clientFlushes):F1}, " +
            $"cpu {cpu:F2} cores (others {HostCpu.CoresBusy(before.Host, after.Host, elapsed) - cpu:F2}), {requests} requests, errors {errors}" +
            (o.JsonPath is null ? "" : $" -> {o.JsonPath}"));
        if (firstError is not null) Console.Error.WriteLine($"error: first failure: {firstError}");
        return errors == 0 && firstError is null ? 0 : 1;
    }

    /// <summary>Connect, handshake (TLS included when on) and close, one after another: what a new connection costs.</summary>
    private static async Task<LatencySummary> MeasureConnectsAsync(IPEndPoint endpoint, ConnectionOptions options)
    {
        var recorder = new LatencyRecorder();
        for (var i = 0; i < ConnectSamples + 10; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await using (await MiddlewareConnection.ConnectAsync(endpoint, options).ConfigureAwait(false))
            {
                // The first ten warm up the code paths.
                if (i >= 10) recorder.Add(Stopwatch.GetTimestamp() - start);
            }
        }

        return new LatencySummary([recorder]);
    }

    private const int ConnectSamples = 200;

    /// <summary>The echo scenario sends no invokes; answering them says so instead of hanging a stray caller.</summary>
    private sealed class RefuseInvokes : IFrameHandler
    {
        public ValueTask<ReplyMessage> HandleAsync(InvokeMessage request, PeerContext peer, CancellationToken cancellationToken) =>
            ValueTask.FromResult(ReplyMessage.NotFound("the echo benchmark serves Echo frames only"));
    }


    private sealed record Snapshot(long ServerFrames, long ServerFlushes, long ClientFrames, long ClientFlushes, TimeSpan Cpu, long Allocated, int Gen0, int Gen1, int Gen2, HostCpu Host)
    {
        public static Snapshot Take(TransportMetrics metrics, MiddlewareConnection connection)
        {
            var (frames, flushes) = connection.SendStats;
            using var process = Process.GetCurrentProcess();
            return new Snapshot(metrics.FramesOut, metrics.Flushes, frames, flushes, process.TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: false),
                GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), HostCpu.Read());
        }
    }

    /// <summary>One closed loop: one echo in flight at a time.</summary>
    private sealed class Worker
    {
        public LatencyRecorder Latencies { get; } = new();

        public long MeasuredOk { get; private set; }

        public long MeasuredErrors { get; private set; }

        public string? FirstError { get; private set; }

        public async Task RunAsync(MiddlewareConnection connection, byte[] payload, RunControl control)
        {
            while (!control.Stop)
            {
                var start = Stopwatch.GetTimestamp();
                var ok = false;
                try
                {
                    var echoed = await connection.EchoAsync(payload).ConfigureAwait(false);
                    // A cheap sanity check: the bytes that came back are the ones sent.
                    ok = echoed.Length == payload.Length && (payload.Length == 0 || echoed.Span[^1] == payload[^1]);
                    if (!ok) FirstError ??= $"echo returned {echoed.Length} bytes for {payload.Length} sent";
                }
                catch (Exception e)
                {
                    // Counted and reported; the loop goes on so one failure does not hide the throughput.
                    FirstError ??= $"{e.GetType().Name}: {e.Message}";
                }

                var elapsed = Stopwatch.GetTimestamp() - start;
                if (start < control.MeasureStart) continue;
                if (ok)
                {
                    MeasuredOk++;
                    Latencies.Add(elapsed);
                }
                else
                {
                    MeasuredErrors++;
                }
            }
        }
    }
}

/// <summary>A self-signed certificate for 127.0.0.1, made for one TLS echo run.</summary>
internal static class BenchCertificate
{
    public static X509Certificate2 Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=bench-echo", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
    }
}
