using System.Diagnostics;
using HaKit.Resources;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace HaKit.Tests.Resources;

[TestFixture]
[NonParallelizable]
public sealed class ProcessResourceTests
{
    private static readonly ResourceContext Context = new("web", "node1", 7, CancellationToken.None);
    private readonly List<ProcessResource> _resources = [];
    private FakeLogger _logger = null!;
    private CancellationTokenSource _bound = null!;

    [SetUp]
    public void SetUp()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("POSIX shell tests");
        }

        _logger = new FakeLogger();
        _bound = new CancellationTokenSource(TimeSpan.FromSeconds(15));
    }

    [TearDown]
    public async Task TearDown()
    {
        foreach (var resource in _resources)
        {
            await resource.DisposeAsync();
        }

        _resources.Clear();
        _bound.Dispose();
    }

    private ProcessResource Shell(string script, TimeSpan? stopTimeout = null, TimeSpan? startupGrace = null)
    {
        var resource = new ProcessResource(
            new ProcessResourceOptions
            {
                Name = "svc",
                FileName = "/bin/sh",
                Arguments = ["-c", script],
                StopTimeout = stopTimeout ?? TimeSpan.FromSeconds(10),
                StartupGrace = startupGrace ?? TimeSpan.Zero,
            },
            _logger);
        _resources.Add(resource);
        return resource;
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private async Task WaitUntil(Func<bool> condition, string what)
    {
        while (!condition())
        {
            Assert.That(_bound.IsCancellationRequested, Is.False, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    [Test]
    public async Task Start_then_monitor_is_running_and_start_is_idempotent()
    {
        var resource = Shell("while :; do sleep 0.1; done");

        var result = await resource.StartAsync(Context, _bound.Token);
        Assert.That(result.Succeeded, Is.True, result.ToString());
        int? pid = resource.ProcessId;
        Assert.That(pid, Is.Not.Null);
        Assert.That(IsAlive(pid!.Value), Is.True);

        Assert.That((await resource.MonitorAsync(Context, _bound.Token)).Status, Is.EqualTo(ResourceStatus.Running));
        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);
        Assert.That(resource.ProcessId, Is.EqualTo(pid), "a second start does not launch another process");
    }

    [Test]
    public async Task A_child_exit_is_NotRunning_with_the_exit_code()
    {
        var resource = Shell("sleep 0.2; exit 3");
        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);

        MonitorResult monitor;
        do
        {
            Assert.That(_bound.IsCancellationRequested, Is.False, "the child did not exit");
            await Task.Delay(20);
            monitor = await resource.MonitorAsync(Context, _bound.Token);
        }
        while (monitor.Status == ResourceStatus.Running);

        Assert.That(monitor.Status, Is.EqualTo(ResourceStatus.NotRunning));
        Assert.That(monitor.Message, Is.EqualTo("exited with code 3"));

        // A new start launches it again.
        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);
        Assert.That((await resource.MonitorAsync(Context, _bound.Token)).Status, Is.EqualTo(ResourceStatus.Running));
    }

    [Test]
    public async Task Stop_sends_SIGTERM_and_a_graceful_child_exits_quickly()
    {
        var resource = Shell("trap 'echo got-term; exit 0' TERM; echo trap-ready; while :; do sleep 0.1; done");
        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);
        int pid = resource.ProcessId!.Value;
        await WaitUntil(() => _logger.Collector.GetSnapshot().Any(r => r.Message.Contains("trap-ready", StringComparison.Ordinal)), "the shell's trap"); // a busy machine may take longer than any fixed delay

        var watch = Stopwatch.StartNew();
        var result = await resource.StopAsync(Context, _bound.Token);
        watch.Stop();

        Assert.That(result.Succeeded, Is.True, result.ToString());
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "should not have waited for the 10 s StopTimeout");
        Assert.That(IsAlive(pid), Is.False);
        Assert.That((await resource.MonitorAsync(Context, _bound.Token)).Status, Is.EqualTo(ResourceStatus.NotRunning));
        await WaitUntil(() => _logger.Collector.GetSnapshot().Any(r => r.Message.Contains("got-term", StringComparison.Ordinal)), "the trap's output");
        Assert.That(_logger.Collector.GetSnapshot().Any(r => r.Message.Contains("exited with code 0", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public async Task Stop_kills_a_child_that_ignores_SIGTERM_after_the_stop_timeout()
    {
        var resource = Shell("trap '' TERM; echo trap-ready; while :; do sleep 0.1; done", stopTimeout: TimeSpan.FromMilliseconds(500));
        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);
        int pid = resource.ProcessId!.Value;
        await WaitUntil(() => _logger.Collector.GetSnapshot().Any(r => r.Message.Contains("trap-ready", StringComparison.Ordinal)), "the shell's trap");

        var watch = Stopwatch.StartNew();
        var result = await resource.StopAsync(Context, _bound.Token);
        watch.Stop();

        Assert.That(result.Succeeded, Is.True, result.ToString());
        Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(450)), "SIGKILL came before the grace ended");
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(IsAlive(pid), Is.False);
        Assert.That(_logger.Collector.GetSnapshot().Any(r => r.Message.Contains("killing the process tree", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public async Task Stop_when_not_running_succeeds()
    {
        var resource = Shell("exit 0");
        Assert.That((await resource.StopAsync(Context, _bound.Token)).Succeeded, Is.True);
    }

    [Test]
    public async Task Output_lines_reach_the_logger_with_levels_and_resource_name()
    {
        var resource = Shell("echo hello-out; echo hello-err >&2; while :; do sleep 0.1; done");
        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);

        await WaitUntil(() => _logger.Collector.GetSnapshot().Count(r => r.Message.Contains("hello-", StringComparison.Ordinal)) >= 2, "output lines");

        var records = _logger.Collector.GetSnapshot();
        var stdout = records.Single(r => r.Message.Contains("hello-out", StringComparison.Ordinal));
        var stderr = records.Single(r => r.Message.Contains("hello-err", StringComparison.Ordinal));
        Assert.That(stdout.Level, Is.EqualTo(LogLevel.Information));
        Assert.That(stderr.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(stdout.Message, Is.EqualTo("svc: hello-out"));
    }

    [Test]
    public async Task Environment_variables_are_visible_to_the_child()
    {
        var resource = new ProcessResource(
            new ProcessResourceOptions
            {
                Name = "env",
                FileName = "/bin/sh",
                Arguments = ["-c", "echo \"env=$HAKIT_GROUP/$HAKIT_EPOCH/$HAKIT_NODE/$HAKIT_RESOURCE/$EXTRA\"; while :; do sleep 0.1; done"],
                Environment = { ["EXTRA"] = "x1" },
            },
            _logger);
        _resources.Add(resource);

        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);

        await WaitUntil(() => _logger.Collector.GetSnapshot().Any(r => r.Message.Contains("env=", StringComparison.Ordinal)), "the env line");
        Assert.That(_logger.Collector.GetSnapshot().Select(r => r.Message), Has.Member("env: env=web/7/node1/env/x1"));
    }

    [TestCase("/nonexistent/dir/hakit-no-such-binary")]
    [TestCase("hakit-no-such-binary-on-path")]
    public async Task A_missing_executable_is_PermanentOnNode(string fileName)
    {
        var resource = new ProcessResource(new ProcessResourceOptions { Name = "missing", FileName = fileName }, _logger);
        _resources.Add(resource);

        var result = await resource.StartAsync(Context, _bound.Token);

        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(result.Message, Does.Contain("not found").And.Contain("OCF_ERR_INSTALLED"));
        Assert.That((await resource.MonitorAsync(Context, _bound.Token)).Status, Is.EqualTo(ResourceStatus.NotRunning));
    }

    [Test]
    public async Task The_startup_grace_fails_a_child_that_dies_early()
    {
        var resource = Shell("exit 2", startupGrace: TimeSpan.FromMilliseconds(500));

        var result = await resource.StartAsync(Context, _bound.Token);

        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(result.Message, Does.Contain("exited with code 2"));
    }

    [Test]
    public async Task The_startup_grace_passes_for_a_live_child()
    {
        var resource = Shell("while :; do sleep 0.1; done", startupGrace: TimeSpan.FromMilliseconds(300));

        var result = await resource.StartAsync(Context, _bound.Token);

        Assert.That(result.Succeeded, Is.True, result.ToString());
        Assert.That((await resource.MonitorAsync(Context, _bound.Token)).Status, Is.EqualTo(ResourceStatus.Running));
    }

    [Test]
    public async Task Dispose_kills_a_running_child()
    {
        var resource = Shell("trap '' TERM; while :; do sleep 0.1; done");
        Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);
        int pid = resource.ProcessId!.Value;

        await resource.DisposeAsync();

        Assert.That(IsAlive(pid), Is.False);
        Assert.That(async () => await resource.StartAsync(Context, _bound.Token), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public async Task In_a_runner_monitor_restarts_an_exited_child()
    {
        var resource = Shell("sleep 0.3; exit 1");
        var runner = new ResourceGroupRunner(new GroupOptions { Name = "web", StopTimeout = TimeSpan.FromSeconds(5) }, [resource], "node1", TimeProvider.System);
        Assert.That((await runner.StartAsync(9, CancellationToken.None, _bound.Token)).Outcome, Is.EqualTo(GroupOutcome.Succeeded));

        await WaitUntil(() => resource.ProcessId is null, "the child to exit");
        var outcome = await runner.MonitorAsync(_bound.Token);

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Recovered));
        Assert.That(outcome.Message, Is.EqualTo("exited with code 1"));
        Assert.That(resource.ProcessId, Is.Not.Null);
        Assert.That((await runner.StopAsync(_bound.Token)).Outcome, Is.EqualTo(GroupOutcome.Succeeded));
    }

    [Test]
    public async Task Group_stop_timeout_shorter_than_grace_kills_the_tree_and_confirms_the_stop()
    {
        var resource = Shell("trap '' TERM; echo trap-ready; while :; do sleep 0.1; done", stopTimeout: TimeSpan.FromSeconds(30));
        var runner = new ResourceGroupRunner(new GroupOptions { Name = "web", StopTimeout = TimeSpan.FromMilliseconds(400) }, [resource], "node1", TimeProvider.System);
        Assert.That((await runner.StartAsync(9, CancellationToken.None, _bound.Token)).Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        int pid = resource.ProcessId!.Value;
        await WaitUntil(() => _logger.Collector.GetSnapshot().Any(r => r.Message.Contains("trap-ready", StringComparison.Ordinal)), "the shell's trap");

        var outcome = await runner.StopAsync(_bound.Token);

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Succeeded), outcome.Message);
        Assert.That(IsAlive(pid), Is.False);
    }

    [Test]
    public async Task Stop_is_not_delayed_by_a_grandchild_holding_the_output_pipes()
    {
        var resource = Shell("sleep 5 & echo \"bg=$!\"; trap 'exit 0' TERM; while :; do sleep 0.1; done");
        int? grandchild = null;
        try
        {
            Assert.That((await resource.StartAsync(Context, _bound.Token)).Succeeded, Is.True);
            await WaitUntil(() => _logger.Collector.GetSnapshot().Any(r => r.Message.StartsWith("svc: bg=", StringComparison.Ordinal)), "the grandchild pid");
            grandchild = int.Parse(_logger.Collector.GetSnapshot().First(r => r.Message.StartsWith("svc: bg=", StringComparison.Ordinal)).Message["svc: bg=".Length..]);

            var watch = Stopwatch.StartNew();
            var result = await resource.StopAsync(Context, _bound.Token);

            Assert.That(result.Succeeded, Is.True, result.ToString());
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)), "the stop waited for the pipes to close");
        }
        finally
        {
            if (grandchild is { } pid && IsAlive(pid))
            {
                using var p = Process.GetProcessById(pid);
                p.Kill();
            }
        }
    }

    [Test]
    public void On_linux_the_child_dies_with_the_process()
    {
        if (!OperatingSystem.IsLinux() || ChildProcess.ParentDeathWrapper is null)
        {
            Assert.Ignore("needs Linux with util-linux setpriv");
        }

        Assert.That(Shell("sleep 1").DiesWithProcess, Is.True);
    }

    [Test]
    public async Task The_child_survives_the_exit_of_the_thread_that_asked_for_the_start()
    {
        if (!OperatingSystem.IsLinux() || ChildProcess.ParentDeathWrapper is null)
        {
            Assert.Ignore("needs Linux with util-linux setpriv");
        }

        // The parent-death signal fires when the forking *thread* exits: the resource forks from its own long-lived thread, so a
        // start requested from a thread that ends at once (a retired thread-pool thread) must not take the child with it.
        var resource = Shell("sleep 300");
        ResourceResult result = default;
        var starter = new Thread(() => result = resource.StartAsync(Context, CancellationToken.None).AsTask().GetAwaiter().GetResult());
        starter.Start();
        Assert.That(starter.Join(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(result.Succeeded, Is.True, result.ToString());
        var pid = resource.ProcessId!.Value;

        await Task.Delay(300, _bound.Token);
        Assert.That(IsAlive(pid), Is.True, "the child outlived the thread that requested its start");
        Assert.That(File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' '), Does.StartWith("/bin/sh -c sleep 300"), "setpriv exec'd the command in place (same pid)");
    }

    [Test]
    public async Task A_child_started_through_the_wrapper_is_killed_when_its_parent_process_is_killed()
    {
        var setpriv = ChildProcess.ParentDeathWrapper;
        if (!OperatingSystem.IsLinux() || setpriv is null)
        {
            Assert.Ignore("needs Linux with util-linux setpriv");
        }

        // The kernel mechanism ProcessResource relies on, with a real parent: a shell starts `setpriv --pdeathsig KILL -- sleep`
        // exactly as the resource does, prints the child's pid, and is then SIGKILLed; the child must die with it.
        using var parent = new Process
        {
            StartInfo = new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", $"{setpriv} --pdeathsig KILL -- /bin/sleep 300 & echo $!; wait" }, RedirectStandardOutput = true },
        };
        parent.Start();
        var childPid = int.Parse((await parent.StandardOutput.ReadLineAsync(_bound.Token))!, System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            // setpriv sets the signal before it execs the command: once the child runs sleep, the signal is armed.
            await WaitUntil(() => Cmdline(childPid).StartsWith("/bin/sleep", StringComparison.Ordinal), "setpriv to exec sleep");
            Assert.That(IsAlive(childPid), Is.True);
            parent.Kill();
            await parent.WaitForExitAsync(_bound.Token);
            await WaitUntil(() => !IsAlive(childPid) || IsZombie(childPid), "the child to die with its parent");
        }
        finally
        {
            if (IsAlive(childPid) && !IsZombie(childPid))
            {
                using var orphan = Process.GetProcessById(childPid);
                orphan.Kill();
            }
        }
    }

    private static string Cmdline(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat").Split(") ", 2)[1].StartsWith('Z');
        }
        catch (IOException)
        {
            return false;
        }
    }
}
