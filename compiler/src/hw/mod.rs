//! Hardware lowering: a trained spiking network → a neuromorphic chip's configuration.
//!
//! One sub-module per chip family. Only Dynap-SE1 exists so far ([`dynapse`]).

pub mod dynapse;
