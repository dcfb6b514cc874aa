fn main() {
    let net = reef::network! {
        network Good(dt = 1 ms) = Sequential(Linear(1, 40), Rate(40), Linear(40, 1))
    };
    assert!(net.compile().is_ok());
}
