//! Seeded, reproducible simulation: up to 8 cores, each with its own [`Registry`] over one
//! [`ShardMap`], driven by random operations and checked step by step against a reference model.
//!
//! Replay a failure with `RINGMCP_SIM_SEED=<seed> cargo test -p ringmcp-shards simulation`
//! (decimal or `0x` hex); that seed then runs first, before the fixed ones.

use super::*;
use std::collections::BTreeMap;

/// Fixed seeds run on every `cargo test`.
const SIM_SEEDS: [u64; 8] =
    [0, 1, 2, 0x5eed, 0xdead_beef, 0x0123_4567_89ab_cdef, 0xffff_ffff_ffff_ffff, 0x9e37_79b9_7f4a_7c15];
const SIM_SEED_ENV: &str = "RINGMCP_SIM_SEED";
const SIM_STEPS: u64 = 20_000;
const SIM_CORES_MAX: u64 = 8;
const SIM_CAPACITY_MAX: u64 = 300;
/// Idle timeouts drawn up to this, on the scale of the time steps, so sessions both expire and
/// survive by activity.
const SIM_IDLE_MS_MAX: u64 = 5_000;
const SIM_TIME_STEP_MS_MAX: u64 = 3_000;
/// How far behind `now` a core's clock may lag on a lookup.
const SIM_CLOCK_LAG_MS_MAX: u64 = 100;
const SIM_SWEEP_MAX: u64 = 16;

#[test]
fn simulation_matches_reference_model_across_seeds() {
    let replay = std::env::var(SIM_SEED_ENV).ok().map(|text| parse_seed(&text));
    for seed in replay.into_iter().chain(SIM_SEEDS) {
        Sim::new(seed).run();
    }
}

fn parse_seed(text: &str) -> u64 {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{SIM_SEED_ENV}={text:?} is not a u64 (decimal or 0x hex)"))
}

/// The model's view of one live-or-expired, not yet removed session.
#[derive(Clone, Copy, Debug)]
struct ModelEntry {
    core: usize,
    value: u64,
    expiry: Expiry,
    last_seen_ms: u64,
}

impl ModelEntry {
    /// Written from the contract, not from the implementation: idle time `>= IdleMs` is expired.
    fn is_live(&self, now_ms: u64) -> bool {
        match self.expiry {
            Expiry::Never => true,
            Expiry::IdleMs(idle_ms) => now_ms < self.last_seen_ms.saturating_add(idle_ms),
        }
    }
}

struct Sim {
    seed: u64,
    step: u64,
    rng: SplitMix64,
    map: ShardMap,
    capacity: usize,
    registries: Vec<Registry<u64>>,
    model: BTreeMap<SessionId, ModelEntry>,
    /// Every id ever minted, including removed ones and ones refused for capacity.
    known: Vec<SessionId>,
    now_ms: u64,
    next_value: u64,
}

/// `assert!` that names the seed and step, so a failure can be replayed.
macro_rules! check {
    ($sim:expr, $cond:expr, $($what:tt)+) => {
        assert!(
            $cond,
            "seed {:#x} step {}: {} (replay: {}={:#x})",
            $sim.seed, $sim.step, format_args!($($what)+), SIM_SEED_ENV, $sim.seed
        )
    };
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = SplitMix64(seed);
        let cores = 1 + rng.below(SIM_CORES_MAX) as usize;
        let shard_count_min_log2 = cores.next_power_of_two().trailing_zeros();
        let shard_count_log2 = rng.range(u64::from(shard_count_min_log2), 8) as u32;
        let map = ShardMap::new(1 << shard_count_log2, cores).expect("simulated map is valid");
        let capacity = 1 + rng.below(SIM_CAPACITY_MAX) as usize;
        let registries = (0..cores).map(|core| Registry::new(map, core, capacity)).collect();
        let now_ms = rng.below(1 << 40);
        Sim {
            seed,
            step: 0,
            rng,
            map,
            capacity,
            registries,
            model: BTreeMap::new(),
            known: Vec::new(),
            now_ms,
            next_value: 0,
        }
    }

    fn run(&mut self) {
        for step in 0..SIM_STEPS {
            self.step = step;
            match self.rng.below(100) {
                0..=29 => self.mint_and_insert(),
                30..=59 => self.lookup_on_owner(),
                60..=64 => self.lookup_on_non_owner(),
                65..=74 => self.remove(),
                75..=86 => self.advance_time(),
                87..=94 => self.expire_idle(),
                95..=96 => self.set_expiry(),
                97 => self.insert_held_id(),
                _ => self.check_all(),
            }
        }
        self.step = SIM_STEPS;
        self.drain();
    }

    fn mint_and_insert(&mut self) {
        let core = self.rng.below(self.cores() as u64) as usize;
        let rng = &mut self.rng;
        let id = self.registries[core].mint_id(&mut || rng.next_u128());
        let id = id.unwrap_or_else(|error| panic!("seed {:#x}: mint failed: {error}", self.seed));
        check!(self, self.map.owner_of(id.as_bytes()) == core, "minted {id} not owned by {core}");
        check!(self, !self.model.contains_key(&id), "minted {id} is in use");
        self.known.push(id);
        let expiry = match self.rng.below(10) {
            0..=2 => Expiry::Never,
            3 => Expiry::IdleMs(self.rng.below(3)),
            _ => Expiry::IdleMs(self.rng.below(SIM_IDLE_MS_MAX)),
        };
        let value = self.next_value;
        self.next_value += 1;
        let held = self.held_on(core);
        let result = self.registries[core].insert(id, value, expiry, self.now_ms);
        if held >= self.capacity {
            let full = Err(RegistryError::Full { capacity: self.capacity });
            check!(self, result == full, "insert at {held} sessions gave {result:?}");
        } else {
            check!(self, result == Ok(()), "insert at {held} sessions gave {result:?}");
            let entry = ModelEntry { core, value, expiry, last_seen_ms: self.now_ms };
            self.model.insert(id, entry);
        }
    }

    fn lookup_on_owner(&mut self) {
        let Some(id) = self.pick_known() else { return };
        let owner = self.map.owner_of(id.as_bytes());
        let now_ms = self.lookup_clock();
        let expected = self.model.get(&id).filter(|entry| entry.is_live(now_ms)).map(|e| e.value);
        let touch = self.rng.below(2) == 0;
        let found = if touch {
            self.registries[owner].get_mut(&id, now_ms).copied()
        } else {
            self.registries[owner].get(&id, now_ms).copied()
        };
        check!(self, found == expected, "{id} at {now_ms} on owner {owner}: got {found:?}");
        if touch && found.is_some() {
            let entry = self.model.get_mut(&id).expect("found implies modelled");
            entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
        }
    }

    fn lookup_on_non_owner(&mut self) {
        let Some(id) = self.pick_known() else { return };
        let Some(core) = self.pick_non_owner(&id) else {
            return;
        };
        let now_ms = self.now_ms;
        let registry = &mut self.registries[core];
        let (got, got_mut) = (registry.get(&id, now_ms).is_some(), registry.get_mut(&id, now_ms).is_some());
        let removed = registry.remove(&id).is_some();
        check!(self, !got && !got_mut && !removed, "{id} found on non-owner core {core}");
    }

    fn remove(&mut self) {
        let Some(id) = self.pick_known() else { return };
        let owner = self.map.owner_of(id.as_bytes());
        let removed = self.registries[owner].remove(&id);
        let expected = self.model.remove(&id).map(|entry| entry.value);
        check!(self, removed == expected, "remove {id} on {owner}: got {removed:?}");
    }

    fn advance_time(&mut self) {
        let step_ms = if self.rng.below(100) == 0 {
            self.rng.below(100 * SIM_TIME_STEP_MS_MAX)
        } else {
            self.rng.below(SIM_TIME_STEP_MS_MAX)
        };
        self.now_ms += step_ms;
    }

    fn expire_idle(&mut self) {
        let core = self.rng.below(self.cores() as u64) as usize;
        let max = if self.rng.below(5) == 0 { usize::MAX } else { self.rng.below(SIM_SWEEP_MAX) as usize };
        let now_ms = self.now_ms;
        let expired = self.registries[core].expire_idle(now_ms, max);
        check!(self, expired.len() <= max, "swept {} > max {max}", expired.len());
        for (id, value) in expired {
            let entry = self.model.remove(&id);
            let entry = entry.unwrap_or_else(|| panic!("seed {:#x}: swept unknown {id}", self.seed));
            check!(self, entry.core == core && entry.value == value, "swept {id} wrongly");
            check!(self, !entry.is_live(now_ms), "swept live {id} at {now_ms}: {entry:?}");
        }
        if max == usize::MAX {
            let left = self.model.values().filter(|e| e.core == core && !e.is_live(now_ms)).count();
            check!(self, left == 0, "full sweep of core {core} left {left} expired sessions");
        }
    }

    /// Changing the expiry of a known id works only while it is held and live on its owner.
    fn set_expiry(&mut self) {
        let Some(id) = self.pick_known() else { return };
        let owner = self.map.owner_of(id.as_bytes());
        let now_ms = self.lookup_clock();
        let expiry = match self.rng.below(4) {
            0 => Expiry::Never,
            _ => Expiry::IdleMs(self.rng.below(SIM_IDLE_MS_MAX)),
        };
        let live = self.model.get(&id).is_some_and(|entry| entry.is_live(now_ms));
        let changed = self.registries[owner].set_expiry(&id, expiry, now_ms);
        check!(self, changed == live, "set_expiry of {id} at {now_ms} gave {changed}, live {live}");
        if changed {
            self.model.get_mut(&id).expect("live implies modelled").expiry = expiry;
        }
    }

    /// Inserting a held id fails with Duplicate on its owner and NotOwned anywhere else.
    fn insert_held_id(&mut self) {
        if self.model.is_empty() {
            return;
        }
        let nth = self.rng.below(self.model.len() as u64) as usize;
        let (&id, &entry) = self.model.iter().nth(nth).expect("nth below len");
        let result = self.registries[entry.core].insert(id, u64::MAX, Expiry::Never, self.now_ms);
        check!(self, result == Err(RegistryError::Duplicate), "reinsert {id} gave {result:?}");
        let Some(core) = self.pick_non_owner(&id) else {
            return;
        };
        let shard = self.map.shard_of(id.as_bytes());
        let not_owned = Err(RegistryError::NotOwned { shard, owner: entry.core, core });
        let result = self.registries[core].insert(id, u64::MAX, Expiry::Never, self.now_ms);
        check!(self, result == not_owned, "insert {id} on non-owner {core} gave {result:?}");
    }

    fn check_all(&self) {
        for (core, registry) in self.registries.iter().enumerate() {
            registry.verify();
            check!(self, registry.len() == self.held_on(core), "core {core} len {}", registry.len());
            let mut held: Vec<(SessionId, u64)> = registry.iter().map(|(id, v)| (*id, *v)).collect();
            held.sort_unstable();
            let modelled: Vec<(SessionId, u64)> = (self.model.iter())
                .filter(|(_, entry)| entry.core == core)
                .map(|(id, entry)| (*id, entry.value))
                .collect();
            check!(self, held == modelled, "core {core} iter differs from the model");
        }
    }

    /// Ends every run the same way: sweep everything, remove what never expires, all empty.
    fn drain(&mut self) {
        self.check_all();
        for core in 0..self.cores() {
            for (id, _) in self.registries[core].expire_idle(u64::MAX, usize::MAX) {
                let entry = self.model.remove(&id);
                check!(self, entry.is_some_and(|e| e.expiry != Expiry::Never), "drained {id}");
            }
        }
        for (id, entry) in std::mem::take(&mut self.model) {
            check!(self, entry.expiry == Expiry::Never, "{id} survived the final sweep");
            let removed = self.registries[entry.core].remove(&id);
            check!(self, removed == Some(entry.value), "final remove of {id} gave {removed:?}");
        }
        for registry in &self.registries {
            registry.verify();
            check!(self, registry.is_empty(), "core {} not empty", registry.core());
        }
    }

    fn cores(&self) -> usize {
        self.map.cores()
    }

    fn held_on(&self, core: usize) -> usize {
        self.model.values().filter(|entry| entry.core == core).count()
    }

    fn pick_known(&mut self) -> Option<SessionId> {
        if self.known.is_empty() {
            return None;
        }
        Some(self.known[self.rng.below(self.known.len() as u64) as usize])
    }

    fn pick_non_owner(&mut self, id: &SessionId) -> Option<usize> {
        let cores = self.cores();
        if cores == 1 {
            return None;
        }
        let owner = self.map.owner_of(id.as_bytes());
        let core = (owner + 1 + self.rng.below(cores as u64 - 1) as usize) % cores;
        debug_assert_ne!(core, owner);
        Some(core)
    }

    /// Usually `now`; sometimes a core whose clock lags a little (each core reads its own).
    fn lookup_clock(&mut self) -> u64 {
        if self.rng.below(10) == 0 {
            self.now_ms.saturating_sub(self.rng.below(SIM_CLOCK_LAG_MS_MAX))
        } else {
            self.now_ms
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // A panic inside the registry (an internal assert) carries no seed; say it here.
        if std::thread::panicking() {
            eprintln!(
                "simulation failed: seed {:#x} step {}; replay: {SIM_SEED_ENV}={:#x}",
                self.seed, self.step, self.seed
            );
        }
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): tiny, seedable from any u64, good enough to drive tests.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// Uniform-enough in `0..n` (modulo bias is irrelevant for driving tests); `n >= 1`.
    fn below(&mut self, n: u64) -> u64 {
        assert!(n >= 1);
        self.next_u64() % n
    }

    /// In `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high);
        low + self.below(high - low + 1)
    }
}
