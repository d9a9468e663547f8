using System.Globalization;
using System.Security.Cryptography;

namespace HaKit.Wire;

/// <summary>
/// The shared keys of the cluster (Heartbeat's <c>authkeys</c>): several accepted key ids, one of which signs
/// outgoing packets, so keys can be rotated without downtime. Computes HMAC-SHA256 without allocating.
/// </summary>
/// <remarks>
/// Thread-safe: each key keeps a small pool of keyed HMAC instances, each behind its own lock, so several receive
/// threads can verify while a send thread signs. The decoded secrets live only inside those instances.
/// Dispose the ring only after every codec that uses it has stopped.
/// </remarks>
public sealed class AuthKeyRing : IDisposable
{
    /// <summary>Length of an HMAC-SHA256 tag, in bytes.</summary>
    public const int MacLength = 32;

    /// <summary>Smallest accepted secret, in bytes once base64-decoded.</summary>
    public const int MinSecretLength = 32;

    private const string KeysPath = "HaKit:Auth:Keys";
    private const string SendKeyIdPath = "HaKit:Auth:SendKeyId";
    private const string GenerateHint = "generate one with `openssl rand -base64 32` and paste its output";

    private readonly uint[] _ids;
    private readonly KeySlot[][] _slots;
    private volatile bool _disposed;

    /// <summary>Builds the ring from the configured keys, validating them.</summary>
    /// <param name="options">The keys and the send key id.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// A key is invalid (no keys, id 0, duplicate id, empty or non-base64 secret, secret shorter than
    /// <see cref="MinSecretLength"/> bytes) or <see cref="AuthOptions.SendKeyId"/> is not among the keys. The message names
    /// the configuration key, describes the bad value (never the secret itself) and says how to fix it.
    /// </exception>
    public AuthKeyRing(AuthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<AuthKeyOptions>? keys = options.Keys;
        if (keys is null || keys.Count == 0)
        {
            throw Invalid($"{KeysPath} is empty: at least one key is required. Fix: add a key such as {{ \"Id\": 1, \"Secret\": \"...\" }} ({GenerateHint}) and set {SendKeyIdPath} to its id.");
        }

        var ids = new uint[keys.Count];
        var secrets = new byte[keys.Count][];
        try
        {
            for (int i = 0; i < keys.Count; i++)
            {
                AuthKeyOptions key = keys[i] ?? throw Invalid($"{KeysPath}[{i}] is null. Fix: remove the empty entry or give it an Id and a Secret.");
                if (key.Id == 0)
                {
                    throw Invalid($"{KeysPath}[{i}]:Id is 0, but key ids must be in 1..4294967295 (id 0 cannot be told apart from a missing id on the wire). Fix: give the key an id of 1 or more.");
                }

                int previous = Array.IndexOf(ids, key.Id, 0, i);
                if (previous >= 0)
                {
                    throw Invalid($"{KeysPath}[{i}]:Id is {key.Id}, which {KeysPath}[{previous}]:Id already uses. Fix: give every key a distinct id (the id names the key in every packet).");
                }

                ids[i] = key.Id;
                secrets[i] = DecodeSecret(key.Secret, i);
            }

            if (Array.IndexOf(ids, options.SendKeyId) < 0)
            {
                throw Invalid($"{SendKeyIdPath} is {options.SendKeyId}, which is not among the key ids in {KeysPath} ({string.Join(", ", ids)}). Fix: set it to one of those ids, or add a key with id {options.SendKeyId}.");
            }

            int poolSize = Math.Clamp(Environment.ProcessorCount, 2, 8);
            _slots = new KeySlot[ids.Length][];
            for (int i = 0; i < ids.Length; i++)
            {
                var pool = new KeySlot[poolSize];
                for (int j = 0; j < pool.Length; j++)
                {
                    pool[j] = new KeySlot(IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secrets[i]));
                }

                _slots[i] = pool;
            }
        }
        finally
        {
            foreach (byte[]? secret in secrets)
            {
                if (secret is not null)
                {
                    CryptographicOperations.ZeroMemory(secret);
                }
            }
        }

        _ids = ids;
        SendKeyId = options.SendKeyId;
        KeyIds = Array.AsReadOnly((uint[])ids.Clone());
    }

    /// <summary>The id of the key that signs outgoing packets.</summary>
    public uint SendKeyId { get; }

    /// <summary>Every accepted key id, in configuration order.</summary>
    public IReadOnlyList<uint> KeyIds { get; }

    /// <summary>Whether <paramref name="keyId"/> is an accepted key.</summary>
    /// <param name="keyId">The key id from a packet.</param>
    /// <returns><see langword="true"/> when the key is accepted.</returns>
    public bool Contains(uint keyId) => Array.IndexOf(_ids, keyId) >= 0;

    /// <summary>Computes HMAC-SHA256 of <paramref name="data"/> with key <paramref name="keyId"/>, without allocating.</summary>
    /// <param name="keyId">The key id.</param>
    /// <param name="data">The bytes to authenticate.</param>
    /// <param name="mac">Receives the 32-byte tag; must be at least <see cref="MacLength"/> bytes and must not overlap <paramref name="data"/>.</param>
    /// <returns><see langword="false"/> (and <paramref name="mac"/> untouched) when the key id is not accepted.</returns>
    /// <exception cref="ArgumentException"><paramref name="mac"/> is shorter than <see cref="MacLength"/>.</exception>
    /// <exception cref="ObjectDisposedException">The ring was disposed.</exception>
    public bool TryComputeMac(uint keyId, ReadOnlySpan<byte> data, Span<byte> mac)
    {
        if (mac.Length < MacLength)
        {
            throw new ArgumentException($"The MAC destination must hold at least {MacLength} bytes.", nameof(mac));
        }

        int index = Array.IndexOf(_ids, keyId);
        if (index < 0)
        {
            return false;
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        KeySlot[] pool = _slots[index];
        int start = Environment.CurrentManagedThreadId % pool.Length;
        for (int i = 0; i < pool.Length; i++)
        {
            KeySlot slot = pool[(start + i) % pool.Length];
            if (slot.Gate.TryEnter())
            {
                try
                {
                    Compute(slot, data, mac);
                }
                finally
                {
                    slot.Gate.Exit();
                }

                return true;
            }
        }

        KeySlot fallback = pool[start];
        lock (fallback.Gate)
        {
            Compute(fallback, data, mac);
        }

        return true;
    }

    /// <summary>Disposes the keyed HMAC instances (waiting for computations in progress). Later use throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (KeySlot[] pool in _slots)
        {
            foreach (KeySlot slot in pool)
            {
                lock (slot.Gate)
                {
                    slot.Hash.Dispose();
                }
            }
        }
    }

    private void Compute(KeySlot slot, ReadOnlySpan<byte> data, Span<byte> mac)
    {
        // Checked again under the lock: Dispose may have run between the first check and the lock.
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<byte> discard = stackalloc byte[MacLength];
        try
        {
            slot.Hash.AppendData(data);
            slot.Hash.GetHashAndReset(mac);
        }
        catch
        {
            // Never leave half-fed data in a pooled instance: the next MAC would be wrong forever.
            slot.Hash.TryGetHashAndReset(discard, out _);
            throw;
        }
    }

    private static byte[] DecodeSecret(string? secret, int index)
    {
        string path = $"{KeysPath}[{index}]:Secret";
        if (string.IsNullOrWhiteSpace(secret))
        {
            throw Invalid($"{path} is empty. Fix: {GenerateHint}.");
        }

        var buffer = new byte[(secret.Length / 4 * 3) + 3];
        if (!Convert.TryFromBase64String(secret, buffer, out int written))
        {
            CryptographicOperations.ZeroMemory(buffer);
            throw Invalid($"{path} is not valid base64 (a value of {secret.Length.ToString(CultureInfo.InvariantCulture)} characters; not shown). Fix: {GenerateHint}.");
        }

        if (written < MinSecretLength)
        {
            CryptographicOperations.ZeroMemory(buffer);
            throw Invalid($"{path} decodes to {written.ToString(CultureInfo.InvariantCulture)} bytes, but at least {MinSecretLength} are required. Fix: {GenerateHint}.");
        }

        byte[] decoded = buffer.AsSpan(0, written).ToArray();
        CryptographicOperations.ZeroMemory(buffer);
        return decoded;
    }

    private static ArgumentException Invalid(string message) => new(message, "options");

    private sealed class KeySlot(IncrementalHash hash)
    {
        public readonly Lock Gate = new();
        public readonly IncrementalHash Hash = hash;
    }
}
