using System.Data;
using System.Data.Common;
using System.Text;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Log;

namespace Middleware.Recovery.Procedures;

/// <summary>
/// Runs back-end work as a generalized idempotent procedure: the work and the record of its outcome commit in
/// one back-end transaction under the request id; a repeat of the id returns the recorded outcome and runs
/// nothing; an abort (<see cref="IdempotentAbortException"/>) rolls the work back and is itself recorded, so
/// every repeat gets the same abort; a concurrent duplicate waits for the first and reads its outcome; the
/// same id with other arguments is an error.
/// </summary>
public sealed class IdempotentExecutor(string name, DbDataSource dataSource, BackendDialect dialect, TimeSpan? retention = null)
{
    /// <summary>How long recorded outcomes are kept by default before they may be reaped.</summary>
    public static readonly TimeSpan DefaultRetention = TimeSpan.FromDays(7);

    private const string WorkSavepoint = "mw_work";
    private readonly SemaphoreSlim _schemaGate = new(1, 1);
    private readonly SemaphoreSlim? _writerGate = dialect.SingleWriter ? new(1, 1) : null;
    private volatile bool _schemaReady;

    /// <summary>The back end's name (as components ask for it).</summary>
    public string Name { get; } = name;

    /// <summary>
    /// How long a recorded outcome must be kept: a repeat of a request id older than this may run again. It must
    /// outlast every retry of a turn (the dedup retention of the log), so the default is the same 7 days.
    /// </summary>
    public TimeSpan Retention { get; } = retention is { } r && r > TimeSpan.Zero ? r
        : retention is null ? DefaultRetention
        : throw new ArgumentOutOfRangeException(nameof(retention), retention, $"The retention of back end '{name}' must be positive (default 7 days).");

    /// <summary>The back end's data source.</summary>
    public DbDataSource DataSource { get; } = dataSource;

    /// <summary>Runs <paramref name="work"/> once for <paramref name="requestId"/> and returns its (first) outcome.</summary>
    public async Task<ComponentReply> ExecuteAsync(string requestId, string procedure, ReadOnlyMemory<byte> args,
        Func<IdempotentWork, Task<ReadOnlyMemory<byte>>> work, CancellationToken cancellationToken = default)
    {
        var hash = StableHash.Of(procedure, args.Span);
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        if (_writerGate is not null) await _writerGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (var tx = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false))
            {
                // Claim the id in the work's own transaction: a concurrent duplicate blocks on the key until
                // this one commits or rolls back, then finds the row (or claims it after a rollback).
                if (await ExecAsync(tx, dialect.TryInsert, cancellationToken, ("id", requestId), ("procedure", procedure), ("hash", hash), ("status", "running")).ConfigureAwait(false) == 1)
                {
                    // The abort must be recorded before the claim row is released: rolling the whole transaction back
                    // would let a waiting duplicate claim the id and run the work again. A savepoint undoes only the work.
                    var savepoint = tx.SupportsSavepoints;
                    if (savepoint) await tx.SaveAsync(WorkSavepoint, cancellationToken).ConfigureAwait(false);
                    ReadOnlyMemory<byte> result;
                    try
                    {
                        result = await work(new IdempotentWork(tx, requestId, cancellationToken)).ConfigureAwait(false);
                    }
                    catch (IdempotentAbortException abort) when (savepoint)
                    {
                        await tx.RollbackAsync(WorkSavepoint, cancellationToken).ConfigureAwait(false);
                        var message = AbortText(abort);
                        await ExecAsync(tx, dialect.Complete, cancellationToken, ("id", requestId), ("status", "aborted"), ("result", message)).ConfigureAwait(false);
                        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                        return AbortReply(message);
                    }
                    catch (IdempotentAbortException abort)
                    {
                        await tx.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                        return await RecordAbortAsync(connection, requestId, procedure, hash, abort, cancellationToken).ConfigureAwait(false);
                    }

                    await ExecAsync(tx, dialect.Complete, cancellationToken, ("id", requestId), ("status", "done"), ("result", result.ToArray())).ConfigureAwait(false);
                    await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return new ComponentReply(result);
                }

                await tx.RollbackAsync(cancellationToken).ConfigureAwait(false);
            }

            return await ReadRecordedAsync(connection, requestId, procedure, hash, cancellationToken).ConfigureAwait(false)
                ?? throw new BackendUnavailableException($"Back end '{Name}' reported request '{requestId}' as recorded but has no row for it.");
        }
        catch (DbException e)
        {
            throw new BackendUnavailableException($"Back end '{Name}' ({dialect.Name}) failed while running '{procedure}' for request '{requestId}': {e.Message}. Nothing was recorded; the request can be retried.", e);
        }
        finally
        {
            _writerGate?.Release();
        }
    }

    /// <summary>Deletes recorded outcomes older than <paramref name="retention"/> (default <see cref="Retention"/>); returns how many.</summary>
    public async Task<int> ReapAsync(TimeSpan? retention = null, CancellationToken cancellationToken = default)
    {
        var keep = retention ?? Retention;
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var n = await ExecAsync(tx, dialect.Reap, cancellationToken, ("seconds", (long)keep.TotalSeconds)).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return n;
    }

    private static byte[] AbortText(IdempotentAbortException abort) => Encoding.UTF8.GetBytes(abort.GetType().FullName + "\n" + abort.Message);

    /// <summary>
    /// Records an abort in a second transaction, for drivers without savepoints. A duplicate waiting on the key can
    /// slip in between; whichever outcome is recorded first wins and every later repeat gets that one.
    /// </summary>
    private async Task<ComponentReply> RecordAbortAsync(DbConnection connection, string requestId, string procedure, long hash, IdempotentAbortException abort, CancellationToken ct)
    {
        var message = AbortText(abort);
        await using (var tx = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct).ConfigureAwait(false))
        {
            if (await ExecAsync(tx, dialect.TryInsert, ct, ("id", requestId), ("procedure", procedure), ("hash", hash), ("status", "aborted")).ConfigureAwait(false) == 1)
            {
                await ExecAsync(tx, dialect.Complete, ct, ("id", requestId), ("status", "aborted"), ("result", message)).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return AbortReply(message);
            }

            await tx.RollbackAsync(ct).ConfigureAwait(false);
        }

        // Someone recorded an outcome for this id meanwhile: the first outcome wins.
        return await ReadRecordedAsync(connection, requestId, procedure, hash, ct).ConfigureAwait(false) ?? AbortReply(message);
    }

    private async Task<ComponentReply?> ReadRecordedAsync(DbConnection connection, string requestId, string procedure, long hash, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = dialect.Select;
        AddParameter(command, "id", requestId);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false)) return null;
        var recordedProcedure = reader.GetString(0);
        var recordedHash = reader.GetInt64(1);
        var status = reader.GetString(2);
        var result = reader.IsDBNull(3) ? [] : (byte[])reader.GetValue(3);
        if (recordedProcedure != procedure || recordedHash != hash)
            throw new IdempotentRequestMismatchException(Name, requestId, recordedProcedure, procedure);
        return status switch
        {
            "done" => new ComponentReply(result),
            "aborted" => AbortReply(result),
            _ => throw new BackendUnavailableException($"Back end '{Name}' holds request '{requestId}' as '{status}' outside a transaction; the table was changed by hand."),
        };
    }

    private static ComponentReply AbortReply(byte[] recorded)
    {
        var text = Encoding.UTF8.GetString(recorded);
        var newline = text.IndexOf('\n');
        return newline < 0
            ? new ComponentReply(ReadOnlyMemory<byte>.Empty, typeof(IdempotentAbortException).FullName, text)
            : new ComponentReply(ReadOnlyMemory<byte>.Empty, text[..newline], text[(newline + 1)..]);
    }

    private async Task EnsureSchemaAsync(CancellationToken ct)
    {
        if (_schemaReady) return;
        await _schemaGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_schemaReady) return;
            await using var connection = await DataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = dialect.CreateTable;
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _schemaReady = true;
        }
        catch (DbException e)
        {
            throw new BackendUnavailableException($"Back end '{Name}' ({dialect.Name}) is unreachable or refused to create mw_idempotent_requests: {e.Message}. Check its connection string and permissions.", e);
        }
        finally
        {
            _schemaGate.Release();
        }
    }

    private static async Task<int> ExecAsync(DbTransaction tx, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var command = tx.Connection!.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (n, v) in parameters) AddParameter(command, n, v);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static void AddParameter(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = "@" + name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}

/// <summary>A request id was used again for a different procedure or different arguments.</summary>
public sealed class IdempotentRequestMismatchException(string backend, string requestId, string recordedProcedure, string procedure)
    : Exception($"Back end '{backend}' already ran request '{requestId}' as {recordedProcedure} with other arguments than this {procedure}; a request id names one request, so a new request needs a new id.");
