using Middleware.Analyzers;
using Middleware.Core;
using Middleware.Recovery.Runtime;
using static Middleware.Tests.Analyzers.AnalyzerVerifier;

namespace Middleware.Tests.Analyzers;

/// <summary>
/// MW0006 holds the same rules as the runtime's StateTypeRules: each state type below is compiled, registered with a
/// real ComponentRegistry and analyzed, and the analyzer must refuse exactly what the registry refuses, in its words.
/// The cases are those of StateTypeRulesTests (issue 11's traps).
/// </summary>
public sealed class StateTypeAnalyzerTests
{
    private const string Usings = """
        using System;
        using System.Collections.Generic;
        using System.Collections.ObjectModel;
        using System.Text.Json;
        using System.Text.Json.Serialization;
        using System.Threading.Tasks;
        using Middleware.Grains;

        """;

    private const string Holder = """

        public interface IHolder : IRecoverableComponent { Task Touch(); }
        public sealed class Holder : RecoverableGrain<S>, IHolder { public Task Touch() => Task.CompletedTask; }
        """;

    public static readonly Dictionary<string, string> Refused = new()
    {
        ["private setter"] = "public sealed class S { public List<string> Items { get; private set; } = []; }",
        ["protected setter in a base class"] = "public class PointsBase { public int Points { get; protected set; } } public sealed class S : PointsBase;",
        ["private setter of a nested type"] = "public sealed class S { public List<Line> Lines { get; set; } = []; } public sealed class Line { public string Sku { get; set; } = \"\"; public int Quantity { get; private set; } }",
        ["computed property"] = "public sealed class S { private int _count; public int Count => _count; public void Bump() => _count++; }",
        ["get-only collection"] = "public sealed class S { public List<string> Tags { get; } = []; }",
        ["object values"] = "public sealed class S { public Dictionary<string, object> Bag { get; set; } = []; }",
        ["dynamic"] = "public sealed class S { public dynamic? Extra { get; set; } }",
        ["interface elements"] = "public interface IShape { double Area { get; } } public sealed class S { public List<IShape> Shapes { get; set; } = []; }",
        ["abstract class"] = "public abstract class Animal { public string Name { get; set; } = \"\"; } public sealed class S { public Animal? Pet { get; set; } }",
        ["public field"] = "public sealed class S { public int Visits; }",
        ["private field"] = "public sealed class S { private int _version; public long Balance { get; set; } public int NextVersion() => ++_version; }",
        ["tuple"] = "public sealed class S { public List<(string Sku, int Quantity)> Lines { get; set; } = []; }",
        ["no usable constructor"] = "public sealed class Money { public Money(decimal amount) => (Amount, Currency) = (amount, \"EUR\"); public Money(decimal amount, string currency) => (Amount, Currency) = (amount, currency); public decimal Amount { get; set; } public string Currency { get; set; } } public sealed class S { public Money? Price { get; set; } }",
        ["unbound constructor parameter"] = "public sealed class Money { public Money(decimal value) => Amount = value; public decimal Amount { get; set; } } public sealed class S { public Money? Price { get; set; } }",
        ["stack"] = "public sealed class S { public Stack<string> Undo { get; set; } = new(); }",
        ["read-only collection"] = "public sealed class S { public ReadOnlyCollection<string> Names { get; set; } = new([]); }",
        ["hidden getter"] = "public sealed class S { public string Secret { private get; set; } = \"\"; }",
        ["recursive type"] = "public sealed class Node { public List<Node> Children { get; set; } = []; public string Label { get; private set; } = \"\"; } public sealed class S { public Node Root { get; set; } = new(); }",
    };

    public static readonly Dictionary<string, string> Accepted = new()
    {
        ["records and init"] = "public sealed record Line(string Sku, int Quantity); public sealed record S { public string Name { get; init; } = \"\"; public IReadOnlyList<string> Tags { get; init; } = []; public List<Line> Lines { get; set; } = []; public IReadOnlyDictionary<string, long> Scores { get; init; } = new Dictionary<string, long>(); }",
        ["attributes"] = """
            public sealed class S
            {
                [JsonIgnore] private readonly Dictionary<string, int> _cache = [];
                private long _total;
                public S() { }
                public S(int visits) => Visits = visits;
                [JsonInclude] public int Visits { get; private set; }
                [JsonIgnore] public bool Busy => Visits > 5;
                [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)] public List<string> Log { get; } = [];
                [JsonConverter(typeof(LongBag))] public Dictionary<string, object> Bag { get; set; } = [];
                public Money Price { get; set; } = new(1);
                public long Total { get => _total; set => _total = value; }
                public int Cached(string key) => _cache.TryGetValue(key, out var hits) ? hits : 0;
            }
            public sealed class Money(decimal amount) { public decimal Amount { get; private set; } = amount; }
            public sealed class LongBag : JsonConverter<Dictionary<string, object>>
            {
                public override Dictionary<string, object> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) { reader.Skip(); return []; }
                public override void Write(Utf8JsonWriter writer, Dictionary<string, object> value, JsonSerializerOptions options) { writer.WriteStartObject(); writer.WriteEndObject(); }
            }
            """,
        ["collection interfaces"] = "public sealed class S { public IList<int> Numbers { get; set; } = []; public IReadOnlyDictionary<string, long> Totals { get; set; } = new Dictionary<string, long>(); public ISet<string> Seen { get; set; } = new HashSet<string>(); public IEnumerable<string> Names { get; set; } = []; public Dictionary<int, string> ByNumber { get; set; } = []; public Guid Id { get; set; } public DateTime At { get; set; } public decimal? Price { get; set; } }",
        ["declared derived types"] = "[JsonDerivedType(typeof(Circle), \"circle\")] public interface IShape; public sealed class Circle : IShape { public double Radius { get; set; } } public sealed class S { public List<IShape> Shapes { get; set; } = []; }",
        ["recursive type"] = "public sealed class Node { public List<Node> Children { get; set; } = []; public string Label { get; set; } = \"\"; } public sealed class S { public Node Root { get; set; } = new(); public int[] Counts { get; set; } = []; }",
        ["positional struct and enum"] = "public enum Kind { A, B } public readonly record struct Point(int X, int Y); public sealed class S { public Point At { get; set; } public Kind Kind { get; set; } public Dictionary<Kind, List<Point>> ByKind { get; set; } = []; }",
    };

    public static TheoryData<string> RefusedCases => [.. Refused.Keys];

    public static TheoryData<string> AcceptedCases => [.. Accepted.Keys];

    [Theory]
    [MemberData(nameof(RefusedCases))]
    public async Task What_the_registry_refuses_the_analyzer_reports_in_the_same_words(string name)
    {
        var source = Usings + Refused[name] + Holder;
        var assembly = Load(source);
        var refused = Assert.Throws<ComponentDefinitionException>(() => new ComponentRegistry().Add(assembly.GetType("IHolder")!, assembly.GetType("Holder")!));
        var diagnostics = await Diagnostics(source, new StateTypeAnalyzer());
        var diagnostic = Assert.Single(diagnostics);
        Assert.Equal(Rules.StateId, diagnostic.Id);
        Assert.Equal(refused.Message, diagnostic.GetMessage());
    }

    [Theory]
    [MemberData(nameof(AcceptedCases))]
    public async Task What_the_registry_accepts_the_analyzer_accepts(string name)
    {
        var source = Usings + Accepted[name] + Holder;
        var assembly = Load(source);
        new ComponentRegistry().Add(assembly.GetType("IHolder")!, assembly.GetType("Holder")!);
        Assert.Empty(await Diagnostics(source, new StateTypeAnalyzer()));
    }

    [Fact]
    public async Task Dictionary_keys_JSON_cannot_write_are_reported_though_registration_passes_an_empty_state() =>
        // The registry checks new S(), whose dictionary is empty; the first checkpoint with an item would fail.
        await Analyze<StateTypeAnalyzer>(Usings + """
            public sealed record Cell(int X, int Y);
            public sealed class S { public Dictionary<Cell, string> {|#0:Board|} { get; set; } = []; }
            """ + Holder,
            At(Rules.State, 0).WithMessage("The state type S of Holder has property Board of type Dictionary<Cell, string>: it has keys of type Cell, which JSON cannot write as property names, so the first checkpoint with an item would fail. Use keys of type string, a number, an enum or Guid (e.g. a string made of the key's parts)."));

    [Fact]
    public async Task The_member_is_reported_where_it_is_declared_and_once_for_components_that_share_a_state() =>
        await Analyze<StateTypeAnalyzer>(Usings + """
            public sealed class S { public int {|#0:Count|} { get; private set; } }
            public interface IA : IRecoverableComponent { Task Touch(); }
            public sealed class A : RecoverableGrain<S>, IA { public Task Touch() => Task.CompletedTask; }
            public interface IB : IRecoverableComponent { Task Touch(); }
            public sealed class B : RecoverableGrain<S>, IB { public Task Touch() => Task.CompletedTask; }
            """,
            At(Rules.State, 0));

    [Fact]
    public async Task Types_that_are_not_state_are_not_checked() =>
        await Analyze<StateTypeAnalyzer>(Usings + "public sealed class Dto { public int Count { get; private set; } public int Field; }");
}
