using Middleware.Core;
using Middleware.Grains;
using Middleware.Recovery.Runtime;

namespace Middleware.Silo;

/// <summary>
/// The silo's <see cref="IComponentFactory"/> for host code in the silo's process (an endpoint, a background service):
/// each call goes through the silo's <see cref="ClusterRouter"/>, so a component this silo owns runs here and one another
/// silo owns is forwarded to its owner, with the router's waits through failovers. Every call of
/// <see cref="GetComponent{T}"/> gets a new request id (<c>host-SILOID:GUID</c>), so it takes effect once.
/// </summary>
internal sealed class SiloComponentFactory(ClusterRouter router, SiloOptions options, ComponentRegistry registry) : IComponentFactory
{
    public T GetComponent<T>(string key, CancellationToken cancellationToken = default)
        where T : IRecoverableComponent
    {
        ArgumentNullException.ThrowIfNull(key);
        return ComponentProxy.Create<T>(inv => router.InvokeAsync(inv, cancellationToken), key, NewRequestId, json: registry.Json);
    }

    public T Call<T>(string key, string requestId, CancellationToken cancellationToken = default)
        where T : IRecoverableComponent
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        return ComponentProxy.Create<T>(inv => router.InvokeAsync(inv, cancellationToken), key, () => requestId, json: registry.Json);
    }

    private string NewRequestId() => $"host-{options.SiloId}:{Guid.NewGuid():N}";
}
