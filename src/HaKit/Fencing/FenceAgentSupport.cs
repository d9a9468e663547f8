using Microsoft.Extensions.Logging;

namespace HaKit.Fencing;

/// <summary>Helpers shared by the built-in fence agents.</summary>
internal static class FenceAgentSupport
{
    /// <summary>The result for a node outside the agent's <see cref="FenceAgentOptions.Nodes"/> list, or <see langword="null"/> when the agent covers it.</summary>
    public static FenceResult? NotFor(IReadOnlyList<string> nodes, string node) =>
        nodes.Count > 0 && !nodes.Contains(node, StringComparer.Ordinal) ? new FenceResult(false, $"not for node {node} (fences only {string.Join(", ", nodes)})") : null;

    /// <summary>Builds the configured built-in agents (<see cref="FencingOptions.Agents"/>) in order.</summary>
    public static IReadOnlyList<IFenceAgent> Create(HaKitOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider) =>
        options.Fencing.Agents.Select(a => a.Type switch
        {
            FenceAgentType.Script => (IFenceAgent)new ScriptFenceAgent(a, options.ClusterName, loggerFactory.CreateLogger<ScriptFenceAgent>(), timeProvider),
            FenceAgentType.Http => new HttpFenceAgent(a, options.ClusterName, null, loggerFactory.CreateLogger<HttpFenceAgent>(), timeProvider),
            _ => throw new HaKitConfigurationException([$"{HaKitOptionsValidator.Section}:Fencing:Agents:{options.Fencing.Agents.IndexOf(a)}:Type = {a.Type}: one of Script, Http"]),
        }).ToArray();
}
