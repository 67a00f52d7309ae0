//! Builds the storefront payment button (`frontend/button`) into the one self-contained
//! script served at `/api/external-checkout/script` (SPEC §4.6): the WASM is compiled
//! with the size-optimised `wasm-release` profile, shrunk with wasm-opt when it is
//! installed, bound with the wasm-bindgen CLI, and inlined (base64) into its JS glue.
//! Paths are remapped so the bytes — and the SRI hash registered with Cafe24 — do not
//! depend on where the build ran.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use base64::{engine::general_purpose::STANDARD, Engine};

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

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().expect("server/ is inside the workspace").to_path_buf();
    let button = workspace.join("frontend").join("button");
    for watched in ["src", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", button.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());
    // The tools found on PATH (wasm-opt, wasm-bindgen) decide the bundle: build it again
    // when PATH changes, so installing wasm-opt later is not hidden by a cached build.
    println!("cargo:rerun-if-env-changed=PATH");
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
    let mut wasm = target_dir.join("wasm32-unknown-unknown").join("wasm-release").join("paybridge_button.wasm");
    // wasm-opt runs before wasm-bindgen: older wasm-opt releases (Debian's 108) mangle
    // the externref table wasm-bindgen adds.
    if have("wasm-opt") {
        let optimised = out.join("button_opt.wasm");
        run(
            Command::new("wasm-opt")
                .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-reference-types"])
                .args(["--enable-sign-ext", "--enable-mutable-globals", "-o"])
                .arg(&optimised)
                .arg(&wasm),
            "wasm-opt",
        );
        wasm = optimised;
    } else {
        println!("cargo:warning=wasm-opt is not installed: the storefront button is larger than it needs to be");
    }
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
    let glue = std::fs::read_to_string(bound.join("button.js")).unwrap_or_else(|e| fail(&e.to_string()));
    let bytes = std::fs::read(&module).unwrap_or_else(|e| fail(&e.to_string()));
    let script = format!(
        "/*! paybridge storefront payment button {version} */\n\
         (function () {{\n\
         \"use strict\";\n\
         if (window.top !== window.self) return;\n\
         var src = document.currentScript ? document.currentScript.src : \"\";\n\
         {glue}\n\
         var b = atob(\"{wasm}\"), u = new Uint8Array(b.length);\n\
         for (var i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);\n\
         wasm_bindgen({{ module_or_path: u }}).then(function () {{ wasm_bindgen.start(src); }});\n\
         }})();\n",
        version = env!("CARGO_PKG_VERSION"),
        wasm = STANDARD.encode(bytes),
    );
    std::fs::write(out.join("storefront.js"), script).unwrap_or_else(|e| fail(&e.to_string()));
}
