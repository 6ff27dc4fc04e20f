//! Mixsmith plugin.
