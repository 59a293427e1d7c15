using System.Buffers;
using System.Text;
using System.Text.Json;
using Bank;
using Middleware.Client;
using Middleware.Grains;
using Middleware.Core;

namespace Middleware.TestHost;

/// <summary>
/// A bank client that can be SIGKILLed at any moment: <c>workers</c> concurrent loops over deposits (45%, 1..1000),
/// withdrawals (20%, 1..2000, some overdraw and are refused) and teller transfers (35%, 1..1500), each with a fresh
/// request id of one session. Every acknowledged request (a result, or the component's recorded error) is printed at
/// once as one line <c>ack {"id","component","method","args","ok"|"error","message"}</c> with the raw JSON of the
/// arguments and the result, so a test can hold the cluster to exactly what this process was told, whenever it died.
/// Calls that gave up print <c>unresolved ...</c> (no outcome: they may or may not have run). It stops when stdin ends
/// or says <c>stop</c>, finishes the calls in flight and prints <c>done</c>.
/// </summary>
public static class ClientMode
{
    private static readonly object Gate = new();

    /// <summary>Connects, prints <c>session ID</c>, runs the workers until stopped; 0 when done.</summary>
    public static async Task<int> RunAsync(ClientSettings settings)
    {
        await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions
        {
            Gateways = [.. settings.Gateways],
            SessionId = settings.SessionId,
            // Generous: silos die under this client on purpose, and a takeover takes a failure window plus a restart.
            AttemptTimeout = TimeSpan.FromSeconds(5),
            RequestTimeout = TimeSpan.FromSeconds(60),
            MaxAttempts = 40,
            RetryMaxDelay = TimeSpan.FromMilliseconds(500),
        });
        Print($"session {client.SessionId}");

        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            // The test closes stdin (or writes "stop") for a graceful end; a SIGKILL needs no cooperation.
            while (await Console.In.ReadLineAsync() is { } line && line.Trim() != "stop")
            {
            }

            await stop.CancelAsync();
        });

        long acks = 0;
        var hot = settings.Accounts.Take(Math.Max(1, settings.Accounts.Count / 4)).ToArray();
        var workers = Enumerable.Range(0, settings.Workers).Select(w => Task.Run(async () =>
        {
            var random = new Random(unchecked((settings.Seed * 7919) + w));
            while (!stop.IsCancellationRequested)
            {
                var (target, method, args) = Next(random, settings, hot);
                var requestId = client.NextRequestId();
                try
                {
                    var reply = await client.InvokeAsync(target, method, args, requestId);
                    Print(AckLine(requestId, target, method, args, reply));
                    Interlocked.Increment(ref acks);
                }
                catch (Exception e) when (e is ClusterUnavailableException or TimeoutException)
                {
                    Print($"unresolved {requestId} {target}.{method} {e.GetType().Name}: {OneLine(e.Message)}");
                }
                catch (Exception e)
                {
                    // Not an outcome either; the test reads these lines when it wonders why acks stopped.
                    Print($"unexpected {requestId} {target}.{method} {e.GetType().FullName}: {OneLine(e.Message)}");
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        Print($"done acks={Interlocked.Read(ref acks)}");
        return 0;
    }

    /// <summary>The next request: target, method and JSON-array arguments.</summary>
    private static (ComponentId Target, string Method, byte[] Args) Next(Random random, ClientSettings settings, string[] hot)
    {
        string Pick() => random.Next(2) == 0 ? hot[random.Next(hot.Length)] : settings.Accounts[random.Next(settings.Accounts.Count)];
        var roll = random.Next(100);
        var account = Pick();
        if (roll < 45) return (new ComponentId("Account", account), nameof(IAccount.Deposit), JsonSerializer.SerializeToUtf8Bytes(new object[] { random.Next(1, 1001) }));
        if (roll < 65) return (new ComponentId("Account", account), nameof(IAccount.Withdraw), JsonSerializer.SerializeToUtf8Bytes(new object[] { random.Next(1, 2001) }));
        var to = Pick();
        while (to == account) to = settings.Accounts[random.Next(settings.Accounts.Count)];
        var teller = settings.Tellers[random.Next(settings.Tellers.Count)];
        return (new ComponentId("Teller", teller), nameof(ITeller.Transfer), JsonSerializer.SerializeToUtf8Bytes(new object[] { account, to, random.Next(1, 1501) }));
    }

    private static string AckLine(string requestId, ComponentId target, string method, byte[] args, ComponentReply reply)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", requestId);
            json.WriteString("component", target.ToString());
            json.WriteString("method", method);
            json.WritePropertyName("args");
            json.WriteRawValue(args);
            if (reply.IsError)
            {
                json.WriteString("error", reply.ErrorType);
                json.WriteString("message", reply.ErrorMessage);
            }
            else
            {
                json.WritePropertyName("ok");
                json.WriteRawValue(reply.Result.Span);
            }

            json.WriteEndObject();
        }

        return "ack " + Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>One line, written and flushed at once: whatever the process printed before a SIGKILL is complete.</summary>
    private static void Print(string line)
    {
        lock (Gate)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }

    private static string OneLine(string text) => text.Replace('\r', ' ').Replace('\n', ' ');
}
