using System.Globalization;
using Middleware.Protocol;
using Middleware.Protocol.Tls;

namespace Middleware.Inspection;

/// <summary>
/// How the tool or a dashboard asks a silo something over the protocol: the role and key it proves (the admin key for
/// <c>mw</c>, the silo key for a silo's own dashboard), TLS, and what to tell the user when the key is refused.
/// </summary>
/// <param name="SenderId">The sender id in the Hello (<c>mw</c>, or the asking silo's id).</param>
/// <param name="Role">The role proven.</param>
/// <param name="Key">The key of that role, or null on an open cluster.</param>
/// <param name="Tls">TLS settings when the protocol port speaks TLS, or null.</param>
/// <param name="KeyHint">The fix named when a silo refuses the key.</param>
public sealed record SiloAsking(string SenderId, PeerRole Role, string? Key, TlsClientOptions? Tls, string KeyHint)
{
    /// <summary>Splits <c>host:port</c> (an IPv6 host may be bracketed); anything else is an <see cref="InspectionException"/>.</summary>
    public static (string Host, int Port) Endpoint(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw new InspectionException($"'{address}' is not a silo address (host:port); the silos table may be damaged.");
        return (address[..colon].Trim('[', ']'), port);
    }

    /// <summary>Delay before retry <c>n</c> (1-based) after an Unavailable reply or a lost connection.</summary>
    public static TimeSpan RetryDelay(int retry) => TimeSpan.FromMilliseconds(Math.Min(2000, 250 << Math.Min(retry, 4)));
}
