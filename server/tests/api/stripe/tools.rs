//! The contract tests' outside tools: localstripe (a stateful fake Stripe server from
//! PyPI, run as its own process) and Stripe's official Python SDK, both from the
//! virtualenv `.dev/test` makes (`need_contract_venv`, pinned in
//! `.dev/contract/requirements.txt`).

use std::{
    io::Write,
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde_json::Value;
use url::Url;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The virtualenv's Python (`PAYBRIDGE_CONTRACT_PYTHON`, set by `.dev/test`).
pub fn python() -> PathBuf {
    let path = std::env::var_os("PAYBRIDGE_CONTRACT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/contract-venv/bin/python"));
    assert!(
        path.exists(),
        "the Stripe contract tests need localstripe and Stripe's SDK: run .dev/test, or \
         `bash -c 'source .dev/lib.sh && need_contract_venv'` and set PAYBRIDGE_CONTRACT_PYTHON \
         (looked for {})",
        path.display()
    );
    path
}

/// Runs `.dev/contract/stripe_contract.py COMMAND` with `input` as JSON on its stdin.
pub fn sdk(command: &str, input: &Value) -> Value {
    let mut child = Command::new(python())
        .arg(root().join(".dev/contract/stripe_contract.py"))
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the contract tools start");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "stripe_contract.py {command}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON from stripe_contract.py")
}

/// A `Stripe-Signature` header made by the SDK's own signing code.
pub fn sdk_signature(payload: &str, secret: &str, timestamp: i64) -> String {
    let answer = sdk("sign", &serde_json::json!({"payload": payload, "secret": secret, "timestamp": timestamp}));
    answer["header"].as_str().unwrap().to_owned()
}

struct LocalStripe {
    base: Url,
    /// Held open: localstripe exits when it closes, that is when this process ends.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

static LOCALSTRIPE: OnceLock<LocalStripe> = OnceLock::new();

/// localstripe, started once for this test process on a free port.
pub fn localstripe() -> Url {
    LOCALSTRIPE
        .get_or_init(|| {
            let port = crate::helpers::free_port();
            let mut child = Command::new(python())
                .arg(root().join(".dev/contract/localstripe_server.py"))
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
                .spawn()
                .expect("localstripe starts");
            let stdin = child.stdin.take().unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("localstripe exited at start: {status}");
                }
                assert!(Instant::now() < deadline, "localstripe did not listen on {port}");
                std::thread::sleep(Duration::from_millis(50));
            }
            LocalStripe {
                base: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
                _stdin: Mutex::new(stdin),
                _child: Mutex::new(child),
            }
        })
        .base
        .clone()
}
