using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace HaKit.Tests.Transport;

/// <summary>
/// Linux network-namespace helpers for tests: run <c>ip</c>, check that namespaces can be used, and run code on a
/// dedicated thread that entered a namespace (sockets created there stay in that namespace for their whole life).
/// </summary>
public static class NetNs
{
    private const int CloneNewNet = 0x40000000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Why namespaces cannot be used here, or <see langword="null"/> when they can (Linux, root, <c>ip</c> on the path).</summary>
    public static string? UnavailableReason()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "not running on Linux";
        }

        if (geteuid() != 0)
        {
            return "not running as root";
        }

        string? ip = FindIp();
        return ip is null ? "the `ip` command (package iproute2) was not found on PATH" : null;
    }

    /// <summary>Ignores the current test (or fixture, from a one-time set-up) when namespaces are unavailable.</summary>
    public static void IgnoreIfUnavailable()
    {
        string? reason = UnavailableReason();
        if (reason is not null)
        {
            Assert.Ignore($"requires root and iproute2 (ip netns): {reason}");
        }
    }

    /// <summary>A fresh random name such as <c>hakit-mc-1a2b3c4d</c>.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{RandomNumberGenerator.GetHexString(8, lowercase: true)}";

    /// <summary>Runs <c>ip</c> with <paramref name="args"/>; throws with its stderr when it fails. Bounded by a 15 s timeout.</summary>
    public static string Ip(params string[] args)
    {
        var start = new ProcessStartInfo(FindIp() ?? "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start ip");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"ip {string.Join(' ', args)} did not finish within {CommandTimeout.TotalSeconds} s");
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({process.ExitCode}): {stderr.Result.Trim()}");
        }

        return stdout.Result;
    }

    /// <summary>Adds a namespace.</summary>
    public static void Add(string name) => Ip("netns", "add", name);

    /// <summary>Deletes a namespace (and the interfaces in it); a missing namespace is not an error.</summary>
    public static void Delete(string name)
    {
        if (File.Exists(PathOf(name)))
        {
            Ip("netns", "del", name);
        }
    }

    /// <summary>Whether the namespace exists.</summary>
    public static bool Exists(string name) => File.Exists(PathOf(name));

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread that first enters namespace <paramref name="name"/> with
    /// <c>setns(fd, CLONE_NEWNET)</c>; the thread ends afterwards, so no pooled thread is left in the namespace.
    /// Sockets created by the action keep the namespace. Bounded by a 15 s timeout.
    /// </summary>
    public static T RunIn<T>(string name, Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(PathOf(name), FileMode.Open, FileAccess.Read);
                if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new Win32Exception(Marshal.GetLastPInvokeError(), $"setns into network namespace {name} failed");
                }

                result = action();
            }
            catch (Exception ex)
            {
                error = ExceptionDispatchInfo.Capture(ex);
            }
        })
        {
            IsBackground = true,
            Name = $"netns {name}",
        };
        thread.Start();
        if (!thread.Join(CommandTimeout))
        {
            throw new TimeoutException($"code in network namespace {name} did not finish within {CommandTimeout.TotalSeconds} s");
        }

        error?.Throw();
        return result;
    }

    /// <summary>Runs <paramref name="action"/> inside namespace <paramref name="name"/> (see <see cref="RunIn{T}"/>).</summary>
    public static void RunIn(string name, Action action) => RunIn(name, () =>
    {
        action();
        return 0;
    });

    private static string PathOf(string name) => $"/var/run/netns/{name}";

    private static string? FindIp()
    {
        string[] dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        return dirs.Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]).Select(d => Path.Combine(d, "ip")).FirstOrDefault(File.Exists);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    [DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>
/// Two network namespaces joined by a veth pair with IPv4 addresses in 10.213.x.0/24 (only inside the namespaces),
/// multicast enabled and a 224.0.0.0/4 route on each end. <see cref="Dispose"/> deletes both namespaces.
/// </summary>
public sealed class VethPair : IDisposable
{
    private VethPair(string prefix)
    {
        string suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        NamespaceA = $"{prefix}-{suffix}-a";
        NamespaceB = $"{prefix}-{suffix}-b";
        InterfaceA = $"hk{suffix}a";
        InterfaceB = $"hk{suffix}b";
        int subnet = RandomNumberGenerator.GetInt32(1, 255);
        AddressA = IPAddress.Parse($"10.213.{subnet}.1");
        AddressB = IPAddress.Parse($"10.213.{subnet}.2");
    }

    /// <summary>Namespace of end A.</summary>
    public string NamespaceA { get; }

    /// <summary>Namespace of end B.</summary>
    public string NamespaceB { get; }

    /// <summary>Interface of end A (inside <see cref="NamespaceA"/>).</summary>
    public string InterfaceA { get; }

    /// <summary>Interface of end B (inside <see cref="NamespaceB"/>).</summary>
    public string InterfaceB { get; }

    /// <summary>Address of end A.</summary>
    public IPAddress AddressA { get; }

    /// <summary>Address of end B.</summary>
    public IPAddress AddressB { get; }

    /// <summary>Creates the namespaces and the link; on any failure removes what was created and rethrows.</summary>
    public static VethPair Create(string prefix = "hakit-mc")
    {
        var pair = new VethPair(prefix);
        try
        {
            NetNs.Add(pair.NamespaceA);
            NetNs.Add(pair.NamespaceB);
            NetNs.Ip("link", "add", pair.InterfaceA, "netns", pair.NamespaceA, "type", "veth", "peer", "name", pair.InterfaceB, "netns", pair.NamespaceB);
            foreach ((string ns, string dev, IPAddress address) in new[] { (pair.NamespaceA, pair.InterfaceA, pair.AddressA), (pair.NamespaceB, pair.InterfaceB, pair.AddressB) })
            {
                NetNs.Ip("-n", ns, "link", "set", "lo", "up");
                NetNs.Ip("-n", ns, "addr", "add", $"{address}/24", "dev", dev);
                NetNs.Ip("-n", ns, "link", "set", dev, "multicast", "on", "up");
                NetNs.Ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev);
            }

            pair.WaitUntilUp();
            return pair;
        }
        catch
        {
            pair.Dispose();
            throw;
        }
    }

    /// <summary>Deletes both namespaces (and so the veth pair). Idempotent.</summary>
    public void Dispose()
    {
        List<Exception> errors = [];
        foreach (string ns in new[] { NamespaceA, NamespaceB })
        {
            try
            {
                NetNs.Delete(ns);
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        if (errors.Count > 0)
        {
            throw new AggregateException("cannot remove test network namespaces", errors);
        }
    }

    private void WaitUntilUp()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!(IsUp(NamespaceA, InterfaceA) && IsUp(NamespaceB, InterfaceB)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"veth {InterfaceA}/{InterfaceB} did not come up within 5 s");
            }

            Thread.Sleep(20);
        }
    }

    private static bool IsUp(string ns, string dev) => NetNs.Ip("-n", ns, "link", "show", dev).Contains("LOWER_UP", StringComparison.Ordinal);
}
