//! Short import, export and module names for the shipped wasm, and the JS glue rewritten to
//! match.
//!
//! wasm-bindgen names every import `__wbg_<method>_<16 hex digits>`; with ~130 imports the
//! names alone are several KB in both the wasm and the glue, and the hashes do not compress.
//! binaryen's `--minify-imports-and-exports-and-modules` renames them and prints the mapping;
//! this module applies that mapping to the glue. Every rename is checked: a name the glue does
//! not use exactly as expected fails the build rather than shipping a package that cannot load.

use std::collections::HashMap;

/// What binaryen renamed.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Mapping {
    /// `(module, old name) -> new name` for imports.
    pub(crate) imports: HashMap<(String, String), String>,
    /// `old -> new` for exports.
    pub(crate) exports: HashMap<String, String>,
}

/// Reads the mapping binaryen prints: lines `["module", "old", "new"]` under `"imports"` and
/// `["old", "new"]` under `"exports"`.
pub(crate) fn parse_mapping(text: &str) -> Result<Mapping, String> {
    let mut mapping = Mapping::default();
    for line in text.lines() {
        let line = line.trim().trim_end_matches(',');
        if !(line.starts_with('[') && line.ends_with(']')) || line == "[" || line == "]" {
            continue;
        }
        let fields: Vec<String> = line[1..line.len() - 1]
            .split(',')
            .map(|f| f.trim().trim_matches('"').to_owned())
            .collect();
        match fields.as_slice() {
            [module, old, new] => {
                mapping
                    .imports
                    .insert((module.clone(), old.clone()), new.clone());
            }
            [old, new] => {
                mapping.exports.insert(old.clone(), new.clone());
            }
            _ => return Err(format!("unexpected mapping line: {line}")),
        }
    }
    if mapping.imports.is_empty() || mapping.exports.is_empty() {
        return Err("binaryen printed no name mapping".into());
    }
    Ok(mapping)
}

/// The module name of the first import in a wasm binary (after minifying there is one module).
pub(crate) fn first_import_module(wasm: &[u8]) -> Result<String, String> {
    use crate::order::uleb;
    if wasm.get(..4) != Some(b"\0asm") {
        return Err("not a wasm binary".into());
    }
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = uleb(wasm, &mut at)?;
        if id == 2 {
            let mut p = at;
            let count = uleb(wasm, &mut p)?;
            if count == 0 {
                break;
            }
            let len = uleb(wasm, &mut p)?;
            let name = wasm.get(p..p + len).ok_or("truncated import name")?;
            return String::from_utf8(name.to_vec()).map_err(|e| e.to_string());
        }
        at += size;
    }
    Err("the wasm has no imports".into())
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// Rewrites wasm-bindgen's `--target web` glue for the renamed wasm: import keys in the import
/// object, `wasm.<export>` uses, and the import module's key.
pub(crate) fn rewrite_glue(
    glue: &str,
    mapping: &Mapping,
    old_module: &str,
    new_module: &str,
) -> Result<String, String> {
    let imports: HashMap<&str, &str> = mapping
        .imports
        .iter()
        .map(|((module, old), new)| {
            if module == old_module {
                Ok((old.as_str(), new.as_str()))
            } else {
                Err(format!("unexpected import module {module}"))
            }
        })
        .collect::<Result<_, String>>()?;
    let mut out = String::with_capacity(glue.len());
    let mut renamed_imports = 0;
    let mut rest = glue;
    while let Some(start) = rest.find(is_ident) {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let len = tail.find(|c| !is_ident(c)).unwrap_or(tail.len());
        let (ident, after) = tail.split_at(len);
        let prev = out.chars().next_back();
        let replacement = if prev.is_some_and(is_ident) {
            None
        } else if out.ends_with("wasm.") {
            mapping.exports.get(ident).map(String::as_str)
        } else if after.starts_with(':') {
            let hit = imports.get(ident).copied();
            renamed_imports += usize::from(hit.is_some());
            hit
        } else {
            None
        };
        out.push_str(replacement.unwrap_or(ident));
        rest = after;
    }
    out.push_str(rest);
    if renamed_imports != imports.len() {
        return Err(format!(
            "the glue defines {renamed_imports} of the wasm's {} imports",
            imports.len()
        ));
    }
    let key = format!("\"{old_module}\"");
    if out.matches(&key).count() != 1 {
        return Err(format!("the glue does not name module {key} exactly once"));
    }
    let out = out.replace(&key, &format!("\"{new_module}\""));
    let leftover: Vec<&String> = mapping
        .exports
        .keys()
        .filter(|old| out.contains(&format!("wasm.{old}")))
        .collect();
    if !leftover.is_empty() {
        return Err(format!("exports left unrenamed in the glue: {leftover:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"{
 "imports": [
  ["./x_bg.js", "__wbg_stop_633f", "$"],
  ["./x_bg.js", "__wbg_set_2793", "a"]
 ],
"exports": [
  ["memory", "b"],
  ["client_connect", "c"]
 ]
}"#;

    #[test]
    fn rewrites_keys_uses_and_module() {
        let glue = r#"function imports() {
    const import0 = {
        __wbg_set_2793: function(a) { a.set(); },
        __wbg_stop_633f: function(a) { a.stop(); },
    };
    return { "./x_bg.js": import0 };
}
const m = wasm.memory.buffer; wasm.client_connect(1); my.client_connect(2); const __wbg_set_2793x = 1;"#;
        let mapping = parse_mapping(MAP).unwrap();
        let out = rewrite_glue(glue, &mapping, "./x_bg.js", "q").unwrap();
        assert!(out.contains("a: function(a) { a.set(); }"), "{out}");
        assert!(out.contains("$: function(a) { a.stop(); }"), "{out}");
        assert!(out.contains(r#"{ "q": import0 }"#), "{out}");
        assert!(
            out.contains("wasm.b.buffer; wasm.c(1); my.client_connect(2)"),
            "{out}"
        );
        assert!(out.contains("__wbg_set_2793x = 1"), "{out}");
    }

    #[test]
    fn a_missing_import_fails() {
        let glue = r#"const import0 = { __wbg_set_2793: 1 }; x = { "./x_bg.js": import0 };"#;
        let err = rewrite_glue(glue, &parse_mapping(MAP).unwrap(), "./x_bg.js", "q").unwrap_err();
        assert!(err.contains("1 of the wasm's 2 imports"), "{err}");
    }

    #[test]
    fn reads_the_first_import_module() {
        // header; type section (1 type: () -> ()); import section: module "ab", name "c", func 0
        let wasm = [
            0, b'a', b's', b'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, 8, 1, 2, b'a', b'b', 1, b'c',
            0, 0,
        ];
        assert_eq!(first_import_module(&wasm).unwrap(), "ab");
        assert!(first_import_module(b"nope").is_err());
    }
}
