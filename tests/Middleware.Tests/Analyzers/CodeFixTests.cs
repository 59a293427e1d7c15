using Microsoft.CodeAnalysis.Testing;
using Middleware.Analyzers;
using Middleware.Analyzers.CodeFixes;
using static Middleware.Tests.Analyzers.AnalyzerVerifier;

namespace Middleware.Tests.Analyzers;

public sealed class CodeFixTests
{
    private const string Usings = """
        using System;
        using System.Collections.Generic;
        using System.Threading;
        using System.Threading.Tasks;
        using Middleware.Grains;

        """;

    [Fact]
    public async Task Clock_guid_and_random_become_the_context_s() =>
        await Fix<NondeterminismAnalyzer, NondeterminismCodeFix>(Usings + """
            public sealed class S { public long V { get; set; } }
            public sealed class C : RecoverableGrain<S>
            {
                public Task<string> M()
                {
                    var at = {|MW0001:DateTime.UtcNow|};
                    var id = {|MW0001:Guid.NewGuid()|};
                    var n = {|MW0001:Random.Shared|}.Next() + {|MW0001:new Random()|}.Next();
                    return Task.FromResult($"{at}{id}{n}");
                }
            }
            """, Usings + """
            public sealed class S { public long V { get; set; } }
            public sealed class C : RecoverableGrain<S>
            {
                public Task<string> M()
                {
                    var at = Context.UtcNow;
                    var id = Context.NewGuid();
                    var n = Context.Random.Next() + Context.Random.Next();
                    return Task.FromResult($"{at}{id}{n}");
                }
            }
            """);

    [Fact]
    public async Task Local_time_and_static_members_get_no_fix_because_there_is_no_same_meaning_in_reach()
    {
        var source = Usings + """
            public sealed class S { public long V { get; set; } }
            public sealed class C : RecoverableGrain<S>
            {
                public Task<string> M() => Task.FromResult($"{{|MW0001:DateTime.Now|}}{Helper()}");
                private static Guid Helper() => {|MW0001:Guid.NewGuid()|};
            }
            """;
        await Fix<NondeterminismAnalyzer, NondeterminismCodeFix>(source, source);
    }

    [Fact]
    public async Task ValueTask_becomes_Task_on_the_interface_and_its_implementation() =>
        await Fix<ComponentInterfaceAnalyzer, ComponentInterfaceCodeFix>(Usings + """
            public interface IShop : IRecoverableComponent
            {
                {|MW0002:ValueTask<int>|} Count();
                {|MW0002:System.Threading.Tasks.ValueTask|} Clear();
            }
            public sealed class S { public int N { get; set; } }
            public sealed class Shop : RecoverableGrain<S>, IShop
            {
                public async ValueTask<int> Count() { await Task.Yield(); return State.N; }
                public async System.Threading.Tasks.ValueTask Clear() { await Task.Yield(); State.N = 0; }
            }
            """, Usings + """
            public interface IShop : IRecoverableComponent
            {
                Task<int> Count();
                System.Threading.Tasks.Task Clear();
            }
            public sealed class S { public int N { get; set; } }
            public sealed class Shop : RecoverableGrain<S>, IShop
            {
                public async Task<int> Count() { await Task.Yield(); return State.N; }
                public async System.Threading.Tasks.Task Clear() { await Task.Yield(); State.N = 0; }
            }
            """);

    [Fact]
    public async Task A_CancellationToken_parameter_is_removed_from_the_interface_and_its_implementation() =>
        await Fix<ComponentInterfaceAnalyzer, ComponentInterfaceCodeFix>(Usings + """
            public interface IShop : IRecoverableComponent { Task Add(string sku, CancellationToken {|MW0004:ct|}); }
            public sealed class S { public List<string> Items { get; set; } = []; }
            public sealed class Shop : RecoverableGrain<S>, IShop
            {
                public Task Add(string sku, CancellationToken ct) { State.Items.Add(sku); return Task.CompletedTask; }
            }
            """, Usings + """
            public interface IShop : IRecoverableComponent { Task Add(string sku); }
            public sealed class S { public List<string> Items { get; set; } = []; }
            public sealed class Shop : RecoverableGrain<S>, IShop
            {
                public Task Add(string sku) { State.Items.Add(sku); return Task.CompletedTask; }
            }
            """);

    [Fact]
    public async Task State_members_get_a_public_setter_and_a_public_field_becomes_a_property() =>
        await Fix<StateTypeAnalyzer, StateCodeFix>(Usings + """
            public sealed class S
            {
                public List<string> {|MW0006:Items|} { get; private set; } = [];
                public List<string> {|MW0006:Tags|} { get; } = [];
                public int {|MW0006:Visits|};
                public string {|MW0006:Name|} = "";
            }
            public interface IHolder : IRecoverableComponent { Task Touch(); }
            public sealed class Holder : RecoverableGrain<S>, IHolder { public Task Touch() => Task.CompletedTask; }
            """, Usings + """
            public sealed class S
            {
                public List<string> Items { get; set; } = [];
                public List<string> Tags { get; set; } = [];
                public int Visits { get; set; }
                public string Name { get; set; } = "";
            }
            public interface IHolder : IRecoverableComponent { Task Touch(); }
            public sealed class Holder : RecoverableGrain<S>, IHolder { public Task Touch() => Task.CompletedTask; }
            """);

    [Fact]
    public async Task A_static_field_of_a_component_becomes_readonly() =>
        await Fix<ComponentDeterminismAnalyzer, StateCodeFix>(Usings + """
            public sealed class S { public int N { get; set; } }
            public sealed class C : RecoverableGrain<S>
            {
                private static string[] {|MW0008:Names|} = ["a", "b"];
                public Task<string> M() => Task.FromResult(Names[State.N]);
            }
            """, Usings + """
            public sealed class S { public int N { get; set; } }
            public sealed class C : RecoverableGrain<S>
            {
                private static readonly string[] Names = ["a", "b"];
                public Task<string> M() => Task.FromResult(Names[State.N]);
            }
            """);
}
