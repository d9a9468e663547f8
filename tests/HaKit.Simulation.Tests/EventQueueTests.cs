using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>The simulator's event queue: events come out by time, and in the order they were queued at the same time.</summary>
public sealed class EventQueueTests
{
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void Events_come_out_by_time_then_in_the_order_they_were_queued(int seed)
    {
        var random = new Random(seed);
        var queue = new EventQueue<int>();
        var reference = new List<(long At, long Seq, int Item)>();
        var taken = new List<int>();
        var expected = new List<int>();
        long seq = 0;
        for (var round = 0; round < 2_000; round++)
        {
            // Interleaved: a few events queued (many at the same few times), then some taken, as a simulation does.
            for (var i = random.Next(4); i > 0; i--)
            {
                var at = random.Next(20);
                var item = (int)seq;
                queue.Enqueue(at, seq, item);
                reference.Add((at, seq, item));
                seq++;
            }

            for (var i = random.Next(4); i > 0 && reference.Count > 0; i--)
            {
                var first = reference.OrderBy(r => r.At).ThenBy(r => r.Seq).First();
                reference.Remove(first);
                expected.Add(first.Item);
                Assert.That(queue.TryPeekAt(out var peeked), Is.True);
                Assert.That(peeked, Is.EqualTo(first.At));
                taken.Add(queue.Dequeue(out var at));
                Assert.That(at, Is.EqualTo(first.At));
            }

            Assert.That(queue.Count, Is.EqualTo(reference.Count));
        }

        Assert.That(taken, Is.EqualTo(expected));
        Assert.That(taken, Has.Count.GreaterThan(1_000));
    }

    [Test]
    public void An_empty_queue_has_no_first_time_and_a_cleared_one_is_empty()
    {
        var queue = new EventQueue<int>();
        Assert.That(queue.TryPeekAt(out _), Is.False);
        for (var i = 0; i < 100; i++)
        {
            queue.Enqueue(100 - i, i, i); // more than the initial capacity: the heap grows
        }

        Assert.That(queue.TryPeekAt(out var at), Is.True);
        Assert.That(at, Is.EqualTo(1));
        Assert.That(queue.Dequeue(out _), Is.EqualTo(99));
        queue.Clear();
        Assert.That(queue.Count, Is.Zero);
        Assert.That(queue.TryPeekAt(out _), Is.False);
    }
}
