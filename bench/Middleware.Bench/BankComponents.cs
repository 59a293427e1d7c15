using System.Reflection;
using Bank.Cluster;
using Middleware.Recovery.Runtime;

namespace Middleware.Bench;

/// <summary>
/// The sample's components for the in-process scenarios. The benchmark references the bank's interfaces only, as a
/// client would; the implementation is loaded from its build output, the way a silo loads it with <c>--components</c>.
/// </summary>
internal static class BankComponents
{
    private static readonly Lazy<Assembly> Loaded = new(() => Assembly.LoadFrom(SiloBuild.LocateBankComponents()));

    /// <summary>A registry with the sample's Account and Teller.</summary>
    public static ComponentRegistry Registry() => new ComponentRegistry().AddAssembly(Loaded.Value);
}
