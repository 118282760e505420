use super::*;
use std::collections::HashSet;

#[test]
fn same_seed_same_data() {
    assert_eq!(generate(42, 300), generate(42, 300));
    assert_ne!(generate(42, 50), generate(43, 50));
}

#[test]
fn prefix_stability() {
    let big = generate(7, 400);
    let small = generate(7, 120);
    assert_eq!(&big[..120], &small[..]);
}

#[test]
fn idnos_are_unique_and_well_formed() {
    let companies = generate(42, 5000);
    let mut seen = HashSet::new();
    for c in &companies {
        assert_eq!(c.idno.len(), 13, "{}", c.idno);
        assert!(c.idno.starts_with("100"), "{}", c.idno);
        assert!(c.idno.bytes().all(|b| b.is_ascii_digit()), "{}", c.idno);
        assert!(seen.insert(c.idno.clone()), "duplicate {}", c.idno);
    }
    let ids: HashSet<u64> = companies.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), companies.len());
}

#[test]
fn index_of_idno_inverts_idno_for() {
    for seed in [0, 42, u64::MAX] {
        for index in (0..2000).chain([99_999, 100_000, 999_999, 123_456_789]) {
            let idno = idno_for(seed, index);
            assert_eq!(index_of_idno(seed, &idno), Some(index), "{seed} {idno}");
        }
    }
    let idno = idno_for(42, 17);
    // A wrong control digit, not an IDNO of this site at all.
    let last = idno.as_bytes()[12] - b'0';
    let wrong = format!("{}{}", &idno[..12], (last + 1) % 10);
    assert_eq!(index_of_idno(42, &wrong), None);
    for bad in [
        "",
        "100",
        "2001234567890",
        "10012345678901",
        "100abcdefghij",
        "100123456789",
    ] {
        assert_eq!(index_of_idno(42, bad), None, "{bad}");
    }
}

#[test]
fn company_on_demand_equals_generated() {
    let all = generate(42, 300);
    for (i, c) in all.iter().enumerate() {
        assert_eq!(&company(42, i as u64), c);
    }
}

#[test]
fn shares_sum_to_100() {
    for c in generate(42, 2000) {
        let total: f64 = c.person_founders.iter().map(|f| f.shares).sum::<f64>()
            + c.company_founders.iter().map(|f| f.shares).sum::<f64>();
        assert!((total - 100.0).abs() < 1e-9, "{} sums to {total}", c.idno);
        assert!((1..=3).contains(&c.person_founders.len()));
        assert!(c.person_founders.iter().all(|f| f.shares > 0.0));
    }
}

#[test]
fn realistic_shape() {
    let companies = generate(42, 2000);
    let active = companies.iter().filter(|c| c.is_active).count() as f64 / 2000.0;
    assert!((0.80..0.90).contains(&active), "{active}");
    let forms: HashSet<&str> = companies.iter().map(|c| c.legal_form.trim()).collect();
    for f in ["SRL", "SA", "II", "ÎI", "SC", "GȚ", "ÎCS"] {
        assert!(forms.contains(f), "missing {f}");
    }
    assert!(
        companies
            .iter()
            .any(|c| c.legal_form != c.legal_form.trim())
    );
    assert!(companies.iter().any(|c| !c.company_founders.is_empty()));
    assert!(
        companies
            .iter()
            .any(|c| !c.company_administrators.is_empty())
    );
    assert!(
        companies
            .iter()
            .any(|c| c.full_name.contains('ş') || c.full_name.contains('ţ'))
    );
    assert!(companies.iter().any(|c| c.financials.is_empty()));
    for c in &companies {
        assert!((1992..=2024).contains(&c.registered_at.year()));
        assert!(c.revision_date.date() >= c.registered_at);
        assert!((1..=5).contains(&c.activities.len()));
        assert!((1..=2).contains(&c.person_administrators.len()));
        assert!(c.financials.len() <= 4);
        let mut prev = 0;
        for s in &c.financials {
            assert!((2020..=2024).contains(&s.year) && s.year > prev);
            prev = s.year;
            assert!((6..=15).contains(&s.values.len()), "{:?}", s.values);
        }
    }
}

#[test]
fn pool_names_are_unique_within_a_block_and_rarely_shared_across_blocks() {
    assert_eq!(GIVEN_NAMES.len() % 2, 0, "given names alternate genders");
    let pairs = (GIVEN_NAMES.len() * SURNAMES.len()) as u64;
    let first: HashSet<String> = (0..pairs).map(|k| pool_person(42, k).name()).collect();
    assert_eq!(first.len() as u64, pairs);
    let second: HashSet<String> = (pairs..2 * pairs)
        .map(|k| pool_person(42, k).name())
        .collect();
    assert_eq!(second.len() as u64, pairs);
    // A hundred thousand companies' pool: a few namesakes, as in a real registry.
    let all: HashSet<String> = (0..100_000).map(|k| pool_person(42, k).name()).collect();
    assert!(all.len() > 97_000, "{}", all.len());
    assert_eq!(pool_person(42, 12_345), pool_person(42, 12_345));
    let with_second = (0..1000)
        .filter(|k| pool_person(42, *k).given.contains(' '))
        .count();
    assert!((200..400).contains(&with_second), "{with_second}");
}
