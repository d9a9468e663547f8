using System.ComponentModel;
using System.Diagnostics;
using HaKit.Resources;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Fencing;

/// <summary>
/// A fence agent that runs an executable with the Pacemaker/stonith-style contract (the way <c>fence_ipmilan</c>,
/// <c>fence_virsh</c> or a site's own wrapper script is called).
/// </summary>
/// <remarks>
/// <para><b>Fence:</b> runs <c>&lt;Command&gt; [Arguments...] off &lt;node&gt;</c>. Exit code 0 means the node was fenced; any other exit
/// code is a failure whose explanation carries the exit code and the last lines of the script's output.</para>
/// <para><b>Confirm</b> (<see cref="FenceAgentOptions.Confirm"/>, on by default): after a successful <c>off</c> it runs
/// <c>&lt;Command&gt; [Arguments...] status &lt;node&gt;</c>. Exit 2 (<c>OCF_NOT_RUNNING</c>) confirms the node is off (success);
/// exit 0 means the node is still on (failure "fence reported success but node still on"); any other exit code is a failure.
/// The result is <see cref="FenceResult.Succeeded"/> only once confirmed: confirmation is part of <see cref="FenceAsync"/>.</para>
/// <para><b>Environment:</b> <c>HAKIT_NODE</c> (the node to fence), <c>HAKIT_CLUSTER</c> (the cluster name), <c>HAKIT_ACTION</c>
/// (<c>off</c> or <c>status</c>), on top of this process's environment.</para>
/// <para>The executable is started directly with <see cref="ProcessStartInfo.ArgumentList"/>: no shell interprets the arguments.
/// Standard output lines are logged at Information, standard error lines at Warning, with the agent name.
/// When the call is cancelled (the runtime's <c>Fencing:Timeout</c>, or shutdown) the whole process tree is killed and
/// <see cref="OperationCanceledException"/> is thrown; a missing or non-executable command is returned as a failure.</para>
/// <para>With <see cref="FenceAgentOptions.Nodes"/> set, other nodes are not fenced by this agent (failure "not for node x"), so the next
/// fencing level is tried.</para>
/// </remarks>
public sealed class ScriptFenceAgent : IFenceAgent
{
    private const int TailLines = 5;
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(2);

    private readonly string _command;
    private readonly string[] _arguments;
    private readonly string[] _nodes;
    private readonly bool _confirm;
    private readonly string _cluster;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Creates the agent from its options (<see cref="FenceAgentOptions.Name"/>, <see cref="FenceAgentOptions.Command"/>,
    /// <see cref="FenceAgentOptions.Arguments"/>, <see cref="FenceAgentOptions.Confirm"/>, <see cref="FenceAgentOptions.Nodes"/>; a copy is taken).</summary>
    /// <param name="options">The agent's settings.</param>
    /// <param name="clusterName">The cluster name, passed as <c>HAKIT_CLUSTER</c>.</param>
    /// <param name="logger">Receives the script's output and the outcome; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for elapsed times and the bounded output drain; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The name or the command is empty.</exception>
    public ScriptFenceAgent(FenceAgentOptions options, string clusterName, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Name, nameof(options));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Command, nameof(options));
        ArgumentNullException.ThrowIfNull(clusterName);
        Name = options.Name;
        _command = options.Command;
        _arguments = [.. options.Arguments];
        _nodes = [.. options.Nodes];
        _confirm = options.Confirm;
        _cluster = clusterName;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the script's process tree was killed.</exception>
    public async ValueTask<FenceResult> FenceAsync(string node, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        if (FenceAgentSupport.NotFor(_nodes, node) is { } skipped)
        {
            return skipped;
        }

        var result = await FenceCoreAsync(node, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            FencingLog.Succeeded(_logger, Name, result.Explanation);
        }
        else
        {
            FencingLog.Failed(_logger, Name, result.Explanation);
        }

        return result;
    }

    private async Task<FenceResult> FenceCoreAsync(string node, CancellationToken cancellationToken)
    {
        var off = await RunAsync("off", node, cancellationToken).ConfigureAwait(false);
        if (off.Error is { } startError)
        {
            return new FenceResult(false, startError);
        }

        if (off.ExitCode != 0)
        {
            return new FenceResult(false, $"off {node} exited with code {off.ExitCode}{off.Tail}");
        }

        if (!_confirm)
        {
            return new FenceResult(true, $"off {node} exited with code 0 (not confirmed: Confirm is off)");
        }

        var status = await RunAsync("status", node, cancellationToken).ConfigureAwait(false);
        return status switch
        {
            { Error: { } error } => new FenceResult(false, $"off {node} exited with code 0, but the status check could not run: {error}"),
            { ExitCode: 2 } => new FenceResult(true, $"off {node} exited with code 0; status confirmed off (exit 2)"),
            { ExitCode: 0 } => new FenceResult(false, $"fence reported success but node still on (status {node} exited with code 0){status.Tail}"),
            _ => new FenceResult(false, $"off {node} exited with code 0, but status {node} exited with code {status.ExitCode} (expected 2 = off){status.Tail}"),
        };
    }

    private async Task<RunResult> RunAsync(string action, string node, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var psi = new ProcessStartInfo(_command)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        foreach (var a in _arguments)
        {
            psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add(action);
        psi.ArgumentList.Add(node);
        psi.Environment["HAKIT_NODE"] = node;
        psi.Environment["HAKIT_CLUSTER"] = _cluster;
        psi.Environment["HAKIT_ACTION"] = action;

        var tail = new Queue<string>();
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Keep(string line)
        {
            lock (tail)
            {
                tail.Enqueue(line);
                while (tail.Count > TailLines)
                {
                    tail.Dequeue();
                }
            }
        }

        using var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.Exited += (_, _) => exited.TrySetResult();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                FencingLog.ScriptStdout(_logger, Name, line);
                Keep(line);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                FencingLog.ScriptStderr(_logger, Name, line);
                Keep(line);
            }
        };

        FencingLog.ScriptStarting(_logger, Name, action, node, _command);
        var started = _time.GetTimestamp();
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            return new RunResult(-1, "", $"could not run '{_command}' ({action} {node}): {ex.Message}");
        }

        var pid = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await exited.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            ChildProcess.KillTree(process);

            try
            {
                await exited.Task.WaitAsync(KillWait, _time, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Reported as cancelled all the same; the kernel finishes the kill.
            }

            FencingLog.ScriptKilled(_logger, Name, action, node, pid);
            throw;
        }

        // The exit is known from the Exited event; a grandchild holding the pipes open must not delay the result.
        await ChildProcess.DrainOutputAsync(process).ConfigureAwait(false);

        var exitCode = process.ExitCode;
        FencingLog.ScriptExited(_logger, Name, action, node, exitCode, _time.GetElapsedTime(started).TotalMilliseconds);
        string text;
        lock (tail)
        {
            text = tail.Count == 0 ? "" : ": " + string.Join(" | ", tail);
        }

        return new RunResult(exitCode, text, null);
    }

    private readonly record struct RunResult(int ExitCode, string Tail, string? Error);
}
