//! The open-loop schedule: fixed intended send times, independent of when answers come.
//!
//! A total rate R over N connections gives each connection a period of N/R seconds;
//! connection i starts `phase` = i/N of a period late, so the sends of all connections
//! together are evenly spaced 1/R apart. Latency is measured from these intended times (the
//! coordinated-omission correction), never from when the request actually left. No I/O here.

/// The intended send times of one connection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    first_ns: u64,
    period_ns: f64,
    end_ns: u64,
}

impl Schedule {
    /// The schedule of one of `connections` connections sharing `rate_per_s` requests/s,
    /// offset by `phase` (in `[0, 1)`) of its period, starting at `start_ns` and sending
    /// nothing intended at or after `end_ns`.
    pub fn new(rate_per_s: f64, connections: u64, phase: f64, start_ns: u64, end_ns: u64) -> Schedule {
        assert!(rate_per_s > 0.0 && rate_per_s.is_finite(), "rate must be positive");
        assert!((0.0..1.0).contains(&phase), "phase is a fraction of the period");
        let period_ns = connections.max(1) as f64 * 1e9 / rate_per_s;
        let offset_ns = period_ns * phase;
        Schedule { first_ns: start_ns + offset_ns as u64, period_ns, end_ns }
    }

    /// The intended send time of the k-th request (k from 0).
    pub fn intended_ns(&self, k: u64) -> u64 {
        self.first_ns + (k as f64 * self.period_ns) as u64
    }

    /// How many requests are due by `now_ns` (intended at or before it, and before the end).
    pub fn due_by(&self, now_ns: u64) -> u64 {
        let until = now_ns.min(self.end_ns.saturating_sub(1));
        if until < self.first_ns {
            return 0;
        }
        let mut k = ((until - self.first_ns) as f64 / self.period_ns) as u64 + 1;
        // Float rounding can be off by one either way: settle on the exact boundary.
        while k > 0 && self.intended_ns(k - 1) > until {
            k -= 1;
        }
        while self.intended_ns(k) <= until {
            k += 1;
        }
        k
    }

    /// How many requests the whole schedule holds (intended before the end).
    pub fn total(&self) -> u64 {
        self.due_by(self.end_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_connection_sends_at_fixed_intervals() {
        let s = Schedule::new(1000.0, 1, 0.0, 5_000, 1_000_005_000);
        assert_eq!(s.intended_ns(0), 5_000);
        assert_eq!(s.intended_ns(3), 3_005_000);
        assert_eq!(s.due_by(4_999), 0);
        assert_eq!(s.due_by(5_000), 1);
        assert_eq!(s.due_by(3_004_999), 3);
        assert_eq!(s.due_by(3_005_000), 4);
        assert_eq!(s.total(), 1000);
    }

    #[test]
    fn connections_interleave_evenly() {
        let (rate, n) = (4000.0, 4);
        let schedule = |i: u64| Schedule::new(rate, n, i as f64 / n as f64, 0, u64::MAX);
        let mut times: Vec<u64> = (0..n).flat_map(|i| (0..3).map(move |k| schedule(i).intended_ns(k))).collect();
        times.sort_unstable();
        let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g == 250_000), "{gaps:?}");
    }

    #[test]
    fn total_matches_rate_times_duration_across_connections() {
        let end = 2_000_000_000;
        let total: u64 = (0..7).map(|i| Schedule::new(3333.0, 7, i as f64 / 7.0, 0, end).total()).sum();
        assert!((6660..=6672).contains(&total), "{total}");
    }

    #[test]
    fn nothing_is_due_at_or_after_the_end() {
        let s = Schedule::new(10.0, 1, 0.0, 0, 1_000_000_000);
        assert_eq!(s.due_by(u64::MAX), 10);
        assert_eq!(s.intended_ns(9), 900_000_000);
    }
}
