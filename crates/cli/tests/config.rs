//! The configuration file and its profiles, through the binary: precedence (flag, then
//! environment, then profile, then default), the key's sources, `config path | show | init`,
//! and the errors of a broken file.

use gptproto_testkit::fixtures::completion;
use gptproto_testkit::{Reply, TestServer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A folder of its own for each test, with the configuration file in it.
struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("gptproto-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }

    fn write(&self, text: &str, mode: u32) {
        std::fs::write(self.config(), text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(self.config(), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[path = "support/run.rs"]
mod support;

use support::Run;

/// `gptproto ARGS` with the test's configuration file and `env`.
async fn gptproto(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Run {
    let config = home.config();
    let mut all: Vec<(&str, &std::ffi::OsStr)> = vec![("GPTPROTO_CONFIG", config.as_os_str())];
    all.extend(
        env.iter()
            .map(|(name, value)| (*name, std::ffi::OsStr::new(*value))),
    );
    support::gptproto(args, &all).await
}

async fn server() -> TestServer {
    TestServer::start(|_| Reply::json(200, &completion(&["ok"]))).await
}

/// The body and the authorization of the last request `server` received.
fn last(server: &TestServer) -> (Value, String) {
    let requests = server.requests();
    let request = requests.last().expect("a request");
    (
        serde_json::from_slice(&request.body).unwrap(),
        request
            .headers
            .get("authorization")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default(),
    )
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test]
async fn flag_then_environment_then_profile_then_default() {
    let home = Home::new("precedence");
    let (profile, env, flag) = (server().await, server().await, server().await);
    home.write(
        &format!(
            "[profiles.default]\nbase-url = \"{}\"\nmodel = \"m-profile\"\napi-key-cmd = \"printf sk-from-cmd\"\ntemperature = 0.25\n",
            profile.base_url()
        ),
        0o644,
    );
    let no_stream = ["chat", "--no-stream"];

    // The profile alone: its URL, model, key (from its command) and temperature.
    let run = gptproto(&home, &[&no_stream[..], &["hi"]].concat(), &[]).await;
    assert_eq!(run.status, 0, "{run:?}");
    let (body, auth) = last(&profile);
    assert_eq!(
        (body["model"].as_str(), auth.as_str()),
        (Some("m-profile"), "Bearer sk-from-cmd")
    );
    assert_eq!(body["temperature"], 0.25);

    // The environment over the profile.
    let variables = [
        ("GPTPROTO_BASE_URL", env.base_url()),
        ("GPTPROTO_MODEL", "m-env".to_owned()),
        ("GPTPROTO_API_KEY", "sk-from-env".to_owned()),
    ];
    let variables: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = gptproto(&home, &[&no_stream[..], &["hi"]].concat(), &variables).await;
    assert_eq!(run.status, 0, "{run:?}");
    let (body, auth) = last(&env);
    assert_eq!(
        (body["model"].as_str(), auth.as_str()),
        (Some("m-env"), "Bearer sk-from-env")
    );

    // Flags over the environment.
    let url = flag.base_url();
    let args = [
        &no_stream[..],
        &[
            "--base-url",
            &url,
            "-m",
            "m-flag",
            "--api-key",
            "sk-from-flag",
            "--temperature",
            "0.5",
            "hi",
        ],
    ]
    .concat();
    let run = gptproto(&home, &args, &variables).await;
    assert_eq!(run.status, 0, "{run:?}");
    let (body, auth) = last(&flag);
    assert_eq!(
        (body["model"].as_str(), auth.as_str()),
        (Some("m-flag"), "Bearer sk-from-flag")
    );
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(profile.requests().len(), 1);
    assert_eq!(env.requests().len(), 1);

    // Without the profile's model: the default.
    home.write(
        &format!(
            "[profiles.default]\nbase-url = \"{}\"\n",
            profile.base_url()
        ),
        0o644,
    );
    let run = gptproto(&home, &[&no_stream[..], &["hi"]].concat(), &[]).await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(last(&profile).0["model"], "qwen-turbo");
}

#[tokio::test]
async fn profiles_by_flag_by_environment_or_the_files_default() {
    let home = Home::new("choice");
    let (a, b, c) = (server().await, server().await, server().await);
    home.write(
        &format!(
            "default-profile = \"a\"\n[profiles.a]\nbase-url = \"{}\"\n[profiles.b]\nbase-url = \"{}\"\n[profiles.c]\nbase-url = \"{}\"\n",
            a.base_url(),
            b.base_url(),
            c.base_url()
        ),
        0o644,
    );
    assert_eq!(gptproto(&home, &["chat", "hi"], &[]).await.status, 0);
    assert_eq!(
        gptproto(&home, &["chat", "hi"], &[("GPTPROTO_PROFILE", "b")])
            .await
            .status,
        0
    );
    let run = gptproto(
        &home,
        &["chat", "--profile", "c", "hi"],
        &[("GPTPROTO_PROFILE", "b")],
    )
    .await;
    assert_eq!(run.status, 0);
    assert_eq!(
        (a.requests().len(), b.requests().len(), c.requests().len()),
        (1, 1, 1)
    );
    // A profile that is not there: exit 2, naming the file and the profiles it has.
    let run = gptproto(&home, &["chat", "--profile", "work", "hi"], &[]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains(&display(&home.config()))
            && run.stderr.contains("no profile \"work\"")
            && run.stderr.contains("a, b, c"),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_key_in_the_file_needs_a_private_file_and_commands_that_fail_are_said() {
    let home = Home::new("key");
    let server = server().await;
    let text = format!(
        "[profiles.default]\nbase-url = \"{}\"\napi-key = \"sk-in-file-0123456789\"\n",
        server.base_url()
    );
    home.write(&text, 0o644);
    let run = gptproto(&home, &["chat", "hi"], &[]).await;
    if cfg!(unix) {
        assert_eq!(run.status, 2, "{run:?}");
        assert!(
            run.stderr.contains("chmod 600") && run.stderr.contains("mode 644"),
            "{run:?}"
        );
        assert!(server.requests().is_empty());
        home.write(&text, 0o600);
    }
    let run = gptproto(&home, &["chat", "hi"], &[]).await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(last(&server).1, "Bearer sk-in-file-0123456789");
    // `config show` names where the key comes from, never the key.
    let run = gptproto(&home, &["config", "show"], &[]).await;
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("api-key      <redacted>  (profile default, api-key in the file)"),
        "{run:?}"
    );
    assert!(!run.stdout.contains("0123456789"));

    // A command that fails: exit 2 with what it said; two sources of one key: refused.
    home.write(
        &format!(
            "[profiles.default]\nbase-url = \"{}\"\napi-key-cmd = \"echo 'no such entry' >&2; exit 3\"\n",
            server.base_url()
        ),
        0o600,
    );
    let run = gptproto(&home, &["chat", "hi"], &[]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("api-key-cmd") && run.stderr.contains("no such entry"),
        "{run:?}"
    );
    home.write(
        "[profiles.default]\napi-key-env = \"KEY\"\napi-key-cmd = \"printf x\"\n",
        0o600,
    );
    let run = gptproto(&home, &["chat", "hi"], &[]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("more than one of api-key-env, api-key-cmd and api-key"),
        "{run:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_broken_file_exits_2_naming_the_file_the_line_and_the_key() {
    let home = Home::new("broken");
    for (text, line, said) in [
        (
            "[profiles.default]\nmodel = \"m\"\ntemperature = \"warm\"\n",
            3,
            "temperature = \"warm\"",
        ),
        ("[profiles.default]\nmodle = \"m\"\n", 2, "modle = \"m\""),
        ("[profiles.default\n", 1, "[profiles.default"),
        ("colour = \"blue\"\n", 1, "colour = \"blue\""),
    ] {
        home.write(text, 0o644);
        for args in [
            &["chat", "hi"][..],
            &["models"][..],
            &["config", "show"][..],
        ] {
            let run = gptproto(&home, args, &[]).await;
            assert_eq!(run.status, 2, "{run:?}");
            let expected = format!("{}, line {line} (`{said}`)", display(&home.config()));
            assert!(run.stderr.contains(&expected), "{expected} in {run:?}");
        }
    }
}

#[tokio::test]
async fn config_path_init_and_show() {
    let home = Home::new("init");
    let run = gptproto(&home, &["config", "path"], &[]).await;
    assert_eq!(
        (run.status, run.stdout.trim()),
        (0, display(&home.config()).as_str())
    );

    let run = gptproto(&home, &["config", "init"], &[]).await;
    assert_eq!(run.status, 0, "{run:?}");
    let written = std::fs::read_to_string(home.config()).unwrap();
    assert!(written.contains("[profiles.default]") && written.contains("# api-key-cmd"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.config())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let run = gptproto(&home, &["config", "init"], &[]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("already exists"));
    assert_eq!(std::fs::read_to_string(home.config()).unwrap(), written);

    // The starting file sets nothing: the defaults, and the environment over them.
    let run = gptproto(
        &home,
        &["config", "show"],
        &[("GPTPROTO_MODEL", "qwen-plus")],
    )
    .await;
    assert_eq!(run.status, 0, "{run:?}");
    for line in [
        "profile      default (the file's default)",
        "base-url     https://gptproto.com/v1  (default)",
        "auth         auto  (default)",
        "provider     gptproto  (by the base URL)",
        "model        qwen-plus  (GPTPROTO_MODEL)",
        "api-key      -",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in {}", run.stdout);
    }
    home.write(
        "[profiles.work]\nbase-url = \"https://api.example.com/v1\"\nprovider = \"vllm\"\nmodel = \"gpt\"\napi-key-env = \"WORK_KEY\"\nextra = { enable_thinking = true }\n",
        0o644,
    );
    let run = gptproto(
        &home,
        &["config", "show", "--profile", "work"],
        &[("WORK_KEY", "sk-work-secret")],
    )
    .await;
    assert_eq!(run.status, 0, "{run:?}");
    for line in [
        "profile      work (--profile)",
        "base-url     https://api.example.com/v1  (profile work)",
        "provider     vllm  (profile work)",
        "model        gpt  (profile work)",
        "api-key      <redacted>  (profile work, api-key-env WORK_KEY)",
        "extra        {\"enable_thinking\":true}  (profile work)",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in {}", run.stdout);
    }
    assert!(!run.stdout.contains("sk-work-secret"));
}

#[tokio::test]
async fn tls_trusts_ssl_cert_file_and_the_profiles_cacert() {
    let home = Home::new("tls");
    let server = TestServer::start_tls(|_| Reply::json(200, &completion(&["over TLS"]))).await;
    let ca = home.0.join("ca.pem");
    std::fs::write(&ca, server.ca().unwrap().root_pem()).unwrap();
    let url = server.base_url();
    let args = [
        "chat",
        "--base-url",
        url.as_str(),
        "--api-key",
        "sk-t",
        "hi",
    ];
    // Not trusted by the system's roots or the bundled ones.
    let run = gptproto(&home, &args, &[]).await;
    assert_eq!(run.status, 5, "{run:?}");
    // SSL_CERT_FILE, as OpenSSL-based tools read it.
    let run = gptproto(&home, &args, &[("SSL_CERT_FILE", ca.to_str().unwrap())]).await;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "over TLS\n"),
        "{run:?}"
    );
    // The profile's cacert.
    home.write(
        &format!("[profiles.default]\ncacert = \"{}\"\n", ca.display()),
        0o644,
    );
    let run = gptproto(&home, &args, &[]).await;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "over TLS\n"),
        "{run:?}"
    );
    // A profile's cacert that is not one: exit 2 naming it and the profile.
    home.write(
        "[profiles.default]\ncacert = \"/nonexistent/ca.pem\"\n",
        0o644,
    );
    let run = gptproto(&home, &args, &[]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("/nonexistent/ca.pem") && run.stderr.contains("profile default"),
        "{run:?}"
    );
}
