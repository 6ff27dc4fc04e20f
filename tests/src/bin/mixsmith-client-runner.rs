//! Runs one cloud-client job in its own process, so a test can kill it (SIGKILL) mid-job and
//! start another process that resumes the job from its stored record.
//!
//! ```text
//! mixsmith-client-runner start  PROVIDER BASE_URL CONFIG JOBS_DIR OUT_DIR REQUEST_JSON
//! mixsmith-client-runner resume PROVIDER BASE_URL CONFIG JOBS_DIR JOB_ID
//! ```
//! The key comes from `MIXSMITH_<PROVIDER>_API_KEY`; CONFIG holds the tuning. Prints
//! `job <id>` first, then one line per event; exits 0 when the job completed.

use std::path::Path;

use mixsmith_core::client::{
    Client, ClientConfig, JobEvent, JobOutcome, JobRequest, JobStore, ProviderKind,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn run(args: &[String]) -> Result<bool, String> {
    let [cmd, provider, base, config, jobs, rest @ ..] = args else {
        return Err("usage: start|resume PROVIDER BASE_URL CONFIG JOBS_DIR ...".into());
    };
    let kind: ProviderKind = provider.parse()?;
    let cfg = ClientConfig::load(Path::new(config)).map_err(|e| e.to_string())?;
    let pc = cfg.provider(kind, Some(base)).map_err(|e| e.to_string())?;
    let store = JobStore::new(jobs).map_err(|e| e.to_string())?;
    let client = Client::new(&pc, store).map_err(|e| e.to_string())?;
    let handle = match (cmd.as_str(), rest) {
        ("start", [out, request]) => {
            let text = std::fs::read_to_string(request).map_err(|e| e.to_string())?;
            let req: JobRequest = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            client
                .start(req, Path::new(out))
                .map_err(|e| e.to_string())?
        }
        ("resume", [id]) => client.resume(id).map_err(|e| e.to_string())?,
        _ => return Err("bad arguments".into()),
    };
    println!("job {}", handle.id());
    for event in handle.events().iter() {
        println!("{event:?}");
        if let JobEvent::Finished(outcome) = event {
            return Ok(matches!(outcome, JobOutcome::Completed { .. }));
        }
    }
    Ok(false)
}
