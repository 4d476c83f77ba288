//! Running a test over many seeds, and replaying one.
//!
//! [`for_each_seed!`](crate::for_each_seed) runs a closure once per seed: seeds `0..N`, where `N`
//! is the test's default count (CI) or `SIM_SEEDS=N` (soak runs). `SIM_SEED=S` runs seed `S`
//! alone. The first failing seed (an `Err` or a panic) stops the test with a panic that names the
//! seed, the error and the exact command that replays it:
//!
//! ```text
//! simulation failed with seed 17: liveness failure (seed 17) at 5.000000s: ...
//! replay: SIM_SEED=17 cargo test -p paxos --test it -- sim_basic::basic --exact
//! ```

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Where a seeded test runs: enough to build the command that replays it. Built by
/// [`for_each_seed!`](crate::for_each_seed) in the caller's crate, because `env!` must be read
/// there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `CARGO_PKG_NAME` of the test's package (for `cargo test -p`).
    pub package: &'static str,
    /// `CARGO_CRATE_NAME` of the test target: the package's own name for unit tests (`--lib`),
    /// the test binary's name for integration tests (`--test <name>`).
    pub crate_name: &'static str,
    /// The path of the calling function (`std::any::type_name` of a function item defined at
    /// the call site), used when the thread name does not give the test name.
    pub fn_path: &'static str,
}

/// Runs `f` for each seed of this run and stops at the first failure.
///
/// ```text
/// sim::for_each_seed!(20, |seed| {
///     let mut sim = Sim::new(SimConfig::new(seed), nodes());
///     sim.run_until(sim.now_us() + 5_000_000, |s| decided(s)).map_err(|e| e.to_string())
/// });
/// ```
///
/// # Panics
/// With the seed, the error and the replay command, if `f` fails or panics for some seed; or if
/// `SIM_SEED`/`SIM_SEEDS` is not a number.
#[macro_export]
macro_rules! for_each_seed {
    ($default_count:expr, $f:expr $(,)?) => {{
        fn __sim_seed_site() {}
        $crate::seeds::run_seeds(
            &$crate::seeds::Caller {
                package: env!("CARGO_PKG_NAME"),
                crate_name: env!("CARGO_CRATE_NAME"),
                fn_path: ::std::any::type_name_of_val(&__sim_seed_site),
            },
            $default_count,
            $f,
        )
    }};
}

/// What [`for_each_seed!`](crate::for_each_seed) expands to.
///
/// # Panics
/// As [`for_each_seed!`](crate::for_each_seed).
pub fn run_seeds(
    caller: &Caller,
    default_count: u64,
    mut f: impl FnMut(u64) -> Result<(), String>,
) {
    let env = |name| std::env::var(name).ok();
    let seeds = seed_plan(
        env("SIM_SEED").as_deref(),
        env("SIM_SEEDS").as_deref(),
        default_count,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    for seed in seeds {
        let outcome = catch_unwind(AssertUnwindSafe(|| f(seed))).unwrap_or_else(|payload| {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_string());
            Err(format!("panicked: {text}"))
        });
        if let Err(error) = outcome {
            panic!(
                "{}",
                failure_message(caller, &test_name(caller), seed, &error)
            );
        }
    }
}

/// The seeds to run: `SIM_SEED` alone if set, else `0..SIM_SEEDS`, else `0..default_count`.
///
/// # Errors
/// If a variable is set but is not a number.
pub fn seed_plan(
    sim_seed: Option<&str>,
    sim_seeds: Option<&str>,
    default_count: u64,
) -> Result<Range<u64>, String> {
    let parse = |name: &str, value: &str| {
        value
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("{name}={value:?} is not a number: {e}"))
    };
    if let Some(value) = sim_seed {
        let seed = parse("SIM_SEED", value)?;
        return Ok(seed..seed.saturating_add(1));
    }
    let count = match sim_seeds {
        Some(value) => parse("SIM_SEEDS", value)?,
        None => default_count,
    };
    Ok(0..count)
}

/// The report of a failed seed: seed, error, and the command that replays it.
pub fn failure_message(caller: &Caller, test: &str, seed: u64, error: &str) -> String {
    let replay = replay_command(caller, test, seed);
    format!(
        "simulation failed with seed {seed}: {error}\nreplay: {replay}\n\
         (prefix SIM_TRACE=1 and append --nocapture to print every event)"
    )
}

/// The command that runs exactly this test with exactly this seed.
pub fn replay_command(caller: &Caller, test: &str, seed: u64) -> String {
    let target = if caller.crate_name == caller.package.replace('-', "_") {
        "--lib".to_string()
    } else {
        format!("--test {}", caller.crate_name)
    };
    format!(
        "SIM_SEED={seed} cargo test -p {} {target} -- {test} --exact",
        caller.package
    )
}

/// The running test's name as libtest knows it (`module::test_fn`, without the crate): libtest
/// names each test's thread after it; otherwise (the main thread, e.g. a custom harness) the
/// calling function's path stands in.
pub fn test_name(caller: &Caller) -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => test_name_from_path(caller),
    }
}

/// `it::sim_basic::basic::{{closure}}::__sim_seed_site` → `sim_basic::basic`.
fn test_name_from_path(caller: &Caller) -> String {
    let path = caller
        .fn_path
        .strip_prefix(caller.crate_name)
        .and_then(|p| p.strip_prefix("::"))
        .unwrap_or(caller.fn_path);
    let parts: Vec<&str> = path
        .split("::")
        .filter(|part| *part != "{{closure}}")
        .collect();
    let parts = parts.strip_suffix(&["__sim_seed_site"]).unwrap_or(&parts);
    parts.join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: Caller = Caller {
        package: "paxos",
        crate_name: "it",
        fn_path: "it::sim_basic::basic::{{closure}}::__sim_seed_site",
    };

    #[test]
    fn replay_command_names_package_target_test_and_seed() {
        assert_eq!(
            replay_command(&CALLER, "sim_basic::basic", 17),
            "SIM_SEED=17 cargo test -p paxos --test it -- sim_basic::basic --exact"
        );
        let lib = Caller {
            package: "my-sys",
            crate_name: "my_sys",
            fn_path: "my_sys::tests::t::__sim_seed_site",
        };
        assert_eq!(
            replay_command(&lib, "tests::t", 3),
            "SIM_SEED=3 cargo test -p my-sys --lib -- tests::t --exact"
        );
    }

    #[test]
    fn test_name_falls_back_to_the_function_path() {
        assert_eq!(test_name_from_path(&CALLER), "sim_basic::basic");
    }

    #[test]
    fn seed_plan_prefers_one_seed_then_count_then_default() {
        assert_eq!(seed_plan(Some("17"), Some("100"), 20), Ok(17..18));
        assert_eq!(seed_plan(None, Some("100"), 20), Ok(0..100));
        assert_eq!(seed_plan(None, None, 20), Ok(0..20));
        assert!(seed_plan(Some("x"), None, 20).is_err_and(|e| e.contains("SIM_SEED")));
    }
}
