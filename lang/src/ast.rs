//! The typed syntax tree of a reef source file.
//!
//! Invariants: every node carries the span it was parsed from (spans do not take part in
//! equality, see [`Span`]); the tree says exactly what the text says — nothing is resolved,
//! defaulted or desugared here (that is elaboration's job), so `print` can reproduce the source.

use crate::span::{Ident, Span};

/// A whole source file: models, functions, networks and train blocks, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    /// The items, in source order.
    pub items: Vec<Item>,
}

/// One top-level definition with its doc comment.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The `///` lines before it, without the `///` marker.
    pub docs: Vec<String>,
    /// What it defines.
    pub kind: ItemKind,
    /// The whole item, docs excluded.
    pub span: Span,
}

/// The kinds of top-level definitions.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `model Name(generics) { ... }`: a neuron or synapse model, one time step.
    Model(Model),
    /// `fn name(args) = body grad(arg) = ...`: an elementwise function, optionally with
    /// declared derivatives.
    Function(Function),
    /// `network Name(settings) = expr` or `network Name(settings) { ... }`.
    Network(Network),
    /// `train Name { ... }`: how to train a network.
    Train(Train),
}

impl Item {
    /// The name this item defines.
    pub fn name(&self) -> &Ident {
        match &self.kind {
            ItemKind::Model(m) => &m.name,
            ItemKind::Function(f) => &f.name,
            ItemKind::Network(n) => &n.name,
            ItemKind::Train(t) => &t.network,
        }
    }
}

/// An elementwise function. Without `grad` declarations its derivative is that of its body;
/// with them, each declared argument's partial derivative is the given expression (a custom
/// derivative, like Rockpool's `step_pwl` surrogate) and undeclared arguments get zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// Its name.
    pub name: Ident,
    /// Argument names.
    pub params: Vec<Ident>,
    /// The forward value.
    pub body: Expr,
    /// Declared partial derivatives, `grad(arg) = expr`.
    pub grads: Vec<GradDecl>,
}

/// `grad(arg) = expr`: the partial derivative of a function with respect to `arg`.
#[derive(Clone, Debug, PartialEq)]
pub struct GradDecl {
    /// The argument differentiated against.
    pub param: Ident,
    /// ∂f/∂arg as an expression of the arguments.
    pub expr: Expr,
}

/// A model: generic parameters and the statements of one time step.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Its name.
    pub name: Ident,
    /// Generic parameters (sizes, booleans, functions, numbers).
    pub generics: Vec<GenericParam>,
    /// The body, read top to bottom.
    pub body: Vec<Stmt>,
}

/// `name: kind = default`.
#[derive(Clone, Debug, PartialEq)]
pub struct GenericParam {
    /// Its name.
    pub name: Ident,
    /// What kind of value it takes.
    pub kind: Spanned<GenericKind>,
    /// The default, if any.
    pub default: Option<Expr>,
}

pub use crate::span::Spanned;

/// The kinds of generic arguments a model takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenericKind {
    /// A non-negative integer, used in shapes.
    Size,
    /// `true` or `false`, used in conditions.
    Bool,
    /// The name of an elementwise function.
    Fn,
    /// A real number, possibly with a unit.
    Number,
}

impl GenericKind {
    /// The keyword that names this kind.
    pub fn keyword(self) -> &'static str {
        match self {
            GenericKind::Size => "size",
            GenericKind::Bool => "bool",
            GenericKind::Fn => "fn",
            GenericKind::Number => "number",
        }
    }
}

/// One statement of a model body, with its doc comment.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// The `///` lines before it.
    pub docs: Vec<String>,
    /// What it says.
    pub kind: StmtKind,
    /// Where.
    pub span: Span,
}

/// The statements of a model body.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `param name[shape] = init where bounds if cond`: trainable.
    Param(Decl),
    /// `const name[shape] = value if cond`: fixed.
    Const(Decl),
    /// `state name[shape] = initial if cond`: persists across steps.
    State(Decl),
    /// `input name[shape]`: what arrives this step.
    Input {
        /// Its name.
        name: Ident,
        /// Its shape (a vector), if given.
        shape: Option<Vec<Expr>>,
    },
    /// `let name = expr`.
    Let {
        /// The name.
        name: Ident,
        /// Its value.
        value: Expr,
    },
    /// `name <- expr`: the state's value from here on (and at the next step).
    Assign {
        /// The state.
        target: Ident,
        /// Its new value.
        value: Expr,
    },
    /// `name' = expr`: an ODE right-hand side, integrated by forward Euler.
    Ode {
        /// The state.
        target: Ident,
        /// d(state)/dt.
        rate: Expr,
    },
    /// `output expr`: what the next module receives.
    Output(Expr),
    /// `if cond { ... } else { ... }` on generic arguments, resolved at elaboration.
    If {
        /// The condition.
        cond: Expr,
        /// Statements when it holds.
        then: Vec<Stmt>,
        /// Statements otherwise (an `else if` is a single nested `If`).
        otherwise: Option<Vec<Stmt>>,
    },
}

/// A `param`, `const` or `state` declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    /// Its name.
    pub name: Ident,
    /// Its shape; `None` is a scalar.
    pub shape: Option<Vec<Expr>>,
    /// Initial value or initialiser.
    pub init: Expr,
    /// `where` bounds (params only).
    pub bounds: Vec<Bound>,
    /// `if cond`: declared only when it holds.
    pub condition: Option<Expr>,
}

/// `name >= expr` or `name <= expr`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// What is bounded: a parameter name (or a dotted path in a train block).
    pub target: Ident,
    /// Lower (`>=`) or upper (`<=`).
    pub kind: BoundKind,
    /// The bound.
    pub value: Expr,
    /// The whole bound.
    pub span: Span,
}

/// Which side a bound limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BoundKind {
    /// `>=`.
    Lower,
    /// `<=`.
    Upper,
}

/// A network: settings and either one combinator expression or explicit wiring.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Its name.
    pub name: Ident,
    /// `(dt = 1 ms, ...)`.
    pub settings: Vec<NamedArg>,
    /// What it is made of.
    pub body: NetworkBody,
}

/// The two ways to write a network.
#[derive(Clone, Debug, PartialEq)]
pub enum NetworkBody {
    /// `= Sequential(...)` and friends.
    Expr(Expr),
    /// `{ input u[2]  node a = ...  u -> a  output a }`.
    Wiring(Vec<NetworkStmt>),
}

/// A statement of an explicitly wired network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkStmt {
    /// The `///` lines before it.
    pub docs: Vec<String>,
    /// What it says.
    pub kind: NetworkStmtKind,
    /// Where.
    pub span: Span,
}

/// Statements of an explicitly wired network.
#[derive(Clone, Debug, PartialEq)]
pub enum NetworkStmtKind {
    /// `input name[size]`.
    Input {
        /// Its name.
        name: Ident,
        /// Its shape.
        shape: Vec<Expr>,
    },
    /// `node name = module`.
    Node {
        /// Its name.
        name: Ident,
        /// The module (a model instance or combinator).
        module: Expr,
    },
    /// `a -> b -> c`: signals; several into one node are summed.
    Connect(Vec<Ident>),
    /// `output name`.
    Output(Ident),
}

/// `train Network { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    /// The network it trains.
    pub network: Ident,
    /// Its statements.
    pub body: Vec<TrainStmt>,
}

/// A statement of a train block.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainStmt {
    /// The `///` lines before it.
    pub docs: Vec<String>,
    /// What it says.
    pub kind: TrainStmtKind,
    /// Where.
    pub span: Span,
}

/// Statements of a train block.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainStmtKind {
    /// `key = value`.
    Setting(NamedArg),
    /// `bound path >= value`.
    Bound(Bound),
}

/// `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedArg {
    /// The name.
    pub name: Ident,
    /// The value.
    pub value: Expr,
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Expressions: arithmetic in models, module instances in networks, settings in train blocks.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number as written, with its unit.
    Number(Number),
    /// `true` / `false`.
    Bool(bool),
    /// `"text"` (a file path in a train block).
    Str(String),
    /// A name.
    Ident(String),
    /// A dotted parameter path, `1_Rate.w_rec`.
    Path(Vec<String>),
    /// `-x`, `!x`.
    Unary(UnaryOp, Box<Expr>),
    /// `a + b` and the other infix operators.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `f(args)`: a function, initialiser, model instance or combinator.
    Call {
        /// What is called.
        callee: Ident,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `if c { a } else { b }`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `(e)`, kept so the printer reproduces the programmer's grouping.
    Paren(Box<Expr>),
}

/// A numeric literal: the value as written, in the given unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    /// The digits as written (`1e-4`), so printing reproduces them.
    pub text: String,
    /// The value of the digits, before the unit.
    pub value: f64,
    /// The unit, if any.
    pub unit: Option<Unit>,
}

impl Number {
    /// The value in SI base units (seconds, hertz).
    pub fn si_value(&self) -> f64 {
        self.value * self.unit.map_or(1.0, Unit::scale)
    }
}

/// Physical units a literal can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Seconds.
    Second,
    /// Milliseconds.
    Millisecond,
    /// Microseconds.
    Microsecond,
    /// Hertz (1/s).
    Hertz,
}

impl Unit {
    /// The unit as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Second => "s",
            Unit::Millisecond => "ms",
            Unit::Microsecond => "us",
            Unit::Hertz => "Hz",
        }
    }

    /// Factor to SI base units.
    pub fn scale(self) -> f64 {
        match self {
            Unit::Second | Unit::Hertz => 1.0,
            Unit::Millisecond => 1e-3,
            Unit::Microsecond => 1e-6,
        }
    }

    /// The power of time this unit carries: 1 for seconds, -1 for hertz.
    pub fn time_power(self) -> i32 {
        match self {
            Unit::Second | Unit::Millisecond | Unit::Microsecond => 1,
            Unit::Hertz => -1,
        }
    }
}

/// A call argument: positional, `name = value`, or a labelled member `name: Module(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `///` lines before it (members of combinators can be documented).
    pub docs: Vec<String>,
    /// `name =` or `name:`, if any.
    pub label: Option<ArgLabel>,
    /// The value.
    pub value: Expr,
}

/// How an argument is labelled.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgLabel {
    /// `name = value`: a named (keyword) argument or override.
    Named(Ident),
    /// `name: Module(...)`: names a member of a combinator.
    Member(Ident),
}

/// Prefix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `!x`.
    Not,
}

/// Infix operators, loosest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `||`.
    Or,
    /// `&&`.
    And,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `@`: row vector times matrix.
    MatMul,
    /// `^`.
    Pow,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::MatMul => "@",
            BinaryOp::Pow => "^",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::MatMul => 5,
            BinaryOp::Pow => 7,
        }
    }
}

/// Binding strength of prefix `-` and `!`: tighter than `*`, looser than `^` (`-x^2` is `-(x^2)`).
pub const PREFIX_PRECEDENCE: u8 = 6;

impl Expr {
    /// The name, if this expression is a bare identifier.
    pub fn as_ident(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Ident(name) => Some(name),
            _ => None,
        }
    }
}
