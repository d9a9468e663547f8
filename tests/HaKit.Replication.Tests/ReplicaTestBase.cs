using System.Net;
using System.Net.Sockets;

namespace HaKit.Replication.Tests;

/// <summary>
/// What the tests that run real replicas share: a fresh temporary directory per test, everything they opened disposed in reverse
/// order after it, and a free loopback port.
/// </summary>
public abstract class ReplicaTestBase
{
    /// <summary>The test's temporary directory (created before each test, deleted after it).</summary>
    protected string Root { get; private set; } = "";

    /// <summary>Stores and transports to dispose after the test, last opened first.</summary>
    protected List<IAsyncDisposable> Opened { get; } = [];

    /// <summary>The prefix of the temporary directory's name.</summary>
    protected abstract string DirectoryPrefix { get; }

    [SetUp]
    public void CreateRoot() => Root = Directory.CreateTempSubdirectory(DirectoryPrefix).FullName;

    [TearDown]
    public async Task DisposeOpenedAndRoot()
    {
        for (var i = Opened.Count - 1; i >= 0; i--)
        {
            await Opened[i].DisposeAsync();
        }

        Opened.Clear();
        Directory.Delete(Root, recursive: true);
    }

    /// <summary>A loopback port free at the moment of the call.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
