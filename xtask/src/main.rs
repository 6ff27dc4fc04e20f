//! Mixsmith developer tasks.
fn main() {}
