//! The generator's seeded stream: one ChaCha8 generator per cluster (salted by archetype),
//! the constants generated values are built from, and the small drawing helpers (uuids, MACs,
//! picks, chances, timestamps) every part of the generator uses.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::archetype::Archetype;

/// One gibibyte.
pub(super) const GIB: i64 = 1 << 30;
/// One mebibyte.
pub(super) const MIB: i64 = 1 << 20;
/// 2025-01-01T00:00:00Z: generated timestamps are this epoch plus seeded offsets.
pub(super) const EPOCH: i64 = 1_735_689_600;
/// Scale Computing's MAC prefix.
const MAC_PREFIX: &str = "7C:4C:58";

/// Draws a uuid (v4 layout) from the generator's stream.
pub(crate) fn uuid_from(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Draws a MAC address with Scale's prefix.
pub(crate) fn mac_from(rng: &mut impl Rng) -> String {
    let b: [u8; 3] = rng.random();
    format!("{MAC_PREFIX}:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
}

/// Picks one item of a non-empty table.
pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// True with probability `p`.
pub(super) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random_bool(p)
}

/// Carries the RNG and the counters used while building one cluster.
pub(super) struct Generator {
    /// Shape being generated.
    pub(super) archetype: Archetype,
    /// Seed being generated from.
    pub(super) seed: u64,
    /// The one stream every value is drawn from, in a fixed order.
    pub(super) rng: ChaCha8Rng,
    /// The cluster's LAN subnet (`10.a.b.0/24`), fixed by the first node.
    pub(super) lan: Option<(u8, u8)>,
}

impl Generator {
    /// A generator for `archetype` and `seed` (the stream is salted per archetype).
    pub(super) fn new(archetype: Archetype, seed: u64) -> Self {
        let salt = match archetype {
            Archetype::Edge => 0x1111_0000,
            Archetype::Datacenter => 0x2222_0000,
            Archetype::Dr => 0x3333_0000,
            Archetype::Lab => 0x4444_0000,
        };
        Generator {
            archetype,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed ^ salt),
            lan: None,
        }
    }

    /// Draws a uuid.
    pub(super) fn uuid(&mut self) -> String {
        uuid_from(&mut self.rng)
    }

    /// Draws a timestamp within `max_days_after_epoch` days of [`EPOCH`].
    pub(super) fn time(&mut self, max_days_after_epoch: i64) -> i64 {
        EPOCH + self.rng.random_range(0..max_days_after_epoch * 86_400)
    }
}
