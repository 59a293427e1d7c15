using Middleware.Grains;
using Middleware.Recovery.Log;
using Middleware.Recovery.Storage;

namespace Middleware.Admin.Cli;

/// <summary>Finds a component named on the command line, with one clear error line when it is not there.</summary>
internal static class ComponentLookup
{
    /// <summary>Parses <c>Type/key</c> and returns its head; an unknown id is an <see cref="AdminException"/>.</summary>
    public static async Task<(ComponentId Id, ComponentHead Head)> GetAsync(ILogStore store, string text, CancellationToken cancellationToken)
    {
        var id = Validate.ComponentId(text);

        var head = await store.GetHeadAsync(id.ToString(), cancellationToken).ConfigureAwait(false)
            ?? throw new AdminException($"No component '{id}' in {store.Name}; mw components list shows the known ids.");
        return (id, head);
    }

    /// <summary>The type part of a stored id (the text before the first '/').</summary>
    public static string TypeOf(string componentId) => Middleware.Inspection.ComponentView.TypeOf(componentId);
}
