using System.Reflection;
using System.Runtime.CompilerServices;
using HaKit.Resources;

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
}
