//! No crate of the workspace has a module import cycle: every crate's modules form a
//! graph with an edge `a -> b` when code of `a` names module `b` (a `use`, a path in
//! an expression or a type, or a `crate::`/`super::` path inside a macro call), and
//! that graph has no cycle.
//!
//! A module and its ancestors are one unit: a parent declares its children and holds
//! what they share (`super::Thing`), and a crate root re-exports its modules, so edges
//! between a module and an ancestor do not count. Test code (`#[cfg(test)]`) does not
//! count either: a test may drive the whole crate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// A module by its path from the crate root (the root is empty).
type ModPath = Vec<String>;

/// The modules of one crate and the modules each one names.
#[derive(Debug, Default)]
struct Graph {
    /// Every module, with the file it lives in.
    modules: BTreeMap<ModPath, PathBuf>,
    /// Raw paths each module's code names (resolved once every module is known).
    paths: BTreeMap<ModPath, Vec<Vec<String>>>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && match &a.meta {
                syn::Meta::List(l) => l
                    .tokens
                    .to_string()
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == "test"),
                _ => false,
            }
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// Collects every path a module's code names.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                self.0.push(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.0.push(full);
            }
            syn::UseTree::Glob(_) => self.0.push(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }

    /// `a::b::c` sequences in a macro's tokens (macro bodies are not parsed).
    fn tokens(&mut self, tokens: proc_macro2::TokenStream) {
        use proc_macro2::TokenTree;
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(g) => {
                    self.tokens(g.stream());
                    i += 1;
                }
                TokenTree::Ident(first) => {
                    let mut path = vec![first.to_string()];
                    let mut j = i + 1;
                    loop {
                        let colons = matches!(
                            (&trees.get(j), &trees.get(j + 1)),
                            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                                if a.as_char() == ':' && b.as_char() == ':'
                        );
                        match (colons, trees.get(j + 2)) {
                            (true, Some(TokenTree::Ident(next))) => {
                                path.push(next.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    if path.len() > 1 {
                        self.0.push(path);
                    }
                    i = j;
                }
                _ => i += 1,
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.0
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }

    // Nested test items (and nested modules, walked by `Graph::items`) are not this
    // module's code.
    fn visit_item(&mut self, i: &'ast syn::Item) {
        let attrs = match i {
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(x) => &x.attrs,
            syn::Item::Use(x) => &x.attrs,
            syn::Item::Mod(_) => return,
            _ => return syn::visit::visit_item(self, i),
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_item(self, i);
        }
    }
}

impl Graph {
    /// The module tree of the crate whose root file is `root`.
    fn of_crate(root: &Path) -> Result<Graph, String> {
        let mut g = Graph::default();
        let dir = root.parent().ok_or("root has no directory")?.to_path_buf();
        g.file(Vec::new(), root, dir)?;
        Ok(g)
    }

    fn file(&mut self, path: ModPath, file: &Path, child_dir: PathBuf) -> Result<(), String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let ast = syn::parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        self.modules.insert(path.clone(), file.to_path_buf());
        self.items(path, file, &child_dir, &ast.items)
    }

    fn items(
        &mut self,
        path: ModPath,
        file: &Path,
        child_dir: &Path,
        items: &[syn::Item],
    ) -> Result<(), String> {
        let mut paths = Paths::default();
        for item in items {
            match item {
                syn::Item::Mod(m) if is_cfg_test(&m.attrs) => {}
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let mut child = path.clone();
                    child.push(name.clone());
                    if let Some((_, inner)) = &m.content {
                        self.modules.insert(child.clone(), file.to_path_buf());
                        self.items(child, file, &child_dir.join(&name), inner)?;
                        continue;
                    }
                    let (child_file, grand_dir) = match path_attr(&m.attrs) {
                        Some(p) => {
                            let f = child_dir.join(p);
                            let d = f.parent().map(Path::to_path_buf).unwrap_or_default();
                            (f, d)
                        }
                        None => {
                            let flat = child_dir.join(format!("{name}.rs"));
                            if flat.exists() {
                                (flat, child_dir.join(&name))
                            } else {
                                (child_dir.join(&name).join("mod.rs"), child_dir.join(&name))
                            }
                        }
                    };
                    self.file(child, &child_file, grand_dir)?;
                }
                other => paths.visit_item(other),
            }
        }
        self.paths.entry(path).or_default().extend(paths.0);
        Ok(())
    }

    /// The module a path names from module `from`, if it names one of this crate.
    fn resolve(&self, from: &ModPath, path: &[String]) -> Option<ModPath> {
        let (mut base, mut rest) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("self") => (from.clone(), &path[1..]),
            Some("super") => (from.clone(), path),
            Some(first) => {
                let mut child = from.clone();
                child.push(first.to_string());
                if !self.modules.contains_key(&child) {
                    return None;
                }
                (from.clone(), path)
            }
            None => return None,
        };
        while rest.first().map(String::as_str) == Some("super") {
            base.pop()?;
            rest = &rest[1..];
        }
        (0..=rest.len()).rev().find_map(|k| {
            let mut m = base.clone();
            m.extend(rest[..k].iter().cloned());
            self.modules.contains_key(&m).then_some(m)
        })
    }

    /// Edges between modules neither of which is an ancestor of the other.
    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut out: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (from, paths) in &self.paths {
            for p in paths {
                let Some(to) = self.resolve(from, p) else {
                    continue;
                };
                if to.starts_with(from) || from.starts_with(&to) {
                    continue;
                }
                out.entry(from.clone()).or_default().insert(to);
            }
        }
        out
    }

    /// A cycle of the graph, as module paths from its first module back to it.
    fn cycle(&self) -> Option<Vec<String>> {
        let edges = self.edges();
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Open,
            Done,
        }
        fn visit(
            m: &ModPath,
            edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
            state: &mut BTreeMap<ModPath, State>,
            stack: &mut Vec<ModPath>,
        ) -> Option<Vec<ModPath>> {
            match state.get(m) {
                Some(State::Done) => return None,
                Some(State::Open) => {
                    let at = stack.iter().position(|x| x == m)?;
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                None => {}
            }
            state.insert(m.clone(), State::Open);
            stack.push(m.clone());
            for next in edges.get(m).into_iter().flatten() {
                if let Some(c) = visit(next, edges, state, stack) {
                    return Some(c);
                }
            }
            stack.pop();
            state.insert(m.clone(), State::Done);
            None
        }
        let mut state = BTreeMap::new();
        for m in self.modules.keys() {
            if let Some(c) = visit(m, &edges, &mut state, &mut Vec::new()) {
                return Some(
                    c.iter()
                        .map(|p| {
                            if p.is_empty() {
                                "crate".to_string()
                            } else {
                                p.join("::")
                            }
                        })
                        .collect(),
                );
            }
        }
        None
    }
}

/// The directories of the workspace's members, from the root `Cargo.toml`.
fn members(root: &Path) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("workspace members");
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(|m| root.join(m))
        .collect()
}

#[test]
fn no_crate_of_the_workspace_has_a_module_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut crates = 0;
    let mut found = Vec::new();
    for member in members(root) {
        for file in ["src/lib.rs", "src/main.rs"] {
            let crate_root = member.join(file);
            if !crate_root.exists() {
                continue;
            }
            crates += 1;
            let g = Graph::of_crate(&crate_root).unwrap_or_else(|e| panic!("{e}"));
            if let Some(c) = g.cycle() {
                found.push(format!("{}: {}", crate_root.display(), c.join(" -> ")));
            }
        }
    }
    assert!(crates >= 8, "found the crates of the workspace ({crates})");
    assert!(
        found.is_empty(),
        "module import cycles (move what both sides need to a module of its own):\n{}",
        found.join("\n")
    );
}

/// A throwaway crate `src/` with `files` (name, text).
fn fake_crate(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("g6-module-cycles-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
    dir.join("lib.rs")
}

#[test]
fn a_cycle_through_a_use_and_a_path_in_a_macro_is_named() {
    let root = fake_crate(
        "cycle",
        &[
            ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
            ("a.rs", "use crate::b::B;\npub struct A(pub B);\n"),
            (
                "b.rs",
                "pub struct B;\npub fn f() -> String { format!(\"{}\", crate::c::NAME) }\n",
            ),
            (
                "c.rs",
                "pub const NAME: &str = \"c\";\nfn g() { let _ = super::a::A; }\n",
            ),
        ],
    );
    let g = Graph::of_crate(&root).expect("parse");
    assert_eq!(
        g.cycle(),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let _ = std::fs::remove_dir_all(root.parent().expect("dir"));
}

#[test]
fn parents_children_and_test_code_make_no_cycle() {
    let root = fake_crate(
        "acyclic",
        &[
            (
                "lib.rs",
                "pub mod store;\npub mod app;\npub use store::Store;\n",
            ),
            (
                "store/mod.rs",
                "pub mod file;\npub struct Written;\npub fn open() -> file::File { file::File }\n",
            ),
            (
                "store/file.rs",
                "use super::Written;\npub struct File;\nfn w() -> Written { Written }\n",
            ),
            (
                "app.rs",
                "use crate::store::file::File;\npub fn run(_: File) {}\n\
                 #[cfg(test)]\nmod tests { use crate::store::Store; }\n",
            ),
        ],
    );
    let g = Graph::of_crate(&root).expect("parse");
    assert_eq!(g.cycle(), None);
    // The edge that does count is there.
    let edges = g.edges();
    let app = vec!["app".to_string()];
    let file = vec!["store".to_string(), "file".to_string()];
    assert!(
        edges.get(&app).is_some_and(|e| e.contains(&file)),
        "{edges:?}"
    );
    let _ = std::fs::remove_dir_all(root.parent().expect("dir"));
}
