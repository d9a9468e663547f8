namespace HaKit.Transport;

/// <summary>
/// A link that can tell at once, without waiting for its receive thread, that the peer's kernel already refused what was just
/// sent to it (an ICMP port unreachable on a socket connected to the peer). Used after a crash hint's probe, whose answer decides
/// the takeover (see <c>OwnershipCore.PeerPortClosed</c>).
/// </summary>
internal interface IPeerPortCheck
{
    /// <summary>Reports a port unreachable already pending on the link's socket through <see cref="IPacketReceiver.OnPeerPortUnreachable"/>; nothing otherwise.</summary>
    void TakePendingPortUnreachable();
}
