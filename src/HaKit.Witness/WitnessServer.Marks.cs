using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Arbitration;
using HaKit.State;
using HaKit.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Witness;

/// <summary>The outdated marks a witness holds for replicated groups (set, clear and read; docs/witness.md, "Outdated marks").</summary>
public sealed partial class WitnessServer
{
    /// <summary>An outdated-mark request: get for anyone of the cluster; set and clear only for the holder of the group's unexpired
    /// grant here, stored durably (the marks file fsynced) before the answer.</summary>
    private int AnswerMark(Cluster cluster, string requester, OutdatedMarkMessage request, Span<byte> reply, Span<byte> payloadBuffer, WitnessProtocol protocol)
    {
        var key = (request.Group, request.Node);
        OutdatedMark? found = null;
        var outcome = OutdatedMarkOutcome.Done;
        var reason = "";
        if (request.Operation == OutdatedMarkOperation.Get)
        {
            found = cluster.Marks.GetValueOrDefault(key);
        }
        else if (_grantor!.HolderOf(Now(), cluster.Name, request.Group) is not { } holder || holder.Holder != requester)
        {
            outcome = OutdatedMarkOutcome.NotHolder;
            var held = _grantor.HolderOf(Now(), cluster.Name, request.Group) is { } h ? $"{h.Holder} (epoch {h.Epoch.ToString(CultureInfo.InvariantCulture)})" : "nobody";
            reason = $"witness {Name}: {requester} does not hold group {request.Group} here (its grant is held by {held}); only the holder marks or clears";
            WitnessLog.MarkRefused(_logger, cluster.Name, request.Group, request.Node, requester, request.Operation.ToString(), reason);
        }
        else
        {
            var changed = request.Operation == OutdatedMarkOperation.Set
                ? !(cluster.Marks.TryGetValue(key, out var old) && old == new OutdatedMark(request.Epoch, request.Index, requester))
                : cluster.Marks.ContainsKey(key);
            if (changed)
            {
                var next = new Dictionary<(string, string), OutdatedMark>(cluster.Marks);
                if (request.Operation == OutdatedMarkOperation.Set)
                {
                    next[key] = new OutdatedMark(request.Epoch, request.Index, requester);
                }
                else
                {
                    next.Remove(key);
                }

                try
                {
                    cluster.MarksFile.Save(next);
                    cluster.Marks.Clear();
                    foreach (var (k, v) in next)
                    {
                        cluster.Marks[k] = v;
                    }

                    WitnessLog.MarkStored(_logger, cluster.Name, request.Group, request.Node, requester, request.Operation.ToString(), request.Epoch, request.Index);
                    _metrics.Mark(cluster.Name, request.Operation == OutdatedMarkOperation.Set ? "set" : "cleared");
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Never acknowledge a mark that is not on disk: after a restart the witness would not know the node is outdated.
                    outcome = OutdatedMarkOutcome.Failed;
                    reason = $"witness {Name} could not store the outdated mark durably in {cluster.MarksFile.Path} ({ex.Message}); nothing changed";
                    WitnessLog.MarkPersistFailed(_logger, cluster.Name, request.Group, request.Node, requester, cluster.MarksFile.Path, ex);
                }
            }
        }

        var codec = cluster.Codec!;
        var length = protocol.WriteMarkReply(request, outcome, found, reason, payloadBuffer, codec.MaxPayloadLength);
        if (length == 0)
        {
            WitnessLog.ReplyTooLarge(_logger, cluster.Name, requester, request.Group);
            return 0;
        }

        return codec.Encode(payloadBuffer[..length], reply);
    }
}
