using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Xunit;

namespace TimeMesh.Net.Tests;

/// <summary>
/// hwtimestamp's socket side: the ethtool capability struct read as the kernel lays it out, the verdict on what an
/// interface can do, the real ioctls on this machine's loopback (which has no hardware stamping), and sockets bound with
/// hardware stamps asked for, which keep giving the kernel's software stamps where the NIC gives none.
/// </summary>
public class HardwareTimestampingTests
{
    // SOF_TIMESTAMPING_* bits (linux/net_tstamp.h).
    private const uint TxHardware = 1 << 0, TxSoftware = 1 << 1, RxHardware = 1 << 2, RxSoftware = 1 << 3, Software = 1 << 4, RawHardware = 1 << 6;

    /// <summary>A struct ethtool_ts_info as the kernel fills it in.</summary>
    private static byte[] TsInfo(uint capabilities, int phcIndex, uint txTypes, uint rxFilters)
    {
        var bytes = new byte[InterfaceTimestampingInfo.StructBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, 0x41);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), capabilities);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), phcIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), txTypes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), 0xdeadbeef);   // tx_reserved: never read
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(28), rxFilters);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(32), 0xdeadbeef);   // rx_reserved
        return bytes;
    }

    [Fact]
    public void A_NIC_with_a_PHC_and_the_ALL_filter_can_stamp_in_hardware()
    {
        // What an Intel i210 reports (ethtool -T): hardware and software stamping, PHC 0, tx off/on, filters none/all.
        var info = InterfaceTimestampingInfo.Parse("eth0", TsInfo(TxHardware | TxSoftware | RxHardware | RxSoftware | Software | RawHardware, 0, 0b11, 0b11));
        Assert.Equal(0, info.PhcIndex);
        Assert.Null(info.WhyNotHardware());
        Assert.Equal(InterfaceTimestampingInfo.FilterAll, info.ReceiveFilter);
        Assert.Equal("hardware-transmit, software-transmit, hardware-receive, software-receive, software, raw-hardware", info.DescribeCapabilities());
    }

    [Fact]
    public void Without_the_ALL_filter_NTP_ALL_is_asked_for_and_PTP_only_filters_are_not_enough()
    {
        const uint hw = TxHardware | RxHardware | RawHardware;
        var ntpAll = InterfaceTimestampingInfo.Parse("eth1", TsInfo(hw, 2, 0b11, (1u << 0) | (1u << 15)));
        Assert.Equal(InterfaceTimestampingInfo.FilterNtpAll, ntpAll.ReceiveFilter);
        Assert.Null(ntpAll.WhyNotHardware());

        // PTP v2 event filters only (values 12-14), as many PTP-only NICs offer.
        var ptpOnly = InterfaceTimestampingInfo.Parse("eth2", TsInfo(hw, 1, 0b11, (1u << 0) | (1u << 12) | (1u << 13) | (1u << 14)));
        Assert.Null(ptpOnly.ReceiveFilter);
        Assert.Equal("no receive filter for all packets (ALL or NTP_ALL; offered: 0, 12, 13, 14)", ptpOnly.WhyNotHardware());
    }

    [Fact]
    public void Each_missing_piece_is_named()
    {
        var softwareOnly = InterfaceTimestampingInfo.Parse("veth0", TsInfo(TxSoftware | RxSoftware | Software, -1, 0, 0));
        Assert.Equal("no hardware timestamping (capabilities: software-transmit, software-receive, software; no PTP hardware clock)", softwareOnly.WhyNotHardware());

        var noPhc = InterfaceTimestampingInfo.Parse("eth3", TsInfo(TxHardware | RxHardware | RawHardware, -1, 0b11, 0b11));
        Assert.Equal("no PTP hardware clock to convert its stamps with", noPhc.WhyNotHardware());

        var rxOnly = InterfaceTimestampingInfo.Parse("eth4", TsInfo(RxHardware | RawHardware | Software, 0, 0b01, 0b11));
        Assert.StartsWith("no hardware-transmit timestamping", rxOnly.WhyNotHardware());

        var noTxOn = InterfaceTimestampingInfo.Parse("eth5", TsInfo(TxHardware | RxHardware | RawHardware, 0, 0b01, 0b11));
        Assert.Equal("transmit stamping cannot be switched on (no HWTSTAMP_TX_ON)", noTxOn.WhyNotHardware());
    }

    [Fact]
    public void A_short_struct_is_refused()
    {
        Assert.Throws<ArgumentException>(() => InterfaceTimestampingInfo.Parse("eth0", new byte[20]));
    }

    [Theory]
    [InlineData("eth0", true)]
    [InlineData("enp3s0f1", true)]
    [InlineData("veth-a.100", true)]
    [InlineData("", false)]
    [InlineData("a-name-of-16chrs", false)]
    [InlineData("eth0:1", false)]
    [InlineData("eth 0", false)]
    [InlineData("../x", false)]
    [InlineData("..", false)]
    public void Interface_names_follow_the_kernels_rule(string name, bool valid)
    {
        Assert.Equal(valid, HardwareTimestamping.CheckName(name) is null);
    }

    [Fact]
    public void Loopback_answers_the_ethtool_query_with_software_stamping_only_and_is_refused_with_a_reason_naming_it()
    {
        var info = HardwareTimestamping.Query("lo", out string? error);
        Assert.Null(error);
        Assert.NotNull(info);
        Assert.Equal(-1, info.PhcIndex);
        Assert.Equal(0u, info.Capabilities & (TxHardware | RxHardware | RawHardware));
        Assert.NotNull(info.WhyNotHardware());

        Assert.Null(HardwareTimestamping.Enable("lo", out var again, out string? reason));
        Assert.NotNull(again);
        Assert.StartsWith("lo: no hardware timestamping", reason);
    }

    [Fact]
    public void An_interface_that_does_not_exist_is_said_so()
    {
        Assert.Null(HardwareTimestamping.Enable("tmhwnone0", out var info, out string? reason));
        Assert.Null(info);
        Assert.Equal("tmhwnone0: no such interface", reason);
        Assert.Null(HardwareTimestamping.Enable("bad/name", out _, out reason));
        Assert.Contains("not an interface name", reason);
    }

    [Fact]
    public void A_PTP_clock_that_does_not_exist_cannot_be_opened()
    {
        Assert.Null(PtpHardwareClock.Open(999, out string? error));
        Assert.StartsWith("cannot open its PTP hardware clock /dev/ptp999", error);
    }

    [Fact]
    public void The_socket_flags_ask_for_raw_hardware_stamps_besides_the_software_ones()
    {
        int software = BatchedUdpSocket.TimestampingFlags(transmit: true, hardware: false);
        int both = BatchedUdpSocket.TimestampingFlags(transmit: true, hardware: true);
        int receiveOnly = BatchedUdpSocket.TimestampingFlags(transmit: false, hardware: true);
        Assert.Equal(0, software & (int)(TxHardware | RxHardware | RawHardware));
        Assert.Equal((int)(TxHardware | RxHardware | RawHardware), both & (int)(TxHardware | RxHardware | RawHardware));
        Assert.Equal(software, both & software);
        Assert.Equal(0, receiveOnly & (int)(TxHardware | TxSoftware));
        Assert.Equal((int)(RxHardware | RawHardware), receiveOnly & (int)(RxHardware | RawHardware));
        Assert.Equal(0, BatchedUdpSocket.TimestampingFlags(false, false));
    }

    private static int ReceiveOne(BatchedUdpSocket socket, DatagramBatch batch)
    {
        var wait = Stopwatch.StartNew();
        while (wait.Elapsed < TimeSpan.FromSeconds(5))
        {
            int n = socket.Receive(batch);
            if (n > 0) return n;
        }
        return 0;
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void Sockets_asking_for_hardware_stamps_on_loopback_fall_back_to_the_kernels_software_stamps(string address)
    {
        var ip = IPAddress.Parse(address);
        var options = new UdpSocketOptions { TransmitTimestamps = true, HardwareTimestamps = true, ReceiveTimeout = TimeSpan.FromMilliseconds(200) };
        using var client = BatchedUdpSocket.Bind(new IPEndPoint(ip, 0), options);
        using var server = BatchedUdpSocket.Bind(new IPEndPoint(ip, 0), options with { TransmitTimestamps = false });
        Assert.True(client.HardwareTimestampsEnabled);
        Assert.True(client.TransmitTimestampsEnabled);
        Assert.True(server.HardwareTimestampsEnabled);
        Assert.False(server.TransmitTimestampsEnabled);
        using var clientBatch = new DatagramBatch(4, 256);
        using var serverBatch = new DatagramBatch(4, 256);

        for (uint round = 0; round < 3; round++)
        {
            clientBatch.Outgoing(0)[..48].Fill((byte)round);
            clientBatch.SetOutgoing(0, 48);
            clientBatch.SetDestination(0, PeerAddress.FromEndPoint(server.LocalEndPoint));
            Assert.Equal(1, client.Send(clientBatch, 1));
            var tx = client.ReadTransmitTimestamp(TimeSpan.FromSeconds(1));
            Assert.Equal(round, tx.Id);
            Assert.NotEqual(0, tx.UnixNanoseconds);    // the software stamp
            Assert.Equal(0, tx.HardwareNanoseconds);   // loopback has no NIC clock

            Assert.Equal(1, ReceiveOne(server, serverBatch));
            long kernel = serverBatch.KernelTimestampUnixNanoseconds(0);
            Assert.NotEqual(0, kernel);
            Assert.Equal(0, serverBatch.HardwareTimestampNanoseconds(0, out int interfaceIndex));
            Assert.Equal(0, interfaceIndex);
            Assert.True(tx.UnixNanoseconds <= kernel, $"sent {tx.UnixNanoseconds} after it arrived {kernel}");
            Assert.Equal(48, serverBatch.Received(0).Length);
        }

        // Turning transmit stamps off and on keeps the hardware receive flags (the server loop does this).
        Assert.True(client.SetTransmitTimestamps(false));
        Assert.True(client.SetTransmitTimestamps(true));
        clientBatch.SetOutgoing(0, 48);
        Assert.Equal(1, client.Send(clientBatch, 1));
        var after = client.ReadTransmitTimestamp(TimeSpan.FromSeconds(1));
        Assert.Equal(0u, after.Id);
        Assert.NotEqual(0, after.UnixNanoseconds);
        Assert.Equal(1, ReceiveOne(server, serverBatch));
        Assert.NotEqual(0, serverBatch.KernelTimestampUnixNanoseconds(0));
    }
}
