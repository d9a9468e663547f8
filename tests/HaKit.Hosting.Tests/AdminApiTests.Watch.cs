using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Admin;
using HaKit.Admin.V1;
using HaKit.Hosting.Admin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>The admin API's event watch: snapshot, consecutive sequence numbers, reconnects, gaps, slow watchers.</summary>
public partial class AdminApiTests
{
    [Test]
    public async Task Watch_sends_a_snapshot_then_consecutive_events_and_a_reconnect_misses_nothing()
    {
        var logs = new LogSink();
        var (a, b, recorder) = await Pair(logsA: logs);
        var admin = Client(a);
        using var cts = new CancellationTokenSource(TestHosts.Bound);

        var first = admin.Watch(new WatchRequest(), cancellationToken: cts.Token);
        Assert.That(await first.ResponseStream.MoveNext(cts.Token), Is.True);
        var snapshot = first.ResponseStream.Current;
        Assert.That((snapshot.Kind, snapshot.Gap), Is.EqualTo(("Snapshot", false)));
        Assert.That(snapshot.Snapshot.Groups.Single().Role, Is.EqualTo(Role.Active));
        var incarnation = snapshot.Incarnation;
        Assert.That(incarnation, Is.EqualTo(a.Services.GetRequiredService<ClusterNode>().Incarnation));

        Assert.That((await admin.SwitchoverAsync(new SwitchoverRequest { Group = "web" }, Bounded)).Accepted, Is.True);
        var seen = new List<WatchEvent>();
        while (!seen.Any(e => e.Kind == "RoleChanged" && e.Role == Role.Standby))
        {
            Assert.That(await first.ResponseStream.MoveNext(cts.Token), Is.True);
            seen.Add(first.ResponseStream.Current);
        }

        Assert.That(seen.Select(e => e.Sequence), Is.EqualTo(Enumerable.Range(0, seen.Count).Select(i => snapshot.Sequence + 1 + (ulong)i)), "consecutive from the snapshot's sequence");
        Assert.That(seen.All(e => e.Incarnation == incarnation));
        var stopping = seen.First(e => e.Kind == "RoleChanged" && e.Role == Role.Stopping);
        Assert.That(stopping.Group, Is.EqualTo("web"));
        Assert.That(logs.Lines, Does.Contain(stopping.Text), "the event's text is the line the node logs");
        first.Dispose();

        // Reconnect after the first event seen: exactly the rest, then live ones.
        var resume = seen[0].Sequence;
        using var second = admin.Watch(new WatchRequest { Incarnation = incarnation, AfterSequence = resume }, cancellationToken: cts.Token);
        for (var i = 1; i < seen.Count; i++)
        {
            Assert.That(await second.ResponseStream.MoveNext(cts.Token), Is.True);
            Assert.That(second.ResponseStream.Current, Is.EqualTo(seen[i]), $"replayed event {i}");
        }

        Assert.That(await second.ResponseStream.MoveNext(cts.Token), Is.True, "live events follow (the monitor reports)");
        Assert.That(second.ResponseStream.Current.Sequence, Is.EqualTo(seen[^1].Sequence + 1));

        // Another incarnation: a snapshot with gap set.
        using var third = admin.Watch(new WatchRequest { Incarnation = incarnation - 1, AfterSequence = resume }, cancellationToken: cts.Token);
        Assert.That(await third.ResponseStream.MoveNext(cts.Token), Is.True);
        Assert.That((third.ResponseStream.Current.Kind, third.ResponseStream.Current.Gap), Is.EqualTo(("Snapshot", true)));
        Assert.That(third.ResponseStream.Current.Text, Does.Contain("the node restarted"));
    }

    [Test]
    public async Task A_watch_snapshot_shows_the_state_of_every_event_it_numbers()
    {
        var (a, _, _) = await Pair();
        var node = a.Services.GetRequiredService<ClusterNode>();
        var options = a.Services.GetRequiredService<IOptions<HaKitOptions>>().Value;
        var journal = a.Services.GetRequiredService<AdminServer>().Journal!;
        var seen = new TaskCompletionSource<(ulong Sequence, Role Role)>(TaskCreationOptions.RunContinuationsAsynchronously);
        node.EventRaised += (_, e) =>
        {
            if (e is RoleChanged { To: GroupRole.Stopping } && !seen.Task.IsCompleted)
            {
                // A watcher subscribing right after the journal numbered the event, in the middle of the loop's step.
                using var subscription = journal.Subscribe(0, 0, () => AdminStatusMapper.Map(node, options));
                var snapshot = subscription.First.Single();
                seen.TrySetResult((snapshot.Sequence, snapshot.Snapshot.Groups.Single().Role));
            }
        };

        Assert.That((await node.SwitchoverAsync("web", null, CancellationToken.None)).Accepted, Is.True);
        var (sequence, role) = await seen.Task.WaitAsync(TestHosts.Bound);

        Assert.That(sequence, Is.EqualTo(journal.LastSequence).Or.LessThan(journal.LastSequence), "the snapshot numbers the Stopping event");
        Assert.That(role, Is.Not.EqualTo(Role.Active), "the snapshot shows the group no longer Active, as the event it numbers says");
    }

    [Test]
    public async Task Watch_reports_a_gap_when_the_missed_events_are_no_longer_held()
    {
        var (a, _, _) = await Pair(c => c["HaKit:Admin:EventBuffer"] = "16");
        var journal = a.Services.GetRequiredService<AdminServer>().Journal!;
        await TestHosts.WaitFor(() => journal.LastSequence > 20, "more than 16 events (monitor reports every 100 ms)");
        var incarnation = a.Services.GetRequiredService<ClusterNode>().Incarnation;
        using var cts = new CancellationTokenSource(TestHosts.Bound);

        using var call = Client(a).Watch(new WatchRequest { Incarnation = incarnation, AfterSequence = 1 }, cancellationToken: cts.Token);

        Assert.That(await call.ResponseStream.MoveNext(cts.Token), Is.True);
        var e = call.ResponseStream.Current;
        Assert.That((e.Kind, e.Gap), Is.EqualTo(("Snapshot", true)));
        Assert.That(e.Text, Does.Contain("no longer held"));
        Assert.That(e.Sequence, Is.GreaterThan(20UL));
        Assert.That(await call.ResponseStream.MoveNext(cts.Token), Is.True);
        Assert.That(call.ResponseStream.Current.Sequence, Is.EqualTo(e.Sequence + 1), "then live events, consecutive");
    }

    [Test]
    public async Task A_slow_watcher_is_cut_off_without_blocking_the_node()
    {
        var (a, _, _) = await Pair();
        var journal = a.Services.GetRequiredService<AdminServer>().Journal!;
        using var slow = journal.Subscribe(0, 0, () => new StatusReply());
        using var other = journal.Subscribe(0, 0, () => new StatusReply());

        // The node's loop raising events faster than the watcher reads: every call returns at once.
        for (var i = 0; i <= AdminEventJournal.SubscriberQueue; i++)
        {
            journal.OnEvent(null, new LocalPauseDetected(TimeSpan.Zero, TimeSpan.FromMilliseconds(1)));
        }

        Assert.That(slow.Overflowed, Is.True);
        while (slow.Live.TryRead(out _))
        {
        }

        Assert.That(slow.Live.Completion.IsCompleted, Is.True, "its stream ends after what was queued (the client reconnects and gets a gap snapshot)");
        var drained = 0;
        while (other.Live.TryRead(out _))
        {
            drained++;
        }

        Assert.That(drained, Is.EqualTo(AdminEventJournal.SubscriberQueue), "the other watcher, as slow, is cut off at the same bound");
    }

    [Test]
    public async Task An_event_is_numbered_on_the_loop_and_described_once_when_a_watcher_reads_it()
    {
        var (a, _, _) = await Pair();
        var node = a.Services.GetRequiredService<ClusterNode>();
        var journal = a.Services.GetRequiredService<AdminServer>().Journal!;
        using var one = journal.Subscribe(0, 0, () => new StatusReply());
        using var two = journal.Subscribe(0, 0, () => new StatusReply());
        var why = new DecisionContext("crash hint from b", [], null, null, 6, new Dictionary<string, ulong>());
        var e = new RoleChanged(TimeSpan.Zero, "web", node.NodeName, GroupRole.Standby, GroupRole.Acquiring, 7, why, null, TakeoverReason.Failover);

        // What the node's own events add meanwhile is skipped: the test's event is found by its epoch.
        journal.OnEvent(null, e);
        var sequence = journal.LastSequence;
        var fromOne = await Find(one.Live);
        var fromTwo = await Find(two.Live);

        Assert.That(fromOne.Sequence, Is.EqualTo(sequence), "numbered when it was raised");
        Assert.That((fromOne.Kind, fromOne.Group, fromOne.Role, fromOne.Text), Is.EqualTo(("RoleChanged", "web", Role.Acquiring, node.DescribeEvent(e))));
        Assert.That(fromTwo, Is.SameAs(fromOne), "made once, shared by every watcher");

        // A watcher that reconnects after it gets the same event from the ring.
        using var resumed = journal.Subscribe(node.Incarnation, sequence - 1, () => new StatusReply());
        Assert.That(resumed.First[0], Is.SameAs(fromOne));

        static async Task<WatchEvent> Find(System.Threading.Channels.ChannelReader<WatchEvent> live)
        {
            using var cts = new CancellationTokenSource(TestHosts.Bound);
            await foreach (var w in live.ReadAllAsync(cts.Token))
            {
                if (w is { Kind: "RoleChanged", Epoch: 7 })
                {
                    return w;
                }
            }

            throw new InvalidOperationException("the live queue ended without the event");
        }
    }
}
