using Middleware.Recovery.Storage;

namespace Middleware.Tests.Storage;

/// <summary>The schema-version check every provider runs at open, on the tables and versions it read.</summary>
public sealed class SchemaVersionsTests
{
    private static readonly SchemaLocation At = new("PostgreSQL", "postgres:Host=db;Database=mw", "database", "its schema", "a new (empty) database");

    [Fact]
    public void An_empty_database_is_at_version_0_and_a_current_one_at_its_highest_version()
    {
        Assert.Equal(0, SchemaVersions.Check([], [], 3, At));
        Assert.Equal(2, SchemaVersions.Check(["log", "schema_version"], [1, 2], 3, At));
        Assert.Equal(3, SchemaVersions.Check(["schema_version"], [1, 2, 3], 3, At));
    }

    [Fact]
    public void A_newer_database_is_refused_naming_both_versions_the_store_and_the_fix()
    {
        var error = Assert.Throws<SchemaVersionException>(() => SchemaVersions.Check(["schema_version"], [1, 2, 3, 4], 3, At));
        Assert.Contains("schema version 4", error.Message);
        Assert.Contains("up to 3", error.Message);
        Assert.Contains("postgres:Host=db;Database=mw", error.Message);
        Assert.Contains("upgrade the middleware", error.Message);
    }

    [Fact]
    public void Another_programs_tables_an_empty_version_table_and_gaps_are_refused_with_the_fix()
    {
        var foreign = Assert.Throws<SchemaVersionException>(() => SchemaVersions.Check(["customers"], [], 3, At));
        Assert.Contains("(customers) in its schema but no schema_version table", foreign.Message);
        var empty = Assert.Throws<SchemaVersionException>(() => SchemaVersions.Check(["schema_version"], [], 3, At));
        Assert.Contains("found version none, expected 3", empty.Message);
        var gap = Assert.Throws<SchemaVersionException>(() => SchemaVersions.Check(["schema_version"], [1, 3], 3, At));
        Assert.Contains("found versions [1, 3], expected 1..3 with no gaps", gap.Message);
        Assert.Contains("a new (empty) database", gap.Message);
    }
}
