//! Tests of the Dynap-SE1 lowering, one file per concern.
