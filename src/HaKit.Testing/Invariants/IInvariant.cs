namespace HaKit.Testing;

/// <summary>
/// A property that must hold after every step of a <see cref="Simulation"/>. Implementations keep whatever state they need
/// between steps (an invariant object belongs to one simulation) and read the simulation's state and
/// <see cref="Simulation.StepEvents"/>. Later arbiter modes and replication add their own.
/// </summary>
public interface IInvariant
{
    /// <summary>Short name shown in reports (<c>epochs-grow</c>).</summary>
    string Name { get; }

    /// <summary>Checks the invariant after a step.</summary>
    /// <param name="simulation">The simulation, after the step.</param>
    /// <returns><see langword="null"/> when it holds; otherwise what is wrong, naming the nodes, groups, epochs and times involved.</returns>
    string? Check(Simulation simulation);
}
