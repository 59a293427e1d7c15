using System.Text.Json;

namespace Middleware.Core;

/// <summary>
/// One wait-for edge of deadlock detection: <paramref name="Waiter"/>'s running turn has waited since
/// <paramref name="SinceTicks"/> (UTC ticks of the waiter's silo) on the call <paramref name="RequestId"/> to
/// <paramref name="Target"/> (component ids).
/// </summary>
public sealed record WaitEdge(string Waiter, string RequestId, string Target, long SinceTicks);

/// <summary>The wire form of a deadlock probe (<see cref="IComponentCaller.ProbeAsync"/>) between silos: JSON.</summary>
public static class WaitForCodec
{
    /// <summary>The component ids a probe already visited.</summary>
    public static byte[] EncodeVisited(IReadOnlyCollection<string> visited) => JsonSerializer.SerializeToUtf8Bytes(visited);

    /// <summary>Reads <see cref="EncodeVisited"/>.</summary>
    public static IReadOnlyList<string> DecodeVisited(ReadOnlyMemory<byte> bytes) => bytes.IsEmpty ? [] : JsonSerializer.Deserialize<List<string>>(bytes.Span) ?? [];

    /// <summary>The edges a probe found.</summary>
    public static byte[] EncodeEdges(IReadOnlyList<WaitEdge> edges) => JsonSerializer.SerializeToUtf8Bytes(edges);

    /// <summary>Reads <see cref="EncodeEdges"/>.</summary>
    public static IReadOnlyList<WaitEdge> DecodeEdges(ReadOnlyMemory<byte> bytes) => bytes.IsEmpty ? [] : JsonSerializer.Deserialize<List<WaitEdge>>(bytes.Span) ?? [];
}
