//! `migrate new <name>`, run as the built binary in a scratch copy of the repository's
//! `migrations/` folder: numbering, file contents, refusals, no half-written pair.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch "repository": a Cargo.toml and a copy of the real migrations/ folder.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let root = std::env::temp_dir().join(format!(
            "wadot-migrate-new-{label}-{}",
            uuid::Uuid::new_v4()
        ));
        let folder = root.join("migrations");
        fs::create_dir_all(root.join("functions")).expect("scratch dirs");
        fs::create_dir_all(&folder).expect("scratch migrations");
        fs::write(root.join("Cargo.toml"), "[workspace]\n").expect("Cargo.toml");
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for entry in fs::read_dir(real).expect("migrations/") {
            let entry = entry.expect("entry");
            fs::copy(entry.path(), folder.join(entry.file_name())).expect("copy");
        }
        Self(root)
    }

    /// `migrate new <name>`, started from a subfolder as a developer might.
    fn run(&self, name: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["new", name])
            .current_dir(self.0.join("functions"))
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .output()
            .expect("run migrate")
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.0.join("migrations"))
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn writes_the_next_numbered_pair_after_the_embedded_head() {
    let scratch = Scratch::new("next");
    let next = shared::platform::migrations::head() + 1;
    let output = scratch.run("add_user_nickname");
    assert!(output.status.success(), "{output:?}");

    let stem = format!("{next:04}_add_user_nickname");
    let up = scratch.0.join("migrations").join(format!("{stem}.up.sql"));
    let down = scratch
        .0
        .join("migrations")
        .join(format!("{stem}.down.sql"));
    let printed = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [up.display().to_string(), down.display().to_string()]
    );
    let up_text = fs::read_to_string(&up).expect("up written");
    assert!(up_text.starts_with(&format!("-- {stem}")), "{up_text}");
    let down_text = fs::read_to_string(&down).expect("down written");
    assert!(
        down_text.contains(&format!("migrate downgrade {}", next - 1)),
        "{down_text}"
    );

    // The next call numbers after the pair just written.
    assert!(scratch.run("second").status.success());
    let after = format!("{:04}_second.up.sql", next + 1);
    assert!(scratch.files().contains(&after), "{:?}", scratch.files());
}

#[test]
fn refuses_bad_names_and_writes_nothing() {
    let scratch = Scratch::new("bad");
    let before = scratch.files();
    for name in [
        "",
        "Add",
        "1st",
        "drop table",
        "../escape",
        "a-b",
        &"x".repeat(65),
    ] {
        let output = scratch.run(name);
        assert!(!output.status.success(), "{name:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("invalid migration name"),
            "{name:?}: {stderr}"
        );
    }
    assert_eq!(scratch.files(), before);
}

#[test]
fn outside_a_repository_it_says_where_to_run_it() {
    let empty = std::env::temp_dir().join(format!("wadot-no-repo-{}", uuid::Uuid::new_v4()));
    fs::create_dir_all(&empty).expect("dir");
    let output = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["new", "anything"])
        .current_dir(&empty)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run migrate");
    let _ = fs::remove_dir_all(&empty);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no migrations/ folder"),
        "{output:?}"
    );
}
