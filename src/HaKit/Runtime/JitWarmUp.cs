using System.Reflection;
using System.Runtime.CompilerServices;
using HaKit.Resources;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// Compiles the code of a takeover ahead of time, in the background, so that the first failover in a process does not pay for
/// just-in-time compilation of the paths a standby has never run (acquiring, persisting an epoch, the resource-group machine,
/// Polly pipelines, the host's resources). Measured with the TwoNode sample: the first takeover in a fresh standby process spent
/// most of its time compiling.
/// </summary>
internal static partial class JitWarmUp
{
    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Prepares every non-generic method and constructor with a body in <paramref name="assemblies"/>.</summary>
    /// <returns>How many methods were prepared and how many could not be.</returns>
    public static (int Prepared, int Failed) Prepare(IEnumerable<Assembly> assemblies, CancellationToken cancellationToken) =>
        Prepare(assemblies, [], cancellationToken);

    /// <summary>
    /// <see cref="Prepare(IEnumerable{Assembly}, CancellationToken)"/>, collecting in <paramref name="calledGenerics"/> every closed
    /// generic method the bodies call (the logging warm-up reads its <c>LoggerMessage.Define</c> calls from it).
    /// </summary>
    internal static (int Prepared, int Failed) Prepare(IEnumerable<Assembly> assemblies, HashSet<MethodBase> calledGenerics, CancellationToken cancellationToken)
    {
        var prepared = 0;
        var failed = 0;
        var valueTypeInstantiations = new HashSet<Type>();
        foreach (var assembly in assemblies.Distinct())
        {
            foreach (var type in LoadableTypes(assembly))
            {
                if (type.ContainsGenericParameters || type.IsInterface)
                {
                    continue;
                }

                var (declaredPrepared, declaredFailed) = PrepareDeclared(type, calledGenerics, cancellationToken);
                prepared += declaredPrepared;
                failed += declaredFailed;

                if (typeof(IAsyncStateMachine).IsAssignableFrom(type))
                {
                    var (p, f) = PrepareAsyncStart(type);
                    prepared += p;
                    failed += f;
                }

                foreach (var field in type.GetFields(All))
                {
                    if (IsUnsharedInstantiation(field.FieldType) && valueTypeInstantiations.Add(field.FieldType))
                    {
                        var (p, f) = PrepareInstantiation(field.FieldType, calledGenerics, cancellationToken);
                        prepared += p;
                        failed += f;
                    }
                }
            }
        }

        return (prepared, failed);
    }

    /// <summary>
    /// Whether <paramref name="type"/> is a constructed generic type over a value type (<c>Counter&lt;long&gt;</c>,
    /// <c>Dictionary&lt;string, ulong&gt;</c>): the runtime cannot share code for it across instantiations, the framework's images
    /// rarely hold it, and the non-generic pass over this assembly does not reach it, so its first use compiles it on the spot
    /// (measured: the arbiter answer's counter cost 2.7 ms on the takeover's path).
    /// </summary>
    private static bool IsUnsharedInstantiation(Type type) =>
        type.IsConstructedGenericType && !type.ContainsGenericParameters && type.GenericTypeArguments.Any(a => a.IsValueType)
        && !typeof(Delegate).IsAssignableFrom(type); // a delegate's methods are the runtime's own: nothing to compile

    /// <summary>
    /// Prepares the methods of a held generic instantiation, of its base types and of its nested types (enumerators), and what their
    /// bodies call generically (<see cref="PrepareGenericCalls"/>: a counter's <c>Add</c> builds its tags in an inline array).
    /// </summary>
    internal static (int Prepared, int Failed) PrepareInstantiation(Type held, HashSet<MethodBase> calledGenerics, CancellationToken cancellationToken)
    {
        var prepared = 0;
        var failed = 0;
        var arguments = held.GenericTypeArguments;
        var types = new List<Type>();
        for (var t = held; t is not null && t != typeof(object); t = t.BaseType)
        {
            types.Add(t);
        }

        foreach (var nested in held.GetGenericTypeDefinition().GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (nested.IsGenericTypeDefinition && nested.GetGenericArguments().Length == arguments.Length)
            {
                try
                {
                    types.Add(nested.MakeGenericType(arguments));
                }
                catch (ArgumentException)
                {
                    // A constraint the held arguments do not meet: nothing of it runs.
                }
            }
        }

        foreach (var type in types)
        {
            var (p, f) = PrepareDeclared(type, calledGenerics, cancellationToken);
            prepared += p;
            failed += f;
        }

        return (prepared, failed);
    }

    /// <summary>Prepares the methods and constructors <paramref name="type"/> declares that have a body, and what they call generically.</summary>
    private static (int Prepared, int Failed) PrepareDeclared(Type type, HashSet<MethodBase> calledGenerics, CancellationToken cancellationToken)
    {
        var prepared = 0;
        var failed = 0;
        foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (method.IsAbstract || method.ContainsGenericParameters || (method.MethodImplementationFlags & MethodImplAttributes.Runtime) != 0
                || method.GetMethodBody() is null)
            {
                continue;
            }

            if (TryPrepare(method))
            {
                prepared++;
            }
            else
            {
                failed++;
            }

            var (calledPrepared, calledFailed) = PrepareGenericCalls(method, calledGenerics);
            prepared += calledPrepared;
            failed += calledFailed;
        }

        return (prepared, failed);
    }

    /// <summary>
    /// Compiles one method. A virtual method (every interface implementation and override: an executor's command, an arbiter's
    /// request, a resource's start) is given an entry point first: with tiered compilation the runtime calls such a method through
    /// its vtable slot, and <see cref="RuntimeHelpers.PrepareMethod(RuntimeMethodHandle)"/> alone compiles nothing for it (measured
    /// on .NET 10 with <c>DOTNET_JitDisasmSummary</c>: before this, every interface method on the takeover's path was compiled at its
    /// first call, during the first takeover).
    /// </summary>
    internal static bool TryPrepare(MethodBase method, RuntimeTypeHandle[]? instantiation = null)
    {
        try
        {
            if (method.IsVirtual && instantiation is null)
            {
                _ = method.MethodHandle.GetFunctionPointer();
            }

            RuntimeHelpers.PrepareMethod(method.MethodHandle, instantiation);
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException or BadImageFormatException or MissingMethodException or TypeLoadException)
        {
            return false;
        }
    }

    /// <summary>
    /// Compiles the generic code an async method runs on its first call, which the non-generic pass cannot reach: its builder's
    /// <c>Start</c> instantiated over the method's state machine (and the runtime's shared core of it). Without it the first call of
    /// each async method on the takeover's path (the arbiter's ask, the group's start) compiled two methods on the spot.
    /// </summary>
    internal static (int Prepared, int Failed) PrepareAsyncStart(Type stateMachine)
    {
        if (stateMachine.ContainsGenericParameters
            || stateMachine.GetField("<>t__builder", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)?.FieldType is not { ContainsGenericParameters: false } builder)
        {
            return (0, 0);
        }

        var prepared = 0;
        var failed = 0;
        var starts = new[]
        {
            builder.GetMethod("Start", BindingFlags.Instance | BindingFlags.Public),
            AsyncMethodBuilderCoreStart,
        };
        foreach (var start in starts)
        {
            if (start is not { IsGenericMethodDefinition: true })
            {
                continue;
            }

            MethodInfo closed;
            try
            {
                closed = start.MakeGenericMethod(stateMachine);
            }
            catch (ArgumentException)
            {
                failed++;
                continue;
            }

            if (TryPrepare(closed))
            {
                prepared++;
            }
            else
            {
                failed++;
            }
        }

        return (prepared, failed);
    }

    /// <summary>The runtime's shared <c>AsyncMethodBuilderCore.Start&lt;TStateMachine&gt;</c> that every builder's <c>Start</c> calls (internal; null if renamed).</summary>
    private static readonly MethodInfo? AsyncMethodBuilderCoreStart = typeof(AsyncTaskMethodBuilder).Assembly
        .GetType("System.Runtime.CompilerServices.AsyncMethodBuilderCore")?
        .GetMethod("Start", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic);

    /// <summary>
    /// Runs a group's start, monitor and stop once through a <see cref="ResourceGroupRunner"/> over stand-in resources that do
    /// nothing (same names and time-outs as <paramref name="group"/>), so the generic Polly pipelines and async state machines of
    /// a takeover are compiled and their types loaded. Touches nothing outside the process.
    /// </summary>
    public static void Rehearse(GroupOptions group, string nodeName, TimeProvider time, CancellationToken cancellationToken)
    {
        var resources = group.Resources.Select(name => (IResource)new DelegateResource(
            name,
            static (_, _) => ValueTask.FromResult(ResourceResult.Success),
            static (_, _) => ValueTask.FromResult(ResourceResult.Success))).ToArray();
        var runner = new ResourceGroupRunner(group, resources, nodeName, time);
        using var ownership = new CancellationTokenSource();
        runner.StartAsync(1, ownership.Token, cancellationToken).GetAwaiter().GetResult();
        runner.MonitorAsync(cancellationToken).GetAwaiter().GetResult();
        ownership.Cancel();
        runner.StopAsync(cancellationToken).GetAwaiter().GetResult();
    }

    /// <summary>Warms up on a background thread below normal priority (best effort: a failure costs only speed, never the node).</summary>
    /// <param name="assemblies">The assemblies to prepare (HaKit's, Polly's, the resources').</param>
    /// <param name="options">The node's options (its groups are rehearsed).</param>
    /// <param name="time">The node's clock.</param>
    /// <param name="logger">The node's logger.</param>
    /// <param name="token">Stops the warm-up when the node stops.</param>
    public static void StartThread(Assembly[] assemblies, HaKitOptions options, TimeProvider time, ILogger logger, CancellationToken token)
    {
        var realtime = options.RealtimePriority > 0;
        var thread = new Thread(() =>
        {
            if (realtime)
            {
                // Compiling must not compete with heartbeats at real-time priority (measured: at the same priority it caused false
                // failovers at start-up with the Fast preset). Nothing here queues work to the thread pool (PrepareMethod is
                // synchronous and the rehearsal's stand-in actions complete synchronously), so no non-real-time pool thread is created.
                RealtimeScheduling.TryLeaveForCurrentThread();
            }

            var start = time.GetTimestamp();
            try
            {
                var calledGenerics = new HashSet<MethodBase>();
                var (prepared, failed) = Prepare(assemblies, calledGenerics, token);
                var (logPrepared, logFailed) = PrepareLogging(assemblies, calledGenerics, token);
                var (formatted, formatFailed) = RehearseFormatting(calledGenerics, token);
                prepared += logPrepared + formatted;
                failed += logFailed + formatFailed;
                foreach (var group in options.Groups)
                {
                    Rehearse(group, options.NodeName, time, token);
                }

                if (options.Groups.Count > 0)
                {
                    EventLog.WarmUp(options.NodeName, options.Groups[0].Name);
                }

                RuntimeLog.WarmedUp(logger, prepared, failed, time.GetElapsedTime(start).TotalMilliseconds);
            }
            catch (OperationCanceledException)
            {
                // the node stopped first
            }
            catch (Exception ex)
            {
                // Best effort: a warm-up that fails costs only speed, never the node.
                RuntimeLog.WarmUpFailed(logger, ex.GetType().Name, ex.Message);
            }
            finally
            {
                if (realtime)
                {
                    RealtimeScheduling.Forget(); // this thread ends: its id may be reused by a thread that must run real-time
                }
            }
        })
        {
            IsBackground = true,
            Name = "HaKit warm-up",
            Priority = ThreadPriority.BelowNormal,
        };
        thread.Start();
    }
}
