//! Builds the two native functions of a network with Cranelift: the forward time loop (which
//! also writes the state tape) and the backward time loop over the adjoint program (which
//! accumulates parameter gradients).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, BlockArg, InstBuilder, MemFlagsData, Signature, StackSlot, StackSlotData, StackSlotKind, Type,
    UserFuncName, Value, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::CodegenError;
use super::carry::{Carry, carries};
use super::derived::DerivedTerm;
use super::emit::{Bases, Emitter, GroupProduct, HostFunctions, group_product};
use super::fuse::{Piece, escapes, pieces};
use super::kernels;
use super::layout::{Base, Layout, Loc, layout};
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
    fn scalar(self) -> Type {
        match self {
            Element::F32 => types::F32,
            Element::F64 => types::F64,
        }
    }
    fn vector(self) -> Type {
        match self {
            Element::F32 => types::F32X4,
            Element::F64 => types::F64X2,
        }
    }
    fn lanes(self) -> usize {
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
    /// pres, states_out, count)` for a lock-step group of `count` elements (see [`build`]).
    pub forward: *const u8,
    /// Layout of the forward program.
    pub forward_layout: Layout,
    /// `backward(params, inputs, tapes, seeds, grads, lambdas_a, lambdas_b, scratches, steps,
    /// noises, lambdas_out, pres, seqs, count)`, when an adjoint was given.
    pub backward: Option<(*const u8, Layout)>,
    /// Whether the forward function runs lock-step groups of several elements (it has group
    /// products); without, it must be called with one element.
    pub forward_groups: bool,
    /// As `forward_groups`, for the backward function.
    pub backward_groups: bool,
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
    /// Row length of each sequence buffer (`seq` argument, in this order).
    pub sequence_lengths: Vec<usize>,
    /// Per parameter: whether the backward pass adds to its gradient outside the sequence
    /// products (at every step, or a state initialiser's final λ); the others' gradients come
    /// only from the sequence products, and generated code never touches them.
    pub step_gradients: Vec<bool>,
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
    let forward = &super::reciprocal::rewrite_program(forward).0;
    let adjoint = adjoint.map(super::reciprocal::rewrite_adjoint);
    let adjoint = adjoint.as_ref();
    let mut precomputed: Vec<Precomputed> = Vec::new();
    let forward_fixed = precomputed_products(forward, &mut precomputed);
    let forward_roots: Vec<ValueId> = forward.outputs.iter().chain(&forward.state_updates).copied().collect();
    let forward_values = LoopValues::new(forward, &forward_roots, &forward_fixed, true);
    let forward_needed = &forward_values.needed;
    let kernels = kernels && super::matvec::available();
    let forward_layout = layout(forward, forward_needed, &forward_fixed, kernels);
    let mut sequences = Vec::new();
    let mut sequence_lengths = Vec::new();
    let mut derived = Vec::new();
    let backward_parts = match adjoint {
        Some(adjoint) => {
            let backward_fixed = precomputed_products(&adjoint.program, &mut precomputed);
            let plan = GradientPlan::new(adjoint, &mut sequences, &mut sequence_lengths, &mut derived);
            let mut roots: Vec<ValueId> = adjoint.state_adjoints.clone();
            roots.extend(plan.roots());
            let values = LoopValues::new(&adjoint.program, &roots, &backward_fixed, false);
            let backward_layout = layout(&adjoint.program, &values.needed, &backward_fixed, kernels);
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
    super::summary::function(&mut summary, "forward", forward, &forward_values, &forward_fixed, forward_layout.scratch);
    if let Some((adjoint, plan, values, backward_layout, (fixed, _))) = &backward_parts {
        super::summary::function(&mut summary, "backward", &adjoint.program, values, fixed, backward_layout.scratch);
        let stored = plan.stored_values(sequence_lengths.len());
        super::summary::gradients(
            &mut summary,
            &adjoint.program,
            &sequences,
            &derived,
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
    let forward_groups = group_products(forward, &forward_values, &forward_layout, kernels);
    let forward_group_values: Vec<ValueId> = forward_groups.iter().map(|g| g.value).collect();
    let forward_id = build(
        &mut module,
        &mut context,
        "reef_forward",
        element,
        |e, phase| {
            let groups = if matches!(phase, Phase::Step(_, true)) { &forward_group_values[..] } else { &[] };
            emit_forward(e, forward, &forward_values, phase, groups);
        },
        Kind::Forward,
        forward,
        &forward_layout,
        &shapes,
        &forward_groups,
    )?;
    let mut backward_groups = false;
    let backward = match backward_parts {
        Some((adjoint, plan, values, backward_layout, _)) => {
            let groups = group_products(&adjoint.program, &values, &backward_layout, kernels);
            backward_groups = !groups.is_empty();
            let group_values: Vec<ValueId> = groups.iter().map(|g| g.value).collect();
            let id = build(
                &mut module,
                &mut context,
                "reef_backward",
                element,
                |e, phase| {
                    let groups = if matches!(phase, Phase::Step(_, true)) { &group_values[..] } else { &[] };
                    emit_backward(e, adjoint, &plan, &values, phase, groups);
                },
                Kind::Backward,
                &adjoint.program,
                &backward_layout,
                &shapes,
                &groups,
            )?;
            Some((id, backward_layout))
        }
        None => None,
    };
    module.finalize_definitions().map_err(|e| CodegenError(format!("finalising: {e}")))?;
    let forward_pointer = module.get_finalized_function(forward_id);
    let backward = backward.map(|(id, layout)| (module.get_finalized_function(id), layout));
    Ok(Compiled {
        module: Some(module),
        forward: forward_pointer,
        forward_layout,
        forward_groups: !forward_groups.is_empty(),
        backward_groups,
        backward,
        precomputed,
        forward_products,
        backward_products,
        sequences,
        derived,
        sequence_lengths,
        step_gradients,
        flush_beside_loop,
        summary,
    })
}

/// The products a lock-step group computes in one kernel call per step (see [`build`]): with the
/// kernels, every `x @ W` of the step that [`group_product`] accepts, in program order.
fn group_products(program: &StepProgram, values: &LoopValues, layout: &Layout, kernels: bool) -> Vec<GroupProduct> {
    if !kernels {
        return Vec::new();
    }
    (0..program.insts.len())
        .filter(|index| values.emit[*index] && !values.invariant[*index])
        .filter_map(|index| group_product(layout, program, ValueId(index as u32)))
        .collect()
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
/// so their operands are not needed for them.
fn needed(program: &StepProgram, roots: &[ValueId], fixed: &[(usize, Loc)], leaves: &[ValueId]) -> Vec<bool> {
    let mut live = vec![false; program.insts.len()];
    let mut stack: Vec<ValueId> = roots.to_vec();
    while let Some(value) = stack.pop() {
        if live[value.index()] {
            continue;
        }
        live[value.index()] = true;
        // A precomputed product is read from memory: its operands are not needed in the loop.
        if !fixed.iter().any(|(index, _)| *index == value.index()) && !leaves.contains(&value) {
            stack.extend(program.inst(value).op.operands());
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
}

impl LoopValues {
    /// The values for `roots` of a forward (`forward`) or backward loop; `fixed` values are
    /// precomputed.
    fn new(program: &StepProgram, roots: &[ValueId], fixed: &[(usize, Loc)], forward: bool) -> Self {
        let invariant = invariant(program);
        let plain = needed(program, roots, fixed, &[]);
        let carries = carries(program, &invariant, &plain, forward);
        let carried: Vec<ValueId> = carries.iter().map(|c| c.carried).collect();
        let mut loop_roots = roots.to_vec();
        loop_roots.extend(carries.iter().map(|c| c.produced));
        let in_loop = needed(program, &loop_roots, fixed, &carried);
        let for_prologue = needed(program, &carried, fixed, &[]);
        let is_fixed = |index: usize| fixed.iter().any(|(i, _)| *i == index);
        let emit = (0..program.insts.len())
            .map(|index| in_loop[index] && !is_fixed(index) && !carried.iter().any(|c| c.index() == index))
            .collect();
        let prologue = (0..program.insts.len()).map(|index| for_prologue[index] && !is_fixed(index)).collect();
        let needed = in_loop.iter().zip(&for_prologue).map(|(a, b)| *a || *b).collect();
        LoopValues { needed, emit, prologue, invariant, carries }
    }

    /// Invariant values either phase computes.
    fn invariant_values(&self) -> impl Fn(usize) -> bool + '_ {
        |index| self.invariant[index] && (self.emit[index] || self.prologue[index])
    }

    /// Copies each produced value into its carried value's slot (the end of a step).
    fn pass_on(&self, e: &mut Emitter<'_, '_>, program: &StepProgram) {
        for carry in &self.carries {
            let (source, dest) = (e.layout.locs[carry.produced.index()], e.layout.locs[carry.carried.index()]);
            e.copy(dest, source, program.shape(carry.carried).len());
        }
    }

    /// Computes the carried values from the first step's states.
    fn prologue(&self, e: &mut Emitter<'_, '_>, program: &StepProgram) {
        let carried: Vec<ValueId> = self.carries.iter().map(|c| c.carried).collect();
        emit_values(e, program, &self.prologue, |index| !self.invariant[index], &carried);
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

/// Row lengths of the per-step buffers a function receives.
struct Buffers {
    precomputed: Vec<usize>,
    sequences: Vec<usize>,
    /// Whether to call the AVX2 matrix–vector kernels.
    kernels: bool,
}

/// Which part of a function is being emitted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the time loop: loop-invariant values.
    Invariant,
    /// Before the first step (only when there is one): the carried values.
    Prologue,
    /// Segment `k` of the body of the time loop: the work between group products `k - 1` and
    /// `k` (see [`build`]); the flag tells the lock-step version (with group products) from the
    /// one-element version (without, one segment).
    Step(usize, bool),
}

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Forward,
    Backward,
}

/// The pointers of one batch element's buffers, loaded from the per-element pointer arrays a
/// generated function receives (see [`build`]).
struct ElementArrays {
    input: Value,
    io: Value,
    tape: Value,
    state_a: Value,
    state_b: Value,
    scratch: Value,
    noise: Value,
    pre: Value,
    seq: Option<Value>,
    out: Value,
}

/// Flags of the loads of the pointer arrays: never written while the function runs, so the
/// optimiser may move or merge them.
fn array_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap().with_readonly().with_can_move()
}

/// Element `element` of the pointer array `array`.
fn element_pointer(b: &mut FunctionBuilder<'_>, array: Value, element: Value) -> Value {
    let pointer = types::I64;
    let offset = b.ins().imul_imm_s(element, 8);
    let address = b.ins().iadd(array, offset);
    b.ins().load(pointer, array_flags(), address, 0)
}

/// Runs `body(element)` for `element` in `0..count` (`count >= 1`) as a bottom-tested loop, or
/// once for element 0 without a loop when there is no count (the one-element version).
fn for_each_element(
    b: &mut FunctionBuilder<'_>,
    count: Option<Value>,
    mut body: impl FnMut(&mut FunctionBuilder<'_>, Value),
) {
    let Some(count) = count else {
        let zero = b.ins().iconst(types::I64, 0);
        return body(b, zero);
    };
    let head = b.create_block();
    let exit = b.create_block();
    let element = b.append_block_param(head, types::I64);
    let zero = b.ins().iconst(types::I64, 0);
    b.ins().jump(head, &[BlockArg::Value(zero)]);
    b.switch_to_block(head);
    body(b, element);
    let next = b.ins().iadd_imm_s(element, 1);
    let more = b.ins().icmp(IntCC::SignedLessThan, next, count);
    b.ins().brif(more, head, &[BlockArg::Value(next)], exit, &[]);
    b.switch_to_block(exit);
}

/// Builds one generated function. It runs a lock-step group of `count` batch elements (1 to
/// [`super::MAX_GROUP`]; only 1 when `groups` is empty): every per-element argument is an
/// array of `count` pointers. Each step
/// is emitted as segments separated by the `groups` products; each segment runs for every
/// element in turn, and each product runs for all of them in one kernel call that loads each
/// vector of `W` once for several elements.
#[allow(clippy::too_many_arguments)]
fn build(
    module: &mut JITModule,
    context: &mut FunctionBuilderContext,
    name: &str,
    element: Element,
    mut body: impl FnMut(&mut Emitter<'_, '_>, Phase),
    kind: Kind,
    program: &StepProgram,
    program_layout: &Layout,
    buffers: &Buffers,
    groups: &[GroupProduct],
) -> Result<FuncId, CodegenError> {
    let pointer = module.target_config().pointer_type();
    let mut signature = module.make_signature();
    // forward:  params, inputs, outputs, tapes, states_a, states_b, scratches, steps, noises,
    //           pres, states_out, count
    // backward: params, inputs, tapes, seeds, grads, lambdas_a, lambdas_b, scratches, steps,
    //           noises, lambdas_out, pres, seqs, count
    // Every argument is a pointer but the two counts (steps and elements).
    let (arguments, counts) = match kind {
        Kind::Forward => (12, [7, 11]),
        Kind::Backward => (14, [8, 13]),
    };
    for index in 0..arguments {
        let ty = if counts.contains(&index) { types::I64 } else { pointer };
        signature.params.push(AbiParam::new(ty));
    }
    let id = module.declare_function(name, Linkage::Local, &signature).map_err(|e| CodegenError(e.to_string()))?;
    let mut function_context = module.make_context();
    function_context.func.signature = signature;
    function_context.func.name = UserFuncName::user(0, id.as_u32());
    let host = declare_host(module, &mut function_context.func, element, buffers.kernels)?;
    // Two pointer arrays (`x`s and `y`s) per group product.
    let group_slots: Vec<(StackSlot, StackSlot)> = (0..groups.len())
        .map(|_| {
            let mut slot = || {
                function_context.func.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    (super::MAX_GROUP * 8) as u32,
                    3,
                ))
            };
            (slot(), slot())
        })
        .collect();
    {
        let mut b = FunctionBuilder::new(&mut function_context.func, context);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let args = b.block_params(entry).to_vec();
        let flags = MemFlagsData::new().with_notrap();
        // The per-element pointer arrays.
        let (params_array, grads_array, steps, count) = match kind {
            Kind::Forward => (args[0], None, args[7], args[11]),
            Kind::Backward => (args[0], Some(args[4]), args[8], args[13]),
        };
        let load_element = |b: &mut FunctionBuilder<'_>, e: Value| -> ElementArrays {
            let at = |b: &mut FunctionBuilder<'_>, index: usize| element_pointer(b, args[index], e);
            match kind {
                Kind::Forward => ElementArrays {
                    input: at(b, 1),
                    io: at(b, 2),
                    tape: at(b, 3),
                    state_a: at(b, 4),
                    state_b: at(b, 5),
                    scratch: at(b, 6),
                    noise: at(b, 8),
                    pre: at(b, 9),
                    seq: None,
                    out: at(b, 10),
                },
                Kind::Backward => ElementArrays {
                    input: at(b, 1),
                    tape: at(b, 2),
                    io: at(b, 3),
                    state_a: at(b, 5),
                    state_b: at(b, 6),
                    scratch: at(b, 7),
                    noise: at(b, 9),
                    out: at(b, 10),
                    pre: at(b, 11),
                    seq: Some(at(b, 12)),
                },
            }
        };
        // The parameters, then the transposed ones (see `Layout::transposes`).
        let params: Vec<Value> = (0..program.params.len() + program_layout.transposes.len())
            .map(|p| b.ins().load(pointer, flags, params_array, (p * 8) as i32))
            .collect();
        let grads: Vec<Value> = match grads_array {
            Some(array) => {
                (0..program.params.len()).map(|p| b.ins().load(pointer, flags, array, (p * 8) as i32)).collect()
            }
            None => Vec::new(),
        };
        let size = element.scalar().bytes() as i64;
        // Two versions of the function: one element (the common batch of one: no element loops
        // around its segments, whose per-segment overhead measured 10% of A's time), and a
        // lock-step group.
        // Without group products only the one-element version exists (the caller then passes
        // one element per call).
        let (single_block, group_block) = (b.create_block(), b.create_block());
        let versions: &[bool] = if groups.is_empty() {
            b.ins().jump(single_block, &[]);
            &[false]
        } else {
            let is_single = b.ins().icmp_imm_s(IntCC::Equal, count, 1);
            b.ins().brif(is_single, single_block, &[], group_block, &[]);
            &[false, true]
        };
        for &grouped in versions {
            b.switch_to_block(if grouped { group_block } else { single_block });
            let groups: &[GroupProduct] = if grouped { groups } else { &[] };
            let count = grouped.then_some(count);
            // Values that depend only on parameters and constants are computed once, before the
            // time loop; each element's scratch slots keep them for every step.
            for_each_element(&mut b, count, |b, e| {
                let arrays = load_element(b, e);
                let bases = Bases::uniform(arrays.scratch, arrays.scratch, params.clone());
                let mut invariant = emitter(b, element, program_layout, bases, host, arrays.noise, steps);
                body(&mut invariant, Phase::Invariant);
            });
            let head = b.create_block();
            let exit = b.create_block();
            let step = b.append_block_param(head, types::I64);
            // Which of an element's two state buffers holds the current state: 0 for `a`.
            let parity = b.append_block_param(head, types::I64);
            let final_parity = b.append_block_param(exit, types::I64);
            let any = b.ins().icmp_imm_s(IntCC::SignedGreaterThan, steps, 0);
            let prologue = b.create_block();
            let zero = b.ins().iconst(types::I64, 0);
            b.ins().brif(any, prologue, &[], exit, &[BlockArg::Value(zero)]);
            b.switch_to_block(prologue);
            let first = match kind {
                Kind::Forward => b.ins().iconst(types::I64, 0),
                Kind::Backward => b.ins().iadd_imm_s(steps, -1),
            };
            for_each_element(&mut b, count, |b, e| {
                // The first step's states: the start buffer, or the tape's row of the last step.
                let arrays = load_element(b, e);
                let mut bases = Bases::uniform(arrays.scratch, arrays.scratch, params.clone());
                bases.state = match kind {
                    Kind::Forward => arrays.state_a,
                    Kind::Backward => {
                        let offset = b.ins().imul_imm_s(first, program_layout.state_size as i64 * size);
                        b.ins().iadd(arrays.tape, offset)
                    }
                };
                let mut prologue = emitter(b, element, program_layout, bases, host, arrays.noise, first);
                body(&mut prologue, Phase::Prologue);
            });
            let zero = b.ins().iconst(types::I64, 0);
            b.ins().jump(head, &[BlockArg::Value(first), BlockArg::Value(zero)]);
            b.switch_to_block(head);
            let channels = program.inputs.first().copied().unwrap_or(0);
            // Element `e`'s buffers at this step.
            let step_bases = |b: &mut FunctionBuilder<'_>, e: Value| -> (Bases, Value) {
                let arrays = load_element(b, e);
                let row = |b: &mut FunctionBuilder<'_>, base: Value, width: usize| {
                    let offset = b.ins().imul_imm_s(step, width as i64 * size);
                    b.ins().iadd(base, offset)
                };
                let input_row = row(b, arrays.input, channels);
                let tape_row = row(b, arrays.tape, program_layout.state_size);
                let io_row = row(b, arrays.io, program_layout.output_size);
                let precomputed: Vec<Value> = (buffers.precomputed.iter().enumerate())
                    .map(|(k, cols)| {
                        let base = b.ins().load(pointer, array_flags(), arrays.pre, (k * 8) as i32);
                        row(b, base, *cols)
                    })
                    .collect();
                let sequences: Vec<Value> = match arrays.seq {
                    Some(seq) => (buffers.sequences.iter().enumerate())
                        .map(|(k, len)| {
                            let base = b.ins().load(pointer, array_flags(), seq, (k * 8) as i32);
                            row(b, base, *len)
                        })
                        .collect(),
                    None => Vec::new(),
                };
                let odd = b.ins().icmp_imm_s(IntCC::NotEqual, parity, 0);
                let current = b.ins().select(odd, arrays.state_b, arrays.state_a);
                let other = b.ins().select(odd, arrays.state_a, arrays.state_b);
                let (state, adjoint) = match kind {
                    Kind::Forward => (current, current),
                    Kind::Backward => (tape_row, current),
                };
                let bases = Bases {
                    scratch: arrays.scratch,
                    input: input_row,
                    state,
                    seed: io_row,
                    adjoint,
                    params: params.clone(),
                    output: io_row,
                    next_state: other,
                    tape: tape_row,
                    grads: grads.clone(),
                    precomputed,
                    sequences,
                };
                (bases, arrays.noise)
            };
            // Segments, each for every element, with the group products between them.
            for segment in 0..=groups.len() {
                let slots = (group_slots[..groups.len()].get(segment))
                    .map(|(xs, ys)| (b.ins().stack_addr(pointer, *xs, 0), b.ins().stack_addr(pointer, *ys, 0)));
                for_each_element(&mut b, count, |b, e| {
                    let (bases, noise) = step_bases(b, e);
                    let mut emitter = emitter(b, element, program_layout, bases, host, noise, step);
                    body(&mut emitter, Phase::Step(segment, grouped));
                    if let Some(arrays) = slots {
                        emitter.group_operands(&groups[segment], arrays, e);
                    }
                });
                if let (Some(arrays), Some(count)) = (slots, count) {
                    let bases = Bases::uniform(arrays.0, arrays.0, params.clone());
                    let mut emitter = emitter(&mut b, element, program_layout, bases, host, arrays.0, step);
                    emitter.group_call(&groups[segment], arrays, count);
                }
            }
            // Next step (forward counts up, backward down); the buffers swap roles.
            let (next_step, more) = match kind {
                Kind::Forward => {
                    let next_step = b.ins().iadd_imm_s(step, 1);
                    (next_step, b.ins().icmp(IntCC::SignedLessThan, next_step, steps))
                }
                Kind::Backward => {
                    let next_step = b.ins().iadd_imm_s(step, -1);
                    (next_step, b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, next_step, 0))
                }
            };
            let flipped = b.ins().bxor_imm_s(parity, 1);
            b.ins().brif(
                more,
                head,
                &[BlockArg::Value(next_step), BlockArg::Value(flipped)],
                exit,
                &[BlockArg::Value(flipped)],
            );
            b.switch_to_block(exit);
            let size_out = program_layout.state_size;
            if size_out > 0 {
                // Copy each element's final state (or λ), in whichever buffer holds it, to its
                // `out` buffer: read as `State`, written as `Output`.
                for_each_element(&mut b, count, |b, e| {
                    let arrays = load_element(b, e);
                    let odd = b.ins().icmp_imm_s(IntCC::NotEqual, final_parity, 0);
                    let final_state = b.ins().select(odd, arrays.state_b, arrays.state_a);
                    let mut bases = Bases::uniform(arrays.out, arrays.scratch, Vec::new());
                    bases.state = final_state;
                    let mut copy = emitter(b, element, program_layout, bases, host, arrays.noise, steps);
                    copy.copy(
                        Loc::Mem { base: Base::Output, offset: 0, scalar: false },
                        Loc::Mem { base: Base::State, offset: 0, scalar: false },
                        size_out,
                    );
                });
            }
            b.ins().return_(&[]);
        }
        b.seal_all_blocks();
        b.finalize(module.target_config());
    }
    module.define_function(id, &mut function_context).map_err(|e| CodegenError(format!("{name}: {e:?}")))?;
    module.clear_context(&mut function_context);
    Ok(id)
}

fn declare_host(
    module: &mut JITModule,
    function: &mut cranelift_codegen::ir::Function,
    element: Element,
    kernels: bool,
) -> Result<HostFunctions, CodegenError> {
    let pointer = module.target_config().pointer_type();
    let scalar = element.scalar();
    let suffix = match element {
        Element::F32 => "f32",
        Element::F64 => "f64",
    };
    let mut declare =
        |name: &str, params: &[Type], returns: &[Type]| -> Result<cranelift_codegen::ir::FuncRef, CodegenError> {
            let mut signature: Signature = module.make_signature();
            signature.params.extend(params.iter().map(|t| AbiParam::new(*t)));
            signature.returns.extend(returns.iter().map(|t| AbiParam::new(*t)));
            let id = module
                .declare_function(&format!("reef_{name}_{suffix}"), Linkage::Import, &signature)
                .map_err(|e| CodegenError(e.to_string()))?;
            Ok(module.declare_func_in_func(id, function))
        };
    let vector = [pointer, pointer, types::I64];
    Ok(HostFunctions {
        exp: declare("exp", &vector, &[])?,
        log: declare("log", &vector, &[])?,
        tanh: declare("tanh", &vector, &[])?,
        sin: declare("sin", &vector, &[])?,
        cos: declare("cos", &vector, &[])?,
        pow: declare("pow", &[scalar, scalar], &[scalar])?,
        noise: declare("noise", &[pointer, types::I64, pointer, types::I64, types::I64], &[])?,
        matvec: if kernels && super::matvec::available() {
            let kernel = [pointer, pointer, pointer, types::I64, types::I64];
            Some((declare("vecmat", &kernel, &[])?, declare("vecmat_t", &kernel, &[])?))
        } else {
            None
        },
        matvec_group: if kernels && super::matvec::available() {
            Some(declare("vecmat_group", &[pointer, pointer, pointer, types::I64, types::I64, types::I64], &[])?)
        } else {
            None
        },
    })
}

fn emit_forward(e: &mut Emitter<'_, '_>, program: &StepProgram, values: &LoopValues, phase: Phase, groups: &[ValueId]) {
    let mut roots: Vec<ValueId> = program.outputs.iter().chain(&program.state_updates).copied().collect();
    roots.extend(values.carries.iter().map(|c| c.produced));
    let segment = match phase {
        Phase::Invariant => return emit_values(e, program, &values.needed, values.invariant_values(), &roots),
        Phase::Prologue => return values.prologue(e, program),
        Phase::Step(segment, _) => segment,
    };
    let step_values = |index: usize| !values.invariant[index];
    if segment < groups.len() {
        // The state this step starts from goes on the tape first.
        if segment == 0 {
            copy_state_to_tape(e);
        }
        return emit_segment(e, program, (&values.emit, step_values, &roots), groups, segment);
    }
    if groups.is_empty() {
        copy_state_to_tape(e);
    }
    emit_segment(e, program, (&values.emit, step_values, &roots), groups, segment);
    for (output, offset) in program.outputs.iter().zip(e.layout.output_offsets.clone()) {
        let source = e.layout.locs[output.index()];
        e.copy(Loc::Mem { base: Base::Output, offset, scalar: false }, source, program.shape(*output).len());
    }
    for (state, update) in program.state_updates.iter().enumerate() {
        let source = e.layout.locs[update.index()];
        let offset = e.layout.state_offsets[state];
        e.copy(Loc::Mem { base: Base::NextState, offset, scalar: false }, source, program.states[state].shape.len());
    }
    values.pass_on(e, program);
}

/// Copies the state a forward step starts from to the step's tape row.
fn copy_state_to_tape(e: &mut Emitter<'_, '_>) {
    let state_size = e.layout.state_size;
    if state_size > 0 {
        e.copy(
            Loc::Mem { base: Base::Tape, offset: 0, scalar: false },
            Loc::Mem { base: Base::State, offset: 0, scalar: false },
            state_size,
        );
    }
}

/// How each parameter gradient is accumulated: the root's sum is split into terms; an outer
/// product used only there becomes a [`SequenceTerm`] (rows stored, one GEMM after the loop).
struct GradientPlan {
    terms: Vec<Vec<Term>>,
}

enum Term {
    /// Store `x` and `y` rows into these sides.
    Sequence(ValueId, Side, ValueId, Side),
    /// Add the value to the gradient every step.
    Value(ValueId),
}

impl GradientPlan {
    fn new(
        adjoint: &AdjointProgram,
        sequences: &mut Vec<SequenceTerm>,
        lengths: &mut Vec<usize>,
        derived_terms: &mut Vec<DerivedTerm>,
    ) -> Self {
        let program = &adjoint.program;
        let mut uses = vec![0usize; program.insts.len()];
        for inst in &program.insts {
            for operand in inst.op.operands() {
                uses[operand.index()] += 1;
            }
        }
        for value in adjoint.state_adjoints.iter().chain(adjoint.param_grads.iter().flatten()) {
            uses[value.index()] += 1;
        }
        let mut terms = Vec::new();
        let (state_offsets, _) = super::layout::state_offsets(program);
        // One buffer per stored value, however many terms use it.
        let mut stored: std::collections::HashMap<ValueId, usize> = std::collections::HashMap::new();
        let split_grads: Vec<Vec<ValueId>> = (adjoint.param_grads.iter())
            .map(|grad| {
                let mut values = Vec::new();
                if let Some(grad) = grad {
                    split(program, *grad, &uses, &mut values);
                }
                values
            })
            .collect();
        // Per parameter: `(x, y)` when its one sequence term is `Σ_t x[t]ᵀ y[t]` (then its
        // flushed product is that sum alone, which a derived term may read).
        let sole_outer: Vec<Option<(ValueId, ValueId)>> = (split_grads.iter())
            .map(|values| {
                let sequences: Vec<&ValueId> = (values.iter())
                    .filter(|v| {
                        uses[v.index()] == 1 && matches!(program.inst(**v).op, Op::Outer(..) | Op::ScaledProduct(..))
                    })
                    .collect();
                match sequences[..] {
                    [one] => match program.inst(*one).op {
                        Op::Outer(x, y) => Some((x, y)),
                        _ => None,
                    },
                    _ => None,
                }
            })
            .collect();
        let invariant = invariant(program);
        for (param, values) in split_grads.into_iter().enumerate() {
            let mut list = Vec::new();
            for value in values {
                let (x, y, contract) = match program.inst(value).op {
                    Op::Outer(x, y) if uses[value.index()] == 1 => (x, y, None),
                    // A per-element scale kept in rows (not a broadcast scalar).
                    Op::ScaledProduct(c, x, w)
                        if uses[value.index()] == 1 && program.shape(c) == program.shape(value) =>
                    {
                        let Op::Param(weight) = program.inst(w).op else {
                            list.push(Term::Value(value));
                            continue;
                        };
                        // Read off another gradient's product when `c` is its `y` scaled.
                        let derived = (sole_outer.iter().enumerate()).find_map(|(from, outer)| {
                            let (outer_x, outer_y) = (*outer)?;
                            if !super::derived::same(program, x, outer_x) {
                                return None;
                            }
                            let scale = super::derived::scale_of(program, &invariant, c, outer_y)?;
                            Some(DerivedTerm { param: param as u32, from: from as u32, weight: weight.0, scale })
                        });
                        match derived {
                            Some(term) => {
                                derived_terms.push(term);
                                continue;
                            }
                            None => (x, c, Some(weight.0)),
                        }
                    }
                    _ => {
                        list.push(Term::Value(value));
                        continue;
                    }
                };
                // `x` rows that are states are read from the tape in place (they are the
                // gradient's rows, read with the tape's row stride).
                let mut side = |v: ValueId, from_tape: bool| match program.inst(v).op {
                    Op::Input(_) => Side::Input,
                    Op::State(state) if from_tape => {
                        Side::Tape { state: state.0, offset: state_offsets[state.0 as usize], next: false }
                    }
                    Op::NextState(state) if from_tape => {
                        Side::Tape { state: state.0, offset: state_offsets[state.0 as usize], next: true }
                    }
                    _ => {
                        let k = *stored.entry(v).or_insert_with(|| {
                            lengths.push(program.shape(v).len());
                            lengths.len() - 1
                        });
                        Side::Buffer(k, program.shape(v).len())
                    }
                };
                let (sx, sy) = (side(x, true), side(y, false));
                sequences.push(SequenceTerm {
                    param: param as u32,
                    x: sx,
                    y: sy,
                    rows: program.shape(x).len(),
                    cols: program.shape(y).len(),
                    contract,
                });
                list.push(Term::Sequence(x, sx, y, sy));
            }
            terms.push(list);
        }
        GradientPlan { terms }
    }

    /// The value stored in each of the `count` sequence buffers.
    fn stored_values(&self, count: usize) -> Vec<ValueId> {
        let mut stored = vec![ValueId(0); count];
        for term in self.terms.iter().flatten() {
            if let Term::Sequence(x, sx, y, sy) = term {
                for (value, side) in [(x, sx), (y, sy)] {
                    if let Side::Buffer(k, _) = side
                        && *k < count
                    {
                        stored[*k] = *value;
                    }
                }
            }
        }
        stored
    }

    /// Per parameter: whether any of its terms is added at every step.
    fn step_gradients(&self) -> Vec<bool> {
        self.terms.iter().map(|terms| terms.iter().any(|term| matches!(term, Term::Value(_)))).collect()
    }

    fn roots(&self) -> Vec<ValueId> {
        let mut roots = Vec::new();
        for term in self.terms.iter().flatten() {
            match term {
                Term::Sequence(x, sx, y, sy) => {
                    for (value, side) in [(x, sx), (y, sy)] {
                        if matches!(side, Side::Buffer(..)) {
                            roots.push(*value);
                        }
                    }
                }
                Term::Value(v) => roots.push(*v),
            }
        }
        roots
    }
}

fn split(program: &StepProgram, value: ValueId, uses: &[usize], terms: &mut Vec<ValueId>) {
    match program.inst(value).op {
        Op::Binary(crate::step::BinaryOp::Add, a, b)
            if uses[value.index()] == 1
                && program.shape(a) == program.shape(value)
                && program.shape(b) == program.shape(value) =>
        {
            split(program, a, uses, terms);
            split(program, b, uses, terms);
        }
        _ => terms.push(value),
    }
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
    let mut roots: Vec<ValueId> = adjoint.state_adjoints.clone();
    roots.extend(plan.roots());
    roots.extend(values.carries.iter().map(|c| c.produced));
    match phase {
        Phase::Invariant => return emit_values(e, program, &values.needed, values.invariant_values(), &roots),
        Phase::Prologue => return values.prologue(e, program),
        Phase::Step(segment, _) => {
            let step_values = |index: usize| !values.invariant[index];
            emit_segment(e, program, (&values.emit, step_values, &roots), groups, segment);
            if segment < groups.len() {
                return;
            }
        }
    }
    let mut copied = vec![false; e.bases.sequences.len()];
    for (param, terms) in plan.terms.iter().enumerate() {
        let shape = program.params[param].shape;
        let dest = Loc::Mem { base: Base::Grad(param as u32), offset: 0, scalar: false };
        for term in terms {
            match term {
                Term::Sequence(x, sx, y, sy) => {
                    for (value, side) in [(x, sx), (y, sy)] {
                        if let Side::Buffer(k, len) = side
                            && !std::mem::replace(&mut copied[*k], true)
                        {
                            let source = e.layout.locs[value.index()];
                            let dest = Loc::Mem { base: Base::Sequence(*k as u32), offset: 0, scalar: false };
                            e.copy(dest, source, *len);
                        }
                    }
                }
                Term::Value(value) => {
                    let source = e.layout.locs[value.index()];
                    e.accumulate(dest, source, shape.len());
                }
            }
        }
    }
    for (state, update) in adjoint.state_adjoints.iter().enumerate() {
        let source = e.layout.locs[update.index()];
        let offset = e.layout.state_offsets[state];
        e.copy(Loc::Mem { base: Base::NextState, offset, scalar: false }, source, program.states[state].shape.len());
    }
    values.pass_on(e, program);
}

/// Emits segment `segment` of the needed values that `select` picks: the pieces after group
/// product `segment - 1` and before product `segment` (the products themselves are the
/// group's kernel calls, emitted by [`build`]). Pieces and the values they must store are
/// found over the whole step, so values read in a later segment are in memory.
fn emit_segment(
    e: &mut Emitter<'_, '_>,
    program: &StepProgram,
    (needed, select, roots): (&[bool], impl Fn(usize) -> bool, &[ValueId]),
    groups: &[ValueId],
    segment: usize,
) {
    let values: Vec<ValueId> = (0..program.insts.len())
        .filter(|index| needed[*index] && select(*index))
        .map(|index| ValueId(index as u32))
        .collect();
    let pieces = pieces(e, program, &values);
    let escapes = escapes(program, &pieces, roots);
    let mut current = 0;
    for piece in &pieces {
        match piece {
            Piece::Single(value) if groups.contains(value) => current += 1,
            Piece::Single(value) if current == segment => e.instruction(program, *value),
            Piece::Run(run) if current == segment => e.fused(program, run, &escapes),
            _ => {}
        }
    }
}

/// Emits the needed values that `select` picks, fusing runs of elementwise instructions.
fn emit_values(
    e: &mut Emitter<'_, '_>,
    program: &StepProgram,
    needed: &[bool],
    select: impl Fn(usize) -> bool,
    roots: &[ValueId],
) {
    let values: Vec<ValueId> = (0..program.insts.len())
        .filter(|index| needed[*index] && select(*index))
        .map(|index| ValueId(index as u32))
        .collect();
    let pieces = pieces(e, program, &values);
    let escapes = escapes(program, &pieces, roots);
    for piece in &pieces {
        match piece {
            Piece::Single(value) => e.instruction(program, *value),
            Piece::Run(run) => e.fused(program, run, &escapes),
        }
    }
}

/// An emitter for `element` over `layout` writing through `bases`.
fn emitter<'a, 'f>(
    b: &'a mut FunctionBuilder<'f>,
    element: Element,
    layout: &'a Layout,
    bases: Bases,
    host: HostFunctions,
    noise_context: Value,
    step: Value,
) -> Emitter<'a, 'f> {
    Emitter {
        b,
        elem: element.scalar(),
        vector: element.vector(),
        lanes: element.lanes(),
        layout,
        bases,
        host,
        noise_context,
        step,
        fma: super::emit::host_has_fma(),
    }
}
