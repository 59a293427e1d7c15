using Middleware.Grains;
using Middleware.Tests.Support;

namespace Middleware.Tests.Silo;

/// <summary>
/// A silo refuses to start with a component whose state a checkpoint would lose (issue 12): before, it started, served,
/// and lost the member at the first recovery. The component assembly is compiled here, as an application would build it.
/// </summary>
public sealed class SiloStateCheckTests : IDisposable
{
    private const string Source = """
        using System.Collections.Generic;
        using System.Threading.Tasks;
        using Middleware.Grains;

        namespace Shop;

        public interface ICart : IRecoverableComponent
        {
            Task<int> Add(string item);
        }

        public sealed class CartState
        {
            public List<string> Items { get; private set; } = [];

            public void Add(string item) => Items = [.. Items, item];
        }

        public sealed class Cart : RecoverableGrain<CartState>, ICart
        {
            public Task<int> Add(string item)
            {
                State.Add(item);
                return Task.FromResult(State.Items.Count);
            }
        }
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("mw-silo-state-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_component_assembly_with_a_private_setter_in_state_exits_non_zero_with_one_line_naming_the_member()
    {
        var assembly = Compile("Shop.dll");
        var store = $"sqlite:{Path.Combine(_directory, "middleware.db")}";

        await using var silo = SiloProcess.Launch(["--store", store, "--port", "0", "--http-port", "0", "--components", assembly]);
        var exitCode = await silo.WaitForExitAsync();

        Assert.NotEqual(0, exitCode);
        var lines = silo.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"expected one stderr line, got:\n{silo.Stderr}");
        Assert.DoesNotContain("listening", silo.Stdout);
        Assert.Contains("--components", lines[0]);
        Assert.Contains(assembly, lines[0]);
        Assert.Contains("The state type CartState of Cart has property Items with a private setter", lines[0]);
        Assert.Contains("Make the setter public", lines[0]);
    }

    private string Compile(string fileName) => ComponentAssembly.Compile(Source, _directory, fileName);
}
