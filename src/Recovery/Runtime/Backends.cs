using System.Data.Common;
using System.Text.Json;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Procedures;

namespace Middleware.Recovery.Runtime;

/// <summary>A back end as a live turn sees it: stabilize, call under a deterministic id, record the outcome.</summary>
internal sealed class LiveBackend(LiveTurnContext context, TurnRuntime runtime, IdempotentExecutor executor) : IBackend
{
    public async Task<T> ExecuteAsync<T>(string procedure, object? args, Func<IdempotentWork, Task<T>> work)
    {
        if (context.IsReadOnly)
            throw new InvalidOperationException(
                $"{context.Id}.{context.Invocation?.Method} is a [ReadOnlyTurn] and is not logged, so it cannot run idempotent back-end procedures " +
                $"(here '{procedure}' on '{executor.Name}'). Remove [ReadOnlyTurn] from the method, or use Backend(name).ReadAsync for a read.");
        context.ThrowIfAttemptFailed();
        // Taken before anything is awaited: calls started together get their ordinals in program order.
        var ordinal = context.NextOrdinal();
        context.Calls.Started();
        try
        {
            return await ExecuteAsync(procedure, args, work, ordinal).ConfigureAwait(false);
        }
        finally
        {
            context.Calls.Completed();
        }
    }

    private async Task<T> ExecuteAsync<T>(string procedure, object? args, Func<IdempotentWork, Task<T>> work, int ordinal)
    {
        var json = runtime.Json;
        var argBytes = JsonSerializer.SerializeToUtf8Bytes(args, json);
        ComponentReply outcome;
        if (context.RecordedOutbound(ordinal) is { } recorded)
        {
            if (recorded.Kind != OutboundKind.Backend || recorded.Target != executor.Name || recorded.Operation != procedure)
                throw new ReplayDivergenceException(context.Id, context.Seq, "(resumed turn)", $"call #{ordinal} to {recorded.Target}.{recorded.Operation}", $"a back-end call to {executor.Name}.{procedure}");
            // Resumed from a partial record that already holds this call's outcome.
            outcome = recorded.Outcome;
            context.AddOutbound(recorded);
        }
        else
        {
            // Guarantee 6: everything before this call is durable and the turn's seq is pinned first, so a
            // re-execution after a crash reaches the same request id with the same arguments.
            await runtime.StabilizeAsync(context, false).ConfigureAwait(false);
            var requestId = $"{context.Id}:{context.TurnSeq}:{ordinal}";
            FaultPoints.BeforeOutbound(requestId);
            using var span = EngineTelemetry.Start(executor.Name + "." + procedure, System.Diagnostics.ActivityKind.Client, context.Id.ToString(), requestId, procedure);
            try
            {
                outcome = await executor.ExecuteAsync(requestId, procedure, argBytes,
                    async w => JsonSerializer.SerializeToUtf8Bytes(await work(w).ConfigureAwait(false), json)).ConfigureAwait(false);
            }
            catch (BackendUnavailableException e)
            {
                // The back end (or its schema) failed: not the component's answer. Anything else the work threw is the
                // component's own exception (the back-end transaction rolled back), recorded like any other.
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
                context.InfrastructureFailure ??= e;
                throw;
            }

            context.AddOutbound(new OutboundCall(ordinal, OutboundKind.Backend, executor.Name, requestId, procedure, argBytes, outcome));
        }

        return outcome.IsError ? throw ReplyDecoder.ToException(outcome) : JsonSerializer.Deserialize<T>(outcome.Result.Span, json)!;
    }

    public async Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> read)
    {
        if (!context.TryPrefix(NondeterminismKind.BackendRead, out var value))
        {
            var fresh = await ReadNow(read).ConfigureAwait(false);
            value = new RecordedValue(NondeterminismKind.BackendRead, 0, default, JsonSerializer.SerializeToUtf8Bytes(fresh, runtime.Json));
            context.Record(value);
        }

        // Hand back what was recorded, decoded, so the live turn sees exactly what a replay will see.
        return JsonSerializer.Deserialize<T>(value.Bytes.Span, runtime.Json)!;
    }

    private async Task<T> ReadNow<T>(Func<DbConnection, CancellationToken, Task<T>> read)
    {
        try
        {
            await using var connection = await executor.DataSource.OpenConnectionAsync().ConfigureAwait(false);
            return await read(connection, CancellationToken.None).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            var failure = new BackendUnavailableException($"Back end '{executor.Name}' failed during an exploratory read: {e.Message}", e);
            context.InfrastructureFailure ??= failure;
            throw failure;
        }
    }
}

/// <summary>A back end as a replayed turn sees it: recorded outcomes, never a real call.</summary>
internal sealed class ReplayBackend(ReplayTurnContext context, string name, JsonSerializerOptions json) : IBackend
{
    public Task<T> ExecuteAsync<T>(string procedure, object? args, Func<IdempotentWork, Task<T>> work)
    {
        var call = context.TakeOutbound(OutboundKind.Backend, name, procedure, JsonSerializer.SerializeToUtf8Bytes(args, json));
        return call.Outcome.IsError
            ? Task.FromException<T>(ReplyDecoder.ToException(call.Outcome))
            : Task.FromResult(JsonSerializer.Deserialize<T>(call.Outcome.Result.Span, json)!);
    }

    public Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> read) =>
        Task.FromResult(JsonSerializer.Deserialize<T>(context.Take(NondeterminismKind.BackendRead).Bytes.Span, json)!);
}
