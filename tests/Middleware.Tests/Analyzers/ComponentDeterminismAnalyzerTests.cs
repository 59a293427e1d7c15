using Middleware.Analyzers;
using static Middleware.Tests.Analyzers.AnalyzerVerifier;

namespace Middleware.Tests.Analyzers;

public sealed class ComponentDeterminismAnalyzerTests
{
    private const string Usings = """
        using System;
        using System.Linq;
        using System.Threading;
        using System.Threading.Tasks;
        using Middleware.Grains;
        public sealed class S { public long Total { get; set; } }

        """;

    [Fact]
    public async Task Threads_pool_work_parallel_loops_and_timers_in_a_component_are_warnings_that_say_why() =>
        await Analyze<ComponentDeterminismAnalyzer>(Usings + """
            public sealed class C : RecoverableGrain<S>
            {
                public async Task M()
                {
                    await {|#0:Task.Run(() => State.Total++)|};
                    await {|#1:Task.Factory.StartNew(() => 1)|};
                    {|#2:new Thread(() => { })|}.Start();
                    {|#3:ThreadPool.QueueUserWorkItem(_ => { })|};
                    {|#4:Parallel.For(0, 3, i => { })|};
                    var sum = {|#5:Enumerable.Range(0, 3).AsParallel()|}.Sum();
                    using var timer = {|#6:new Timer(_ => State.Total++, null, 1000, 1000)|};
                    await Task.Delay(1);
                    await Task.WhenAll(Task.CompletedTask);
                }
            }
            """,
            At(Rules.Concurrency, 0).WithMessage("'Task.Run' runs code on another thread, outside the turn: the runtime neither records nor replays it, it can change State while the next turn runs, and work still running is lost in a crash. Do the work in the turn itself and await it, or hand it to another component with Context.Call<T>(key)"),
            At(Rules.Concurrency, 1),
            At(Rules.Concurrency, 2),
            At(Rules.Concurrency, 3),
            At(Rules.Concurrency, 4).WithMessage("'Parallel.For' runs the body on several threads in an order that differs from run to run, so a replay can compute something else from the same log. Use a plain loop"),
            At(Rules.Concurrency, 5),
            At(Rules.Concurrency, 6).WithMessage("'new Timer()' fires outside any turn: what its callback does is not recorded or replayed, and the timer is gone after a crash. Have a caller (or a scheduler outside the component) call a component method instead"));

    [Fact]
    public async Task Mutable_static_fields_and_properties_of_a_component_are_warnings() =>
        await Analyze<ComponentDeterminismAnalyzer>(Usings + """
            public sealed class C : RecoverableGrain<S>
            {
                private static int {|#0:_calls|};
                public static string {|#1:Last|} { get; set; } = "";
                private static readonly string[] Names = ["a"];
                private const int Max = 3;
                private static string Computed => Names[0];
                public Task M() { _calls++; Last = Names[0] + Max + Computed; return Task.CompletedTask; }
            }
            """,
            At(Rules.StaticField, 0).WithMessage("Static field '_calls' of C is not in State: it is not checkpointed or replayed, every component of the type in this process shares it, and after a crash or a failover it starts over. Keep the data in State; if it never changes, make it readonly (or const)"),
            At(Rules.StaticField, 1));

    [Fact]
    public async Task The_same_code_outside_components_is_fine() =>
        await Analyze<ComponentDeterminismAnalyzer>(Usings + """
            public static class Tool
            {
                private static int _calls;
                public static Task M() { _calls++; Parallel.For(0, 3, i => { }); return Task.Run(() => _calls); }
            }
            """);

    [Fact]
    public async Task Constructor_parameters_of_a_component_are_services_whose_results_are_not_recorded() =>
        await Analyze<InjectedServiceAnalyzer>("using Microsoft.Extensions.Logging;\n" + Usings + """
            public interface IPrices { decimal PriceOf(string sku); }
            public sealed class C(IPrices {|#0:prices|}, ILogger<C> {|#1:log|}, TimeProvider {|#2:clock|}) : RecoverableGrain<S>
            {
                public Task<decimal> M(string sku) => Task.FromResult(prices.PriceOf(sku) + log.GetHashCode() + clock.GetHashCode());
            }
            public sealed class D : RecoverableGrain<S>
            {
                public D() { }
                private D(IPrices prices) { }
            }
            public sealed class NotAComponent(IPrices prices) { public decimal P => prices.PriceOf("x"); }
            """,
            At(Rules.InjectedService, 0).WithMessage("Constructor parameter 'prices' (IPrices) of C is a service from the host: what it returns is not recorded, so replay after a crash can see other values and the component would diverge. "
                + "Take outside data through Context (Context.Backend(name) for databases, Context.Call<T>(key) for components, Context.UtcNow, Context.NewGuid(), Context.Random); if the service's results are deterministic (a calculation, a table compiled in), suppress MW0009 here"),
            At(Rules.InjectedService, 1).WithMessage("Constructor parameter 'log' (ILogger<C>) of C logs again for every turn replayed after a crash, so a recovered component repeats its log lines; log through Context.Logger, which is quiet during replay"),
            At(Rules.InjectedService, 2).WithMessage("Constructor parameter 'clock' (TimeProvider) of C reads the clock, which is not recorded, so replay after a crash sees another time; use Context.UtcNow"));
}
