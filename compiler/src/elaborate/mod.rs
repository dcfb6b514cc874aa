//! AST → graph IR: resolves names, instantiates models, expands combinators and wiring, and
//! checks sizes, shapes and units, reporting every problem with its place in the source.

mod consteval;
mod equation;
mod fragment;
mod model;
mod network;
mod scope;
mod units;

use reef_lang::Diagnostics;
use reef_lang::ast::File;

use crate::graph::NetworkGraph;
pub use equation::apply_unary;
pub use fragment::fold;
pub use scope::{Scope, did_you_mean, edit_distance};

/// Elaborates every network of `user` (with the prelude's models in scope). Collects as many
/// errors as it can across networks.
pub fn elaborate(prelude: &File, user: &File) -> Result<Vec<NetworkGraph>, Diagnostics> {
    let mut diagnostics = Diagnostics::new();
    let scope = Scope::collect(prelude, user, &mut diagnostics);
    let mut graphs = Vec::new();
    for network in &scope.networks {
        if let Some(graph) = network::elaborate_network(&scope, network, &mut diagnostics) {
            graphs.push(graph);
        }
    }
    diagnostics.into_result(graphs)
}
