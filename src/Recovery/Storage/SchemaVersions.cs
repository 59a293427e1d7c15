namespace Middleware.Recovery.Storage;

/// <summary>
/// Where a provider keeps its schema, for the messages of <see cref="SchemaVersions.Check"/>: the engine's name
/// (<c>SQLite</c>), the store as it is named to users (a path, or a connection string without its password), what holds
/// the tables (<c>file</c>, <c>database</c>), where in it the tables were listed (null, or e.g. <c>schema dbo</c>), and
/// what a user points the store at to start over (<c>a new data file</c>).
/// </summary>
/// <param name="Engine">The database engine, as users call it.</param>
/// <param name="StoreName">The store as it is named to users; never with a password.</param>
/// <param name="Container">What holds the tables: <c>file</c> or <c>database</c>.</param>
/// <param name="Scope">Where the tables were listed, e.g. <c>its schema</c>, or null.</param>
/// <param name="Fresh">What to point the store at to start over, e.g. <c>a new (empty) database</c>.</param>
public sealed record SchemaLocation(string Engine, string StoreName, string Container, string? Scope, string Fresh);

/// <summary>
/// The schema-version check every provider runs at open, once: a database written by a newer middleware is refused
/// naming both versions, one holding some other program's tables is refused and left alone, and a damaged
/// <c>schema_version</c> table is refused with the fix. Each provider reads the table names and recorded versions in its
/// own dialect (inside its migration lock) and runs the missing scripts after this check passes.
/// </summary>
public static class SchemaVersions
{
    /// <summary>
    /// The version recorded in a database, from its <paramref name="tables"/> and the recorded
    /// <paramref name="versions"/> (ascending; empty when there is no <c>schema_version</c> table): 0 for an empty
    /// database, else the highest version, which is at most <paramref name="currentVersion"/> (the newest script this
    /// build ships).
    /// </summary>
    /// <exception cref="SchemaVersionException">A newer schema, a database of another program, or versions that are not 1..N.</exception>
    public static int Check(IReadOnlyCollection<string> tables, IReadOnlyList<long> versions, int currentVersion, SchemaLocation at)
    {
        ArgumentNullException.ThrowIfNull(at);
        var (engine, store, container, scope, fresh) = at;
        if (!tables.Contains("schema_version"))
        {
            if (tables.Count == 0) return 0;
            throw new SchemaVersionException(
                $"The {engine} {container} of '{store}' has tables ({string.Join(", ", tables.Take(5))}){(scope is null ? "" : " in " + scope)} but no " +
                $"schema_version table, so it is not a log store of this middleware (expected schema version {currentVersion}). " +
                $"Point the store at {fresh}, or at the right one.");
        }

        var max = versions.Count == 0 ? 0 : versions[^1];
        if (max > currentVersion)
        {
            throw new SchemaVersionException(
                $"The {engine} log store '{store}' is at schema version {max}, but this build of the middleware knows schema versions " +
                $"up to {currentVersion} (expected version {currentVersion}). A newer middleware wrote this {container}; upgrade the " +
                $"middleware to a release that ships schema {max}, or point this one at {fresh}.");
        }

        if (versions.Count == 0)
        {
            throw new SchemaVersionException(
                $"The schema_version table of the {engine} log store '{store}' is empty although the table exists (found version none, " +
                $"expected {currentVersion}): an earlier setup did not finish, or the table was emptied by hand. Restore the {container} " +
                $"from a backup or point the store at {fresh}.");
        }

        for (var i = 0; i < versions.Count; i++)
        {
            if (versions[i] != i + 1)
            {
                throw new SchemaVersionException(
                    $"The schema_version table of the {engine} log store '{store}' is inconsistent: found versions " +
                    $"[{string.Join(", ", versions)}], expected 1..{max} with no gaps (this build ships up to version {currentVersion}). " +
                    $"The {container} was edited by hand or damaged; restore it from a backup or point the store at {fresh}.");
            }
        }

        return (int)max;
    }

    /// <summary>
    /// For a store opened read-only, which must not create or upgrade anything: the <paramref name="found"/> version (from
    /// <see cref="Check"/>) must be <paramref name="currentVersion"/>. An empty database (no tables) and an older schema are
    /// refused naming the fix, <paramref name="create"/> (how to create or upgrade it with this build).
    /// </summary>
    /// <exception cref="SchemaVersionException">The database is empty, or at an older schema version.</exception>
    public static void RequireCurrent(int found, int currentVersion, SchemaLocation at, string create)
    {
        ArgumentNullException.ThrowIfNull(at);
        var (engine, store, container, scope, _) = at;
        if (found == 0)
        {
            throw new SchemaVersionException(
                $"The {engine} {container} of '{store}' is empty (no tables{(scope is null ? "" : " in " + scope)}), so it is not a log store yet, and a " +
                $"read-only command does not create one. Check the store setting; to create the store, {create}.");
        }

        if (found < currentVersion)
        {
            throw new SchemaVersionException(
                $"The {engine} log store '{store}' is at schema version {found}, and this build expects version {currentVersion}; a read-only " +
                $"command does not upgrade it. To upgrade it, {create}.");
        }
    }
}
