using HaKit.Replication.Storage;

namespace HaKit.Replication.Tests;

/// <summary>The standby's known lag in one file (<see cref="KnownLagFile"/>), and the earlier two-file format it still reads.</summary>
public sealed class KnownLagFileTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-known-lag-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Test]
    public void Both_values_are_written_to_one_file_and_read_back()
    {
        KnownLagFile.Write(_dir, new LogPosition(3, 120), 1_000_000);

        Assert.That(KnownLagFile.Read(_dir), Is.EqualTo((new LogPosition(3, 120), 1_000_000L)));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EqualTo(new[] { KnownLagFile.Name }), "one file, no temporary left");
        Assert.That(new FileInfo(PathOf(KnownLagFile.Name)).Length, Is.EqualTo(28));

        KnownLagFile.Write(_dir, new LogPosition(3, 130), 0);
        Assert.That(KnownLagFile.Read(_dir), Is.EqualTo((new LogPosition(3, 130), 0L)), "replaced");
    }

    [Test]
    public void Nothing_known_deletes_the_file_and_reads_as_none()
    {
        KnownLagFile.Write(_dir, new LogPosition(3, 120), 500);
        KnownLagFile.Write(_dir, LogPosition.Zero, 0);

        Assert.That(File.Exists(PathOf(KnownLagFile.Name)), Is.False);
        Assert.That(KnownLagFile.Read(_dir), Is.EqualTo((LogPosition.Zero, 0L)));
    }

    [Test]
    public void The_earlier_two_file_format_is_read_and_the_next_write_leaves_one_file()
    {
        OutdatedFile.Write(_dir, OutdatedFile.KnownLag, new LogPosition(3, 120));
        OutdatedFile.Write(_dir, OutdatedFile.KnownLagBytes, new LogPosition(0, 4096));
        Assert.That(KnownLagFile.Read(_dir), Is.EqualTo((new LogPosition(3, 120), 4096L)));

        KnownLagFile.Write(_dir, new LogPosition(3, 125), 2048);
        Assert.That(File.Exists(PathOf(KnownLagFile.LegacyBytesName)), Is.False, "the old bytes file is deleted");
        Assert.That(KnownLagFile.Read(_dir), Is.EqualTo((new LogPosition(3, 125), 2048L)));
    }

    [Test]
    public void The_earlier_format_without_its_bytes_file_reads_zero_bytes()
    {
        OutdatedFile.Write(_dir, OutdatedFile.KnownLag, new LogPosition(2, 40));
        Assert.That(KnownLagFile.Read(_dir), Is.EqualTo((new LogPosition(2, 40), 0L)));
    }

    [Test]
    public void A_new_file_wins_over_a_stale_bytes_file_left_by_a_crash_before_its_deletion()
    {
        KnownLagFile.Write(_dir, new LogPosition(3, 120), 100);
        OutdatedFile.Write(_dir, OutdatedFile.KnownLagBytes, new LogPosition(0, 999_999)); // as if the delete never happened
        Assert.That(KnownLagFile.Read(_dir), Is.EqualTo((new LogPosition(3, 120), 100L)));
    }

    [Test]
    public void A_torn_or_corrupt_file_is_a_clear_error_naming_the_file_and_what_deleting_it_costs()
    {
        KnownLagFile.Write(_dir, new LogPosition(3, 120), 100);
        var path = PathOf(KnownLagFile.Name);
        var bytes = File.ReadAllBytes(path);
        bytes[9] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var corrupt = Assert.Throws<ReplicationLogCorruptException>(() => KnownLagFile.Read(_dir));
        Assert.That(corrupt!.FilePath, Is.EqualTo(path));
        Assert.That(corrupt.Message, Does.Contain("fails its checksum").And.Contain("deleting it is safe once the standby has heard the owner again"));

        File.WriteAllBytes(path, bytes.AsSpan(0, 13).ToArray()); // torn
        var torn = Assert.Throws<ReplicationLogCorruptException>(() => KnownLagFile.Read(_dir));
        Assert.That(torn!.Message, Does.Contain("is 13 bytes").And.Contain("should be 28 (or 20 in the earlier format)"));

        OutdatedFile.Write(_dir, OutdatedFile.KnownLag, new LogPosition(3, 120));
        var old = File.ReadAllBytes(path);
        old[0] ^= 1;
        File.WriteAllBytes(path, old);
        Assert.That(() => KnownLagFile.Read(_dir), Throws.TypeOf<ReplicationLogCorruptException>().With.Message.Contains("fails its checksum"), "the earlier format is checked as before");
    }

    [Test]
    public async Task A_restarted_standby_reads_its_lag_from_the_one_file_and_the_log_writes_one_file()
    {
        KnownLagFile.Write(_dir, new LogPosition(3, 120), 1_000_000);
        await using (var b = await ReplicatedKvStore.OpenAsync(new ReplicationOptions { Group = "g", Directory = _dir, SnapshotEveryEntries = 0 }))
        {
            Assert.That(b.Log.Status.KnownLagEntries, Is.EqualTo(120));
            Assert.That(b.Log.Status.KnownLagBytes, Is.EqualTo(1_000_000));
            await b.Log.BecomeOwnerAsync(4, CancellationToken.None); // an owner has no known lag: the file goes
            await Wait.UntilAsync(() => !File.Exists(PathOf(KnownLagFile.Name)), "the owner to delete its known lag");
        }

        Assert.That(File.Exists(PathOf(KnownLagFile.LegacyBytesName)), Is.False);
    }
}
