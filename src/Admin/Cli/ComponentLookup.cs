using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Cli;

/// <summary>Finds a component named on the command line, with one clear error line when it is not there.</summary>
internal static class ComponentLookup
{
    /// <summary>Parses <c>Type/key</c> and returns its head; an unknown id is an <see cref="AdminException"/>.</summary>
    public static async Task<(ComponentId Id, ComponentHead Head)> GetAsync(ILogStore store, string text, CancellationToken cancellationToken)
    {
        var id = Validate.ComponentId(text);

        var head = await store.GetHeadAsync(id.ToString(), cancellationToken).ConfigureAwait(false)
            ?? throw new AdminException($"No component '{id}' in {store.Name}; mw components list shows the known ids.");
        return (id, head);
    }

    /// <summary>The commit time of the component's last record, or null for an empty log.</summary>
    public static async Task<DateTime?> LastActivityAsync(ILogStore store, ComponentHead head, CancellationToken cancellationToken)
    {
        if (head.LastSeq == 0) return null;
        var last = await store.ReadAsync(head.ComponentId, head.LastSeq, head.LastSeq, cancellationToken).ConfigureAwait(false);
        return last.Count == 0 ? null : new DateTime(last[0].CommittedAtTicks, DateTimeKind.Utc);
    }

    /// <summary>The type part of a stored id (the text before the first '/').</summary>
    public static string TypeOf(string componentId)
    {
        var slash = componentId.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? componentId : componentId[..slash];
    }

    /// <summary>Reads every stored record of the component (the log may start after seq 1 when truncated).</summary>
    public static Task<IReadOnlyList<LogRecord>> ReadAllAsync(ILogStore store, ComponentHead head, CancellationToken cancellationToken) =>
        store.ReadAsync(head.ComponentId, 1, head.LastSeq, cancellationToken);
}
