//! WQL subset for ExecQuery, pure: `SELECT * | prop, ... FROM class [WHERE cond]`, where conditions compare a
//! property with a literal (`= <> != < <= > >=`, `IS [NOT] NULL`, and `prop ISA class` for an embedded instance
//! or reference of that class or a subclass: `SourceInstance ISA CIM_ConcreteJob`) and combine with AND, OR, NOT
//! and parentheses; the same conditions alone are the DMTF:FQL subset of the pull operations' FilterQuery.

use crate::cim::{Instance, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid WQL query: {0}")]
pub struct QueryError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i128),
    Real(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Property(String),
    Literal(Literal),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(Operand, CmpOp, Operand),
    IsNull(String, bool),
    /// The property holds an embedded instance (or a reference) of this class or a subclass.
    Isa(String, String),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None` for `SELECT *`.
    pub properties: Option<Vec<String>>,
    pub class_name: String,
    pub condition: Option<Cond>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Sym(&'static str),
}

const MAX_QUERY_LEN: usize = 64 * 1024;
const MAX_DEPTH: usize = 64;

fn tokenize(text: &str) -> Result<Vec<Tok>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return err("unterminated string"),
                    Some('\\') if chars.get(i + 1).is_some() => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        s.push(other);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let sym = match two.as_str() {
                "<>" => "<>",
                "!=" => "!=",
                "<=" => "<=",
                ">=" => ">=",
                _ => match c {
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    '*' => "*",
                    _ => return err(format!("unexpected character {c:?}")),
                },
            };
            i += sym.len();
            out.push(Tok::Sym(sym));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(t)) if *t == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, QueryError> {
        match self.toks.get(self.pos) {
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                Ok(w.clone())
            }
            _ => err(format!("expected {what}")),
        }
    }

    fn or(&mut self) -> Result<Cond, QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("condition nested too deeply");
        }
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, QueryError> {
        let mut left = self.not()?;
        while self.keyword("AND") {
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, QueryError> {
        if self.keyword("NOT") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return err("condition nested too deeply");
            }
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        if self.sym("(") {
            let inner = self.or()?;
            if !self.sym(")") {
                return err("expected ')'");
            }
            return Ok(inner);
        }
        let left = self.operand()?;
        if self.keyword("ISA") {
            let class = self.ident("a class name after ISA")?;
            return match left {
                Operand::Property(p) => Ok(Cond::Isa(p, class)),
                Operand::Literal(_) => err("ISA needs a property"),
            };
        }
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            if !self.keyword("NULL") {
                return err("expected NULL after IS");
            }
            return match left {
                Operand::Property(p) => Ok(Cond::IsNull(p, !negated)),
                Operand::Literal(_) => err("IS NULL needs a property"),
            };
        }
        let op = match self.toks.get(self.pos) {
            Some(Tok::Sym("=")) => CmpOp::Eq,
            Some(Tok::Sym("<>" | "!=")) => CmpOp::Ne,
            Some(Tok::Sym("<")) => CmpOp::Lt,
            Some(Tok::Sym("<=")) => CmpOp::Le,
            Some(Tok::Sym(">")) => CmpOp::Gt,
            Some(Tok::Sym(">=")) => CmpOp::Ge,
            _ => return err("expected a comparison operator"),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Cond::Cmp(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        Ok(match tok {
            Some(Tok::Str(s)) => Operand::Literal(Literal::Str(s)),
            Some(Tok::Num(n)) => Operand::Literal(parse_number(&n)?),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("TRUE") => {
                Operand::Literal(Literal::Bool(true))
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("FALSE") => {
                Operand::Literal(Literal::Bool(false))
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("NULL") => {
                Operand::Literal(Literal::Null)
            }
            Some(Tok::Ident(w)) => Operand::Property(w),
            _ => return err("expected a property or a literal"),
        })
    }
}

fn parse_number(text: &str) -> Result<Literal, QueryError> {
    if let Ok(n) = text.parse::<i128>() {
        return Ok(Literal::Int(n));
    }
    let lower = text.to_ascii_lowercase();
    let (neg, body) = match lower.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, lower.trim_start_matches('+')),
    };
    if let Some(hex) = body.strip_prefix("0x") {
        if let Ok(n) = i128::from_str_radix(hex, 16) {
            return Ok(Literal::Int(if neg { -n } else { n }));
        }
    }
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() => Ok(Literal::Real(r)),
        _ => err(format!("invalid number {text:?}")),
    }
}

/// Parses a WQL query.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY_LEN {
        return err("query too long");
    }
    let mut p = Parser {
        toks: tokenize(text)?,
        pos: 0,
        depth: 0,
    };
    if !p.keyword("SELECT") {
        return err("expected SELECT");
    }
    let properties = if p.sym("*") {
        None
    } else {
        let mut props = vec![p.ident("a property name or *")?];
        while p.sym(",") {
            props.push(p.ident("a property name")?);
        }
        Some(props)
    };
    if !p.keyword("FROM") {
        return err("expected FROM");
    }
    let class_name = p.ident("a class name")?;
    let condition = if p.keyword("WHERE") {
        Some(p.or()?)
    } else {
        None
    };
    if p.pos < p.toks.len() {
        return err("unexpected text after the query");
    }
    Ok(Query {
        properties,
        class_name,
        condition,
    })
}

/// Parses a filter of the pull operations (FilterQueryLanguage `DMTF:FQL`, DSP0212): one condition in the
/// grammar of a WQL WHERE clause.
pub fn parse_filter(text: &str) -> Result<Cond, QueryError> {
    if text.len() > MAX_QUERY_LEN {
        return err("filter too long");
    }
    let mut p = Parser {
        toks: tokenize(text)?,
        pos: 0,
        depth: 0,
    };
    if p.toks.is_empty() {
        return err("empty filter");
    }
    let cond = p.or()?;
    if p.pos < p.toks.len() {
        return err("unexpected text after the filter");
    }
    Ok(cond)
}

/// Whether class `sub` is class `sup` or derives from it (ISA); without a schema, the same name only.
pub type IsaCheck<'a> = &'a dyn Fn(&str, &str) -> bool;

fn same_class(sub: &str, sup: &str) -> bool {
    sub.eq_ignore_ascii_case(sup)
}

impl Cond {
    /// Whether an instance satisfies the condition (a comparison with NULL is false).
    pub fn matches(&self, inst: &Instance) -> bool {
        eval(self, inst, &same_class)
    }
}

fn literal_of(value: &Value) -> Literal {
    match value {
        Value::Null => Literal::Null,
        Value::Boolean(b) => Literal::Bool(*b),
        Value::Real32(r) => Literal::Real(f64::from(*r)),
        Value::Real64(r) => Literal::Real(*r),
        other => match other.as_i128() {
            Some(n) => Literal::Int(n),
            None => match other.to_text() {
                Some(t) => Literal::Str(t),
                None => Literal::Null,
            },
        },
    }
}

fn compare(a: &Literal, b: &Literal) -> Option<std::cmp::Ordering> {
    use Literal::*;
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Real(x), Real(y)) => x.partial_cmp(y),
        #[allow(clippy::cast_precision_loss)]
        (Int(x), Real(y)) => (*x as f64).partial_cmp(y),
        #[allow(clippy::cast_precision_loss)]
        (Real(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        // A number compared with a string property written as digits (or the reverse).
        (Str(s), Int(_) | Real(_)) => compare(&parse_number(s).ok()?, b),
        (Int(_) | Real(_), Str(s)) => compare(a, &parse_number(s).ok()?),
        _ => None,
    }
}

impl Query {
    /// Whether an instance satisfies the WHERE clause (a comparison with NULL is false).
    pub fn matches(&self, inst: &Instance) -> bool {
        self.matches_with(inst, &same_class)
    }

    /// [`Query::matches`] with ISA answered by `isa` (the class hierarchy of the namespace).
    pub fn matches_with(&self, inst: &Instance, isa: IsaCheck<'_>) -> bool {
        self.condition.as_ref().is_none_or(|c| eval(c, inst, isa))
    }
}

fn operand_value(op: &Operand, inst: &Instance) -> Literal {
    match op {
        Operand::Literal(l) => l.clone(),
        Operand::Property(p) => inst.get(p).map_or(Literal::Null, literal_of),
    }
}

fn eval(cond: &Cond, inst: &Instance, isa: IsaCheck<'_>) -> bool {
    match cond {
        Cond::And(a, b) => eval(a, inst, isa) && eval(b, inst, isa),
        Cond::Or(a, b) => eval(a, inst, isa) || eval(b, inst, isa),
        Cond::Not(a) => !eval(a, inst, isa),
        Cond::IsNull(p, want_null) => inst.get(p).is_none_or(Value::is_null) == *want_null,
        Cond::Isa(p, class) => match inst.get(p) {
            Some(Value::Instance(embedded)) => isa(&embedded.class_name, class),
            Some(Value::Reference(path)) => isa(&path.class_name, class),
            _ => false,
        },
        Cond::Cmp(l, op, r) => {
            let (l, r) = (operand_value(l, inst), operand_value(r, inst));
            let Some(ord) = compare(&l, &r) else {
                return false;
            };
            use std::cmp::Ordering::*;
            match op {
                CmpOp::Eq => ord == Equal,
                CmpOp::Ne => ord != Equal,
                CmpOp::Lt => ord == Less,
                CmpOp::Le => ord != Greater,
                CmpOp::Gt => ord == Greater,
                CmpOp::Ge => ord != Less,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst() -> Instance {
        let mut i = Instance::new("KVM_ComputerSystem");
        i.set("Name", Value::String("web1".into()));
        i.set("EnabledState", Value::Uint16(2));
        i.set("Description", Value::Null);
        i
    }

    #[test]
    fn parses_and_evaluates() {
        let cases = [
            ("SELECT * FROM KVM_ComputerSystem", true),
            (
                "select Name from KVM_ComputerSystem where EnabledState = 2",
                true,
            ),
            ("SELECT * FROM c WHERE EnabledState <> 2", false),
            (
                "SELECT * FROM c WHERE Name = 'web1' AND EnabledState >= 2",
                true,
            ),
            (
                "SELECT * FROM c WHERE Name = \"x\" OR (EnabledState < 3 AND NOT Name = 'y')",
                true,
            ),
            ("SELECT * FROM c WHERE NOT (EnabledState = 2)", false),
            ("SELECT * FROM c WHERE Description IS NULL", true),
            ("SELECT * FROM c WHERE Description IS NOT NULL", false),
            ("SELECT * FROM c WHERE Missing = 1", false),
            ("SELECT * FROM c WHERE EnabledState = 0x2", true),
            ("SELECT * FROM c WHERE EnabledState > 1.5", true),
        ];
        for (text, expected) in cases {
            let q = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(q.matches(&inst()), expected, "{text}");
        }
        // ISA: the embedded instance's class or a superclass of it, through the schema the caller knows.
        let mut ind = Instance::new("CIM_InstModification");
        ind.set(
            "SourceInstance",
            Value::Instance(Box::new(Instance::new("KVM_MigrationJob"))),
        );
        let schema = |sub: &str, sup: &str| {
            sub.eq_ignore_ascii_case(sup)
                || (sub == "KVM_MigrationJob" && ["CIM_ConcreteJob", "CIM_Job"].contains(&sup))
        };
        let isa = |text: &str| parse(text).unwrap().matches_with(&ind, &schema);
        assert!(isa(
            "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA CIM_ConcreteJob"
        ));
        assert!(isa(
            "SELECT * FROM x WHERE SourceInstance ISA KVM_MigrationJob AND NOT Missing = 1"
        ));
        assert!(!isa(
            "SELECT * FROM x WHERE SourceInstance ISA KVM_ComputerSystem"
        ));
        assert!(!isa(
            "SELECT * FROM x WHERE PreviousInstance ISA CIM_ConcreteJob"
        ));
        // Without a schema only the class itself counts.
        assert!(
            !parse("SELECT * FROM x WHERE SourceInstance ISA CIM_ConcreteJob")
                .unwrap()
                .matches(&ind)
        );
        assert!(parse("SELECT * FROM x WHERE 'a' ISA CIM_Job").is_err());
        assert!(parse("SELECT * FROM x WHERE SourceInstance ISA").is_err());
        let q = parse("SELECT Name, EnabledState FROM KVM_ComputerSystem").unwrap();
        assert_eq!(
            q.properties,
            Some(vec!["Name".to_string(), "EnabledState".to_string()])
        );
        assert_eq!(q.class_name, "KVM_ComputerSystem");
    }

    #[test]
    fn filters_parse_and_evaluate() {
        let i = inst();
        assert!(parse_filter("Name = 'web1'").unwrap().matches(&i));
        assert!(parse_filter("Name = \"web1\" AND NOT Name <> 'web1'")
            .unwrap()
            .matches(&i));
        assert!(!parse_filter("Name = 'web2'").unwrap().matches(&i));
        assert!(parse_filter("").is_err());
        assert!(parse_filter("SELECT * FROM X").is_err());
        assert!(parse_filter("Name = 'a' Name").is_err());
    }

    #[test]
    fn rejects_bad_queries() {
        for text in [
            "",
            "SELECT",
            "SELECT * FROM",
            "SELECT * c",
            "SELECT * FROM c WHERE",
            "SELECT * FROM c WHERE (Name = 'a'",
            "SELECT * FROM c WHERE Name = 'a",
            "SELECT * FROM c WHERE Name ~ 1",
            "SELECT * FROM c extra",
            "DELETE FROM c",
        ] {
            assert!(parse(text).is_err(), "{text:?} should fail");
        }
        let deep = format!(
            "SELECT * FROM c WHERE {}a = 1{}",
            "(".repeat(500),
            ")".repeat(500)
        );
        assert!(parse(&deep).is_err());
        let nots = format!("SELECT * FROM c WHERE {}a = 1", "NOT ".repeat(500));
        assert!(parse(&nots).is_err());
    }
}
