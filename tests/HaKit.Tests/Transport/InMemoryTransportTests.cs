using HaKit.Transport;

namespace HaKit.Tests.Transport;

[TestFixture]
public sealed class InMemoryTransportConformanceTests : TransportConformanceTests
{
    protected override int MaxPacketSize => 1400;

    protected override bool ExactDelivery => true;

    protected override (IHeartbeatTransport A, IHeartbeatTransport B) CreatePair()
    {
        var network = new InMemoryNetwork(MaxPacketSize);
        return (network.CreateTransport("a", "lan0"), network.CreateTransport("b", "lan0"));
    }
}

[TestFixture]
public sealed class InMemoryNetworkTests
{
    private InMemoryNetwork _network = null!;
    private readonly Dictionary<(string Node, string Link), (InMemoryTransport Transport, RecordingReceiver Receiver)> _nodes = [];

    [SetUp]
    public void CreateNetwork()
    {
        _network = new InMemoryNetwork();
        _nodes.Clear();
    }

    [TearDown]
    public async Task DisposeTransportsAsync()
    {
        foreach ((InMemoryTransport transport, _) in _nodes.Values)
        {
            await transport.DisposeAsync();
        }
    }

    private async Task<RecordingReceiver> StartAsync(string node, string link = "lan0")
    {
        InMemoryTransport transport = _network.CreateTransport(node, link);
        var receiver = new RecordingReceiver();
        await transport.StartAsync(receiver, CancellationToken.None);
        _nodes[(node, link)] = (transport, receiver);
        return receiver;
    }

    private RecordingReceiver Receiver(string node, string link = "lan0") => _nodes[(node, link)].Receiver;

    /// <summary>Sends one packet and returns it; delivery is synchronous, so receivers already have it.</summary>
    private byte[] Send(string node, int index, string link = "lan0")
    {
        byte[] packet = Payloads.Make(node[0], index);
        ValueTask send = _nodes[(node, link)].Transport.SendAsync(packet, CancellationToken.None);
        Assert.That(send.IsCompletedSuccessfully, Is.True, "in-memory sends complete synchronously");
        return packet;
    }

    [Test]
    public async Task Delivery_is_synchronous_on_the_senders_thread_and_fans_out_to_every_other_node()
    {
        await StartAsync("a");
        await StartAsync("b");
        await StartAsync("c");

        byte[] packet = Send("a", 1);

        Assert.That(Receiver("b").Packets, Is.EqualTo(new[] { packet }));
        Assert.That(Receiver("c").Packets, Is.EqualTo(new[] { packet }));
        Assert.That(Receiver("a").Count, Is.Zero, "a sender does not receive its own packet");
        Assert.That(Receiver("b").LastThreadId, Is.EqualTo(Environment.CurrentManagedThreadId));
        Assert.That(_network.DeliveredCount, Is.EqualTo(2));
        Assert.That(_network.DroppedCount, Is.Zero);
    }

    [Test]
    public async Task A_transport_that_is_not_started_receives_nothing()
    {
        await StartAsync("a");
        await using InMemoryTransport idle = _network.CreateTransport("b", "lan0");

        Send("a", 1);

        Assert.That(_network.DeliveredCount, Is.Zero);
    }

    [Test]
    public async Task A_one_way_cut_drops_only_that_direction_until_healed()
    {
        await StartAsync("a");
        await StartAsync("b");

        _network.Cut("a", "b");
        Send("a", 1);
        byte[] back = Send("b", 2);

        Assert.That(Receiver("b").Count, Is.Zero);
        Assert.That(Receiver("a").Packets, Is.EqualTo(new[] { back }));
        Assert.That(_network.IsCut("a", "b", "lan0"), Is.True);
        Assert.That(_network.IsCut("b", "a", "lan0"), Is.False);
        Assert.That(_network.DroppedCount, Is.EqualTo(1));
        Assert.That(_network.DeliveredCount, Is.EqualTo(1));

        _network.Heal("a", "b");
        byte[] after = Send("a", 3);

        Assert.That(Receiver("b").Packets, Is.EqualTo(new[] { after }));
        Assert.That(_network.IsCut("a", "b", "lan0"), Is.False);
    }

    [Test]
    public async Task Cutting_one_link_leaves_the_other_link_delivering()
    {
        await StartAsync("a", "lan0");
        await StartAsync("b", "lan0");
        await StartAsync("a", "lan1");
        await StartAsync("b", "lan1");

        _network.Cut("a", "b", "lan0");
        Send("a", 1, "lan0");
        byte[] viaLan1 = Send("a", 2, "lan1");

        Assert.That(Receiver("b", "lan0").Count, Is.Zero);
        Assert.That(Receiver("b", "lan1").Packets, Is.EqualTo(new[] { viaLan1 }));
    }

    [Test]
    public async Task Healing_one_link_of_an_all_links_cut_leaves_the_others_cut()
    {
        await StartAsync("a", "lan0");
        await StartAsync("b", "lan0");
        await StartAsync("a", "lan1");
        await StartAsync("b", "lan1");

        _network.Cut("a", "b");
        Send("a", 1, "lan0");
        Send("a", 2, "lan1");
        Assert.That(_network.DeliveredCount, Is.Zero);

        _network.Heal("a", "b", "lan1");
        Send("a", 3, "lan0");
        byte[] healed = Send("a", 4, "lan1");

        Assert.That(Receiver("b", "lan0").Count, Is.Zero);
        Assert.That(Receiver("b", "lan1").Packets, Is.EqualTo(new[] { healed }));

        _network.Heal("a", "b");
        byte[] all = Send("a", 5, "lan0");
        Assert.That(Receiver("b", "lan0").Packets, Is.EqualTo(new[] { all }));
    }

    [Test]
    public async Task CutBoth_and_HealBoth_act_on_both_directions()
    {
        await StartAsync("a");
        await StartAsync("b");

        _network.CutBoth("a", "b");
        Send("a", 1);
        Send("b", 2);
        Assert.That(_network.DroppedCount, Is.EqualTo(2));
        Assert.That(_network.DeliveredCount, Is.Zero);

        _network.HealBoth("a", "b");
        Send("a", 3);
        Send("b", 4);
        Assert.That(_network.DeliveredCount, Is.EqualTo(2));
    }

    [Test]
    public async Task Isolate_drops_everything_to_and_from_the_node_until_rejoin_and_keeps_cuts()
    {
        await StartAsync("a");
        await StartAsync("b");
        await StartAsync("c");

        _network.Cut("c", "b");
        _network.Isolate("a");
        Send("a", 1);
        Send("b", 2);
        byte[] bToC = Payloads.Make('b', 2);

        Assert.That(Receiver("a").Count, Is.Zero);
        Assert.That(Receiver("b").Count, Is.Zero);
        Assert.That(Receiver("c").Packets, Is.EqualTo(new[] { bToC }), "b still reaches c");

        _network.Rejoin("a");
        byte[] fromA = Send("a", 3);
        Send("c", 4);

        Assert.That(Receiver("b").Packets, Is.EqualTo(new[] { fromA }), "the c->b cut survives the rejoin");
        Assert.That(Receiver("a").Count, Is.EqualTo(1), "a hears c again");
    }

    [Test]
    public async Task HealAll_removes_cuts_and_isolations()
    {
        await StartAsync("a");
        await StartAsync("b");
        _network.Cut("a", "b");
        _network.Isolate("b");

        _network.HealAll();
        byte[] packet = Send("a", 1);

        Assert.That(Receiver("b").Packets, Is.EqualTo(new[] { packet }));
    }

    [Test]
    public async Task Filter_sees_each_packet_and_can_drop_it()
    {
        await StartAsync("a");
        await StartAsync("b");
        List<InMemoryPacket> seen = [];
        _network.Filter = packet =>
        {
            seen.Add(packet with { Payload = packet.Payload.ToArray() });
            return Payloads.Index(packet.Payload.ToArray()) % 2 == 0;
        };

        byte[] even = Send("a", 2);
        Send("a", 3);

        Assert.That(Receiver("b").Packets, Is.EqualTo(new[] { even }));
        Assert.That(seen.Select(s => (s.From, s.To, s.Link)), Is.EqualTo(new[] { ("a", "b", "lan0"), ("a", "b", "lan0") }));
        Assert.That(seen[0].Payload.ToArray(), Is.EqualTo(even));
        Assert.That(_network.DroppedCount, Is.EqualTo(1));

        _network.Filter = null;
        Send("a", 5);
        Assert.That(Receiver("b").Count, Is.EqualTo(2));
    }

    [Test]
    public async Task A_node_can_have_one_live_transport_per_link_and_a_new_one_after_dispose()
    {
        await StartAsync("a");
        Assert.Throws<InvalidOperationException>(() => _network.CreateTransport("a", "lan0"));

        await _nodes[("a", "lan0")].Transport.DisposeAsync();
        await StartAsync("a");
        await StartAsync("b");
        byte[] packet = Send("b", 1);

        Assert.That(Receiver("a").Packets, Is.EqualTo(new[] { packet }));
    }
}
