using System.Security.Cryptography;
using HaKit.Wire;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Witness.Tests;

/// <summary>Builds witness options and servers on loopback port 0 with a temporary state directory (deleted afterwards).</summary>
internal sealed class WitnessFixture : IAsyncDisposable
{
    public static readonly string SecretOne = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    public static readonly string SecretTwo = Convert.ToBase64String(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());
    public static readonly TimeSpan MaxTtl = TimeSpan.FromSeconds(10);

    private readonly List<IAsyncDisposable> _servers = [];
    private readonly List<IDisposable> _nodes = [];

    public WitnessFixture()
    {
        StateDirectory = Path.Combine(Path.GetTempPath(), "hakit-witness-tests-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)));
    }

    public string StateDirectory { get; }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public static WitnessClusterOptions Cluster(string name, string secret, params string[] nodes) => new()
    {
        Name = name,
        Nodes = [.. nodes],
        Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = secret }], SendKeyId = 1 },
    };

    public WitnessOptions Options(params WitnessClusterOptions[] clusters) => new()
    {
        Listen = "127.0.0.1:0",
        MaxLeaseTtl = MaxTtl,
        StateDirectory = StateDirectory,
        Clusters = clusters.Length == 0 ? [Cluster("demo", SecretOne, "a", "b")] : [.. clusters],
    };

    /// <summary>Starts a server; with <paramref name="skipQuiet"/> the fake clock is moved past its quiet period.</summary>
    public async Task<WitnessServer> StartAsync(WitnessOptions? options = null, bool skipQuiet = true)
    {
        var server = new WitnessServer(options ?? Options(), Time);
        _servers.Add(server);
        await server.StartAsync(CancellationToken.None);
        if (skipQuiet)
        {
            Time.Advance(server.MaxLeaseTtl);
        }

        return server;
    }

    public TestNode Node(string name, string cluster = "demo", string? secret = null, IReadOnlyList<string>? acceptFrom = null, ulong incarnation = 1)
    {
        var node = new TestNode(cluster, name, secret ?? SecretOne, acceptFrom, incarnation);
        _nodes.Add(node);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _servers)
        {
            await s.DisposeAsync();
        }

        _nodes.ForEach(n => n.Dispose());
        if (Directory.Exists(StateDirectory))
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }
}
