using HaKit.Runtime;

namespace HaKit.Tests.Runtime;

/// <summary>
/// Issue 13, section 3: the node's threads run SCHED_RR at the configured priority, the heartbeat sender one above. The runtime
/// starts a managed thread of a real-time process at the middle of the range (50), above the sender; the re-apply corrects it.
/// Only this test's own thread is touched (a real-time test host would compete with the machine).
/// </summary>
[TestFixture]
[Platform(Include = "Linux", Reason = "sched_setscheduler")]
public sealed class RealtimeSchedulingTests
{
    [Test]
    public void The_re_apply_brings_a_thread_at_another_real_time_priority_to_the_node_priority_and_leaves_one_that_left()
    {
        int? before = null, after = null, leftAfter = null;
        var applied = false;
        var thread = new Thread(() =>
        {
            applied = RealtimeScheduling.TryApplyToCurrentThread(50); // as the runtime starts a Normal thread of an RR process
            var tid = RealtimeScheduling.GetTid();
            before = RealtimeScheduling.RealtimePriorityOf(tid);
            RealtimeScheduling.Reapply(10, [tid]);
            after = RealtimeScheduling.RealtimePriorityOf(tid);
            _ = RealtimeScheduling.TryLeaveForCurrentThread();
            RealtimeScheduling.Reapply(10, [tid]);
            leftAfter = RealtimeScheduling.RealtimePriorityOf(tid);
            RealtimeScheduling.Forget();
        });
        thread.Start();
        Assert.That(thread.Join(TimeSpan.FromSeconds(10)), Is.True);
        if (!applied)
        {
            Assert.Ignore("SCHED_RR needs root, CAP_SYS_NICE or RLIMIT_RTPRIO");
        }

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo(50));
            Assert.That(after, Is.EqualTo(10), "brought to the node's priority, below the sender's");
            Assert.That(leftAfter, Is.Null, "a thread that left real-time scheduling on purpose stays out");
        });
    }
}
