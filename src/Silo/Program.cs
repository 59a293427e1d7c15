using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Middleware.Silo;

// The runnable silo: configuration (appsettings.json < environment < command line) → SiloOptions → AddMiddlewareSilo.
// When ready it prints the one listening line tools parse. Anything that stops it from starting (a setting, the store,
// a port in use, a component assembly) exits 2 with one stderr line; a failure while running exits 1 with one line.
// Stack traces only with MIDDLEWARE_DEBUG=1 (SiloDebug), on stderr.
WebApplication app;
SiloRuntime silo;
SiloEndpoints endpoints;
SiloOptions? options = null;
try
{
    // The command line is added by AddSiloSources (with the silo's switch mappings), after the mapped environment.
    // Settings are read once (SiloSettings.Read), so appsettings.json is not watched for changes: the watcher covers the
    // working directory and everything below it, and with a store file there (--store sqlite:./data/x.db) every commit
    // woke it (6 % of a silo's CPU in a cold-activation run, bench/README.md).
    var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
    builder.Configuration.AddSiloSources(args);
    // One line per entry, ids from the network escaped, no stack traces unless debugging (SiloConsoleFormatter).
    builder.Logging.ClearProviders();
    builder.Logging.AddConsole(console => console.FormatterName = SiloConsoleFormatter.FormatterName);
    builder.Logging.AddConsoleFormatter<SiloConsoleFormatter, ConsoleFormatterOptions>();
    // Request-level logs of ASP.NET Core would drown the silo's own; warnings and errors still show.
    builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
    builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
    options = SiloSettings.Read(builder.Configuration);
    builder.AddMiddlewareSilo(options);
    app = builder.Build();
    silo = app.Services.GetRequiredService<SiloRuntime>();
    endpoints = app.Services.GetRequiredService<SiloEndpoints>();
    await app.StartAsync();
}
catch (Exception e)
{
    // Settings and environment the operator can fix (bad option, unreachable store, port in use): one line, no stack.
    await SiloFailure.WriteAsync(SiloFailure.AtStart(e, options), e);
    return 2;
}

try
{
    Console.Out.WriteLine(endpoints.ListeningLine(silo.StoreDescription));
    await Console.Out.FlushAsync();
    await app.WaitForShutdownAsync();
    await app.DisposeAsync();
    return 0;
}
catch (Exception e)
{
    await SiloFailure.WriteAsync("the silo failed while running: " + SiloDebug.OneLine(SiloFailure.Unwrap(e)), e);
    return 1;
}
