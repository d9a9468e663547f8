using System.Globalization;

namespace HaKit;

/// <summary>
/// Where validation stands in the options tree (<c>HaKit:Nodes:1</c>) and the list its problems go to. Every problem reads
/// <c>KEY = VALUE: problem; fix</c>, with KEY under the configuration section the options came from.
/// </summary>
internal readonly struct OptionsPath
{
    private readonly List<string> _errors;

    private OptionsPath(List<string> errors, string section, string key)
    {
        _errors = errors;
        Section = section;
        Key = key;
    }

    /// <summary>The configuration section the options were bound from (<c>HaKit</c>, or the host's section name).</summary>
    public string Section { get; }

    /// <summary>This node's key relative to <see cref="Section"/> (empty for the root).</summary>
    public string Key { get; }

    /// <summary>The root of a validation run reporting into <paramref name="errors"/>.</summary>
    public static OptionsPath Root(string section, List<string> errors) => new(errors, section, "");

    /// <summary>A child key (<c>Timing</c>, <c>Name</c>).</summary>
    public OptionsPath this[string name] => new(_errors, Section, Key.Length == 0 ? name : $"{Key}:{name}");

    /// <summary>A list entry (<c>Nodes:1</c>).</summary>
    public OptionsPath this[int index] => this[index.ToString(CultureInfo.InvariantCulture)];

    /// <summary>The absolute key of a sibling list or section, for messages that point elsewhere (<c>HaKit:Nodes</c>).</summary>
    public string Absolute(string relativeKey) => $"{Section}:{relativeKey}";

    /// <summary>The absolute key (<c>HaKit:Auth:Keys</c>).</summary>
    public override string ToString() => Key.Length == 0 ? Section : $"{Section}:{Key}";

    /// <summary>Reports a problem with this key's value.</summary>
    public void Error(object? value, string fix) => _errors.Add($"{Section}:{Key} = {Show(value)}: {fix}");

    /// <summary>Reports a problem with the child key <paramref name="name"/>.</summary>
    public void Error(string name, object? value, string fix) => this[name].Error(value, fix);

    /// <summary>Reports a duration that is not positive.</summary>
    public void Positive(string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            Error(name, value, "must be a positive duration (hh:mm:ss.fff)");
        }
    }

    /// <summary>Reports a negative duration.</summary>
    public void NotNegative(string name, TimeSpan value)
    {
        if (value < TimeSpan.Zero)
        {
            Error(name, value, "must not be negative");
        }
    }

    /// <summary>Reports a whole number outside <paramref name="min"/>..<paramref name="max"/>; <paramref name="note"/> follows the range in the message.</summary>
    public void InRange(string name, long value, long min, long max, string note = "")
    {
        if (value < min || value > max)
        {
            Error(name, value, $"allowed range is {min.ToString(CultureInfo.InvariantCulture)}..{max.ToString(CultureInfo.InvariantCulture)}{note}");
        }
    }

    /// <summary>A value shown as a description rather than as itself (a count, a secret's length).</summary>
    public static object Described(string text) => new Description(text);

    private static string Show(object? value) => value switch
    {
        null => "(missing)",
        Description d => d.Text,
        string s when s.Length == 0 => "(empty)",
        string s => $"'{s}'",
        TimeSpan ts => ts.ToString("c", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>A description of a value that must not (or cannot) be shown as is.</summary>
    private sealed record Description(string Text);
}
