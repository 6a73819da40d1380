//! The steps behind each command.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::minify;

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` when set).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Runs a command from the workspace root, echoing it; fails on a non-zero exit.
pub(crate) fn run(program: &str, args: &[&str]) -> Result {
    run_in(&root(), program, args, &[])
}

pub(crate) fn run_in(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result {
    eprintln!("\n==> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Installs the wasm32 target when rustup lacks it.
pub(crate) fn ensure_wasm_target() -> Result {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run("rustup", &["target", "add", "wasm32-unknown-unknown"])
}

/// The `wasm-bindgen` version pinned in Cargo.lock; the CLI must match it exactly.
fn locked_wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == r#"name = "wasm-bindgen""#
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
        {
            return Ok(v.trim_matches('"').to_string());
        }
    }

    Err("wasm-bindgen is not in Cargo.lock".into())
}

/// Installs wasm-bindgen-cli at the locked version when missing or different (~5 min).
pub(crate) fn ensure_wasm_bindgen() -> Result {
    let want = locked_wasm_bindgen_version()?;
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want.as_str()) {
        return Ok(());
    }
    // Not --locked: the CLI's own lock file names a crate version the registry mirror lacks.
    run(
        "cargo",
        &["install", "wasm-bindgen-cli", "--version", &want],
    )
}

/// Installs Debian's Chromium and ChromeDriver when missing.
pub(crate) fn ensure_chromium() -> Result {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    run("apt-get", &["update"])?;
    run(
        "apt-get",
        &[
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ],
    )
}

/// Installs ffmpeg when missing: the native end-to-end test encodes its test pattern with it.
pub(crate) fn ensure_ffmpeg() -> Result {
    if Path::new("/usr/bin/ffmpeg").exists() {
        return Ok(());
    }
    run("apt-get", &["update"])?;
    run(
        "apt-get",
        &["install", "-y", "--no-install-recommends", "ffmpeg"],
    )
}

/// Installs coturn when missing: the server's tests run a real `turnserver` on loopback.
pub(crate) fn ensure_coturn() -> Result {
    if output("turnserver", &["--version"]).is_some() {
        return Ok(());
    }
    run("apt-get", &["update"])?;
    run(
        "apt-get",
        &["install", "-y", "--no-install-recommends", "coturn"],
    )
}

/// Where Debian puts Firefox ESR; the end-to-end tests get it as `FIREFOX`.
const FIREFOX: &str = "/usr/bin/firefox-esr";
/// The geckodriver release the end-to-end tests drive Firefox ESR with (≥ 0.36 pairs with
/// Firefox ≥ 128 ESR).
const GECKODRIVER_VERSION: &str = "0.37.1";

/// Installs Debian's Firefox ESR, Xvfb and xauth (Firefox runs headed on its own X display:
/// its getDisplayMedia needs a screen), PulseAudio (its sound output) and geckodriver when
/// missing.
pub(crate) fn ensure_firefox() -> Result {
    let missing: Vec<&str> = [
        ("firefox-esr", FIREFOX),
        ("xvfb", "/usr/bin/Xvfb"),
        ("xauth", "/usr/bin/xauth"),
        // Firefox's sound goes to a null sink: without an output an AudioContext never runs.
        ("pulseaudio", "/usr/bin/pulseaudio"),
    ]
    .into_iter()
    .filter(|(_, bin)| !Path::new(bin).exists())
    .map(|(package, _)| package)
    .collect();
    if !missing.is_empty() {
        run("apt-get", &["update"])?;
        let mut args = vec!["install", "-y"];
        args.extend(&missing);
        run("apt-get", &args)?;
    }
    let have = output("geckodriver", &["--version"]).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(GECKODRIVER_VERSION) {
        run(
            "cargo",
            &[
                "install",
                "geckodriver",
                "--version",
                GECKODRIVER_VERSION,
                "--locked",
            ],
        )?;
    }
    Ok(())
}

/// `npm install` in `dir` when its node_modules is missing or older than package.json.
pub(crate) fn ensure_npm(dir: &Path) -> Result {
    let modules = dir.join("node_modules");
    let stale = match (
        std::fs::metadata(dir.join("package.json")),
        std::fs::metadata(&modules),
    ) {
        (Ok(p), Ok(m)) => p.modified().ok() > m.modified().ok(),
        _ => true,
    };
    if stale {
        run_in(dir, "npm", &["install", "--no-audit", "--no-fund"], &[])?;
    }
    Ok(())
}

fn wasm_tests() -> Result {
    run_in(
        &root(),
        "cargo",
        &[
            "test",
            "-p",
            "assistrtc-wasm",
            "--target",
            "wasm32-unknown-unknown",
        ],
        &[
            ("CHROMEDRIVER", "/usr/bin/chromedriver"),
            ("WASM_BINDGEN_TEST_TIMEOUT", "120"),
        ],
    )
}

pub(crate) fn test() -> Result {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    ensure_chromium()?;
    ensure_firefox()?;
    ensure_coturn()?;
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "cargo",
        &[
            "clippy",
            "-p",
            "assistrtc-wasm",
            "--target",
            "wasm32-unknown-unknown",
            "--all-targets",
            // Every feature: the pre-call check and the test hooks are linted too.
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run("cargo", &["test", "--workspace"])?;
    // The core's docs teach the drive loop: broken links in them fail the run.
    run_in(
        &root(),
        "cargo",
        &["doc", "-p", "assistrtc-core", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    run(
        "cargo",
        &[
            "build",
            "-p",
            "assistrtc-core",
            "--target",
            "wasm32-unknown-unknown",
        ],
    )?;
    fuzz()?;
    wasm_tests()?;
    let total = wasm()?;
    if total > BUNDLE_BUDGET {
        return Err(format!(
            "the browser bundle is {total} B gzip, over its {BUNDLE_BUDGET} B budget"
        ));
    }
    e2e(&[])?;
    // After e2e, which generated the bindings.
    crate::bindings::kotlin_smoke()?;
    eprintln!("\nall checks passed");
    Ok(())
}

/// Seconds of fuzzing in the test command, shared by all targets (build time not counted).
const FUZZ_TOTAL_SECONDS: u64 = 60;
/// Most seconds one target gets, however few targets there are.
const FUZZ_TARGET_SECONDS: u64 = 20;
/// The cargo-fuzz release installed when it is missing (`cargo info cargo-fuzz`).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Fuzzes every target under `sdk-core/fuzz/fuzz_targets` for a bounded time, installing
/// cargo-fuzz and the nightly toolchain when missing; a crash fails the step.
fn fuzz() -> Result {
    if output("cargo", &["fuzz", "--version"]).is_none() {
        run(
            "cargo",
            &[
                "install",
                "cargo-fuzz",
                "--locked",
                "--version",
                CARGO_FUZZ_VERSION,
            ],
        )?;
    }
    let toolchains = output("rustup", &["toolchain", "list"]).unwrap_or_default();
    if !toolchains.lines().any(|t| t.starts_with("nightly")) {
        run(
            "rustup",
            &["toolchain", "install", "nightly", "--profile", "minimal"],
        )?;
    }
    let dir = root().join("sdk-core");
    let targets = fuzz_targets(&dir.join("fuzz/fuzz_targets"))?;
    let seconds = (FUZZ_TOTAL_SECONDS / targets.len() as u64).clamp(1, FUZZ_TARGET_SECONDS);
    let max_time = format!("-max_total_time={seconds}");
    for target in &targets {
        run_in(
            &dir,
            "cargo",
            &[
                "+nightly",
                "fuzz",
                "run",
                target,
                "--",
                &max_time,
                "-max_len=4096",
            ],
            &[],
        )?;
    }
    Ok(())
}

/// The fuzz targets: one `<name>.rs` per target, sorted.
fn fuzz_targets(dir: &Path) -> Result<Vec<String>> {
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_owned))
        .collect();
    targets.sort();
    if targets.is_empty() {
        return Err(format!("no fuzz targets in {}", dir.display()));
    }
    Ok(targets)
}

/// The end-to-end suites: the packed npm package, and real calls in headless Chromium and in
/// Firefox ESR (under Xvfb) against the real server. Runs `only` (file names under
/// `tests/e2e`), or every suite when empty.
pub(crate) fn e2e(only: &[&str]) -> Result {
    ensure_chromium()?;
    ensure_firefox()?;
    ensure_ffmpeg()?;
    let web_root = test_web_root()?;
    // The native SDK's Python bindings, with its test hooks, for the native end-to-end test.
    crate::bindings::bindings(true)?;
    run("cargo", &["build", "-p", "assistrtc-server"])?;
    let dir = root().join("tests/e2e");
    ensure_npm(&dir)?;
    let schemathesis = ensure_schemathesis()?;
    let mut args = vec!["--test", "--test-concurrency=1", "--test-timeout=300000"];
    let files = e2e_files(&dir)?;
    if only.is_empty() {
        args.extend(files.iter().map(String::as_str));
    } else {
        args.extend(only);
    }
    let bin = target_dir().join("debug/assistrtc-server");
    run_in(
        &dir,
        "node",
        &args,
        &[
            ("ASSISTRTC_SERVER_BIN", &bin.to_string_lossy()),
            ("ASSISTRTC_WEB_ROOT", &web_root.to_string_lossy()),
            (
                "ASSISTRTC_BINDINGS",
                &root().join("bindings/python").to_string_lossy(),
            ),
            ("ASSISTRTC_SCHEMATHESIS", &schemathesis.to_string_lossy()),
            ("FIREFOX", FIREFOX),
        ],
    )
}

/// The schemathesis version the REST contract test was written against.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Installs schemathesis (PyPI) when missing; returns its command. Found through Python's
/// scripts directory, which a version manager's shims may not know about yet.
fn ensure_schemathesis() -> Result<PathBuf> {
    let scripts = output(
        "python3",
        &[
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ],
    )
    .ok_or("python3 is needed for the REST contract test")?;
    let bin = Path::new(scripts.trim()).join("schemathesis");
    let have = output(&bin.to_string_lossy(), &["--version"]).unwrap_or_default();
    if !have.contains(SCHEMATHESIS_VERSION) {
        let spec = format!("schemathesis=={SCHEMATHESIS_VERSION}");
        run(
            "python3",
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--root-user-action=ignore",
                &spec,
            ],
        )?;
    }
    Ok(bin)
}

fn e2e_files(dir: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test.mjs"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err("no end-to-end tests found".into());
    }
    Ok(files)
}

/// Join → first remote frame, SDK vs the raw-JS baseline (prints p50/p95).
pub(crate) fn bench_join() -> Result {
    browser_bench("join-first-frame.mjs")
}

/// Cursor → remote overlay latency at 60 Hz (prints p50/p99, dropped, late).
pub(crate) fn bench_cursor() -> Result {
    browser_bench("cursor-latency.mjs")
}

/// The browser pre-call check's time to its verdict (`bench/browser/preflight-time.mjs`), on
/// the end-to-end bundle: the published one does not carry the check yet.
pub(crate) fn bench_preflight_browser() -> Result {
    ensure_chromium()?;
    let web = test_web_root()?;
    run("cargo", &["build", "--release", "-p", "assistrtc-server"])?;
    ensure_npm(&root().join("tests/e2e"))?;
    let bin = target_dir().join("release/assistrtc-server");
    run_in(
        &root().join("bench/browser"),
        "node",
        &["preflight-time.mjs"],
        &[
            ("ASSISTRTC_SERVER_BIN", &bin.to_string_lossy()),
            ("ASSISTRTC_WEB_ROOT", &web.to_string_lossy()),
        ],
    )
}

/// Runs `bench/browser/<script>` against the release server, which serves `bench/pages` at
/// `/bench/`. The scripts use the end-to-end fixtures, so their npm packages are installed
/// in `tests/e2e`, not in a second copy.
fn browser_bench(script: &str) -> Result {
    ensure_chromium()?;
    wasm()?;
    run("cargo", &["build", "--release", "-p", "assistrtc-server"])?;
    ensure_npm(&root().join("tests/e2e"))?;
    let dir = root().join("bench/browser");
    let bin = target_dir().join("release/assistrtc-server");
    run_in(
        &dir,
        "node",
        &[script],
        &[("ASSISTRTC_SERVER_BIN", &bin.to_string_lossy())],
    )
}

pub(crate) fn demo(rest: &[&str]) -> Result {
    wasm()?;
    // The demo shows what the SDK does, so its pages get the pre-call check and the recorder,
    // which the published bundle leaves out for now; recordings upload to `target/demo-data`.
    let web = web_root("demo-web", "preflight,recorder")?;
    let web_root = web.to_string_lossy().into_owned();
    let data = target_dir()
        .join("demo-data")
        .to_string_lossy()
        .into_owned();
    let mut args = vec![
        "run",
        "--release",
        "-p",
        "assistrtc-server",
        "--",
        "--demo",
        "--web-root",
        &web_root,
        "--data-dir",
        &data,
    ];
    args.extend_from_slice(rest);
    run("cargo", &args)
}

fn gzip_size(path: &Path) -> Result<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    Ok(out.stdout.len() as u64)
}

/// What the shipped browser SDK (wasm + glue + entry) may weigh, gzip: the budget the latest
/// issue sets (80 KB for everything the browser SDK will carry, diagnostics and recording
/// included, so what is added must be paid for with savings). Sizes are deterministic for a
/// given lockfile and toolchain, so `xtask test` enforces it; see ARCHITECTURE.md for what
/// keeps the build small.
const BUNDLE_BUDGET: u64 = 80 * 1024;

/// Builds the browser SDK into `packages-npm/dist`, prints the shipped sizes and returns the
/// total gzip size.
pub(crate) fn wasm() -> Result<u64> {
    bundle("", &root().join("packages-npm/dist"))
}

/// Builds the published bundle with the wasm crate's `features` as well
/// (`target/wasm-<features>`), only to print its sizes: what turning them on would cost.
pub(crate) fn wasm_with(features: &str) -> Result<u64> {
    let dir = ["wasm-", &features.replace(',', "-")].concat();
    bundle(features, &target_dir().join(dir).join("dist"))
}

/// A web root for the end-to-end pages: the demo pages and bench pages of the checkout, with
/// the SDK built WITH its test hooks (which the published bundle never has), the pre-call
/// check and the recorder (which it does not have yet) at `/sdk/`.
fn test_web_root() -> Result<PathBuf> {
    web_root("e2e-web", "test-hooks,preflight,recorder")
}

/// `target/<name>`: the checkout's demo and bench pages, and the SDK built with `features`
/// at `/sdk/`.
fn web_root(name: &str, features: &str) -> Result<PathBuf> {
    let web = target_dir().join(name);
    bundle(features, &web.join("packages-npm/dist"))?;
    for dir in ["examples", "bench"] {
        let link = web.join(dir);
        if !link.exists() {
            std::os::unix::fs::symlink(root().join(dir), &link)
                .map_err(|e| format!("{}: {e}", link.display()))?;
        }
    }
    Ok(web)
}

/// Builds the browser SDK with the wasm crate's `features` (none: the published package) into
/// `dist`, prints the sizes and returns the total gzip size.
fn bundle(features: &str, dist: &Path) -> Result<u64> {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    let root = root();
    let pkg = root.join("packages-npm");
    std::fs::create_dir_all(dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    let mut args = vec![
        "build",
        "-p",
        "assistrtc-wasm",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "release-wasm",
    ];
    if !features.is_empty() {
        args.extend(["--features", features]);
    }
    run("cargo", &args)?;
    let built = target_dir().join("wasm32-unknown-unknown/release-wasm/assistrtc_wasm.wasm");
    let dist_s = dist.to_string_lossy().into_owned();
    run(
        "wasm-bindgen",
        &[
            "--target",
            "web",
            // Every browser the SDK supports has TextEncoder.encodeInto, and the entry always
            // passes the wasm's URL: the glue needs neither fallback.
            "--encode-into",
            "always",
            "--omit-default-module-path",
            "--out-dir",
            &dist_s,
            "--out-name",
            "assistrtc_wasm",
            &built.to_string_lossy(),
        ],
    )?;
    ensure_npm(&pkg)?;
    let wasm_file = dist.join("assistrtc_wasm_bg.wasm");
    let wasm_s = wasm_file.to_string_lossy().into_owned();
    // Debian's wasm-opt (v108) emits modules Chromium rejects; the npm binaryen is current.
    let wasm_features = [
        "--enable-bulk-memory",
        "--enable-nontrapping-float-to-int",
        "--enable-sign-ext",
        "--enable-mutable-globals",
        "--enable-reference-types",
        "--enable-multivalue",
    ];
    // `--low-memory-unused` lets binaryen fold constant offsets into addresses (about 1 KB
    // gzip). It holds for Rust's wasm32 layout: the 1 MiB stack comes first and grows down
    // from 1 MiB, data and heap lie above it, so the low 1 KiB is reached only by a stack
    // overflow of nearly 1 MiB, which corrupts memory whatever the optimizer assumed.
    //
    // `-ocimfs=20`: binaryen inlines a function with one caller only when it is tiny (by
    // default it inlines every one, whatever its size). LLVM has already inlined what pays;
    // merging the rest into a few huge functions renumbers their locals (wider LEBs, code
    // that no longer repeats byte for byte across functions) and costs about 3.9 KB gzip,
    // though the raw size drops. 10 to 30 all measure within 100 B of each other.
    // `-aimfs=4`: functions of up to 4 nodes (one-call wrappers) are inlined everywhere
    // (default 2); about 300 B gzip less, and 3 to 6 all do better than 2.
    let mut args = vec![
        "-Oz",
        "--converge",
        "--low-memory-unused",
        "-ocimfs=20",
        "-aimfs=4",
    ];
    args.extend(wasm_features);
    args.extend([wasm_s.as_str(), "-o", wasm_s.as_str()]);
    run_in(&pkg, "node_modules/.bin/wasm-opt", &args, &[])?;
    // Alike functions next to each other compress better: each is named by its sort key
    // (see `order.rs`) and binaryen sorts them by name, then drops the names.
    let optimized = std::fs::read(&wasm_file).map_err(|e| e.to_string())?;
    std::fs::write(&wasm_file, crate::order::name_by_likeness(&optimized)?)
        .map_err(|e| e.to_string())?;
    // Names are minified in a separate run: under `--converge` the pass would run repeatedly
    // and print a mapping of already-minified names. binaryen prints the mapping on stdout.
    // Tool metadata sections (`producers`, `target_features`) are not needed to run it.
    let mut args = vec![
        "--reorder-functions-by-name",
        "--minify-imports-and-exports-and-modules",
        "--strip-debug",
        "--strip-producers",
        "--strip-target-features",
    ];
    args.extend(wasm_features);
    args.extend([wasm_s.as_str(), "-o", wasm_s.as_str()]);
    eprintln!("\n==> wasm-opt {}", args.join(" "));
    let out = Command::new(pkg.join("node_modules/.bin/wasm-opt"))
        .args(&args)
        .output()
        .map_err(|e| format!("cannot start wasm-opt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "wasm-opt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mapping = minify::parse_mapping(&String::from_utf8_lossy(&out.stdout))?;
    let wasm_bytes = std::fs::read(&wasm_file).map_err(|e| e.to_string())?;
    let module = minify::first_import_module(&wasm_bytes)?;
    let glue = dist.join("assistrtc_wasm.js");
    let text = std::fs::read_to_string(&glue).map_err(|e| e.to_string())?;
    let text = minify::rewrite_glue(&text, &mapping, "./assistrtc_wasm_bg.js", &module)?;
    std::fs::write(&glue, text).map_err(|e| e.to_string())?;
    // Describes the raw (now renamed) wasm exports, which only the glue uses.
    let _ = std::fs::remove_file(dist.join("assistrtc_wasm_bg.wasm.d.ts"));

    // The glue as wasm-bindgen writes it carries every doc comment; ship it minified (the
    // `.d.ts` keeps the docs). terser leaves property names alone, so the renamed import
    // keys and `wasm.<export>` uses stay as they are.
    let glue_s = glue.to_string_lossy().into_owned();
    run_in(
        &pkg,
        "node_modules/.bin/terser",
        &[&glue_s, "--module", "--compress", "--mangle", "-o", &glue_s],
        &[],
    )?;
    std::fs::copy(pkg.join("src/index.d.ts"), dist.join("index.d.ts"))
        .map_err(|e| format!("copy index.d.ts: {e}"))?;
    let entry = dist.join("index.js");
    let (src_entry, entry_s) = (pkg.join("src/index.js"), entry.to_string_lossy());
    run_in(
        &pkg,
        "node_modules/.bin/terser",
        &[
            &src_entry.to_string_lossy(),
            "--module",
            "--compress",
            "--mangle",
            "-o",
            &entry_s,
        ],
        &[],
    )?;
    let raw = std::fs::metadata(&wasm_file)
        .map_err(|e| e.to_string())?
        .len();
    let (gz_wasm, gz_glue, gz_entry) = (
        gzip_size(&wasm_file)?,
        gzip_size(&glue)?,
        gzip_size(&entry)?,
    );
    let total = gz_wasm + gz_glue + gz_entry;
    println!(
        "bundle{}: wasm {raw} B raw, {gz_wasm} B gzip; JS glue {gz_glue} B gzip; entry {gz_entry} B gzip; total shipped {:.1} KB gzip (budget {} KB)",
        if features.is_empty() {
            String::new()
        } else {
            format!(" (features {features})")
        },
        total as f64 / 1024.0,
        BUNDLE_BUDGET / 1024
    );
    Ok(total)
}

/// The signaling load bench (`bench/src`, binary `bench-signaling`) against the release server.
pub(crate) fn bench_signaling(rest: &[&str]) -> Result {
    run(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "assistrtc-server",
            "-p",
            "assistrtc-bench",
        ],
    )?;
    let release = target_dir().join("release");
    let server = release.join("assistrtc-server");
    let server = server.to_string_lossy();
    let mut args = vec!["--server", &*server];
    args.extend_from_slice(rest);
    let bench = release.join("bench-signaling");
    run(&bench.to_string_lossy(), &args)
}

/// The pre-call check's accuracy: `bench-preflight` (`bench/preflight`) with the release
/// server next to it and coturn installed; `rest` goes to it (`--runs N`, `--quick`, `--only`).
pub(crate) fn bench_preflight(rest: &[&str]) -> Result {
    ensure_coturn()?;
    run(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "assistrtc-bench-preflight",
            "-p",
            "assistrtc-server",
        ],
    )?;
    let release = target_dir().join("release");
    // `--browser`: the browser SDK's check in Chromium, from the end-to-end tests' build
    // (which has the `preflight` feature).
    let mut args: Vec<String> = rest.iter().map(|a| (*a).to_owned()).collect();
    if let Some(i) = args.iter().position(|a| a == "--browser") {
        ensure_chromium()?;
        ensure_npm(&root().join("tests/e2e"))?;
        args.insert(i + 1, test_web_root()?.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&release.join("bench-preflight").to_string_lossy(), &args)
}

/// The native SDK bench: `bench-native` (`bench/native`: two native clients and a plain
/// webrtc-rs pair in one process), then `bench/browser/native-latency.mjs` (a native agent
/// through the Python bindings and a Chromium customer page), all release builds.
pub(crate) fn bench_native(rest: &[&str]) -> Result {
    run(
        "cargo",
        &["build", "--release", "-p", "assistrtc-bench-native"],
    )?;
    let release = target_dir().join("release");
    run(&release.join("bench-native").to_string_lossy(), rest)?;

    ensure_chromium()?;
    wasm()?;
    let bindings = crate::bindings::python_release()?;
    run("cargo", &["build", "--release", "-p", "assistrtc-server"])?;
    ensure_npm(&root().join("tests/e2e"))?;
    let server = release.join("assistrtc-server");
    run_in(
        &root().join("bench/browser"),
        "node",
        &["native-latency.mjs"],
        &[
            ("ASSISTRTC_SERVER_BIN", &server.to_string_lossy()),
            ("ASSISTRTC_BINDINGS", &bindings.to_string_lossy()),
        ],
    )
}
