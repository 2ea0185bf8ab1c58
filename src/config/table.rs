//! A streaming read of the memory backend's function table.
//!
//! A configuration may declare tens of thousands of `[[memory.functions]]`. Given to figment whole,
//! they become a value tree (and a merged copy of it) several times the size of the functions
//! themselves, and glibc keeps that peak after it is freed. So the file is split by its table
//! headers: the function tables are parsed in small batches straight into [`MemoryFunction`]s,
//! and only the rest (the settings) goes through figment.
//!
//! The split is line-based and conservative: any header it does not recognise as a function table
//! stays in the settings, where figment reads it as before. Lines inside multi-line strings are
//! never taken for headers.

use serde::Deserialize;

use super::MemoryFunction;

/// Function tables parsed per batch: small enough that a batch's parse tree stays small.
const BATCH: usize = 256;

/// The file without its `[[memory.functions]]` tables, and those functions, in file order.
#[derive(Debug, Default)]
pub struct Split {
    pub settings: String,
    pub functions: Vec<MemoryFunction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    memory: BatchMemory,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchMemory {
    functions: Vec<MemoryFunction>,
}

/// Split `text`; `Err` when a function table does not parse (the caller then parses the whole
/// file again for an error with the line and column).
pub fn split(text: &str) -> Result<Split, ()> {
    let mut split = Split::default();
    let mut batch = String::new();
    let mut in_batch = 0;
    let mut in_function = false;
    let mut multiline: Option<&str> = None;
    for line in text.split_inclusive('\n') {
        if multiline.is_none() {
            match header(line) {
                Some(Header::Function) => {
                    if in_batch == BATCH {
                        parse_batch(&mut batch, &mut split.functions)?;
                        in_batch = 0;
                    }
                    in_batch += 1;
                    in_function = true;
                }
                Some(Header::FunctionPart) if in_function => {}
                Some(_) => in_function = false,
                None => {}
            }
        }
        multiline = after_multiline(line, multiline);
        if in_function {
            batch.push_str(line);
            if !line.ends_with('\n') {
                batch.push('\n');
            }
        } else {
            split.settings.push_str(line);
        }
    }
    parse_batch(&mut batch, &mut split.functions)?;
    // Functions the split did not take (an inline array, or a table whose header it did not
    // recognise) beside ones it took: one list would silently replace the other, so the whole file
    // is read as one instead.
    if !split.functions.is_empty() && defines_functions(&split.settings) {
        return Err(());
    }
    Ok(split)
}

/// Whether the settings still define `memory.functions`.
fn defines_functions(settings: &str) -> bool {
    toml::from_str::<toml::Table>(settings).is_ok_and(|t| {
        t.get("memory")
            .and_then(toml::Value::as_table)
            .is_some_and(|m| m.contains_key("functions"))
    })
}

fn parse_batch(batch: &mut String, into: &mut Vec<MemoryFunction>) -> Result<(), ()> {
    if batch.is_empty() {
        return Ok(());
    }
    let parsed: Batch = toml::from_str(batch).map_err(|_| ())?;
    into.extend(parsed.memory.functions);
    batch.clear();
    Ok(())
}

enum Header {
    /// `[[memory.functions]]`: a new function.
    Function,
    /// `[memory.functions.…]`: a sub-table of the current function (its labels).
    FunctionPart,
    Other,
}

/// The table header this line opens, if any (spaces inside the brackets and a trailing comment
/// allowed; quoted keys are left to figment).
fn header(line: &str) -> Option<Header> {
    let line = line.trim_start();
    if !line.starts_with('[') {
        return None;
    }
    // A trailing comment may hold brackets of its own (`# replicas [1..5]`); unquoted keys hold no `#`.
    let line = match line.find('#') {
        Some(i) if !line[..i].contains(['"', '\'']) => &line[..i],
        _ => line,
    };
    let end = line.rfind(']')?;
    let inner: String = line[..=end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let rest = line[end + 1..].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Some(Header::Other);
    }
    Some(match inner.as_str() {
        "[[memory.functions]]" => Header::Function,
        s if s.starts_with("[memory.functions.") && !s.starts_with("[[") => Header::FunctionPart,
        _ => Header::Other,
    })
}

/// Whether a multi-line string (`"""` or `'''`) is still open after `line`, given the one open
/// before it.
fn after_multiline<'a>(line: &str, mut open: Option<&'a str>) -> Option<&'a str> {
    let mut rest = line;
    loop {
        match open {
            Some(delimiter) => match rest.find(delimiter) {
                Some(i) => {
                    rest = &rest[i + 3..];
                    open = None;
                }
                None => return open,
            },
            None => {
                let basic = rest.find("\"\"\"");
                let literal = rest.find("'''");
                let (i, delimiter) = match (basic, literal) {
                    (Some(b), Some(l)) if l < b => (l, "'''"),
                    (Some(b), _) => (b, "\"\"\""),
                    (None, Some(l)) => (l, "'''"),
                    (None, None) => return None,
                };
                // A comment before the delimiter makes it text.
                if rest[..i].contains('#') {
                    return None;
                }
                rest = &rest[i + 3..];
                open = Some(delimiter);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_tables_are_read_apart_from_the_settings() {
        let text = "listen = \"127.0.0.1:9\"\n[[memory.functions]]\nname = \"a\"\n\
            [memory.functions.labels]\n\"com.openfaas.scale.max\" = \"5\"\n\
            [policy]\nscale_down = \"ce\"\n[[ memory.functions ]] # second\nname = \"b\"\nreplicas = 3";
        let split = split(text).unwrap();
        assert_eq!(
            split.settings,
            "listen = \"127.0.0.1:9\"\n[policy]\nscale_down = \"ce\"\n"
        );
        let names: Vec<_> = split.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(split.functions[0].labels["com.openfaas.scale.max"], "5");
        assert_eq!(split.functions[1].replicas, 3);
        assert_eq!(split.functions[1].namespace, "openfaas-fn");
    }

    #[test]
    fn many_functions_keep_their_order_across_batches() {
        let text: String = (0..BATCH * 2 + 7)
            .map(|i| format!("[[memory.functions]]\nname = \"fn-{i}\"\n"))
            .collect();
        let split = split(&text).unwrap();
        assert_eq!(split.functions.len(), BATCH * 2 + 7);
        assert!(
            split
                .functions
                .iter()
                .enumerate()
                .all(|(i, f)| f.name == format!("fn-{i}"))
        );
        assert!(split.settings.is_empty());
    }

    #[test]
    fn headers_inside_multiline_strings_are_text() {
        let text = "[[memory.functions]]\nname = \"a\"\n[memory.functions.labels]\nnote = \"\"\"\n\
            [[memory.functions]]\n\"\"\"\n[auth]\nmode = \"none\"\n";
        let split = split(text).unwrap();
        assert_eq!(split.functions.len(), 1);
        assert_eq!(split.functions[0].labels["note"], "[[memory.functions]]\n");
        assert_eq!(split.settings, "[auth]\nmode = \"none\"\n");
    }

    #[test]
    fn a_bad_function_table_is_an_error() {
        assert!(split("[[memory.functions]]\nname = \"a\"\ntypo = 1\n").is_err());
        assert!(split("[[memory.functions]]\nreplicas = 1\n").is_err());
    }
}
