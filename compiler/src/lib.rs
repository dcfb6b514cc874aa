//! reef's compiler: AST → [`graph::NetworkGraph`] → [`step::StepProgram`], the reference
//! interpreter, and (in later stages) the adjoint, code generation and hardware lowering.
//!
//! ```
//! let mut sources = reef_lang::Sources::with_prelude();
//! let text = "network Tiny(dt = 1 ms) = Sequential(Linear(2, 3), Rate(3))";
//! let id = sources.add("tiny.net", text);
//! let compiled = reef_compiler::compile_source(&sources, id).unwrap();
//! assert_eq!(compiled[0].program.outputs.len(), 1);
//! ```

pub mod adjoint;
pub mod codegen;
pub mod elaborate;
pub mod graph;
pub mod hw;
pub mod interp;
pub mod loss;
pub mod lower;
pub mod step;
pub mod sym;

use reef_lang::{Diagnostics, SourceId, Sources};

/// A network compiled down to its step program.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The graph IR.
    pub graph: graph::NetworkGraph,
    /// One time step of the whole network.
    pub program: step::StepProgram,
}

/// Parses the prelude and source `id`, elaborates every network and lowers each.
pub fn compile_source(sources: &Sources, id: SourceId) -> Result<Vec<Compiled>, Diagnostics> {
    let prelude = reef_lang::prelude::parse_prelude()?;
    let text = sources.get(id).map(|f| f.text.as_str()).unwrap_or("");
    let file = reef_lang::parse(id, text)?;
    compile(&prelude, &file)
}

/// Elaborates and lowers every network of `file`.
pub fn compile(prelude: &reef_lang::ast::File, file: &reef_lang::ast::File) -> Result<Vec<Compiled>, Diagnostics> {
    let graphs = elaborate::elaborate(prelude, file)?;
    let mut compiled = Vec::new();
    let mut diagnostics = Diagnostics::new();
    for graph in graphs {
        match lower::lower(&graph) {
            Ok(program) => compiled.push(Compiled { graph, program }),
            Err(errors) => diagnostics.extend(errors),
        }
    }
    diagnostics.into_result(compiled)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_network_that_fails_to_elaborate_is_an_error_not_silence() {
        let mut sources = reef_lang::Sources::with_prelude();
        let id = sources.add("t.net", "network A(dt = 1 ms) = Linear(1)");
        let result = super::compile_source(&sources, id);
        assert!(result.is_err(), "a missing size must be reported");
    }
}
