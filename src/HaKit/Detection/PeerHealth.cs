namespace HaKit;

/// <summary>Health of a peer on one link, or of a peer overall (best of its links).</summary>
public enum PeerHealth
{
    /// <summary>Heartbeats arrive as expected.</summary>
    Alive = 0,

    /// <summary>Heartbeats are late (Heartbeat's <c>warntime</c>, or phi above the suspect threshold); no action is taken yet.</summary>
    Suspect = 1,

    /// <summary>Heartbeats stopped (<c>deadtime</c> elapsed, or phi above the threshold).</summary>
    Dead = 2,
}
