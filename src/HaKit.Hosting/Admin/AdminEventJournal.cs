using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using HaKit.Admin.V1;

namespace HaKit.Hosting.Admin;

/// <summary>
/// The node process's event journal for the admin API's Watch: every <see cref="ClusterEvent"/> gets the next sequence number (from 1
/// within the node's incarnation) and is kept in a ring of the last <see cref="AdminOptions.EventBuffer"/> events. A subscriber gets a
/// snapshot (or exactly the events it missed) and then every event live, through its own bounded queue: a subscriber that falls
/// behind is cut off (it reconnects and gets a gap snapshot), the node is never blocked.
/// </summary>
/// <remarks>
/// On the node's loop (<see cref="OnEvent"/>, which runs before the loop's next command, e.g. a takeover's epoch write) the journal
/// only numbers the event and stamps it; the event's text (<see cref="ClusterNode.DescribeEvent"/>) and its
/// <see cref="WatchEvent"/> are made when a watcher first reads it, on the admin API's thread (<see cref="Entry.Watch"/>). Making them on
/// the loop cost 4.6–6.5 ms of the first crash-hinted takeover's path (docs/benchmarks.md, the crash hint).
/// </remarks>
internal sealed class AdminEventJournal
{
    /// <summary>Events one subscriber may have queued before it is cut off.</summary>
    internal const int SubscriberQueue = 1024;

    private readonly Lock _gate = new();
    private readonly Entry?[] _ring;
    private readonly List<Subscriber> _subscribers = [];
    private readonly TimeProvider _time;
    private ClusterNode? _node;
    private ulong _last;
    private bool _closed;

    public AdminEventJournal(int capacity, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new Entry?[capacity];
        _time = time;
    }

    /// <summary>The last sequence number assigned (0 = none yet).</summary>
    public ulong LastSequence
    {
        get
        {
            lock (_gate)
            {
                return _last;
            }
        }
    }

    /// <summary>Starts journaling <paramref name="node"/>'s events (before it starts, so none is missed).</summary>
    public void Attach(ClusterNode node)
    {
        _node = node;
        node.EventRaised += OnEvent;
    }

    /// <summary>Stops journaling and ends every subscription.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            foreach (var s in _subscribers)
            {
                s.Queue.Writer.TryComplete();
            }

            _subscribers.Clear();
        }

        if (_node is { } node)
        {
            node.EventRaised -= OnEvent;
        }
    }

    /// <summary>
    /// Subscribes. A new subscriber (<paramref name="incarnation"/> 0) or one whose events are no longer held or from another
    /// incarnation gets a snapshot first (gap set for the latter); a reconnecting one whose events are held gets exactly those.
    /// </summary>
    /// <param name="incarnation">The node incarnation the client's <paramref name="afterSequence"/> belongs to (0 = new).</param>
    /// <param name="afterSequence">The last sequence the client saw.</param>
    /// <param name="snapshot">The current status (called under the journal's lock: consistent with the sequence number).</param>
    /// <returns>What to send first, and the live queue (dispose the subscription to leave).</returns>
    public Subscription Subscribe(ulong incarnation, ulong afterSequence, Func<StatusReply> snapshot)
    {
        var node = _node ?? throw new InvalidOperationException("the journal is not attached");
        Subscriber subscriber;
        var held = new List<Entry>();
        WatchEvent? snapshotEvent = null;
        lock (_gate)
        {
            if (_closed)
            {
                throw new InvalidOperationException("the admin API is stopping");
            }

            var current = node.Incarnation;
            var oldest = _last >= (ulong)_ring.Length ? _last - (ulong)_ring.Length + 1 : 1;
            var resumable = incarnation != 0 && incarnation == current && afterSequence <= _last && afterSequence + 1 >= oldest;
            if (resumable)
            {
                for (var seq = afterSequence + 1; seq <= _last; seq++)
                {
                    held.Add(_ring[(int)(seq % (ulong)_ring.Length)]!);
                }
            }
            else
            {
                snapshotEvent = new WatchEvent
                {
                    Sequence = _last,
                    Incarnation = current,
                    UnixTimeMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
                    Kind = "Snapshot",
                    Text = incarnation == 0 ? $"snapshot of node {node.NodeName} at sequence {_last}"
                        : incarnation != current ? $"snapshot of node {node.NodeName} at sequence {_last}: the node restarted (incarnation {incarnation} → {current}); events in between are lost"
                        : $"snapshot of node {node.NodeName} at sequence {_last}: events after {afterSequence} are no longer held (the node keeps the last {_ring.Length})",
                    Snapshot = snapshot(),
                    Gap = incarnation != 0,
                };
            }

            subscriber = new Subscriber(this, Channel.CreateBounded<Entry>(new BoundedChannelOptions(SubscriberQueue) { SingleReader = true, SingleWriter = true }));
            _subscribers.Add(subscriber);
        }

        // The held events' texts are made here, outside the lock the loop takes for each event.
        IReadOnlyList<WatchEvent> first = snapshotEvent is not null ? [snapshotEvent] : held.ConvertAll(h => h.Watch);
        return new Subscription(first, subscriber);
    }

    /// <summary>Journals one event (on the node's loop; never blocks): numbers and stamps it; its text is made when it is read.</summary>
    internal void OnEvent(object? sender, ClusterEvent e)
    {
        var node = _node!;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            var entry = new Entry(node, e, ++_last, node.Incarnation, _time.GetUtcNow().ToUnixTimeMilliseconds());
            _ring[(int)(entry.Sequence % (ulong)_ring.Length)] = entry;
            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                var s = _subscribers[i];
                if (!s.Queue.Writer.TryWrite(entry))
                {
                    // Too slow: cut it off (its stream ends with ResourceExhausted); it reconnects and gets what it missed or a gap snapshot.
                    s.Overflowed = true;
                    s.Queue.Writer.TryComplete();
                    _subscribers.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>The watch event for <paramref name="e"/>: its text and the fields a client filters on.</summary>
    private static WatchEvent Build(ClusterNode node, ClusterEvent e, ulong sequence, ulong incarnation, long unixTimeMs)
    {
        var w = new WatchEvent
        {
            Sequence = sequence,
            Incarnation = incarnation,
            UnixTimeMs = unixTimeMs,
            Kind = e.GetType().Name,
            Text = node.DescribeEvent(e),
        };
        switch (e)
        {
            case RoleChanged r:
                w.Group = r.Group;
                w.Role = AdminStatusMapper.Map(r.To);
                w.Epoch = r.Epoch;
                break;
            case PeerHealthChanged p:
                w.Node = p.Peer;
                break;
            case LinkHealthChanged l:
                w.Node = l.Peer;
                break;
            case PeerRestarted p:
                w.Node = p.Peer;
                break;
            case SplitBrainDetected sb:
                w.Group = sb.Group;
                w.Node = sb.PeerNode;
                break;
            case TakeoverDelayed t:
                w.Group = t.Group;
                break;
            case FenceCompleted f:
                w.Node = f.Node;
                break;
            case GroupFailed g:
                w.Group = g.Group;
                break;
            case GroupHealthReported h:
                w.Group = h.Group;
                break;
            case PersistFailed p:
                w.Group = p.Group;
                break;
            case ResourceActionCompleted a:
                w.Group = a.Record.Group;
                break;
            case GroupHandedOver h:
                w.Group = h.Group;
                w.Node = h.To;
                break;
            case ReachabilityMove m:
                w.Group = m.Group;
                w.Node = m.To;
                break;
        }

        return w;
    }

    private void Remove(Subscriber subscriber)
    {
        lock (_gate)
        {
            _subscribers.Remove(subscriber);
        }
    }

    /// <summary>
    /// One journaled event: numbered and stamped on the loop; its <see cref="WatchEvent"/> is made by its first reader (any thread:
    /// events are immutable records and <see cref="ClusterNode.DescribeEvent"/> reads only the node's name) and then shared.
    /// </summary>
    internal sealed class Entry(ClusterNode node, ClusterEvent e, ulong sequence, ulong incarnation, long unixTimeMs)
    {
        private WatchEvent? _watch;

        /// <summary>The event's sequence number.</summary>
        public ulong Sequence => sequence;

        /// <summary>The watch event (made once; concurrent first readers may both make one, one is kept, they are equal).</summary>
        public WatchEvent Watch
        {
            get
            {
                var w = Volatile.Read(ref _watch);
                if (w is null)
                {
                    var made = Build(node, e, sequence, incarnation, unixTimeMs);
                    w = Interlocked.CompareExchange(ref _watch, made, null) ?? made;
                }

                return w;
            }
        }
    }

    /// <summary>A watcher's live queue as watch events: each entry's event is made as the watcher reads it.</summary>
    private sealed class WatchReader(ChannelReader<Entry> entries) : ChannelReader<WatchEvent>
    {
        public override Task Completion => entries.Completion;

        public override bool CanCount => entries.CanCount;

        public override int Count => entries.Count;

        public override bool TryRead([MaybeNullWhen(false)] out WatchEvent item)
        {
            if (entries.TryRead(out var entry))
            {
                item = entry.Watch;
                return true;
            }

            item = null;
            return false;
        }

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => entries.WaitToReadAsync(cancellationToken);
    }

    /// <summary>One watcher's queue.</summary>
    internal sealed class Subscriber(AdminEventJournal journal, Channel<Entry> queue)
    {
        public Channel<Entry> Queue { get; } = queue;

        /// <summary>The queue as watch events.</summary>
        public ChannelReader<WatchEvent> Reader { get; } = new WatchReader(queue.Reader);

        /// <summary>Set when the journal cut the watcher off for falling behind.</summary>
        public volatile bool Overflowed;

        public void Leave() => journal.Remove(this);
    }

    /// <summary>A subscription: the first events and the live queue.</summary>
    internal sealed class Subscription(IReadOnlyList<WatchEvent> first, Subscriber subscriber) : IDisposable
    {
        public IReadOnlyList<WatchEvent> First { get; } = first;

        public ChannelReader<WatchEvent> Live => subscriber.Reader;

        public bool Overflowed => subscriber.Overflowed;

        public void Dispose() => subscriber.Leave();
    }
}
