using System.Globalization;
using Bank;
using Middleware.Client;

// The smallest client of the bank: connect to the silos, deposit, print the balance. It needs the interfaces
// (Bank.Abstractions) and the client SDK only; the silos load the components (Bank.dll).
//
//   dotnet run --project samples/Bank.Client -- --gateway 127.0.0.1:7100 --account acct-03 --amount 25
//   MIDDLEWARE_GATEWAYS=127.0.0.1:7100,127.0.0.1:7101 dotnet run --project samples/Bank.Client
const string Usage = """
    usage: Bank.Client [--gateway HOST:PORT]... [--account KEY] [--amount N] [--cluster-key KEY]
      --gateway      a silo's protocol address (repeat for more; default: MIDDLEWARE_GATEWAYS, comma-separated)
      --account      the account key (default acct-00)
      --amount       the deposit (default 10)
      --cluster-key  the key the silos require (default: MIDDLEWARE_CLUSTER_KEY)
    """;

var gateways = new List<string>();
var account = "acct-00";
var amount = 10L;
var clusterKey = Environment.GetEnvironmentVariable("MIDDLEWARE_CLUSTER_KEY") is { Length: > 0 } k ? k : null;
for (var i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    try
    {
        switch (args[i])
        {
            case "--gateway": gateways.Add(Value()); break;
            case "--account": account = Value(); break;
            case "--amount": amount = long.Parse(Value(), CultureInfo.InvariantCulture); break;
            case "--cluster-key": clusterKey = Value(); break;
            case "-h" or "--help": Console.WriteLine(Usage); return 0;
            default: throw new ArgumentException($"unknown argument {args[i]}");
        }
    }
    catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
    {
        Console.Error.WriteLine($"Bank.Client: {e.Message}\n{Usage}");
        return 2;
    }
}

if (gateways.Count == 0)
    gateways.AddRange((Environment.GetEnvironmentVariable("MIDDLEWARE_GATEWAYS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
if (gateways.Count == 0)
{
    Console.Error.WriteLine($"Bank.Client: no gateway; give --gateway HOST:PORT or set MIDDLEWARE_GATEWAYS.\n{Usage}");
    return 2;
}

await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = gateways, ClusterKey = clusterKey });
var proxy = client.GetComponent<IAccount>(account);
var afterDeposit = await proxy.Deposit(amount);
Console.WriteLine($"deposited {amount} to Account/{account}: balance {afterDeposit}");
Console.WriteLine($"balance of Account/{account}: {await proxy.Balance()}");
return 0;
