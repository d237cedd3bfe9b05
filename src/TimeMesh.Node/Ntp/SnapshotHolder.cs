using TimeMesh.Core.Server;

namespace TimeMesh.Node.Ntp;

/// <summary>The server snapshot the loops answer from: the actor swaps it, loops read it once per batch.</summary>
internal sealed class SnapshotHolder(ServerSnapshot initial)
{
    private volatile ServerSnapshot _current = initial;

    public ServerSnapshot Current
    {
        get => _current;
        set => _current = value;
    }
}
