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
internal static class JitWarmUp
{
    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Prepares every non-generic method and constructor with a body in <paramref name="assemblies"/>.</summary>
    /// <returns>How many methods were prepared and how many could not be.</returns>
    public static (int Prepared, int Failed) Prepare(IEnumerable<Assembly> assemblies, CancellationToken cancellationToken)
    {
        var prepared = 0;
        var failed = 0;
        foreach (var assembly in assemblies.Distinct())
        {
            Type[] types;
            try
            {
                types = assembly.GetTypes();
            }
            catch (ReflectionTypeLoadException ex)
            {
                types = ex.Types.Where(t => t is not null).ToArray()!;
            }

            foreach (var type in types)
            {
                if (type.ContainsGenericParameters || type.IsInterface)
                {
                    continue;
                }

                foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (method.IsAbstract || method.ContainsGenericParameters || method.GetMethodBody() is null)
                    {
                        continue;
                    }

                    try
                    {
                        RuntimeHelpers.PrepareMethod(method.MethodHandle);
                        prepared++;
                    }
                    catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException or BadImageFormatException or MissingMethodException or TypeLoadException)
                    {
                        failed++;
                    }
                }
            }
        }

        return (prepared, failed);
    }

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
                var (prepared, failed) = Prepare(assemblies, token);
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
