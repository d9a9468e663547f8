using System.Diagnostics;
using HaKit.Runtime;

namespace HaKit.Tests.Runtime;

/// <summary>The loop thread's semaphore wait on Linux (<see cref="LoopWaker"/>, issue 13, idle cost): exact deadlines, no lost wake-up.</summary>
[TestFixture]
public sealed class LoopWakerTests
{
    private static LoopWaker Create()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("the semaphore wait is Linux only; elsewhere the loop waits on a monitor");
        }

        var waker = LoopWaker.TryCreate();
        Assert.That(waker, Is.Not.Null, "glibc on Linux has sem_clockwait and Stopwatch counts CLOCK_MONOTONIC nanoseconds");
        return waker!;
    }

    [Test]
    public void A_wait_with_a_deadline_never_ends_before_it()
    {
        using var waker = Create();
        for (var i = 0; i < 5; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var deadline = start + (Stopwatch.Frequency / 1000 * 20) + 123_457; // 20.12 ms: not a whole millisecond
            Assert.That(waker.Wait(deadline), Is.True, "a timeout is not a failure");
            Assert.That(Stopwatch.GetTimestamp(), Is.GreaterThanOrEqualTo(deadline), $"round {i}: woke before the deadline");
        }
    }

    [Test]
    public void A_wake_before_the_wait_is_not_lost_and_each_wake_ends_one_wait()
    {
        using var waker = Create();
        waker.Wake();
        var clock = Stopwatch.StartNew();
        Assert.That(waker.Wait(Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 10)), Is.True);
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "posted before the wait began: it returns at once");

        var start = Stopwatch.GetTimestamp();
        var deadline = start + (Stopwatch.Frequency / 1000 * 30);
        Assert.That(waker.Wait(deadline), Is.True);
        Assert.That(Stopwatch.GetTimestamp(), Is.GreaterThanOrEqualTo(deadline), "the one wake-up was used: the next wait sleeps to its deadline");
    }

    [Test]
    public async Task A_wake_from_another_thread_ends_a_wait_without_deadline()
    {
        using var waker = Create();
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            waiting.SetResult();
            ended.SetResult(waker.Wait(long.MaxValue));
        })
        { IsBackground = true };
        thread.Start();
        await waiting.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(50);
        Assert.That(ended.Task.IsCompleted, Is.False, "no deadline: it sleeps until woken");
        waker.Wake();
        Assert.That(await ended.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
    }
}
