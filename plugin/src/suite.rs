//! What the suite's plugins share: their vendor details, and how they follow the host's
//! transport and render mode.

use mixsmith_core::realtime::{BridgeAudio, RenderMode};
use nice_plug::prelude::{ProcessMode, Transport};

/// The vendor every plugin of the suite names.
pub const VENDOR: &str = "Mixsmith";
/// The suite's web site.
pub const URL: &str = "https://mixsmith.invalid";
/// The suite's contact address.
pub const EMAIL: &str = "dev@mixsmith.invalid";

/// The bridge's render mode for the host's process mode: offline renders wait for the worker.
pub fn render_mode(process_mode: ProcessMode) -> RenderMode {
    match process_mode {
        ProcessMode::Offline => RenderMode::Offline,
        ProcessMode::Realtime | ProcessMode::Buffered => RenderMode::Realtime,
    }
}

/// Restarts a bridge's stream when the host's transport jumps.
#[derive(Debug, Default)]
pub struct TransportFollower {
    /// Where the transport should be at the next block if it keeps playing.
    expected_position: Option<i64>,
}

impl TransportFollower {
    /// Forgets the position (after a host reset).
    pub fn reset(&mut self) {
        self.expected_position = None;
    }

    /// Called once per block of `frames` frames: resets `bridge`'s stream when the playing
    /// transport is not where the last block left it.
    pub fn follow(
        &mut self,
        transport: &Transport,
        frames: usize,
        bridge: Option<&mut BridgeAudio>,
    ) {
        let position = transport.pos_samples().filter(|_| transport.playing);
        if let (Some(now), Some(expected), Some(bridge)) =
            (position, self.expected_position, bridge)
            && now != expected
        {
            bridge.reset();
        }
        self.expected_position = position.map(|now| now + frames as i64);
    }
}
