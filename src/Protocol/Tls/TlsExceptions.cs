using System.Security.Authentication;

namespace Middleware.Protocol.Tls;

/// <summary>
/// The TLS handshake with a silo failed in a way a retry does not fix: its certificate is not trusted or does not carry
/// the name connected to, or the two sides do not agree on TLS. The message names the cause and the setting that fixes
/// it. Not an <see cref="IOException"/>, so retry layers give up at once.
/// </summary>
public sealed class TlsRefusedException(string message, Exception? inner = null) : AuthenticationException(message, inner);

/// <summary>A certificate, key or CA file cannot be used; the message names the file and what is wrong with it.</summary>
public sealed class CertificateFileException(string path, string problem, Exception? inner = null)
    : ArgumentException($"{path} {problem}.", inner)
{
    /// <summary>The file at fault.</summary>
    public string FilePath { get; } = path;

    /// <summary>What is wrong with it (without the path).</summary>
    public string Problem { get; } = problem;
}
