using System.CommandLine;
using Middleware.Admin.Cli;
using Middleware.Admin.Output;
using Middleware.Admin.Stores;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw db migrate</c> applies the numbered schema scripts (for SQLite, opening the store does it);
/// <c>mw db verify</c> only reads the schema version and says whether it matches this build (exit 2 if not).
/// </summary>
internal static class DbCommands
{
    public static Command Build(CliContext cli)
    {
        var migrate = new Command("migrate", "Create the store or bring its schema up to this build's version.");
        migrate.SetAction(async (parse, ct) =>
        {
            var path = StoreConnection.SqlitePath(CliContext.StoreText(parse), mustExist: false);
            var before = File.Exists(path) ? SqliteSchema.Read(path) : null;
            await (await cli.OpenStoreAsync(parse, create: true).ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            var after = SqliteSchema.Read(path);
            var applied = after.Scripts.Skip(before?.Scripts.Count ?? 0).ToList();
            if (CliContext.Json(parse)) cli.WriteJson(after with { Scripts = applied });
            else await cli.Output.WriteLineAsync($"{after.Store}: schema version {after.SchemaVersion} (this build: {after.ExpectedVersion}); applied {(applied.Count == 0 ? "nothing, already current" : string.Join(", ", applied))}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });

        var verify = new Command("verify", "Report the store's schema version and whether it matches this build (exit 2 if not).");
        verify.SetAction(async (parse, ct) =>
        {
            // Read-only on purpose: opening the store would apply the missing scripts, which is migrate's job.
            var schema = SqliteSchema.Read(StoreConnection.SqlitePath(CliContext.StoreText(parse), mustExist: true));
            if (CliContext.Json(parse)) cli.WriteJson(schema);
            else
            {
                await cli.Output.WriteLineAsync($"{schema.Store}: schema version {schema.SchemaVersion}, this build expects {schema.ExpectedVersion}: {(schema.UpToDate ? "up to date" : "MISMATCH")}").ConfigureAwait(false);
                foreach (var s in schema.Scripts) await cli.Output.WriteLineAsync("  applied " + s).ConfigureAwait(false);
            }

            if (!schema.UpToDate)
                await cli.Error.WriteLineAsync($"mw: the schema of {schema.Store} is version {schema.SchemaVersion}, this build expects {schema.ExpectedVersion}; run mw db migrate.").ConfigureAwait(false);
            return schema.UpToDate ? ExitCodes.Ok : ExitCodes.UsageOrStore;
        });
        return new Command("db", "Schema of the store.") { migrate, verify };
    }
}
