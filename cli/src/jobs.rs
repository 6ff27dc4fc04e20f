//! `mixsmith jobs list | resume | cancel`: the stored cloud jobs.

use anyhow::{Result, bail};
use mixsmith_core::client::JobPhase;

use crate::cloud::{self, CloudOpts};

/// Arguments of `mixsmith jobs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub cloud: CloudOpts,
}

/// The `jobs` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List stored jobs (newest last).
    List {
        /// Print JSON records instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Resume following and downloading unfinished jobs (all of them without an ID).
    Resume {
        /// Job ids.
        ids: Vec<String>,
    },
    /// Cancel a job (a process following it stops at its next step).
    Cancel {
        /// Job id.
        id: String,
    },
    /// Remove the records of finished jobs (results stay where they are).
    Prune,
}

/// Runs `mixsmith jobs`.
pub fn run(args: &Args) -> Result<()> {
    let store = args.cloud.store()?;
    match &args.command {
        Command::List { json } => {
            let (records, bad) = store.list()?;
            for e in bad {
                eprintln!("warning: {e}");
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&records)?);
                return Ok(());
            }
            println!(
                "{:<34} {:<9} {:<12} {:>5}  {:<5} label",
                "id", "provider", "phase", "prog", "files"
            );
            for r in records {
                let progress = r
                    .progress
                    .map(|p| format!("{:.0}%", p * 100.0))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<34} {:<9} {:<12} {:>5}  {:<5} {}{}",
                    r.id,
                    r.provider.id(),
                    format!("{:?}", r.phase).to_lowercase(),
                    progress,
                    r.saved.len(),
                    r.request.label().chars().take(40).collect::<String>(),
                    r.error.map(|e| format!("  ({e})")).unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Resume { ids } => {
            let (records, _) = store.list()?;
            let chosen: Vec<_> = if ids.is_empty() {
                records
                    .into_iter()
                    .filter(|r| !r.phase.is_terminal())
                    .collect()
            } else {
                let mut v = Vec::new();
                for id in ids {
                    v.push(store.load(id)?);
                }
                v
            };
            if chosen.is_empty() {
                eprintln!("no unfinished jobs");
                return Ok(());
            }
            let mut handles = Vec::new();
            let mut clients = std::collections::HashMap::new();
            for r in chosen {
                if r.phase.is_terminal() {
                    bail!("job {} is already {:?}", r.id, r.phase);
                }
                let client = match clients.entry(r.provider) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(args.cloud.client(r.provider, Some(&r.base_url))?)
                    }
                };
                handles.push(client.resume(&r.id)?);
            }
            cloud::follow(handles, args.cloud.verbose)
        }
        Command::Cancel { id } => {
            let r = store.request_cancel(id)?;
            match r.phase {
                JobPhase::Cancelled => eprintln!("job {id} cancelled"),
                p if p.is_terminal() => eprintln!("job {id} had already ended ({p:?})"),
                _ => eprintln!("job {id}: cancel requested; the process following it will stop"),
            }
            Ok(())
        }
        Command::Prune => {
            let (records, _) = store.list()?;
            let mut n = 0;
            for r in records.into_iter().filter(|r| r.phase.is_terminal()) {
                store.remove(&r.id)?;
                n += 1;
            }
            eprintln!("removed {n} finished job record(s)");
            Ok(())
        }
    }
}
