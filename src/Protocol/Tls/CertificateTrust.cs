using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Middleware.Protocol.Tls;

/// <summary>
/// Whether a peer's certificate chains to the trusted authorities for its purpose, and if not, why, in words an operator
/// can act on. One rule for both directions: clients and silos checking a silo, silos checking a client certificate.
/// Revocation is not checked (no CRL or OCSP fetches from a silo); rotate the CA to withdraw a certificate.
/// </summary>
public static class CertificateTrust
{
    /// <summary>The extended key usage of a TLS server certificate.</summary>
    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>The extended key usage of a TLS client certificate.</summary>
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// Null when <paramref name="certificate"/> chains to one of <paramref name="authorities"/> (the system's trust store
    /// when empty), is valid now and allows <paramref name="purpose"/>; otherwise what is wrong. <paramref name="presented"/>
    /// holds the intermediates the peer sent.
    /// </summary>
    public static string? Problem(X509Certificate2 certificate, X509Chain? presented, X509Certificate2Collection authorities, string purpose)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(purpose));
        if (authorities.Count > 0)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        }

        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
            foreach (var element in presented.ChainElements) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }

        if (chain.Build(certificate)) return null;
        var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        var problems = new List<string>();
        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
        {
            problems.Add(authorities.Count > 0
                ? $"it is not signed by a trusted CA (issuer {certificate.Issuer}; trusted: {string.Join("; ", authorities.Select(a => a.Subject))})"
                : $"it is not signed by a CA in this machine's trust store (issuer {certificate.Issuer})");
        }

        if ((flags & X509ChainStatusFlags.NotTimeValid) != 0)
            problems.Add($"it is not valid now (valid from {certificate.NotBefore:u} to {certificate.NotAfter:u})");
        if ((flags & X509ChainStatusFlags.NotValidForUsage) != 0)
            problems.Add($"its extended key usage does not allow TLS {(purpose == ClientAuthentication ? "client" : "server")} authentication");
        if (problems.Count == 0)
            problems.Add(string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct()));
        return $"certificate '{certificate.Subject}': {string.Join(", ", problems)}";
    }

    /// <summary>The DNS names and IP addresses a certificate is issued for (its subject alternative names), for messages.</summary>
    public static string Names(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        if (extension is null) return "no subject alternative names";
        var names = extension.EnumerateDnsNames().Concat(extension.EnumerateIPAddresses().Select(a => a.ToString())).ToList();
        return names.Count == 0 ? "no DNS or IP names" : string.Join(", ", names);
    }
}
