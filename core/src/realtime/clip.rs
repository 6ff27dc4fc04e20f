//! Analyse-ahead playback: whole-song results computed on a worker, played by the audio thread in
//! sync with the host transport.
//!
//! A worker publishes a finished [`Clip`] through a [`ClipSender`]; the audio thread's
//! [`ClipPlayer`] picks it up without locking and hands the clip it replaces back to the sender,
//! so no clip is ever freed on the audio thread.

use super::handoff::{HandoffReceiver, HandoffSender, ReceiverBusy, handoff};

/// Finished audio placed on the host timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// One buffer per channel, all the same length, at the session's sample rate.
    channels: Vec<Vec<f32>>,
    /// The host transport position, in samples, of the clip's first frame.
    start_frame: i64,
}

impl Clip {
    /// A clip that starts at `start_frame` on the host timeline. Channels must be non-empty and of
    /// equal length.
    pub fn new(channels: Vec<Vec<f32>>, start_frame: i64) -> Self {
        assert!(!channels.is_empty(), "a clip needs at least one channel");
        assert!(
            channels.iter().all(|c| c.len() == channels[0].len()),
            "clip channels must have equal lengths"
        );
        Self {
            channels,
            start_frame,
        }
    }
}

/// The non-realtime side: publishes clips (or `None` to stop playback) and frees the ones the
/// player has let go of.
pub type ClipSender = HandoffSender<Clip>;

/// Returned by [`ClipSender::publish`] when the player has not picked up earlier swaps yet.
pub type PlayerBusy = ReceiverBusy;

/// The audio thread's side: plays the current clip at the transport position.
pub struct ClipPlayer {
    /// The clip being played, handed over by the sender.
    clip: HandoffReceiver<Clip>,
}

/// Creates a connected sender and player.
pub fn clip_channel() -> (ClipSender, ClipPlayer) {
    let (sender, clip) = handoff();
    (sender, ClipPlayer { clip })
}

impl ClipPlayer {
    /// Writes the clip's audio for the block starting at transport position `position` into
    /// `channels`, silence where the clip does not cover the block. Returns false, leaving
    /// `channels` untouched, when no clip is loaded or the transport position is unknown.
    pub fn render(&mut self, position: Option<i64>, channels: &mut [&mut [f32]]) -> bool {
        let (Some(clip), Some(position)) = (self.clip.current(), position) else {
            return false;
        };
        for (index, channel) in channels.iter_mut().enumerate() {
            let source = &clip.channels[index % clip.channels.len()];
            for (offset, sample) in channel.iter_mut().enumerate() {
                let frame = position + offset as i64 - clip.start_frame;
                *sample = usize::try_from(frame)
                    .ok()
                    .and_then(|frame| source.get(frame))
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn plays_the_clip_at_the_transport_position() {
        let (mut sender, mut player) = clip_channel();
        let clip = Clip::new(vec![(0..100).map(|i| i as f32).collect()], 1000);
        sender.publish(Some(Arc::new(clip))).unwrap();

        let mut left = [9.0_f32; 8];
        let mut right = [9.0_f32; 8];
        assert!(player.render(Some(996), &mut [&mut left, &mut right]));
        assert_eq!(left, [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(right, left, "a mono clip feeds every channel");

        assert!(player.render(Some(1096), &mut [&mut left, &mut right]));
        assert_eq!(left, [96.0, 97.0, 98.0, 99.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn without_a_clip_or_a_position_the_block_is_untouched() {
        let (mut sender, mut player) = clip_channel();
        let mut block = [5.0_f32; 4];
        assert!(!player.render(Some(0), &mut [&mut block]));
        sender
            .publish(Some(Arc::new(Clip::new(vec![vec![1.0; 4]], 0))))
            .unwrap();
        assert!(!player.render(None, &mut [&mut block]));
        assert_eq!(block, [5.0; 4]);
    }

    #[test]
    fn replaced_clips_are_freed_by_the_sender() {
        let (mut sender, mut player) = clip_channel();
        let first = Arc::new(Clip::new(vec![vec![1.0; 4]], 0));
        sender.publish(Some(Arc::clone(&first))).unwrap();
        player.render(Some(0), &mut [&mut [0.0; 4]]);
        sender
            .publish(Some(Arc::new(Clip::new(vec![vec![2.0; 4]], 0))))
            .unwrap();
        let mut block = [0.0_f32; 4];
        player.render(Some(0), &mut [&mut block]);
        assert_eq!(block, [2.0; 4]);
        assert_eq!(
            Arc::strong_count(&first),
            2,
            "the retired clip waits in the ring"
        );
        sender.collect_retired();
        assert_eq!(Arc::strong_count(&first), 1);
    }
}
