using Middleware.Grains;

namespace Middleware.Core;

/// <summary>
/// Typed proxies of components for code outside components: an ASP.NET endpoint, a background service, a client
/// application. Take it from dependency injection: <c>AddMiddlewareClient</c> registers the client's (calls go to the
/// cluster over the protocol), and <c>AddMiddlewareSilo</c> registers the silo's, which serves a component this silo owns
/// in-process and forwards a call for a component another silo owns to that silo. Inside a component use
/// <c>Context.Call&lt;T&gt;(key)</c> instead: only that call is recorded and made exactly once across crashes of the caller.
/// </summary>
public interface IComponentFactory
{
    /// <summary>
    /// A proxy of component <typeparamref name="T"/> with <paramref name="key"/> whose every call gets a new request id,
    /// so each call takes effect once (it is retried under that id while the cluster fails over, never resent under
    /// another). <paramref name="cancellationToken"/> bounds every call made through the proxy; proxies are cheap, take
    /// one per operation.
    /// </summary>
    T GetComponent<T>(string key, CancellationToken cancellationToken = default)
        where T : IRecoverableComponent;

    /// <summary>
    /// A proxy whose calls all use <paramref name="requestId"/>: one request, which this or a later process may resend
    /// (after a crash, say) and get its single outcome.
    /// </summary>
    T Call<T>(string key, string requestId, CancellationToken cancellationToken = default)
        where T : IRecoverableComponent;
}
