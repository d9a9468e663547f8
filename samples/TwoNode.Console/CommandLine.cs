using System.Diagnostics.CodeAnalysis;

namespace TwoNode;

/// <summary>Translates the sample's own options (<c>--node</c>, <c>--config</c>) for the host's command-line configuration.</summary>
public static class CommandLine
{
    /// <summary>
    /// <c>--node a</c> / <c>--node=a</c> become <c>--HaKit:NodeName=a</c>; <c>--config f</c> / <c>--config=f</c> is taken out and
    /// returned as a full path (looked up in the current directory, then next to the program). Everything else is passed on.
    /// </summary>
    public static bool TryTranslate(string[] args, out string[] hostArgs, out string? configFile, [NotNullWhen(false)] out string? error)
    {
        var result = new List<string>();
        hostArgs = [];
        configFile = null;
        error = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (Match(arg, "--node", args, ref i, out var node, out error))
            {
                if (error is not null)
                {
                    return false;
                }

                result.Add($"--HaKit:NodeName={node}");
            }
            else if (Match(arg, "--config", args, ref i, out var file, out error))
            {
                if (error is not null)
                {
                    return false;
                }

                configFile = Resolve(file!);
                if (configFile is null)
                {
                    error = $"--config {file}: file not found (looked in {Environment.CurrentDirectory} and {AppContext.BaseDirectory})";
                    return false;
                }
            }
            else
            {
                result.Add(arg);
            }
        }

        hostArgs = [.. result];
        return true;
    }

    private static bool Match(string arg, string name, string[] args, ref int i, out string? value, out string? error)
    {
        value = null;
        error = null;
        if (arg.StartsWith(name + "=", StringComparison.Ordinal))
        {
            value = arg[(name.Length + 1)..];
        }
        else if (arg == name)
        {
            if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                error = $"{name} needs a value, e.g. {name} {(name == "--node" ? "a" : "appsettings.failback.json")}";
                return true;
            }

            value = args[++i];
        }
        else
        {
            return false;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            error = $"{name} needs a non-empty value";
        }

        return true;
    }

    private static string? Resolve(string file)
    {
        foreach (var candidate in new[] { Path.GetFullPath(file), Path.Combine(AppContext.BaseDirectory, file) })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
