using Middleware.Core;

namespace Middleware.Recovery.Storage;

/// <summary>The store could not be reached or failed mid-operation; nothing was acknowledged.</summary>
public class StoreUnavailableException(string message, Exception? inner = null) : Core.RequestNotAcknowledgedException(message, inner);

/// <summary>The store's schema is at a version this code does not understand.</summary>
public sealed class SchemaVersionException(string message) : Exception(message);

/// <summary>A store operation broke a contract rule (for example truncating past the latest checkpoint).</summary>
public sealed class StoreContractException(string message) : Exception(message);
