using System.Data;
using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Middleware.Testing;

/// <summary>
/// One run of a back-end work delegate that committed, as the back end recorded it (<c>mw_idempotent_requests</c>): the
/// deterministic request id (<c>componentId:turnSeq:ordinal</c>), the procedure name, <c>done</c> or <c>aborted</c>, and
/// the result (the work's JSON result, or the abort's type and message). One row per request id: a repeat of the id
/// returned this outcome and ran nothing.
/// </summary>
public sealed record BackendExecution(string RequestId, string Procedure, string Status, string Result);

/// <summary>
/// A write to a back end outside its idempotent procedures, from an exploratory read (<c>Backend(name).ReadAsync</c>):
/// it is not exactly-once (a turn re-executed after a crash writes again) and replay never sees it.
/// </summary>
public sealed record UnrecordedWrite(string Backend, IReadOnlyList<string> Tables);

/// <summary>
/// A back end of a <see cref="ComponentHarness"/>: an in-memory SQLite database that lives as long as the harness and
/// survives its crashes, like an external database. Components reach it with <c>Context.Backend(name)</c>; their work
/// delegates really run on it, under the same idempotent-procedure contract as in production.
/// </summary>
public sealed class HarnessBackend : IAsyncDisposable
{
    private const string RequestsTable = "mw_idempotent_requests";
    private readonly SqliteConnection _keepAlive;
    private readonly List<UnrecordedWrite> _unrecorded = [];
    private readonly object _gate = new();

    private HarnessBackend(string name, string connectionString, SqliteConnection keepAlive)
    {
        Name = name;
        _keepAlive = keepAlive;
        DataSource = new TrackingDataSource(connectionString, this);
    }

    /// <summary>The back end's name (what components pass to <c>Context.Backend</c>).</summary>
    public string Name { get; }

    /// <summary>The data source the runtime runs procedures on (each connection is watched for writes outside procedures).</summary>
    public DbDataSource DataSource { get; }

    /// <summary>Every committed run of a work delegate, in the order recorded (at most one per request id).</summary>
    public IReadOnlyList<BackendExecution> Executions
    {
        get
        {
            lock (_gate)
            {
                using var exists = Command($"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{RequestsTable}'");
                if (Convert.ToInt64(exists.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0) return [];
                using var select = Command($"SELECT request_id, procedure, status, result FROM {RequestsTable} ORDER BY rowid");
                using var reader = select.ExecuteReader();
                var rows = new List<BackendExecution>();
                while (reader.Read())
                {
                    var result = reader.GetValue(3) switch
                    {
                        byte[] bytes => Encoding.UTF8.GetString(bytes),
                        DBNull => "",
                        var other => Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture) ?? "",
                    };
                    rows.Add(new BackendExecution(reader.GetString(0), reader.GetString(1), reader.GetString(2), result));
                }

                return rows;
            }
        }
    }

    /// <summary>Writes made outside idempotent procedures since the harness started (see <see cref="UnrecordedWrite"/>).</summary>
    public IReadOnlyList<UnrecordedWrite> UnrecordedWrites
    {
        get
        {
            lock (_gate) return [.. _unrecorded];
        }
    }

    /// <summary>Runs <paramref name="sql"/> (with named parameters <c>@name</c> from an anonymous object) and returns the first column of the first row.</summary>
    public T? Scalar<T>(string sql, object? parameters = null)
    {
        lock (_gate)
        {
            using var command = Command(sql, parameters);
            var value = command.ExecuteScalar();
            return value is null or DBNull ? default : (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Runs <paramref name="sql"/> and returns its rows, each as column name → value.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object?>> Query(string sql, object? parameters = null)
    {
        lock (_gate)
        {
            using var command = Command(sql, parameters);
            using var reader = command.ExecuteReader();
            var rows = new List<IReadOnlyDictionary<string, object?>>();
            while (reader.Read())
            {
                var row = new Dictionary<string, object?>(StringComparer.Ordinal);
                for (var i = 0; i < reader.FieldCount; i++) row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                rows.Add(row);
            }

            return rows;
        }
    }

    /// <summary>Runs a statement (setup, or a change a test makes behind the components' back); returns the rows changed.</summary>
    public int Execute(string sql, object? parameters = null)
    {
        lock (_gate)
        {
            using var command = Command(sql, parameters);
            return command.ExecuteNonQuery();
        }
    }

    internal static HarnessBackend Create(string name, string? setupSql)
    {
        // A named in-memory database shared by every connection of this back end; it lives while one connection is open.
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = $"mw-harness-{Guid.NewGuid():N}-{name}",
            Mode = SqliteOpenMode.Memory,
            Cache = SqliteCacheMode.Shared,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        var keepAlive = new SqliteConnection(connectionString);
        keepAlive.Open();
        var backend = new HarnessBackend(name, connectionString, keepAlive);
        if (setupSql is not null) backend.Execute(setupSql);
        return backend;
    }

    internal int UnrecordedCount
    {
        get
        {
            lock (_gate) return _unrecorded.Count;
        }
    }

    private void Observe(HashSet<string> tables)
    {
        // The executor's connection writes its request row in the same transaction as the work; any other connection that
        // changed rows (an exploratory read) wrote outside every procedure.
        if (tables.Count == 0 || tables.Contains(RequestsTable)) return;
        lock (_gate) _unrecorded.Add(new UnrecordedWrite(Name, [.. tables.Order(StringComparer.Ordinal)]));
    }

    private SqliteCommand Command(string sql, object? parameters = null)
    {
        var command = _keepAlive.CreateCommand();
        command.CommandText = sql;
        if (parameters is not null)
        {
            foreach (var p in parameters.GetType().GetProperties())
                command.Parameters.AddWithValue("@" + p.Name, p.GetValue(parameters) ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>Closes the database (it is gone afterwards).</summary>
    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync().ConfigureAwait(false);
        await _keepAlive.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Hands out SQLite connections and notes, per connection, which tables it changed.</summary>
    private sealed class TrackingDataSource(string connectionString, HarnessBackend owner) : DbDataSource
    {
        public override string ConnectionString => connectionString;

        protected override DbConnection CreateDbConnection()
        {
            var connection = new SqliteConnection(connectionString);
            HashSet<string>? tables = null;
            connection.StateChange += (_, e) =>
            {
                if (e.CurrentState == ConnectionState.Open)
                {
                    var changed = tables = new HashSet<string>(StringComparer.Ordinal);
                    SQLitePCL.raw.sqlite3_update_hook(connection.Handle, (_, _, _, table, _) =>
                    {
                        lock (changed) changed.Add(table.utf8_to_string());
                    }, null);
                }
                else if (e.CurrentState == ConnectionState.Closed && tables is { } seen)
                {
                    tables = null;
                    lock (seen) owner.Observe(seen);
                }
            };
            return connection;
        }
    }
}
