using Middleware.Recovery.Storage;

namespace Middleware.Recovery.Runtime;

/// <summary>
/// Reads the items of virtual sessions for <c>Context.GetSessionItemAsync</c> (the value read is recorded as the turn's
/// nondeterminism, so replay never reads again). An exception leaves the turn unrecorded; its retry reads again.
/// </summary>
public interface ISessionItemSource
{
    /// <summary>The value of item <paramref name="key"/> of session <paramref name="sessionId"/>, or null when it is not set.</summary>
    Task<string?> GetItemAsync(string sessionId, string key, CancellationToken cancellationToken);
}

/// <summary>Session items from the cluster's sessions table.</summary>
public sealed class StoreSessionItems(IClusterStore cluster) : ISessionItemSource
{
    /// <inheritdoc />
    public async Task<string?> GetItemAsync(string sessionId, string key, CancellationToken cancellationToken) =>
        (await cluster.GetSessionAsync(sessionId, cancellationToken).ConfigureAwait(false))?.Items.GetValueOrDefault(key);
}
