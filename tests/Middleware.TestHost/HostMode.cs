using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Bank;
using Bank.Demo;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Stores;

namespace Middleware.TestHost;

/// <summary>
/// The child process: runs the bank accounts on a log store (any of <see cref="LogStores"/>) with the local runtime and serves the line
/// protocol on stdin/stdout. Requests are dispatched as they arrive, without waiting for earlier ones, so
/// many are in flight at once and the group-commit writer batches them. It exits cleanly (runtime and
/// store disposed) when stdin closes or a <c>Q</c> line arrives.
/// </summary>
public static class HostMode
{
    /// <summary>How many turns between checkpoints: small, so a recovery runs checkpoint + replay + dedup.</summary>
    public const int CheckpointEveryTurns = 100;

    /// <summary>Runs the host on <paramref name="storeSetting"/> (e.g. <c>sqlite:./data/bank.db</c>) until stdin ends; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string storeSetting)
    {
        var registry = new ComponentRegistry().Add<IAccount, Account>();
        var type = registry.Get(typeof(IAccount));
        var store = await LogStores.OpenAsync(storeSetting).ConfigureAwait(false);
        var options = new RuntimeOptions { CheckpointEveryTurns = CheckpointEveryTurns };
        var (ledger, dialect, _) = LedgerBackend.For(storeSetting);
        await LedgerBackend.EnsureTableAsync(ledger).ConfigureAwait(false);
        var environment = new RuntimeEnvironment();
        environment.Backends.Add(Ledger.BackendName, ledger, dialect);
        var runtime = new LocalRuntime(store, registry, options, environment);
        var output = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
        var writerTask = WriteRepliesAsync(output.Reader);
        var inFlight = new HashSet<Task>();
        output.Writer.TryWrite("READY");

        using var input = new StreamReader(Console.OpenStandardInput(), Encoding.UTF8);
        while (await input.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (line == "Q") break;
            if (line.Length == 0) continue;
            var task = ServeAsync(line, runtime, type, registry, output.Writer);
            lock (inFlight) inFlight.Add(task);
            _ = task.ContinueWith(t => { lock (inFlight) inFlight.Remove(t); }, TaskScheduler.Default);
        }

        Task[] remaining;
        lock (inFlight) remaining = [.. inFlight];
        await Task.WhenAll(remaining).ConfigureAwait(false);
        await runtime.DisposeAsync().ConfigureAwait(false);
        await store.DisposeAsync().ConfigureAwait(false);
        await ledger.DisposeAsync().ConfigureAwait(false);
        output.Writer.Complete();
        await writerTask.ConfigureAwait(false);
        return 0;
    }

    /// <summary>Runs one request and queues its reply line; never throws (a failure becomes a FAIL line).</summary>
    private static async Task ServeAsync(string line, LocalRuntime runtime, ComponentTypeInfo type, ComponentRegistry registry, ChannelWriter<string> output)
    {
        HostRequest request;
        try
        {
            request = HostRequest.Parse(line);
        }
        catch (FormatException e)
        {
            output.TryWrite(new HostReply("?", ReplyKind.Fail, Message: e.Message).ToLine());
            return;
        }

        HostReply reply;
        try
        {
            var method = type.Methods[request.Kind.ToString()];
            object?[] args = request.Kind == OperationKind.Balance ? [] : [request.Amount];
            var invocation = new Invocation(new ComponentId(type.Name, request.Account), request.RequestId, method.Name, method.EncodeArgs(args, registry.Json));
            var turn = await runtime.InvokeAsync(invocation).ConfigureAwait(false);
            reply = ToReply(request.RequestId, turn);
        }
        catch (Exception e)
        {
            // Not an outcome of the request (the turn is not known to be durable): the driver retries the same id.
            reply = new HostReply(request.RequestId, ReplyKind.Fail, Message: $"{e.GetType().Name}: {e.Message}");
        }

        output.TryWrite(reply.ToLine());
    }

    private static HostReply ToReply(string requestId, ComponentReply turn) =>
        turn.IsError
            ? new HostReply(requestId, ReplyKind.Error, 0, turn.ErrorType, turn.ErrorMessage)
            : new HostReply(requestId, ReplyKind.Ok, long.Parse(Encoding.UTF8.GetString(turn.Result.Span), NumberStyles.Integer, CultureInfo.InvariantCulture));

    /// <summary>Writes reply lines in batches: everything queued so far, then one flush.</summary>
    private static async Task WriteRepliesAsync(ChannelReader<string> lines)
    {
        await using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = false, NewLine = "\n" };
        while (await lines.WaitToReadAsync().ConfigureAwait(false))
        {
            while (lines.TryRead(out var line))
            {
                await stdout.WriteLineAsync(line).ConfigureAwait(false);
            }

            await stdout.FlushAsync().ConfigureAwait(false);
        }
    }
}
