//! `sqlx::migrate!` embeds `migrations/` when `shared` compiles, but Cargo only notices
//! changes to files the macro already read: a pair just written by `migrate new` would
//! not make anything rebuild, and `migrate upgrade head` would not know it. Watching the
//! folder makes the next `cargo run`/`cargo build` pick it up.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
