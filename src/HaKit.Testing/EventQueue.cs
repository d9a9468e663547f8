namespace HaKit.Testing;

/// <summary>
/// The simulation's event queue: a binary min-heap ordered by (time, sequence number), the sequence numbers unique, so events at
/// the same time come out in the order they were scheduled whatever the heap's shape. Specialised over the entry's value type
/// with the comparison written out: the general <see cref="PriorityQueue{TElement, TPriority}"/> with a tuple priority took about
/// 8 % of a seed sweep.
/// </summary>
/// <typeparam name="T">The entry (a value type: no allocation per event).</typeparam>
internal sealed class EventQueue<T>
    where T : struct
{
    private Entry[] _heap = new Entry[64];
    private int _count;

    /// <summary>How many events are queued.</summary>
    public int Count => _count;

    /// <summary>The time of the first event, when there is one.</summary>
    public bool TryPeekAt(out long at)
    {
        if (_count == 0)
        {
            at = 0;
            return false;
        }

        at = _heap[0].At;
        return true;
    }

    /// <summary>Queues <paramref name="item"/> at <paramref name="at"/>, after every event queued before it at that time
    /// (<paramref name="seq"/> grows with every call).</summary>
    public void Enqueue(long at, long seq, in T item)
    {
        if (_count == _heap.Length)
        {
            Array.Resize(ref _heap, _heap.Length * 2);
        }

        var heap = _heap;
        var i = _count++;
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            ref var p = ref heap[parent];
            if (p.At < at || (p.At == at && p.Seq < seq))
            {
                break;
            }

            heap[i] = p;
            i = parent;
        }

        ref var slot = ref heap[i];
        slot.At = at;
        slot.Seq = seq;
        slot.Item = item;
    }

    /// <summary>Takes the first event (the queue must not be empty).</summary>
    public T Dequeue(out long at)
    {
        var heap = _heap;
        var first = heap[0];
        at = first.At;
        var n = --_count;
        if (n > 0)
        {
            var last = heap[n];
            var i = 0;
            while (true)
            {
                var child = (2 * i) + 1;
                if (child >= n)
                {
                    break;
                }

                if (child + 1 < n && Less(in heap[child + 1], in heap[child]))
                {
                    child++;
                }

                if (!Less(in heap[child], in last))
                {
                    break;
                }

                heap[i] = heap[child];
                i = child;
            }

            heap[i] = last;
        }

        heap[n] = default; // no reference kept alive by an empty slot
        return first.Item;
    }

    /// <summary>Drops every event.</summary>
    public void Clear()
    {
        Array.Clear(_heap, 0, _count);
        _count = 0;
    }

    private static bool Less(in Entry a, in Entry b) => a.At < b.At || (a.At == b.At && a.Seq < b.Seq);

    private struct Entry
    {
        public long At;
        public long Seq;
        public T Item;
    }
}
