using System.Text;
using Middleware.Recovery.Log;
using Middleware.Recovery.Postgres;
using Middleware.Recovery.Storage;
using Middleware.Tests.Support;

namespace Middleware.Tests.Storage;

/// <summary>
/// What the server does for an append, as a DBA sees it in <c>pg_stat_user_tables</c>: the one-statement append looks up
/// the heads of the components it writes by primary key, and never reads the whole <c>components</c> table. At the
/// server's default <c>random_page_cost</c> a table of a thousand heads was scanned whole by every append (a hash join),
/// about a third of the statement's execution (bench/README.md, "PostgreSQL at 64 in flight").
/// </summary>
[RequiresPostgres]
public sealed class PostgresAppendPlanTests
{
    [StoreFact]
    public async Task Appends_read_only_the_heads_they_write_not_the_whole_components_table()
    {
        var server = await PostgresServer.GetAsync();
        var database = await server.CreateDatabaseAsync();
        var ids = Enumerable.Range(0, 1000).Select(i => $"Plan/{i:D4}").ToArray();
        var epochs = new Dictionary<string, long>();
        await using (var claimer = await PostgresLogStore.OpenAsync(database))
        {
            foreach (var chunk in ids.Chunk(100))
            {
                var claimed = await Task.WhenAll(chunk.Select(id => claimer.ClaimAsync(new ClaimRequest(id, 0, "silo", ClaimMode.EpochOnly))));
                for (var i = 0; i < chunk.Length; i++) epochs[chunk[i]] = claimed[i].Claimed!.Epoch;
            }
        }

        var scannedBefore = await ComponentsRowsScannedAsync(database, "components", ids.Length);
        const int Appends = 40, Groups = 16;
        await using (var store = await PostgresLogStore.OpenAsync(database))
        {
            // One call at a time, as a lightly loaded group-commit writer sends them: the server plans the first five with
            // their arrays, then once for all (its generic plan); at the default cost settings both plans took the scan.
            for (var a = 0; a < Appends; a++)
            {
                var groups = Enumerable.Range(0, Groups).Select(g => ids[(a * Groups + g) % ids.Length])
                    .Select(id => new AppendGroup(id, epochs[id], [new LogRecord(1, epochs[id], RecordKind.Turn, Encoding.UTF8.GetBytes(id))])).ToArray();
                Assert.All(await store.AppendAsync(groups), s => Assert.Equal(AppendStatus.Ok, s));
            }
        }

        var scanned = await ComponentsRowsScannedAsync(database, "log", Appends * Groups) - scannedBefore;
        Assert.True(scanned < ids.Length,
            $"{Appends} appends of {Groups} components read {scanned} rows of the {ids.Length}-row components table by sequential scan; " +
            "each should look up its own heads by primary key");
    }

    /// <summary>
    /// Rows read from <c>components</c> by sequential scans so far, once the server shows the statistics of the store's
    /// closed sessions (a session reports them when it ends, shortly after the store closes its pool): waits until
    /// <paramref name="table"/> shows <paramref name="rows"/> inserted rows.
    /// </summary>
    private static async Task<long> ComponentsRowsScannedAsync(string database, string table, long rows)
    {
        await Eventually.TrueAsync(
            async () => Convert.ToInt64(await PostgresServer.ExecuteAsync(database, $"SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relname = '{table}'")) >= rows,
            $"the server's statistics to show {rows} {table} rows inserted");
        return Convert.ToInt64(await PostgresServer.ExecuteAsync(database, "SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables WHERE relname = 'components'"));
    }
}
