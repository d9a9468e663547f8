using System.Globalization;
using System.Net;
using HaKit.Wire;

namespace HaKit.Witness;

/// <summary>Validates <see cref="WitnessOptions"/>: every error names the configuration key, the bad value and the fix.</summary>
public static class WitnessOptionsValidator
{
    /// <summary>The largest <see cref="WitnessOptions.MaxLeaseTtl"/> accepted (the witness grants nothing this long after every start).</summary>
    public static readonly TimeSpan MaxLeaseTtlLimit = TimeSpan.FromHours(1);

    /// <summary>The largest <see cref="WitnessOptions.MaxGroupsPerCluster"/> accepted.</summary>
    public const int MaxGroupsPerClusterLimit = 100_000;

    /// <summary>Returns every problem found in <paramref name="options"/> (empty when valid).</summary>
    /// <param name="options">The options to check.</param>
    /// <returns>One line per problem: <c>key = value: fix</c>.</returns>
    public static IReadOnlyList<string> Validate(WitnessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = WitnessOptions.Section;
        var errors = new List<string>(options.BindingErrors);
        void Error(string key, string shown, string fix) => errors.Add($"{S}:{key} = {shown}: {fix}");

        if (string.IsNullOrWhiteSpace(options.Name))
        {
            Error(nameof(options.Name), Show(options.Name), "must not be empty; it is the sender name of the witness's replies (the nodes' HaKit:Arbiter:Witness:Name, default witness)");
        }

        if (!TryParseListen(options.Listen, out _))
        {
            Error(nameof(options.Listen), Show(options.Listen), "expects an IP address and a port, such as 0.0.0.0:5405 (every IPv4 address), 10.0.0.9:5405 or [::]:5405; host names are not accepted");
        }

        if (options.MaxLeaseTtl <= TimeSpan.Zero || options.MaxLeaseTtl > MaxLeaseTtlLimit)
        {
            Error(nameof(options.MaxLeaseTtl), Show(options.MaxLeaseTtl.ToString("c", CultureInfo.InvariantCulture)), "must be positive and at most 01:00:00, e.g. 00:00:30 (a bare 30 means 30 days); it must be at least the nodes' HaKit:Arbiter:LeaseTtl, and the witness grants nothing for this long after every start");
        }

        if (options.MaxGroupsPerCluster is < 1 or > MaxGroupsPerClusterLimit)
        {
            Error(nameof(options.MaxGroupsPerCluster), options.MaxGroupsPerCluster.ToString(CultureInfo.InvariantCulture), $"must be between 1 and {MaxGroupsPerClusterLimit.ToString(CultureInfo.InvariantCulture)} (default 1024); it bounds the groups of one cluster the witness keeps an epoch for, and a state file of that many groups is rewritten before every grant that raises an epoch");
        }

        if (string.IsNullOrWhiteSpace(options.StateDirectory))
        {
            Error(nameof(options.StateDirectory), Show(options.StateDirectory), "set a directory the witness may write, e.g. /var/lib/hakit-witness; the highest epoch of every group is kept there across restarts");
        }

        if (options.Clusters is null || options.Clusters.Count == 0)
        {
            Error(nameof(options.Clusters), "(none)", $"serve at least one cluster: add {S}:Clusters:0:Name (the nodes' HaKit:ClusterName), {S}:Clusters:0:Nodes (their node names) and {S}:Clusters:0:Auth (their HaKit:Auth keys)");
            return errors;
        }

        var clusterNames = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.Clusters.Count; i++)
        {
            var c = options.Clusters[i];
            var key = $"Clusters:{i}";
            if (c is null)
            {
                Error(key, "(empty)", "remove the empty entry or give it a Name, Nodes and Auth");
                continue;
            }

            if (string.IsNullOrWhiteSpace(c.Name))
            {
                Error($"{key}:Name", Show(c.Name), "must not be empty: use the nodes' HaKit:ClusterName");
            }
            else if (clusterNames.TryGetValue(c.Name, out var first))
            {
                Error($"{key}:Name", Show(c.Name), $"{S}:Clusters:{first}:Name already uses it; cluster names must be unique (requests are routed by cluster name)");
            }
            else
            {
                clusterNames.Add(c.Name, i);
            }

            ValidateNodes(options, c, key, Error);
            ValidateKeys(c, key, errors);
        }

        return errors;
    }

    /// <summary>Parses <c>ip:port</c> (IPv6 in brackets); the port must be written.</summary>
    /// <param name="text">The text.</param>
    /// <param name="endpoint">The endpoint.</param>
    /// <returns>Whether <paramref name="text"/> is valid.</returns>
    public static bool TryParseListen(string? text, out IPEndPoint endpoint)
    {
        endpoint = new IPEndPoint(IPAddress.Any, 0);
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var colon = text.LastIndexOf(':');
        var bracket = text.LastIndexOf(']');
        var hasPort = text.StartsWith('[') ? bracket > 0 && colon == bracket + 1 : colon > 0 && text.IndexOf(':') == colon;
        if (!hasPort || colon == text.Length - 1 || !IPEndPoint.TryParse(text, out var parsed))
        {
            return false;
        }

        endpoint = parsed;
        return true;
    }

    private static void ValidateNodes(WitnessOptions options, WitnessClusterOptions c, string key, Action<string, string, string> error)
    {
        var nodes = c.Nodes ?? [];
        if (nodes.Count < 2)
        {
            error($"{key}:Nodes", $"({nodes.Count} node(s))", "list the cluster's nodes, at least two (the nodes' HaKit:Nodes names); the witness answers only them");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var j = 0; j < nodes.Count; j++)
        {
            var n = nodes[j];
            if (string.IsNullOrWhiteSpace(n))
            {
                error($"{key}:Nodes:{j}", Show(n), "every node needs a non-empty name");
            }
            else if (!seen.Add(n))
            {
                error($"{key}:Nodes:{j}", Show(n), "the node is listed twice; node names must be unique");
            }
            else if (string.Equals(n, options.Name, StringComparison.Ordinal))
            {
                error(nameof(options.Name), Show(options.Name), $"is also a node of cluster {Show(c.Name)} ({WitnessOptions.Section}:{key}:Nodes:{j}): replies are signed under the witness's name, so it must differ from every node name; rename the witness (and set HaKit:Arbiter:Witness:Name on the nodes to match)");
            }
        }
    }

    private static void ValidateKeys(WitnessClusterOptions c, string key, List<string> errors)
    {
        try
        {
            using var ring = new AuthKeyRing(c.Auth ?? new AuthOptions());
        }
        catch (ArgumentException ex)
        {
            // The ring names keys under HaKit:Auth; these are the cluster's keys under HaKit:Witness:Clusters:i:Auth.
            var message = ex.Message;
            var paramSuffix = $" (Parameter '{ex.ParamName}')";
            if (ex.ParamName is not null && message.EndsWith(paramSuffix, StringComparison.Ordinal))
            {
                message = message[..^paramSuffix.Length];
            }

            errors.Add(message.Replace("HaKit:Auth:", $"{WitnessOptions.Section}:{key}:Auth:", StringComparison.Ordinal) + " (use the same keys as the cluster's nodes, HaKit:Auth)");
        }
    }

    private static string Show(string? value) => value is null ? "(null)" : $"'{value}'";
}
