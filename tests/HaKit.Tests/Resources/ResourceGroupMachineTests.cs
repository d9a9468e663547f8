using HaKit.Resources;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Resources;

/// <summary>The machine on its own: time is an input, decisions are data, and no clock or logger is involved.</summary>
[TestFixture]
public sealed class ResourceGroupMachineTests
{
    private static readonly ResourceActionResult Ok = ResourceActionResult.Success;
    private static readonly ResourceActionResult Busy = ResourceActionResult.FromResult(ResourceResult.Transient("port busy"));

    private static GroupOptions Options(int maxRestarts) => new()
    {
        Name = "web",
        MaxRestarts = maxRestarts,
        FailureWindow = TimeSpan.FromMinutes(10),
        RestartDelay = TimeSpan.Zero,
    };

    /// <summary>A tracker on a clock that never moves: only the time handed to the machine can expire a restart.</summary>
    private static ResourceGroupMachine Create(int maxRestarts, params string[] names) =>
        new(Options(maxRestarts), names, new RestartTracker(maxRestarts, TimeSpan.FromMinutes(10), new FakeTimeProvider()));

    [Test]
    public void Restart_budget_counts_in_the_time_given_not_on_a_clock()
    {
        var machine = Create(1, "a");
        var t0 = TimeSpan.FromHours(1);

        // First start: one transient failure is restarted (budget 1), the second exhausts the budget and rolls back.
        Assert.That(machine.BeginStart(t0), Is.EqualTo(ResourceGroupStep.Run(0, ResourceAction.Start, machine.StartTimeout)));
        Assert.That(machine.OnActionCompleted(t0, Busy).Action, Is.EqualTo(ResourceAction.Stop));
        Assert.That(machine.OnActionCompleted(t0, Ok).Action, Is.EqualTo(ResourceAction.Start));
        var exhausted = machine.OnActionCompleted(t0, Busy);
        Assert.That(exhausted.Decisions.Select(d => d.Kind), Is.EqualTo(new[] { ResourceGroupDecisionKind.BudgetExhausted }));
        Assert.That(machine.OnActionCompleted(t0, Ok).Outcome!.Outcome, Is.EqualTo(GroupOutcome.Failed));

        // Eleven minutes later by the time given (the tracker's own clock has not moved): the old restart no longer counts.
        var later = t0 + TimeSpan.FromMinutes(11);
        machine.BeginStart(later);
        var restart = machine.OnActionCompleted(later, Busy);
        Assert.That(restart.Decisions.Select(d => d.Kind), Is.EqualTo(new[] { ResourceGroupDecisionKind.Restarting }));
        Assert.That(machine.Restarts.RestartsAt(later), Is.EqualTo(1));
        Assert.That(machine.Restarts.RestartsAt(t0 + TimeSpan.FromMinutes(22)), Is.Zero);
    }

    [Test]
    public void Restart_is_returned_as_a_decision_with_its_cause_and_budget()
    {
        var machine = Create(3, "a", "b");
        var now = TimeSpan.FromSeconds(5);

        machine.BeginMonitor(now);
        var step = machine.OnActionCompleted(now, ResourceActionResult.FromMonitor(MonitorResult.NotRunning("exited with code 1")));

        Assert.That((step.Kind, step.ResourceIndex, step.Action), Is.EqualTo((ResourceGroupStepKind.RunAction, 1, ResourceAction.Stop)), "the restart stops from the last resource back");
        Assert.That(step.Decisions, Is.EqualTo(new[]
        {
            new ResourceGroupDecision(ResourceGroupDecisionKind.Restarting, "a", ResourceAction.Monitor, ResourceFailureKind.Transient, "NotRunning", "exited with code 1", 1, 3, TimeSpan.FromMinutes(10)),
        }));
        Assert.That(machine.OnActionCompleted(now, Ok).Decisions, Is.Empty, "a decision is returned once, with the step that follows it");
    }

    [Test]
    public void Failed_stop_is_returned_as_a_blocked_decision()
    {
        var machine = Create(3, "a", "b");
        var now = TimeSpan.FromSeconds(1);

        machine.BeginStop(now);
        var next = machine.OnActionCompleted(now, ResourceActionResult.FromResult(ResourceResult.Transient("device busy")));
        Assert.That(next.Decisions.Select(d => (d.Kind, d.Resource, d.Action, d.Reason)), Is.EqualTo(new[] { (ResourceGroupDecisionKind.Blocked, "b", ResourceAction.Stop, (string?)"device busy") }));

        var done = machine.OnActionCompleted(now, Ok);
        Assert.That(done.Kind, Is.EqualTo(ResourceGroupStepKind.Completed));
        Assert.That(done.Outcome!.Outcome, Is.EqualTo(GroupOutcome.Blocked));
        Assert.That(done.Decisions, Is.Empty);
    }

    [Test]
    public void Permanent_monitor_failure_is_returned_as_a_failed_decision_with_the_outcome()
    {
        var machine = Create(3, "a");
        var now = TimeSpan.FromSeconds(1);

        machine.BeginMonitor(now);
        var done = machine.OnActionCompleted(now, ResourceActionResult.FromMonitor(MonitorResult.Failed(ResourceFailureKind.Fatal, "disk gone")));

        Assert.That(done.Outcome!.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(done.Decisions.Select(d => (d.Kind, d.FailureKind, d.Reason)), Is.EqualTo(new[] { (ResourceGroupDecisionKind.Failed, ResourceFailureKind.Fatal, (string?)"disk gone") }));
    }
}
