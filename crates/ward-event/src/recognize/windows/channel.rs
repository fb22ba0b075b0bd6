//! Windows event log channels and event ids as Sigma log sources: the
//! service of each channel and the category of each (channel, event id), as
//! pySigma's Windows and Sysmon pipelines assign them.
//!
//! Invariant: one service per channel and at most one category per event;
//! categories that Sigma derives from several (`registry_event` from
//! `registry_set`, ...) are aliases in `pipelines/ward-logsource.yml`.

/// The Sysmon channel.
pub(super) const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

/// (channel, service, dataset). Matched case-insensitively; a channel ending
/// in `/` matches every channel it starts.
const CHANNELS: &[(&str, &str, &str)] = &[
    ("Security", "security", "windows.security"),
    ("System", "system", "windows.system"),
    ("Application", "application", "windows.application"),
    (SYSMON, "sysmon", "windows.sysmon"),
    (
        "Microsoft-Windows-PowerShell/Operational",
        "powershell",
        "windows.powershell",
    ),
    (
        "Windows PowerShell",
        "powershell-classic",
        "windows.powershell_classic",
    ),
    (
        "Microsoft-Windows-TaskScheduler/Operational",
        "taskscheduler",
        "windows.taskscheduler",
    ),
    (
        "Microsoft-Windows-WMI-Activity/Operational",
        "wmi",
        "windows.wmi",
    ),
    (
        "Microsoft-Windows-Windows Defender/Operational",
        "windefend",
        "windows.windefend",
    ),
    ("DNS Server", "dns-server", "windows.dns_server"),
    (
        "Microsoft-Windows-DNS-Server/Analytical",
        "dns-server-analytic",
        "windows.dns_server_analytic",
    ),
    (
        "Microsoft-Windows-DriverFrameworks-UserMode/Operational",
        "driver-framework",
        "windows.driver_framework",
    ),
    (
        "Microsoft-Windows-CodeIntegrity/Operational",
        "codeintegrity-operational",
        "windows.codeintegrity",
    ),
    (
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
        "firewall-as",
        "windows.firewall",
    ),
    (
        "Microsoft-Windows-Bits-Client/Operational",
        "bits-client",
        "windows.bits_client",
    ),
    ("Microsoft-Windows-NTLM/Operational", "ntlm", "windows.ntlm"),
    (
        "Microsoft-Windows-DNS Client Events/Operational",
        "dns-client",
        "windows.dns_client",
    ),
    (
        "Microsoft-Windows-AppXDeploymentServer/Operational",
        "appxdeployment-server",
        "windows.appxdeployment_server",
    ),
    (
        "Microsoft-Windows-AppxPackaging/Operational",
        "appxpackaging-om",
        "windows.appxpackaging",
    ),
    (
        "MSExchange Management",
        "msexchange-management",
        "windows.msexchange_management",
    ),
    (
        "Microsoft-Windows-SmbClient/Security",
        "smbclient-security",
        "windows.smbclient_security",
    ),
    (
        "Microsoft-Windows-SmbClient/Connectivity",
        "smbclient-connectivity",
        "windows.smbclient_connectivity",
    ),
    (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
        "terminalservices-localsessionmanager",
        "windows.terminalservices",
    ),
    (
        "Microsoft-Windows-PrintService/Admin",
        "printservice-admin",
        "windows.printservice_admin",
    ),
    (
        "Microsoft-Windows-PrintService/Operational",
        "printservice-operational",
        "windows.printservice_operational",
    ),
    (
        "Microsoft-Windows-LDAP-Client/Debug",
        "ldap",
        "windows.ldap",
    ),
    ("OpenSSH/Operational", "openssh", "windows.openssh"),
    (
        "Microsoft-Windows-Shell-Core/Operational",
        "shell-core",
        "windows.shell_core",
    ),
    (
        "Microsoft-Windows-VHDMP/Operational",
        "vhdmp",
        "windows.vhdmp",
    ),
    (
        "Microsoft-Windows-LSA/Operational",
        "lsa-server",
        "windows.lsa",
    ),
    (
        "Microsoft-Windows-Security-Mitigations/Kernel Mode",
        "security-mitigations",
        "windows.security_mitigations",
    ),
    (
        "Microsoft-Windows-Diagnosis-Scripted/Operational",
        "diagnosis-scripted",
        "windows.diagnosis_scripted",
    ),
    (
        "Microsoft-Windows-CAPI2/Operational",
        "capi2",
        "windows.capi2",
    ),
    (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
        "certificateservicesclient-lifecycle-system",
        "windows.certificateservicesclient",
    ),
    (
        "Microsoft-Windows-Kernel-ShimEngine/Operational",
        "kernel-shimengine",
        "windows.kernel_shimengine",
    ),
    (
        "Microsoft-Windows-Hyper-V-Worker-Admin",
        "hyper-v-worker",
        "windows.hyper_v_worker",
    ),
    (
        "Microsoft-ServiceBus-Client",
        "microsoft-servicebus-client",
        "windows.servicebus_client",
    ),
    (
        "Microsoft-Windows-AppModel-Runtime/Admin",
        "appmodel-runtime",
        "windows.appmodel_runtime",
    ),
    (
        "Microsoft-IIS-Configuration/Operational",
        "iis-configuration",
        "windows.iis_configuration",
    ),
    (
        "Microsoft-Windows-BitLocker/BitLocker Management",
        "bitlocker",
        "windows.bitlocker",
    ),
    (
        "Microsoft-Windows-AppLocker/",
        "applocker",
        "windows.applocker",
    ),
];

/// The service and dataset of a channel; None for a channel Sigma has no
/// service for.
pub(super) fn service(channel: &str) -> Option<(&'static str, &'static str)> {
    CHANNELS.iter().find_map(|&(name, service, dataset)| {
        let hit = if name.ends_with('/') {
            channel
                .get(..name.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(name))
        } else {
            channel.eq_ignore_ascii_case(name)
        };
        hit.then_some((service, dataset))
    })
}

/// The Sigma category of an event of `service`, by event id (and, for
/// Sysmon registry events, by `EventType`).
pub(super) fn category(
    service: Option<&str>,
    id: u32,
    event_type: Option<&str>,
) -> Option<&'static str> {
    match service? {
        "sysmon" => sysmon(id, event_type),
        "security" => match id {
            4688 => Some("process_creation"),
            _ => None,
        },
        "powershell" => match id {
            4104 => Some("ps_script"),
            4103 => Some("ps_module"),
            _ => None,
        },
        "powershell-classic" => match id {
            400 => Some("ps_classic_start"),
            600 => Some("ps_classic_provider_start"),
            800 => Some("ps_classic_script"),
            _ => None,
        },
        "windefend" => match id {
            1006 | 1015 | 1116 | 1117 | 1118 | 1119 => Some("antivirus"),
            _ => None,
        },
        _ => None,
    }
}

fn sysmon(id: u32, event_type: Option<&str>) -> Option<&'static str> {
    Some(match id {
        1 => "process_creation",
        2 => "file_change",
        3 => "network_connection",
        4 | 16 => "sysmon_status",
        5 => "process_termination",
        6 => "driver_load",
        7 => "image_load",
        8 => "create_remote_thread",
        9 => "raw_access_thread",
        10 => "process_access",
        11 => "file_event",
        12 => match event_type {
            Some(t) if t.eq_ignore_ascii_case("CreateKey") => "registry_add",
            Some(t)
                if t.eq_ignore_ascii_case("DeleteKey") || t.eq_ignore_ascii_case("DeleteValue") =>
            {
                "registry_delete"
            }
            _ => "registry_event",
        },
        13 => "registry_set",
        14 => "registry_rename",
        15 => "create_stream_hash",
        17 | 18 => "pipe_created",
        19..=21 => "wmi_event",
        22 => "dns_query",
        23 => "file_delete",
        24 => "clipboard_capture",
        25 => "process_tampering",
        26 => "file_delete_detected",
        27 => "file_block_executable",
        28 => "file_block_shredding",
        29 => "file_executable_detected",
        255 => "sysmon_error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_categories() {
        assert_eq!(service("security"), Some(("security", "windows.security")));
        assert_eq!(
            service("Microsoft-Windows-AppLocker/EXE and DLL").map(|s| s.0),
            Some("applocker")
        );
        assert_eq!(service("Microsoft-Windows-AppLocker"), None);
        assert_eq!(service("Linux-Sysmon/Operational"), None);
        assert_eq!(
            category(Some("security"), 4688, None),
            Some("process_creation")
        );
        assert_eq!(category(Some("security"), 4624, None), None);
        assert_eq!(
            category(Some("sysmon"), 12, Some("DeleteValue")),
            Some("registry_delete")
        );
        assert_eq!(category(Some("sysmon"), 12, None), Some("registry_event"));
        assert_eq!(category(None, 1, None), None);
    }
}
