using Middleware.Core;

namespace Middleware.Recovery.Storage;

/// <summary>
/// The live silos of the cluster's membership table as a client's gateway list, for processes that may read the
/// cluster's store. Only the silos table is read; the provider does not own (or dispose) the store.
/// </summary>
public sealed class StoreGatewayListProvider(IClusterStore store) : IGatewayListProvider
{
    /// <inheritdoc />
    public string Description => $"the silos table of {(store as ILogStore)?.Name ?? "the cluster's store"}";

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> GetGatewaysAsync(CancellationToken cancellationToken = default) =>
        (await store.ListSilosAsync(cancellationToken).ConfigureAwait(false)).Where(s => s.IsLive).Select(s => s.Address).ToList();
}
