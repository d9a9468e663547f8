namespace HaKit.Testing;

/// <summary>
/// The simulation's event queue: a binary min-heap ordered by (time, sequence number), the sequence numbers unique, so events at
/// the same time come out in the order they were scheduled whatever the heap's shape. Specialised over the entry's value type
/// with the comparison written out: the general <see cref="PriorityQueue{TElement, TPriority}"/> with a tuple priority took about
/// 8 % of a seed sweep. The heap holds only the keys and a slot number (no references: moving an entry up or down needs no GC
/// write barrier); the entries stay in their slots until taken.
/// </summary>
/// <typeparam name="T">The entry (a value type: no allocation per event).</typeparam>
internal sealed class EventQueue<T>
    where T : struct
{
    private Key[] _heap = new Key[64];
    private T[] _items = new T[64];
    private int[] _free = new int[64]; // slots below _slots that are free
    private int _freeCount;
    private int _slots; // slots ever used (the high-water mark)
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
        int slot;
        if (_freeCount > 0)
        {
            slot = _free[--_freeCount];
        }
        else
        {
            if (_slots == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
                Array.Resize(ref _free, _items.Length);
                Array.Resize(ref _heap, _items.Length);
            }

            slot = _slots++;
        }

        _items[slot] = item;
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

        heap[i] = new Key(at, seq, slot);
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

        ref var entry = ref _items[first.Slot];
        var item = entry;
        entry = default; // no reference kept alive by a free slot
        _free[_freeCount++] = first.Slot;
        return item;
    }

    /// <summary>Drops every event.</summary>
    public void Clear()
    {
        Array.Clear(_items, 0, _slots);
        _count = 0;
        _slots = 0;
        _freeCount = 0;
    }

    private static bool Less(in Key a, in Key b) => a.At < b.At || (a.At == b.At && a.Seq < b.Seq);

    private readonly struct Key(long at, long seq, int slot)
    {
        public readonly long At = at;
        public readonly long Seq = seq;
        public readonly int Slot = slot;
    }
}
