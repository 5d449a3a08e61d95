//! Placement policies: how the clusters where a VM fits are ranked. Every policy is
//! deterministic (random takes a seed), and every policy ranks a cluster whose claims did not
//! hold (trust below `TRUSTED_AT`) after every trusted one.

use std::cmp::Ordering;

use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

use super::ask::Candidate;
use crate::error::HubError;
use crate::fleet_decl::POLICIES;
use crate::trust::TRUSTED_AT;

/// How to rank the clusters that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Most memory left on the best node, then most storage left.
    MostHeadroom,
    /// Lowest share of memory allocated to running VMs.
    LeastLoaded,
    /// Fewest VMs carrying the request's tag, then most headroom.
    Spread,
    /// The order asked (the `clusters` list, else by alias).
    FirstFit,
    /// A seeded shuffle.
    Random(u64),
    /// The client's model weighs the table (ranked by most-headroom underneath).
    Model,
}

impl Policy {
    /// Parses `policy` (default most-headroom) and `seed`, naming a wrong argument.
    pub(crate) fn parse(policy: Option<&str>, seed: Option<u64>) -> Result<Self, HubError> {
        Ok(match policy.unwrap_or("most-headroom") {
            "most-headroom" => Policy::MostHeadroom,
            "least-loaded" => Policy::LeastLoaded,
            "spread" => Policy::Spread,
            "first-fit" => Policy::FirstFit,
            "random" => Policy::Random(seed.unwrap_or(0)),
            "model" => Policy::Model,
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(HubError::BadRequest(format!(
                    "argument 'policy' must be one of {}, not '{shown}'",
                    POLICIES.join(", ")
                )));
            }
        })
    }

    /// The policy's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Policy::MostHeadroom => "most-headroom",
            Policy::LeastLoaded => "least-loaded",
            Policy::Spread => "spread",
            Policy::FirstFit => "first-fit",
            Policy::Random(_) => "random",
            Policy::Model => "model",
        }
    }
}

fn headroom(a: &Candidate, b: &Candidate) -> Ordering {
    b.memory_free_after
        .cmp(&a.memory_free_after)
        .then(b.storage_free_after.cmp(&a.storage_free_after))
}

fn gib(bytes: i128) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Why `c` is where `policy` put it.
fn reason(c: &Candidate, policy: Policy, tag: Option<&str>) -> String {
    let why = match policy {
        Policy::MostHeadroom | Policy::Model => format!(
            "{} memory left on its best node, {} storage left",
            gib(c.memory_free_after),
            gib(c.storage_free_after)
        ),
        Policy::LeastLoaded => format!(
            "{:.1}% of its memory allocated to running VMs",
            c.load * 100.0
        ),
        Policy::Spread => format!(
            "{} VMs tagged '{}'; {} memory left on its best node",
            c.tagged.unwrap_or(0),
            tag.unwrap_or(""),
            gib(c.memory_free_after)
        ),
        Policy::FirstFit => "the first that fits in the order asked".to_owned(),
        Policy::Random(seed) => format!("drawn at random (seed {seed})"),
    };
    if c.trust.trusted() {
        why
    } else {
        format!(
            "{why}; ranked after trusted clusters: trust {:.2} < {TRUSTED_AT} ({} of {} claims broken)",
            c.trust.score(),
            c.trust.broken,
            c.trust.claims
        )
    }
}

/// The clusters of `candidates` that fit, best first, each with the reason for its rank.
pub(crate) fn rank(
    candidates: &[Candidate],
    policy: Policy,
    tag: Option<&str>,
) -> Vec<(Candidate, String)> {
    let mut fit: Vec<Candidate> = candidates.iter().filter(|c| c.fits).cloned().collect();
    match policy {
        Policy::MostHeadroom | Policy::Model => fit.sort_by(headroom),
        Policy::LeastLoaded => fit.sort_by(|a, b| {
            a.load
                .partial_cmp(&b.load)
                .unwrap_or(Ordering::Equal)
                .then_with(|| headroom(a, b))
        }),
        Policy::Spread => fit.sort_by(|a, b| {
            a.tagged
                .unwrap_or(0)
                .cmp(&b.tagged.unwrap_or(0))
                .then_with(|| headroom(a, b))
        }),
        Policy::FirstFit => {}
        Policy::Random(seed) => {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            fit.shuffle(&mut rng);
        }
    }
    // Stable: within each group the policy's order stays.
    fit.sort_by_key(|c| !c.trust.trusted());
    fit.into_iter()
        .map(|c| {
            let why = reason(&c, policy, tag);
            (c, why)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::TrustRecord;

    fn cand(alias: &str, mem: i128, load: f64, tagged: u64) -> Candidate {
        Candidate {
            alias: alias.into(),
            fits: true,
            reasons: vec![],
            memory_free_after: mem,
            best_node: None,
            storage_free_after: 100,
            load,
            vms: 1,
            tagged: Some(tagged),
            conditions: vec![],
            trust: TrustRecord::default(),
        }
    }

    fn order(r: &[(Candidate, String)]) -> Vec<&str> {
        r.iter().map(|(c, _)| c.alias.as_str()).collect()
    }

    #[test]
    fn each_policy_ranks_deterministically() {
        let mut full = cand("d", 999, 0.0, 0);
        full.fits = false;
        let cs = vec![
            cand("a", 10, 0.5, 3),
            cand("b", 30, 0.9, 1),
            cand("c", 20, 0.1, 2),
            full,
        ];
        assert_eq!(
            order(&rank(&cs, Policy::MostHeadroom, None)),
            ["b", "c", "a"]
        );
        assert_eq!(
            order(&rank(&cs, Policy::LeastLoaded, None)),
            ["c", "a", "b"]
        );
        assert_eq!(
            order(&rank(&cs, Policy::Spread, Some("web"))),
            ["b", "c", "a"]
        );
        assert_eq!(order(&rank(&cs, Policy::FirstFit, None)), ["a", "b", "c"]);
        let r1 = order(&rank(&cs, Policy::Random(7), None)).join(",");
        assert_eq!(r1, order(&rank(&cs, Policy::Random(7), None)).join(","));
        let seeds: std::collections::HashSet<String> = (0..20)
            .map(|s| order(&rank(&cs, Policy::Random(s), None)).join(","))
            .collect();
        assert!(seeds.len() > 1, "the seed matters");
    }

    #[test]
    fn a_distrusted_cluster_ranks_last_and_says_why() {
        let mut liar = cand("liar", 1 << 40, 0.0, 0);
        liar.trust.claims = 1;
        liar.trust.broken = 1;
        let cs = vec![liar, cand("a", 10, 0.5, 0)];
        let r = rank(&cs, Policy::MostHeadroom, None);
        assert_eq!(order(&r), ["a", "liar"]);
        assert!(
            r[1].1.contains("ranked after trusted clusters"),
            "{}",
            r[1].1
        );
    }

    #[test]
    fn unknown_policies_are_named() {
        let e = Policy::parse(Some("cheapest"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'policy'") && e.contains("most-headroom"), "{e}");
        assert_eq!(Policy::parse(None, None).unwrap(), Policy::MostHeadroom);
    }
}
