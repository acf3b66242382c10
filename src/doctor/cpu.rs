//! CPUs: the ones `--cores`/`--cpus` pick against the online ones, and their frequency
//! governor.

use super::host::{governor_path, Host};
use super::{Check, Plan};
use crate::cpus::parse_cpu_list;
use crate::limits::DOCTOR_ALL_CPUS_OK_MAX;

/// The CPUs the server would run on: `--cpus` as given, the first `--cores` online ones, or
/// every online CPU; `None` when the online list cannot be read.
pub fn select(host: &Host, plan: &Plan) -> Option<Vec<usize>> {
    if let Some(list) = &plan.cpus {
        return parse_cpu_list(list).ok();
    }
    let online = online(host)?;
    Some(match plan.cores {
        Some(n) => online.into_iter().take(n as usize).collect(),
        None => online,
    })
}

fn online(host: &Host) -> Option<Vec<usize>> {
    parse_cpu_list(host.file("sys/devices/system/cpu/online")?).ok()
}

/// The selection against the online CPUs: an offline CPU or too many cores fail; every CPU
/// of a host with more than [`DOCTOR_ALL_CPUS_OK_MAX`] warns (interrupts and the OS then
/// preempt the pinned loops).
pub fn cpus(host: &Host, plan: &Plan, selected: &Option<Vec<usize>>) -> Check {
    const NAME: &str = "cpus";
    let (Some(online), Some(selected)) = (online(host), selected) else {
        return Check::warn(
            NAME,
            "cannot read /sys/devices/system/cpu/online".into(),
            "check that /sys is mounted".into(),
        );
    };
    let listed = host.file("sys/devices/system/cpu/online").unwrap_or_default();
    let n = online.len();
    let advice = advice(&online);
    if let Some(want) = plan.cores.filter(|&c| c as usize > n) {
        return Check::fail(NAME, format!("--cores {want} but only {n} CPUs are online ({listed})"), advice);
    }
    let offline: Vec<usize> = selected.iter().copied().filter(|c| !online.contains(c)).collect();
    if !offline.is_empty() {
        return Check::fail(
            NAME,
            format!("CPU {} not online (online: {listed}): serve refuses to start", format_cpu_list(&offline)),
            advice,
        );
    }
    if selected.len() < n {
        return Check::pass(NAME, format!("{} of {n} online CPUs ({listed}), the rest left to the OS", selected.len()));
    }
    if n <= DOCTOR_ALL_CPUS_OK_MAX {
        return Check::pass(
            NAME,
            format!("all {n} online CPUs ({listed}); on {DOCTOR_ALL_CPUS_OK_MAX} or fewer, one left out would cost more than interrupts do"),
        );
    }
    Check::warn(
        NAME,
        format!("all {n} online CPUs ({listed}): NIC interrupts and the OS preempt the pinned cores"),
        advice,
    )
}

/// The `--cpus` to suggest: every CPU on a small host, else all but the first one (up to 8
/// CPUs) or two.
fn advice(online: &[usize]) -> String {
    let n = online.len();
    if n <= DOCTOR_ALL_CPUS_OK_MAX {
        return format!("--cpus {} (every online CPU)", format_cpu_list(online));
    }
    let keep = if n > 8 { 2 } else { 1 };
    format!(
        "--cpus {} (leaves CPU {} to interrupts and the OS; tuning/README.md)",
        format_cpu_list(&online[keep..]),
        format_cpu_list(&online[..keep])
    )
}

/// Sorted CPU numbers in taskset syntax: `[0, 1, 2, 5]` → `0-2,5`.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// The frequency governor of the selected CPUs: `performance` passes, any other warns, none
/// at all (no cpufreq, as in most VMs) passes.
pub fn governor(host: &Host, cpus: &[usize]) -> Check {
    const NAME: &str = "cpu-governor";
    let found: Vec<(usize, &str)> = cpus.iter().filter_map(|&c| Some((c, host.file(&governor_path(c))?))).collect();
    if found.is_empty() {
        return Check::pass(NAME, "no cpufreq (virtual machine?): the host controls the frequency".into());
    }
    let slow: Vec<String> =
        found.iter().filter(|(_, g)| *g != "performance").map(|(c, g)| format!("cpu{c} {g}")).collect();
    if slow.is_empty() {
        return Check::pass(NAME, format!("performance on all {} selected CPUs", found.len()));
    }
    Check::warn(
        NAME,
        format!("{}: clocks ramp up only after load arrives, adding latency to bursts", slow.join(", ")),
        "cpupower frequency-set -g performance\n\
         or: echo performance | tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_format_as_taskset_ranges() {
        assert_eq!(format_cpu_list(&[0, 1, 2, 5]), "0-2,5");
        assert_eq!(format_cpu_list(&[3]), "3");
        assert_eq!(format_cpu_list(&[]), "");
        assert_eq!(parse_cpu_list(&format_cpu_list(&[0, 2, 3, 4, 8, 9])).unwrap(), vec![0, 2, 3, 4, 8, 9]);
    }

    #[test]
    fn advice_leaves_one_or_two_cpus_on_big_hosts_only() {
        assert_eq!(advice(&[0, 1, 2, 3]), "--cpus 0-3 (every online CPU)");
        assert_eq!(advice(&[0, 1, 2, 3, 4, 5]), "--cpus 1-5 (leaves CPU 0 to interrupts and the OS; tuning/README.md)");
        let big: Vec<usize> = (0..8).chain(16..24).collect();
        assert_eq!(advice(&big), "--cpus 2-7,16-23 (leaves CPU 0-1 to interrupts and the OS; tuning/README.md)");
    }
}
