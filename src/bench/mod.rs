//! `reef bench`: times source → callable, the forward pass and value_and_grad after warm-up,
//! and the peak memory of value_and_grad; optionally against the hand-written Rust baseline
//! of workload A.

pub mod alloc;
pub mod baseline;
