using System.Diagnostics.CodeAnalysis;

namespace TwoNode;

/// <summary>Translates the sample's own options (<c>--node</c>, <c>--arbiter</c>, <c>--config</c>) for the host's configuration.</summary>
public static class CommandLine
{
    /// <summary>The values <c>--arbiter</c> accepts (case-insensitive).</summary>
    public static IReadOnlyList<string> ArbiterValues { get; } = ["twonode", "witness", "etcd"];

    /// <summary>
    /// <c>--node a</c> / <c>--node=a</c> become <c>--HaKit:NodeName=a</c>. <c>--arbiter witness|etcd</c> selects the overlay file
    /// <c>appsettings.&lt;mode&gt;.json</c> next to the program (<c>twonode</c>, the default, adds none); <c>--config f</c> /
    /// <c>--config=f</c> is looked up in the current directory, then next to the program. Both are taken out and returned in
    /// <paramref name="configFiles"/> as full paths, in the order they are layered over <c>appsettings.json</c>: the arbiter
    /// overlay first, then the <c>--config</c> file (environment variables and <c>--HaKit:...</c> keys still win over both).
    /// Everything else is passed on in <paramref name="hostArgs"/>.
    /// </summary>
    public static bool TryTranslate(string[] args, out string[] hostArgs, out IReadOnlyList<string> configFiles, [NotNullWhen(false)] out string? error)
    {
        var result = new List<string>();
        hostArgs = [];
        configFiles = [];
        error = null;
        string? arbiterFile = null;
        string? configFile = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (Match(arg, "--node", "a", args, ref i, out var node, out error))
            {
                if (error is not null)
                {
                    return false;
                }

                result.Add($"--HaKit:NodeName={node}");
            }
            else if (Match(arg, "--arbiter", "etcd", args, ref i, out var mode, out error))
            {
                if (error is not null)
                {
                    return false;
                }

                var known = ArbiterValues.FirstOrDefault(v => string.Equals(v, mode, StringComparison.OrdinalIgnoreCase));
                if (known is null)
                {
                    error = $"--arbiter {mode}: unknown arbiter; allowed: {string.Join(", ", ArbiterValues)}";
                    return false;
                }

                arbiterFile = null;
                if (known != "twonode")
                {
                    var overlay = $"appsettings.{known}.json";
                    arbiterFile = Path.Combine(AppContext.BaseDirectory, overlay);
                    if (!File.Exists(arbiterFile))
                    {
                        error = $"--arbiter {known}: {overlay} not found next to the program ({AppContext.BaseDirectory}); rebuild the sample";
                        return false;
                    }
                }
            }
            else if (Match(arg, "--config", "appsettings.failback.json", args, ref i, out var file, out error))
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
        configFiles = new[] { arbiterFile, configFile }.OfType<string>().ToArray();
        return true;
    }

    private static bool Match(string arg, string name, string example, string[] args, ref int i, out string? value, out string? error)
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
                error = $"{name} needs a value, e.g. {name} {example}";
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
