//! IDNOs: company `index` ↦ a unique 13-digit fiscal code and back, with no table.

#[allow(unused_imports)]
use super::*;

/// Modulus of the 9 varying digits of an IDNO.
pub(super) const IDNO_M: u64 = 1_000_000_000;
/// 3^18 is coprime to 10^9, so i ↦ (i·A + B) mod 10^9 is a bijection.
pub(super) const IDNO_A: u64 = 387_420_489;
/// The inverse of [`IDNO_A`] modulo 10^9 (A · A⁻¹ ≡ 1).
pub(super) const IDNO_A_INV: u64 = 513_180_409;

pub(super) fn idno_offset(seed: u64) -> u64 {
    Rng::new(seed, u64::MAX, 99).below(IDNO_M)
}

/// The 13-digit IDNO of company `index`: `100` + 9 digits (a bijection of the
/// index modulo 10⁹, so unique for any realistic count) + a control digit.
pub fn idno_for(seed: u64, index: u64) -> String {
    let body = ((index % IDNO_M) * IDNO_A % IDNO_M + idno_offset(seed)) % IDNO_M;
    let first12 = format!("100{body:09}");
    let weights = [7u32, 3, 1];
    let sum: u32 = first12
        .bytes()
        .enumerate()
        .map(|(k, d)| u32::from(d - b'0') * weights[k % 3])
        .sum();
    format!("{first12}{}", sum % 10)
}

/// The index of the company whose IDNO is `idno` (the inverse of [`idno_for`]), if
/// `idno` is one [`idno_for`] gives for `seed`, control digit included. No table: the
/// site finds any of a million companies from its IDNO alone.
pub fn index_of_idno(seed: u64, idno: &str) -> Option<u64> {
    let body = idno.strip_prefix("100")?.get(..9)?;
    if idno.len() != 13 || !idno.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let body: u64 = body.parse().ok()?;
    let shifted = (body + IDNO_M - idno_offset(seed)) % IDNO_M;
    let index = shifted * IDNO_A_INV % IDNO_M;
    (idno_for(seed, index) == idno).then_some(index)
}
