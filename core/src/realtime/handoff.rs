//! Handing a large, immutable result from a worker to the audio thread: the audio thread picks
//! up the newest one without locking or waiting, and gives the one it replaces back, so nothing
//! is ever freed on the audio thread.

use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};

/// How many swaps may be in flight before the sender collects the retired values.
const SWAP_CAPACITY: usize = 4;

/// The non-realtime side: publishes values and frees the ones the receiver has let go of.
pub struct HandoffSender<T> {
    /// New values (or `None` to clear) on their way to the audio thread.
    incoming: Producer<Option<Arc<T>>>,
    /// Values the audio thread no longer uses, dropped here.
    retired: Consumer<Arc<T>>,
}

/// The audio thread's side: holds the current value.
pub struct HandoffReceiver<T> {
    /// The value in use.
    current: Option<Arc<T>>,
    /// New values from the sender.
    incoming: Consumer<Option<Arc<T>>>,
    /// Replaced values going back to the sender to be freed.
    retired: Producer<Arc<T>>,
}

/// Creates a connected sender and receiver.
pub fn handoff<T>() -> (HandoffSender<T>, HandoffReceiver<T>) {
    let (incoming_tx, incoming_rx) = RingBuffer::new(SWAP_CAPACITY);
    // One more slot than swaps in flight, so the receiver can always retire its current value.
    let (retired_tx, retired_rx) = RingBuffer::new(SWAP_CAPACITY + 1);
    (
        HandoffSender {
            incoming: incoming_tx,
            retired: retired_rx,
        },
        HandoffReceiver {
            current: None,
            incoming: incoming_rx,
            retired: retired_tx,
        },
    )
}

/// Returned by [`HandoffSender::publish`] when the audio thread has not picked up earlier
/// swaps yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audio thread has not picked up the previous results yet; try again later")]
pub struct ReceiverBusy;

impl<T> HandoffSender<T> {
    /// Hands `value` (or `None` to clear) to the receiver. Frees retired values first.
    pub fn publish(&mut self, value: Option<Arc<T>>) -> Result<(), ReceiverBusy> {
        self.collect_retired();
        self.incoming.push(value).map_err(|_| ReceiverBusy)
    }

    /// Drops the values the receiver has let go of. Call it now and then off the audio thread.
    pub fn collect_retired(&mut self) {
        while self.retired.pop().is_ok() {}
    }
}

impl<T> HandoffReceiver<T> {
    /// The newest published value (picking up any new one). Lock-free and allocation-free.
    pub fn current(&mut self) -> Option<&T> {
        while let Ok(next) = self.incoming.pop() {
            if let Some(old) = std::mem::replace(&mut self.current, next) {
                // The retired ring has room for every swap in flight, so this cannot fail while
                // the sender keeps collecting; if it ever did, leaking beats freeing here.
                if let Err(rtrb::PushError::Full(old)) = self.retired.push(old) {
                    std::mem::forget(old);
                }
            }
        }
        self.current.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_value_wins_and_replaced_ones_are_freed_by_the_sender() {
        let (mut sender, mut receiver) = handoff::<Vec<u8>>();
        assert_eq!(receiver.current(), None);
        let first = Arc::new(vec![1]);
        sender.publish(Some(Arc::clone(&first))).unwrap();
        assert_eq!(receiver.current(), Some(&vec![1]));
        sender.publish(Some(Arc::new(vec![2]))).unwrap();
        sender.publish(Some(Arc::new(vec![3]))).unwrap();
        assert_eq!(receiver.current(), Some(&vec![3]));
        assert_eq!(Arc::strong_count(&first), 2, "retired, waiting in the ring");
        sender.collect_retired();
        assert_eq!(Arc::strong_count(&first), 1);
        sender.publish(None).unwrap();
        assert_eq!(receiver.current(), None);
    }

    #[test]
    fn a_full_queue_is_refused_not_blocked() {
        let (mut sender, _receiver) = handoff::<u8>();
        for _ in 0..SWAP_CAPACITY {
            sender.publish(Some(Arc::new(0))).unwrap();
        }
        assert_eq!(sender.publish(None), Err(ReceiverBusy));
    }
}
