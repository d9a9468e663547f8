using System.Diagnostics.Metrics;
using System.Text;
using HaKit.Cli;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Replication.Tests;

/// <summary>The owner's resend count reaches <see cref="ReplicationStatus.Resends"/>, the admin status (and so <c>hakit status
/// --json</c>) and the <c>hakit.replication.resends</c> instrument.</summary>
public sealed class ResendCountTests
{
    [Test]
    public async Task A_peer_that_answers_nothing_is_resent_to_and_the_count_shows_in_status_admin_json_and_the_meter()
    {
        var root = Directory.CreateTempSubdirectory("hakit-repl-resends-").FullName;
        try
        {
            var time = new FakeTimeProvider();
            await using var a = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
            {
                Group = "g", Directory = Path.Combine(root, "a"), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0, Time = time,
            });
            var sent = 0;
            a.Log.PeerUp(_ => Interlocked.Increment(ref sent) > 0); // a live stream whose peer never answers
            await a.Log.BecomeOwnerAsync(1, CancellationToken.None);
            _ = a.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
            for (var i = 0; i < 200 && a.Log.Status.Resends < 2; i++)
            {
                time.Advance(TimeSpan.FromMilliseconds(500));
                await Task.Delay(10);
            }

            Assert.That(a.Log.Status.Resends, Is.GreaterThanOrEqualTo(2), "resent every ResendAfter while the peer answers nothing");
            var status = a.Log.Status;
            var admin = ReplicationAdminStatus.Map(status, faulted: false);
            Assert.That(admin.Resends, Is.EqualTo((ulong)status.Resends));
            var reply = new HaKit.Admin.V1.StatusReply();
            reply.Replication.Add(admin);
            var json = System.Text.Json.Nodes.JsonNode.Parse(StatusRendering.Json(reply))!;
            Assert.That((ulong?)json["replication"]![0]!["resends"], Is.EqualTo((ulong)status.Resends));

            long measured = -1;
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == HaKitTelemetry.MeterName && instrument.Name == "hakit.replication.resends")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "hakit.group" && (string?)tag.Value == "g")
                    {
                        measured = value;
                    }
                }
            });
            listener.Start();
            listener.RecordObservableInstruments();
            Assert.That(measured, Is.GreaterThanOrEqualTo(2), "the observable counter reports the status's count");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
