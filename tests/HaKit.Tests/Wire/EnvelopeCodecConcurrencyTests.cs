using HaKit.Wire;

namespace HaKit.Tests.Wire;

public sealed class EnvelopeCodecConcurrencyTests
{
    [Test]
    public async Task Several_receive_threads_and_a_send_thread_share_one_codec_and_lose_nothing()
    {
        using var kit = new WireKit();
        string[] nodes = ["local", "n1", "n2", "n3"];
        var stats = new WireStats();
        EnvelopeCodec local = kit.Codec("local", stats: stats, known: nodes);
        EnvelopeCodec localTwin = kit.Codec("n1", known: nodes);
        const int PerSender = 3000;
        byte[][][] inbound = nodes.Skip(1)
            .Select(n => kit.Codec(n, known: nodes))
            .Select(codec => Enumerable.Range(0, PerSender).Select(i => WireKit.Encode(codec, BitConverter.GetBytes(i))).ToArray())
            .ToArray();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        Task<int>[] receivers = inbound.Select((packets, s) => Task.Run(() =>
        {
            int ok = 0;
            foreach (byte[] packet in packets)
            {
                cts.Token.ThrowIfCancellationRequested();
                if (local.TryOpen(packet, out OpenedEnvelope envelope, out _) && envelope.SenderIndex == s + 1)
                {
                    ok++;
                }
            }

            return ok;
        }, cts.Token)).ToArray();
        Task<int> sender = Task.Run(() =>
        {
            var buffer = new byte[1400];
            int opened = 0;
            for (int i = 0; i < PerSender; i++)
            {
                cts.Token.ThrowIfCancellationRequested();
                int n = local.Encode([1, 2, 3], buffer);
                if (localTwin.TryOpen(buffer.AsSpan(0, n), out _, out _))
                {
                    opened++;
                }
            }

            return opened;
        }, cts.Token);

        int[] received = await Task.WhenAll(receivers);
        int sent = await sender;

        Assert.That(received, Is.All.EqualTo(PerSender));
        Assert.That(sent, Is.EqualTo(PerSender));
        Assert.That(local.LastSequence, Is.EqualTo((ulong)PerSender));
        Assert.That(stats.Accepted, Is.EqualTo(3 * PerSender));
        Assert.That(stats.TotalDropped, Is.Zero);
    }
}
