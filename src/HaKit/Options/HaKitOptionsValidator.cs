namespace HaKit;

/// <summary>
/// Validates <see cref="HaKitOptions"/>: every error names the configuration key, the bad value and what is allowed. Each options
/// class checks its own values, the rules spanning classes live in one place; this is the entry point.
/// </summary>
public static class HaKitOptionsValidator
{
    /// <summary>The default configuration section the options are bound from; the prefix of every key in error messages unless another is given.</summary>
    public const string Section = "HaKit";

    /// <summary>Returns every problem found in <paramref name="options"/> (empty when valid), with keys under <see cref="Section"/>.</summary>
    /// <param name="options">The options to check.</param>
    public static IReadOnlyList<string> Validate(HaKitOptions options) => Validate(options, Section);

    /// <summary>Returns every problem found in <paramref name="options"/> (empty when valid), with keys under <paramref name="section"/>.</summary>
    /// <param name="options">The options to check.</param>
    /// <param name="section">The configuration section the options were bound from (for example <c>HaKit</c> or <c>Cluster:HaKit</c>).</param>
    public static IReadOnlyList<string> Validate(HaKitOptions options, string section)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(section);
        var errors = new List<string>();
        options.Validate(OptionsPath.Root(section, errors));
        return errors;
    }

    /// <summary>Throws <see cref="HaKitConfigurationException"/> listing every problem, if there is any.</summary>
    /// <param name="options">The options to check.</param>
    public static void ThrowIfInvalid(HaKitOptions options)
    {
        var errors = Validate(options);
        if (errors.Count > 0)
        {
            throw new HaKitConfigurationException(errors);
        }
    }
}

/// <summary>Invalid HaKit configuration. The message lists every problem with its key, value and fix.</summary>
public sealed class HaKitConfigurationException : Exception
{
    /// <summary>Creates the exception from a list of problems.</summary>
    /// <param name="errors">One line per problem.</param>
    public HaKitConfigurationException(IReadOnlyList<string> errors)
        : base("Invalid HaKit configuration:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e))) =>
        Errors = errors;

    /// <summary>One line per problem.</summary>
    public IReadOnlyList<string> Errors { get; }
}
