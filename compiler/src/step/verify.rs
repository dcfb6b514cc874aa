//! The step-program verifier: checks the invariants stated in the module doc. Run between passes
//! in tests; a failure is a compiler bug, reported as text rather than a panic.

use super::{Op, Shape, StateInit, StepProgram, ValueId};

/// Checks every invariant of `program`; returns the first violation found.
pub fn verify(program: &StepProgram) -> Result<(), String> {
    for (index, inst) in program.insts.iter().enumerate() {
        let defined = |value: ValueId| -> Result<Shape, String> {
            if value.index() < index {
                Ok(program.insts[value.index()].shape)
            } else {
                Err(format!("%{index} uses %{} before it is defined", value.0))
            }
        };
        let shapes: Vec<Shape> = inst.op.operands().into_iter().map(defined).collect::<Result<_, _>>()?;
        let expected = match inst.op {
            Op::Const(_) => Some(Shape::Scalar),
            Op::Param(param) => program.params.get(param.0 as usize).map(|p| p.shape),
            Op::State(state) => program.states.get(state.0 as usize).map(|s| s.shape),
            Op::Input(input) => program.inputs.get(input as usize).map(|n| Shape::Vector(*n)),
            Op::Noise(_) => Some(inst.shape),
            // A seed's shape is that of the output it stands for, given by the adjoint's builder.
            Op::Seed(_) => Some(inst.shape),
            Op::StateAdjoint(state) | Op::NextState(state) => program.states.get(state.0 as usize).map(|s| s.shape),
            Op::Unary(..) => Some(shapes[0]),
            Op::Binary(..) => Shape::broadcast(shapes[0], shapes[1]),
            Op::Select(..) => Shape::broadcast(shapes[0], shapes[1]).and_then(|s| Shape::broadcast(s, shapes[2])),
            Op::VecMat(..) => match (shapes[0], shapes[1]) {
                (Shape::Vector(n), Shape::Matrix(rows, cols)) if n == rows => Some(Shape::Vector(cols)),
                _ => None,
            },
            Op::ScaledProduct(..) => match (shapes[1], shapes[2]) {
                (Shape::Vector(n), Shape::Matrix(rows, cols)) if n == rows => {
                    Shape::broadcast(shapes[0], Shape::Vector(cols))
                }
                _ => None,
            },
            Op::VecMatT(..) => match (shapes[0], shapes[1]) {
                (Shape::Vector(m), Shape::Matrix(rows, cols)) if m == cols => Some(Shape::Vector(rows)),
                _ => None,
            },
            Op::Outer(..) => match (shapes[0], shapes[1]) {
                (Shape::Vector(n), Shape::Vector(m)) => Some(Shape::Matrix(n, m)),
                _ => None,
            },
            Op::Sum(_) => Some(Shape::Scalar),
            Op::Broadcast(_) => (shapes[0] == Shape::Scalar).then_some(inst.shape),
        };
        if expected != Some(inst.shape) {
            return Err(format!("%{index} has shape {} but its op gives {expected:?}", inst.shape));
        }
    }
    if program.state_updates.len() != program.states.len() {
        return Err(format!("{} states but {} state updates", program.states.len(), program.state_updates.len()));
    }
    for (state, update) in program.states.iter().zip(&program.state_updates) {
        let shape = program.insts.get(update.index()).map(|i| i.shape);
        if shape != Some(state.shape) {
            return Err(format!("state {} {} is updated with a value of shape {shape:?}", state.name, state.shape));
        }
        if let StateInit::Param(param) = state.init
            && program.params.get(param.0 as usize).map(|p| p.shape) != Some(state.shape)
        {
            return Err(format!("state {} starts from a parameter of another shape", state.name));
        }
    }
    let in_range = |value: &ValueId| value.index() < program.insts.len();
    if !program.outputs.iter().all(in_range) || !program.records.iter().all(|(_, v)| in_range(v)) {
        return Err("an output or record names an undefined value".into());
    }
    Ok(())
}
