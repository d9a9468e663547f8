using System.Security.Cryptography;
using HaKit.Wire;

namespace HaKit.Tests.Wire;

public sealed class AuthKeyRingTests
{
    [Test]
    public void The_mac_is_HMAC_SHA256_with_each_accepted_key_and_the_same_input_gives_the_same_tag_again()
    {
        using var ring = new AuthKeyRing(WireKit.Auth(2, 1, 2));
        byte[] data = "some bytes to sign"u8.ToArray();
        var mac = new byte[32];

        Assert.That(ring.SendKeyId, Is.EqualTo(2U));
        Assert.That(ring.KeyIds, Is.EqualTo(new uint[] { 1, 2 }));
        foreach (uint id in new uint[] { 1, 2 })
        {
            Assert.That(ring.Contains(id), Is.True);
            Assert.That(ring.TryComputeMac(id, data, mac), Is.True);
            Assert.That(mac, Is.EqualTo(HMACSHA256.HashData(WireKit.SecretBytes(id), data)));
        }

        // The pooled instance was reset: the same input gives the same tag again.
        Assert.That(ring.TryComputeMac(1, data, mac), Is.True);
        Assert.That(mac, Is.EqualTo(HMACSHA256.HashData(WireKit.SecretBytes(1), data)));
    }

    [Test]
    public void An_unknown_key_computes_nothing_and_leaves_the_destination_alone()
    {
        using var ring = new AuthKeyRing(WireKit.Auth(1, 1));
        var mac = new byte[32];

        Assert.That(ring.Contains(3), Is.False);
        Assert.That(ring.TryComputeMac(3, [1, 2], mac), Is.False);
        Assert.That(mac, Is.All.Zero);
    }

    [Test]
    public void A_destination_shorter_than_a_mac_is_rejected()
    {
        using var ring = new AuthKeyRing(WireKit.Auth(1, 1));

        Assert.That(() => ring.TryComputeMac(1, [1], new byte[31]), Throws.ArgumentException);
    }

    [Test]
    public void Dispose_is_idempotent_and_a_disposed_ring_throws()
    {
        var ring = new AuthKeyRing(WireKit.Auth(1, 1));
        ring.Dispose();
        ring.Dispose();

        Assert.That(() => ring.TryComputeMac(1, [1], new byte[32]), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public async Task Concurrent_signers_on_one_ring_all_get_correct_tags()
    {
        using var ring = new AuthKeyRing(WireKit.Auth(1, 1, 2));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Task<int>[] workers = Enumerable.Range(0, 6).Select(worker => Task.Run(() =>
        {
            uint id = (uint)(worker % 2) + 1;
            byte[] secret = WireKit.SecretBytes(id);
            var data = new byte[100];
            var mac = new byte[32];
            int wrong = 0;
            for (int i = 0; i < 3000 && !cts.IsCancellationRequested; i++)
            {
                data[0] = (byte)worker;
                data[1] = (byte)i;
                ring.TryComputeMac(id, data, mac);
                if (!mac.AsSpan().SequenceEqual(HMACSHA256.HashData(secret, data)))
                {
                    wrong++;
                }
            }

            return wrong;
        }, cts.Token)).ToArray();

        int[] wrongCounts = await Task.WhenAll(workers);

        Assert.That(cts.IsCancellationRequested, Is.False, "workers finished in time");
        Assert.That(wrongCounts, Is.All.Zero);
    }

    private static AuthOptions Options(uint send, params (uint Id, string Secret)[] keys) =>
        new() { SendKeyId = send, Keys = keys.Select(k => new AuthKeyOptions { Id = k.Id, Secret = k.Secret }).ToList() };

    public static IEnumerable<TestCaseData> InvalidOptions()
    {
        string good = WireKit.Secret(1);
        string shortKey = Convert.ToBase64String(WireKit.SecretBytes(7, 16));
        const string notBase64 = "this-is-not*base64!!";

        yield return new TestCaseData(Options(1), new[] { "HaKit:Auth:Keys", "empty", "openssl rand -base64 32", "HaKit:Auth:SendKeyId" }, null)
            .SetName("{m}(NoKeys)");
        yield return new TestCaseData(Options(1, (1, good), (2, notBase64)), new[] { "HaKit:Auth:Keys[1]:Secret", "not valid base64", "20 characters", "openssl rand -base64 32" }, notBase64)
            .SetName("{m}(BadBase64)");
        yield return new TestCaseData(Options(1, (1, shortKey)), new[] { "HaKit:Auth:Keys[0]:Secret", "16 bytes", "at least 32", "openssl rand -base64 32" }, shortKey)
            .SetName("{m}(ShortKey)");
        yield return new TestCaseData(Options(1, (1, good), (1, WireKit.Secret(2))), new[] { "HaKit:Auth:Keys[1]:Id", "is 1", "HaKit:Auth:Keys[0]:Id", "distinct" }, good)
            .SetName("{m}(DuplicateId)");
        yield return new TestCaseData(Options(9, (1, good), (2, WireKit.Secret(2))), new[] { "HaKit:Auth:SendKeyId", "is 9", "(1, 2)", "add a key with id 9" }, good)
            .SetName("{m}(SendKeyIdNotAmongKeys)");
        yield return new TestCaseData(Options(1, (0, good)), new[] { "HaKit:Auth:Keys[0]:Id", "is 0", "1 or more" }, good)
            .SetName("{m}(ZeroId)");
        yield return new TestCaseData(Options(1, (1, "  ")), new[] { "HaKit:Auth:Keys[0]:Secret", "is empty" }, null)
            .SetName("{m}(EmptySecret)");
    }

    [TestCaseSource(nameof(InvalidOptions))]
    public void Invalid_options_throw_naming_the_key_and_the_fix_without_the_secret(AuthOptions options, string[] mustContain, string? secret)
    {
        ArgumentException? error = Assert.Throws<ArgumentException>(() => new AuthKeyRing(options).Dispose());

        Assert.That(error, Is.Not.Null);
        foreach (string part in mustContain)
        {
            Assert.That(error!.Message, Does.Contain(part));
        }

        foreach (AuthKeyOptions key in options.Keys)
        {
            if (key.Secret.Trim().Length > 0)
            {
                Assert.That(error!.Message, Does.Not.Contain(key.Secret), "never print a secret");
            }
        }

        if (secret is not null)
        {
            Assert.That(error!.Message, Does.Not.Contain(secret));
        }
    }

    [Test]
    public void Null_options_are_rejected() =>
        Assert.That(() => new AuthKeyRing(null!), Throws.ArgumentNullException);
}
