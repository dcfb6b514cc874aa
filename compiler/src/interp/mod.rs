//! The reference interpreter: runs a step program over `[batch, time, channels]` input, in f32
//! or f64, from the states' initial values. Plain and simple on purpose: it is the oracle that
//! the JIT and the gradients are checked against.

use std::fmt;

mod grad;
pub use grad::{Gradient, add_loss_param_grads, bounds_in, loss_value, value_and_grad};

use crate::step::{BinaryOp, Op, StateInit, StepProgram, UnaryOp, ValueId};

/// The element types the interpreter runs in.
pub trait Real: Copy + PartialOrd + fmt::Debug + Send + Sync + 'static {
    /// Zero.
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
    /// Converts from f64 (rounding for f32).
    fn from_f64(value: f64) -> Self;
    /// Converts to f64 (exactly).
    fn to_f64(self) -> f64;
    /// Applies a unary op.
    fn unary(op: UnaryOp, x: Self) -> Self;
    /// Applies a binary op.
    fn binary(op: BinaryOp, x: Self, y: Self) -> Self;
    /// Adds.
    fn add(self, other: Self) -> Self;
    /// Multiplies.
    fn mul(self, other: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn unary(op: UnaryOp, x: Self) -> Self {
                match op {
                    UnaryOp::Neg => -x,
                    UnaryOp::Exp => x.exp(),
                    UnaryOp::Log => x.ln(),
                    UnaryOp::Tanh => x.tanh(),
                    UnaryOp::Sqrt => x.sqrt(),
                    UnaryOp::Abs => x.abs(),
                    UnaryOp::Floor => x.floor(),
                    UnaryOp::Sin => x.sin(),
                    UnaryOp::Cos => x.cos(),
                }
            }
            fn binary(op: BinaryOp, x: Self, y: Self) -> Self {
                let truth = |b: bool| if b { 1.0 } else { 0.0 };
                match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div => x / y,
                    BinaryOp::Pow => x.powf(y),
                    BinaryOp::Min => {
                        if y < x {
                            y
                        } else {
                            x
                        }
                    }
                    BinaryOp::Max => {
                        if y > x {
                            y
                        } else {
                            x
                        }
                    }
                    BinaryOp::Lt => truth(x < y),
                    BinaryOp::Le => truth(x <= y),
                    BinaryOp::Gt => truth(x > y),
                    BinaryOp::Ge => truth(x >= y),
                    BinaryOp::Eq => truth(x == y),
                    BinaryOp::Ne => truth(x != y),
                }
            }
            fn add(self, other: Self) -> Self {
                self + other
            }
            fn mul(self, other: Self) -> Self {
                self * other
            }
        }
    };
}

impl_real!(f32);
impl_real!(f64);

/// What is wrong with the buffers handed to the interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterpError {
    /// A parameter buffer has the wrong number of elements.
    ParamLength {
        /// The parameter.
        name: String,
        /// Elements its shape needs.
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// The number of parameter buffers differs from the parameter table.
    ParamCount {
        /// Parameters in the table.
        expected: usize,
        /// Buffers given.
        found: usize,
    },
    /// The input buffer's length is not `batch * steps * channels`.
    InputLength {
        /// Elements expected.
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// Gradients were asked of code compiled without an adjoint.
    NoAdjoint,
    /// The target buffer's length is not `batch * steps * outputs`.
    TargetLength {
        /// Elements expected.
        expected: usize,
        /// Elements given.
        found: usize,
    },
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::ParamLength { name, expected, found } => {
                write!(f, "parameter `{name}` has {found} elements, its shape needs {expected}")
            }
            InterpError::ParamCount { expected, found } => {
                write!(f, "{found} parameters given, the network has {expected}")
            }
            InterpError::InputLength { expected, found } => {
                write!(f, "input has {found} elements, expected {expected}")
            }
            InterpError::NoAdjoint => {
                write!(f, "this network was compiled without its adjoint; compile it for gradients")
            }
            InterpError::TargetLength { expected, found } => {
                write!(f, "target has {found} elements, expected {expected} (batch x steps x outputs)")
            }
        }
    }
}

impl std::error::Error for InterpError {}

/// The result of a run. Arrays are row-major `[batch, steps, size]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Evolution<T> {
    /// Network output per step.
    pub output: Vec<T>,
    /// Output size.
    pub output_size: usize,
    /// Recorded values (module outputs and states), each `[batch, steps, size]`, when asked.
    pub records: Vec<Record<T>>,
}

/// One recorded signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<T> {
    /// `1_Rate.output`, `1_LIF.vmem`, ...
    pub name: String,
    /// Elements per step.
    pub size: usize,
    /// `[batch, steps, size]`.
    pub data: Vec<T>,
}

/// Runs `program` over `input` (`[batch, steps, channels]`, row-major) with `params` (one
/// row-major buffer per parameter). Noise, if any, is drawn from a SplitMix64 stream seeded with
/// `seed` (Box–Muller normals).
pub fn evolve<T: Real>(
    program: &StepProgram,
    params: &[Vec<T>],
    input: &[T],
    batch: usize,
    steps: usize,
    record: bool,
    seed: u64,
) -> Result<Evolution<T>, InterpError> {
    check_params(program, params)?;
    let channels = program.inputs.first().copied().unwrap_or(0);
    let expected = batch * steps * channels;
    if input.len() != expected {
        return Err(InterpError::InputLength { expected, found: input.len() });
    }
    let output_size = program.outputs.first().map_or(0, |v| program.shape(*v).len());
    let mut output = Vec::with_capacity(batch * steps * output_size);
    let mut records: Vec<Record<T>> = if record {
        program
            .records
            .iter()
            .map(|(name, value)| Record { name: name.clone(), size: program.shape(*value).len(), data: Vec::new() })
            .chain(program.states.iter().map(|s| Record {
                name: s.name.clone(),
                size: s.shape.len(),
                data: Vec::new(),
            }))
            .collect()
    } else {
        Vec::new()
    };
    for b in 0..batch {
        let element = &input[b * steps * channels..(b + 1) * steps * channels];
        forward_element(program, params, element, steps, b, seed, |_, _, values, states| {
            for value in &program.outputs {
                output.extend_from_slice(&values[value.index()]);
            }
            if record {
                let named = program.records.iter().map(|(_, v)| &values[v.index()]).chain(states.iter());
                for (slot, data) in records.iter_mut().zip(named) {
                    slot.data.extend_from_slice(data);
                }
            }
        });
    }
    Ok(Evolution { output, output_size, records })
}

/// Runs one batch element forward from its initial states; after step `t` calls
/// `visit(t, states_before, values, states_after)`.
pub fn forward_element<T: Real>(
    program: &StepProgram,
    params: &[Vec<T>],
    input: &[T],
    steps: usize,
    batch_index: usize,
    seed: u64,
    mut visit: impl FnMut(usize, &[Vec<T>], &[Vec<T>], &[Vec<T>]),
) {
    let channels = program.inputs.first().copied().unwrap_or(0);
    let mut states = initial_states(program, params);
    for t in 0..steps {
        let inputs = StepInputs {
            params,
            states: &states,
            input: &input[t * channels..(t + 1) * channels],
            seeds: &[],
            state_adjoints: &[],
            next_states: &[],
            noise: NoiseKey { seed, batch: batch_index, step: t },
        };
        let values = step(program, &inputs);
        let next: Vec<Vec<T>> = program.state_updates.iter().map(|v| values[v.index()].clone()).collect();
        visit(t, &states, &values, &next);
        states = next;
    }
}

/// Checks that parameter buffers match the parameter table.
pub fn check_params<T>(program: &StepProgram, params: &[Vec<T>]) -> Result<(), InterpError> {
    if params.len() != program.params.len() {
        return Err(InterpError::ParamCount { expected: program.params.len(), found: params.len() });
    }
    for (slot, buffer) in program.params.iter().zip(params) {
        if buffer.len() != slot.shape.len() {
            return Err(InterpError::ParamLength {
                name: slot.name.clone(),
                expected: slot.shape.len(),
                found: buffer.len(),
            });
        }
    }
    Ok(())
}

/// Each state's value before the first step.
pub fn initial_states<T: Real>(program: &StepProgram, params: &[Vec<T>]) -> Vec<Vec<T>> {
    program
        .states
        .iter()
        .map(|state| match &state.init {
            StateInit::Constant(value) => vec![T::from_f64(*value); state.shape.len()],
            StateInit::Param(param) => params[param.0 as usize].clone(),
        })
        .collect()
}

/// What one step reads besides the program.
pub struct StepInputs<'a, T> {
    /// Parameter buffers by id.
    pub params: &'a [Vec<T>],
    /// States at the end of the previous step.
    pub states: &'a [Vec<T>],
    /// The network input of this step.
    pub input: &'a [T],
    /// ∂L/∂output[t] per output (adjoint programs).
    pub seeds: &'a [Vec<T>],
    /// λ of each state's new value (adjoint programs).
    pub state_adjoints: &'a [Vec<T>],
    /// Each state's new value, from the forward pass (adjoint programs).
    pub next_states: &'a [Vec<T>],
    /// Where noise comes from: run seed, batch element and step.
    pub noise: NoiseKey,
}

/// Identifies the noise of one step of one batch element.
#[derive(Clone, Copy, Debug)]
pub struct NoiseKey {
    /// The run's seed.
    pub seed: u64,
    /// Batch element.
    pub batch: usize,
    /// Step.
    pub step: usize,
}

/// Evaluates one step: the value of every instruction.
pub fn step<T: Real>(program: &StepProgram, inputs: &StepInputs<'_, T>) -> Vec<Vec<T>> {
    let StepInputs { params, states, input, .. } = *inputs;
    let mut values: Vec<Vec<T>> = Vec::with_capacity(program.insts.len());
    for inst in &program.insts {
        let get = |v: ValueId| &values[v.index()];
        let result = match inst.op {
            Op::Const(value) => vec![T::from_f64(value)],
            Op::Param(param) => params[param.0 as usize].clone(),
            Op::State(state) => states[state.0 as usize].clone(),
            Op::Input(_) => input.to_vec(),
            Op::Noise(stream) => {
                let mut noise = Noise::for_step(inputs.noise, stream);
                (0..inst.shape.len()).map(|_| T::from_f64(noise.normal())).collect()
            }
            Op::Seed(output) => inputs.seeds[output as usize].clone(),
            Op::StateAdjoint(state) => inputs.state_adjoints[state.0 as usize].clone(),
            Op::NextState(state) => inputs.next_states[state.0 as usize].clone(),
            Op::Unary(op, a) => get(a).iter().map(|x| T::unary(op, *x)).collect(),
            Op::Binary(op, a, b) => zip2(get(a), get(b), inst.shape.len(), |x, y| T::binary(op, x, y)),
            Op::Select(c, a, b) => {
                let (c, a, b) = (get(c), get(a), get(b));
                (0..inst.shape.len()).map(|i| if at(c, i).to_f64() != 0.0 { at(a, i) } else { at(b, i) }).collect()
            }
            Op::VecMat(x, w) => {
                let (x, w) = (get(x), get(w));
                let cols = inst.shape.len();
                let mut out = vec![T::from_f64(0.0); cols];
                for (row, xi) in x.iter().enumerate() {
                    for (col, slot) in out.iter_mut().enumerate() {
                        *slot = slot.add(xi.mul(w[row * cols + col]));
                    }
                }
                out
            }
            Op::ScaledProduct(c, x, w) => {
                let (c, x, w) = (get(c), get(x), get(w));
                let cols = inst.shape.len();
                let mut out = vec![T::from_f64(0.0); cols];
                for (row, xi) in x.iter().enumerate() {
                    for (col, slot) in out.iter_mut().enumerate() {
                        *slot = slot.add(xi.mul(w[row * cols + col]));
                    }
                }
                out.iter().enumerate().map(|(col, v)| at(c, col).mul(*v)).collect()
            }
            Op::VecMatT(x, w) => {
                let (x, w) = (get(x), get(w));
                let rows = inst.shape.len();
                let cols = x.len();
                (0..rows)
                    .map(|row| (0..cols).fold(T::from_f64(0.0), |acc, col| acc.add(x[col].mul(w[row * cols + col]))))
                    .collect()
            }
            Op::Outer(x, y) => {
                let (x, y) = (get(x), get(y));
                x.iter().flat_map(|xi| y.iter().map(move |yj| xi.mul(*yj))).collect()
            }
            Op::Sum(a) => vec![get(a).iter().fold(T::from_f64(0.0), |acc, x| acc.add(*x))],
            Op::Broadcast(a) => vec![get(a)[0]; inst.shape.len()],
        };
        values.push(result);
    }
    values
}

fn at<T: Copy>(values: &[T], index: usize) -> T {
    if values.len() == 1 { values[0] } else { values[index] }
}

fn zip2<T: Real>(a: &[T], b: &[T], len: usize, f: impl Fn(T, T) -> T) -> Vec<T> {
    (0..len).map(|i| f(at(a, i), at(b, i))).collect()
}

/// Standard normal numbers from a SplitMix64 stream (Box–Muller). Each noise instruction of
/// each step of each batch element has its own stream, keyed by (seed, batch, step, stream), so
/// recomputing a step (as the adjoint does) draws the same numbers.
pub struct Noise {
    state: u64,
    spare: Option<f64>,
}

impl Noise {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        Noise { state: seed, spare: None }
    }

    /// The stream of noise instruction `stream` at `key`.
    pub fn for_step(key: NoiseKey, stream: u32) -> Self {
        let mut mixer = Noise::new(key.seed);
        let mut state = mixer.next_u64();
        for part in [key.batch as u64, key.step as u64, u64::from(stream)] {
            mixer.state = state ^ part.wrapping_mul(0xD1B5_4A32_D192_ED03);
            state = mixer.next_u64();
        }
        Noise::new(state)
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// One standard normal number (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let radius = (-2.0 * u.ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * v;
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }
}
