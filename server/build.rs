//! Builds the storefront payment button (`frontend/button`) into the one self-contained
//! script served at `/api/external-checkout/script` (SPEC §4.6): the WASM is compiled
//! with the size-optimised `wasm-release` profile, bound with the wasm-bindgen CLI,
//! shrunk with wasm-opt (after wasm-bindgen, as binaryen's and wasm-bindgen's
//! documentation say), its imports renamed short, and inlined into its JS glue (minified
//! with terser) as a string of one character per byte. Paths are remapped so the bytes —
//! and the SRI hash registered with Cafe24 — do not depend on where the build ran.
//!
//! wasm-opt is the pinned binaryen of `.dev/tools` (npm) when it is installed, else the
//! one on PATH, and only from [`MIN_BINARYEN`] on: older releases (Debian's 108) break the
//! externref table that wasm-bindgen's output grows at start.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn fail(message: &str) -> ! {
    panic!("building the storefront button: {message} (the README's .dev/test and .dev/run install what it needs)");
}

fn run(command: &mut Command, what: &str) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!("{what} failed with {status}")),
        Err(e) => fail(&format!("{what} could not start: {e}")),
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// The oldest binaryen whose `wasm-opt -Oz` keeps wasm-bindgen 0.2.117's output
/// instantiable (checked in Chromium against the npm releases; see the README).
const MIN_BINARYEN: u32 = 110;

/// `wasm-opt version 132 (version_132)` → 132.
fn binaryen_version(tool: &Path) -> Option<u32> {
    let output = Command::new(tool).arg("--version").output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rest = text.split("version").nth(1)?;
    rest.trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The wasm-opt to use, if a recent enough one is installed.
fn find_wasm_opt(workspace: &Path) -> Option<PathBuf> {
    let pinned = workspace.join(".dev").join("tools").join("node_modules").join(".bin").join("wasm-opt");
    for candidate in [pinned, PathBuf::from("wasm-opt")] {
        match binaryen_version(&candidate) {
            Some(version) if version >= MIN_BINARYEN => return Some(candidate),
            Some(version) => println!(
                "cargo:warning={} is binaryen {version}, older than {MIN_BINARYEN}, which breaks wasm-bindgen's output: \
                 not used",
                candidate.display()
            ),
            None => {}
        }
    }
    None
}

/// The pinned terser of `.dev/tools` (npm), when installed.
fn find_terser(workspace: &Path) -> Option<PathBuf> {
    let pinned = workspace.join(".dev").join("tools").join("node_modules").join(".bin").join("terser");
    have(pinned.to_str()?).then_some(pinned)
}

/// `bytes` as the body of a JS string literal, one character per byte (U+0000–U+00FF),
/// which the script reads back with `charCodeAt`. The script is sent as UTF-8, so a byte
/// from 0x80 takes two; gzip still takes 4.4 KB less of it than of base64, whose 6-bit
/// groups hide the module's byte patterns. Only what a string literal cannot hold is
/// escaped: the quote, the backslash and the two line terminators below U+0100 (a NUL
/// may stand in a literal as it is; an escaped one before a digit would be an octal
/// escape, which strict mode refuses).
fn js_latin1_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3 / 2);
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ => out.push(char::from(b)),
        }
    }
    out
}

/// Reads an unsigned LEB128 number at `at`; returns it and the position after it.
fn uleb(bytes: &[u8], mut at: usize) -> (usize, usize) {
    let (mut value, mut shift) = (0usize, 0);
    loop {
        let byte = bytes[at];
        at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (value, at);
        }
        shift += 7;
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

/// `a`, `b`, … `Z`, then `aa`, `ab`, …: short names that are JS identifiers.
fn short_name(mut n: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = vec![LETTERS[n % LETTERS.len()]];
    while n >= LETTERS.len() {
        n = n / LETTERS.len() - 1;
        name.insert(0, LETTERS[n % LETTERS.len()]);
    }
    String::from_utf8(name).expect("ASCII")
}

/// Gives the module's imports short names, in the module and in the glue alike.
/// wasm-bindgen names each import after its JS function and a hash
/// (`__wbg_set_onclick_60f72f3e80d65322`): 63 of those, twice each (the module's import
/// section, the glue's import object), cost the script about 1.2 KB gzipped. binaryen
/// renames imports only together with the exports and the module names.
///
/// Each import of the glue's object is one key `name:`; in the module, its name is a
/// length byte and the name, inside the import section (whose size is then written
/// again). A name found other than exactly once in either is left as it is.
fn shorten_imports(module: &[u8], glue: &str) -> (Vec<u8>, String) {
    // The import section: id 2, after the 8-byte header and the sections before it.
    let mut at = 8;
    let (start, end) = loop {
        if at >= module.len() {
            return (module.to_vec(), glue.to_owned());
        }
        let id = module[at];
        let (size, payload) = uleb(module, at + 1);
        if id == 2 {
            break (payload, payload + size);
        }
        at = payload + size;
    };
    let mut section = module[start..end].to_vec();
    let mut glue = glue.to_owned();
    let count_in = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).filter(|w| *w == needle).count();
    let mut keys: Vec<String> = Vec::new();
    for line in glue.lines() {
        let line = line.trim_start();
        if let Some(key) = line.split_once(": function").map(|(k, _)| k) {
            if key.starts_with("__wbg") && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                keys.push(key.to_owned());
            }
        }
    }
    let mut next = 0;
    for key in keys {
        if key.len() >= 0x80 {
            continue;
        }
        let mut encoded = vec![key.len() as u8];
        encoded.extend_from_slice(key.as_bytes());
        let in_glue = format!("{key}: function");
        if count_in(&section, &encoded) != 1 || glue.matches(&in_glue).count() != 1 {
            continue;
        }
        let short = short_name(next);
        next += 1;
        let at = section.windows(encoded.len()).position(|w| w == encoded.as_slice()).expect("counted once");
        let mut renamed = vec![short.len() as u8];
        renamed.extend_from_slice(short.as_bytes());
        section.splice(at..at + encoded.len(), renamed);
        glue = glue.replacen(&in_glue, &format!("{short}: function"), 1);
    }
    let mut out = module[..at].to_vec();
    out.push(2);
    push_uleb(&mut out, section.len());
    out.extend_from_slice(&section);
    out.extend_from_slice(&module[end..]);
    (out, glue)
}

/// Writes `bytes` unless the file already holds them, so that an unchanged button does
/// not make cargo recompile the server that embeds it.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| fail(&e.to_string()));
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().expect("server/ is inside the workspace").to_path_buf();
    let button = workspace.join("frontend").join("button");
    for watched in ["src", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", button.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());
    // The tools found (wasm-opt, wasm-bindgen) decide the bundle: build it again when PATH
    // or the pinned tools change, so installing wasm-opt later is not hidden by a cached
    // build. (`.dev/tools` always exists; cargo checks the files inside it.)
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-changed={}", workspace.join(".dev").join("tools").display());
    // `sqlx::migrate!` embeds the migrations; a new file alone must rebuild the server.
    println!("cargo:rerun-if-changed={}", workspace.join("migrations").display());
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir =
        env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target")).join("button");
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let remap = [
        format!("--remap-path-prefix={}=/paybridge", workspace.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
    ]
    .join("\u{1f}");

    run(
        Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&workspace)
            .args(["build", "--package", "paybridge-button", "--lib", "--locked"])
            .args(["--target", "wasm32-unknown-unknown", "--profile", "wasm-release"])
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env("CARGO_ENCODED_RUSTFLAGS", remap),
        "cargo build of paybridge-button for wasm32-unknown-unknown",
    );
    let wasm = target_dir.join("wasm32-unknown-unknown").join("wasm-release").join("paybridge_button.wasm");
    let bound = out.join("button");
    if !have("wasm-bindgen") {
        fail("the wasm-bindgen CLI is not on PATH");
    }
    run(
        Command::new("wasm-bindgen")
            .args(["--target", "no-modules", "--no-typescript", "--out-name", "button", "--out-dir"])
            .arg(&bound)
            .arg(&wasm),
        "wasm-bindgen",
    );
    let module = bound.join("button_bg.wasm");
    match find_wasm_opt(&workspace) {
        Some(wasm_opt) => run(
            Command::new(&wasm_opt)
                .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-reference-types"])
                .args(["--enable-sign-ext", "--enable-mutable-globals", "--enable-multivalue", "-o"])
                .arg(&module)
                .arg(&module),
            "wasm-opt",
        ),
        None => println!(
            "cargo:warning=no wasm-opt of binaryen {MIN_BINARYEN} or later: the storefront button is larger than it \
             needs to be (`npm ci --prefix .dev/tools` installs the pinned one)"
        ),
    }
    {
        let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| fail(&e.to_string()));
        let glue = String::from_utf8(read(&bound.join("button.js"))).unwrap_or_else(|e| fail(&e.to_string()));
        let (shortened, glue) = shorten_imports(&read(&module), &glue);
        std::fs::write(&module, shortened).unwrap_or_else(|e| fail(&e.to_string()));
        std::fs::write(bound.join("button.js"), glue).unwrap_or_else(|e| fail(&e.to_string()));
    }
    let glue_path = match find_terser(&workspace) {
        Some(terser) => {
            let minified = bound.join("button.min.js");
            run(
                Command::new(terser)
                    .arg(bound.join("button.js"))
                    .args(["--compress", "--mangle", "--output"])
                    .arg(&minified),
                "terser",
            );
            minified
        }
        None => {
            println!(
                "cargo:warning=no terser in .dev/tools: the storefront button's glue is not minified \
                 (`npm ci --prefix .dev/tools` installs the pinned one)"
            );
            bound.join("button.js")
        }
    };
    let glue = std::fs::read_to_string(glue_path).unwrap_or_else(|e| fail(&e.to_string()));
    let bytes = std::fs::read(&module).unwrap_or_else(|e| fail(&e.to_string()));
    let script = format!(
        "/*! paybridge storefront payment button {version} */\n\
         (function () {{\n\
         \"use strict\";\n\
         if (window.top !== window.self) return;\n\
         var src = document.currentScript ? document.currentScript.src : \"\";\n\
         {glue}\n\
         var b = \"{wasm}\", u = new Uint8Array(b.length);\n\
         for (var i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);\n\
         wasm_bindgen({{ module_or_path: u }}).then(function () {{ wasm_bindgen.start(src); }});\n\
         }})();\n",
        version = env!("CARGO_PKG_VERSION"),
        wasm = js_latin1_literal(&bytes),
    );
    write_if_changed(&out.join("storefront.js"), script.as_bytes());
}
