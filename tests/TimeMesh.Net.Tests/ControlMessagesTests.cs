using System.Buffers.Binary;
using Xunit;

namespace TimeMesh.Net.Tests;

/// <summary>The cmsghdr walk shared by the receive path and the error-queue reader, on hand-built control buffers.</summary>
public unsafe class ControlMessagesTests
{
    private const int SolSocket = 1;
    private const int ScmTimestampNs = 35;
    private const int SolIp = 0;
    private const int IpRecvErr = 11;

    /// <summary>Appends one cmsghdr (len = 16 + data, level, type) with its data, padded to 8 bytes; returns the new end.</summary>
    private static int Append(byte[] buffer, int offset, int level, int type, ReadOnlySpan<byte> data, long? lengthOverride = null)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(offset), lengthOverride ?? 16 + data.Length);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset + 8), level);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset + 12), type);
        data.CopyTo(buffer.AsSpan(offset + 16));
        return offset + ((16 + data.Length + 7) & ~7);
    }

    private static byte[] TimeSpec(long seconds, long nanoseconds)
    {
        var data = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(data, seconds);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), nanoseconds);
        return data;
    }

    private static List<(int Level, int Type, int Length, long Stamp)> Walk(byte[] buffer, int filled)
    {
        var seen = new List<(int, int, int, long)>();
        fixed (byte* control = buffer)
        {
            foreach (ControlMessage m in new ControlMessages(control, (nuint)filled, (nuint)buffer.Length))
                seen.Add((m.Level, m.Type, m.DataLength, m.TimeSpecUnixNanoseconds()));
        }
        return seen;
    }

    [Fact]
    public void Walks_every_message_with_its_level_type_and_data()
    {
        var buffer = new byte[256];
        int end = Append(buffer, 0, SolSocket, ScmTimestampNs, TimeSpec(1_800_000_000, 123_456_789));
        // An odd-length message (20 bytes of data) to check the CMSG_ALIGN step to the next header.
        end = Append(buffer, end, SolIp, IpRecvErr, new byte[20]);
        end = Append(buffer, end, SolSocket, 37, TimeSpec(2, 5));

        var seen = Walk(buffer, end);

        Assert.Equal(3, seen.Count);
        Assert.Equal((SolSocket, ScmTimestampNs, 16, 1_800_000_000_123_456_789L), seen[0]);
        Assert.Equal((SolIp, IpRecvErr, 20, 0L), seen[1]);
        Assert.Equal((SolSocket, 37, 16, 2_000_000_005L), seen[2]);
    }

    [Fact]
    public void Stops_at_a_header_that_is_too_short_or_runs_past_the_filled_part()
    {
        var buffer = new byte[128];
        int end = Append(buffer, 0, SolSocket, ScmTimestampNs, TimeSpec(1, 1));
        int afterFirst = end;
        end = Append(buffer, end, SolSocket, ScmTimestampNs, TimeSpec(2, 2), lengthOverride: 8);   // shorter than a header
        Assert.Single(Walk(buffer, end));

        Append(buffer, afterFirst, SolSocket, ScmTimestampNs, TimeSpec(3, 3), lengthOverride: 1000);   // beyond the buffer
        Assert.Single(Walk(buffer, buffer.Length));

        Append(buffer, afterFirst, SolSocket, ScmTimestampNs, TimeSpec(3, 3));
        Assert.Single(Walk(buffer, afterFirst + 20));   // the kernel filled only part of the second one (MSG_CTRUNC)
        Assert.Equal(2, Walk(buffer, afterFirst + 32).Count);
    }

    [Fact]
    public void Trusts_no_filled_length_beyond_the_buffer_and_reads_nothing_from_an_empty_one()
    {
        var buffer = new byte[32];
        Append(buffer, 0, SolSocket, ScmTimestampNs, TimeSpec(7, 7));
        fixed (byte* control = buffer)
        {
            int count = 0;
            foreach (ControlMessage m in new ControlMessages(control, 4096, 32)) count++;
            Assert.Equal(1, count);
            foreach (ControlMessage m in new ControlMessages(control, 0, 32)) count++;
            foreach (ControlMessage m in new ControlMessages(null, 32, 32)) count++;
            Assert.Equal(1, count);
        }
        Assert.Empty(Walk(buffer, 15));
    }

    [Fact]
    public void A_timestamp_message_too_short_for_a_timespec_reads_as_zero()
    {
        var buffer = new byte[64];
        int end = Append(buffer, 0, SolSocket, ScmTimestampNs, new byte[8]);
        var seen = Walk(buffer, end);
        Assert.Equal((SolSocket, ScmTimestampNs, 8, 0L), seen.Single());
    }
}
