using System.Globalization;
using BenchmarkDotNet.Running;

namespace Middleware.Bench;

/// <summary>Entry point: <c>local</c>, <c>cluster</c>, <c>replay</c> and <c>echo</c> load scenarios, <c>micro</c> BenchmarkDotNet runs, <c>summarize</c>.</summary>
public static class Program
{
    /// <summary>Exit code for a bad command line (distinct from a failed run, which is 1).</summary>
    public const int UsageExit = 2;

    public const string Usage = """
        Middleware.Bench — throughput, latency and replay benchmarks of the recovery runtime.

        Usage (from the repo root):
          dotnet run -c Release --project bench/Middleware.Bench -- <mode> [options]

        Modes:
          local      C concurrent loops issue IAccount.Deposit(1) on random keys through a LocalRuntime.
                       --store memory|sqlite|postgres:<Npgsql connection string>   log store (required;
                                                 bench/start-postgres.sh starts a throwaway PostgreSQL)
                       --db PATH                 sqlite file to use and keep (default: fresh temp file, deleted after)
                       --concurrency C           requests in flight (default 64)
                       --keys K                  distinct accounts acct-00001.. (default 1000)
                       --duration S              measured seconds (default 10)
                       --warmup S                unmeasured seconds before (default 2; 0 allowed)
                       --json FILE               write the result as JSON (optional)
                       --invoke raw|proxy        raw: InvokeAsync with pre-encoded args (default, cheaper);
                                                 proxy: typed proxy Call<IAccount>(key, id).Deposit(1)
                       --checkpoint-every N      RuntimeOptions.CheckpointEveryTurns (default 1000)
               --checkpoint-spread F     RuntimeOptions.CheckpointSpread, 0 to 1 (default 1)
                       --max-batch N             RuntimeOptions.MaxBatchSize (default 1024)
                       --seed N                  key choice seed (default 1)
          cluster    N silo PROCESSES on one store (Bank.Cluster's SiloLauncher), ONE client (MiddlewareClient, every
                     silo a gateway) with C closed loops; then an echo run over a raw connection to silo-1 (the
                     transport's ceiling, same machine, same moment).
                       --silos N                 silo processes (default 1)
                       --store sqlite|sqlite:PATH|postgres:<Npgsql connection string>|memory   (required; sqlite =
                                                 fresh temp file, deleted after; memory = no log, --silos 1 only)
                       --workload deposit|transfer   deposit: Deposit(1) on random accounts; transfer: loop i calls
                                                 Teller(i mod T).Transfer(a, b, 1) (3 turns each) (default deposit)
                       --concurrency C  (64)  --keys K (1000)  --tellers T (= C)  --duration S (10)  --warmup S (3)
                       --echo-duration S (3; 0 skips the echo)  --json FILE  --invoke raw|proxy (raw)
                       --checkpoint-every N (1000)  --seed N (1)
                       --mirroring none|attributed|all   passed to every silo (default attributed: Account and Teller)
          failover   N silos, C closed loops of Deposit(1) on K accounts; after --warmup and --before seconds SIGKILL the
                     silo owning most accounts (store heads), keep the load --duration more seconds; report the first answer
                     for a dead silo's account, the longest gap between completions, the slowest request, warm/cold
                     takeovers, and lost/duplicated deposits (per-account balances against acknowledged deposits).
                       --silos N (3)  --store sqlite|sqlite:PATH|postgres:<cs> (required)  --mirroring none|attributed|all
                       --concurrency C (64)  --keys K (1000)  --warmup S (8)  --before S (5)  --duration S (10, after the kill)
                       --checkpoint-every N (1000)  --dead-after-ms MS (silo default)  --json FILE  --seed N (1)
          rebalance  N silos, C closed loops of Deposit(1) on K accounts; after --warmup (+ up to 5 s measured) a silo
                     joins under load: the time until it owns its rendezvous share (store heads), the longest gap between
                     completions and the slowest request meanwhile (all, and of the moved accounts); then SIGTERM it and the
                     same for its graceful handover back (--leave no skips); lost/duplicated deposits at the end.
                       --silos N (3, before the join)  --store sqlite|sqlite:PATH|postgres:<cs> (required)  --concurrency C (64)
                       --keys K (1000)  --warmup S (8)  --rebalance-per-second R (50, every silo)  --leave yes|no (yes)
                       --json FILE  --seed N (1)
          takeover   One account gets --turns deposits with checkpoints off; SIGKILL its owner; a new Deposit(1) every
                     --probe-interval-ms until one is answered: time from the kill and from the takeover decision.
                       --silos N (3)  --store ... (required)  --mirroring none|attributed|all  --turns N (100000)
                       --concurrency C (64, while writing)  --warmup S (3)  --duration S (30, probing limit)
                       --probe-interval-ms MS (10)  --dead-after-ms MS  --json FILE
          activations  One silo: deposits on 1,000 accounts for --duration; then N distinct accounts once (first touch),
                     all N again (past the activation limit: cold activations from checkpoints), then random accounts of
                     all N for --duration; the silo's RSS every second, the store's size per component.
                       --store sqlite|sqlite:PATH|postgres:<cs> (required)  --components N (1000000)  --concurrency C (64)
                       --duration S (10)  --max-activations N (silo default 100000; 0: no limit)  --json FILE
          activation-memory  In process, temp SQLite, no activation limit: N accounts activated with one deposit each;
                     managed heap bytes per live activation after a full GC (and RSS growth per activation).
                       --components N (100000)  --json FILE  --hold FILE (then write the pid to FILE and keep the
                     activations live until FILE is deleted, for a heap dump: dotnet-gcdump collect -p PID)
          replay     Writes N turns to one component, then times activation (claim + read + replay) in a
                     fresh runtime on the same store.
                       --store memory|sqlite     (required)
                       --db PATH                 as above
                       --turns N                 turns to write (default 10000)
                       --repeat R                activations measured, each in a fresh runtime (default 3)
                       --json FILE               (optional)
          append     The store alone (experiment): one thread appending batches of B records back to back.
                       --store memory|sqlite  --db PATH  --batch B (32)  --components K (1000)  --duration S (5)  --json FILE
          echo       The transport alone: Kestrel + the Middleware protocol in-process on loopback, ONE client
                     connection, C concurrent Echo round trips.
                       --concurrency C  (64)  --duration S (10)  --warmup S (2)  --payload BYTES (16)  --json FILE
                       --tls on|off (off: TLS on the listener and the connection, self-signed; also times 200 connects)
          micro      BenchmarkDotNet micro benchmarks (codec, args, single invoke, replay), short in-process job.
                     Any further arguments go to BenchmarkDotNet, e.g. --filter '*Codec*' or --list flat.
          summarize  DIR  Prints median and range per configuration of the JSON results in DIR.

        Exit codes: 0 ok, 1 the run had errors or a failed sanity check, 2 bad command line.
        """;

    public static async Task<int> Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? UsageExit : 0;
        }

        try
        {
            switch (args[0])
            {
                case "local":
                    return await LocalScenario.RunAsync(LocalOptions.Parse(args[1..])).ConfigureAwait(false);
                case "cluster":
                    return await ClusterScenario.RunAsync(ClusterOptions.Parse(args[1..])).ConfigureAwait(false);
                case "failover":
                    return await FailoverScenario.RunFailoverAsync(FailoverOptions.Parse(args[1..], takeover: false)).ConfigureAwait(false);
                case "takeover":
                    return await FailoverScenario.RunTakeoverAsync(FailoverOptions.Parse(args[1..], takeover: true)).ConfigureAwait(false);
                case "rebalance":
                    return await RebalanceScenario.RunAsync(RebalanceOptions.Parse(args[1..])).ConfigureAwait(false);
                case "activations":
                    return await ActivationsScenario.RunAsync(ActivationsOptions.Parse(args[1..])).ConfigureAwait(false);
                case "activation-memory":
                    return await ActivationMemoryScenario.RunAsync(args[1..]).ConfigureAwait(false);
                case "replay":
                    return await ReplayScenario.RunAsync(ReplayOptions.Parse(args[1..])).ConfigureAwait(false);
                case "append":
                    return await AppendScenario.RunAsync(AppendOptions.Parse(args[1..])).ConfigureAwait(false);
                case "echo":
                    return await EchoScenario.RunAsync(EchoOptions.Parse(args[1..])).ConfigureAwait(false);
                case "micro":
                    // BenchmarkDotNet owns the rest of the command line (filters, exporters, jobs).
                    var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args[1..], Micro.MicroConfig.Create());
                    return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
                case "summarize":
                    if (args.Length != 2) throw new UsageException("summarize takes one directory, e.g. `summarize bench/results`.");
                    return Summarizer.Run(args[1]);
                default:
                    throw new UsageException($"Unknown mode '{args[0]}'; use local, cluster, failover, takeover, rebalance, activations, activation-memory, replay, append, echo, micro or summarize (see --help).");
            }
        }
        catch (HelpRequested)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            Console.Error.WriteLine("Run with --help for usage.");
            return UsageExit;
        }
    }
}

/// <summary>A command-line mistake; the message names the flag and the fix.</summary>
public class UsageException(string message) : Exception(message);
