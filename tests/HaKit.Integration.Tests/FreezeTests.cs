using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Integration.Harness;
using HaKit.Integration.Namespaces;
using HaKit.Tests.Transport;

namespace HaKit.Integration.Tests;

/// <summary>
/// Issue 13, part 1, on real processes: each node of the sample pair on its own host (a network namespace on a bridge, both binding
/// the same service port, as two machines with a virtual IP would). The owner is frozen with SIGSTOP longer than its lease (Witness) or
/// the dead time (TwoNode); once the peer took over, clients hammer the frozen owner's address and the owner gets SIGCONT. Requests
/// queued in its kernel during the freeze are served as soon as it wakes, before its loop ran: no answer may carry the old epoch
/// (the sample checks <c>ResourceContext.IsOwned</c> before every answer). Every wait is bounded; processes, namespaces and the bridge
/// are removed in finally.
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Include = "Linux", Reason = "network namespaces and SIGSTOP")]
public sealed class FreezeTests
{
    private const int ServicePort = 8080;
    private const int Clients = 8;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan TakeoverBound = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan HammerBeforeWake = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan HammerAfterWake = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(2);

    [Test]
    public Task Witness_mode_an_owner_frozen_past_its_lease_never_answers_with_its_old_epoch_after_SIGCONT() =>
        RunAsync(witness: true);

    [Test]
    public Task TwoNode_mode_an_owner_frozen_past_the_dead_time_never_answers_with_its_old_epoch_after_SIGCONT() =>
        RunAsync(witness: false);

    private static async Task RunAsync(bool witness)
    {
        NetNs.IgnoreIfUnavailable();
        var nodes = new List<SampleNode>();
        var stateDirectory = Directory.CreateTempSubdirectory("hakit-it-freeze-").FullName;
        var net = NamespaceBridge.Create();
        var passed = false;
        try
        {
            var arbiterArgs = new List<string>();
            if (witness)
            {
                var port = FreePorts.Udp();
                var w = SampleNode.StartDll("witness", SampleProgram.WitnessDllPath,
                [
                    "--config", Path.Combine(Path.GetDirectoryName(SampleProgram.WitnessDllPath)!, "witness.example.json"),
                    $"--HaKit:Witness:Listen={net.HostAddress}:{port.ToString(CultureInfo.InvariantCulture)}",
                    $"--HaKit:Witness:StateDirectory={Path.Combine(stateDirectory, "witness")}",
                    "--HaKit:Witness:MaxLeaseTtl=00:00:02",
                ]);
                nodes.Add(w);
                var watch = Stopwatch.StartNew();
                while (!(w.UnparsedLines.Any(l => l.Contains("listening on udp", StringComparison.Ordinal)) || w.Stderr.Contains("listening on udp", StringComparison.Ordinal)))
                {
                    Assert.That(w.HasExited, Is.False, () => "the witness exited: " + w.Transcript());
                    Assert.That(watch.Elapsed, Is.LessThan(StartTimeout), () => "the witness did not start listening: " + w.Transcript());
                    await Task.Delay(20);
                }

                arbiterArgs.AddRange(["--arbiter", "witness", $"--HaKit:Arbiter:Witness:Endpoint={net.HostAddress}:{port.ToString(CultureInfo.InvariantCulture)}"]);
            }

            SampleNode Start(string node)
            {
                var process = SampleNode.StartDll(node, SampleProgram.DllPath,
                [
                    "--node", node,
                    "--HaKit:Preset=Lan",
                    $"--HaKit:Nodes:0:Addresses:lan0={net.AddressA}:7401",
                    $"--HaKit:Nodes:1:Addresses:lan0={net.AddressB}:7402",
                    $"--HaKit:StateDirectory={stateDirectory}",
                    $"--Sample:HttpAddress=0.0.0.0:{ServicePort.ToString(CultureInfo.InvariantCulture)}",
                    .. arbiterArgs,
                ], net.NamespaceOf(node));
                nodes.Add(process);
                return process;
            }

            // a starts alone and takes web; b joins as standby and hears a.
            var a = Start("a");
            var listening = await a.WaitForLineAsync(l => l.IsHttpListening, StartTimeout, "a: http listening");
            var oldEpoch = listening.Epoch ?? throw new InvalidOperationException("no epoch in " + listening.Raw);
            var b = Start("b");
            await b.WaitForLineAsync(l => l.IsReady, StartTimeout, "b: ready");
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            var before = await ExchangeAsync(net.AddressA, CancellationToken.None);
            Assert.That(before, Does.Contain($"epoch={oldEpoch.ToString(CultureInfo.InvariantCulture)}"), "a serves before the freeze");

            // Freeze a; b takes over once a's lease ran out (Witness) or after the dead time (TwoNode).
            a.Pause();
            var frozenAt = Stopwatch.GetTimestamp();
            var takeover = await b.WaitForLineAsync(l => l.IsHttpListening && l.Epoch > oldEpoch, TakeoverBound, "b: http listening with a newer epoch");
            var newEpoch = takeover.Epoch!.Value;

            // Clients hammer a's address: their connections complete in a's kernel and wait in its backlog; then a wakes.
            using var stop = new CancellationTokenSource();
            var results = new List<(long At, string Outcome)>();
            var hammers = Enumerable.Range(0, Clients).Select(_ => Task.Run(() => HammerAsync(net.AddressA, results, stop.Token))).ToArray();
            await Task.Delay(HammerBeforeWake);
            var frozenFor = Stopwatch.GetElapsedTime(frozenAt);
            var wokeAt = Stopwatch.GetTimestamp();
            a.Continue();
            await Task.Delay(HammerAfterWake);
            await stop.CancelAsync();
            await Task.WhenAll(hammers).WaitAsync(TimeSpan.FromSeconds(10));

            (long At, string Outcome)[] seen;
            lock (results)
            {
                seen = [.. results];
            }

            var stale = seen.Where(r => r.Outcome.Contains($"epoch={oldEpoch.ToString(CultureInfo.InvariantCulture)}", StringComparison.Ordinal)).ToArray();
            var refused = seen.Count(r => r.Outcome.StartsWith("HTTP/1.1 503", StringComparison.Ordinal));
            var afterWake = seen.Count(r => r.At >= wokeAt);
            await TestContext.Out.WriteLineAsync(
                $"{(witness ? "witness" : "twonode")}: frozen {frozenFor.TotalMilliseconds:0} ms, b took over with epoch {newEpoch} (a had {oldEpoch}); " +
                $"{seen.Length} exchanges with a ({afterWake} ended after SIGCONT): {refused} answered 503 not owner, {stale.Length} with the old epoch; " +
                string.Join(", ", seen.GroupBy(r => Kind(r.Outcome)).Select(g => $"{g.Key} {g.Count()}")));

            Assert.That(stale, Is.Empty, () => "answers with the old epoch after SIGCONT:\n" + string.Join("\n", stale.Select(s => s.Outcome)));
            Assert.That(afterWake, Is.GreaterThan(0), "no exchange with a ended after SIGCONT: the test saw nothing");

            // a gave the group up (lease expired, or the split-brain rule: b's epoch is higher) and b still serves the new epoch.
            await a.WaitForLineAsync(l => l.IsHttpStopped, TakeoverBound, "a: http stopped");
            var after = await ExchangeAsync(net.AddressB, CancellationToken.None);
            Assert.That(after, Does.Contain($"epoch={newEpoch.ToString(CultureInfo.InvariantCulture)}"), "b serves after a woke");
            passed = true;
        }
        finally
        {
            if (!passed)
            {
                foreach (var n in nodes)
                {
                    await TestContext.Out.WriteLineAsync(n.Transcript());
                }
            }

            await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
            net.Dispose();
            Directory.Delete(stateDirectory, recursive: true);
        }
    }

    private static string Kind(string outcome) =>
        outcome.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) ? "200" :
        outcome.StartsWith("HTTP/1.1 503", StringComparison.Ordinal) ? "503" :
        outcome.Split(':')[0];

    private static async Task HammerAsync(IPAddress address, List<(long At, string Outcome)> results, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            string outcome;
            try
            {
                outcome = await ExchangeAsync(address, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                outcome = "timeout";
            }
            catch (SocketException ex)
            {
                outcome = ex.SocketErrorCode.ToString();
                await Task.Delay(20, CancellationToken.None);
            }
            catch (IOException ex)
            {
                outcome = "io: " + ex.Message;
            }

            lock (results)
            {
                results.Add((Stopwatch.GetTimestamp(), outcome));
            }
        }
    }

    /// <summary>One HTTP exchange (connect, GET, read to the end), bounded by <see cref="ExchangeTimeout"/>; the raw answer.</summary>
    private static async Task<string> ExchangeAsync(IPAddress address, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ExchangeTimeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(address, ServicePort), timeout.Token);
        await socket.SendAsync("GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"u8.ToArray(), SocketFlags.None, timeout.Token);
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                break;
            }

            answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return answer.Length == 0 ? "eof: no answer" : answer.ToString();
    }
}
