namespace HaKit.Linux.Tests;

/// <summary>LSB and OCF resources against real small scripts written by the test (no root needed).</summary>
[TestFixture]
public class ScriptResourceTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-script-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>An init script keeping its state in a file; it records its arguments; START_EXIT overrides start's exit code.</summary>
    private string Lsb(int startExit = 0) => Support.Script(_dir, "init.d/svc", $$"""
        #!/bin/sh
        state="{{_dir}}/svc.running"
        echo "$@" >> "{{_dir}}/svc.args"
        for last; do :; done
        case "$last" in
          start) echo "starting svc"; [ {{startExit}} -eq 0 ] || { echo "cannot start" >&2; exit {{startExit}}; }; touch "$state"; exit 0 ;;
          stop) rm -f "$state"; exit 0 ;;
          status) [ -f "$state" ] && exit 0 || exit 3 ;;
          *) exit 3 ;;
        esac
        """);

    [Test]
    public async Task Lsb_start_status_stop_follow_the_script_and_its_output_is_logged()
    {
        var logger = new ListLogger();
        var svc = new LsbResource(new LsbResourceOptions { Name = "svc", Script = Lsb() }, logger);
        Assert.That((await svc.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.NotRunning), "status 3 = stopped");
        Assert.That(await svc.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That((await svc.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.Running));
        Assert.That(await svc.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success), "start of a running service");
        Assert.That(await svc.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(await svc.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success), "stop of a stopped service");
        Assert.That((await svc.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.NotRunning));
        Assert.That(logger.Lines, Has.Some.EqualTo("Information: svc: starting svc"));
    }

    [Test]
    public async Task Heartbeat_script_arguments_go_before_the_action_and_a_bare_name_is_found_in_the_search_path()
    {
        Lsb();
        var svc = new LsbResource(new LsbResourceOptions { Name = "svc", Script = "svc::r0::fast", SearchPath = [Path.Combine(_dir, "nowhere"), Path.Combine(_dir, "init.d")] });
        Assert.That(svc.ScriptPath, Is.EqualTo(Path.Combine(_dir, "init.d", "svc")));
        await svc.StartAsync(Support.Context(), default);
        Assert.That(File.ReadAllLines(Path.Combine(_dir, "svc.args")), Does.Contain("r0 fast start"));
    }

    [TestCase(1, ResourceFailureKind.Transient)]
    [TestCase(5, ResourceFailureKind.PermanentOnNode)]
    [TestCase(4, ResourceFailureKind.PermanentOnNode)]
    [TestCase(6, ResourceFailureKind.Fatal)]
    public async Task Lsb_start_exit_codes_map_to_failure_kinds(int exit, ResourceFailureKind kind)
    {
        var result = await new LsbResource(new LsbResourceOptions { Name = "svc", Script = Lsb(exit) }).StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(kind));
        Assert.That(result.Message, Does.Contain("cannot start"), "the script's stderr explains");
    }

    [Test]
    public async Task A_missing_script_is_permanent_on_this_node_and_counts_as_stopped()
    {
        var svc = new LsbResource(new LsbResourceOptions { Name = "svc", Script = Path.Combine(_dir, "none") });
        Assert.That((await svc.StartAsync(Support.Context(), default)).Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(await svc.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
    }

    [Test]
    public async Task A_script_that_hangs_is_killed_when_the_action_is_cancelled()
    {
        var hang = Support.Script(_dir, "init.d/hang", "#!/bin/sh\nexec sleep 60\n");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var started = DateTime.UtcNow;
        await Assert.ThatAsync(async () => await new LsbResource(new LsbResourceOptions { Name = "h", Script = hang }).StartAsync(Support.Context(), cts.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    /// <summary>An OCF agent under a test OCF root: state in OCF_RESKEY_state; meta-data declares it required; VALIDATE_EXIT for validate-all.</summary>
    private string OcfRoot(int validateExit = 0)
    {
        var root = Path.Combine(_dir, "ocf");
        Support.Script(root, "resource.d/test/dummy", $$"""
            #!/bin/sh
            case "$1" in
              meta-data) cat <<'XML'
            <?xml version="1.0"?>
            <resource-agent name="dummy"><parameters><parameter name="state" required="1"><content type="string"/></parameter></parameters></resource-agent>
            XML
                exit 0 ;;
              validate-all) exit {{validateExit}} ;;
              start) echo "instance $OCF_RESOURCE_INSTANCE root $OCF_ROOT"; touch "$OCF_RESKEY_state"; exit 0 ;;
              stop) rm -f "$OCF_RESKEY_state"; exit 0 ;;
              monitor) [ -f "$OCF_RESKEY_state" ] && exit 0 || exit 7 ;;
              *) exit 3 ;;
            esac
            """);
        return root;
    }

    [Test]
    public async Task Ocf_agent_gets_its_parameters_and_root_and_its_exit_codes_are_read()
    {
        var logger = new ListLogger();
        var state = Path.Combine(_dir, "dummy.state");
        var agent = new OcfResource(new OcfResourceOptions { Name = "d1", Agent = "ocf:test:dummy", OcfRoot = OcfRoot(), Parameters = { ["state"] = state } }, logger);
        Assert.That(agent.AgentPath, Is.EqualTo(Path.Combine(_dir, "ocf", "resource.d", "test", "dummy")));
        Assert.That((await agent.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.NotRunning), "7 = OCF_NOT_RUNNING");
        Assert.That(await agent.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(File.Exists(state), Is.True, "OCF_RESKEY_state reached the agent");
        Assert.That((await agent.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.Running));
        Assert.That(await agent.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(File.Exists(state), Is.False);
        Assert.That(logger.Lines, Has.Some.EqualTo($"Information: d1: instance d1 root {Path.Combine(_dir, "ocf")}"));
    }

    [Test]
    public async Task A_required_parameter_missing_from_the_meta_data_is_fatal_and_named()
    {
        var agent = new OcfResource(new OcfResourceOptions { Name = "d1", Agent = "test/dummy", OcfRoot = OcfRoot() });
        var result = await agent.StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.Fatal));
        Assert.That(result.Message, Does.Contain("required parameter(s) state not given (OCF_ERR_CONFIGURED)"));
    }

    [TestCase(6, ResourceFailureKind.Fatal)]
    [TestCase(5, ResourceFailureKind.PermanentOnNode)]
    [TestCase(2, ResourceFailureKind.PermanentOnNode)]
    [TestCase(1, ResourceFailureKind.Transient)]
    public async Task Validate_all_at_start_up_maps_its_exit_code(int exit, ResourceFailureKind kind)
    {
        var agent = new OcfResource(new OcfResourceOptions { Name = "d1", Agent = "ocf:test:dummy", OcfRoot = OcfRoot(exit), Parameters = { ["state"] = Path.Combine(_dir, "s") } });
        var result = await agent.StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(kind));
        Assert.That(result.Message, Does.Contain("validate-all"));
        Assert.That(File.Exists(Path.Combine(_dir, "s")), Is.False, "not started");
    }

    [TestCase(0, ResourceFailureKind.None)]
    [TestCase(1, ResourceFailureKind.Transient)]
    [TestCase(2, ResourceFailureKind.PermanentOnNode)]
    [TestCase(4, ResourceFailureKind.PermanentOnNode)]
    [TestCase(5, ResourceFailureKind.PermanentOnNode)]
    [TestCase(6, ResourceFailureKind.Fatal)]
    public void Ocf_exit_codes_map_to_failure_kinds(int exit, ResourceFailureKind kind) => Assert.That(OcfResource.Kind(exit), Is.EqualTo(kind));

    [Test]
    public async Task Systemd_unit_follows_systemctl()
    {
        if (await SystemdUnit.UnavailableReasonAsync(default) is { } reason)
        {
            Assert.Ignore($"no systemd on this machine: {reason}");
        }

        var unit = new SystemdUnit(new SystemdUnitOptions { Name = "u", Unit = "hakit-test-does-not-exist.service" });
        Assert.That((await unit.StartAsync(Support.Context(), default)).Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode), "unit not found");
        Assert.That(await unit.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That((await unit.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.NotRunning));
    }

    [Test]
    public async Task Without_systemd_a_unit_cannot_start_here_and_says_why()
    {
        if (await SystemdUnit.UnavailableReasonAsync(default) is null)
        {
            Assert.Ignore("systemd runs on this machine");
        }

        var result = await new SystemdUnit(new SystemdUnitOptions { Name = "u", Unit = "nginx.service" }).StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(result.Message, Does.Contain("systemd"));
    }
}
