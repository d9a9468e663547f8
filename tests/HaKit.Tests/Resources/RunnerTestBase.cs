using HaKit.Resources;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Resources;

public abstract class RunnerTestBase
{
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    protected FakeTimeProvider Time { get; private set; } = null!;

    protected List<string> Log { get; private set; } = null!;

    protected List<ResourceActionRecord> Records { get; private set; } = null!;

    [SetUp]
    public void SetUpBase()
    {
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Log = [];
        Records = [];
    }

    internal (ResourceGroupRunner Runner, RecordingResource[] Resources) Create(params string[] names) => Create(Options(), names);

    internal (ResourceGroupRunner Runner, RecordingResource[] Resources) Create(GroupOptions options, params string[] names)
    {
        var resources = names.Select(n => new RecordingResource(n, Log)).ToArray();
        var runner = new ResourceGroupRunner(options, resources, "node1", Time);
        runner.ActionCompleted += r => { lock (Records) { Records.Add(r); } };
        return (runner, resources);
    }

    protected static GroupOptions Options(int maxRestarts = 3, TimeSpan? window = null, TimeSpan? restartDelay = null) => new()
    {
        Name = "web",
        MaxRestarts = maxRestarts,
        FailureWindow = window ?? TimeSpan.FromMinutes(10),
        RestartDelay = restartDelay ?? TimeSpan.Zero,
        StartTimeout = TimeSpan.FromSeconds(30),
        StopTimeout = TimeSpan.FromSeconds(20),
        MonitorTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Advances fake time in steps until the task completes (bounded), then returns its result.</summary>
    protected async Task<T> Drive<T>(Task<T> task, TimeSpan step, int maxSteps = 500)
    {
        for (int i = 0; i < maxSteps && !task.IsCompleted; i++)
        {
            Time.Advance(step);
            await Task.WhenAny(task, Task.Delay(5));
        }

        Assert.That(task.IsCompleted, Is.True, "the action did not complete while fake time advanced");
        return await task;
    }

    protected static Task<T> Bounded<T>(Task<T> task) => task.WaitAsync(Bound);

    protected List<string> TakeLog()
    {
        lock (Log)
        {
            var copy = Log.ToList();
            Log.Clear();
            return copy;
        }
    }
}
