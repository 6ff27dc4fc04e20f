//! End-to-end test support: small in-repo hosts that load the built Mixsmith bundles.
//!
//! - [`clap_host`]: a CLAP host on `clack-host` (activation with restart handling, latency,
//!   parameters as input events, realtime/offline render mode, state, audio-port configs).
//! - [`vst3_host`]: a VST3 host on `vst3-host` (processing, parameters, process mode, bus
//!   arrangements, state).
//! - [`paths`]: where the bundles and the standalone binary are.
//! - [`spec`]: the plugin facts the tests rely on (parameter hashes, latency formula).
//! - [`signal`]: test signals and the "output is the input delayed by the latency" checks.
//! - [`harness`]: the scenarios, written once for both hosts.
//! - [`master_scenarios`]: Master mode end to end (a learned match in the state, compared with
//!   the CLI's render), for both hosts.
//! - [`isolate`]: running a scenario in a child process, because the debug bundle aborts the
//!   whole process on an allocation in `process()`.
//! - [`stems_scenarios`]: Mixsmith Stems in both hosts (buses, latency, automation, the CLI).
//! - [`voice_scenarios`]: Mixsmith Voice in both hosts (latency, the profile in the state,
//!   automation, the engine's conversion).
//! - [`render`]: rendering a WAV through the CLAP plugin (the `mixsmith-host` tool).
//! - [`state`]: reading and editing nice-plug's JSON plugin state.
//! - [`fake_providers`]: local fake cloud providers (axum) for the client tests.

pub mod clap_host;
pub mod fake_providers;
pub mod harness;
pub mod isolate;
pub mod master_scenarios;
pub mod paths;
pub mod render;
pub mod signal;
pub mod spec;
pub mod state;
pub mod stems_scenarios;
pub mod voice_scenarios;
pub mod vst3_host;
