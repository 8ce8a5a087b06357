//! The house's plan, held by a test: the server's layers never call upward, and no crate's
//! modules call each other in a circle.
//!
//! The server's folders are its layers (`docs/ARCHITECTURE.md`). A module may use its own
//! layer or a lower one. This reads every `crate::`, `super::` and child-module path in the
//! source (test code apart: a `#[cfg(test)]` module at the end of a file, or a `tests.rs`),
//! so an upward import or a cycle fails here with the files named, before review.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The server's layers, lowest first. Two folders of one rank may not use each other.
const SERVER_LAYERS: &[(&str, u8)] = &[
    ("clock", 0),
    ("config", 0),
    ("parallel", 0),
    ("storage", 1),
    ("access", 2),
    ("decisions", 3),
    ("reports", 3),
    ("comparison", 3),
    ("ingest", 4),
    ("http", 5),
    ("cli", 5),
];

#[test]
fn test_no_server_module_uses_a_higher_layer() {
    let graph = ModuleGraph::read(&crate_src("server"));
    let mut upward = Vec::new();
    for (from, targets) in &graph.edges {
        let Some(from_layer) = layer_of(from) else {
            continue;
        };
        for to in targets {
            let Some(to_layer) = layer_of(to) else {
                let why = if to == "crate" {
                    "the crate root is above every layer"
                } else {
                    "the target is in no layer"
                };
                upward.push(format!("{from} → {to}: {why}"));
                continue;
            };
            let sideways = from_layer.1 == to_layer.1 && from_layer.0 != to_layer.0;
            if to_layer.1 > from_layer.1 || sideways {
                upward.push(format!(
                    "{from} ({}, rank {}) → {to} ({}, rank {})",
                    from_layer.0, from_layer.1, to_layer.0, to_layer.1
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that go up or sideways between the server's layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn test_every_server_module_lives_in_a_layer() {
    let graph = ModuleGraph::read(&crate_src("server"));
    let outside: Vec<&String> = graph
        .modules
        .iter()
        .filter(|module| module.as_str() != "crate" && layer_of(module).is_none())
        .collect();
    assert!(
        outside.is_empty(),
        "server modules outside every layer of SERVER_LAYERS (move them, or add a layer \
         to the test and to docs/ARCHITECTURE.md): {outside:?}"
    );
}

#[test]
fn test_no_crate_has_a_cycle_of_modules() {
    let mut circles = Vec::new();
    for name in ["schema", "client-core", "server", "mobile"] {
        for cycle in ModuleGraph::read(&crate_src(name)).cycles() {
            circles.push(format!("{name}: {}", cycle.join(" ↔ ")));
        }
    }
    assert!(
        circles.is_empty(),
        "modules that use each other in a circle:\n{}",
        circles.join("\n")
    );
}

/// The checker must see what it is meant to catch.
#[test]
fn test_the_reader_finds_crate_super_grouped_and_child_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write(src, "lib.rs", "pub mod storage;\npub mod http;\n");
    write(
        src,
        "storage/mod.rs",
        "pub mod ledger;\nuse ledger::Ledger;\n",
    );
    write(
        src,
        "storage/ledger.rs",
        "use super::super::http::{self, error::ApiError};\nuse super::Shared;\n/// crate::http in a comment\n",
    );
    write(
        src,
        "http/mod.rs",
        "pub mod error;\nuse crate::{storage::{self, ledger::Ledger}};\n",
    );
    write(
        src,
        "http/error.rs",
        "fn f() { crate::storage::ledger::Ledger::new(); }\n#[cfg(test)]\n#[allow(clippy::unwrap_used)]\nmod tests {\n    use crate::http;\n}\n",
    );
    let graph = ModuleGraph::read(src);
    let edges =
        |from: &str| -> Vec<&str> { graph.edges[from].iter().map(String::as_str).collect() };
    assert_eq!(edges("crate::storage"), ["crate::storage::ledger"]);
    assert_eq!(
        edges("crate::storage::ledger"),
        ["crate::http", "crate::http::error", "crate::storage"]
    );
    assert_eq!(
        edges("crate::http"),
        ["crate::storage", "crate::storage::ledger"]
    );
    assert_eq!(edges("crate::http::error"), ["crate::storage::ledger"]);
    let cycles = graph.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains(&"crate::storage::ledger".to_string()));
    // A folder and its child using each other is composition, not a circle.
    assert!(!cycles[0].contains(&"crate::storage".to_string()));
}

fn write(src: &Path, file: &str, text: &str) {
    let path = src.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

fn is_descendant(module: &str, ancestor: &str) -> bool {
    module
        .strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with("::"))
}

/// `("storage", 1)` for `crate::storage::ledger`.
fn layer_of(module: &str) -> Option<(&'static str, u8)> {
    let top = module.strip_prefix("crate::")?.split("::").next()?;
    SERVER_LAYERS.iter().find(|(name, _)| *name == top).copied()
}

/// Which module of a crate uses which, one node per file.
struct ModuleGraph {
    modules: BTreeSet<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl ModuleGraph {
    fn read(src: &Path) -> ModuleGraph {
        let mut files = Vec::new();
        collect_files(src, &mut files);
        let sources: Vec<(String, String)> = files
            .iter()
            .filter(|file| !is_binary_root(src, file))
            .filter_map(|file| {
                let module = module_of(src, file)?;
                let text = std::fs::read_to_string(file).expect("source is UTF-8");
                Some((module, production_part(&text)))
            })
            .collect();
        let modules: BTreeSet<String> = sources.iter().map(|(m, _)| m.clone()).collect();
        let mut edges = BTreeMap::new();
        for (module, text) in &sources {
            let targets: BTreeSet<String> = referenced_paths(module, text, &modules)
                .into_iter()
                .filter_map(|path| resolve(&path, &modules))
                .filter(|target| target != module)
                .collect();
            edges.insert(module.clone(), targets);
        }
        ModuleGraph { modules, edges }
    }

    /// Every strongly connected set of more than one module (Tarjan's algorithm). A folder's
    /// `mod.rs` (and the crate root) composes its children, declaring, calling and
    /// re-exporting them, while the children use its shared items: those downward edges are
    /// not counted, so only a circle between siblings or across folders is one.
    fn cycles(&self) -> Vec<Vec<String>> {
        let names: Vec<&String> = self.modules.iter().collect();
        let index_of: BTreeMap<&String, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let successors: Vec<Vec<usize>> = names
            .iter()
            .map(|name| {
                self.edges
                    .get(*name)
                    .into_iter()
                    .flatten()
                    .filter(|to| !is_descendant(to, name))
                    .filter_map(|to| index_of.get(to).copied())
                    .collect()
            })
            .collect();
        let mut tarjan = Tarjan {
            successors: &successors,
            index: vec![None; names.len()],
            low: vec![0; names.len()],
            on_stack: vec![false; names.len()],
            stack: Vec::new(),
            next: 0,
            components: Vec::new(),
        };
        for node in 0..names.len() {
            if tarjan.index[node].is_none() {
                tarjan.visit(node);
            }
        }
        tarjan
            .components
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| component.into_iter().map(|i| names[i].clone()).collect())
            .collect()
    }
}

struct Tarjan<'a> {
    successors: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.next);
        self.low[node] = self.next;
        self.next += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        for &next in &self.successors[node] {
            match self.index[next] {
                None => {
                    self.visit(next);
                    self.low[node] = self.low[node].min(self.low[next]);
                }
                Some(index) if self.on_stack[next] => {
                    self.low[node] = self.low[node].min(index);
                }
                Some(_) => {}
            }
        }
        if Some(self.low[node]) == self.index[node] {
            let mut component = Vec::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack[top] = false;
                component.push(top);
                if top == node {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("source folder")
        .map(|entry| entry.expect("folder entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// `main.rs` and `bin/` are crates of their own, above the library.
fn is_binary_root(src: &Path, file: &Path) -> bool {
    let relative = file.strip_prefix(src).expect("under src");
    relative == Path::new("main.rs") || relative.starts_with("bin")
}

/// `crate::storage::ledger` for `storage/ledger.rs` or `storage/ledger/mod.rs`; `None` for a
/// file of tests, which may reach anywhere.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "tests") {
        return None;
    }
    if parts
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        parts.pop();
    }
    Some(
        std::iter::once("crate".to_string())
            .chain(parts)
            .collect::<Vec<_>>()
            .join("::"),
    )
}

/// The file without its test module (`#[cfg(test)]`, other attributes, then `mod … {`, at
/// the end) and without comments.
fn production_part(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let opens_test_module = |at: usize| {
        lines[at].trim() == "#[cfg(test)]"
            && lines[at + 1..]
                .iter()
                .map(|line| line.trim())
                .find(|line| !line.starts_with("#["))
                .is_some_and(|item| {
                    (item.starts_with("mod ") || item.starts_with("pub mod "))
                        && item.ends_with('{')
                })
    };
    let tests_start = (0..lines.len())
        .find(|&at| opens_test_module(at))
        .unwrap_or(lines.len());
    lines[..tests_start]
        .iter()
        .filter(|line| !line.trim_start().starts_with("//"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path the text names through `crate::`, `super::` or a child module, made absolute.
fn referenced_paths(module: &str, text: &str, modules: &BTreeSet<String>) -> Vec<Vec<String>> {
    let own: Vec<String> = module.split("::").map(str::to_string).collect();
    let children: BTreeSet<String> = modules
        .iter()
        .filter_map(|m| m.strip_prefix(module)?.strip_prefix("::"))
        .filter(|rest| !rest.contains("::"))
        .map(str::to_string)
        .collect();
    let bytes = text.as_bytes();
    let mut paths = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_word = at == 0 || !is_ident_byte(bytes[at - 1]) && bytes[at - 1] != b':';
        if !starts_word || !is_ident_byte(bytes[at]) {
            at += 1;
            continue;
        }
        let word_end = (at..bytes.len())
            .find(|&i| !is_ident_byte(bytes[i]))
            .unwrap_or(bytes.len());
        let word = &text[at..word_end];
        let follows_path = text[word_end..].starts_with("::");
        let base: Option<Vec<String>> = match word {
            "crate" if follows_path => Some(vec!["crate".to_string()]),
            "super" if follows_path => Some(own[..own.len().saturating_sub(1)].to_vec()),
            "self" if follows_path => Some(own.clone()),
            child if follows_path && children.contains(child) => {
                let mut path = own.clone();
                path.push(child.to_string());
                Some(path)
            }
            _ => None,
        };
        match base {
            Some(base) => {
                let (mut trees, end) = parse_tail(text, word_end, base);
                paths.append(&mut trees);
                at = end;
            }
            None => at = word_end,
        }
    }
    paths
}

/// Parses `::a::b`, `::{a, b::{c, self}}` and `::*` after a path's start; `super` inside
/// a path climbs. Returns the full paths and where the text after them begins.
fn parse_tail(text: &str, mut at: usize, mut path: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    loop {
        if !text[at..].starts_with("::") {
            return (vec![path], at);
        }
        at += 2;
        at = skip_space(bytes, at);
        if at < bytes.len() && bytes[at] == b'{' {
            let mut trees = Vec::new();
            at += 1;
            loop {
                at = skip_space(bytes, at);
                if at >= bytes.len() {
                    return (trees, at);
                }
                match bytes[at] {
                    b'}' => return (trees, at + 1),
                    b',' => at += 1,
                    _ => {
                        // A tree inside the braces: a word, then its own tail.
                        let end = (at..bytes.len())
                            .find(|&i| !is_ident_byte(bytes[i]))
                            .unwrap_or(bytes.len());
                        let word = &text[at..end];
                        let mut start = path.clone();
                        match word {
                            "self" | "" => {}
                            "super" => {
                                start.pop();
                            }
                            _ => start.push(word.to_string()),
                        }
                        let (mut inner, next) = parse_tail(text, end.max(at + 1), start);
                        trees.append(&mut inner);
                        at = next;
                    }
                }
            }
        }
        let end = (at..bytes.len())
            .find(|&i| !is_ident_byte(bytes[i]))
            .unwrap_or(bytes.len());
        match &text[at..end] {
            "" => return (vec![path], at),
            "super" => {
                path.pop();
            }
            word => path.push(word.to_string()),
        }
        at = end;
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    at
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The longest known module a path starts with.
fn resolve(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
}
