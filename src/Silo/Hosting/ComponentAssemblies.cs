using System.Reflection;
using Middleware.Core;
using Middleware.Recovery.Runtime;

namespace Middleware.Silo;

/// <summary>Builds the component registry from the assembly files named by the <c>--components</c> setting.</summary>
public static class ComponentAssemblies
{
    /// <summary>Loads each assembly and registers its components; a missing, unreadable or empty assembly fails naming the setting and the path.</summary>
    public static ComponentRegistry Load(IEnumerable<string> paths)
    {
        var registry = new ComponentRegistry();
        foreach (var path in paths)
        {
            if (string.IsNullOrWhiteSpace(path))
                throw new SiloOptionsException(SiloSettings.Components, "has an empty path; give the path of the application's component dll");
            var full = Path.GetFullPath(path);
            if (!File.Exists(full))
                throw new SiloOptionsException(SiloSettings.Components, $"names '{path}', which does not exist (resolved to {full}); build the application and give the path of its dll");
            Assembly assembly;
            try
            {
                // LoadFrom (not LoadFile): the assembly's own dependencies resolve from its directory, while
                // Middleware.Grains binds to the silo's copy so the component interfaces are the engine's.
                assembly = Assembly.LoadFrom(full);
            }
            catch (BadImageFormatException e)
            {
                throw new SiloOptionsException(SiloSettings.Components, $"names '{path}', which is not a .NET assembly ({e.Message.Trim().TrimEnd('.')})");
            }
            catch (FileLoadException e)
            {
                throw new SiloOptionsException(SiloSettings.Components, $"names '{path}', which cannot be loaded ({e.Message.Trim().TrimEnd('.')})");
            }

            var before = registry.Types.Count();
            try
            {
                registry.AddAssembly(assembly);
            }
            catch (ReflectionTypeLoadException e)
            {
                var first = (e.LoaderExceptions.FirstOrDefault(x => x is not null)?.Message ?? e.Message).Trim().TrimEnd('.');
                throw new SiloOptionsException(SiloSettings.Components, $"names '{path}', whose types cannot be loaded ({first}); put its dependencies beside it");
            }
            catch (ComponentDefinitionException e)
            {
                // A component the runtime cannot run safely (e.g. state a checkpoint would lose): refuse to start, naming it.
                throw new SiloOptionsException(SiloSettings.Components, $"names '{path}', which has a component the silo cannot run: {e.Message.TrimEnd('.')}");
            }

            if (registry.Types.Count() == before)
                throw new SiloOptionsException(SiloSettings.Components, $"names '{path}', which has no component types (classes implementing an IRecoverableComponent interface)");
        }

        return registry;
    }
}
