using Microsoft.Data.Sqlite;

namespace Middleware.Tests.Storage;

/// <summary>
/// A SQLite file of some other program, written the way most programs leave one: the default rollback journal (not
/// WAL), one table, no schema_version. Tests compare its bytes and modification time before and after a refusal.
/// </summary>
internal static class ForeignSqlite
{
    public static void Create(string path)
    {
        SQLitePCL.Batteries_V2.Init();
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers(name) VALUES ('ada');";
            command.ExecuteNonQuery();
        }

        // Older than "now", so a write during the test would show as a changed modification time even on a coarse clock.
        File.SetLastWriteTimeUtc(path, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));
    }

    /// <summary>The file's bytes and modification time, to compare after the refusal.</summary>
    public static (byte[] Bytes, DateTime Modified) Snapshot(string path) => (File.ReadAllBytes(path), File.GetLastWriteTimeUtc(path));

    /// <summary>Asserts that <paramref name="path"/> is exactly as <paramref name="before"/> and was never switched to WAL.</summary>
    public static void AssertUntouched(string path, (byte[] Bytes, DateTime Modified) before)
    {
        var after = Snapshot(path);
        Assert.True(before.Bytes.AsSpan().SequenceEqual(after.Bytes), $"the bytes of {path} changed");
        Assert.Equal(before.Modified, after.Modified);
        Assert.False(File.Exists(path + "-wal"), $"{path} was switched to WAL (a -wal file exists)");
        // Byte 18/19 of the header: 1 = rollback journal, 2 = WAL.
        Assert.Equal(1, after.Bytes[18]);
    }
}
