//! Builds the two native functions of a network with Cranelift: the forward time loop (which
//! also writes the state tape) and the backward time loop over the adjoint program (which
//! accumulates parameter gradients).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, BlockArg, InstBuilder, MemFlagsData, Signature, Type, UserFuncName, Value, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::CodegenError;
use super::carry::{Carry, carries};
use super::derived::DerivedTerm;
use super::emit::{Bases, Emitter, HostFunctions};
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
    /// `forward(params, input, output, tape, state_a, state_b, scratch, steps, noise)`.
    pub forward: *const u8,
    /// Layout of the forward program.
    pub forward_layout: Layout,
    /// `backward(params, input, tape, seeds, grads, lambda_a, lambda_b, scratch, steps, noise,
    /// lambda_out)`, when an adjoint was given.
    pub backward: Option<(*const u8, Layout)>,
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
    let forward_id = build(
        &mut module,
        &mut context,
        "reef_forward",
        element,
        |e, phase| {
            emit_forward(e, forward, &forward_values, phase);
        },
        Kind::Forward,
        forward,
        &forward_layout,
        &shapes,
    )?;
    let backward = match backward_parts {
        Some((adjoint, plan, values, backward_layout, _)) => {
            let id = build(
                &mut module,
                &mut context,
                "reef_backward",
                element,
                |e, phase| {
                    emit_backward(e, adjoint, &plan, &values, phase);
                },
                Kind::Backward,
                &adjoint.program,
                &backward_layout,
                &shapes,
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
    /// The body of the time loop.
    Step,
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
) -> Result<FuncId, CodegenError> {
    let pointer = module.target_config().pointer_type();
    let mut signature = module.make_signature();
    // forward:  params, input, output, tape, state_a, state_b, scratch, steps, noise, pre, state_out
    // backward: params, input, tape, seeds, grads, lambda_a, lambda_b, scratch, steps, noise, lambda_out,
    //           pre, seq
    let parameters: &[Type] = match kind {
        Kind::Forward => {
            &[pointer, pointer, pointer, pointer, pointer, pointer, pointer, types::I64, pointer, pointer, pointer]
        }
        Kind::Backward => &[
            pointer,
            pointer,
            pointer,
            pointer,
            pointer,
            pointer,
            pointer,
            pointer,
            types::I64,
            pointer,
            pointer,
            pointer,
            pointer,
        ],
    };
    for ty in parameters {
        signature.params.push(AbiParam::new(*ty));
    }
    let id = module.declare_function(name, Linkage::Local, &signature).map_err(|e| CodegenError(e.to_string()))?;
    let mut function_context = module.make_context();
    function_context.func.signature = signature;
    function_context.func.name = UserFuncName::user(0, id.as_u32());
    let host = declare_host(module, &mut function_context.func, element, buffers.kernels)?;
    {
        let mut b = FunctionBuilder::new(&mut function_context.func, context);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let args = b.block_params(entry).to_vec();
        let flags = MemFlagsData::new().with_notrap();
        let (params_array, input, tape, seeds_or_output, grads_array, a, next, scratch, steps, noise, lambda_out) =
            match kind {
                Kind::Forward => (
                    args[0],
                    args[1],
                    args[3],
                    args[2],
                    None,
                    args[4],
                    args[5],
                    args[6],
                    args[7],
                    args[8],
                    Some(args[10]),
                ),
                Kind::Backward => (
                    args[0],
                    args[1],
                    args[2],
                    args[3],
                    Some(args[4]),
                    args[5],
                    args[6],
                    args[7],
                    args[8],
                    args[9],
                    Some(args[10]),
                ),
            };
        // Per-step buffers: precomputed products (both functions) and sequences (backward).
        let (pre_array, seq_array) = match kind {
            Kind::Forward => (args[9], None),
            Kind::Backward => (args[11], Some(args[12])),
        };
        let pre_pointers: Vec<Value> =
            (0..buffers.precomputed.len()).map(|k| b.ins().load(pointer, flags, pre_array, (k * 8) as i32)).collect();
        let seq_pointers: Vec<Value> = match seq_array {
            Some(array) => {
                (0..buffers.sequences.len()).map(|k| b.ins().load(pointer, flags, array, (k * 8) as i32)).collect()
            }
            None => Vec::new(),
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
        // Values that depend only on parameters and constants are computed once, before the
        // time loop; their scratch slots keep them for every step.
        {
            let bases = Bases::uniform(scratch, scratch, params.clone());
            let mut invariant = emitter(&mut b, element, program_layout, bases, host, noise, steps);
            body(&mut invariant, Phase::Invariant);
        }
        let head = b.create_block();
        let exit = b.create_block();
        let step = b.append_block_param(head, types::I64);
        let current = b.append_block_param(head, pointer);
        let other = b.append_block_param(head, pointer);
        let final_state = b.append_block_param(exit, pointer);
        let any = b.ins().icmp_imm_s(IntCC::SignedGreaterThan, steps, 0);
        let prologue = b.create_block();
        b.ins().brif(any, prologue, &[], exit, &[BlockArg::Value(a)]);
        b.switch_to_block(prologue);
        let size = element.scalar().bytes() as i64;
        let first = match kind {
            Kind::Forward => b.ins().iconst(types::I64, 0),
            Kind::Backward => b.ins().iadd_imm_s(steps, -1),
        };
        {
            // The first step's states: the start buffer, or the tape's row of the last step.
            let mut bases = Bases::uniform(scratch, scratch, params.clone());
            bases.state = match kind {
                Kind::Forward => a,
                Kind::Backward => {
                    let offset = b.ins().imul_imm_s(first, program_layout.state_size as i64 * size);
                    b.ins().iadd(tape, offset)
                }
            };
            let mut prologue = emitter(&mut b, element, program_layout, bases, host, noise, first);
            body(&mut prologue, Phase::Prologue);
        }
        b.ins().jump(head, &[BlockArg::Value(first), BlockArg::Value(a), BlockArg::Value(next)]);
        b.switch_to_block(head);
        let row = |b: &mut FunctionBuilder<'_>, base: Value, width: usize| {
            let offset = b.ins().imul_imm_s(step, width as i64 * size);
            b.ins().iadd(base, offset)
        };
        let channels = program.inputs.first().copied().unwrap_or(0);
        let input_row = row(&mut b, input, channels);
        let tape_row = row(&mut b, tape, program_layout.state_size);
        let io_row = row(&mut b, seeds_or_output, program_layout.output_size);
        let precomputed: Vec<Value> =
            pre_pointers.iter().zip(&buffers.precomputed).map(|(base, cols)| row(&mut b, *base, *cols)).collect();
        let sequences: Vec<Value> =
            seq_pointers.iter().zip(&buffers.sequences).map(|(base, len)| row(&mut b, *base, *len)).collect();
        let (state_base, adjoint_base) = match kind {
            Kind::Forward => (current, current),
            Kind::Backward => (tape_row, current),
        };
        let bases = Bases {
            scratch,
            input: input_row,
            state: state_base,
            seed: io_row,
            adjoint: adjoint_base,
            params,
            output: io_row,
            next_state: other,
            tape: tape_row,
            grads,
            precomputed,
            sequences,
        };
        body(&mut emitter(&mut b, element, program_layout, bases, host, noise, step), Phase::Step);
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
        b.ins().brif(
            more,
            head,
            &[BlockArg::Value(next_step), BlockArg::Value(other), BlockArg::Value(current)],
            exit,
            &[BlockArg::Value(other)],
        );
        b.switch_to_block(exit);
        if let Some(out) = lambda_out {
            // Copy the final λ (in whichever buffer holds it) to the caller's buffer.
            // Copy from the final buffer (read as `State`) to `out` (written as `Output`).
            let mut bases = Bases::uniform(out, scratch, Vec::new());
            bases.state = final_state;
            let mut copy = emitter(&mut b, element, program_layout, bases, host, noise, steps);
            let size = program_layout.state_size;
            if size > 0 {
                copy.copy(
                    Loc::Mem { base: Base::Output, offset: 0, scalar: false },
                    Loc::Mem { base: Base::State, offset: 0, scalar: false },
                    size,
                );
            }
        }
        b.ins().return_(&[]);
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
    })
}

fn emit_forward(e: &mut Emitter<'_, '_>, program: &StepProgram, values: &LoopValues, phase: Phase) {
    let mut roots: Vec<ValueId> = program.outputs.iter().chain(&program.state_updates).copied().collect();
    roots.extend(values.carries.iter().map(|c| c.produced));
    match phase {
        Phase::Invariant => return emit_values(e, program, &values.needed, values.invariant_values(), &roots),
        Phase::Prologue => return values.prologue(e, program),
        Phase::Step => {}
    }
    // The state this step starts from goes on the tape first.
    let state_size = e.layout.state_size;
    if state_size > 0 {
        e.copy(
            Loc::Mem { base: Base::Tape, offset: 0, scalar: false },
            Loc::Mem { base: Base::State, offset: 0, scalar: false },
            state_size,
        );
    }
    emit_values(e, program, &values.emit, |index| !values.invariant[index], &roots);
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
) {
    let program = &adjoint.program;
    let mut roots: Vec<ValueId> = adjoint.state_adjoints.clone();
    roots.extend(plan.roots());
    roots.extend(values.carries.iter().map(|c| c.produced));
    match phase {
        Phase::Invariant => return emit_values(e, program, &values.needed, values.invariant_values(), &roots),
        Phase::Prologue => return values.prologue(e, program),
        Phase::Step => emit_values(e, program, &values.emit, |index| !values.invariant[index], &roots),
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
