using System.Text.Json;

namespace Middleware.Core;

/// <summary>
/// The JSON settings of arguments, results and state: property names as declared, public properties only. Callers and
/// the engine must agree on them, so both start from here.
/// </summary>
public static class ComponentJson
{
    /// <summary>The shared default settings (read-only once used; take <see cref="Create"/> to customize).</summary>
    public static JsonSerializerOptions Default { get; } = Create();

    /// <summary>A fresh copy of the default settings.</summary>
    public static JsonSerializerOptions Create() => new() { IncludeFields = false };
}
