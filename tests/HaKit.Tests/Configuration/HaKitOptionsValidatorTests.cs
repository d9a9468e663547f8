namespace HaKit.Tests.Configuration;

[TestFixture]
public class HaKitOptionsValidatorTests
{
    internal static HaKitOptions Valid() => new()
    {
        ClusterName = "demo",
        NodeName = "a",
        Nodes =
        [
            new NodeOptions { Name = "a", Priority = 100, Addresses = { ["lan0"] = "127.0.0.1:7401" } },
            new NodeOptions { Name = "b", Priority = 100, Addresses = { ["lan0"] = "127.0.0.1:7402" } },
        ],
        Links = [new LinkOptions { Name = "lan0" }],
        Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = Convert.ToBase64String(new byte[32]) }], SendKeyId = 1 },
        Groups = [new GroupOptions { Name = "web", PreferredNode = "a", Resources = ["http"] }],
    };

    private static string SingleError(Action<HaKitOptions> breakIt)
    {
        var options = Valid();
        breakIt(options);
        var errors = HaKitOptionsValidator.Validate(options);
        Assert.That(errors, Has.Count.EqualTo(1), string.Join("\n", errors));
        return errors[0];
    }

    [Test]
    public void The_baseline_is_valid() => Assert.That(HaKitOptionsValidator.Validate(Valid()), Is.Empty);

    [Test]
    public void Dead_time_shorter_than_twice_the_interval_names_key_value_and_fix()
    {
        var e = SingleError(o =>
        {
            o.Timing.Interval = TimeSpan.FromMilliseconds(500);
            o.Timing.DeadTime = TimeSpan.FromMilliseconds(900);
            o.Timing.WarnTime = TimeSpan.FromMilliseconds(600);
        });
        Assert.That(e, Does.StartWith("HaKit:Timing:DeadTime = 00:00:00.9000000"));
        Assert.That(e, Does.Contain("at least twice Timing:Interval"));
    }

    [Test]
    public void A_node_listed_twice_is_rejected() =>
        Assert.That(SingleError(o => o.Nodes[1].Name = "a"), Does.StartWith("HaKit:Nodes:1:Name = 'a'").And.Contain("listed twice"));

    [Test]
    public void The_local_node_must_be_listed() =>
        Assert.That(SingleError(o => o.NodeName = "c"), Does.StartWith("HaKit:NodeName = 'c'").And.Contain("a, b"));

    [Test]
    public void A_key_shorter_than_32_bytes_is_rejected_without_printing_it()
    {
        var secret = Convert.ToBase64String(new byte[16]);
        var e = SingleError(o => o.Auth.Keys[0].Secret = secret);
        Assert.That(e, Does.StartWith("HaKit:Auth:Keys:0:Secret = (16 bytes, not shown)").And.Contain("at least 32 bytes"));
        Assert.That(e, Does.Not.Contain(secret));
    }

    [Test]
    public void A_secret_that_is_not_base64_is_rejected() =>
        Assert.That(SingleError(o => o.Auth.Keys[0].Secret = "not base64 !!"), Does.Contain("Auth:Keys:0:Secret").And.Contain("must be base64"));

    [Test]
    public void The_send_key_must_be_configured() =>
        Assert.That(SingleError(o => o.Auth.SendKeyId = 7), Does.StartWith("HaKit:Auth:SendKeyId = 7"));

    [Test]
    public void A_preferred_node_that_is_not_a_node_is_rejected() =>
        Assert.That(SingleError(o => o.Groups[0].PreferredNode = "z"), Does.StartWith("HaKit:Groups:0:PreferredNode = 'z'").And.Contain("a, b"));

    [Test]
    public void Auto_failback_needs_a_preferred_node() =>
        Assert.That(SingleError(o =>
        {
            o.Groups[0].PreferredNode = null;
            o.Groups[0].AutoFailback = true;
        }), Does.Contain("Groups:0:AutoFailback"));

    [Test]
    public void A_bad_unicast_address_names_the_node_and_link() =>
        Assert.That(SingleError(o => o.Nodes[1].Addresses["lan0"] = "localhost"), Does.StartWith("HaKit:Nodes:1:Addresses:lan0 = 'localhost'").And.Contain("ip:port"));

    [Test]
    public void A_missing_address_on_a_link_is_rejected() =>
        Assert.That(SingleError(o => o.Nodes[0].Addresses.Clear()), Does.StartWith("HaKit:Nodes:0:Addresses:lan0 = (missing)"));

    [Test]
    public void A_multicast_link_needs_a_multicast_group()
    {
        var options = Valid();
        options.Links = [new LinkOptions { Name = "lan0", Kind = LinkKind.Multicast, Group = "10.0.0.1", Port = 7400 }];
        options.Nodes[0].Addresses["lan0"] = "127.0.0.1";
        options.Nodes[1].Addresses["lan0"] = "127.0.0.2";
        var errors = HaKitOptionsValidator.Validate(options);
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith("HaKit:Links:0:Group = '10.0.0.1'"));
    }

    [Test]
    public void Two_node_mode_rejects_a_third_node()
    {
        var e = SingleError(o => o.Nodes.Add(new NodeOptions { Name = "c", Addresses = { ["lan0"] = "127.0.0.1:7403" } }));
        Assert.That(e, Does.StartWith("HaKit:Arbiter:Mode = TwoNode").And.Contain("3 are listed"));
    }

    [Test]
    public void Phi_thresholds_are_checked_only_for_the_phi_detector()
    {
        Assert.That(HaKitOptionsValidator.Validate(WithPhi(o => o.Detector.PhiSuspectThreshold = 20)), Is.Not.Empty, "suspect above dead threshold");
        var fixedDetector = Valid();
        fixedDetector.Detector.PhiSuspectThreshold = 20;
        Assert.That(HaKitOptionsValidator.Validate(fixedDetector), Is.Empty);

        static HaKitOptions WithPhi(Action<HaKitOptions> change)
        {
            var o = Valid();
            o.Detector.Kind = DetectorKind.PhiAccrual;
            change(o);
            return o;
        }
    }

    [Test]
    public void A_bad_ping_target_is_rejected() =>
        Assert.That(SingleError(o => o.Arbiter.PingTargets.Add("10.0.0.1")), Does.StartWith("HaKit:Arbiter:PingTargets:0 = '10.0.0.1'").And.Contain("host:port"));

    [TestCase(-1)]
    [TestCase(100)]
    public void Realtime_priority_outside_0_to_99_is_rejected(int priority) =>
        Assert.That(SingleError(o => o.RealtimePriority = priority), Does.StartWith($"HaKit:RealtimePriority = {priority}").And.Contain("1..99"));

    [Test]
    public void Every_problem_is_reported_at_once()
    {
        var options = Valid();
        options.NodeName = "";
        options.MaxPacketSize = 10;
        options.Groups[0].MaxRestarts = -1;
        var ex = Assert.Throws<HaKitConfigurationException>(() => HaKitOptionsValidator.ThrowIfInvalid(options))!;
        Assert.That(ex.Errors, Has.Count.EqualTo(3));
        Assert.That(ex.Message, Does.Contain("HaKit:NodeName").And.Contain("HaKit:MaxPacketSize = 10").And.Contain("HaKit:Groups:0:MaxRestarts = -1"));
    }
}
