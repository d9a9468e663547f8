namespace HaKit.Resources;

/// <summary>Settings of a <see cref="ProcessResource"/>: which program to run and how to stop it.</summary>
public sealed class ProcessResourceOptions
{
    /// <summary>Resource name, unique within its group; prefixes every logged output line.</summary>
    public string Name { get; set; } = "";

    /// <summary>The executable: a path, or a file name looked up in <c>PATH</c>.</summary>
    public string FileName { get; set; } = "";

    /// <summary>Command-line arguments, passed one by one (no shell quoting involved). <value>Default: none.</value></summary>
    public List<string> Arguments { get; set; } = [];

    /// <summary>The child's working directory. <value>Default: the host's current directory.</value></summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>
    /// Extra environment variables for the child (a <see langword="null"/> value removes an inherited variable).
    /// <c>HAKIT_GROUP</c>, <c>HAKIT_EPOCH</c>, <c>HAKIT_NODE</c> and <c>HAKIT_RESOURCE</c> are always set from the start context and override entries here.
    /// </summary>
    public Dictionary<string, string?> Environment { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long a stop waits after <c>SIGTERM</c> before it kills the process tree with <c>SIGKILL</c>. <value>Default 10 s.</value></summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The process must still be alive this long after it was launched for the start to succeed. <value>Default 0 (no check).</value></summary>
    public TimeSpan StartupGrace { get; set; } = TimeSpan.Zero;
}
