using Bank;
using Middleware.Recovery.Runtime;

namespace Middleware.Tests.Support;

public static class Registries
{
    public static ComponentRegistry Default() => new ComponentRegistry()
        .Add<ICounter, Counter>()
        .Add<IAccount, Account>()
        .Add<IWallClock, WallClock>();
}
