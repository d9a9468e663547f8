using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Tests.Arbitration;

[TestFixture]
public class TcpConnectProbeTests
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    [Test]
    public async Task A_listening_port_is_reachable_and_the_target_names_it()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var probe = new TcpConnectProbe("127.0.0.1", port, ProbeTimeout, TimeProvider.System);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

            Assert.That(await probe.ProbeAsync(cts.Token), Is.True);
            Assert.That(probe.Target, Is.EqualTo($"tcp 127.0.0.1:{port}"));
        }
        finally
        {
            listener.Stop();
        }
    }

    [Test]
    public async Task A_host_name_is_resolved_and_reached()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var probe = TcpConnectProbe.Parse($"localhost:{port}", ProbeTimeout, TimeProvider.System);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.That(await probe.ProbeAsync(cts.Token), Is.True);
        }
        finally
        {
            listener.Stop();
        }
    }

    [Test]
    public async Task A_closed_port_is_unreachable()
    {
        var port = FreePort();
        var probe = new TcpConnectProbe("127.0.0.1", port, ProbeTimeout, TimeProvider.System);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.That(await probe.ProbeAsync(cts.Token), Is.False);
    }

    [Test]
    public async Task A_name_that_does_not_resolve_is_unreachable()
    {
        var probe = new TcpConnectProbe("no-such-host.invalid", 80, ProbeTimeout, TimeProvider.System);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.That(await probe.ProbeAsync(cts.Token), Is.False);
    }

    [Test]
    public async Task An_already_cancelled_token_reports_unreachable_even_for_a_listening_port()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var probe = new TcpConnectProbe("127.0.0.1", port, ProbeTimeout, TimeProvider.System);
            Assert.That(await probe.ProbeAsync(new CancellationToken(canceled: true)), Is.False, "even a listening target");
        }
        finally
        {
            listener.Stop();
        }
    }

    [Test]
    public async Task Cancelling_a_hanging_connect_reports_unreachable_promptly()
    {
        // 192.0.2.1 (TEST-NET-1) is never routed: the connect either hangs until cancelled or fails at once.
        var probe = new TcpConnectProbe("192.0.2.1", 9, TimeSpan.FromMinutes(5), TimeProvider.System);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var watch = Stopwatch.StartNew();

        var result = await probe.ProbeAsync(cts.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(result, Is.False);
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    [TestCase("10.0.0.1:80", "10.0.0.1", 80, "tcp 10.0.0.1:80")]
    [TestCase(" gw.example.org:8080 ", "gw.example.org", 8080, "tcp gw.example.org:8080")]
    [TestCase("[::1]:443", "::1", 443, "tcp [::1]:443")]
    [TestCase("[fd00::10]:65535", "fd00::10", 65535, "tcp [fd00::10]:65535")]
    public void Parse_reads_host_and_port_including_bracketed_IPv6(string text, string host, int port, string target)
    {
        var probe = TcpConnectProbe.Parse(text, ProbeTimeout, TimeProvider.System);
        Assert.That(probe.Host, Is.EqualTo(host));
        Assert.That(probe.Port, Is.EqualTo(port));
        Assert.That(probe.Target, Is.EqualTo(target));
        Assert.That(probe.Timeout, Is.EqualTo(ProbeTimeout));
    }

    [TestCase("10.0.0.1", "port is missing")]
    [TestCase("::1:80", "brackets")]
    [TestCase("host:0", "not a number from 1 to 65535")]
    [TestCase("host:65536", "not a number from 1 to 65535")]
    [TestCase("host:http", "not a number from 1 to 65535")]
    [TestCase("host:-1", "not a number from 1 to 65535")]
    [TestCase(":80", "host is missing")]
    [TestCase("[::1]80", "followed by ':port'")]
    [TestCase("[::1]", "followed by ':port'")]
    [TestCase("[10.0.0.1]:80", "not an IPv6 address")]
    [TestCase("my host:80", "spaces")]
    [TestCase("", "port is missing")]
    public void Parse_rejects_bad_input_quoting_it_and_saying_why(string text, string why)
    {
        Assert.That(
            () => TcpConnectProbe.Parse(text, ProbeTimeout, TimeProvider.System),
            Throws.TypeOf<FormatException>().With.Message.Contains($"'{text}'").And.Message.Contains(why));
    }

    [Test]
    public void The_constructor_rejects_a_bad_host_port_timeout_or_clock()
    {
        Assert.That(() => new TcpConnectProbe("h", 0, ProbeTimeout, TimeProvider.System), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => new TcpConnectProbe("h", 80, TimeSpan.Zero, TimeProvider.System), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => new TcpConnectProbe("", 80, ProbeTimeout, TimeProvider.System), Throws.ArgumentException);
        Assert.That(() => new TcpConnectProbe("h", 80, ProbeTimeout, null!), Throws.ArgumentNullException);
    }
}

[TestFixture]
public class TcpConnectProbeTimeoutTests
{
    [Test]
    public async Task A_hanging_connect_times_out_on_the_injected_clock()
    {
        // A listener that never accepts, with a full accept queue: Linux drops further SYNs, so a connect hangs.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var fillers = new List<Socket>();
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var endPoint = (IPEndPoint)listener.LocalEndPoint!;
            for (var i = 0; i < 8; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                _ = filler.ConnectAsync(endPoint).WaitAsync(TimeSpan.FromMilliseconds(200)).ContinueWith(static _ => { }, TaskScheduler.Default);
            }

            await Task.Delay(300);
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
            var probe = new TcpConnectProbe("127.0.0.1", endPoint.Port, TimeSpan.FromSeconds(1), time);
            var pending = probe.ProbeAsync(CancellationToken.None).AsTask();
            await Task.Delay(300);
            if (pending.IsCompleted)
            {
                Assert.Inconclusive($"the connect did not hang on this kernel (result {pending.Result})");
            }

            time.Advance(TimeSpan.FromSeconds(1));
            var result = await pending.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.That(result, Is.False);
        }
        finally
        {
            foreach (var filler in fillers)
            {
                filler.Dispose();
            }
        }
    }
}
