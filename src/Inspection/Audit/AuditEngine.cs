using System.Collections.Concurrent;
using System.Diagnostics;
using Middleware.Recovery.Log;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Inspection.Audit;

/// <summary>
/// Replays components' logs with their recorded nondeterminism against the code in a
/// <see cref="ComponentRegistry"/> and reports the first divergence of each, components in parallel. The
/// deploy-time check: does the new code still reproduce every recorded reply and checkpointed state?
/// </summary>
public sealed class AuditEngine(ILogStore store, ComponentRegistry registry)
{
    private readonly Dictionary<string, ComponentTypeInfo> _types = registry.Types.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>Audits <paramref name="components"/>; store failures propagate, divergences are results.</summary>
    public async Task<AuditResult> RunAsync(IReadOnlyList<ComponentHead> components, AuditOptions options, AuditProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(components);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Parallelism < 1)
            throw new ArgumentException($"Audit parallelism is {options.Parallelism}; use 1 or more.", nameof(options));
        progress ??= new AuditProgress();
        var results = new ConcurrentBag<ComponentAudit>();
        var clock = Stopwatch.StartNew();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(components, parallel, async (head, ct) =>
        {
            results.Add(await AuditOneAsync(head, options, progress, ct).ConfigureAwait(false));
            progress.ComponentDone();
        }).ConfigureAwait(false);
        clock.Stop();
        var ordered = results.OrderBy(r => r.Component, StringComparer.Ordinal).ToList();
        return new AuditResult(options.Mode, ordered, clock.Elapsed);
    }

    /// <summary>Audits one component (see <see cref="ComponentReplay"/>).</summary>
    public Task<ComponentAudit> AuditOneAsync(ComponentHead head, AuditOptions options, AuditProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(head);
        var typeName = head.ComponentId[..Math.Max(0, head.ComponentId.IndexOf('/', StringComparison.Ordinal))];
        if (!_types.TryGetValue(typeName, out var type))
        {
            var known = string.Join(", ", _types.Keys.Order(StringComparer.Ordinal));
            return Task.FromResult(new ComponentAudit(head.ComponentId, 0, 0, 0, null, $"type '{typeName}' is not in the component assembly (it has: {known})"));
        }

        var upTo = Math.Min(options.UpToSeq ?? head.LastSeq, head.LastSeq);
        return new ComponentReplay(store, type, registry.Json, head.ComponentId, upTo, progress).RunAsync(options.Mode, cancellationToken);
    }
}
