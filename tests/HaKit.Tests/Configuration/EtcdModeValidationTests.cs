namespace HaKit.Tests.Configuration;

/// <summary>Start-up validation of Etcd mode: every rule names the key, the value and the fix.</summary>
[TestFixture]
public class EtcdModeValidationTests
{
    private static HaKitOptions Etcd()
    {
        var o = HaKitOptionsValidatorTests.Valid();
        o.Arbiter.Mode = ArbiterMode.Etcd; // every other Etcd setting at its default
        o.Arbiter.Etcd.Endpoints.Add("http://127.0.0.1:2379");
        o.Nodes.Add(new NodeOptions { Name = "c", Addresses = { ["lan0"] = "127.0.0.1:7403" } });
        return o;
    }

    private static string SingleError(Action<HaKitOptions> breakIt)
    {
        var options = Etcd();
        breakIt(options);
        var errors = HaKitOptionsValidator.Validate(options);
        Assert.That(errors, Has.Count.EqualTo(1), string.Join("\n", errors));
        return errors[0];
    }

    [Test]
    public void Three_nodes_on_etcd_with_the_default_lease_timings_are_valid() => Assert.That(HaKitOptionsValidator.Validate(Etcd()), Is.Empty);

    [TestCase(1000)]
    [TestCase(5500)]
    public void The_lease_must_be_whole_seconds_of_at_least_two(int ms)
    {
        var options = Etcd();
        options.Arbiter.LeaseTtl = TimeSpan.FromMilliseconds(ms);
        options.Arbiter.LeaseDriftMargin = TimeSpan.FromMilliseconds(100);
        options.Arbiter.Etcd.RequestTimeout = TimeSpan.FromMilliseconds(300);
        var errors = HaKitOptionsValidator.Validate(options);
        Assert.That(errors, Has.Count.EqualTo(1), string.Join("\n", errors));
        Assert.That(errors[0], Does.StartWith("HaKit:Arbiter:LeaseTtl = ").And.Contain("whole seconds, at least 00:00:02"));
    }

    [Test]
    public void The_drift_margin_must_be_under_a_third_of_the_lease()
    {
        var e = SingleError(o => o.Arbiter.LeaseDriftMargin = TimeSpan.FromSeconds(2));
        Assert.That(e, Does.StartWith("HaKit:Arbiter:LeaseDriftMargin = 00:00:02").And.Contain("(00:00:05)").And.Contain("less than a third of Arbiter:LeaseTtl"));
    }

    [Test]
    public void The_request_timeout_must_be_under_a_third_of_the_lease()
    {
        var e = SingleError(o => o.Arbiter.Etcd.RequestTimeout = TimeSpan.FromSeconds(2));
        Assert.That(e, Does.StartWith("HaKit:Arbiter:Etcd:RequestTimeout = 00:00:02").And.Contain("retried before the lease runs out"));
    }

    [Test]
    public void Endpoints_are_required_and_must_be_http_urls_of_one_scheme()
    {
        Assert.That(SingleError(o => o.Arbiter.Etcd.Endpoints.Clear()), Does.StartWith("HaKit:Arbiter:Etcd:Endpoints = none").And.Contain("http://10.0.0.5:2379"));
        Assert.That(SingleError(o => o.Arbiter.Etcd.Endpoints[0] = "127.0.0.1:2379"), Does.StartWith("HaKit:Arbiter:Etcd:Endpoints:0 = '127.0.0.1:2379'").And.Contain("absolute http:// or https:// URL"));
        Assert.That(SingleError(o => o.Arbiter.Etcd.Endpoints.Add("https://127.0.0.1:2380")), Does.StartWith("HaKit:Arbiter:Etcd:Endpoints = ").And.Contain("all http:// or all https://"));
    }

    [Test]
    public void The_key_prefix_must_start_with_a_slash()
    {
        var e = SingleError(o => o.Arbiter.Etcd.KeyPrefix = "hakit");
        Assert.That(e, Does.StartWith("HaKit:Arbiter:Etcd:KeyPrefix = 'hakit'").And.Contain("must start with '/'"));
    }

    [Test]
    public void Etcd_settings_are_not_checked_in_two_node_mode()
    {
        var o = HaKitOptionsValidatorTests.Valid();
        o.Arbiter.LeaseTtl = TimeSpan.FromMilliseconds(1500);
        o.Arbiter.Etcd.KeyPrefix = "x";
        Assert.That(HaKitOptionsValidator.Validate(o), Is.Empty);
    }

    [Test]
    public void An_undefined_mode_is_named()
    {
        var e = SingleError(o => o.Arbiter.Mode = (ArbiterMode)7);
        Assert.That(e, Does.StartWith("HaKit:Arbiter:Mode = 7").And.Contain("allowed: TwoNode, Etcd"));
    }
}
