using System.Reflection;
using Middleware.Admin.Cli;
using Middleware.Recovery.Runtime;

namespace Middleware.Admin.Components;

/// <summary>Loads the application's component assembly and registers every component type in it.</summary>
public static class ComponentAssemblies
{
    /// <summary>
    /// Loads <paramref name="path"/> into the default load context (so the middleware's own assemblies are
    /// shared with the tool and component interfaces stay the same types) and returns a registry of its
    /// components. Throws <see cref="AdminException"/> with one line naming the problem.
    /// </summary>
    public static ComponentRegistry Load(string? path)
    {
        const string Example = "e.g. --components samples/Bank/bin/Debug/net10.0/Bank.dll";
        if (string.IsNullOrWhiteSpace(path))
            throw new AdminException($"--components is empty; give the path of the application's component assembly, {Example}.");
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new AdminException($"--components '{path}' is not a usable path ({e.Message}); {Example}.");
        }

        if (Directory.Exists(full))
            throw new AdminException($"--components '{path}' is a directory; give the component assembly's .dll inside it, {Example}.");
        if (!File.Exists(full))
            throw new AdminException($"--components: component assembly '{path}' not found; build the application first (e.g. dotnet build samples/Bank) and pass its .dll.");
        Assembly assembly;
        try
        {
            assembly = Assembly.LoadFrom(full);
        }
        catch (BadImageFormatException e)
        {
            throw new AdminException($"--components '{path}' is not a .NET assembly ({e.Message.Trim()}); pass the application's component .dll.");
        }
        catch (FileLoadException e)
        {
            throw new AdminException($"--components: component assembly '{path}' could not be loaded: {e.Message.Trim()}");
        }

        ComponentRegistry registry;
        try
        {
            registry = new ComponentRegistry().AddAssembly(assembly);
        }
        catch (ReflectionTypeLoadException e)
        {
            var first = (e.LoaderExceptions.FirstOrDefault(x => x is not null)?.Message ?? e.Message).Trim().TrimEnd('.');
            throw new AdminException($"--components: the types of '{path}' could not be loaded ({first}); copy its dependencies next to it or pass the build output's .dll.");
        }

        if (!registry.Types.Any())
            throw new AdminException($"--components '{path}' contains no component types (classes implementing an IRecoverableComponent interface).");
        return registry;
    }
}
