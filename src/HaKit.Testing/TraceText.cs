using System.Runtime.CompilerServices;

namespace HaKit.Testing;

/// <summary>
/// The text of a trace line, formatted only when the simulation records its trace: with <see cref="SimulationOptions.RecordTrace"/>
/// off, an interpolated trace line costs no formatting and no allocation (its holes are not evaluated; none has side effects).
/// </summary>
[InterpolatedStringHandler]
internal ref struct TraceText
{
    private DefaultInterpolatedStringHandler _inner;

    /// <summary>Starts the text; <paramref name="isEnabled"/> is whether the simulation records its trace.</summary>
    public TraceText(int literalLength, int formattedCount, Simulation simulation, out bool isEnabled)
    {
        isEnabled = simulation.Options.RecordTrace;
        _inner = isEnabled ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
    }

    public void AppendLiteral(string value) => _inner.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _inner.AppendFormatted(value);

    public void AppendFormatted<T>(T value, string? format) => _inner.AppendFormatted(value, format);

    public void AppendFormatted<T>(T value, int alignment) => _inner.AppendFormatted(value, alignment);

    public void AppendFormatted<T>(T value, int alignment, string? format) => _inner.AppendFormatted(value, alignment, format);

    public void AppendFormatted(ReadOnlySpan<char> value) => _inner.AppendFormatted(value);

    public void AppendFormatted(string? value) => _inner.AppendFormatted(value);

    /// <summary>The formatted text.</summary>
    public string ToStringAndClear() => _inner.ToStringAndClear();
}
