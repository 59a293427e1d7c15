using Middleware.Silo;

// A silo hosting the components of MyComponents. Options: command line > MIDDLEWARE_* environment > appsettings.json
// (Silo section), the same as the middleware-silo tool: --store sqlite:./data/silo.db --port 11111 --http-port 11180.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
builder.Configuration.AddSiloSources(args);
// ASP.NET Core's own start-up and request lines would drown the silo's; warnings and errors still show.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
var options = SiloSettings.Read(builder.Configuration);
if (options.Components.Count == 0) options.Components.Add(Path.Combine(AppContext.BaseDirectory, "MyComponents.dll"));
builder.AddMiddlewareSilo(options);

var app = builder.Build();
await app.StartAsync();
var silo = app.Services.GetRequiredService<SiloRuntime>();
Console.WriteLine(app.Services.GetRequiredService<SiloEndpoints>().ListeningLine(silo.StoreDescription));
await app.WaitForShutdownAsync();
