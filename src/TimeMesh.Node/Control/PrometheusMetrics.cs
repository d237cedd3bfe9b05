using System.Globalization;
using System.Text;

namespace TimeMesh.Node.Control;

/// <summary>
/// The node's state in Prometheus' text exposition format 0.0.4: every family with HELP and TYPE, base
/// units in the names (seconds, ppm where chrony speaks ppm), counters ending in _total.
/// </summary>
public static class PrometheusMetrics
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Everything the metrics are made of, read once per scrape.</summary>
    public sealed record Snapshot(
        TrackingDto Tracking,
        SourcesDto Sources,
        SourceStatsListDto SourceStats,
        ServerStatsDto Server,
        int Clients,
        MeshDto Mesh,
        Persistence.DriftProtocol.DriftStatus? Persistence);

    public static async Task<string> CollectAsync(NodeQueries queries, long controlRequests)
    {
        var tracking = queries.TrackingAsync();
        var sources = queries.SourcesAsync();
        var stats = queries.SourceStatsAsync();
        var server = queries.ServerStatsAsync(controlRequests);
        var clients = queries.ClientsAsync();
        var mesh = queries.MeshAsync();
        var persistence = queries.PersistenceAsync();
        await Task.WhenAll(tracking, sources, stats, server, clients, mesh, persistence);
        return Format(new Snapshot(tracking.Result, sources.Result, stats.Result, server.Result, clients.Result.Clients.Count, mesh.Result, persistence.Result));
    }

    public static string Format(Snapshot s)
    {
        var w = new Writer();
        var t = s.Tracking;
        w.Gauge("timemesh_synchronised", "1 when the node is synchronised to a source (upstream or the mesh), else 0.", t.Synchronised ? 1 : 0);
        w.Gauge("timemesh_stratum", "The stratum the node serves (0 when it serves nothing usable).", t.Stratum);
        w.Gauge("timemesh_offset_seconds", "The last measured offset of the served clock from its reference (chronyc tracking: Last offset).", t.LastOffsetSeconds);
        w.Gauge("timemesh_rms_offset_seconds", "Long-term average of the offset (chronyc tracking: RMS offset).", t.RmsOffsetSeconds);
        w.Gauge("timemesh_system_time_offset_seconds", "How far the served clock is from true time now, positive = fast (chronyc tracking: System time).", t.SystemTimeOffsetSeconds);
        w.Gauge("timemesh_frequency_ppm", "The clock's frequency error, positive = fast (chronyc tracking: Frequency).", t.FrequencyPpm);
        w.Gauge("timemesh_residual_frequency_ppm", "Residual frequency of the selected source (chronyc tracking: Residual freq).", t.ResidualFrequencyPpm);
        w.Gauge("timemesh_skew_ppm", "Estimated error bound of the frequency (chronyc tracking: Skew).", t.SkewPpm);
        w.Gauge("timemesh_root_delay_seconds", "Total round-trip delay to the stratum-1 source.", t.RootDelaySeconds);
        w.Gauge("timemesh_root_dispersion_seconds", "Total dispersion accumulated to the stratum-1 source.", t.RootDispersionSeconds);
        w.Gauge("timemesh_update_interval_seconds", "Interval between the last two clock updates.", t.UpdateIntervalSeconds);
        w.Gauge("timemesh_reference_time_seconds", "When the served clock was last updated, Unix time (0 = never).", t.RefTimeUnixNs * 1e-9);
        w.Gauge("timemesh_leap_status", "Leap indicator served: 0 normal, 1 insert second, 2 delete second, 3 not synchronised.", t.Leap switch
        {
            "normal" => 0,
            "insert_second" => 1,
            "delete_second" => 2,
            _ => 3,
        });

        if (t.TransmitTimestamping is { } tx)
        {
            w.Gauge("timemesh_kernel_transmit_timestamps", "1 when the latest request to a source was stamped by the kernel (SO_TIMESTAMPING), 0 when it fell back to a user-space reading.", tx == "kernel" ? 1 : 0);
            w.Family("timemesh_transmit_timestamps_total", "counter", "Requests to sources by how their transmit time (T1) was taken.");
            w.Sample("timemesh_transmit_timestamps_total", t.KernelTransmitTimestamps, ("kind", "kernel"));
            w.Sample("timemesh_transmit_timestamps_total", t.UserSpaceTransmitTimestamps, ("kind", "user-space"));
            if (t.HardwareTimestamping is not null)
            {
                w.Family("timemesh_hardware_transmit_timestamps_total", "counter", "Requests to sources whose transmit time the NIC stamped (hwtimestamp; counted among kind=kernel above).");
                w.Sample("timemesh_hardware_transmit_timestamps_total", t.HardwareTransmitTimestamps);
            }
        }

        if (t.HardwareTimestamping is { } hw)
        {
            w.Family("timemesh_hardware_timestamping", "gauge", "hwtimestamp: per interface named, 1 for the stamping it got (hardware: the NIC's, through its PTP clock; kernel: software fallback), else 0.");
            foreach (var i in t.HardwareTimestampingInterfaces ?? [])
            {
                foreach (string kind in new[] { "hardware", "kernel" })
                    w.Sample("timemesh_hardware_timestamping", i.Mode == kind ? 1 : 0, ("interface", i.Interface), ("kind", kind));
            }
            w.Gauge("timemesh_hardware_timestamps_in_use", "1 when at least one hwtimestamp interface stamps in hardware, 0 when all fell back to kernel software stamps.", hw == "hardware" ? 1 : 0);
            w.Family("timemesh_receive_timestamps_total", "counter", "Datagrams received on hardware-stamping sockets by whose stamp gave their arrival time.");
            w.Sample("timemesh_receive_timestamps_total", t.HardwareReceiveTimestamps, ("kind", "hardware"));
            w.Sample("timemesh_receive_timestamps_total", t.SoftwareReceiveTimestamps, ("kind", "kernel"));
        }

        w.Family("timemesh_source_reachability", "gauge", "The source's reachability register (8 bits, 255 = the last 8 polls answered).");
        foreach (var src in s.Sources.Sources) w.Sample("timemesh_source_reachability", src.Reach, ("source", src.Name));
        w.Family("timemesh_source_selected", "gauge", "1 for the source the node is synchronised to, else 0.");
        foreach (var src in s.Sources.Sources) w.Sample("timemesh_source_selected", src.State == "selected" ? 1 : 0, ("source", src.Name));
        w.Family("timemesh_source_state", "gauge", "The source's selection state, one series per state, 1 for the current one (chronyc sources' * + - x ~ ?).");
        foreach (var src in s.Sources.Sources)
        {
            foreach (var state in SourceStates) w.Sample("timemesh_source_state", src.State == state ? 1 : 0, ("source", src.Name), ("state", state));
        }
        w.Family("timemesh_source_stratum", "gauge", "The stratum the source reports.");
        foreach (var src in s.Sources.Sources) w.Sample("timemesh_source_stratum", src.Stratum, ("source", src.Name));
        w.Family("timemesh_source_poll_interval_seconds", "gauge", "How often the source is polled.");
        foreach (var src in s.Sources.Sources) w.Sample("timemesh_source_poll_interval_seconds", Math.Pow(2, src.PollLog2), ("source", src.Name));
        w.Family("timemesh_source_offset_seconds", "gauge", "The source's last sample, adjusted for corrections since (source minus this node).");
        foreach (var src in s.Sources.Sources) w.Sample("timemesh_source_offset_seconds", src.AdjustedOffsetSeconds, ("source", src.Name));
        w.Family("timemesh_source_error_seconds", "gauge", "The error bound of the source's last sample.");
        foreach (var src in s.Sources.Sources) w.Sample("timemesh_source_error_seconds", src.ErrorSeconds, ("source", src.Name));
        w.Family("timemesh_source_last_sample_age_seconds", "gauge", "Time since the source's last good sample (absent before the first).");
        foreach (var src in s.Sources.Sources)
        {
            if (src.LastRxAgoSeconds is { } ago) w.Sample("timemesh_source_last_sample_age_seconds", ago, ("source", src.Name));
        }
        w.Family("timemesh_source_frequency_ppm", "gauge", "The source's frequency relative to the served clock (chronyc sourcestats: Frequency).");
        foreach (var st in s.SourceStats.Sources) w.Sample("timemesh_source_frequency_ppm", st.FrequencyPpm, ("source", st.Name));
        w.Family("timemesh_source_skew_ppm", "gauge", "Error bound of the source's frequency (chronyc sourcestats: Freq Skew).");
        foreach (var st in s.SourceStats.Sources) w.Sample("timemesh_source_skew_ppm", st.SkewPpm, ("source", st.Name));
        w.Family("timemesh_source_std_dev_seconds", "gauge", "Standard deviation of the source's samples (chronyc sourcestats: Std Dev).");
        foreach (var st in s.SourceStats.Sources) w.Sample("timemesh_source_std_dev_seconds", st.StdDevSeconds, ("source", st.Name));

        var v = s.Server;
        w.Counter("timemesh_ntp_packets_received_total", "NTP packets received.", v.NtpPacketsReceived);
        w.Counter("timemesh_ntp_packets_answered_total", "NTP requests answered with time (kiss-o'-death not included).", v.NtpPacketsAnswered);
        w.Family("timemesh_ntp_packets_dropped_total", "counter", "NTP packets dropped, by reason.");
        w.Sample("timemesh_ntp_packets_dropped_total", v.NtpDroppedAccess, ("reason", "access"));
        w.Sample("timemesh_ntp_packets_dropped_total", v.NtpDroppedRateLimit, ("reason", "rate_limit"));
        w.Sample("timemesh_ntp_packets_dropped_total", v.NtpDroppedMalformed, ("reason", "malformed"));
        w.Sample("timemesh_ntp_packets_dropped_total", v.NtpDroppedUnsupportedMode, ("reason", "unsupported_mode"));
        w.Counter("timemesh_ntp_kod_sent_total", "RATE kiss-o'-death replies sent to clients over the rate limit.", v.KodSent);
        w.Counter("timemesh_ntp_send_failures_total", "Replies the kernel did not take.", v.SendFailures);
        w.Counter("timemesh_ntp_client_log_evictions_total", "Client log records evicted to make room for new clients.", v.ClientLogRecordsDropped);
        w.Counter("timemesh_ntp_loop_restarts_total", "NTP receive loops restarted after a failure.", v.LoopRestarts);
        w.Gauge("timemesh_ntp_clients", "Clients in the client log.", s.Clients);
        w.Counter("timemesh_control_requests_total", "Requests to this monitoring endpoint.", v.ControlRequests);

        var m = s.Mesh;
        w.Gauge("timemesh_mesh_node", "1 when this node is part of a mesh, 0 when it runs alone.", m.IsMeshNode ? 1 : 0);
        w.Gauge("timemesh_mesh_members", "Nodes of the mesh this node knows of, itself included.", m.Nodes.Count);
        w.Gauge("timemesh_mesh_reachable_members", "Nodes of the mesh that are reachable, itself included.", m.Nodes.Count(n => n.Reachable));
        w.Gauge("timemesh_mesh_insecure", "1 when this mesh node's cluster transport runs without TLS on a LAN address (timemesh.mesh.insecure = on), else 0.", m.ClusterTransport == "insecure" ? 1 : 0);
        w.Gauge("timemesh_mesh_ntp_authenticated", "1 when NTP between this node and the mesh's masters runs over NTS (timemesh.mesh.authenticate), else 0.", m.MeshNtp == "nts" ? 1 : 0);
        w.Family("timemesh_mesh_nts_authenticated_total", "counter", "Authenticated NTS replies from each mesh master this node polls.");
        foreach (var n in m.MeshNts) w.Sample("timemesh_mesh_nts_authenticated_total", n.Authenticated, ("master", n.Master));
        w.Family("timemesh_mesh_nts_rejected_total", "counter", "Datagrams from a mesh master's address that were not the authenticated reply to this node's request (forged, replayed, damaged): dropped before the clock.");
        foreach (var n in m.MeshNts) w.Sample("timemesh_mesh_nts_rejected_total", n.Rejected, ("master", n.Master));
        w.Family("timemesh_mesh_nts_key_exchanges_total", "counter", "NTS key exchanges with each mesh master, by result (ok, failed: unreachable, certificate refused, ...).");
        foreach (var n in m.MeshNts)
        {
            w.Sample("timemesh_mesh_nts_key_exchanges_total", n.KeyExchanges, ("master", n.Master), ("result", "ok"));
            w.Sample("timemesh_mesh_nts_key_exchanges_total", n.KeyExchangeFailures, ("master", n.Master), ("result", "failed"));
        }
        w.Gauge("timemesh_mesh_joined", "1 when this node is a member of a cluster (Up or WeaklyUp), else 0 (it names no leader then).", m.Joined ? 1 : 0);
        w.Family("timemesh_mesh_statuses_dropped_total", "counter", "Statuses from other nodes dropped: oversized, sender_mismatch (not sent by the node they name), not_member (its node is not Up in the cluster); with cluster TLS unsigned, certificate (not the mesh CA's, expired, or not issued for the node's host), bad_signature, replayed (an old sequence number or incarnation).");
        foreach (var reason in new[] { "oversized", "sender_mismatch", "not_member", "unsigned", "certificate", "bad_signature", "replayed" })
            w.Sample("timemesh_mesh_statuses_dropped_total", m.StatusesDropped.GetValueOrDefault(reason), ("reason", reason));
        w.Gauge("timemesh_mesh_is_leader", "1 when this node leads the mesh.", m.Leader is not null && m.Leader == m.Self ? 1 : 0);
        w.Family("timemesh_mesh_leader", "gauge", "The mesh's leader as this node sees it: one series, value 1, labelled with the leader (absent when there is none).");
        if (m.Leader is { } leader) w.Sample("timemesh_mesh_leader", 1, ("node", leader));
        w.Family("timemesh_mesh_node_stratum", "gauge", "The stratum each mesh node serves, from its last status.");
        foreach (var n in m.Nodes)
        {
            if (n.Stratum is { } stratum) w.Sample("timemesh_mesh_node_stratum", stratum, ("node", n.Node), ("role", n.Role ?? "unknown"));
        }
        w.Family("timemesh_mesh_node_reachable", "gauge", "1 when the mesh node is reachable (cluster failure detector).");
        foreach (var n in m.Nodes) w.Sample("timemesh_mesh_node_reachable", n.Reachable ? 1 : 0, ("node", n.Node));

        w.Counter("timemesh_persistence_errors_total", "Errors writing or reading the drift state database (0 when the node keeps no drift state).", s.Persistence?.ErrorsTotal ?? 0);
        if (s.Persistence is { } p) w.Gauge("timemesh_persistence_available", "1 while the drift state database is usable.", p.Available ? 1 : 0);
        return w.ToString();
    }

    private static readonly string[] SourceStates = ["selected", "combined", "not_combined", "falseticker", "too_variable", "unusable"];

    private sealed class Writer
    {
        private readonly StringBuilder _text = new();

        public void Family(string name, string type, string help) =>
            _text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(help)).Append('\n')
                .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

        public void Gauge(string name, string help, double value)
        {
            Family(name, "gauge", help);
            Sample(name, value);
        }

        public void Counter(string name, string help, double value)
        {
            Family(name, "counter", help);
            Sample(name, value);
        }

        public void Sample(string name, double value, params (string Name, string Value)[] labels)
        {
            _text.Append(name);
            if (labels.Length > 0)
            {
                _text.Append('{');
                for (int i = 0; i < labels.Length; i++)
                {
                    if (i > 0) _text.Append(',');
                    _text.Append(labels[i].Name).Append("=\"").Append(EscapeLabel(labels[i].Value)).Append('"');
                }
                _text.Append('}');
            }
            _text.Append(' ').Append(FormatValue(value)).Append('\n');
        }

        public override string ToString() => _text.ToString();
    }

    public static string FormatValue(double value) => value switch
    {
        double.NaN => "NaN",
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static string EscapeHelp(string text) => text.Replace("\\", "\\\\").Replace("\n", "\\n");

    private static string EscapeLabel(string text) => text.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
