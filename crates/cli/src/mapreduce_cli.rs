//! `dsys wc` and `dsys mr`: MapReduce from the command line (SPEC §2).

use anyhow::Context;
use mapreduce::output::{top_by_value, write_output};
use mapreduce::sequential::run_sequential;
use mapreduce::split::split_bytes_for;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `dsys wc`.
#[derive(clap::Args, Debug)]
pub struct WcArgs {
    /// Input files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output file (default: the first input's name plus `.wc`).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Run in this thread, without any networking.
    #[arg(long)]
    sequential: bool,
    /// Worker threads of the in-process run (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: Option<u32>,
    /// Do not print the ten most frequent words.
    #[arg(short, long)]
    quiet: bool,
}

/// `dsys mr` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum MrCommand {}

/// Reduce partitions of `dsys wc`. Why 4: enough to keep two cores busy in the reduce phase,
/// few enough that the final merge stays trivial; the output does not depend on it.
const WC_REDUCES: u32 = 4;

/// Runs `dsys wc`.
pub fn run_wc(args: WcArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let output = args.output.clone().unwrap_or_else(|| {
        let mut name = args.files[0].clone().into_os_string();
        name.push(".wc");
        PathBuf::from(name)
    });
    let job = mapreduce::jobs::WordCount;
    let total: u64 = args
        .files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .map(|m| m.len())
                .with_context(|| format!("cannot read input {}", f.display()))
        })
        .sum::<anyhow::Result<u64>>()?;
    let workers = args.workers.unwrap_or_else(default_workers);
    let outputs = if args.sequential {
        run_sequential(
            &job,
            &args.files,
            split_bytes_for(total, workers),
            WC_REDUCES,
        )?
    } else {
        anyhow::bail!("the in-process run is not built yet; use --sequential")
    };
    let lines = write_output(&output, &outputs)?;
    if !args.quiet {
        for (word, count) in top_by_value(&outputs, 10)? {
            println!("{word}: {count}");
        }
        eprintln!(
            "{lines} distinct words from {total} bytes in {:.1} ms; output in {}",
            started.elapsed().as_secs_f64() * 1e3,
            output.display()
        );
    }
    Ok(())
}

fn default_workers() -> u32 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
}

/// Runs `dsys mr`.
pub fn run_mr(command: MrCommand) -> anyhow::Result<()> {
    match command {}
}
