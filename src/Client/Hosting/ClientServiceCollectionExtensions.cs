using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Middleware.Core;

namespace Middleware.Client;

/// <summary>Registration of a <see cref="MiddlewareClient"/> in a host's container.</summary>
public static class ClientServiceCollectionExtensions
{
    /// <summary>The configuration section client options are read from: <c>Client:Gateways</c>, <c>Client:ClientKeyFile</c>, ...</summary>
    public const string Section = "Client";

    /// <summary>
    /// Registers a <see cref="MiddlewareClient"/> and its <see cref="IComponentFactory"/> (the same object). Options are
    /// read from the configuration section <c>Client</c> of the container's <see cref="IConfiguration"/> (keys named like
    /// the <see cref="MiddlewareClientOptions"/> properties: <c>Client:Gateways:0</c>, <c>Client:RequestTimeout</c> as
    /// <c>00:00:30</c>, ...), then <paramref name="configure"/> runs on them. The client connects when the host starts
    /// (a wrong setting or no reachable silo fails the start with the setting named); resolved without a host, it
    /// connects on first use. It is disposed with the container.
    /// </summary>
    public static IServiceCollection AddMiddlewareClient(this IServiceCollection services, Action<MiddlewareClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => new MiddlewareClientConnection(OptionsFrom(sp.GetService<IConfiguration>()?.GetSection(Section), configure)));
        services.AddHostedService(sp => sp.GetRequiredService<MiddlewareClientConnection>());
        services.TryAddSingleton(sp => sp.GetRequiredService<MiddlewareClientConnection>().Client);
        services.TryAddSingleton<IComponentFactory>(sp => sp.GetRequiredService<MiddlewareClient>());
        return services;
    }

    /// <summary>As <see cref="AddMiddlewareClient(IServiceCollection, Action{MiddlewareClientOptions}?)"/>, with the options read from <paramref name="section"/>.</summary>
    public static IServiceCollection AddMiddlewareClient(this IServiceCollection services, IConfiguration section, Action<MiddlewareClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        services.TryAddSingleton(_ => new MiddlewareClientConnection(OptionsFrom(section, configure)));
        return services.AddMiddlewareClient();
    }

    private static MiddlewareClientOptions OptionsFrom(IConfiguration? section, Action<MiddlewareClientOptions>? configure)
    {
        var options = new MiddlewareClientOptions();
        if (section is not null)
        {
            // A single "host:port;host:port" value is a list too (environment variables, command lines).
            if (section[nameof(MiddlewareClientOptions.Gateways)] is { Length: > 0 } list)
                options.Gateways = list.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            try
            {
                section.Bind(options);
            }
            catch (InvalidOperationException e)
            {
                var path = section is IConfigurationSection s ? s.Path : Section;
                throw new ArgumentException($"The client's configuration section '{path}' has a value that does not fit MiddlewareClientOptions: {e.Message} Time spans are written 00:00:30.", e);
            }
        }

        configure?.Invoke(options);
        return options;
    }
}

/// <summary>The registered client's connection: made when the host starts (or on first use without a host), closed with the container.</summary>
internal sealed class MiddlewareClientConnection(MiddlewareClientOptions options) : IHostedService, IAsyncDisposable
{
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private MiddlewareClient? _client;

    /// <summary>The connected client; connects now (blocking) when the host has not started it.</summary>
    public MiddlewareClient Client => Volatile.Read(ref _client) ?? ConnectAsync(CancellationToken.None).GetAwaiter().GetResult();

    public async Task StartAsync(CancellationToken cancellationToken) => await ConnectAsync(cancellationToken).ConfigureAwait(false);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _client, null) is { } client) await client.DisposeAsync().ConfigureAwait(false);
        _connecting.Dispose();
    }

    private async Task<MiddlewareClient> ConnectAsync(CancellationToken cancellationToken)
    {
        await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_client is { } connected) return connected;
            MiddlewareClient client;
            try
            {
                client = await MiddlewareClient.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException e) when (e is not ArgumentNullException)
            {
                // Name the configuration key beside the property, for applications that configure through appsettings.
                var key = e.ParamName is { Length: > 0 } name ? $" (configuration key {ClientServiceCollectionExtensions.Section}:{name})" : "";
                throw new ArgumentException(e.Message + key, e.ParamName, e);
            }

            Volatile.Write(ref _client, client);
            return client;
        }
        finally
        {
            _connecting.Release();
        }
    }
}
