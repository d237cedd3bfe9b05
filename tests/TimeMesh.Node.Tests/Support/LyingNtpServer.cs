using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using TimeMesh.Core.Protocol;

namespace TimeMesh.Node.Tests.Support;

/// <summary>
/// A stratum-1 NTP server on a thread of the test that answers client requests with this machine's clock plus a
/// fixed offset: the upstream that lies (chronyd cannot lie without its clock being changed, which tests never
/// do). An offset of zero makes an honest one. Counts the requests it answered.
/// </summary>
public sealed class LyingNtpServer : IDisposable
{
    private readonly Socket _socket;
    private readonly Thread _thread;
    private readonly long _offsetNs;
    private volatile bool _stopped;
    private long _answered;

    private readonly List<DateTime> _requests = new();
    private volatile int _stratum = 1;

    public IPEndPoint Endpoint { get; }
    public long Answered => Interlocked.Read(ref _answered);

    /// <summary>The stratum it answers with (1 unless set).</summary>
    public int Stratum { get => _stratum; set => _stratum = value; }

    /// <summary>When each client request arrived (UTC), oldest first.</summary>
    public IReadOnlyList<DateTime> Requests
    {
        get { lock (_requests) return _requests.ToList(); }
    }

    public LyingNtpServer(IPAddress bind, TimeSpan offset)
    {
        _offsetNs = offset.Ticks * 100;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(bind, 0));
        Endpoint = (IPEndPoint)_socket.LocalEndPoint!;
        _socket.ReceiveTimeout = 200;
        _thread = new Thread(Serve) { IsBackground = true, Name = "lying ntp " + Endpoint };
        _thread.Start();
    }

    private static long NowUnixNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    private void Serve()
    {
        var buffer = new byte[512];
        var reply = new byte[NtpHeader.Length];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (!_stopped)
        {
            int n;
            try
            {
                n = _socket.ReceiveFrom(buffer, ref from);
            }
            catch (SocketException)
            {
                continue; // the receive timeout: look at _stopped again
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            long received = NowUnixNs() + _offsetNs;
            if (n < NtpHeader.Length || NtpHeader.ModeOf(buffer[0]) != NtpMode.Client) continue;
            lock (_requests) _requests.Add(DateTime.UtcNow);
            Array.Clear(reply);
            reply[0] = NtpHeader.PackFirstByte(LeapIndicator.NoWarning, NtpHeader.VersionOf(buffer[0]), NtpMode.Server);
            reply[NtpHeader.StratumOffset] = (byte)_stratum;
            reply[NtpHeader.PollOffset] = buffer[NtpHeader.PollOffset];
            reply[NtpHeader.PrecisionOffset] = unchecked((byte)-20);
            BinaryPrimitives.WriteUInt32BigEndian(reply.AsSpan(NtpHeader.RootDispersionOffset), 0x0000_0010); // ~0.24 ms
            "GPS\0"u8.CopyTo(reply.AsSpan(NtpHeader.ReferenceIdOffset));
            NtpTimestamp.FromUnixNanoseconds(received - 1_000_000_000).Write(reply.AsSpan(NtpHeader.ReferenceTimeOffset));
            buffer.AsSpan(NtpHeader.TransmitTimeOffset, 8).CopyTo(reply.AsSpan(NtpHeader.OriginTimeOffset));
            NtpTimestamp.FromUnixNanoseconds(received).Write(reply.AsSpan(NtpHeader.ReceiveTimeOffset));
            NtpTimestamp.FromUnixNanoseconds(NowUnixNs() + _offsetNs).Write(reply.AsSpan(NtpHeader.TransmitTimeOffset));
            try
            {
                _socket.SendTo(reply, from);
                Interlocked.Increment(ref _answered);
            }
            catch (SocketException)
            {
            }
        }
    }

    public void Dispose()
    {
        _stopped = true;
        _thread.Join(1000);
        _socket.Dispose();
    }
}
