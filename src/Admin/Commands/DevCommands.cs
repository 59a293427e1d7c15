using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Middleware.Admin.Cli;
using Middleware.Admin.Components;
using Middleware.Admin.Output;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;

namespace Middleware.Admin.Commands;

/// <summary>
/// <c>mw dev generate</c> (hidden): writes N one-argument turns (default <c>Account.Deposit(amount)</c>) over
/// K components through a <see cref="LocalRuntime"/>, to build large logs for audit benchmarks and demos.
/// </summary>
internal static class DevCommands
{
    public static Command Build(CliContext cli)
    {
        var components = CliOptions.Components();
        var type = new Option<string>("--type") { Description = "Component type to call.", DefaultValueFactory = _ => "Account" };
        var method = new Option<string>("--method") { Description = "Method taking one integer.", DefaultValueFactory = _ => "Deposit" };
        var count = new Option<int>("--components-count", "--accounts") { Description = "Number of components (keys acct-0..).", DefaultValueFactory = _ => 100 };
        var turns = new Option<long>("--turns") { Description = "Total turns to write.", DefaultValueFactory = _ => 100_000 };
        var every = new Option<int>("--checkpoint-every") { Description = "RuntimeOptions.CheckpointEveryTurns.", DefaultValueFactory = _ => 1000 };
        var window = new Option<int>("--window") { Description = "Requests in flight at once.", DefaultValueFactory = _ => 4096 };
        var generate = new Command("generate", "Write N turns over K components through a LocalRuntime (benchmark data).") { components, type, method, count, turns, every, window };
        generate.SetAction(async (parse, ct) =>
        {
            var registry = ComponentAssemblies.Load(parse.GetValue(components)!);
            registry.Get(Validate.Type(parse.GetValue(type))!);
            Validate.OneLine(parse.GetValue(method), "--method", "give the name of a method taking one integer, e.g. --method Deposit");
            var (k, n) = (parse.GetValue(count), parse.GetValue(turns));
            Validate.Range(k, "--accounts", 1);
            Validate.Range(n, "--turns", 1);
            Validate.Range(parse.GetValue(every), "--checkpoint-every", 1);
            Validate.Range(parse.GetValue(window), "--window", 1);
            await using var store = await cli.OpenStoreAsync(parse, create: true).ConfigureAwait(false);
            var options = new RuntimeOptions { CheckpointEveryTurns = parse.GetValue(every), CheckpointInterval = TimeSpan.FromDays(1), OwnerId = "mw-generate" };
            var runId = Guid.NewGuid().ToString("N")[..8];
            var clock = Stopwatch.StartNew();
            await using (var runtime = new LocalRuntime(store, registry, options))
            {
                using var gate = new SemaphoreSlim(parse.GetValue(window));
                var tasks = new List<Task>();
                for (long i = 0; i < n; i++)
                {
                    await gate.WaitAsync(ct).ConfigureAwait(false);
                    var target = new ComponentId(parse.GetValue(type)!, $"acct-{i % k}");
                    var args = Encoding.UTF8.GetBytes($"[{1 + (i % 97)}]");
                    var call = runtime.InvokeAsync(new Invocation(target, $"gen-{runId}-{i}", parse.GetValue(method)!, args), ct);
                    _ = call.ContinueWith(_ => gate.Release(), TaskScheduler.Default);
                    tasks.Add(call);
                    // Completed calls are dropped to bound memory; a failed one stays and fails the run below.
                    if (tasks.Count >= 65536) tasks.RemoveAll(t => t.IsCompletedSuccessfully);
                }

                await Task.WhenAll(tasks).ConfigureAwait(false);
            }

            clock.Stop();
            var shape = new GenerateShape(store.Name, k, n, Math.Round(clock.Elapsed.TotalSeconds, 3), Math.Round(n / clock.Elapsed.TotalSeconds));
            if (CliContext.Json(parse)) cli.WriteJson(shape);
            else await cli.Output.WriteLineAsync($"wrote {n:N0} turns over {k} components to {store.Name} in {shape.Seconds:F1} s ({shape.TurnsPerSecond:N0} turns/s)").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return new Command("dev", "Developer tools (benchmark data).") { Hidden = true, Subcommands = { generate } };
    }
}
