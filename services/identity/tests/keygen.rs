//! `identity keygen`: a development key by default (refused in production), a key that
//! production accepts with `--production` (what the chart's signing-key hook writes), and
//! an existing file is never overwritten.

use std::process::Command;

use gleaner_identity::keys::{DEV_KEY_MARKER, KeyRing};

fn keygen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_identity"))
        .arg("keygen")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn production_keys_carry_no_development_marker() {
    let dir = std::env::temp_dir().join(format!("gleaner-keygen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dev = dir.join("dev.pem");
    let prod = dir.join("prod.pem");

    assert!(keygen(&["--out", dev.to_str().unwrap()]).status.success());
    assert!(
        keygen(&["--production", "--out", prod.to_str().unwrap()])
            .status
            .success()
    );
    let dev_text = std::fs::read_to_string(&dev).unwrap();
    let prod_text = std::fs::read_to_string(&prod).unwrap();
    assert!(dev_text.starts_with(DEV_KEY_MARKER));
    assert!(!prod_text.contains(DEV_KEY_MARKER));
    assert!(KeyRing::load(&dev, &[]).unwrap().is_dev_key);
    assert!(!KeyRing::load(&prod, &[]).unwrap().is_dev_key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&prod).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Run again: the key is kept, not replaced.
    assert!(
        keygen(&["--production", "--out", prod.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&prod).unwrap(), prod_text);
    std::fs::remove_dir_all(&dir).unwrap();
}
