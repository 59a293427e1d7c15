using System.Collections.Concurrent;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The connections appends run on, kept open between appends and handed out last-returned first: the group-commit writer
/// keeps up to <see cref="PostgresLogStore.MaxConcurrentAppends"/> appends in flight (1-2 on average at 64 requests in
/// flight), so they run on the same one or two server processes, whose statement is prepared and whose caches are warm.
/// Taken from the data source's pool instead, the appends went round all the server processes the activations' reads and
/// claims had opened (in the deposit benchmark ~30, each with an equal share of the appends' CPU), each with cold caches and
/// its first executions parsed and planned anew (bench/README.md, "PostgreSQL at 64 in flight (session 13)").
/// <para>
/// A connection is kept only after an append that ended normally (committed, or refused and rolled back); after a failure
/// it goes back to the data source's pool (which drops a broken one), so this never hands out a connection an append left
/// broken or inside a transaction. At most <c>capacity</c> are kept; more
/// concurrent appends (a direct caller of the store) open more and close the extras when they finish.
/// </para>
/// </summary>
internal sealed class PostgresAppendConnections(NpgsqlDataSource source, int capacity) : IAsyncDisposable
{
    private readonly ConcurrentStack<NpgsqlConnection> _idle = new();
    private volatile bool _disposed;

    /// <summary>An open connection: the last one returned, or a new one from the data source.</summary>
    public async ValueTask<NpgsqlConnection> RentAsync(CancellationToken cancellationToken)
    {
        while (_idle.TryPop(out var connection))
        {
            if (connection.FullState == System.Data.ConnectionState.Open) return connection;
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        return await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Keeps <paramref name="connection"/> for the next append (after an append that ended normally).</summary>
    public async ValueTask ReturnAsync(NpgsqlConnection connection)
    {
        if (!_disposed && connection.FullState == System.Data.ConnectionState.Open && _idle.Count < capacity)
        {
            _idle.Push(connection);
            // Disposed meanwhile: nobody else will close it.
            if (!_disposed || !_idle.TryPop(out var again)) return;
            connection = again;
        }

        await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Gives up a connection after a failed append (it may be broken or inside a transaction): back to the pool.</summary>
    public static ValueTask DiscardAsync(NpgsqlConnection connection) => connection.DisposeAsync();

    /// <summary>Closes the kept connections (back to the data source's pool); later returns close theirs.</summary>
    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        while (_idle.TryPop(out var connection)) await connection.DisposeAsync().ConfigureAwait(false);
    }
}
