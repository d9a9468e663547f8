namespace HaKit.Tests.Configuration;

/// <summary>Each documented limit is a constant, and the validator enforces exactly that constant.</summary>
[TestFixture]
public class OptionLimitsTests
{
    private static IEnumerable<TestCaseData> Limits()
    {
        yield return Case("Nodes:0:Priority", NodeOptions.PriorityMin, NodeOptions.PriorityMax, (o, v) => o.Nodes[0].Priority = v);
        yield return Case("Links:0:Port", LinkOptions.PortMin, LinkOptions.PortMax, (o, v) => Multicast(o).Port = v);
        yield return Case("Links:0:Ttl", LinkOptions.TtlMin, LinkOptions.TtlMax, (o, v) => Multicast(o).Ttl = v);
        yield return Case("Detector:MaxSamples", DetectorOptions.MaxSamplesMin, DetectorOptions.MaxSamplesMax, (o, v) =>
        {
            o.Detector.Kind = DetectorKind.PhiAccrual;
            o.Detector.MaxSamples = v;
        });
        yield return Case("Groups:0:MaxRestarts", GroupOptions.MaxRestartsMin, GroupOptions.MaxRestartsMax, (o, v) => o.Groups[0].MaxRestarts = v);
        yield return Case("RealtimePriority", 0, HaKitOptions.RealtimePriorityMax, (o, v) => o.RealtimePriority = v);
        yield return Case("MaxPacketSize", HaKitOptions.MaxPacketSizeMin, HaKitOptions.MaxPacketSizeMax, (o, v) => o.MaxPacketSize = v);

        static TestCaseData Case(string key, int min, int max, Action<HaKitOptions, int> set) => new TestCaseData(key, min, max, set).SetArgDisplayNames(key);
    }

    [TestCaseSource(nameof(Limits))]
    public void The_validator_accepts_the_limits_and_rejects_one_beyond(string key, int min, int max, Action<HaKitOptions, int> set)
    {
        Assert.That(ErrorsWith(min), Is.Empty, $"{key} = {min}");
        Assert.That(ErrorsWith(max), Is.Empty, $"{key} = {max}");
        Assert.That(ErrorsWith(min - 1), Has.One.StartsWith($"HaKit:{key} = {min - 1}: allowed range is {min}..{max}").Or.One.StartsWith($"HaKit:{key} = {min - 1}: allowed range is 0 (off) or 1..{max}"));
        Assert.That(ErrorsWith(max + 1), Has.One.StartsWith($"HaKit:{key} = {max + 1}: allowed range is"));

        IReadOnlyList<string> ErrorsWith(int value)
        {
            var o = HaKitOptionsValidatorTests.Valid();
            set(o, value);
            return HaKitOptionsValidator.Validate(o);
        }
    }

    [Test]
    public void Phi_threshold_and_key_limits_are_the_constants()
    {
        var phi = HaKitOptionsValidatorTests.Valid();
        phi.Detector.Kind = DetectorKind.PhiAccrual;
        phi.Detector.PhiThreshold = DetectorOptions.PhiThresholdMax;
        Assert.That(HaKitOptionsValidator.Validate(phi), Is.Empty);
        phi.Detector.PhiThreshold = DetectorOptions.PhiThresholdMax + 0.1;
        Assert.That(HaKitOptionsValidator.Validate(phi), Has.One.StartsWith("HaKit:Detector:PhiThreshold = 100.1: allowed range is (0, 100]"));

        var key = HaKitOptionsValidatorTests.Valid();
        key.Auth.Keys[0].Secret = Convert.ToBase64String(new byte[AuthKeyOptions.SecretMinBytes - 1]);
        Assert.That(HaKitOptionsValidator.Validate(key), Has.One.Contains($"must decode to at least {AuthKeyOptions.SecretMinBytes} bytes"));
        key.Auth.Keys[0].Secret = Convert.ToBase64String(new byte[AuthKeyOptions.SecretMinBytes]);
        key.Auth.Keys[0].Id = AuthKeyOptions.IdMin - 1;
        Assert.That(HaKitOptionsValidator.Validate(key), Has.Some.StartsWith("HaKit:Auth:Keys:0:Id = 0: key ids start at 1"));
    }

    [Test]
    public void Keys_are_named_under_the_section_given()
    {
        var o = HaKitOptionsValidatorTests.Valid();
        o.NodeName = "";
        o.Groups[0].PreferredNode = "z";
        var errors = HaKitOptionsValidator.Validate(o, "Cluster:HaKit");
        Assert.That(errors, Has.Count.EqualTo(2));
        Assert.That(errors[0], Does.StartWith("Cluster:HaKit:NodeName = (empty)").And.Contain("--Cluster:HaKit:NodeName=a"));
        Assert.That(errors[1], Does.StartWith("Cluster:HaKit:Groups:0:PreferredNode = 'z': not in Cluster:HaKit:Nodes"));
    }

    private static LinkOptions Multicast(HaKitOptions o)
    {
        var link = o.Links[0];
        if (link.Kind != LinkKind.Multicast)
        {
            link.Kind = LinkKind.Multicast;
            link.Group = "239.255.42.1";
            link.Port = 7400;
            o.Nodes[0].Addresses["lan0"] = "127.0.0.1";
            o.Nodes[1].Addresses["lan0"] = "127.0.0.2";
        }

        return link;
    }
}
