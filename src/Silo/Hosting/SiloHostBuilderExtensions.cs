using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Middleware.Silo;

/// <summary>Hosting of a silo inside an application: a web application or a generic host.</summary>
public static class SiloHostBuilderExtensions
{
    /// <summary>
    /// Makes the application a silo:
    /// <code>
    /// builder.AddMiddlewareSilo(silo => silo
    ///     .AddComponent&lt;ICart, Cart&gt;()                 // or .AddComponentsFrom(typeof(Cart).Assembly)
    ///     .AddBackend("orders", dataSource)
    ///     .UseStore("sqlite:./data/app.db"));
    /// </code>
    /// Settings come from the configuration section <c>Silo</c> (the silo executable's keys: <c>Silo:Store</c>,
    /// <c>Silo:Port</c>, <c>Silo:HttpPort</c>, <c>Silo:Backends:&lt;name&gt;</c>, ...), then from <paramref name="configure"/>.
    /// They are checked when the host starts: a wrong one stops the start with a <see cref="SiloOptionsException"/> naming
    /// the key and the fix. At start the store opens and the runtime starts before any listener; on shutdown every live
    /// component is checkpointed and the store closed.
    /// <para>
    /// The silo listens on its own ports (<see cref="SiloOptions.Port"/> for the protocol, <see cref="SiloOptions.HttpPort"/>
    /// for <c>/health</c> and <c>/metrics</c>) with a server of its own, so the application's endpoints stay on the
    /// application's URLs and the silo's never appear there (<see cref="SiloBuilder.ShareHostEndpoints"/> puts both on
    /// the application's server instead). Works on a <c>WebApplicationBuilder</c> and on a generic host
    /// (<c>Host.CreateApplicationBuilder</c>).
    /// </para>
    /// <para>
    /// Registers <see cref="Core.IComponentFactory"/>: host code calls components through it; a component this silo owns
    /// is served here, one another silo owns is forwarded to it, each call under a new request id. Component constructors
    /// may take services of the container. Read the bound ports from <see cref="SiloEndpoints"/> after start.
    /// </para>
    /// </summary>
    public static TBuilder AddMiddlewareSilo<TBuilder>(this TBuilder builder, Action<SiloBuilder> configure)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var silo = new SiloBuilder(builder.Services);
        configure(silo);
        SiloHostingExtensions.AddSiloServices(builder.Services, sp => silo.Build(sp.GetService<IConfiguration>()));
        if (silo.SharesHostEndpoints)
        {
            if (builder is not WebApplicationBuilder web)
                throw new InvalidOperationException("ShareHostEndpoints() needs a WebApplicationBuilder (the application's own server); on a generic host leave it out, and the silo runs its own server on its ports.");
            SiloHostingExtensions.ListenOnHostServer(web);
        }
        else
        {
            // After the runtime's registration: its StartingAsync (store, runtime) runs before this server listens.
            builder.Services.AddHostedService<SiloServer>();
        }

        return builder;
    }
}
