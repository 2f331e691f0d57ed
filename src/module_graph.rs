//! The module-cycle check: reads the crate's own sources and fails on any cycle between modules.
//!
//! Why a test and not a tool: it runs with `cargo test --lib` everywhere the crate builds, needs nothing installed,
//! and names the files and lines that make each cycle. What it looks at: `use` trees and `crate::`, `super::` and
//! `self::` paths in non-test code (`#[cfg(test)]` items are left out: a test may reach across layers). A
//! reference from module `a::b::c` to `a::x::y` is an edge `b -> x` in the graph of `a`'s children, so one check
//! covers the top-level modules (the layers) and the files of every directory. Paths through a re-export count as
//! a reference to the module that re-exports (`crate::rpc::RpcServer` is an edge to `rpc`, not to `rpc::server`).
//!
//! Run it alone: `cargo test --lib module_graph`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Cycles that exist today and are being removed; each entry is (parent module, the modules on the cycle).
/// An entry that no longer matches a cycle fails the check too, so the list only ever shrinks: delete the entry
/// together with the last reference that made the cycle.
const ALLOWED_CYCLES: &[(&str, &[&str])] = &[];

/// One reference from a module to another, as written in a source file.
#[derive(Clone, Debug)]
struct Reference {
    file: PathBuf,
    line: usize,
    text: String,
}

/// Every module's edges, grouped by the module whose children they connect.
type Graphs = BTreeMap<Vec<String>, BTreeMap<(String, String), Reference>>;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Identifiers, `::` and single punctuation, with comments, strings and char literals removed.
fn tokenize(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            _ if c.is_whitespace() => i += 1,
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    if chars.get(i) == Some(&'\n') {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            'r' if matches!(chars.get(i + 1), Some('"' | '#'))
                && !matches!(tokens.last(), Some((Token::Ident(_), _)))
                && (i == 0 || !is_ident_char(chars[i - 1])) =>
            {
                // A raw string: r"..." or r#"..."# (any number of #).
                let mut j = i + 1;
                let mut hashes = 0;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    // `r#ident`, a raw identifier.
                    i = j;
                    continue;
                }
                j += 1;
                loop {
                    match chars.get(j) {
                        None => break,
                        Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                            j += 1 + hashes;
                            break;
                        }
                        Some('\n') => line += 1,
                        Some(_) => {}
                    }
                    j += 1;
                }
                i = j;
            }
            '\'' => {
                if chars.get(i + 1) == Some(&'\\') {
                    i += 3; // the quote, the backslash and the escaped character
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    i += 1; // a lifetime
                }
            }
            ':' if chars.get(i + 1) == Some(&':') => {
                tokens.push((Token::PathSep, line));
                i += 2;
            }
            _ if is_ident_char(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // b"..." and b'x': the prefix is not an identifier.
                if word == "b" && matches!(chars.get(i), Some('"' | '\'')) {
                    continue;
                }
                tokens.push((Token::Ident(word), line));
            }
            _ => {
                tokens.push((Token::Punct(c), line));
                i += 1;
            }
        }
    }
    tokens
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The module path of a source file below `src/` (`rpc/server.rs` → `rpc::server`, `rpc/mod.rs` → `rpc`).
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// A parsed source file: its references (absolute paths, not yet cut at a module) and its test-only child files.
struct FileRefs {
    references: Vec<(Vec<String>, usize, String)>,
    /// What each `use` brings into a module's scope: (module, name, absolute path).
    imports: Vec<(Vec<String>, String, Vec<String>)>,
    inline_modules: Vec<Vec<String>>,
    test_children: Vec<String>,
}

/// Index of the token closing the block or item that starts at `start` (a `;` at depth 0 or the matching `}`).
fn end_of_item(tokens: &[(Token, usize)], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Punct('{') | Token::Punct('(') | Token::Punct('[') => depth += 1,
            Token::Punct('}') | Token::Punct(')') | Token::Punct(']') => {
                depth = depth.saturating_sub(1);
                if depth == 0 && tokens[i].0 == Token::Punct('}') {
                    return i;
                }
            }
            Token::Punct(';') if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    tokens.len()
}

/// Index of the bracket closing the one at `open`.
fn closing(tokens: &[(Token, usize)], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, (token, _)) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('{' | '(' | '[') => depth += 1,
            Token::Punct('}' | ')' | ']') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Whether `#[cfg(test)]` starts at `i` (the `#`).
fn is_cfg_test(tokens: &[(Token, usize)], i: usize) -> bool {
    let want = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Ident("cfg".into()),
        Token::Punct('('),
        Token::Ident("test".into()),
        Token::Punct(')'),
        Token::Punct(']'),
    ];
    tokens.len() >= i + want.len()
        && tokens[i..i + want.len()]
            .iter()
            .map(|t| &t.0)
            .eq(want.iter())
}

/// The paths of one `use` tree starting at `i`, each as written (`super`, `crate`, ... included) with the name it
/// brings into scope (`*` for a glob); returns the index after the tree.
fn use_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, String)>,
) -> usize {
    let mut path = prefix.to_vec();
    if tokens.get(i).map(|t| &t.0) == Some(&Token::PathSep) {
        i += 1; // a leading `::` names an external crate
        path.push("::".into());
    }
    loop {
        match tokens.get(i).map(|t| &t.0) {
            Some(Token::Ident(name)) => {
                path.push(name.clone());
                i += 1;
                if tokens.get(i).map(|t| &t.0) == Some(&Token::PathSep) {
                    i += 1;
                    continue;
                }
                let mut visible = if name == "self" && path.len() >= 2 {
                    path[path.len() - 2].clone()
                } else {
                    name.clone()
                };
                if tokens.get(i).map(|t| &t.0) == Some(&Token::Ident("as".into())) {
                    if let Some(Token::Ident(alias)) = tokens.get(i + 1).map(|t| &t.0) {
                        visible = alias.clone();
                    }
                    i += 2;
                }
                out.push((path, visible));
                return i;
            }
            Some(Token::Punct('*')) => {
                out.push((path, "*".into()));
                return i + 1;
            }
            Some(Token::Punct('{')) => {
                i += 1;
                loop {
                    match tokens.get(i).map(|t| &t.0) {
                        Some(Token::Punct('}')) => return i + 1,
                        Some(Token::Punct(',')) => i += 1,
                        None => return i,
                        Some(_) => i = use_tree(tokens, i, &path, out),
                    }
                }
            }
            _ => return i,
        }
    }
}

/// Reads one file: every `use` path and every `crate::`/`super::`/`self::` path outside `#[cfg(test)]` items.
fn parse_file(module: &[String], source: &str) -> FileRefs {
    let tokens = tokenize(source);
    let mut out = FileRefs {
        references: Vec::new(),
        imports: Vec::new(),
        inline_modules: Vec::new(),
        test_children: Vec::new(),
    };
    // Inline `mod x { ... }` scopes: the module path and the index of the closing brace.
    let mut scopes: Vec<(Vec<String>, usize)> = vec![(module.to_vec(), usize::MAX)];
    let mut i = 0;
    while i < tokens.len() {
        while scopes.len() > 1 && i > scopes[scopes.len() - 1].1 {
            scopes.pop();
        }
        let current = scopes[scopes.len() - 1].0.clone();
        let (token, line) = &tokens[i];
        match token {
            Token::Punct('#') if is_cfg_test(&tokens, i) => {
                let item = i + 7;
                // `#[cfg(test)] mod x;` leaves out the file of `x` as well.
                if let (Some(Token::Ident(kw)), Some(Token::Ident(name)), Some(Token::Punct(';'))) = (
                    tokens.get(item).map(|t| &t.0),
                    tokens.get(item + 1).map(|t| &t.0),
                    tokens.get(item + 2).map(|t| &t.0),
                ) {
                    if kw == "mod" {
                        out.test_children.push(name.clone());
                    }
                }
                // Further attributes and `pub`, then the item itself.
                let mut start = item;
                while tokens.get(start).map(|t| &t.0) == Some(&Token::Punct('#')) {
                    start = closing(&tokens, start + 1) + 1;
                }
                i = end_of_item(&tokens, start) + 1;
                continue;
            }
            Token::Ident(kw) if kw == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) = (
                    tokens.get(i + 1).map(|t| &t.0),
                    tokens.get(i + 2).map(|t| &t.0),
                ) {
                    let mut inner = current.clone();
                    inner.push(name.clone());
                    out.inline_modules.push(inner.clone());
                    scopes.push((inner, end_of_item(&tokens, i + 2)));
                    i += 3;
                    continue;
                }
            }
            Token::Ident(kw) if kw == "use" => {
                let mut paths = Vec::new();
                let end = use_tree(&tokens, i + 1, &[], &mut paths);
                for (path, name) in paths {
                    let text = path.join("::");
                    let target = resolve(&current, &path).unwrap_or_default();
                    if name != "*" && !target.is_empty() {
                        out.imports.push((current.clone(), name, target.clone()));
                    }
                    out.references.push((target, *line, format!("use {text}")));
                }
                i = end;
                continue;
            }
            Token::Ident(first)
                if matches!(first.as_str(), "crate" | "super" | "self")
                    && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep)
                    && !matches!(
                        i.checked_sub(1).and_then(|p| tokens.get(p)).map(|t| &t.0),
                        Some(Token::Punct('$')) | Some(Token::PathSep)
                    ) =>
            {
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while tokens.get(j).map(|t| &t.0) == Some(&Token::PathSep) {
                    match tokens.get(j + 1).map(|t| &t.0) {
                        Some(Token::Ident(name)) => {
                            path.push(name.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                let text = path.join("::");
                if let Some(target) = resolve(&current, &path) {
                    out.references.push((target, *line, text));
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.references.retain(|(target, _, _)| !target.is_empty());
    out
}

/// The absolute path a `use` or code path names, or `None` for an external crate or a local name.
/// A relative first segment is taken as a child module when one of that name exists (checked later).
fn resolve(current: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = current.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some("::") | None => return None,
        // `use child::X` in a module with a child `child`; anything else is an external crate or a local name,
        // which the caller drops when no module of that path exists.
        Some(_) => base.push(RELATIVE.into()),
    }
    base.extend(rest.iter().filter(|s| s.as_str() != "self").cloned());
    Some(base)
}

/// Marks a path resolved relative to the current module, to be kept only if it names a real child module.
const RELATIVE: &str = "<relative>";

/// Builds the graphs of the crate below `src` (binaries left out: they are other crates).
fn graphs(src: &Path) -> Graphs {
    let mut files = Vec::new();
    collect_files(src, &mut files);
    let mut parsed = Vec::new();
    let mut modules: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut test_files: BTreeSet<Vec<String>> = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap_or(&file).to_path_buf();
        if relative.starts_with("bin") {
            continue;
        }
        let module = module_of(&relative);
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        let refs = parse_file(&module, &source);
        for child in &refs.test_children {
            let mut path = module.clone();
            path.push(child.clone());
            test_files.insert(path);
        }
        modules.insert(module.clone());
        modules.extend(refs.inline_modules.iter().cloned());
        parsed.push((relative, module, refs));
    }
    // A relative path is kept only when it names a child module of where it is written.
    let absolute = |target: Vec<String>| -> Option<Vec<String>> {
        match target.iter().position(|s| s == RELATIVE) {
            Some(at) => {
                let mut absolute = target[..at].to_vec();
                absolute.extend(target[at + 1..].iter().cloned());
                absolute
                    .get(..=at)
                    .is_some_and(|child| modules.contains(child))
                    .then_some(absolute)
            }
            None => Some(target),
        }
    };
    let mut imports: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (_, _, refs) in &parsed {
        for (module, name, target) in &refs.imports {
            if let Some(target) = absolute(target.clone()) {
                imports.insert((module.clone(), name.clone()), target);
            }
        }
    }
    // The module a path ends in: the longest prefix that is a module, following `use` re-exports
    // (`crate::rpc::RpcServer` is `crate::rpc::server::RpcServer`); items count as their module.
    let module_of_path = |mut target: Vec<String>| -> Option<Vec<String>> {
        for _ in 0..8 {
            let prefix = (0..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|prefix| modules.contains(prefix))?;
            let Some(next) = target.get(prefix.len()) else {
                return Some(prefix);
            };
            match imports.get(&(prefix.clone(), next.clone())) {
                Some(source) if *source != target[..=prefix.len()] => {
                    let mut followed = source.clone();
                    followed.extend(target[prefix.len() + 1..].iter().cloned());
                    target = followed;
                }
                _ => return Some(prefix),
            }
        }
        None
    };
    let mut graphs = Graphs::new();
    for (relative, module, refs) in parsed {
        if test_files.iter().any(|test| module.starts_with(test)) {
            continue;
        }
        for (target, line, text) in refs.references {
            let Some(target) = absolute(target).and_then(module_of_path) else {
                continue;
            };
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= target.len() {
                continue; // a module and its own ancestor or descendant
            }
            let parent = module[..common].to_vec();
            let edge = (module[common].clone(), target[common].clone());
            graphs
                .entry(parent)
                .or_default()
                .entry(edge)
                .or_insert_with(|| Reference {
                    file: PathBuf::from("src").join(&relative),
                    line,
                    text,
                });
        }
    }
    graphs
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every elementary cycle of a small directed graph, each starting at its smallest node (at most `cap`).
fn cycles(edges: &BTreeMap<(String, String), Reference>, cap: usize) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let nodes: Vec<&String> = nodes.into_iter().collect();
    let mut found = Vec::new();
    for (start_index, start) in nodes.iter().enumerate() {
        // Depth-first from `start` through nodes after it in order, so each cycle is found once.
        let allowed: BTreeSet<&String> = nodes[start_index..].iter().copied().collect();
        let mut path: Vec<&String> = vec![start];
        let mut stack: Vec<Vec<&String>> = vec![successors(edges, start, &allowed)];
        while let Some(next) = stack.last_mut() {
            match next.pop() {
                Some(node) if node == *start => {
                    found.push(path.iter().map(|s| (*s).clone()).collect());
                    if found.len() >= cap {
                        return found;
                    }
                }
                Some(node) if !path.contains(&node) => {
                    path.push(node);
                    stack.push(successors(edges, node, &allowed));
                }
                Some(_) => {}
                None => {
                    stack.pop();
                    path.pop();
                }
            }
        }
    }
    found
}

fn successors<'a>(
    edges: &'a BTreeMap<(String, String), Reference>,
    from: &String,
    allowed: &BTreeSet<&String>,
) -> Vec<&'a String> {
    edges
        .keys()
        .filter(|(a, b)| a == from && allowed.contains(b))
        .map(|(_, b)| b)
        .collect()
}

fn parent_name(parent: &[String]) -> String {
    std::iter::once("crate".to_owned())
        .chain(parent.iter().cloned())
        .collect::<Vec<_>>()
        .join("::")
}

/// The report of every cycle not on the allow-list and every allow-list entry that matches no cycle.
fn check(src: &Path) -> Result<(), String> {
    let graphs = graphs(src);
    let mut report = String::new();
    let mut used = vec![false; ALLOWED_CYCLES.len()];
    for (parent, edges) in &graphs {
        let parent = parent_name(parent);
        for cycle in cycles(edges, 1000) {
            let members: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
            let allowed = ALLOWED_CYCLES.iter().position(|(p, nodes)| {
                *p == parent && nodes.iter().copied().collect::<BTreeSet<_>>() == members
            });
            if let Some(index) = allowed {
                used[index] = true;
                continue;
            }
            let _ = writeln!(report, "module cycle in {parent}:");
            for (k, from) in cycle.iter().enumerate() {
                let to = &cycle[(k + 1) % cycle.len()];
                let reference = &edges[&(from.clone(), to.clone())];
                let _ = writeln!(
                    report,
                    "  {from} -> {to}   ({}:{}: {})",
                    reference.file.display(),
                    reference.line,
                    reference.text
                );
            }
        }
    }
    for (index, (parent, nodes)) in ALLOWED_CYCLES.iter().enumerate() {
        if !used[index] {
            let _ = writeln!(
                report,
                "allowed cycle {parent}: {} no longer exists: remove it from ALLOWED_CYCLES in src/module_graph.rs",
                nodes.join(" <-> ")
            );
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}

#[test]
fn no_module_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if let Err(report) = check(&src) {
        panic!("\n{report}");
    }
}

#[test]
fn the_parser_sees_uses_and_paths_but_not_tests_comments_or_strings() {
    let source = r#"
//! a::b
use super::x::{Y, z::W as V};
use crate::q;
use std::io;
use child::Thing;
mod child { use super::super::w; }
fn f() { let _ = crate::r::s::T::new(); let _ = "crate::nope"; /* crate::nope2 */ }
#[cfg(test)]
mod tests { use crate::t; }
#[cfg(test)]
mod more;
macro_rules! m { () => { $crate::nope3 } }
"#;
    let module = vec!["a".to_owned(), "b".to_owned()];
    let refs = parse_file(&module, source);
    let texts: Vec<&str> = refs.references.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(
        texts,
        [
            "use super::x::Y",
            "use super::x::z::W",
            "use crate::q",
            "use std::io",
            "use child::Thing",
            "use super::super::w",
            "crate::r::s::T::new"
        ]
    );
    assert_eq!(refs.references[0].0, ["a", "x", "Y"]);
    assert_eq!(refs.references[4].0, ["a", "b", RELATIVE, "child", "Thing"]);
    // Inside `mod child`, `super::super` is `a`.
    assert_eq!(refs.references[5].0, ["a", "w"]);
    assert_eq!(refs.imports[1].1, "V");
    assert_eq!(refs.test_children, ["more"]);
}

#[test]
fn cycles_are_found_once_each() {
    let reference = Reference {
        file: PathBuf::new(),
        line: 0,
        text: String::new(),
    };
    let edges: BTreeMap<(String, String), Reference> =
        [("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "d")]
            .into_iter()
            .map(|(a, b)| ((a.to_owned(), b.to_owned()), reference.clone()))
            .collect();
    let mut found = cycles(&edges, 100);
    found.sort();
    assert_eq!(found, [vec!["a", "b"], vec!["a", "b", "c"]]);
}
