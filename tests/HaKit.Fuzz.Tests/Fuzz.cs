using System.Diagnostics;
using System.Globalization;
using CsCheck;

namespace HaKit.Fuzz.Tests;

/// <summary>
/// The fuzzing budget and a throughput report. <c>HAKIT_FUZZ_ITERATIONS</c> sets the inputs per target (CI leaves it unset: a
/// small budget); <c>HAKIT_FUZZ_SEED</c> replays one CsCheck seed printed by a failure. Each run prints the inputs, the time and inputs/s.
/// </summary>
internal static class Fuzz
{
    /// <summary>Inputs per target: <c>HAKIT_FUZZ_ITERATIONS</c>, or <paramref name="ciDefault"/>.</summary>
    public static long Iterations(long ciDefault) =>
        long.TryParse(Environment.GetEnvironmentVariable("HAKIT_FUZZ_ITERATIONS"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : ciDefault;

    /// <summary>Runs <paramref name="property"/> on <paramref name="gen"/>'s inputs; CsCheck shrinks a failure and prints its seed.</summary>
    public static void Run<T>(string target, Gen<T> gen, Action<T> property, long ciDefault, int threads = 1, Func<T, string>? print = null)
    {
        var iterations = Iterations(ciDefault);
        var seed = Environment.GetEnvironmentVariable("HAKIT_FUZZ_SEED");
        var watch = Stopwatch.StartNew();
        gen.Sample(property, writeLine: null, seed: string.IsNullOrEmpty(seed) ? null : seed, iter: iterations, threads: threads, print: print);
        watch.Stop();
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fuzz {target}: {iterations} inputs in {watch.Elapsed.TotalSeconds:0.0} s ({iterations / Math.Max(watch.Elapsed.TotalSeconds, 1e-9):0} inputs/s)"));
    }

    /// <summary>Fails with <paramref name="message"/> (built only then) unless <paramref name="condition"/> holds: cheaper than Assert.That in a hot loop.</summary>
    public static void Require(bool condition, Func<string> message)
    {
        if (!condition)
        {
            Assert.Fail(message());
        }
    }

    /// <summary>A hex dump for failure messages and regression tests.</summary>
    public static string Hex(byte[] bytes) => Convert.ToHexString(bytes);

    /// <summary>How a valid packet is damaged.</summary>
    public enum Mutation
    {
        /// <summary>Left intact.</summary>
        None,

        /// <summary>One bit flipped.</summary>
        BitFlip,

        /// <summary>Cut short.</summary>
        Truncate,

        /// <summary>Bytes appended.</summary>
        Extend,

        /// <summary>One byte replaced.</summary>
        Overwrite,
    }

    /// <summary>Applies <paramref name="mutation"/> at <paramref name="position"/> (taken modulo the length) with <paramref name="noise"/>.</summary>
    public static byte[] Mutate(byte[] packet, Mutation mutation, int position, byte[] noise)
    {
        if (packet.Length == 0)
        {
            return mutation == Mutation.None ? packet : [.. noise, 0]; // nothing to damage: something instead of nothing
        }

        var pos = (int)((uint)position % (uint)packet.Length);
        switch (mutation)
        {
            case Mutation.BitFlip:
                var flipped = (byte[])packet.Clone();
                flipped[pos] ^= (byte)(1 << (position & 7));
                return flipped;
            case Mutation.Truncate:
                return packet[..pos];
            case Mutation.Extend:
                return [.. packet, .. noise.Length == 0 ? new byte[] { 0 } : noise];
            case Mutation.Overwrite:
                var changed = (byte[])packet.Clone();
                changed[pos] = noise.Length > 0 && noise[0] != changed[pos] ? noise[0] : (byte)~changed[pos];
                return changed;
            default:
                return packet;
        }
    }

    /// <summary>A mutation, a position and noise bytes.</summary>
    public static Gen<(Mutation Mutation, int Position, byte[] Noise)> Damage { get; } =
        Gen.Select(Gen.Enum<Mutation>(), Gen.Int[0, int.MaxValue], Gen.Byte.Array[0, 40]);
}
