//! The pool of people companies draw their founders and administrators from, and how a
//! name is served (surname first, cedilla letters) in one company.

#[allow(unused_imports)]
use super::*;

/// A person of the pool: given name (one or two) and surname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPerson {
    /// `Ion` or `Ana Maria`.
    pub given: String,
    /// `Popescu`.
    pub surname: &'static str,
}

impl PoolPerson {
    /// `Ion Popescu`: how the registry usually writes the name.
    pub fn name(&self) -> String {
        format!("{} {}", self.given, self.surname)
    }

    /// `Popescu Ion`: surname first.
    pub fn surname_first(&self) -> String {
        format!("{} {}", self.surname, self.given)
    }
}

/// The stream of the name permutation of a block of the pool.
pub(super) const STREAM_BLOCK: u64 = 4;

/// Person `k` of the pool of `seed`: the same person in every company that draws `k`.
///
/// Names are unique across the pool (no namesakes by accident): the pool comes in
/// blocks of as many people as there are given-name × surname pairs, each block a
/// permutation of the pairs. The first block's people are `Ion Popescu` (30% with a
/// second given name, as in `Ana Maria Rusu`); every later block adds its own second
/// given name of the same gender (`Ion Vasile Popescu`), so 38 blocks (525,616 people,
/// the pool of half a million companies) have distinct names.
pub fn pool_person(seed: u64, k: u64) -> PoolPerson {
    let given_n = GIVEN_NAMES.len() as u64;
    let pairs = given_n * SURNAMES.len() as u64;
    let (block, r) = (k / pairs, k % pairs);
    // 7919 is prime and does not divide the number of pairs: a bijection.
    let offset = Rng::new(seed, block, STREAM_BLOCK).below(pairs);
    let pair = (r * 7919 + offset) % pairs;
    let (first, surname) = (pair % given_n, SURNAMES[(pair / given_n) as usize]);
    // The given names alternate male and female: a second one of the same gender.
    let half = given_n / 2;
    let second_of = |step: u64| ((first / 2 + step) % half) * 2 + first % 2;
    let second = match block % half {
        0 => {
            let mut rng = Rng::new(seed, k, STREAM_PERSON);
            rng.chance(0.3).then(|| second_of(1 + rng.below(half - 1)))
        }
        b => Some(second_of(b)),
    };
    let given = match second {
        Some(second) => format!(
            "{} {}",
            GIVEN_NAMES[first as usize], GIVEN_NAMES[second as usize]
        ),
        None => GIVEN_NAMES[first as usize].to_owned(),
    };
    PoolPerson { given, surname }
}

/// A pool person company `index` may draw.
pub(super) fn draw_person(rng: &mut Rng, index: u64) -> u64 {
    rng.below(POOL_BASE + index)
}

/// The name of a pool person as one company serves it: usually `Ion Popescu`,
/// sometimes surname first or with the cedilla letters, as registries do.
pub(super) fn served_name(rng: &mut Rng, seed: u64, k: u64) -> String {
    let p = pool_person(seed, k);
    match rng.below(100) {
        0..7 => p.surname_first(),
        7..13 => cedilla(&p.name()),
        _ => p.name(),
    }
}

/// A foreign company the registry knows only by name.
pub(super) fn foreign_name(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(FOREIGN_LEFT), rng.pick(FOREIGN_RIGHT))
}
