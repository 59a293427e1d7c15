using System.Data.Common;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Middleware.Grains;
using Middleware.Recovery.Procedures;
using Middleware.Recovery.Runtime;

namespace Middleware.Silo;

/// <summary>
/// What <see cref="SiloHostBuilderExtensions.AddMiddlewareSilo{TBuilder}(TBuilder, Action{SiloBuilder})"/>
/// makes of the application: its components, back ends, store and settings. Settings start from the configuration
/// section <c>Silo</c> (the keys of the silo executable: <c>Silo:Store</c>, <c>Silo:Port</c>, <c>Silo:HttpPort</c>,
/// <c>Silo:Backends:&lt;name&gt;</c>, ...); what is set here wins over them. Everything is checked when the host
/// starts, and a wrong setting stops the start with a <see cref="SiloOptionsException"/> naming it.
/// </summary>
public sealed class SiloBuilder
{
    private readonly List<Action<ComponentRegistry>> _components = [];
    private readonly List<Action<SiloOptions>> _configure = [];

    internal SiloBuilder(IServiceCollection services) => Services = services;

    /// <summary>The host's services, for registering what components take in their constructors.</summary>
    public IServiceCollection Services { get; }

    /// <summary>True when the silo listens on the host application's own server (<see cref="ShareHostEndpoints"/>).</summary>
    internal bool SharesHostEndpoints { get; private set; }

    /// <summary>
    /// Registers component <typeparamref name="TComponent"/> under its interface <typeparamref name="TInterface"/>. Its
    /// constructor may take services of the host's container (see <see cref="ComponentRegistry.Services"/> for the
    /// caveat: what a service returns is not recorded, so it must not decide a turn's outcome).
    /// </summary>
    public SiloBuilder AddComponent<TInterface, TComponent>()
        where TInterface : IRecoverableComponent
        where TComponent : class, TInterface
    {
        _components.Add(registry => registry.Add<TInterface, TComponent>());
        return this;
    }

    /// <summary>Registers every component class of <paramref name="assembly"/> (classes implementing a component interface).</summary>
    public SiloBuilder AddComponentsFrom(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        _components.Add(registry =>
        {
            var before = registry.Types.Count();
            registry.AddAssembly(assembly);
            if (registry.Types.Count() == before)
                throw new SiloOptionsException(SiloSettings.Components, $"is given the assembly {assembly.GetName().Name} in code (AddComponentsFrom), which has no component classes; pass the assembly that holds them, e.g. typeof(YourComponent).Assembly");
        });
        return this;
    }

    /// <summary>
    /// Registers back end <paramref name="name"/> (<c>Context.Backend(name)</c>) on <paramref name="dataSource"/>. The
    /// dialect is taken from the data source's connections (SQLite, Npgsql, SqlClient) unless given. The application
    /// owns the data source and disposes it.
    /// </summary>
    public SiloBuilder AddBackend(string name, DbDataSource dataSource, BackendDialect? dialect = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(dataSource);
        var resolved = dialect ?? DialectOf(name, dataSource);
        _configure.Add(options => options.CodeBackends.Add((name, dataSource, resolved)));
        return this;
    }

    /// <summary>Registers back end <paramref name="name"/> from a setting as the silo executable takes it: <c>sqlite:PATH</c> or <c>postgres:&lt;connection string&gt;</c>.</summary>
    public SiloBuilder AddBackend(string name, string setting)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(setting);
        _configure.Add(options => options.Backends[name] = setting);
        return this;
    }

    /// <summary>The log store: <c>sqlite:PATH</c>, <c>postgres:&lt;cs&gt;</c>, <c>sqlserver:&lt;cs&gt;</c> (the <c>Silo:Store</c> setting).</summary>
    public SiloBuilder UseStore(string store)
    {
        ArgumentNullException.ThrowIfNull(store);
        _configure.Add(options => options.Store = store);
        return this;
    }

    /// <summary>Sets any other option (ports, address, keys, TLS, checkpoints, mirroring) after configuration was read.</summary>
    public SiloBuilder Configure(Action<SiloOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _configure.Add(configure);
        return this;
    }

    /// <summary>
    /// Serves the silo's protocol and HTTP ports from the host application's own server (a <c>WebApplicationBuilder</c>
    /// only). The host's Kestrel then listens on exactly those two ports: its configured URLs are replaced, and the
    /// application's endpoints answer on the silo's HTTP port beside <c>/health</c> and <c>/metrics</c>. Without it (the
    /// default) the silo runs its own server on its ports and the application's endpoints stay on the application's URLs.
    /// </summary>
    public SiloBuilder ShareHostEndpoints()
    {
        SharesHostEndpoints = true;
        return this;
    }

    /// <summary>The silo's settings: configuration section <c>Silo</c>, then this builder's; validated, assemblies and TLS files loaded.</summary>
    internal SiloSetup Build(IConfiguration? configuration)
    {
        var options = configuration is null ? new SiloOptions() : SiloSettings.Read(configuration);
        foreach (var configure in _configure) configure(options);
        options.ComponentsFromCode = _components.Count > 0;
        if (!options.ComponentsFromCode && (options.Components.Count == 0 || options.Components.All(string.IsNullOrWhiteSpace)))
            throw new SiloOptionsException(SiloSettings.Components, "is empty and no component was added in code; call silo.AddComponent<IYours, Yours>() or silo.AddComponentsFrom(typeof(Yours).Assembly) in AddMiddlewareSilo, or set Silo:Components to the path of your components' dll");
        var registry = options.Components.Count > 0 ? ComponentAssemblies.Load(options.Components) : new ComponentRegistry();
        foreach (var add in _components)
        {
            try
            {
                add(registry);
            }
            catch (Core.ComponentDefinitionException e)
            {
                throw new SiloOptionsException(SiloSettings.Components, $"has a component the silo cannot run (added in code): {e.Message.TrimEnd('.')}");
            }
        }

        return SiloSetup.Create(options, registry);
    }

    private static BackendDialect DialectOf(string name, DbDataSource dataSource)
    {
        using var connection = dataSource.CreateConnection();
        return connection.GetType().Name switch
        {
            "SqliteConnection" => BackendDialect.Sqlite,
            "NpgsqlConnection" => BackendDialect.Postgres,
            "SqlConnection" => BackendDialect.SqlServer,
            var other => throw new ArgumentException($"The data source of back end '{name}' makes {other} connections, whose SQL dialect the silo does not know; pass the dialect: AddBackend(\"{name}\", dataSource, BackendDialect.Postgres / Sqlite / SqlServer).", nameof(dataSource)),
        };
    }
}

/// <summary>A silo's checked settings, components and endpoints, made once per host.</summary>
internal sealed class SiloSetup
{
    private SiloSetup(SiloOptions options, ComponentRegistry registry)
    {
        Options = options;
        Registry = registry;
        Endpoints = new SiloEndpoints(options, registry);
    }

    public SiloOptions Options { get; }

    public ComponentRegistry Registry { get; }

    public SiloEndpoints Endpoints { get; }

    /// <summary>Validates <paramref name="options"/> (throws <see cref="SiloOptionsException"/>), checks declared back ends and reads the TLS files.</summary>
    public static SiloSetup Create(SiloOptions options, ComponentRegistry registry)
    {
        options.Validate();
        var backends = new Dictionary<string, string>(options.Backends, StringComparer.Ordinal);
        foreach (var (name, _, _) in options.CodeBackends) backends[name] = "code";
        BackendSettings.CheckDeclared(registry, backends);
        // Certificate files are read now, so a missing file or a key that does not match fails the start with its setting.
        options.LoadedTls = SiloTls.Load(options);
        return new SiloSetup(options, registry);
    }
}
