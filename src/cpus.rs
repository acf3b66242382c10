//! Which CPUs to serve on: `--cores N` (the first N online CPUs) or `--cpus LIST` (taskset
//! syntax).

/// Most CPUs a list may name (a sanity bound on ranges such as `0-4000000000`).
pub const CPU_LIST_MAX: usize = 4096;

/// Parses taskset syntax: `0`, `0-3`, `0,2,5`, `0-1,4`. The result is sorted and de-duplicated.
///
/// Errors: an empty list, a malformed item, a reversed range, or more than [`CPU_LIST_MAX`]
/// CPUs, as a message that says which item is wrong.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for item in list.split(',').map(str::trim) {
        let bad = || format!("`{item}` in `{list}` is not N or N-M (taskset syntax: 0, 0-3, 0,2,5)");
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (item.parse::<usize>(), item.parse::<usize>()),
        };
        let (lo, hi) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
        if lo > hi {
            return Err(format!("range `{item}` in `{list}` is reversed"));
        }
        if hi - lo >= CPU_LIST_MAX || cpus.len() + (hi - lo) >= CPU_LIST_MAX {
            return Err(format!("`{list}` names more than {CPU_LIST_MAX} CPUs"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn online_cpus() -> Vec<usize> {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    let mut cpus: Vec<usize> = ids.into_iter().map(|c| c.id).collect();
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus = (0..n).collect();
    }
    cpus
}

/// Resolves `cores`/`cpus` against the online CPUs.
///
/// Errors: asking for more cores than are online, or naming a CPU that is not online.
pub fn select(cores: Option<u64>, cpus: Option<&str>) -> Result<Vec<usize>, String> {
    let online = online_cpus();
    if let Some(list) = cpus {
        let wanted = parse_cpu_list(list)?;
        if let Some(missing) = wanted.iter().find(|c| !online.contains(c)) {
            return Err(format!("cpus: CPU {missing} is not online here (online: {online:?})"));
        }
        return Ok(wanted);
    }
    match cores {
        None => Ok(online),
        Some(n) if n as usize <= online.len() => Ok(online[..n as usize].to_vec()),
        Some(n) => Err(format!(
            "cores: {n} asked but only {} CPUs are online; accepted range is 1..={}",
            online.len(),
            online.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taskset_forms_parse() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_cpu_list("0,2,5").unwrap(), vec![0, 2, 5]);
        assert_eq!(parse_cpu_list("4, 0-1,1").unwrap(), vec![0, 1, 4]);
    }

    #[test]
    fn malformed_lists_are_refused() {
        for bad in ["", "a", "3-1", "1-", "-1", "0-99999999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
    }
}
