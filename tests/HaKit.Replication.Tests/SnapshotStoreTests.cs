using System.Text;
using HaKit.Replication.Storage;

namespace HaKit.Replication.Tests;

/// <summary>The snapshot store's streaming paths: a snapshot written through a stream, sent as file bytes and installed from
/// chunks only when the whole file checks out.</summary>
public sealed class SnapshotStoreTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-snapstore-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private static byte[] State(int size) => [.. Enumerable.Range(0, size).Select(i => (byte)(i * 7 % 253))];

    private static async Task<SnapshotFile> SaveAsync(SnapshotStore store, LogPosition position, byte[] state) =>
        await store.SaveAsync(position, async (s, ct) =>
        {
            // Written in pieces, as a state machine streams it.
            for (var at = 0; at < state.Length; at += 1000)
            {
                await s.WriteAsync(state.AsMemory(at, Math.Min(1000, state.Length - at)), ct);
            }
        }, CancellationToken.None);

    private static byte[] ReadAll(Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    [Test]
    public async Task A_snapshot_sent_in_chunks_installs_only_when_the_whole_file_checks_out()
    {
        var owner = new SnapshotStore(Path.Combine(_root, "a"));
        var standby = new SnapshotStore(Path.Combine(_root, "b"));
        var old = await SaveAsync(standby, new LogPosition(1, 5), State(100));
        var state = State(50_000);
        var sent = await SaveAsync(owner, new LogPosition(2, 40), state);
        Assert.That(sent.Bytes, Is.EqualTo(50_000 + SnapshotStore.EmptyFileBytes));
        Assert.That(owner.Latest(), Is.EqualTo(sent));

        byte[] file;
        using (var send = owner.OpenForSend(sent.Position)!)
        {
            file = ReadAll(send);
        }

        // A damaged byte in the middle (each chunk passed its own check): the whole file's CRC-32C refuses it.
        var damaged = (byte[])file.Clone();
        damaged[20_000] ^= 1;
        for (var at = 0; at < damaged.Length; at += 4096)
        {
            standby.WriteIncoming(at, damaged.AsSpan(at, Math.Min(4096, damaged.Length - at)));
        }

        Assert.That(standby.CheckIncoming(sent.Position, sent.Bytes, out var problem), Is.Null);
        Assert.That(problem, Does.Contain("CRC-32C"));
        Assert.That(standby.Latest(), Is.EqualTo(old), "the old snapshot is intact");
        Assert.That(Directory.GetFiles(Path.Combine(_root, "b"), "snapshot-*.tmp"), Is.Empty);

        for (var at = 0; at < file.Length; at += 4096)
        {
            standby.WriteIncoming(at, file.AsSpan(at, Math.Min(4096, file.Length - at)));
        }

        var installed = standby.PublishIncoming(standby.CheckIncoming(sent.Position, sent.Bytes, out problem)!);
        Assert.That(problem, Is.Null);
        Assert.That(installed!.Position, Is.EqualTo(sent.Position));
        Assert.That(standby.Latest(), Is.EqualTo(installed), "the newest snapshot now");
        Assert.That(Directory.GetFiles(Path.Combine(_root, "b"), "snapshot-*.snap"), Has.Length.EqualTo(1), "the older one is deleted");
        using var data = SnapshotStore.OpenData(installed);
        Assert.That(ReadAll(data), Is.EqualTo(state));
    }

    [Test]
    public async Task An_incoming_file_for_another_snapshot_is_refused_and_a_partial_one_is_removed_at_start()
    {
        var owner = new SnapshotStore(Path.Combine(_root, "a"));
        var standby = new SnapshotStore(Path.Combine(_root, "b"));
        var sent = await SaveAsync(owner, new LogPosition(2, 40), State(5000));
        using (var send = owner.OpenForSend(sent.Position)!)
        {
            standby.WriteIncoming(0, ReadAll(send));
        }

        Assert.That(standby.CheckIncoming(new LogPosition(2, 41), sent.Bytes, out var problem), Is.Null);
        Assert.That(problem, Does.Contain("(2, 40)").Or.Contain("2/40").Or.Contain("40"));

        standby.WriteIncoming(0, Encoding.UTF8.GetBytes("partial"));
        var restarted = new SnapshotStore(Path.Combine(_root, "b"));
        restarted.RemoveLeftovers();
        Assert.That(Directory.GetFiles(Path.Combine(_root, "b"), "snapshot-*.tmp"), Is.Empty);
        Assert.That(restarted.Latest(), Is.EqualTo(SnapshotFile.Empty));
        standby.DiscardIncoming();
    }

    [Test]
    public void The_empty_snapshot_is_sent_as_a_file_of_header_and_checksum()
    {
        var owner = new SnapshotStore(Path.Combine(_root, "a"));
        var standby = new SnapshotStore(Path.Combine(_root, "b"));
        using var send = owner.OpenForSend(LogPosition.Zero)!;
        var file = ReadAll(send);
        Assert.That(file, Has.Length.EqualTo(SnapshotStore.EmptyFileBytes));
        standby.WriteIncoming(0, file);
        var installed = standby.PublishIncoming(standby.CheckIncoming(LogPosition.Zero, file.Length, out _)!);
        Assert.That(installed!.Position, Is.EqualTo(LogPosition.Zero));
        using var data = SnapshotStore.OpenData(installed);
        Assert.That(ReadAll(data), Is.Empty);
    }
}
