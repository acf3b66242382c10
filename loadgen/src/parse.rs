//! Parsers for command-line values: CPU lists (taskset syntax) and durations. No I/O here.

use std::time::Duration;

/// Longest CPU list accepted (ids are checked against the machine later).
const CPU_ID_MAX: usize = 4095;

/// Parses a taskset CPU list: `0`, `0-3`, `1,3`, `0,2-5`. Returns sorted, unique ids.
///
/// # Errors
/// Empty lists, reversed ranges, ids over 4095 and anything that is not a number.
pub fn cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (cpu_id(a)?, cpu_id(b)?),
            None => (cpu_id(part)?, cpu_id(part)?),
        };
        if first > last {
            return Err(format!("CPU range `{part}` runs backwards"));
        }
        cpus.extend(first..=last);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

fn cpu_id(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(id) if id <= CPU_ID_MAX => Ok(id),
        Ok(id) => Err(format!("CPU {id} is over {CPU_ID_MAX}")),
        Err(_) => Err(format!("`{text}` is not a CPU number (expected a list like 0, 0-3 or 1,3)")),
    }
}

/// Parses a duration: a number with a unit `ms`, `s`, `m` or `h` (`10s`, `500ms`, `1.5s`);
/// a bare number means seconds.
///
/// # Errors
/// Unknown units, negative or non-finite numbers.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("`{other}` is not a duration unit (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_follow_taskset_syntax() {
        assert_eq!(cpu_list("0"), Ok(vec![0]));
        assert_eq!(cpu_list("0-3"), Ok(vec![0, 1, 2, 3]));
        assert_eq!(cpu_list("1,3"), Ok(vec![1, 3]));
        assert_eq!(cpu_list("3, 0-1,1"), Ok(vec![0, 1, 3]));
        assert!(cpu_list("").is_err());
        assert!(cpu_list("3-1").is_err());
        assert!(cpu_list("a").is_err());
        assert!(cpu_list("5000").is_err());
    }

    #[test]
    fn durations_take_common_units() {
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert!(duration("10 parsecs").is_err());
        assert!(duration("-1s").is_err());
        assert!(duration("s").is_err());
    }
}
