using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HaKit.Resources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>Configuration and hosts for the hosting tests: two nodes a and b on loopback UDP ports, short timings.</summary>
internal static class TestHosts
{
    public const string Secret = "VVpl2j8xBEY2MHfgvAVeZimCwi5gH5A1pglA6JNk4dg=";

    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static int[] FreeUdpPorts(int count)
    {
        var sockets = Enumerable.Range(0, count).Select(_ =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return s;
        }).ToList();
        var ports = sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        sockets.ForEach(s => s.Dispose());
        return ports;
    }

    /// <summary>A valid configuration for <paramref name="node"/>; tests change single keys.</summary>
    public static Dictionary<string, string?> Config(string node, int[] ports, string stateDirectory) => new()
    {
        ["HaKit:ClusterName"] = "hosting-test",
        ["HaKit:NodeName"] = node,
        ["HaKit:Nodes:0:Name"] = "a",
        ["HaKit:Nodes:0:Addresses:lan0"] = $"127.0.0.1:{ports[0]}",
        ["HaKit:Nodes:1:Name"] = "b",
        ["HaKit:Nodes:1:Addresses:lan0"] = $"127.0.0.1:{ports[1]}",
        ["HaKit:Links:0:Name"] = "lan0",
        ["HaKit:Auth:Keys:0:Id"] = "1",
        ["HaKit:Auth:Keys:0:Secret"] = Secret,
        ["HaKit:Auth:SendKeyId"] = "1",
        ["HaKit:Timing:Interval"] = "00:00:00.050",
        ["HaKit:Timing:WarnTime"] = "00:00:00.150",
        ["HaKit:Timing:DeadTime"] = "00:00:00.300",
        ["HaKit:Timing:InitialDeadTime"] = "00:00:00.600",
        ["HaKit:Groups:0:Name"] = "web",
        ["HaKit:Groups:0:PreferredNode"] = "a",
        ["HaKit:Groups:0:MonitorInterval"] = "00:00:00.100",
        ["HaKit:Groups:0:StartTimeout"] = "00:00:02",
        ["HaKit:Groups:0:StopTimeout"] = "00:00:02",
        ["HaKit:StateDirectory"] = stateDirectory,
    };

    public static IHost Build(Dictionary<string, string?> config, Action<IHaKitBuilder> register, Action<IServiceCollection>? services = null, LogSink? logs = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(config);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        register(builder.Services.AddHaKit());
        builder.Services.AddHealthChecks().AddHaKit();
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    public static async Task WaitFor(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Bound);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
            {
                Assert.Fail($"timed out after {Bound.TotalSeconds} s waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }
}

/// <summary>Resources that record what they did, shared by the nodes of one test (one process, so the order is exact).</summary>
internal sealed class Recorder
{
    private int _running;
    private int _maxRunning;

    public ConcurrentQueue<string> Log { get; } = new();

    public int Running => Volatile.Read(ref _running);

    public int MaxRunning => Volatile.Read(ref _maxRunning);

    public IResource Resource(string node, string name = "http") => new Tracked(this, node, name);

    private void Started(string node, string name, ulong epoch)
    {
        var now = Interlocked.Increment(ref _running);
        int max;
        while (now > (max = Volatile.Read(ref _maxRunning)) && Interlocked.CompareExchange(ref _maxRunning, now, max) != max)
        {
        }

        Log.Enqueue($"{node} start {name} epoch={epoch}");
    }

    private void Stopped(string node, string name, ulong epoch)
    {
        Interlocked.Decrement(ref _running);
        Log.Enqueue($"{node} stop {name} epoch={epoch}");
    }

    private sealed class Tracked(Recorder recorder, string node, string name) : IResource
    {
        private int _running;

        public string Name => name;

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _running, 1) == 0)
            {
                recorder.Started(node, name, context.Epoch);
            }

            return ValueTask.FromResult(ResourceResult.Success);
        }

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _running, 0) == 1)
            {
                recorder.Stopped(node, name, context.Epoch);
            }

            return ValueTask.FromResult(ResourceResult.Success);
        }

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Volatile.Read(ref _running) == 1 ? MonitorResult.Running : MonitorResult.NotRunning());
    }
}

/// <summary>Captures log lines.</summary>
internal sealed class LogSink : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(LogSink sink) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            sink.Lines.Enqueue(formatter(state, exception));
    }
}

/// <summary>
/// Base of the fixtures that run real hosts: a fresh state directory per test, and every host in <see cref="Hosts"/> stopped
/// (bounded by <see cref="TestHosts.Bound"/>) and disposed after it, whatever the test did.
/// </summary>
public abstract class HostFixture
{
    /// <summary>Hosts to stop and dispose after the test.</summary>
    protected List<IHost> Hosts { get; } = [];

    /// <summary>This test's state directory (deleted after it).</summary>
    protected string StateDir { get; private set; } = "";

    /// <summary>Prefix of the temporary state directory's name.</summary>
    protected abstract string StatePrefix { get; }

    [SetUp]
    public void CreateStateDirectory() => StateDir = Directory.CreateTempSubdirectory(StatePrefix).FullName;

    [TearDown]
    public async Task StopHosts()
    {
        foreach (var host in Hosts)
        {
            using var cts = new CancellationTokenSource(TestHosts.Bound);
            try
            {
                await host.StopAsync(cts.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or OptionsValidationException or InvalidOperationException)
            {
            }

            host.Dispose();
        }

        Hosts.Clear();
        Directory.Delete(StateDir, recursive: true);
    }
}
