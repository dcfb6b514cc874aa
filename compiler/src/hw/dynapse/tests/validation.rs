//! Rockpool's validation oracles (`tests/test_virtual_dynapse.py::test_conn_validation`),
//! every bullet of `dynapse_nir.md` §1.6, on sparse 4096 × 4096 and 1024 × 4096 matrices.

use super::super::{Matrix, SparseMatrix, ValidationFlags, validate_connections, validate_dense_connections};

fn recurrent(triples: &[(usize, usize, f64)]) -> SparseMatrix {
    SparseMatrix::from_triples(4096, 4096, triples.iter().copied()).unwrap()
}

fn external(triples: &[(usize, usize, f64)]) -> SparseMatrix {
    SparseMatrix::from_triples(1024, 4096, triples.iter().copied()).unwrap()
}

/// `w[:30, 0] = 1; w[30:64, 0] = -1`: 64 connections into neuron 0.
fn sixty_four_into_zero() -> Vec<(usize, usize, f64)> {
    (0..64).map(|pre| (pre, 0, if pre < 30 { 1.0 } else { -1.0 })).collect()
}

#[test]
fn fan_in_of_64_is_valid() {
    assert_eq!(validate_connections(&recurrent(&sixty_four_into_zero()), None).bits(), 0);
}

#[test]
fn fan_in_of_65_is_flagged() {
    let mut triples = sixty_four_into_zero();
    triples.push((65, 0, -1.0));
    assert_eq!(validate_connections(&recurrent(&triples), None).bits(), 1);
}

#[test]
fn external_inputs_count_towards_fan_in() {
    let w_ext = external(&[(100, 0, 1.0)]);
    let flags = validate_connections(&recurrent(&sixty_four_into_zero()), Some(&w_ext));
    assert_eq!(flags, ValidationFlags::FANIN_EXCEEDED);
}

#[test]
fn three_target_chips_are_valid() {
    let w = recurrent(&[(0, 2, 1.0), (0, 1050, 2.0), (0, 2100, -1.0)]);
    assert_eq!(validate_connections(&w, None).bits(), 0);
}

#[test]
fn many_targets_on_one_chip_are_valid() {
    let triples: Vec<_> = (0..1024).map(|post| (0, post, 10.0)).collect();
    assert_eq!(validate_connections(&recurrent(&triples), None).bits(), 0);
}

#[test]
fn four_target_chips_are_flagged() {
    let w = recurrent(&[(0, 2, 1.0), (0, 1050, 2.0), (0, 2100, -1.0), (0, 4000, 1.0)]);
    assert_eq!(validate_connections(&w, None).bits(), 2);
}

#[test]
fn different_addresses_from_two_chips_are_valid() {
    let w = recurrent(&[(1024, 1, 1.0), (1025, 4, 1.0)]);
    assert_eq!(validate_connections(&w, None).bits(), 0);
}

#[test]
fn same_address_into_different_cores_is_valid() {
    let w = recurrent(&[(1024, 1, 1.0), (2049, 4, 1.0), (2048, 257, 1.0)]);
    assert_eq!(validate_connections(&w, None).bits(), 0);
}

#[test]
fn same_address_from_two_chips_into_one_core_aliases() {
    let w = recurrent(&[(1024, 1, 1.0), (2048, 1, 1.0)]);
    assert_eq!(validate_connections(&w, None).bits(), 4);
}

#[test]
fn virtual_input_aliases_hardware_neuron_with_its_address() {
    let w = recurrent(&[(1024, 1, 1.0)]);
    let w_ext = external(&[(0, 1, 1.0)]);
    assert_eq!(validate_connections(&w, Some(&w_ext)).bits(), 4);
}

#[test]
fn flags_combine_and_repeated_triples_add_up() {
    // 40 + 40 at the same position is one weight of 80: fan-in 80.
    let mut triples = vec![(7, 9, 40.0), (7, 9, 40.0)];
    triples.extend([(1024, 1, 1.0), (2048, 1, 1.0)]);
    let flags = validate_connections(&recurrent(&triples), None);
    assert_eq!(flags, ValidationFlags::FANIN_EXCEEDED | ValidationFlags::CONNECTION_ALIASING);
    assert!(flags.contains(ValidationFlags::FANIN_EXCEEDED) && !flags.is_valid());
    // Weights that cancel are no connection.
    assert!(validate_connections(&recurrent(&[(1024, 1, 1.0), (2048, 1, 1.0), (2048, 1, -1.0)]), None).is_valid());
}

#[test]
fn fractional_weights_take_whole_connections() {
    // ⌈0.5⌉ = 1 each: 65 half-weights exceed the budget.
    let triples: Vec<_> = (0..65).map(|pre| (pre, 3, 0.5)).collect();
    assert_eq!(validate_connections(&recurrent(&triples), None), ValidationFlags::FANIN_EXCEEDED);
}

#[test]
fn shapes_are_checked() {
    assert!(SparseMatrix::from_triples(4096, 4096, [(4096, 0, 1.0)]).is_err());
    let too_big = SparseMatrix::from_triples(5000, 4096, [(4500, 0, 1.0)]).unwrap();
    assert_eq!(validate_connections(&too_big, None), ValidationFlags::SHAPE_INVALID);
    let dense = Matrix::from_rows(&[vec![0.0, 2.0], vec![0.0, 0.0]]);
    let sparse = SparseMatrix::from_dense(&dense).unwrap();
    assert_eq!(sparse.entries(), &[(0, 1, 2.0)]);
    assert!(SparseMatrix::from_dense(&Matrix { rows: 2, cols: 2, data: vec![1.0] }).is_err());
}

#[test]
fn dense_matrices_give_the_same_flags() {
    // A small dense board slice: neurons 0..1030, so ids 1024 and 1025 exist on chip 1.
    let mut w = Matrix::zeros(1030, 1030);
    w.set(1024, 1, 1.0);
    assert!(validate_dense_connections(&w, None).is_valid());
    let mut w_ext = Matrix::zeros(1, 1030);
    w_ext.set(0, 1, 1.0);
    assert_eq!(validate_dense_connections(&w, Some(&w_ext)), ValidationFlags::CONNECTION_ALIASING);
    let broken = Matrix { rows: 3, cols: 3, data: vec![0.0; 2] };
    assert_eq!(validate_dense_connections(&broken, None), ValidationFlags::SHAPE_INVALID);
}
