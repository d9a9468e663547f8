namespace HaKit.Hosting;

/// <summary>Where the hosted node is in its life, as the hosted service saw it (read by the health check).</summary>
internal enum HostedNodeState
{
    /// <summary>The host has not started the node.</summary>
    NotStarted,

    /// <summary>Binding links, loading state.</summary>
    Starting,

    /// <summary>Started.</summary>
    Running,

    /// <summary>Handing groups over before the host exits.</summary>
    Stopping,

    /// <summary>Stopped.</summary>
    Stopped,

    /// <summary>Start-up failed.</summary>
    Failed,
}

/// <summary>The hosted node's state, shared by the hosted service and the health check.</summary>
internal sealed class NodeLifetime
{
    private volatile int _state;

    public HostedNodeState State
    {
        get => (HostedNodeState)_state;
        set => _state = (int)value;
    }
}
