using HaKit.State;

namespace HaKit.Tests.State;

[TestFixture]
public class DirectorySyncTests
{
    [Test]
    public void Fsync_of_an_existing_directory_succeeds()
    {
        var dir = Directory.CreateTempSubdirectory("hakit-dirsync-");
        try
        {
            Assert.That(() => DirectorySync.Fsync(dir.FullName), Throws.Nothing);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Test]
    public void Fsync_of_a_missing_directory_throws_an_IOException_naming_it()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("directory fsync is a no-op on Windows");
        }

        var missing = Path.Combine(Path.GetTempPath(), "hakit-missing-" + Guid.NewGuid().ToString("N"));
        Assert.That(() => DirectorySync.Fsync(missing), Throws.TypeOf<IOException>().With.Message.Contains(missing).And.Message.Contains("errno 2"));
    }

    [Test]
    public void Fsync_of_a_regular_file_is_rejected_on_Linux()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("O_DIRECTORY is only used on Linux");
        }

        var file = Path.GetTempFileName();
        try
        {
            // O_DIRECTORY makes open() fail with ENOTDIR (20): proves the flag value is right for this architecture.
            Assert.That(() => DirectorySync.Fsync(file), Throws.TypeOf<IOException>().With.Message.Contains("errno 20"));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
