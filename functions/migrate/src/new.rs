//! `migrate new <name>`: the next numbered pair of SQL files in `migrations/`, the way
//! `alembic revision -m` started a revision in the old repository. The files are embedded
//! into `shared` at build time (`sqlx::migrate!`), so a new pair ships with the next build.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Why a pair could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "invalid migration name {0:?}: use lowercase letters, digits and underscores (at most 64), starting with a letter"
    )]
    InvalidName(String),
    #[error("no migrations/ folder here or in a parent folder; run from inside the repository")]
    NoFolder,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The `migrations/` folder of the repository holding `start` (or one of its parents).
pub fn find_folder(start: &Path) -> Result<PathBuf, NewError> {
    start
        .ancestors()
        .map(|dir| dir.join("migrations"))
        .find(|dir| dir.is_dir() && dir.with_file_name("Cargo.toml").is_file())
        .ok_or(NewError::NoFolder)
}

/// Writes `<NNNN>_<name>.up.sql` and `.down.sql` in `folder`, numbered one past the highest
/// number there, and returns their paths. Never overwrites: a file that appeared meanwhile
/// (another `migrate new`) fails the call and nothing is left half-written.
pub fn create(folder: &Path, name: &str) -> Result<[PathBuf; 2], NewError> {
    create_with(folder, name, |_| (String::new(), String::new()))
}

/// [`create`], with bodies: `bodies(previous)` gives the SQL of the up and the down file
/// (`previous` is the revision the down returns to), written after their header lines.
pub fn create_with(
    folder: &Path,
    name: &str,
    bodies: impl FnOnce(u32) -> (String, String),
) -> Result<[PathBuf; 2], NewError> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(NewError::InvalidName(name.to_owned()));
    }
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| NewError::Io { path, source }
    };
    let highest = fs::read_dir(folder)
        .map_err(io_error(folder))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|file| file.ends_with(".sql"))
        .filter_map(|file| file.split_once('_')?.0.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let stem = format!("{:04}_{name}", highest + 1);
    let up = folder.join(format!("{stem}.up.sql"));
    let down = folder.join(format!("{stem}.down.sql"));
    let (up_body, down_body) = bodies(highest);
    write_new(
        &up,
        &format!("-- {stem}: what this revision changes and why.\n{up_body}"),
    )?;
    let undo = format!(
        "-- Undoes {stem}.up.sql: `migrate downgrade {}` runs it.\n{down_body}",
        highest
    );
    if let Err(error) = write_new(&down, &undo) {
        // Keep the pair whole: without its down, the up file would be an irreversible revision.
        let _ = fs::remove_file(&up);
        return Err(error);
    }
    Ok([up, down])
}

fn write_new(path: &Path, text: &str) -> Result<(), NewError> {
    let error = |source| NewError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)
}
