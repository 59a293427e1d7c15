using System.Collections.Concurrent;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// The connections appends run on, kept open between appends and handed out last-returned first: the group-commit writer
/// keeps up to <see cref="PostgresLogStore.MaxConcurrentAppends"/> (2) appends in flight, so they run on the same one or
/// two server processes, whose statement is prepared and whose caches are warm.
/// Taken from the data source's pool instead, the appends went round all the server processes the activations' reads and
/// claims had opened (in the deposit benchmark ~30, each with an equal share of the appends' CPU), each with cold caches and
/// its first executions parsed and planned anew (bench/README.md, "PostgreSQL at 64 in flight (session 13)").
/// <para>
/// A connection is kept only after an append that ended normally (committed, or refused and rolled back); after a failure
/// it goes back to the data source's pool (which drops a broken one), so this never hands out a connection an append left
/// broken or inside a transaction. At most <c>capacity</c> are kept; more
/// concurrent appends (a direct caller of the store) open more and give the extras back when they finish. A connection idle
/// longer than <see cref="MaxIdle"/> is given back rather than reused.
/// </para>
/// </summary>
internal sealed class PostgresAppendConnections(NpgsqlDataSource source, int capacity) : IAsyncDisposable
{
    /// <summary>
    /// A kept connection idle longer than this goes back to the pool instead of serving the next append: a silo that was
    /// quiet for a while gets a connection the pool vouches for as much as for any other (its idle pruning, an operator's
    /// <c>idle_session_timeout</c> or a firewall's idle cut would otherwise meet a kept one first).
    /// </summary>
    public static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(30);

    private readonly ConcurrentStack<(NpgsqlConnection Connection, long ReturnedAt)> _idle = new();
    private readonly long _maxIdleTicks = (long)(MaxIdle.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
    private volatile bool _disposed;

    /// <summary>An open connection: the last one returned, or a new one from the data source.</summary>
    public async ValueTask<NpgsqlConnection> RentAsync(CancellationToken cancellationToken)
    {
        while (_idle.TryPop(out var kept))
        {
            if (kept.Connection.FullState == System.Data.ConnectionState.Open && System.Diagnostics.Stopwatch.GetTimestamp() - kept.ReturnedAt <= _maxIdleTicks)
                return kept.Connection;
            await kept.Connection.DisposeAsync().ConfigureAwait(false);
        }

        return await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Keeps <paramref name="connection"/> for the next append (after an append that ended normally).</summary>
    public async ValueTask ReturnAsync(NpgsqlConnection connection)
    {
        if (!_disposed && connection.FullState == System.Data.ConnectionState.Open && _idle.Count < capacity)
        {
            _idle.Push((connection, System.Diagnostics.Stopwatch.GetTimestamp()));
            // Disposed meanwhile: nobody else will close it.
            if (!_disposed || !_idle.TryPop(out var again)) return;
            connection = again.Connection;
        }

        await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Gives up a connection after a failed append (it may be broken or inside a transaction): back to the pool.</summary>
    public static ValueTask DiscardAsync(NpgsqlConnection connection) => connection.DisposeAsync();

    /// <summary>Gives the kept connections back to the data source's pool; later returns give theirs back too.</summary>
    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        while (_idle.TryPop(out var kept)) await kept.Connection.DisposeAsync().ConfigureAwait(false);
    }
}
