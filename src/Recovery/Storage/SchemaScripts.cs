using System.Reflection;

namespace Middleware.Recovery.Storage;

/// <summary>One numbered schema script shipped with a provider (<c>sql/&lt;db&gt;/NNN_name.sql</c>, embedded).</summary>
public sealed record SchemaScript(int Version, string FileName, string Sql);

/// <summary>Loads a provider's embedded, numbered schema scripts: the same files the repository ships under sql/.</summary>
public static class SchemaScripts
{
    /// <summary>
    /// The scripts embedded in <paramref name="assembly"/> under <paramref name="resourcePrefix"/>, in version order.
    /// Throws when a name does not start with its version or the versions are not exactly 1..N (a packaging bug).
    /// </summary>
    public static IReadOnlyList<SchemaScript> Load(Assembly assembly, string resourcePrefix)
    {
        var scripts = new List<SchemaScript>();
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(resourcePrefix, StringComparison.Ordinal) || !name.EndsWith(".sql", StringComparison.Ordinal)) continue;
            var fileName = name[resourcePrefix.Length..];
            var digits = new string(fileName.TakeWhile(char.IsAsciiDigit).ToArray());
            if (digits.Length == 0 || !int.TryParse(digits, out var version))
                throw new InvalidOperationException($"Embedded schema script '{name}' must start with its version number, e.g. 001_initial.sql.");
            scripts.Add(new SchemaScript(version, fileName, ReadResource(assembly, name)));
        }

        scripts.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < scripts.Count; i++)
        {
            // A gap or duplicate would make the recorded version ambiguous; it is a packaging bug, caught at first use.
            if (scripts[i].Version != i + 1)
                throw new InvalidOperationException($"Embedded schema scripts must be numbered 1..N without gaps; found {string.Join(", ", scripts.Select(s => s.FileName))}.");
        }

        return scripts;
    }

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded schema script '{name}' is listed but cannot be read.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
