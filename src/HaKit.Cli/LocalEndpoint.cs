using Microsoft.Extensions.Configuration;

namespace HaKit.Cli;

/// <summary>
/// Finds the local node's admin socket from its configuration file when no <c>--endpoint</c> is given:
/// <c>HaKit:Admin:SocketPath</c> when set, otherwise <c>&lt;HaKit:StateDirectory&gt;/&lt;node&gt;.admin.sock</c>, where the node is
/// <c>--node</c> or else <c>HaKit:NodeName</c>, and StateDirectory defaults to <c>hakit-state</c> as in the node. A relative
/// StateDirectory or SocketPath is relative to the directory of the configuration file (where the node's appsettings.json lives).
/// </summary>
internal static class LocalEndpoint
{
    /// <summary>The default configuration file, in the current directory.</summary>
    public const string DefaultConfigFile = "appsettings.json";

    /// <summary>The endpoint for the node configured in <paramref name="configFile"/> (or <see cref="DefaultConfigFile"/>).</summary>
    public static AdminEndpoint Resolve(string? configFile, string? node)
    {
        var file = Path.GetFullPath(configFile ?? DefaultConfigFile);
        if (!File.Exists(file))
        {
            throw new CliException(ExitCodes.Usage, configFile is null
                ? $"no --endpoint given and no {DefaultConfigFile} in {Environment.CurrentDirectory}: pass --endpoint unix:/path/to/<node>.admin.sock, or --config with the node's configuration file"
                : $"--config {configFile}: file not found ({file})");
        }

        var configuration = ConfigFile.Load(file);
        var section = configuration.GetSection(HaKitOptionsValidator.Section);
        var directory = Path.GetDirectoryName(file)!;
        var socketPath = section["Admin:SocketPath"];
        if (!string.IsNullOrWhiteSpace(socketPath))
        {
            return new AdminEndpoint("unix:" + Path.GetFullPath(socketPath, directory), Path.GetFullPath(socketPath, directory), null);
        }

        var name = string.IsNullOrWhiteSpace(node) ? section[nameof(HaKitOptions.NodeName)] : node;
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new CliException(ExitCodes.Usage, $"{file}: HaKit:NodeName is not set, so the local node is unknown: pass --node NAME (one of HaKit:Nodes) or --endpoint unix:/path/to/<node>.admin.sock");
        }

        var stateDirectory = section[nameof(HaKitOptions.StateDirectory)];
        if (string.IsNullOrWhiteSpace(stateDirectory))
        {
            stateDirectory = new HaKitOptions().StateDirectory;
        }

        var path = Path.Combine(Path.GetFullPath(stateDirectory, directory), name + ".admin.sock");
        return new AdminEndpoint("unix:" + path, path, null);
    }
}

/// <summary>Reads a JSON configuration file as the node does (comments and trailing commas allowed).</summary>
internal static class ConfigFile
{
    /// <summary>Loads <paramref name="file"/>; a malformed file is a refusal (exit 1) naming the file and the problem.</summary>
    public static IConfigurationRoot Load(string file)
    {
        try
        {
            return new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false).Build();
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException or System.Text.Json.JsonException)
        {
            var detail = ex.InnerException is { } inner ? $"{ex.Message} {inner.Message}" : ex.Message;
            throw new CliException(ExitCodes.Refused, $"{file}: not a readable JSON configuration: {detail}");
        }
    }
}
