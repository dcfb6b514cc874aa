//! CLIF emission for one step: every op of the step program as loops over its elements, in
//! f32x4 / f64x2 SIMD with scalar tails, reading and writing the buffers of the [`Layout`].
//! Sizes are compile-time constants, so short loops are unrolled and addresses are immediates.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{BlockArg, Endianness, FuncRef, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::layout::{Base, Layout, Loc};
use crate::step::{BinaryOp, Op, StepProgram, UnaryOp, ValueId};

/// Vector chunks up to this count are unrolled; longer runs become loops.
const UNROLL_CHUNKS: usize = 16;

/// Partial sums of a vectorised dot product (the latency of one addition chain hidden).
const DOT_ACCUMULATORS: usize = 4;

/// Host functions the generated code calls.
#[derive(Clone, Copy)]
pub struct HostFunctions {
    /// `(src, dst, n)` vector kernels.
    pub exp: FuncRef,
    /// Natural logarithm.
    pub log: FuncRef,
    /// Hyperbolic tangent.
    pub tanh: FuncRef,
    /// Sine.
    pub sin: FuncRef,
    /// Cosine.
    pub cos: FuncRef,
    /// `(x, y) -> x^y`.
    pub pow: FuncRef,
    /// `(dst, n, context, step, stream)`.
    pub noise: FuncRef,
    /// `(x, w, y, rows, cols)` AVX2 kernels for `x @ W` and `x @ Wᵀ`, when the CPU has them.
    pub matvec: Option<(FuncRef, FuncRef)>,
    /// `(xs, w, ys, count, rows, cols)`: `x @ W` for a lock-step group of elements (with the
    /// kernels above).
    pub matvec_group: Option<FuncRef>,
    /// `(src, dst, n)`: f32 `tanh` by the rational approximation in AVX2 (see
    /// [`super::tanh`]), and `(a, b, dst, n)`: the same of `a - b`, when the CPU has them and
    /// kernels are on.
    pub tanh_rational: Option<(FuncRef, FuncRef)>,
    /// `(x, w, n) -> Σ x[i] w[i]` for f32 with the kernels, in the order of
    /// [`Emitter::vecmat_transposed`] (see [`super::dot`]).
    pub dot: Option<FuncRef>,
}

/// The group product `value` is, if it is one: `x @ W` (or `x @ Wᵀ` with `Wᵀ` copied by the
/// caller, see [`Layout::copied`]) whose operands are plain buffers, for the kernels.
pub fn group_product(layout: &Layout, program: &StepProgram, value: ValueId) -> Option<GroupProduct> {
    let inst = program.insts[value.index()];
    let loc = |v: ValueId| layout.locs[v.index()];
    // `x @ Wᵀ` only with the caller's copy of `Wᵀ` (the kernel reads `W`'s rows).
    let (x, (w, stride)) = match inst.op {
        Op::VecMat(x, w) => (x, kernel_weight(layout, value, loc(w), inst.shape.len())),
        Op::VecMatT(x, w) if layout.copied[value.index()].is_some() => {
            (x, kernel_weight(layout, value, loc(w), inst.shape.len()))
        }
        _ => return None,
    };
    // With the columns appended to it (see `merge`).
    let (rows, cols) = (program.shape(x).len(), inst.shape.len() + layout.appended[value.index()]);
    let product = GroupProduct { value, x: loc(x), w, dest: loc(value), rows, cols, stride };
    (rows > 1 && cols > 1 && kernel_applies(product.x, w, product.dest, rows, cols)).then_some(product)
}

/// Whether the matrix–vector kernels take a product: operands in plain buffers (not constants
/// or broadcast scalars), and enough work to pay for the call.
pub(super) fn kernel_applies(x: Loc, w: Loc, dest: Loc, rows: usize, cols: usize) -> bool {
    plain(x) && plain(w) && plain(dest) && rows * cols >= 64
}

/// Whether `loc` is a buffer a kernel can read element by element (not a constant or a
/// broadcast scalar).
fn plain(loc: Loc) -> bool {
    matches!(loc, Loc::Mem { scalar: false, .. })
}

/// A product `y = x @ W` that the elements of a lock-step group compute with one kernel call
/// (see [`group_product`]): a kernel product whose operands are plain buffers.
#[derive(Clone, Copy, Debug)]
pub struct GroupProduct {
    /// The product's value.
    pub value: ValueId,
    /// `x[rows]`.
    pub x: Loc,
    /// `W[rows, cols]` (a parameter, or the transposed copy of one for `x @ Wᵀ`).
    pub w: Loc,
    /// `y[cols]`.
    pub dest: Loc,
    /// Rows of `W`.
    pub rows: usize,
    /// Columns of `W`.
    pub cols: usize,
    /// Elements from one row of `W` to the next.
    pub stride: usize,
}

/// The `W` (`[rows, cols]`) the kernels read for product `value`: the caller's padded copy
/// where the layout has one (then `Wᵀ` for `x @ Wᵀ`, see [`Layout::copied`]), else `w`;
/// and the distance between its rows.
pub fn kernel_weight(layout: &Layout, value: ValueId, w: Loc, cols: usize) -> (Loc, usize) {
    match layout.copied[value.index()] {
        Some(slot) => {
            (Loc::Mem { base: Base::Param(slot as u32), offset: 0, scalar: false }, super::layout::padded(cols))
        }
        None => (w, cols),
    }
}

/// Runtime pointers of the buffers a step reads and writes.
pub struct Bases {
    /// Scratch.
    pub scratch: Value,
    /// This step's input row.
    pub input: Value,
    /// The states before the step: the step's tape row.
    pub state: Value,
    /// This step's seed row (adjoint only).
    pub seed: Value,
    /// `λ` of the new states (adjoint only).
    pub adjoint: Value,
    /// Parameter pointers, loaded once per call.
    pub params: Vec<Value>,
    /// This step's output row.
    pub output: Value,
    /// The states after the step (forward: the tape's next row), or the `λ` buffer the
    /// backward step writes.
    pub next_state: Value,
    /// Gradient accumulators, loaded once per call.
    pub grads: Vec<Value>,
    /// This step's rows of the precomputed products.
    pub precomputed: Vec<Value>,
    /// This step's rows of the weight-gradient sequences.
    pub sequences: Vec<Value>,
}

impl Bases {
    /// Every buffer at `pointer` except scratch and the parameters: for code that touches only
    /// those (loop-invariant values) or copies one buffer to another.
    pub fn uniform(pointer: Value, scratch: Value, params: Vec<Value>) -> Self {
        Bases {
            scratch,
            input: pointer,
            state: pointer,
            seed: pointer,
            adjoint: pointer,
            params,
            output: pointer,
            next_state: pointer,
            grads: Vec::new(),
            precomputed: Vec::new(),
            sequences: Vec::new(),
        }
    }
}

/// An element index: known at compile time, or a runtime counter plus a constant.
#[derive(Clone, Copy)]
pub enum Index {
    /// A constant.
    Fixed(usize),
    /// `value + constant`, value an i64 element count.
    Dynamic(Value, usize),
}

/// What one access of an elementwise loop covers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// A whole vector.
    Vector,
    /// The first two lanes of an f32 vector, read and written as one 64-bit element (the other
    /// lanes are zero and never stored): a tail of two or three elements takes one vector
    /// operation instead of two scalar ones.
    Pair,
    /// One element.
    Scalar,
}

impl Width {
    /// Whether values of this width are vectors.
    pub fn vector(self) -> bool {
        self != Width::Scalar
    }
}

/// Emits the instructions of one step into a function being built.
pub struct Emitter<'a, 'f> {
    /// The function builder.
    pub b: &'a mut FunctionBuilder<'f>,
    /// `F32` or `F64`.
    pub elem: Type,
    /// `F32X4` or `F64X2`.
    pub vector: Type,
    /// Lanes per vector.
    pub lanes: usize,
    /// The locations of values.
    pub layout: &'a Layout,
    /// Buffer pointers.
    pub bases: Bases,
    /// Host functions.
    pub host: HostFunctions,
    /// `[seed, batch]` for noise.
    pub noise_context: Value,
    /// The step number (i64).
    pub step: Value,
    /// Whether the CPU has fused multiply–add (see [`Emitter::mul_add`]).
    pub fma: bool,
}

/// Whether this CPU has fused multiply–add instructions (Cranelift then emits `vfmadd`; without
/// them its `fma` would be a library call per element).
pub fn host_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Emitter<'_, '_> {
    fn size(&self) -> usize {
        self.elem.bytes() as usize
    }

    fn base(&self, base: Base) -> Value {
        match base {
            Base::Scratch => self.bases.scratch,
            Base::Param(p) => self.bases.params[p as usize],
            Base::Input => self.bases.input,
            Base::State => self.bases.state,
            Base::Seed => self.bases.seed,
            Base::StateAdjoint => self.bases.adjoint,
            Base::Output => self.bases.output,
            Base::NextState => self.bases.next_state,
            Base::Grad(p) => self.bases.grads[p as usize],
            Base::Precomputed(k) => self.bases.precomputed[k as usize],
            Base::Sequence(k) => self.bases.sequences[k as usize],
        }
    }

    /// Address of element `index` of a buffer location, as (pointer, immediate offset).
    fn address(&mut self, base: Base, offset: usize, index: Index) -> (Value, i32) {
        let pointer = self.base(base);
        let size = self.size();
        match index {
            Index::Fixed(i) => (pointer, ((offset + i) * size) as i32),
            Index::Dynamic(value, i) => {
                let bytes = self.b.ins().imul_imm_s(value, size as i64);
                let moved = self.b.ins().iadd(pointer, bytes);
                (moved, ((offset + i) * size) as i32)
            }
        }
    }

    fn constant(&mut self, value: f64) -> Value {
        if self.elem == types::F32 { self.b.ins().f32const(value as f32) } else { self.b.ins().f64const(value) }
    }

    /// One element of a value.
    pub fn load(&mut self, loc: Loc, index: Index) -> Value {
        match loc {
            Loc::Const(value) => self.constant(value),
            Loc::Mem { base, offset, scalar } => {
                let index = if scalar { Index::Fixed(0) } else { index };
                let (pointer, immediate) = self.address(base, offset, index);
                self.b.ins().load(self.elem, flags(), pointer, immediate)
            }
        }
    }

    /// `lanes` consecutive elements of a value (a splat for constants and scalars).
    pub fn load_vector(&mut self, loc: Loc, index: Index) -> Value {
        match loc {
            Loc::Mem { base, offset, scalar: false } => {
                let (pointer, immediate) = self.address(base, offset, index);
                self.b.ins().load(self.vector, flags(), pointer, immediate)
            }
            Loc::Const(_) | Loc::Mem { scalar: true, .. } => {
                let scalar = self.load(loc, index);
                self.b.ins().splat(self.vector, scalar)
            }
        }
    }

    /// Stores one element (or a vector when `value` is one) at a location.
    pub fn store(&mut self, loc: Loc, index: Index, value: Value) {
        if let Loc::Mem { base, offset, .. } = loc {
            let (pointer, immediate) = self.address(base, offset, index);
            self.b.ins().store(flags(), value, pointer, immediate);
        }
    }

    /// The elements of a value an access of `width` covers (see [`Width`]).
    pub fn load_width(&mut self, loc: Loc, index: Index, width: Width) -> Value {
        match (width, loc) {
            (Width::Vector, _) => self.load_vector(loc, index),
            (Width::Scalar, _) => self.load(loc, index),
            (Width::Pair, Loc::Mem { base, offset, scalar: false }) => {
                let (pointer, immediate) = self.address(base, offset, index);
                let pair = self.b.ins().load(types::F64, flags(), pointer, immediate);
                let wide = self.b.ins().scalar_to_vector(types::F64X2, pair);
                self.b.ins().bitcast(self.vector, MemFlagsData::new().with_endianness(Endianness::Little), wide)
            }
            (Width::Pair, _) => self.load_vector(loc, index),
        }
    }

    /// Stores the elements an access of `width` covers (see [`Width`]).
    pub fn store_width(&mut self, loc: Loc, index: Index, value: Value, width: Width) {
        if width != Width::Pair {
            return self.store(loc, index, value);
        }
        let wide = self.b.ins().bitcast(types::F64X2, MemFlagsData::new().with_endianness(Endianness::Little), value);
        let pair = self.b.ins().extractlane(wide, 0);
        self.store(loc, index, pair);
    }

    /// The elementwise accesses covering `len` elements after `chunks` whole vectors: a pair
    /// (f32, two or more left), then single elements; as (first element, width).
    pub fn tail(&self, chunks: usize, len: usize) -> Vec<(usize, Width)> {
        let mut first = chunks * self.lanes;
        let mut accesses = Vec::new();
        if self.elem == types::F32 && len - first >= 2 {
            accesses.push((first, Width::Pair));
            first += 2;
        }
        accesses.extend((first..len).map(|i| (i, Width::Scalar)));
        accesses
    }

    /// A pointer to element 0 of a memory location.
    pub fn pointer(&mut self, loc: Loc) -> Value {
        match loc {
            Loc::Mem { base, offset, .. } => {
                let pointer = self.base(base);
                let bytes = (offset * self.size()) as i64;
                self.b.ins().iadd_imm_s(pointer, bytes)
            }
            Loc::Const(_) => self.bases.scratch,
        }
    }

    /// Runs `body(i)` for `i` in `0..count` as a bottom-tested loop (`count > 0`).
    pub fn counted_loop(&mut self, count: usize, mut body: impl FnMut(&mut Self, Value)) {
        let head = self.b.create_block();
        let exit = self.b.create_block();
        let counter = self.b.append_block_param(head, types::I64);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.ins().jump(head, &[BlockArg::Value(zero)]);
        self.b.switch_to_block(head);
        body(self, counter);
        let next = self.b.ins().iadd_imm_s(counter, 1);
        let more = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, next, count as i64);
        self.b.ins().brif(more, head, &[BlockArg::Value(next)], exit, &[]);
        self.b.switch_to_block(exit);
    }

    /// Computes `dest[i] = f(operands[i]...)` for `len` elements, vectorised.
    fn elementwise(
        &mut self,
        dest: Loc,
        len: usize,
        operands: &[Loc],
        f: &mut dyn FnMut(&mut Self, &[Value], bool) -> Value,
    ) {
        let chunks = len / self.lanes;
        let lanes = self.lanes;
        let mut body = |e: &mut Self, index: Index, width: Width| {
            let values: Vec<Value> = operands.iter().map(|loc| e.load_width(*loc, index, width)).collect();
            let result = f(e, &values, width.vector());
            e.store_width(dest, index, result, width);
        };
        if chunks <= UNROLL_CHUNKS {
            for chunk in 0..chunks {
                body(self, Index::Fixed(chunk * lanes), Width::Vector);
            }
        } else {
            self.counted_loop(chunks, |e, chunk| {
                let element = e.b.ins().imul_imm_s(chunk, lanes as i64);
                body(e, Index::Dynamic(element, 0), Width::Vector);
            });
        }
        for (i, width) in self.tail(chunks, len) {
            body(self, Index::Fixed(i), width);
        }
    }

    /// `if condition { a } else { b }` for scalars or vectors.
    fn choose(&mut self, condition: Value, a: Value, b: Value, vector: bool) -> Value {
        if vector {
            let mask =
                self.b.ins().bitcast(self.vector, MemFlagsData::new().with_endianness(Endianness::Little), condition);
            self.b.ins().bitselect(mask, a, b)
        } else {
            self.b.ins().select(condition, a, b)
        }
    }

    /// `-x`. A vector's sign bits are flipped by `xor` with a `-0.0` splat, a constant the
    /// optimiser moves out of the loop; Cranelift lowers `fneg` to three instructions that
    /// rebuild the mask every time (a tenth of A's backward step).
    fn negate(&mut self, x: Value, vector: bool) -> Value {
        if vector {
            let sign = self.splat_constant(-0.0, true);
            self.b.ins().bxor(x, sign)
        } else {
            self.b.ins().fneg(x)
        }
    }

    fn splat_constant(&mut self, value: f64, vector: bool) -> Value {
        let scalar = self.constant(value);
        if vector { self.b.ins().splat(self.vector, scalar) } else { scalar }
    }

    fn binary(&mut self, op: BinaryOp, x: Value, y: Value, vector: bool) -> Value {
        let compare = |e: &mut Self, cc: FloatCC| {
            let condition = e.b.ins().fcmp(cc, x, y);
            let one = e.splat_constant(1.0, vector);
            let zero = e.splat_constant(0.0, vector);
            e.choose(condition, one, zero, vector)
        };
        match op {
            BinaryOp::Add => self.b.ins().fadd(x, y),
            BinaryOp::Sub => self.b.ins().fsub(x, y),
            BinaryOp::Mul => self.b.ins().fmul(x, y),
            BinaryOp::Div => self.b.ins().fdiv(x, y),
            // The interpreter's choice: `if y < x { y } else { x }`.
            BinaryOp::Min => {
                let condition = self.b.ins().fcmp(FloatCC::LessThan, y, x);
                self.choose(condition, y, x, vector)
            }
            BinaryOp::Max => {
                let condition = self.b.ins().fcmp(FloatCC::GreaterThan, y, x);
                self.choose(condition, y, x, vector)
            }
            BinaryOp::Lt => compare(self, FloatCC::LessThan),
            BinaryOp::Le => compare(self, FloatCC::LessThanOrEqual),
            BinaryOp::Gt => compare(self, FloatCC::GreaterThan),
            BinaryOp::Ge => compare(self, FloatCC::GreaterThanOrEqual),
            BinaryOp::Eq => compare(self, FloatCC::Equal),
            BinaryOp::Ne => compare(self, FloatCC::NotEqual),
            // Only reached for scalars: `pow` runs element by element through the host.
            BinaryOp::Pow => {
                let call = self.b.ins().call(self.host.pow, &[x, y]);
                self.b.inst_results(call)[0]
            }
        }
    }

    /// Emits instruction `value` of `program`.
    pub fn instruction(&mut self, program: &StepProgram, value: ValueId) {
        let inst = program.insts[value.index()];
        let dest = self.layout.locs[value.index()];
        let len = inst.shape.len();
        let loc = |v: ValueId| self.layout.locs[v.index()];
        match inst.op {
            // Sources and broadcasts live in their buffers already (`schedule::silent`; listed
            // here so that the match stays exhaustive).
            Op::Const(_)
            | Op::Param(_)
            | Op::State(_)
            | Op::Input(_)
            | Op::Seed(_)
            | Op::StateAdjoint(_)
            | Op::NextState(_)
            | Op::Broadcast(_) => {}
            Op::Noise(stream) => {
                let pointer = self.pointer(dest);
                let count = self.b.ins().iconst(types::I64, len as i64);
                let stream = self.b.ins().iconst(types::I64, i64::from(stream));
                self.b.ins().call(self.host.noise, &[pointer, count, self.noise_context, self.step, stream]);
            }
            Op::Unary(unary, a) => {
                // f32 tanh is the rational approximation of `super::tanh`: a native call for
                // long vectors (`native_tanh`), else inline; f64 keeps the host's exact function.
                if let (Some((_, function)), Some((x, y))) =
                    (self.host.tanh_rational, self.fusion().difference(program, value))
                {
                    // The difference is not computed (see `Fusion::difference`).
                    let (x, y, target) = (self.pointer(loc(x)), self.pointer(loc(y)), self.pointer(dest));
                    let count = self.b.ins().iconst(types::I64, len as i64);
                    self.b.ins().call(function, &[x, y, target, count]);
                    return;
                }
                if let (Some(function), Loc::Mem { scalar: false, .. }) = (self.native_tanh(unary, len), loc(a)) {
                    let source = self.pointer(loc(a));
                    let target = self.pointer(dest);
                    let count = self.b.ins().iconst(types::I64, len as i64);
                    self.b.ins().call(function, &[source, target, count]);
                    return;
                }
                if unary == UnaryOp::Tanh && self.elem == types::F32 {
                    self.elementwise(dest, len, &[loc(a)], &mut |e, v, vector| e.tanh_approx(v[0], vector));
                    return;
                }
                let host = match unary {
                    UnaryOp::Exp => Some(self.host.exp),
                    UnaryOp::Log => Some(self.host.log),
                    UnaryOp::Tanh => Some(self.host.tanh),
                    UnaryOp::Sin => Some(self.host.sin),
                    UnaryOp::Cos => Some(self.host.cos),
                    UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Floor => None,
                };
                match (host, loc(a)) {
                    (Some(function), Loc::Mem { scalar, .. }) if !scalar || len == 1 => {
                        let source = self.pointer(loc(a));
                        let target = self.pointer(dest);
                        let count = self.b.ins().iconst(types::I64, len as i64);
                        self.b.ins().call(function, &[source, target, count]);
                    }
                    (Some(_), operand) => {
                        // A constant operand: the simplifier folds these, so this is rare.
                        let value = match operand {
                            Loc::Const(x) => crate::elaborate::apply_unary(unary, x),
                            Loc::Mem { .. } => 0.0,
                        };
                        self.elementwise(dest, len, &[], &mut |e, _, vector| e.splat_constant(value, vector));
                    }
                    (None, _) => self.elementwise(dest, len, &[loc(a)], &mut |e, v, vector| match unary {
                        UnaryOp::Neg => e.negate(v[0], vector),
                        UnaryOp::Abs => e.b.ins().fabs(v[0]),
                        UnaryOp::Sqrt => e.b.ins().sqrt(v[0]),
                        _ => e.b.ins().floor(v[0]),
                    }),
                }
            }
            Op::Binary(BinaryOp::Pow, a, b) => {
                // Element by element through the host: no vector form.
                for i in 0..len {
                    let x = self.load(loc(a), Index::Fixed(i));
                    let y = self.load(loc(b), Index::Fixed(i));
                    let result = self.binary(BinaryOp::Pow, x, y, false);
                    self.store(dest, Index::Fixed(i), result);
                }
            }
            Op::Binary(op, a, b) => {
                self.elementwise(dest, len, &[loc(a), loc(b)], &mut |e, v, vector| e.binary(op, v[0], v[1], vector));
            }
            Op::Select(c, a, b) => self.elementwise(dest, len, &[loc(c), loc(a), loc(b)], &mut |e, v, vector| {
                let zero = e.splat_constant(0.0, vector);
                let condition = e.b.ins().fcmp(FloatCC::NotEqual, v[0], zero);
                e.choose(condition, v[1], v[2], vector)
            }),
            Op::VecMat(x, w) => {
                // A kernel call may compute more than this product (see `merge`): with appended
                // columns, those of another product of `x`, into the elements after this
                // product's; for a merged output computed on its own (the epilogue of late
                // outputs), its product's call, so that every output is summed the same way.
                let rows = program.shape(x).len();
                let extra = self.layout.appended[value.index()];
                let called = match self.layout.merged[value.index()].map(|p| (p, program.inst(p).op)) {
                    Some((product, Op::VecMat(_, pw))) => {
                        let cols = program.shape(product).len();
                        let weight = kernel_weight(self.layout, product, loc(pw), cols);
                        self.kernel(0, loc(x), weight, loc(product), rows, cols + len)
                    }
                    _ => {
                        let weight = kernel_weight(self.layout, value, loc(w), len);
                        extra > 0 && self.kernel(0, loc(x), weight, dest, rows, len + extra)
                    }
                };
                if !called {
                    self.product(value, dest, loc(x), loc(w), rows, len);
                }
            }
            Op::ScaledProduct(c, x, w) => {
                // Where the JIT does not defer it to after the loop: the product, then the scale.
                self.product(value, dest, loc(x), loc(w), program.shape(x).len(), len);
                let scale = loc(c);
                self.elementwise(dest, len, &[dest, scale], &mut |e, v, _| e.b.ins().fmul(v[0], v[1]));
            }
            Op::VecMatT(x, w) => {
                let cols = program.shape(x).len();
                if cols == 1 {
                    // `x[1] @ Wᵀ` for `W[rows, 1]` is the column scaled by the one element (as a
                    // product it was a scalar loop of one-element dot products).
                    self.scaled_by_element(dest, len, loc(w), loc(x));
                } else if self.layout.copied[value.index()].is_some() {
                    // `x @ Wᵀ` as `x @ (Wᵀ)` with `Wᵀ` transposed by the caller.
                    let transposed = kernel_weight(self.layout, value, loc(w), len);
                    if !self.kernel(0, loc(x), transposed, dest, cols, len) {
                        self.vecmat_transposed(dest, loc(x), loc(w), len, cols);
                    }
                } else if !self.kernel(1, loc(x), (loc(w), cols), dest, len, cols) {
                    self.vecmat_transposed(dest, loc(x), loc(w), len, cols);
                }
            }
            Op::Outer(x, y) => {
                let (rows, cols) = (program.shape(x).len(), program.shape(y).len());
                self.outer(dest, loc(x), loc(y), rows, cols, false);
            }
            Op::Sum(a) => {
                let count = program.shape(a).len();
                let mut total = self.constant(0.0);
                for i in 0..count {
                    let x = self.load(loc(a), Index::Fixed(i));
                    total = self.b.ins().fadd(total, x);
                }
                self.store(dest, Index::Fixed(0), total);
            }
        }
    }

    /// The value of a fusable elementwise op on operand values (vectors or scalars).
    pub fn compute(&mut self, op: Op, operands: &[Value], vector: bool) -> Value {
        match op {
            Op::Unary(UnaryOp::Neg, _) => self.negate(operands[0], vector),
            Op::Unary(UnaryOp::Abs, _) => self.b.ins().fabs(operands[0]),
            Op::Unary(UnaryOp::Sqrt, _) => self.b.ins().sqrt(operands[0]),
            Op::Unary(UnaryOp::Floor, _) => self.b.ins().floor(operands[0]),
            Op::Unary(UnaryOp::Tanh, _) => self.tanh_approx(operands[0], vector),
            Op::Binary(binary, _, _) => self.binary(binary, operands[0], operands[1], vector),
            Op::Select(..) => {
                let zero = self.splat_constant(0.0, vector);
                let condition = self.b.ins().fcmp(FloatCC::NotEqual, operands[0], zero);
                self.choose(condition, operands[1], operands[2], vector)
            }
            // A row scaled by `x[0]` (`fuse::is_scaled_row`; the operands are `x[0]` and `W`), as
            // `scaled_by_element` computes it.
            Op::VecMat(..) | Op::VecMatT(..) => self.b.ins().fmul(operands[1], operands[0]),
            // Not fusable; `fusable` never lets these reach here.
            _ => operands.first().copied().unwrap_or_else(|| self.splat_constant(0.0, vector)),
        }
    }

    /// `tanh(x)` for f32 by the rational approximation of [`super::tanh`], inline (≈18× faster
    /// than calling `tanhf` per element).
    fn tanh_approx(&mut self, x: Value, vector: bool) -> Value {
        use super::tanh::{ALPHA, BETA, CLAMP};
        let high = self.splat_constant(CLAMP, vector);
        let low = self.splat_constant(-CLAMP, vector);
        let above = self.b.ins().fcmp(FloatCC::GreaterThan, x, high);
        let x = self.choose(above, high, x, vector);
        let below = self.b.ins().fcmp(FloatCC::LessThan, x, low);
        let x = self.choose(below, low, x, vector);
        let x2 = self.b.ins().fmul(x, x);
        let mut p = self.splat_constant(ALPHA[0], vector);
        for alpha in &ALPHA[1..] {
            let c = self.splat_constant(*alpha, vector);
            p = self.mul_add(p, x2, c);
        }
        p = self.b.ins().fmul(p, x);
        let mut q = self.splat_constant(BETA[0], vector);
        for beta in &BETA[1..] {
            let c = self.splat_constant(*beta, vector);
            q = self.mul_add(q, x2, c);
        }
        self.b.ins().fdiv(p, q)
    }

    /// The native f32 `tanh` to call for a vector of `len` elements, if `unary` is `tanh` and
    /// one applies (see [`super::tanh::NATIVE_MIN_LEN`]).
    pub fn native_tanh(&self, unary: UnaryOp, len: usize) -> Option<FuncRef> {
        let native = unary == UnaryOp::Tanh && self.fusion().calls_native_tanh(len);
        if native { self.host.tanh_rational.map(|(tanh, _)| tanh) } else { None }
    }

    /// `a · b + c`: one fused instruction (rounded once) where the CPU has it, else two. Only
    /// for code with its own accuracy bound (the tanh polynomial): the interpreter's arithmetic
    /// rounds products separately.
    fn mul_add(&mut self, a: Value, b: Value, c: Value) -> Value {
        if self.fma {
            self.b.ins().fma(a, b, c)
        } else {
            let product = self.b.ins().fmul(a, b);
            self.b.ins().fadd(product, c)
        }
    }

    /// `dest[len] = w[len] · x[0]`: a row or column of a weight scaled by a one-element
    /// vector, as a vector loop.
    fn scaled_by_element(&mut self, dest: Loc, len: usize, w: Loc, x: Loc) {
        let element = match x {
            Loc::Mem { base, offset, .. } => Loc::Mem { base, offset, scalar: true },
            constant => constant,
        };
        self.elementwise(dest, len, &[w, element], &mut |e, v, _| e.b.ins().fmul(v[1], v[0]));
    }

    /// `dest[cols] = x[rows] @ W[rows, cols]`, by the kernel where it applies.
    fn product(&mut self, value: ValueId, dest: Loc, x: Loc, w: Loc, rows: usize, cols: usize) {
        if rows == 1 {
            // One row (a layer with one input channel): the row scaled by the one element,
            // rather than a product loop of one iteration.
            self.scaled_by_element(dest, cols, w, x);
        } else if cols == 1 {
            // One column: a dot product with the contiguous column, vectorised over rows
            // (a `[rows, 1]` matrix is laid out as the single row of a `[1, rows]` one).
            match self.host.dot {
                Some(dot) if rows >= super::dot::NATIVE_MIN_LEN && plain(x) && plain(w) => {
                    let (xp, wp) = (self.pointer(x), self.pointer(w));
                    let n = self.b.ins().iconst(types::I64, rows as i64);
                    let call = self.b.ins().call(dot, &[xp, wp, n]);
                    let total = self.b.inst_results(call)[0];
                    self.store(dest, Index::Fixed(0), total);
                }
                _ => self.vecmat_transposed(dest, x, w, 1, rows),
            }
        } else if !self.kernel(0, x, kernel_weight(self.layout, value, w, cols), dest, rows, cols) {
            self.vecmat(dest, x, w, rows, cols);
        }
    }

    /// Calls the AVX2 kernel (`which`: 0 for `x @ W` with `W`'s rows `stride` apart, 1 for
    /// `x @ Wᵀ`) if there is one and the operands are plain buffers; returns whether it did.
    fn kernel(&mut self, which: usize, x: Loc, (w, stride): (Loc, usize), dest: Loc, rows: usize, cols: usize) -> bool {
        let Some(kernels) = self.host.matvec else { return false };
        if !kernel_applies(x, w, dest, rows, cols) {
            return false;
        }
        let (xp, wp, yp) = (self.pointer(x), self.pointer(w), self.pointer(dest));
        let r = self.b.ins().iconst(types::I64, rows as i64);
        let c = self.b.ins().iconst(types::I64, cols as i64);
        if which == 0 {
            let s = self.b.ins().iconst(types::I64, stride as i64);
            self.b.ins().call(kernels.0, &[xp, wp, yp, r, c, s]);
        } else {
            self.b.ins().call(kernels.1, &[xp, wp, yp, r, c]);
        }
        true
    }

    /// Writes this element's pointers to `product`'s `x` and `y` into slot `element` of the
    /// group's pointer arrays (stack slots of [`super::MAX_GROUP`] pointers each).
    pub fn group_operands(&mut self, product: &GroupProduct, arrays: (Value, Value), element: Value) {
        let offset = self.b.ins().imul_imm_s(element, 8);
        let (x, y) = (self.pointer(product.x), self.pointer(product.dest));
        for (array, pointer) in [(arrays.0, x), (arrays.1, y)] {
            let slot = self.b.ins().iadd(array, offset);
            self.b.ins().store(flags(), pointer, slot, 0);
        }
    }

    /// Calls the group kernel for `product` on the `count` elements whose pointers
    /// [`Emitter::group_operands`] wrote.
    pub fn group_call(&mut self, product: &GroupProduct, arrays: (Value, Value), count: Value) {
        let Some(function) = self.host.matvec_group else { return };
        let w = self.pointer(product.w);
        let rows = self.b.ins().iconst(types::I64, product.rows as i64);
        let cols = self.b.ins().iconst(types::I64, product.cols as i64);
        let stride = self.b.ins().iconst(types::I64, product.stride as i64);
        self.b.ins().call(function, &[arrays.0, w, arrays.1, count, rows, cols, stride]);
    }

    /// `y[cols] = x[rows] @ W[rows, cols]`, summing over rows in order (as the interpreter).
    /// Columns are processed in tiles of up to 8 vectors held in registers across the row loop.
    fn vecmat(&mut self, dest: Loc, x: Loc, w: Loc, rows: usize, cols: usize) {
        let lanes = self.lanes;
        let chunks = cols / lanes;
        let tile = 8;
        let mut start = 0;
        while start < chunks {
            let width = tile.min(chunks - start);
            let zero = self.splat_constant(0.0, true);
            let head = self.b.create_block();
            let exit = self.b.create_block();
            let row = self.b.append_block_param(head, types::I64);
            let accumulators: Vec<Value> = (0..width).map(|_| self.b.append_block_param(head, self.vector)).collect();
            let results: Vec<Value> = (0..width).map(|_| self.b.append_block_param(exit, self.vector)).collect();
            let first = self.b.ins().iconst(types::I64, 0);
            let mut args = vec![BlockArg::Value(first)];
            args.extend((0..width).map(|_| BlockArg::Value(zero)));
            self.b.ins().jump(head, &args);
            self.b.switch_to_block(head);
            let xi = self.load(x, Index::Dynamic(row, 0));
            let xi = self.b.ins().splat(self.vector, xi);
            let element = self.b.ins().imul_imm_s(row, cols as i64);
            let mut next_accumulators = Vec::with_capacity(width);
            for (k, accumulator) in accumulators.iter().enumerate() {
                let weights = self.load_vector(w, Index::Dynamic(element, (start + k) * lanes));
                let product = self.b.ins().fmul(xi, weights);
                next_accumulators.push(self.b.ins().fadd(*accumulator, product));
            }
            let next = self.b.ins().iadd_imm_s(row, 1);
            let more = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, next, rows as i64);
            let mut loop_args = vec![BlockArg::Value(next)];
            loop_args.extend(next_accumulators.iter().map(|v| BlockArg::Value(*v)));
            let exit_args: Vec<BlockArg> = next_accumulators.iter().map(|v| BlockArg::Value(*v)).collect();
            self.b.ins().brif(more, head, &loop_args, exit, &exit_args);
            self.b.switch_to_block(exit);
            for (k, result) in results.iter().enumerate() {
                self.store(dest, Index::Fixed((start + k) * lanes), *result);
            }
            start += width;
        }
        // Columns left over after whole vectors: scalar accumulators.
        for col in chunks * lanes..cols {
            let mut total = self.constant(0.0);
            for row in 0..rows {
                let xi = self.load(x, Index::Fixed(row));
                let weight = self.load(w, Index::Fixed(row * cols + col));
                let product = self.b.ins().fmul(xi, weight);
                total = self.b.ins().fadd(total, product);
            }
            self.store(dest, Index::Fixed(col), total);
        }
        if rows == 0 {
            self.elementwise(dest, cols, &[], &mut |e, _, vector| e.splat_constant(0.0, vector));
        }
    }

    /// `index` moved on by `offset` elements (an i64 value).
    fn offset_index(&mut self, index: Index, offset: Value) -> Index {
        match index {
            Index::Fixed(i) => Index::Dynamic(offset, i),
            Index::Dynamic(value, i) => Index::Dynamic(self.b.ins().iadd(value, offset), i),
        }
    }

    /// Runs `body(i, values)` for `i` in `0..count` (`count > 0`) as a bottom-tested loop
    /// carrying `values` (which `body` updates) from one iteration to the next; returns their
    /// final values.
    fn loop_with(
        &mut self,
        count: usize,
        values: &[Value],
        mut body: impl FnMut(&mut Self, Value, &mut [Value]),
    ) -> Vec<Value> {
        let head = self.b.create_block();
        let exit = self.b.create_block();
        let counter = self.b.append_block_param(head, types::I64);
        let types: Vec<Type> = values.iter().map(|v| self.b.func.dfg.value_type(*v)).collect();
        let mut carried: Vec<Value> = types.iter().map(|ty| self.b.append_block_param(head, *ty)).collect();
        let results: Vec<Value> = types.iter().map(|ty| self.b.append_block_param(exit, *ty)).collect();
        let zero = self.b.ins().iconst(types::I64, 0);
        let entry: Vec<BlockArg> = std::iter::once(zero).chain(values.iter().copied()).map(BlockArg::Value).collect();
        self.b.ins().jump(head, &entry);
        self.b.switch_to_block(head);
        body(self, counter, &mut carried);
        let next = self.b.ins().iadd_imm_s(counter, 1);
        let more = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, next, count as i64);
        let again: Vec<BlockArg> = std::iter::once(next).chain(carried.iter().copied()).map(BlockArg::Value).collect();
        let done: Vec<BlockArg> = carried.iter().copied().map(BlockArg::Value).collect();
        self.b.ins().brif(more, head, &again, exit, &done);
        self.b.switch_to_block(exit);
        results
    }

    /// `y[rows] = x[cols] @ Wᵀ` for `W[rows, cols]`: one dot product per row (its vector
    /// chunks summed in [`DOT_ACCUMULATORS`] interleaved partial sums).
    fn vecmat_transposed(&mut self, dest: Loc, x: Loc, w: Loc, rows: usize, cols: usize) {
        let lanes = self.lanes;
        let chunks = cols / lanes;
        self.counted_loop(rows.max(1), |e, row| {
            let base = e.b.ins().imul_imm_s(row, cols as i64);
            // Up to four accumulators, so the additions do not wait on each other (one chain
            // over A's 50-element readout was a quarter of its forward step).
            let zero = e.splat_constant(0.0, true);
            let slots = chunks.clamp(1, DOT_ACCUMULATORS);
            let mut accumulators = vec![zero; slots];
            let add_chunk = |e: &mut Self, accumulators: &mut [Value], index: Index, slot: usize| {
                let xs = e.load_vector(x, index);
                let in_row = e.offset_index(index, base);
                let weights = e.load_vector(w, in_row);
                let product = e.b.ins().fmul(xs, weights);
                accumulators[slot] = e.b.ins().fadd(accumulators[slot], product);
            };
            // Long dot products as a loop over whole groups of `slots` chunks (A1000's
            // 1000-element readout, unrolled, was a thousand instructions; its compile time
            // doubled when the readout was also emitted after the loop, see `skew`).
            let groups = if chunks > UNROLL_CHUNKS { chunks / slots } else { 0 };
            if groups > 0 {
                accumulators = e.loop_with(groups, &accumulators, |e, group, sums| {
                    let first = e.b.ins().imul_imm_s(group, (slots * lanes) as i64);
                    for slot in 0..slots {
                        add_chunk(e, sums, Index::Dynamic(first, slot * lanes), slot);
                    }
                });
            }
            for chunk in groups * slots..chunks {
                add_chunk(e, &mut accumulators, Index::Fixed(chunk * lanes), chunk % slots);
            }
            let accumulator = (accumulators[1..].iter()).fold(accumulators[0], |sum, part| e.b.ins().fadd(sum, *part));
            let mut total = e.b.ins().extractlane(accumulator, 0);
            for lane in 1..lanes {
                let part = e.b.ins().extractlane(accumulator, lane as u8);
                total = e.b.ins().fadd(total, part);
            }
            for col in chunks * lanes..cols {
                let xc = e.load(x, Index::Fixed(col));
                let weight = e.load(w, Index::Dynamic(base, col));
                let product = e.b.ins().fmul(xc, weight);
                total = e.b.ins().fadd(total, product);
            }
            e.store(dest, Index::Dynamic(row, 0), total);
        });
    }

    /// `dest[rows, cols] (+)= xᵀ y`; with `accumulate` it adds into `dest`.
    pub fn outer(&mut self, dest: Loc, x: Loc, y: Loc, rows: usize, cols: usize, accumulate: bool) {
        let lanes = self.lanes;
        let chunks = cols / lanes;
        self.counted_loop(rows.max(1), |e, row| {
            let xi = e.load(x, Index::Dynamic(row, 0));
            let splat = e.b.ins().splat(e.vector, xi);
            let base = e.b.ins().imul_imm_s(row, cols as i64);
            for chunk in 0..chunks {
                let ys = e.load_vector(y, Index::Fixed(chunk * lanes));
                let mut value = e.b.ins().fmul(splat, ys);
                if accumulate {
                    let old = e.load_vector(dest, Index::Dynamic(base, chunk * lanes));
                    value = e.b.ins().fadd(old, value);
                }
                e.store(dest, Index::Dynamic(base, chunk * lanes), value);
            }
            for col in chunks * lanes..cols {
                let yc = e.load(y, Index::Fixed(col));
                let mut value = e.b.ins().fmul(xi, yc);
                if accumulate {
                    let old = e.load(dest, Index::Dynamic(base, col));
                    value = e.b.ins().fadd(old, value);
                }
                e.store(dest, Index::Dynamic(base, col), value);
            }
        });
    }

    /// `dest[i] += source[i]` (a scalar source adds to every element).
    pub fn accumulate(&mut self, dest: Loc, source: Loc, len: usize) {
        self.elementwise(dest, len, &[dest, source], &mut |e, v, _| e.b.ins().fadd(v[0], v[1]));
    }

    /// `dest[i] = source[i]`; nothing when the value was computed in place (the same elements
    /// of the same buffer: a carried value, gradient row or new state, see `compile.rs`).
    pub fn copy(&mut self, dest: Loc, source: Loc, len: usize) {
        let in_place = matches!(
            (dest, source),
            (Loc::Mem { base: p, offset: i, .. }, Loc::Mem { base: q, offset: j, scalar })
                if p == q && i == j && (!scalar || len == 1)
        );
        if !in_place {
            self.elementwise(dest, len, &[source], &mut |_, v, _| v[0]);
        }
    }
}
