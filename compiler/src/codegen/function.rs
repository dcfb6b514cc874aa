//! Building one generated function with Cranelift: its signature (per-element pointer arrays
//! for a lock-step group of batch elements), the loop-invariant values, the prologue, the time
//! loop as segments around the group products, and the copy of the final state. What each
//! step computes comes from the caller's `body` (see `compile::emit_forward` and
//! `compile::emit_backward`).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, BlockArg, InstBuilder, MemFlagsData, Signature, StackSlot, StackSlotData, StackSlotKind, Type,
    UserFuncName, Value, types,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};

use super::CodegenError;
use super::compile::Element;
use super::emit::{Bases, Emitter, GroupProduct, HostFunctions};
use super::layout::{Base, Layout, Loc};
use crate::step::{StepProgram, ValueId};

/// Row lengths of the per-step buffers a function receives.
pub(super) struct Buffers {
    /// Columns of each precomputed product.
    pub precomputed: Vec<usize>,
    /// Row length of each sequence buffer.
    pub sequences: Vec<usize>,
    /// Whether to call the AVX2 matrix–vector kernels.
    pub kernels: bool,
}

/// Which part of a function is being emitted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Before the time loop: loop-invariant values.
    Invariant,
    /// Before the first step (only when there is one): the carried values.
    Prologue,
    /// Segment `k` of the body of the time loop: the work between group products `k - 1` and
    /// `k` (see [`build`]).
    Step(usize),
    /// After the last step (only when there was one, and only for outputs computed one step
    /// late, see [`super::skew`]): the last step's outputs from the final states.
    Epilogue,
}

/// Which of the two functions is built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The forward time loop.
    Forward,
    /// The backward time loop.
    Backward,
}

/// The pointers of one batch element's buffers, loaded from the per-element pointer arrays a
/// generated function receives (see [`build`]).
struct ElementArrays {
    input: Value,
    io: Value,
    tape: Value,
    state_a: Value,
    /// The backward function's second λ buffer (the forward one keeps its states on the tape).
    state_b: Option<Value>,
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

/// The address of row `index` (an i64 value) of a buffer whose rows are `row_bytes` long.
fn row_at(b: &mut FunctionBuilder<'_>, base: Value, index: Value, row_bytes: i64) -> Value {
    let offset = b.ins().imul_imm_s(index, row_bytes);
    b.ins().iadd(base, offset)
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

/// What a generated loop function is built from.
#[derive(Clone, Copy)]
pub(super) struct LoopSpec<'a> {
    /// The forward or the backward loop.
    pub kind: Kind,
    /// The element type.
    pub element: Element,
    /// The step program the loop runs.
    pub program: &'a StepProgram,
    /// Where its values live.
    pub layout: &'a Layout,
    /// The shapes of the buffers the caller passes.
    pub buffers: &'a Buffers,
    /// The products a lock-step group computes in one kernel call.
    pub groups: &'a [GroupProduct],
    /// Whether the forward step computes the previous step's outputs (see [`super::skew`]).
    pub late_outputs: bool,
}

/// Builds the one-element function `name` and, if the step has group products, the lock-step
/// one (`name_group`); returns their ids in that order. `body` emits a phase given the group
/// products' values (empty in the one-element function and outside the loop body).
pub(super) fn build_versions(
    module: &mut JITModule,
    context: &mut FunctionBuilderContext,
    name: &str,
    spec: LoopSpec<'_>,
    mut body: impl FnMut(&mut Emitter<'_, '_>, Phase, &[ValueId]),
) -> Result<Vec<FuncId>, CodegenError> {
    let versions = if spec.groups.is_empty() { 1 } else { 2 };
    [false, true]
        .into_iter()
        .take(versions)
        .map(|grouped| {
            let name = if grouped { format!("{name}_group") } else { name.to_string() };
            build(module, context, &name, spec, &mut body, grouped)
        })
        .collect()
}

/// Builds one generated function: with `grouped`, for a lock-step group of `count` batch
/// elements (1 to [`super::MAX_GROUP`]), else for one element (its code then has no element
/// loops and is what a batch of one runs). Every per-element argument is an array of `count`
/// pointers. Each step
/// is emitted as segments separated by the `groups` products; each segment runs for every
/// element in turn, and each product runs for all of them in one kernel call that loads each
/// vector of `W` once for several elements.
fn build(
    module: &mut JITModule,
    context: &mut FunctionBuilderContext,
    name: &str,
    spec: LoopSpec<'_>,
    mut body: impl FnMut(&mut Emitter<'_, '_>, Phase, &[ValueId]),
    grouped: bool,
) -> Result<FuncId, CodegenError> {
    let LoopSpec { kind, element, program, layout: program_layout, buffers, groups, late_outputs } = spec;
    let pointer = module.target_config().pointer_type();
    let mut signature = module.make_signature();
    // forward:  params, inputs, outputs, tapes, states, scratches, steps, noises, pres,
    //           states_out, count
    // backward: params, inputs, tapes, seeds, grads, lambdas_a, lambdas_b, scratches, steps,
    //           noises, lambdas_out, pres, seqs, count
    // Every argument is a pointer but the two counts (steps and elements).
    let (arguments, counts) = match kind {
        Kind::Forward => (11, [6, 10]),
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
            Kind::Forward => (args[0], None, args[6], args[10]),
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
                    state_b: None,
                    scratch: at(b, 5),
                    noise: at(b, 7),
                    pre: at(b, 8),
                    seq: None,
                    out: at(b, 9),
                },
                Kind::Backward => ElementArrays {
                    input: at(b, 1),
                    tape: at(b, 2),
                    io: at(b, 3),
                    state_a: at(b, 5),
                    state_b: Some(at(b, 6)),
                    scratch: at(b, 7),
                    noise: at(b, 9),
                    out: at(b, 10),
                    pre: at(b, 11),
                    seq: Some(at(b, 12)),
                },
            }
        };
        // The parameters, then the kernels' copies (see `Layout::copies`).
        let params: Vec<Value> = (0..program.params.len() + program_layout.copies.len())
            .map(|p| b.ins().load(pointer, flags, params_array, (p * 8) as i32))
            .collect();
        let grads: Vec<Value> = match grads_array {
            Some(array) => {
                (0..program.params.len()).map(|p| b.ins().load(pointer, flags, array, (p * 8) as i32)).collect()
            }
            None => Vec::new(),
        };
        let size = element.scalar().bytes() as i64;
        // Without groups, one element and no element loops around the segments.
        let groups: &[GroupProduct] = if grouped { groups } else { &[] };
        let group_values: Vec<ValueId> = groups.iter().map(|g| g.value).collect();
        let count = grouped.then_some(count);
        {
            // Values that depend only on parameters and constants are computed once, before the
            // time loop; each element's scratch slots keep them for every step.
            for_each_element(&mut b, count, |b, e| {
                let arrays = load_element(b, e);
                let bases = Bases::uniform(arrays.scratch, arrays.scratch, params.clone());
                let mut invariant = emitter(b, element, program_layout, bases, host, arrays.noise, steps);
                body(&mut invariant, Phase::Invariant, &[]);
            });
            let state_size = program_layout.state_size;
            if kind == Kind::Forward && state_size > 0 {
                // The forward loop keeps its states on the tape (row t before step t, row t + 1
                // after it), so nothing copies them there: the start state goes to row 0. Read
                // as `State`, written as `Output`.
                for_each_element(&mut b, count, |b, e| {
                    let arrays = load_element(b, e);
                    let mut bases = Bases::uniform(arrays.tape, arrays.scratch, Vec::new());
                    bases.state = arrays.state_a;
                    let mut copy = emitter(b, element, program_layout, bases, host, arrays.noise, steps);
                    copy.copy(
                        Loc::Mem { base: Base::Output, offset: 0, scalar: false },
                        Loc::Mem { base: Base::State, offset: 0, scalar: false },
                        state_size,
                    );
                });
            }
            let head = b.create_block();
            let exit = b.create_block();
            let step = b.append_block_param(head, types::I64);
            // Which of an element's two λ buffers holds the current λ (backward): 0 for `a`.
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
                // The first step's states: the tape's first row (the start state), or its row
                // of the last step.
                let arrays = load_element(b, e);
                let mut bases = Bases::uniform(arrays.scratch, arrays.scratch, params.clone());
                bases.state = row_at(b, arrays.tape, first, state_size as i64 * size);
                // The first step's sequence rows: a carried value may live in the next row
                // (see `next_row`).
                if let Some(seq) = arrays.seq {
                    bases.sequences = (buffers.sequences.iter().enumerate())
                        .map(|(k, len)| {
                            let base = b.ins().load(pointer, array_flags(), seq, (k * 8) as i32);
                            row_at(b, base, first, *len as i64 * size)
                        })
                        .collect();
                }
                let mut prologue = emitter(b, element, program_layout, bases, host, arrays.noise, first);
                body(&mut prologue, Phase::Prologue, &[]);
            });
            let zero = b.ins().iconst(types::I64, 0);
            b.ins().jump(head, &[BlockArg::Value(first), BlockArg::Value(zero)]);
            b.switch_to_block(head);
            let channels = program.inputs.first().copied().unwrap_or(0);
            // Element `e`'s buffers at this step.
            let step_bases = |b: &mut FunctionBuilder<'_>, e: Value| -> (Bases, Value) {
                let arrays = load_element(b, e);
                let row =
                    |b: &mut FunctionBuilder<'_>, base: Value, width: usize| row_at(b, base, step, width as i64 * size);
                let input_row = row(b, arrays.input, channels);
                let tape_row = row(b, arrays.tape, state_size);
                // Outputs computed one step late go to the previous step's row (never written
                // at the first step).
                let io_row = row(b, arrays.io, program_layout.output_size);
                let io_row = match late_outputs {
                    true => b.ins().iadd_imm_s(io_row, -((program_layout.output_size as i64) * size)),
                    false => io_row,
                };
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
                // Forward: the states before and after the step are tape rows t and t + 1.
                // Backward: the states are read from the tape, λ passes between two buffers.
                let (adjoint, next_state) = match arrays.state_b {
                    Some(state_b) => {
                        let odd = b.ins().icmp_imm_s(IntCC::NotEqual, parity, 0);
                        let current = b.ins().select(odd, state_b, arrays.state_a);
                        (current, b.ins().select(odd, arrays.state_a, state_b))
                    }
                    None => (tape_row, b.ins().iadd_imm_s(tape_row, state_size as i64 * size)),
                };
                let bases = Bases {
                    scratch: arrays.scratch,
                    input: input_row,
                    state: tape_row,
                    seed: io_row,
                    adjoint,
                    params: params.clone(),
                    output: io_row,
                    next_state,
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
                    body(&mut emitter, Phase::Step(segment), &group_values);
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
            if late_outputs {
                // The last step's outputs, from the final states (the tape's last row).
                let epilogue = b.create_block();
                let done = b.create_block();
                let any = b.ins().icmp_imm_s(IntCC::SignedGreaterThan, steps, 0);
                b.ins().brif(any, epilogue, &[], done, &[]);
                b.switch_to_block(epilogue);
                for_each_element(&mut b, count, |b, e| {
                    let arrays = load_element(b, e);
                    let mut bases = Bases::uniform(arrays.scratch, arrays.scratch, params.clone());
                    bases.state = row_at(b, arrays.tape, steps, state_size as i64 * size);
                    let last = b.ins().iadd_imm_s(steps, -1);
                    bases.output = row_at(b, arrays.io, last, program_layout.output_size as i64 * size);
                    let mut epilogue = emitter(b, element, program_layout, bases, host, arrays.noise, last);
                    body(&mut epilogue, Phase::Epilogue, &[]);
                });
                b.ins().jump(done, &[]);
                b.switch_to_block(done);
            }
            if state_size > 0 {
                // Copy each element's final state (the tape's last row) or λ (in whichever
                // buffer holds it) to its `out` buffer: read as `State`, written as `Output`.
                for_each_element(&mut b, count, |b, e| {
                    let arrays = load_element(b, e);
                    let final_state = match arrays.state_b {
                        Some(state_b) => {
                            let odd = b.ins().icmp_imm_s(IntCC::NotEqual, final_parity, 0);
                            b.ins().select(odd, state_b, arrays.state_a)
                        }
                        None => row_at(b, arrays.tape, steps, state_size as i64 * size),
                    };
                    let mut bases = Bases::uniform(arrays.out, arrays.scratch, Vec::new());
                    bases.state = final_state;
                    let mut copy = emitter(b, element, program_layout, bases, host, arrays.noise, steps);
                    copy.copy(
                        Loc::Mem { base: Base::Output, offset: 0, scalar: false },
                        Loc::Mem { base: Base::State, offset: 0, scalar: false },
                        state_size,
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
            let strided = [pointer, pointer, pointer, types::I64, types::I64, types::I64];
            Some((declare("vecmat", &strided, &[])?, declare("vecmat_t", &kernel, &[])?))
        } else {
            None
        },
        matvec_group: if kernels && super::matvec::available() {
            let group = [pointer, pointer, pointer, types::I64, types::I64, types::I64, types::I64];
            Some(declare("vecmat_group", &group, &[])?)
        } else {
            None
        },
        dot: if element == Element::F32 && kernels && super::matvec::available() {
            Some(declare("dot", &vector, &[scalar])?)
        } else {
            None
        },
        tanh_rational: if super::schedule::Fusion::new(element, kernels).native_tanh {
            let difference = [pointer, pointer, pointer, types::I64];
            Some((declare("tanh_rational", &vector, &[])?, declare("tanh_difference", &difference, &[])?))
        } else {
            None
        },
    })
}

/// An emitter for `element` over `layout` writing through `bases`.
pub(super) fn emitter<'a, 'f>(
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
