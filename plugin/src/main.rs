//! The Mixsmith standalone runner.

fn main() {}
