//! Input and target buffers: shapes, the index of a non-finite value, and row-major order for
//! arrays that are not in standard layout.

use ndarray::{Array3, ArrayD, Dimension, IxDyn};

use super::{RunError, input_buffer};
use crate::grad::target_buffer;

fn array(shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |index| index.slice().iter().fold(0.0, |a, i| a * 10.0 + *i as f64))
}

#[test]
fn a_time_by_channel_input_is_a_batch_of_one() {
    let (flat, batch, steps) = input_buffer::<f32>(&array(&[4, 3]), 3).unwrap();
    assert_eq!((batch, steps), (1, 4));
    assert_eq!(flat[..4], [0.0, 1.0, 2.0, 10.0]);
}

#[test]
fn a_transposed_view_is_read_in_row_major_order() {
    // Built as [channels, time, batch] and transposed to [batch, time, channels].
    let base = Array3::from_shape_fn((2, 3, 4), |(c, t, b)| (100 * b + 10 * t + c) as f64);
    let input = base.reversed_axes().into_dyn();
    assert!(input.as_slice().is_none());
    let (flat, batch, steps) = input_buffer::<f64>(&input, 2).unwrap();
    assert_eq!((batch, steps), (4, 3));
    assert_eq!(flat[..4], [0.0, 1.0, 10.0, 11.0]);
    assert_eq!(flat[6], 100.0);
}

#[test]
fn wrong_channels_and_rank_are_refused_with_the_shape() {
    for shape in [vec![4, 2], vec![2, 4, 5], vec![12]] {
        match input_buffer::<f32>(&array(&shape), 3) {
            Err(RunError::InputShape { found, channels: 3 }) => assert_eq!(found, shape),
            other => panic!("{shape:?}: {other:?}"),
        }
    }
}

#[test]
fn a_non_finite_input_is_reported_at_its_index() {
    let mut input = array(&[2, 5, 3]);
    input[[1, 3, 2]] = f64::NAN;
    input[[1, 4, 0]] = f64::INFINITY;
    match input_buffer::<f32>(&input, 3) {
        Err(RunError::NonFiniteInput { index, value }) => {
            assert_eq!(index, [1, 3, 2]);
            assert!(value.is_nan());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn targets_must_match_the_run_and_be_finite() {
    assert_eq!(target_buffer(&array(&[5, 2]), 1, 5, 2).unwrap().len(), 10);
    assert!(matches!(target_buffer(&array(&[5, 2]), 2, 5, 2), Err(RunError::TargetShape { .. })));
    assert!(matches!(target_buffer(&array(&[2, 5, 3]), 2, 5, 2), Err(RunError::TargetShape { .. })));
    let mut target = array(&[2, 5, 2]);
    target[[1, 0, 1]] = f64::NEG_INFINITY;
    match target_buffer(&target, 2, 5, 2) {
        Err(RunError::NonFiniteTarget { index, value }) => {
            assert_eq!(index, 11);
            assert_eq!(value, f64::NEG_INFINITY);
        }
        other => panic!("{other:?}"),
    }
}
