//! reef's runtime: parameters ([`params::ParamSet`], seeded initialisation, Rockpool-named
//! files), data I/O ([`io`]: `.npy`/`.npz`, atomic writes) and running compiled networks
//! ([`run`]).

pub mod grad;
pub mod io;
pub mod params;
pub mod run;
