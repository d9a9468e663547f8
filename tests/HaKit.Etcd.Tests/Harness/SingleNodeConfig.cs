namespace HaKit.Etcd.Tests.Harness;

/// <summary>
/// Host configuration for the etcd hosting tests: node a alone (b is configured but never started, so a takes group
/// <c>web</c> after the initial dead time), short timings, a 2 s lease and the etcd keys under <c>/apps</c>.
/// </summary>
internal static class SingleNodeConfig
{
    public static Dictionary<string, string?> For(string cluster, string stateDirectory, string mode, string etcdEndpoint)
        => new()
        {
            ["HaKit:ClusterName"] = cluster,
            ["HaKit:NodeName"] = "a",
            ["HaKit:Nodes:0:Name"] = "a",
            ["HaKit:Nodes:0:Addresses:lan0"] = $"127.0.0.1:{EtcdProcess.FreeTcpPort()}",
            ["HaKit:Nodes:1:Name"] = "b", // never started: a takes the group after the initial dead time
            ["HaKit:Nodes:1:Addresses:lan0"] = $"127.0.0.1:{EtcdProcess.FreeTcpPort()}",
            ["HaKit:Links:0:Name"] = "lan0",
            ["HaKit:Auth:Keys:0:Id"] = "1",
            ["HaKit:Auth:Keys:0:Secret"] = Convert.ToBase64String(new byte[32]),
            ["HaKit:Auth:SendKeyId"] = "1",
            ["HaKit:Timing:Interval"] = "00:00:00.050",
            ["HaKit:Timing:WarnTime"] = "00:00:00.150",
            ["HaKit:Timing:DeadTime"] = "00:00:00.300",
            ["HaKit:Timing:InitialDeadTime"] = "00:00:00.600",
            ["HaKit:Groups:0:Name"] = "web",
            ["HaKit:Groups:0:PreferredNode"] = "a",
            ["HaKit:StateDirectory"] = stateDirectory,
            ["HaKit:Arbiter:Mode"] = mode,
            ["HaKit:Arbiter:LeaseTtl"] = "00:00:02",
            ["HaKit:Arbiter:LeaseDriftMargin"] = "00:00:00.300",
            ["HaKit:Arbiter:Etcd:Endpoints:0"] = etcdEndpoint,
            ["HaKit:Arbiter:Etcd:KeyPrefix"] = "/apps",
            ["HaKit:Arbiter:Etcd:RequestTimeout"] = "00:00:00.500",
        };
}
