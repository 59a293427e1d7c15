using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Middleware.Recovery.Storage;
using Middleware.Silo;

// The runnable silo: configuration (appsettings.json < environment < command line) → SiloOptions → AddMiddlewareSilo.
// When ready it prints the one listening line tools parse; a setting that cannot work exits non-zero with one stderr line.
WebApplication app;
SiloRuntime silo;
SiloEndpoints endpoints;
try
{
    // The command line is added by AddSiloSources (with the silo's switch mappings), after the mapped environment.
    var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
    builder.Configuration.AddSiloSources(args);
    // Request-level logs of ASP.NET Core would drown the silo's own; warnings and errors still show.
    builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
    builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
    var options = SiloSettings.Read(builder.Configuration);
    builder.AddMiddlewareSilo(options);
    app = builder.Build();
    silo = app.Services.GetRequiredService<SiloRuntime>();
    endpoints = app.Services.GetRequiredService<SiloEndpoints>();
    await app.StartAsync();
}
catch (Exception e) when (Unwrap(e) is ArgumentException or StoreUnavailableException or SchemaVersionException or IOException)
{
    // Settings and environment the operator can fix (bad option, unreachable store, port in use): one line, no stack.
    await Console.Error.WriteLineAsync($"silo: {Unwrap(e).Message}");
    return 2;
}

Console.Out.WriteLine(endpoints.ListeningLine(silo.StoreDescription));
await Console.Out.FlushAsync();
await app.WaitForShutdownAsync();
await app.DisposeAsync();
return 0;

// Host start-up wraps failures of hosted services; the operator needs the cause.
static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } aggregate ? Unwrap(aggregate.InnerExceptions[0]) : e;
