namespace HaKit.Linux;

/// <summary>Settings of an <see cref="LsbResource"/>.</summary>
public sealed class LsbResourceOptions
{
    /// <summary>Resource name, unique within its group.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// The script: a path, or a name looked up in <c>/etc/init.d</c>, then <c>/etc/ha.d/resource.d</c>. Heartbeat's
    /// <c>script::arg1::arg2</c> form is accepted (the arguments go before the action, as Heartbeat passes them).
    /// </summary>
    public string Script { get; set; } = "";

    /// <summary>Arguments placed before the action (after any from the <c>::</c> form). <value>Default: none.</value></summary>
    public List<string> Arguments { get; set; } = [];

    /// <summary>Directories a bare script name is looked up in. <value>Default <c>/etc/init.d</c>, <c>/etc/ha.d/resource.d</c>.</value></summary>
    public List<string> SearchPath { get; set; } = ["/etc/init.d", "/etc/ha.d/resource.d"];
}

/// <summary>Settings of an <see cref="OcfResource"/>.</summary>
public sealed class OcfResourceOptions
{
    /// <summary>Resource name, unique within its group (also <c>OCF_RESOURCE_INSTANCE</c>).</summary>
    public string Name { get; set; } = "";

    /// <summary>The agent: <c>ocf:provider:type</c> (<c>ocf:heartbeat:apache</c>), <c>provider/type</c>, or an absolute path.</summary>
    public string Agent { get; set; } = "";

    /// <summary>The agent's parameters, passed as <c>OCF_RESKEY_&lt;name&gt;</c>. <value>Default: none.</value></summary>
    public Dictionary<string, string> Parameters { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The OCF root (<c>OCF_ROOT</c>); agents live in <c>&lt;root&gt;/resource.d/&lt;provider&gt;/&lt;type&gt;</c>. <value>Default <c>/usr/lib/ocf</c>.</value></summary>
    public string OcfRoot { get; set; } = "/usr/lib/ocf";

    /// <summary>Run <c>meta-data</c> and <c>validate-all</c> once before the first start, to check the parameters. <value>Default <see langword="true"/>.</value></summary>
    public bool ValidateAtStart { get; set; } = true;
}

/// <summary>Settings of a <see cref="SystemdUnit"/>.</summary>
public sealed class SystemdUnitOptions
{
    /// <summary>Resource name, unique within its group.</summary>
    public string Name { get; set; } = "";

    /// <summary>The unit (<c>nginx.service</c>).</summary>
    public string Unit { get; set; } = "";
}

/// <summary>Settings of a <see cref="FilesystemResource"/>.</summary>
public sealed class FilesystemOptions
{
    /// <summary>Resource name, unique within its group.</summary>
    public string Name { get; set; } = "";

    /// <summary>The device (<c>/dev/drbd0</c>, <c>LABEL=data</c>), the source directory of a bind mount, or a name for a virtual file system (<c>tmpfs</c>).</summary>
    public string Device { get; set; } = "";

    /// <summary>The mount point (an absolute path; created when missing).</summary>
    public string Directory { get; set; } = "";

    /// <summary>The file system type (<c>-t</c>); empty for a bind mount. <value>Default: none.</value></summary>
    public string FsType { get; set; } = "";

    /// <summary>Mount options (<c>-o</c>), comma separated; <c>bind</c> makes a bind mount. <value>Default: none.</value></summary>
    public string MountOptions { get; set; } = "";

    /// <summary>Before unmounting, kill the processes that hold the mount (SIGTERM, then SIGKILL after 2 s), as the Filesystem agent's <c>force_unmount</c>. <value>Default <see langword="false"/>.</value></summary>
    public bool ForceUnmount { get; set; }
}
