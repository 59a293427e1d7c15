using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Middleware.Protocol.Tls;

/// <summary>A certificate with its private key, and the certificates between it and its root (sent along in the handshake).</summary>
public sealed record CertificateIdentity(X509Certificate2 Certificate, X509Certificate2Collection Chain);

/// <summary>
/// Loads certificates, keys and CA bundles from files for silos, clients and the admin tool. Every failure is a
/// <see cref="CertificateFileException"/> naming the file and what to do, never a bare cryptography error.
/// </summary>
public static class CertificateFiles
{
    /// <summary>
    /// Loads a certificate and its private key: PEM (<paramref name="keyFile"/> holds the key, or null when the
    /// certificate file holds it too; further certificates in the file are its chain) or PKCS#12/PFX (key and chain
    /// inside, opened with <paramref name="password"/>).
    /// </summary>
    public static CertificateIdentity LoadIdentity(string certificateFile, string? keyFile = null, string? password = null)
    {
        var bytes = Read(certificateFile);
        var identity = IsPem(bytes)
            ? LoadPem(certificateFile, System.Text.Encoding.ASCII.GetString(bytes), keyFile, password)
            : LoadPkcs12(certificateFile, bytes, keyFile, password);
        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use an ephemeral key from PEM; a PKCS#12 round trip gives it a persisted one.
            var reloaded = X509CertificateLoader.LoadPkcs12(identity.Certificate.Export(X509ContentType.Pkcs12), null);
            identity = identity with { Certificate = reloaded };
        }

        return identity;
    }

    /// <summary>Loads the CA certificates of a PEM bundle (every <c>CERTIFICATE</c> block in the file).</summary>
    public static X509Certificate2Collection LoadAuthorities(string file)
    {
        var bytes = Read(file);
        var certificates = new X509Certificate2Collection();
        try
        {
            if (IsPem(bytes)) certificates = PemCertificates(System.Text.Encoding.ASCII.GetString(bytes));
            else certificates.Add(X509CertificateLoader.LoadCertificate(bytes));
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            throw new CertificateFileException(file, $"is not a CA bundle ({e.Message}); give PEM certificates (-----BEGIN CERTIFICATE-----)", e);
        }

        if (certificates.Count == 0)
            throw new CertificateFileException(file, "holds no certificate; give the CA certificates in PEM (-----BEGIN CERTIFICATE-----)");
        return certificates;
    }

    private static CertificateIdentity LoadPem(string certificateFile, string text, string? keyFile, string? password)
    {
        X509Certificate2Collection certificates;
        try
        {
            certificates = PemCertificates(text);
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            throw new CertificateFileException(certificateFile, $"holds a damaged PEM certificate ({e.Message})", e);
        }

        if (certificates.Count == 0)
            throw new CertificateFileException(certificateFile, "holds no certificate (-----BEGIN CERTIFICATE-----); give the certificate file, not the key");
        var keyPath = keyFile ?? certificateFile;
        var keyText = keyFile is null ? text : System.Text.Encoding.ASCII.GetString(Read(keyFile));
        if (!keyText.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw keyFile is null
                ? new CertificateFileException(certificateFile, "has no private key in it; give the key file as well (--tls-key)")
                : new CertificateFileException(keyFile, "holds no private key (-----BEGIN PRIVATE KEY-----); give the key that belongs to the certificate");
        }

        var encrypted = keyText.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);
        if (encrypted && password is null)
            throw new CertificateFileException(keyPath, "holds an encrypted private key; give its password, or an unencrypted key file readable only by the service");
        var leafPem = certificates[0].ExportCertificatePem();
        X509Certificate2 certificate;
        try
        {
            certificate = encrypted ? X509Certificate2.CreateFromEncryptedPem(leafPem, keyText, password) : X509Certificate2.CreateFromPem(leafPem, keyText);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            var problem = KeyParses(keyText, password)
                ? $"holds a private key that does not belong to the certificate in {certificateFile} (subject {certificates[0].Subject}); give the key the certificate was issued for"
                : $"holds a private key that cannot be read ({e.Message}); give an unencrypted PKCS#8, RSA or EC key in PEM";
            throw new CertificateFileException(keyPath, problem, e);
        }

        var chain = new X509Certificate2Collection();
        for (var i = 1; i < certificates.Count; i++) chain.Add(certificates[i]);
        return new CertificateIdentity(certificate, chain);
    }

    private static CertificateIdentity LoadPkcs12(string certificateFile, byte[] bytes, string? keyFile, string? password)
    {
        if (keyFile is not null)
            throw new CertificateFileException(keyFile, $"was given as the key of {certificateFile}, which is not PEM; a PKCS#12 (PFX) file holds its own key, so give no key file");
        X509Certificate2Collection all;
        try
        {
            all = X509CertificateLoader.LoadPkcs12Collection(bytes, password);
        }
        catch (CryptographicException e)
        {
            throw new CertificateFileException(certificateFile, $"is neither PEM nor a PKCS#12 (PFX) file that opens with the password given ({e.Message}); give a PEM certificate or the PFX's password", e);
        }

        var leaf = all.FirstOrDefault(c => c.HasPrivateKey)
            ?? throw new CertificateFileException(certificateFile, "is a PKCS#12 (PFX) file without a private key; export the certificate with its key");
        var chain = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (!ReferenceEquals(certificate, leaf)) chain.Add(certificate);
        }

        return new CertificateIdentity(leaf, chain);
    }

    /// <summary>Every CERTIFICATE block of a PEM text, in order; other blocks (keys) are skipped.</summary>
    private static X509Certificate2Collection PemCertificates(string text)
    {
        var certificates = new X509Certificate2Collection();
        var rest = text.AsMemory();
        while (PemEncoding.TryFind(rest.Span, out var fields))
        {
            var block = rest.Span;
            if (block[fields.Label].SequenceEqual("CERTIFICATE"))
                certificates.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(block[fields.Base64Data].ToString())));
            rest = rest[fields.Location.End..];
        }

        return certificates;
    }

    private static bool KeyParses(string keyText, string? password)
    {
        foreach (var algorithm in new Func<AsymmetricAlgorithm>[] { RSA.Create, ECDsa.Create })
        {
            using var key = algorithm();
            try
            {
                if (password is null) key.ImportFromPem(keyText);
                else key.ImportFromEncryptedPem(keyText, password);
                return true;
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                // Not this algorithm; try the next.
            }
        }

        return false;
    }

    private static bool IsPem(byte[] bytes) => System.Text.Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 4096)).Contains("-----BEGIN ", StringComparison.Ordinal);

    private static byte[] Read(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CertificateFileException(path, "does not exist; check the path (relative paths are from the working directory)", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new CertificateFileException(path, $"cannot be read ({e.Message}); check that this process's user may read it", e);
        }
    }
}
