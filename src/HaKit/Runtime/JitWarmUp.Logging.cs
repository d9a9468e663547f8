using System.Reflection;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// The warm-up of the logging pipeline: each log message's state is a value type (the source generator's <c>__XxxStruct</c>, or
/// <c>LoggerMessage.Define</c>'s <c>LogValues&lt;...&gt;</c>), so every provider's <c>Log&lt;TState&gt;</c>, its formatter's
/// <c>Write&lt;TState&gt;</c> and <c>LogEntry&lt;TState&gt;</c> are compiled again for each message the first time it is written
/// (measured with <c>DOTNET_JitDisasmSummary</c>: about 15 methods per message shape, the largest share of what the TwoNode
/// sample's first takeover compiled, on the threads that write its log lines while the new owner starts).
/// </summary>
internal static partial class JitWarmUp
{
    /// <summary>
    /// Prepares the logging generic methods of the process's loaded <c>Microsoft.Extensions.Logging*</c> assemblies (whatever
    /// providers the host configured) for every log state type that <paramref name="assemblies"/> define or build.
    /// </summary>
    /// <param name="assemblies">The assemblies whose log states are prepared.</param>
    /// <param name="calledGenerics">What <see cref="Prepare(IEnumerable{Assembly}, HashSet{MethodBase}, CancellationToken)"/> found their bodies call.</param>
    /// <param name="cancellationToken">Stops the warm-up.</param>
    /// <returns>How many methods were prepared and how many could not be.</returns>
    internal static (int Prepared, int Failed) PrepareLogging(IEnumerable<Assembly> assemblies, HashSet<MethodBase> calledGenerics, CancellationToken cancellationToken)
    {
        var states = LogStates(assemblies, calledGenerics);
        var generic = new List<MethodInfo>();
        Type? logEntry = null;
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (assembly.GetName().Name is not { } name || !name.StartsWith("Microsoft.Extensions.Logging", StringComparison.Ordinal))
            {
                continue;
            }

            logEntry ??= assembly.GetType("Microsoft.Extensions.Logging.Abstractions.LogEntry`1");
            foreach (var type in LoadableTypes(assembly))
            {
                if (type.IsInterface || (type.IsGenericTypeDefinition && type.GetGenericArguments().Length > 1))
                {
                    continue;
                }

                // A logger of a category (Logger<T>): its shared code is what every reference-type category runs.
                var closed = type.IsGenericTypeDefinition ? TryClose(type, typeof(object)) : type;
                if (closed is null)
                {
                    continue;
                }

                generic.AddRange(closed.GetMethods(All).Where(m => m.IsGenericMethodDefinition && m.GetGenericArguments().Length == 1 && !m.IsAbstract));
            }
        }

        var prepared = 0;
        var failed = 0;
        foreach (var state in states)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var method in generic)
            {
                MethodInfo instance;
                try
                {
                    instance = method.MakeGenericMethod(state);
                }
                catch (ArgumentException)
                {
                    continue; // a constraint the state does not meet: this method never logs it
                }

                if (TryPrepare(instance))
                {
                    prepared++;
                }
                else
                {
                    failed++;
                }
            }

            if (logEntry is not null && TryClose(logEntry, state) is { } entry)
            {
                var (p, f) = PrepareInstantiation(entry, [], cancellationToken);
                prepared += p;
                failed += f;
            }
        }

        return (prepared, failed);
    }

    /// <summary>
    /// Formats one message of each <c>LoggerMessage.Define</c> shape among <paramref name="calledGenerics"/> through a throwaway
    /// logger, so the code that turns a state into text (<c>LogValues&lt;...&gt;.ToString</c>, <c>LogValuesFormatter.Format&lt;...&gt;</c>,
    /// <c>string.Format&lt;...&gt;</c> over the message's value types, <c>Define</c>'s closure) is compiled before the first real line
    /// of that shape. Preparing them by name would mean following the formatter's calls two levels deep; running them reaches exactly
    /// what a real line runs (measured on the TwoNode sample: its first <c>listening</c> line after a takeover took 6 ms, most of
    /// it compiling <c>string.Format&lt;string, string, ulong&gt;</c>).
    /// </summary>
    /// <param name="calledGenerics">What the IL pass found the bodies call.</param>
    /// <param name="cancellationToken">Stops the warm-up.</param>
    /// <returns>How many shapes were formatted and how many could not be.</returns>
    internal static (int Formatted, int Failed) RehearseFormatting(IEnumerable<MethodBase> calledGenerics, CancellationToken cancellationToken)
    {
        var formatted = 0;
        var failed = 0;
        var shapes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var callee in calledGenerics)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (callee.DeclaringType != typeof(LoggerMessage) || callee.Name != "Define" || !callee.IsGenericMethod || callee is not MethodInfo define
                || define.GetParameters().Length is not (3 or 4)
                || !shapes.Add(define.GetParameters().Length + ":" + string.Join(',', define.GetGenericArguments().Select(a => a.IsValueType || a == typeof(string) ? a.FullName : "ref"))))
            {
                continue; // not a Define, or a shape whose reference-type arguments share code with one already run
            }

            // The source generator calls the overload with options (SkipEnabledCheck when its method checks IsEnabled itself);
            // which options a call passes is not in the call's IL, so both closures are run.
            object?[][] optionSets = define.GetParameters().Length == 3 ? [[]] : [[new LogDefineOptions { SkipEnabledCheck = true }], [new LogDefineOptions()]];
            foreach (var options in optionSets)
            {
                try
                {
                    var arguments = define.GetGenericArguments();
                    var template = string.Join(' ', arguments.Select((_, i) => $"{{A{i}}}"));
                    var log = (Delegate)define.Invoke(null, [LogLevel.Information, new EventId(0, "warm-up"), template, .. options])!;

                    // Values that are not null: a null argument takes the formatter's other branch (string.Format over an object array).
                    object?[] values = [FormattingLogger.Instance, .. arguments.Select(a => a == typeof(string) ? "" : a.IsValueType ? Activator.CreateInstance(a) : null), null];
                    log.DynamicInvoke(values);
                    formatted++;
                }
                catch (Exception ex) when (ex is TargetInvocationException or ArgumentException or NotSupportedException or MemberAccessException)
                {
                    failed++;
                }
            }
        }

        return (formatted, failed);
    }

    /// <summary>A logger that formats every message it is given and drops the text.</summary>
    internal sealed class FormattingLogger : ILogger
    {
        /// <summary>The one instance.</summary>
        public static readonly FormattingLogger Instance = new();

        /// <inheritdoc />
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        /// <inheritdoc />
        public bool IsEnabled(LogLevel logLevel) => true;

        /// <inheritdoc />
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _ = formatter(state, exception);
    }

    /// <summary>
    /// The log state types: the source generator's state structs in <paramref name="assemblies"/> (value types that are a list of
    /// key-value pairs), and <c>LoggerMessage</c>'s <c>LogValues</c> for each <c>LoggerMessage.Define</c> among
    /// <paramref name="calledGenerics"/> (the calls the IL pass of <see cref="Prepare(IEnumerable{Assembly}, HashSet{MethodBase}, CancellationToken)"/> found).
    /// </summary>
    internal static HashSet<Type> LogStates(IEnumerable<Assembly> assemblies, IEnumerable<MethodBase> calledGenerics)
    {
        var states = new HashSet<Type>();
        foreach (var assembly in assemblies.Distinct())
        {
            foreach (var type in LoadableTypes(assembly))
            {
                if (type.IsValueType && !type.ContainsGenericParameters && typeof(IReadOnlyList<KeyValuePair<string, object?>>).IsAssignableFrom(type))
                {
                    states.Add(type);
                }
            }
        }

        var logValues = typeof(LoggerMessage).GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public)
            .Where(t => t.Name.StartsWith("LogValues", StringComparison.Ordinal))
            .ToDictionary(t => t.GetGenericArguments().Length);
        foreach (var callee in calledGenerics)
        {
            if (callee.DeclaringType == typeof(LoggerMessage) && callee.Name == "Define" && callee.IsGenericMethod
                && logValues.TryGetValue(callee.GetGenericArguments().Length, out var definition)
                && TryClose(definition, callee.GetGenericArguments()) is { } state)
            {
                states.Add(state);
            }
        }

        return states;
    }

    private static Type? TryClose(Type definition, params Type[] arguments)
    {
        try
        {
            return definition.MakeGenericType(arguments);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static Type[] LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types.Where(t => t is not null).ToArray()!;
        }
    }
}
