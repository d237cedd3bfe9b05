using TimeMesh.Core.Access;

namespace TimeMesh.Core.Server;

/// <summary>
/// Everything the server's receive loops need to answer a request, frozen: the loops read one snapshot
/// reference per batch and never lock. Actors publish a new snapshot when anything in it changes.
/// </summary>
public sealed record ServerSnapshot
{
    public required ReferenceState Reference { get; init; }
    public required AccessList Access { get; init; }
    /// <summary>The clock's precision, log2 seconds (measured at start, as chrony does).</summary>
    public required sbyte PrecisionLog2 { get; init; }

    public static ServerSnapshot Closed(sbyte precisionLog2) => new()
    {
        Reference = ReferenceState.Unsynchronised,
        Access = AccessList.Closed,
        PrecisionLog2 = precisionLog2,
    };
}
