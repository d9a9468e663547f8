using System.Security.Cryptography;
using HaKit.Hosting;
using Microsoft.Extensions.Configuration;

namespace HaKit.Cli;

/// <summary>
/// <c>hakit config check FILE [--node NAME]</c>: binds and validates the file's <c>HaKit</c> section the way a node does at start-up
/// (<see cref="HaKitOptionsBinder"/>: unknown keys and values that do not convert, then <see cref="HaKitOptionsValidator"/>; and
/// <c>HaKit:Replication</c> when present, by HaKit.Replication's own start-up rules), as the
/// node named by <c>--node</c> or <c>HaKit:NodeName</c>, or as every node in <c>HaKit:Nodes</c> when neither names one. Other sections
/// are ignored. Resources, fence agents and an Etcd lease store are registered in the application's code, so only the node can check
/// those; the tool checks everything the file decides.
/// </summary>
internal static class ConfigCheck
{
    /// <summary>Checks <paramref name="file"/>; prints every error (key, value, fix) and each node's timing budget. Exit 0 valid, 1 invalid.</summary>
    public static int Run(CliConsole console, string file, string? node)
    {
        if (!File.Exists(file))
        {
            throw new CliException(ExitCodes.Usage, $"config check {file}: file not found ({Path.GetFullPath(file)})");
        }

        var configuration = ConfigFile.Load(file);
        var section = configuration.GetSection(HaKitOptionsValidator.Section);
        if (!section.Exists())
        {
            console.Error.WriteLine($"{file}: no {HaKitOptionsValidator.Section} section; a node's configuration is a {{ \"{HaKitOptionsValidator.Section}\": {{ ... }} }} document (hakit import heartbeat writes one)");
            return ExitCodes.Refused;
        }

        var configured = section[nameof(HaKitOptions.NodeName)];
        List<string?> nodes = !string.IsNullOrWhiteSpace(node) ? [node]
            : !string.IsNullOrWhiteSpace(configured) ? [configured]
            : section.GetSection(nameof(HaKitOptions.Nodes)).GetChildren().Select(n => n[nameof(NodeOptions.Name)]).Where(n => !string.IsNullOrWhiteSpace(n)).ToList();
        if (nodes.Count == 0)
        {
            nodes.Add(null); // nothing to pick: validation names the missing NodeName and Nodes
        }

        var invalid = false;
        foreach (var name in nodes)
        {
            var (errors, options) = Validate(configuration, name);
            var label = name is null ? "" : $" as node {name}";
            if (errors.Count > 0)
            {
                invalid = true;
                console.Out.WriteLine($"{file}{label}: INVALID, {errors.Count} error{(errors.Count == 1 ? "" : "s")}:");
                foreach (var error in errors)
                {
                    console.Out.WriteLine("  - " + error);
                }

                continue;
            }

            var resources = options.Groups.ToDictionary(g => g.Name, g => Math.Max(1, g.Resources.Count), StringComparer.Ordinal);
            var budget = TimingBudget.From(options, resources, fencing: options.Fencing.Agents.Count > 0);
            console.Out.WriteLine($"{file}{label}: valid");
            console.Out.WriteLine($"  timing budget: {budget}");
        }

        if (!invalid)
        {
            console.Out.WriteLine("  (resources, fence agents and lease stores registered in the application's code are checked by the node at start-up)");
        }

        return invalid ? ExitCodes.Refused : ExitCodes.Done;
    }

    /// <summary>Binds and validates as the node <paramref name="node"/> would (<see langword="null"/>: as the file says).</summary>
    internal static (IReadOnlyList<string> Errors, HaKitOptions Options) Validate(IConfiguration configuration, string? node)
    {
        var options = new HaKitOptions();
        HaKitOptionsBinder.Bind(options, configuration, HaKitOptionsValidator.Section);
        if (node is not null)
        {
            options.NodeName = node; // as --HaKit:NodeName=<node> on the node's command line
        }

        var errors = new List<string>(HaKitOptionsBinder.ErrorsOf(options));
        errors.AddRange(HaKitOptionsValidator.Validate(options, HaKitOptionsValidator.Section));
        var replication = configuration.GetSection($"{HaKitOptionsValidator.Section}:Replication");
        if (replication.Exists())
        {
            // HaKit.Replication's section (UseReplication): its node-dependent checks only when the node's own options hold.
            errors.AddRange(HaKit.Replication.ReplicationHostSetup.ValidateConfigured(replication, errors.Count == 0 ? options : null,
                $"{HaKitOptionsValidator.Section}:Nodes"));
        }

        return (errors, options);
    }
}

/// <summary><c>hakit keygen [--id N]</c>: a new key for <c>HaKit:Auth:Keys</c>.</summary>
internal static class KeyGen
{
    /// <summary>Prints <c>{ "Id": N, "Secret": "&lt;base64 of 32 random bytes&gt;" }</c> on standard output, and how to use it on standard error.</summary>
    public static int Run(CliConsole console, uint id)
    {
        if (id < AuthKeyOptions.IdMin)
        {
            throw new CliException(ExitCodes.Usage, $"--id {id}: key ids start at {AuthKeyOptions.IdMin}");
        }

        console.Out.WriteLine(Line(id, Convert.ToBase64String(RandomNumberGenerator.GetBytes(AuthKeyOptions.SecretMinBytes))));
        console.Error.WriteLine($"add it to HaKit:Auth:Keys on every node (set HaKit:Auth:SendKeyId to {id} once every node has it); keep the file readable by the node's user only");
        return ExitCodes.Done;
    }

    /// <summary>The key as a JSON object in the form <c>HaKit:Auth:Keys</c> entries use.</summary>
    internal static string Line(uint id, string secret) => $"{{ \"Id\": {id}, \"Secret\": \"{secret}\" }}";
}
