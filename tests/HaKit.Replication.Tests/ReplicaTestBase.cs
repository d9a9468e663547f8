using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Replication.Transport;

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

    /// <summary>What carries the replicas' streams (the transport's default unless a fixture runs under both protocols).</summary>
    protected virtual ReplicationProtocol Protocol => new ReplicationTransportOptions().Protocol;

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

    /// <summary>A key-value store and its transport to the peer.</summary>
    /// <param name="Store">The store (its log replicates).</param>
    /// <param name="Transport">The transport.</param>
    protected sealed record Replica(ReplicatedKvStore Store, ReplicationTransport Transport);

    /// <summary>Opens a store with <paramref name="options"/> and connects it to the peer on loopback (over TLS with
    /// <paramref name="tls"/>); both are disposed after the test.</summary>
    protected async Task<Replica> StartReplicaAsync(ReplicationOptions options, string node, string peer, int port, int peerPort, ReplicationTlsOptions? tls = null)
    {
        var store = await ReplicatedKvStore.OpenAsync(options);
        Opened.Add(store);
        return new Replica(store, await StartTransportAsync(store, node, peer, port, peerPort, tls));
    }

    /// <summary>Connects <paramref name="store"/>'s log to the peer on loopback (over TLS with <paramref name="tls"/>); the
    /// transport is disposed after the test.</summary>
    protected Task<ReplicationTransport> StartTransportAsync(ReplicatedKvStore store, string node, string peer, int port, int peerPort, ReplicationTlsOptions? tls = null) =>
        StartTransportAsync([store], node, peer, port, peerPort, tls);

    /// <summary>One transport carrying every one of <paramref name="stores"/>' groups to the peer on loopback (one stream per
    /// group); disposed after the test.</summary>
    protected async Task<ReplicationTransport> StartTransportAsync(ReplicatedKvStore[] stores, string node, string peer, int port, int peerPort, ReplicationTlsOptions? tls = null)
    {
        var transport = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = node,
            PeerId = peer,
            Listen = new IPEndPoint(IPAddress.Loopback, port),
            Peer = new IPEndPoint(IPAddress.Loopback, peerPort),
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
            Protocol = Protocol,
            Tls = tls,
        });
        foreach (var store in stores)
        {
            transport.Attach(store.Log);
        }

        await transport.StartAsync(CancellationToken.None);
        Opened.Add(transport);
        return transport;
    }

    /// <summary>Stops a replica before the end of the test (a crash or a restart in the scenario).</summary>
    protected async Task StopAsync(Replica replica)
    {
        Opened.Remove(replica.Transport);
        Opened.Remove(replica.Store);
        await replica.Transport.DisposeAsync();
        await replica.Store.DisposeAsync();
    }

    /// <summary>The value of <paramref name="key"/> as text, or null.</summary>
    protected static string? Get(ReplicatedKvStore store, string key) => store.TryGet(key, out var v) ? Encoding.UTF8.GetString(v) : null;

    /// <summary>A loopback port free at the moment of the call.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
