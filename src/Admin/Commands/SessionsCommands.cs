using System.CommandLine;
using System.Globalization;
using Middleware.Admin.Cli;
using Middleware.Admin.Output;
using Middleware.Recovery.Storage;
using Spectre.Console;

namespace Middleware.Admin.Commands;

/// <summary><c>mw sessions list [--limit N]</c> and <c>mw sessions show ID</c>: the virtual sessions the store keeps.</summary>
internal static class SessionsCommands
{
    public static Command Build(CliContext cli)
    {
        var limit = new Option<int>("--limit") { Description = "At most this many sessions, newest activity first (default 100).", DefaultValueFactory = _ => 100 };
        var list = new Command("list", "List sessions, newest activity first: status, request numbers reserved, opens, created, last opened, items.") { limit };
        list.SetAction(async (parse, ct) =>
        {
            var max = parse.GetValue(limit);
            if (max < 1) throw new AdminException($"--limit is {max}; give 1 or more.");
            await using var store = await cli.OpenClusterStoreAsync(parse).ConfigureAwait(false);
            var sessions = (await CliContext.Cluster(store).ListSessionsAsync(max, ct).ConfigureAwait(false)).Select(Shape).ToList();
            if (CliContext.Json(parse))
            {
                cli.WriteJson(new SessionListShape(max, sessions));
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("session", "status", "reserved", "opens", "created (UTC)", "last opened (UTC)", "items");
            foreach (var s in sessions)
            {
                table.AddRow(Format.Cell(s.SessionId), s.Status, N(s.Reserved), N(s.Opens), Format.Text(s.CreatedAt), Format.Text(s.LastOpenedAt),
                    Format.Cell(Format.Clip(string.Join(", ", s.Items.Select(i => $"{i.Key}={i.Value}")), 60)));
            }

            var console = cli.Tables();
            if (sessions.Count > 0) console.Write(table);
            console.WriteLine(sessions.Count == max ? $"{sessions.Count} session(s) (the newest {max}; --limit shows more)" : $"{sessions.Count} session(s)");
            return ExitCodes.Ok;
        });

        var id = new Argument<string>("id") { Description = "The session id (the part of a request id before ':')." };
        var show = new Command("show", "Show one session: status, request numbers reserved, opens, created, last opened, and its items.") { id };
        show.SetAction(async (parse, ct) =>
        {
            var sessionId = parse.GetValue(id)!;
            if (string.IsNullOrWhiteSpace(sessionId)) throw new AdminException("The session id is empty; give one (the part of a request id before ':'; mw sessions list shows them).");
            if (sessionId.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0)
            {
                throw new AdminException(colon > 0
                    ? $"'{sessionId}' is a request id (SESSION:n), not a session id; try mw sessions show {sessionId[..colon]}."
                    : $"'{sessionId}' is not a session id (it starts with ':').");
            }

            await using var store = await cli.OpenClusterStoreAsync(parse).ConfigureAwait(false);
            var session = await CliContext.Cluster(store).GetSessionAsync(sessionId, ct).ConfigureAwait(false)
                ?? throw new AdminException($"No session '{sessionId}' in {store.Name}; mw sessions list shows the known ids.");
            var shape = Shape(session);
            if (CliContext.Json(parse))
            {
                cli.WriteJson(shape);
                return ExitCodes.Ok;
            }

            var console = cli.Tables();
            console.Write(new Table().AddColumns("session", "status", "reserved", "opens", "created (UTC)", "last opened (UTC)")
                .AddRow(Format.Cell(shape.SessionId), shape.Status, N(shape.Reserved), N(shape.Opens), Format.Text(shape.CreatedAt), Format.Text(shape.LastOpenedAt)));
            if (shape.Items.Count > 0)
            {
                var items = new Table().AddColumns("item", "value");
                foreach (var (key, value) in shape.Items.OrderBy(i => i.Key, StringComparer.Ordinal)) items.AddRow(Format.Cell(key), Format.Cell(Format.Clip(value)));
                console.Write(items);
            }

            var ids = shape.Reserved == 0 ? "no request ids reserved yet" : $"request ids {shape.SessionId}:1 .. {shape.SessionId}:{N(shape.Reserved)} reserved";
            console.WriteLine(Format.Line($"{shape.Items.Count} item(s); {ids}"));
            return ExitCodes.Ok;
        });

        return new Command("sessions", "Virtual sessions (request id reservations and items).") { list, show };
    }

    private static SessionShape Shape(SessionEntry s) => new(
        s.SessionId, s.Status == SessionStatus.Open ? "open" : "closed", s.Reserved, s.Opens, s.CreatedAt.UtcDateTime, s.LastOpenedAt.UtcDateTime,
        new SortedDictionary<string, string>(s.Items.ToDictionary(), StringComparer.Ordinal));

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
