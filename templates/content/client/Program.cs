using Middleware.Client;
using MyComponents;

// Calls the cart "alice" on a silo: dotnet run -- 127.0.0.1:11111 (the silo's protocol address; several: a,b).
var gateways = (args.Length > 0 ? args[0] : "127.0.0.1:11111").Split(',', StringSplitOptions.RemoveEmptyEntries);
await using var client = await MiddlewareClient.ConnectAsync(new MiddlewareClientOptions { Gateways = gateways });

var cart = client.GetComponent<ICart>("alice");
var count = await cart.Add("apple");          // retried with the same request id until it is answered: counted once
Console.WriteLine($"alice's cart holds {count} item(s): {string.Join(", ", await cart.Items())}");
