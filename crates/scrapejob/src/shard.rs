//! Which share of a run's targets one shard takes. A run with `shards: N` runs N
//! processes (the pods of an Indexed Job, or `scraper run --shard i/N`); each owns:
//!
//! - the registry list pages `from + i`, `from + i + N`, ... (pages split evenly, round
//!   robin), and every company listed on them that is not also named in `targets.idnos`;
//! - the companies named in `targets.idnos` whose IDNO hashes to `i` (FNV-1a 64 of the 13
//!   digits, mixed by MurmurHash3's 64-bit finalizer, modulo N; FNV-1a alone keeps its
//!   low bits to the digits' parity, which an IDNO's check digit fixes, so an even N
//!   would leave half the shards without companies).
//!
//! So a company belongs to exactly one shard as long as the registry lists it once, and the
//! shards fetch each list page once between them. The hash is part of the format: changing
//! it moves companies between shards of runs already planned.

use std::fmt;
use std::str::FromStr;

use crate::idno::Idno;
use crate::limits::{SHARDS_MAX, SHARDS_MIN};

/// One shard of a run: `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The only shard of an unsharded run.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`: `count` within the spec's limits, `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if !(SHARDS_MIN..=SHARDS_MAX).contains(&count) {
            return Err(format!(
                "the shard count {count} must be from {SHARDS_MIN} to {SHARDS_MAX}"
            ));
        }
        if index >= count {
            return Err(format!(
                "the shard index {index} must be less than the shard count {count}"
            ));
        }
        Ok(Self { index, count })
    }

    /// From the environment of an Indexed Job's pod: `JOB_COMPLETION_INDEX` and
    /// `SCRAPE_SHARDS` (both absent: the whole run).
    pub fn from_env_values(index: Option<&str>, count: Option<&str>) -> Result<Self, String> {
        let parse = |name: &str, v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{name} must be a whole number, not {v:?}"))
        };
        match (index, count) {
            (None, None) => Ok(Self::WHOLE),
            (None, Some(c)) => {
                let count = parse(crate::env::SCRAPE_SHARDS, c)?;
                if count == 1 {
                    Ok(Self::WHOLE)
                } else {
                    Err(format!(
                        "{} is {count} but {} is not set",
                        crate::env::SCRAPE_SHARDS,
                        crate::env::JOB_COMPLETION_INDEX
                    ))
                }
            }
            (Some(i), None) => {
                let index = parse(crate::env::JOB_COMPLETION_INDEX, i)?;
                Self::new(index, 1)
            }
            (Some(i), Some(c)) => Self::new(
                parse(crate::env::JOB_COMPLETION_INDEX, i)?,
                parse(crate::env::SCRAPE_SHARDS, c)?,
            ),
        }
    }

    /// This shard's index (0-based).
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards the run has.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this is the only shard.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether this shard fetches list page `page` of a range starting at `from`.
    pub fn owns_page(self, from: u32, page: u32) -> bool {
        page.checked_sub(from)
            .is_some_and(|offset| offset % self.count == self.index)
    }

    /// Whether this shard scrapes the company `idno` named in `targets.idnos`.
    pub fn owns_idno(self, idno: &Idno) -> bool {
        shard_of(idno.as_str(), self.count) == self.index
    }
}

/// FNV-1a 64 of `key`, mixed (MurmurHash3 fmix64), modulo `count` (stable across
/// versions and platforms).
fn shard_of(key: &str, count: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = key
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    (hash % u64::from(count.max(1))) as u32
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `i/N`, as `scraper run --shard` takes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("a shard is written i/N (such as 0/4), not {s:?}"))?;
        let num = |v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("a shard is written i/N (such as 0/4), not {s:?}"))
        };
        Self::new(num(i)?, num(n)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idno(n: u64) -> Idno {
        format!("{n:013}").parse().unwrap()
    }

    #[test]
    fn parses_i_of_n_and_refuses_the_rest() {
        assert_eq!("1/4".parse::<Shard>(), Shard::new(1, 4));
        assert_eq!("0/1".parse::<Shard>(), Ok(Shard::WHOLE));
        for bad in ["4/4", "0/0", "0/65", "-1/4", "1", "a/b", "1/4/5", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard::new(2, 8).unwrap().to_string(), "2/8");
    }

    #[test]
    fn reads_the_indexed_job_environment() {
        assert_eq!(Shard::from_env_values(None, None), Ok(Shard::WHOLE));
        assert_eq!(Shard::from_env_values(None, Some("1")), Ok(Shard::WHOLE));
        assert_eq!(
            Shard::from_env_values(Some("3"), Some("4")),
            Shard::new(3, 4)
        );
        assert!(Shard::from_env_values(None, Some("4")).is_err());
        assert!(Shard::from_env_values(Some("4"), Some("4")).is_err());
        assert!(Shard::from_env_values(Some("x"), Some("4")).is_err());
    }

    #[test]
    fn every_page_and_company_belongs_to_exactly_one_shard() {
        for count in [1, 2, 3, 4, 7, 64] {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            for page in 5..200 {
                assert_eq!(shards.iter().filter(|s| s.owns_page(5, page)).count(), 1);
            }
            assert!(shards.iter().all(|s| !s.owns_page(5, 4)));
            for n in 0..500 {
                let id = idno(1_003_600_000_000 + n * 7919);
                assert_eq!(shards.iter().filter(|s| s.owns_idno(&id)).count(), 1);
            }
        }
    }

    /// An IDNO as the registry writes them: 12 digits and a check digit (weights 7, 3, 1).
    fn with_check_digit(first12: u64) -> Idno {
        let digits = format!("{first12:012}");
        let sum: u32 = digits
            .bytes()
            .enumerate()
            .map(|(k, d)| u32::from(d - b'0') * [7, 3, 1][k % 3])
            .sum();
        idno(first12 * 10 + u64::from(sum % 10))
    }

    #[test]
    fn registry_idnos_spread_over_every_shard() {
        for count in [2, 4, 8] {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            let ids: Vec<Idno> = (0..4000)
                .map(|n| with_check_digit(100_360_000_000 + n * 37))
                .collect();
            let even = 4000 / count as usize;
            for s in &shards {
                let owned = ids.iter().filter(|id| s.owns_idno(id)).count();
                assert!(
                    (even * 8 / 10..even * 12 / 10).contains(&owned),
                    "{s}: {owned}"
                );
            }
        }
    }

    #[test]
    fn companies_spread_evenly() {
        let shards: Vec<Shard> = (0..4).map(|i| Shard::new(i, 4).unwrap()).collect();
        let ids: Vec<Idno> = (0..4000).map(|n| idno(1_003_600_000_000 + n)).collect();
        for s in &shards {
            let owned = ids.iter().filter(|id| s.owns_idno(id)).count();
            assert!((800..1200).contains(&owned), "{s}: {owned}");
        }
    }
}
