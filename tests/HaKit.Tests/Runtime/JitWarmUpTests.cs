using System.Diagnostics.Metrics;
using System.Reflection;
using System.Runtime.CompilerServices;
using HaKit.Runtime;

namespace HaKit.Tests.Runtime;

/// <summary>
/// The warm-up compiles what a first takeover would otherwise compile on its path: counted with
/// <see cref="System.Runtime.JitInfo.GetCompiledMethodCount"/> on the calling thread around the first call after the warm-up.
/// </summary>
[TestFixture]
public sealed class JitWarmUpTests
{
    [Test]
    public void An_interface_method_is_compiled_by_the_warm_up_not_at_its_first_call()
    {
        // Measured on .NET 10 before the fix: PrepareMethod alone compiles nothing for a virtual method, so the executor's
        // commands, the arbiter's request and a resource's start were compiled during the first takeover.
        var type = typeof(Prepared);
        Assert.Multiple(() =>
        {
            Assert.That(JitWarmUp.TryPrepare(type.GetConstructor(Type.EmptyTypes)!), Is.True);
            Assert.That(JitWarmUp.TryPrepare(type.GetMethod(nameof(Prepared.Add))!), Is.True);
        });

        var compiled = CompiledOnThisThread(() => ((IAdds)new Prepared()).Add(1));

        Assert.That(compiled, Is.Zero, "the interface method (or its constructor) was compiled at its first call");
    }

    [Test]
    public void An_async_methods_first_call_compiles_nothing_after_the_warm_up()
    {
        var method = typeof(JitWarmUpTests).GetMethod(nameof(CompletesAsync), BindingFlags.Static | BindingFlags.NonPublic)!;
        var stateMachine = method.GetCustomAttribute<AsyncStateMachineAttribute>()!.StateMachineType;
        Assert.Multiple(() =>
        {
            Assert.That(JitWarmUp.TryPrepare(method), Is.True);
            Assert.That(JitWarmUp.TryPrepare(stateMachine.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)!), Is.True);
            Assert.That(JitWarmUp.PrepareAsyncStart(stateMachine), Is.EqualTo((2, 0)), "the builder's Start and the runtime's shared core of it");
        });

        var compiled = CompiledOnThisThread(() => CompletesAsync(2).GetAwaiter().GetResult());

        Assert.That(compiled, Is.Zero, "the builder's generic Start was compiled at the first call");
    }

    [Test]
    public void An_async_methods_first_real_wait_compiles_nothing_after_the_warm_up()
    {
        // The first time an async method really waits, the runtime boxes its state machine: the builder's inner
        // AwaitUnsafeOnCompleted, GetStateMachineBox and the box's own methods. Measured on the TwoNode sample before the fix:
        // about eight methods per state machine of a link's pump and wait were compiled when the peer crashed.
        var method = typeof(JitWarmUpTests).GetMethod(nameof(WaitsAsync), BindingFlags.Static | BindingFlags.NonPublic)!;
        var stateMachine = method.GetCustomAttribute<AsyncStateMachineAttribute>()!.StateMachineType;
        var moveNext = stateMachine.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)!;
        var (prepared, failed) = JitWarmUp.PrepareGenericCalls(moveNext, []);
        Assert.Multiple(() =>
        {
            Assert.That(JitWarmUp.TryPrepare(method) && JitWarmUp.TryPrepare(moveNext), Is.True);
            Assert.That(JitWarmUp.PrepareAsyncStart(stateMachine).Failed, Is.Zero);
            Assert.That(prepared, Is.GreaterThan(5), "the awaits, the builder's inner calls and the box");
            Assert.That(failed, Is.Zero);
        });

        // What the measured call also runs that is not the warm-up's business (a completion source of short, the builder's code
        // shared by every async method returning short): another method of the same shape waits first.
        var warm = new TaskCompletionSource<short>();
        var other = AlsoWaitsAsync(warm.Task);
        warm.SetResult(1);
        _ = other.GetAwaiter().GetResult();

        var compiled = CompiledOnThisThread(() =>
        {
            var source = new TaskCompletionSource<short>(); // continuations run inline: the resumption is on this thread
            var waiting = WaitsAsync(source.Task);
            source.SetResult(2);
            _ = waiting.GetAwaiter().GetResult();
        });

        Assert.That(compiled, Is.Zero, "the state machine's box or the builder's inner generic code was compiled at the first wait");
    }

    [Test]
    public void A_held_value_type_instantiation_is_compiled_with_its_base_types()
    {
        // Counter<short>: an instantiation no other code in the test process uses, so only the warm-up can have compiled it.
        using var meter = new Meter("HaKit.Tests.JitWarmUp");
        var counter = meter.CreateCounter<short>("warm");
        var (prepared, failed) = JitWarmUp.PrepareInstantiation(typeof(Counter<short>), [], CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(prepared, Is.GreaterThan(5));
            Assert.That(failed, Is.Zero);
        });

        var compiled = CompiledOnThisThread(() => counter.Add(1, new KeyValuePair<string, object?>("a", "b"), new KeyValuePair<string, object?>("c", "d")));

        Assert.That(compiled, Is.Zero, "Counter<short>.Add or Instrument<short>.RecordMeasurement was compiled at the first call");
    }

    [Test]
    public void A_bodys_generic_calls_over_value_types_are_found_and_compiled()
    {
        // Tuple.Create<short, sbyte>: a generic method over value types that nothing else in the test process calls.
        var method = typeof(JitWarmUpTests).GetMethod(nameof(CallsGenericOverValueTypes), BindingFlags.Static | BindingFlags.NonPublic)!;
        var calls = JitWarmUp.GenericCalls(method).ToList();
        Assert.That(calls.Select(c => $"{c.DeclaringType!.Name}.{c.Name}"), Does.Contain("Tuple.Create"));

        var (prepared, failed) = JitWarmUp.PrepareGenericCalls(method, []);
        Assert.Multiple(() =>
        {
            Assert.That(JitWarmUp.TryPrepare(method), Is.True);
            Assert.That(prepared, Is.GreaterThan(1), "Tuple.Create<short, sbyte> and the Item1 of Tuple<short, sbyte>");
            Assert.That(failed, Is.Zero);
        });

        var compiled = CompiledOnThisThread(() => CallsGenericOverValueTypes());

        // Tuple.Create's own body (Tuple<short, sbyte>'s constructor) is not followed: only what the scanned body calls is prepared.
        Assert.That(compiled, Is.LessThanOrEqualTo(1), "Tuple.Create<short, sbyte> or Item1 was compiled at the first call");
    }

    [Test]
    public void The_log_states_of_the_core_are_found_and_the_loaded_logging_pipeline_is_prepared_for_them()
    {
        var core = typeof(ClusterNode).Assembly;
        var called = new HashSet<MethodBase>();
        _ = JitWarmUp.Prepare([core], called, CancellationToken.None); // the IL pass finds the LoggerMessage.Define calls
        var states = JitWarmUp.LogStates([core], called);
        var logValues4 = typeof(Microsoft.Extensions.Logging.LoggerMessage).GetNestedType("LogValues`4", BindingFlags.NonPublic)!
            .MakeGenericType(typeof(string), typeof(string), typeof(string), typeof(long));
        Assert.Multiple(() =>
        {
            // LoggerMessage.Define's state of "group {Group}: {Action} {Resource} ok in {ElapsedMs} ms" (ResourcesLog.ActionSucceeded).
            Assert.That(states, Does.Contain(logValues4));
            // The source generator's own state structs (messages with more than six values).
            Assert.That(states.Where(t => t.Name.StartsWith("__", StringComparison.Ordinal) && t.Name.EndsWith("Struct", StringComparison.Ordinal)), Is.Not.Empty);
        });

        using var factory = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { }); // loads Microsoft.Extensions.Logging
        var (prepared, failed) = JitWarmUp.PrepareLogging([core], called, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(prepared, Is.GreaterThan(states.Count), "at least the core logger's Log<TState> for each state");
            Assert.That(failed, Is.Zero);
        });
    }

    [Test]
    public void A_log_message_shape_is_formatted_once_by_the_warm_up_so_its_first_line_compiles_nothing()
    {
        // Define<string, string, ushort>: a shape nothing else in the test process logs (the sample's "listening" line is
        // <string, string, ulong>; its first formatting after a takeover took 6 ms, compiling string.Format<string, string, ulong>).
        // The overload with options is the one the [LoggerMessage] source generator calls.
        var define = typeof(Microsoft.Extensions.Logging.LoggerMessage).GetMethods()
            .Single(m => m.Name == "Define" && m.GetGenericArguments().Length == 3 && m.GetParameters().Length == 4)
            .MakeGenericMethod(typeof(string), typeof(string), typeof(ushort));
        var (formatted, failed) = JitWarmUp.RehearseFormatting([define], CancellationToken.None);
        Assert.That((formatted, failed), Is.EqualTo((2, 0)), "with and without SkipEnabledCheck");

        var log = Microsoft.Extensions.Logging.LoggerMessage.Define<string, string, ushort>(
            Microsoft.Extensions.Logging.LogLevel.Information, new Microsoft.Extensions.Logging.EventId(7), "http {Group}: listening on {Address} (port {Port})",
            new Microsoft.Extensions.Logging.LogDefineOptions { SkipEnabledCheck = true });
        var compiled = CompiledOnThisThread(() => log(JitWarmUp.FormattingLogger.Instance, "web", "127.0.0.1", 8080, null));

        Assert.That(compiled, Is.Zero, "formatting the shape's first real line compiled its generic formatting code");
    }

    [Test]
    public void The_warm_up_of_the_core_assembly_prepares_its_held_instantiations_and_async_starts_without_failures()
    {
        var (prepared, failed) = JitWarmUp.Prepare([typeof(ClusterNode).Assembly], CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(prepared, Is.GreaterThan(3000));
            Assert.That(failed, Is.Zero);
        });
    }

    private static int CompiledOnThisThread(Action first)
    {
        _ = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true); // compiled itself before the measured call
        RuntimeHelpers.PrepareDelegate(first); // the lambda itself is not what is measured
        var before = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true);
        first();
        return (int)(System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true) - before);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CallsGenericOverValueTypes() => Tuple.Create((short)3, (sbyte)4).Item1;

    private static async Task<short> WaitsAsync(Task<short> value) => (short)(await value.ConfigureAwait(false) + 1);

    private static async Task<short> AlsoWaitsAsync(Task<short> value) => (short)(await value.ConfigureAwait(false) + 2);

    private static async Task<int> CompletesAsync(int x)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        return x + 1;
    }

    private interface IAdds
    {
        int Add(int x);
    }

    private sealed class Prepared : IAdds
    {
        public int Add(int x) => x + 3;
    }
}
