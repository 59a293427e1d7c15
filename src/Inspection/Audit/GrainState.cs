using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Middleware.Grains;
using Middleware.Recovery.Runtime;

namespace Middleware.Inspection.Audit;

/// <summary>
/// Reads the state of a rebuilt component object and serializes it exactly as checkpoints do (canonical JSON
/// with the registry's settings, SHA-256 lower-case hex), so a replayed state can be compared with a
/// checkpoint's hash.
/// </summary>
public static class GrainState
{
    private static readonly ConcurrentDictionary<Type, PropertyInfo> StateProperties = new();

    /// <summary>The <c>State</c> object of a component object created by <see cref="Replayer"/>.</summary>
    public static object Get(object grain)
    {
        ArgumentNullException.ThrowIfNull(grain);
        // State is protected internal on RecoverableGrain<T>: reflection is the one way in from outside the runtime.
        var property = StateProperties.GetOrAdd(grain.GetType(), static t =>
        {
            for (var b = t; b is not null; b = b.BaseType)
            {
                if (b.IsGenericType && b.GetGenericTypeDefinition() == typeof(RecoverableGrain<>))
                    return b.GetProperty("State", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!;
            }

            throw new InvalidOperationException($"{t.FullName} does not inherit RecoverableGrain<TState>.");
        });
        return property.GetValue(grain)!;
    }

    /// <summary>The state as checkpoint JSON bytes.</summary>
    public static byte[] Serialize(object grain, ComponentTypeInfo type, JsonSerializerOptions json) =>
        JsonSerializer.SerializeToUtf8Bytes(Get(grain), type.StateType, json);

    /// <summary>The checkpoint hash of state bytes.</summary>
    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
