using Middleware.Silo;

// A silo hosting the components of MyComponents: a generic host with the silo's own server on its ports (the protocol,
// and /health, /metrics, /dashboard). Settings: the Silo section of appsettings.json, MIDDLEWARE_* (or Silo__*) environment variables, and
// the silo's switches on the command line (--store sqlite:./data/silo.db --port 11111 --http-port 11180), the same keys
// as the middleware-silo tool. To serve endpoints of your own beside it, use WebApplication.CreateBuilder instead: they
// stay on the application's URLs, the silo's on its ports.
var builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddSiloSources(args);
builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
builder.AddMiddlewareSilo(silo => silo.AddComponentsFrom(typeof(MyComponents.Cart).Assembly));

using var host = builder.Build();
await host.StartAsync();
var runtime = host.Services.GetRequiredService<SiloRuntime>();
Console.WriteLine(host.Services.GetRequiredService<SiloEndpoints>().ListeningLine(runtime.StoreDescription));
await host.WaitForShutdownAsync();
