using HaKit.Replication.Arbiter;

namespace HaKit.Replication;

/// <summary>The outdated mark through the node's arbiter (etcd, the witness): publishing the owner's mark on its peer before it
/// acknowledges alone, and reading this node's mark before it is promoted.</summary>
public sealed partial class ReplicatedLog
{
    private readonly object _markGate = new();
    private readonly SemaphoreSlim _markSignal = new(0, 1);
    private LogPosition? _markWanted; // guarded by _markGate: the newest mark (or Zero: clearing) the core asked to publish
    private LogPosition? _markDone; // guarded by _markGate: the last one the arbiter confirmed
    private Task _markPublisher = Task.CompletedTask;
    private int _marksUnsupportedLogged;
    private bool _markFailing; // only the publisher: the last attempt failed (failures are logged once per streak, not per retry)
    private volatile bool _ownerForMarks; // written by the loop: whether the core is owner (only an owner publishes)

    /// <summary>How long the publisher waits before it tries the arbiter again.</summary>
    internal static readonly TimeSpan MarkRetryDelay = TimeSpan.FromMilliseconds(250);

    private sealed record MarkPublishedInput(LogPosition Position);

    /// <summary>The loop executes <see cref="Protocol.PublishMarkCommand"/>: hand the newest wanted mark to the publisher.</summary>
    private void WantMark(LogPosition position)
    {
        _ownerForMarks = _core.Role == ReplicaRole.Owner;
        lock (_markGate)
        {
            _markWanted = position;
            _markDone = null; // publish it even if the same position was published before (a new ownership)
        }

        try
        {
            _markSignal.Release();
        }
        catch (SemaphoreFullException)
        {
            // already signalled
        }
    }

    /// <summary>Publishes the wanted mark until the arbiter holds it, retrying while it cannot be reached; the core acknowledges
    /// nothing the peer does not hold meanwhile (DRBD's <c>fencing resource-only</c>: the write waits, it is not acknowledged alone).</summary>
    private async Task PublishMarksAsync(ArbiterMarkBinding arbiter)
    {
        try
        {
            while (true)
            {
                await _markSignal.WaitAsync(_stop.Token).ConfigureAwait(false);
                while (true)
                {
                    LogPosition want;
                    lock (_markGate)
                    {
                        if (_markWanted is not { } w || _markWanted == _markDone)
                        {
                            break;
                        }

                        want = w;
                    }

                    var published = await TryPublishAsync(arbiter, want).ConfigureAwait(false);
                    if (published is not false)
                    {
                        lock (_markGate)
                        {
                            if (_markWanted == want)
                            {
                                _markDone = want;
                            }
                        }

                        if (published is true)
                        {
                            _inputs.Writer.TryWrite(new MarkPublishedInput(want));
                        }
                    }
                    else
                    {
                        await Task.Delay(MarkRetryDelay, _time, _stop.Token).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <returns><see langword="true"/>: published; <see langword="false"/>: try again; <see langword="null"/>: dropped (no longer owner).</returns>
    private async Task<bool?> TryPublishAsync(ArbiterMarkBinding arbiter, LogPosition want)
    {
        if (!_ownerForMarks)
        {
            // Only an owner marks; a deposed one gives up (its waiting appends fail as it becomes standby).
            return null;
        }

        try
        {
            var done = want == LogPosition.Zero
                ? await arbiter.Store.ClearAsync(_options.Group, arbiter.Peer, _stop.Token).ConfigureAwait(false)
                : await arbiter.Store.SetAsync(_options.Group, arbiter.Peer, want, _stop.Token).ConfigureAwait(false);
            if (done)
            {
                _markFailing = false;
                ReplicationLog.ArbiterMark(_logger, _options.Group, arbiter.Peer, want == LogPosition.Zero ? "cleared" : "set", want, arbiter.Store.Name);
                return true;
            }

            if (!_markFailing)
            {
                ReplicationLog.ArbiterMarkRefused(_logger, _options.Group, arbiter.Peer, want, arbiter.Store.Name);
            }

            _markFailing = true;
            return false;
        }
        catch (OutdatedMarkStoreUnavailableException ex)
        {
            if (!_markFailing)
            {
                ReplicationLog.ArbiterUnavailable(_logger, _options.Group, arbiter.Store.Name, ex.Message);
            }

            _markFailing = true;
            return false;
        }
        catch (NotSupportedException ex)
        {
            MarksUnsupported(arbiter, ex);
            return true;
        }
    }

    private void MarksUnsupported(ArbiterMarkBinding arbiter, NotSupportedException ex)
    {
        if (Interlocked.Exchange(ref _marksUnsupportedLogged, 1) == 0)
        {
            ReplicationLog.ArbiterMarksUnsupported(_logger, _options.Group, arbiter.Store.Name, ex.Message);
        }
    }

    /// <summary>Before a promotion: why this node's mark at the arbiter forbids it (<see langword="null"/>: none, or void).</summary>
    /// <exception cref="ArbiterUnavailableException">The arbiter cannot be reached: whether this node is outdated is unknown.</exception>
    private async Task<(string? Refusal, bool Marked)> ArbiterRefusalAsync(long epoch)
    {
        if (_options.ArbiterMarks is not { } arbiter)
        {
            return (null, false);
        }

        ArbiterOutdatedMark? mark;
        try
        {
            mark = await arbiter.Store.GetAsync(_options.Group, arbiter.Node, _stop.Token).ConfigureAwait(false);
        }
        catch (OutdatedMarkStoreUnavailableException ex)
        {
            throw new ArbiterUnavailableException($"group {_options.Group}: cannot own it in epoch {epoch}: the outdated mark at {arbiter.Store.Name} cannot be read ({ex.Message}); whether this node is outdated is unknown");
        }
        catch (NotSupportedException ex)
        {
            MarksUnsupported(arbiter, ex);
            return (null, false);
        }

        if (mark is null)
        {
            return (null, false);
        }

        if (_core.Last.Epoch > mark.At.Epoch)
        {
            // This node holds entries of a later epoch than the marking owner's: a later owner's history replaced that one.
            return (null, true);
        }

        return ($"this node is marked outdated at {arbiter.Store.Name}: {mark.MarkedBy}, owner in epoch {mark.At.Epoch}, acknowledged writes from index {mark.At.Index} on without it (and may have gone on until it cleared the mark), and this node holds up to index {_core.Last.Index} (epoch {_core.Last.Epoch}); promoting it could lose those writes. Let it catch up from the owner, or force it (hakit takeover --force / ReplicatedLog.AllowOutdatedPromotionOnce)", true);
    }

    /// <summary>After a promotion: this node's own mark at the arbiter no longer applies (it owns the group).</summary>
    private async Task ClearOwnArbiterMarkAsync()
    {
        if (_options.ArbiterMarks is not { } arbiter)
        {
            return;
        }

        try
        {
            if (await arbiter.Store.ClearAsync(_options.Group, arbiter.Node, _stop.Token).ConfigureAwait(false))
            {
                ReplicationLog.ArbiterMark(_logger, _options.Group, arbiter.Node, "cleared", LogPosition.Zero, arbiter.Store.Name);
            }
        }
        catch (Exception ex) when (ex is OutdatedMarkStoreUnavailableException or NotSupportedException)
        {
            ReplicationLog.ArbiterUnavailable(_logger, _options.Group, arbiter.Store.Name, ex.Message);
        }
    }
}

/// <summary>The arbiter that holds the outdated marks could not be read before a promotion: a later attempt may succeed.</summary>
/// <param name="message">What failed.</param>
internal sealed class ArbiterUnavailableException(string message) : InvalidOperationException(message);
