namespace HaKit.Cli;

/// <summary>The <c>hakit</c> entry point (an explicit, internal class: with ASP.NET Core in the references a top-level program would be made public).</summary>
internal static class Program
{
    /// <summary>Runs the command line; the exit code is one of <see cref="ExitCodes"/>.</summary>
    public static Task<int> Main(string[] args) => CliApp.RunAsync(args, CliConsole.FromProcess(), CancellationToken.None);
}
