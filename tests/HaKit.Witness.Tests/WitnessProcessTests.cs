using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HaKit.Witness.Tests;

/// <summary>The console program: <c>--config</c>, validation errors, a real request, SIGTERM. Every process is killed on the way out.</summary>
[TestFixture]
[CancelAfter(60_000)]
[Platform(Include = "Linux,MacOsX", Reason = "stops the process with SIGTERM through /bin/kill")]
public class WitnessProcessTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(20);
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "hakit-witness-proc-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Invalid_configuration_exits_1_naming_every_bad_key()
    {
        var config = Path.Combine(_dir, "bad.json");
        await File.WriteAllTextAsync(config, """{ "HaKit": { "Witness": { "Listen": "nowhere", "StateDirectory": "STATE" } } }""".Replace("STATE", _dir, StringComparison.Ordinal));

        using var p = Witness.Start("--config", config);
        var (exit, _, stderr) = await p.WaitAsync(ExitTimeout);

        Assert.That(exit, Is.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain("HaKit:Witness:Listen = 'nowhere'").And.Contain("HaKit:Witness:Clusters = (none)"));
    }

    [Test]
    public async Task A_missing_config_file_exits_2()
    {
        using var p = Witness.Start("--config", Path.Combine(_dir, "absent.json"));
        var (exit, _, stderr) = await p.WaitAsync(ExitTimeout);

        Assert.That(exit, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("no such file"));
    }

    [Test]
    public async Task Runs_from_a_config_file_with_command_line_overrides_answers_and_stops_on_SIGTERM()
    {
        var port = FreeUdpPort();
        var config = Path.Combine(_dir, "witness.json");
        var example = await File.ReadAllTextAsync(Path.Combine(WitnessOptionsTests.RepositoryRoot(), "src/HaKit.Witness/witness.example.json"));
        await File.WriteAllTextAsync(config, example.Replace("/tmp/hakit-witness", _dir, StringComparison.Ordinal));

        using var p = Witness.Start("--config", config, $"--HaKit:Witness:Listen=127.0.0.1:{port}", "--HaKit:Witness:Name=qnetd", "--HaKit:Witness:MaxLeaseTtl=00:00:30");
        using var a = new TestNode("twonode", "a", "VVpl2j8xBEY2MHfgvAVeZimCwi5gH5A1pglA6JNk4dg=", acceptFrom: ["qnetd"]);
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        var reply = await AskUntilAnsweredAsync(a, endpoint, p);
        Witness.Terminate(p.Process);
        var (exit, stdout, _) = await p.WaitAsync(ExitTimeout);

        Assert.That(reply.Granted, Is.False, "quiet for MaxLeaseTtl (30 s) after the start");
        Assert.That(reply.Reason, Does.Contain("voter qnetd started"));
        Assert.That(exit, Is.EqualTo(0), stdout);
        Assert.That(stdout, Does.Contain($"listening on udp 127.0.0.1:{port}").And.Contain("quiet for the first 30000 ms"));
        Assert.That(stdout, Does.Contain("witness qnetd stopped"));
        Assert.That(File.Exists(Path.Combine(_dir, "twonode.state")));
    }

    private static async Task<Wire.Proto.VoteReply> AskUntilAnsweredAsync(TestNode node, IPEndPoint endpoint, RunningProcess p)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            Assert.That(p.Process.HasExited, Is.False, () => "the witness exited: " + p.Output);
            node.Send(endpoint, node.Sign(node.Request("web", 1, 1000)));
            if (await node.ReceiveAsync(TimeSpan.FromMilliseconds(250)) is { } reply)
            {
                return reply;
            }
        }

        throw new TimeoutException("the witness did not answer within 20 s: " + p.Output);
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>Starts <c>dotnet HaKit.Witness.dll</c> from the test output directory.</summary>
    private static class Witness
    {
        public static RunningProcess Start(params string[] args)
        {
            var info = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = AppContext.BaseDirectory,
            };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "HaKit.Witness.dll"));
            foreach (var a in args)
            {
                info.ArgumentList.Add(a);
            }

            info.Environment["DOTNET_ENVIRONMENT"] = "Production";
            return new RunningProcess(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start"));
        }

        public static void Terminate(Process process)
        {
            using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit(5000);
        }
    }

    /// <summary>A started process whose output is drained; disposing kills it (and its tree) if it still runs.</summary>
    private sealed class RunningProcess : IDisposable
    {
        private readonly StringBuilder _stdout = new();
        private readonly StringBuilder _stderr = new();

        public RunningProcess(Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
            process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output
        {
            get
            {
                lock (_stdout)
                {
                    return _stdout + Environment.NewLine + _stderr;
                }
            }
        }

        public async Task<(int Exit, string Stdout, string Stderr)> WaitAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            await Process.WaitForExitAsync(cts.Token);
            Process.WaitForExit(); // flushes the redirected output
            lock (_stdout)
            {
                return (Process.ExitCode, _stdout.ToString(), _stderr.ToString());
            }
        }

        public void Dispose()
        {
            try
            {
                if (!Process.HasExited)
                {
                    Process.Kill(entireProcessTree: true);
                    Process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
                // already gone
            }

            Process.Dispose();
        }

        private void Append(StringBuilder target, string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_stdout)
            {
                target.AppendLine(line);
            }
        }
    }
}
