using System.CommandLine;
using Grpc.Core;

namespace HaKit.Cli;

/// <summary>The <c>hakit</c> command line: parsing (System.CommandLine), dispatch and exit codes.</summary>
internal static class CliApp
{
    /// <summary>Default bound on connecting and on every call.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private static readonly string[] OnOff = ["on", "off"];

    /// <summary>Parses <paramref name="args"/> and runs the command. Returns the exit code (<see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken)
    {
        var root = Build(console);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not { ClearsParseErrors: true })
        {
            foreach (var error in parse.Errors)
            {
                await console.Error.WriteLineAsync(error.Message).ConfigureAwait(false);
            }

            await console.Error.WriteLineAsync("usage: hakit --help").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync(new InvocationConfiguration { Output = console.Out, Error = console.Error, EnableDefaultExceptionHandler = false }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The command tree.</summary>
    internal static RootCommand Build(CliConsole console)
    {
        var endpoint = new Option<string>("--endpoint", "-e") { Description = "The node's admin endpoint: unix:/path/to/<node>.admin.sock or https://host:port. Default: the local node's socket, from --config", Recursive = true };
        var config = new Option<string>("--config", "-c") { Description = $"The node's configuration file (to find its socket; default ./{LocalEndpoint.DefaultConfigFile})", Recursive = true };
        var node = new Option<string>("--node", "-n") { Description = "The node's name when the configuration file does not set HaKit:NodeName (config check: check as this node)", Recursive = true };
        var cert = new Option<string>("--cert") { Description = "https: client certificate (PEM) for mutual TLS", Recursive = true };
        var key = new Option<string>("--key") { Description = "https: the client certificate's private key (PEM)", Recursive = true };
        var ca = new Option<string>("--ca") { Description = "https: certificate(s) of the authority that signed the node's certificate (PEM); default: the system's roots", Recursive = true };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the node (connecting, and every call)", DefaultValueFactory = _ => DefaultTimeout.TotalSeconds, Recursive = true };
        timeout.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is <= 0 or > 3600)
            {
                r.AddError("--timeout must be more than 0 and at most 3600 seconds");
            }
        });

        var root = new RootCommand("Operate a HaKit cluster: status, standby, switchover, takeover, maintenance, cleanup, confirm-down, events; check a configuration, make a key, import a Heartbeat configuration. Exit codes: 0 done, 1 refused, 2 usage error, 3 node unreachable.")
        {
            endpoint, config, node, cert, key, ca, timeout,
        };

        AdminTarget Target(ParseResult p)
        {
            var e = p.GetValue(endpoint) is { } text ? AdminEndpoint.Parse(text) : LocalEndpoint.Resolve(p.GetValue(config), p.GetValue(node));
            return new AdminTarget(e, new TlsFiles(p.GetValue(cert), p.GetValue(key), p.GetValue(ca)), TimeSpan.FromSeconds(p.GetValue(timeout)));
        }

        void Online(Command command, Func<AdminCommands, ParseResult, CancellationToken, Task<int>> action)
        {
            command.SetAction((p, ct) => Guard(console, () => action(new AdminCommands(console, Target(p)), p, ct)));
            root.Add(command);
        }

        var json = new Option<bool>("--json") { Description = "Print JSON (status: one object; events: one object per line)" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Keep the view up to date from the node's event stream (Ctrl-C to stop)" };
        Online(new Command("status", "The node's view: groups (role, epoch, owner, eligibility, ban, maintenance), peers and their links, arbiter, timing budget (crm_mon, cl_status)") { json, watch },
            (a, p, ct) => a.StatusAsync(p.GetValue(json), p.GetValue(watch), ct));

        var standbyState = OnOffArgument("state", "on: hand every group away and take none; off: eligible again");
        Online(new Command("standby", "Standby on/off for the node (hb_standby, crm node standby)") { standbyState },
            (a, p, ct) => a.StandbyAsync(p.GetValue(standbyState) == "on", ct));

        var group = new Argument<string>("group") { Description = "The group's name (HaKit:Groups:i:Name)" };
        var to = new Option<string>("--to") { Description = "The node to move it to (default: the best other eligible node)" };
        Online(new Command("switchover", "Move a group gracefully to another node (crm resource move)") { group, to },
            (a, p, ct) => a.SwitchoverAsync(p.GetValue(group)!, p.GetValue(to), ct));

        var force = new Option<bool>("--force")
        {
            Description = "Also start it here when this node's replicated data is behind (marked outdated, or lagging more than MaxLagOnFailover): writes the old owner acknowledged beyond this node's log are LOST; clears the group's failures here; logged as a warning (drbdadm primary --force)",
        };
        Online(new Command("takeover", "Ask the owner to hand a group to this node (hb_takeover); refused when the owner cannot be reached unless it was confirmed down") { group, force },
            (a, p, ct) => a.TakeoverAsync(p.GetValue(group)!, p.GetValue(force), ct));

        var maintenanceState = OnOffArgument("state", "on: leave the group's resources as they are, unmonitored and unmoved; off: manage them again");
        Online(new Command("maintenance", "Maintenance on/off for a group (crm resource maintenance)") { group, maintenanceState },
            (a, p, ct) => a.MaintenanceAsync(p.GetValue(group)!, p.GetValue(maintenanceState) == "on", ct));

        Online(new Command("cleanup", "Clear a group's failures on the node (crm resource cleanup)") { group },
            (a, p, ct) => a.CleanupAsync(p.GetValue(group)!, ct));

        var downNode = new Argument<string>("node") { Description = "The node you have made sure is down (powered off, fenced by hand)" };
        Online(new Command("confirm-down", "Confirm a node is down so its groups may start elsewhere (stonith_admin --confirm)") { downNode },
            (a, p, ct) => a.ConfirmDownAsync(p.GetValue(downNode)!, ct));

        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing events until interrupted; a dropped stream is reconnected without missing events" };
        Online(new Command("events", "The node's sequenced events: the current state as a snapshot, then every event with its sequence number. Without --follow: stops once the stream is quiet for 1 s") { follow, json },
            (a, p, ct) => a.EventsAsync(p.GetValue(follow), p.GetValue(json), ct));

        var file = new Argument<string>("file") { Description = "The configuration file (JSON with a HaKit section)" };
        var check = new Command("check", "Validate a configuration offline as the node would (as --node, HaKit:NodeName, or every node listed); print every error by key, value and fix, and the timing budget. Exit 1 when invalid") { file };
        check.SetAction((p, _) => Guard(console, () => Task.FromResult(ConfigCheck.Run(console, p.GetValue(file)!, p.GetValue(node)))));
        root.Add(new Command("config", "Offline configuration tools") { check });

        var id = new Option<uint>("--id") { Description = "The key's id (HaKit:Auth:Keys:i:Id)", DefaultValueFactory = _ => 1 };
        var keygen = new Command("keygen", "Print a new auth key for HaKit:Auth:Keys ({ \"Id\": 1, \"Secret\": \"<base64 of 32 random bytes>\" })") { id };
        keygen.SetAction((p, _) => Guard(console, () => Task.FromResult(KeyGen.Run(console, p.GetValue(id)))));
        root.Add(keygen);

        var dir = new Argument<string>("dir") { Description = "The directory holding ha.cf, haresources and authkeys (usually /etc/ha.d)" };
        var output = new Option<string>("--out", "-o") { Description = "Write the HaKit configuration to this file (mode 0600) instead of standard output" };
        var pingPort = new Option<int?>("--ping-port") { Description = "TCP port to probe on each Heartbeat ping node (HaKit checks reachability by TCP connect, not ICMP)" };
        var heartbeat = new Command("heartbeat", "Convert a Heartbeat ha.cf, haresources and authkeys into a HaKit configuration; every directive that cannot be mapped is a warning") { dir, output, pingPort };
        heartbeat.SetAction((p, _) => Guard(console, () => Task.FromResult(HeartbeatImport.Run(console, p.GetValue(dir)!, p.GetValue(output), p.GetValue(pingPort)))));
        root.Add(new Command("import", "Import another cluster manager's configuration") { heartbeat });
        return root;
    }

    private static Argument<string> OnOffArgument(string name, string description)
    {
        var argument = new Argument<string>(name) { Description = description };
        argument.AcceptOnlyFromAmong(OnOff);
        return argument;
    }

    /// <summary>Runs an action: a <see cref="CliException"/> becomes its message and exit code; Ctrl-C ends quietly.</summary>
    private static async Task<int> Guard(CliConsole console, Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (CliException ex)
        {
            await console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return ex.ExitCode;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled)
        {
            return ExitCodes.Done;
        }
        catch (RpcException ex)
        {
            // A failure not mapped where it happened (e.g. the node ended an event stream with an error).
            var unreachable = ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded;
            await console.Error.WriteLineAsync($"{(unreachable ? "node unreachable" : "refused")}: {ex.StatusCode}: {ex.Status.Detail}").ConfigureAwait(false);
            return unreachable ? ExitCodes.Unreachable : ExitCodes.Refused;
        }
        catch (OperationCanceledException)
        {
            return ExitCodes.Done;
        }
    }
}
