using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>A group's runtime on one simulated node: the machine, the ownership token, the action in flight.</summary>
internal sealed class GroupRuntime(GroupOptions options, IResource[] resources, ResourceGroupMachine machine)
{
    public GroupOptions Options { get; } = options;

    public IResource[] Resources { get; } = resources;

    public ResourceGroupMachine Machine { get; } = machine;

    public bool[] Running { get; } = new bool[resources.Length];

    public CancellationTokenSource? Ownership { get; set; }

    public CancellationTokenSource? Action { get; set; }

    public ResourceContext Context { get; set; } = new(options.Name, "", 0, new CancellationToken(canceled: true));

    public GroupOp? Current { get; set; }

    public Queue<GroupOp> Waiting { get; } = new();

    public long Serial { get; set; }
}

/// <summary>One group action (start, stop or monitor) as the runtime issued it.</summary>
internal sealed class GroupOp(ResourceAction kind, ulong epoch, CancellationToken token)
{
    public ResourceAction Kind { get; } = kind;

    public ulong Epoch { get; } = epoch;

    /// <summary>Cancelled when the group stops (the runtime's action token); never for stops.</summary>
    public CancellationToken Token { get; } = token;

    public long Serial { get; set; }
}
