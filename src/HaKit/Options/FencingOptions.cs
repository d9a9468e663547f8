namespace HaKit;

/// <summary>Fencing settings.</summary>
public sealed class FencingOptions
{
    /// <summary>Timeout of one fence agent call. <value>Default 60 s.</value></summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Delay before retrying after every agent failed. <value>Default 5 s.</value></summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Built-in fence agents (<see cref="FenceAgentType.Script"/>, <see cref="FenceAgentType.Http"/>) as fencing levels: tried in
    /// list order, before the agents registered in code (<see cref="ClusterNodeServices.FenceAgents"/>). <value>Default: none.</value>
    /// </summary>
    public List<FenceAgentOptions> Agents { get; set; } = [];

    /// <summary>Checks the timeouts and every agent. <paramref name="nodeNames"/> are the configured nodes.</summary>
    internal void Validate(OptionsPath path, IReadOnlySet<string> nodeNames)
    {
        path.Positive(nameof(Timeout), Timeout);
        path.Positive(nameof(RetryInterval), RetryInterval);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Agents.Count; i++)
        {
            var agent = path[nameof(Agents)][i];
            if (Agents[i] is null)
            {
                agent.Error(null, "an agent entry needs at least Name and Type");
                continue;
            }

            Agents[i].Validate(agent, names, nodeNames);
        }
    }
}
