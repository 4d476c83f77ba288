//! `dsys viewservice` and `dsys pb`: view service and primary/backup KV (issue 4; being built).

/// Arguments of `dsys viewservice`.
#[derive(clap::Args, Debug)]
pub struct ViewServiceArgs {}

/// `dsys pb` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PbCommand {}

/// Runs `dsys viewservice`.
pub fn run_viewservice(_args: ViewServiceArgs) -> anyhow::Result<()> {
    anyhow::bail!("dsys viewservice is not built yet")
}

/// Runs `dsys pb`.
pub fn run_pb(command: PbCommand) -> anyhow::Result<()> {
    match command {}
}
