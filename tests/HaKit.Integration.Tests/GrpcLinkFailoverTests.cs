using System.Globalization;
using HaKit.Integration.Harness;

namespace HaKit.Integration.Tests;

/// <summary>
/// The TwoNode sample with its Grpc link next to the UDP link (<c>--config appsettings.grpc.json</c>, h2c on loopback), as real
/// processes, Lan preset: a SIGKILLed owner is hinted gone and taken over before the dead time; a SIGSTOPped one (no reset)
/// and a SIGTERMed one (goodbye) are not hinted.
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Include = "Linux", Reason = "SIGSTOP via kill(2)")]
public sealed class GrpcLinkFailoverTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private SamplePair _pair = null!;

    [SetUp]
    public void SetUp() => _pair = new SamplePair(
        "Lan",
        "--config", "appsettings.grpc.json",
        $"--HaKit:Nodes:0:Addresses:grpc0=127.0.0.1:{FreePorts.Tcp().ToString(CultureInfo.InvariantCulture)}",
        $"--HaKit:Nodes:1:Addresses:grpc0=127.0.0.1:{FreePorts.Tcp().ToString(CultureInfo.InvariantCulture)}");

    [TearDown]
    public async Task TearDown()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status != NUnit.Framework.Interfaces.TestStatus.Passed)
        {
            await TestContext.Out.WriteLineAsync(_pair.Transcripts());
        }

        await _pair.DisposeAsync();
        Assert.That(_pair.Started.All(p => p.HasExited), Is.True, "every process is reaped");
    }

    private async Task<(SampleNode A, SampleNode B)> StartOwnerA()
    {
        var (a, b) = await _pair.StartWithOwnerAAsync(StartTimeout, settle: _pair.Timing.InitialDeadTime + TimeSpan.FromMilliseconds(300));
        await b.WaitForLineAsync(_ => b.Stderr.Contains("link grpc0: stream to node a", StringComparison.Ordinal), TimeSpan.FromSeconds(5), "b's grpc0 stream to a");
        return (a, b);
    }

    [Test]
    public async Task SIGKILL_of_the_owner_is_hinted_and_taken_over_before_the_dead_time()
    {
        var (a, b) = await StartOwnerA();
        var killedAt = DateTimeOffset.UtcNow;
        a.Kill();

        var active = await b.WaitForLineAsync(l => l.IsRoleTo("Active"), TimeSpan.FromSeconds(10), "role to=Active");
        var hint = b.Lines.FirstOrDefault(l => l.Kind == "hint");
        Assert.That(hint?["node"], Is.EqualTo("a"), "b printed the crash hint about a");
        Assert.That(hint!["shortened"], Is.EqualTo("web"), "the sample's http resource dies with its process");
        var dead = b.Lines.FirstOrDefault(l => l.IsPeer && l["node"] == "a" && l["health"] == "Dead");
        Assert.That(dead is null || dead.Timestamp >= active.Timestamp, Is.True, "b was Active before its failure detector declared a dead");
        Assert.That(await StderrSoon(b, "failover: peer a's process is gone ("), Does.Contain("on link grpc0, reconnect refused)"), "the role change names the hint");
        TestContext.Out.WriteLine($"SIGKILL → b Active after {(active.Timestamp - killedAt).TotalMilliseconds:0} ms (stdout timestamps)");
    }

    [Test]
    public async Task SIGSTOP_of_the_owner_is_not_hinted_and_waits_for_the_dead_time()
    {
        var (a, b) = await StartOwnerA();
        var stoppedAt = DateTimeOffset.UtcNow;
        a.Pause();

        var acquiring = await b.WaitForLineAsync(l => l.IsRoleTo("Acquiring"), TimeSpan.FromSeconds(10), "role to=Acquiring");
        Assert.That(b.Lines.Where(l => l.Kind == "hint"), Is.Empty, "a frozen process resets nothing");
        Assert.That(acquiring.Timestamp - stoppedAt, Is.GreaterThanOrEqualTo(_pair.Timing.DeadTime - _pair.Timing.Interval), "the takeover waited for the dead time");
        Assert.That(await StderrSoon(b, "failover: node a is dead (no heartbeat for"), Does.Contain("failover: node a is dead (no heartbeat for"));
    }

    [Test]
    public async Task SIGTERM_of_the_owner_says_goodbye_and_is_not_hinted()
    {
        var (a, b) = await StartOwnerA();
        a.Terminate();

        await b.WaitForLineAsync(l => l.IsRoleTo("Active"), TimeSpan.FromSeconds(15), "role to=Active");
        Assert.That(await a.WaitForExitAsync(TimeSpan.FromSeconds(15)), Is.EqualTo(0));
        await Task.Delay(500); // b's reconnects to the gone a are refused meanwhile
        Assert.That(b.Lines.Where(l => l.Kind == "hint"), Is.Empty, "a clean stop is told apart from a crash");
        Assert.That(await StderrSoon(b, "link grpc0: stream to node a ended: goodbye"), Does.Contain("link grpc0: stream to node a ended: goodbye"));
    }

    /// <summary>
    /// The node's stderr once it contains <paramref name="text"/> (or after 5 s): stdout and stderr are read on separate
    /// threads, so a log line written just before a stdout line may be read just after it.
    /// </summary>
    private static async Task<string> StderrSoon(SampleNode node, string text)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!node.Stderr.Contains(text, StringComparison.Ordinal) && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }

        return node.Stderr;
    }
}
