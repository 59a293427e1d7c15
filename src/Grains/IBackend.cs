using System.Data.Common;

namespace Middleware.Grains;

/// <summary>
/// A back-end database reached from a turn. Writes go through generalized idempotent procedures: each call
/// gets the deterministic request id <c>componentId:turnSeq:ordinal</c>, runs at most once in the back end
/// (in one transaction together with recording its result), and returns that first result on every repeat,
/// so re-executing or replaying a turn never repeats a side effect. The result is also recorded in the turn
/// record, so replay and audits never touch the back end.
/// </summary>
public interface IBackend
{
    /// <summary>
    /// Runs <paramref name="work"/> exactly once for this call's request id. <paramref name="args"/> identify the
    /// request (a repeat with other arguments is an error); throw <see cref="IdempotentAbortException"/> from the
    /// work to roll it back and record the abort, which every repeat then gets again.
    /// </summary>
    Task<T> ExecuteAsync<T>(string procedure, object? args, Func<IdempotentWork, Task<T>> work);

    /// <summary>
    /// An exploratory (non-idempotent) read. Its result is recorded as nondeterminism: replay gets the recorded
    /// value. Use it only to compute arguments of the next idempotent call.
    /// </summary>
    Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> read);
}

/// <summary>What idempotent work runs with: the back-end transaction and the request id it runs under.</summary>
/// <param name="Transaction">The transaction that also records the result; do all writes in it.</param>
/// <param name="RequestId">The deterministic request id (<c>componentId:turnSeq:ordinal</c>), e.g. for a row key.</param>
/// <param name="CancellationToken">Cancelled when the runtime shuts down.</param>
public sealed record IdempotentWork(DbTransaction Transaction, string RequestId, CancellationToken CancellationToken)
{
    /// <summary>The connection of <see cref="Transaction"/>.</summary>
    public DbConnection Connection => Transaction.Connection ?? throw new InvalidOperationException("The back-end transaction has no connection.");

    /// <summary>A command enlisted in the transaction, with named parameters (<c>@name</c>) from an anonymous object's properties.</summary>
    public DbCommand Command(string sql, object? parameters = null)
    {
        var command = Connection.CreateCommand();
        command.Transaction = Transaction;
        command.CommandText = sql;
        if (parameters is not null)
        {
            foreach (var p in parameters.GetType().GetProperties())
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = "@" + p.Name;
                parameter.Value = p.GetValue(parameters) ?? DBNull.Value;
                command.Parameters.Add(parameter);
            }
        }

        return command;
    }
}

/// <summary>
/// Thrown by idempotent work to abort: the back-end transaction rolls back, the abort is recorded under the
/// request id, and every repeat of that id gets this abort again without running anything.
/// </summary>
public class IdempotentAbortException(string message) : ComponentException(message);

/// <summary>
/// A back end could not be reached or failed (not an abort). Nothing was recorded; the turn is not
/// acknowledged and a retry of the request runs the call again under the same request id.
/// </summary>
public class BackendUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A component asked for a back end this runtime has no configuration for. Like an unreachable back end, it is not the
/// component's answer: the turn is not recorded, and a retry after the back end is configured runs it once.
/// </summary>
public sealed class BackendNotConfiguredException(string message) : BackendUnavailableException(message);
