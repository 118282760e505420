use super::*;
use crate::data::{generate, index_of_idno, is_holding};

/// Companies per person: (median, share of people in 2–5 companies, most).
fn recurrence(companies: &[DemoCompany]) -> (usize, f64, usize) {
    let people = expected_people(companies);
    let mut counts: Vec<usize> = people.values().map(|p| p.companies().len()).collect();
    counts.sort_unstable();
    let typical = counts.iter().filter(|n| (2..=5).contains(*n)).count();
    (
        counts[counts.len() / 2],
        typical as f64 / counts.len() as f64,
        counts.last().copied().unwrap_or_default(),
    )
}

#[test]
fn people_recur_across_companies() {
    let companies = generate(42, 1000);
    let people = expected_people(&companies);
    let (median, typical, most) = recurrence(&companies);
    println!(
        "1000: median {median}, 2-5: {typical:.2}, most {most}, people {}",
        people.len()
    );
    assert!((2..=5).contains(&median), "median {median}");
    assert!(typical > 0.4, "{typical}");
    assert!(most >= 3);
    // Someone founds one company and runs another.
    assert!(people.values().any(|p| {
        let founded: BTreeSet<_> = p
            .roles
            .iter()
            .filter(|r| r.role == Role::Founder)
            .map(|r| &r.idno)
            .collect();
        p.roles
            .iter()
            .any(|r| r.role == Role::Administrator && !founded.contains(&r.idno))
    }));
    // Names served in the other word order and with cedillas, for the same person.
    assert!(
        people
            .values()
            .any(|p| p.names.len() > 1 && p.names.iter().any(|n| n.contains(['ş', 'ţ'])))
    );
    assert!(people.values().any(|p| {
        let orders: BTreeSet<_> = p.names.iter().map(|n| fold_name(n)).collect();
        orders.len() > 1
    }));
}

#[test]
fn recurrence_stays_realistic_at_scale() {
    let companies = generate(42, 20_000);
    let (median, typical, most) = recurrence(&companies);
    println!("20000: median {median}, 2-5: {typical:.2}, most {most}");
    assert!((2..=5).contains(&median), "median {median}");
    assert!(typical > 0.4, "{typical}");
    assert!(most < 100, "{most}");
}

#[test]
fn companies_are_founded_and_run_by_earlier_companies() {
    let seed = 42;
    let companies = generate(seed, 1000);
    let links = expected_links(&companies);
    let index = |idno: &str| index_of_idno(seed, idno);
    // By IDNO: always an earlier company of the set.
    let by_idno: Vec<_> = links
        .iter()
        .filter(|(l, _)| l.holder_idno.is_some())
        .collect();
    assert!(by_idno.iter().any(|(l, _)| l.role == Role::Founder));
    assert!(by_idno.iter().any(|(l, _)| l.role == Role::Administrator));
    for (l, target) in &by_idno {
        let holder = target.as_deref().and_then(index).expect("a demo company");
        assert!(holder < index(&l.idno).expect("demo"), "{l:?}");
        assert_eq!(companies[holder as usize].full_name.trim(), l.name);
    }
    // By name alone: a holding, the one company with that name.
    let by_name: Vec<_> = links
        .iter()
        .filter(|(l, _)| l.holder_idno.is_none() && l.name.ends_with(" Holding SA"))
        .collect();
    assert!(!by_name.is_empty());
    for (l, target) in &by_name {
        let holder = target.as_deref().and_then(index).unwrap_or_else(|| {
            panic!(
                "{l:?} {:?}",
                companies
                    .iter()
                    .filter(|c| fold_name(&c.full_name) == fold_name(&l.name))
                    .map(|c| &c.idno)
                    .collect::<Vec<_>>()
            )
        });
        assert!(is_holding(holder), "{l:?}");
        assert!(holder < index(&l.idno).expect("demo"));
        assert_eq!(linked_idno(l, &companies).as_deref(), target.as_deref());
    }
    // Foreign companies resolve to none.
    let foreign: Vec<_> = links
        .iter()
        .filter(|(l, _)| l.holder_idno.is_none() && !l.name.ends_with(" Holding SA"))
        .collect();
    assert!(!foreign.is_empty());
    assert!(foreign.iter().all(|(_, t)| t.is_none()));
    // Holding names are unique among a million companies' worth of holdings.
    let names: BTreeSet<String> = (0..1_000_000u64)
        .filter(|i| is_holding(*i))
        .map(crate::data::holding_name)
        .collect();
    assert_eq!(names.len(), 1_000_000 / 40);
}

#[test]
fn person_keys_fold_order_case_and_cedillas() {
    assert_eq!(person_key("Ion Popescu"), person_key("POPESCU  Ion"));
    assert_eq!(person_key("Ștefan Roșca"), person_key("Roşca Ştefan"));
    assert_eq!(person_key("Ana Maria Țurcanu"), "ana maria turcanu");
    assert_ne!(person_key("Ion Popescu"), person_key("Ion Popa"));
}
