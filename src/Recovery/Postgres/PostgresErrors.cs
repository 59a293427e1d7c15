using System.Net.Sockets;
using Middleware.Recovery.Storage;
using Npgsql;

namespace Middleware.Recovery.Postgres;

/// <summary>
/// Turns driver and server errors into <see cref="StoreUnavailableException"/>s that name the store (never
/// its password) and say what to fix.
/// </summary>
internal static class PostgresErrors
{
    /// <summary>True for the exceptions a store operation reports as "store unavailable".</summary>
    public static bool IsStoreFailure(Exception e) => e is NpgsqlException or TimeoutException or SocketException;

    /// <summary>The store could not be opened (connect, authenticate, read or upgrade the schema).</summary>
    public static StoreUnavailableException CannotOpen(string storeName, Exception e) =>
        new($"Cannot open the PostgreSQL log store '{storeName}': {Describe(e)}. {Fix(e)}", e);

    /// <summary>An operation failed; for a write nothing was acknowledged and a later read tells what was committed.</summary>
    public static StoreUnavailableException Failed(string storeName, string operation, Exception e, bool write) =>
        new($"PostgreSQL log store '{storeName}' failed while {operation}: {Describe(e)}." +
            (write ? " Nothing from this call was acknowledged; a later read tells what was committed." : "") +
            $" {Fix(e)}", e);

    private static string Describe(Exception e) => e switch
    {
        PostgresException p => $"{p.MessageText} (SQLSTATE {p.SqlState})",
        NpgsqlException { InnerException: { } inner } n when inner is SocketException or TimeoutException or IOException => $"{n.Message} ({inner.Message})",
        _ => e.Message,
    };

    private static string Fix(Exception e) => e switch
    {
        PostgresException { SqlState: "28P01" or "28000" } =>
            "The server refused the login: check Username and Password in the connection string (the password is not shown here) " +
            "and that pg_hba.conf allows this user from this host.",
        PostgresException { SqlState: "3D000" } =>
            "The database does not exist: create it (CREATE DATABASE ...) or fix Database= in the connection string.",
        PostgresException { SqlState: "42501" } =>
            "The user lacks a privilege: grant it CREATE and USAGE on the schema (first start) and read/write on the store's tables.",
        PostgresException { SqlState: "53300" } =>
            "The server has no free connection slot: raise max_connections or lower Maximum Pool Size of the other clients.",
        PostgresException { SqlState: "57P01" or "57P02" or "57P03" } =>
            "The server is shutting down or starting up: wait until it accepts connections, then retry.",
        PostgresException { SqlState: "40P01" or "40001" } =>
            "The transaction lost a deadlock or serialization conflict with another writer: retry the operation.",
        PostgresException =>
            "Check the server log for this error.",
        _ =>
            "Check that the PostgreSQL server is running and accepts TCP connections at Host/Port of the connection string " +
            "(listen_addresses, port, firewall), and that the network between this process and the server is up.",
    };
}
