using System.Net;
using System.Text.Json;
using HaKit.Detection;
using HaKit.Fencing;
using HaKit.Notifications;
using HaKit.Ownership;
using HaKit.Resources;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Tests.Notifications;

/// <summary>
/// Notifications (HaKit:Notify) through real scripts and a real HTTP listener on loopback: keepalived's notify script contract
/// (arguments, environment, JSON on stdin), the webhook with its retries, a queue that never blocks the node, and failures counted.
/// </summary>
[NonParallelizable]
public sealed class NotifierTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-notify-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task A_role_change_runs_the_script_with_arguments_environment_and_the_event_as_json_on_stdin()
    {
        var script = Script("notify.sh", """
            #!/bin/sh
            echo "$@" > "$0.args"
            env | grep '^HAKIT_' | sort > "$0.env"
            cat > "$0.json"
            """);
        await using (var notifier = Notifier(new NotifyOptions { Script = script, ScriptArguments = ["--site", "dc1"] }))
        {
            notifier.Start();
            notifier.Post(new RoleChanged(TimeSpan.FromSeconds(3), "web", "a", GroupRole.Starting, GroupRole.Active, 7, Why("peer b is dead")));
            await Until(() => notifier.Delivered == 1);
        }

        Assert.That(File.ReadAllText(script + ".args").Trim(), Is.EqualTo("--site dc1 role-change web active"));
        var env = File.ReadAllLines(script + ".env");
        Assert.That(env, Does.Contain("HAKIT_EVENT=role-change").And.Contain("HAKIT_STATE=active").And.Contain("HAKIT_GROUP=web")
            .And.Contain("HAKIT_FROM=starting").And.Contain("HAKIT_EPOCH=7").And.Contain("HAKIT_NODE=a").And.Contain("HAKIT_CLUSTER=c1"));
        using var json = JsonDocument.Parse(File.ReadAllText(script + ".json"));
        Assert.That(json.RootElement.GetProperty("event").GetString(), Is.EqualTo("role-change"));
        Assert.That(json.RootElement.GetProperty("to").GetString(), Is.EqualTo("active"));
        Assert.That(json.RootElement.GetProperty("why").GetString(), Does.Contain("peer b is dead"));
    }

    [Test]
    public async Task Split_brain_fencing_failures_and_a_dead_peer_are_notified_but_not_every_event()
    {
        var log = Path.Combine(_dir, "events");
        var script = Script("log.sh", $"""
            #!/bin/sh
            echo "$1 $2 $3" >> {log}
            """);
        await using var notifier = Notifier(new NotifyOptions { Script = script });
        notifier.Start();
        notifier.Post(new LocalPauseDetected(TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        notifier.Post(new PeerHealthChanged(TimeSpan.Zero, "b", PeerHealth.Alive, PeerHealth.Suspect, null!, null));
        notifier.Post(new SplitBrainDetected(TimeSpan.Zero, "web", "a", 4, "b", 3, "a"));
        notifier.Post(new FenceCompleted(TimeSpan.Zero, "b", new FenceResult(false, "ipmi timed out")));
        notifier.Post(new GroupFailed(TimeSpan.Zero, "web", global::HaKit.ResourceFailureKind.PermanentOnNode, "vip", "address in use"));
        notifier.Post(new PeerHealthChanged(TimeSpan.Zero, "b", PeerHealth.Suspect, PeerHealth.Dead, null!, TimeSpan.FromSeconds(2)));
        await Until(() => notifier.Delivered == 4);
        Assert.That(File.ReadAllLines(log), Is.EqualTo(new[] { "split-brain web winner", "fence b failed", "failure web permanent-on-node", "peer b dead" }));
    }

    [Test]
    public async Task A_degraded_group_is_notified_once_per_condition_not_at_every_monitor_round()
    {
        var log = Path.Combine(_dir, "health");
        var script = Script("health.sh", $$"""
            #!/bin/sh
            echo "$1 $2 $3 $HAKIT_WHY" >> {{log}}
            """);
        await using var notifier = Notifier(new NotifyOptions { Script = script });
        notifier.Start();
        const string Alone = "group web (Durable): writing without the peer (degraded: True); the peer is marked outdated until it catches up";
        for (var round = 0; round < 5; round++)
        {
            notifier.Post(new GroupHealthReported(TimeSpan.Zero, "web", GroupOutcome.Degraded, "kv", Alone, 0)); // every monitor round
        }

        notifier.Post(new GroupHealthReported(TimeSpan.Zero, "web", GroupOutcome.Degraded, "kv", "the peer is not connected; appends wait for it", 0));
        notifier.Post(new RoleChanged(TimeSpan.Zero, "web", "a", GroupRole.Active, GroupRole.Stopping, 1, Why("test")));
        notifier.Post(new GroupHealthReported(TimeSpan.Zero, "web", GroupOutcome.Degraded, "kv", Alone, 0)); // a new role episode: news again
        await Until(() => notifier.Delivered == 4);
        await Task.Delay(100);

        Assert.That(File.ReadAllLines(log), Is.EqualTo(new[]
        {
            $"health web degraded {Alone}",
            "health web degraded the peer is not connected; appends wait for it",
            "role-change web stopping test; highest epoch 0",
            $"health web degraded {Alone}",
        }));
    }

    [Test]
    public async Task A_script_that_fails_or_hangs_is_counted_and_the_next_notification_still_goes_out()
    {
        var marker = Path.Combine(_dir, "ran");
        var script = Script("flaky.sh", $"""
            #!/bin/sh
            case "$3" in
              active) exit 3 ;;
              standby) sleep 30 ;;
              *) touch {marker} ;;
            esac
            """);
        await using var notifier = Notifier(new NotifyOptions { Script = script, ScriptTimeout = TimeSpan.FromMilliseconds(500) });
        notifier.Start();
        notifier.Post(Role(GroupRole.Active));
        notifier.Post(Role(GroupRole.Standby));
        notifier.Post(Role(GroupRole.Blocked));
        await Until(() => notifier.Delivered == 1);
        Assert.That(File.Exists(marker), Is.True, "the third script ran");
        Assert.That(notifier.Failed, Is.EqualTo(2), "exit 3, then killed after its time-out");
    }

    [Test]
    public async Task A_script_that_leaves_a_process_holding_its_output_does_not_hold_the_notifications()
    {
        var script = Script("background.sh", """
            #!/bin/sh
            sleep 30 &
            echo $! >> "$0.pids"
            echo started
            """);
        try
        {
            await using var notifier = Notifier(new NotifyOptions { Script = script, ScriptTimeout = TimeSpan.FromSeconds(20) });
            notifier.Start();
            var posted = System.Diagnostics.Stopwatch.StartNew();
            notifier.Post(Role(GroupRole.Active));
            notifier.Post(Role(GroupRole.Standby));
            await Until(() => notifier.Delivered == 2);
            Assert.That(posted.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "the background sleep kept the pipes open for 30 s");
            Assert.That(notifier.Failed, Is.Zero);
        }
        finally
        {
            foreach (var pid in File.Exists(script + ".pids") ? File.ReadAllLines(script + ".pids") : [])
            {
                try
                {
                    using var sleeper = System.Diagnostics.Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture));
                    sleeper.Kill();
                }
                catch (ArgumentException)
                {
                    // Already gone.
                }
            }
        }
    }

    [Test]
    public async Task Posting_never_waits_for_a_slow_script_and_a_full_queue_drops_the_oldest()
    {
        var script = Script("slow.sh", """
            #!/bin/sh
            sleep 2
            """);
        await using var notifier = Notifier(new NotifyOptions { Script = script, QueueLimit = 4, ScriptTimeout = TimeSpan.FromSeconds(5) });
        notifier.Start();
        var posting = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            notifier.Post(Role(GroupRole.Active));
        }

        posting.Stop();
        Assert.That(posting.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)), "Post must not wait for the script");
        Assert.That(notifier.Dropped, Is.InRange(15, 16), "20 posted, 4 wait, at most one is being delivered");
    }

    [Test]
    public async Task The_webhook_gets_the_event_as_json_and_a_failed_post_is_retried()
    {
        using var listener = new HttpListener();
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}/hook/";
        listener.Prefixes.Add(url);
        listener.Start();
        var bodies = new List<string>();
        var serving = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                var context = await listener.GetContextAsync();
                using var reader = new StreamReader(context.Request.InputStream);
                bodies.Add(context.Request.ContentType + " " + await reader.ReadToEndAsync());
                context.Response.StatusCode = i == 0 ? 503 : 204; // the first attempt fails
                context.Response.Close();
            }
        });

        await using var notifier = Notifier(new NotifyOptions { Webhook = url, WebhookRetries = 2 });
        notifier.Start();
        notifier.Post(new SplitBrainDetected(TimeSpan.Zero, "web", "a", 4, "b", 5, "b"));
        await serving.WaitAsync(Wait);
        await Until(() => notifier.Delivered == 1);
        Assert.That(bodies, Has.Count.EqualTo(2));
        Assert.That(bodies[1], Does.StartWith("application/json "));
        using var json = JsonDocument.Parse(bodies[1]["application/json ".Length..]);
        Assert.That(json.RootElement.GetProperty("event").GetString(), Is.EqualTo("split-brain"));
        Assert.That(json.RootElement.GetProperty("state").GetString(), Is.EqualTo("loser"));
        Assert.That(json.RootElement.GetProperty("winner").GetString(), Is.EqualTo("b"));
        Assert.That(notifier.Failed, Is.Zero);
    }

    [Test]
    public async Task An_unreachable_webhook_is_a_counted_failure_after_its_retries()
    {
        await using var notifier = Notifier(new NotifyOptions { Webhook = $"http://127.0.0.1:{FreePort()}/", WebhookRetries = 1, WebhookTimeout = TimeSpan.FromSeconds(1) });
        notifier.Start();
        notifier.Post(Role(GroupRole.Active));
        await Until(() => notifier.Failed == 1);
        Assert.That(notifier.Delivered, Is.Zero);
    }

    [TestCase("Script", "notify.sh", "absolute path")]
    [TestCase("Webhook", "ftp://x/", "http:// or https://")]
    [TestCase("WebhookRetries", "11", "0..10")]
    [TestCase("QueueLimit", "0", "1..100000")]
    public void Invalid_settings_fail_naming_the_key_the_value_and_the_fix(string key, string value, string fix)
    {
        var options = new NotifyOptions();
        typeof(NotifyOptions).GetProperty(key)!.SetValue(options, key is "WebhookRetries" or "QueueLimit" ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : value);
        var errors = new List<string>();
        options.Validate(OptionsPath.Root("HaKit", errors)["Notify"]);
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith($"HaKit:Notify:{key} = ").And.Contain(value).And.Contain(fix));
    }

    private static RoleChanged Role(GroupRole to) => new(TimeSpan.Zero, "web", "a", GroupRole.Standby, to, 1, Why("test"));

    private static DecisionContext Why(string reason) => new(reason, [], null, null, 0, new Dictionary<string, ulong>());

    private static Notifier Notifier(NotifyOptions options) => new(options, "c1", "a", NullLogger.Instance, TimeProvider.System);

    private string Script(string name, string body)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, body.Replace("\r", "", StringComparison.Ordinal) + "\n");
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

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "timed out waiting");
            await Task.Delay(20);
        }
    }
}
