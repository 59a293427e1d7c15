using Microsoft.Extensions.Configuration;

namespace Middleware.Silo;

/// <summary>One silo setting under its three names: command-line option, environment variable, configuration key.</summary>
public sealed record SiloSetting(string Option, string EnvironmentVariable, string Key)
{
    /// <summary>The names as printed in errors, e.g. <c>--store / MIDDLEWARE_STORE / Silo:Store</c>.</summary>
    public string Describe() => $"The setting {Option} / {EnvironmentVariable} / {Key}";
}

/// <summary>
/// The silo's settings and how configuration maps onto <see cref="SiloOptions"/>. The environment variables are
/// mapped explicitly (not by prefix) so the names stay the short documented ones and other variables are ignored.
/// Precedence is the usual .NET one: command line over environment over appsettings.json.
/// </summary>
public static class SiloSettings
{
    /// <summary>The configuration section of the silo.</summary>
    public const string Section = "Silo";

    /// <summary>Prefix of environment variables naming back ends: <c>MIDDLEWARE_BACKEND_LEDGER=sqlite:./ledger.db</c>.</summary>
    public const string BackendEnvironmentPrefix = "MIDDLEWARE_BACKEND_";

#pragma warning disable CS1591 // The names say it; each maps to the SiloOptions property of the same name.
    public static readonly SiloSetting SiloId = new("--silo-id", "MIDDLEWARE_SILO_ID", "Silo:SiloId");
    public static readonly SiloSetting Store = new("--store", "MIDDLEWARE_STORE", "Silo:Store");
    public static readonly SiloSetting Components = new("--components", "MIDDLEWARE_COMPONENTS", "Silo:Components");
    public static readonly SiloSetting Address = new("--address", "MIDDLEWARE_ADDRESS", "Silo:Address");
    public static readonly SiloSetting Port = new("--port", "MIDDLEWARE_PORT", "Silo:Port");
    public static readonly SiloSetting HttpPort = new("--http-port", "MIDDLEWARE_HTTP_PORT", "Silo:HttpPort");
    public static readonly SiloSetting ClusterKey = new("--cluster-key", "MIDDLEWARE_CLUSTER_KEY", "Silo:ClusterKey");
    public static readonly SiloSetting ClusterKeyFile = new("--cluster-key-file", "MIDDLEWARE_CLUSTER_KEY_FILE", "Silo:ClusterKeyFile");
    public static readonly SiloSetting ClientKey = new("--client-key", "MIDDLEWARE_CLIENT_KEY", "Silo:ClientKey");
    public static readonly SiloSetting ClientKeyFile = new("--client-key-file", "MIDDLEWARE_CLIENT_KEY_FILE", "Silo:ClientKeyFile");
    public static readonly SiloSetting SiloKey = new("--silo-key", "MIDDLEWARE_SILO_KEY", "Silo:SiloKey");
    public static readonly SiloSetting SiloKeyFile = new("--silo-key-file", "MIDDLEWARE_SILO_KEY_FILE", "Silo:SiloKeyFile");
    public static readonly SiloSetting AdminKey = new("--admin-key", "MIDDLEWARE_ADMIN_KEY", "Silo:AdminKey");
    public static readonly SiloSetting AdminKeyFile = new("--admin-key-file", "MIDDLEWARE_ADMIN_KEY_FILE", "Silo:AdminKeyFile");
    public static readonly SiloSetting CheckpointEvery = new("--checkpoint-every", "MIDDLEWARE_CHECKPOINT_EVERY", "Silo:CheckpointEveryTurns");
    public static readonly SiloSetting CheckpointInterval = new("--checkpoint-interval-ms", "MIDDLEWARE_CHECKPOINT_INTERVAL_MS", "Silo:CheckpointIntervalMs");
    public static readonly SiloSetting CheckpointSpread = new("--checkpoint-spread", "MIDDLEWARE_CHECKPOINT_SPREAD", "Silo:CheckpointSpread");
    public static readonly SiloSetting IdleDeactivation = new("--deactivate-idle-after-ms", "MIDDLEWARE_DEACTIVATE_IDLE_AFTER_MS", "Silo:DeactivateIdleAfterMs");
    public static readonly SiloSetting MaxActivations = new("--max-activations", "MIDDLEWARE_MAX_ACTIVATIONS", "Silo:MaxActivations");
    public static readonly SiloSetting EvictionTail = new("--eviction-tail", "MIDDLEWARE_EVICTION_TAIL", "Silo:EvictionTail");
    public static readonly SiloSetting CallTimeout = new("--call-timeout-ms", "MIDDLEWARE_CALL_TIMEOUT_MS", "Silo:CallTimeoutMs");
    public static readonly SiloSetting MaxBatchSize = new("--max-batch-size", "MIDDLEWARE_MAX_BATCH_SIZE", "Silo:MaxBatchSize");
    public static readonly SiloSetting DeadAfter = new("--dead-after-ms", "MIDDLEWARE_DEAD_AFTER_MS", "Silo:DeadAfterMs");
    public static readonly SiloSetting MaxConnections = new("--max-connections", "MIDDLEWARE_MAX_CONNECTIONS", "Silo:MaxConnections");
    public static readonly SiloSetting IdleTimeout = new("--idle-timeout-ms", "MIDDLEWARE_IDLE_TIMEOUT_MS", "Silo:IdleTimeoutMs");
    public static readonly SiloSetting MaxQueuedReplyBytes = new("--max-queued-reply-bytes", "MIDDLEWARE_MAX_QUEUED_REPLY_BYTES", "Silo:MaxQueuedReplyBytes");
    public static readonly SiloSetting MinDataRate = new("--min-data-rate", "MIDDLEWARE_MIN_DATA_RATE", "Silo:MinDataRate");
    public static readonly SiloSetting Advertise = new("--advertise", "MIDDLEWARE_ADVERTISE", "Silo:AdvertiseAddress");
    public static readonly SiloSetting Mirroring = new("--mirroring", "MIDDLEWARE_MIRRORING", "Silo:Mirroring");
    public static readonly SiloSetting RebalancePerSecond = new("--rebalance-per-second", "MIDDLEWARE_REBALANCE_PER_SECOND", "Silo:RebalancePerSecond");
    public static readonly SiloSetting LeaveTimeout = new("--leave-timeout-ms", "MIDDLEWARE_LEAVE_TIMEOUT_MS", "Silo:LeaveTimeoutMs");
    public static readonly SiloSetting WarmupTurns = new("--warmup-turns", "MIDDLEWARE_WARMUP_TURNS", "Silo:WarmupTurns");
    public static readonly SiloSetting MirrorBufferBytes = new("--mirror-buffer-bytes", "MIDDLEWARE_MIRROR_BUFFER_BYTES", "Silo:MirrorBufferBytes");
    public static readonly SiloSetting TlsCertificate = new("--tls-certificate", "MIDDLEWARE_TLS_CERTIFICATE", "Silo:TlsCertificate");
    public static readonly SiloSetting TlsKey = new("--tls-key", "MIDDLEWARE_TLS_KEY", "Silo:TlsKey");
    public static readonly SiloSetting TlsCertificatePassword = new("--tls-certificate-password", "MIDDLEWARE_TLS_CERTIFICATE_PASSWORD", "Silo:TlsCertificatePassword");
    public static readonly SiloSetting TlsCa = new("--tls-ca", "MIDDLEWARE_TLS_CA", "Silo:TlsCa");
    public static readonly SiloSetting TlsClientCertificates = new("--tls-client-certificates", "MIDDLEWARE_TLS_CLIENT_CERTIFICATES", "Silo:TlsClientCertificates");
#pragma warning restore CS1591

    /// <summary>Every scalar setting.</summary>
    public static IReadOnlyList<SiloSetting> All { get; } = [SiloId, Store, Components, Address, Port, HttpPort, ClusterKey, ClusterKeyFile, ClientKey, ClientKeyFile, SiloKey, SiloKeyFile, AdminKey, AdminKeyFile, CheckpointEvery, CheckpointInterval, CheckpointSpread, IdleDeactivation, MaxActivations, EvictionTail, CallTimeout, MaxBatchSize, DeadAfter, Advertise, MaxConnections, IdleTimeout, MaxQueuedReplyBytes, MinDataRate, Mirroring, MirrorBufferBytes, RebalancePerSecond, LeaveTimeout, WarmupTurns,
        TlsCertificate, TlsKey, TlsCertificatePassword, TlsCa, TlsClientCertificates];

    /// <summary>The silo setting of an engine value (a <see cref="Recovery.Runtime.RuntimeOptions"/> property name), or null when a silo sets it itself.</summary>
    public static SiloSetting? ForRuntime(string property) => property switch
    {
        nameof(Recovery.Runtime.RuntimeOptions.CheckpointEveryTurns) => CheckpointEvery,
        nameof(Recovery.Runtime.RuntimeOptions.CheckpointInterval) => CheckpointInterval,
        nameof(Recovery.Runtime.RuntimeOptions.CheckpointSpread) => CheckpointSpread,
        nameof(Recovery.Runtime.RuntimeOptions.MaxBatchSize) => MaxBatchSize,
        nameof(Recovery.Runtime.RuntimeOptions.DeactivateIdleAfter) => IdleDeactivation,
        nameof(Recovery.Runtime.RuntimeOptions.MaxActivations) => MaxActivations,
        nameof(Recovery.Runtime.RuntimeOptions.EvictionTailRecords) => EvictionTail,
        nameof(Recovery.Runtime.RuntimeOptions.CallTimeout) => CallTimeout,
        nameof(Recovery.Runtime.RuntimeOptions.OwnerId) => SiloId,
        _ => null,
    };

    /// <summary>The command-line switch mappings (<c>--store</c> → <c>Silo:Store</c>, ...).</summary>
    public static IDictionary<string, string> SwitchMappings() => All.ToDictionary(s => s.Option, s => s.Key, StringComparer.OrdinalIgnoreCase);

    /// <summary>The silo's environment variables as configuration keys.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> FromEnvironment(System.Collections.IDictionary environment)
    {
        foreach (var setting in All)
        {
            if (environment[setting.EnvironmentVariable] is string value && value.Length > 0)
                yield return new(setting.Key, value);
        }

        foreach (System.Collections.DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && name.StartsWith(BackendEnvironmentPrefix, StringComparison.OrdinalIgnoreCase) && name.Length > BackendEnvironmentPrefix.Length)
                yield return new($"{Section}:Backends:{name[BackendEnvironmentPrefix.Length..].ToLowerInvariant()}", entry.Value as string);
        }
    }

    /// <summary>
    /// Adds the environment mapping and then the command line to <paramref name="configuration"/>, on top of whatever
    /// it already has (appsettings.json), so later sources win as usual.
    /// </summary>
    public static IConfigurationBuilder AddSiloSources(this IConfigurationBuilder configuration, string[] args)
    {
        configuration.AddInMemoryCollection(FromEnvironment(Environment.GetEnvironmentVariables()));
        configuration.AddCommandLine(args, SwitchMappings());
        return configuration;
    }

    /// <summary>Reads <see cref="SiloOptions"/> from configuration; a value of the wrong shape fails naming its setting.</summary>
    public static SiloOptions Read(IConfiguration configuration)
    {
        var options = new SiloOptions();
        if (configuration[SiloId.Key] is { } id) options.SiloId = id;
        if (configuration[Store.Key] is { } store) options.Store = store;
        if (configuration[Address.Key] is { } address) options.Address = address;
        options.ClusterKey = Key(configuration, ClusterKey, ClusterKeyFile);
        options.ClientKey = Key(configuration, ClientKey, ClientKeyFile);
        options.SiloKey = Key(configuration, SiloKey, SiloKeyFile);
        options.AdminKey = Key(configuration, AdminKey, AdminKeyFile);
        if (Integer(configuration, Port) is { } port) options.Port = port;
        if (Integer(configuration, HttpPort) is { } httpPort) options.HttpPort = httpPort;
        if (Integer(configuration, CheckpointEvery) is { } every) options.Runtime.CheckpointEveryTurns = every;
        if (Integer(configuration, CheckpointInterval) is { } interval) options.Runtime.CheckpointInterval = TimeSpan.FromMilliseconds(interval);
        if (Fraction(configuration, CheckpointSpread) is { } spread) options.Runtime.CheckpointSpread = spread;
        if (Integer(configuration, MaxBatchSize) is { } batch) options.Runtime.MaxBatchSize = batch;
        if (Integer(configuration, IdleDeactivation) is { } idleAfter) options.Runtime.DeactivateIdleAfter = TimeSpan.FromMilliseconds(idleAfter);
        if (Integer(configuration, MaxActivations) is { } maxActivations) options.Runtime.MaxActivations = maxActivations;
        if (Integer(configuration, EvictionTail) is { } evictionTail) options.Runtime.EvictionTailRecords = evictionTail;
        // 0: no deadline; a negative value is reported by the runtime's own check under this setting's name.
        if (Integer(configuration, CallTimeout) is { } callTimeout) options.Runtime.CallTimeout = callTimeout == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(callTimeout);
        if (Integer(configuration, DeadAfter) is { } deadAfter) options.DeadAfter = TimeSpan.FromMilliseconds(deadAfter);
        if (Integer(configuration, MaxConnections) is { } maxConnections) options.MaxConnections = maxConnections;
        if (Integer(configuration, IdleTimeout) is { } idle) options.IdleTimeout = TimeSpan.FromMilliseconds(idle);
        if (Integer(configuration, MaxQueuedReplyBytes) is { } queued) options.MaxQueuedReplyBytes = queued;
        if (Integer(configuration, MinDataRate) is { } rate) options.MinDataRate = rate;
        if (configuration[Advertise.Key] is { Length: > 0 } advertise) options.AdvertiseAddress = advertise;
        if (Integer(configuration, MirrorBufferBytes) is { } mirrorBuffer) options.MirrorBufferBytes = mirrorBuffer;
        if (Integer(configuration, RebalancePerSecond) is { } perSecond)
            options.RebalancePerSecond = perSecond >= 0 ? perSecond : throw new SiloOptionsException(RebalancePerSecond, $"is {perSecond}; give the components a silo may move per second, or 0 to turn rebalancing off");
        if (Integer(configuration, LeaveTimeout) is { } leaveTimeout)
            options.LeaveTimeout = leaveTimeout >= 0 ? TimeSpan.FromMilliseconds(leaveTimeout) : throw new SiloOptionsException(LeaveTimeout, $"is {leaveTimeout}; give milliseconds, or 0 to leave without handing components over");
        if (Integer(configuration, WarmupTurns) is { } warmupTurns)
            options.WarmupTurns = warmupTurns >= 0 ? warmupTurns : throw new SiloOptionsException(WarmupTurns, $"is {warmupTurns}; give the turns a silo runs on a scratch store before it joins (default 200), or 0 to join without warming up");
        if (configuration[Mirroring.Key] is { Length: > 0 } mirroring)
        {
            options.Mirroring = mirroring.Trim().ToLowerInvariant() switch
            {
                "none" or "off" => MirroringMode.None,
                "attributed" => MirroringMode.Attributed,
                "all" => MirroringMode.All,
                _ => throw new SiloOptionsException(Mirroring, $"is '{mirroring}'; use none, attributed (components marked [Mirrored], the default) or all"),
            };
        }

        if (configuration[TlsCertificate.Key] is { Length: > 0 } certificate) options.TlsCertificate = certificate;
        if (configuration[TlsKey.Key] is { Length: > 0 } tlsKey) options.TlsKey = tlsKey;
        if (configuration[TlsCertificatePassword.Key] is { Length: > 0 } password) options.TlsCertificatePassword = password;
        if (configuration[TlsCa.Key] is { Length: > 0 } ca) options.TlsCa = ca;
        if (configuration[TlsClientCertificates.Key] is { Length: > 0 } clientCertificates)
        {
            options.TlsClientCertificates = clientCertificates.Trim().ToLowerInvariant() switch
            {
                "none" => Transport.Tls.ClientCertificateRequirement.None,
                "optional" => Transport.Tls.ClientCertificateRequirement.Optional,
                "required" => Transport.Tls.ClientCertificateRequirement.Required,
                _ => throw new SiloOptionsException(TlsClientCertificates, $"is '{clientCertificates}'; use required, optional or none"),
            };
        }

        // A single value is a list separated by ';' or ','; appsettings.json may also give a JSON array.
        var section = configuration.GetSection(Components.Key);
        var paths = section.Value is { } list
            ? list.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : section.GetChildren().Select(c => c.Value).OfType<string>();
        options.Components = paths.Where(p => p.Length > 0).ToList();

        foreach (var backend in configuration.GetSection($"{Section}:Backends").GetChildren())
        {
            if (backend.Value is { } setting) options.Backends[backend.Key] = setting;
        }

        return options;
    }

    /// <summary>
    /// A key given inline (<paramref name="inline"/>) or as the path of a file holding it (<paramref name="file"/>; one
    /// trailing line break is dropped, as editors and <c>echo</c> write one). Both at once, an unreadable or empty file,
    /// fail naming the setting. A file keeps the key out of <c>/proc/PID/cmdline</c> and the environment.
    /// </summary>
    private static string? Key(IConfiguration configuration, SiloSetting inline, SiloSetting file)
    {
        var text = configuration[inline.Key] is { Length: > 0 } given ? given : null;
        if (configuration[file.Key] is not { Length: > 0 } path) return text;
        if (text is not null)
            throw new SiloOptionsException(file, $"is set together with {inline.Option} / {inline.EnvironmentVariable}; give the key one way only (the file keeps it off the command line)");
        string content;
        try
        {
            content = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new SiloOptionsException(file, $"names '{path}', which cannot be read ({e.Message}); give the path of a file holding the key");
        }

        content = content.TrimEnd('\n', '\r');
        return content.Length > 0 ? content : throw new SiloOptionsException(file, $"names '{path}', which is empty; write the key into it");
    }

    private static double? Fraction(IConfiguration configuration, SiloSetting setting)
    {
        var text = configuration[setting.Key];
        if (string.IsNullOrWhiteSpace(text)) return null;
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new SiloOptionsException(setting, $"is '{text}', not a number; give a fraction from 0 to 1, e.g. 0.5");
    }

    private static int? Integer(IConfiguration configuration, SiloSetting setting)
    {
        var text = configuration[setting.Key];
        if (string.IsNullOrWhiteSpace(text)) return null;
        return int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new SiloOptionsException(setting, $"is '{text}', not a whole number");
    }
}
