//! What a network declares about each parameter: its name, shape and initialiser.

/// One parameter a network needs: its reef name, its shape and how to initialise it. The compiler's
/// parameter table produces these; files are checked against them by
/// [`match_params`](crate::params::match_params).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// The reef name, `<module path>.<parameter>`, e.g. `1_Rate.w_rec` or `1_Residual.0_Linear.weight`.
    pub name: String,
    /// The shape, outermost axis first (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// How [`initialise`](crate::params::initialise) fills it.
    pub init: Init,
}

impl ParamSpec {
    /// A spec from its parts, for tests and hand-written tables.
    pub fn new(name: impl Into<String>, shape: impl Into<Vec<usize>>, init: Init) -> Self {
        ParamSpec { name: name.into(), shape: shape.into(), init }
    }

    /// The number of scalars the parameter holds (the product of its shape).
    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// How a parameter's initial values are drawn: the compiler's initialisers, used as they are
/// (each element is drawn independently; bounds are not validated, and non-finite bounds give
/// non-finite values, which [`match_params`](crate::params::match_params) would report if they
/// came from a file).
pub use reef_compiler::graph::Init;
