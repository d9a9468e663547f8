namespace HaKit;

/// <summary>The kind of a built-in fence agent.</summary>
public enum FenceAgentType
{
    /// <summary><see cref="Fencing.ScriptFenceAgent"/>: runs an executable (<c>&lt;command&gt; [args] off &lt;node&gt;</c>, then <c>status</c>).</summary>
    Script = 1,

    /// <summary><see cref="Fencing.HttpFenceAgent"/>: POSTs to a URL (a power switch, a cloud API gateway), then optionally GETs a status URL.</summary>
    Http = 2,
}

/// <summary>One built-in fence agent (one fencing level), <c>HaKit:Fencing:Agents:&lt;n&gt;</c>.</summary>
public sealed class FenceAgentOptions
{
    /// <summary>Unique agent name, used in logs and fence explanations. <value>Required.</value></summary>
    public string Name { get; set; } = "";

    /// <summary>The agent kind. <value>Required: <c>Script</c> or <c>Http</c>.</value></summary>
    public FenceAgentType? Type { get; set; }

    /// <summary>The nodes this agent can fence (Pacemaker's <c>pcmk_host_list</c>); other nodes are skipped ("not for node x"). <value>Default: empty = every node.</value></summary>
    public List<string> Nodes { get; set; } = [];

    /// <summary>Script: the executable (absolute path recommended). It is run directly, without a shell. <value>Required for Script.</value></summary>
    public string Command { get; set; } = "";

    /// <summary>Script: arguments placed before the action and the node (<c>command args... off node</c>), passed as is (no shell interpretation). <value>Default: none.</value></summary>
    public List<string> Arguments { get; set; } = [];

    /// <summary>Confirm the node is off after a successful fence (Script: run the <c>status</c> action; Http: GET <see cref="StatusUrl"/> when set). <value>Default <see langword="true"/>.</value></summary>
    public bool Confirm { get; set; } = true;

    /// <summary>Http: absolute http/https URL template POSTed to fence; <c>{node}</c> and <c>{cluster}</c> are replaced (URI-escaped). Must contain <c>{node}</c>. <value>Required for Http.</value></summary>
    public string Url { get; set; } = "";

    /// <summary>Http: optional status URL template (GET), confirmed when the JSON body has <c>"state": "off"</c>. <value>Default: none (no confirmation).</value></summary>
    public string StatusUrl { get; set; } = "";

    /// <summary>Http: optional bearer token sent as <c>Authorization: Bearer …</c>; never logged nor shown in explanations. <value>Default: none.</value></summary>
    public string BearerToken { get; set; } = "";

    /// <summary>Checks this agent; adds its name to <paramref name="names"/> (reporting a duplicate). <paramref name="nodeNames"/> are the configured nodes.</summary>
    internal void Validate(OptionsPath path, HashSet<string> names, IReadOnlySet<string> nodeNames)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            path.Error(nameof(Name), Name, "every fence agent needs a unique, non-empty name (used in logs), e.g. ipmi-b");
        }
        else if (!names.Add(Name))
        {
            path.Error(nameof(Name), Name, "duplicate fence agent name; agent names must be unique");
        }

        for (var n = 0; n < Nodes.Count; n++)
        {
            if (!nodeNames.Contains(Nodes[n]))
            {
                path[nameof(Nodes)][n].Error(Nodes[n], $"not in {path.Absolute(nameof(HaKitOptions.Nodes))}; expected one of: {string.Join(", ", nodeNames)}");
            }
        }

        switch (Type)
        {
            case FenceAgentType.Script:
                if (string.IsNullOrWhiteSpace(Command))
                {
                    path.Error(nameof(Command), Command, "required for Type Script: the executable to run as '<command> [args] off|status <node>', e.g. /usr/local/sbin/fence-ipmi");
                }

                break;
            case FenceAgentType.Http:
                CheckUrl(path[nameof(Url)], Url, required: true);
                CheckUrl(path[nameof(StatusUrl)], StatusUrl, required: false);
                break;
            case null:
                path.Error(nameof(Type), null, "required: one of Script, Http");
                break;
            default:
                path.Error(nameof(Type), Type.Value.ToString(), "unknown fence agent type; one of: Script, Http");
                break;
        }
    }

    private static void CheckUrl(OptionsPath path, string url, bool required)
    {
        if (string.IsNullOrEmpty(url) && !required)
        {
            return;
        }

        if (string.IsNullOrEmpty(url))
        {
            path.Error(url, "required for Type Http: an absolute http:// or https:// URL containing {node}, e.g. https://pdu.example/api/outlets/{node}/off");
        }
        else if (!Uri.TryCreate(url.Replace("{node}", "node", StringComparison.Ordinal).Replace("{cluster}", "cluster", StringComparison.Ordinal), UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            path.Error(url, required ? "must be an absolute http:// or https:// URL containing {node}, e.g. https://pdu.example/api/outlets/{node}/off" : "must be an absolute http:// or https:// URL, e.g. https://pdu.example/api/outlets/{node}/status");
        }
        else if (required && !url.Contains("{node}", StringComparison.Ordinal))
        {
            path.Error(url, "must contain the placeholder {node} (replaced by the URI-escaped node name), e.g. https://pdu.example/api/outlets/{node}/off");
        }
    }
}
