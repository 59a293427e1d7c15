using System.CommandLine;
using Middleware.Protocol.Tls;

namespace Middleware.Admin.Cli;

/// <summary>
/// <c>--tls</c>, <c>--tls-ca</c>, <c>--tls-certificate</c>, <c>--tls-key</c> on the commands that contact a silo: TLS to
/// silos that serve it, with the CA to trust and, for silos that require mutual TLS, the tool's certificate.
/// </summary>
internal sealed class TlsCliOptions
{
    private readonly Option<bool> _tls = new("--tls") { Description = "Connect to the silos with TLS (implied by the other --tls-* options); without --tls-ca the system's trusted CAs apply." };
    private readonly Option<string?> _ca = new("--tls-ca") { Description = "PEM bundle of the CAs that signed the silos' certificates." };
    private readonly Option<string?> _certificate = new("--tls-certificate") { Description = "The tool's certificate (PEM or PFX), for silos that require client certificates (mutual TLS)." };
    private readonly Option<string?> _key = new("--tls-key") { Description = "The PEM private key of --tls-certificate (when not in the same file)." };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public Command AddTo(Command command)
    {
        command.Options.Add(_tls);
        command.Options.Add(_ca);
        command.Options.Add(_certificate);
        command.Options.Add(_key);
        return command;
    }

    /// <summary>The TLS options given, or null for plain TCP; a file that cannot be used is an <see cref="AdminException"/> naming its option.</summary>
    public TlsClientOptions? Read(ParseResult parse)
    {
        var ca = parse.GetValue(_ca);
        var certificate = parse.GetValue(_certificate);
        var key = parse.GetValue(_key);
        if (!parse.GetValue(_tls) && ca is null && certificate is null && key is null) return null;
        if (key is not null && certificate is null)
            throw new AdminException("--tls-key is given without --tls-certificate; give the certificate the key belongs to.");
        try
        {
            return TlsClientOptions.FromFiles(ca, certificate, key);
        }
        catch (CertificateFileException e)
        {
            var option = e.FilePath == key ? "--tls-key" : e.FilePath == ca ? "--tls-ca" : "--tls-certificate";
            throw new AdminException($"{option}: {e.Message}");
        }
    }
}
