using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Witness.Tests;

/// <summary>HaKit.Replication's outdated marks at the witness over real UDP on loopback: only the holder of a group's grant sets or
/// clears them, they are on disk before they are acknowledged, and they survive a restart.</summary>
[TestFixture]
[CancelAfter(60_000)]
public class WitnessMarkTests
{
    private WitnessFixture _f = null!;

    [SetUp]
    public void SetUp() => _f = new WitnessFixture();

    [TearDown]
    public async Task TearDown() => await _f.DisposeAsync();

    private string MarksFile => Path.Combine(_f.StateDirectory, "demo.marks");

    [Test]
    public async Task Vote_replies_say_the_witness_holds_outdated_marks()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");

        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 1)).OutdatedMarks, Is.True);
    }

    [Test]
    public async Task The_holder_marks_its_peer_the_mark_is_on_disk_and_the_peer_reads_it()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        var b = _f.Node("b");
        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 3)).Granted, Is.True);

        var none = await b.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Get, "web", "b");
        var set = await a.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Set, "web", "b", epoch: 3, index: 1042);
        var onDisk = File.ReadAllText(MarksFile);
        var read = await b.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Get, "web", "b");

        Assert.That(none.Status, Is.EqualTo(OutdatedMarkStatus.Done));
        Assert.That(none.Present, Is.False);
        Assert.That(set.Status, Is.EqualTo(OutdatedMarkStatus.Done), set.Reason);
        Assert.That(onDisk, Does.Contain("mark web b 3 1042 a\n"), "stored before the acknowledgement");
        Assert.That(read.Present, Is.True);
        Assert.That((read.Epoch, read.Index, read.MarkedBy), Is.EqualTo((3L, 1042L, "a")));
    }

    [Test]
    public async Task A_node_without_the_grant_cannot_mark_or_clear_and_a_deposed_owner_neither()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        var b = _f.Node("b");
        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 3, ttlMs: 3000)).Granted, Is.True);
        Assert.That((await a.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Set, "web", "b", 3, 10)).Status, Is.EqualTo(OutdatedMarkStatus.Done));

        var bClears = await b.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Clear, "web", "b");
        var bMarks = await b.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Set, "web", "a", 3, 11);
        var otherGroup = await a.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Set, "db", "b", 3, 10);
        _f.Time.Advance(TimeSpan.FromSeconds(3)); // a's lease ran out: b is granted epoch 4
        Assert.That((await b.AskAsync(server.LocalEndpoint!, "web", 4)).Granted, Is.True);
        var deposedClears = await a.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Clear, "web", "b");
        var deposedMarks = await a.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Set, "web", "b", 3, 99);
        var still = await b.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Get, "web", "b");

        Assert.That(bClears.Status, Is.EqualTo(OutdatedMarkStatus.NotHolder));
        Assert.That(bClears.Reason, Does.Contain("held by a"));
        Assert.That(bMarks.Status, Is.EqualTo(OutdatedMarkStatus.NotHolder));
        Assert.That(otherGroup.Status, Is.EqualTo(OutdatedMarkStatus.NotHolder), "a holds web, not db");
        Assert.That(otherGroup.Reason, Does.Contain("held by nobody"));
        Assert.That(deposedClears.Status, Is.EqualTo(OutdatedMarkStatus.NotHolder));
        Assert.That(deposedMarks.Status, Is.EqualTo(OutdatedMarkStatus.NotHolder));
        Assert.That((still.Present, still.Index, still.MarkedBy), Is.EqualTo((true, 10L, "a")), "refused requests changed nothing");
    }

    [Test]
    public async Task Marks_survive_a_restart_and_the_new_holder_clears_its_own()
    {
        var first = await _f.StartAsync();
        var a = _f.Node("a");
        Assert.That((await a.AskAsync(first.LocalEndpoint!, "web", 5)).Granted, Is.True);
        Assert.That((await a.MarkAsync(first.LocalEndpoint!, OutdatedMarkOp.Set, "web", "b", 5, 77)).Status, Is.EqualTo(OutdatedMarkStatus.Done));
        Assert.That((await a.MarkAsync(first.LocalEndpoint!, OutdatedMarkOp.Set, "web", "a", 5, 1)).Status, Is.EqualTo(OutdatedMarkStatus.Done));
        Assert.That((await a.MarkAsync(first.LocalEndpoint!, OutdatedMarkOp.Clear, "web", "a")).Status, Is.EqualTo(OutdatedMarkStatus.Done));
        await first.DisposeAsync();

        var second = await _f.StartAsync(skipQuiet: false);
        var b = _f.Node("b");
        var inQuiet = await b.MarkAsync(second.LocalEndpoint!, OutdatedMarkOp.Get, "web", "b");
        var cleared = await b.MarkAsync(second.LocalEndpoint!, OutdatedMarkOp.Get, "web", "a");
        _f.Time.Advance(second.MaxLeaseTtl);
        Assert.That((await b.AskAsync(second.LocalEndpoint!, "web", 6)).Granted, Is.True);
        var clear = await b.MarkAsync(second.LocalEndpoint!, OutdatedMarkOp.Clear, "web", "b");
        var gone = await b.MarkAsync(second.LocalEndpoint!, OutdatedMarkOp.Get, "web", "b");

        Assert.That((inQuiet.Present, inQuiet.Epoch, inQuiet.Index, inQuiet.MarkedBy), Is.EqualTo((true, 5L, 77L, "a")), "read back from the marks file, even while the witness grants nothing");
        Assert.That(cleared.Present, Is.False, "a cleared mark stays cleared");
        Assert.That(clear.Status, Is.EqualTo(OutdatedMarkStatus.Done), clear.Reason);
        Assert.That(gone.Present, Is.False);
        Assert.That(File.ReadAllText(MarksFile), Does.Not.Contain("mark web"));
    }

    [Test]
    public async Task A_mark_that_cannot_be_stored_is_refused_and_not_held()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 2)).Granted, Is.True);
        Directory.CreateDirectory(MarksFile + ".tmp"); // the temporary file cannot be created

        var failed = await a.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Set, "web", "b", 2, 5);
        var read = await a.MarkAsync(server.LocalEndpoint!, OutdatedMarkOp.Get, "web", "b");

        Assert.That(failed.Status, Is.EqualTo(OutdatedMarkStatus.Failed));
        Assert.That(failed.Reason, Does.Contain("could not store the outdated mark durably").And.Contain("demo.marks"));
        Assert.That(read.Present, Is.False, "a mark not on disk is not held either");
    }

    [Test]
    public async Task A_corrupt_marks_file_stops_the_start_naming_the_file()
    {
        Directory.CreateDirectory(_f.StateDirectory);
        await File.WriteAllTextAsync(MarksFile, "hakit-marks 1\nmark web b 3 10 a\nsha256 00\n");
        var server = new WitnessServer(_f.Options(), _f.Time);
        await using var _ = server;

        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(ex!.Message, Does.Contain(MarksFile).And.Contain("checksum"));
    }

    [Test]
    public async Task Mark_requests_for_a_node_outside_the_cluster_are_dropped_unanswered()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 2)).Granted, Is.True);
        var before = server.ClusterStats["demo"].GetDropped(DropReason.Malformed);

        a.Send(server.LocalEndpoint!, a.Sign(new OutdatedMarkRequest { RequestId = 99, Group = "web", Node = "zed", Op = OutdatedMarkOp.Set, Epoch = 2, Index = 1 }));
        var answer = await a.ReceiveMessageAsync(TimeSpan.FromMilliseconds(300));

        Assert.That(answer, Is.Null);
        Assert.That(server.ClusterStats["demo"].GetDropped(DropReason.Malformed), Is.EqualTo(before + 1));
        Assert.That(File.Exists(MarksFile), Is.False);
    }
}
