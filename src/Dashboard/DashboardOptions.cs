using Middleware.Inspection;
using Middleware.Recovery.Runtime;
using Middleware.Recovery.Storage;

namespace Middleware.Dashboard;

/// <summary>What a host gives its dashboard: the store, the code, how to ask silos, and the key that guards it.</summary>
public sealed class DashboardOptions
{
    /// <summary>Names the server in the page header: <c>silo silo-1</c> or <c>mw dashboard</c>.</summary>
    public required string Source { get; init; }

    /// <summary>The open store, or null while it is not open (a silo starting or stopping: the API answers 503).</summary>
    public required Func<ILogStore?> Store { get; init; }

    /// <summary>The component types, for the state and audit pages; null when the host has none (those pages say so).</summary>
    public ComponentRegistry? Registry { get; init; }

    /// <summary>How to ask live silos for their standbys (<c>$mirror.list</c>).</summary>
    public required SiloAsking Asking { get; init; }

    /// <summary>
    /// The key a browser must present (<c>Authorization: Bearer KEY</c>) to read the API; null leaves the dashboard open
    /// (a silo without keys). The static page itself is always served: it holds nothing.
    /// </summary>
    public string? AccessKey { get; init; }

    /// <summary>This process's own counters for the live charts (a silo), or null (<c>mw dashboard</c> asks the silos).</summary>
    public Func<SiloStatsShape?>? LocalStats { get; init; }

    /// <summary>The silo id of <see cref="LocalStats"/>, so its counters are read directly instead of over HTTP.</summary>
    public string? LocalSiloId { get; init; }

    /// <summary>The clock of the answers' timestamps.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Held while this dashboard runs a call that reads every component (an audit, an outcome search across the store):
    /// one at a time, so repeated clicks or a script cannot stack whole-store scans on the silo that serves the turns.
    /// </summary>
    internal SemaphoreSlim StoreScans { get; } = new(1, 1);
}
