using System.Reflection;
using System.Reflection.Emit;

namespace HaKit.Runtime;

/// <summary>
/// The warm-up's reading of method bodies: the generic methods and the value-type generic instantiations that a body calls with
/// closed arguments (<c>AppendFormatted&lt;GroupRole&gt;</c> in an interpolated string, <c>Enumerable.Select</c> over
/// <c>KeyValuePair&lt;string, ulong&gt;</c>, a local <c>Dictionary&lt;string, ulong&gt;</c>), which no non-generic pass reaches and
/// which a first takeover otherwise compiles on its path (measured with <c>DOTNET_JitDisasmSummary</c> on the TwoNode sample:
/// the decision's explanation and the sample's first role line were compiled there).
/// </summary>
internal static partial class JitWarmUp
{
    private static readonly OpCode[] OneByteOpCodes = new OpCode[256];
    private static readonly OpCode[] TwoByteOpCodes = new OpCode[256];

    static JitWarmUp()
    {
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (field.GetValue(null) is OpCode op)
            {
                var value = (ushort)op.Value;
                if (op.Size == 1)
                {
                    OneByteOpCodes[value] = op;
                }
                else
                {
                    TwoByteOpCodes[value & 0xff] = op;
                }
            }
        }
    }

    /// <summary>The closed generic methods, and the methods of closed generic types, that <paramref name="method"/>'s body calls.</summary>
    /// <param name="method">A method with a body, not itself generic.</param>
    internal static IEnumerable<MethodBase> GenericCalls(MethodBase method)
    {
        if (method.GetMethodBody()?.GetILAsByteArray() is not { } il)
        {
            yield break;
        }

        // A method of a closed generic type (or a closed generic method) reads its tokens in its own instantiation.
        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var i = 0;
        while (i < il.Length)
        {
            OpCode op;
            if (il[i] == 0xfe)
            {
                if (i + 1 >= il.Length)
                {
                    yield break;
                }

                op = TwoByteOpCodes[il[i + 1]];
                i += 2;
            }
            else
            {
                op = OneByteOpCodes[il[i]];
                i += 1;
            }

            if (op.OperandType == OperandType.InlineMethod && i + 4 <= il.Length
                && Resolve(method.Module, BitConverter.ToInt32(il, i), typeArguments, methodArguments) is { } callee
                && !callee.ContainsGenericParameters
                && (callee.IsGenericMethod || callee.DeclaringType is { IsConstructedGenericType: true }))
            {
                yield return callee;
            }

            i += OperandSize(op.OperandType, il, i);
        }
    }

    /// <summary>
    /// Prepares what <paramref name="method"/>'s body calls generically: each closed generic method, and each method of a closed
    /// generic type over a value type, once. Only the callees themselves: following them further (whole instantiations, their own
    /// bodies) doubled the warm-up to 31,000 methods in the TwoNode sample, and a process that compiled that much took longer to be
    /// torn down by its kernel when killed, which is what its peer's crash hint waits for.
    /// </summary>
    internal static (int Prepared, int Failed) PrepareGenericCalls(MethodBase method, HashSet<MethodBase> calledGenerics)
    {
        var prepared = 0;
        var failed = 0;
        foreach (var callee in GenericCalls(method))
        {
            var unshared = callee.IsGenericMethod || (callee.DeclaringType is { } declaring && IsUnsharedInstantiation(declaring));
            if (unshared && !callee.IsAbstract && (callee.MethodImplementationFlags & MethodImplAttributes.Runtime) == 0 && calledGenerics.Add(callee))
            {
                if (TryPrepare(callee))
                {
                    prepared++;
                }
                else
                {
                    failed++;
                }

                if (IsAsyncMachinery(callee.DeclaringType))
                {
                    var (p, f) = PrepareAsyncMachinery(callee, calledGenerics, AsyncMachineryDepth);
                    prepared += p;
                    failed += f;
                }
            }
        }

        return (prepared, failed);
    }

    /// <summary>How far <see cref="PrepareAsyncMachinery"/> follows a builder's calls: the public <c>AwaitUnsafeOnCompleted</c> calls
    /// the builder's static one, which calls <c>GetStateMachineBox</c>, which constructs the box.</summary>
    private const int AsyncMachineryDepth = 3;

    /// <summary>Whether <paramref name="type"/> is one of the runtime's async method builders or their state machine boxes.</summary>
    private static bool IsAsyncMachinery(Type? type) =>
        type is { Namespace: "System.Runtime.CompilerServices" } && (type.Name.Contains("MethodBuilder", StringComparison.Ordinal) || type.Name.Contains("Box", StringComparison.Ordinal)
            || IsAsyncMachinery(type.DeclaringType));

    /// <summary>
    /// Follows an async method builder's generic call over a state machine (<c>AwaitUnsafeOnCompleted&lt;TAwaiter, TStateMachine&gt;</c>)
    /// into the runtime's own generic code under it, and prepares the state machine's box that code constructs (its <c>MoveNext</c>,
    /// execution-context callback and type initializer). This code runs the first time the async method really waits, which for
    /// the crash path's methods (a link's pump and wait ended by the peer's crash) is the crash itself: measured with
    /// <c>DOTNET_JitDisasmSummary</c> on the TwoNode sample, about eight methods per such state machine were compiled then. Only
    /// the builders' and boxes' calls are followed, so the warm-up stays one level deep everywhere else.
    /// </summary>
    private static (int Prepared, int Failed) PrepareAsyncMachinery(MethodBase builderCall, HashSet<MethodBase> calledGenerics, int depth)
    {
        var prepared = 0;
        var failed = 0;
        if (depth == 0)
        {
            return (0, 0);
        }

        foreach (var inner in GenericCalls(builderCall))
        {
            if (!IsAsyncMachinery(inner.DeclaringType) || inner.IsAbstract || !calledGenerics.Add(inner))
            {
                continue;
            }

            if (inner is ConstructorInfo { DeclaringType: { } box })
            {
                var (boxPrepared, boxFailed) = PrepareDeclared(box, calledGenerics, CancellationToken.None);
                prepared += boxPrepared;
                failed += boxFailed;
                continue;
            }

            (prepared, failed) = TryPrepare(inner) ? (prepared + 1, failed) : (prepared, failed + 1);
            var (p, f) = PrepareAsyncMachinery(inner, calledGenerics, depth - 1);
            prepared += p;
            failed += f;
        }

        return (prepared, failed);
    }

    private static MethodBase? Resolve(Module module, int token, Type[]? typeArguments, Type[]? methodArguments)
    {
        try
        {
            return module.ResolveMethod(token, typeArguments, methodArguments);
        }
        catch (Exception ex) when (ex is ArgumentException or BadImageFormatException or TypeLoadException or MissingMethodException or FileNotFoundException or FileLoadException)
        {
            return null; // a reference this warm-up cannot follow (an optional assembly that is not there): its first call compiles it
        }
    }

    private static int OperandSize(OperandType type, byte[] il, int at) => type switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => at + 4 <= il.Length ? 4 + (4 * BitConverter.ToInt32(il, at)) : il.Length,
        _ => 4,
    };
}
