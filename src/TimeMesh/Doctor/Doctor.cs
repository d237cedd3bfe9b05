namespace TimeMesh.Cli.Doctor;

/// <summary>Runs every check, in the order an operator fixes things: config first, then what fights TimeMesh.</summary>
public static class DoctorRunner
{
    public static DoctorReport Run(DoctorEnvironment env, string? configPath)
    {
        var findings = new List<DoctorFinding>();
        var config = new ConfigCheck(env);
        findings.AddRange(config.Run(configPath));
        var settings = config.Settings;
        findings.AddRange(new TimeDaemonCheck(env).Run(settings));
        if (settings is null)
        {
            findings.Add(DoctorFinding.Warn(PortCheck.Name, "skipped: the config does not load, so the listen addresses are unknown", "fix the config first"));
        }
        else
        {
            var ports = new PortCheck(env);
            findings.AddRange(ports.Run(settings));
            findings.AddRange(ports.RunTcp(settings, config.ClusterEndpoint));
            findings.AddRange(new PrivilegeCheck(env).Run(settings));
            if (settings.Mesh is not null && config.Full is { } full) findings.AddRange(new CertificateCheck(env).Run(full));
        }
        findings.AddRange(new KernelClockCheck(env).Run(settings));
        return new DoctorReport(findings);
    }
}
