//! Unit tests: one per error and behaviour of the public API.

use super::*;

fn map(shard_count: u32, cores: usize) -> ShardMap {
    ShardMap::new(shard_count, cores).expect("valid shard map")
}

/// Entropy for tests: splitmix64 steps widened to 128 bits; deterministic per seed.
fn entropy(seed: u64) -> impl FnMut() -> u128 {
    let mut state = seed;
    move || {
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            fmix64(state)
        };
        (u128::from(next()) << 64) | u128::from(next())
    }
}

/// A fresh id owned by `core` of `map`, not necessarily unused.
fn owned_id(map: ShardMap, core: usize, seed: u64) -> SessionId {
    let mut random = entropy(seed);
    loop {
        let id = SessionId::from_random(random());
        if map.owner_of(id.as_bytes()) == core {
            return id;
        }
    }
}

#[test]
fn shard_map_rejects_shard_count_not_power_of_two() {
    for got in [0, 3, 6, 100, 255, 257, 65_535, u32::MAX] {
        assert_eq!(ShardMap::new(got, 1), Err(ShardError::ShardCountNotPowerOfTwo { got }));
    }
}

#[test]
fn shard_map_rejects_shard_count_above_max() {
    for got in [SHARD_COUNT_MAX * 2, 1 << 31] {
        assert_eq!(ShardMap::new(got, 1), Err(ShardError::ShardCountOutOfRange { got, max: SHARD_COUNT_MAX }));
    }
}

#[test]
fn shard_map_rejects_zero_cores() {
    assert_eq!(ShardMap::new(DEFAULT_SHARD_COUNT, 0), Err(ShardError::NoCores));
}

#[test]
fn shard_map_rejects_more_cores_than_shards() {
    assert_eq!(ShardMap::new(8, 9), Err(ShardError::MoreCoresThanShards { cores: 9, shards: 8 }));
    assert_eq!(ShardMap::new(1, 2), Err(ShardError::MoreCoresThanShards { cores: 2, shards: 1 }));
}

#[test]
fn shard_map_accepts_extremes() {
    let single = map(1, 1);
    assert_eq!((single.shard_count(), single.cores()), (1, 1));
    assert_eq!(single.shard_of(b"anything"), 0);
    let widest = map(SHARD_COUNT_MAX, SHARD_COUNT_MAX as usize);
    assert_eq!(widest.owned_shards(SHARD_COUNT_MAX as usize - 1).collect::<Vec<_>>(), [65_535]);
    assert_eq!(map(DEFAULT_SHARD_COUNT, 12).cores(), 12);
}

#[test]
fn every_shard_has_exactly_one_owner() {
    for (shard_count, cores) in [(1, 1), (2, 1), (8, 8), (16, 3), (256, 1), (256, 7), (256, 12)] {
        let map = map(shard_count, cores);
        let mut owners = vec![None; shard_count as usize];
        for core in 0..cores {
            let owned: Vec<u32> = map.owned_shards(core).collect();
            assert_eq!(owned.len(), map.owned_shard_count(core));
            for shard in owned {
                assert_eq!(map.owner(shard), core);
                assert_eq!(owners[shard as usize].replace(core), None, "shard {shard} owned twice");
            }
        }
        assert!(owners.iter().all(Option::is_some), "{shard_count}/{cores}: unowned shard");
    }
}

#[test]
fn owned_shard_counts_differ_by_at_most_one() {
    let map = map(DEFAULT_SHARD_COUNT, 12);
    let counts: Vec<usize> = (0..12).map(|core| map.owned_shards(core).count()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 256);
    assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
}

#[test]
#[should_panic(expected = "shard 256 out of range")]
fn owner_panics_on_shard_out_of_range() {
    map(DEFAULT_SHARD_COUNT, 4).owner(DEFAULT_SHARD_COUNT);
}

#[test]
#[should_panic(expected = "core 4 out of range")]
fn owned_shards_panics_on_core_out_of_range() {
    let _ = map(DEFAULT_SHARD_COUNT, 4).owned_shards(4);
}

#[test]
fn stable_hash_is_fnv1a_then_fmix64() {
    // FNV-1a 64 reference vectors (Fowler/Noll/Vo test suite), then the finalizer pinned.
    let vectors: [(&[u8], u64, u64); 3] = [
        (b"", 0xcbf2_9ce4_8422_2325, 0xefd0_1f60_ba99_2926),
        (b"a", 0xaf63_dc4c_8601_ec8c, 0x82a2_a958_a9be_ce5b),
        (b"foobar", 0x8594_4171_f739_67e8, 0x2c22_1949_22d1_672b),
    ];
    for (key, fnv1a, hash) in vectors {
        assert_eq!(fmix64(fnv1a), hash);
        assert_eq!(stable_hash(key), hash, "key {key:?}");
    }
}

#[test]
fn shard_of_known_answers_are_pinned() {
    // Changing these breaks routing of every live session across a rolling restart.
    let default = map(DEFAULT_SHARD_COUNT, 1);
    let widest = map(SHARD_COUNT_MAX, 1);
    let vectors: [(&[u8], u32, u32); 7] = [
        (b"", 38, 10_534),
        (b"a", 91, 52_827),
        (b"foobar", 43, 26_411),
        (b"session", 217, 19_929),
        (b"00000000000000000000000000000000", 55, 3_639),
        (b"0123456789abcdef0123456789abcdef", 243, 22_259),
        (b"ffffffffffffffffffffffffffffffff", 162, 15_010),
    ];
    for (key, shard_256, shard_65536) in vectors {
        assert_eq!(default.shard_of(key), shard_256, "key {key:?}");
        assert_eq!(widest.shard_of(key), shard_65536, "key {key:?}");
    }
}

#[test]
fn shard_of_spreads_session_ids_evenly() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let mut counts = [0u32; DEFAULT_SHARD_COUNT as usize];
    // Sequential counters are the worst case for a weak hash: the ids differ in a few nibbles.
    for bits in 0..(256 * 256) {
        counts[map.shard_of(SessionId::from_random(bits).as_bytes()) as usize] += 1;
    }
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(*min >= 256 * 3 / 4 && *max <= 256 * 5 / 4, "shard load {min}..={max}, mean 256");
}

#[test]
fn session_id_from_random_is_lowercase_hex_most_significant_first() {
    assert_eq!(SessionId::from_random(0).as_str(), "00000000000000000000000000000000");
    assert_eq!(SessionId::from_random(u128::MAX).as_str(), "ffffffffffffffffffffffffffffffff");
    let bits = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    assert_eq!(SessionId::from_random(bits).as_str(), "0123456789abcdeffedcba9876543210");
    assert_eq!(SessionId::from_random(bits).as_bytes().len(), SESSION_ID_LEN);
}

#[test]
fn session_id_parse_roundtrips_minted_ids() {
    let mut random = entropy(7);
    for _ in 0..1000 {
        let id = SessionId::from_random(random());
        assert_eq!(SessionId::parse(id.as_bytes()), Ok(id));
        assert_eq!(SessionId::parse(id.to_string().as_bytes()), Ok(id));
    }
}

#[test]
fn session_id_parse_rejects_wrong_length() {
    for got in [0, 1, SESSION_ID_LEN - 1, SESSION_ID_LEN + 1, 1000] {
        let input = vec![b'a'; got];
        assert_eq!(SessionId::parse(&input), Err(SessionIdError::WrongLength { got }));
    }
}

#[test]
fn session_id_parse_rejects_uppercase_and_non_hex() {
    let valid = SessionId::from_random(0xabc).0;
    for (index, byte) in [(0, b'A'), (5, b'F'), (31, b'g'), (10, b' '), (17, 0), (3, 0xff)] {
        let mut input = valid;
        input[index] = byte;
        assert_eq!(SessionId::parse(&input), Err(SessionIdError::InvalidByte { index, byte }));
    }
}

#[test]
fn session_id_display_and_debug_print_the_hex() {
    let id = SessionId::from_random(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
    assert_eq!(format!("{id}"), "0123456789abcdeffedcba9876543210");
    assert_eq!(format!("{id:?}"), "0123456789abcdeffedcba9876543210");
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn registry_new_panics_on_zero_capacity() {
    let _ = Registry::<()>::new(map(DEFAULT_SHARD_COUNT, 2), 0, 0);
}

#[test]
#[should_panic(expected = "core 2 out of range")]
fn registry_new_panics_on_core_out_of_range() {
    let _ = Registry::<()>::new(map(DEFAULT_SHARD_COUNT, 2), 2, 10);
}

#[test]
fn registry_has_tables_only_for_owned_shards() {
    let map = map(DEFAULT_SHARD_COUNT, 12);
    for core in 0..12 {
        let registry = Registry::<()>::new(map, core, 10);
        assert_eq!(registry.tables.len(), map.owned_shards(core).count());
        assert_eq!((registry.core(), registry.map(), registry.capacity()), (core, map, 10));
        assert!(registry.is_empty());
    }
}

#[test]
fn mint_id_is_owned_and_unused() {
    let map = map(DEFAULT_SHARD_COUNT, 5);
    let mut random = entropy(42);
    for core in 0..5 {
        let mut registry = Registry::new(map, core, 500);
        for n in 0..500 {
            let id = registry.mint_id(&mut random).expect("mint");
            assert_eq!(map.owner_of(id.as_bytes()), core);
            registry.insert(id, n, Expiry::Never, 0).expect("minted ids are fresh");
        }
        assert_eq!(registry.len(), 500);
        registry.verify();
    }
}

#[test]
fn mint_id_skips_ids_in_use() {
    let map = map(DEFAULT_SHARD_COUNT, 3);
    let taken = owned_id(map, 1, 1);
    let fresh = owned_id(map, 1, 2);
    let mut registry = Registry::new(map, 1, 10);
    registry.insert(taken, (), Expiry::IdleMs(5), 0).unwrap();
    // Held but idle-expired still counts as in use: its slot is not free until swept.
    let taken_bits = u128::from_str_radix(taken.as_str(), 16).unwrap();
    let fresh_bits = u128::from_str_radix(fresh.as_str(), 16).unwrap();
    let mut draws = [taken_bits, taken_bits, fresh_bits].into_iter();
    assert_eq!(registry.mint_id(&mut || draws.next().unwrap()), Ok(fresh));
}

#[test]
fn mint_id_exhausts_after_max_attempts_of_foreign_ids() {
    let map = map(DEFAULT_SHARD_COUNT, 2);
    let foreign = owned_id(map, 0, 3);
    let bits = u128::from_str_radix(foreign.as_str(), 16).unwrap();
    let registry = Registry::<()>::new(map, 1, 10);
    let mut draws: u32 = 0;
    let result = registry.mint_id(&mut || {
        draws += 1;
        bits
    });
    assert_eq!(result, Err(RegistryError::MintExhausted));
    assert_eq!(draws, MINT_ATTEMPTS_MAX);
}

#[test]
fn insert_rejects_ids_owned_by_another_core() {
    let map = map(DEFAULT_SHARD_COUNT, 4);
    let id = owned_id(map, 3, 9);
    let shard = map.shard_of(id.as_bytes());
    let mut registry = Registry::new(map, 1, 10);
    assert_eq!(registry.insert(id, (), Expiry::Never, 0), Err(RegistryError::NotOwned { shard, owner: 3, core: 1 }));
    assert!(registry.is_empty());
}

#[test]
fn insert_rejects_duplicates_even_when_idle_expired() {
    let map = map(DEFAULT_SHARD_COUNT, 2);
    let id = owned_id(map, 0, 4);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, 1, Expiry::IdleMs(10), 0).unwrap();
    assert_eq!(registry.insert(id, 2, Expiry::Never, 5), Err(RegistryError::Duplicate));
    assert_eq!(registry.insert(id, 2, Expiry::Never, 1000), Err(RegistryError::Duplicate));
    assert_eq!(registry.get(&id, 5), Some(&1));
    registry.verify();
}

#[test]
fn insert_rejects_when_full_until_a_slot_frees() {
    let map = map(DEFAULT_SHARD_COUNT, 2);
    let mut random = entropy(5);
    let mut registry = Registry::new(map, 1, 3);
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = registry.mint_id(&mut random).unwrap();
        registry.insert(id, n, Expiry::IdleMs(100), 0).unwrap();
        ids.push(id);
    }
    let extra = registry.mint_id(&mut random).unwrap();
    assert_eq!(registry.insert(extra, 3, Expiry::Never, 0), Err(RegistryError::Full { capacity: 3 }));
    // Expired but unswept sessions still occupy their slot.
    assert_eq!(registry.insert(extra, 3, Expiry::Never, 500), Err(RegistryError::Full { capacity: 3 }));
    assert_eq!(registry.remove(&ids[0]), Some(0));
    registry.insert(extra, 3, Expiry::Never, 500).unwrap();
    assert_eq!(registry.len(), 3);
    registry.verify();
}

#[test]
fn lookup_at_exact_idle_deadline_misses() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let id = owned_id(map, 0, 6);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, 'v', Expiry::IdleMs(1000), 5000).unwrap();
    assert_eq!(registry.get(&id, 5999), Some(&'v'));
    assert_eq!(registry.get(&id, 6000), None);
    assert_eq!(registry.get_mut(&id, 6000), None);
    // A miss on an expired session does not revive it.
    assert_eq!(registry.get(&id, 5999), Some(&'v'));
    assert_eq!(registry.len(), 1);
}

#[test]
fn idle_ms_zero_is_expired_at_once() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let id = owned_id(map, 0, 7);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, (), Expiry::IdleMs(0), 10).unwrap();
    assert_eq!(registry.get(&id, 10), None);
    assert_eq!(registry.expire_idle(10, 10), vec![(id, ())]);
}

#[test]
fn never_expiry_survives_any_idle_time() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let id = owned_id(map, 0, 8);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, (), Expiry::Never, 0).unwrap();
    assert_eq!(registry.get(&id, u64::MAX), Some(&()));
    assert!(registry.expire_idle(u64::MAX, usize::MAX).is_empty());
    assert_eq!(registry.len(), 1);
    registry.verify();
}

#[test]
fn huge_idle_ms_saturates_instead_of_overflowing() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let id = owned_id(map, 0, 9);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, (), Expiry::IdleMs(u64::MAX), 1).unwrap();
    assert_eq!(registry.get(&id, u64::MAX - 1), Some(&()));
    assert!(registry.expire_idle(u64::MAX - 1, 10).is_empty());
    registry.verify();
}

#[test]
fn get_mut_refreshes_last_seen_but_get_does_not() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let (a, b) = (owned_id(map, 0, 10), owned_id(map, 0, 11));
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(a, 'a', Expiry::IdleMs(100), 0).unwrap();
    registry.insert(b, 'b', Expiry::IdleMs(100), 0).unwrap();
    *registry.get_mut(&a, 90).unwrap() = 'A';
    assert_eq!(registry.get(&b, 90), Some(&'b'));
    assert_eq!(registry.get(&a, 150), Some(&'A'));
    assert_eq!(registry.get(&b, 150), None);
    assert_eq!(registry.get(&a, 190), None);
}

#[test]
fn get_mut_with_stale_clock_does_not_rewind_last_seen() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let id = owned_id(map, 0, 12);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, (), Expiry::IdleMs(100), 1000).unwrap();
    assert!(registry.get_mut(&id, 500).is_some());
    assert!(registry.get(&id, 1099).is_some());
    assert!(registry.get(&id, 1100).is_none());
    registry.verify();
}

#[test]
fn lookup_on_non_owner_core_always_misses() {
    let map = map(DEFAULT_SHARD_COUNT, 4);
    let mut registries: Vec<Registry<u32>> = (0..4).map(|core| Registry::new(map, core, 64)).collect();
    let mut random = entropy(13);
    let mut ids = Vec::new();
    for n in 0..64 {
        let core = n as usize % 4;
        let id = registries[core].mint_id(&mut random).unwrap();
        registries[core].insert(id, n, Expiry::Never, 0).unwrap();
        ids.push((id, n));
    }
    for (id, n) in ids {
        let owner = map.owner_of(id.as_bytes());
        for (core, registry) in registries.iter_mut().enumerate() {
            let expected = (core == owner).then_some(n);
            assert_eq!(registry.get(&id, 0).copied(), expected);
            assert_eq!(registry.get_mut(&id, 0).copied(), expected);
            if core != owner {
                assert_eq!(registry.remove(&id), None);
            }
        }
    }
}

#[test]
fn remove_returns_value_even_after_idle_deadline() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let id = owned_id(map, 0, 14);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, "gone", Expiry::IdleMs(10), 0).unwrap();
    assert_eq!(registry.get(&id, 10), None);
    assert_eq!(registry.remove(&id), Some("gone"));
    assert_eq!(registry.remove(&id), None);
    assert!(registry.is_empty());
    assert!(registry.expire_idle(u64::MAX, usize::MAX).is_empty());
    registry.verify();
}

#[test]
fn expire_idle_removes_only_expired_and_at_most_max() {
    let map = map(DEFAULT_SHARD_COUNT, 2);
    let mut random = entropy(15);
    let mut registry = Registry::new(map, 0, 100);
    let mut ids = Vec::new();
    for n in 0..20u64 {
        let id = registry.mint_id(&mut random).unwrap();
        let expiry = if n % 5 == 0 { Expiry::Never } else { Expiry::IdleMs(10 * n) };
        registry.insert(id, n, expiry, 0).unwrap();
        ids.push(id);
    }
    // At t=100: IdleMs(10..=100) with n not a multiple of 5, i.e. n in 1..=10 minus 5 and 10.
    let first = registry.expire_idle(100, 3);
    assert_eq!(first.iter().map(|&(_, n)| n).collect::<Vec<_>>(), [1, 2, 3]);
    let rest = registry.expire_idle(100, usize::MAX);
    assert_eq!(rest.iter().map(|&(_, n)| n).collect::<Vec<_>>(), [4, 6, 7, 8, 9]);
    for (id, n) in first.iter().chain(&rest) {
        assert_eq!(*id, ids[*n as usize]);
    }
    assert_eq!(registry.len(), 12);
    assert!(registry.expire_idle(u64::MAX, 0).is_empty());
    assert_eq!(registry.len(), 12);
    registry.verify();
}

#[test]
fn expire_idle_keeps_sessions_active_since_indexed() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let (active, idle) = (owned_id(map, 0, 16), owned_id(map, 0, 17));
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(active, 'a', Expiry::IdleMs(100), 0).unwrap();
    registry.insert(idle, 'i', Expiry::IdleMs(100), 0).unwrap();
    assert!(registry.get_mut(&active, 60).is_some());
    assert_eq!(registry.expire_idle(100, 10), vec![(idle, 'i')]);
    registry.verify();
    assert!(registry.expire_idle(159, 10).is_empty());
    assert_eq!(registry.expire_idle(160, 10), vec![(active, 'a')]);
    registry.verify();
}

#[test]
fn expire_idle_work_is_bounded_by_max() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let mut random = entropy(18);
    let mut registry = Registry::new(map, 0, 100);
    let mut ids = Vec::new();
    for _ in 0..50 {
        let id = registry.mint_id(&mut random).unwrap();
        registry.insert(id, (), Expiry::IdleMs(10), 0).unwrap();
        ids.push(id);
    }
    for id in &ids {
        registry.get_mut(id, 5).unwrap();
    }
    // Every record is due at t=10 but every session is active: each call re-keys at most max.
    assert!(registry.expire_idle(10, 4).is_empty());
    let rekeyed = registry.deadlines.iter().filter(|(deadline_ms, _)| *deadline_ms == 15).count();
    assert_eq!(rekeyed, 4);
    registry.verify();
    assert_eq!(registry.expire_idle(15, usize::MAX).len(), 50);
    assert!(registry.is_empty());
    registry.verify();
}

#[test]
fn iter_yields_every_held_session() {
    let map = map(DEFAULT_SHARD_COUNT, 3);
    let mut random = entropy(19);
    let mut registry = Registry::new(map, 2, 100);
    let mut expected = Vec::new();
    for n in 0..40 {
        let id = registry.mint_id(&mut random).unwrap();
        registry.insert(id, n, Expiry::IdleMs(1), 0).unwrap();
        expected.push((id, n));
    }
    let mut seen: Vec<(SessionId, i32)> = registry.iter().map(|(id, n)| (*id, *n)).collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn errors_display_carries_the_numbers() {
    let cases: [(Box<dyn std::error::Error>, &str); 9] = [
        (Box::new(ShardError::ShardCountNotPowerOfTwo { got: 100 }), "shard count 100 is not a power of two"),
        (
            Box::new(ShardError::ShardCountOutOfRange { got: 131_072, max: 65_536 }),
            "shard count 131072 is out of range 1..=65536",
        ),
        (Box::new(ShardError::NoCores), "no cores: a shard map needs at least 1 core"),
        (
            Box::new(ShardError::MoreCoresThanShards { cores: 12, shards: 8 }),
            "12 cores but only 8 shards: every core must own at least 1 shard",
        ),
        (Box::new(SessionIdError::WrongLength { got: 5 }), "session id is 5 bytes long, expected 32"),
        (
            Box::new(SessionIdError::InvalidByte { index: 3, byte: b'G' }),
            "session id byte 3 is 0x47, expected lowercase hex [0-9a-f]",
        ),
        (Box::new(RegistryError::Full { capacity: 15_000 }), "registry full: 15000 sessions (capacity 15000)"),
        (
            Box::new(RegistryError::NotOwned { shard: 17, owner: 1, core: 3 }),
            "session shard 17 is owned by core 1, not core 3",
        ),
        (
            Box::new(RegistryError::MintExhausted),
            "no fresh session id owned by this core after 4096 random draws (is the entropy source stuck?)",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
    assert_eq!(RegistryError::Duplicate.to_string(), "session id already in use on this core");
    assert_eq!(
        SessionIdError::InvalidByte { index: 0, byte: 0xff }.to_string(),
        "session id byte 0 is 0xff, expected lowercase hex [0-9a-f]"
    );
}

#[test]
fn set_expiry_lengthens_a_short_deadline_without_refreshing_activity() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let id = owned_id(map, 0, 20);
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(id, 'h', Expiry::IdleMs(100), 1_000).unwrap();
    assert!(registry.set_expiry(&id, Expiry::IdleMs(10_000), 1_050));
    registry.verify();
    // Still counted from the insert at 1000: the change is not activity.
    assert_eq!(registry.get(&id, 10_999), Some(&'h'));
    assert_eq!(registry.get(&id, 11_000), None);
    // The old, earlier record comes due first and is re-keyed, not expired.
    assert!(registry.expire_idle(1_100, usize::MAX).is_empty());
    registry.verify();
    assert_eq!(registry.expire_idle(11_000, usize::MAX), vec![(id, 'h')]);
    registry.verify();
}

#[test]
fn set_expiry_shortens_never_and_back() {
    let map = map(DEFAULT_SHARD_COUNT, 1);
    let (a, b) = (owned_id(map, 0, 21), owned_id(map, 0, 22));
    let mut registry = Registry::new(map, 0, 10);
    registry.insert(a, 'a', Expiry::IdleMs(10_000), 0).unwrap();
    registry.insert(b, 'b', Expiry::Never, 0).unwrap();
    assert!(registry.set_expiry(&a, Expiry::IdleMs(50), 10));
    assert!(registry.set_expiry(&b, Expiry::IdleMs(60), 10));
    registry.verify();
    assert_eq!(registry.expire_idle(50, usize::MAX), vec![(a, 'a')]);
    assert_eq!(registry.expire_idle(60, usize::MAX), vec![(b, 'b')]);
    registry.insert(b, 'b', Expiry::IdleMs(5), 100).unwrap();
    assert!(registry.set_expiry(&b, Expiry::Never, 101));
    registry.verify();
    assert!(registry.expire_idle(u64::MAX, usize::MAX).is_empty());
    assert_eq!(registry.get(&b, u64::MAX), Some(&'b'));
}

#[test]
fn set_expiry_refuses_expired_unheld_and_foreign_ids() {
    let map = map(DEFAULT_SHARD_COUNT, 2);
    let (mine, foreign) = (owned_id(map, 0, 23), owned_id(map, 1, 24));
    let mut registry = Registry::new(map, 0, 10);
    assert!(!registry.set_expiry(&mine, Expiry::Never, 0), "not held");
    assert!(!registry.set_expiry(&foreign, Expiry::Never, 0), "another core's shard");
    registry.insert(mine, (), Expiry::IdleMs(10), 0).unwrap();
    assert!(!registry.set_expiry(&mine, Expiry::IdleMs(1_000), 10), "expired sessions are not revived");
    assert_eq!(registry.get(&mine, 10), None);
    assert_eq!(registry.expire_idle(10, usize::MAX), vec![(mine, ())]);
    registry.verify();
}
