using System.Globalization;
using System.Text;

namespace HaKit.Diagnostics;

/// <summary>
/// A timeline of a crash-hinted takeover, for the takeover benchmark (<c>HAKIT_TAKEOVER_TRACE=1</c>): raw
/// <see cref="TimeProvider.GetTimestamp"/> values of <see cref="TimeProvider.System"/> (<c>Stopwatch.GetTimestamp</c>: CLOCK_MONOTONIC on Linux, the same clock in every process on the host) at named
/// points on the path, from the connection-end watcher's wake-up to the group reported Active. Off (one static read-only check,
/// folded by the JIT) unless the environment variable is <c>1</c> when the process starts.
/// </summary>
/// <remarks>
/// Marks go to a fixed buffer (no allocation, no I/O on the path). A one-shot timer writes what was marked to stderr
/// <see cref="FlushDelay"/> after the first mark of a burst, one line per mark: <c>hakit-trace &lt;point&gt; &lt;timestamp&gt;</c>,
/// long after the takeover the marks time. The reader (benchmarks/HaKit.Takeover) takes the first mark of each point after its
/// own timestamp of the signal.
/// </remarks>
internal static class TakeoverTrace
{
    /// <summary>Whether tracing is on.</summary>
    public static readonly bool On = Environment.GetEnvironmentVariable("HAKIT_TAKEOVER_TRACE") == "1";

    /// <summary>How long after a burst's first mark it is written out.</summary>
    public static readonly TimeSpan FlushDelay = TimeSpan.FromMilliseconds(500);

    private const int Capacity = 4096;
    private static readonly long[] Ticks = On ? new long[Capacity] : [];
    private static readonly string?[] Points = On ? new string?[Capacity] : [];
    private static readonly Lock Gate = new();
    private static readonly Timer? FlushTimer = On ? new Timer(_ => Flush(), null, Timeout.Infinite, Timeout.Infinite) : null;
    private static readonly int[] State = new int[5]; // [Count] marks taken, [Flushed] marks written, [Armed] 1 while a flush is due, [InStartStep] see StartStep, [Sequence] of its commands
    private const int Count = 0;
    private const int Flushed = 1;
    private const int Armed = 2;
    private const int InStartStep = 3;
    private const int Sequence = 4;

    /// <summary>Whether the loop's current step is a takeover's (<see cref="StartStep"/>): the loop then marks the rest of that step.</summary>
    public static bool InStartingStep => On && Volatile.Read(ref State[InStartStep]) != 0;

    /// <summary>The loop's current step takes a group (on the loop): the commands after it and the step's end are marked.</summary>
    public static void StartStep()
    {
        if (On && Volatile.Read(ref State[InStartStep]) == 0)
        {
            Volatile.Write(ref State[Sequence], 0);
            Volatile.Write(ref State[InStartStep], 1);
        }
    }

    /// <summary>Marks a command of the takeover's step, numbered in the step: <c>cmd.NN.&lt;type&gt;</c> (on the loop).</summary>
    /// <param name="type">The command's type name.</param>
    public static void MarkCommand(string type)
    {
        if (On)
        {
            var n = Interlocked.Increment(ref State[Sequence]);
            Mark(string.Create(CultureInfo.InvariantCulture, $"cmd.{n:00}.{type}"));
        }
    }

    /// <summary>The loop's step ended (on the loop).</summary>
    public static void EndStep()
    {
        if (On)
        {
            Volatile.Write(ref State[InStartStep], 0);
        }
    }

    /// <summary>Records that the path reached <paramref name="point"/> now (a constant string naming the place).</summary>
    /// <param name="point">The point, e.g. <c>grpc.watcher.end</c>.</param>
    public static void Mark(string point)
    {
        if (!On)
        {
            return;
        }

        var ticks = TimeProvider.System.GetTimestamp(); // Stopwatch.GetTimestamp: CLOCK_MONOTONIC on Linux
        var i = Interlocked.Increment(ref State[Count]) - 1;
        if (i >= Capacity)
        {
            return;
        }

        Ticks[i] = ticks;
        Volatile.Write(ref Points[i], point);
        if (Interlocked.CompareExchange(ref State[Armed], 1, 0) == 0)
        {
            _ = FlushTimer!.Change(FlushDelay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Writes the marks made since the last flush to stderr.</summary>
    private static void Flush()
    {
        Volatile.Write(ref State[Armed], 0);
        var end = Math.Min(Volatile.Read(ref State[Count]), Capacity);
        var text = new StringBuilder();
        lock (Gate)
        {
            for (var i = State[Flushed]; i < end; i++)
            {
                if (Volatile.Read(ref Points[i]) is not { } point)
                {
                    end = i; // its writer is between the two stores: the next flush takes it
                    break;
                }

                text.Append("hakit-trace ").Append(point).Append(' ').Append(Ticks[i].ToString(CultureInfo.InvariantCulture)).Append('\n');
            }

            State[Flushed] = end;
        }

        if (text.Length > 0)
        {
            Console.Error.Write(text.ToString());
            Console.Error.Flush();
        }
    }
}
