using System.Collections.ObjectModel;
using System.Text.Json;
using System.Text.Json.Serialization;
using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;

namespace Middleware.Tests.Runtime;

/// <summary>
/// Registration refuses state types with members a checkpoint would lose (issue 12: a private setter passed the start-up
/// check, which round-tripped only <c>new TState()</c>, and vanished at the first recovery). Each state type below is
/// written the way C# developers write them; every refused one passes the old check.
/// </summary>
public sealed class StateTypeRulesTests
{
    private static string Refused<TState>()
        where TState : class, new()
    {
        var e = Assert.Throws<ComponentDefinitionException>(() => new ComponentRegistry().Add<IHolder, Holder<TState>>());
        Assert.StartsWith($"The state type {typeof(TState).Name} of Holder<{typeof(TState).Name}> ", e.Message);
        return e.Message;
    }

    [Fact]
    public void A_private_setter_is_refused_naming_the_state_type_the_member_and_the_fix()
    {
        var e = Assert.Throws<ComponentDefinitionException>(() => new ComponentRegistry().Add<ICart, Cart>());
        Assert.Equal(
            "The state type CartState of Cart has property Items with a private setter: it is written to checkpoints but cannot be read back, "
            + "so it would be lost at the first recovery. Make the setter public (or mark it [JsonInclude]), or exclude it with [JsonIgnore] if it is derived.",
            e.Message);
    }

    [Fact]
    public void Protected_and_internal_setters_are_refused_too() =>
        Assert.Contains("has property Points with a protected setter", Refused<ProtectedSetterState>());

    [Fact]
    public void A_private_setter_of_a_nested_class_is_refused_with_its_path() =>
        Assert.Contains("has property Lines[].Quantity with a private setter", Refused<OrderState>());

    [Fact]
    public void A_get_only_property_over_a_private_field_is_refused()
    {
        var message = Refused<TallyState>();
        Assert.Contains("has property Count without a setter", message);
        Assert.Contains("[JsonIgnore] if it is derived", message);
    }

    [Fact]
    public void A_get_only_list_with_an_initializer_is_refused_and_the_fix_names_populate()
    {
        var message = Refused<TagsState>();
        Assert.Contains("has collection property Tags without a setter", message);
        Assert.Contains("{ get; set; } = [];", message);
        Assert.Contains("JsonObjectCreationHandling.Populate", message);
    }

    [Fact]
    public void Object_typed_values_are_refused_because_they_come_back_as_json_elements()
    {
        var message = Refused<BagState>();
        Assert.Contains("has property Bag of type Dictionary<string, object>: object holds values of any type", message);
        Assert.Contains("JsonElement after recovery", message);
        Assert.Contains("has property Extra of type object: it holds values of any type", Refused<DynamicState>());
    }

    [Fact]
    public void Interface_typed_items_are_refused_unless_their_implementations_are_declared()
    {
        var message = Refused<ShapesState>();
        Assert.Contains("has property Shapes of type List<IShape>: IShape is an interface", message);
        Assert.Contains("[JsonDerivedType(typeof(Impl), \"impl\")] on IShape", message);
        new ComponentRegistry().Add<IHolder, Holder<DeclaredShapesState>>();
    }

    [Fact]
    public void Collection_interfaces_the_serializer_creates_are_accepted() => new ComponentRegistry().Add<IHolder, Holder<InterfaceCollectionsState>>();

    [Fact]
    public void A_public_field_is_refused_because_only_properties_are_written() =>
        Assert.Contains("has public field Visits: checkpoints write properties only", Refused<FieldState>());

    [Fact]
    public void A_private_field_that_backs_no_property_is_refused() =>
        Assert.Contains("has non-public field _version, which backs no serialized property", Refused<VersionedState>());

    [Fact]
    public void A_tuple_is_refused_because_its_elements_are_fields() =>
        Assert.Contains("has property Lines of type List<(string, int)>: (string, int) is a tuple", Refused<TupleState>());

    [Fact]
    public void A_nested_type_without_a_usable_constructor_is_refused()
    {
        var message = Refused<PriceState>();
        Assert.Contains("has property Price of type Money: it has no constructor the serializer can use", message);
        Assert.Contains("[JsonConstructor]", message);
    }

    [Fact]
    public void A_stack_is_refused_because_it_comes_back_reversed() =>
        Assert.Contains("has property Undo of type Stack<string>: it comes back reversed", Refused<UndoState>());

    [Fact]
    public void A_collection_the_serializer_cannot_create_is_refused() =>
        Assert.Contains("has property Names of type ReadOnlyCollection<string>: it is written to checkpoints but cannot be read back", Refused<ReadOnlyNamesState>());

    [Fact]
    public void A_non_public_getter_is_refused_because_the_value_is_never_written() =>
        Assert.Contains("has property Secret with a non-public getter", Refused<HiddenGetterState>());

    [Fact]
    public void Recursive_types_are_walked_once_and_still_checked()
    {
        new ComponentRegistry().Add<IHolder, Holder<TreeState>>();
        Assert.Contains("has property Root.Label with a private setter", Refused<BadTreeState>());
    }

    [Fact]
    public void State_types_that_survive_checkpoints_are_accepted()
    {
        // A record with init members, a nested positional record, IReadOnlyList/IReadOnlyDictionary.
        var registry = new ComponentRegistry().Add<IHolder, Holder<ProfileState>>();
        // [JsonInclude] private set, [JsonIgnore] derived, Populate, [JsonConverter], a private set bound by a constructor,
        // a private field behind a property, an ignored private field.
        new ComponentRegistry().Add<IHolder, Holder<AttributedState>>();

        // And they really do survive a round trip of a state that is not new().
        var profile = new ProfileState { Name = "ada", Lines = [new("sku-1", 2)], Tags = ["x"], Scores = new Dictionary<string, long> { ["a"] = 1 } };
        Assert.Null(StateRoundTrip.Write(profile, typeof(ProfileState), registry.Json).Loss);
        var attributed = new AttributedState(7);
        attributed.Bump();
        attributed.Log.Add("entry");
        attributed.Bag["n"] = 3;
        Assert.Null(StateRoundTrip.Write(attributed, typeof(AttributedState), registry.Json).Loss);
    }
}

public interface IHolder : IRecoverableComponent
{
    Task Touch();
}

public sealed class Holder<TState> : RecoverableGrain<TState>, IHolder
    where TState : class, new()
{
    public Task Touch() => Task.CompletedTask;
}

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

public class PointsBase
{
    public int Points { get; protected set; }
}

public sealed class ProtectedSetterState : PointsBase;

public sealed class OrderState
{
    public List<OrderLine> Lines { get; set; } = [];
}

public sealed class OrderLine
{
    public string Sku { get; set; } = "";

    public int Quantity { get; private set; }

    public void Add(int n) => Quantity += n;
}

public sealed class TallyState
{
    private int _count;

    public int Count => _count;

    public void Bump() => _count++;
}

public sealed class TagsState
{
    public List<string> Tags { get; } = [];
}

public sealed class BagState
{
    public Dictionary<string, object> Bag { get; set; } = [];
}

public sealed class DynamicState
{
    public dynamic? Extra { get; set; }
}

public interface IShape
{
    double Area { get; }
}

public sealed class Square : IShape
{
    public double Side { get; set; }

    [JsonIgnore]
    public double Area => Side * Side;
}

public sealed class ShapesState
{
    public List<IShape> Shapes { get; set; } = [];
}

[JsonDerivedType(typeof(Circle), "circle")]
public interface IDeclaredShape;

public sealed class Circle : IDeclaredShape
{
    public double Radius { get; set; }
}

public sealed class DeclaredShapesState
{
    public List<IDeclaredShape> Shapes { get; set; } = [];
}

public sealed class InterfaceCollectionsState
{
    public IList<int> Numbers { get; set; } = [];

    public IReadOnlyDictionary<string, long> Totals { get; set; } = new Dictionary<string, long>();

    public ISet<string> Seen { get; set; } = new HashSet<string>();

    public IEnumerable<string> Names { get; set; } = [];
}

public sealed class FieldState
{
    public int Visits;
}

public sealed class VersionedState
{
    private int _version;

    public long Balance { get; set; }

    public int NextVersion() => ++_version;
}

public sealed class TupleState
{
    public List<(string Sku, int Quantity)> Lines { get; set; } = [];
}

public sealed class Money
{
    public Money(decimal amount) => (Amount, Currency) = (amount, "EUR");

    public Money(decimal amount, string currency) => (Amount, Currency) = (amount, currency);

    public decimal Amount { get; set; }

    public string Currency { get; set; }
}

public sealed class PriceState
{
    public Money? Price { get; set; }
}

public sealed class UndoState
{
    public Stack<string> Undo { get; set; } = new();
}

public sealed class ReadOnlyNamesState
{
    public ReadOnlyCollection<string> Names { get; set; } = new([]);
}

public sealed class HiddenGetterState
{
    public string Secret { private get; set; } = "";
}

public sealed class TreeNode
{
    public string Label { get; set; } = "";

    public List<TreeNode> Children { get; set; } = [];
}

public sealed class TreeState
{
    public TreeNode Root { get; set; } = new();
}

public sealed class BadTreeNode
{
    public List<BadTreeNode> Children { get; set; } = [];

    public string Label { get; private set; } = "";
}

public sealed class BadTreeState
{
    public BadTreeNode Root { get; set; } = new();
}

public sealed record ProfileLine(string Sku, int Quantity);

public sealed record ProfileState
{
    public string Name { get; init; } = "";

    public IReadOnlyList<string> Tags { get; init; } = [];

    public List<ProfileLine> Lines { get; set; } = [];

    public IReadOnlyDictionary<string, long> Scores { get; init; } = new Dictionary<string, long>();
}

public sealed class AttributedState
{
    [JsonIgnore]
    private readonly Dictionary<string, int> _cache = [];

    private long _total; // backs Total

    public AttributedState()
    {
    }

    public AttributedState(int visits) => Visits = visits;

    [JsonInclude]
    public int Visits { get; private set; }

    [JsonIgnore]
    public bool Busy => Visits > 5;

    [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
    public List<string> Log { get; } = [];

    [JsonConverter(typeof(LongBagConverter))]
    public Dictionary<string, object> Bag { get; set; } = [];

    public Money2 Price { get; set; } = new(1);

    public long Total
    {
        get => _total;
        set => _total = value;
    }

    public int Cached(string key) => _cache.TryGetValue(key, out var hits) ? hits : 0;

    public void Bump() => Visits++;
}

/// <summary>Bound through its constructor: the private setter is not a loss.</summary>
public sealed class Money2(decimal amount)
{
    public decimal Amount { get; private set; } = amount;
}

/// <summary>An application converter that restores the values' types (all longs here).</summary>
public sealed class LongBagConverter : JsonConverter<Dictionary<string, object>>
{
    public override Dictionary<string, object> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        JsonSerializer.Deserialize<Dictionary<string, long>>(ref reader, options)!.ToDictionary(p => p.Key, p => (object)p.Value);

    public override void Write(Utf8JsonWriter writer, Dictionary<string, object> value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value.ToDictionary(p => p.Key, p => Convert.ToInt64(p.Value, System.Globalization.CultureInfo.InvariantCulture)), options);
}
