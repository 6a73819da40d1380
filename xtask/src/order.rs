//! The shipped wasm's functions in an order that compresses better.
//!
//! gzip finds repeats only within its 32 KiB window, and functions that look alike (the same
//! generic over different types, the same wasm-bindgen shim, the same prologue) are spread
//! over the module in the order the compiler emitted them. Sorted by signature, then by their
//! first bytes, alike functions sit next to each other: about 1.2 KB gzip less, and a few bytes
//! more raw (call indices change width).
//!
//! binaryen does the reordering (`--reorder-functions-by-name`, which renumbers every use);
//! this module only gives each function a name that is its sort key, in a fresh `name`
//! section. The names are dropped again when binaryen writes the module.

/// Bytes of a function body that go into its sort key; longer prefixes measure the same.
const KEY_BYTES: usize = 32;

/// Reads an unsigned LEB128 number at `at`, moving `at` past it.
pub(crate) fn uleb(bytes: &[u8], at: &mut usize) -> Result<usize, String> {
    let mut value = 0usize;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*at).ok_or("truncated wasm")?;
        *at += 1;
        value |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 28 {
            return Err("bad LEB128 in wasm".into());
        }
    }
}

fn push_uleb(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn skip_limits(bytes: &[u8], at: &mut usize) -> Result<(), String> {
    let flags = uleb(bytes, at)?;
    uleb(bytes, at)?;
    if flags & 1 != 0 {
        uleb(bytes, at)?;
    }
    Ok(())
}

/// The number of imported functions in an import section's contents.
fn imported_functions(section: &[u8]) -> Result<usize, String> {
    let mut at = 0;
    let mut functions = 0;
    for _ in 0..uleb(section, &mut at)? {
        for _ in 0..2 {
            let len = uleb(section, &mut at)?;
            at += len;
        }
        let kind = *section.get(at).ok_or("truncated import")?;
        at += 1;
        match kind {
            0 => {
                uleb(section, &mut at)?;
                functions += 1;
            }
            1 => {
                // A reference type (one byte without the GC proposal), then limits.
                at += 1;
                skip_limits(section, &mut at)?;
            }
            2 => skip_limits(section, &mut at)?,
            3 => at += 2,
            4 => {
                at += 1;
                uleb(section, &mut at)?;
            }
            other => return Err(format!("unknown import kind {other}")),
        }
    }
    Ok(functions)
}

/// `wasm` with a `name` section (replacing any) naming each defined function by its sort key:
/// type index, the hex of its first [`KEY_BYTES`] bytes, its index (unique names, ties kept
/// in order).
pub(crate) fn name_by_likeness(wasm: &[u8]) -> Result<Vec<u8>, String> {
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0") {
        return Err("not a wasm binary".into());
    }
    let mut out = wasm[..8].to_vec();
    let (mut imported, mut types, mut bodies) = (0, Vec::new(), Vec::new());
    let mut at = 8;
    while at < wasm.len() {
        let start = at;
        let id = wasm[at];
        at += 1;
        let size = uleb(wasm, &mut at)?;
        let contents = wasm.get(at..at + size).ok_or("truncated section")?;
        at += size;
        let mut p = 0;
        match id {
            0 => {
                let len = uleb(contents, &mut p)?;
                if contents.get(p..p + len) == Some(b"name") {
                    continue;
                }
            }
            2 => imported = imported_functions(contents)?,
            3 => {
                for _ in 0..uleb(contents, &mut p)? {
                    types.push(uleb(contents, &mut p)?);
                }
            }
            10 => {
                for _ in 0..uleb(contents, &mut p)? {
                    let len = uleb(contents, &mut p)?;
                    bodies.push(contents.get(p..p + len).ok_or("truncated code")?);
                    p += len;
                }
            }
            _ => {}
        }
        out.extend_from_slice(&wasm[start..at]);
    }
    if types.len() != bodies.len() {
        return Err("function and code sections disagree".into());
    }
    let mut names = Vec::new();
    push_uleb(&mut names, types.len());
    for (i, (ty, body)) in types.iter().zip(&bodies).enumerate() {
        let mut key = format!("{ty:06}");
        for b in body.iter().take(KEY_BYTES) {
            key.push_str(&format!("{b:02x}"));
        }
        key.push_str(&format!("-{i:06}"));
        push_uleb(&mut names, imported + i);
        push_uleb(&mut names, key.len());
        names.extend_from_slice(key.as_bytes());
    }
    let mut section = Vec::new();
    push_uleb(&mut section, 4);
    section.extend_from_slice(b"name");
    section.push(1);
    push_uleb(&mut section, names.len());
    section.extend_from_slice(&names);
    out.push(0);
    push_uleb(&mut out, section.len());
    out.extend_from_slice(&section);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with one imported and two defined functions of one type `() -> ()`.
    fn module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        m.extend([2, 7, 1, 1, b'm', 1, b'f', 0, 0]); // import m.f: func type 0
        m.extend([3, 3, 2, 0, 0]); // two functions of type 0
        m.extend([10, 9, 2, 3, 0, 0x01, 0x0b, 3, 0, 0x00, 0x0b]); // bodies: nop, unreachable
        m
    }

    #[test]
    fn names_defined_functions_by_type_and_body() {
        let named = name_by_likeness(&module()).unwrap();
        let text = String::from_utf8_lossy(&named);
        // Function 1 (the first defined) and 2: type 0, body bytes, index among the defined.
        assert!(text.contains("\x01\x1300000000010b-000000"), "{text:?}");
        assert!(text.contains("\x02\x1300000000000b-000001"), "{text:?}");
    }

    #[test]
    fn replaces_an_existing_name_section() {
        let once = name_by_likeness(&module()).unwrap();
        let twice = name_by_likeness(&once).unwrap();
        assert_eq!(once, twice);
    }
}
