//! `dsys wc` and `dsys mr`: MapReduce from the command line (SPEC §2).

#![allow(clippy::disallowed_methods)] // A shell: progress and timings read the wall clock.

use anyhow::Context;
use mapreduce::local::run_threads;
use mapreduce::master::{MasterOptions, default_config, run_master};
use mapreduce::output::{top_by_value, write_output};
use mapreduce::sequential::run_sequential;
use mapreduce::split::split_bytes_for;
use mapreduce::worker::{WorkerOptions, run_worker};
use mapreduce::{JOB_NAMES, Progress, job_by_name};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

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
pub enum MrCommand {
    /// Run a job's master: workers connect to it (`dsys mr worker --master ADDR`).
    Master(MasterArgs),
    /// Run a worker until the master's job is done.
    Worker(WorkerArgs),
}

/// Arguments of `dsys mr master`.
#[derive(clap::Args, Debug)]
pub struct MasterArgs {
    /// Address workers connect to, e.g. 0.0.0.0:7000.
    #[arg(long)]
    listen: SocketAddr,
    /// The job: wc (word count) or ii (inverted index).
    job: String,
    /// Input files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file (default: the first input's name plus `.JOB`).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Number of reduce tasks.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    reduces: u32,
    /// Split size in MiB (default: about four splits per expected worker, at most 32 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=32))]
    split_mib: Option<u64>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Arguments of `dsys mr worker`.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The master's address.
    #[arg(long)]
    master: SocketAddr,
    /// Where to serve map outputs to other workers (must be reachable by them).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Pause before each task, in milliseconds (demos and failure tests: a job long enough to
    /// kill a worker in the middle).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    task_delay_ms: u64,
    /// Tasks run at once (two overlap one task's transfers with another's computing).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    slots: u32,
}

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
    let total = total_input_bytes(&args.files)?;
    let workers = args.workers.unwrap_or_else(default_workers);
    let outputs = if args.sequential {
        run_sequential(
            &job,
            &args.files,
            split_bytes_for(total, workers),
            WC_REDUCES,
        )?
    } else {
        // One split and one partition per thread: threads do not fail here, so smaller tasks
        // would only add sorting and merging work (about a third of the run on the Bible).
        let split_bytes = total.div_ceil(u64::from(workers)).max(1);
        run_threads(
            &job,
            &args.files,
            split_bytes,
            default_config(workers),
            workers,
        )?
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
    let runtime = crate::args::runtime(crate::args::cores())?;
    match command {
        MrCommand::Master(args) => runtime.block_on(master(args)),
        MrCommand::Worker(args) => runtime.block_on(worker(args)),
    }
}

async fn master(args: MasterArgs) -> anyhow::Result<()> {
    if job_by_name(&args.job).is_none() {
        anyhow::bail!(
            "unknown job {:?} (built-in jobs: {})",
            args.job,
            JOB_NAMES.join(", ")
        );
    }
    let total = total_input_bytes(&args.inputs)?;
    let output = args.output.clone().unwrap_or_else(|| {
        let mut name = args.inputs[0].clone().into_os_string();
        name.push(format!(".{}", args.job));
        PathBuf::from(name)
    });
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let split_listener = TcpListener::bind(SocketAddr::new(args.listen.ip(), 0))
        .await
        .context("cannot bind the split server")?;
    eprintln!(
        "master for job {} on {}: dsys mr worker --master {}",
        args.job,
        listener.local_addr()?,
        listener.local_addr()?
    );
    let options = MasterOptions {
        job: args.job.clone(),
        inputs: args.inputs.clone(),
        split_bytes: args
            .split_mib
            .map_or_else(|| split_bytes_for(total, 4), |mib| mib << 20),
        config: default_config(args.reduces),
        linger: Duration::from_secs(2),
        expect_workers: 0,
    };
    let started = Instant::now();
    let mut bar = ProgressLine::new(!args.quiet, total, started);
    let result = run_master(listener, split_listener, options, |p| bar.update(p)).await?;
    bar.finish();
    let lines = write_output(&output, &result.outputs)?;
    let p = result.progress;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "done in {secs:.2} s: {} map + {} reduce tasks, {} workers ({} lost), {} maps re-executed, {} backups; {lines} keys in {}",
        p.maps,
        p.reduces,
        result.tasks_per_worker.len(),
        p.workers_lost,
        p.maps_reexecuted,
        p.backups,
        output.display()
    );
    Ok(())
}

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let fetch_listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let options = WorkerOptions {
        master: args.master,
        fetch_listener,
        jobs: job_by_name,
        scratch: std::env::temp_dir(),
        task_delay: Duration::from_millis(args.task_delay_ms),
        slots: args.slots,
    };
    let report = run_worker(options).await?;
    eprintln!("worker done: {} tasks", report.tasks);
    Ok(())
}

/// A one-line progress display on stderr, redrawn at most ten times a second.
struct ProgressLine {
    enabled: bool,
    total_bytes: u64,
    started: Instant,
    drawn: Option<Instant>,
    last: Progress,
}

impl ProgressLine {
    fn new(enabled: bool, total_bytes: u64, started: Instant) -> Self {
        ProgressLine {
            enabled,
            total_bytes,
            started,
            drawn: None,
            last: Progress::default(),
        }
    }

    fn update(&mut self, p: &Progress) {
        self.last = *p;
        let now = Instant::now();
        if self.enabled
            && self
                .drawn
                .is_none_or(|t| now - t >= Duration::from_millis(100))
        {
            self.draw();
            self.drawn = Some(now);
        }
    }

    fn draw(&self) {
        let p = &self.last;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let mapped = self.total_bytes as f64 * f64::from(p.maps_done) / f64::from(p.maps.max(1));
        let bar = |done: u32, all: u32| {
            let width = 20;
            let full = (width * done as usize)
                .checked_div(all as usize)
                .unwrap_or(width);
            format!("[{}{}]", "#".repeat(full), ".".repeat(width - full))
        };
        eprint!(
            "\rmap {} {}/{}  reduce {} {}/{}  worker slots {}  {:.1} MB/s   ",
            bar(p.maps_done, p.maps),
            p.maps_done,
            p.maps,
            bar(p.reduces_done, p.reduces),
            p.reduces_done,
            p.reduces,
            p.live_workers,
            mapped / secs / 1e6
        );
    }

    fn finish(&self) {
        if self.enabled {
            self.draw();
            eprintln!();
        }
    }
}

/// The inputs' total size; fails with the first input that cannot be read.
fn total_input_bytes(inputs: &[PathBuf]) -> anyhow::Result<u64> {
    inputs
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .map(|m| m.len())
                .with_context(|| format!("cannot read input {}", f.display()))
        })
        .sum()
}
