using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Grpc.Tests;

/// <summary>
/// The link's start-up warm-up of its connection-loss path (<see cref="CrashPathWarmUp"/>): a throwaway loopback listener that
/// speaks just enough HTTP/2 to establish a <c>Connect</c> call, then drops it as a crashed peer's kernel does, then refuses.
/// </summary>
[TestFixture]
public sealed class CrashPathWarmUpTests
{
    [Test]
    public async Task The_warm_up_runs_the_same_end_and_refusal_the_dialer_reads_after_a_crash()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var (how, refused) = await CrashPathWarmUp.ExerciseAsync(bound.Token);

        // The dialer's own reading of the end (ReadEndAsync/DescribeEnd) and its refusal test (IsRefused) ran, with the same
        // outcome a SIGKILLed peer gives: an end without goodbye, and a reconnect refused.
        Assert.That(how, Is.EqualTo("connection closed without goodbye").Or.EqualTo("connection reset"));
        Assert.That(refused, Is.True, "the second call met a closed port");
    }

    [Test]
    public async Task The_warm_up_never_throws_even_when_stopped_at_once()
    {
        using var stopped = new CancellationTokenSource();
        await stopped.CancelAsync();
        var run = CrashPathWarmUp.RunAsync(NullLogger.Instance, "grpc0", TimeProvider.System, stopped.Token);
        Assert.That(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(run), "it ends at once when stopped");
        Assert.That(run.IsCompletedSuccessfully, Is.True, "a stopped warm-up is logged, not thrown");
    }
}
