using Grpc.Core;
using HaKit.Admin.V1;
using Spectre.Console;

namespace HaKit.Cli;

/// <summary>How to reach the node: the endpoint, TLS files and the timeout of every call.</summary>
/// <param name="Endpoint">The node's admin endpoint.</param>
/// <param name="Tls">Client certificate files (https only).</param>
/// <param name="Timeout">Bound on connecting and on every call (the first event of a watch included).</param>
internal sealed record AdminTarget(AdminEndpoint Endpoint, TlsFiles Tls, TimeSpan Timeout);

/// <summary>The commands that talk to a running node.</summary>
internal sealed class AdminCommands(CliConsole console, AdminTarget target)
{
    /// <summary>Pause before reconnecting a dropped watch stream (doubled up to <see cref="MaxReconnectDelay"/>).</summary>
    internal static readonly TimeSpan ReconnectDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest pause between reconnection attempts.</summary>
    internal static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(2);

    /// <summary>Without <c>--follow</c>, <c>events</c> stops once the stream has been quiet this long.</summary>
    internal static readonly TimeSpan EventsIdle = TimeSpan.FromSeconds(1);

    /// <summary><c>hakit status</c>.</summary>
    public async Task<int> StatusAsync(bool json, bool watch, CancellationToken cancellationToken)
    {
        using var channel = Open();
        var client = new ClusterAdmin.ClusterAdminClient(channel);
        var status = await CallAsync(c => client.GetStatusAsync(new StatusRequest(), c), cancellationToken).ConfigureAwait(false);
        if (!watch)
        {
            Show(status, json);
            return ExitCodes.Done;
        }

        var ansi = CreateAnsi();
        if (console.Terminal && !json)
        {
            // Refreshed in place: a live display re-rendered on every event (and after each re-fetch of the status).
            await ansi.Live(StatusRendering.View(status)).StartAsync(async live =>
            {
                await FollowAsync(client, follow: true, async (e, ct) =>
                {
                    var fresh = await CallAsync(c => client.GetStatusAsync(new StatusRequest(), c), ct).ConfigureAwait(false);
                    live.UpdateTarget(StatusRendering.View(fresh));
                    live.Refresh();
                }, cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return ExitCodes.Done;
        }

        // Not a terminal (or JSON): the whole view again after every event (but the first snapshot: that state was just shown).
        Show(status, json);
        var first = true;
        await FollowAsync(client, follow: true, async (e, ct) =>
        {
            if (first && e.Kind == "Snapshot" && !e.Gap)
            {
                first = false;
                return;
            }

            first = false;
            var fresh = await CallAsync(c => client.GetStatusAsync(new StatusRequest(), c), ct).ConfigureAwait(false);
            if (!json)
            {
                await console.Out.WriteLineAsync($"--- after #{e.Sequence} {e.Kind}").ConfigureAwait(false);
            }

            Show(fresh, json);
        }, cancellationToken).ConfigureAwait(false);
        return ExitCodes.Done;
    }

    /// <summary><c>hakit standby on|off</c>.</summary>
    public Task<int> StandbyAsync(bool on, CancellationToken cancellationToken) =>
        CommandAsync(c => c.SetStandbyAsync(new SetStandbyRequest { Standby = on }, Options(cancellationToken)), cancellationToken);

    /// <summary><c>hakit switchover GROUP [--to NODE]</c>.</summary>
    public Task<int> SwitchoverAsync(string group, string? to, CancellationToken cancellationToken) =>
        CommandAsync(c => c.SwitchoverAsync(new SwitchoverRequest { Group = group, Target = to ?? "" }, Options(cancellationToken)), cancellationToken);

    /// <summary><c>hakit takeover GROUP [--force]</c>.</summary>
    public Task<int> TakeoverAsync(string group, bool force, CancellationToken cancellationToken) =>
        CommandAsync(c => c.TakeoverAsync(new TakeoverRequest { Group = group, Force = force }, Options(cancellationToken)), cancellationToken);

    /// <summary><c>hakit maintenance GROUP on|off</c>.</summary>
    public Task<int> MaintenanceAsync(string group, bool on, CancellationToken cancellationToken) =>
        CommandAsync(c => c.SetMaintenanceAsync(new SetMaintenanceRequest { Group = group, Maintenance = on }, Options(cancellationToken)), cancellationToken);

    /// <summary><c>hakit cleanup GROUP</c>.</summary>
    public Task<int> CleanupAsync(string group, CancellationToken cancellationToken) =>
        CommandAsync(c => c.CleanupAsync(new CleanupRequest { Group = group }, Options(cancellationToken)), cancellationToken);

    /// <summary><c>hakit confirm-down NODE</c>.</summary>
    public Task<int> ConfirmDownAsync(string node, CancellationToken cancellationToken) =>
        CommandAsync(c => c.ConfirmDownAsync(new ConfirmDownRequest { Node = node }, Options(cancellationToken)), cancellationToken);

    /// <summary>
    /// <c>hakit events [--follow] [--json]</c>: the snapshot, then every event with its sequence number. Without <c>--follow</c> it
    /// stops once the stream has been quiet for <see cref="EventsIdle"/>; with it, it runs until interrupted and reconnects a dropped
    /// stream from the last sequence it printed.
    /// </summary>
    public async Task<int> EventsAsync(bool follow, bool json, CancellationToken cancellationToken)
    {
        using var channel = Open();
        var client = new ClusterAdmin.ClusterAdminClient(channel);
        await FollowAsync(client, follow, (e, _) =>
        {
            console.Out.WriteLine(json ? StatusRendering.Json(e) : StatusRendering.Line(e));
            console.Out.Flush();
            return Task.CompletedTask;
        }, cancellationToken).ConfigureAwait(false);
        return ExitCodes.Done;
    }

    /// <summary>
    /// Reads the watch stream and hands every new event to <paramref name="onEvent"/>. The first event must arrive within the
    /// timeout (else the node is unreachable). A dropped stream is reconnected with the node incarnation and the last sequence seen,
    /// so the node replays what was missed; a snapshot with <c>gap</c> set says events were lost, and a line says so.
    /// Without <paramref name="follow"/>, returns once the stream has been quiet for <see cref="EventsIdle"/> or ends.
    /// </summary>
    internal async Task FollowAsync(ClusterAdmin.ClusterAdminClient client, bool follow, Func<WatchEvent, CancellationToken, Task> onEvent, CancellationToken cancellationToken)
    {
        ulong incarnation = 0;
        ulong last = 0;
        var connected = false;
        var delay = ReconnectDelay;
        var lost = false; // a "stream lost" line was printed and no event has come since: say it once per outage
        while (!cancellationToken.IsCancellationRequested)
        {
            string why;
            try
            {
                using var call = client.Watch(new WatchRequest { Incarnation = incarnation, AfterSequence = last }, cancellationToken: cancellationToken);
                var first = true;
                while (true)
                {
                    // The first connection must answer within the timeout (the node sends its snapshot at once). A resumed stream
                    // sends only what was missed, possibly nothing yet, so it is not timed; HTTP/2 pings notice a dead connection.
                    var wait = first && !connected ? target.Timeout : follow ? Timeout.InfiniteTimeSpan : EventsIdle;
                    var next = await MoveNextAsync(call.ResponseStream, wait, cancellationToken).ConfigureAwait(false);
                    if (next is null)
                    {
                        if (first)
                        {
                            throw new CliException(ExitCodes.Unreachable, $"{target.Endpoint.Text}: the watch stream sent nothing within {Seconds(target.Timeout)}");
                        }

                        return; // quiet for EventsIdle (not following)
                    }

                    if (next == false)
                    {
                        why = "the node ended the stream";
                        break;
                    }

                    var e = call.ResponseStream.Current;
                    first = false;
                    delay = ReconnectDelay;
                    connected = true;
                    if (lost)
                    {
                        lost = false;
                        await console.Error.WriteLineAsync($"reconnected to {target.Endpoint.Text}").ConfigureAwait(false);
                    }

                    var isSnapshot = e.Snapshot is not null || e.Kind == "Snapshot";
                    if (isSnapshot && e.Gap)
                    {
                        await console.Error.WriteLineAsync(incarnation != 0 && e.Incarnation != incarnation
                            ? $"GAP: the node restarted (incarnation {incarnation} -> {e.Incarnation}); events after #{last} of incarnation {incarnation} are lost; the snapshot below is the state now"
                            : $"GAP: the node no longer holds the events after #{last}; they are lost; the snapshot below is the state now").ConfigureAwait(false);
                    }
                    else if (!isSnapshot && e.Incarnation == incarnation && e.Sequence <= last)
                    {
                        continue; // already seen (replayed after a reconnect)
                    }

                    incarnation = e.Incarnation;
                    if (e.Sequence > 0 || isSnapshot)
                    {
                        last = Math.Max(isSnapshot && e.Gap ? 0 : last, e.Sequence);
                    }

                    await onEvent(e, cancellationToken).ConfigureAwait(false);
                }
            }
            // ResourceExhausted: the node dropped this watcher for reading too slowly; resuming gets what was missed.
            catch (RpcException ex) when (!cancellationToken.IsCancellationRequested && (ex.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Aborted or StatusCode.Unknown or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted || NeverReachedTheNode(ex)))
            {
                if (!connected)
                {
                    throw Unreachable(ex);
                }

                why = $"{ex.StatusCode}: {ex.Status.Detail}";
            }
            catch (RpcException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            if (!follow)
            {
                return;
            }

            if (!lost)
            {
                lost = true;
                await console.Error.WriteLineAsync($"stream lost ({why}); reconnecting to {target.Endpoint.Text} after #{last} (incarnation {incarnation})").ConfigureAwait(false);
            }

            try
            {
                await Task.Delay(delay, TimeProvider.System, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = delay * 2 > MaxReconnectDelay ? MaxReconnectDelay : delay * 2;
        }
    }

    /// <summary>Maps a failed call to an exit code: unreachable (3) for no connection or no answer in time, else refused (1).</summary>
    internal CliException Failure(RpcException ex) => ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded || NeverReachedTheNode(ex)
        ? Unreachable(ex)
        : new CliException(ExitCodes.Refused, $"refused by {target.Endpoint.Text}: {ex.StatusCode}: {ex.Status.Detail}");

    /// <summary>The call failed in the transport (connection, TLS handshake) before the node could answer.</summary>
    private static bool NeverReachedTheNode(RpcException ex)
    {
        for (var e = ex.Status.DebugException; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException or System.Security.Authentication.AuthenticationException or System.Net.Sockets.SocketException)
            {
                return true;
            }
        }

        return false;
    }

    private CliException Unreachable(RpcException ex)
    {
        if (ex.StatusCode == StatusCode.DeadlineExceeded)
        {
            return new CliException(ExitCodes.Unreachable, $"node unreachable at {target.Endpoint.Text}: no answer within {Seconds(target.Timeout)}");
        }

        // The innermost cause says it best ("Connection refused", "Permission denied"); gRPC's own text names localhost:80 for a Unix socket.
        Exception? innermost = ex.Status.DebugException;
        while (innermost?.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        var reason = innermost?.Message ?? ex.Status.Detail;
        var hint = innermost is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused } && target.Endpoint.SocketPath is not null
            ? " (the socket file is there but no node listens on it: is the node running?)"
            : innermost is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AccessDenied }
                ? " (the socket is the node's user's only: run as that user or root)"
                : innermost is System.Security.Authentication.AuthenticationException || ex.Status.DebugException?.InnerException is System.Security.Authentication.AuthenticationException
                    ? " (TLS: check --ca against the node's certificate, and --cert/--key against what the node accepts)"
                    : "";
        return new CliException(ExitCodes.Unreachable, $"node unreachable at {target.Endpoint.Text}: {reason}{hint}");
    }

    private static string Seconds(TimeSpan t) => $"{t.TotalSeconds:0.###} s";

    /// <summary>The next message: true, false at the end of the stream, null when none came within <paramref name="wait"/>.</summary>
    private static async Task<bool?> MoveNextAsync(IAsyncStreamReader<WatchEvent> stream, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (wait == Timeout.InfiniteTimeSpan)
        {
            return await stream.MoveNext(cancellationToken).ConfigureAwait(false);
        }

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(wait);
        try
        {
            return await stream.MoveNext(bounded.Token).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && bounded.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (OperationCanceledException) when (bounded.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task<int> CommandAsync(Func<ClusterAdmin.ClusterAdminClient, AsyncUnaryCall<CommandReply>> send, CancellationToken cancellationToken)
    {
        using var channel = Open();
        var client = new ClusterAdmin.ClusterAdminClient(channel);
        var reply = await CallAsync(_ => send(client), cancellationToken).ConfigureAwait(false);
        var by = reply.HandledBy.Length > 0 ? $" (decided by {reply.HandledBy})" : "";
        if (!reply.Accepted)
        {
            await console.Error.WriteLineAsync($"refused{by}: {(reply.Message.Length > 0 ? reply.Message : "(the node gave no reason)")}").ConfigureAwait(false);
            return ExitCodes.Refused;
        }

        await console.Out.WriteLineAsync($"accepted{by}: {(reply.Message.Length > 0 ? reply.Message : "done")}").ConfigureAwait(false);
        return ExitCodes.Done;
    }

    private async Task<T> CallAsync<T>(Func<CallOptions, AsyncUnaryCall<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(Options(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failure(ex);
        }
    }

    private CallOptions Options(CancellationToken cancellationToken) =>
        new(deadline: TimeProvider.System.GetUtcNow().UtcDateTime + target.Timeout, cancellationToken: cancellationToken);

    private global::Grpc.Net.Client.GrpcChannel Open()
    {
        if (target.Endpoint.SocketPath is not null && (target.Tls.CertificateFile ?? target.Tls.KeyFile ?? target.Tls.CaFile) is not null)
        {
            throw new CliException(ExitCodes.Usage, $"--cert/--key/--ca are for https endpoints; {target.Endpoint.Text} is a Unix socket (its file mode decides who may use it)");
        }

        if (target.Endpoint.SocketPath is { } path && !File.Exists(path))
        {
            throw new CliException(ExitCodes.Unreachable, $"node unreachable at {target.Endpoint.Text}: no socket at {path} (is the node running, and is this its state directory?)");
        }

        return AdminConnection.Create(target.Endpoint, target.Tls, target.Timeout);
    }

    private void Show(StatusReply status, bool json)
    {
        if (json)
        {
            console.Out.WriteLine(StatusRendering.Json(status));
            console.Out.Flush();
            return;
        }

        CreateAnsi().Write(StatusRendering.View(status));
        console.Out.Flush();
    }

    private IAnsiConsole CreateAnsi()
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(console.Out),
            Ansi = console.Terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = console.Terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = console.Terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!console.Terminal)
        {
            ansi.Profile.Width = 160;
        }

        return ansi;
    }
}
