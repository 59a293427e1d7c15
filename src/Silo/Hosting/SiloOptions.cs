using System.Net;
using Middleware.Recovery.Stores;

using Middleware.Recovery.Runtime;

namespace Middleware.Silo;

/// <summary>
/// Settings of one silo. Each setting has a command-line option, an environment variable and a configuration key
/// (section <c>Silo</c>); <see cref="Validate"/> names all three in its errors so an operator can fix whichever they used.
/// </summary>
public sealed class SiloOptions
{
    /// <summary>The default protocol port.</summary>
    public const int DefaultPort = 11111;

    /// <summary>The default port of the HTTP endpoints (/health, /metrics).</summary>
    public const int DefaultHttpPort = 11180;

    /// <summary>The silo's id: announced in the handshake, reported by /health, recorded as the owner of its components.</summary>
    public string SiloId { get; set; } = $"silo-{Environment.MachineName}-{Environment.ProcessId}".ToLowerInvariant();

    /// <summary>The log store: <c>sqlite:PATH</c>, <c>postgres:&lt;cs&gt;</c>, <c>sqlserver:&lt;cs&gt;</c> or <c>memory:</c>.</summary>
    public string Store { get; set; } = "sqlite:./data/middleware.db";

    /// <summary>Paths of the assemblies holding the application's components.</summary>
    public IList<string> Components { get; set; } = new List<string>();

    /// <summary>The address both listeners bind; loopback unless set, so a silo is not reachable from other machines by accident.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>The port of the binary protocol (clients and silos); 0 picks a free port.</summary>
    public int Port { get; set; } = DefaultPort;

    /// <summary>The port of the HTTP endpoints; 0 picks a free port.</summary>
    public int HttpPort { get; set; } = DefaultHttpPort;

    /// <summary>
    /// One key for every role (client, silo, admin) where no role key is given: the shortcut of a single trusted team.
    /// Prefer a file (<c>--cluster-key-file</c>) or the environment over the command line, which other users can read.
    /// </summary>
    public string? ClusterKey { get; set; }

    /// <summary>The key clients prove in the handshake (else <see cref="ClusterKey"/>); with neither, clients connect without a key but may only use their own sessions.</summary>
    public string? ClientKey { get; set; }

    /// <summary>The key silos prove to each other (else <see cref="ClusterKey"/>); required as soon as any key is set.</summary>
    public string? SiloKey { get; set; }

    /// <summary>The key the admin tool proves (else <see cref="ClusterKey"/>); with neither, admin operations ($move, fencing) come only from silos.</summary>
    public string? AdminKey { get; set; }

    /// <summary>The client key in force: <see cref="ClientKey"/>, else <see cref="ClusterKey"/>.</summary>
    public string? EffectiveClientKey => ClientKey ?? ClusterKey;

    /// <summary>The silo key in force: <see cref="SiloKey"/>, else <see cref="ClusterKey"/>.</summary>
    public string? EffectiveSiloKey => SiloKey ?? ClusterKey;

    /// <summary>The admin key in force: <see cref="AdminKey"/>, else <see cref="ClusterKey"/>.</summary>
    public string? EffectiveAdminKey => AdminKey ?? ClusterKey;

    /// <summary>True when no key is set at all: every peer is accepted without proof and may do anything (one machine only).</summary>
    public bool Open => EffectiveClientKey is null && EffectiveSiloKey is null && EffectiveAdminKey is null;

    /// <summary>
    /// The engine's values (checkpoint cadence, commit batch size). <see cref="RuntimeOptions.OwnerId"/> is set to
    /// <see cref="SiloId"/> at start: a silo claims components under its own id.
    /// </summary>
    public RuntimeOptions Runtime { get; } = new();

    /// <summary>
    /// How long the silo may go without a heartbeat before the others declare it dead and take over its components
    /// (judged by the store's clock). At least 1 s; default 2 s, so a crash costs clients about 2-3 s.
    /// </summary>
    public TimeSpan DeadAfter { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the silo heartbeats and refreshes its view of the cluster: a quarter of <see cref="DeadAfter"/>.</summary>
    public TimeSpan HeartbeatInterval => DeadAfter / 4;

    /// <summary>
    /// The address other silos and clients reach this silo at (<c>host:port</c> or a host, whose port is then the bound
    /// protocol port). Null: the bound address (the machine name when bound to every interface).
    /// </summary>
    public string? AdvertiseAddress { get; set; }

    /// <summary>Back-end databases by name: <c>sqlite:PATH</c> or <c>postgres:&lt;Npgsql connection string&gt;</c>.</summary>
    public IDictionary<string, string> Backends { get; set; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The most connections the protocol listener keeps open at once; more are refused. Default 4096.</summary>
    public int MaxConnections { get; set; } = 4096;

    /// <summary>How long a connection with nothing in flight and nothing arriving stays open. Default 2 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Bytes of unread replies one connection may hold before the silo stops reading from it. Default 16 MiB.</summary>
    public long MaxQueuedReplyBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>The slowest a started frame may arrive, in bytes per second (after a 5 s grace). Default 16 KiB/s.</summary>
    public int MinDataRate { get; set; } = 16 * 1024;

    /// <summary>
    /// Which components get a warm standby on a second silo (process-level mirroring): <see cref="MirroringMode.Attributed"/>
    /// (the default: classes marked <c>[Mirrored]</c>), <see cref="MirroringMode.All"/> or <see cref="MirroringMode.None"/>.
    /// Every silo of a cluster should run the same mode.
    /// </summary>
    public MirroringMode Mirroring { get; set; } = MirroringMode.Attributed;

    /// <summary>
    /// How many components per second this silo may move to their rendezvous owner among the live silos when the view
    /// changes (a silo joined) or its load is uneven (rebalancing; each move is the graceful handover of <c>mw move</c>).
    /// 0 turns rebalancing off. Default 50.
    /// </summary>
    public int RebalancePerSecond { get; set; } = 50;

    /// <summary>
    /// How long a graceful stop may spend handing this silo's components over to the other live silos before it leaves
    /// (whatever is left is checkpointed and released as before). <see cref="TimeSpan.Zero"/>: no handover. Default 10 s.
    /// </summary>
    public TimeSpan LeaveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Turns of an internal component the silo runs on a scratch store before it joins the cluster (so before any silo
    /// hands it a component or routes a request to it), with a checkpoint and an activation from it, plus one request over
    /// its own protocol port: its first real requests then find their code compiled instead of paying the JIT on the
    /// request path (bench/README.md, "rebalance"). Nothing of it reaches the silo's store. 0 (the default): join at once.
    /// Off by default: on a quiet 2-core box it did not shorten moved requests and lengthened the cluster's longest gap
    /// during a join (its scratch commits compete with the serving silos'); try 200 where a joining silo's JIT is the pause.
    /// </summary>
    public int WarmupTurns { get; set; }

    /// <summary>
    /// Bytes of durable records the silo buffers per mirror silo while a shipment is in flight. A mirror that falls
    /// further behind gets only how far each log got and catches up from the store (the owner never waits). Default 16 MiB.
    /// </summary>
    public long MirrorBufferBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// The protocol port's TLS certificate: a PEM file (its key in <see cref="TlsKey"/>, or in the same file; further
    /// certificates in it are sent as its chain) or a PKCS#12/PFX file. Null (the default): no TLS. With mutual TLS on,
    /// the silo presents it to other silos too, so it then needs both server and client authentication usages.
    /// </summary>
    public string? TlsCertificate { get; set; }

    /// <summary>The PEM private key of <see cref="TlsCertificate"/>; null when the certificate file holds it.</summary>
    public string? TlsKey { get; set; }

    /// <summary>The password of a PFX <see cref="TlsCertificate"/> or an encrypted PEM key; better given by environment than on the command line.</summary>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>
    /// A PEM bundle of the CAs this silo trusts: for client certificates (mutual TLS) and for other silos' certificates
    /// when it forwards to them. Null: the operating system's trust store.
    /// </summary>
    public string? TlsCa { get; set; }

    /// <summary>Whether peers must present a certificate signed by <see cref="TlsCa"/> (mutual TLS). Default none.</summary>
    public Transport.Tls.ClientCertificateRequirement TlsClientCertificates { get; set; } = Transport.Tls.ClientCertificateRequirement.None;

    /// <summary>The TLS material read from the files above, set when the silo is hosted (<see cref="SiloHostingExtensions.AddMiddlewareSilo"/>).</summary>
    internal SiloTls? LoadedTls { get; set; }

    /// <summary>True when the host registered components in code (<see cref="SiloBuilder"/>), so <see cref="Components"/> may be empty.</summary>
    internal bool ComponentsFromCode { get; set; }

    /// <summary>Back ends the host registered in code (<see cref="SiloBuilder.AddBackend(string, System.Data.Common.DbDataSource, Recovery.Procedures.BackendDialect?)"/>); the host owns and disposes their data sources.</summary>
    internal List<(string Name, System.Data.Common.DbDataSource Source, Recovery.Procedures.BackendDialect Dialect)> CodeBackends { get; } = [];

    /// <summary>The parsed <see cref="Address"/>; call <see cref="Validate"/> first.</summary>
    public IPAddress BindAddress => ParseAddress(Address) ?? IPAddress.Loopback;

    /// <summary>Throws <see cref="SiloOptionsException"/> naming the first invalid setting and how to fix it.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(SiloId))
            throw new SiloOptionsException(SiloSettings.SiloId, "is empty; give the silo an id (or leave it unset for silo-<machine>-<pid>)");
        if (string.IsNullOrWhiteSpace(Store))
            throw new SiloOptionsException(SiloSettings.Store, "is empty; give a store such as sqlite:./data/middleware.db");
        // Only the kind is checked here (cheap, no I/O); opening the store at start-up checks the rest.
        var colon = Store.IndexOf(':', StringComparison.Ordinal);
        var kind = colon > 0 ? Store[..colon].Trim().ToLowerInvariant() : "";
        if (kind is not ("sqlite" or "postgres" or "sqlserver" or "memory" or "sharded"))
            throw new SiloOptionsException(SiloSettings.Store, $"has the kind '{kind}', which is not a store; accepted forms: {LogStores.AcceptedForms}");
        if (!ComponentsFromCode && (Components.Count == 0 || Components.All(string.IsNullOrWhiteSpace)))
            throw new SiloOptionsException(SiloSettings.Components, "is empty; give the path of the assembly holding your components (e.g. --components ./bin/MyApp.dll)");
        if (ParseAddress(Address) is null)
            throw new SiloOptionsException(SiloSettings.Address, $"is '{Address}', not an IP address; use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one interface's address");
        CheckPort(SiloSettings.Port, Port);
        CheckPort(SiloSettings.HttpPort, HttpPort);
        if (Port != 0 && Port == HttpPort)
            throw new SiloOptionsException(SiloSettings.HttpPort, $"is {HttpPort}, the same as the protocol port; give the HTTP endpoints another port");
        CheckKey(SiloSettings.ClusterKey, ClusterKey);
        CheckKey(SiloSettings.ClientKey, ClientKey);
        CheckKey(SiloSettings.SiloKey, SiloKey);
        CheckKey(SiloSettings.AdminKey, AdminKey);
        if (!Open && EffectiveSiloKey is null)
            throw new SiloOptionsException(SiloSettings.SiloKey, "is unset while a client or admin key is set; silos of a keyed cluster prove themselves to each other, so give a silo key (--silo-key-file) or one key for every role (--cluster-key-file)");
        foreach (var (property, problem) in Runtime.Problems())
        {
            // The engine's own rules, reported under the silo's names for the setting.
            if (SiloSettings.ForRuntime(property) is { } setting) throw new SiloOptionsException(setting, problem);
        }

        if (DeadAfter < TimeSpan.FromSeconds(1) || DeadAfter > TimeSpan.FromMinutes(10))
            throw new SiloOptionsException(SiloSettings.DeadAfter, $"is {DeadAfter.TotalMilliseconds:0} ms; set it from 1000 (1 s) to 600000 (10 min), default 2000");
        if (AdvertiseAddress is { } advertise && (string.IsNullOrWhiteSpace(advertise) || advertise.Contains(' ')))
            throw new SiloOptionsException(SiloSettings.Advertise, $"is '{advertise}'; give host or host:port as other silos and clients reach this silo");
        foreach (var (name, setting) in Backends)
            BackendSettings.Check(name, setting);
        if (MirrorBufferBytes is < 64 * 1024 or > 1L << 32)
            throw new SiloOptionsException(SiloSettings.MirrorBufferBytes, $"is {MirrorBufferBytes}; set it from 65536 (64 KiB) to 4294967296 (4 GiB), default 16777216");
        if (MaxConnections is < 1 or > 1_000_000)
            throw new SiloOptionsException(SiloSettings.MaxConnections, $"is {MaxConnections}; set it from 1 to 1000000, default 4096");
        if (IdleTimeout < TimeSpan.FromSeconds(1) || IdleTimeout > TimeSpan.FromDays(1))
            throw new SiloOptionsException(SiloSettings.IdleTimeout, $"is {IdleTimeout.TotalMilliseconds:0} ms; set it from 1000 (1 s) to 86400000 (one day), default 120000");
        if (MaxQueuedReplyBytes < Protocol.ProtocolConstants.DefaultMaxFrameSize)
            throw new SiloOptionsException(SiloSettings.MaxQueuedReplyBytes, $"is {MaxQueuedReplyBytes}; it must hold at least one frame ({Protocol.ProtocolConstants.DefaultMaxFrameSize} bytes), default 16777216");
        if (MinDataRate is < 1 or > 1024 * 1024 * 1024)
            throw new SiloOptionsException(SiloSettings.MinDataRate, $"is {MinDataRate}; set it from 1 to 1073741824 bytes per second, default 16384");
        SiloTls.CheckSettings(this);
    }

    /// <summary>The protocol listener's settings these options give.</summary>
    public Transport.TransportOptions TransportOptions(CancellationToken? stopReading = null) => new()
    {
        StopReading = stopReading,
        SiloId = SiloId,
        Keys = new Protocol.HandshakeKeys(EffectiveClientKey, EffectiveSiloKey, EffectiveAdminKey),
        MaxConnections = MaxConnections,
        IdleTimeout = IdleTimeout,
        MaxQueuedReplyBytes = MaxQueuedReplyBytes,
        MinDataRate = MinDataRate,
    };

    /// <summary>
    /// The warning a silo logs at start when it accepts anyone from other machines: bound to a non-loopback address
    /// with no key at all. Null when there is nothing to warn about.
    /// </summary>
    public string? OpenToNetworkWarning() =>
        Open && TlsCertificate is null && !IPAddress.IsLoopback(BindAddress)
            ? $"SECURITY: silo {SiloId} listens on {BindAddress}:{Port}, reachable from other machines, without TLS and with no key: anyone who can reach it may call " +
              $"components, move them and fence requests, and all traffic is readable. Set {SiloSettings.ClusterKeyFile.Option} (or the client, silo and admin key files) " +
              $"and {SiloSettings.TlsCertificate.Option}/{SiloSettings.TlsKey.Option}, or bind {SiloSettings.Address.Option} 127.0.0.1."
            : null;

    private static void CheckKey(SiloSetting setting, string? key)
    {
        if (key is not null && (string.IsNullOrWhiteSpace(key) || key.Length > 1024))
            throw new SiloOptionsException(setting, "must be unset or 1 to 1024 characters that are not all white space (a file holding it: the -file form of the setting)");
    }

    private static void CheckPort(SiloSetting setting, int port)
    {
        if (port is < 0 or > 65535)
            throw new SiloOptionsException(setting, $"is {port}; use a TCP port from 1 to 65535, or 0 for a free port");
    }

    private static IPAddress? ParseAddress(string? value) =>
        value?.Trim().ToLowerInvariant() switch
        {
            null or "" => null,
            "localhost" or "loopback" => IPAddress.Loopback,
            "any" or "*" => IPAddress.Any,
            var text => IPAddress.TryParse(text, out var address) ? address : null,
        };
}

/// <summary>Which components a silo mirrors (<see cref="SiloOptions.Mirroring"/>).</summary>
public enum MirroringMode
{
    /// <summary>No mirroring: a takeover replays the log from the latest checkpoint.</summary>
    None,

    /// <summary>Components whose class is marked <c>[Mirrored]</c>.</summary>
    Attributed,

    /// <summary>Every component.</summary>
    All,
}

/// <summary>A silo setting is missing or invalid; the message names the option, environment variable and key.</summary>
public sealed class SiloOptionsException(SiloSetting setting, string problem)
    : ArgumentException($"{setting.Describe()} {problem}.")
{
    /// <summary>The setting at fault.</summary>
    public SiloSetting Setting { get; } = setting;
}
