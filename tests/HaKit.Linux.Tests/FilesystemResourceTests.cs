using System.Diagnostics;

namespace HaKit.Linux.Tests;

/// <summary>Real mounts (tmpfs and a bind mount) in a temporary directory; needs root.</summary>
[TestFixture]
[NonParallelizable]
public class FilesystemResourceTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        Support.IgnoreUnlessRoot("mounting");
        _dir = Directory.CreateTempSubdirectory("hakit-fs-").FullName;
    }

    [TearDown]
    public void TearDown()
    {
        if (_dir.Length == 0)
        {
            return;
        }

        foreach (var mount in new[] { "mnt", "bind" }.Select(m => Path.Combine(_dir, m)).Where(FilesystemResource.IsMounted))
        {
            try
            {
                Support.Run("umount", "-l", mount);
            }
            catch (InvalidOperationException)
            {
            }
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task Tmpfs_is_mounted_monitored_and_unmounted_idempotently()
    {
        var mnt = Path.Combine(_dir, "mnt");
        var fs = new FilesystemResource(new FilesystemOptions { Name = "data", Device = "tmpfs", Directory = mnt, FsType = "tmpfs", MountOptions = "size=1m" });
        Assert.That((await fs.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.NotRunning));
        Assert.That(await fs.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(FilesystemResource.IsMounted(mnt), Is.True);
        Assert.That(File.ReadAllText("/proc/self/mountinfo"), Does.Contain($" {mnt} ").And.Contain("size=1024k"));
        Assert.That((await fs.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.Running));
        Assert.That(await fs.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success), "already mounted");
        Assert.That(await fs.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(FilesystemResource.IsMounted(mnt), Is.False);
        Assert.That(await fs.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success), "not mounted");
    }

    [Test]
    public async Task A_bind_mount_shows_the_source()
    {
        var source = Directory.CreateDirectory(Path.Combine(_dir, "src")).FullName;
        File.WriteAllText(Path.Combine(source, "marker"), "x");
        var target = Path.Combine(_dir, "bind");
        var fs = new FilesystemResource(new FilesystemOptions { Name = "b", Device = source, Directory = target, MountOptions = "bind" });
        Assert.That(await fs.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(File.Exists(Path.Combine(target, "marker")), Is.True);
        Assert.That(await fs.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(File.Exists(Path.Combine(target, "marker")), Is.False);
    }

    [Test]
    public async Task A_missing_device_is_permanent_on_this_node()
    {
        var fs = new FilesystemResource(new FilesystemOptions { Name = "d", Device = "/dev/hakit-none", Directory = Path.Combine(_dir, "mnt"), FsType = "ext4" });
        var result = await fs.StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode), result.Message);
    }

    [Test]
    public async Task Force_unmount_kills_a_process_holding_the_mount()
    {
        var mnt = Path.Combine(_dir, "mnt");
        var logger = new ListLogger();
        var plain = new FilesystemResource(new FilesystemOptions { Name = "data", Device = "tmpfs", Directory = mnt, FsType = "tmpfs" });
        var forced = new FilesystemResource(new FilesystemOptions { Name = "data", Device = "tmpfs", Directory = mnt, FsType = "tmpfs", ForceUnmount = true }, logger);
        await plain.StartAsync(Support.Context(), default);
        using var holder = Process.Start(new ProcessStartInfo("sleep", "60") { WorkingDirectory = mnt, UseShellExecute = false })!;
        try
        {
            Assert.That(forced.Holders(), Does.Contain(holder.Id));
            var busy = await plain.StopAsync(Support.Context(), default);
            Assert.That(busy.Kind, Is.EqualTo(ResourceFailureKind.Transient), "umount refuses a busy mount");
            Assert.That(busy.Message, Does.Contain("ForceUnmount"));
            Assert.That(await forced.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
            Assert.That(FilesystemResource.IsMounted(mnt), Is.False);
            Assert.That(holder.WaitForExit(TimeSpan.FromSeconds(5)), Is.True, "the holder was killed");
            Assert.That(logger.Lines, Has.Some.Contains($"killing process {holder.Id} (sleep) that holds {mnt}"));
        }
        finally
        {
            if (!holder.HasExited)
            {
                holder.Kill();
            }
        }
    }
}
