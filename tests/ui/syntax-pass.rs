fn main() {
    let _net = reef::network! {
        network Good(dt = 1 ms) = Sequential(Linear(1, 50), Rate(50))
    };
}
