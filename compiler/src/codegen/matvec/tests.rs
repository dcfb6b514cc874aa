//! Every kernel set the CPU has, and the entry points, against a naive f64 reference.

use super::*;

/// Rows and columns of the shapes tested (all pairs), then a large square and one product
/// large enough to be split across threads.
const DIMS: [usize; 17] = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 50, 64, 65, 100, 130];
const LARGE: [(usize, usize); 2] = [(1000, 1000), (515, 517)];

/// Elements past the output that must stay untouched.
const GUARD: usize = 20;

fn shapes() -> impl Iterator<Item = (usize, usize)> {
    DIMS.iter().flat_map(|&rows| DIMS.iter().map(move |&cols| (rows, cols))).chain(LARGE)
}

/// `n` deterministic values in [-1, 1).
fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

trait Real: Element + Copy {
    /// Allowed error, relative to the sum of |x_i w_ij|.
    const TOLERANCE: f64;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn bits(self) -> u64;
}

impl Real for f32 {
    const TOLERANCE: f64 = 1e-5;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Real for f64 {
    const TOLERANCE: f64 = 1e-12;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// A kernel under test: `(x, w, y, rows, cols)`, `y` at least as long as the output.
type Kernel<'a, E> = &'a dyn Fn(&[E], &[E], &mut [E], usize, usize);

/// Runs `kernel` (`x @ W`, or `x @ Wᵀ` if `transposed`) on one shape; returns its output.
fn run<E: Real>(kernel: Kernel<E>, transposed: bool, rows: usize, cols: usize) -> (Vec<E>, Vec<E>, Vec<E>) {
    let (inputs, outputs) = if transposed { (cols, rows) } else { (rows, cols) };
    let x: Vec<E> = data(inputs, 1 + rows as u64).into_iter().map(E::from_f64).collect();
    let w: Vec<E> = data(rows * cols, 2 + cols as u64).into_iter().map(E::from_f64).collect();
    let mut y = vec![E::from_f64(f64::NAN); outputs + GUARD];
    kernel(&x, &w, &mut y, rows, cols);
    (x, w, y)
}

/// Checks `kernel` on every shape against the reference, and that it writes nothing past `y`.
fn check<E: Real>(label: &str, transposed: bool, kernel: Kernel<E>) {
    for (rows, cols) in shapes() {
        let (x, w, y) = run(kernel, transposed, rows, cols);
        let (inputs, outputs) = if transposed { (cols, rows) } else { (rows, cols) };
        for out in 0..outputs {
            let (mut sum, mut scale) = (0.0f64, 0.0f64);
            for inner in 0..inputs {
                let weight = if transposed { w[out * cols + inner] } else { w[inner * cols + out] };
                let product = x[inner].to_f64() * weight.to_f64();
                sum += product;
                scale += product.abs();
            }
            let got = y[out].to_f64();
            assert!(
                (got - sum).abs() <= E::TOLERANCE * scale,
                "{label}: {rows}×{cols}, output {out}: {got} instead of {sum} (scale {scale})"
            );
        }
        assert!(y[outputs..].iter().all(|v| v.to_f64().is_nan()), "{label}: {rows}×{cols} wrote past the output");
    }
}

/// The four kernels of one set (`x @ W` and `x @ Wᵀ`, f32 and f64) against the reference.
macro_rules! check_set {
    ($set:ident, $name:literal) => {
        check::<f32>(concat!($name, " vecmat f32"), false, &|x, w, y, rows, cols| {
            // SAFETY: lengths as `run` makes them; the caller checked the CPU features.
            unsafe { $set::vecmat(x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), (rows, cols, cols), 0, cols) }
        });
        check::<f64>(concat!($name, " vecmat f64"), false, &|x, w, y, rows, cols| {
            // SAFETY: as above.
            unsafe { $set::vecmat(x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), (rows, cols, cols), 0, cols) }
        });
        check::<f32>(concat!($name, " vecmat_t f32"), true, &|x, w, y, rows, cols| {
            // SAFETY: as above.
            unsafe { $set::vecmat_t(x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), 0, rows, cols) }
        });
        check::<f64>(concat!($name, " vecmat_t f64"), true, &|x, w, y, rows, cols| {
            // SAFETY: as above.
            unsafe { $set::vecmat_t(x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), 0, rows, cols) }
        });
    };
}

#[test]
fn avx2_kernels_match_reference() {
    if available() {
        check_set!(avx2, "AVX2");
    }
}

#[test]
fn avx512_kernels_match_reference() {
    if available() && std::arch::is_x86_feature_detected!("avx512f") {
        check_set!(avx512, "AVX-512");
    }
}

/// The entry points: right, the same at every call, and the same as their kernel set run on
/// one thread (so independent of the split across threads).
fn check_entry<E: Real>(label: &str, transposed: bool, entry: &dyn Fn(*const E, *const E, *mut E, i64, i64)) {
    let call = |x: &[E], w: &[E], y: &mut [E], rows: usize, cols: usize| {
        entry(x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), rows as i64, cols as i64)
    };
    check(label, transposed, &call);
    let avx512 = use_avx512();
    let single = |x: &[E], w: &[E], y: &mut [E], rows: usize, cols: usize| {
        // SAFETY: as above; `use_avx512` says whether AVX-512F is present.
        unsafe {
            if transposed {
                vecmat_t_rows(avx512, x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), 0, rows, cols)
            } else {
                vecmat_columns(avx512, x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), (rows, cols, cols), 0, cols)
            }
        }
    };
    for (rows, cols) in [(50, 50), (100, 100)].into_iter().chain(LARGE) {
        let bits = |y: Vec<E>| y.into_iter().map(E::bits).collect::<Vec<_>>();
        let first = bits(run(&call, transposed, rows, cols).2);
        assert_eq!(first, bits(run(&call, transposed, rows, cols).2), "{label}: {rows}×{cols} differs between calls");
        assert_eq!(
            first,
            bits(run(&single, transposed, rows, cols).2),
            "{label}: {rows}×{cols} depends on the threads"
        );
    }
}

#[test]
fn entry_points_are_right_and_deterministic() {
    assert!(LARGE.iter().any(|&(rows, cols)| rows * cols >= PARALLEL_WORK));
    if available() {
        // SAFETY (all four): lengths as `run` makes them; `available()` checked above; rows
        // of `W` are `cols` apart.
        check_entry::<f32>("vecmat_f32", false, &|x, w, y, r, c| unsafe { vecmat_f32(x, w, y, r, c, c) });
        check_entry::<f64>("vecmat_f64", false, &|x, w, y, r, c| unsafe { vecmat_f64(x, w, y, r, c, c) });
        check_entry::<f32>("vecmat_t_f32", true, &|x, w, y, r, c| unsafe { vecmat_t_f32(x, w, y, r, c) });
        check_entry::<f64>("vecmat_t_f64", true, &|x, w, y, r, c| unsafe { vecmat_t_f64(x, w, y, r, c) });
    }
}

#[test]
fn tiles_cover_the_columns_evenly() {
    for (from, to) in [(0, 0), (0, 1), (0, 16), (0, 17), (0, 224), (0, 225), (0, 1000), (496, 1000), (48, 50)] {
        for (lanes, max) in [(16, 14), (8, 14), (8, 6), (4, 6)] {
            let tiles: Vec<_> = tiles(from, to, lanes, max).collect();
            let mut next = from;
            for (index, &(start, vectors, last)) in tiles.iter().enumerate() {
                assert_eq!(start, next);
                assert!((1..=max).contains(&vectors) && (1..=lanes).contains(&last));
                assert!(last == lanes || index + 1 == tiles.len(), "only the last tile may end in a partial vector");
                next = start + lanes * (vectors - 1) + last;
            }
            assert_eq!(next, to, "{from}..{to} by {lanes}×{max}");
            let widths = tiles.iter().map(|tile| tile.1);
            assert!(widths.clone().max().unwrap_or(0) - widths.min().unwrap_or(0) <= 1, "{from}..{to}: uneven tiles");
        }
    }
}

/// The group kernel gives every element exactly the one-element kernel's bits, for every group
/// size (full groups of four and the tails) and shape, both register widths.
#[test]
fn group_products_equal_the_one_element_kernel_bit_for_bit() {
    if !available() {
        return;
    }
    fn check<E: Real>() {
        for (rows, cols) in shapes().filter(|(r, c)| r * c < 200_000) {
            for count in [1usize, 2, 3, 4, 5, 7, 8] {
                let w: Vec<E> = data(rows * cols, 3).into_iter().map(E::from_f64).collect();
                let xs: Vec<Vec<E>> =
                    (0..count).map(|e| data(rows, 10 + e as u64).into_iter().map(E::from_f64).collect()).collect();
                let mut single: Vec<Vec<E>> = (0..count).map(|_| vec![E::from_f64(7.0); cols + GUARD]).collect();
                for (x, y) in xs.iter().zip(&mut single) {
                    // SAFETY: lengths as required; AVX2 checked above.
                    unsafe { avx2::vecmat(x.as_ptr(), w.as_ptr(), y.as_mut_ptr(), (rows, cols, cols), 0, cols) };
                }
                let wides =
                    if std::arch::is_x86_feature_detected!("avx512vl") { vec![false, true] } else { vec![false] };
                for wide in wides {
                    let mut grouped: Vec<Vec<E>> = (0..count).map(|_| vec![E::from_f64(7.0); cols + GUARD]).collect();
                    let x_pointers: Vec<*const E> = xs.iter().map(|x| x.as_ptr()).collect();
                    let y_pointers: Vec<*mut E> = grouped.iter_mut().map(|y| y.as_mut_ptr()).collect();
                    // SAFETY: as above; `wide` only where AVX-512VL was detected.
                    unsafe { group::vecmat_group(&x_pointers, w.as_ptr(), &y_pointers, rows, cols, cols, wide) };
                    for (a, b) in single.iter().zip(&grouped) {
                        let same = a.iter().zip(b).all(|(p, q)| p.bits() == q.bits());
                        assert!(same, "{rows}x{cols}, {count} elements, wide {wide}");
                    }
                }
            }
        }
    }
    check::<f32>();
    check::<f64>();
}

/// Rows `stride > cols` apart (the padded copies generated code passes) give the same bits as
/// the compact matrix, and the padding (NaN here) is never read: both kernel sets, the group
/// kernel, and the entry point that splits large products across threads.
#[test]
fn padded_rows_give_the_compact_results() {
    if !available() {
        return;
    }
    fn check<E: Real>() {
        for (rows, cols) in shapes().filter(|(r, c)| *r > 0 && *c > 0) {
            let stride = crate::codegen::layout::padded(cols) + 8;
            let x: Vec<E> = data(rows, 4).into_iter().map(E::from_f64).collect();
            let w: Vec<E> = data(rows * cols, 5).into_iter().map(E::from_f64).collect();
            let mut padded = vec![E::from_f64(f64::NAN); rows * stride];
            for (i, row) in w.chunks(cols).enumerate() {
                padded[i * stride..i * stride + cols].copy_from_slice(row);
            }
            let bits = |y: &[E]| y[..cols].iter().map(|v| v.bits()).collect::<Vec<_>>();
            let mut compact = vec![E::from_f64(0.0); cols];
            let mut strided = vec![E::from_f64(0.0); cols];
            let mut sets = vec![false];
            if std::arch::is_x86_feature_detected!("avx512f") {
                sets.push(true);
            }
            for avx512 in sets {
                // SAFETY: lengths as required; the CPU features were checked.
                unsafe {
                    vecmat_columns(avx512, x.as_ptr(), w.as_ptr(), compact.as_mut_ptr(), (rows, cols, cols), 0, cols);
                    vecmat_columns(
                        avx512,
                        x.as_ptr(),
                        padded.as_ptr(),
                        strided.as_mut_ptr(),
                        (rows, cols, stride),
                        0,
                        cols,
                    );
                }
                assert_eq!(bits(&compact), bits(&strided), "{rows}x{cols}, avx512 {avx512}");
            }
            // SAFETY: as above (AVX2 kernels, possibly split across threads).
            unsafe {
                vecmat(x.as_ptr(), w.as_ptr(), compact.as_mut_ptr(), rows, cols, cols);
                vecmat(x.as_ptr(), padded.as_ptr(), strided.as_mut_ptr(), rows, cols, stride);
            }
            assert_eq!(bits(&compact), bits(&strided), "{rows}x{cols} entry");
            let mut grouped = [vec![E::from_f64(0.0); cols], vec![E::from_f64(0.0); cols]];
            let xs = [x.as_ptr(), x.as_ptr()];
            let ys: Vec<*mut E> = grouped.iter_mut().map(|y| y.as_mut_ptr()).collect();
            // SAFETY: as above; two elements, each `y` its own buffer.
            unsafe { group::vecmat_group(&xs, padded.as_ptr(), &ys, rows, cols, stride, false) };
            for y in &grouped {
                assert_eq!(bits(&compact), bits(y), "{rows}x{cols} group");
            }
        }
    }
    check::<f32>();
    check::<f64>();
}
