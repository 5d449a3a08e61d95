//! The kinds of cluster the simulator can generate (edge, datacenter, DR, lab) and the
//! seeded choice of one when the caller names none.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A family of realistic cluster shapes the generator draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Archetype {
    /// A small branch or store cluster: 1-3 nodes, 3-15 VMs.
    Edge,
    /// A main datacenter cluster: 3-8 nodes, 40-300 VMs.
    Datacenter,
    /// A disaster-recovery site: 2-4 nodes, mostly SHUTOFF replication targets.
    Dr,
    /// A lab cluster: 1-4 nodes, mixed states, many snapshots.
    Lab,
}

/// Error returned when an archetype name is not one of [`Archetype::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown archetype {0:?}: expected one of edge, datacenter, dr, lab")]
pub struct UnknownArchetype(pub String);

impl Archetype {
    /// Every archetype, in a fixed order.
    pub const ALL: [Archetype; 4] = [
        Archetype::Edge,
        Archetype::Datacenter,
        Archetype::Dr,
        Archetype::Lab,
    ];

    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Archetype::Edge => "edge",
            Archetype::Datacenter => "datacenter",
            Archetype::Dr => "dr",
            Archetype::Lab => "lab",
        }
    }

    /// A one-line human description of the cluster shape.
    pub fn description(self) -> &'static str {
        match self {
            Archetype::Edge => "branch/store cluster: 1-3 nodes, 3-15 VMs, mostly running",
            Archetype::Datacenter => "datacenter cluster: 3-8 nodes, 40-300 VMs, prod/dev mix",
            Archetype::Dr => {
                "disaster-recovery site: 2-4 nodes, mostly SHUTOFF replication targets"
            }
            Archetype::Lab => "lab cluster: 1-4 nodes, mixed states, many snapshots",
        }
    }

    /// Chooses an archetype from `seed` with fixed weights (edge 40, datacenter 25, dr 15, lab 20).
    pub fn pick(seed: u64) -> Archetype {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xA7C4_E7F9_0000_0001);
        match rng.random_range(0..100u32) {
            0..40 => Archetype::Edge,
            40..65 => Archetype::Datacenter,
            65..80 => Archetype::Dr,
            _ => Archetype::Lab,
        }
    }
}

impl fmt::Display for Archetype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Archetype {
    type Err = UnknownArchetype;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Archetype::ALL
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| UnknownArchetype(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Archetype::ALL {
            assert_eq!(a.name().parse::<Archetype>(), Ok(a));
        }
        assert!("cloud".parse::<Archetype>().is_err());
    }

    #[test]
    fn pick_is_stable_and_covers_all() {
        assert_eq!(Archetype::pick(7), Archetype::pick(7));
        let seen: std::collections::BTreeSet<_> = (0..200).map(Archetype::pick).collect();
        assert_eq!(seen.len(), 4);
    }
}
