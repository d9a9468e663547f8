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
internal sealed class AdminEventJournal
{
    /// <summary>Events one subscriber may have queued before it is cut off.</summary>
    internal const int SubscriberQueue = 1024;

    private readonly Lock _gate = new();
    private readonly WatchEvent?[] _ring;
    private readonly List<Subscriber> _subscribers = [];
    private readonly TimeProvider _time;
    private ClusterNode? _node;
    private ulong _last;
    private bool _closed;

    public AdminEventJournal(int capacity, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new WatchEvent?[capacity];
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
        lock (_gate)
        {
            if (_closed)
            {
                throw new InvalidOperationException("the admin API is stopping");
            }

            var current = node.Incarnation;
            var first = new List<WatchEvent>();
            var oldest = _last >= (ulong)_ring.Length ? _last - (ulong)_ring.Length + 1 : 1;
            var resumable = incarnation != 0 && incarnation == current && afterSequence <= _last && afterSequence + 1 >= oldest;
            if (resumable)
            {
                for (var seq = afterSequence + 1; seq <= _last; seq++)
                {
                    first.Add(_ring[(int)(seq % (ulong)_ring.Length)]!);
                }
            }
            else
            {
                first.Add(new WatchEvent
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
                });
            }

            var subscriber = new Subscriber(this, Channel.CreateBounded<WatchEvent>(new BoundedChannelOptions(SubscriberQueue) { SingleReader = true, SingleWriter = true }));
            _subscribers.Add(subscriber);
            return new Subscription(first, subscriber);
        }
    }

    /// <summary>Journals one event (on the node's loop; never blocks).</summary>
    internal void OnEvent(object? sender, ClusterEvent e)
    {
        var node = _node!;
        var text = node.DescribeEvent(e);
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            var w = new WatchEvent
            {
                Sequence = ++_last,
                Incarnation = node.Incarnation,
                UnixTimeMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
                Kind = e.GetType().Name,
                Text = text,
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
                case SplitBrainDetected s:
                    w.Group = s.Group;
                    w.Node = s.PeerNode;
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

            _ring[(int)(w.Sequence % (ulong)_ring.Length)] = w;
            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                var s = _subscribers[i];
                if (!s.Queue.Writer.TryWrite(w))
                {
                    // Too slow: cut it off (its stream ends with ResourceExhausted); it reconnects and gets what it missed or a gap snapshot.
                    s.Overflowed = true;
                    s.Queue.Writer.TryComplete();
                    _subscribers.RemoveAt(i);
                }
            }
        }
    }

    private void Remove(Subscriber subscriber)
    {
        lock (_gate)
        {
            _subscribers.Remove(subscriber);
        }
    }

    /// <summary>One watcher's queue.</summary>
    internal sealed class Subscriber(AdminEventJournal journal, Channel<WatchEvent> queue)
    {
        public Channel<WatchEvent> Queue { get; } = queue;

        /// <summary>Set when the journal cut the watcher off for falling behind.</summary>
        public volatile bool Overflowed;

        public void Leave() => journal.Remove(this);
    }

    /// <summary>A subscription: the first events and the live queue.</summary>
    internal sealed class Subscription(IReadOnlyList<WatchEvent> first, Subscriber subscriber) : IDisposable
    {
        public IReadOnlyList<WatchEvent> First { get; } = first;

        public ChannelReader<WatchEvent> Live => subscriber.Queue.Reader;

        public bool Overflowed => subscriber.Overflowed;

        public void Dispose() => subscriber.Leave();
    }
}
