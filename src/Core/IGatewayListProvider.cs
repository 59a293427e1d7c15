namespace Middleware.Core;

/// <summary>
/// Where a client finds the silos it may talk to, as an alternative to a fixed list of gateways: for example the
/// cluster's membership table (<c>StoreGatewayListProvider</c>, beside the stores). Asked at connect.
/// </summary>
public interface IGatewayListProvider
{
    /// <summary>A short description for messages, e.g. <c>silos table of sqlite:./data/x.db</c>.</summary>
    string Description { get; }

    /// <summary>The protocol addresses (<c>host:port</c>) of the silos that are live now; empty when none is.</summary>
    Task<IReadOnlyList<string>> GetGatewaysAsync(CancellationToken cancellationToken = default);
}
