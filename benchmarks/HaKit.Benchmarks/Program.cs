using BenchmarkDotNet.Running;

namespace HaKit.Benchmarks;

/// <summary>Entry point: <c>dotnet run -c Release --project benchmarks/HaKit.Benchmarks -- --filter '*Envelope*' --job short</c>.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks picked by the command-line arguments.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
