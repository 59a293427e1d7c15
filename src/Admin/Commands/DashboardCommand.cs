using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Dashboard;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw dashboard [--port N] [--bind ADDR] [--components PATH]</c>: serves the silos' dashboard (<see cref="DashboardEndpoints"/>)
/// for a store, with or without a running cluster, until interrupted. The live charts come from the live silos'
/// <c>/dashboard/api/stats</c>; state and audits need the component assembly.
/// </summary>
internal static class DashboardCommand
{
    public static Command Build(CliContext cli)
    {
        var port = new Option<int>("--port") { Description = "The HTTP port to serve on (default 5080; 0 picks a free one).", DefaultValueFactory = _ => 5080 };
        var bind = new Option<string>("--bind") { Description = "The address to listen on (default 127.0.0.1: this machine only).", DefaultValueFactory = _ => "127.0.0.1" };
        var components = new Option<string?>("--components") { Description = "The application's component assembly, for the state and audit pages (e.g. samples/Bank/bin/Debug/net10.0/Bank.dll)." };
        var clusterKey = CliOptions.ClusterKey();
        var adminKeyFile = CliOptions.AdminKeyFile();
        var command = new Command("dashboard", "Serve the dashboard of a store (cluster, live charts, components, logs, state, outcomes, audits) on http://BIND:PORT/dashboard; read-only.")
        {
            port, bind, components, clusterKey, adminKeyFile,
        };
        var tls = new TlsCliOptions();
        tls.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var portNumber = (int)Validate.Range(parse.GetValue(port), "--port", 0, 65535);
            if (!IPAddress.TryParse(parse.GetValue(bind), out var address))
                throw new AdminException($"--bind '{Format.Line(parse.GetValue(bind) ?? "")}' is not an IP address; give one such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).");
            var registry = parse.GetValue(components) is { } path ? ComponentAssemblies.Load(path) : null;
            var asking = CliContext.Asking(parse, clusterKey, adminKeyFile, tls);
            await using var store = await cli.OpenClusterStoreAsync(parse, write: true).ConfigureAwait(false);
            var options = new DashboardOptions
            {
                Source = "mw dashboard",
                Store = () => store,
                Registry = registry,
                Asking = asking,
                // Whoever holds the key the tool proves to the silos may read it; without one the page is open, so the
                // default bind is this machine only.
                AccessKey = asking.Key,
            };

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(address, portNumber));
            await using var app = builder.Build();
            app.Run(context => DashboardEndpoints.Handles(context.Request.Path)
                ? DashboardEndpoints.HandleAsync(context, options)
                : Redirect(context));
            await app.StartAsync(ct).ConfigureAwait(false);
            var bound = app.Urls.FirstOrDefault() ?? $"http://{address}:{portNumber}";
            await cli.Output.WriteLineAsync($"dashboard: {bound}{DashboardEndpoints.Prefix}/ on {Format.Line(store.Name)} (read-only; Ctrl+C to stop)").ConfigureAwait(false);
            if (options.AccessKey is null && !IPAddress.IsLoopback(address))
                await cli.Error.WriteLineAsync($"note: the dashboard listens on {address} without a key: anyone who reaches it reads the store; give --admin-key-file FILE to require the key").ConfigureAwait(false);
            if (registry is null)
                await cli.Error.WriteLineAsync("note: no --components: the state and audit pages say so; give the component assembly to use them").ConfigureAwait(false);
            await cli.Output.FlushAsync(ct).ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C: stop serving.
            }

            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Task Redirect(Microsoft.AspNetCore.Http.HttpContext context)
    {
        context.Response.Redirect(DashboardEndpoints.Prefix + "/");
        return Task.CompletedTask;
    }
}
