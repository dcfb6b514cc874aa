//! The symbolic engine: step-program values as hash-consed expressions with deterministic
//! simplification (constant folding, algebraic identities) and common-subexpression
//! elimination, dead-code elimination, and a math-like printer for people.

mod builder;
mod dce;
mod print;
mod simplify;

pub use builder::{Builder, Key, key};
pub use dce::{eliminate_dead_code, live_values};
pub use print::{Naming, print_equations};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{Op, ParamId, ParamSlot, Shape, StepProgram, UnaryOp};

    fn builder() -> Builder {
        let template = StepProgram {
            params: vec![
                ParamSlot { name: "x".into(), shape: Shape::Vector(3) },
                ParamSlot { name: "w".into(), shape: Shape::Matrix(3, 2) },
            ],
            ..StepProgram::default()
        };
        Builder::like(&template)
    }

    fn show(builder: &Builder, value: crate::step::ValueId) -> String {
        let naming = Naming { params: vec!["x".into(), "w".into()], ..Naming::default() };
        print_equations(&builder.program, &naming, &[("y".into(), value)]).trim().to_string()
    }

    /// Text in → text out: each identity the simplifier knows.
    #[test]
    fn simplification_rules() {
        let mut b = builder();
        let x = b.emit(Op::Param(ParamId(0)), Shape::Vector(3));
        let (zero, one, minus_one) = (b.number(0.0), b.number(1.0), b.number(-1.0));
        let cases: Vec<(crate::step::ValueId, &str)> = vec![
            (b.add(x, zero), "y = x"),
            (b.add(zero, x), "y = x"),
            (b.mul(x, one), "y = x"),
            (b.div(x, one), "y = x"),
            (b.mul(x, minus_one), "y = -x"),
            (b.sub(zero, x), "y = -x"),
        ];
        for (value, expected) in cases {
            assert_eq!(show(&b, value), expected);
        }
        let neg = b.neg(x);
        let negneg = b.neg(neg);
        assert_eq!(show(&b, negneg), "y = x");
        let two = b.number(2.0);
        let exp_two = b.unary(UnaryOp::Exp, two);
        assert_eq!(b.constant(exp_two), Some(2f64.exp()), "exp of a constant folds");
        let zero_product = b.mul(x, zero);
        assert_eq!(b.constant(zero_product), Some(0.0));
        let neg_x = b.neg(x);
        let plus_neg = b.add(x, neg_x);
        assert_eq!(show(&b, plus_neg), "y = x - x");
    }

    #[test]
    fn common_subexpressions_are_built_once() {
        let mut b = builder();
        let x = b.emit(Op::Param(ParamId(0)), Shape::Vector(3));
        let first = b.unary(UnaryOp::Tanh, x);
        let second = b.unary(UnaryOp::Tanh, x);
        assert_eq!(first, second);
        let sum = b.add(first, second);
        assert_eq!(show(&b, sum), "let t1 = tanh(x)\ny = t1 + t1");
    }

    #[test]
    fn dead_code_is_removed() {
        let mut b = builder();
        let x = b.emit(Op::Param(ParamId(0)), Shape::Vector(3));
        let _unused = b.unary(UnaryOp::Sin, x);
        let kept = b.unary(UnaryOp::Cos, x);
        let (program, roots) = eliminate_dead_code(&b.program, &[kept]);
        assert_eq!(program.insts.len(), 2);
        assert_eq!(program.inst(roots[0]).op, Op::Unary(UnaryOp::Cos, crate::step::ValueId(0)));
    }
}
