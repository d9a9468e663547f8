using HaKit.Witness;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

// hakit-witness: the third voter of HaKit's Witness mode. See docs/witness.md.
//   HaKit.Witness --config witness.json
//   HaKit.Witness --config witness.json --HaKit:Witness:Listen=10.0.0.9:5405
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("""
        HaKit.Witness: the witness server of HaKit's Witness mode (the third voter of a two-node cluster).

        usage: hakit-witness [--config <file.json>] [--HaKit:Witness:<Key>=<value> ...]
               (the dotnet tool HaKit.Witness; from a build: dotnet HaKit.Witness.dll ...)

          --config <file.json>   read the configuration from this JSON file (see witness.example.json);
                                 appsettings.json, environment variables (HaKit__Witness__Listen) and
                                 command-line keys are read too, command-line keys winning
        Stop with Ctrl-C or SIGTERM. Documentation: docs/witness.md.
        """);
    return 0;
}

if (!CommandLine.TrySplit(args, out var configFile, out var rest, out var error))
{
    Console.Error.WriteLine(error);
    return 2;
}

var builder = Host.CreateApplicationBuilder(rest);
if (configFile is not null)
{
    var path = Path.GetFullPath(configFile);
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"--config {configFile}: no such file ({path})");
        return 2;
    }

    builder.Configuration.AddJsonFile(path, optional: false, reloadOnChange: false);
    builder.Configuration.AddCommandLine(rest); // command-line keys win over the file
}

builder.Services.AddHaKitWitness(builder.Configuration);
using var host = builder.Build();
try
{
    _ = host.Services.GetRequiredService<IOptions<WitnessOptions>>().Value; // validation errors as a list, before the host logs a stack trace
    await host.RunAsync().ConfigureAwait(false);
    return 0;
}
catch (OptionsValidationException ex)
{
    Console.Error.WriteLine("invalid configuration:");
    foreach (var failure in ex.Failures)
    {
        Console.Error.WriteLine("  " + failure);
    }

    return 1;
}
catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"the witness could not start: {ex.Message}");
    return 1;
}

/// <summary>The witness's own command-line option, <c>--config</c>.</summary>
internal static class CommandLine
{
    /// <summary>Takes <c>--config &lt;file&gt;</c> (or <c>--config=&lt;file&gt;</c>) out of <paramref name="args"/>.</summary>
    public static bool TrySplit(string[] args, out string? configFile, out string[] rest, out string? error)
    {
        configFile = null;
        error = null;
        var others = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--config")
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    rest = [];
                    error = "--config needs a file name: --config witness.json";
                    return false;
                }

                configFile = args[++i];
            }
            else if (a.StartsWith("--config=", StringComparison.Ordinal))
            {
                configFile = a["--config=".Length..];
            }
            else
            {
                others.Add(a);
            }
        }

        rest = [.. others];
        return true;
    }
}
