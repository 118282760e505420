//! The memory allocator of every Gleaner binary: jemalloc, configured to give freed
//! memory back to the operating system on its own.
//!
//! With glibc's malloc, each of the many threads a busy service runs (tokio workers,
//! blocking threads for password hashing and DNS) allocates from one of up to eight
//! arenas per core, and memory freed in an arena other than the main one goes back to
//! the system only when the top of that arena's heap is free: after a load run a
//! service kept most of its peak resident set while idle. jemalloc purges unused pages
//! by time instead ("decay"), and its background threads do it even when no thread of
//! the process allocates any more, which is exactly the idle case.
//!
//! It is declared here, in the crate every binary links (the services, `scraper run`,
//! the demo site, the operator, their tests), so there is one allocator and one
//! configuration; no other crate may declare a `#[global_allocator]`.

/// The process-wide allocator.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options are compiled into it (`--with-malloc-conf`, set by the
/// workspace's `.cargo/config.toml` as `JEMALLOC_SYS_WITH_MALLOC_CONF`), so no
/// `unsafe` symbol export is needed:
/// - `background_thread:true`: purge on background threads, so an idle process still
///   returns memory;
/// - `dirty_decay_ms:5000`: a freed page stays reusable for about five seconds, then
///   goes back to the system (the default is ten);
/// - `muzzy_decay_ms:0`: returned pages are released at once with `MADV_DONTNEED`
///   rather than lazily with `MADV_FREE`, which the kernel would keep counting in the
///   resident set until it runs short of memory.
///
/// `MALLOC_CONF` in the environment is read after these and overrides them.
pub const MALLOC_CONF: &str = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0";

#[cfg(test)]
mod tests {
    use tikv_jemalloc_ctl::{background_thread, config, epoch, opt, stats};

    #[test]
    fn jemalloc_runs_with_the_configured_decay_and_background_threads() {
        // The compiled-in options took effect.
        assert!(opt::background_thread::read().unwrap());
        // The build compiled in exactly the documented options.
        let compiled = config::malloc_conf::read().unwrap();
        assert_eq!(compiled.trim_end_matches('\0'), super::MALLOC_CONF);
        assert!(background_thread::read().unwrap());
        // And this allocator serves Rust's allocations: while 64 MiB allocated here
        // are alive, jemalloc counts at least that much (whatever other tests in the
        // process allocate or free meanwhile).
        let block = vec![1u8; 64 << 20];
        epoch::advance().unwrap();
        let allocated = stats::allocated::read().unwrap();
        assert!(
            allocated >= block.len(),
            "jemalloc counts {allocated} bytes"
        );
        drop(block);
    }
}
