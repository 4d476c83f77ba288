//! `dsys wc` and `dsys mr`: MapReduce from the command line (issue 3; being built).

/// Arguments of `dsys wc`.
#[derive(clap::Args, Debug)]
pub struct WcArgs {}

/// `dsys mr` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum MrCommand {}

/// Runs `dsys wc`.
pub fn run_wc(_args: WcArgs) -> anyhow::Result<()> {
    anyhow::bail!("dsys wc is not built yet")
}

/// Runs `dsys mr`.
pub fn run_mr(command: MrCommand) -> anyhow::Result<()> {
    match command {}
}
