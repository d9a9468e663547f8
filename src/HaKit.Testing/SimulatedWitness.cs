using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// Witness mode: the simulated witness process (the third voter), running the real <see cref="LeaseGrantor"/> on its own
/// drifting clock. It keeps the highest epoch per group across crashes (as <c>HaKit.Witness</c> does in its state file) and
/// forgets its leases, so after every start it grants nothing for one lease time.
/// </summary>
public sealed class SimulatedWitness
{
    private readonly Dictionary<string, ulong> _persisted = new(StringComparer.Ordinal);

    internal SimulatedWitness(string name, double rate)
    {
        Name = name;
        Rate = rate;
    }

    /// <summary>The witness's name.</summary>
    public string Name { get; }

    /// <summary>Whether its process runs.</summary>
    public bool IsUp { get; internal set; }

    /// <summary>The rate of its monotonic clock (1 = exact).</summary>
    public double Rate { get; }

    /// <summary>The current process's clock.</summary>
    public SimulatedTimeProvider Clock { get; internal set; } = null!;

    /// <summary>The current process's voter.</summary>
    public LeaseGrantor Grantor { get; internal set; } = null!;

    /// <summary>Durable state: the highest epoch per group.</summary>
    public IReadOnlyDictionary<string, ulong> PersistedEpochs => _persisted;

    /// <summary>How many times its process started.</summary>
    public int Starts { get; internal set; }

    internal int Generation { get; set; }

    internal Dictionary<string, ulong> Persisted => _persisted;

    /// <inheritdoc />
    public override string ToString() => IsUp ? $"witness {Name} (start {Starts})" : $"witness {Name} (down)";
}
