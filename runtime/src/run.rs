//! Running networks.
