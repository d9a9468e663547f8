using System.Security.Cryptography;
using System.Text;
using HaKit.State;

namespace HaKit.Tests.State;

[TestFixture]
public class FileStateStoreTests
{
    private string _root = "";

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "hakit-state-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static PersistedState Sample() => new(
        42,
        new Dictionary<string, ulong>(StringComparer.Ordinal)
        {
            ["web"] = 7,
            ["db main"] = 3,
            ["100%"] = ulong.MaxValue,
            ["ünïcode\nline"] = 0,
        });

    private static void AssertSameState(PersistedState actual, PersistedState expected)
    {
        Assert.That(actual.Incarnation, Is.EqualTo(expected.Incarnation));
        Assert.That(actual.Epochs, Is.EquivalentTo(expected.Epochs));
    }

    [Test]
    public void Save_then_load_round_trips()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());

        AssertSameState(store.Load(), Sample());
        AssertSameState(new FileStateStore(path).Load(), Sample());
    }

    [Test]
    public void Empty_epochs_round_trip()
    {
        var store = new FileStateStore(Path.Combine(_root, "a.state"));
        store.Save(new PersistedState(1, new Dictionary<string, ulong>()));
        var loaded = store.Load();
        Assert.That(loaded.Incarnation, Is.EqualTo(1));
        Assert.That(loaded.Epochs, Is.Empty);
    }

    [Test]
    public void Second_save_replaces_the_first()
    {
        var store = new FileStateStore(Path.Combine(_root, "a.state"));
        store.Save(Sample());
        var next = new PersistedState(43, new Dictionary<string, ulong> { ["web"] = 8 });
        store.Save(next);
        AssertSameState(store.Load(), next);
    }

    [Test]
    public void Missing_file_loads_empty()
    {
        var store = new FileStateStore(Path.Combine(_root, "missing", "deeper", "a.state"));
        var state = store.Load();
        Assert.That(state.Incarnation, Is.Zero);
        Assert.That(state.Epochs, Is.Empty);
    }

    [Test]
    public void Save_creates_the_directory_and_leaves_no_temp_file()
    {
        var dir = Path.Combine(_root, "new", "nested");
        var path = Path.Combine(dir, "a.state");
        var store = new FileStateStore(path);

        store.Save(Sample());

        Assert.That(Directory.Exists(dir), Is.True);
        Assert.That(File.Exists(path), Is.True);
        Assert.That(File.Exists(path + ".tmp"), Is.False);
        Assert.That(Directory.GetFiles(dir), Is.EquivalentTo(new[] { path }));
    }

    [Test]
    public void Stale_temp_file_from_a_crash_is_ignored_by_load_and_replaced_by_save()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());
        File.WriteAllText(path + ".tmp", "half-written garbage");

        AssertSameState(store.Load(), Sample());
        store.Save(new PersistedState(50, new Dictionary<string, ulong>()));
        Assert.That(File.Exists(path + ".tmp"), Is.False);
        Assert.That(store.Load().Incarnation, Is.EqualTo(50));
    }

    [Test]
    public void Flipped_byte_anywhere_in_the_file_is_detected()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());
        var good = File.ReadAllBytes(path);

        for (var i = 0; i < good.Length; i++)
        {
            var bad = (byte[])good.Clone();
            bad[i] ^= 0x01;
            File.WriteAllBytes(path, bad);
            Assert.That(
                () => store.Load(),
                Throws.TypeOf<InvalidDataException>().With.Message.Contains(path).And.Message.Contains("corrupt"),
                $"byte {i} flipped");
        }
    }

    [Test]
    public void Truncation_at_every_length_is_detected()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());
        var good = File.ReadAllBytes(path);

        for (var length = 0; length < good.Length; length++)
        {
            File.WriteAllBytes(path, good[..length]);
            Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains(path), $"truncated to {length} bytes");
        }
    }

    [Test]
    public void Truncation_reports_what_is_wrong()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());
        var good = File.ReadAllBytes(path);

        File.WriteAllBytes(path, []);
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("empty"));
        File.WriteAllBytes(path, good[..^1]);
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("truncated"));
        var firstLines = Encoding.UTF8.GetBytes("hakit-state 1\nincarnation 42\n");
        File.WriteAllBytes(path, firstLines);
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("checksum"));
    }

    [Test]
    public void Well_formed_but_wrong_content_is_rejected_with_the_reason()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);

        WriteWithValidChecksum(path, "hakit-state 3\nincarnation 1\n");
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("version 3 is not supported"));

        WriteWithValidChecksum(path, "hakit-state 2\nincarnation 1\n"); // version 2 is always one padded sector
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("exactly 512 bytes"));

        WriteWithValidChecksum(path, "hakit-state 1\nincarnation 1\nepoch web 1\nepoch web 2\n");
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("repeats"));

        WriteWithValidChecksum(path, "hakit-state 1\nincarnation -1\n");
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("line 2"));

        WriteWithValidChecksum(path, "hakit-state 1\nincarnation 1\nepoch web 1 extra\n");
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("line 3"));

        WriteWithValidChecksum(path, "hakit-state 1\nincarnation 1\nepoch web 99999999999999999999999\n");
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("line 3"));

        // The same layout with a correct checksum is accepted: the checks above failed for the stated reasons.
        WriteWithValidChecksum(path, "hakit-state 1\nincarnation 5\nepoch web 9\n");
        var state = store.Load();
        Assert.That(state.Incarnation, Is.EqualTo(5));
        Assert.That(state.Epochs["web"], Is.EqualTo(9));
    }

    [Test]
    public void A_state_that_fits_in_a_sector_is_one_sector_long_and_is_overwritten_in_place()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());
        Assert.That(new FileInfo(path).Length, Is.EqualTo(FileStateStore.SectorBytes));
        Assert.That(Encoding.UTF8.GetString(File.ReadAllBytes(path)), Does.StartWith("hakit-state 2\n"));

        // A handle opened before the next save reads the new state through the same file: overwritten, not replaced by a rename.
        using var before = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var next = new PersistedState(43, new Dictionary<string, ulong> { ["web"] = 8 });
        store.Save(next);
        var seen = new byte[FileStateStore.SectorBytes];
        before.ReadExactly(seen);
        Assert.That(Encoding.UTF8.GetString(seen), Does.Contain("incarnation 43\n").And.Contain("epoch web 8\n"));
        AssertSameState(new FileStateStore(path).Load(), next);
        Assert.That(File.Exists(path + ".tmp"), Is.False);
    }

    [Test]
    public void A_state_too_large_for_a_sector_is_written_by_rename_as_version_1_and_a_small_one_goes_back_to_a_sector()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        var large = new PersistedState(7, Enumerable.Range(0, 40).ToDictionary(i => $"group-{i}", i => (ulong)i * 1000, StringComparer.Ordinal));
        store.Save(large);
        Assert.That(new FileInfo(path).Length, Is.GreaterThan(FileStateStore.SectorBytes));
        Assert.That(Encoding.UTF8.GetString(File.ReadAllBytes(path)), Does.StartWith("hakit-state 1\n"));
        AssertSameState(new FileStateStore(path).Load(), large);

        store.Save(Sample());
        Assert.That(new FileInfo(path).Length, Is.EqualTo(FileStateStore.SectorBytes));
        AssertSameState(new FileStateStore(path).Load(), Sample());
    }

    [Test]
    public void A_version_1_file_of_an_earlier_release_is_read_and_the_next_save_makes_it_one_sector()
    {
        var path = Path.Combine(_root, "a.state");
        WriteWithValidChecksum(path, "hakit-state 1\nincarnation 5\nepoch web 9\n");
        var store = new FileStateStore(path);
        var loaded = store.Load();
        Assert.That(loaded.Incarnation, Is.EqualTo(5));
        Assert.That(loaded.Epochs["web"], Is.EqualTo(9));

        store.Save(new PersistedState(6, loaded.Epochs));
        Assert.That(new FileInfo(path).Length, Is.EqualTo(FileStateStore.SectorBytes));
        Assert.That(store.Load().Incarnation, Is.EqualTo(6));
    }

    [Test]
    public void A_padded_file_of_the_wrong_length_or_a_padded_version_1_is_corrupt()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());
        var sector = File.ReadAllBytes(path);

        File.WriteAllBytes(path, [.. sector, 0]); // one NUL too many
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("truncated"));

        var body = Encoding.UTF8.GetBytes("hakit-state 1\nincarnation 1\n");
        var sum = Encoding.UTF8.GetBytes($"sha256 {Convert.ToHexStringLower(SHA256.HashData(body))}\n");
        var paddedVersion1 = new byte[FileStateStore.SectorBytes];
        body.CopyTo(paddedVersion1, 0);
        sum.CopyTo(paddedVersion1, body.Length);
        File.WriteAllBytes(path, paddedVersion1);
        Assert.That(() => store.Load(), Throws.TypeOf<InvalidDataException>().With.Message.Contains("never padded"));
    }

    [Test]
    public void Save_rejects_empty_group_name_and_keeps_the_previous_file()
    {
        var path = Path.Combine(_root, "a.state");
        var store = new FileStateStore(path);
        store.Save(Sample());

        Assert.That(() => store.Save(new PersistedState(1, new Dictionary<string, ulong> { [""] = 1 })), Throws.ArgumentException);
        AssertSameState(store.Load(), Sample());
    }

    [Test]
    public void Failed_rename_throws_and_cleans_up_the_temp_file()
    {
        var path = Path.Combine(_root, "a.state");
        Directory.CreateDirectory(path); // a directory where the file should go: the rename must fail
        var store = new FileStateStore(path);

        Assert.That(() => store.Save(Sample()), Throws.InstanceOf<IOException>().Or.InstanceOf<UnauthorizedAccessException>());
        Assert.That(File.Exists(path + ".tmp"), Is.False);
    }

    [Test]
    public void Uncreatable_directory_throws()
    {
        var blocker = Path.Combine(_root, "blocker");
        File.WriteAllText(blocker, "a file, not a directory");
        var store = new FileStateStore(Path.Combine(blocker, "a.state"));
        Assert.That(() => store.Save(Sample()), Throws.InstanceOf<IOException>());
    }

    [Test]
    public void Constructor_rejects_directory_paths()
    {
        Assert.That(() => new FileStateStore(""), Throws.ArgumentException);
        Assert.That(() => new FileStateStore(_root + Path.DirectorySeparatorChar), Throws.ArgumentException);
    }

    private static void WriteWithValidChecksum(string path, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var sum = Convert.ToHexStringLower(SHA256.HashData(bytes));
        File.WriteAllBytes(path, [.. bytes, .. Encoding.UTF8.GetBytes($"sha256 {sum}\n")]);
    }
}
