fn main() {
    println!("openworkctl {}", env!("CARGO_PKG_VERSION"));
}
