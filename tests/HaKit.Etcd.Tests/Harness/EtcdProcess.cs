using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HaKit.Etcd.Tests.Harness;

/// <summary>
/// A real single-member etcd (Debian's <c>etcd-server</c>, <c>/usr/bin/etcd</c>) on free loopback ports with a temporary
/// data directory. <see cref="StartAsync"/> waits (bounded) until it answers; <see cref="StopAsync"/> sends SIGTERM, then
/// SIGKILL, to its process id; <see cref="RestartAsync"/> starts it again on the same ports and data directory.
/// Disposing stops it and deletes the data directory. When etcd is not installed the test is ignored.
/// </summary>
public sealed partial class EtcdProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartBound = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(5);
    private readonly string _binary;
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    private EtcdProcess(string binary)
    {
        _binary = binary;
        DataDirectory = Directory.CreateTempSubdirectory("hakit-etcd-").FullName;
        (ClientPort, PeerPort) = (FreeTcpPort(), FreeTcpPort());
        while (PeerPort == ClientPort)
        {
            PeerPort = FreeTcpPort();
        }
    }

    /// <summary>The client URL, <c>http://127.0.0.1:port</c>.</summary>
    public string ClientUrl => $"http://127.0.0.1:{ClientPort}";

    /// <summary>The client port.</summary>
    public int ClientPort { get; }

    /// <summary>The peer port.</summary>
    public int PeerPort { get; }

    /// <summary>The temporary data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>Whether the process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The last lines etcd wrote, for failure messages.</summary>
    public string RecentOutput => string.Join("\n", _output.TakeLast(20));

    /// <summary>Starts an etcd and waits until it answers; ignores the test when etcd is not installed.</summary>
    public static async Task<EtcdProcess> StartAsync()
    {
        var binary = FindBinary();
        if (binary is null)
        {
            Assert.Ignore("etcd is not installed: install etcd-server (bash .ci/run does)");
        }

        var etcd = new EtcdProcess(binary!);
        try
        {
            await etcd.RestartAsync();
            return etcd;
        }
        catch
        {
            await etcd.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the process again (same ports, same data) and waits until it answers.</summary>
    public async Task RestartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("etcd already runs");
        }

        _process?.Dispose();
        var peer = $"http://127.0.0.1:{PeerPort}";
        var psi = new ProcessStartInfo(_binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--name", "default", "--data-dir", DataDirectory,
                     "--listen-client-urls", ClientUrl, "--advertise-client-urls", ClientUrl,
                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", $"default={peer}", "--initial-cluster-state", "new",
                 })
        {
            psi.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var started = Stopwatch.StartNew();
        while (started.Elapsed < StartBound)
        {
            if (process.HasExited)
            {
                Assert.Fail($"etcd exited with code {process.ExitCode} at start-up:\n{RecentOutput}");
            }

            try
            {
                var health = await http.GetStringAsync($"{ClientUrl}/health");
                if (health.Contains("\"health\":\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // not yet
            }

            await Task.Delay(50);
        }

        await StopAsync();
        Assert.Fail($"etcd did not answer on {ClientUrl} within {StartBound.TotalSeconds} s:\n{RecentOutput}");
    }

    /// <summary>Stops the process: SIGTERM, then SIGKILL if it still runs after a few seconds. Keeps the data directory.</summary>
    public async Task StopAsync()
    {
        var process = _process;
        if (process is null || process.HasExited)
        {
            return;
        }

        if (SysKill(process.Id, 15) != 0 && !process.HasExited)
        {
            process.Kill();
        }

        try
        {
            await process.WaitForExitAsync().WaitAsync(StopBound);
        }
        catch (TimeoutException)
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(StopBound);
        }
    }

    /// <summary>Kills the process at once (SIGKILL), like a crash.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(StopBound);
        }
    }

    /// <summary>Stops etcd and deletes its data directory.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            // last resort below
        }
        finally
        {
            if (_process is { HasExited: false } p)
            {
                p.Kill();
            }

            _process?.Dispose();
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // best effort
            }
        }
    }

    /// <summary>A loopback TCP port nobody listens on (bound to port 0 and released).</summary>
    public static int FreeTcpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static string? FindBinary()
    {
        if (File.Exists("/usr/bin/etcd"))
        {
            return "/usr/bin/etcd";
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "etcd");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200 && _output.TryDequeue(out _))
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
