using TimeMesh.Core.Access;

namespace TimeMesh.Core.Server;

/// <summary>
/// Everything the server's receive loops need to answer a request, frozen: the loops read one snapshot
/// reference per batch and never lock. Actors publish a new snapshot when anything in it changes.
/// </summary>
public sealed record ServerSnapshot
{
    /// <summary>What replies say about the node's synchronisation (leap, stratum, reference id, root distance).</summary>
    public required ReferenceState Reference { get; init; }
    /// <summary>Which client addresses get an answer at all; checked before anything else in a request.</summary>
    public required AccessList Access { get; init; }
    /// <summary>The clock's precision, log2 seconds (measured at start, as chrony does).</summary>
    public required sbyte PrecisionLog2 { get; init; }

    /// <summary>
    /// A snapshot that answers nobody and would report itself unsynchronised: a safe value to hold until the real
    /// access list and reference are known.
    /// </summary>
    /// <param name="precisionLog2">The measured clock precision, log2 seconds.</param>
    public static ServerSnapshot Closed(sbyte precisionLog2) => new()
    {
        Reference = ReferenceState.Unsynchronised,
        Access = AccessList.Closed,
        PrecisionLog2 = precisionLog2,
    };
}
