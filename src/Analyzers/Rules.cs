using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace Middleware.Analyzers;

/// <summary>
/// Every diagnostic the analyzers report, in one place: id, title, message, category and default severity. The
/// registry (Middleware.Core's ComponentInterface/ComponentSignature, Middleware.Recovery's StateTypeRules) refuses the
/// same things at start-up with the same words; these report them at build time. docs/analyzers.md lists each rule
/// with a wrong and a right example.
/// </summary>
public static class Rules
{
    /// <summary>Component interface methods return Task or Task&lt;T&gt; of recordable data.</summary>
    public const string ReturnTypeId = "MW0002";

    /// <summary>Component interface methods are not overloaded.</summary>
    public const string OverloadId = "MW0003";

    /// <summary>Component method parameters are recordable values passed by value, without CancellationToken.</summary>
    public const string ParameterId = "MW0004";

    /// <summary>Component interfaces declare only non-generic methods.</summary>
    public const string InterfaceMemberId = "MW0005";

    /// <summary>Every state member survives a checkpoint.</summary>
    public const string StateId = "MW0006";

    /// <summary>No threads, thread-pool work, parallel loops or timers in components.</summary>
    public const string ConcurrencyId = "MW0007";

    /// <summary>No mutable static fields in components.</summary>
    public const string StaticFieldId = "MW0008";

    /// <summary>Services injected into a component's constructor are not recorded.</summary>
    public const string InjectedServiceId = "MW0009";

    private const string Interfaces = "ComponentInterface";

    /// <summary>MW0002.</summary>
    public static readonly DiagnosticDescriptor ReturnType = Create(ReturnTypeId, "Component methods return Task or Task<T>", Interfaces, DiagnosticSeverity.Error,
        "The runtime awaits every component method and records its result as JSON; it refuses other return types when the component is registered.");

    /// <summary>MW0003.</summary>
    public static readonly DiagnosticDescriptor Overload = Create(OverloadId, "Component methods are not overloaded", Interfaces, DiagnosticSeverity.Error,
        "The log names a call by its method name alone, so the runtime refuses two methods of one name in a component interface.");

    /// <summary>MW0004.</summary>
    public static readonly DiagnosticDescriptor Parameter = Create(ParameterId, "Component method parameters are recordable values", Interfaces, DiagnosticSeverity.Error,
        "Arguments are recorded in the log as JSON and passed again on replay: the runtime refuses ref/out/in parameters, CancellationToken and types that are not data (streams, spans, pointers, delegates, tasks).");

    /// <summary>MW0005.</summary>
    public static readonly DiagnosticDescriptor InterfaceMember = Create(InterfaceMemberId, "Component interfaces declare only non-generic methods", Interfaces, DiagnosticSeverity.Error,
        "The runtime dispatches calls by method name with concrete argument types; it refuses properties, events and generic methods in component interfaces.");

    /// <summary>MW0006.</summary>
    public static readonly DiagnosticDescriptor State = Create(StateId, "State members survive a checkpoint", "ComponentState", DiagnosticSeverity.Error,
        "Checkpoints store a component's state as JSON and recovery reads it back: every member must be written and read back with its value and its type. The runtime refuses the state type when the component is registered (or a checkpoint fails).");

    /// <summary>MW0007.</summary>
    public static readonly DiagnosticDescriptor Concurrency = Create(ConcurrencyId, "No background work in components", "Determinism", DiagnosticSeverity.Warning,
        "The runtime records and replays a turn as one sequence of steps; work on another thread or a timer is not recorded, runs beside the next turns and is lost in a crash.");

    /// <summary>MW0008.</summary>
    public static readonly DiagnosticDescriptor StaticField = Create(StaticFieldId, "No mutable static fields in components", "Determinism", DiagnosticSeverity.Warning,
        "A static field is not in State: it is not checkpointed or replayed, it is shared by every component of the type in the process, and it is empty in another silo after a failover.");

    /// <summary>MW0009.</summary>
    public static readonly DiagnosticDescriptor InjectedService = Create(InjectedServiceId, "Services' results are not recorded", "Determinism", DiagnosticSeverity.Warning,
        "A service injected into a component's constructor is outside the log: what it returns is not recorded, so replay after a crash can see other values. Outside data goes through Context (back ends, calls to components, time, GUIDs, random numbers).");

    /// <summary>The page every rule links to: docs/analyzers.md in the repository the analyzers were built from, or null when the build named none.</summary>
    public static string? HelpPage { get; } = typeof(Rules).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Where(a => a.Key == "MiddlewareRepositoryUrl" && !string.IsNullOrEmpty(a.Value)).Select(a => a.Value!.TrimEnd('/') + "/blob/main/docs/analyzers.md").FirstOrDefault();

    /// <summary>The help link of a rule: its section of docs/analyzers.md.</summary>
    public static string? HelpLink(string id) => HelpPage is null ? null : HelpPage + "#" + id.ToLowerInvariant();

    private static DiagnosticDescriptor Create(string id, string title, string category, DiagnosticSeverity severity, string description) =>
        new(id, title, "{0}", category, severity, isEnabledByDefault: true, description: description + " See docs/analyzers.md#" + id.ToLowerInvariant() + ".", helpLinkUri: HelpLink(id));
}
