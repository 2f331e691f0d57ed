//! MOF (DSP0221 subset) lexer, parser and compiler into a [`Repository`]: pragmas (namespace, include through a
//! caller-given loader, locale), qualifier declarations, classes with properties, references and methods,
//! instance declarations with aliases, comments, string escapes and concatenation, all numeric literal forms.
//! Errors carry `file:line:column`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::object::ObjectPath;
use super::object::Value;
use super::object::{
    Class, Flavor, Instance, Method, Parameter, Property, Qualifier, QualifierDecl, QualifierList,
    Scope,
};
use super::repo::{Namespace, Repository};
use super::types::{Arrayness, CimType, TypeSpec};

/// A MOF error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct MofError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Counts of what a compilation added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MofStats {
    pub files: usize,
    pub qualifier_decls: usize,
    pub classes: usize,
    pub instances: usize,
}

const MAX_INCLUDE_DEPTH: usize = 32;

/// Compiles MOF into a repository. Include pragmas are resolved relative to the including file's directory
/// and read through `loader`, so the compiler itself never touches the file system.
pub struct MofCompiler<'r, L> {
    repo: &'r mut Repository,
    loader: L,
    namespace: String,
    aliases: HashMap<String, ObjectPath>,
    stats: MofStats,
    depth: usize,
}

impl<'r, L> MofCompiler<'r, L>
where
    L: FnMut(&str) -> Result<String, String>,
{
    /// `namespace` is where declarations go until a `#pragma namespace` changes it (created if missing).
    pub fn new(repo: &'r mut Repository, namespace: &str, loader: L) -> Self {
        repo.add_namespace(namespace);
        MofCompiler {
            repo,
            loader,
            namespace: namespace.to_owned(),
            aliases: HashMap::new(),
            stats: MofStats::default(),
            depth: 0,
        }
    }

    pub fn stats(&self) -> MofStats {
        self.stats
    }

    /// Loads `name` through the loader and compiles it.
    pub fn compile_file(&mut self, name: &str) -> Result<MofStats, MofError> {
        let text = (self.loader)(name).map_err(|e| MofError {
            file: name.into(),
            line: 0,
            column: 0,
            message: e,
        })?;
        self.compile_str(name, &text)
    }

    /// Compiles MOF text; `name` is used for error positions and to resolve includes.
    pub fn compile_str(&mut self, name: &str, text: &str) -> Result<MofStats, MofError> {
        self.stats.files += 1;
        let tokens =
            lex(text).map_err(|(offset, message)| error_at(name, text, offset, message))?;
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
        };
        while !parser.at_end() {
            let start = parser.offset();
            let production = parser
                .production()
                .map_err(|(offset, message)| error_at(name, text, offset, message))?;
            self.apply(name, production)
                .map_err(|message| error_at(name, text, start, message))?;
        }
        Ok(self.stats)
    }

    fn apply(&mut self, file: &str, production: Production) -> Result<(), String> {
        match production {
            Production::Pragma(pragma, value) => match pragma.to_ascii_lowercase().as_str() {
                "include" => {
                    if self.depth >= MAX_INCLUDE_DEPTH {
                        return Err(format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"));
                    }
                    let target = resolve_include(file, &value);
                    let text = (self.loader)(&target)
                        .map_err(|e| format!("cannot include {target:?}: {e}"))?;
                    self.depth += 1;
                    let result = self.compile_str(&target, &text);
                    self.depth -= 1;
                    result
                        .map(|_| ())
                        .map_err(|e| format!("in file included from here: {e}"))
                }
                "namespace" => {
                    let ns = value.trim_matches('/').to_owned();
                    if ns.is_empty() {
                        return Err("empty namespace pragma".into());
                    }
                    self.repo.add_namespace(&ns);
                    self.namespace = ns;
                    Ok(())
                }
                // locale, instancelocale, nonlocal, source...: informational for us.
                _ => Ok(()),
            },
            Production::QualifierDecl(decl) => {
                let ty = TypeSpec {
                    ty: type_from_name(&decl.type_name)?,
                    array: decl.array,
                };
                let default = match decl.default {
                    Some(lit) => self
                        .literal_value(lit, &ty)
                        .map_err(|e| format!("qualifier {}: {e}", decl.name))?,
                    None => Value::Null,
                };
                let mut scope = Scope::default();
                for s in &decl.scopes {
                    scope = scope
                        .union(Scope::from_name(s).ok_or_else(|| format!("unknown scope {s:?}"))?);
                }
                let mut flavor = Flavor::default();
                for f in &decl.flavors {
                    apply_flavor(&mut flavor, f)?;
                }
                self.repo
                    .add_qualifier_decl(
                        &self.namespace,
                        QualifierDecl {
                            name: decl.name,
                            ty,
                            default,
                            scope,
                            flavor,
                        },
                    )
                    .map_err(|e| e.to_string())?;
                self.stats.qualifier_decls += 1;
                Ok(())
            }
            Production::Class(class) => {
                let class = self.build_class(class)?;
                self.repo
                    .add_class(&self.namespace, class)
                    .map_err(|e| e.to_string())?;
                self.stats.classes += 1;
                Ok(())
            }
            Production::Instance(decl) => {
                let ns = self
                    .repo
                    .namespace(&self.namespace)
                    .map_err(|e| e.to_string())?;
                let class = ns
                    .class(&decl.class_name)
                    .cloned()
                    .ok_or_else(|| format!("class {} does not exist", decl.class_name))?;
                let mut instance = Instance::new(&class.name);
                for (prop_name, lit) in decl.properties {
                    let prop = class.property(&prop_name).ok_or_else(|| {
                        format!("class {} has no property {prop_name}", class.name)
                    })?;
                    let value = self
                        .literal_value(lit, &prop.ty)
                        .map_err(|e| format!("property {prop_name}: {e}"))?;
                    instance.set(&prop.name, value);
                }
                let path = self
                    .repo
                    .add_instance(&self.namespace, instance)
                    .map_err(|e| e.to_string())?;
                if let Some(alias) = decl.alias {
                    self.aliases.insert(alias.to_ascii_lowercase(), path);
                }
                self.stats.instances += 1;
                Ok(())
            }
        }
    }

    fn qualifiers(&self, raw: Vec<RawQualifier>) -> Result<Vec<Qualifier>, String> {
        let ns = self
            .repo
            .namespace(&self.namespace)
            .map_err(|e| e.to_string())?;
        let mut out: Vec<Qualifier> = Vec::with_capacity(raw.len());
        for q in raw {
            let decl = ns
                .qualifier_decl(&q.name)
                .ok_or_else(|| format!("qualifier {} is not declared", q.name))?;
            let value = match q.value {
                Some(lit) => self
                    .literal_value(lit, &decl.ty)
                    .map_err(|e| format!("qualifier {}: {e}", q.name))?,
                None if decl.ty == TypeSpec::scalar(CimType::Boolean) => Value::Boolean(true),
                None => return Err(format!("qualifier {} needs a value", q.name)),
            };
            let mut flavor = decl.flavor;
            for f in &q.flavors {
                apply_flavor(&mut flavor, f)?;
            }
            if out.qualifier(&q.name).is_some() {
                return Err(format!("qualifier {} given twice", q.name));
            }
            out.push(Qualifier {
                name: decl.name.clone(),
                value,
                flavor,
                propagated: false,
            });
        }
        Ok(out)
    }

    fn build_class(&self, raw: RawClass) -> Result<Class, String> {
        let mut class = Class::new(&raw.name, raw.superclass.as_deref());
        class.qualifiers = self.qualifiers(raw.qualifiers)?;
        for feature in raw.features {
            match feature {
                RawFeature::Property {
                    qualifiers,
                    ty,
                    name,
                    array,
                    default,
                } => {
                    let qualifiers = self.qualifiers(qualifiers)?;
                    let ty = TypeSpec {
                        ty: embedded_type(typed(&ty)?, &qualifiers),
                        array,
                    };
                    let default = match default {
                        Some(lit) => self
                            .literal_value(lit, &ty)
                            .map_err(|e| format!("property {name}: {e}"))?,
                        None => Value::Null,
                    };
                    class.properties.push(Property {
                        name,
                        ty,
                        default,
                        qualifiers,
                        class_origin: None,
                        propagated: false,
                    });
                }
                RawFeature::Method {
                    qualifiers,
                    return_type,
                    name,
                    params,
                } => {
                    let qualifiers = self.qualifiers(qualifiers)?;
                    let mut parameters = Vec::with_capacity(params.len());
                    for p in params {
                        let pq = self.qualifiers(p.qualifiers)?;
                        let ty = TypeSpec {
                            ty: embedded_type(typed(&p.ty)?, &pq),
                            array: p.array,
                        };
                        parameters.push(Parameter {
                            name: p.name,
                            ty,
                            qualifiers: pq,
                        });
                    }
                    let return_type = embedded_type(typed(&return_type)?, &qualifiers);
                    class.methods.push(Method {
                        name,
                        return_type,
                        parameters,
                        qualifiers,
                        class_origin: None,
                        propagated: false,
                    });
                }
            }
        }
        Ok(class)
    }

    fn literal_value(&self, lit: Literal, spec: &TypeSpec) -> Result<Value, String> {
        literal_value(lit, spec, &self.aliases)
    }
}

/// A MOF literal as a value of the declared type.
fn literal_value(
    lit: Literal,
    spec: &TypeSpec,
    aliases: &HashMap<String, ObjectPath>,
) -> Result<Value, String> {
    if spec.is_array() {
        let items = match lit {
            Literal::Null => return Ok(Value::Null),
            Literal::Array(items) => items,
            // A single value where an array is declared: treat as a one-element array.
            single => vec![single],
        };
        let scalar = TypeSpec::scalar(spec.ty.clone());
        let values: Result<Vec<Value>, String> = items
            .into_iter()
            .map(|item| literal_value(item, &scalar, aliases))
            .collect();
        return Ok(Value::Array(spec.ty.clone(), values?));
    }
    let ty = &spec.ty;
    let value = match lit {
        Literal::Null => Value::Null,
        Literal::Array(_) => {
            return Err(format!(
                "an array value where a scalar {} is declared",
                ty.name()
            ))
        }
        Literal::Bool(b) if *ty == CimType::Boolean => Value::Boolean(b),
        Literal::Int(n) => Value::from_integer(ty, n).map_err(|e| e.to_string())?,
        Literal::Real(r) => match ty {
            #[allow(clippy::cast_possible_truncation)]
            CimType::Real32 => Value::Real32(r as f32),
            CimType::Real64 => Value::Real64(r),
            other => return Err(format!("a real value where {} is declared", other.name())),
        },
        Literal::Str(s) => match ty {
            CimType::String | CimType::EmbeddedObject | CimType::EmbeddedInstance(_) => {
                Value::String(s)
            }
            CimType::DateTime | CimType::Reference(_) | CimType::Char16 => {
                Value::parse_scalar(ty, &s).map_err(|e| e.to_string())?
            }
            other => return Err(format!("a string value where {} is declared", other.name())),
        },
        Literal::Char(c) if *ty == CimType::Char16 => Value::Char16(c),
        Literal::Alias(alias) => match ty {
            CimType::Reference(_) => {
                let path = aliases
                    .get(&alias.to_ascii_lowercase())
                    .ok_or_else(|| format!("unknown alias ${alias}"))?;
                Value::Reference(Arc::new(path.clone()))
            }
            other => return Err(format!("alias ${alias} where {} is declared", other.name())),
        },
        Literal::Bool(_) | Literal::Char(_) => {
            return Err(format!("value does not fit type {}", ty.name()))
        }
    };
    Ok(value)
}

fn typed(ty: &RawType) -> Result<CimType, String> {
    match ty {
        RawType::Named(name) => type_from_name(name),
        RawType::Ref(class) => Ok(CimType::Reference(Some(class.as_str().into()))),
    }
}

fn type_from_name(name: &str) -> Result<CimType, String> {
    match CimType::from_name(name) {
        Some(CimType::Reference(_)) | None => Err(format!("unknown data type {name:?}")),
        Some(ty) => Ok(ty),
    }
}

/// A string with `EmbeddedInstance("X")` / `EmbeddedObject` is an embedded object in the model.
fn embedded_type(ty: CimType, qualifiers: &[Qualifier]) -> CimType {
    if ty != CimType::String {
        return ty;
    }
    if let Some(class) = qualifiers.qualifier_str("EmbeddedInstance") {
        return CimType::EmbeddedInstance(Some(class.into()));
    }
    if qualifiers.has_true("EmbeddedObject") {
        return CimType::EmbeddedObject;
    }
    ty
}

fn apply_flavor(flavor: &mut Flavor, name: &str) -> Result<(), String> {
    match name.to_ascii_lowercase().as_str() {
        "enableoverride" => flavor.overridable = true,
        "disableoverride" => flavor.overridable = false,
        "tosubclass" => flavor.to_subclass = true,
        "restricted" => flavor.to_subclass = false,
        "translatable" => flavor.translatable = true,
        _ => return Err(format!("unknown flavor {name:?}")),
    }
    Ok(())
}

/// `dir/of/current.mof` + `Core/X.mof` -> `dir/of/Core/X.mof`; absolute include names are kept.
fn resolve_include(current: &str, include: &str) -> String {
    if include.starts_with('/') {
        return include.to_owned();
    }
    match current.rfind('/') {
        Some(slash) => format!("{}/{}", &current[..slash], include),
        None => include.to_owned(),
    }
}

fn error_at(file: &str, text: &str, offset: usize, message: String) -> MofError {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    MofError {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Str(String),
    Char(char),
    Int(i128),
    Real(f64),
    Alias(&'a str),
    Punct(u8),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    tok: Tok<'a>,
    offset: usize,
}

type LexError = (usize, String);

fn lex(text: &str) -> Result<Vec<Token<'_>>, LexError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::with_capacity(text.len() / 8);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0c => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .ok_or((i, "unterminated comment".to_owned()))?;
                i += 2 + end + 2;
            }
            b'"' => {
                let (s, next) = lex_string(text, i)?;
                tokens.push(Token {
                    tok: Tok::Str(s),
                    offset: i,
                });
                i = next;
            }
            b'\'' => {
                let (c, next) = lex_char(text, i)?;
                tokens.push(Token {
                    tok: Tok::Char(c),
                    offset: i,
                });
                i = next;
            }
            b'$' => {
                let start = i + 1;
                let end = ident_end(bytes, start);
                if end == start {
                    return Err((i, "'$' without an alias name".into()));
                }
                tokens.push(Token {
                    tok: Tok::Alias(&text[start..end]),
                    offset: i,
                });
                i = end;
            }
            b'0'..=b'9' | b'.' if b != b'.' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (tok, next) = lex_number(text, i)?;
                tokens.push(Token { tok, offset: i });
                i = next;
            }
            b'+' | b'-'
                if bytes
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'.') =>
            {
                let (tok, next) = lex_number(text, i + 1)?;
                let tok = match (b, tok) {
                    (b'-', Tok::Int(n)) => Tok::Int(-n),
                    (b'-', Tok::Real(r)) => Tok::Real(-r),
                    (_, other) => other,
                };
                tokens.push(Token { tok, offset: i });
                i = next;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let end = ident_end(bytes, i);
                tokens.push(Token {
                    tok: Tok::Ident(&text[i..end]),
                    offset: i,
                });
                i = end;
            }
            b if b >= 0x80 => {
                // Identifiers may use non-ASCII letters (DSP0221 UNICODE-S1/S2); anything else is an error.
                let c = text[i..]
                    .chars()
                    .next()
                    .ok_or((i, "invalid UTF-8".to_owned()))?;
                if c.is_alphabetic() {
                    let end = ident_end(bytes, i);
                    tokens.push(Token {
                        tok: Tok::Ident(&text[i..end]),
                        offset: i,
                    });
                    i = end;
                } else {
                    return Err((i, format!("unexpected character {c:?}")));
                }
            }
            b'{' | b'}' | b'(' | b')' | b'[' | b']' | b';' | b',' | b':' | b'=' | b'#' => {
                tokens.push(Token {
                    tok: Tok::Punct(b),
                    offset: i,
                });
                i += 1;
            }
            other => return Err((i, format!("unexpected character {:?}", char::from(other)))),
        }
    }
    Ok(tokens)
}

fn ident_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
    {
        i += 1;
    }
    i
}

fn lex_number(text: &str, start: usize) -> Result<(Tok<'static>, usize), LexError> {
    let bytes = text.as_bytes();
    let mut end = start;
    while end < bytes.len() {
        let c = bytes[end];
        let exponent_sign = (c == b'+' || c == b'-')
            && end > start
            && matches!(bytes[end - 1], b'e' | b'E')
            && !text[start..end].starts_with("0x")
            && !text[start..end].starts_with("0X");
        if c.is_ascii_alphanumeric() || c == b'.' || exponent_sign {
            end += 1;
        } else {
            break;
        }
    }
    let s = &text[start..end];
    let bad = || (start, format!("invalid number {s:?}"));
    let tok = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Tok::Int(i128::from_str_radix(hex, 16).map_err(|_| bad())?)
    } else if let Some(bin) = s.strip_suffix(['b', 'B']) {
        if bin.is_empty() || !bin.bytes().all(|c| c == b'0' || c == b'1') {
            return Err(bad());
        }
        Tok::Int(i128::from_str_radix(bin, 2).map_err(|_| bad())?)
    } else if s.contains(['.', 'e', 'E']) {
        if !s
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return Err(bad());
        }
        Tok::Real(s.parse().map_err(|_| bad())?)
    } else if s.len() > 1 && s.starts_with('0') {
        Tok::Int(i128::from_str_radix(&s[1..], 8).map_err(|_| bad())?)
    } else {
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        Tok::Int(s.parse().map_err(|_| bad())?)
    };
    Ok((tok, end))
}

/// An escape after a backslash at `i` (pointing at the char after '\'); returns the char and the next index.
fn lex_escape(text: &str, i: usize) -> Result<(char, usize), LexError> {
    let bytes = text.as_bytes();
    let c = *bytes
        .get(i)
        .ok_or((i, "backslash at end of input".to_owned()))?;
    let simple = match c {
        b'b' => Some('\u{8}'),
        b't' => Some('\t'),
        b'n' => Some('\n'),
        b'f' => Some('\u{c}'),
        b'r' => Some('\r'),
        b'"' => Some('"'),
        b'\'' => Some('\''),
        b'\\' => Some('\\'),
        _ => None,
    };
    if let Some(ch) = simple {
        return Ok((ch, i + 1));
    }
    if c == b'x' || c == b'X' {
        let start = i + 1;
        let mut end = start;
        while end < bytes.len() && end - start < 4 && bytes[end].is_ascii_hexdigit() {
            end += 1;
        }
        let code = u32::from_str_radix(&text[start..end], 16)
            .map_err(|_| (i, "\\x needs hex digits".to_owned()))?;
        let ch = char::from_u32(code).ok_or((i, format!("\\x{code:x} is not a character")))?;
        return Ok((ch, end));
    }
    Err((i - 1, format!("invalid escape \\{}", char::from(c))))
}

fn lex_string(text: &str, start: usize) -> Result<(String, usize), LexError> {
    let mut out = String::new();
    let mut i = start + 1;
    let bytes = text.as_bytes();
    loop {
        // Copy runs of plain characters at once.
        let run_start = i;
        while i < bytes.len() && !matches!(bytes[i], b'"' | b'\\' | b'\n') {
            i += 1;
        }
        out.push_str(&text[run_start..i]);
        match bytes.get(i) {
            Some(b'"') => return Ok((out, i + 1)),
            Some(b'\\') => {
                let (ch, next) = lex_escape(text, i + 1)?;
                out.push(ch);
                i = next;
            }
            _ => return Err((start, "unterminated string".into())),
        }
    }
}

fn lex_char(text: &str, start: usize) -> Result<(char, usize), LexError> {
    let rest = &text[start + 1..];
    let (c, next) = if rest.starts_with('\\') {
        lex_escape(text, start + 2)?
    } else {
        let c = rest
            .chars()
            .next()
            .ok_or((start, "unterminated char literal".to_owned()))?;
        (c, start + 1 + c.len_utf8())
    };
    if text.as_bytes().get(next) != Some(&b'\'') {
        return Err((start, "unterminated char literal".into()));
    }
    Ok((c, next + 1))
}

// ---------------------------------------------------------------------------------------------------------
// Parser

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Null,
    Bool(bool),
    Int(i128),
    Real(f64),
    Str(String),
    Char(char),
    Alias(String),
    Array(Vec<Literal>),
}

#[derive(Debug)]
struct RawQualifier {
    name: String,
    value: Option<Literal>,
    flavors: Vec<String>,
}

#[derive(Debug)]
struct RawQualifierDecl {
    name: String,
    type_name: String,
    array: Arrayness,
    default: Option<Literal>,
    scopes: Vec<String>,
    flavors: Vec<String>,
}

#[derive(Debug)]
enum RawType {
    Named(String),
    Ref(String),
}

#[derive(Debug)]
struct RawParam {
    qualifiers: Vec<RawQualifier>,
    ty: RawType,
    name: String,
    array: Arrayness,
}

#[derive(Debug)]
enum RawFeature {
    Property {
        qualifiers: Vec<RawQualifier>,
        ty: RawType,
        name: String,
        array: Arrayness,
        default: Option<Literal>,
    },
    Method {
        qualifiers: Vec<RawQualifier>,
        return_type: RawType,
        name: String,
        params: Vec<RawParam>,
    },
}

#[derive(Debug)]
struct RawClass {
    qualifiers: Vec<RawQualifier>,
    name: String,
    superclass: Option<String>,
    features: Vec<RawFeature>,
}

#[derive(Debug)]
struct RawInstance {
    class_name: String,
    alias: Option<String>,
    properties: Vec<(String, Literal)>,
}

#[derive(Debug)]
enum Production {
    Pragma(String, String),
    QualifierDecl(RawQualifierDecl),
    Class(RawClass),
    Instance(RawInstance),
}

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    pos: usize,
}

type ParseResult<T> = Result<T, LexError>;

impl<'a> Parser<'_, 'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .map_or(0, |t| t.offset)
    }

    fn peek(&self) -> Option<&Tok<'a>> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn error<T>(&self, message: impl fmt::Display) -> ParseResult<T> {
        let found = match self.peek() {
            None => "end of input".to_owned(),
            Some(Tok::Ident(s)) => format!("{s:?}"),
            Some(Tok::Punct(p)) => format!("'{}'", char::from(*p)),
            Some(Tok::Str(_)) => "a string".to_owned(),
            Some(_) => "a value".to_owned(),
        };
        Err((self.offset(), format!("{message}, found {found}")))
    }

    fn is_punct(&self, p: u8) -> bool {
        self.peek() == Some(&Tok::Punct(p))
    }

    fn eat_punct(&mut self, p: u8) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: u8) -> ParseResult<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.error(format!("expected '{}'", char::from(p)))
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.is_keyword(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> ParseResult<()> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            self.error(format!("expected {kw:?}"))
        }
    }

    fn ident(&mut self, what: &str) -> ParseResult<String> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = (*s).to_owned();
                self.pos += 1;
                Ok(s)
            }
            _ => self.error(format!("expected {what}")),
        }
    }

    fn string(&mut self, what: &str) -> ParseResult<String> {
        let mut out = match self.peek() {
            Some(Tok::Str(s)) => s.clone(),
            _ => return self.error(format!("expected {what}")),
        };
        self.pos += 1;
        // Adjacent string literals concatenate.
        while let Some(Tok::Str(s)) = self.peek() {
            out.push_str(s);
            self.pos += 1;
        }
        Ok(out)
    }

    fn production(&mut self) -> ParseResult<Production> {
        if self.eat_punct(b'#') {
            self.expect_keyword("pragma")?;
            let name = self.ident("a pragma name")?;
            self.expect_punct(b'(')?;
            let value = self.string("a string pragma value")?;
            self.expect_punct(b')')?;
            return Ok(Production::Pragma(name, value));
        }
        if self.eat_keyword("qualifier") {
            return self.qualifier_decl().map(Production::QualifierDecl);
        }
        let qualifiers = if self.is_punct(b'[') {
            self.qualifier_list()?
        } else {
            Vec::new()
        };
        if self.eat_keyword("class") {
            return self.class_decl(qualifiers).map(Production::Class);
        }
        if self.eat_keyword("instance") {
            return self.instance_decl().map(Production::Instance);
        }
        self.error("expected '#pragma', 'qualifier', 'class' or 'instance of'")
    }

    fn qualifier_decl(&mut self) -> ParseResult<RawQualifierDecl> {
        let name = self.ident("a qualifier name")?;
        self.expect_punct(b':')?;
        let type_name = self.ident("a data type")?;
        let array = self.array_suffix()?;
        let default = if self.eat_punct(b'=') {
            Some(self.initializer()?)
        } else {
            None
        };
        let mut scopes = Vec::new();
        let mut flavors = Vec::new();
        while self.eat_punct(b',') {
            if self.eat_keyword("scope") {
                scopes = self.paren_ident_list()?;
            } else if self.eat_keyword("flavor") {
                flavors = self.paren_ident_list()?;
            } else {
                return self.error("expected Scope(...) or Flavor(...)");
            }
        }
        self.expect_punct(b';')?;
        if scopes.is_empty() {
            return Err((self.offset(), format!("qualifier {name} declares no scope")));
        }
        Ok(RawQualifierDecl {
            name,
            type_name,
            array,
            default,
            scopes,
            flavors,
        })
    }

    fn paren_ident_list(&mut self) -> ParseResult<Vec<String>> {
        self.expect_punct(b'(')?;
        let mut out = vec![self.ident("a name")?];
        while self.eat_punct(b',') {
            out.push(self.ident("a name")?);
        }
        self.expect_punct(b')')?;
        Ok(out)
    }

    fn array_suffix(&mut self) -> ParseResult<Arrayness> {
        if !self.eat_punct(b'[') {
            return Ok(Arrayness::Scalar);
        }
        let array = match self.peek() {
            Some(Tok::Int(n)) => {
                let n = u32::try_from(*n)
                    .map_err(|_| (self.offset(), "array size out of range".to_owned()))?;
                self.pos += 1;
                Arrayness::Fixed(n)
            }
            _ => Arrayness::Variable,
        };
        self.expect_punct(b']')?;
        Ok(array)
    }

    fn qualifier_list(&mut self) -> ParseResult<Vec<RawQualifier>> {
        self.expect_punct(b'[')?;
        let mut out = Vec::new();
        loop {
            let name = self.ident("a qualifier name")?;
            let value = if self.eat_punct(b'(') {
                let v = self.literal()?;
                self.expect_punct(b')')?;
                Some(v)
            } else if self.is_punct(b'{') {
                Some(self.array_literal()?)
            } else {
                None
            };
            let mut flavors = Vec::new();
            if self.eat_punct(b':') {
                while let Some(Tok::Ident(f)) = self.peek() {
                    flavors.push((*f).to_owned());
                    self.pos += 1;
                }
                if flavors.is_empty() {
                    return self.error("expected a flavor after ':'");
                }
            }
            out.push(RawQualifier {
                name,
                value,
                flavors,
            });
            if self.eat_punct(b']') {
                return Ok(out);
            }
            self.expect_punct(b',')?;
        }
    }

    fn class_decl(&mut self, qualifiers: Vec<RawQualifier>) -> ParseResult<RawClass> {
        let name = self.ident("a class name")?;
        let superclass = if self.eat_punct(b':') {
            Some(self.ident("a superclass name")?)
        } else {
            None
        };
        self.expect_punct(b'{')?;
        let mut features = Vec::new();
        while !self.eat_punct(b'}') {
            if self.at_end() {
                return self.error("expected '}' closing the class");
            }
            features.push(self.feature()?);
        }
        self.expect_punct(b';')?;
        Ok(RawClass {
            qualifiers,
            name,
            superclass,
            features,
        })
    }

    /// `type name`, `Class REF name`; returns the type.
    fn typed_name(&mut self) -> ParseResult<(RawType, String)> {
        let type_name = self.ident("a data type or class name")?;
        if self.eat_keyword("ref") {
            let name = self.ident("a reference name")?;
            return Ok((RawType::Ref(type_name), name));
        }
        let name = self.ident("a name")?;
        Ok((RawType::Named(type_name), name))
    }

    fn feature(&mut self) -> ParseResult<RawFeature> {
        let qualifiers = if self.is_punct(b'[') {
            self.qualifier_list()?
        } else {
            Vec::new()
        };
        let (ty, name) = self.typed_name()?;
        if self.eat_punct(b'(') {
            let mut params = Vec::new();
            if !self.eat_punct(b')') {
                loop {
                    let pq = if self.is_punct(b'[') {
                        self.qualifier_list()?
                    } else {
                        Vec::new()
                    };
                    let (pty, pname) = self.typed_name()?;
                    let array = self.array_suffix()?;
                    if self.eat_punct(b'=') {
                        // Parameter defaults (MOF 3) are accepted and ignored: CIM-XML cannot carry them.
                        self.initializer()?;
                    }
                    params.push(RawParam {
                        qualifiers: pq,
                        ty: pty,
                        name: pname,
                        array,
                    });
                    if self.eat_punct(b')') {
                        break;
                    }
                    self.expect_punct(b',')?;
                }
            }
            self.expect_punct(b';')?;
            return Ok(RawFeature::Method {
                qualifiers,
                return_type: ty,
                name,
                params,
            });
        }
        let array = self.array_suffix()?;
        let default = if self.eat_punct(b'=') {
            Some(self.initializer()?)
        } else {
            None
        };
        self.expect_punct(b';')?;
        Ok(RawFeature::Property {
            qualifiers,
            ty,
            name,
            array,
            default,
        })
    }

    fn instance_decl(&mut self) -> ParseResult<RawInstance> {
        self.expect_keyword("of")?;
        let class_name = self.ident("a class name")?;
        let alias = if self.eat_keyword("as") {
            match self.peek() {
                Some(Tok::Alias(a)) => {
                    let a = (*a).to_owned();
                    self.pos += 1;
                    Some(a)
                }
                _ => return self.error("expected an alias ($name)"),
            }
        } else {
            None
        };
        self.expect_punct(b'{')?;
        let mut properties = Vec::new();
        while !self.eat_punct(b'}') {
            if self.at_end() {
                return self.error("expected '}' closing the instance");
            }
            if self.is_punct(b'[') {
                self.qualifier_list()?; // qualifiers on instance properties carry nothing for us
            }
            let name = self.ident("a property name")?;
            self.expect_punct(b'=')?;
            let value = self.initializer()?;
            self.expect_punct(b';')?;
            properties.push((name, value));
        }
        self.expect_punct(b';')?;
        Ok(RawInstance {
            class_name,
            alias,
            properties,
        })
    }

    fn initializer(&mut self) -> ParseResult<Literal> {
        if self.is_punct(b'{') {
            self.array_literal()
        } else {
            self.literal()
        }
    }

    fn array_literal(&mut self) -> ParseResult<Literal> {
        self.expect_punct(b'{')?;
        let mut items = Vec::new();
        if self.eat_punct(b'}') {
            return Ok(Literal::Array(items));
        }
        loop {
            items.push(self.literal()?);
            if self.eat_punct(b'}') {
                return Ok(Literal::Array(items));
            }
            self.expect_punct(b',')?;
        }
    }

    fn literal(&mut self) -> ParseResult<Literal> {
        let lit = match self.peek() {
            Some(Tok::Str(_)) => return self.string("a string").map(Literal::Str),
            Some(Tok::Int(n)) => Literal::Int(*n),
            Some(Tok::Real(r)) => Literal::Real(*r),
            Some(Tok::Char(c)) => Literal::Char(*c),
            Some(Tok::Alias(a)) => Literal::Alias((*a).to_owned()),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return self.error("expected a value"),
        };
        self.pos += 1;
        Ok(lit)
    }
}

/// Compiles a set of in-memory files (name -> text), starting at `root`: a convenience for tests and for
/// MOF embedded in the binary.
pub fn compile_files(
    repo: &mut Repository,
    namespace: &str,
    root: &str,
    files: &HashMap<String, String>,
) -> Result<MofStats, MofError> {
    let loader = |name: &str| {
        files
            .get(name)
            .cloned()
            .ok_or_else(|| "no such file".to_owned())
    };
    let mut compiler = MofCompiler::new(repo, namespace, loader);
    compiler.compile_file(root)
}

/// Parses an embedded instance sent as MOF text (`instance of KVM_X { Prop = value; ... };`, what cimtest and
/// wbemcli send for `EmbeddedInstance` parameters), typing each value by the class found in `ns`. Properties
/// the class lacks are ignored, as libvirt-CIM does (cimtest sends a few); the final `;` is optional.
pub fn parse_instance_mof(ns: &Namespace, text: &str) -> Result<Instance, MofError> {
    const NAME: &str = "embedded instance";
    let trimmed = text.trim();
    let owned;
    let text = if trimmed.ends_with(';') {
        trimmed
    } else {
        owned = format!("{trimmed};");
        &owned
    };
    let tokens = lex(text).map_err(|(offset, message)| error_at(NAME, text, offset, message))?;
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
    };
    let decl = match parser.production() {
        Ok(Production::Instance(decl)) if parser.at_end() => decl,
        Ok(_) => {
            return Err(error_at(
                NAME,
                text,
                0,
                "expected exactly one `instance of` declaration".into(),
            ))
        }
        Err((offset, message)) => return Err(error_at(NAME, text, offset, message)),
    };
    let class = ns.class(&decl.class_name).ok_or_else(|| {
        error_at(
            NAME,
            text,
            0,
            format!("class {} does not exist", decl.class_name),
        )
    })?;
    let mut instance = Instance::new(&class.name);
    let no_aliases = HashMap::new();
    for (prop_name, lit) in decl.properties {
        let Some(prop) = class.property(&prop_name) else {
            continue;
        };
        let value = literal_value(lit, &prop.ty, &no_aliases)
            .map_err(|e| error_at(NAME, text, 0, format!("property {prop_name}: {e}")))?;
        instance.set_typed(&prop.name, prop.ty.clone(), value);
    }
    Ok(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUALIFIERS: &str = r#"
        Qualifier Association : boolean = false, Scope(association), Flavor(DisableOverride, ToSubclass);
        Qualifier Abstract : boolean = false, Scope(class, association, indication), Flavor(Restricted);
        Qualifier Key : boolean = false, Scope(property, reference), Flavor(DisableOverride, ToSubclass);
        Qualifier Description : string = null, Scope(any), Flavor(EnableOverride, ToSubclass, Translatable);
        Qualifier Override : string = null, Scope(property, reference, method), Flavor(EnableOverride, Restricted);
        Qualifier ValueMap : string[], Scope(property, method, parameter);
        Qualifier In : boolean = true, Scope(parameter), Flavor(DisableOverride, ToSubclass);
        Qualifier Out : boolean = false, Scope(parameter), Flavor(DisableOverride, ToSubclass);
        Qualifier EmbeddedInstance : string = null, Scope(property, method, parameter);
        Qualifier MaxValue : sint64 = null, Scope(property, method, parameter);
    "#;

    fn compile(text: &str) -> Result<Repository, MofError> {
        let mut repo = Repository::new();
        let mut files = HashMap::new();
        files.insert(
            "dir/main.mof".to_owned(),
            format!("#pragma include (\"../q.mof\")\n{text}"),
        );
        files.insert("dir/../q.mof".to_owned(), QUALIFIERS.to_owned());
        compile_files(&mut repo, "root/test", "dir/main.mof", &files)?;
        Ok(repo)
    }

    #[test]
    fn classes_methods_refs_instances() {
        let repo = compile(
            r#"
            // line comment
            /* block
               comment */
            [Abstract, Description ("A base " "class" " with \"escapes\"\t\x41")]
            class T_Base {
                [Key, Description("id")] string InstanceID;
                uint8 Small = 0x1F;
                sint32 Neg = -12;
                uint16 Oct = 017;
                uint8 Bin = 101b;
                real64 R = -1.5e3;
                char16 C = '\n';
                string Arr[] = {"a", "b"};
                uint8 Fixed[4];
                datetime When = "20260101000000.000000+000";
                [MaxValue(-1)] sint64 M;
                uint32 Go([In, EmbeddedInstance("T_Base")] string Settings, [In(false), Out] T_Base REF Result, uint16 List[]);
            };
            class T_Leaf : T_Base {
                [Override("Small")] uint8 Small = 2;
            };
            [Association] class T_Assoc {
                [Key] T_Base REF A;
                [Key] T_Base REF B;
            };
            instance of T_Leaf as $leaf { InstanceID = "one"; Small = 3; Arr = {"x"}; };
            instance of T_Assoc { A = $leaf; B = "root/test:T_Leaf.InstanceID=\"one\""; };
            "#,
        )
        .expect("compile");
        let ns = repo.namespace("root/test").expect("ns");
        let base = ns.class("T_Base").expect("base");
        assert_eq!(
            base.qualifiers.qualifier_str("Description"),
            Some("A base class with \"escapes\"\tA")
        );
        let get = |n: &str| base.property(n).expect(n).default.clone();
        assert_eq!(get("Small"), Value::Uint8(31));
        assert_eq!(get("Neg"), Value::Sint32(-12));
        assert_eq!(get("Oct"), Value::Uint16(15));
        assert_eq!(get("Bin"), Value::Uint8(5));
        assert_eq!(get("R"), Value::Real64(-1500.0));
        assert_eq!(get("C"), Value::Char16('\n'));
        assert_eq!(
            base.property("Fixed").expect("Fixed").ty.array,
            Arrayness::Fixed(4)
        );
        assert!(matches!(get("When"), Value::DateTime(_)));
        let go = base.method("go").expect("method");
        assert_eq!(go.return_type, CimType::Uint32);
        assert_eq!(
            go.parameters[0].ty.ty,
            CimType::EmbeddedInstance(Some("T_Base".into()))
        );
        assert!(go.parameters[1].is_out() && !go.parameters[1].is_in());
        assert_eq!(
            go.parameters[1].ty.ty,
            CimType::Reference(Some("T_Base".into()))
        );
        assert!(go.parameters[2].ty.is_array());
        let leaf = ns.class("T_Leaf").expect("leaf");
        assert!(!leaf.is_abstract());
        assert_eq!(
            leaf.property("Small").expect("Small").default,
            Value::Uint8(2)
        );
        assert_eq!(
            leaf.method("Go")
                .expect("inherited method")
                .class_origin
                .as_deref(),
            Some("T_Base")
        );
        assert!(ns.class("T_Assoc").expect("assoc").is_association());
        let instances = ns.instances();
        assert_eq!(instances.len(), 2);
        assert_eq!(instances[0].get("Small"), Some(&Value::Uint8(3)));
        let (a, b) = (
            instances[1].get("A").expect("A"),
            instances[1].get("B").expect("B"),
        );
        assert!(matches!((a, b), (Value::Reference(x), Value::Reference(y)) if x.same_object(y)));
    }

    #[test]
    fn errors_have_positions() {
        let cases: &[(&str, &str)] = &[
            ("class A {\n  string x\n};", ":4:1:"),
            ("class A { strin x; };", "unknown data type"),
            ("[Nope] class A { };", "not declared"),
            ("class A : Missing { };", "does not exist"),
            ("class A { uint8 x = 300; };", "out of range"),
            ("class A { string s = \"abc; };", "unterminated string"),
            ("class A { string s = \"\\q\"; };", "invalid escape"),
            ("/* open", "unterminated comment"),
            ("class A { uint8 x = 12z; };", "invalid number"),
            ("instance of Nope { };", "does not exist"),
            ("#pragma include (\"missing.mof\")", "cannot include"),
            ("class A { [Override] string x; };", "needs a value"),
        ];
        for (text, expected) in cases {
            let err = compile(text).expect_err(text);
            let shown = err.to_string();
            assert!(shown.contains(expected), "{text}: {shown}");
            assert!(shown.starts_with("dir/main.mof:"), "{shown}");
        }
        let err = compile("class A {\n  string x\n};").expect_err("missing semicolon");
        assert_eq!((err.line, err.column), (4, 1)); // line 1 is the include pragma
    }

    #[test]
    fn embedded_instance_mof() {
        let repo =
            compile("class T_Set { [Key] string InstanceID; uint16 Kind; string Names[]; };")
                .expect("compile");
        let ns = repo.namespace("root/test").expect("ns");
        let inst = parse_instance_mof(ns, "instance of T_Set { InstanceID = \"KVM:vm4\"; Kind = 4; isFullVirt = true; Names = {\"a\"}; }")
            .expect("parse");
        assert_eq!(inst.class_name, "T_Set");
        assert_eq!(inst.get("Kind"), Some(&Value::Uint16(4)));
        assert_eq!(inst.get_str("InstanceID"), Some("KVM:vm4"));
        assert!(
            inst.get("isFullVirt").is_none(),
            "unknown properties are dropped"
        );
        assert_eq!(inst.property("Names").map(|p| p.ty.is_array()), Some(true));
        for bad in [
            "instance of Nope { };",
            "class X { };",
            "instance of T_Set { Kind = \"x\"; };",
            "instance of T_Set {",
        ] {
            assert!(parse_instance_mof(ns, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pragma_namespace_switches() {
        let repo = compile("#pragma namespace (\"root/other\")\n#pragma locale (\"en_US\")\n")
            .expect("compile");
        assert!(repo.namespace("root/other").is_ok());
    }
}
