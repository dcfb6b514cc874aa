//! Compiles a network into its two native functions with Cranelift: the forward time loop
//! (which also writes the state tape) and the backward time loop over the adjoint program
//! (which accumulates parameter gradients). Here: which values each loop computes, carries and
//! precomputes, the group products, and what one step emits; `function` builds each function
//! around that and `plan` decides how each gradient is accumulated.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Type, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::default_libcall_names;

use super::CodegenError;
use super::carry::{Carry, carries, in_place};
use super::derived::DerivedTerm;
use super::diagonal::DiagonalTerm;
use super::emit::{Emitter, GroupProduct, group_product};
use super::function::{Buffers, Kind, LoopSpec, Phase, build_versions};
use super::fuse::{Piece, escapes, pieces};
use super::kernels;
use super::layout::{Base, Layout, Loc, layout};
use super::plan::{GradientPlan, Term};
use super::schedule::{Fusion, schedule};
use crate::adjoint::AdjointProgram;
use crate::step::{Op, StateInit, StepProgram, ValueId};

/// The element type of generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// f32 (f32x4 vectors).
    F32,
    /// f64 (f64x2 vectors).
    F64,
}

impl Element {
    /// The scalar type.
    pub(super) fn scalar(self) -> Type {
        match self {
            Element::F32 => types::F32,
            Element::F64 => types::F64,
        }
    }
    /// The 128-bit vector type.
    pub(super) fn vector(self) -> Type {
        match self {
            Element::F32 => types::F32X4,
            Element::F64 => types::F64X2,
        }
    }
    /// Lanes of the vector type.
    pub(super) fn lanes(self) -> usize {
        match self {
            Element::F32 => 4,
            Element::F64 => 2,
        }
    }
}

/// A product `input @ W` (`W` a parameter) that the caller computes for all steps as one
/// matrix product before the loop; the loop reads its row `t` (DESIGN.md §2).
#[derive(Clone, Debug, PartialEq)]
pub struct Precomputed {
    /// The weight.
    pub param: u32,
    /// Input channels (rows of `W`).
    pub rows: usize,
    /// Columns of `W`.
    pub cols: usize,
}

/// One side of a weight-gradient sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Side {
    /// The network input itself (`[steps, channels]`): nothing to store.
    Input,
    /// A state's rows on the forward pass's tape (`x` sides only): nothing to store. `next`: the
    /// state's new value (the tape's next row).
    Tape {
        /// The state.
        state: u32,
        /// Its first element in a tape row.
        offset: usize,
        /// Whether this is the state's new value rather than its value before the step.
        next: bool,
    },
    /// A buffer the backward loop fills row by row: (buffer index, row length).
    Buffer(usize, usize),
    /// A column of ones (`x` sides only): the term is the sum of the `y` rows, a gradient
    /// added at every step read off rows already stored for another term (a bias's).
    Ones,
    /// Buffer `k`'s rows one step later (buffer index, row length): a carried value the
    /// backward loop reads from its producer's row (see [`super::next_row`]).
    NextRow(usize, usize),
}

/// A weight gradient `Σ_t x[t]ᵀ y[t]`: the backward loop stores the rows, and the caller adds
/// `Xᵀ Y` to the gradient with one matrix product after the loop.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceTerm {
    /// The weight whose gradient this is.
    pub param: u32,
    /// `x` (rows of the gradient).
    pub x: Side,
    /// `y` (columns).
    pub y: Side,
    /// Rows of the gradient.
    pub rows: usize,
    /// Columns of the gradient.
    pub cols: usize,
    /// For a `ScaledProduct(y, x, W)` term: the weight `W`. `Xᵀ Y` is then not the gradient
    /// but is contracted with `W`: `∂L/∂θ[j] += Σ_i W[i, j] (Xᵀ Y)[i, j]`.
    pub contract: Option<u32>,
}

/// A compiled module with its two functions and the layouts their callers need.
pub struct Compiled {
    /// Owns the code; taken and freed on drop of [`super::JitNetwork`].
    pub module: Option<JITModule>,
    /// `forward(params, inputs, outputs, tapes, states_a, states_b, scratches, steps, noises,
    /// pres, states_out, count)` for one element (`count` = 1; see [`super::function::build`]).
    pub forward: *const u8,
    /// Layout of the forward program.
    pub forward_layout: Layout,
    /// `backward(params, inputs, tapes, seeds, grads, lambdas_a, lambdas_b, scratches, steps,
    /// noises, lambdas_out, pres, seqs, count)`, when an adjoint was given.
    pub backward: Option<(*const u8, Layout)>,
    /// The forward function for lock-step groups of 2 to [`super::MAX_GROUP`] elements (same
    /// arguments), when the step has group products; `forward` takes one element per call.
    pub forward_group: Option<*const u8>,
    /// As `forward_group`, for the backward function.
    pub backward_group: Option<*const u8>,
    /// Products the caller computes before the loops (`pre` argument, in this order).
    pub precomputed: Vec<Precomputed>,
    /// Which products the forward function reads (it never touches the others' pointers).
    pub forward_products: Vec<bool>,
    /// Which products the backward function reads.
    pub backward_products: Vec<bool>,
    /// Weight gradients the caller finishes after the backward loop.
    pub sequences: Vec<SequenceTerm>,
    /// Gradient terms the caller reads off the sequence products after the backward loop.
    pub derived: Vec<DerivedTerm>,
    /// Gradient terms summed from rows as they are flushed.
    pub diagonals: Vec<DiagonalTerm>,
    /// Row length of each sequence buffer (`seq` argument, in this order).
    pub sequence_lengths: Vec<usize>,
    /// Per parameter: whether the backward pass adds to its gradient outside the sequence
    /// products (at every step, or a state initialiser's final λ); the others' gradients come
    /// only from the sequence products, and generated code never touches them.
    pub step_gradients: Vec<bool>,
    /// Whether the backward function writes the row after each call's sequence rows (see
    /// [`super::next_row`]).
    pub next_rows: bool,
    /// Whether flushing the sequence products beside the backward loop pays (see
    /// [`flushes_fit_beside_the_loop`]).
    pub flush_beside_loop: bool,
    /// What code generation made of the network, for people (see [`super::summary`]).
    pub summary: String,
}

/// Whether the sequence products' work per row is small enough to hide behind the backward
/// loop's work per step (multiply-adds of its products, plus its elementwise operations) when
/// a second thread computes them. A large feed-forward weight's gradient (C's 2000 × 8, B's
/// 200 × 50, with almost no loop work) is better split across both threads after the loop:
/// measured, C took 1.5× as long beside the loop; A (recurrent 50 × 50, ratio ≈ 1.5) 0.65×.
fn flushes_fit_beside_the_loop(program: &StepProgram, emit: &[bool], terms: &[SequenceTerm]) -> bool {
    let loop_work: usize = (program.insts.iter().enumerate())
        .filter(|(index, _)| emit[*index])
        .map(|(_, inst)| match inst.op {
            Op::VecMat(x, _) | Op::VecMatT(x, _) => program.shape(x).len() * inst.shape.len(),
            _ => inst.shape.len(),
        })
        .sum();
    let flush_work: usize = terms.iter().map(|term| term.rows * term.cols).sum();
    flush_work <= 4 * loop_work
}

/// Compiles `forward` (and `adjoint`) for element type `element`.
pub fn compile(
    forward: &StepProgram,
    adjoint: Option<&AdjointProgram>,
    element: Element,
    kernels: bool,
) -> Result<Compiled, CodegenError> {
    let mut flag_builder = settings::builder();
    let set = |b: &mut settings::Builder, k: &str, v: &str| {
        b.set(k, v).map_err(|e| CodegenError(format!("setting {k}: {e}")))
    };
    set(&mut flag_builder, "opt_level", "speed")?;
    set(&mut flag_builder, "is_pic", "false")?;
    set(&mut flag_builder, "use_colocated_libcalls", "false")?;
    // Cranelift's IR verifier checks every function before it is compiled: on in debug builds
    // (every test), off in release builds, where it was a third of the compile time.
    set(&mut flag_builder, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
    let isa = cranelift_native::builder()
        .map_err(|e| CodegenError(format!("unsupported host: {e}")))?
        .finish(settings::Flags::new(flag_builder))
        .map_err(|e| CodegenError(format!("ISA: {e}")))?;
    let mut jit = JITBuilder::with_isa(isa, default_libcall_names());
    register_kernels(&mut jit);
    let mut module = JITModule::new(jit);
    let mut context = FunctionBuilderContext::new();

    // Divisions by loop invariants become products (see `reciprocal`); the programs keep their
    // parameter, state and input tables, so the callers' buffers are unchanged.
    let forward = super::reciprocal::rewrite_program(forward).0;
    // Outputs of the new states alone are computed one step late (see `skew`), where that
    // adds no work to the step (the shifted output may not share the step's values).
    let kernels = kernels && super::matvec::available();
    let fusion = Fusion::new(element, kernels);
    let late =
        super::skew::skew_outputs(&forward).filter(|late| step_work(fusion, late) <= step_work(fusion, &forward));
    let late_outputs = late.is_some();
    let forward = &late.unwrap_or(forward);
    let adjoint = adjoint.map(super::reciprocal::rewrite_adjoint);
    let adjoint = adjoint.as_ref();
    let mut precomputed: Vec<Precomputed> = Vec::new();
    let forward_fixed = precomputed_products(forward, &mut precomputed);
    let forward_roots: Vec<ValueId> = forward.outputs.iter().chain(&forward.state_updates).copied().collect();
    let mut forward_values = LoopValues::new(fusion, forward, &forward_roots, &forward_fixed, true);
    let mut forward_layout = layout(forward, &forward_values.needed, &forward_fixed, kernels);
    forward_values.share_slots(forward, &forward_roots, fusion, &mut forward_layout);
    states_in_place(&forward.state_updates, &forward_values, &mut forward_layout);
    let merged = super::merge::merge_readouts(forward, &mut forward_values, &mut forward_layout);
    let forward_needed = &forward_values.needed;
    let mut sequences = Vec::new();
    let mut sequence_lengths = Vec::new();
    let mut derived = Vec::new();
    let mut diagonals = Vec::new();
    let mut next_rows = false;
    let backward_parts = match adjoint {
        Some(adjoint) => {
            let backward_fixed = precomputed_products(&adjoint.program, &mut precomputed);
            let mut plan =
                GradientPlan::new(adjoint, &mut sequences, &mut sequence_lengths, &mut derived, &mut diagonals);
            let mut roots: Vec<ValueId> = adjoint.state_adjoints.clone();
            roots.extend(plan.roots());
            let values = LoopValues::new(fusion, &adjoint.program, &roots, &backward_fixed, false);
            let mut backward_layout = layout(&adjoint.program, &values.needed, &backward_fixed, kernels);
            values.share_slots(&adjoint.program, &roots, fusion, &mut backward_layout);
            rows_in_place(&plan, &values, &mut backward_layout);
            let rows = (&mut sequences[..], &mut sequence_lengths[..], &diagonals[..]);
            next_rows =
                super::next_row::carried_in_rows(&adjoint.program, &values, &mut plan, &mut backward_layout, rows);
            states_in_place(&adjoint.state_adjoints, &values, &mut backward_layout);
            let reads = reads(&values.needed, &backward_fixed);
            Some((adjoint, plan, values, backward_layout, (backward_fixed, reads)))
        }
        None => None,
    };
    let step_gradients = match &backward_parts {
        Some(parts) => {
            // A state that starts from a parameter passes its final λ to that gradient too.
            let mut every = parts.1.step_gradients();
            for state in &forward.states {
                if let StateInit::Param(param) = state.init {
                    every[param.0 as usize] = true;
                }
            }
            every
        }
        None => Vec::new(),
    };
    let flush_beside_loop = match &backward_parts {
        Some((adjoint, _, values, ..)) => {
            let emit: Vec<bool> = values.emit.iter().zip(&values.invariant).map(|(e, i)| *e && !*i).collect();
            flushes_fit_beside_the_loop(&adjoint.program, &emit, &sequences)
        }
        None => false,
    };
    let mut summary = String::new();
    super::summary::precomputed(&mut summary, forward, &precomputed);
    let title = ("forward", fusion);
    super::summary::function(&mut summary, title, forward, &forward_values, &forward_fixed, &forward_layout);
    if late_outputs {
        summary.push_str("  outputs: of the states, computed one step late (the last after the loop)\n");
    }
    super::summary::merged(&mut summary, forward, &merged);
    if let Some((adjoint, plan, values, backward_layout, (fixed, _))) = &backward_parts {
        let title = ("backward", fusion);
        super::summary::function(&mut summary, title, &adjoint.program, values, fixed, backward_layout);
        let stored = plan.stored_values(sequence_lengths.len());
        super::summary::gradients(
            &mut summary,
            &adjoint.program,
            (&sequences, &derived, &diagonals),
            &stored,
            &plan.step_gradients(),
            flush_beside_loop,
        );
    }
    let products = precomputed.len();
    let forward_products = used(&reads(forward_needed, &forward_fixed), products);
    let backward_products = match &backward_parts {
        Some(parts) => used(&parts.4.1, products),
        None => vec![false; products],
    };
    let shapes = Buffers {
        precomputed: precomputed.iter().map(|p| p.cols).collect(),
        sequences: sequence_lengths.clone(),
        kernels,
    };
    let forward_groups = group_products(forward, &forward_values, &forward_layout, fusion, kernels);
    let forward_spec = LoopSpec {
        kind: Kind::Forward,
        element,
        program: forward,
        layout: &forward_layout,
        buffers: &shapes,
        groups: &forward_groups,
        late_outputs,
    };
    let forward_ids = build_versions(&mut module, &mut context, "reef_forward", forward_spec, |e, phase, groups| {
        emit_forward(e, forward, &forward_values, (phase, late_outputs), groups)
    })?;
    let backward = match backward_parts {
        Some((adjoint, plan, values, backward_layout, _)) => {
            let groups = group_products(&adjoint.program, &values, &backward_layout, fusion, kernels);
            let spec = LoopSpec {
                kind: Kind::Backward,
                element,
                program: &adjoint.program,
                layout: &backward_layout,
                buffers: &shapes,
                groups: &groups,
                late_outputs: false,
            };
            let ids = build_versions(&mut module, &mut context, "reef_backward", spec, |e, phase, groups| {
                emit_backward(e, adjoint, &plan, &values, phase, groups)
            })?;
            Some((ids, backward_layout))
        }
        None => None,
    };
    module.finalize_definitions().map_err(|e| CodegenError(format!("finalising: {e}")))?;
    let forward_pointers: Vec<*const u8> = forward_ids.iter().map(|id| module.get_finalized_function(*id)).collect();
    let (backward, backward_group) = match backward {
        Some((ids, layout)) => {
            let pointers: Vec<*const u8> = ids.iter().map(|id| module.get_finalized_function(*id)).collect();
            (Some((pointers[0], layout)), pointers.get(1).copied())
        }
        None => (None, None),
    };
    Ok(Compiled {
        module: Some(module),
        forward: forward_pointers[0],
        forward_group: forward_pointers.get(1).copied(),
        forward_layout,
        backward,
        backward_group,
        precomputed,
        forward_products,
        backward_products,
        sequences,
        derived,
        diagonals,
        sequence_lengths,
        step_gradients,
        next_rows,
        flush_beside_loop,
        summary,
    })
}

/// The products a lock-step group computes in one kernel call per step (see
/// [`super::function::build`]): with the kernels, every `x @ W` of the step that
/// [`group_product`] accepts, in program order.
fn group_products(
    program: &StepProgram,
    values: &LoopValues,
    layout: &Layout,
    fusion: Fusion,
    kernels: bool,
) -> Vec<GroupProduct> {
    if !kernels {
        return Vec::new();
    }
    (values.step_order(program, fusion).into_iter()).filter_map(|value| group_product(layout, program, value)).collect()
}

/// The precomputed products (indices into the product list) that the needed values read.
fn reads(needed: &[bool], fixed: &[(usize, Loc)]) -> Vec<usize> {
    fixed
        .iter()
        .filter(|(index, _)| needed[*index])
        .filter_map(|(_, loc)| match loc {
            Loc::Mem { base: Base::Precomputed(k), .. } => Some(*k as usize),
            _ => None,
        })
        .collect()
}

/// `products` flags, set for the listed indices.
fn used(indices: &[usize], products: usize) -> Vec<bool> {
    let mut flags = vec![false; products];
    for index in indices {
        flags[*index] = true;
    }
    flags
}

fn register_kernels(jit: &mut JITBuilder) {
    #[cfg(target_arch = "x86_64")]
    if super::matvec::available() {
        jit.symbol("reef_vecmat_f32", super::matvec::vecmat_f32 as *const u8);
        jit.symbol("reef_vecmat_t_f32", super::matvec::vecmat_t_f32 as *const u8);
        jit.symbol("reef_vecmat_f64", super::matvec::vecmat_f64 as *const u8);
        jit.symbol("reef_vecmat_t_f64", super::matvec::vecmat_t_f64 as *const u8);
        jit.symbol("reef_vecmat_group_f32", super::matvec::vecmat_group_f32 as *const u8);
        jit.symbol("reef_vecmat_group_f64", super::matvec::vecmat_group_f64 as *const u8);
        jit.symbol("reef_dot_f32", super::dot::dot_f32 as *const u8);
    }
    #[cfg(target_arch = "x86_64")]
    if super::tanh::native_available() {
        jit.symbol("reef_tanh_rational_f32", super::tanh::tanh_f32 as *const u8);
        jit.symbol("reef_tanh_difference_f32", super::tanh::tanh_difference_f32 as *const u8);
    }
    let symbols: [(&str, *const u8); 14] = [
        ("reef_exp_f32", kernels::exp_f32 as *const u8),
        ("reef_log_f32", kernels::log_f32 as *const u8),
        ("reef_tanh_f32", kernels::tanh_f32 as *const u8),
        ("reef_sin_f32", kernels::sin_f32 as *const u8),
        ("reef_cos_f32", kernels::cos_f32 as *const u8),
        ("reef_pow_f32", kernels::pow_f32 as *const u8),
        ("reef_noise_f32", kernels::noise_f32 as *const u8),
        ("reef_exp_f64", kernels::exp_f64 as *const u8),
        ("reef_log_f64", kernels::log_f64 as *const u8),
        ("reef_tanh_f64", kernels::tanh_f64 as *const u8),
        ("reef_sin_f64", kernels::sin_f64 as *const u8),
        ("reef_cos_f64", kernels::cos_f64 as *const u8),
        ("reef_pow_f64", kernels::pow_f64 as *const u8),
        ("reef_noise_f64", kernels::noise_f64 as *const u8),
    ];
    for (name, pointer) in symbols {
        jit.symbol(name, pointer);
    }
}

/// Which values must be computed for `roots`; `fixed` values and `leaves` are read from memory,
/// so their operands are not needed for them (nor is the difference a native `tanh(a - b)`
/// computes itself, see [`Fusion::difference`]).
fn needed(
    fusion: Fusion,
    program: &StepProgram,
    roots: &[ValueId],
    fixed: &[(usize, Loc)],
    leaves: &[ValueId],
) -> Vec<bool> {
    let mut live = vec![false; program.insts.len()];
    let mut stack: Vec<ValueId> = roots.to_vec();
    while let Some(value) = stack.pop() {
        if live[value.index()] {
            continue;
        }
        live[value.index()] = true;
        // A precomputed product is read from memory: its operands are not needed in the loop.
        if !fixed.iter().any(|(index, _)| *index == value.index()) && !leaves.contains(&value) {
            stack.extend(fusion.operands(program, value));
        }
    }
    live
}

/// Which values a generated function computes, and where.
pub(super) struct LoopValues {
    /// Every value with a location: computed by some phase, or read.
    pub needed: Vec<bool>,
    /// Computed at every step (or before the loop, if invariant).
    pub emit: Vec<bool>,
    /// Computed by the prologue, before the first step: the carried values and what they need.
    pub prologue: Vec<bool>,
    /// Loop invariants (see [`invariant`]).
    pub invariant: Vec<bool>,
    /// Values carried from step to step (see [`super::carry`]).
    pub carries: Vec<Carry>,
    /// The values the outputs need, loop invariants aside (an epilogue computes them once
    /// more when the outputs are computed one step late, see [`super::skew`]).
    pub for_outputs: Vec<bool>,
}

impl LoopValues {
    /// The values for `roots` of a forward (`forward`) or backward loop; `fixed` values are
    /// precomputed.
    fn new(fusion: Fusion, program: &StepProgram, roots: &[ValueId], fixed: &[(usize, Loc)], forward: bool) -> Self {
        let invariant = invariant(program);
        let plain = needed(fusion, program, roots, fixed, &[]);
        let carries = carries(program, &invariant, &plain, forward);
        let carried: Vec<ValueId> = carries.iter().map(|c| c.carried).collect();
        let mut loop_roots = roots.to_vec();
        loop_roots.extend(carries.iter().map(|c| c.produced));
        let in_loop = needed(fusion, program, &loop_roots, fixed, &carried);
        let for_prologue = needed(fusion, program, &carried, fixed, &[]);
        let is_fixed = |index: usize| fixed.iter().any(|(i, _)| *i == index);
        let emit = (0..program.insts.len())
            .map(|index| in_loop[index] && !is_fixed(index) && !carried.iter().any(|c| c.index() == index))
            .collect();
        let prologue = (0..program.insts.len()).map(|index| for_prologue[index] && !is_fixed(index)).collect();
        let needed = in_loop.iter().zip(&for_prologue).map(|(a, b)| *a || *b).collect();
        let for_outputs = self::needed(fusion, program, &program.outputs, fixed, &[]);
        let for_outputs = (0..program.insts.len()).map(|index| for_outputs[index] && !invariant[index]).collect();
        LoopValues { needed, emit, prologue, invariant, carries, for_outputs }
    }

    /// Invariant values either phase computes.
    fn invariant_values(&self) -> impl Fn(usize) -> bool + '_ {
        |index| self.invariant[index] && (self.emit[index] || self.prologue[index])
    }

    /// Copies each produced value into its carried value's slot (the end of a step), unless
    /// it was computed there (see [`LoopValues::share_slots`]; `Emitter::copy` then does nothing).
    fn pass_on(&self, e: &mut Emitter<'_, '_>, program: &StepProgram) {
        for carry in &self.carries {
            let (source, dest) = (e.layout.locs[carry.produced.index()], e.layout.locs[carry.carried.index()]);
            let len = program.shape(carry.carried).len();
            if !super::next_row::read_in_place(source, dest, len) {
                e.copy(dest, source, len);
            }
        }
    }

    /// Whether `value` lives only within a step: computed at every step, and neither a loop
    /// invariant, a carried value nor computed by the prologue (whose locations must outlive
    /// the step or exist before it), so it may be computed straight where it is stored.
    fn within_step(&self, value: ValueId) -> bool {
        let index = value.index();
        self.emit[index]
            && !self.prologue[index]
            && !self.invariant[index]
            && !self.carries.iter().any(|c| c.carried == value)
    }

    /// The values each step computes, in the order generated code computes them (see
    /// [`super::schedule`]).
    fn step_order(&self, program: &StepProgram, fusion: Fusion) -> Vec<ValueId> {
        let values: Vec<ValueId> = (0..program.insts.len())
            .filter(|index| self.emit[*index] && !self.invariant[*index])
            .map(|index| ValueId(index as u32))
            .collect();
        schedule(program, &values, fusion)
    }

    /// Gives each produced value its carried value's scratch slot where that is safe
    /// ([`super::carry::in_place`]; `roots`: what the end of the step reads), so that no copy
    /// passes it on: the copy was on the forward loop's critical path, between the `tanh` that
    /// produces a Rate's output and the recurrent product that reads it.
    fn share_slots(&self, program: &StepProgram, roots: &[ValueId], fusion: Fusion, layout: &mut Layout) {
        let order = self.step_order(program, fusion);
        for carry in &self.carries {
            let scratch = |v: ValueId| matches!(layout.locs[v.index()], Loc::Mem { base: Base::Scratch, .. });
            if scratch(carry.carried) && scratch(carry.produced) && in_place(program, &order, roots, *carry) {
                layout.locs[carry.produced.index()] = layout.locs[carry.carried.index()];
            }
        }
    }

    /// Computes the carried values from the first step's states.
    fn prologue(&self, e: &mut Emitter<'_, '_>, program: &StepProgram) {
        let carried: Vec<ValueId> = self.carries.iter().map(|c| c.carried).collect();
        let emission = Emission::new(&self.prologue, |index| !self.invariant[index], &self.needed, &carried);
        emit_values(e, program, &emission);
    }
}

/// Gives each value the backward loop stores as weight-gradient rows (`Side::Buffer`) the
/// buffer's row as its location, so the step computes it there instead of copying it there
/// (only values that live within a step, [`LoopValues::within_step`]).
fn rows_in_place(plan: &GradientPlan, values: &LoopValues, layout: &mut Layout) {
    for term in plan.terms.iter().flatten() {
        let Term::Sequence(x, sx, y, sy) = term else { continue };
        for (value, side) in [(*x, *sx), (*y, *sy)] {
            let index = value.index();
            let Side::Buffer(k, _) = side else { continue };
            let Loc::Mem { base: Base::Scratch, scalar, .. } = layout.locs[index] else { continue };
            if values.within_step(value) {
                layout.locs[index] = Loc::Mem { base: Base::Sequence(k as u32), offset: 0, scalar };
            }
        }
    }
}

/// Gives each state's new value (forward) or new adjoint (backward), `updates` in state order,
/// its place in the buffer of the next step's states as its location, so the step computes it
/// there instead of copying it there at its end: only a value that lives within a step
/// ([`LoopValues::within_step`]) and is the update of one state.
fn states_in_place(updates: &[ValueId], values: &LoopValues, layout: &mut Layout) {
    for (state, value) in updates.iter().enumerate() {
        let Loc::Mem { base: Base::Scratch, scalar, .. } = layout.locs[value.index()] else { continue };
        let once = updates.iter().filter(|v| *v == value).count() == 1;
        if once && values.within_step(*value) {
            let offset = layout.state_offsets[state];
            layout.locs[value.index()] = Loc::Mem { base: Base::NextState, offset, scalar };
        }
    }
}

/// Finds `input @ W` products (adding new ones to `list`) and where their rows live.
fn precomputed_products(program: &StepProgram, list: &mut Vec<Precomputed>) -> Vec<(usize, Loc)> {
    let mut fixed = Vec::new();
    for (index, inst) in program.insts.iter().enumerate() {
        let Op::VecMat(x, w) = inst.op else { continue };
        // Worth a matrix product only with enough input channels; with few, the loop's own
        // multiply-adds are cheaper than reading a precomputed row.
        if program.shape(x).len() < MIN_PRECOMPUTED_ROWS {
            continue;
        }
        let (Op::Input(_), Op::Param(param)) = (program.inst(x).op, program.inst(w).op) else { continue };
        let entry = Precomputed { param: param.0, rows: program.shape(x).len(), cols: inst.shape.len() };
        let k = match list.iter().position(|p| *p == entry) {
            Some(k) => k,
            None => {
                list.push(entry);
                list.len() - 1
            }
        };
        fixed.push((index, Loc::Mem { base: Base::Precomputed(k as u32), offset: 0, scalar: false }));
    }
    fixed
}

/// Input channels from which an input product is precomputed with a GEMM.
const MIN_PRECOMPUTED_ROWS: usize = 16;

/// Values that depend only on parameters and constants (not on inputs, states, seeds,
/// adjoints or noise), which the time loop can compute once.
pub(super) fn invariant(program: &StepProgram) -> Vec<bool> {
    let mut invariant = Vec::with_capacity(program.insts.len());
    for inst in &program.insts {
        invariant.push(is_invariant(&inst.op, &invariant));
    }
    invariant
}

/// Whether `op` is a loop invariant, given which of the values before it are.
pub(super) fn is_invariant(op: &Op, invariant: &[bool]) -> bool {
    match op {
        Op::Noise(_) | Op::Input(_) | Op::State(_) | Op::Seed(_) | Op::StateAdjoint(_) | Op::NextState(_) => false,
        op => op.operands().iter().all(|v| invariant[v.index()]),
    }
}

fn emit_forward(
    e: &mut Emitter<'_, '_>,
    program: &StepProgram,
    values: &LoopValues,
    (phase, late_outputs): (Phase, bool),
    groups: &[ValueId],
) {
    let mut roots: Vec<ValueId> = program.outputs.iter().chain(&program.state_updates).copied().collect();
    roots.extend(values.carries.iter().map(|c| c.produced));
    let segment = match phase {
        Phase::Invariant => {
            let emission = Emission::new(&values.needed, values.invariant_values(), &values.needed, &roots);
            return emit_values(e, program, &emission);
        }
        Phase::Prologue => return values.prologue(e, program),
        Phase::Epilogue => {
            let step_values = |index: usize| !values.invariant[index];
            let emission = Emission::new(&values.for_outputs, step_values, &values.needed, &program.outputs);
            emit_values(e, program, &emission);
            return copy_outputs(e, program);
        }
        Phase::Step(segment) => segment,
    };
    let step_values = |index: usize| !values.invariant[index];
    emit_segment(e, program, &Emission::new(&values.emit, step_values, &values.needed, &roots), groups, segment);
    if segment < groups.len() {
        return;
    }
    if late_outputs {
        // The previous step's outputs: none before the first step.
        let write = e.b.create_block();
        let next = e.b.create_block();
        let first = e.b.ins().icmp_imm_s(IntCC::Equal, e.step, 0);
        e.b.ins().brif(first, next, &[], write, &[]);
        e.b.switch_to_block(write);
        copy_outputs(e, program);
        e.b.ins().jump(next, &[]);
        e.b.switch_to_block(next);
    } else {
        copy_outputs(e, program);
    }
    for (state, update) in program.state_updates.iter().enumerate() {
        let source = e.layout.locs[update.index()];
        let offset = e.layout.state_offsets[state];
        // Nothing to copy for a value computed in place (`states_in_place`).
        e.copy(Loc::Mem { base: Base::NextState, offset, scalar: false }, source, program.states[state].shape.len());
    }
    values.pass_on(e, program);
}

fn emit_backward(
    e: &mut Emitter<'_, '_>,
    adjoint: &AdjointProgram,
    plan: &GradientPlan,
    values: &LoopValues,
    phase: Phase,
    groups: &[ValueId],
) {
    let program = &adjoint.program;
    let sums = summed_in_runs(e, program, plan, values);
    // A term its run adds to the gradient is not stored for the end of the step (unless the end
    // of the step reads it for something else: a new λ, a row, another term).
    let mut roots: Vec<ValueId> = adjoint.state_adjoints.clone();
    roots.extend(plan.roots_but(|param, value| sums.contains(&(value, gradient(param)))));
    roots.extend(values.carries.iter().map(|c| c.produced));
    match phase {
        Phase::Invariant => {
            let emission = Emission::new(&values.needed, values.invariant_values(), &values.needed, &roots);
            return emit_values(e, program, &emission);
        }
        Phase::Prologue => return values.prologue(e, program),
        // The backward loop has no outputs (`late_outputs` is false for it).
        Phase::Epilogue => return,
        Phase::Step(segment) => {
            let step_values = |index: usize| !values.invariant[index];
            let emission = Emission { sums: &sums, ..Emission::new(&values.emit, step_values, &values.needed, &roots) };
            emit_segment(e, program, &emission, groups, segment);
            if segment < groups.len() {
                return;
            }
        }
    }
    let mut copied = vec![false; e.bases.sequences.len()];
    for (param, terms) in plan.terms.iter().enumerate() {
        let shape = program.params[param].shape;
        let dest = gradient(param);
        for term in terms {
            match term {
                Term::Sequence(x, sx, y, sy) => {
                    for (value, side) in [(x, sx), (y, sy)] {
                        if let Side::Buffer(k, len) = side
                            && !std::mem::replace(&mut copied[*k], true)
                        {
                            let source = e.layout.locs[value.index()];
                            let dest = Loc::Mem { base: Base::Sequence(*k as u32), offset: 0, scalar: false };
                            // Nothing to copy for a value computed in its row (`rows_in_place`).
                            e.copy(dest, source, *len);
                        }
                    }
                }
                Term::Value(value) if !sums.contains(&(*value, dest)) => {
                    let source = e.layout.locs[value.index()];
                    e.accumulate(dest, source, shape.len());
                }
                Term::Value(_) => {}
            }
        }
    }
    for (state, update) in adjoint.state_adjoints.iter().enumerate() {
        let source = e.layout.locs[update.index()];
        let offset = e.layout.state_offsets[state];
        // Nothing to copy for a value computed in place (`states_in_place`).
        e.copy(Loc::Mem { base: Base::NextState, offset, scalar: false }, source, program.states[state].shape.len());
    }
    values.pass_on(e, program);
}

/// The location of parameter `param`'s gradient accumulator.
fn gradient(param: usize) -> Loc {
    Loc::Mem { base: Base::Grad(param as u32), offset: 0, scalar: false }
}

/// The gradient terms added at every step (`Term::Value`) that their fused run adds to the
/// gradient itself, with the gradient's location: the one such term of its parameter (so the
/// order of the additions is unchanged), computed at every step in a run (fusable, more than
/// one element) with the parameter's length. The run then loads the gradient, adds and stores
/// it, instead of storing the term for a loop at the end of the step that loads it again.
fn summed_in_runs(
    e: &Emitter<'_, '_>,
    program: &StepProgram,
    plan: &GradientPlan,
    values: &LoopValues,
) -> Vec<(ValueId, Loc)> {
    let mut sums = Vec::new();
    for (param, terms) in plan.terms.iter().enumerate() {
        let mut each_step = terms.iter().filter_map(|term| match term {
            Term::Value(value) => Some(*value),
            Term::Sequence(..) => None,
        });
        let (Some(value), None) = (each_step.next(), each_step.next()) else { continue };
        let len = program.shape(value).len();
        let in_run = e.fusion().in_run(program, value);
        if in_run && values.within_step(value) && len == program.params[param].shape.len() {
            sums.push((value, gradient(param)));
        }
    }
    sums
}

/// Instructions a forward step of `program` computes (carried and precomputed values aside).
fn step_work(fusion: Fusion, program: &StepProgram) -> usize {
    let fixed = precomputed_products(program, &mut Vec::new());
    let roots: Vec<ValueId> = program.outputs.iter().chain(&program.state_updates).copied().collect();
    let values = LoopValues::new(fusion, program, &roots, &fixed, true);
    let computed = |index: &usize| values.emit[*index] && !values.invariant[*index];
    (0..program.insts.len())
        .filter(computed)
        .filter(|index| !super::schedule::silent(&program.insts[*index].op))
        .count()
}

/// Copies the outputs to the output row.
fn copy_outputs(e: &mut Emitter<'_, '_>, program: &StepProgram) {
    for (output, offset) in program.outputs.iter().zip(e.layout.output_offsets.clone()) {
        let source = e.layout.locs[output.index()];
        e.copy(Loc::Mem { base: Base::Output, offset, scalar: false }, source, program.shape(*output).len());
    }
}

/// What one phase of a step emits (see [`emit_segment`]).
struct Emission<'a> {
    /// The values it computes, in program order.
    values: Vec<ValueId>,
    /// The values any phase of the function computes (see [`escapes`]).
    readers: &'a [bool],
    /// What is read after the phase (the end of the step, or the next step).
    roots: &'a [ValueId],
    /// Values their fused runs add to a gradient (see [`summed_in_runs`]).
    sums: &'a [(ValueId, Loc)],
}

impl<'a> Emission<'a> {
    /// The `computed` values that `select` picks, and what reads them.
    fn new(computed: &[bool], select: impl Fn(usize) -> bool, readers: &'a [bool], roots: &'a [ValueId]) -> Self {
        let values =
            (0..computed.len()).filter(|index| computed[*index] && select(*index)).map(|index| ValueId(index as u32));
        Emission { values: values.collect(), readers, roots, sums: &[] }
    }
}

/// Emits segment `segment` of `emission`: the pieces after group product `segment - 1` and
/// before product `segment` (the products themselves are the group's kernel calls, emitted by
/// [`super::function::build`]). Pieces and the values they must store are found over the
/// whole step, so values read in a later segment are in memory.
fn emit_segment(
    e: &mut Emitter<'_, '_>,
    program: &StepProgram,
    emission: &Emission<'_>,
    groups: &[ValueId],
    segment: usize,
) {
    let fusion = e.fusion();
    let pieces = pieces(fusion, program, &schedule(program, &emission.values, fusion));
    let escapes = escapes(fusion, program, &pieces, emission.roots, emission.readers);
    let mut current = 0;
    for piece in &pieces {
        match piece {
            Piece::Single(value) if groups.contains(value) => current += 1,
            Piece::Single(value) if current == segment => e.instruction(program, *value),
            Piece::Run(run) if current == segment => e.fused(program, run, &escapes, emission.sums),
            _ => {}
        }
    }
}

/// Emits all of `emission` (no group products to split at), fusing runs of elementwise
/// instructions.
fn emit_values(e: &mut Emitter<'_, '_>, program: &StepProgram, emission: &Emission<'_>) {
    emit_segment(e, program, emission, &[], 0);
}
