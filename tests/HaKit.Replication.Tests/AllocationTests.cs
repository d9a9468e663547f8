using System.Buffers;
using Google.Protobuf;
using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;

namespace HaKit.Replication.Tests;

/// <summary>
/// The steady replication path (owner core → batch → wire frame → bytes → frame → standby core → segment write → ack) on one
/// thread, measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/>: what it allocates per entry beyond the entry's
/// own bytes must stay a few bytes (amortized per-batch objects), not an object per entry.
/// </summary>
public sealed class AllocationTests
{
    [Test]
    public void The_steady_path_allocates_per_batch_not_per_entry()
    {
        var dir = Directory.CreateTempSubdirectory("hakit-repl-alloc-").FullName;
        try
        {
            const int payload = 100;
            const int perBatch = 1000;
            var owner = new ReplicationCore(ReplicationMode.Async, LogPosition.Zero, [], 0, 1 << 20, 8 << 20);
            var standby = new ReplicationCore(ReplicationMode.Async, LogPosition.Zero, [], 0, 1 << 20, 8 << 20);
            using var segments = SegmentLog.Open(dir, 1L << 30, LogPosition.Zero, []);
            owner.BecomeOwner(1);
            owner.PeerUp();
            standby.PeerUp();
            var data = new byte[payload];

            long Round(int batches)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                for (var b = 0; b < batches; b++)
                {
                    for (var i = 0; i < perBatch; i++)
                    {
                        owner.Append(data); // the caller's bytes; ReplicatedLog copies them once (the entry's own bytes)
                    }

                    Exchange(owner, standby, segments);

                    // As compaction does: the in-memory logs keep a bounded window, so their list capacity is reached in the
                    // warm-up and the measurement shows the path, not the growth of a list that would hold the whole history.
                    owner.Log.DropThrough(owner.Log.Last.Index);
                    standby.Log.DropThrough(standby.Log.Last.Index);
                }

                return GC.GetAllocatedBytesForCurrentThread() - before;
            }

            Round(5); // warm up: lists and buffers reach their size
            var entries = 20 * perBatch;
            var allocated = Round(20);

            // The entry's own bytes are copied twice on the path: into the owner's encoded batch (header + payload) and into the
            // receiver's parsed frame (protobuf copies a bytes field). Everything else must be per batch.
            var entryBytes = 2L * (RecordCodec.HeaderSize + payload);
            var overhead = (double)(allocated - entries * entryBytes) / entries;
            TestContext.Out.WriteLine($"allocated {allocated / (double)entries:F1} B per entry; beyond the entry's bytes: {overhead:F1} B");
            Assert.That(overhead, Is.LessThan(8), "an object per entry (at least 24 B) would show here");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static readonly ArrayBufferWriter<byte> Wire = new(1 << 22);

    private static void Exchange(ReplicationCore owner, ReplicationCore standby, SegmentLog segments)
    {
        for (var round = 0; round < 10; round++)
        {
            owner.Pump();
            var moved = Deliver(owner, standby, null);
            standby.Pump();
            moved |= Deliver(standby, owner, segments);
            if (!moved)
            {
                return;
            }
        }
    }

    private static bool Deliver(ReplicationCore from, ReplicationCore to, SegmentLog? toSegments)
    {
        var moved = false;
        for (var c = 0; c < from.Outputs.Count; c++)
        {
            switch (from.Outputs[c])
            {
                case SendCommand send:
                    // gRPC serializes into a pooled buffer writer and parses from it: so does this test.
                    Wire.Clear();
                    FrameCodec.Encode(send.Message).WriteTo(Wire);
                    to.Receive(FrameCodec.Decode(Frame.Parser.ParseFrom(Wire.WrittenSpan))!);
                    moved = true;
                    break;
                case PersistEntriesCommand persist when toSegments is not null:
                    toSegments.Append(from.Log.Range(persist.FromIndex, persist.ToIndex));
                    from.LocalDurable(persist.ToIndex);
                    break;
                case PersistEntriesCommand persist:
                    from.LocalDurable(persist.ToIndex);
                    break;
            }
        }

        from.Outputs.Clear();
        return moved;
    }
}
