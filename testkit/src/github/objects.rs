//! Git objects: content-addressed storage with git's own object ids, trees built from
//! and flattened to paths, commits and their ancestry.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use sha1::{Digest as _, Sha1};

use super::{CommitInfo, RateLimit, Recorded};

#[derive(Debug, Clone)]
pub(super) enum Object {
    Blob(Vec<u8>),
    Tree(Vec<Entry>),
    Commit(CommitInfo),
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) mode: String,
    pub(super) sha: String,
}

impl Entry {
    pub(super) fn is_tree(&self) -> bool {
        self.mode == "40000"
    }
}

pub(super) struct Repo {
    pub(super) owner: String,
    pub(super) name: String,
    pub(super) token: String,
    pub(super) objects: HashMap<String, Object>,
    /// `heads/<branch>` → commit sha.
    pub(super) refs: HashMap<String, String>,
    pub(super) rate_limit: Option<RateLimit>,
    /// Changes committed on the branch (by "someone else") just before ref updates.
    pub(super) moves: VecDeque<(String, String, Vec<u8>)>,
    pub(super) requests: Vec<Recorded>,
}

fn git_hash(kind: &str, body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("{kind} {}\0", body.len()).as_bytes());
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

impl Repo {
    pub(super) fn store(&mut self, object: Object) -> String {
        let sha = match &object {
            Object::Blob(content) => git_hash("blob", content),
            Object::Tree(entries) => {
                let mut body = Vec::new();
                for e in entries {
                    body.extend_from_slice(format!("{} {}\0", e.mode, e.name).as_bytes());
                    body.extend_from_slice(&hex_to_bytes(&e.sha));
                }
                git_hash("tree", &body)
            }
            Object::Commit(c) => {
                let mut body = format!("tree {}\n", c.tree);
                for p in &c.parents {
                    body.push_str(&format!("parent {p}\n"));
                }
                let who = "Waffle Bot <bot@wafflestudio.com> 1795666329 +0000";
                body.push_str(&format!("author {who}\ncommitter {who}\n\n{}", c.message));
                git_hash("commit", body.as_bytes())
            }
        };
        let object = match object {
            Object::Commit(c) => Object::Commit(CommitInfo {
                sha: sha.clone(),
                ..c
            }),
            other => other,
        };
        self.objects.insert(sha.clone(), object);
        sha
    }

    pub(super) fn store_commit(
        &mut self,
        tree: String,
        parents: Vec<String>,
        message: &str,
    ) -> String {
        self.store(Object::Commit(CommitInfo {
            sha: String::new(),
            tree,
            parents,
            message: message.to_owned(),
        }))
    }

    /// Builds (and stores) the nested trees of a flat `path → (mode, sha)` map.
    pub(super) fn build_tree(&mut self, flat: &BTreeMap<String, (String, String)>) -> String {
        let mut files: Vec<Entry> = Vec::new();
        let mut folders: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
        for (path, (mode, sha)) in flat {
            match path.split_once('/') {
                Some((folder, rest)) => {
                    folders
                        .entry(folder.to_owned())
                        .or_default()
                        .insert(rest.to_owned(), (mode.clone(), sha.clone()));
                }
                None => files.push(Entry {
                    name: path.clone(),
                    mode: mode.clone(),
                    sha: sha.clone(),
                }),
            }
        }
        for (name, inner) in folders {
            let sha = self.build_tree(&inner);
            files.push(Entry {
                name,
                mode: "40000".to_owned(),
                sha,
            });
        }
        // Git's order: by name, a folder's name compared as if it ended with '/'.
        files.sort_by_key(|e| {
            let mut key = e.name.clone().into_bytes();
            if e.is_tree() {
                key.push(b'/');
            }
            key
        });
        self.store(Object::Tree(files))
    }

    /// Every blob under `tree`, by full path.
    pub(super) fn flatten(&self, tree: &str) -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        self.walk(tree, "", &mut |path, entry| {
            if !entry.is_tree() {
                out.insert(path.to_owned(), (entry.mode.clone(), entry.sha.clone()));
            }
        });
        out
    }

    /// Visits every entry under `tree` (folders before their contents), in git's order.
    pub(super) fn walk(&self, tree: &str, prefix: &str, visit: &mut dyn FnMut(&str, &Entry)) {
        if let Some(Object::Tree(entries)) = self.objects.get(tree) {
            for entry in entries {
                let path = format!("{prefix}{}", entry.name);
                visit(&path, entry);
                if entry.is_tree() {
                    self.walk(&entry.sha, &format!("{path}/"), visit);
                }
            }
        }
    }

    pub(super) fn commit_on(
        &mut self,
        reference: &str,
        message: &str,
        changes: Vec<(String, Vec<u8>)>,
    ) -> String {
        let head = self
            .refs
            .get(reference)
            .cloned()
            .expect("the branch exists");
        let tree = match self.objects.get(&head) {
            Some(Object::Commit(c)) => c.tree.clone(),
            _ => panic!("the branch points at a commit"),
        };
        let mut flat = self.flatten(&tree);
        for (path, content) in changes {
            let sha = self.store(Object::Blob(content));
            flat.insert(path, ("100644".to_owned(), sha));
        }
        let tree = self.build_tree(&flat);
        let commit = self.store_commit(tree, vec![head], message);
        self.refs.insert(reference.to_owned(), commit.clone());
        commit
    }

    pub(super) fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        let mut seen = HashSet::new();
        let mut queue = vec![of.to_owned()];
        while let Some(sha) = queue.pop() {
            if sha == ancestor {
                return true;
            }
            if seen.insert(sha.clone())
                && let Some(Object::Commit(c)) = self.objects.get(&sha)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        false
    }

    pub(super) fn url(&self, tail: &str) -> String {
        format!(
            "https://api.github.com/repos/{}/{}/git/{tail}",
            self.owner, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_gits() {
        // `git hash-object` of "hello\n", and of the empty tree.
        assert_eq!(
            git_hash("blob", b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            git_hash("tree", b""),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
    }
}
