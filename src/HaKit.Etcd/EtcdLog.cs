using Microsoft.Extensions.Logging;

namespace HaKit.Etcd;

/// <summary>Source-generated log messages of the etcd package.</summary>
internal static partial class EtcdLog
{
    [LoggerMessage(109, LogLevel.Information, "etcd arbiter: {Store}, lease ttl {TtlSeconds} s, drift margin {MarginMs} ms, request timeout {TimeoutMs} ms, keys {KeyPrefix}<group>")]
    public static partial void Arbiter(ILogger logger, string store, double ttlSeconds, double marginMs, double timeoutMs, string keyPrefix);
}
