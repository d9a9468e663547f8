namespace HaKit.Tests.Configuration;

/// <summary>Start-up validation of Witness mode: every rule names the key, the value and the fix.</summary>
[TestFixture]
public class WitnessModeValidationTests
{
    private static HaKitOptions Witness()
    {
        var o = HaKitOptionsValidatorTests.Valid();
        o.Arbiter.Mode = ArbiterMode.Witness; // every other Witness setting at its default
        o.Arbiter.Witness.Endpoint = "127.0.0.1:5405";
        return o;
    }

    private static string SingleError(Action<HaKitOptions> breakIt)
    {
        var options = Witness();
        breakIt(options);
        var errors = HaKitOptionsValidator.Validate(options);
        Assert.That(errors, Has.Count.EqualTo(1), string.Join("\n", errors));
        return errors[0];
    }

    [Test]
    public void A_pair_with_a_witness_and_the_default_lease_timings_is_valid() => Assert.That(HaKitOptionsValidator.Validate(Witness()), Is.Empty);

    [Test]
    public void The_watchdog_with_the_default_lease_is_valid() =>
        Assert.That(HaKitOptionsValidator.Validate(Configure(Witness(), o => o.Watchdog.Mode = WatchdogMode.Required)), Is.Empty);

    [Test]
    public void The_watchdog_needs_a_lease_that_leaves_a_whole_second() =>
        Assert.That(SingleError(o =>
            {
                o.Watchdog.Mode = WatchdogMode.Automatic;
                o.Arbiter.LeaseTtl = TimeSpan.FromMilliseconds(1500);
                o.Arbiter.LeaseDriftMargin = TimeSpan.FromMilliseconds(300);
            }),
            Does.StartWith("HaKit:Watchdog:Mode = Automatic").And.Contain("0.7 s").And.Contain("raise HaKit:Arbiter:LeaseTtl to at least 1.95 s"));

    [Test]
    public void The_watchdog_device_must_be_an_absolute_path() =>
        Assert.That(SingleError(o =>
            {
                o.Watchdog.Mode = WatchdogMode.Automatic;
                o.Watchdog.Device = "watchdog";
            }),
            Does.StartWith("HaKit:Watchdog:Device = 'watchdog'").And.Contain("/dev/watchdog"));

    [Test]
    public void The_watchdog_is_for_lease_modes_only()
    {
        var options = HaKitOptionsValidatorTests.Valid();
        options.Watchdog.Mode = WatchdogMode.Required;
        var errors = HaKitOptionsValidator.Validate(options);
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("HaKit:Watchdog:Mode = Required").And.Contain("Arbiter:Mode is TwoNode").And.Contain("set HaKit:Watchdog:Mode to Off"));
    }

    [Test]
    public void The_watchdog_is_off_by_default_in_every_mode()
    {
        Assert.That(new HaKitOptions().Watchdog.Mode, Is.EqualTo(WatchdogMode.Off));
        Assert.That(HaKitOptionsValidator.Validate(HaKitOptionsValidatorTests.Valid()), Is.Empty);
    }

    private static HaKitOptions Configure(HaKitOptions options, Action<HaKitOptions> change)
    {
        change(options);
        return options;
    }

    [Test]
    public void Witness_mode_is_for_exactly_two_nodes() =>
        Assert.That(SingleError(o => o.Nodes.Add(new NodeOptions { Name = "c", Addresses = { ["lan0"] = "127.0.0.1:7403" } })),
            Does.StartWith("HaKit:Arbiter:Mode = Witness").And.Contain("exactly two nodes").And.Contain("Etcd mode"));

    [TestCase("")]
    [TestCase("witness.example:5405")]
    [TestCase("127.0.0.1")]
    [TestCase("127.0.0.1:0")]
    public void The_endpoint_must_be_ip_and_port(string endpoint) =>
        Assert.That(SingleError(o => o.Arbiter.Witness.Endpoint = endpoint), Does.StartWith("HaKit:Arbiter:Witness:Endpoint = ").And.Contain("ip:port"));

    [Test]
    public void The_witness_name_must_not_be_a_node_name() =>
        Assert.That(SingleError(o => o.Arbiter.Witness.Name = "b"), Is.EqualTo("HaKit:Arbiter:Witness:Name = 'b': must differ from every node name in HaKit:Nodes"));

    [Test]
    public void The_witness_name_is_required() =>
        Assert.That(SingleError(o => o.Arbiter.Witness.Name = " "), Does.StartWith("HaKit:Arbiter:Witness:Name = ").And.Contain("set the witness's name"));

    [Test]
    public void The_local_address_must_parse() =>
        Assert.That(SingleError(o => o.Arbiter.Witness.LocalAddress = "eth0"), Does.StartWith("HaKit:Arbiter:Witness:LocalAddress = 'eth0'"));

    [Test]
    public void The_lease_must_cover_several_heartbeats() =>
        Assert.That(SingleError(o =>
        {
            o.Arbiter.LeaseTtl = TimeSpan.FromMilliseconds(600);
            o.Arbiter.LeaseDriftMargin = TimeSpan.FromMilliseconds(100);
            o.Arbiter.Witness.RequestTimeout = TimeSpan.FromMilliseconds(100);
        }), Does.StartWith("HaKit:Arbiter:LeaseTtl = ").And.Contain("four heartbeat intervals"));

    [Test]
    public void The_drift_margin_must_be_under_a_third_of_the_lease() =>
        Assert.That(SingleError(o => o.Arbiter.LeaseDriftMargin = TimeSpan.FromSeconds(2)), Does.StartWith("HaKit:Arbiter:LeaseDriftMargin = ").And.Contain("less than a third"));

    [Test]
    public void The_request_timeout_must_leave_time_to_ask_again() =>
        Assert.That(SingleError(o => o.Arbiter.Witness.RequestTimeout = TimeSpan.FromSeconds(2)), Does.StartWith("HaKit:Arbiter:Witness:RequestTimeout = ").And.Contain("less than a third"));

    [Test]
    public void Other_modes_ignore_the_witness_settings()
    {
        var options = Witness();
        options.Arbiter.Mode = ArbiterMode.TwoNode;
        options.Arbiter.Witness.Endpoint = "nonsense";
        Assert.That(HaKitOptionsValidator.Validate(options), Is.Empty);
    }
}
