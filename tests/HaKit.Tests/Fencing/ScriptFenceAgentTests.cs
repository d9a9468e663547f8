using System.Diagnostics;
using HaKit.Fencing;

namespace HaKit.Tests.Fencing;

/// <summary><see cref="ScriptFenceAgent"/> against real temporary shell scripts; every wait is bounded and every file is deleted.</summary>
[TestFixture]
[Platform(Exclude = "Win")]
public class ScriptFenceAgentTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-fence-script-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes an executable <c>/bin/sh</c> script into the test's temporary directory.</summary>
    internal static string Script(string dir, string name, string body)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("shell scripts need a Unix system");
        }
        else
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return path;
    }

    private static ScriptFenceAgent Agent(string command, bool confirm = true, params string[] args) =>
        new(new FenceAgentOptions { Name = "script-test", Type = FenceAgentType.Script, Command = command, Arguments = [.. args], Confirm = confirm }, "demo");

    private static async Task<FenceResult> Fence(IFenceAgent agent, string node = "b")
    {
        using var cts = new CancellationTokenSource(Bound);
        return await agent.FenceAsync(node, cts.Token);
    }

    [Test]
    public async Task Exit_0_on_off_without_confirmation_is_success()
    {
        var script = Script(_dir, "fence", "exit 0");
        var result = await Fence(Agent(script, confirm: false));
        Assert.That(result.Succeeded, Is.True, result.Explanation);
        Assert.That(result.Explanation, Does.Contain("not confirmed"));
    }

    [Test]
    public async Task A_non_zero_exit_fails_with_the_exit_code_and_the_last_output_lines()
    {
        var script = Script(_dir, "fence", "echo 'connecting to bmc'\necho 'ipmi: authentication failed' >&2\nexit 1");
        var result = await Fence(Agent(script));
        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.Contain("off b exited with code 1"));
        Assert.That(result.Explanation, Does.Contain("ipmi: authentication failed"));
        Assert.That(result.Explanation, Does.Contain("connecting to bmc"));
    }

    [Test]
    public async Task Off_then_status_exit_2_is_a_confirmed_fence_and_the_arguments_come_first()
    {
        var calls = Path.Combine(_dir, "calls");
        var script = Script(_dir, "fence", $"echo \"$*\" >> '{calls}'\ncase \"$3\" in off) exit 0;; status) exit 2;; esac\nexit 9");
        var result = await Fence(Agent(script, true, "--ip", "10.0.0.9 ; rm -rf /"));
        Assert.That(result.Succeeded, Is.True, result.Explanation);
        Assert.That(result.Explanation, Does.Contain("confirmed off"));
        Assert.That(File.ReadAllLines(calls), Is.EqualTo(new[] { "--ip 10.0.0.9 ; rm -rf / off b", "--ip 10.0.0.9 ; rm -rf / status b" }), "no shell interprets the arguments");
    }

    [Test]
    public async Task Status_exit_0_means_the_node_is_still_on()
    {
        var script = Script(_dir, "fence", "[ \"$1\" = off ] && exit 0\n[ \"$1\" = status ] && exit 0\nexit 9");
        var result = await Fence(Agent(script));
        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.Contain("fence reported success but node still on"));
    }

    [Test]
    public async Task Another_status_exit_code_is_a_failure_naming_it()
    {
        var script = Script(_dir, "fence", "[ \"$1\" = off ] && exit 0\necho 'bmc unreachable'\nexit 1");
        var result = await Fence(Agent(script));
        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.Contain("status b exited with code 1"));
        Assert.That(result.Explanation, Does.Contain("bmc unreachable"));
    }

    [Test]
    public async Task The_script_receives_node_cluster_and_action_in_its_environment()
    {
        var env = Path.Combine(_dir, "env");
        var script = Script(_dir, "fence", $"echo \"$HAKIT_ACTION $HAKIT_NODE $HAKIT_CLUSTER\" >> '{env}'\n[ \"$HAKIT_ACTION\" = status ] && exit 2\nexit 0");
        var result = await Fence(Agent(script), "node-7");
        Assert.That(result.Succeeded, Is.True, result.Explanation);
        Assert.That(File.ReadAllLines(env), Is.EqualTo(new[] { "off node-7 demo", "status node-7 demo" }));
    }

    [Test]
    public async Task A_missing_command_is_a_failure_not_an_exception()
    {
        var result = await Fence(Agent(Path.Combine(_dir, "does-not-exist")));
        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.Contain("could not run"));
    }

    [Test]
    public async Task A_node_outside_the_agents_list_is_skipped()
    {
        var ran = Path.Combine(_dir, "ran");
        var script = Script(_dir, "fence", $"touch '{ran}'\nexit 0");
        var agent = new ScriptFenceAgent(new FenceAgentOptions { Name = "x", Command = script, Nodes = ["c"], Confirm = false }, "demo");
        var result = await Fence(agent, "b");
        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.StartWith("not for node b"));
        Assert.That(File.Exists(ran), Is.False);
    }

    [Test]
    public async Task A_hanging_script_is_killed_with_its_children_on_cancellation()
    {
        var pidFile = Path.Combine(_dir, "pid");
        var childFile = Path.Combine(_dir, "child");
        var script = Script(_dir, "fence", $"sleep 60 &\necho $! > '{childFile}.tmp'; mv '{childFile}.tmp' '{childFile}'\necho $$ > '{pidFile}.tmp'; mv '{pidFile}.tmp' '{pidFile}'\nwait");
        using var cts = new CancellationTokenSource(Bound);
        var fence = Agent(script).FenceAsync("b", cts.Token).AsTask();
        var pid = await WaitForPid(pidFile);
        var child = await WaitForPid(childFile);
        Assert.That(Alive(pid), Is.True, "the script runs until cancelled");

        await cts.CancelAsync();
        Assert.That(async () => await fence.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());

        await WaitUntil(() => !Alive(pid) && !Alive(child), $"pids {pid} and {child} gone");
        Assert.That(fence.IsCanceled || fence.IsFaulted, Is.True);
    }

    private static async Task<int> WaitForPid(string file)
    {
        await WaitUntil(() => File.Exists(file), file);
        return int.Parse(File.ReadAllText(file).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Alive = the process exists and is not a zombie (a killed grandchild may wait for init to reap it).</summary>
    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > Bound)
            {
                Assert.Fail($"timed out after {Bound.TotalSeconds} s waiting for {what}");
            }

            await Task.Delay(10);
        }
    }
}
