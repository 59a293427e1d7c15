using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Middleware.Core;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// The start-up rules for state types: every member a checkpoint writes must come back, with its value and its runtime
/// type, when the checkpoint is read. Round-tripping <c>new TState()</c> cannot show that (a private setter or a
/// get-only list still holds its default), so this walks the contract System.Text.Json builds with the registry's
/// settings (attributes and options count) through nested types, collections and dictionaries, each type once.
/// A member or type with a converter of the application's own is trusted: the checkpoint check covers it at run time.
/// </summary>
internal sealed class StateTypeRules
{
    private const string Lost = "so it would be lost at the first recovery";
    private readonly Type _state;
    private readonly string _grain;
    private readonly JsonSerializerOptions _json;
    private readonly HashSet<Type> _seen = [];

    private StateTypeRules(Type grainType, Type stateType, JsonSerializerOptions json)
    {
        _state = stateType;
        _grain = TypeNames.Of(grainType);
        _json = json;
    }

    /// <summary>Throws <see cref="ComponentDefinitionException"/> naming the first member that would not survive a checkpoint, and the fix.</summary>
    public static void Check(Type grainType, Type stateType, JsonSerializerOptions json)
    {
        // Contracts need a resolver; serializing locks the options the same way, so this changes nothing for callers.
        if (!json.IsReadOnly) json.MakeReadOnly(populateMissingResolver: true);
        // RecoverableGrain<TState> requires new(): the state type itself always has a public parameterless constructor.
        new StateTypeRules(grainType, stateType, json).CheckType(stateType, "", stateType);
    }

    private void CheckType(Type type, string path, Type memberType)
    {
        if (!_seen.Add(type)) return; // each type once: recursive types end here
        JsonTypeInfo info;
        try
        {
            info = _json.GetTypeInfo(type);
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException)
        {
            throw FailType(path, memberType, type, $"cannot be serialized to JSON ({e.Message})", "Checkpoints store state as JSON: use public get/set properties of JSON-serializable types.");
        }

        if (IsApplications(info.Converter)) return;
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            CheckType(underlying, path, memberType);
            return;
        }

        if (type == typeof(object))
        {
            throw FailType(path, memberType, type, "holds values of any type (object or dynamic), so a number stored there is an Int32 while the component runs but a JsonElement after recovery, and the component would behave differently once recovered",
                "Use a concrete type (e.g. Dictionary<string, long>, or a class with typed properties), or give the member a [JsonConverter] that restores the values' types.");
        }

        if (info.PolymorphismOptions is { } polymorphism)
        {
            foreach (var derived in polymorphism.DerivedTypes) CheckType(derived.DerivedType, path, memberType);
            if (type.IsInterface || type.IsAbstract) return;
        }

        switch (info.Kind)
        {
            case JsonTypeInfoKind.Enumerable:
                CheckCollection(type, path, memberType, "[]");
                CheckType(info.ElementType!, path + "[]", memberType);
                break;
            case JsonTypeInfoKind.Dictionary:
                CheckCollection(type, path, memberType, "{}");
                CheckType(info.KeyType!, path + "[]", memberType);
                CheckType(info.ElementType!, path + "[]", memberType);
                break;
            case JsonTypeInfoKind.Object:
                CheckObject(info, path, memberType);
                break;
        }
    }

    private void CheckCollection(Type type, string path, Type memberType, string empty)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() is var definition && (definition == typeof(Stack<>) || definition == typeof(ConcurrentStack<>)))
            throw FailType(path, memberType, type, "comes back reversed after recovery (the serializer writes it top first and pushes the items back in that order)", "Use a List<T> and treat its end as the top.");
        try
        {
            JsonSerializer.Deserialize(empty, type, _json);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException)
        {
            throw FailType(path, memberType, type, $"is written to checkpoints but cannot be read back ({FirstSentence(e.Message)}), so recovery would fail",
                "Use a collection type the serializer can create: List<T>, T[], HashSet<T>, Dictionary<TKey, TValue> or an immutable collection.");
        }
    }

    private void CheckObject(JsonTypeInfo info, string path, Type memberType)
    {
        var type = info.Type;
        if (type.IsInterface || type.IsAbstract)
        {
            throw FailType(path, memberType, type, $"is {(type.IsInterface ? "an interface" : "an abstract class")}, which the serializer cannot create when it reads a checkpoint back, so recovery would fail",
                $"Use a concrete class, or list its implementations with [JsonDerivedType(typeof(Impl), \"impl\")] on {TypeNames.Of(type)}.");
        }

        if (!type.IsValueType && info.CreateObject is null && info.ConstructorAttributeProvider is null)
        {
            throw FailType(path, memberType, type, "has no constructor the serializer can use (a public parameterless one, a single public one, or one marked [JsonConstructor]), so reading a checkpoint back would fail",
                $"Give {TypeNames.Of(type)} a public parameterless constructor, or mark one constructor [JsonConstructor].");
        }

        if (info.ConstructorAttributeProvider is ConstructorInfo constructor)
        {
            var bound = info.Properties.Select(p => p.AssociatedParameter?.Name).ToHashSet();
            if (constructor.GetParameters().FirstOrDefault(p => !bound.Contains(p.Name)) is { } unbound)
            {
                throw FailType(path, memberType, type, $"has a constructor parameter '{unbound.Name}' that matches no serialized property, so reading a checkpoint back would fail",
                    $"Name each constructor parameter of {TypeNames.Of(type)} after a public property of the same type.");
            }
        }

        foreach (var property in info.Properties)
        {
            if (property.Get is null && property.Set is null && property.AssociatedParameter is null) continue; // [JsonIgnore]
            var at = Join(path, property.Name);
            CheckAccessors(info, property, at);
            // A converter of the application's own decides how the member is written and read: trust it.
            if (property.CustomConverter is null) CheckType(property.PropertyType, at, property.PropertyType);
        }

        CheckFields(info, path, memberType);
    }

    private void CheckAccessors(JsonTypeInfo owner, JsonPropertyInfo property, string path)
    {
        if (property.Get is null)
        {
            // Read from checkpoints but never written: its value is lost at every checkpoint.
            throw Fail($"has property {path} with a non-public getter: it is read from checkpoints but never written to them, {Lost}", "Make the getter public (or mark it [JsonInclude]), or exclude it with [JsonIgnore].");
        }

        if (property.Set is not null || property.AssociatedParameter is not null || Populates(owner, property)) return;
        var setter = (property.AttributeProvider as PropertyInfo)?.GetSetMethod(nonPublic: true);
        if (setter is not null)
        {
            throw Fail($"has property {path} with {Access(setter)} setter: it is written to checkpoints but cannot be read back, {Lost}",
                "Make the setter public (or mark it [JsonInclude]), or exclude it with [JsonIgnore] if it is derived.");
        }

        var noun = property.AttributeProvider is FieldInfo ? "read-only field" : "property";
        var kind = _json.GetTypeInfo(property.PropertyType).Kind;
        if (kind is JsonTypeInfoKind.Enumerable or JsonTypeInfoKind.Dictionary && !IsApplications(property.CustomConverter))
        {
            var fix = CanPopulate(property.PropertyType)
                ? "Give it a setter ({ get; set; } = [];), or mark it [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)] and start it empty."
                : "Give it a setter ({ get; set; } = [];).";
            throw Fail($"has collection {noun} {path} without a setter: its items are written to checkpoints, but a get-only collection is not filled when one is read back, so they would be lost at the first recovery", fix);
        }

        throw Fail($"has {noun} {path} without a setter: it is written to checkpoints but cannot be read back, {Lost}",
            "Give it a setter ({ get; set; } or { get; init; }), or exclude it with [JsonIgnore] if it is derived from other members.");
    }

    /// <summary>
    /// Fields are not serialized unless <see cref="JsonSerializerOptions.IncludeFields"/> (public ones) or [JsonInclude]:
    /// the others are silently dropped. A private field named after a serialized property (<c>_count</c> behind <c>Count</c>) backs it.
    /// </summary>
    private void CheckFields(JsonTypeInfo info, string path, Type memberType)
    {
        var serialized = info.Properties.Select(p => p.AttributeProvider).OfType<FieldInfo>().ToHashSet();
        var dropped = info.Type.GetFields(BindingFlags.Public | BindingFlags.Instance)
            .FirstOrDefault(f => !serialized.Contains(f) && f.GetCustomAttribute<JsonIgnoreAttribute>() is null);
        if (dropped is not null && info.Type.FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true)
        {
            throw FailType(path, memberType, info.Type, "is a tuple: its elements are fields, which checkpoints do not write, so they would be lost at the first recovery",
                "Use a record (e.g. record Line(string Sku, int Quantity)) or a class with properties.");
        }

        if (dropped is not null)
            throw Fail($"has public field {Join(path, dropped.Name)}: checkpoints write properties only, {Lost}", "Make it a property ({ get; set; }), or mark it [JsonInclude].");

        var backed = info.Properties.Where(p => p.Get is not null).SelectMany(p => new[] { p.Name, (p.AttributeProvider as MemberInfo)?.Name })
            .OfType<string>().ToHashSet(StringComparer.OrdinalIgnoreCase);
        for (var t = info.Type; t is not null && t != typeof(object) && t.Namespace?.StartsWith("System", StringComparison.Ordinal) != true; t = t.BaseType)
        {
            var hidden = t.GetFields(BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly).FirstOrDefault(f =>
                !serialized.Contains(f) && !f.IsDefined(typeof(CompilerGeneratedAttribute)) && f.GetCustomAttribute<JsonIgnoreAttribute>() is null
                && !backed.Contains(f.Name.StartsWith("m_", StringComparison.Ordinal) ? f.Name[2..] : f.Name.TrimStart('_')));
            if (hidden is not null)
            {
                throw Fail($"has non-public field {Join(path, hidden.Name)}, which backs no serialized property: checkpoints do not write it, {Lost}",
                    "Keep state in public properties, mark the field [JsonInclude], or mark it [JsonIgnore] if it is not state (a cache).");
            }
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private bool Populates(JsonTypeInfo owner, JsonPropertyInfo property) =>
        (property.ObjectCreationHandling ?? owner.PreferredPropertyObjectCreationHandling ?? _json.PreferredObjectCreationHandling) == JsonObjectCreationHandling.Populate
        && CanPopulate(property.PropertyType);

    /// <summary>What System.Text.Json fills in place: a mutable reference type (an object, or a collection it can add to).</summary>
    private bool CanPopulate(Type type)
    {
        if (type.IsValueType || type.IsArray || type.Namespace == "System.Collections.Immutable" || type.Name.StartsWith("ReadOnly", StringComparison.Ordinal)) return false;
        return _json.GetTypeInfo(type).Kind == JsonTypeInfoKind.Object
            || typeof(IList).IsAssignableFrom(type) || typeof(IDictionary).IsAssignableFrom(type)
            || type.GetInterfaces().Append(type).Any(i => i.IsGenericType && i.GetGenericTypeDefinition() is var d && (d == typeof(ICollection<>) || d == typeof(IDictionary<,>)));
    }

    private static bool IsApplications(JsonConverter? converter) => converter is not null && converter.GetType().Assembly != typeof(JsonSerializer).Assembly;

    private static string Access(MethodInfo setter) => setter switch
    {
        { IsPrivate: true } => "a private",
        { IsFamily: true } => "a protected",
        { IsAssembly: true } => "an internal",
        { IsFamilyOrAssembly: true } => "a protected internal",
        _ => "a private protected",
    };

    private static string FirstSentence(string message) => message.Split(". ", 2)[0].TrimEnd('.');

    private ComponentDefinitionException FailType(string path, Type memberType, Type type, string problem, string fix)
    {
        // Items of a collection are named by the member that holds them ("Lines", not "Lines[]").
        var member = path.TrimEnd('[', ']');
        if (member.Length == 0)
            return Fail(type == _state ? problem : $"holds {TypeNames.Of(type)}, which {problem}", fix);
        var subject = type == memberType ? "it" : TypeNames.Of(type);
        return Fail($"has property {member} of type {TypeNames.Of(memberType)}: {subject} {problem}", fix);
    }

    private ComponentDefinitionException Fail(string problem, string fix) =>
        new($"The state type {TypeNames.Of(_state)} of {_grain} {problem}. {fix}");
}
