using System.Data.Common;
using Microsoft.Data.Sqlite;
using Middleware.Recovery.Procedures;
using Npgsql;

namespace Middleware.Silo;

/// <summary>
/// Back ends from configuration: <c>Silo:Backends:&lt;name&gt;</c> = <c>sqlite:PATH</c> or <c>postgres:&lt;Npgsql
/// connection string&gt;</c>. Without any, a component that calls a back end gets the runtime's "No back end named ..." error.
/// </summary>
public static class BackendSettings
{
    /// <summary>Throws <see cref="SiloOptionsException"/> when the setting of back end <paramref name="name"/> is not usable.</summary>
    public static void Check(string name, string setting) => _ = Parse(name, setting);

    /// <summary>Registers every configured back end with the runtime's registry; returns the data sources to dispose at shutdown.</summary>
    public static IReadOnlyList<DbDataSource> Register(BackendRegistry registry, IDictionary<string, string> backends)
    {
        var sources = new List<DbDataSource>();
        foreach (var (name, setting) in backends)
        {
            var (scheme, value) = Parse(name, setting);
            var (source, dialect) = scheme == "sqlite"
                // Default Timeout: several turns may post to one SQLite file at once; wait for the lock instead of failing.
                ? (SqliteFactory.Instance.CreateDataSource($"Data Source={value};Default Timeout=30"), BackendDialect.Sqlite)
                : ((DbDataSource)NpgsqlDataSource.Create(value), BackendDialect.Postgres);
            registry.Add(name, source, dialect);
            sources.Add(source);
        }

        return sources;
    }

    /// <summary>The setting of back end <paramref name="name"/> under its three names.</summary>
    public static SiloSetting SettingFor(string name) =>
        new($"--{SiloSettings.Section}:Backends:{name}", $"{SiloSettings.BackendEnvironmentPrefix}{name.ToUpperInvariant()}", $"{SiloSettings.Section}:Backends:{name}");

    /// <summary>How a silo user configures a missing back end, for the runtime's error when a turn asks for it.</summary>
    public static string Hint(string name)
    {
        var setting = SettingFor(name);
        return $"configure it on the silo: {setting.Option} sqlite:PATH or postgres:<connection string> (environment {setting.EnvironmentVariable}, appsettings {setting.Key})";
    }

    /// <summary>
    /// Refuses to start when a component declares a back end (<c>[UsesBackend]</c>) that is not configured, naming the
    /// component, the back end and the setting, so the first turn that needs it does not find out.
    /// </summary>
    public static void CheckDeclared(Recovery.Runtime.ComponentRegistry registry, IDictionary<string, string> backends)
    {
        foreach (var type in registry.Types.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            foreach (var name in type.Backends)
            {
                if (!backends.ContainsKey(name))
                    throw new SiloOptionsException(SettingFor(name), $"is not set, but component {type.Name} ({type.GrainType.Name}) calls back end '{name}' ([UsesBackend]); give it sqlite:PATH or postgres:<connection string>");
            }
        }
    }

    private static (string Scheme, string Value) Parse(string name, string setting)
    {
        var where = SettingFor(name);
        var colon = setting.IndexOf(':', StringComparison.Ordinal);
        var scheme = colon > 0 ? setting[..colon].Trim().ToLowerInvariant() : "";
        var value = colon > 0 ? setting[(colon + 1)..] : "";
        // Only the scheme is ever echoed: the rest may hold a password.
        if (scheme is not ("sqlite" or "postgres"))
            throw new SiloOptionsException(where, $"has the kind '{scheme}'; a back end is sqlite:PATH or postgres:<Npgsql connection string>");
        if (string.IsNullOrWhiteSpace(value))
            throw new SiloOptionsException(where, $"has nothing after '{scheme}:'; give a file path (sqlite) or a connection string (postgres)");
        if (scheme == "postgres")
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(value);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
            {
                throw new SiloOptionsException(where, $"has a postgres connection string that cannot be parsed ({e.Message})");
            }
        }

        return (scheme, value);
    }
}
