namespace HaKit.Transport;

/// <summary>One packet in flight on an <see cref="InMemoryNetwork"/>, as seen by <see cref="InMemoryNetwork.Filter"/>.</summary>
/// <param name="From">The sending node.</param>
/// <param name="To">The receiving node.</param>
/// <param name="Link">The link name.</param>
/// <param name="Payload">The packet bytes (valid only during the filter call).</param>
public readonly record struct InMemoryPacket(string From, string To, string Link, ReadOnlyMemory<byte> Payload);

/// <summary>
/// A deterministic in-process network for tests and simulation: transports created with
/// <see cref="CreateTransport"/> deliver each packet synchronously, on the sender's thread and before
/// <see cref="IHeartbeatTransport.SendAsync"/> returns, to every other started transport of the same link whose path is
/// not cut. Paths can be cut one way per link or for all links, nodes can be isolated, and a filter can drop any packet.
/// </summary>
/// <remarks>
/// Thread-safe: control calls may race with sends; a send sees the network as it was when the send began. No threads,
/// timers or clocks are used, so a single-threaded caller gets exactly reproducible deliveries.
/// </remarks>
public sealed class InMemoryNetwork
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Node, string Link), InMemoryTransport> _members = [];
    private State _state = State.Empty;
    private long _delivered;
    private long _dropped;
    private volatile Func<InMemoryPacket, bool>? _filter;

    /// <summary>Creates a network.</summary>
    /// <param name="maxPacketSize">Largest packet a transport of this network sends, in bytes. <value>Default 65507 (the UDP maximum).</value></param>
    public InMemoryNetwork(int maxPacketSize = 65507)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPacketSize, 1);
        MaxPacketSize = maxPacketSize;
    }

    /// <summary>Largest packet a transport of this network sends, in bytes.</summary>
    public int MaxPacketSize { get; }

    /// <summary>
    /// Optional hook called for every packet that passed the cuts, once per receiver; return <see langword="false"/> to drop it.
    /// Runs on the sender's thread; an exception it throws propagates out of the sender's <c>SendAsync</c>.
    /// </summary>
    public Func<InMemoryPacket, bool>? Filter
    {
        get => _filter;
        set => _filter = value;
    }

    /// <summary>Packets handed to a receiver (one per receiving transport).</summary>
    public long DeliveredCount => Interlocked.Read(ref _delivered);

    /// <summary>Packets dropped by a cut, an isolation or <see cref="Filter"/> (one per receiving transport).</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);

    /// <summary>Creates the transport of <paramref name="node"/> on <paramref name="linkName"/>. It joins the link when started.</summary>
    /// <param name="node">The node name.</param>
    /// <param name="linkName">The link name.</param>
    /// <exception cref="InvalidOperationException">The node already has an undisposed transport on this link.</exception>
    public InMemoryTransport CreateTransport(string node, string linkName)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        ArgumentException.ThrowIfNullOrEmpty(linkName);
        lock (_gate)
        {
            if (_members.ContainsKey((node, linkName)))
            {
                throw new InvalidOperationException($"node {node} already has a transport on link {linkName}; dispose it first");
            }

            var transport = new InMemoryTransport(this, node, linkName);
            _members.Add((node, linkName), transport);
            return transport;
        }
    }

    /// <summary>Cuts delivery from <paramref name="from"/> to <paramref name="to"/> (one way).</summary>
    /// <param name="from">The sending node.</param>
    /// <param name="to">The receiving node.</param>
    /// <param name="link">The link to cut, or <see langword="null"/> for every link (including links created later).</param>
    public void Cut(string from, string to, string? link = null) => Mutate(from, to, link, cut: true);

    /// <summary>Heals delivery from <paramref name="from"/> to <paramref name="to"/> (one way).</summary>
    /// <param name="from">The sending node.</param>
    /// <param name="to">The receiving node.</param>
    /// <param name="link">The link to heal (even if it was cut as part of every link), or <see langword="null"/> to heal every link.</param>
    public void Heal(string from, string to, string? link = null) => Mutate(from, to, link, cut: false);

    /// <summary>Cuts delivery both ways between <paramref name="a"/> and <paramref name="b"/>.</summary>
    /// <param name="a">One node.</param>
    /// <param name="b">The other node.</param>
    /// <param name="link">The link to cut, or <see langword="null"/> for every link.</param>
    public void CutBoth(string a, string b, string? link = null)
    {
        lock (_gate)
        {
            Cut(a, b, link);
            Cut(b, a, link);
        }
    }

    /// <summary>Heals delivery both ways between <paramref name="a"/> and <paramref name="b"/>.</summary>
    /// <param name="a">One node.</param>
    /// <param name="b">The other node.</param>
    /// <param name="link">The link to heal, or <see langword="null"/> for every link.</param>
    public void HealBoth(string a, string b, string? link = null)
    {
        lock (_gate)
        {
            Heal(a, b, link);
            Heal(b, a, link);
        }
    }

    /// <summary>Drops every packet from or to <paramref name="node"/> on every link until <see cref="Rejoin"/>. Cuts are kept.</summary>
    /// <param name="node">The node to isolate.</param>
    public void Isolate(string node)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        lock (_gate)
        {
            State s = _state;
            Publish(s with { Isolated = With(s.Isolated, node, add: true) });
        }
    }

    /// <summary>Ends the isolation of <paramref name="node"/>; cuts made with <see cref="Cut"/> stay in place.</summary>
    /// <param name="node">The node to rejoin.</param>
    public void Rejoin(string node)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        lock (_gate)
        {
            State s = _state;
            Publish(s with { Isolated = With(s.Isolated, node, add: false) });
        }
    }

    /// <summary>Removes every cut and isolation (the filter is kept).</summary>
    public void HealAll()
    {
        lock (_gate)
        {
            Publish(_state with { AllLinksCut = [], LinkCuts = [], LinkHeals = [], Isolated = [] });
        }
    }

    /// <summary>Whether a packet from <paramref name="from"/> to <paramref name="to"/> on <paramref name="link"/> would be dropped by a cut or an isolation.</summary>
    /// <param name="from">The sending node.</param>
    /// <param name="to">The receiving node.</param>
    /// <param name="link">The link.</param>
    public bool IsCut(string from, string to, string link) => Volatile.Read(ref _state).IsBlocked(from, to, link);

    /// <summary>Delivers one packet from <paramref name="sender"/> to every other started transport on its link.</summary>
    internal void Send(InMemoryTransport sender, ReadOnlyMemory<byte> packet)
    {
        State state = Volatile.Read(ref _state);
        if (!state.ByLink.TryGetValue(sender.LinkName, out InMemoryTransport[]? targets))
        {
            return;
        }

        Func<InMemoryPacket, bool>? filter = _filter;
        bool checkBlocks = state.HasBlocks;
        for (int i = 0; i < targets.Length; i++)
        {
            InMemoryTransport target = targets[i];
            if (ReferenceEquals(target, sender) || string.Equals(target.Node, sender.Node, StringComparison.Ordinal))
            {
                continue;
            }

            if ((checkBlocks && state.IsBlocked(sender.Node, target.Node, sender.LinkName))
                || (filter is not null && !filter(new InMemoryPacket(sender.Node, target.Node, sender.LinkName, packet))))
            {
                Interlocked.Increment(ref _dropped);
                continue;
            }

            if (target.Deliver(packet.Span))
            {
                Interlocked.Increment(ref _delivered);
            }
        }
    }

    /// <summary>Adds a started transport to its link.</summary>
    internal void Join(InMemoryTransport transport)
    {
        lock (_gate)
        {
            State s = _state;
            var byLink = new Dictionary<string, InMemoryTransport[]>(s.ByLink, StringComparer.Ordinal);
            byLink[transport.LinkName] = byLink.TryGetValue(transport.LinkName, out InMemoryTransport[]? existing) ? [.. existing, transport] : [transport];
            Publish(s with { ByLink = byLink });
        }
    }

    /// <summary>Removes a disposed transport from its link and frees its (node, link) slot.</summary>
    internal void Leave(InMemoryTransport transport)
    {
        lock (_gate)
        {
            if (_members.TryGetValue((transport.Node, transport.LinkName), out InMemoryTransport? member) && ReferenceEquals(member, transport))
            {
                _members.Remove((transport.Node, transport.LinkName));
            }

            State s = _state;
            if (s.ByLink.TryGetValue(transport.LinkName, out InMemoryTransport[]? existing) && Array.IndexOf(existing, transport) >= 0)
            {
                var byLink = new Dictionary<string, InMemoryTransport[]>(s.ByLink, StringComparer.Ordinal);
                InMemoryTransport[] remaining = [.. existing.Where(t => !ReferenceEquals(t, transport))];
                if (remaining.Length == 0)
                {
                    byLink.Remove(transport.LinkName);
                }
                else
                {
                    byLink[transport.LinkName] = remaining;
                }

                Publish(s with { ByLink = byLink });
            }
        }
    }

    private void Mutate(string from, string to, string? link, bool cut)
    {
        ArgumentException.ThrowIfNullOrEmpty(from);
        ArgumentException.ThrowIfNullOrEmpty(to);
        if (link is not null)
        {
            ArgumentException.ThrowIfNullOrEmpty(link);
        }

        lock (_gate)
        {
            State s = _state;
            var pair = (from, to);
            if (link is null)
            {
                // All links: a cut covers every link; a heal clears every cut between the pair.
                Publish(s with
                {
                    AllLinksCut = With(s.AllLinksCut, pair, add: cut),
                    LinkCuts = cut ? s.LinkCuts : Without(s.LinkCuts, k => k.From == from && k.To == to),
                    LinkHeals = Without(s.LinkHeals, k => k.From == from && k.To == to),
                });
            }
            else
            {
                var key = (from, to, link);
                Publish(s with
                {
                    LinkCuts = With(s.LinkCuts, key, add: cut),

                    // Healing one link of an all-links cut leaves the other links cut.
                    LinkHeals = With(s.LinkHeals, key, add: !cut && s.AllLinksCut.Contains(pair)),
                });
            }
        }
    }

    private void Publish(State state) => Volatile.Write(ref _state, state);

    private static HashSet<T> With<T>(HashSet<T> set, T item, bool add)
    {
        if (set.Contains(item) == add)
        {
            return set;
        }

        var copy = new HashSet<T>(set);
        if (add)
        {
            copy.Add(item);
        }
        else
        {
            copy.Remove(item);
        }

        return copy;
    }

    private static HashSet<T> Without<T>(HashSet<T> set, Func<T, bool> predicate)
    {
        if (!set.Any(predicate))
        {
            return set;
        }

        var copy = new HashSet<T>(set);
        copy.RemoveWhere(x => predicate(x));
        return copy;
    }

    /// <summary>An immutable snapshot of the network; replaced, never mutated, under the gate.</summary>
    private sealed record State(
        Dictionary<string, InMemoryTransport[]> ByLink,
        HashSet<(string From, string To)> AllLinksCut,
        HashSet<(string From, string To, string Link)> LinkCuts,
        HashSet<(string From, string To, string Link)> LinkHeals,
        HashSet<string> Isolated)
    {
        public static readonly State Empty = new(new Dictionary<string, InMemoryTransport[]>(StringComparer.Ordinal), [], [], [], new HashSet<string>(StringComparer.Ordinal));

        public bool HasBlocks => AllLinksCut.Count != 0 || LinkCuts.Count != 0 || Isolated.Count != 0;

        public bool IsBlocked(string from, string to, string link)
        {
            if (Isolated.Count != 0 && (Isolated.Contains(from) || Isolated.Contains(to)))
            {
                return true;
            }

            if (LinkCuts.Count != 0 && LinkCuts.Contains((from, to, link)))
            {
                return true;
            }

            return AllLinksCut.Count != 0 && AllLinksCut.Contains((from, to)) && !LinkHeals.Contains((from, to, link));
        }
    }
}
