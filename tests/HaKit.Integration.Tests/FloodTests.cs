using System.Net;
using HaKit.Integration.Harness;

namespace HaKit.Integration.Tests;

/// <summary>
/// Issue 13, section 2: a junk flood of 50,000 datagrams a second to each node's heartbeat port (from another local port), plus
/// forged datagrams from each node's own address and port to the other, must not change any peer's state or any role of the
/// <c>Lan</c> pair; the forgeries are dropped and counted (and logged, aggregated). Real processes on loopback.
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Include = "Linux", Reason = "raw sockets for the forged datagrams, /proc for CPU time")]
public sealed class FloodTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Flood duration in CI (the benchmark runs 30 s: docs/benchmarks.md).</summary>
    private static readonly TimeSpan FloodTime = TimeSpan.FromSeconds(10);

    private const int JunkPerSecond = 50_000;
    private const int ForgedPerSecond = 1_000;

    [Test]
    public async Task A_junk_flood_changes_no_peer_state_and_no_role_and_the_forgeries_are_counted()
    {
        if (!Flooder.CanForge())
        {
            Assert.Ignore("forging datagrams from a node's own address needs a raw socket (root or CAP_NET_RAW)");
        }

        var pair = new SamplePair("Lan");
        try
        {
            var (a, b) = await pair.StartWithOwnerAAsync(StartTimeout, pair.Timing.InitialDeadTime + TimeSpan.FromMilliseconds(300));
            var peerLines = a.Lines.Count(l => l.IsPeer) + b.Lines.Count(l => l.IsPeer);
            var roleLines = a.Lines.Count(l => l.IsRole) + b.Lines.Count(l => l.IsRole);
            var portA = new IPEndPoint(IPAddress.Loopback, pair.HeartbeatPortA);
            var portB = new IPEndPoint(IPAddress.Loopback, pair.HeartbeatPortB);
            await using (var flood = new Flooder([(portA, "b"), (portB, "a")], "twonode", JunkPerSecond, FloodTime, forged: ([portB, portA], ForgedPerSecond)))
            {
                flood.Start();
                await flood.Completion.WaitAsync(FloodTime + TimeSpan.FromSeconds(30));
                await TestContext.Out.WriteLineAsync($"flood: sent {flood.Sent} junk and {flood.ForgedSent} forged datagrams, {flood.Failed} sends failed");
                Assert.That(flood.Sent, Is.GreaterThan(JunkPerSecond * FloodTime.TotalSeconds), "the flood ran at its rate (both targets)");
                Assert.That(flood.ForgedSent, Is.GreaterThan(0));
            }

            // The nodes log the first drop of each reason at once: wait (bounded) for it to reach the transcript.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (!(a.Stderr.Contains("dropping datagrams (BadMac)", StringComparison.Ordinal) && b.Stderr.Contains("dropping datagrams (BadMac)", StringComparison.Ordinal))
                   && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            Assert.Multiple(() =>
            {
                Assert.That(a.Lines.Count(l => l.IsPeer) + b.Lines.Count(l => l.IsPeer) - peerLines, Is.Zero, "no peer-state change during the flood");
                Assert.That(a.Lines.Count(l => l.IsRole) + b.Lines.Count(l => l.IsRole) - roleLines, Is.Zero, "no role change during the flood");
                Assert.That(a.HasExited || b.HasExited, Is.False);
                Assert.That(a.Stderr, Does.Contain("dropping datagrams (BadMac)"), "a counted and logged the forgeries in b's name");
                Assert.That(b.Stderr, Does.Contain("dropping datagrams (BadMac)"), "b counted and logged the forgeries in a's name");
            });
        }
        catch
        {
            await TestContext.Out.WriteLineAsync(pair.Transcripts());
            throw;
        }
        finally
        {
            await pair.DisposeAsync();
        }
    }
}
