//! Names as the registry writes them, folded so that spellings of one name meet.
//!
//! The registry gives no personal identifier: a person is their normalized full
//! name. [`person_key`] folds a name (Unicode NFKD, combining marks dropped, case
//! folded, every run of anything but letters and digits one separator, words
//! sorted), and [`person_id`] derives a stable id from that key: the same name
//! gives the same id after a re-transform, on another machine, in another release.
//! [`name_key`] folds the same way but keeps word order: it matches a company
//! founder named by the source to the one known company of that name.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The folded words of `name`, in source order: NFKD, combining marks dropped
/// (`ș`, `ş`, `ţ`, `ț`, `ă`, `î` lose their marks), lower case, split at every run
/// of characters that are not letters or digits (Unicode spaces and punctuation).
pub fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Decompose, lower-case, decompose again (a lower-case letter may decompose
    // further, `İ` → `i̇`), then drop the marks.
    let lowered: String = name.nfkd().flat_map(char::to_lowercase).collect();
    for c in lowered.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A name folded, words in source order, one space between: `"SC  Vinăria-Nord SRL"`
/// → `"sc vinaria nord srl"`.
pub fn name_key(name: &str) -> String {
    words(name).join(" ")
}

/// A person's name folded, words sorted: `"Bivol Doina"`, `"DOINA  BIVOL"` and
/// `"Doina Bivol"` → `"bivol doina"`. Empty when the name has no letter or digit.
pub fn person_key(name: &str) -> String {
    let mut words = words(name);
    words.sort_unstable();
    words.join(" ")
}

/// Length of a person id, in hex digits (80 bits of SHA-256).
pub const PERSON_ID_LEN: usize = 20;

/// The stable id of the person named `name`: the first 80 bits of SHA-256 of
/// `person:` and the [`person_key`], in lower-case hex. `None` for a name with
/// no letter or digit.
pub fn person_id(name: &str) -> Option<String> {
    let key = person_key(name);
    if key.is_empty() {
        return None;
    }
    Some(id_of_key(&key))
}

/// The id of an already folded [`person_key`].
pub fn id_of_key(key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"person:")
        .chain_update(key.as_bytes())
        .finalize();
    let mut id = hex::encode(&digest[..PERSON_ID_LEN / 2]);
    id.truncate(PERSON_ID_LEN);
    id
}

/// Whether `s` has the shape of a person id (so anything else is 404 before a query).
pub fn is_person_id(s: &str) -> bool {
    s.len() == PERSON_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn word_order_case_and_accents_meet() {
        let id = person_id("Bivol Doina");
        assert!(id.is_some());
        for same in ["doina bivol", "DOINA BIVOL", "Bivol,  Doina", "Bívol Doína"] {
            assert_eq!(person_id(same), id, "{same}");
        }
    }

    #[test]
    fn comma_and_cedilla_forms_of_romanian_letters_meet() {
        // ș U+0219 (comma) and ş U+015F (cedilla); ț U+021B and ţ U+0163.
        assert_eq!(person_key("Ștefan Țurcan"), person_key("Ştefan Ţurcan"));
        assert_eq!(person_key("Ștefan Țurcan"), "stefan turcan");
        assert_eq!(person_key("ȘTEFAN ȚURCAN"), "stefan turcan");
    }

    #[test]
    fn unicode_spaces_and_runs_of_whitespace_are_one_separator() {
        let key = person_key("Ion Popescu");
        for spaced in [
            "Ion\u{00A0}Popescu",
            "  Ion \t\n Popescu ",
            "Ion\u{2002}Popescu",
            "Ion\u{202F}Popescu",
            "Ion\u{3000}Popescu",
        ] {
            assert_eq!(person_key(spaced), key, "{spaced:?}");
        }
    }

    #[test]
    fn ids_are_pinned() {
        // An id is part of the API: a change here breaks every stored link.
        assert_eq!(
            person_id("Ion Popescu").as_deref(),
            Some("9fc1d68e43a94961642e")
        );
        assert_eq!(id_of_key("ion popescu").len(), PERSON_ID_LEN);
        assert!(is_person_id(&id_of_key("ion popescu")));
        assert_eq!(person_id(" ,. "), None);
        assert!(!is_person_id("ION"));
    }

    fn name() -> impl Strategy<Value = String> {
        proptest::collection::vec("[A-Za-zăâîșțĂÂÎȘȚ]{1,10}", 1..4).prop_map(|w| w.join(" "))
    }

    proptest! {
        #[test]
        fn any_word_order_gives_the_same_id(words in proptest::collection::vec("[a-zăîșț]{1,8}", 1..5), seed in any::<u64>()) {
            let mut shuffled = words.clone();
            let n = shuffled.len();
            shuffled.rotate_left((seed as usize) % n);
            prop_assert_eq!(person_id(&words.join(" ")), person_id(&shuffled.join("  ")));
        }

        #[test]
        fn case_does_not_matter(n in name()) {
            prop_assert_eq!(person_id(&n), person_id(&n.to_uppercase()));
            prop_assert_eq!(person_id(&n), person_id(&n.to_lowercase()));
        }

        #[test]
        fn one_letter_more_is_another_person(n in name(), extra in "[b-z]") {
            let longer = format!("{n}{extra}");
            prop_assert_ne!(person_id(&n), person_id(&longer));
        }

        #[test]
        fn one_letter_changed_is_another_person(n in "[a-z]{2,10} [a-z]{2,10}", at in any::<prop::sample::Index>()) {
            let bytes = n.as_bytes();
            let mut i = at.index(bytes.len());
            if bytes[i] == b' ' { i = 0; }
            let mut changed = bytes.to_vec();
            changed[i] = if bytes[i] == b'z' { b'y' } else { bytes[i] + 1 };
            let changed = String::from_utf8(changed).unwrap_or_default();
            prop_assert_ne!(person_id(&n), person_id(&changed));
        }

        #[test]
        fn folding_is_idempotent(n in "\\PC{0,40}") {
            let key = person_key(&n);
            prop_assert_eq!(person_key(&key), key);
            prop_assert_eq!(name_key(&name_key(&n)), name_key(&n));
        }
    }
}
