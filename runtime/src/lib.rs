//! reef's runtime: parameters ([`params::ParamSet`], seeded initialisation, Rockpool-named
//! files), data I/O ([`io`]: `.npy`/`.npz`, atomic writes), running compiled networks
//! ([`run`]), and training: optimisers ([`optim`]), the training loop and run folders
//! ([`train`]), figures ([`plot`]) and the tutorials' datasets ([`tasks`]).

pub mod executable;
pub mod grad;
pub mod io;
pub mod optim;
pub mod params;
pub mod plot;
pub mod run;
pub mod tasks;
pub mod train;
