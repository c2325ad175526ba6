//! A seeded pseudo-random generator for tests that must replay: SplitMix64.
//!
//! A fuzz test earns its keep only if a failure can be run again: the same seed must give the
//! same requests, on every machine and with every version of every crate. SplitMix64 is a
//! dozen lines whose output is fixed by its definition (Steele, Lea and Flood, 2014), so nothing
//! upstream can change a seed's sequence (`rand`'s `StdRng` documents that its algorithm may
//! change between versions). It is no cryptographic generator, and needs not be.

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct Prng {
    state: u64,
}

impl Prng {
    pub fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0). The modulo bias is below 2^-40 for the small bounds
    /// a test uses: irrelevant here.
    pub fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "an empty range");
        (self.next_u64() % bound as u64) as usize
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    /// True `percent` times in a hundred.
    pub fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `choices`.
    pub fn pick<'a, T>(&mut self, choices: &'a [T]) -> &'a T {
        &choices[self.below(choices.len())]
    }

    /// An index into `weights`, each chosen in proportion to its weight.
    pub fn weighted(&mut self, weights: &[usize]) -> usize {
        let mut roll = self.below(weights.iter().sum());
        for (index, weight) in weights.iter().enumerate() {
            if roll < *weight {
                return index;
            }
            roll -= weight;
        }
        unreachable!("roll is below the sum of the weights")
    }
}
