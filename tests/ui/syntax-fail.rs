fn main() {
    let _net = reef::network! {
        network Bad(dt = 1 ms) = Sequential(Linear(1, 50) Rate(50))
    };
}
