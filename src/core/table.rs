//! A compact open-addressing hash table from 64-bit hashed keys to 32-bit slots, for the
//! dedup index's largest map (story ids and canonical links).
//!
//! Why not `HashMap`: a `HashMap<u64, u32>` entry is 16 bytes (padding) plus a control byte,
//! and its power-of-two growth leaves it half empty for long stretches: measured at one
//! million stories, 35 bytes per entry. Here keys and values live in two arrays (12 bytes per
//! slot), capacity grows by half when the table is 3/4 full, and linear probing keeps misses
//! cheap at that load (measured: about 20 bytes per entry). Keys are already uniform hashes;
//! 0 marks an empty slot, so a key of 0 is stored as 1 (a one-in-2^64 aliasing, accepted).
//! Removal happens only in bulk (`retain`), which rebuilds the table, so no tombstones.

/// Maximum load before growing, as a fraction of capacity (3/4).
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;

#[derive(Debug, Default, Clone)]
pub struct KeyTable {
    keys: Vec<u64>,
    vals: Vec<u32>,
    len: usize,
}

#[inline]
fn fix(k: u64) -> u64 {
    if k == 0 {
        1
    } else {
        k
    }
}

#[inline]
fn spread(k: u64) -> u64 {
    // The keys are hashes already; one multiply decorrelates tagged variants of one hash.
    k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl KeyTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn home(&self, k: u64) -> usize {
        // Multiply-shift range reduction: any capacity, not only powers of two.
        ((u128::from(spread(k)) * self.keys.len() as u128) >> 64) as usize
    }

    /// The slot holding `k`, or the empty slot where it would go (linear probing). The
    /// table is never full, so this ends.
    #[inline]
    fn probe(&self, k: u64) -> usize {
        let cap = self.keys.len();
        let mut i = self.home(k);
        while self.keys[i] != k && self.keys[i] != 0 {
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        i
    }

    pub fn get(&self, k: u64) -> Option<u32> {
        if self.keys.is_empty() {
            return None;
        }
        let i = self.probe(fix(k));
        (self.keys[i] != 0).then(|| self.vals[i])
    }

    /// Inserts `k → v` unless `k` is present; returns the value now stored.
    pub fn get_or_insert(&mut self, k: u64, v: u32) -> u32 {
        self.reserve_one();
        let k = fix(k);
        let i = self.probe(k);
        if self.keys[i] == 0 {
            self.keys[i] = k;
            self.vals[i] = v;
            self.len += 1;
        }
        self.vals[i]
    }

    /// Inserts or replaces `k → v`.
    pub fn insert(&mut self, k: u64, v: u32) {
        self.reserve_one();
        let k = fix(k);
        let i = self.probe(k);
        if self.keys[i] == 0 {
            self.len += 1;
        }
        self.keys[i] = k;
        self.vals[i] = v;
    }

    fn reserve_one(&mut self) {
        let cap = self.keys.len();
        if (self.len + 1) * MAX_LOAD_DEN > cap * MAX_LOAD_NUM {
            let new_cap = (cap + cap / 2).max(16);
            self.rebuild(new_cap, |_, _| true);
        }
    }

    fn rebuild(&mut self, cap: usize, mut keep: impl FnMut(u64, u32) -> bool) {
        let old_keys = std::mem::replace(&mut self.keys, vec![0; cap]);
        let old_vals = std::mem::replace(&mut self.vals, vec![0; cap]);
        self.len = 0;
        for (k, v) in old_keys.into_iter().zip(old_vals) {
            if k != 0 && keep(k, v) {
                let i = self.probe(k);
                self.keys[i] = k;
                self.vals[i] = v;
                self.len += 1;
            }
        }
    }

    /// Keeps the entries for which `keep(value)` holds, shrinking the table to fit.
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let survivors = self
            .keys
            .iter()
            .zip(&self.vals)
            .filter(|(k, v)| **k != 0 && keep(**v))
            .count();
        let cap = (survivors * MAX_LOAD_DEN / MAX_LOAD_NUM + 1)
            .max(16)
            .max(survivors * 4 / 3 + 1);
        self.rebuild(cap.min(self.keys.len().max(16)), |_, v| keep(v));
    }

    /// Bytes held (both arrays at capacity).
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.vals.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_finds_and_grows() {
        let mut t = KeyTable::default();
        for i in 1..=10_000u64 {
            assert_eq!(
                t.get_or_insert(i.wrapping_mul(0x1234_5678_9ABC_DEF1), i as u32),
                i as u32
            );
        }
        assert_eq!(t.len(), 10_000);
        for i in 1..=10_000u64 {
            assert_eq!(t.get(i.wrapping_mul(0x1234_5678_9ABC_DEF1)), Some(i as u32));
        }
        assert_eq!(t.get(42), None);
        assert_eq!(t.get_or_insert(0, 7), 7, "key 0 is stored");
        assert_eq!(t.get(0), Some(7));
        t.insert(0, 8);
        assert_eq!(t.get(0), Some(8));
    }

    #[test]
    fn retain_removes_and_keeps_lookups_working() {
        let mut t = KeyTable::default();
        for i in 1..=1000u64 {
            t.insert(i * 7919, i as u32);
        }
        t.retain(|v| v % 2 == 0);
        assert_eq!(t.len(), 500);
        for i in 1..=1000u64 {
            assert_eq!(t.get(i * 7919), (i % 2 == 0).then_some(i as u32));
        }
    }
}
